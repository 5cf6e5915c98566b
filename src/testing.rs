//! Helpers shared by the unit tests.

/// xorshift64: reproducible pseudo-random test inputs without a dependency. The same seed gives
/// the same sequence, so a failing case can be replayed.
pub(crate) struct XorShift(pub u64);

impl XorShift {
    /// The next state, which is also the value.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// The next value below `n` (not 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
