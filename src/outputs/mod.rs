//! Outputs: where processed records go. Each consumes its own bounded queue and acknowledges a
//! batch only once it has accepted every record in it.

pub mod delivery;
pub mod dlq;
pub mod elasticsearch;
pub mod file;
pub mod http;
pub mod kafka;
pub mod retry;
pub mod splunk_hec;
pub mod stdout;

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::OutputConfig;
use crate::event::OutBatch;
use crate::metrics::{Counter, Histogram, Metrics};
use crate::readiness::ComponentHealth;

#[derive(Debug, Clone)]
pub struct OutputContext {
    pub name: Arc<str>,
    pub metrics: Metrics,
    /// Report `failed` while the output cannot deliver (and `ready` once it can again) so that
    /// `GET /ready` shows it.
    pub health: ComponentHealth,
    /// The dead-letter queue this output parks records in (`dlq:`); for a `type: dlq` output,
    /// its own queue.
    pub dlq: Option<dlq::DlqHandle>,
}

impl OutputContext {
    /// Records and bytes an output has accepted.
    pub fn sent_counters(&self) -> (Counter, Counter) {
        let labels = [("component", &*self.name), ("kind", "output")];
        (
            self.metrics.counter(
                "sluice_component_sent_records_total",
                "Records accepted by an output",
                &labels,
            ),
            self.metrics.counter(
                "sluice_component_sent_bytes_total",
                "Bytes written by an output",
                &labels,
            ),
        )
    }

    /// Time to deliver one batch, retries included (`sluice_output_write_seconds`).
    pub fn write_latency(&self) -> Histogram {
        self.metrics.histogram(
            "sluice_output_write_seconds",
            "Time an output takes to deliver one batch, retries included",
            &[("component", &*self.name)],
        )
    }

    /// Time from an input receiving a batch to this output accepting it
    /// (`sluice_end_to_end_latency_seconds`); observe it with [`OutputContext::observe_end_to_end`].
    pub fn end_to_end_latency(&self) -> Histogram {
        self.metrics.histogram_with(
            "sluice_end_to_end_latency_seconds",
            "Time from an input receiving a batch to an output accepting it",
            &[("component", &*self.name)],
            crate::metrics::END_TO_END_BUCKETS,
        )
    }

    /// Records one accepted batch's age in `h` (from [`OutputContext::end_to_end_latency`]):
    /// call it once the batch is written or accepted, before acknowledging it.
    pub fn observe_end_to_end(h: &Histogram, batch: &OutBatch) {
        if let Some(age) = batch.age() {
            h.observe_duration(age);
        }
    }

    /// Failed attempts that are tried again (`sluice_output_retries_total`).
    pub fn retries(&self) -> Counter {
        self.metrics.counter(
            "sluice_output_retries_total",
            "Delivery attempts that failed and were retried",
            &[("component", &*self.name)],
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{0}")]
    Config(String),
}

pub fn start(
    cfg: &OutputConfig,
    rx: mpsc::Receiver<OutBatch>,
    ctx: OutputContext,
) -> Result<JoinHandle<()>, OutputError> {
    match cfg {
        OutputConfig::File(c) => {
            let out = file::FileOutput::new(c.clone(), ctx)?;
            Ok(tokio::task::spawn_blocking(move || out.run(rx)))
        }
        OutputConfig::Stdout(_) => Ok(tokio::task::spawn_blocking(move || stdout::run(rx, ctx))),
        OutputConfig::SplunkHec(c) => {
            splunk_hec::check(c)?;
            let (c, dlq) = (c.clone(), ctx.dlq.clone());
            Ok(tokio::spawn(splunk_hec::run(c, rx, ctx, dlq)))
        }
        OutputConfig::Elasticsearch(c) => {
            elasticsearch::check(c)?;
            let (c, dlq) = (c.clone(), ctx.dlq.clone());
            Ok(tokio::spawn(elasticsearch::run(c, rx, ctx, dlq)))
        }
        OutputConfig::Dlq(_) => {
            let handle = ctx.dlq.clone().ok_or_else(|| {
                OutputError::Config("the dead-letter queue was not opened".into())
            })?;
            Ok(tokio::task::spawn_blocking(move || {
                dlq::run(handle, rx, ctx)
            }))
        }
        OutputConfig::Kafka(c) => {
            kafka::check(c)?;
            let (c, dlq) = ((**c).clone(), ctx.dlq.clone());
            Ok(tokio::spawn(kafka::run(c, rx, ctx, dlq)))
        }
    }
}
