//! Sixteen bytes at a time: bit masks of the bytes that matter to a scanner.
//!
//! The hot loops (JSON string escaping, the PAN-OS field splitter) look for a few byte values in
//! short runs. `memchr` pays a call and set-up per search, which costs more than the search on a
//! 5-byte field; a byte loop costs a compare and branch per byte. One 16-byte compare gives a bit
//! per byte instead, and the caller walks the set bits, so a chunk with three commas costs one
//! compare and three bit steps. On x86_64 the compares are SSE2 (always present there); elsewhere
//! a plain loop gives the same masks.
//!
//! One of three places allowed `unsafe` (the crate denies it; the others are `Doc::clear`'s
//! `set_len(0)` and the GeoIP database's memory map): two SSE2 loads, each of exactly the 16
//! bytes of an array reference. The test below checks both masks against a byte loop for
//! every byte value at every position.

/// The width of a chunk.
pub const CHUNK: usize = 16;

/// The chunk of `bytes` at `at`: 16 bytes, or the last 0–15 padded with `pad` (a byte the caller's
/// mask never flags), and how many of them are real.
#[inline(always)]
pub fn chunk(bytes: &[u8], at: usize, pad: u8) -> ([u8; CHUNK], usize) {
    match bytes.get(at..at + CHUNK) {
        Some(c) => {
            let mut w = [0u8; CHUNK];
            w.copy_from_slice(c);
            (w, CHUNK)
        }
        None => {
            let rest = bytes.get(at..).unwrap_or(&[]);
            (short(rest, pad), rest.len())
        }
    }
}

/// The first 16 bytes of `b` (all of it when shorter, padded with `pad`), built in registers:
/// two overlapping 8-, 4- or 1-byte loads shifted into place, instead of a `memcpy` call of a
/// variable length, which costs more than the scan of a short field. Writing the pieces into a
/// stack array and reading it back as one 16-byte vector would stall: the processor cannot
/// forward several narrower stores to one wider load (measured: the load after such a copy took
/// 29 % of `write_json_str`'s samples).
#[inline(always)]
pub fn short(b: &[u8], pad: u8) -> [u8; CHUNK] {
    let n = b.len().min(CHUNK);
    let v: u128 = if n >= 8 {
        let lo = u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
        let hi = u64::from_le_bytes(b[n - 8..n].try_into().unwrap_or([0; 8]));
        // The two reads overlap on the same bytes at the same positions, so OR joins them.
        u128::from(lo) | u128::from(hi) << ((n - 8) * 8)
    } else if n >= 4 {
        let lo = u32::from_le_bytes(b[..4].try_into().unwrap_or([0; 4]));
        let hi = u32::from_le_bytes(b[n - 4..n].try_into().unwrap_or([0; 4]));
        u128::from(lo) | u128::from(hi) << ((n - 4) * 8)
    } else if n > 0 {
        // 1-3 bytes: the first, middle and last cover them all.
        u128::from(b[0])
            | u128::from(b[n / 2]) << (n / 2 * 8)
            | u128::from(b[n - 1]) << ((n - 1) * 8)
    } else {
        0
    };
    let pads = u128::from_le_bytes([pad; CHUNK]);
    // A table load instead of a 128-bit shift with its own `n == 16` case.
    (v | pads & TAIL[n]).to_le_bytes()
}

/// `TAIL[n]`: the bytes from `n` on set, the first `n` clear.
const TAIL: [u128; CHUNK + 1] = {
    let mut t = [0u128; CHUNK + 1];
    let mut n = 0;
    while n < CHUNK {
        t[n] = !0u128 << (n * 8);
        n += 1;
    }
    t
};

/// Bit `i` set when `c[i]` is `a` or `b`.
#[inline(always)]
pub fn eq2(c: &[u8; CHUNK], a: u8, b: u8) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of the x86_64 baseline; the load reads exactly the 16 bytes of `c`
        // (unaligned load, so no alignment requirement).
        #[allow(unsafe_code)]
        unsafe {
            let v = _mm_loadu_si128(c.as_ptr().cast::<__m128i>());
            let m = _mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(a as i8)),
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8)),
            );
            _mm_movemask_epi8(m) as u32
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut m = 0;
        for (i, &x) in c.iter().enumerate() {
            if x == a || x == b {
                m |= 1 << i;
            }
        }
        m
    }
}

/// Bit `i` set when `c[i]` must be escaped in a JSON string: `"`, `\` or a control character.
#[inline(always)]
pub fn json_escape(c: &[u8; CHUNK]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        // SAFETY: as in `eq2`.
        #[allow(unsafe_code)]
        unsafe {
            let v = _mm_loadu_si128(c.as_ptr().cast::<__m128i>());
            // x <= 0x1f exactly when min(x, 0x1f) == x (unsigned).
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
            let m = _mm_or_si128(
                control,
                _mm_or_si128(
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)),
                    _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8)),
                ),
            );
            _mm_movemask_epi8(m) as u32
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut m = 0;
        for (i, &x) in c.iter().enumerate() {
            if x < 0x20 || x == b'"' || x == b'\\' {
                m |= 1 << i;
            }
        }
        m
    }
}

/// Appends `b[from..to]` to `out`. A run of at most a chunk, the usual gap between two escapes,
/// is copied as one fixed 16-byte store cut back to length: a `memcpy` call of the exact length
/// cost more than the scan that found the run.
#[inline(always)]
pub fn extend_run(out: &mut Vec<u8>, b: &[u8], from: usize, to: usize) {
    match b.get(from..from + CHUNK) {
        Some(run) if to.wrapping_sub(from) <= CHUNK => {
            let end = out.len() + (to - from);
            out.extend_from_slice(run);
            out.truncate(end);
        }
        _ => out.extend_from_slice(b.get(from..to).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(c: &[u8; CHUNK], f: impl Fn(u8) -> bool) -> u32 {
        c.iter()
            .enumerate()
            .filter(|(_, &x)| f(x))
            .fold(0, |m, (i, _)| m | 1 << i)
    }

    #[test]
    fn masks_match_a_byte_by_byte_scan_for_every_byte_value() {
        // Every byte value at every position, next to bytes just around the thresholds.
        for v in 0..=255u8 {
            for pos in 0..CHUNK {
                let mut c = [0x20u8; CHUNK];
                c[(pos + 1) % CHUNK] = 0x1f;
                c[(pos + 2) % CHUNK] = 0x80;
                c[pos] = v;
                assert_eq!(
                    json_escape(&c),
                    naive(&c, |x| x < 0x20 || x == b'"' || x == b'\\'),
                    "{c:?}"
                );
                assert_eq!(eq2(&c, b',', b'"'), naive(&c, |x| x == b',' || x == b'"'));
            }
        }
    }

    #[test]
    fn chunks_pad_the_tail() {
        let b = b"0123456789abcdefXYZ";
        assert_eq!(chunk(b, 0, b'a'), (*b"0123456789abcdef", 16));
        let (c, n) = chunk(b, 16, b'-');
        assert_eq!((&c[..4], n), (&b"XYZ-"[..], 3));
        assert_eq!(chunk(b, 19, b'-').1, 0);
        assert_eq!(chunk(b, 40, b'-').1, 0);
        for n in 0..=20 {
            let want: Vec<u8> = (0..16).map(|i| if i < n { b[i] } else { b'-' }).collect();
            assert_eq!(short(&b[..n.min(b.len())], b'-')[..], want[..], "{n}");
        }
    }
}
