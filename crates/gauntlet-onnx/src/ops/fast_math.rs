//! Float32 `exp`, `erf` and `tanh` that loops can vectorize, and [`multiversion`], which
//! compiles a loop for the widest vector instructions the CPU has.
//!
//! The C library's functions are exact to an ulp but are calls, one value at a time; these
//! are straight-line arithmetic (range reduction, polynomials, selects), so a loop over a slice
//! runs 16 values per instruction with AVX-512. Accuracy, checked by the tests below over
//! their whole range: `exp` within 2 ulp, `erf` within 4e-7 absolute (a few ulp near ±1),
//! `tanh` within 3e-7 absolute — float32 rounding for the GELU and softmax built on them.
//! The coefficients were fitted for this file (weighted least squares on Chebyshev nodes).

/// Defines `fn name(args)` whose body is compiled three times: for AVX-512 (16 floats a
/// vector), for AVX2 with FMA (8), and for the baseline; the widest the CPU has is taken at
/// run time. Rust does not fuse products and sums on its own, so all three compute the same
/// values. Arguments are plain `name: Type` pairs.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn wide($($arg: $ty),*) {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn mid($($arg: $ty),*) {
                    body($($arg),*)
                }
                match $crate::ops::fast_math::vector_level() {
                    // SAFETY: the CPU has every feature `wide` is compiled for.
                    2 => return unsafe { wide($($arg),*) },
                    // SAFETY: the CPU has every feature `mid` is compiled for.
                    1 => return unsafe { mid($($arg),*) },
                    _ => {}
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// Which version of [`multiversion`] functions the CPU runs: 2 for AVX-512, 1 for AVX2 with
/// FMA, 0 for the baseline.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn vector_level() -> u8 {
    use std::is_x86_feature_detected as has;
    let avx2 = has!("avx2") && has!("fma");
    if avx2 && has!("avx512f") && has!("avx512vl") && has!("avx512bw") && has!("avx512dq") {
        2
    } else if avx2 {
        1
    } else {
        0
    }
}

/// Below this, `exp` underflows to 0 (the smallest normal float is e^−87.34).
const EXP_LOW: f32 = -87.33;
/// Above this, `exp` overflows to +∞.
const EXP_HIGH: f32 = 88.72;

/// e^x (NaN stays NaN).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // x = k·ln 2 + r with |r| ≤ ln 2 / 2; e^x = 2^k · p(r). ln 2 is split in two so that
    // k·LN2_HI is exact.
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5·2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    const P: [f32; 7] = [
        1.0,
        1.000_000_0,
        0.499_999_94,
        0.166_664_32,
        0.041_668,
        0.008_374_165,
        0.001_384_382_4,
    ];
    let xc = x.clamp(EXP_LOW, EXP_HIGH);
    let k = (xc * LOG2_E + ROUND) - ROUND;
    let r = (xc - k * LN2_HI) - k * LN2_LO;
    let mut p = P[6];
    for c in P[..6].iter().rev() {
        p = p * r + c;
    }
    let scale = f32::from_bits(((k as i32 + 127) as u32) << 23);
    let y = p * scale;
    if x < EXP_LOW {
        0.0
    } else if x > EXP_HIGH {
        f32::INFINITY
    } else {
        y
    }
}

/// erf(x) (NaN stays NaN).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    // erf(x) = x·P(x²)/Q(x²) on |x| ≤ 3.92, where erf rounds to ±1 in float32 beyond.
    const P: [f32; 6] = [
        std::f32::consts::FRAC_2_SQRT_PI,
        0.188_714_37,
        0.052_530_844,
        0.003_695_242,
        0.000_283_684_06,
        2.067_747_6e-6,
    ];
    const Q: [f32; 6] = [
        1.0,
        0.500_576_73,
        0.113_415_19,
        0.014_827_245,
        0.001_146_232_2,
        3.821_285_6e-5,
    ];
    const EDGE: f32 = 3.92;
    let a = if x.abs() > EDGE { EDGE } else { x.abs() };
    let t = a * a;
    let (mut p, mut q) = (P[5], Q[5]);
    for i in (0..5).rev() {
        p = p * t + P[i];
        q = q * t + Q[i];
    }
    let y = (a * p / q).min(1.0);
    let y = if x.abs() > EDGE { 1.0 } else { y };
    // Sign of x; NaN (where every comparison fails) passes through.
    if x.is_nan() {
        x
    } else {
        y.copysign(x)
    }
}

/// tanh(x) (NaN stays NaN).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    // tanh|x| = 1 − 2/(e^{2|x|} + 1); exp saturates to +∞ for large |x|, giving 1.
    let e = exp(2.0 * x.abs());
    let y = 1.0 - 2.0 / (e + 1.0);
    if x.is_nan() {
        x
    } else {
        y.copysign(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points covering `[lo, hi]` densely, the ends included.
    fn sweep(lo: f32, hi: f32, n: usize) -> impl Iterator<Item = f32> {
        (0..=n).map(move |i| lo + (hi - lo) * i as f32 / n as f32)
    }

    #[test]
    fn exp_is_within_two_ulp() {
        for x in sweep(-87.0, 88.0, 400_000) {
            let want = f64::from(x).exp();
            let ulp = f64::from(f32::EPSILON) * want;
            let got = f64::from(exp(x));
            assert!(
                (got - want).abs() <= 2.0 * ulp,
                "exp({x}) = {got}, want {want}"
            );
        }
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(100.0), f32::INFINITY);
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn erf_and_tanh_are_within_float32_rounding() {
        for x in sweep(-6.0, 6.0, 400_000) {
            let want = libm::erf(f64::from(x));
            let got = f64::from(erf(x));
            assert!((got - want).abs() <= 4e-7, "erf({x}) = {got}, want {want}");
            if x.abs() < 1e-3 && x != 0.0 {
                assert!(((got - want) / want).abs() < 1e-6, "erf({x}) relative");
            }
            let want = f64::from(x).tanh();
            let got = f64::from(tanh(x));
            assert!((got - want).abs() <= 3e-7, "tanh({x}) = {got}, want {want}");
        }
        assert_eq!(erf(f32::INFINITY), 1.0);
        assert_eq!(erf(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
        assert!(erf(f32::NAN).is_nan() && tanh(f32::NAN).is_nan());
    }

    multiversion! {
        fn erf_all(x: &[f32], y: &mut [f32]) {
            y.iter_mut().zip(x).for_each(|(y, &x)| *y = erf(x));
        }
    }

    #[test]
    fn multiversioned_code_computes_what_the_baseline_does() {
        let v: Vec<f32> = sweep(-3.0, 3.0, 1000).collect();
        let mut wide = vec![0f32; v.len()];
        erf_all(&v, &mut wide);
        let plain: Vec<f32> = v.iter().map(|&x| erf(x)).collect();
        assert_eq!(wide, plain);
    }
}
