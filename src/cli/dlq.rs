//! `sluice dlq stats DIR` and `sluice dlq replay --from DIR -c FILE [--to OUTPUT]`.
//!
//! Replay re-injects parked records through the configuration's processing and into an output:
//! the one named in each record (`output`), or `--to`. A record that kept its raw text
//! (`original`) is detected and normalized again with the current rules and parsers; one that did not is sent as the normalized JSON it was. Records are sent with the
//! output's own retries and `dlq:`, so a record that fails again is parked again (in a new file).
//! A queue file all of whose records were accepted is renamed `<name>.replayed`, so running replay
//! twice does not send them twice; files with a failure stay as they are.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context as _};

use crate::config::{Config, OutputConfig};
use crate::event::{
    KeyInterner, Origin, OutBatch, OutRecord, ProcessedBatch, RawBatch, RecordKeys,
};
use crate::metrics::Metrics;
use crate::outputs::dlq::{queue_files, DlqHandle, DlqLine};
use crate::outputs::{self, OutputContext};
use crate::pipeline::ack::{AckRef, AckSink};
use crate::pipeline::processor::Processor;
use crate::readiness::ComponentHealth;
use crate::source_type::SourceType;

/// A queue file and its lines.
type QueueFile = (PathBuf, Vec<DlqLine>);

/// Reads every line of the queue files; unreadable lines (a write cut by a crash) are counted.
fn read_dir_lines(dir: &Path) -> anyhow::Result<(Vec<QueueFile>, u64)> {
    let mut out = Vec::new();
    let mut bad = 0;
    for (_, path) in queue_files(dir).with_context(|| format!("{}", dir.display()))? {
        let f = std::fs::File::open(&path).with_context(|| format!("{}", path.display()))?;
        let mut lines = Vec::new();
        for l in std::io::BufReader::new(f).lines() {
            let l = l.with_context(|| format!("{}", path.display()))?;
            if l.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<DlqLine>(&l) {
                Ok(v) => lines.push(v),
                Err(_) => bad += 1,
            }
        }
        out.push((path, lines));
    }
    Ok((out, bad))
}

/// Counts per output and reason, the commonest errors, and the time span.
pub fn stats(dir: &Path, w: &mut dyn Write) -> anyhow::Result<()> {
    let (files, bad) = read_dir_lines(dir)?;
    let bytes: u64 = files
        .iter()
        .filter_map(|(p, _)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let mut by: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut errors: HashMap<String, u64> = HashMap::new();
    let (mut oldest, mut newest) = (None, None);
    let mut total = 0u64;
    for (_, lines) in &files {
        for l in lines {
            total += 1;
            *by.entry((l.output.clone(), l.reason.clone())).or_default() += 1;
            let e: String = l.error.chars().take(120).collect();
            *errors.entry(e).or_default() += 1;
            oldest = oldest.min(Some(l.time)).or(Some(l.time));
            newest = newest.max(Some(l.time));
        }
    }
    writeln!(
        w,
        "{}: {total} records in {} files, {bytes} bytes",
        dir.display(),
        files.len()
    )?;
    if bad > 0 {
        writeln!(w, "unreadable lines: {bad}")?;
    }
    if let (Some(o), Some(n)) = (oldest, newest) {
        writeln!(w, "parked from {} to {}", o.to_rfc3339(), n.to_rfc3339())?;
    }
    if !by.is_empty() {
        writeln!(w, "\n{:<24} {:<20} {:>10}", "output", "reason", "records")?;
        for ((o, r), n) in &by {
            writeln!(w, "{o:<24} {r:<20} {n:>10}")?;
        }
    }
    let mut errors: Vec<_> = errors.into_iter().collect();
    errors.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if !errors.is_empty() {
        writeln!(w, "\ncommonest errors:")?;
        for (e, n) in errors.iter().take(5) {
            writeln!(w, "{n:>10}  {e}")?;
        }
    }
    Ok(())
}

/// Which batches of which file failed.
#[derive(Debug, Default)]
struct Fates(Mutex<HashMap<u64, bool>>);

impl AckSink for Fates {
    fn complete(&self, seq: u64, delivered: bool) {
        let mut m = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let ok = m.entry(seq).or_insert(true);
        *ok &= delivered;
    }
}

/// What a replay did.
#[derive(Debug, Default, PartialEq)]
pub struct ReplaySummary {
    pub records: u64,
    pub files_done: usize,
    pub files_kept: usize,
}

pub fn replay(
    from: &Path,
    cfg: &Config,
    to: Option<&str>,
    metrics: &Metrics,
) -> anyhow::Result<ReplaySummary> {
    let (files, bad) = read_dir_lines(from)?;
    if bad > 0 {
        tracing::warn!(lines = bad, "unreadable lines in the queue are skipped");
    }
    let processor = Processor::new(&cfg.pipeline, metrics)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let _guard = rt.enter();
    // Start each output records go to, with its dead-letter queue.
    let mut targets: HashMap<
        String,
        (
            tokio::sync::mpsc::Sender<OutBatch>,
            tokio::task::JoinHandle<()>,
        ),
    > = HashMap::new();
    let wanted: Vec<String> = match to {
        Some(t) => vec![t.to_string()],
        None => {
            let mut v: Vec<String> = files
                .iter()
                .flat_map(|(_, l)| l.iter().map(|l| l.output.clone()))
                .collect();
            v.sort();
            v.dedup();
            v
        }
    };
    for name in &wanted {
        let oc = cfg
            .outputs
            .get(name)
            .ok_or_else(|| anyhow!("no output named `{name}` in the configuration (use --to)"))?;
        let dlq = match oc {
            OutputConfig::Dlq(c) => Some(DlqHandle::open(name, c, metrics)?),
            other => match other.dlq().and_then(|d| cfg.outputs.get(d).map(|c| (d, c))) {
                Some((d, OutputConfig::Dlq(c))) => Some(DlqHandle::open(d, c, metrics)?),
                _ => None,
            },
        };
        let (tx, rx) = tokio::sync::mpsc::channel(oc.common().queue_batches);
        let ctx = OutputContext {
            name: Arc::from(name.as_str()),
            metrics: metrics.clone(),
            health: ComponentHealth::detached("output", name),
            dlq,
        };
        let join = outputs::start(oc, rx, ctx)?;
        targets.insert(name.clone(), (tx, join));
    }
    let fates = Arc::new(Fates::default());
    let mut summary = ReplaySummary::default();
    for (fi, (_, lines)) in files.iter().enumerate() {
        fates.complete(fi as u64, true);
        // Consecutive records for the same output from the same source go in one batch.
        let mut start = 0;
        while start < lines.len() {
            let key = |l: &DlqLine| {
                (
                    to.map_or(l.output.clone(), str::to_string),
                    l.input.clone(),
                    l.file.clone(),
                    l.original.is_some(),
                )
            };
            let k = key(&lines[start]);
            let mut end = start + 1;
            while end < lines.len() && end - start < 500 && key(&lines[end]) == k {
                end += 1;
            }
            let group = &lines[start..end];
            start = end;
            let origin = Arc::new(Origin {
                file: k.2.as_deref().map(Arc::from),
                ..Origin::input(Arc::from(k.1.as_str()))
            });
            let batch = if k.3 {
                // Raw text: detected and normalized again with the current settings.
                let mut raw = RawBatch::new(Arc::clone(&origin), AckRef::none());
                for l in group {
                    raw.push(l.original.as_deref().unwrap_or("").as_bytes(), None, false);
                }
                processor.process(&raw)
            } else {
                normalized_batch(origin, group)
            };
            summary.records += batch.records.len() as u64;
            let Some((tx, _)) = targets.get(&k.0) else {
                continue;
            };
            let out = OutBatch {
                batch: Arc::new(batch),
                selection: None,
                ack: AckRef::new(fi as u64, fates.clone()),
                // Received long ago: a replay says nothing about the pipeline's latency.
                received: None,
            };
            if tx.blocking_send(out).is_err() {
                return Err(anyhow!("output `{}` stopped", k.0));
            }
        }
    }
    for (_, (tx, join)) in targets {
        drop(tx);
        let _ = rt.block_on(join);
    }
    let fates = match fates.0.lock() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    };
    for (fi, (path, _)) in files.iter().enumerate() {
        if fates.get(&(fi as u64)) == Some(&true) {
            let mut done = path.as_os_str().to_owned();
            done.push(".replayed");
            std::fs::rename(path, PathBuf::from(done))
                .with_context(|| format!("{}", path.display()))?;
            summary.files_done += 1;
        } else {
            summary.files_kept += 1;
        }
    }
    Ok(summary)
}

/// Records parked as normalized JSON, as a processed batch again.
fn normalized_batch(origin: Arc<Origin>, group: &[DlqLine]) -> ProcessedBatch {
    let mut data = Vec::new();
    let mut records = Vec::new();
    let mut interner = KeyInterner::default();
    for l in group {
        let Some(raw) = &l.record else { continue };
        let v: serde_json::Value = serde_json::from_str(raw.get()).unwrap_or_default();
        let s = |path: &[&str]| {
            let mut n = &v;
            for p in path {
                n = n.get(p)?;
            }
            n.as_str()
        };
        let keys = RecordKeys {
            host: s(&["host", "name"])
                .or(s(&["host", "hostname"]))
                .map(|h| interner.get(h)),
            dataset: s(&["event", "dataset"]).map(|h| interner.get(h)),
            log_type: s(&["panw", "panos", "type"]).map(|h| interner.get(h)),
        };
        let timestamp = s(&["@timestamp"])
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(l.time, |t| t.with_timezone(&chrono::Utc));
        let start = data.len();
        data.extend_from_slice(raw.get().as_bytes());
        records.push(OutRecord {
            range: start..data.len(),
            source_type: SourceType::from_name(&l.source_type),
            timestamp,
            keys,
        });
        data.push(b'\n');
    }
    ProcessedBatch::new(origin, data, records)
}
