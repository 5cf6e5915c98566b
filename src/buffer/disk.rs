//! The disk buffer: batches for one output are appended to segment files, acknowledged upstream
//! once written (and synced, per `fsync`), and read back for the output, whose acknowledgement
//! moves the saved read position. After a crash, everything after the saved position is sent
//! again: at-least-once, never lost.
//!
//! ```text
//! processors ─(queue)─► writer thread ─► segments ─► reader thread ─(queue)─► output
//!                        acks upstream                 acks move read.pos
//! ```

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::segment::{self, Frame, Pos, HEADER};
use crate::config::{DiskBufferConfig, FsyncPolicy, WhenFull};
use crate::event::{decode_batch, encode_batch, OutBatch};
use crate::metrics::{Counter, Histogram, Metrics};
use crate::pipeline::ack::{AckRef, AckSink};

/// The read position is saved at most this often (and on exit); a crash resends at most this much.
const SAVE_EVERY: Duration = Duration::from_millis(100);
/// The writer takes at most this many queued batches before syncing and acknowledging them.
const GROUP_COMMIT: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    #[error("disk buffer {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// The buffer's threads. They end once upstream has closed and the output has taken what was
/// written (or its queue is gone); dropping this detaches them.
#[derive(Debug)]
pub struct Threads(Vec<std::thread::JoinHandle<()>>);

impl Threads {
    /// Waits for both threads (tests, tools).
    pub fn join(self) {
        for t in self.0 {
            let _ = t.join();
        }
    }
}

/// A segment on disk and its trusted length.
#[derive(Debug, Clone, Copy)]
struct Segment {
    id: u64,
    len: u64,
}

#[derive(Debug)]
struct InFlight {
    seq: u64,
    end: Pos,
    /// Acknowledged (or cut as corrupt); the read position may pass it.
    done: bool,
}

#[derive(Debug)]
struct State {
    /// Oldest first; the last one is being written.
    segments: VecDeque<Segment>,
    /// Bytes of every segment file.
    used: u64,
    /// Everything before this is acknowledged by the output.
    acked: Pos,
    inflight: VecDeque<InFlight>,
    /// A batch failed at the output: read again from `acked`.
    rewind: bool,
    /// The writer has finished (upstream closed).
    closed: bool,
}

impl State {
    fn write_pos(&self) -> Pos {
        self.segments.back().map_or(
            Pos {
                seg: 0,
                off: HEADER,
            },
            |s| Pos {
                seg: s.id,
                off: s.len,
            },
        )
    }

    /// The output has acknowledged everything written.
    fn drained(&self) -> bool {
        self.acked >= self.write_pos()
    }
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    name: Arc<str>,
    state: Mutex<State>,
    /// Woken on writes, acknowledgements, freed space and close.
    changed: Condvar,
    corrupt: Counter,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// The output's acknowledgements of batches read from the buffer.
#[derive(Debug)]
struct Acks(Arc<Shared>);

impl AckSink for Acks {
    fn complete(&self, seq: u64, delivered: bool) {
        let mut st = self.0.lock();
        if !delivered {
            st.rewind = true;
        } else if let Some(f) = st.inflight.iter_mut().find(|f| f.seq == seq) {
            f.done = true;
        }
        while st.inflight.front().is_some_and(|f| f.done) {
            if let Some(f) = st.inflight.pop_front() {
                st.acked = f.end;
            }
        }
        drop(st);
        self.0.changed.notify_all();
    }
}

/// Recovers the buffer in `dir` (cutting corrupt tails) and starts its writer, fed by `rx`, and
/// its reader, feeding `tx`, on their own threads.
pub fn start(
    dir: PathBuf,
    cfg: DiskBufferConfig,
    name: Arc<str>,
    metrics: &Metrics,
    rx: mpsc::Receiver<OutBatch>,
    tx: mpsc::Sender<OutBatch>,
) -> Result<Threads, BufferError> {
    let io = |source| BufferError::Io {
        dir: dir.clone(),
        source,
    };
    let labels = [("component", &*name)];
    let corrupt = metrics.counter(
        "sluice_buffer_corrupt_records_total",
        "Corrupt or torn disk buffer frames (one frame is one batch) cut off",
        &labels,
    );
    std::fs::create_dir_all(&dir).map_err(io)?;
    let sync = cfg.fsync != FsyncPolicy::Never;
    let (segments, acked) = recover(&dir, &name, &corrupt, sync).map_err(io)?;
    let used = segments.iter().map(|s| s.len).sum();
    let shared = Arc::new(Shared {
        dir: dir.clone(),
        name: Arc::clone(&name),
        state: Mutex::new(State {
            segments,
            used,
            acked,
            inflight: VecDeque::new(),
            rewind: false,
            closed: false,
        }),
        changed: Condvar::new(),
        corrupt,
    });
    let weak = Arc::downgrade(&shared);
    metrics.gauge_fn(
        "sluice_buffer_bytes",
        "Bytes in an output's disk buffer",
        &labels,
        Arc::new(move || weak.upgrade().map(|s| s.lock().used as i64)),
    );
    let max = cfg.max_bytes as i64;
    let weak = Arc::downgrade(&shared);
    metrics.gauge_fn(
        "sluice_buffer_max_bytes",
        "Capacity of an output's disk buffer",
        &labels,
        Arc::new(move || weak.upgrade().map(|_| max)),
    );
    let writer = Writer {
        shared: Arc::clone(&shared),
        file: None,
        segment_bytes: (cfg.max_bytes / 8).clamp(64 * 1024, 128 * 1024 * 1024),
        dropped: metrics.counter(
            "sluice_dropped_records_total",
            "Records dropped, by component and reason",
            &[("component", &*name), ("reason", "buffer_full")],
        ),
        errors: metrics.counter(
            "sluice_component_errors_total",
            "I/O errors in a component",
            &labels,
        ),
        fsync_seconds: metrics.histogram(
            "sluice_buffer_fsync_seconds",
            "Time to sync a disk buffer segment",
            &labels,
        ),
        cfg,
    };
    // Plain threads, not the runtime's blocking pool: a buffer whose output is down must not
    // hold the process at exit (what is on disk is safe).
    let spawn = |what: &str, f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new()
            .name(format!("sluice-buf-{what}"))
            .spawn(f)
            .map_err(io)
    };
    let reader = Arc::clone(&shared);
    let w = spawn("write", Box::new(move || writer.run(rx)))?;
    let r = spawn("read", Box::new(move || read_loop(reader, tx, sync)))?;
    Ok(Threads(vec![w, r]))
}

/// Checks every segment, cuts corrupt tails, drops segments already read, and opens a fresh
/// segment for writing. Returns the segments and where reading starts.
fn recover(
    dir: &Path,
    name: &str,
    corrupt: &Counter,
    sync: bool,
) -> std::io::Result<(VecDeque<Segment>, Pos)> {
    let saved = segment::load_pos(dir)?;
    if saved.is_none() && dir.join("read.pos").exists() {
        tracing::warn!(output = %name, "disk buffer read position is unreadable; reading every segment again");
    }
    let mut segments = VecDeque::new();
    for id in segment::list_segments(dir)? {
        let path = segment::segment_path(dir, id);
        if saved.is_some_and(|p| id < p.seg) {
            std::fs::remove_file(&path)?;
            continue;
        }
        let scan = segment::scan_segment(&path, 0)?;
        if let Some((at, why)) = scan.bad {
            corrupt.inc();
            tracing::error!(output = %name, segment = %path.display(), offset = at, cut_bytes = scan.file_len - scan.good_len, reason = why, "disk buffer segment is corrupt; cutting it there");
            segment::repair_segment(&path, &scan)?;
            if scan.good_len < HEADER {
                continue;
            }
        }
        segments.push_back(Segment {
            id,
            len: scan.good_len,
        });
    }
    let next_id = segments.back().map_or(1, |s| s.id + 1);
    let first = segments.front().map_or(next_id, |s| s.id);
    let mut acked = match saved {
        Some(p) if p.seg >= first => p,
        _ => Pos {
            seg: first,
            off: HEADER,
        },
    };
    match segments.iter().find(|s| s.id >= acked.seg) {
        Some(s) if s.id == acked.seg => acked.off = acked.off.clamp(HEADER, s.len),
        // The saved segment is gone: start at the next one there is.
        Some(s) => {
            acked = Pos {
                seg: s.id,
                off: HEADER,
            }
        }
        None => {
            acked = Pos {
                seg: next_id,
                off: HEADER,
            }
        }
    }
    // Always write into a new segment: the old ones are complete as they are.
    drop(segment::create_segment(dir, next_id, sync)?);
    segments.push_back(Segment {
        id: next_id,
        len: HEADER,
    });
    Ok((segments, acked))
}

struct Writer {
    shared: Arc<Shared>,
    cfg: DiskBufferConfig,
    file: Option<File>,
    segment_bytes: u64,
    dropped: Counter,
    errors: Counter,
    fsync_seconds: Histogram,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<OutBatch>) {
        let mut pending: Vec<AckRef> = Vec::new();
        let mut last_sync = Instant::now();
        let mut frame = Vec::new();
        let mut payload = Vec::new();
        let mut group = Vec::with_capacity(GROUP_COMMIT);
        loop {
            let first = if self.cfg.fsync == FsyncPolicy::Interval && !pending.is_empty() {
                // Batches are waiting for the periodic sync: take more until it is due.
                match rx.try_recv() {
                    Ok(b) => Some(b),
                    Err(mpsc::error::TryRecvError::Empty) => {
                        let wait = self.cfg.fsync_interval.saturating_sub(last_sync.elapsed());
                        if wait.is_zero() {
                            self.sync(&mut pending, &mut last_sync);
                        } else {
                            std::thread::sleep(wait.min(Duration::from_millis(1)));
                        }
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                }
            } else {
                rx.blocking_recv()
            };
            let Some(first) = first else { break };
            group.push(first);
            while group.len() < GROUP_COMMIT {
                match rx.try_recv() {
                    Ok(b) => group.push(b),
                    Err(_) => break,
                }
            }
            for b in group.drain(..) {
                if b.is_empty() {
                    b.ack.ack();
                    continue;
                }
                payload.clear();
                encode_batch(&b, &mut payload);
                frame.clear();
                segment::encode_frame(&payload, &mut frame);
                if !self.wait_for_room(frame.len() as u64, &mut pending, &mut last_sync) {
                    // `drop_newest`: dropped on purpose and counted, as a full memory queue would.
                    self.dropped.add(b.len() as u64);
                    b.ack.ack();
                    continue;
                }
                if self.append(&frame, rx.is_closed()) {
                    pending.push(b.ack);
                } else {
                    // Shutting down with a failing disk: not acknowledged, so read again later.
                    b.ack.fail();
                }
            }
            match self.cfg.fsync {
                FsyncPolicy::Always => self.sync(&mut pending, &mut last_sync),
                FsyncPolicy::Never => pending.drain(..).for_each(AckRef::ack),
                FsyncPolicy::Interval => {
                    if last_sync.elapsed() >= self.cfg.fsync_interval {
                        self.sync(&mut pending, &mut last_sync);
                    }
                }
            }
        }
        if self.cfg.fsync == FsyncPolicy::Never {
            pending.drain(..).for_each(AckRef::ack);
        } else {
            self.sync(&mut pending, &mut last_sync);
        }
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
    }

    /// True when `len` more bytes fit. With `block`, waits for the output to free space (first
    /// acknowledging what is written, so upstream is not held); with `drop_newest`, false.
    fn wait_for_room(&mut self, len: u64, pending: &mut Vec<AckRef>, last: &mut Instant) -> bool {
        let mut flushed = false;
        loop {
            let mut st = self.shared.lock();
            if st.used + len <= self.cfg.max_bytes {
                return true;
            }
            if st.drained() {
                // Everything is delivered yet the batch does not fit (it is larger than what the
                // segments kept for reading hold): start a segment so the old ones can go.
                drop(st);
                self.rotate();
                return true;
            }
            if self.cfg.when_full == WhenFull::DropNewest {
                return false;
            }
            if !flushed {
                drop(st);
                if self.cfg.fsync == FsyncPolicy::Never {
                    pending.drain(..).for_each(AckRef::ack);
                } else {
                    self.sync(pending, last);
                }
                flushed = true;
                continue;
            }
            st = match self
                .shared
                .changed
                .wait_timeout(st, Duration::from_millis(200))
            {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
            drop(st);
        }
    }

    /// Appends a frame to the current segment (rotating first when it is full). Write errors are
    /// retried with backoff; partial writes are cut. False only when giving up at shutdown.
    fn append(&mut self, frame: &[u8], closing: bool) -> bool {
        let mut backoff = Duration::from_millis(100);
        loop {
            let pos = self.shared.lock().write_pos();
            if pos.off >= self.segment_bytes {
                self.rotate();
                continue;
            }
            match self.write_at_end(frame, pos) {
                Ok(()) => {
                    let mut st = self.shared.lock();
                    if let Some(s) = st.segments.back_mut() {
                        s.len += frame.len() as u64;
                    }
                    st.used += frame.len() as u64;
                    drop(st);
                    self.shared.changed.notify_all();
                    return true;
                }
                Err(e) => {
                    self.errors.inc();
                    self.file = None;
                    tracing::error!(output = %self.shared.name, error = %e, retry_in = ?backoff, "disk buffer write failed; retrying");
                    if closing && backoff >= Duration::from_secs(5) {
                        return false;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    fn write_at_end(&mut self, frame: &[u8], pos: Pos) -> std::io::Result<()> {
        if self.file.is_none() {
            let f = std::fs::OpenOptions::new()
                .append(true)
                .open(segment::segment_path(&self.shared.dir, pos.seg))?;
            // Whatever a failed attempt left after the trusted end goes.
            f.set_len(pos.off)?;
            self.file = Some(f);
        }
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("segment not open"))?;
        let r = f.write_all(frame);
        if r.is_err() {
            let _ = f.set_len(pos.off);
        }
        r
    }

    /// Closes the current segment (synced per policy) and starts the next one.
    fn rotate(&mut self) {
        let sync = self.cfg.fsync != FsyncPolicy::Never;
        if let Some(f) = self.file.take() {
            if sync {
                let _ = f.sync_data();
            }
        }
        let next = self.shared.lock().write_pos().seg + 1;
        match segment::create_segment(&self.shared.dir, next, sync) {
            Ok(f) => {
                self.file = Some(f);
                let mut st = self.shared.lock();
                st.segments.push_back(Segment {
                    id: next,
                    len: HEADER,
                });
                st.used += HEADER;
                drop(st);
                self.shared.changed.notify_all();
            }
            Err(e) => {
                self.errors.inc();
                tracing::error!(output = %self.shared.name, error = %e, "cannot start a disk buffer segment");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }

    /// Syncs the segment, then acknowledges what it holds upstream. A failed sync acknowledges
    /// nothing: those batches are failed, so their inputs send them again.
    fn sync(&mut self, pending: &mut Vec<AckRef>, last: &mut Instant) {
        *last = Instant::now();
        if pending.is_empty() {
            return;
        }
        let started = Instant::now();
        let r = self.file.as_ref().map_or(Ok(()), File::sync_data);
        self.fsync_seconds.observe_duration(started.elapsed());
        match r {
            Ok(()) => pending.drain(..).for_each(AckRef::ack),
            Err(e) => {
                self.errors.inc();
                tracing::error!(output = %self.shared.name, error = %e, "disk buffer sync failed; the batches are not acknowledged");
                pending.drain(..).for_each(AckRef::fail);
            }
        }
    }
}

/// Reads frames after the acknowledged position and hands them to the output; saves the read
/// position and removes delivered segments as acknowledgements arrive.
fn read_loop(shared: Arc<Shared>, tx: mpsc::Sender<OutBatch>, sync: bool) {
    let sink: Arc<dyn AckSink> = Arc::new(Acks(Arc::clone(&shared)));
    let mut pos = shared.lock().acked;
    let mut saved = pos;
    let mut last_save = Instant::now();
    let mut file: Option<(u64, File)> = None;
    let mut payload = Vec::new();
    let mut seq = 0u64;
    'read: loop {
        if last_save.elapsed() >= SAVE_EVERY {
            saved = save_and_trim(&shared, saved, sync);
            last_save = Instant::now();
        }
        // Where to read next, and up to where that segment is trustworthy.
        let limit = {
            let mut st = shared.lock();
            if st.rewind {
                st.rewind = false;
                st.inflight.clear();
                pos = st.acked;
                tracing::warn!(output = %shared.name, "the output failed a batch; sending again from the last acknowledged one");
            }
            let write = st.write_pos();
            if st.closed && pos >= write {
                // Upstream is gone and everything written was handed to the output.
                break 'read;
            }
            match st.segments.iter().find(|s| s.id >= pos.seg) {
                Some(s) if s.id > pos.seg => {
                    pos = Pos {
                        seg: s.id,
                        off: HEADER,
                    };
                    continue;
                }
                Some(s) if pos.off < s.len => s.len,
                Some(_) if pos.seg < write.seg => {
                    pos = Pos {
                        seg: pos.seg + 1,
                        off: HEADER,
                    };
                    continue;
                }
                _ => {
                    drop(shared.changed.wait_timeout(st, SAVE_EVERY));
                    continue;
                }
            }
        };
        if file.as_ref().map(|(id, _)| *id) != Some(pos.seg) {
            match File::open(segment::segment_path(&shared.dir, pos.seg)) {
                Ok(f) => file = Some((pos.seg, f)),
                Err(e) => {
                    tracing::error!(output = %shared.name, error = %e, "cannot open a disk buffer segment; skipping it");
                    skip(&shared, &mut pos, limit, &mut seq);
                    continue;
                }
            }
        }
        let Some((_, f)) = &file else { continue };
        let frame = segment::read_frame(f, pos.off, limit, &mut payload);
        let batch = match frame {
            Ok(Frame::Ok { next }) => match decode_batch(&payload) {
                Ok(b) => Some((b, next)),
                Err(e) => {
                    corrupt(&shared, pos, e.0);
                    None
                }
            },
            Ok(Frame::End) => continue,
            Ok(Frame::Bad(why)) => {
                corrupt(&shared, pos, why);
                None
            }
            Err(e) => {
                corrupt(&shared, pos, "read error");
                tracing::error!(output = %shared.name, error = %e, "disk buffer read failed");
                None
            }
        };
        let Some(((batch, received), next)) = batch else {
            skip(&shared, &mut pos, limit, &mut seq);
            continue;
        };
        seq += 1;
        let end = Pos {
            seg: pos.seg,
            off: next,
        };
        shared.lock().inflight.push_back(InFlight {
            seq,
            end,
            done: false,
        });
        let mut out = OutBatch {
            batch: Arc::new(batch),
            selection: None,
            ack: AckRef::new(seq, Arc::clone(&sink)),
            received,
        };
        // Wait for room in the output's queue; acknowledgements wake us as the output takes
        // batches, the sleep covers the rest.
        let mut pause = Duration::from_millis(1);
        loop {
            match tx.try_send(out) {
                Ok(()) => break,
                Err(mpsc::error::TrySendError::Closed(_)) => break 'read,
                Err(mpsc::error::TrySendError::Full(back)) => {
                    out = back;
                    if last_save.elapsed() >= SAVE_EVERY {
                        saved = save_and_trim(&shared, saved, sync);
                        last_save = Instant::now();
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
            }
        }
        pos = end;
    }
    // Let the output finish what it holds, then save how far it got.
    drop(tx);
    let until = Instant::now() + Duration::from_secs(10);
    let mut st = shared.lock();
    while st.inflight.iter().any(|f| !f.done) && !st.rewind && Instant::now() < until {
        st = match shared.changed.wait_timeout(st, SAVE_EVERY) {
            Ok((g, _)) => g,
            Err(p) => p.into_inner().0,
        };
    }
    drop(st);
    save_and_trim(&shared, saved, sync);
}

/// Counts and logs a corrupt frame found while reading.
fn corrupt(shared: &Shared, pos: Pos, why: &str) {
    shared.corrupt.inc();
    tracing::error!(output = %shared.name, segment = pos.seg, offset = pos.off, reason = why, "corrupt disk buffer frame; skipping the rest of the segment");
}

/// Passes over the rest of a segment's trusted bytes, as if delivered.
fn skip(shared: &Shared, pos: &mut Pos, limit: u64, seq: &mut u64) {
    *seq += 1;
    let end = Pos {
        seg: pos.seg,
        off: limit,
    };
    let mut st = shared.lock();
    st.inflight.push_back(InFlight {
        seq: *seq,
        end,
        done: true,
    });
    while st.inflight.front().is_some_and(|f| f.done) {
        if let Some(f) = st.inflight.pop_front() {
            st.acked = f.end;
        }
    }
    *pos = end;
}

/// Saves the acknowledged position if it moved and removes segments wholly before it.
fn save_and_trim(shared: &Shared, saved: Pos, sync: bool) -> Pos {
    let (acked, remove) = {
        let st = shared.lock();
        let write = st.write_pos().seg;
        let acked = st.acked;
        let remove: Vec<u64> = st
            .segments
            .iter()
            .filter(|s| {
                s.id < acked.seg || (s.id == acked.seg && acked.off >= s.len && s.id < write)
            })
            .map(|s| s.id)
            .collect();
        (acked, remove)
    };
    if acked == saved && remove.is_empty() {
        return saved;
    }
    if let Err(e) = segment::save_pos(&shared.dir, acked, sync) {
        tracing::error!(output = %shared.name, error = %e, "cannot save the disk buffer read position");
        return saved;
    }
    if !remove.is_empty() {
        for id in &remove {
            if let Err(e) = std::fs::remove_file(segment::segment_path(&shared.dir, *id)) {
                tracing::warn!(output = %shared.name, error = %e, "cannot remove a delivered disk buffer segment");
            }
        }
        let mut st = shared.lock();
        let mut freed = 0;
        st.segments.retain(|s| {
            let gone = remove.contains(&s.id);
            if gone {
                freed += s.len;
            }
            !gone
        });
        st.used -= freed.min(st.used);
        drop(st);
        shared.changed.notify_all();
    }
    acked
}
