//! Tails files matched by globs: follows appends, picks up new files, survives rotation by rename
//! and by copytruncate, and resumes from checkpoints that only move once records are delivered.
//!
//! Runs on a blocking thread: local file reads are fast system calls, and a dedicated loop keeps
//! the read → frame → batch path free of async overhead. Backpressure is the blocking send.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use globset::GlobSet;

use super::checkpoint::{Checkpoints, Entry, FileId, Head, HEAD_BYTES};
use super::cri::CriJoiner;
use super::offsets::OffsetAcks;
use super::{exclude_set, matching_files, InputContext, InputError};
use crate::config::{FileInputConfig, Framing, ReadFrom};
use crate::event::{Origin, RawBatch, RecordMeta};
use crate::framing::Framer;
use crate::metrics::Counter;
use crate::pipeline::ack::{AckRef, AckSink};
use crate::source_type::SourceType;

/// Bytes read from one file before giving the others a turn.
const READ_CHUNK: usize = 256 * 1024;
const MAX_READ_PER_TURN: usize = 4 * READ_CHUNK;
/// A file whose path now names another file (rotated away, deleted) is closed after this much quiet.
const DETACHED_LINGER: Duration = Duration::from_secs(2);
const SAVE_EVERY: Duration = Duration::from_secs(1);

struct Tracked {
    id: FileId,
    path: PathBuf,
    file: File,
    head: Head,
    framer: Framer,
    /// `framing: cri`: joins partial lines after the framer.
    cri: Option<CriJoiner>,
    /// Bytes of the file consumed into the framer.
    read_pos: u64,
    acks: Arc<OffsetAcks>,
    origin: Arc<Origin>,
    seq: u64,
    last_data: Instant,
    /// The path no longer names this file.
    detached: bool,
    /// Bytes of this file's last full batch: the next batch's buffer is sized from it.
    batch_bytes: usize,
}

impl Tracked {
    /// Bytes held back that are not yet records.
    fn pending(&self) -> usize {
        self.framer.pending() + self.cri.as_ref().map_or(0, CriJoiner::pending)
    }

    /// Where a checkpoint may move: past every record handed out, but not past a held CRI part.
    fn position(&self) -> u64 {
        let framed = self.framer.position();
        self.cri
            .as_ref()
            .and_then(CriJoiner::held_from)
            .map_or(framed, |held| held.min(framed))
    }
}

fn cri_joiner(cfg: &FileInputConfig) -> Option<CriJoiner> {
    (cfg.framing == Framing::Cri).then(|| CriJoiner::new(cfg.max_line_bytes))
}

/// A running file input.
pub struct FileInput {
    cfg: FileInputConfig,
    ctx: InputContext,
    include: Vec<String>,
    exclude: GlobSet,
    files: HashMap<FileId, Tracked>,
    checkpoints: Checkpoints,
    first_scan: bool,
    buf: Vec<u8>,
    truncations: Counter,
    rotations: Counter,
    errors: Counter,
}

impl FileInput {
    pub fn new(cfg: FileInputConfig, ctx: InputContext) -> Result<Self, InputError> {
        let exclude = exclude_set(&cfg.exclude)?;
        let checkpoints = Checkpoints::load(&ctx.data_dir, &ctx.name).map_err(|e| {
            InputError::Io(format!(
                "cannot open checkpoints under {}: {e}",
                ctx.data_dir.display()
            ))
        })?;
        let label = |name: &'static str, help: &'static str| {
            ctx.metrics.counter(name, help, &[("component", &ctx.name)])
        };
        Ok(FileInput {
            include: cfg.include.clone(),
            truncations: label(
                "sluice_file_truncations_total",
                "Files found truncated (copytruncate) and re-read from the start",
            ),
            rotations: label(
                "sluice_file_rotations_total",
                "Files rotated away (renamed or deleted) and read to their end",
            ),
            errors: label("sluice_component_errors_total", "I/O errors in a component"),
            cfg,
            exclude,
            files: HashMap::new(),
            checkpoints,
            first_scan: true,
            buf: vec![0; READ_CHUNK],
            ctx,
        })
    }

    /// The input's loop; returns after `stop`, once in-flight records are acknowledged (or
    /// `abort`), with checkpoints saved.
    pub fn run(mut self) {
        let discover_every = (self.cfg.poll_interval * 4).max(Duration::from_millis(500));
        let mut last_discover: Option<Instant> = None;
        let mut last_save = Instant::now();
        while !self.ctx.stop.is_cancelled() {
            if last_discover.is_none_or(|t| t.elapsed() >= discover_every) {
                self.discover();
                last_discover = Some(Instant::now());
            }
            let mut progressed = false;
            let ids: Vec<FileId> = self.files.keys().copied().collect();
            for id in ids {
                if self.ctx.stop.is_cancelled() {
                    break;
                }
                progressed |= self.read_file(id);
            }
            if last_save.elapsed() >= SAVE_EVERY {
                self.save_checkpoints();
                last_save = Instant::now();
            }
            if !progressed && self.cfg.exit_on_eof && self.all_done() {
                tracing::info!(input = %self.ctx.name, "every file read and delivered; input ends (exit_on_eof)");
                break;
            }
            if !progressed {
                sleep_unless(&self.ctx.stop, self.cfg.poll_interval);
            }
        }
        // Drain: wait for what was sent to be acknowledged, then record where we are.
        while !self.ctx.abort.is_cancelled() && self.files.values().any(|t| t.acks.in_flight() > 0)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.save_checkpoints();
        tracing::debug!(input = %self.ctx.name, "file input stopped");
    }

    /// Every file at its end with nothing held back and nothing in flight.
    fn all_done(&self) -> bool {
        self.files.values().all(|t| {
            t.pending() == 0
                && t.acks.in_flight() == 0
                && t.file.metadata().is_ok_and(|m| m.len() <= t.read_pos)
        })
    }

    fn save_checkpoints(&mut self) {
        for t in self.files.values_mut() {
            let committed = t.acks.committed();
            if t.head.len < HEAD_BYTES as u32 {
                t.head = read_head(&t.file).unwrap_or(t.head);
            }
            self.checkpoints.set(Entry {
                path: t.path.clone(),
                id: t.id,
                head: t.head,
                offset: committed,
            });
        }
        let live: Vec<FileId> = self.files.keys().copied().collect();
        self.checkpoints.retain(|e| live.contains(&e.id));
        if let Err(e) = self.checkpoints.save() {
            self.errors.inc();
            tracing::error!(input = %self.ctx.name, error = %e, "cannot save checkpoints");
        }
    }

    /// Finds matching files, notices rotation, truncation and rewrites.
    fn discover(&mut self) {
        let seen = matching_files(&self.include, &self.exclude, &self.ctx.name);
        // Tracked files: still named by a matching path? Truncated or rewritten in place?
        for (id, t) in self.files.iter_mut() {
            match seen.get(id) {
                Some(p) => {
                    if *p != t.path {
                        t.path = p.clone();
                    }
                    t.detached = false;
                }
                None if !t.detached => {
                    t.detached = true;
                    self.rotations.inc();
                    tracing::info!(input = %self.ctx.name, path = %t.path.display(), "file rotated away or deleted; reading it to the end");
                }
                None => {}
            }
            let size = t.file.metadata().map(|m| m.len()).unwrap_or(0);
            let rewritten = t.head.len > 0
                && read_prefix_head(&t.file, t.head.len as usize).is_some_and(|h| h != t.head);
            if size < t.read_pos || rewritten {
                self.truncations.inc();
                tracing::info!(input = %self.ctx.name, path = %t.path.display(), "file truncated; reading from the start");
                t.read_pos = 0;
                t.framer = Framer::new(self.cfg.framing, self.cfg.max_line_bytes, 0);
                t.cri = cri_joiner(&self.cfg);
                t.acks.reset(0);
                t.head = read_head(&t.file).unwrap_or_default();
                if let Err(e) = t.file.seek(SeekFrom::Start(0)) {
                    tracing::warn!(error = %e, "seek failed");
                }
            }
        }
        for (id, path) in seen {
            if self.files.contains_key(&id) {
                continue;
            }
            match self.open(id, &path) {
                Ok(t) => {
                    tracing::info!(input = %self.ctx.name, path = %path.display(), offset = t.read_pos, "watching file");
                    self.files.insert(id, t);
                }
                Err(e) => {
                    self.errors.inc();
                    tracing::warn!(input = %self.ctx.name, path = %path.display(), error = %e, "cannot open file");
                }
            }
        }
        self.first_scan = false;
    }

    fn open(&self, id: FileId, path: &Path) -> std::io::Result<Tracked> {
        let mut file = File::open(path)?;
        let size = file.metadata()?.len();
        let head = read_head(&file)?;
        let resume = self.checkpoints.get(id).and_then(|e| {
            let same = read_prefix_head(&file, e.head.len as usize) == Some(e.head);
            (same && e.offset <= size).then_some(e.offset)
        });
        let start = match resume {
            Some(off) => off,
            None if self.first_scan && self.cfg.read_from == ReadFrom::End => size,
            None => 0,
        };
        file.seek(SeekFrom::Start(start))?;
        let origin = Arc::new(Origin {
            input: Arc::clone(&self.ctx.name),
            file: Some(Arc::from(path.to_string_lossy().as_ref())),
            peer: None,
            source_type: self.cfg.source_type.as_deref().map(SourceType::from_name),
        });
        Ok(Tracked {
            id,
            path: path.to_path_buf(),
            file,
            head,
            framer: Framer::new(self.cfg.framing, self.cfg.max_line_bytes, start),
            cri: cri_joiner(&self.cfg),
            read_pos: start,
            acks: Arc::new(OffsetAcks::new(start)),
            origin,
            seq: 0,
            last_data: Instant::now(),
            detached: false,
            batch_bytes: 0,
        })
    }

    /// Reads what is new in one file and sends it. Returns whether anything was read.
    fn read_file(&mut self, id: FileId) -> bool {
        let Some(mut t) = self.files.remove(&id) else {
            return false;
        };
        let mut read_total = 0usize;
        let mut eof = false;
        while read_total < MAX_READ_PER_TURN {
            match t.file.read(&mut self.buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    read_total += n;
                    t.read_pos += n as u64;
                    t.framer.feed(&self.buf[..n]);
                    t.last_data = Instant::now();
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.errors.inc();
                    tracing::warn!(input = %self.ctx.name, path = %t.path.display(), error = %e, "read failed");
                    eof = true;
                    break;
                }
            }
        }
        // A last line without newline goes out once the file has been quiet long enough.
        let flush_partial =
            eof && t.pending() > 0 && t.last_data.elapsed() >= self.cfg.partial_line_timeout;
        let sent_ok = self.send_records(&mut t, flush_partial);
        let keep = sent_ok
            && !(t.detached && eof && t.pending() == 0 && t.last_data.elapsed() >= DETACHED_LINGER);
        if keep {
            self.files.insert(id, t);
        } else if sent_ok {
            tracing::info!(input = %self.ctx.name, path = %t.path.display(), "finished rotated file");
            // Keep its final position until its last batches are acknowledged.
            self.linger(t);
        } else {
            self.files.insert(id, t);
        }
        read_total > 0
    }

    /// A finished rotated file: wait for its acknowledgements on the side, then forget it.
    fn linger(&mut self, t: Tracked) {
        if t.acks.in_flight() == 0 {
            return;
        }
        // Keep it tracked (detached) so checkpoints and the drain still see its batches.
        let id = t.id;
        self.files.insert(id, t);
    }

    /// Frames complete records into batches and sends them. False if the pipeline is gone.
    fn send_records(&mut self, t: &mut Tracked, flush_partial: bool) -> bool {
        let batch_size = self.ctx.batch_size;
        let mut batch: Option<RawBatch> = None;
        loop {
            // Room for what is waiting, up to the size of the last full batch: a tailed line
            // does not get a whole batch's buffer.
            let room = t.framer.pending().min(t.batch_bytes);
            let rec = t.framer.next_record(flush_partial);
            let Some((frame, bytes)) = rec else { break };
            let records = batch_size.min(room.div_ceil(t.batch_bytes.div_ceil(batch_size).max(1)));
            let make = || new_batch(&t.origin, t.seq, &t.acks, records, room);
            match t.cri.as_mut() {
                None => {
                    batch
                        .get_or_insert_with(make)
                        .push(bytes, Some(frame.offset), frame.truncated)
                }
                Some(j) => j.push(bytes, frame.offset, frame.truncated, &mut |r| {
                    push_cri(batch.get_or_insert_with(make), r, true)
                }),
            }
            if batch.as_ref().is_some_and(|b| b.len() >= batch_size) {
                if let Some(full) = batch.take() {
                    t.batch_bytes = full.buf.len();
                    if !self.send(t, full) {
                        return false;
                    }
                }
            }
        }
        if flush_partial {
            if let Some(j) = t.cri.as_mut() {
                let make = || new_batch(&t.origin, t.seq, &t.acks, 0, 0);
                j.flush(&mut |r| push_cri(batch.get_or_insert_with(make), r, true));
            }
        }
        if let Some(b) = batch.take() {
            return self.send(t, b);
        }
        if t.acks.in_flight() == 0 && t.pending() == 0 {
            // Bytes skipped inside an over-long line: nothing to deliver, but do not re-read them.
            t.acks.reset(t.framer.position());
        }
        true
    }

    fn send(&mut self, t: &mut Tracked, batch: RawBatch) -> bool {
        t.acks.register(t.seq, t.position());
        t.seq += 1;
        self.ctx
            .sender
            .send_blocking(batch, &self.ctx.abort)
            .is_ok()
    }
}

/// A batch acknowledged to this file's offsets under sequence number `seq`.
fn new_batch(
    origin: &Arc<Origin>,
    seq: u64,
    acks: &Arc<OffsetAcks>,
    records: usize,
    bytes: usize,
) -> RawBatch {
    RawBatch::with_capacity(
        Arc::clone(origin),
        AckRef::new(seq, Arc::clone(acks) as Arc<dyn AckSink>),
        records,
        bytes,
    )
}

/// One CRI record: the message, with the runtime's stream and time beside it; `with_offset`
/// for inputs whose records carry `log.offset` (files, not stdin).
pub(crate) fn push_cri(batch: &mut RawBatch, r: super::cri::CriRecord<'_>, with_offset: bool) {
    let meta = RecordMeta {
        time: r.time,
        stream: r.stream.map(super::cri::Stream::as_str),
        ..RecordMeta::default()
    };
    let offset = with_offset.then_some(r.offset);
    batch.push_meta(r.message, offset, r.truncated, meta);
}

fn read_head(file: &File) -> std::io::Result<Head> {
    let mut buf = [0u8; HEAD_BYTES];
    let n = read_at_full(file, &mut buf)?;
    Ok(Head::of(&buf[..n]))
}

fn read_prefix_head(file: &File, len: usize) -> Option<Head> {
    let mut buf = [0u8; HEAD_BYTES];
    let want = len.min(HEAD_BYTES);
    let n = read_at_full(file, &mut buf[..want]).ok()?;
    (n == want).then(|| Head::of(&buf[..n]))
}

fn read_at_full(file: &File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Sleeps up to `d`, waking early when `stop` fires.
pub(crate) fn sleep_unless(stop: &tokio_util::sync::CancellationToken, d: Duration) {
    let until = Instant::now() + d;
    while !stop.is_cancelled() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(25)));
    }
}
