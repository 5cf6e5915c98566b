//! NDJSON files from a path template, rotated by size. A batch is acknowledged once it has been
//! written (and, with `fsync: true`, synced); write errors are retried with backoff, never dropped.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::{OutputContext, OutputError};
use crate::config::FileOutputConfig;
use crate::event::OutBatch;

/// Files not written to for this long are closed.
const IDLE_CLOSE: Duration = Duration::from_secs(60);

/// A parsed path template.
#[derive(Debug, Clone, PartialEq)]
pub struct PathTemplate {
    parts: Vec<Part>,
    /// Time resolution that matters for caching: seconds per bucket.
    bucket_secs: i64,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Input,
    SourceType,
    /// A strftime format, rendered from the record's `@timestamp` in UTC.
    Time(String),
}

impl PathTemplate {
    pub fn parse(t: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut time = String::new();
        let mut chars = t.chars().peekable();
        let mut finest = 86_400;
        let flush_time = |time: &mut String, parts: &mut Vec<Part>| {
            if !time.is_empty() {
                parts.push(Part::Time(std::mem::take(time)));
            }
        };
        while let Some(c) = chars.next() {
            match c {
                '{' => {
                    let mut name = String::new();
                    for n in chars.by_ref() {
                        if n == '}' {
                            break;
                        }
                        name.push(n);
                    }
                    let part = match name.as_str() {
                        "input" => Part::Input,
                        "source_type" => Part::SourceType,
                        other => {
                            return Err(format!(
                                "unknown placeholder `{{{other}}}`: expected {{input}} or {{source_type}}"
                            ))
                        }
                    };
                    flush_time(&mut time, &mut parts);
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(part);
                }
                '%' => {
                    let Some(spec) = chars.next() else {
                        return Err("a `%` at the end of the path".into());
                    };
                    if spec == '%' {
                        lit.push('%');
                        continue;
                    }
                    finest = finest.min(match spec {
                        'Y' | 'y' | 'm' | 'd' | 'j' | 'F' | 'b' | 'B' | 'a' | 'A' | 'u' | 'w'
                        | 'U' | 'W' | 'G' | 'V' => 86_400,
                        'H' | 'I' | 'k' | 'l' | 'p' | 'P' => 3_600,
                        'M' | 'R' => 60,
                        _ => 1,
                    });
                    if !lit.is_empty() {
                        time.push_str(&std::mem::take(&mut lit).replace('%', "%%"));
                    }
                    time.push('%');
                    time.push(spec);
                    // Check the specifier is one chrono knows.
                    let probe = format!("%{spec}");
                    if chrono::format::StrftimeItems::new(&probe)
                        .any(|i| matches!(i, chrono::format::Item::Error))
                    {
                        return Err(format!("`%{spec}` is not a strftime field"));
                    }
                }
                other => {
                    if time.is_empty() {
                        lit.push(other);
                    } else {
                        time.push(other);
                    }
                }
            }
        }
        flush_time(&mut time, &mut parts);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        let has_time = parts.iter().any(|p| matches!(p, Part::Time(_)));
        Ok(PathTemplate {
            parts,
            bucket_secs: if has_time { finest } else { i64::MAX },
        })
    }

    pub fn render(&self, input: &str, source_type: &str, t: DateTime<Utc>) -> PathBuf {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => s.push_str(l),
                Part::Input => s.push_str(&sanitize(input)),
                Part::SourceType => s.push_str(&sanitize(source_type)),
                Part::Time(f) => {
                    use std::fmt::Write as _;
                    let _ = write!(s, "{}", t.format(f));
                }
            }
        }
        PathBuf::from(s)
    }

    /// Whether paths differ by source type (else records of every type share theirs).
    fn has_source_type(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::SourceType))
    }

    fn bucket(&self, t: DateTime<Utc>) -> i64 {
        if self.bucket_secs == i64::MAX {
            0
        } else {
            t.timestamp().div_euclid(self.bucket_secs)
        }
    }
}

/// Keeps placeholders from escaping the directory (`../`).
fn sanitize(v: &str) -> String {
    v.chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == '\0' {
                '_'
            } else {
                c
            }
        })
        .collect::<String>()
        .replace("..", "_")
}

struct OpenFile {
    file: File,
    size: u64,
    last_write: Instant,
}

pub struct FileOutput {
    cfg: FileOutputConfig,
    ctx: OutputContext,
    template: PathTemplate,
    open: HashMap<PathBuf, OpenFile>,
    /// (input, source type, time bucket) → rendered path, most recent last, so templates are not
    /// rendered per record.
    cache: Vec<(PathKey, PathBuf)>,
}

/// What a rendered path depends on: input, source type (empty when the template has no
/// `{source_type}`) and time bucket.
type PathKey = (Box<str>, Box<str>, i64);

/// Rendered paths kept: a template gives a few per input (source types, the current hour).
const PATH_CACHE: usize = 64;

/// What one batch writes to one path.
struct Group {
    path: PathBuf,
    pieces: Vec<Piece>,
}

/// A part of a [`Group`]: a range of the batch's JSON (whole lines), or a newline a record lacked.
enum Piece {
    Bytes(Range<usize>),
    Newline,
}

/// `Write::write_all` for several buffers (`write_all_vectored` is not stable): one `writev`
/// for a whole batch unless the kernel takes less.
fn write_all_vectored(f: &mut File, mut bufs: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match f.write_vectored(bufs) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl FileOutput {
    pub fn new(cfg: FileOutputConfig, ctx: OutputContext) -> Result<Self, OutputError> {
        let template = PathTemplate::parse(&cfg.path)
            .map_err(|e| OutputError::Config(format!("path: {e}")))?;
        Ok(FileOutput {
            cfg,
            ctx,
            template,
            open: HashMap::new(),
            cache: Vec::new(),
        })
    }

    pub fn run(mut self, mut rx: mpsc::Receiver<OutBatch>) {
        let (records, bytes) = self.ctx.sent_counters();
        let errors = self.ctx.metrics.counter(
            "sluice_component_errors_total",
            "I/O errors in a component",
            &[("component", &self.ctx.name)],
        );
        let latency = self.ctx.write_latency();
        let end_to_end = self.ctx.end_to_end_latency();
        let retries = self.ctx.retries();
        let mut groups: Vec<Group> = Vec::new();
        while let Some(batch) = rx.blocking_recv() {
            self.group(&batch, &mut groups);
            let mut backoff = Duration::from_millis(100);
            let started = Instant::now();
            let mut failing = false;
            let delivered = loop {
                match self.write_groups(&batch.batch.data, &groups) {
                    Ok(n) => {
                        records.add(batch.len() as u64);
                        bytes.add(n);
                        latency.observe_duration(started.elapsed());
                        if failing {
                            self.ctx.health.ready();
                        }
                        break true;
                    }
                    Err(e) => {
                        errors.inc();
                        retries.inc();
                        if !failing {
                            failing = true;
                            self.ctx
                                .health
                                .failed(format!("write failing, retrying: {e}"));
                        }
                        tracing::error!(output = %self.ctx.name, error = %e, retry_in = ?backoff, "write failed; retrying");
                        // Whatever was partly written may be written again: at-least-once.
                        self.open.clear();
                        if rx.is_closed() && backoff >= Duration::from_secs(5) {
                            // Shutting down and the disk is still failing: leave it undelivered.
                            break false;
                        }
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                    }
                }
            };
            if delivered {
                OutputContext::observe_end_to_end(&end_to_end, &batch);
                batch.ack.ack();
            } else {
                tracing::error!(output = %self.ctx.name, "gave up on a batch at shutdown; it will be read again");
                batch.ack.fail();
            }
            self.close_idle();
        }
        for (_, mut f) in self.open.drain() {
            let _ = f.file.flush();
        }
    }

    /// Splits a batch by destination path, keeping record order. Each destination gets the byte
    /// ranges of the batch's JSON to write, the lines of adjacent records joined into one range:
    /// the records are written from the batch as it is (one `writev` a batch), not copied into a
    /// buffer per path first, and the path is looked up only when a record's source type or time
    /// bucket differs from the record before it.
    fn group(&mut self, batch: &OutBatch, groups: &mut Vec<Group>) {
        groups.clear();
        let data = &batch.batch.data;
        let input = &*batch.batch.origin.input;
        let by_type = self.template.has_source_type();
        // (source type as the template sees it, time bucket, group) of the record before.
        let mut last: Option<(&str, i64, usize)> = None;
        for r in batch.records() {
            let st = if by_type { r.source_type.as_str() } else { "" };
            let bucket = self.template.bucket(r.timestamp);
            let idx = match last {
                Some((s, b, i)) if s == st && b == bucket => i,
                _ => {
                    let path = self.path_for(input, st, bucket, r.timestamp);
                    match groups.iter().position(|g| g.path == path) {
                        Some(i) => i,
                        None => {
                            groups.push(Group {
                                path,
                                pieces: Vec::new(),
                            });
                            groups.len() - 1
                        }
                    }
                }
            };
            last = Some((st, bucket, idx));
            let g = &mut groups[idx];
            // Every batch has a newline after each record's JSON; should one not, it is added.
            let range = r.range.clone();
            let (line, newline) = match data.get(range.end) {
                Some(b'\n') => (range.start..range.end + 1, false),
                _ => (range, true),
            };
            match g.pieces.last_mut() {
                Some(Piece::Bytes(prev)) if prev.end == line.start => prev.end = line.end,
                _ => g.pieces.push(Piece::Bytes(line)),
            }
            if newline {
                g.pieces.push(Piece::Newline);
            }
        }
    }

    /// The rendered path for records of `input` with this source type (empty when the template
    /// has no `{source_type}`) and time bucket.
    fn path_for(&mut self, input: &str, st: &str, bucket: i64, t: DateTime<Utc>) -> PathBuf {
        if let Some(p) = self
            .cache
            .iter()
            .find(|(k, _)| &*k.0 == input && &*k.1 == st && k.2 == bucket)
        {
            return p.1.clone();
        }
        let p = self.template.render(input, st, t);
        if self.cache.len() >= PATH_CACHE {
            self.cache.remove(0);
        }
        self.cache
            .push(((input.into(), st.into(), bucket), p.clone()));
        p
    }

    fn write_groups(&mut self, data: &[u8], groups: &[Group]) -> std::io::Result<u64> {
        let mut total = 0;
        for g in groups {
            let mut slices: Vec<IoSlice<'_>> = g
                .pieces
                .iter()
                .map(|p| match p {
                    Piece::Bytes(r) => IoSlice::new(data.get(r.clone()).unwrap_or_default()),
                    Piece::Newline => IoSlice::new(b"\n"),
                })
                .collect();
            let len: u64 = slices.iter().map(|s| s.len() as u64).sum();
            self.rotate_if_needed(&g.path, len)?;
            let fsync = self.cfg.fsync;
            let f = self.file(&g.path)?;
            write_all_vectored(&mut f.file, &mut slices)?;
            if fsync {
                f.file.sync_data()?;
            }
            f.size += len;
            f.last_write = Instant::now();
            total += len;
        }
        Ok(total)
    }

    fn file(&mut self, path: &Path) -> std::io::Result<&mut OpenFile> {
        if !self.open.contains_key(path) {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            let size = file.metadata()?.len();
            self.open.insert(
                path.to_path_buf(),
                OpenFile {
                    file,
                    size,
                    last_write: Instant::now(),
                },
            );
        }
        self.open
            .get_mut(path)
            .ok_or_else(|| std::io::Error::other("file vanished from the open set"))
    }

    /// Renames a full file to `<path>.N` (the next free N) before writing more to `path`.
    fn rotate_if_needed(&mut self, path: &Path, incoming: u64) -> std::io::Result<()> {
        if self.cfg.max_bytes == 0 {
            return Ok(());
        }
        let size = match self.open.get(path) {
            Some(f) => f.size,
            None => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        };
        if size == 0 || size + incoming <= self.cfg.max_bytes {
            return Ok(());
        }
        if let Some(mut f) = self.open.remove(path) {
            f.file.flush()?;
        }
        let mut n = 1;
        let target = loop {
            let mut candidate = path.as_os_str().to_owned();
            candidate.push(format!(".{n}"));
            let candidate = PathBuf::from(candidate);
            if !candidate.exists() {
                break candidate;
            }
            n += 1;
        };
        std::fs::rename(path, &target)?;
        tracing::info!(output = %self.ctx.name, from = %path.display(), to = %target.display(), "rotated output file");
        Ok(())
    }

    fn close_idle(&mut self) {
        self.open.retain(|_, f| f.last_write.elapsed() < IDLE_CLOSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn template_renders_placeholders_and_time() {
        let t = PathTemplate::parse("out/{input}/{source_type}-%Y-%m-%d.ndjson").unwrap();
        let ts: DateTime<Utc> = "2024-03-05T10:00:00Z".parse().unwrap();
        assert_eq!(
            t.render("app", "panos", ts),
            PathBuf::from("out/app/panos-2024-03-05.ndjson")
        );
        assert_eq!(t.bucket_secs, 86_400);
        assert_eq!(
            t.render("../x", "a/b", ts),
            PathBuf::from("out/__x/a_b-2024-03-05.ndjson")
        );
    }

    /// Runs a file output with path template `path` over `batches` until they are written.
    fn write_all(path: &str, batches: Vec<OutBatch>) {
        let cfg: FileOutputConfig =
            serde_json::from_value(serde_json::json!({"path": path, "inputs": ["in"]})).unwrap();
        let ctx = OutputContext {
            name: "out".into(),
            metrics: crate::metrics::Metrics::new(),
            health: crate::readiness::ComponentHealth::detached("output", "out"),
            dlq: None,
        };
        let output = FileOutput::new(cfg, ctx).unwrap();
        let (tx, rx) = mpsc::channel(batches.len() + 1);
        for b in batches {
            tx.try_send(b).unwrap();
        }
        drop(tx);
        output.run(rx);
    }

    /// A batch from `input` whose JSON holds `lines` in the order `written` gives (grouped, as
    /// the processor writes them); its records are in the order of `lines`.
    fn batch(input: &str, lines: &[(&str, &str)], written: &[usize], newline: bool) -> OutBatch {
        use crate::event::{OutRecord, ProcessedBatch, RecordKeys};
        let mut data = Vec::new();
        let mut records: Vec<Option<OutRecord>> = vec![None; lines.len()];
        for &i in written {
            let (st, json) = lines[i];
            let start = data.len();
            data.extend_from_slice(json.as_bytes());
            records[i] = Some(OutRecord {
                range: start..data.len(),
                source_type: crate::source_type::SourceType::from_name(st),
                timestamp: "2024-03-05T10:00:00Z".parse().unwrap(),
                keys: RecordKeys::default(),
            });
            if newline {
                data.push(b'\n');
            }
        }
        let origin = Arc::new(crate::event::Origin::input(input.into()));
        OutBatch {
            batch: Arc::new(ProcessedBatch::new(
                origin,
                data,
                records.into_iter().flatten().collect(),
            )),
            selection: None,
            ack: crate::pipeline::ack::AckRef::none(),
            received: None,
        }
    }

    #[test]
    fn records_are_written_in_input_order_whatever_order_their_json_is_in() {
        let dir = tempfile::tempdir().unwrap();
        let lines = [
            ("syslog", "{\"a\":1}"),
            ("panos", "{\"b\":2}"),
            ("syslog", "{\"c\":3}"),
            ("panos", "{\"d\":4}"),
            ("panos", "{\"e\":5}"),
        ];
        let path = dir.path().join("all.ndjson");
        write_all(
            path.to_str().unwrap(),
            vec![
                batch("in", &lines, &[0, 2, 1, 3, 4], true),
                batch("in", &lines[..2], &[1, 0], false),
            ],
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n{\"d\":4}\n{\"e\":5}\n{\"a\":1}\n{\"b\":2}\n"
        );
    }

    #[test]
    fn a_batch_of_more_lines_than_one_writev_takes_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        // JSON written in reverse order: no two records' lines are adjacent, so each is its own
        // slice, more than the 1,024 one `writev` call takes.
        let json: Vec<String> = (0..1500).map(|i| format!("{{\"n\":{i}}}")).collect();
        let lines: Vec<(&str, &str)> = json.iter().map(|j| ("syslog", j.as_str())).collect();
        let written: Vec<usize> = (0..lines.len()).rev().collect();
        let path = dir.path().join("big.ndjson");
        write_all(
            path.to_str().unwrap(),
            vec![batch("in", &lines, &written, true)],
        );
        let want: String = json.iter().map(|j| format!("{j}\n")).collect();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), want);
    }

    #[test]
    fn records_go_to_the_path_of_their_input_and_source_type() {
        let dir = tempfile::tempdir().unwrap();
        let lines = [
            ("syslog", "{\"a\":1}"),
            ("panos", "{\"b\":2}"),
            ("syslog", "{\"c\":3}"),
        ];
        let template = format!("{}/{{input}}-{{source_type}}.ndjson", dir.path().display());
        write_all(
            &template,
            vec![
                batch("x", &lines, &[0, 2, 1], true),
                batch("y", &lines[..1], &[0], true),
                batch("x", &lines[1..], &[1, 0], true),
            ],
        );
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(read("x-syslog.ndjson"), "{\"a\":1}\n{\"c\":3}\n{\"c\":3}\n");
        assert_eq!(read("x-panos.ndjson"), "{\"b\":2}\n{\"b\":2}\n");
        assert_eq!(read("y-syslog.ndjson"), "{\"a\":1}\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn template_errors() {
        assert!(PathTemplate::parse("{nope}.log").is_err());
        assert!(PathTemplate::parse("x%").is_err());
    }
}
