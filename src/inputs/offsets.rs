//! Positions that only move over delivered data: a byte offset for files, a record id for evtx.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::pipeline::ack::AckSink;

/// Delivery state of one source's batches; turns out-of-order acknowledgements into a safe position.
#[derive(Debug, Default)]
pub struct OffsetAcks {
    state: Mutex<AckState>,
}

#[derive(Debug, Default)]
struct AckState {
    /// seq → (offset after the batch, fate once known).
    pending: BTreeMap<u64, (u64, Option<bool>)>,
    /// Everything before this offset is delivered.
    committed: u64,
    /// A batch failed: stay at `committed` so it is read again after a restart.
    stalled: bool,
}

impl OffsetAcks {
    pub fn new(start: u64) -> Self {
        OffsetAcks {
            state: Mutex::new(AckState {
                committed: start,
                ..Default::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AckState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn register(&self, seq: u64, end: u64) {
        self.lock().pending.insert(seq, (end, None));
    }

    pub fn committed(&self) -> u64 {
        self.lock().committed
    }

    pub fn in_flight(&self) -> usize {
        let s = self.lock();
        s.pending.values().filter(|(_, f)| f.is_none()).count()
    }

    /// Moves the offset forward without a batch (skipped bytes, a reset after truncation).
    pub fn reset(&self, offset: u64) {
        let mut s = self.lock();
        if s.pending.is_empty() {
            s.committed = offset;
        }
    }
}

impl AckSink for OffsetAcks {
    fn complete(&self, seq: u64, delivered: bool) {
        let mut s = self.lock();
        if let Some(entry) = s.pending.get_mut(&seq) {
            entry.1 = Some(delivered);
        }
        while let Some((&first, &(end, fate))) = s.pending.iter().next() {
            match fate {
                Some(true) if !s.stalled => {
                    s.committed = end;
                    s.pending.remove(&first);
                }
                Some(false) => {
                    s.stalled = true;
                    break;
                }
                _ => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_advance_only_over_a_delivered_prefix() {
        let a = OffsetAcks::new(0);
        a.register(0, 10);
        a.register(1, 20);
        a.register(2, 30);
        a.complete(1, true);
        assert_eq!(a.committed(), 0);
        a.complete(0, true);
        assert_eq!(a.committed(), 20);
        a.register(3, 40);
        a.complete(3, true);
        a.complete(2, false);
        assert_eq!(a.committed(), 20, "a failed batch stops the offset");
    }
}
