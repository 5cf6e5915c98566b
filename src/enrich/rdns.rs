//! Reverse DNS: `source.ip` → `source.domain`, through the system resolver (`getnameinfo`).
//!
//! Lookups never run on the processor threads. A record whose address is not in the cache passes
//! through without a name and queues a lookup for the resolver threads; records after the answer get
//! the name from the cache (LRU, with a TTL for names and a shorter one for failures). A lookup not
//! answered within `timeout` counts as a failure. When the queue is full the lookup is skipped and
//! counted in `sluice_enrich_rdns_skipped_total`; a later record asks again.

use std::borrow::Cow;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;

use super::{is_public, parent_of, Tally};
use crate::config::RdnsConfig;
use crate::doc::{Doc, Key, Value};
use crate::metrics::{Counter, Metrics};

#[derive(Debug, Clone)]
enum State {
    Pending(Instant),
    Name(Arc<str>),
    Failed,
}

#[derive(Debug, Clone)]
struct Entry {
    state: State,
    until: Instant,
}

struct Shared {
    cache: Mutex<LruCache<IpAddr, Entry>>,
    ttl: Duration,
    negative_ttl: Duration,
    timeout: Duration,
}

impl Shared {
    fn cache(&self) -> std::sync::MutexGuard<'_, LruCache<IpAddr, Entry>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The cache and the resolver threads (which end when this is dropped).
pub struct Rdns {
    shared: Arc<Shared>,
    queue: SyncSender<IpAddr>,
    skipped: Counter,
    include_private: bool,
}

impl Rdns {
    pub fn start(cfg: &RdnsConfig, metrics: &Metrics) -> Rdns {
        let shared = Arc::new(Shared {
            cache: Mutex::new(LruCache::new(
                NonZeroUsize::new(cfg.cache_size).unwrap_or(NonZeroUsize::MIN),
            )),
            ttl: cfg.ttl,
            negative_ttl: cfg.negative_ttl,
            timeout: cfg.timeout,
        });
        let (tx, rx) = sync_channel(cfg.queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..cfg.workers.max(1) {
            let shared = Arc::clone(&shared);
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("sluice-rdns-{i}"))
                .spawn(move || resolve_loop(&rx, &shared));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a reverse DNS thread");
            }
        }
        Rdns {
            shared,
            queue: tx,
            skipped: metrics.counter(
                "sluice_enrich_rdns_skipped_total",
                "Reverse DNS lookups not queued because the queue was full (the record passes unnamed)",
                &[],
            ),
            include_private: cfg.include_private,
        }
    }

    /// Adds `<parent>.domain` from the cache, or queues a lookup and leaves the record as it is.
    pub(crate) fn enrich(
        &self,
        value: &str,
        field: &str,
        tally: &mut Tally,
        doc: &Doc,
        out: &mut Vec<(Key, Value)>,
    ) {
        let Ok(ip) = value.trim().parse::<IpAddr>() else {
            return;
        };
        if !self.include_private && !is_public(ip) {
            return;
        }
        let prefix = parent_of(field);
        let key: Key = match prefix {
            "source" => Cow::Borrowed("source.domain"),
            "destination" => Cow::Borrowed("destination.domain"),
            "client" => Cow::Borrowed("client.domain"),
            "server" => Cow::Borrowed("server.domain"),
            p => Cow::Owned(format!("{p}.domain")),
        };
        if doc.contains(&key) {
            return;
        }
        tally.lookups += 1;
        if let Some(name) = self.cached(ip) {
            tally.hits += 1;
            out.push((key, Value::from(name.to_string())));
        }
    }

    /// The cached name; on a miss (or an expired entry) a lookup is queued.
    fn cached(&self, ip: IpAddr) -> Option<Arc<str>> {
        let now = Instant::now();
        let mut cache = self.shared.cache();
        if let Some(e) = cache.get_mut(&ip) {
            match &e.state {
                State::Name(n) if e.until > now => return Some(Arc::clone(n)),
                State::Failed if e.until > now => return None,
                State::Pending(since) if now.duration_since(*since) < self.shared.timeout => {
                    return None
                }
                State::Pending(_) => {
                    // The resolver did not answer in time: a failure, asked again later.
                    *e = Entry {
                        state: State::Failed,
                        until: now + self.shared.negative_ttl,
                    };
                    return None;
                }
                _ => {}
            }
        }
        cache.put(
            ip,
            Entry {
                state: State::Pending(now),
                until: now + self.shared.timeout,
            },
        );
        match self.queue.try_send(ip) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                cache.pop(&ip);
                self.skipped.inc();
            }
        }
        None
    }
}

fn resolve_loop(rx: &Mutex<Receiver<IpAddr>>, shared: &Shared) {
    loop {
        let next = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(ip) = next else { return };
        let started = Instant::now();
        let name = dns_lookup::lookup_addr(&ip)
            .ok()
            .map(|n| n.trim_end_matches('.').to_owned())
            .filter(|n| !n.is_empty() && n.parse::<IpAddr>().is_err());
        let now = Instant::now();
        let entry = match name {
            Some(n) if now.duration_since(started) <= shared.timeout => Entry {
                state: State::Name(Arc::from(n)),
                until: now + shared.ttl,
            },
            _ => Entry {
                state: State::Failed,
                until: now + shared.negative_ttl,
            },
        };
        shared.cache().put(ip, entry);
    }
}
