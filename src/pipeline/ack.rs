//! End-to-end acknowledgement: an input learns that a batch is delivered only when every output it
//! was routed to has explicitly accepted it.
//!
//! A batch carries an `AckRef`; fan-out clones it once per output. Each clone must be `ack()`ed; a
//! clone dropped without `ack()` (an output gave up, Sluice shut down before delivery) marks the
//! batch as failed, so a lost batch can never look delivered. When the last clone goes, the input's
//! `AckSink` hears the batch's fate exactly once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Receives the fate of each batch an input sent.
pub trait AckSink: Send + Sync + std::fmt::Debug {
    /// `seq` is the input's own batch number; `delivered` is false if any output failed it.
    fn complete(&self, seq: u64, delivered: bool);
}

#[derive(Debug)]
struct Shared {
    seq: u64,
    failed: AtomicBool,
    sink: Option<Arc<dyn AckSink>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(sink) = &self.sink {
            sink.complete(self.seq, !self.failed.load(Ordering::Acquire));
        }
    }
}

/// One holder's share of a batch's acknowledgement.
#[derive(Debug)]
pub struct AckRef {
    shared: Arc<Shared>,
    acked: bool,
}

impl AckRef {
    pub fn new(seq: u64, sink: Arc<dyn AckSink>) -> Self {
        AckRef {
            shared: Arc::new(Shared {
                seq,
                failed: AtomicBool::new(false),
                sink: Some(sink),
            }),
            acked: false,
        }
    }

    /// For sources that have nothing to acknowledge to (the one-shot CLI, stdin).
    pub fn none() -> Self {
        AckRef {
            shared: Arc::new(Shared {
                seq: 0,
                failed: AtomicBool::new(false),
                sink: None,
            }),
            acked: false,
        }
    }

    /// Another holder: fan-out to one more output.
    pub fn share(&self) -> Self {
        AckRef {
            shared: Arc::clone(&self.shared),
            acked: false,
        }
    }

    /// This holder accepted the records (written, indexed, or parked in the dead-letter queue).
    pub fn ack(mut self) {
        self.acked = true;
    }

    /// This holder could not accept them; the input must not advance past this batch.
    pub fn fail(self) {
        // Dropping without `acked` marks the failure.
    }
}

impl Drop for AckRef {
    fn drop(&mut self) {
        if !self.acked {
            self.shared.failed.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    struct Log(Mutex<Vec<(u64, bool)>>);
    impl AckSink for Log {
        fn complete(&self, seq: u64, delivered: bool) {
            self.0.lock().unwrap().push((seq, delivered));
        }
    }

    #[test]
    fn delivered_only_when_every_holder_acks() {
        let log = Arc::new(Log::default());
        let a = AckRef::new(7, log.clone());
        let b = a.share();
        a.ack();
        assert!(log.0.lock().unwrap().is_empty());
        b.ack();
        assert_eq!(*log.0.lock().unwrap(), vec![(7, true)]);
    }

    #[test]
    fn a_dropped_holder_fails_the_batch() {
        let log = Arc::new(Log::default());
        let a = AckRef::new(1, log.clone());
        let b = a.share();
        a.ack();
        drop(b);
        assert_eq!(*log.0.lock().unwrap(), vec![(1, false)]);
    }
}
