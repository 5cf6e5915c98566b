//! NDJSON files from a path template, rotated by size. A batch is acknowledged once it has been
//! written (and, with `fsync: true`, synced); write errors are retried with backoff, never dropped.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::{OutputContext, OutputError};
use crate::config::FileOutputConfig;
use crate::event::{OutBatch, OutRecord};

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
    /// (source type, time bucket) → rendered path, so templates are not rendered per record.
    cache: HashMap<(String, i64), PathBuf>,
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
            cache: HashMap::new(),
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
        let mut groups: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        while let Some(batch) = rx.blocking_recv() {
            self.group(&batch, &mut groups);
            let mut backoff = Duration::from_millis(100);
            let started = Instant::now();
            let mut failing = false;
            let delivered = loop {
                match self.write_groups(&groups) {
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

    /// Splits a batch into one buffer per destination path, keeping record order.
    fn group(&mut self, batch: &OutBatch, groups: &mut Vec<(PathBuf, Vec<u8>)>) {
        groups.clear();
        let input = &*batch.batch.origin.input;
        for r in batch.records() {
            let path = self.path_for(input, r);
            let idx = match groups.iter().position(|(p, _)| *p == path) {
                Some(i) => i,
                None => {
                    groups.push((path, Vec::with_capacity(batch.batch.data.len())));
                    groups.len() - 1
                }
            };
            let buf = &mut groups[idx].1;
            buf.extend_from_slice(batch.batch.json(r));
            buf.push(b'\n');
        }
    }

    fn path_for(&mut self, input: &str, r: &OutRecord) -> PathBuf {
        let key = (
            r.source_type.as_str().to_owned(),
            self.template.bucket(r.timestamp),
        );
        if let Some(p) = self.cache.get(&key) {
            return p.clone();
        }
        let p = self
            .template
            .render(input, r.source_type.as_str(), r.timestamp);
        if self.cache.len() > 1024 {
            self.cache.clear();
        }
        self.cache.insert(key, p.clone());
        p
    }

    fn write_groups(&mut self, groups: &[(PathBuf, Vec<u8>)]) -> std::io::Result<u64> {
        let mut total = 0;
        for (path, data) in groups {
            self.rotate_if_needed(path, data.len() as u64)?;
            let fsync = self.cfg.fsync;
            let f = self.file(path)?;
            f.file.write_all(data)?;
            f.file.flush()?;
            if fsync {
                f.file.sync_data()?;
            }
            f.size += data.len() as u64;
            f.last_write = Instant::now();
            total += data.len() as u64;
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

    #[test]
    fn template_errors() {
        assert!(PathTemplate::parse("{nope}.log").is_err());
        assert!(PathTemplate::parse("x%").is_err());
    }
}
