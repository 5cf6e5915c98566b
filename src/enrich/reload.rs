//! Hot reload of enrichment data: every data file is watched; a changed one is loaded on a
//! background thread and swapped in whole; a broken one keeps the previous table, is logged and is
//! counted in `sluice_enrich_reloads_total{result="failure"}`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::{EnrichError, LoadReport};
use crate::config::{AssetConfig, GeoipConfig, IocConfig, UserConfig};
use crate::metrics::{Counter, Gauge, Metrics};

/// An enricher configuration's data files and input fields.
pub trait Sourced {
    fn paths(&self) -> Vec<PathBuf>;
    fn fields(&self) -> &[String];
}

impl Sourced for GeoipConfig {
    fn paths(&self) -> Vec<PathBuf> {
        self.databases.iter().map(|d| d.path.clone()).collect()
    }
    fn fields(&self) -> &[String] {
        &self.fields
    }
}

macro_rules! sourced_files {
    ($($t:ty),*) => {$(
        impl Sourced for $t {
            fn paths(&self) -> Vec<PathBuf> {
                self.files.clone()
            }
            fn fields(&self) -> &[String] {
                &self.fields
            }
        }
    )*};
}
sourced_files!(IocConfig, AssetConfig, UserConfig);

type ReloadFn = Box<dyn Fn() -> Result<LoadReport, EnrichError> + Send + Sync>;

/// How one enricher reloads, and its reload metrics.
pub struct Reloader {
    name: &'static str,
    paths: Vec<PathBuf>,
    reload: Option<ReloadFn>,
    ok: Counter,
    failed: Counter,
    skipped: Counter,
    entries: Gauge,
}

impl Reloader {
    pub fn new(metrics: &Metrics, name: &'static str, paths: Vec<PathBuf>) -> Self {
        let reloads = |result| {
            metrics.counter(
                "sluice_enrich_reloads_total",
                "Enrichment data reloads after a file changed, per enricher and result",
                &[("enricher", name), ("result", result)],
            )
        };
        Reloader {
            name,
            paths,
            reload: None,
            ok: reloads("success"),
            failed: reloads("failure"),
            skipped: metrics.counter(
                "sluice_enrich_skipped_entries_total",
                "Malformed lines or entries of enrichment files, skipped when loading",
                &[("enricher", name)],
            ),
            entries: metrics.gauge(
                "sluice_enrich_entries",
                "Entries in the enricher's current table",
                &[("enricher", name)],
            ),
        }
    }

    pub fn with(mut self, f: ReloadFn) -> Self {
        self.reload = Some(f);
        self
    }

    /// Records what a (re)load found.
    pub fn loaded(&self, r: &LoadReport) {
        self.entries
            .set(i64::try_from(r.entries).unwrap_or(i64::MAX));
        self.skipped.add(r.skipped as u64);
        if r.skipped > 0 {
            tracing::warn!(
                enricher = self.name,
                skipped = r.skipped,
                "entries skipped while loading"
            );
        }
    }

    fn run(&self) {
        let Some(f) = &self.reload else { return };
        let started = std::time::Instant::now();
        match f() {
            Ok(r) => {
                self.ok.inc();
                self.loaded(&r);
                tracing::info!(
                    enricher = self.name,
                    entries = r.entries,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "enrichment data reloaded"
                );
            }
            Err(e) => {
                self.failed.inc();
                tracing::error!(enricher = self.name, error = %e, "enrichment data reload failed; the previous table stays");
            }
        }
    }

    /// Whether a changed path is one of this enricher's files.
    fn concerns(&self, changed: &Path) -> bool {
        let Some(name) = changed.file_name() else {
            return false;
        };
        // Kubernetes ConfigMaps swap a `..data` link: every file may have changed.
        name.to_string_lossy().starts_with("..data")
            || self
                .paths
                .iter()
                .any(|p| p.file_name() == Some(name) && same_dir(p, changed))
    }
}

fn dir_of(p: &Path) -> PathBuf {
    let d = p.parent().filter(|d| !d.as_os_str().is_empty());
    let d = d.unwrap_or(Path::new("."));
    std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf())
}

fn same_dir(configured: &Path, changed: &Path) -> bool {
    dir_of(configured) == dir_of(changed)
}

/// The watcher and its reload thread; dropping it stops both.
pub struct Watch {
    _watcher: notify::RecommendedWatcher,
}

/// Quiet time after a change before loading: writers often write a file in several steps.
const SETTLE: Duration = Duration::from_millis(200);

impl Watch {
    pub fn start(reloaders: Vec<Reloader>) -> Result<Watch, EnrichError> {
        let reloaders = Arc::new(reloaders);
        let pending = Arc::new(Mutex::new(BTreeSet::new()));
        // One wake-up is enough: the set says what to reload.
        let (tx, rx) = sync_channel::<()>(1);
        let dirs: BTreeSet<PathBuf> = reloaders
            .iter()
            .flat_map(|r| r.paths.iter().map(|p| dir_of(p)))
            .collect();
        let mut watcher = {
            let reloaders = Arc::clone(&reloaders);
            let pending = Arc::clone(&pending);
            notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
                on_event(ev, &reloaders, &pending, &tx)
            })
            .map_err(|e| EnrichError::Config(format!("cannot watch enrichment files: {e}")))?
        };
        for d in &dirs {
            watcher
                .watch(d, RecursiveMode::NonRecursive)
                .map_err(|e| EnrichError::Config(format!("cannot watch {}: {e}", d.display())))?;
        }
        std::thread::Builder::new()
            .name("sluice-enrich-reload".into())
            .spawn(move || reload_loop(rx, &reloaders, &pending))
            .map_err(|e| EnrichError::Config(format!("cannot start the reload thread: {e}")))?;
        Ok(Watch { _watcher: watcher })
    }
}

fn on_event(
    ev: notify::Result<notify::Event>,
    reloaders: &[Reloader],
    pending: &Mutex<BTreeSet<usize>>,
    tx: &SyncSender<()>,
) {
    let Ok(ev) = ev else { return };
    if matches!(ev.kind, notify::EventKind::Access(_)) {
        return;
    }
    let mut any = false;
    for (i, r) in reloaders.iter().enumerate() {
        if ev.paths.iter().any(|p| r.concerns(p)) {
            pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(i);
            any = true;
        }
    }
    if any {
        // Full means a wake-up is already pending, which will see this change too.
        let _ = tx.try_send(());
    }
}

/// Ends when the watcher (which holds the sender) is dropped.
fn reload_loop(rx: Receiver<()>, reloaders: &[Reloader], pending: &Mutex<BTreeSet<usize>>) {
    while rx.recv().is_ok() {
        std::thread::sleep(SETTLE);
        while rx.try_recv().is_ok() {}
        let todo = std::mem::take(&mut *pending.lock().unwrap_or_else(PoisonError::into_inner));
        for i in todo {
            if let Some(r) = reloaders.get(i) {
                r.run();
            }
        }
    }
}
