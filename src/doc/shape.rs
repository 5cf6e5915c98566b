//! The identity of a document's key list, for caches that depend only on the keys.

use super::{Key, Value};

/// The identity of a key list whose keys are all static strings, from their addresses and
/// lengths: a static string's address names its text (nothing else can ever be there), so two
/// lists with the same keys in the same order have the same shape without reading a key. Caches
/// that depend only on the key list (serialization plans, where the enrichers' fields are) are
/// keyed by it, where each compared the list key by key (about 8 instructions a key) and
/// serialization also hashed key text (15). Two independent 64-bit lanes: distinct lists
/// sharing a shape would be written with each other's layout, and 2^-128 makes that a non-event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyShape(u64, u64);

impl KeyShape {
    /// A number to pick a cache set with.
    pub fn bits(self) -> u64 {
        self.0
    }
}

/// [`KeyShape`] folded over a document's first `n` keys, so that asking again after more
/// fields were added (enrichment, then serialization) folds only the new keys.
#[derive(Debug, Clone, Copy)]
pub(super) struct ShapeFold {
    n: usize,
    a: u64,
    b: u64,
    /// A key built at run time was seen: the list has no shape.
    built: bool,
}

impl Default for ShapeFold {
    fn default() -> Self {
        ShapeFold {
            n: 0,
            a: 0,
            b: 0x243F_6A88_85A3_08D3,
            built: false,
        }
    }
}

impl ShapeFold {
    #[inline]
    pub(super) fn extend(mut self, fields: &[(Key, Value)]) -> Self {
        for (k, _) in fields.get(self.n..).unwrap_or_default() {
            let Key::Borrowed(s) = k else {
                self.built = true;
                break;
            };
            let x = s.as_ptr() as u64 ^ (s.len() as u64).rotate_right(16);
            self.a = (self.a ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            self.a ^= self.a >> 29;
            self.b = (self.b.rotate_left(23) ^ x).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        }
        self.n = fields.len();
        self
    }

    pub(super) fn shape(self) -> Option<KeyShape> {
        let (a, b) = (self.a ^ self.n as u64, self.b);
        (!self.built).then_some(KeyShape(a ^ (a >> 32), b ^ (b >> 31)))
    }
}
