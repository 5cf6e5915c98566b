//! The dead-letter queue: NDJSON files of the records an output could not deliver, each with why,
//! so that nothing is lost silently and an operator can inspect (`sluice dlq stats`) and re-send
//! them (`sluice dlq replay`).
//!
//! One line per record: `time` (when parked), `output` (that failed), `input`, `file` (when read
//! from one), `source_type`, `reason` (`rejected`, `retries_exhausted`, `routed`), `error`,
//! `attempts`, and the record: `original` (its raw text, from `event.original`) when the record
//! kept it, else `record` (the normalized JSON). Files are `dlq-<n>.ndjson` in the directory,
//! a new one past `max_file_bytes`; past `max_bytes` in all, parking fails (the output then counts
//! the records as dropped, reason `dlq_failed`, and fails their acknowledgement).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{OutputContext, OutputError};
use crate::config::DlqOutputConfig;
use crate::event::OutBatch;
use crate::metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error("the dead-letter queue is full ({used} of {max} bytes)")]
    Full { used: u64, max: u64 },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the dead-letter queue writer stopped")]
    Stopped,
}

/// One record on its way into the queue.
#[derive(Debug)]
pub struct DlqEntry<'a> {
    pub output: &'a str,
    pub input: &'a str,
    pub file: Option<&'a str>,
    pub source_type: &'a str,
    pub reason: &'a str,
    pub error: &'a str,
    pub attempts: u32,
    /// The normalized JSON.
    pub record: &'a [u8],
}

/// One line of a queue file, as written and as read back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DlqLine {
    pub time: chrono::DateTime<chrono::Utc>,
    pub output: String,
    pub input: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub source_type: String,
    pub reason: String,
    pub error: String,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Box<serde_json::value::RawValue>>,
}

impl DlqEntry<'_> {
    /// Appends the entry's NDJSON line.
    pub fn encode(&self, out: &mut Vec<u8>) {
        #[derive(Deserialize)]
        struct Ev {
            #[serde(default)]
            event: Option<Orig>,
        }
        #[derive(Deserialize)]
        struct Orig {
            #[serde(default)]
            original: Option<String>,
        }
        let original = serde_json::from_slice::<Ev>(self.record)
            .ok()
            .and_then(|e| e.event)
            .and_then(|e| e.original);
        let record = match original {
            Some(_) => None,
            None => std::str::from_utf8(self.record)
                .ok()
                .and_then(|s| serde_json::value::RawValue::from_string(s.to_owned()).ok()),
        };
        let line = DlqLine {
            time: chrono::Utc::now(),
            output: self.output.into(),
            input: self.input.into(),
            file: self.file.map(Into::into),
            source_type: self.source_type.into(),
            reason: self.reason.into(),
            error: self.error.into(),
            attempts: self.attempts,
            original,
            record,
        };
        if serde_json::to_writer(&mut *out, &line).is_ok() {
            out.push(b'\n');
        }
    }
}

struct WriterState {
    file: Option<File>,
    seq: u64,
    size: u64,
}

/// The queue's files. Shared by the `type: dlq` output and every output that parks records in it.
struct Writer {
    dir: PathBuf,
    cfg: DlqOutputConfig,
    state: Mutex<WriterState>,
    metrics: Metrics,
    name: Arc<str>,
}

/// What an output holds to park records (`dlq: <name>`).
#[derive(Clone)]
pub struct DlqHandle(Arc<Writer>);

impl std::fmt::Debug for DlqHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DlqHandle({})", self.0.name)
    }
}

/// The queue files of `dir`, oldest first, with their sequence numbers.
pub fn queue_files(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(n) = name
            .strip_prefix("dlq-")
            .and_then(|r| r.strip_suffix(".ndjson"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            files.push((n, e.path()));
        }
    }
    files.sort();
    Ok(files)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DlqError + '_ {
    move |source| DlqError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl DlqHandle {
    /// Opens (creating) the directory; the next file continues the existing numbering.
    pub fn open(name: &str, cfg: &DlqOutputConfig, metrics: &Metrics) -> Result<Self, OutputError> {
        std::fs::create_dir_all(&cfg.path)
            .map_err(|e| OutputError::Config(format!("path: {}: {e}", cfg.path.display())))?;
        let seq = queue_files(&cfg.path)
            .map_err(|e| OutputError::Config(format!("path: {}: {e}", cfg.path.display())))?
            .last()
            .map_or(0, |(n, _)| *n);
        Ok(DlqHandle(Arc::new(Writer {
            dir: cfg.path.clone(),
            cfg: cfg.clone(),
            state: Mutex::new(WriterState {
                file: None,
                seq,
                size: 0,
            }),
            metrics: metrics.clone(),
            name: Arc::from(name),
        })))
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The same queue (not merely one with the same settings).
    pub fn same(&self, other: &DlqHandle) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Writes encoded lines (one per entry in `reasons`) and syncs them when configured, off the
    /// async threads; counts `sluice_dlq_records_total{output,reason}` once they are written.
    pub async fn park(
        &self,
        output: Arc<str>,
        lines: Vec<u8>,
        reasons: Vec<&'static str>,
    ) -> Result<(), DlqError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.park_blocking(&output, &lines, &reasons))
            .await
            .map_err(|_| DlqError::Stopped)?
    }

    pub fn park_blocking(
        &self,
        output: &str,
        lines: &[u8],
        reasons: &[&str],
    ) -> Result<(), DlqError> {
        let w = &*self.0;
        let mut st = match w.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let incoming = lines.len() as u64;
        let used = dir_bytes(&w.dir);
        if used + incoming > w.cfg.max_bytes {
            return Err(DlqError::Full {
                used,
                max: w.cfg.max_bytes,
            });
        }
        if st.file.is_none() || (st.size > 0 && st.size + incoming > w.cfg.max_file_bytes) {
            st.seq += 1;
            let path = w.dir.join(format!("dlq-{:08}.ndjson", st.seq));
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io_err(&path))?;
            st.size = f.metadata().map(|m| m.len()).unwrap_or(0);
            st.file = Some(f);
        }
        let path = w.dir.join(format!("dlq-{:08}.ndjson", st.seq));
        let fsync = w.cfg.fsync;
        let Some(f) = st.file.as_mut() else {
            return Err(DlqError::Stopped);
        };
        let r = f
            .write_all(lines)
            .and_then(|()| if fsync { f.sync_data() } else { Ok(()) });
        if let Err(e) = r {
            // Reopen next time: a partly written line stays, cut, and readers skip it.
            st.file = None;
            return Err(io_err(&path)(e));
        }
        st.size += incoming;
        for r in reasons {
            w.metrics
                .counter(
                    "sluice_dlq_records_total",
                    "Records parked in a dead-letter queue, by the output that failed and why",
                    &[("output", output), ("reason", r)],
                )
                .inc();
        }
        Ok(())
    }
}

/// Bytes of the queue files in `dir` (read per park: replays and operators remove files).
fn dir_bytes(dir: &Path) -> u64 {
    queue_files(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|(_, p)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// The `type: dlq` output: records routed to it directly are parked with reason `routed`.
pub fn run(handle: DlqHandle, mut rx: mpsc::Receiver<OutBatch>, ctx: OutputContext) {
    let (records, bytes) = ctx.sent_counters();
    let end_to_end = ctx.end_to_end_latency();
    while let Some(batch) = rx.blocking_recv() {
        let mut lines = Vec::new();
        let mut reasons = Vec::new();
        for r in batch.records() {
            DlqEntry {
                output: &ctx.name,
                input: &batch.batch.origin.input,
                file: batch.batch.origin.file.as_deref(),
                source_type: r.source_type.as_str(),
                reason: "routed",
                error: "",
                attempts: 0,
                record: batch.batch.json(r),
            }
            .encode(&mut lines);
            reasons.push("routed");
        }
        match handle.park_blocking(&ctx.name, &lines, &reasons) {
            Ok(()) => {
                records.add(reasons.len() as u64);
                bytes.add(lines.len() as u64);
                OutputContext::observe_end_to_end(&end_to_end, &batch);
                batch.ack.ack();
            }
            Err(e) => {
                tracing::error!(output = %ctx.name, error = %e, "cannot write to the dead-letter queue");
                ctx.metrics
                    .counter(
                        "sluice_dropped_records_total",
                        "Records dropped, by component and reason",
                        &[("component", &*ctx.name), ("reason", "dlq_failed")],
                    )
                    .add(reasons.len() as u64);
                batch.ack.fail();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path, file: u64, total: u64) -> DlqOutputConfig {
        DlqOutputConfig {
            inputs: vec![],
            when_full: Default::default(),
            queue_batches: 1,
            path: dir.to_path_buf(),
            max_file_bytes: file,
            max_bytes: total,
            fsync: false,
        }
    }

    fn entry(record: &[u8], out: &mut Vec<u8>) {
        DlqEntry {
            output: "es",
            input: "app",
            file: Some("/var/log/x.log"),
            source_type: "syslog",
            reason: "rejected",
            error: "mapper_parsing_exception: failed to parse",
            attempts: 1,
            record,
        }
        .encode(out);
    }

    #[test]
    fn keeps_the_original_text_or_else_the_record() {
        let mut out = Vec::new();
        entry(
            br#"{"event":{"original":"raw line"},"message":"m"}"#,
            &mut out,
        );
        entry(br#"{"message":"m"}"#, &mut out);
        let lines: Vec<DlqLine> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines[0].original.as_deref(), Some("raw line"));
        assert!(lines[0].record.is_none());
        assert_eq!(lines[1].original, None);
        assert_eq!(
            lines[1].record.as_ref().unwrap().get(),
            r#"{"message":"m"}"#
        );
        assert_eq!(lines[1].reason, "rejected");
        assert_eq!(lines[1].file.as_deref(), Some("/var/log/x.log"));
    }

    #[test]
    fn rotates_by_file_size_and_refuses_past_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let m = Metrics::new();
        let h = DlqHandle::open("dlq", &cfg(dir.path(), 300, 900), &m).unwrap();
        let mut line = Vec::new();
        entry(br#"{"message":"m"}"#, &mut line);
        let n = line.len() as u64;
        let mut parked = 0;
        loop {
            match h.park_blocking("es", &line, &["rejected"]) {
                Ok(()) => parked += 1,
                Err(DlqError::Full { .. }) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(parked as u64, 900 / n);
        let files = queue_files(dir.path()).unwrap();
        assert!(files.len() >= 3, "{files:?}");
        for (_, f) in &files {
            assert!(std::fs::metadata(f).unwrap().len() <= 300);
        }
        assert_eq!(
            m.counter_value(
                "sluice_dlq_records_total",
                &[("output", "es"), ("reason", "rejected")]
            ),
            parked as u64
        );
        // A reopened queue continues the numbering.
        let h2 = DlqHandle::open("dlq", &cfg(dir.path(), 300, 100_000), &m).unwrap();
        h2.park_blocking("es", &line, &["rejected"]).unwrap();
        let after = queue_files(dir.path()).unwrap();
        assert_eq!(after.last().unwrap().0, files.last().unwrap().0 + 1);
    }
}
