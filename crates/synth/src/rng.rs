//! Random helpers: seeding, distributions, GUIDs.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub(crate) type R = ChaCha8Rng;

/// SplitMix64 finalizer: a good 64-bit mixer for deriving independent seeds.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An RNG for item `index` of stream `stream` under `seed`; independent of every other item.
pub(crate) fn rng_for(seed: u64, stream: u64, index: u64) -> R {
    R::seed_from_u64(mix(mix(seed ^ mix(stream)).wrapping_add(index)))
}

/// Stable 64-bit hash of a string (FNV-1a then mixed), for per-tenant data.
pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix(h)
}

/// Standard normal (Box–Muller).
pub(crate) fn normal(r: &mut R) -> f64 {
    let u1: f64 = 1.0 - r.random::<f64>();
    let u2: f64 = r.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Log-normal with the given median and log-space sigma.
pub(crate) fn lognormal(r: &mut R, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(r)).exp()
}

/// Log-uniform in `[lo, hi]`.
pub(crate) fn log_uniform(r: &mut R, lo: f64, hi: f64) -> f64 {
    (lo.ln() + r.random::<f64>() * (hi.ln() - lo.ln())).exp()
}

/// Index drawn from cumulative-free integer weights.
pub(crate) fn weighted(r: &mut R, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut x = r.random_range(0..total);
    for (i, &w) in weights.iter().enumerate() {
        if x < w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// Picks from `(item, weight)` pairs.
pub(crate) fn pick_w<T: Copy>(r: &mut R, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| *w).sum();
    let mut x = r.random_range(0..total);
    for (t, w) in items {
        if x < *w {
            return *t;
        }
        x -= *w;
    }
    items[items.len() - 1].0
}

pub(crate) fn pick<T: Copy>(r: &mut R, items: &[T]) -> T {
    items[r.random_range(0..items.len())]
}

pub(crate) type Guid = [u8; 36];

/// A random version-4 GUID, lower case, hyphenated.
pub(crate) fn guid(r: &mut R) -> Guid {
    let mut bytes: [u8; 16] = r.random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut o = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            o += 1;
        }
        out[o] = HEX[(b >> 4) as usize];
        out[o + 1] = HEX[(b & 15) as usize];
        o += 2;
    }
    out
}

pub(crate) fn guid_str(g: &Guid) -> &str {
    // Only ASCII hex digits and hyphens are ever written.
    std::str::from_utf8(g).unwrap_or("")
}
