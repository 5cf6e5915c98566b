use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::segment::{self, Frame, Pos, HEADER};
use super::{check, disk};
use crate::config::{DiskBufferConfig, FsyncPolicy, WhenFull};
use crate::event::{decode_batch, encode_batch, Origin, OutBatch, OutRecord, ProcessedBatch};
use crate::metrics::Metrics;
use crate::pipeline::ack::{AckRef, AckSink};
use crate::source_type::SourceType;

/// Records which upstream batches were acknowledged, and how.
#[derive(Debug, Default)]
struct Upstream(Mutex<Vec<(u64, bool)>>);

impl AckSink for Upstream {
    fn complete(&self, seq: u64, delivered: bool) {
        self.0.lock().unwrap().push((seq, delivered));
    }
}

impl Upstream {
    fn acked(&self) -> usize {
        self.0.lock().unwrap().iter().filter(|(_, ok)| *ok).count()
    }
}

/// A batch of records `{"id":N}` for ids in `ids`.
fn batch(ids: std::ops::Range<u32>, seq: u64, up: &Arc<Upstream>) -> OutBatch {
    let mut data = Vec::new();
    let mut records = Vec::new();
    for id in ids {
        let start = data.len();
        write!(data, "{{\"id\":{id},\"pad\":\"{}\"}}", "x".repeat(40)).unwrap();
        records.push(OutRecord {
            range: start..data.len(),
            source_type: SourceType::Syslog,
            timestamp: chrono::DateTime::from_timestamp(1_700_000_000, 123).unwrap(),
            keys: crate::event::RecordKeys {
                host: Some("web-1".into()),
                dataset: (id % 2 == 0).then(|| "panw.panos".into()),
                log_type: None,
            },
        });
        data.push(b'\n');
    }
    let mut origin = Origin::input("app".into());
    origin.file = Some("/var/log/x.log".into());
    origin.peer = Some("127.0.0.1:514".parse().unwrap());
    OutBatch {
        batch: Arc::new(ProcessedBatch::new(Arc::new(origin), data, records)),
        selection: None,
        ack: AckRef::new(seq, up.clone()),
        received: chrono::DateTime::from_timestamp(1_700_000_001, 456_789),
    }
}

fn ids(b: &OutBatch) -> Vec<u64> {
    b.records()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_slice(b.batch.json(r)).unwrap();
            v["id"].as_u64().unwrap()
        })
        .collect()
}

fn cfg(max_bytes: u64, when_full: WhenFull, fsync: FsyncPolicy) -> DiskBufferConfig {
    DiskBufferConfig {
        max_bytes,
        when_full,
        fsync,
        fsync_interval: Duration::from_millis(20),
    }
}

struct Running {
    tx: mpsc::Sender<OutBatch>,
    rx: mpsc::Receiver<OutBatch>,
    metrics: Metrics,
    threads: Option<disk::Threads>,
}

impl Drop for Running {
    /// Closes both queues and waits for the buffer's threads, so the temporary directory is
    /// removed after them.
    fn drop(&mut self) {
        let (tx, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.tx, tx));
        self.rx.close();
        while let Ok(b) = self.rx.try_recv() {
            drop(b);
        }
        if let Some(t) = self.threads.take() {
            t.join();
        }
    }
}

fn open(dir: &Path, c: DiskBufferConfig) -> Running {
    let metrics = Metrics::new();
    let (tx, in_rx) = mpsc::channel(4);
    let (out_tx, rx) = mpsc::channel(4);
    let threads = disk::start(dir.to_path_buf(), c, "out".into(), &metrics, in_rx, out_tx).unwrap();
    Running {
        tx,
        rx,
        metrics,
        threads: Some(threads),
    }
}

fn recv(rx: &mut mpsc::Receiver<OutBatch>) -> Option<OutBatch> {
    for _ in 0..500 {
        match rx.try_recv() {
            Ok(b) => return Some(b),
            Err(mpsc::error::TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(10)),
            Err(mpsc::error::TryRecvError::Disconnected) => return None,
        }
    }
    None
}

fn wait(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn batches_survive_encoding() {
    let up = Arc::new(Upstream::default());
    let mut b = batch(0..5, 1, &up);
    b.selection = Some(vec![1, 3]);
    let mut buf = Vec::new();
    encode_batch(&b, &mut buf);
    let (back, received) = decode_batch(&buf).unwrap();
    assert_eq!(received, b.received);
    assert_eq!(back.records.len(), 2);
    assert_eq!(&*back.origin.input, "app");
    assert_eq!(back.origin.file.as_deref(), Some("/var/log/x.log"));
    assert_eq!(back.origin.peer, b.batch.origin.peer);
    assert_eq!(back.records[1].source_type, SourceType::Syslog);
    assert_eq!(back.records[1].timestamp, b.batch.records[3].timestamp);
    assert_eq!(back.records[0].keys, b.batch.records[1].keys);
    assert_eq!(back.records[1].keys, b.batch.records[3].keys);
    assert_eq!(
        back.json(&back.records[1]),
        b.batch.json(&b.batch.records[3])
    );
    assert!(decode_batch(&buf[..buf.len() - 1]).is_err());
    b.ack.ack();
}

#[test]
fn batches_without_a_receive_time_and_older_frames_decode() {
    let up = Arc::new(Upstream::default());
    let mut b = batch(0..3, 1, &up);
    b.received = None;
    let mut buf = Vec::new();
    encode_batch(&b, &mut buf);
    let (back, received) = decode_batch(&buf).unwrap();
    assert_eq!((back.records.len(), received), (3, None));
    // A version 1 frame (written before the receive time was kept) is the same without the tag.
    let mut v1 = vec![1u8];
    v1.extend_from_slice(&buf[2..]);
    let (back, received) = decode_batch(&v1).unwrap();
    assert_eq!((back.records.len(), received), (3, None));
    assert_eq!(
        back.json(&back.records[2]),
        b.batch.json(&b.batch.records[2])
    );
    v1[0] = 9;
    assert!(decode_batch(&v1).is_err());
    b.ack.ack();
}

fn write_segment(dir: &Path, id: u64, payloads: &[&[u8]]) -> std::path::PathBuf {
    let mut f = segment::create_segment(dir, id, false).unwrap();
    let mut frame = Vec::new();
    for p in payloads {
        frame.clear();
        segment::encode_frame(p, &mut frame);
        f.write_all(&frame).unwrap();
    }
    segment::segment_path(dir, id)
}

#[test]
fn torn_tails_and_bad_checksums_are_found_and_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_segment(dir.path(), 1, &[b"one", b"two", b"three"]);
    let whole = std::fs::metadata(&path).unwrap().len();
    let scan = segment::scan_segment(&path, 0).unwrap();
    assert_eq!((scan.frames, scan.good_len, scan.bad), (3, whole, None));
    // Torn: the last frame lost its final bytes.
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(whole - 2).unwrap();
    let scan = segment::scan_segment(&path, 0).unwrap();
    assert_eq!(scan.frames, 2);
    assert_eq!(scan.bad.map(|b| b.1), Some("torn frame"));
    segment::repair_segment(&path, &scan).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), scan.good_len);
    assert_eq!(segment::scan_segment(&path, 0).unwrap().bad, None);
    // A flipped bit in the second frame's payload.
    let mut bytes = std::fs::read(&path).unwrap();
    let second = HEADER as usize + 8 + 3 + 8;
    bytes[second] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    let scan = segment::scan_segment(&path, 0).unwrap();
    assert_eq!(scan.frames, 1);
    assert_eq!(scan.bad, Some((HEADER + 11, "checksum mismatch")));
    // A torn header, and a file that is not a segment at all.
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(HEADER + 11 + 3).unwrap();
    let scan = segment::scan_segment(&path, 0).unwrap();
    assert_eq!(scan.bad.map(|b| b.1), Some("torn frame header"));
    std::fs::write(&path, b"garbage!garbage").unwrap();
    let scan = segment::scan_segment(&path, 0).unwrap();
    assert_eq!(scan.good_len, 0);
    segment::repair_segment(&path, &scan).unwrap();
    assert!(!path.exists());
}

#[test]
fn frames_read_back_and_end_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_segment(dir.path(), 7, &[b"abc", b"defg"]);
    let f = std::fs::File::open(&path).unwrap();
    let len = f.metadata().unwrap().len();
    let mut p = Vec::new();
    assert_eq!(
        segment::read_frame(&f, HEADER, len, &mut p).unwrap(),
        Frame::Ok { next: HEADER + 11 }
    );
    assert_eq!(p, b"abc");
    assert_eq!(
        segment::read_frame(&f, HEADER + 11, len, &mut p).unwrap(),
        Frame::Ok { next: len }
    );
    assert_eq!(p, b"defg");
    assert_eq!(
        segment::read_frame(&f, len, len, &mut p).unwrap(),
        Frame::End
    );
    // A limit inside a frame (bytes not yet committed) is never read as a frame.
    assert_eq!(
        segment::read_frame(&f, HEADER + 11, len - 1, &mut p).unwrap(),
        Frame::Bad("torn frame")
    );
    assert_eq!(segment::list_segments(dir.path()).unwrap(), vec![7]);
    segment::save_pos(dir.path(), Pos { seg: 7, off: 19 }, true).unwrap();
    assert_eq!(
        segment::load_pos(dir.path()).unwrap(),
        Some(Pos { seg: 7, off: 19 })
    );
    std::fs::write(dir.path().join("read.pos"), [0u8; 20]).unwrap();
    assert_eq!(segment::load_pos(dir.path()).unwrap(), None);
}

#[test]
fn delivers_in_order_and_resends_what_the_output_did_not_acknowledge() {
    let dir = tempfile::tempdir().unwrap();
    let up = Arc::new(Upstream::default());
    let mut r = open(
        dir.path(),
        cfg(1 << 20, WhenFull::Block, FsyncPolicy::Always),
    );
    for i in 0..10u32 {
        r.tx.blocking_send(batch(i * 10..i * 10 + 10, u64::from(i), &up))
            .unwrap();
    }
    wait("upstream acknowledgements", || up.acked() == 10);
    let mut seen = Vec::new();
    for _ in 0..6 {
        let b = recv(&mut r.rx).unwrap();
        seen.extend(ids(&b));
        b.ack.ack();
    }
    assert_eq!(seen, (0..60).collect::<Vec<_>>());
    // Give the reader time to save the position of the acknowledged ones, then "crash":
    // everything is dropped without a clean stop.
    std::thread::sleep(Duration::from_millis(300));
    drop(r);
    let mut r = open(
        dir.path(),
        cfg(1 << 20, WhenFull::Block, FsyncPolicy::Always),
    );
    let mut again = Vec::new();
    while again.len() < 40 {
        let b = recv(&mut r.rx).expect("the unacknowledged batches again");
        again.extend(ids(&b));
        b.ack.ack();
    }
    // At least once: every id from 60 on arrives (earlier ones may repeat, none are missing).
    assert_eq!(again[again.len() - 40..], (60..100).collect::<Vec<_>>()[..]);
    assert_eq!(
        r.metrics.counter_value(
            "sluice_buffer_corrupt_records_total",
            &[("component", "out")]
        ),
        0
    );
}

#[test]
fn a_failed_batch_is_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let up = Arc::new(Upstream::default());
    let mut r = open(
        dir.path(),
        cfg(1 << 20, WhenFull::Block, FsyncPolicy::Never),
    );
    r.tx.blocking_send(batch(0..3, 1, &up)).unwrap();
    let b = recv(&mut r.rx).unwrap();
    assert_eq!(ids(&b), [0, 1, 2]);
    b.ack.fail();
    let b = recv(&mut r.rx).unwrap();
    assert_eq!(ids(&b), [0, 1, 2]);
    b.ack.ack();
}

#[test]
fn full_buffer_blocks_until_the_output_frees_room() {
    let dir = tempfile::tempdir().unwrap();
    let up = Arc::new(Upstream::default());
    let mut r = open(
        dir.path(),
        cfg(8 * 1024, WhenFull::Block, FsyncPolicy::Always),
    );
    let sender = {
        let (tx, up) = (r.tx.clone(), up.clone());
        std::thread::spawn(move || {
            for i in 0..40u32 {
                tx.blocking_send(batch(i * 10..i * 10 + 10, u64::from(i), &up))
                    .unwrap();
            }
        })
    };
    // About 700 bytes a batch: the writer stops well before 40 while nothing is consumed.
    wait("the buffer to fill", || {
        r.metrics
            .render()
            .contains("sluice_buffer_bytes{component=\"out\"}")
            && up.acked() >= 5
    });
    std::thread::sleep(Duration::from_millis(300));
    let stalled = up.acked();
    assert!(stalled < 20, "{stalled} batches acknowledged into 8 KiB");
    let mut seen = Vec::new();
    while seen.len() < 400 {
        let b = recv(&mut r.rx).expect("every batch");
        seen.extend(ids(&b));
        b.ack.ack();
    }
    sender.join().unwrap();
    assert_eq!(seen, (0..400).collect::<Vec<_>>());
    wait("every upstream acknowledgement", || up.acked() == 40);
}

#[test]
fn full_buffer_drops_newest_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let up = Arc::new(Upstream::default());
    let r = open(
        dir.path(),
        cfg(8 * 1024, WhenFull::DropNewest, FsyncPolicy::Always),
    );
    for i in 0..40u32 {
        r.tx.blocking_send(batch(i * 10..i * 10 + 10, u64::from(i), &up))
            .unwrap();
    }
    wait("every upstream acknowledgement", || up.acked() == 40);
    let dropped = r.metrics.counter_value(
        "sluice_dropped_records_total",
        &[("component", "out"), ("reason", "buffer_full")],
    );
    assert!(dropped >= 200, "{dropped} records dropped");
    assert_eq!(dropped % 10, 0);
}

#[test]
fn segments_rotate_and_delivered_ones_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let up = Arc::new(Upstream::default());
    // 64 KiB segments (the smallest), 2 MiB of batches.
    let mut r = open(
        dir.path(),
        cfg(512 * 1024, WhenFull::Block, FsyncPolicy::Interval),
    );
    let sender = {
        let (tx, up) = (r.tx.clone(), up.clone());
        std::thread::spawn(move || {
            for i in 0..300u32 {
                tx.blocking_send(batch(i * 10..i * 10 + 10, u64::from(i), &up))
                    .unwrap();
            }
        })
    };
    let mut n = 0;
    let mut max_segments = 0;
    while n < 3000 {
        let b = recv(&mut r.rx).expect("every batch");
        n += ids(&b).len();
        b.ack.ack();
        max_segments = max_segments.max(segment::list_segments(dir.path()).unwrap().len());
    }
    sender.join().unwrap();
    assert!(max_segments > 1, "rotated");
    wait("delivered segments removed", || {
        segment::list_segments(dir.path()).unwrap().len() <= 2
    });
    let reports = check::check(dir.path(), false).unwrap();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].corrupt.is_empty());
}

#[test]
fn a_corrupt_tail_is_cut_and_counted_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let up = Arc::new(Upstream::default());
    let r = open(
        dir.path(),
        cfg(1 << 20, WhenFull::Block, FsyncPolicy::Always),
    );
    for i in 0..3u32 {
        r.tx.blocking_send(batch(i * 10..i * 10 + 10, u64::from(i), &up))
            .unwrap();
    }
    wait("upstream acknowledgements", || up.acked() == 3);
    drop(r);
    // Tear the last frame of the segment holding the batches.
    let id = segment::list_segments(dir.path()).unwrap()[0];
    let path = segment::segment_path(dir.path(), id);
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len - 5).unwrap();
    let reports = check::check(dir.path(), false).unwrap();
    assert_eq!(reports[0].corrupt.len(), 1);
    assert_eq!(reports[0].unread_frames, 2);
    let mut r = open(
        dir.path(),
        cfg(1 << 20, WhenFull::Block, FsyncPolicy::Always),
    );
    let mut seen = Vec::new();
    for _ in 0..2 {
        let b = recv(&mut r.rx).unwrap();
        seen.extend(ids(&b));
        b.ack.ack();
    }
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
    assert_eq!(
        r.metrics.counter_value(
            "sluice_buffer_corrupt_records_total",
            &[("component", "out")]
        ),
        1
    );
    // Still working after the cut.
    r.tx.blocking_send(batch(100..101, 9, &up)).unwrap();
    let b = recv(&mut r.rx).unwrap();
    assert_eq!(ids(&b), [100]);
    b.ack.ack();
}

#[test]
fn a_read_position_past_every_segment_does_not_stall_reading() {
    let dir = tempfile::tempdir().unwrap();
    let up = Arc::new(Upstream::default());
    segment::save_pos(dir.path(), Pos { seg: 999, off: 50 }, false).unwrap();
    let mut r = open(
        dir.path(),
        cfg(1 << 20, WhenFull::Block, FsyncPolicy::Never),
    );
    r.tx.blocking_send(batch(0..2, 1, &up)).unwrap();
    let b = recv(&mut r.rx).expect("the new batch");
    assert_eq!(ids(&b), [0, 1]);
    b.ack.ack();
}
