//! The delivery loop of the SIEM outputs: gather pipeline batches into requests (by events, bytes
//! and time), send up to `concurrency` requests at once, retry what failed transiently with
//! [`Backoff`], and settle every record: delivered, parked in the dead-letter queue, or — without
//! one — counted in `sluice_dropped_records_total` with its pipeline batch's acknowledgement
//! failed, so an input that can send it again does.
//!
//! A batch is acknowledged upstream once every one of its records is delivered or parked.

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::dlq::{DlqEntry, DlqHandle};
use super::retry::{Backoff, Failure};
use super::{OutputContext, OutputError};
use crate::config::{BatchConfig, RetryConfig};
use crate::event::{OutBatch, OutRecord, ProcessedBatch};
use crate::metrics::Counter;

/// One record inside a request: its pipeline batch, its index in that batch's records, and its
/// encoded bytes in the request buffer.
#[derive(Debug, Clone)]
pub struct Item {
    pub batch: u32,
    pub record: u32,
    pub range: Range<usize>,
}

/// What the service said about one record of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemOutcome {
    Delivered,
    /// Try this record again (a per-item 429 or 5xx).
    Retry(Failure),
    /// The service refused this record for good (a mapping error): the dead-letter queue.
    Rejected(String),
}

/// A service the delivery loop sends to.
pub trait Sink: Send + Sync + 'static {
    /// Appends one record's request encoding to `out`.
    fn encode(&self, batch: &ProcessedBatch, record: &OutRecord, out: &mut Vec<u8>);

    /// Sends `body` (the encodings of `items`, in order) and says what became of each item, in
    /// order. `Err` is a failure of the whole request.
    fn send(
        &self,
        body: &[u8],
        items: &[Item],
    ) -> impl std::future::Future<Output = Result<Vec<ItemOutcome>, Failure>> + Send;
}

/// Loop settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub batch: BatchConfig,
    pub retry: RetryConfig,
    pub concurrency: usize,
    pub dlq: Option<DlqHandle>,
}

/// Records gathered for one request.
#[derive(Default)]
struct Pending {
    batches: Vec<OutBatch>,
    buf: Vec<u8>,
    items: Vec<Item>,
    since: Option<Instant>,
}

/// The counters one delivery task needs.
#[derive(Clone)]
struct Meters {
    records: Counter,
    bytes: Counter,
    latency: crate::metrics::Histogram,
    end_to_end: crate::metrics::Histogram,
    retries: Counter,
    dropped_rejected: Counter,
    dropped_exhausted: Counter,
}

/// Runs a freshly built sink, or logs why it could not be built (the config check ran before,
/// so that is only a file that changed since): the one entry point of the HTTP outputs.
pub async fn start<S: Sink>(
    sink: Result<S, OutputError>,
    rx: mpsc::Receiver<OutBatch>,
    ctx: OutputContext,
    settings: Settings,
) {
    match sink {
        Ok(s) => run(Arc::new(s), rx, ctx, settings).await,
        Err(e) => tracing::error!(output = %ctx.name, error = %e, "cannot start"),
    }
}

/// Runs until the output's queue closes and everything taken from it is settled.
pub async fn run<S: Sink>(
    sink: Arc<S>,
    mut rx: mpsc::Receiver<OutBatch>,
    ctx: OutputContext,
    settings: Settings,
) {
    let (records, bytes) = ctx.sent_counters();
    let dropped = |reason: &str| {
        ctx.metrics.counter(
            "sluice_dropped_records_total",
            "Records dropped, by component and reason",
            &[("component", &*ctx.name), ("reason", reason)],
        )
    };
    let meters = Meters {
        records,
        bytes,
        latency: ctx.write_latency(),
        end_to_end: ctx.end_to_end_latency(),
        retries: ctx.retries(),
        dropped_rejected: dropped("rejected"),
        dropped_exhausted: dropped("retries_exhausted"),
    };
    let settings = Arc::new(settings);
    let ctx = Arc::new(ctx);
    let mut pending = Pending::default();
    let mut tasks: JoinSet<()> = JoinSet::new();
    let max_events = settings.batch.max_events.max(1);
    loop {
        let deadline = pending
            .since
            .map(|s| tokio::time::Instant::from_std(s + settings.batch.timeout));
        let mut incoming = tokio::select! {
            b = rx.recv() => match b {
                Some(b) => Some(b),
                None => break,
            },
            _ = sleep_until(deadline) => None,
        };
        // A pipeline batch larger than the room left is split: the parts share its acknowledgement.
        loop {
            if let Some(b) = incoming.take() {
                let room = max_events - pending.items.len().min(max_events);
                if b.len() > room && room > 0 {
                    let (head, tail) = split(b, room);
                    add(&*sink, &mut pending, head);
                    incoming = Some(tail);
                } else if room > 0 {
                    add(&*sink, &mut pending, b);
                } else {
                    incoming = Some(b);
                }
            }
            let full =
                pending.items.len() >= max_events || pending.buf.len() >= settings.batch.max_bytes;
            let due = deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
            if (full || due || incoming.is_some()) && !pending.batches.is_empty() {
                while tasks.len() >= settings.concurrency.max(1) {
                    let _ = tasks.join_next().await;
                }
                let p = std::mem::take(&mut pending);
                tasks.spawn(deliver(
                    Arc::clone(&sink),
                    p,
                    Arc::clone(&ctx),
                    Arc::clone(&settings),
                    meters.clone(),
                ));
            }
            if incoming.is_none() {
                break;
            }
        }
    }
    if !pending.batches.is_empty() {
        tasks.spawn(deliver(
            Arc::clone(&sink),
            pending,
            Arc::clone(&ctx),
            Arc::clone(&settings),
            meters.clone(),
        ));
    }
    while tasks.join_next().await.is_some() {}
}

/// The first `k` records of a batch and the rest, each holding a share of its acknowledgement.
fn split(b: OutBatch, k: usize) -> (OutBatch, OutBatch) {
    let sel: Vec<u32> = match b.selection {
        Some(s) => s,
        None => (0..b.batch.records.len() as u32).collect(),
    };
    let (h, t) = sel.split_at(k.min(sel.len()));
    let head = OutBatch {
        batch: Arc::clone(&b.batch),
        selection: Some(h.to_vec()),
        ack: b.ack.share(),
        received: b.received,
    };
    let tail = OutBatch {
        batch: b.batch,
        selection: Some(t.to_vec()),
        ack: b.ack,
        received: b.received,
    };
    (head, tail)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn add<S: Sink>(sink: &S, p: &mut Pending, b: OutBatch) {
    if p.since.is_none() {
        p.since = Some(Instant::now());
    }
    let bi = p.batches.len() as u32;
    let sel = b.selection.as_deref();
    let n = sel.map_or(b.batch.records.len(), <[u32]>::len);
    for i in 0..n {
        let j = match sel {
            Some(s) => s.get(i).copied().unwrap_or(u32::MAX),
            None => i as u32,
        };
        let Some(r) = b.batch.records.get(j as usize) else {
            continue;
        };
        let start = p.buf.len();
        sink.encode(&b.batch, r, &mut p.buf);
        p.items.push(Item {
            batch: bi,
            record: j,
            range: start..p.buf.len(),
        });
    }
    p.batches.push(b);
}

#[derive(Debug, Clone, PartialEq)]
enum Fate {
    Open,
    Delivered,
    Rejected(String),
    Exhausted(String),
}

async fn deliver<S: Sink>(
    sink: Arc<S>,
    p: Pending,
    ctx: Arc<OutputContext>,
    settings: Arc<Settings>,
    m: Meters,
) {
    let started = Instant::now();
    let mut fates = vec![Fate::Open; p.items.len()];
    let mut todo: Vec<usize> = (0..p.items.len()).collect();
    let mut backoff = Backoff::new(&settings.retry, m.retries.clone());
    let mut failing = false;
    let mut body = Vec::new();
    let mut sub = Vec::new();
    while !todo.is_empty() {
        let (body_ref, items_ref): (&[u8], &[Item]) = if todo.len() == p.items.len() {
            (&p.buf, &p.items)
        } else {
            body.clear();
            sub.clear();
            for &i in &todo {
                let it = &p.items[i];
                let start = body.len();
                body.extend_from_slice(p.buf.get(it.range.clone()).unwrap_or(&[]));
                sub.push(Item {
                    range: start..body.len(),
                    ..it.clone()
                });
            }
            (&body, &sub)
        };
        let mut again = Vec::new();
        let mut last: Option<Failure> = None;
        match sink.send(body_ref, items_ref).await {
            Ok(outcomes) => {
                for (k, &i) in todo.iter().enumerate() {
                    match outcomes.get(k) {
                        Some(ItemOutcome::Delivered) => fates[i] = Fate::Delivered,
                        Some(ItemOutcome::Rejected(e)) => fates[i] = Fate::Rejected(e.clone()),
                        Some(ItemOutcome::Retry(f)) => {
                            again.push(i);
                            last = Some(f.clone());
                        }
                        None => {
                            again.push(i);
                            last = Some(Failure::transient(
                                "the service did not answer for every record",
                            ));
                        }
                    }
                }
            }
            Err(Failure::Permanent(e)) => {
                for &i in &todo {
                    fates[i] = Fate::Rejected(e.clone());
                }
            }
            Err(f) => {
                again = todo.clone();
                last = Some(f);
            }
        }
        todo = again;
        let Some(failure) = last else { break };
        if todo.is_empty() {
            break;
        }
        let retry_after = match &failure {
            Failure::Transient { retry_after, .. } => *retry_after,
            Failure::Permanent(_) => None,
        };
        match backoff.next_delay(retry_after) {
            Some(d) => {
                if !failing {
                    failing = true;
                    ctx.health
                        .failed(format!("delivery failing, retrying: {failure}"));
                }
                tracing::warn!(output = %ctx.name, error = %failure, records = todo.len(), retry_in = ?d, "delivery failed; retrying");
                tokio::time::sleep(d).await;
            }
            None => {
                tracing::error!(output = %ctx.name, error = %failure, records = todo.len(), attempts = backoff.attempts(), "retries exhausted");
                for &i in &todo {
                    fates[i] = Fate::Exhausted(failure.to_string());
                }
                todo.clear();
            }
        }
    }
    if failing {
        ctx.health.ready();
    }
    settle(p, fates, &ctx, &settings, &m, backoff.attempts(), started).await;
}

/// Counts, parks and acknowledges what one request's records became.
async fn settle(
    p: Pending,
    fates: Vec<Fate>,
    ctx: &OutputContext,
    settings: &Settings,
    m: &Meters,
    attempts: u32,
    started: Instant,
) {
    let mut delivered = 0u64;
    let mut bytes = 0u64;
    let mut lost = vec![false; p.batches.len()];
    let mut lines = Vec::new();
    let mut parked: Vec<(usize, &'static str)> = Vec::new();
    for (it, fate) in p.items.iter().zip(&fates) {
        let (reason, error) = match fate {
            Fate::Delivered => {
                delivered += 1;
                bytes += it.range.len() as u64;
                continue;
            }
            Fate::Rejected(e) => ("rejected", e.as_str()),
            Fate::Exhausted(e) => ("retries_exhausted", e.as_str()),
            Fate::Open => ("retries_exhausted", "never settled"),
        };
        let b = &p.batches[it.batch as usize];
        let Some(rec) = b.batch.records.get(it.record as usize) else {
            continue;
        };
        if settings.dlq.is_some() {
            DlqEntry {
                output: &ctx.name,
                input: &b.batch.origin.input,
                file: b.batch.origin.file.as_deref(),
                source_type: rec.source_type.as_str(),
                reason,
                error,
                attempts,
                record: b.batch.json(rec),
            }
            .encode(&mut lines);
            parked.push((it.batch as usize, reason));
        } else {
            lost[it.batch as usize] = true;
            match reason {
                "rejected" => m.dropped_rejected.inc(),
                _ => m.dropped_exhausted.inc(),
            }
            tracing::error!(output = %ctx.name, reason, error, "record not delivered and no dlq configured: dropped");
        }
    }
    if let (Some(dlq), false) = (&settings.dlq, parked.is_empty()) {
        let reasons: Vec<&'static str> = parked.iter().map(|(_, r)| *r).collect();
        if let Err(e) = dlq.park(ctx.name.clone(), lines, reasons).await {
            tracing::error!(output = %ctx.name, error = %e, records = parked.len(), "cannot park records in the dead-letter queue: dropped");
            ctx.metrics
                .counter(
                    "sluice_dropped_records_total",
                    "Records dropped, by component and reason",
                    &[("component", &*ctx.name), ("reason", "dlq_failed")],
                )
                .add(parked.len() as u64);
            for (b, _) in parked {
                lost[b] = true;
            }
        }
    }
    m.records.add(delivered);
    m.bytes.add(bytes);
    m.latency.observe_duration(started.elapsed());
    for (b, lost) in p.batches.into_iter().zip(lost) {
        if lost {
            b.ack.fail();
        } else {
            OutputContext::observe_end_to_end(&m.end_to_end, &b);
            b.ack.ack();
        }
    }
}
