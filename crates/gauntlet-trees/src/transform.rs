//! The post-transforms (`post_transform`) of the ONNX-ML tree ensembles, in float32 as
//! onnxruntime computes them (its `ml_common.h`): the formulas below follow its arithmetic
//! step by step, so the results agree to the last bit where the C library's `expf`/`logf`
//! agree with Rust's (both call the platform's libm).

use serde::Serialize;

/// What is applied to the aggregated scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PostTransform {
    /// The scores as they are.
    None,
    /// `exp(s - max) / Σ exp(s - max)` over the outputs.
    Softmax,
    /// `1 / (1 + exp(-s))` per output.
    Logistic,
    /// Softmax that leaves (near-)zero scores at zero-ish weight: scores with
    /// `|s| ≤ 1e-7` are scaled by `exp(-max)` instead of exponentiated.
    SoftmaxZero,
    /// `√2 · erfinv(2s − 1)` per output (onnxruntime's approximate erfinv).
    Probit,
}

impl PostTransform {
    /// The transform an ONNX `post_transform` attribute names.
    pub fn from_onnx(name: &str) -> Option<PostTransform> {
        Some(match name {
            "NONE" => PostTransform::None,
            "SOFTMAX" => PostTransform::Softmax,
            "LOGISTIC" => PostTransform::Logistic,
            "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
            "PROBIT" => PostTransform::Probit,
            _ => return None,
        })
    }

    /// Applies the transform to a vector of two or more scores in place.
    pub fn apply(self, scores: &mut [f32]) {
        match self {
            PostTransform::None => {}
            PostTransform::Softmax => softmax(scores),
            PostTransform::Logistic => scores.iter_mut().for_each(|s| *s = logistic(*s)),
            PostTransform::SoftmaxZero => softmax_zero(scores),
            PostTransform::Probit => scores.iter_mut().for_each(|s| *s = probit(*s)),
        }
    }
}

/// The logistic function, computed on `|x|` for stability.
pub fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 {
        1.0 - v
    } else {
        v
    }
}

/// onnxruntime's probit: `√2 · erfinv(2x − 1)` with Winitzki's erfinv approximation.
pub fn probit(x: f32) -> f32 {
    std::f32::consts::SQRT_2 * erf_inv(2.0 * x - 1.0)
}

fn erf_inv(x: f32) -> f32 {
    let sign = if x < 0.0 { -1.0f32 } else { 1.0 };
    let x = (1.0 - x) * (1.0 + x);
    let log = x.ln();
    let v = 2.0 / (std::f32::consts::PI * 0.147f32) + 0.5 * log;
    let v2 = 1.0 / 0.147f32 * log;
    let v3 = -v + (v * v - v2).sqrt();
    sign * v3.sqrt()
}

fn softmax(scores: &mut [f32]) {
    let max = scores
        .iter()
        .fold(-f32::MAX, |m, &s| if s > m { s } else { m });
    let mut sum = 0.0f32;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    scores.iter_mut().for_each(|s| *s /= sum);
}

fn softmax_zero(scores: &mut [f32]) {
    let max = scores
        .iter()
        .fold(-f32::MAX, |m, &s| if s > m { s } else { m });
    let exp_neg_max = (-max).exp();
    let mut sum = 0.0f32;
    for s in scores.iter_mut() {
        if *s > 0.000_000_1 || *s < -0.000_000_1 {
            *s = (*s - max).exp();
            sum += *s;
        } else {
            *s *= exp_neg_max;
        }
    }
    scores.iter_mut().for_each(|s| *s /= sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_is_symmetric_and_bounded() {
        for &x in &[-30.0f32, -2.5, -1e-3, 0.0, 1e-3, 2.5, 30.0] {
            let p = logistic(x);
            assert!((0.0..=1.0).contains(&p));
            assert!((p + logistic(-x) - 1.0).abs() < 1e-6, "{x}");
        }
        assert_eq!(logistic(0.0), 0.5);
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut s = [1.0f32, 3.0, -2.0];
        softmax(&mut s);
        assert!((s.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(s[1] > s[0] && s[0] > s[2]);
    }

    #[test]
    fn probit_inverts_the_normal_cdf_roughly() {
        // Φ(1) ≈ 0.8413; the approximation is good to ~1e-3.
        assert!((probit(0.841_344_7) - 1.0).abs() < 2e-3);
        assert!(probit(0.5).abs() < 1e-6);
    }
}
