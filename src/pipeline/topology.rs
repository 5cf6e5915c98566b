//! The running set of components, and how it changes on reload and stops on shutdown.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crossbeam_channel::Sender;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::processor::{Processor, ProcessorError};
use super::routes::RouteTable;
use super::{spawn_processors, BatchSender, CurrentProcessor, RouteTarget, Stage};
use crate::config::{Config, InputConfig, OutputConfig};
use crate::event::RawBatch;
use crate::inputs::{self, InputContext};
use crate::metrics::Metrics;
use crate::outputs::dlq::DlqHandle;
use crate::outputs::{self, OutputContext};
use crate::readiness::{ComponentHealth, Readiness};

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error(transparent)]
    Processor(#[from] ProcessorError),
    #[error("routes: {0}")]
    Routes(String),
    #[error("input `{name}`: {source}")]
    Input {
        name: String,
        source: inputs::InputError,
    },
    #[error("output `{name}`: {source}")]
    Output {
        name: String,
        source: outputs::OutputError,
    },
    #[error("output `{name}`: {source}")]
    Buffer {
        name: String,
        source: crate::buffer::disk::BufferError,
    },
    #[error("outputs.{0}: an output with a disk buffer is changed or removed only by a restart; the running configuration stays")]
    DiskBufferReload(String),
}

struct RunningInput {
    cfg: InputConfig,
    health: ComponentHealth,
    stop: CancellationToken,
    abort: CancellationToken,
    join: JoinHandle<()>,
}

struct RunningOutput {
    cfg: OutputConfig,
    /// Its own queue for a `type: dlq` output; the queue it parks in for the others.
    dlq: Option<DlqHandle>,
    health: ComponentHealth,
    target: RouteTarget,
    join: JoinHandle<()>,
}

/// Everything that runs for one configuration.
pub struct Topology {
    cfg: Config,
    metrics: Metrics,
    readiness: Readiness,
    stage: Arc<RwLock<Arc<Stage>>>,
    raw_tx: Option<Sender<RawBatch>>,
    processors: Vec<std::thread::JoinHandle<()>>,
    inputs: BTreeMap<String, RunningInput>,
    outputs: BTreeMap<String, RunningOutput>,
}

impl Topology {
    /// Starts outputs, processors and inputs, in that order, so nothing is read before it can go
    /// somewhere. Components register with `readiness` as they start.
    pub fn start(
        cfg: Config,
        metrics: Metrics,
        readiness: Readiness,
    ) -> Result<Self, TopologyError> {
        let threads = if cfg.pipeline.threads == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            cfg.pipeline.threads
        };
        let (raw_tx, raw_rx) = crossbeam_channel::bounded(cfg.pipeline.queue_batches);
        let mut outputs = BTreeMap::new();
        let mut dlqs = HashMap::new();
        for (name, oc) in dlq_first(&cfg) {
            let r = start_output(name, oc, &cfg.data_dir, &metrics, &readiness, &dlqs)?;
            if let (OutputConfig::Dlq(_), Some(h)) = (oc, &r.dlq) {
                dlqs.insert(name.clone(), h.clone());
            }
            outputs.insert(name.clone(), r);
        }
        let stage = Arc::new(RwLock::new(Arc::new(build_stage(
            &cfg, &outputs, &metrics,
        )?)));
        // A receiver, not a sender: holding it does not keep the processors from ending.
        let queued = raw_rx.clone();
        metrics.gauge_fn(
            "sluice_queue_batches",
            "Batches waiting in a queue: the processors' (component=\"processors\") or an output's",
            &[("component", "processors"), ("kind", "pipeline")],
            Arc::new(move || Some(queued.len() as i64)),
        );
        let capacity = cfg.pipeline.queue_batches as i64;
        metrics.gauge_fn(
            "sluice_queue_capacity_batches",
            "Capacity of a queue, in batches",
            &[("component", "processors"), ("kind", "pipeline")],
            Arc::new(move || Some(capacity)),
        );
        let processors = spawn_processors(threads, raw_rx, Arc::clone(&stage));
        let mut topo = Topology {
            cfg: cfg.clone(),
            metrics,
            readiness,
            stage,
            raw_tx: Some(raw_tx),
            processors,
            inputs: BTreeMap::new(),
            outputs,
        };
        for (name, ic) in &cfg.inputs {
            let running = topo.start_input(name, ic)?;
            topo.inputs.insert(name.clone(), running);
        }
        tracing::info!(
            inputs = topo.inputs.len(),
            outputs = topo.outputs.len(),
            processors = threads,
            "topology started"
        );
        Ok(topo)
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// A handle on the processor of whatever configuration is running, now and after reloads.
    pub fn current_processor(&self) -> CurrentProcessor {
        CurrentProcessor(Arc::clone(&self.stage))
    }

    /// Marks outputs whose task ended while they should run (a panic), and network inputs whose
    /// task ended (they only end when stopped), as failed for `/ready`.
    pub fn check_health(&self) {
        for r in self.inputs.values() {
            let listens = matches!(
                r.cfg,
                InputConfig::Syslog(_) | InputConfig::Http(_) | InputConfig::SplunkHec(_)
            );
            if listens && r.join.is_finished() {
                r.health
                    .failed("the input stopped listening unexpectedly; see the logs");
            }
        }
        for r in self.outputs.values() {
            if r.join.is_finished() {
                r.health
                    .failed("the output stopped unexpectedly; see the logs");
            }
        }
    }

    /// True once every input has ended on its own (stdin at end of file).
    pub fn inputs_finished(&self) -> bool {
        !self.inputs.is_empty() && self.inputs.values().all(|i| i.join.is_finished())
    }

    /// Moves to `new`: unchanged components keep running, new ones start, changed ones are
    /// replaced, removed ones drain. Nothing read is lost: a stopped input waits for its in-flight
    /// records to be acknowledged and saves its checkpoint before its successor starts.
    pub async fn reload(&mut self, mut new: Config) -> Result<(), TopologyError> {
        if new.data_dir != self.cfg.data_dir {
            tracing::warn!("data_dir changes take effect after a restart; keeping the old one");
            new.data_dir = self.cfg.data_dir.clone();
        }
        if new.pipeline.threads != self.cfg.pipeline.threads
            || new.pipeline.queue_batches != self.cfg.pipeline.queue_batches
        {
            tracing::warn!(
                "pipeline.threads and pipeline.queue_batches take effect after a restart"
            );
        }
        // Two disk buffers on one directory would corrupt each other: the old one keeps running
        // until a restart.
        for (name, oc) in &self.cfg.outputs {
            let disk = |c: &OutputConfig| {
                matches!(c.common().buffer, crate::config::BufferConfig::Disk(_))
            };
            if disk(oc) && new.outputs.get(name) != Some(oc) {
                return Err(TopologyError::DiskBufferReload(name.clone()));
            }
        }
        // 1. Outputs: start new and changed ones beside the old.
        let mut next: BTreeMap<String, RunningOutput> = BTreeMap::new();
        let mut retired: Vec<(String, RunningOutput)> = Vec::new();
        let mut old = std::mem::take(&mut self.outputs);
        let mut dlqs: HashMap<String, DlqHandle> = HashMap::new();
        for (name, oc) in dlq_first(&new) {
            // An output whose dead-letter queue was replaced restarts with the new one.
            let same_dlq = |r: &RunningOutput| match (oc.dlq(), &r.dlq) {
                (Some(d), Some(h)) => dlqs.get(d).is_some_and(|n| n.same(h)),
                (None, _) => true,
                (Some(_), None) => false,
            };
            match old.remove(name) {
                Some(running) if running.cfg == *oc && same_dlq(&running) => {
                    if let (OutputConfig::Dlq(_), Some(h)) = (oc, &running.dlq) {
                        dlqs.insert(name.clone(), h.clone());
                    }
                    next.insert(name.clone(), running);
                }
                prev => {
                    let started = start_output(
                        name,
                        oc,
                        &self.cfg.data_dir,
                        &self.metrics,
                        &self.readiness,
                        &dlqs,
                    );
                    match started {
                        Ok(r) => {
                            if let (OutputConfig::Dlq(_), Some(h)) = (oc, &r.dlq) {
                                dlqs.insert(name.clone(), h.clone());
                            }
                            next.insert(name.clone(), r);
                            if let Some(p) = prev {
                                retired.push((name.clone(), p));
                            }
                        }
                        Err(e) => {
                            // Put everything back as it was.
                            for (n, r) in next {
                                if self.cfg.outputs.get(&n) == Some(&r.cfg) {
                                    old.insert(n, r);
                                } else {
                                    retired.push((n, r));
                                }
                            }
                            if let Some(p) = prev {
                                old.insert(name.clone(), p);
                            }
                            self.outputs = old;
                            retire_outputs(retired);
                            return Err(e);
                        }
                    }
                }
            }
        }
        retired.extend(old);
        // 2. Processing and routes, swapped in one step.
        let stage = match build_stage(&new, &next, &self.metrics) {
            Ok(s) => s,
            Err(e) => {
                // Keep the old stage; stop only what this attempt started.
                let mut keep = BTreeMap::new();
                let mut extra = Vec::new();
                for (n, r) in next {
                    if self.cfg.outputs.get(&n) == Some(&r.cfg) {
                        keep.insert(n, r);
                    } else {
                        extra.push((n, r));
                    }
                }
                for (n, r) in retired {
                    keep.insert(n, r);
                }
                self.outputs = keep;
                retire_outputs(extra);
                return Err(e);
            }
        };
        self.replace_stage(stage);
        self.outputs = next;
        // 3. Removed and replaced outputs drain what they hold, then stop.
        let changed_outputs = retired.len();
        retire_outputs(retired);
        // 4. Inputs: stop removed and changed ones (waiting for their acknowledgements), then start.
        let mut changed_inputs = 0;
        let names: Vec<String> = self.inputs.keys().cloned().collect();
        for name in names {
            let keep = new.inputs.get(&name) == self.inputs.get(&name).map(|r| &r.cfg)
                && new.pipeline.batch_size == self.cfg.pipeline.batch_size;
            if !keep {
                if let Some(r) = self.inputs.remove(&name) {
                    stop_input(r, new.shutdown_timeout).await;
                    changed_inputs += 1;
                }
            }
        }
        self.cfg = new.clone();
        for (name, ic) in &new.inputs {
            if !self.inputs.contains_key(name) {
                let r = self.start_input(name, ic)?;
                self.inputs.insert(name.clone(), r);
            }
        }
        tracing::info!(
            inputs_restarted = changed_inputs,
            outputs_replaced = changed_outputs,
            "configuration reloaded"
        );
        Ok(())
    }

    /// Stops reading, drains in-flight batches within `shutdown_timeout`, flushes outputs and saves
    /// checkpoints.
    pub async fn shutdown(mut self) {
        let timeout = self.cfg.shutdown_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let inputs = std::mem::take(&mut self.inputs);
        let mut waits = Vec::new();
        for (_, r) in inputs {
            waits.push(tokio::spawn(stop_input(r, timeout)));
        }
        for w in waits {
            let _ = w.await;
        }
        // No more senders: the processors finish the queue and exit.
        self.raw_tx = None;
        let procs = std::mem::take(&mut self.processors);
        let _ = tokio::task::spawn_blocking(move || {
            for p in procs {
                let _ = p.join();
            }
        })
        .await;
        // Dropping the routes closes every output queue; outputs drain and exit.
        let current = match self.stage.read() {
            Ok(s) => Arc::clone(&s),
            Err(p) => Arc::clone(&p.into_inner()),
        };
        self.replace_stage(Stage {
            processor: Arc::clone(&current.processor),
            router: Arc::clone(&current.router),
            targets: Vec::new(),
            routed: current.routed.clone(),
            unrouted: current.unrouted.clone(),
            process_seconds: current.process_seconds.clone(),
        });
        drop(current);
        let outputs = std::mem::take(&mut self.outputs);
        for (name, r) in outputs {
            drop(r.target);
            match tokio::time::timeout_at(deadline, r.join).await {
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(output = %name, "output did not drain before shutdown_timeout")
                }
            }
        }
        tracing::info!("stopped");
    }

    fn replace_stage(&self, stage: Stage) {
        let mut guard = match self.stage.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *guard = Arc::new(stage);
    }

    fn start_input(&self, name: &str, ic: &InputConfig) -> Result<RunningInput, TopologyError> {
        let Some(raw_tx) = &self.raw_tx else {
            return Err(TopologyError::Input {
                name: name.into(),
                source: inputs::InputError::Stopped,
            });
        };
        let stop = CancellationToken::new();
        let abort = CancellationToken::new();
        let health = self.readiness.register("input", name);
        let ctx = InputContext {
            name: Arc::from(name),
            sender: BatchSender::new(raw_tx.clone(), &self.metrics, name),
            data_dir: self.cfg.data_dir.clone(),
            batch_size: self.cfg.pipeline.batch_size,
            stop: stop.clone(),
            abort: abort.clone(),
            metrics: self.metrics.clone(),
            health: health.clone(),
        };
        let join = inputs::start(ic, ctx).map_err(|source| {
            health.unregister();
            TopologyError::Input {
                name: name.into(),
                source,
            }
        })?;
        health.ready();
        Ok(RunningInput {
            cfg: ic.clone(),
            health,
            stop,
            abort,
            join,
        })
    }
}

/// Outputs in the order they start: dead-letter queues first, so the others can name them.
fn dlq_first(cfg: &Config) -> impl Iterator<Item = (&String, &OutputConfig)> {
    let is_dlq = |oc: &&OutputConfig| matches!(oc, OutputConfig::Dlq(_));
    let dlqs = cfg.outputs.iter().filter(move |(_, oc)| is_dlq(oc));
    let rest = cfg.outputs.iter().filter(move |(_, oc)| !is_dlq(oc));
    dlqs.chain(rest)
}

fn start_output(
    name: &str,
    oc: &OutputConfig,
    data_dir: &std::path::Path,
    metrics: &Metrics,
    readiness: &Readiness,
    dlqs: &HashMap<String, DlqHandle>,
) -> Result<RunningOutput, TopologyError> {
    let common = oc.common();
    let dlq = match oc {
        OutputConfig::Dlq(c) => {
            Some(
                DlqHandle::open(name, c, metrics).map_err(|source| TopologyError::Output {
                    name: name.into(),
                    source,
                })?,
            )
        }
        _ => match oc.dlq() {
            Some(d) => Some(dlqs.get(d).cloned().ok_or_else(|| TopologyError::Output {
                name: name.into(),
                source: outputs::OutputError::Config(format!(
                    "dlq: no `type: dlq` output named `{d}`"
                )),
            })?),
            None => None,
        },
    };
    let (tx, rx) = mpsc::channel(common.queue_batches);
    // With a disk buffer, the processors' queue feeds the buffer and the buffer feeds the output.
    let rx = match common.buffer {
        crate::config::BufferConfig::Memory => rx,
        crate::config::BufferConfig::Disk(d) => {
            let (out_tx, out_rx) = mpsc::channel(common.queue_batches);
            crate::buffer::disk::start(
                crate::buffer::dir_for(data_dir, name),
                d.clone(),
                Arc::from(name),
                metrics,
                rx,
                out_tx,
            )
            .map_err(|source| TopologyError::Buffer {
                name: name.into(),
                source,
            })?;
            // Detached: the threads end on their own once the queues close.
            out_rx
        }
    };
    let health = readiness.register("output", name);
    let ctx = OutputContext {
        name: Arc::from(name),
        metrics: metrics.clone(),
        health: health.clone(),
        dlq: dlq.clone(),
    };
    let join = outputs::start(oc, rx, ctx).map_err(|source| {
        health.unregister();
        TopologyError::Output {
            name: name.into(),
            source,
        }
    })?;
    health.ready();
    // Weak: the gauge must not keep a retired output's queue open.
    let weak = tx.downgrade();
    let labels = [("component", name), ("kind", "output")];
    metrics.gauge_fn(
        "sluice_queue_batches",
        "Batches waiting in a queue: the processors' (component=\"processors\") or an output's",
        &labels,
        Arc::new(move || {
            weak.upgrade()
                .map(|tx| (tx.max_capacity() - tx.capacity()) as i64)
        }),
    );
    let weak = tx.downgrade();
    metrics.gauge_fn(
        "sluice_queue_capacity_batches",
        "Capacity of a queue, in batches",
        &labels,
        Arc::new(move || weak.upgrade().map(|tx| tx.max_capacity() as i64)),
    );
    Ok(RunningOutput {
        cfg: oc.clone(),
        dlq,
        health,
        target: RouteTarget {
            name: Arc::from(name),
            tx,
            when_full: common.when_full,
            dropped: metrics.counter(
                "sluice_dropped_records_total",
                "Records dropped, by component and reason",
                &[("component", name), ("reason", "queue_full")],
            ),
        },
        join,
    })
}

/// Lets retired outputs finish their queues in the background.
fn retire_outputs(retired: Vec<(String, RunningOutput)>) {
    for (name, r) in retired {
        drop(r.target);
        r.health.unregister();
        tokio::spawn(async move {
            let _ = r.join.await;
            tracing::info!(output = %name, "retired output drained");
        });
    }
}

async fn stop_input(r: RunningInput, timeout: Duration) {
    r.health.unregister();
    r.stop.cancel();
    let abort = r.abort.clone();
    let mut join = r.join;
    tokio::select! {
        _ = &mut join => {}
        _ = tokio::time::sleep(timeout) => {
            tracing::warn!("input did not finish within shutdown_timeout; giving up on in-flight records (they will be read again)");
            abort.cancel();
            let _ = join.await;
        }
    }
}

fn build_stage(
    cfg: &Config,
    outputs: &BTreeMap<String, RunningOutput>,
    metrics: &Metrics,
) -> Result<Stage, TopologyError> {
    let processor = Arc::new(Processor::new(&cfg.pipeline, metrics)?);
    let router = RouteTable::compile(cfg).map_err(|problems| {
        TopologyError::Routes(
            problems
                .into_iter()
                .map(|p| format!("{}: {}", p.key, p.message))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let targets: Vec<Option<RouteTarget>> = router
        .outputs()
        .iter()
        .map(|name| outputs.get(&**name).map(|r| r.target.clone()))
        .collect();
    if router.is_static() {
        for name in cfg.inputs.keys() {
            if router.input_mask(name) == 0 {
                tracing::warn!(input = %name, "no output takes this input's records; they are counted as unrouted");
            }
        }
    }
    let routed = router
        .route_names()
        .map(|r| {
            metrics.counter(
                "sluice_routed_records_total",
                "Records a route matched (route=\"unrouted\": records sent to the `unrouted` output)",
                &[("route", r)],
            )
        })
        .collect();
    Ok(Stage {
        process_seconds: metrics.histogram(
            "sluice_batch_processing_seconds",
            "Time the processors take to detect and normalize one batch",
            &[],
        ),
        processor,
        router: Arc::new(router),
        targets,
        routed,
        unrouted: metrics.counter(
            "sluice_dropped_records_total",
            "Records dropped, by component and reason",
            &[("component", "router"), ("reason", "unrouted")],
        ),
    })
}
