//! Consumes Kafka topics as a member of a consumer group. Offsets are committed only over records
//! the outputs have acknowledged, per partition and in order (the file input's `OffsetAcks`), so
//! a crash or a rebalance re-delivers what was in flight and never skips it.
//!
//! Runs on a blocking thread around librdkafka's `BaseConsumer`: rebalance callbacks run inside
//! `poll` on this same thread. On revoke, what is acknowledged is committed at once and the
//! partition's in-flight state is dropped; its unacknowledged records go to the next owner.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::task::JoinHandle;

use super::offsets::OffsetAcks;
use super::{InputContext, InputError};
use crate::config::{AutoOffsetReset, KafkaInputConfig};
use crate::event::{KafkaMeta, Origin, RawBatch, RecordMeta};
use crate::metrics::Counter;
use crate::pipeline::ack::{AckRef, AckSink};
use crate::source_type::SourceType;

/// A partially filled batch is sent after this long.
const BATCH_WAIT: Duration = Duration::from_millis(50);
const POLL: Duration = Duration::from_millis(50);
/// How often topic existence is checked while the input is unhealthy (once healthy, errors from
/// the consumer trigger a check).
const CHECK_EVERY: Duration = Duration::from_secs(5);
const METADATA_TIMEOUT: Duration = Duration::from_secs(3);

type PartKey = (Arc<str>, i32);

/// One assigned partition's delivery state.
struct PartState {
    acks: Arc<OffsetAcks>,
    origin: Arc<Origin>,
    seq: u64,
    /// The offset last committed (the next record to read).
    committed: i64,
}

struct Counters {
    commits_ok: Counter,
    commits_failed: Counter,
    assigned: Counter,
    revoked: Counter,
    errors: Counter,
    empty: Counter,
}

/// State shared between the poll loop and the rebalance callbacks (both on the input's thread).
struct Shared {
    name: Arc<str>,
    parts: Mutex<HashMap<PartKey, PartState>>,
    counters: Counters,
    /// Set by a client error (brokers down): check the brokers and topics again for readiness.
    recheck: AtomicBool,
}

impl Shared {
    fn parts(&self) -> std::sync::MutexGuard<'_, HashMap<PartKey, PartState>> {
        self.parts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commits, synchronously, the acknowledged offset of every partition (or only `only`) that
    /// moved since its last commit.
    fn commit(&self, consumer: &BaseConsumer<Ctx>, only: Option<&TopicPartitionList>) {
        let mut tpl = TopicPartitionList::new();
        let mut moved = Vec::new();
        {
            let parts = self.parts();
            for ((topic, partition), st) in parts.iter() {
                if let Some(only) = only {
                    if only.find_partition(topic, *partition).is_none() {
                        continue;
                    }
                }
                let at = st.acks.committed() as i64;
                if at > st.committed
                    && tpl
                        .add_partition_offset(topic, *partition, Offset::Offset(at))
                        .is_ok()
                {
                    moved.push(((Arc::clone(topic), *partition), at));
                }
            }
        }
        if moved.is_empty() {
            return;
        }
        match consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => {
                self.counters.commits_ok.inc();
                let mut parts = self.parts();
                for (k, at) in moved {
                    if let Some(st) = parts.get_mut(&k) {
                        st.committed = st.committed.max(at);
                    }
                }
            }
            Err(e) => {
                self.counters.commits_failed.inc();
                tracing::warn!(input = %self.name, error = %e, "offset commit failed; retrying at the next interval");
            }
        }
    }
}

struct Ctx(Arc<Shared>);

impl ClientContext for Ctx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        crate::kafka::log(&self.0.name, level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.0.counters.errors.inc();
        self.0.recheck.store(true, Ordering::Release);
        tracing::warn!(input = %self.0.name, error = %error, reason, "Kafka client error");
    }
}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            // Hand over what is delivered; forget the rest, whose records the next owner reads.
            self.0.commit(consumer, Some(tpl));
            let mut parts = self.0.parts();
            for e in tpl.elements() {
                if parts
                    .remove(&(Arc::from(e.topic()), e.partition()))
                    .is_some()
                {
                    self.0.counters.revoked.inc();
                }
            }
            tracing::info!(input = %self.0.name, partitions = tpl.count(), "partitions revoked");
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                self.0.counters.assigned.add(tpl.count() as u64);
                let list: Vec<String> = tpl
                    .elements()
                    .iter()
                    .map(|e| format!("{}/{}", e.topic(), e.partition()))
                    .collect();
                tracing::info!(input = %self.0.name, partitions = %list.join(","), "partitions assigned");
            }
            Rebalance::Error(e) => {
                self.0.counters.errors.inc();
                tracing::warn!(input = %self.0.name, error = %e, "rebalance error");
            }
            Rebalance::Revoke(_) => {}
        }
    }
}

/// A batch being filled for one partition.
struct Filling {
    batch: RawBatch,
    acks: Arc<OffsetAcks>,
    seq: u64,
    /// The offset after the last record in it.
    end: i64,
    started: Instant,
}

/// A running Kafka input.
pub struct KafkaInput {
    cfg: KafkaInputConfig,
    ctx: InputContext,
    consumer: BaseConsumer<Ctx>,
    shared: Arc<Shared>,
    source_type: Option<SourceType>,
}

pub fn start(cfg: KafkaInputConfig, ctx: InputContext) -> Result<JoinHandle<()>, InputError> {
    let input = KafkaInput::new(cfg, ctx)?;
    Ok(tokio::task::spawn_blocking(move || input.run()))
}

impl KafkaInput {
    /// Creates the consumer and subscribes; the brokers are reached in the background.
    pub fn new(cfg: KafkaInputConfig, ctx: InputContext) -> Result<Self, InputError> {
        let name = Arc::clone(&ctx.name);
        let counter =
            |n: &'static str, help: &'static str, extra: Option<(&'static str, &'static str)>| {
                let mut labels = vec![("component", &*name)];
                labels.extend(extra);
                ctx.metrics.counter(n, help, &labels)
            };
        let commits = "Offset commits of a Kafka input, by result";
        let rebalances = "Partitions assigned to or revoked from a Kafka input";
        let shared = Arc::new(Shared {
            name: Arc::clone(&name),
            parts: Mutex::new(HashMap::new()),
            recheck: AtomicBool::new(false),
            counters: Counters {
                commits_ok: counter(
                    "sluice_kafka_commits_total",
                    commits,
                    Some(("result", "ok")),
                ),
                commits_failed: counter(
                    "sluice_kafka_commits_total",
                    commits,
                    Some(("result", "error")),
                ),
                assigned: counter(
                    "sluice_kafka_partitions_total",
                    rebalances,
                    Some(("event", "assigned")),
                ),
                revoked: counter(
                    "sluice_kafka_partitions_total",
                    rebalances,
                    Some(("event", "revoked")),
                ),
                errors: counter(
                    "sluice_component_errors_total",
                    "I/O errors in a component",
                    None,
                ),
                empty: counter(
                    "sluice_dropped_records_total",
                    "Records dropped, by component and reason",
                    Some(("reason", "empty_record")),
                ),
            },
        });
        let reset = match cfg.auto_offset_reset {
            AutoOffsetReset::Earliest => "earliest",
            AutoOffsetReset::Latest => "latest",
        };
        let own = [
            ("group.id", cfg.group_id.clone()),
            ("client.id", format!("sluice-{name}")),
            ("enable.auto.commit", "false".to_string()),
            ("enable.auto.offset.store", "false".to_string()),
            ("auto.offset.reset", reset.to_string()),
        ];
        let client = crate::kafka::client_config(
            crate::kafka::Connection {
                brokers: &cfg.brokers,
                tls: cfg.tls.as_ref(),
                sasl: cfg.sasl.as_ref(),
                properties: &cfg.properties,
            },
            &own,
        )
        .map_err(InputError::Config)?;
        let consumer: BaseConsumer<Ctx> = client
            .create_with_context(Ctx(Arc::clone(&shared)))
            .map_err(|e| InputError::Config(format!("cannot create the Kafka consumer: {e}")))?;
        let topics: Vec<&str> = cfg.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| InputError::Config(format!("topics: cannot subscribe: {e}")))?;
        Ok(KafkaInput {
            source_type: cfg.source_type.as_deref().map(SourceType::from_name),
            cfg,
            ctx,
            consumer,
            shared,
        })
    }

    /// The input's loop; after `stop`, waits for in-flight batches (until `abort`), commits what
    /// was acknowledged and leaves the group.
    pub fn run(self) {
        let mut filling: HashMap<PartKey, Filling> = HashMap::new();
        let mut last_commit = Instant::now();
        let mut last_check: Option<Instant> = None;
        let mut healthy = false;
        while !self.ctx.stop.is_cancelled() {
            if self.shared.recheck.swap(false, Ordering::AcqRel) {
                healthy = false;
            }
            if !healthy && last_check.is_none_or(|t| t.elapsed() >= CHECK_EVERY) {
                healthy = self.check_topics();
                last_check = Some(Instant::now());
            }
            match self.consumer.poll(POLL) {
                Some(Ok(msg)) => {
                    if let Some(full) = self.add(&mut filling, &msg) {
                        if !self.send(full) {
                            break;
                        }
                    }
                }
                Some(Err(e)) => {
                    self.shared.counters.errors.inc();
                    tracing::warn!(input = %self.ctx.name, error = %e, "Kafka consumer error");
                    if matches!(
                        e,
                        KafkaError::MessageConsumption(
                            RDKafkaErrorCode::UnknownTopicOrPartition
                                | RDKafkaErrorCode::UnknownTopic
                        )
                    ) {
                        healthy = false;
                        last_check = None;
                    }
                }
                None => {}
            }
            let due: Vec<PartKey> = filling
                .iter()
                .filter(|(_, f)| f.started.elapsed() >= BATCH_WAIT)
                .map(|(k, _)| k.clone())
                .collect();
            for k in due {
                if let Some(f) = filling.remove(&k) {
                    if !self.send(f) {
                        break;
                    }
                }
            }
            if last_commit.elapsed() >= self.cfg.commit_interval {
                self.shared.commit(&self.consumer, None);
                last_commit = Instant::now();
            }
        }
        // Unsent records were never acknowledged, so they are read again after the restart.
        drop(filling);
        while !self.ctx.abort.is_cancelled()
            && self
                .shared
                .parts()
                .values()
                .any(|st| st.acks.in_flight() > 0)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.shared.commit(&self.consumer, None);
        // Dropping the consumer leaves the group (the revoke callback commits once more).
        drop(self.consumer);
        tracing::debug!(input = %self.ctx.name, "kafka input stopped");
    }

    /// Appends a record to its partition's batch; returns the batch when it is full.
    fn add(
        &self,
        filling: &mut HashMap<PartKey, Filling>,
        msg: &BorrowedMessage<'_>,
    ) -> Option<Filling> {
        let partition = msg.partition();
        let offset = msg.offset();
        let key: PartKey = match filling
            .keys()
            .find(|(t, p)| *p == partition && &**t == msg.topic())
        {
            Some(k) => k.clone(),
            None => (Arc::from(msg.topic()), partition),
        };
        if !filling.contains_key(&key) {
            let mut parts = self.shared.parts();
            let st = parts.entry(key.clone()).or_insert_with(|| PartState {
                // The first record read is where this owner starts: everything before it was
                // committed by someone.
                acks: Arc::new(OffsetAcks::new(offset.max(0) as u64)),
                origin: Arc::new(Origin {
                    input: Arc::clone(&self.ctx.name),
                    file: None,
                    peer: None,
                    source_type: self.source_type.clone(),
                }),
                seq: 0,
                committed: offset,
            });
            let seq = st.seq;
            st.seq += 1;
            let acks = Arc::clone(&st.acks);
            filling.insert(
                key.clone(),
                Filling {
                    batch: RawBatch::new(
                        Arc::clone(&st.origin),
                        AckRef::new(seq, Arc::clone(&acks) as Arc<dyn AckSink>),
                    ),
                    acks,
                    seq,
                    end: offset,
                    started: Instant::now(),
                },
            );
        }
        let f = filling.get_mut(&key)?;
        f.end = offset + 1;
        match msg.payload() {
            Some(p) if !p.is_empty() => {
                f.batch.push(p, None, false);
                let meta = RecordMeta {
                    time: msg
                        .timestamp()
                        .to_millis()
                        .and_then(chrono::DateTime::from_timestamp_millis),
                    kafka: Some(KafkaMeta {
                        topic: Arc::clone(&key.0),
                        partition,
                        offset,
                        key: msg.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    }),
                    ..RecordMeta::default()
                };
                if let Some(last) = f.batch.records.last_mut() {
                    last.meta = Some(Box::new(meta));
                }
            }
            // A tombstone or empty record has nothing to normalize; its offset still counts.
            _ => self.shared.counters.empty.inc(),
        }
        if f.batch.len() >= self.ctx.batch_size {
            return filling.remove(&key);
        }
        None
    }

    /// Sends a batch unless its partition was revoked meanwhile. False if the pipeline is gone.
    fn send(&self, f: Filling) -> bool {
        let key = {
            let parts = self.shared.parts();
            parts
                .iter()
                .find(|(_, st)| Arc::ptr_eq(&st.acks, &f.acks))
                .map(|(k, _)| k.clone())
        };
        if key.is_none() {
            // Revoked: its records belong to the partition's next owner.
            return true;
        }
        f.acks.register(f.seq, f.end.max(0) as u64);
        if f.batch.is_empty() {
            f.batch.ack.ack();
            return true;
        }
        self.ctx
            .sender
            .send_blocking(f.batch, &self.ctx.abort)
            .is_ok()
    }

    /// Whether every named topic exists; reports the answer to readiness.
    fn check_topics(&self) -> bool {
        let md = match self.consumer.fetch_metadata(None, METADATA_TIMEOUT) {
            Ok(md) => md,
            Err(e) => {
                self.ctx
                    .health
                    .failed(format!("cannot reach the Kafka brokers: {e}"));
                return false;
            }
        };
        let missing: Vec<&str> = self
            .cfg
            .topics
            .iter()
            .filter(|t| !t.starts_with('^'))
            .filter(|t| {
                !md.topics()
                    .iter()
                    .any(|m| m.name() == t.as_str() && m.error().is_none())
            })
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            self.ctx.health.ready();
            true
        } else {
            let list = missing.join("`, `");
            tracing::error!(input = %self.ctx.name, topics = %list, "Kafka topic does not exist");
            self.ctx
                .health
                .failed(format!("Kafka topic `{list}` does not exist"));
            false
        }
    }
}
