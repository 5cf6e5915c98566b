//! Retries shared by every output that talks to a network service: exponential backoff with full
//! jitter (a random wait between zero and the doubled bound, so that many agents failing together
//! do not retry together), bounded by `max_retries` and `max_elapsed`, and a server's
//! `Retry-After` honoured. What is transient is decided here too, so outputs agree: timeouts,
//! connection errors, 408, 429 and 5xx.

use std::time::{Duration, Instant, SystemTime};

use crate::config::RetryConfig;
use crate::metrics::Counter;

/// A `Retry-After` longer than this is read as this: a misconfigured server must not park an
/// output for a day.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// Why an attempt failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Failure {
    /// The service may accept the same request later.
    #[error("{error}")]
    Transient {
        error: String,
        /// What the server asked for in `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// The same request will fail again (bad credentials, a rejected record).
    #[error("{0}")]
    Permanent(String),
}

impl Failure {
    pub fn transient(error: impl Into<String>) -> Self {
        Failure::Transient {
            error: error.into(),
            retry_after: None,
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, Failure::Transient { .. })
    }
}

/// Whether an HTTP status is worth retrying.
pub fn is_transient_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

/// Reads a `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    let d = if let Ok(secs) = v.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at: SystemTime = chrono::DateTime::parse_from_rfc2822(v).ok()?.into();
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(d.min(MAX_RETRY_AFTER))
}

/// One delivery's retry budget. Ask [`Backoff::next_delay`] after each failed attempt.
#[derive(Debug)]
pub struct Backoff {
    cfg: RetryConfig,
    started: Instant,
    retries: u32,
    rng: fastrand::Rng,
    counter: Counter,
}

impl Backoff {
    /// `counter` is the output's `sluice_output_retries_total`.
    pub fn new(cfg: &RetryConfig, counter: Counter) -> Self {
        Backoff {
            cfg: cfg.clone(),
            started: Instant::now(),
            retries: 0,
            rng: fastrand::Rng::new(),
            counter,
        }
    }

    /// Attempts made so far, the first included, once a failure has been reported.
    pub fn attempts(&self) -> u32 {
        self.retries + 1
    }

    /// The wait before the next attempt, or `None` when the budget is spent. Counts the retry.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        if self.cfg.max_retries.is_some_and(|m| self.retries >= m) {
            return None;
        }
        let d = self.jittered().max(retry_after.unwrap_or(Duration::ZERO));
        if !self.cfg.max_elapsed.is_zero() && self.started.elapsed() + d > self.cfg.max_elapsed {
            return None;
        }
        self.retries += 1;
        self.counter.inc();
        Some(d)
    }

    /// Full jitter: uniform in [0, min(max_backoff, initial · 2^retries)].
    fn jittered(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.retries.min(31)).unwrap_or(u32::MAX);
        let bound = self
            .cfg
            .initial_backoff
            .saturating_mul(factor)
            .min(self.cfg.max_backoff);
        let micros = u64::try_from(bound.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(self.rng.u64(0..=micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max_retries: Option<u32>, max_elapsed: Duration) -> RetryConfig {
        RetryConfig {
            max_retries,
            max_elapsed,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        }
    }

    #[test]
    fn jitter_stays_under_the_doubling_bound_and_the_cap() {
        let c = Counter::default();
        let mut b = Backoff::new(&cfg(None, Duration::ZERO), c.clone());
        for i in 0..20u32 {
            let d = b.next_delay(None).unwrap();
            let bound =
                Duration::from_millis(100 * 2u64.pow(i.min(10))).min(Duration::from_secs(1));
            assert!(d <= bound, "retry {i}: {d:?} > {bound:?}");
        }
        assert_eq!(c.get(), 20);
        assert_eq!(b.attempts(), 21);
    }

    #[test]
    fn max_retries_and_max_elapsed_end_the_budget() {
        let mut b = Backoff::new(&cfg(Some(2), Duration::ZERO), Counter::default());
        assert!(b.next_delay(None).is_some());
        assert!(b.next_delay(None).is_some());
        assert!(b.next_delay(None).is_none());
        assert_eq!(b.attempts(), 3);
        // A Retry-After beyond max_elapsed ends it at once.
        let mut b = Backoff::new(&cfg(None, Duration::from_secs(5)), Counter::default());
        assert!(b.next_delay(Some(Duration::from_secs(10))).is_none());
        let d = b.next_delay(Some(Duration::from_secs(2))).unwrap();
        assert!(d >= Duration::from_secs(2) && d < Duration::from_secs(5));
    }

    #[test]
    fn retry_after_is_honoured_as_a_floor() {
        let mut b = Backoff::new(&cfg(None, Duration::ZERO), Counter::default());
        assert!(b.next_delay(Some(Duration::from_secs(7))).unwrap() >= Duration::from_secs(7));
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        // RFC 9110's example date, 1994-11-06T08:49:37Z, is 784111777 s after the epoch.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:40:37 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("99999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn transient_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_transient_status(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 413] {
            assert!(!is_transient_status(s), "{s}");
        }
    }
}
