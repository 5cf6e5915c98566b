//! Readiness: whether the agent as a whole is up, for `GET /ready` (Kubernetes readiness probes,
//! load balancers).
//!
//! The agent is ready when its start-up is over, it is not stopping, and no registered component
//! is still starting or has failed. Components register when the topology starts them and
//! unregister when it retires them; a component reports a failure through its [`ComponentHealth`]
//! (an output that cannot write) and clears it when it recovers. That is the whole protocol: one
//! lock, touched on state changes only, never per record.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Where the agent is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the first topology is running.
    Starting,
    Running,
    /// After SIGTERM/SIGINT, while draining.
    Stopping,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
        }
    }
}

/// One component's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentState {
    Starting,
    Ready,
    /// Not able to do its work; the reason is shown by `/ready`.
    Failed(String),
}

#[derive(Debug)]
struct Entry {
    kind: &'static str,
    name: Arc<str>,
    state: ComponentState,
}

/// The outcome of the last configuration reload, for the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadOutcome {
    pub at: chrono::DateTime<chrono::Utc>,
    /// None when the new configuration runs; otherwise why the old one stays.
    pub error: Option<String>,
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    last_reload: Option<ReloadOutcome>,
    /// Keyed by registration, not by name: during a reload a component and its replacement of the
    /// same name both exist for a moment, and undoing a failed reload removes only the new one.
    components: BTreeMap<u64, Entry>,
}

/// The agent's readiness registry. Cheap to clone; all clones share the state.
#[derive(Debug, Clone)]
pub struct Readiness {
    inner: Arc<Mutex<Inner>>,
    next_id: Arc<AtomicU64>,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness {
            inner: Arc::new(Mutex::new(Inner {
                phase: Phase::Starting,
                last_reload: None,
                components: BTreeMap::new(),
            })),
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }
}

/// What `/ready` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub ready: bool,
    pub phase: Phase,
    /// Why it is not ready; empty when ready.
    pub reasons: Vec<String>,
    /// Every registered component as `kind name` and its state.
    pub components: Vec<(String, ComponentState)>,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set_phase(&self, phase: Phase) {
        self.lock().phase = phase;
    }

    /// Records a reload's outcome (`error`: why the old configuration stays).
    pub fn reloaded(&self, error: Option<String>) {
        self.lock().last_reload = Some(ReloadOutcome {
            at: chrono::Utc::now(),
            error,
        });
    }

    pub fn last_reload(&self) -> Option<ReloadOutcome> {
        self.lock().last_reload.clone()
    }

    /// Registers a component in state `Starting` and returns its handle.
    pub fn register(&self, kind: &'static str, name: &str) -> ComponentHealth {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().components.insert(
            id,
            Entry {
                kind,
                name: Arc::from(name),
                state: ComponentState::Starting,
            },
        );
        ComponentHealth {
            readiness: self.clone(),
            id,
            label: Arc::from(format!("{kind} {name}")),
        }
    }

    /// The current state, with a reason for every component that is not ready.
    pub fn report(&self) -> Report {
        let inner = self.lock();
        let mut reasons = Vec::new();
        match inner.phase {
            Phase::Starting => reasons.push("the agent is starting".to_string()),
            Phase::Stopping => reasons.push("the agent is shutting down".to_string()),
            Phase::Running => {}
        }
        let mut components = Vec::with_capacity(inner.components.len());
        for e in inner.components.values() {
            let (kind, name) = (e.kind, &e.name);
            match &e.state {
                ComponentState::Starting => reasons.push(format!("{kind} `{name}` is starting")),
                ComponentState::Failed(why) => reasons.push(format!("{kind} `{name}`: {why}")),
                ComponentState::Ready => {}
            }
            components.push((format!("{kind} {name}"), e.state.clone()));
        }
        components.sort_by(|a, b| a.0.cmp(&b.0));
        Report {
            ready: reasons.is_empty(),
            phase: inner.phase,
            reasons,
            components,
        }
    }

    fn update(&self, id: u64, state: Option<ComponentState>) {
        let mut inner = self.lock();
        match state {
            Some(s) => {
                if let Some(e) = inner.components.get_mut(&id) {
                    e.state = s;
                }
            }
            None => {
                inner.components.remove(&id);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The maps stay consistent even if a holder panicked; keep answering probes.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One component's handle on the registry. Updates after the registration was removed are
/// ignored.
#[derive(Clone)]
pub struct ComponentHealth {
    readiness: Readiness,
    id: u64,
    label: Arc<str>,
}

impl fmt::Debug for ComponentHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ComponentHealth({})", self.label)
    }
}

impl ComponentHealth {
    /// A handle attached to nothing, for components run outside a topology (tests, the CLI).
    pub fn detached(kind: &'static str, name: &str) -> Self {
        Readiness::new().register(kind, name)
    }

    pub fn ready(&self) {
        self.set(ComponentState::Ready);
    }

    /// Marks the component as unable to work, with a reason for `/ready` (no secrets in it).
    pub fn failed(&self, reason: impl fmt::Display) {
        self.set(ComponentState::Failed(reason.to_string()));
    }

    /// Removes the component (it was retired on reload).
    pub fn unregister(&self) {
        self.readiness.update(self.id, None);
    }

    fn set(&self, state: ComponentState) {
        self.readiness.update(self.id, Some(state));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_running_and_every_component_is_ready() {
        let r = Readiness::new();
        assert!(!r.report().ready);
        let out = r.register("output", "local");
        r.set_phase(Phase::Running);
        let rep = r.report();
        assert!(!rep.ready);
        assert_eq!(rep.reasons, vec!["output `local` is starting".to_string()]);
        out.ready();
        assert!(r.report().ready);
        out.failed("write failing: disk full");
        assert_eq!(
            r.report().reasons,
            vec!["output `local`: write failing: disk full".to_string()]
        );
        out.ready();
        r.set_phase(Phase::Stopping);
        assert_eq!(
            r.report().reasons,
            vec!["the agent is shutting down".to_string()]
        );
    }

    #[test]
    fn a_replacement_and_its_predecessor_are_separate() {
        let r = Readiness::new();
        r.set_phase(Phase::Running);
        let old = r.register("output", "x");
        old.ready();
        let new = r.register("output", "x");
        assert!(!r.report().ready);
        // A failed reload removes only the replacement.
        new.unregister();
        new.failed("ignored once unregistered");
        assert!(r.report().ready, "{:?}", r.report());
        old.unregister();
        assert!(r.report().components.is_empty());
    }
}
