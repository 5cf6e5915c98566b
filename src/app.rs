//! `sluice run`: start the topology, reload it on file change or SIGHUP, stop it on SIGTERM/SIGINT.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::api::{self, ApiDeps, ApiServer};
use crate::config;
use crate::metrics::Metrics;
use crate::pipeline::Topology;
use crate::readiness::{Phase, Readiness};
use crate::systemd::Notifier;

/// Runs until a stop signal, or until every input has ended (stdin at end of file).
/// `config_path` is None for the embedded configuration, which is neither watched nor reloaded.
pub async fn run(
    config_path: Option<PathBuf>,
    cfg: config::Config,
    metrics: Metrics,
) -> anyhow::Result<()> {
    // First of all: SIGHUP's default action is to terminate.
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let reloads_ok = metrics.counter(
        "sluice_config_reloads_total",
        "Configuration reloads",
        &[("result", "success")],
    );
    let reloads_bad = metrics.counter(
        "sluice_config_reloads_total",
        "Configuration reloads",
        &[("result", "failure")],
    );
    // The API first, so that probes see "starting" rather than a refused connection, and a port
    // in use fails the start before anything is read.
    let readiness = Readiness::new();
    let api_deps = ApiDeps::new(metrics.clone(), readiness.clone());
    let mut api_server = match &cfg.api {
        Some(a) => Some(ApiServer::start(a, api_deps.clone()).await?),
        None => None,
    };
    let mut topo = Topology::start(cfg, metrics.clone(), readiness.clone())?;
    api_deps.attach(topo.current_processor());
    readiness.set_phase(Phase::Running);
    let notifier = Notifier::from_env();
    notifier.ready("running");
    // Fed from this loop, so a stuck loop stops the pings and systemd restarts the service.
    let mut watchdog = notifier.watchdog_interval().map(tokio::time::interval);
    let (changed_tx, mut changed_rx) = mpsc::channel::<()>(1);
    let _watcher = config_path.as_deref().and_then(|p| {
        watch(p, changed_tx.clone())
            .map_err(|e| tracing::warn!(error = %e, "cannot watch the configuration file; reload with SIGHUP"))
            .ok()
    });
    // A change made between the first load and the watch (a ConfigMap updated while the pod
    // starts) raised no event: look once, now that later changes will.
    if let Some(p) = config_path.as_deref() {
        if !matches!(config::load(p), Ok(c) if c == *topo.config()) {
            let _ = changed_tx.try_send(());
        }
    }
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        let reload = tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); break }
            _ = int.recv() => { tracing::info!("SIGINT: shutting down"); break }
            _ = hup.recv() => { tracing::info!("SIGHUP: reloading"); true }
            Some(()) = changed_rx.recv() => {
                // Editors write in several steps; let them finish.
                tokio::time::sleep(Duration::from_millis(200)).await;
                while changed_rx.try_recv().is_ok() {}
                true
            }
            _ = async { watchdog.as_mut()?.tick().await; Some(()) }, if watchdog.is_some() => {
                notifier.watchdog();
                false
            }
            _ = tick.tick() => {
                topo.check_health();
                if topo.inputs_finished() {
                    tracing::info!("all inputs ended; shutting down");
                    break;
                }
                false
            }
        };
        if let (true, Some(config_path)) = (reload, &config_path) {
            notifier.reloading();
            match config::load(config_path) {
                Ok(new) if new == *topo.config() => {
                    tracing::debug!("configuration unchanged");
                    // Key files may have changed under an unchanged YAML.
                    api_server = api::apply(api_server, new.api.as_ref(), &api_deps).await;
                }
                Ok(new) => {
                    match keep_watchdog_fed(topo.reload(new), &notifier, &mut watchdog).await {
                        Ok(()) => {
                            reloads_ok.inc();
                            readiness.reloaded(None);
                            let cfg = topo.config().api.clone();
                            api_server = api::apply(api_server, cfg.as_ref(), &api_deps).await;
                        }
                        Err(e) => {
                            reloads_bad.inc();
                            readiness.reloaded(Some(e.to_string()));
                            tracing::error!(error = %e, "reload failed; the running configuration stays");
                        }
                    }
                }
                Err(e) => {
                    reloads_bad.inc();
                    readiness.reloaded(Some(e.to_string()));
                    tracing::error!("invalid configuration, the running one stays:\n{e}");
                }
            }
            // Whatever the outcome, a configuration runs again.
            notifier.ready("running");
        }
    }
    notifier.stopping();
    readiness.set_phase(Phase::Stopping);
    keep_watchdog_fed(topo.shutdown(), &notifier, &mut watchdog).await;
    if let Some(a) = api_server {
        a.shutdown().await;
    }
    Ok(())
}

/// Awaits `fut` (a reload that drains retired outputs, the final drain) while still feeding the
/// systemd watchdog, so a drain longer than `WatchdogSec` is not mistaken for a hang.
async fn keep_watchdog_fed<F: std::future::Future>(
    fut: F,
    notifier: &Notifier,
    watchdog: &mut Option<tokio::time::Interval>,
) -> F::Output {
    let Some(interval) = watchdog.as_mut() else {
        return fut.await;
    };
    tokio::pin!(fut);
    loop {
        tokio::select! {
            out = &mut fut => return out,
            _ = interval.tick() => notifier.watchdog(),
        }
    }
}

/// Watches the directory, not the file: editors and Kubernetes ConfigMaps replace files by rename.
fn watch(path: &Path, tx: mpsc::Sender<()>) -> notify::Result<notify::RecommendedWatcher> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let name = path.file_name().map(|n| n.to_os_string());
    let mut w = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        let Ok(ev) = ev else { return };
        if matches!(ev.kind, notify::EventKind::Access(_)) {
            return;
        }
        let relevant = ev.paths.iter().any(|p| {
            p.file_name().map(|n| n.to_os_string()) == name
                || p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("..data"))
        });
        if relevant {
            let _ = tx.try_send(());
        }
    })?;
    w.watch(&dir, RecursiveMode::NonRecursive)?;
    Ok(w)
}

/// Sets up Sluice's own logs on stderr. Under systemd (stderr is the journal stream) text logs
/// carry `<N>` priority prefixes and no timestamps or colours: journald adds its own.
pub fn init_logging(level: &str, format: config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        config::LogFormat::Json => builder.json().try_init(),
        config::LogFormat::Text if crate::systemd::stderr_is_journal() => builder
            .with_ansi(false)
            .event_format(JournalFormat(
                tracing_subscriber::fmt::format()
                    .without_time()
                    .with_ansi(false),
            ))
            .try_init(),
        config::LogFormat::Text => builder.try_init(),
    };
}

/// Prefixes each line with its syslog priority (`<3>` error … `<7>` debug), which journald
/// reads from a service's stderr stream (`sd-daemon(3)`).
struct JournalFormat<F>(F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for JournalFormat<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let priority = match *event.metadata().level() {
            tracing::Level::ERROR => 3,
            tracing::Level::WARN => 4,
            tracing::Level::INFO => 6,
            _ => 7,
        };
        write!(writer, "<{priority}>")?;
        self.0.format_event(ctx, writer, event)
    }
}
