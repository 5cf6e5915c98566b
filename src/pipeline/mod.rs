//! Channels, the processor pool, routing to outputs, and the running topology.
//!
//! inputs ─(crossbeam, bounded)─► processor threads ─(tokio mpsc per output, bounded)─► outputs
//!
//! Every queue is bounded, so a slow output stops the processors, which stops the inputs.

pub mod ack;
pub mod processor;
pub mod routes;
mod topology;

pub use topology::{Topology, TopologyError};

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crossbeam_channel::{Receiver, SendTimeoutError, Sender};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::WhenFull;
use crate::event::{OutBatch, RawBatch};
use crate::metrics::{Counter, Histogram, Metrics};
use processor::Processor;
use routes::{OutputMask, RouteTable};

/// How inputs hand batches to the processors.
#[derive(Debug, Clone)]
pub struct BatchSender {
    tx: Sender<RawBatch>,
    records_in: Counter,
    bytes_in: Counter,
}

impl BatchSender {
    pub fn new(tx: Sender<RawBatch>, metrics: &Metrics, input: &str) -> Self {
        BatchSender {
            tx,
            records_in: metrics.counter(
                "sluice_component_received_records_total",
                "Records read by a component",
                &[("component", input), ("kind", "input")],
            ),
            bytes_in: metrics.counter(
                "sluice_component_received_bytes_total",
                "Bytes read by a component",
                &[("component", input), ("kind", "input")],
            ),
        }
    }

    /// Sends from a blocking thread, waiting while the processors are busy (backpressure).
    /// Gives the batch back when `abort` fires or the pipeline is gone; dropping it then fails its
    /// acknowledgement, so the records are read again after a restart.
    pub fn send_blocking(
        &self,
        batch: RawBatch,
        abort: &CancellationToken,
    ) -> Result<(), RawBatch> {
        let (n, bytes) = (batch.len() as u64, batch.buf.len() as u64);
        let mut batch = batch;
        loop {
            match self.tx.send_timeout(batch, Duration::from_millis(100)) {
                Ok(()) => {
                    self.records_in.add(n);
                    self.bytes_in.add(bytes);
                    return Ok(());
                }
                Err(SendTimeoutError::Timeout(b)) => {
                    if abort.is_cancelled() {
                        return Err(b);
                    }
                    batch = b;
                }
                Err(SendTimeoutError::Disconnected(b)) => return Err(b),
            }
        }
    }

    /// Sends without waiting, for async inputs that must not block a runtime thread: a full
    /// queue gives the batch back, so the caller can answer "busy" and let its client retry.
    pub fn try_send(
        &self,
        batch: RawBatch,
    ) -> Result<(), crossbeam_channel::TrySendError<RawBatch>> {
        let (n, bytes) = (batch.len() as u64, batch.buf.len() as u64);
        self.tx.try_send(batch)?;
        self.records_in.add(n);
        self.bytes_in.add(bytes);
        Ok(())
    }

    /// Whether the processors' queue is full right now (health checks).
    pub fn is_full(&self) -> bool {
        self.tx.is_full()
    }
}

/// Where records of one input go.
#[derive(Debug, Clone)]
pub(crate) struct RouteTarget {
    pub name: Arc<str>,
    pub tx: mpsc::Sender<OutBatch>,
    pub when_full: WhenFull,
    pub dropped: Counter,
}

/// What the processor threads use; swapped whole on reload.
#[derive(Debug)]
pub(crate) struct Stage {
    pub processor: Arc<Processor>,
    /// Compiled `routes:`, swapped with the processor.
    pub router: Arc<RouteTable>,
    /// Output queues by the router's output index; `None` for an output that is not running.
    pub targets: Vec<Option<RouteTarget>>,
    /// `sluice_routed_records_total` per route, `unrouted` last.
    pub routed: Vec<Counter>,
    pub unrouted: Counter,
    /// Time to detect and normalize one batch (`sluice_batch_processing_seconds`).
    pub process_seconds: Histogram,
}

/// The running configuration's processor, for normalizing outside the pipeline
/// (`POST /v1/normalize`). Follows reloads; holds no output queue open.
#[derive(Debug, Clone)]
pub struct CurrentProcessor(Arc<RwLock<Arc<Stage>>>);

impl CurrentProcessor {
    /// The processor now; the stage (and its routes) is released before this returns.
    pub fn get(&self) -> Arc<Processor> {
        let stage = match self.0.read() {
            Ok(s) => Arc::clone(&s),
            Err(p) => Arc::clone(&p.into_inner()),
        };
        Arc::clone(&stage.processor)
    }
}

/// Starts `n` processor threads reading from `rx`. They exit when every sender is gone.
pub(crate) fn spawn_processors(
    n: usize,
    rx: Receiver<RawBatch>,
    stage: Arc<RwLock<Arc<Stage>>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..n)
        .filter_map(|i| {
            let rx = rx.clone();
            let stage = Arc::clone(&stage);
            std::thread::Builder::new()
                .name(format!("sluice-proc-{i}"))
                .spawn(move || processor_loop(rx, stage))
                .map_err(|e| tracing::error!(error = %e, "cannot start a processor thread"))
                .ok()
        })
        .collect()
}

fn processor_loop(rx: Receiver<RawBatch>, stage: Arc<RwLock<Arc<Stage>>>) {
    while let Ok(batch) = rx.recv() {
        let current = match stage.read() {
            Ok(s) => Arc::clone(&s),
            Err(p) => Arc::clone(&p.into_inner()),
        };
        process_and_route(&current, batch);
    }
}

/// Processes one batch and hands each output the records routed to it.
pub(crate) fn process_and_route(stage: &Stage, batch: RawBatch) {
    let started = std::time::Instant::now();
    let router = &*stage.router;
    let base = router.input_mask(&batch.origin.input);
    // One mask per record, only when routes look at records; reused capacity, no per-record
    // allocation.
    let mut masks: Vec<OutputMask> = Vec::new();
    let processed = if router.is_static() {
        stage.processor.process(&batch)
    } else {
        let mut tally = router.tally();
        masks.reserve(batch.len());
        let input = &*batch.origin.input;
        let p = stage.processor.process_with(&batch, &mut |i, doc, st| {
            // Records come grouped by source type; each mask goes to its record's place.
            if masks.len() <= i {
                masks.resize(i + 1, 0);
            }
            masks[i] = router.route(base, input, st, doc, &mut tally);
        });
        for (c, n) in stage.routed.iter().zip(&tally.per_route) {
            if *n > 0 {
                c.add(*n);
            }
        }
        stage.unrouted.add(tally.dropped);
        p
    };
    stage.process_seconds.observe_duration(started.elapsed());
    let processed = Arc::new(processed);
    let n = processed.records.len();
    // Outputs some record goes to, and outputs every record goes to.
    let (union, every) = if router.is_static() {
        if base == 0 {
            stage.unrouted.add(n as u64);
        }
        (base, base)
    } else {
        masks
            .iter()
            .fold((0, if n == 0 { 0 } else { !0 }), |(u, e), m| (u | m, e & m))
    };
    for (i, t) in stage.targets.iter().enumerate() {
        let Some(t) = t else { continue };
        let bit = 1u64.checked_shl(i as u32).unwrap_or(0);
        if union & bit == 0 {
            continue;
        }
        let selection = (every & bit == 0).then(|| {
            masks
                .iter()
                .enumerate()
                .filter(|(_, m)| *m & bit != 0)
                .map(|(j, _)| j as u32)
                .collect::<Vec<u32>>()
        });
        let count = selection.as_ref().map_or(n, Vec::len) as u64;
        let out = OutBatch {
            batch: Arc::clone(&processed),
            selection,
            ack: batch.ack.share(),
            received: Some(batch.received),
        };
        match t.when_full {
            WhenFull::Block => {
                if let Err(e) = t.tx.blocking_send(out) {
                    // The output is gone (stopping); its share fails, so nothing looks delivered.
                    tracing::warn!(output = %t.name, "output closed; batch not delivered");
                    drop(e);
                }
            }
            WhenFull::DropNewest => match t.tx.try_send(out) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(out)) => {
                    t.dropped.add(count);
                    // Dropped on purpose and counted: that is this output's decision, not a loss.
                    out.ack.ack();
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    tracing::warn!(output = %t.name, "output closed; batch not delivered");
                }
            },
        }
    }
    batch.ack.ack();
}
