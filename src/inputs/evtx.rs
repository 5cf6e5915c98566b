//! Windows `.evtx` files read record by record with the `evtx` crate, checkpointed by record id.
//!
//! Each record goes down the pipeline as its rendered XML (what Windows' own tools show, and what
//! `event.original` keeps), marked as Windows so detection is skipped. A file that grows is read
//! again from its start, skipping the records already sent.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use evtx::{EvtxParser, ParserSettings};
use globset::GlobSet;

use super::checkpoint::{Checkpoints, Entry, FileId, Head};
use super::file::sleep_unless;
use super::offsets::OffsetAcks;
use super::{exclude_set, matching_files, InputContext, InputError};
use crate::config::{EvtxInputConfig, ReadFrom};
use crate::event::{Origin, RawBatch};
use crate::metrics::Counter;
use crate::pipeline::ack::{AckRef, AckSink};
use crate::source_type::SourceType;

/// The first record's header in chunk 0: magic, size, record id and FILETIME. Stable while the log
/// grows (the file header is not: it counts records) and different for a new log.
const IDENTITY_AT: u64 = 4096 + 512;
const IDENTITY_LEN: usize = 24;
const SAVE_EVERY: Duration = Duration::from_secs(1);

struct EvtxFile {
    path: PathBuf,
    head: Head,
    acks: Arc<OffsetAcks>,
    /// Highest record id handed to the pipeline.
    last_sent: u64,
    seq: u64,
    /// (size, mtime) when last read; a change means new records.
    seen: Option<(u64, SystemTime)>,
    origin: Arc<Origin>,
}

pub struct EvtxInput {
    cfg: EvtxInputConfig,
    ctx: InputContext,
    exclude: GlobSet,
    files: HashMap<FileId, EvtxFile>,
    checkpoints: Checkpoints,
    first_scan: bool,
    errors: Counter,
}

impl EvtxInput {
    pub fn new(cfg: EvtxInputConfig, ctx: InputContext) -> Result<Self, InputError> {
        let exclude = exclude_set(&cfg.exclude)?;
        let checkpoints = Checkpoints::load(&ctx.data_dir, &ctx.name).map_err(|e| {
            InputError::Io(format!(
                "cannot open checkpoints under {}: {e}",
                ctx.data_dir.display()
            ))
        })?;
        let errors = ctx.metrics.counter(
            "sluice_component_errors_total",
            "I/O errors in a component",
            &[("component", &ctx.name)],
        );
        Ok(EvtxInput {
            cfg,
            ctx,
            exclude,
            files: HashMap::new(),
            checkpoints,
            first_scan: true,
            errors,
        })
    }

    pub fn run(mut self) {
        let mut last_save = Instant::now();
        while !self.ctx.stop.is_cancelled() {
            self.discover();
            let ids: Vec<FileId> = self.files.keys().copied().collect();
            for id in ids {
                if self.ctx.stop.is_cancelled() {
                    break;
                }
                self.read_new_records(id);
            }
            if last_save.elapsed() >= SAVE_EVERY {
                self.save_checkpoints();
                last_save = Instant::now();
            }
            if self.cfg.exit_on_eof && self.files.values().all(|f| f.acks.in_flight() == 0) {
                tracing::info!(input = %self.ctx.name, "every evtx file read and delivered; input ends (exit_on_eof)");
                break;
            }
            sleep_unless(&self.ctx.stop, self.cfg.poll_interval);
        }
        while !self.ctx.abort.is_cancelled() && self.files.values().any(|f| f.acks.in_flight() > 0)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.save_checkpoints();
    }

    fn discover(&mut self) {
        let found = matching_files(&self.cfg.include, &self.exclude, &self.ctx.name);
        self.files
            .retain(|id, f| found.contains_key(id) || f.acks.in_flight() > 0);
        for (id, path) in found {
            let head = identity(&path);
            if let Some(f) = self.files.get_mut(&id) {
                if f.head == head || head.len == 0 {
                    f.path = path;
                    continue;
                }
                // Same inode, another log: start over.
                self.files.remove(&id);
            }
            let committed = self
                .checkpoints
                .get(id)
                .filter(|e| e.head == head)
                .map(|e| e.offset);
            let last_sent = match committed {
                Some(c) => c,
                None if self.first_scan && self.cfg.read_from == ReadFrom::End => {
                    max_record_id(&path).unwrap_or(0)
                }
                None => 0,
            };
            tracing::info!(input = %self.ctx.name, path = %path.display(), after_record = last_sent, "watching evtx file");
            let origin = Arc::new(Origin {
                input: Arc::clone(&self.ctx.name),
                file: Some(Arc::from(path.to_string_lossy().as_ref())),
                peer: None,
                source_type: Some(SourceType::Windows),
            });
            self.files.insert(
                id,
                EvtxFile {
                    path,
                    head,
                    acks: Arc::new(OffsetAcks::new(last_sent)),
                    last_sent,
                    seq: 0,
                    seen: None,
                    origin,
                },
            );
        }
        self.first_scan = false;
    }

    fn read_new_records(&mut self, id: FileId) {
        let Some(f) = self.files.get_mut(&id) else {
            return;
        };
        let Ok(meta) = std::fs::metadata(&f.path) else {
            return;
        };
        let stamp = (
            meta.len(),
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        );
        if f.seen == Some(stamp) {
            return;
        }
        let settings = ParserSettings::new().num_threads(1);
        let mut parser = match EvtxParser::from_path(&f.path) {
            Ok(p) => p.with_configuration(settings),
            Err(e) => {
                self.errors.inc();
                tracing::warn!(input = %self.ctx.name, path = %f.path.display(), error = %e, "not a readable evtx file");
                f.seen = Some(stamp);
                return;
            }
        };
        let new_batch = |f: &EvtxFile| {
            RawBatch::new(
                Arc::clone(&f.origin),
                AckRef::new(f.seq, Arc::clone(&f.acks) as Arc<dyn AckSink>),
            )
        };
        let mut batch = new_batch(f);
        let mut batch_last = f.last_sent;
        for record in parser.records() {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    // A damaged chunk or record: count it and carry on with the rest.
                    self.errors.inc();
                    tracing::warn!(input = %self.ctx.name, path = %f.path.display(), error = %e, "unreadable evtx record");
                    continue;
                }
            };
            if record.event_record_id <= f.last_sent {
                continue;
            }
            batch.push(record.data.as_bytes(), None, false);
            batch_last = batch_last.max(record.event_record_id);
            if batch.len() >= self.ctx.batch_size {
                let full = std::mem::replace(&mut batch, new_batch(f));
                if !send(&self.ctx, f, full, batch_last) {
                    return;
                }
                batch = new_batch(f);
            }
        }
        if !batch.is_empty() && !send(&self.ctx, f, batch, batch_last) {
            return;
        }
        f.seen = Some(stamp);
    }

    fn save_checkpoints(&mut self) {
        for (id, f) in &self.files {
            self.checkpoints.set(Entry {
                path: f.path.clone(),
                id: *id,
                head: f.head,
                offset: f.acks.committed(),
            });
        }
        let live: Vec<FileId> = self.files.keys().copied().collect();
        self.checkpoints.retain(|e| live.contains(&e.id));
        if let Err(e) = self.checkpoints.save() {
            self.errors.inc();
            tracing::error!(input = %self.ctx.name, error = %e, "cannot save checkpoints");
        }
    }
}

/// Registers and sends one batch whose highest record id is `last`.
fn send(ctx: &InputContext, f: &mut EvtxFile, batch: RawBatch, last: u64) -> bool {
    f.acks.register(f.seq, last);
    f.seq += 1;
    f.last_sent = last;
    ctx.sender.send_blocking(batch, &ctx.abort).is_ok()
}

fn identity(path: &std::path::Path) -> Head {
    let mut buf = [0u8; IDENTITY_LEN];
    match std::fs::File::open(path).and_then(|f| f.read_exact_at(&mut buf, IDENTITY_AT)) {
        Ok(()) => Head::of(&buf),
        Err(_) => Head::default(),
    }
}

fn max_record_id(path: &std::path::Path) -> Option<u64> {
    let mut p = EvtxParser::from_path(path).ok()?;
    p.records()
        .filter_map(Result::ok)
        .map(|r| r.event_record_id)
        .max()
}
