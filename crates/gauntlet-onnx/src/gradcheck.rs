//! Input gradients checked against central differences, in double precision: the property
//! every operator's backward pass must have, on any model a user brings.

use burn::tensor::Tensor;

use gauntlet_core::device::compute_device;
use gauntlet_core::loss::Objective;
use gauntlet_core::model::{loss_and_grad, Classifier};
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_core::{Error, Result};

use crate::OnnxModel;

/// What [`check_margin_gradient`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientCheck {
    /// Coordinates compared.
    pub coordinates: usize,
    /// Largest `|numeric − analytic| / max(|numeric|, |analytic|)` over them.
    pub worst_relative_error: f64,
    /// One line per coordinate above the tolerance.
    pub failures: Vec<String>,
}

/// `x` moved off ties: each value shifted by a different amount below 0.01. Real images have
/// runs of equal pixels, which tie max-pool windows and ReLU kinks, where the gradient is not
/// defined and finite differences are one-sided.
pub fn generic_point(x: &[f32]) -> Vec<f32> {
    x.iter()
        .enumerate()
        .map(|(i, v)| v + 0.01 * ((i * 7919 % 1000) as f32 / 1000.0))
        .collect()
}

/// Compares the input gradient of the logit margin `z[positive] − z[negative]` (smooth in the
/// logits, so the network's own backward pass is what is checked) with central differences of
/// step `h`, on up to `k` coordinates where the gradient is not small (≥ 5 % of its largest
/// entry), spread over the batch. `model` should run in double precision
/// ([`OnnxModel::with_double_precision`]) so float32 round-off does not drown the comparison;
/// `x` holds `n` flat channels-first rows.
pub fn check_margin_gradient(
    model: &OnnxModel,
    x: &[f32],
    (positive, negative): (&[i64], &[i64]),
    k: usize,
    h: f64,
    tolerance: f64,
) -> Result<GradientCheck> {
    let f = model.features();
    let n = x.len() / f.max(1);
    if n == 0 || x.len() != n * f || positive.len() != n || negative.len() != n {
        return Err(Error::Model(format!(
            "a gradient check needs whole samples of {f} values and one class pair per sample"
        )));
    }
    let batch: Tensor<2> = from_rows(x.to_vec(), n, f, &compute_device());
    let objective = Objective::LogitDifference { positive, negative };
    let grad = to_vec(loss_and_grad(model, &batch, &objective)?.grad);
    let scale = grad.iter().fold(0f32, |m, g| m.max(g.abs()));
    let candidates: Vec<usize> = (0..grad.len())
        .filter(|&i| grad[i].abs() > 0.05 * scale)
        .collect();
    let stride = (candidates.len() / k.max(1)).max(1);
    let coords: Vec<usize> = candidates.into_iter().step_by(stride).take(k).collect();

    let mut rows: Vec<f64> = Vec::with_capacity(coords.len() * 2 * f);
    for &c in &coords {
        let sample = c / f;
        for offset in [h, -h] {
            let start = rows.len();
            rows.extend(x[sample * f..(sample + 1) * f].iter().map(|&v| v as f64));
            rows[start + c % f] += offset;
        }
    }
    let out = model.logits_f64(&rows, coords.len() * 2)?;
    let classes = model.num_classes();
    let mut check = GradientCheck {
        coordinates: coords.len(),
        worst_relative_error: 0.0,
        failures: Vec::new(),
    };
    for (j, &c) in coords.iter().enumerate() {
        let sample = c / f;
        let margin = |r: usize| {
            let row = &out[r * classes..(r + 1) * classes];
            row[positive[sample] as usize] - row[negative[sample] as usize]
        };
        let numeric = (margin(2 * j) - margin(2 * j + 1)) / (2.0 * h);
        let analytic = grad[c] as f64;
        let rel = (numeric - analytic).abs() / numeric.abs().max(analytic.abs()).max(1e-12);
        check.worst_relative_error = check.worst_relative_error.max(rel);
        if rel > tolerance {
            check.failures.push(format!(
                "coordinate {c}: analytic {analytic:.6e} vs numeric {numeric:.6e} (rel {rel:.2e})"
            ));
        }
    }
    Ok(check)
}
