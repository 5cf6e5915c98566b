//! Produces records to Kafka with an idempotent producer and `acks=all`, through the delivery
//! loop the HTTP outputs use (`batch`, `concurrency`, `retry`, `dlq`): a request is a set of
//! records produced at once, and each record's outcome is its librdkafka delivery report. So a
//! batch is acknowledged upstream only once the brokers confirmed every one of its records (or
//! it was parked in the dead-letter queue). librdkafka retries a record within `message_timeout`;
//! past that the loop's backoff decides. Permanent errors (a record too large, an unknown topic,
//! no authorization) go to the dead-letter queue.

pub mod template;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use tokio::sync::{mpsc, oneshot};

use super::delivery::{self, Item, ItemOutcome, Settings, Sink};
use super::dlq::DlqHandle;
use super::retry::Failure;
use super::{OutputContext, OutputError};
use crate::config::KafkaOutputConfig;
use crate::event::{OutBatch, OutRecord, ProcessedBatch};
use crate::metrics::Counter;
use crate::readiness::ComponentHealth;
use template::{sanitize_topic, LazyDoc, Template};

/// How long to wait before offering a record again when librdkafka's local queue is full.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(5);
/// The key length written for a record without a key.
const NO_KEY: u32 = u32::MAX;

pub async fn run(
    cfg: KafkaOutputConfig,
    rx: mpsc::Receiver<OutBatch>,
    ctx: OutputContext,
    dlq: Option<DlqHandle>,
) {
    let settings = Settings {
        batch: cfg.batch.clone(),
        retry: cfg.retry.clone(),
        concurrency: cfg.concurrency,
        dlq,
    };
    let sink = KafkaSink::new(&cfg, &ctx);
    delivery::start(sink, rx, ctx, settings).await;
}

/// Checks what can fail before the first record: the templates and the client settings
/// (a missing `password_file`). Creates no connection.
pub fn check(cfg: &KafkaOutputConfig) -> Result<(), OutputError> {
    parse_templates(cfg)?;
    producer_config(cfg, "check").map(|_| ())
}

fn parse_templates(cfg: &KafkaOutputConfig) -> Result<(Template, Option<Template>), OutputError> {
    let topic =
        Template::parse(&cfg.topic).map_err(|e| OutputError::Config(format!("topic: {e}")))?;
    let key = cfg
        .key
        .as_deref()
        .map(Template::parse)
        .transpose()
        .map_err(|e| OutputError::Config(format!("key: {e}")))?;
    Ok((topic, key))
}

fn producer_config(
    cfg: &KafkaOutputConfig,
    name: &str,
) -> Result<rdkafka::ClientConfig, OutputError> {
    let own = [
        ("client.id", format!("sluice-{name}")),
        ("acks", "all".to_string()),
        ("enable.idempotence", "true".to_string()),
        ("compression.type", cfg.compression.as_str().to_string()),
        (
            "message.timeout.ms",
            cfg.message_timeout.as_millis().max(1).to_string(),
        ),
    ];
    crate::kafka::client_config(
        crate::kafka::Connection {
            brokers: &cfg.brokers,
            tls: cfg.tls.as_ref(),
            sasl: cfg.sasl.as_ref(),
            properties: &cfg.properties,
        },
        &own,
    )
    .map_err(OutputError::Config)
}

/// Errors that another attempt cannot fix: the record or the destination is wrong.
fn permanent(e: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::MessageSizeTooLarge
                | C::InvalidMessageSize
                | C::InvalidMessage
                | C::InvalidRecord
                | C::InvalidTopic
                | C::UnknownTopic
                | C::UnknownTopicOrPartition
                | C::TopicAuthorizationFailed
                | C::ClusterAuthorizationFailed
                | C::PolicyViolation
                | C::InvalidArgument
                | C::BadMessage
        )
    )
}

/// One request: settled when the last of its records' delivery reports arrives.
struct Request {
    /// Records not yet reported, plus one held by `send` until it has offered them all.
    remaining: AtomicUsize,
    outcomes: Mutex<Vec<ItemOutcome>>,
    done: Mutex<Option<oneshot::Sender<()>>>,
    failures: Counter,
}

impl Request {
    /// Record `k` is reported: delivered (`None`) or not.
    fn settle(&self, k: usize, error: Option<&KafkaError>) {
        if let Some(e) = error {
            self.failures.inc();
            let outcome = if permanent(e) {
                ItemOutcome::Rejected(format!("Kafka: {e}"))
            } else {
                ItemOutcome::Retry(Failure::transient(format!("Kafka: {e}")))
            };
            let mut o = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(slot) = o.get_mut(k) {
                *slot = outcome;
            }
        }
        self.release();
    }

    fn release(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let tx = self.done.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(tx) = tx {
                let _ = tx.send(());
            }
        }
    }
}

/// The delivery opaque of one record.
struct Slot {
    request: Arc<Request>,
    k: u32,
}

/// What librdkafka's callbacks (its polling thread) need.
struct Ctx {
    name: Arc<str>,
    health: ComponentHealth,
    /// Set while librdkafka reports every broker down; cleared by the next delivered request.
    brokers_down: AtomicBool,
    errors: Counter,
}

impl ClientContext for Ctx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        crate::kafka::log(&self.name, level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.errors.inc();
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown)
            && !self.brokers_down.swap(true, Ordering::AcqRel)
        {
            self.health.failed(format!("{error}: {reason}"));
        }
        tracing::warn!(output = %self.name, error = %error, reason, "Kafka client error");
    }
}

impl ProducerContext for Ctx {
    type DeliveryOpaque = Box<Slot>;

    fn delivery(&self, result: &DeliveryResult<'_>, slot: Box<Slot>) {
        slot.request
            .settle(slot.k as usize, result.as_ref().err().map(|(e, _)| e));
    }
}

struct KafkaSink {
    producer: ThreadedProducer<Ctx>,
    topic: Template,
    key: Option<Template>,
    failures: Counter,
}

impl KafkaSink {
    /// Creates the producer, which connects in the background: an unreachable broker is not an
    /// error here, it shows in readiness and in retries.
    fn new(cfg: &KafkaOutputConfig, ctx: &OutputContext) -> Result<Self, OutputError> {
        let (topic, key) = parse_templates(cfg)?;
        let labels = [("component", &*ctx.name)];
        let context = Ctx {
            name: Arc::clone(&ctx.name),
            health: ctx.health.clone(),
            brokers_down: AtomicBool::new(false),
            errors: ctx.metrics.counter(
                "sluice_component_errors_total",
                "I/O errors in a component",
                &labels,
            ),
        };
        let producer = producer_config(cfg, &ctx.name)?
            .create_with_context(context)
            .map_err(|e| OutputError::Config(format!("cannot create the Kafka producer: {e}")))?;
        Ok(KafkaSink {
            producer,
            topic,
            key,
            failures: ctx.metrics.counter(
                "sluice_kafka_delivery_failures_total",
                "Records whose Kafka delivery report was an error (then retried or parked)",
                &labels,
            ),
        })
    }
}

/// One record of a request body, as `encode` wrote it.
#[derive(Debug, PartialEq)]
struct Frame<'a> {
    topic: &'a str,
    key: Option<&'a [u8]>,
    value: &'a [u8],
}

/// Reads a record in a request body: `[topic length u32][topic][key length u32, NO_KEY for none]
/// [key][value]`, little-endian, so that `send` needs nothing but the body.
fn frame(b: &[u8]) -> Option<Frame<'_>> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (h, t) = (b.get(..n)?, b.get(n..)?);
        *b = t;
        Some(h)
    }
    fn len(b: &mut &[u8]) -> Option<u32> {
        Some(u32::from_le_bytes(take(b, 4)?.try_into().ok()?))
    }
    let mut b = b;
    let n = len(&mut b)? as usize;
    let topic = std::str::from_utf8(take(&mut b, n)?).ok()?;
    let key = match len(&mut b)? {
        NO_KEY => None,
        n => Some(take(&mut b, n as usize)?),
    };
    Some(Frame {
        topic,
        key,
        value: b,
    })
}

impl Sink for KafkaSink {
    fn encode(&self, batch: &ProcessedBatch, record: &OutRecord, out: &mut Vec<u8>) {
        let value = batch.json(record);
        let input = &*batch.origin.input;
        let source_type = record.source_type.as_str();
        let mut doc = LazyDoc::new(value);
        let mut text = String::new();
        let topic = match self.topic.constant() {
            Some(t) => t,
            None => {
                self.topic.render(&mut text, input, source_type, &mut doc);
                sanitize_topic(&mut text);
                &text
            }
        };
        out.extend_from_slice(&(topic.len() as u32).to_le_bytes());
        out.extend_from_slice(topic.as_bytes());
        text.clear();
        if let Some(k) = &self.key {
            k.render(&mut text, input, source_type, &mut doc);
        }
        if text.is_empty() {
            out.extend_from_slice(&NO_KEY.to_le_bytes());
        } else {
            out.extend_from_slice(&(text.len() as u32).to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        out.extend_from_slice(value);
    }

    async fn send(&self, body: &[u8], items: &[Item]) -> Result<Vec<ItemOutcome>, Failure> {
        let (tx, rx) = oneshot::channel();
        let request = Arc::new(Request {
            remaining: AtomicUsize::new(items.len() + 1),
            outcomes: Mutex::new(vec![ItemOutcome::Delivered; items.len()]),
            done: Mutex::new(Some(tx)),
            failures: self.failures.clone(),
        });
        for (k, it) in items.iter().enumerate() {
            let framed = body.get(it.range.clone()).and_then(frame);
            let Some(Frame { topic, key, value }) = framed.filter(|f| !f.topic.is_empty()) else {
                request.settle(
                    k,
                    Some(&KafkaError::MessageProduction(
                        RDKafkaErrorCode::InvalidTopic,
                    )),
                );
                continue;
            };
            let slot = Box::new(Slot {
                request: Arc::clone(&request),
                k: k as u32,
            });
            let mut record: BaseRecord<'_, [u8], [u8], Box<Slot>> =
                BaseRecord::with_opaque_to(topic, slot).payload(value);
            if let Some(key) = key {
                record = record.key(key);
            }
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(QUEUE_FULL_WAIT).await;
                    }
                    Err((e, back)) => {
                        back.delivery_opaque.request.settle(k, Some(&e));
                        break;
                    }
                }
            }
        }
        request.release();
        if rx.await.is_err() {
            return Err(Failure::transient("the Kafka producer stopped"));
        }
        let outcomes =
            std::mem::take(&mut *request.outcomes.lock().unwrap_or_else(|p| p.into_inner()));
        let ctx = self.producer.context();
        if outcomes.iter().all(|o| *o == ItemOutcome::Delivered)
            && ctx.brokers_down.swap(false, Ordering::AcqRel)
        {
            ctx.health.ready();
            tracing::info!(output = %ctx.name, "deliveries to Kafka succeed again");
        }
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut b = Vec::new();
        for (t, k, v) in [("logs", Some(&b"h1"[..]), &b"{}"[..]), ("x", None, b"")] {
            b.clear();
            b.extend_from_slice(&(t.len() as u32).to_le_bytes());
            b.extend_from_slice(t.as_bytes());
            match k {
                Some(k) => {
                    b.extend_from_slice(&(k.len() as u32).to_le_bytes());
                    b.extend_from_slice(k);
                }
                None => b.extend_from_slice(&NO_KEY.to_le_bytes()),
            }
            b.extend_from_slice(v);
            let want = Frame {
                topic: t,
                key: k,
                value: v,
            };
            assert_eq!(frame(&b), Some(want));
        }
        assert_eq!(frame(&[9, 0, 0, 0, b'a']), None);
        assert_eq!(frame(&[]), None);
    }
}
