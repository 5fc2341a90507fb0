//! Seed derivation (the same SplitMix64 mixing the synth crate uses) and small distributions.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub(crate) type R = ChaCha8Rng;

/// SplitMix64 finalizer.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for item `index` of `stream` under `seed`, independent of every other item.
pub(crate) fn derive(seed: u64, stream: u64, index: u64) -> u64 {
    mix(mix(seed ^ mix(stream)).wrapping_add(index))
}

pub(crate) fn rng(seed: u64) -> R {
    R::seed_from_u64(seed)
}

/// FNV-1a, mixed: a stable hash of a string.
pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix(h)
}

/// A deterministic version-4 GUID string from 128 random bits.
pub(crate) fn guid(r: &mut R) -> String {
    let mut b: [u8; 16] = r.random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A Poisson(λ) draw: Knuth's method in chunks of λ ≤ 30 (a sum of Poissons is Poisson).
pub(crate) fn poisson(r: &mut R, lambda: f64) -> u64 {
    if lambda.is_nan() || lambda <= 0.0 || lambda.is_infinite() {
        return 0;
    }
    let mut left = lambda;
    let mut n = 0u64;
    while left > 0.0 {
        let l = left.min(30.0);
        left -= l;
        let limit = (-l).exp();
        let mut p: f64 = r.random();
        while p > limit {
            n += 1;
            p *= r.random::<f64>();
        }
    }
    n
}

/// Log-uniform in `[lo, hi]`.
pub(crate) fn log_uniform(r: &mut R, lo: f64, hi: f64) -> f64 {
    (lo.ln() + r.random::<f64>() * (hi.ln() - lo.ln())).exp()
}

/// Log-normal with the given median and log-space sigma (Box–Muller).
pub(crate) fn lognormal(r: &mut R, median: f64, sigma: f64) -> f64 {
    let u1: f64 = 1.0 - r.random::<f64>();
    let u2: f64 = r.random::<f64>();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    median * (sigma * z).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_mean_and_variance() {
        for lambda in [0.5, 2.0, 75.0] {
            let mut r = rng(1);
            let xs: Vec<f64> = (0..20_000)
                .map(|_| poisson(&mut r, lambda) as f64)
                .collect();
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
            assert!(
                (mean - lambda).abs() < 0.05 * lambda + 0.05,
                "λ {lambda}: mean {mean}"
            );
            assert!(
                (var - lambda).abs() < 0.1 * lambda + 0.1,
                "λ {lambda}: var {var}"
            );
        }
        let mut r = rng(1);
        assert_eq!(poisson(&mut r, 0.0), 0);
        assert_eq!(poisson(&mut r, f64::NAN), 0);
        assert_eq!(poisson(&mut r, -1.0), 0);
    }

    #[test]
    fn guid_shape() {
        let g = guid(&mut rng(3));
        assert_eq!(g.len(), 36);
        assert_eq!(&g[14..15], "4");
        assert_eq!(g, guid(&mut rng(3)));
    }
}
