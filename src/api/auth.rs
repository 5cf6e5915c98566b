//! API keys and the per-key token bucket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::Request;
use axum::http::header;

use super::{ApiError, Settings};
use crate::config::{ApiRateLimit, Secret};

/// Buckets kept before idle (full) ones are forgotten; bounds memory when limiting by address.
const MAX_BUCKETS: usize = 10_000;

/// Checks the key (on protected routes, when keys are configured) and then the rate limit (on
/// `/v1/*`). The presented key is only compared, never logged or echoed.
pub(super) fn check(
    settings: &Settings,
    req: &Request,
    peer: IpAddr,
    protected: bool,
) -> Result<(), ApiError> {
    if !protected {
        return Ok(());
    }
    let who = if settings.keys.is_empty() {
        Client::Addr(peer)
    } else {
        let presented = presented_key(req).ok_or(ApiError::MissingKey)?;
        Client::Key(find_key(&settings.keys, presented).ok_or(ApiError::InvalidKey)?)
    };
    let limited = req.uri().path().starts_with("/v1/");
    match &settings.limiter {
        Some(l) if limited => l.take(who, Instant::now()),
        _ => Ok(()),
    }
}

/// `Authorization: Bearer <key>` or `X-API-Key: <key>`.
fn presented_key(req: &Request) -> Option<&[u8]> {
    let headers = req.headers();
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.as_bytes();
        let scheme = b"bearer ";
        if v.len() > scheme.len() && v[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return Some(v[scheme.len()..].trim_ascii());
        }
    }
    headers.get("x-api-key").map(|v| v.as_bytes().trim_ascii())
}

/// The index of the matching key. Every key is compared, each in constant time, so the time
/// taken says nothing about which key or how much of it matched.
fn find_key(keys: &[Secret], presented: &[u8]) -> Option<usize> {
    let mut found = None;
    for (i, k) in keys.iter().enumerate() {
        if k.matches(presented) && found.is_none() {
            found = Some(i);
        }
    }
    found
}

/// Who a bucket belongs to: a configured key (by position) or, with no keys, a client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Client {
    Key(usize),
    Addr(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token bucket per client: `requests_per_second` tokens a second, at most `burst` saved up.
#[derive(Debug)]
pub(super) struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<Client, Bucket>>,
}

impl RateLimiter {
    pub(super) fn new(cfg: &ApiRateLimit) -> Self {
        let burst = cfg
            .burst
            .map_or_else(|| cfg.requests_per_second.ceil().max(1.0), f64::from);
        RateLimiter {
            rate: cfg.requests_per_second,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token, or says how many whole seconds until one is there (`Retry-After`).
    pub(super) fn take(&self, who: Client, now: Instant) -> Result<(), ApiError> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&who) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst
            });
        }
        let b = buckets.entry(who).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - b.tokens) / self.rate).ceil().max(1.0);
            Err(ApiError::RateLimited(wait as u64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_a_burst_then_refills_at_the_rate() {
        let l = RateLimiter::new(&ApiRateLimit {
            requests_per_second: 2.0,
            burst: Some(3),
        });
        let t0 = Instant::now();
        let me = Client::Key(0);
        for _ in 0..3 {
            assert!(l.take(me, t0).is_ok());
        }
        match l.take(me, t0) {
            Err(ApiError::RateLimited(s)) => assert_eq!(s, 1),
            other => panic!("{other:?}"),
        }
        // Another client has its own bucket.
        assert!(l.take(Client::Key(1), t0).is_ok());
        assert!(l.take(me, t0 + Duration::from_millis(500)).is_ok());
        assert!(l.take(me, t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn slow_rates_ask_for_a_longer_wait() {
        let l = RateLimiter::new(&ApiRateLimit {
            requests_per_second: 0.1,
            burst: None,
        });
        let t0 = Instant::now();
        assert!(l.take(Client::Key(0), t0).is_ok());
        match l.take(Client::Key(0), t0) {
            Err(ApiError::RateLimited(s)) => assert_eq!(s, 10),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keys_match_whole_and_by_position() {
        let keys = vec![Secret::new("alpha"), Secret::new("beta")];
        assert_eq!(find_key(&keys, b"beta"), Some(1));
        assert_eq!(find_key(&keys, b"bet"), None);
        assert_eq!(find_key(&keys, b""), None);
    }
}
