//! The record as it moves through Sluice, and the batches records travel in.
//!
//! Raw bytes of a whole batch live in one buffer (`RawBatch::buf`) so that reading a thousand lines
//! costs one allocation, not a thousand. After processing, a batch becomes `ProcessedBatch`: the
//! NDJSON of every record in one buffer plus the little per-record metadata outputs need.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::doc::Value;
use crate::pipeline::ack::AckRef;
use crate::source_type::SourceType;

/// Where a batch came from; shared by all its records.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The input's configured name (`sluice.input`).
    pub input: Arc<str>,
    /// The file path for file inputs (`log.file.path`).
    pub file: Option<Arc<str>>,
    /// The peer for network inputs (`log.source.address`).
    pub peer: Option<SocketAddr>,
    /// Skip detection: the input declared its source type.
    pub source_type: Option<SourceType>,
}

impl Origin {
    pub fn input(name: Arc<str>) -> Self {
        Origin {
            input: name,
            file: None,
            peer: None,
            source_type: None,
        }
    }
}

/// One raw record inside a `RawBatch`.
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// Byte range in `RawBatch::buf`.
    pub range: Range<usize>,
    /// Byte offset of the record in its file (`log.offset`).
    pub offset: Option<u64>,
    /// The record was longer than the input's limit and was cut.
    pub truncated: bool,
    /// What the sender said about the record besides its bytes (Splunk HEC metadata).
    pub meta: Option<Box<RecordMeta>>,
}

/// Per-record context a protocol carries beside the record: Splunk HEC's `time`, `host`,
/// `source`, `sourcetype`, `index` and `fields`; a Kafka record's timestamp and position. Mapped by
/// the processor after normalization.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordMeta {
    pub time: Option<DateTime<Utc>>,
    pub host: Option<String>,
    pub source: Option<String>,
    pub sourcetype: Option<String>,
    pub index: Option<String>,
    /// Indexed fields: a JSON object.
    pub fields: Option<serde_json::Value>,
    /// The container stream of a CRI log line (`stdout`, `stderr`), kept as `stream`.
    pub stream: Option<&'static str>,
    /// Where a record consumed from Kafka was (`kafka.*`).
    pub kafka: Option<KafkaMeta>,
}

/// A consumed Kafka record's position and key, as Filebeat's Kafka input names them.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaMeta {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    /// The record's key, as text (invalid UTF-8 replaced).
    pub key: Option<String>,
}

impl RecordMeta {
    pub fn is_empty(&self) -> bool {
        *self == RecordMeta::default()
    }
}

/// Records read together by one input, with one acknowledgement for all of them.
#[derive(Debug)]
pub struct RawBatch {
    pub origin: Arc<Origin>,
    pub received: DateTime<Utc>,
    pub buf: Vec<u8>,
    pub records: Vec<RawRecord>,
    pub ack: AckRef,
}

impl RawBatch {
    pub fn new(origin: Arc<Origin>, ack: AckRef) -> Self {
        RawBatch {
            origin,
            received: Utc::now(),
            buf: Vec::new(),
            records: Vec::new(),
            ack,
        }
    }

    /// An empty batch with room for `records` records in `bytes` bytes (plus an eighth), so
    /// filling it does not regrow and copy its buffers: inputs size a batch like their last full
    /// one. Growing from empty cost `sluice normalize` 1.5 % of its instructions.
    pub fn with_capacity(origin: Arc<Origin>, ack: AckRef, records: usize, bytes: usize) -> Self {
        let mut batch = RawBatch::new(origin, ack);
        batch.buf.reserve_exact(bytes + bytes / 8);
        batch.records.reserve_exact(records);
        batch
    }

    /// Appends one record's bytes.
    pub fn push(&mut self, bytes: &[u8], offset: Option<u64>, truncated: bool) {
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        self.commit(start, offset, truncated);
    }

    /// Makes the bytes appended to `buf` since `start` one record (for callers that write a
    /// record into `buf` directly, such as an unescaping reader).
    pub fn commit(&mut self, start: usize, offset: Option<u64>, truncated: bool) {
        self.records.push(RawRecord {
            range: start..self.buf.len(),
            offset,
            truncated,
            meta: None,
        });
    }

    /// Appends one record's bytes with what its protocol said beside them.
    pub fn push_meta(
        &mut self,
        bytes: &[u8],
        offset: Option<u64>,
        truncated: bool,
        meta: RecordMeta,
    ) {
        self.push(bytes, offset, truncated);
        if let Some(last) = self.records.last_mut() {
            last.meta = (!meta.is_empty()).then(|| Box::new(meta));
        }
    }

    pub fn raw(&self, r: &RawRecord) -> &[u8] {
        self.buf.get(r.range.clone()).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// What outputs need to know about one processed record besides its JSON.
#[derive(Debug, Clone)]
pub struct OutRecord {
    /// The record's NDJSON line in `ProcessedBatch::data`, without the newline.
    pub range: Range<usize>,
    pub source_type: SourceType,
    /// `@timestamp`, for time-based path templates and SIEM event times.
    pub timestamp: DateTime<Utc>,
    /// What SIEM outputs route and label by, read from the document as it is serialized.
    pub keys: RecordKeys,
}

/// `host.name` (else `host.hostname`), `event.dataset` and the PAN-OS log type (`panw.panos.type`) of a record: Splunk's
/// `host` and `sourcetype`, Elasticsearch's data stream. Taken from the document in the processor
/// rather than by parsing the JSON again in each output, which would cost a full scan of every
/// record per output; the values repeat within a batch, so they are interned per batch
/// ([`KeyInterner`]) and cost one `Arc` clone per record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordKeys {
    pub host: Option<Arc<str>>,
    pub dataset: Option<Arc<str>>,
    pub log_type: Option<Arc<str>>,
}

/// Shares one `Arc<str>` per distinct value within a batch.
#[derive(Debug, Default)]
pub struct KeyInterner(Vec<Arc<str>>);

impl KeyInterner {
    pub fn get(&mut self, v: &str) -> Arc<str> {
        if let Some(a) = self.0.iter().find(|a| &***a == v) {
            return Arc::clone(a);
        }
        let a: Arc<str> = Arc::from(v);
        // A batch of many distinct hosts stops interning rather than searching a long list.
        if self.0.len() < 64 {
            self.0.push(Arc::clone(&a));
        }
        a
    }

    /// The keys of a document, from the values of `host.name`, `host.hostname`, `event.dataset`
    /// and `panw.panos.type` (as `Doc::write_json_get` returns them).
    pub fn keys(&mut self, [name, hostname, dataset, log_type]: [Option<&Value>; 4]) -> RecordKeys {
        fn text(v: Option<&Value>) -> Option<&str> {
            v.and_then(Value::as_str)
        }
        RecordKeys {
            host: text(name).or(text(hostname)).map(|v| self.get(v)),
            dataset: text(dataset).map(|v| self.get(v)),
            log_type: text(log_type).map(|v| self.get(v)),
        }
    }
}

/// A batch after detection and normalization: one buffer of NDJSON, shared by every output it is
/// routed to.
#[derive(Debug)]
pub struct ProcessedBatch {
    pub origin: Arc<Origin>,
    /// Each record's JSON line, in the order the processor wrote them (grouped by source type):
    /// read records through `records` and `json`, not by splitting this.
    pub data: Vec<u8>,
    /// In input order.
    pub records: Vec<OutRecord>,
    /// Where `data` goes back to when the batch is dropped (`None`: freed).
    recycle: Option<Arc<BufferPool>>,
}

impl ProcessedBatch {
    /// A batch whose buffer is freed when it is dropped.
    pub fn new(origin: Arc<Origin>, data: Vec<u8>, records: Vec<OutRecord>) -> Self {
        ProcessedBatch {
            origin,
            data,
            records,
            recycle: None,
        }
    }

    /// A batch whose buffer goes back to `pool` when it is dropped.
    pub fn pooled(
        origin: Arc<Origin>,
        data: Vec<u8>,
        records: Vec<OutRecord>,
        pool: &Arc<BufferPool>,
    ) -> Self {
        ProcessedBatch {
            origin,
            data,
            records,
            recycle: Some(Arc::clone(pool)),
        }
    }

    pub fn json(&self, r: &OutRecord) -> &[u8] {
        self.data.get(r.range.clone()).unwrap_or(&[])
    }
}

impl Drop for ProcessedBatch {
    fn drop(&mut self) {
        if let Some(pool) = &self.recycle {
            pool.give(std::mem::take(&mut self.data));
        }
    }
}

/// Output buffers of dropped batches, for the processor to write later batches into.
///
/// A batch's JSON (about 850 KB for 512 W1 records) is written on a processor thread and
/// dropped on another one (the writer, an output task). Freed there, glibc gave the pages back
/// (`madvise(MADV_DONTNEED)`, 2 to 4 MB at a time) and the processor faulted them in again,
/// zeroed: `sluice normalize` of 1,000,000 W1 lines took 109,000 page faults and 0.37 CPU-s of
/// system time, 9,100 and 0.03 s with the buffers reused.
#[derive(Debug, Default)]
pub struct BufferPool {
    bufs: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    /// Buffers kept: enough for the batches in flight between the processor threads and the
    /// outputs; more are freed.
    const KEPT: usize = 8;
    /// A buffer grown past this (a batch of huge records) is freed rather than kept.
    const MAX_BYTES: usize = 4 << 20;

    /// The kept buffers, also after a panic elsewhere while they were locked (a list of empty
    /// buffers cannot be left inconsistent).
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        self.bufs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An empty buffer with room for at least `capacity` bytes.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let reused = self.lock().pop();
        match reused {
            Some(mut buf) => {
                buf.reserve(capacity);
                buf
            }
            None => Vec::with_capacity(capacity),
        }
    }

    fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > Self::MAX_BYTES {
            return;
        }
        buf.clear();
        let mut bufs = self.lock();
        if bufs.len() < Self::KEPT {
            bufs.push(buf);
        }
    }

    /// Buffers held now (tests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The part of a processed batch sent to one output, with that output's share of the acknowledgement.
#[derive(Debug)]
pub struct OutBatch {
    pub batch: Arc<ProcessedBatch>,
    /// Indices into `batch.records` routed to this output; `None` means all of them.
    pub selection: Option<Vec<u32>>,
    pub ack: AckRef,
    /// When the input received the batch (`RawBatch::received`), kept through disk buffers, for
    /// `sluice_end_to_end_latency_seconds`; `None` for records with no live receive time (replays
    /// from the dead-letter queue, frames written by an older Sluice).
    pub received: Option<DateTime<Utc>>,
}

impl OutBatch {
    /// The records routed to this output, in order.
    pub fn records(&self) -> impl Iterator<Item = &OutRecord> {
        let all = &self.batch.records;
        let sel = self.selection.as_deref();
        let n = sel.map_or(all.len(), <[u32]>::len);
        (0..n).filter_map(move |i| match sel {
            Some(s) => s.get(i).and_then(|&j| all.get(j as usize)),
            None => all.get(i),
        })
    }

    pub fn len(&self) -> usize {
        self.selection
            .as_ref()
            .map_or(self.batch.records.len(), Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Time since the input received the batch; `None` without a receive time or when the clock
    /// went back.
    pub fn age(&self) -> Option<std::time::Duration> {
        self.received.and_then(|t| (Utc::now() - t).to_std().ok())
    }
}

/// A batch read back from a disk buffer could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("undecodable buffered batch: {0}")]
pub struct DecodeError(pub &'static str);

/// Format version of `encode_batch`; bump it when the layout changes. Version 2 added the receive
/// time; version 1 frames (from an older Sluice's disk buffer) are still read.
const BATCH_FORMAT: u8 = 2;

/// Serializes what an output needs from an `OutBatch` (its selected records), for disk buffers.
/// Everything buffered goes through this function and `decode_batch`: a field added to
/// `OutRecord` or `Origin` is added in both, with `BATCH_FORMAT` bumped.
pub fn encode_batch(b: &OutBatch, out: &mut Vec<u8>) {
    fn bytes(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    }
    fn opt(out: &mut Vec<u8>, s: Option<&str>) {
        match s {
            Some(s) => {
                out.push(1);
                bytes(out, s.as_bytes());
            }
            None => out.push(0),
        }
    }
    out.push(BATCH_FORMAT);
    match b.received {
        Some(t) => {
            out.push(1);
            out.extend_from_slice(&t.timestamp().to_le_bytes());
            out.extend_from_slice(&t.timestamp_subsec_nanos().to_le_bytes());
        }
        None => out.push(0),
    }
    let o = &b.batch.origin;
    bytes(out, o.input.as_bytes());
    opt(out, o.file.as_deref());
    opt(out, o.peer.map(|p| p.to_string()).as_deref());
    opt(out, o.source_type.as_ref().map(SourceType::as_str));
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    for r in b.records() {
        bytes(out, r.source_type.as_str().as_bytes());
        out.extend_from_slice(&r.timestamp.timestamp().to_le_bytes());
        out.extend_from_slice(&r.timestamp.timestamp_subsec_nanos().to_le_bytes());
        opt(out, r.keys.host.as_deref());
        opt(out, r.keys.dataset.as_deref());
        opt(out, r.keys.log_type.as_deref());
        bytes(out, b.batch.json(r));
    }
}

/// Reads back what `encode_batch` wrote: the batch and its receive time.
pub fn decode_batch(
    mut buf: &[u8],
) -> Result<(ProcessedBatch, Option<DateTime<Utc>>), DecodeError> {
    fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
        if buf.len() < n {
            return Err(DecodeError("truncated"));
        }
        let (head, rest) = buf.split_at(n);
        *buf = rest;
        Ok(head)
    }
    fn u32le(buf: &mut &[u8]) -> Result<u32, DecodeError> {
        let b = take(buf, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn bytes<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
        let n = u32le(buf)? as usize;
        take(buf, n)
    }
    fn text<'a>(buf: &mut &'a [u8]) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(bytes(buf)?).map_err(|_| DecodeError("not UTF-8"))
    }
    fn opt<'a>(buf: &mut &'a [u8]) -> Result<Option<&'a str>, DecodeError> {
        match take(buf, 1)?[0] {
            0 => Ok(None),
            1 => text(buf).map(Some),
            _ => Err(DecodeError("bad option tag")),
        }
    }
    fn time(buf: &mut &[u8]) -> Result<DateTime<Utc>, DecodeError> {
        let secs = take(buf, 8)?;
        let secs = i64::from_le_bytes([
            secs[0], secs[1], secs[2], secs[3], secs[4], secs[5], secs[6], secs[7],
        ]);
        let nanos = u32le(buf)?;
        DateTime::from_timestamp(secs, nanos).ok_or(DecodeError("bad timestamp"))
    }
    let received = match take(&mut buf, 1)?[0] {
        1 => None,
        BATCH_FORMAT => match take(&mut buf, 1)?[0] {
            0 => None,
            1 => Some(time(&mut buf)?),
            _ => return Err(DecodeError("bad option tag")),
        },
        _ => return Err(DecodeError("unknown format version")),
    };
    let origin = Origin {
        input: Arc::from(text(&mut buf)?),
        file: opt(&mut buf)?.map(Arc::from),
        peer: opt(&mut buf)?.and_then(|p| p.parse().ok()),
        source_type: opt(&mut buf)?.map(SourceType::from_name),
    };
    let n = u32le(&mut buf)? as usize;
    let mut records = Vec::with_capacity(n.min(buf.len() / 16));
    let mut data = Vec::with_capacity(buf.len());
    let mut interner = KeyInterner::default();
    for _ in 0..n {
        let source_type = SourceType::from_name(text(&mut buf)?);
        let timestamp = time(&mut buf)?;
        let mut key = |v: Option<&str>| v.map(|v| interner.get(v));
        let keys = RecordKeys {
            host: key(opt(&mut buf)?),
            dataset: key(opt(&mut buf)?),
            log_type: key(opt(&mut buf)?),
        };
        let json = bytes(&mut buf)?;
        let start = data.len();
        data.extend_from_slice(json);
        let end = data.len();
        data.push(b'\n');
        records.push(OutRecord {
            range: start..end,
            source_type,
            timestamp,
            keys,
        });
    }
    if !buf.is_empty() {
        return Err(DecodeError("trailing bytes"));
    }
    Ok((
        ProcessedBatch::new(Arc::new(origin), data, records),
        received,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(pool: &Arc<BufferPool>, capacity: usize) -> ProcessedBatch {
        let mut data = pool.take(capacity);
        data.extend_from_slice(b"{}\n");
        ProcessedBatch::pooled(Arc::new(Origin::input("t".into())), data, Vec::new(), pool)
    }

    #[test]
    fn a_dropped_batch_gives_its_buffer_back_empty() {
        let pool = Arc::new(BufferPool::default());
        let b = batch(&pool, 1000);
        let at = b.data.as_ptr();
        assert!(pool.is_empty());
        drop(b);
        assert_eq!(pool.len(), 1);
        let again = pool.take(10);
        assert!(again.is_empty() && again.capacity() >= 1000);
        assert_eq!(again.as_ptr(), at, "the same allocation, not a new one");
        assert!(pool.is_empty());
        // Asked for more than the kept buffer holds: it grows.
        drop(batch(&pool, 10));
        assert!(pool.take(5000).capacity() >= 5000);
    }

    #[test]
    fn the_pool_keeps_a_few_buffers_of_bounded_size() {
        let pool = Arc::new(BufferPool::default());
        let batches: Vec<_> = (0..BufferPool::KEPT + 3)
            .map(|_| batch(&pool, 64))
            .collect();
        drop(batches);
        assert_eq!(pool.len(), BufferPool::KEPT);
        let pool = Arc::new(BufferPool::default());
        drop(batch(&pool, BufferPool::MAX_BYTES + 1));
        assert!(pool.is_empty(), "a huge buffer is freed, not kept");
        // A batch built without a pool frees its buffer.
        drop(ProcessedBatch::new(
            Arc::new(Origin::input("t".into())),
            vec![1, 2, 3],
            Vec::new(),
        ));
    }
}
