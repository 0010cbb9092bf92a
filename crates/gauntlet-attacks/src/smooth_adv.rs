//! SmoothAdv (Salman et al. 2019, "Provably Robust Deep Learning via Adversarially Trained
//! Smoothed Classifiers"): L2 PGD on the *smoothed* classifier.
//!
//! The smoothed classifier's soft score for class `y` at `x'` is `E_ε[softmax(f(x' + ε))_y]`,
//! `ε ~ N(0, σ²I)`. Each step estimates it with `m` fresh noise draws and ascends
//! `−log((1/m) Σ_j softmax(f(x' + ε_j))_y)` — the log of the average, not the average of the
//! logs, which is what distinguishes SmoothAdv from plain expectation over transformation —
//! by a normalized L2 step of `rel_step · ε`, then projects onto the ε-ball and the box.
//!
//! This is not an [`Attack`](crate::Attack): the verify contract judges success by the base
//! model's prediction, while an attack on a smoothed classifier must be judged by the
//! smoothed prediction (Monte Carlo PREDICT, `gauntlet_eval::smoothing`). [`SmoothAdv::run`]
//! only proposes points, always inside their budget and the box.

use burn::tensor::activation::softmax;
use burn::tensor::{Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::Rng;
use rand_distr::StandardNormal;
use serde_json::json;

use gauntlet_core::device::compute_device;
use gauntlet_core::model::Differentiable;
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_core::threat::{Bounds, Norm};
use gauntlet_core::{Error, Result};

use crate::step::ascent_direction;

/// L2 PGD with expectation over Gaussian noise, on the log of the averaged softmax.
#[derive(Debug, Clone)]
pub struct SmoothAdv {
    sigma: f32,
    steps: usize,
    noise_draws: usize,
    rel_step: f32,
}

impl SmoothAdv {
    /// Attacks the classifier smoothed with noise `sigma`: `steps` iterations (≥ 1), each
    /// averaging `noise_draws` (≥ 1) noisy copies, with a step of `rel_step · ε`
    /// (`None`: 2 / steps).
    pub fn new(
        sigma: f32,
        steps: usize,
        noise_draws: usize,
        rel_step: Option<f32>,
    ) -> Result<Self> {
        if !sigma.is_finite() || sigma <= 0.0 {
            return Err(Error::Parameter(format!(
                "SmoothAdv: sigma = {sigma} must be a positive number"
            )));
        }
        if steps == 0 {
            return Err(Error::Parameter(
                "SmoothAdv: `attack_steps` must be at least 1".into(),
            ));
        }
        if noise_draws == 0 {
            return Err(Error::Parameter(
                "SmoothAdv: `attack_samples` (noise draws per step) must be at least 1".into(),
            ));
        }
        let rel_step = rel_step.unwrap_or(2.0 / steps as f32);
        if !rel_step.is_finite() || rel_step <= 0.0 {
            return Err(Error::Parameter(format!(
                "SmoothAdv: rel_step = {rel_step} must be a positive fraction of ε"
            )));
        }
        Ok(SmoothAdv {
            sigma,
            steps,
            noise_draws,
            rel_step,
        })
    }

    /// The attack's real parameters, for a report's manifest.
    pub fn describe(&self) -> serde_json::Value {
        json!({
            "name": "smooth-adv",
            "norm": "l2",
            "sigma": self.sigma,
            "steps": self.steps,
            "noise_draws": self.noise_draws,
            "rel_step": self.rel_step,
        })
    }

    /// For every radius in `radii`, one adversarial point per sample of `x` (flat rows of
    /// `features` values, labels `labels`): `result[e]` holds `[n, features]` rows, each
    /// within L2 distance `radii[e]` of its sample and inside `bounds`. A radius of 0 returns
    /// the inputs. Gradient evaluations: `steps · radii.len() · n · noise_draws` rows.
    pub fn run(
        &self,
        model: &dyn Differentiable,
        x: &[f32],
        labels: &[i64],
        radii: &[f32],
        bounds: Bounds,
        rng: &mut StdRng,
    ) -> Result<Vec<Vec<f32>>> {
        let features = model.features();
        let n = labels.len();
        if x.len() != n * features {
            return Err(Error::Data(format!(
                "SmoothAdv: {} values for {n} samples of {features} features",
                x.len()
            )));
        }
        if let Some(r) = radii.iter().find(|r| !r.is_finite() || **r < 0.0) {
            return Err(Error::Parameter(format!(
                "SmoothAdv: radius {r} must be a finite number ≥ 0"
            )));
        }
        // Row e·n + i is sample i at radius radii[e] (the crate's row layout).
        let attacked: Vec<usize> = (0..radii.len()).filter(|&e| radii[e] > 0.0).collect();
        let mut out: Vec<Vec<f32>> = vec![x.to_vec(); radii.len()];
        if attacked.is_empty() || n == 0 {
            return Ok(out);
        }
        let rows = attacked.len() * n;
        let origin: Vec<f32> = attacked.iter().flat_map(|_| x.iter().copied()).collect();
        let row_labels: Vec<i64> = attacked
            .iter()
            .flat_map(|_| labels.iter().copied())
            .collect();
        let row_eps: Vec<f32> = attacked
            .iter()
            .flat_map(|&e| std::iter::repeat_n(radii[e], n))
            .collect();
        let device = compute_device();
        let mut current = origin.clone();
        for _ in 0..self.steps {
            let grad = self.gradient(model, &current, &row_labels, rng)?;
            let x_now = from_rows(current.clone(), rows, features, &device);
            let direction = to_vec(ascent_direction(
                Norm::L2,
                from_rows(grad, rows, features, &device),
                &x_now,
                (bounds.min, bounds.max),
            ));
            for (r, &eps) in row_eps.iter().enumerate() {
                let span = r * features..(r + 1) * features;
                let step = self.rel_step * eps;
                let mut delta: Vec<f32> = current[span.clone()]
                    .iter()
                    .zip(&direction[span.clone()])
                    .zip(&origin[span.clone()])
                    .map(|((c, d), o)| c + step * d - o)
                    .collect();
                Norm::L2.project_rows(&mut delta, features, eps);
                for ((c, d), o) in current[span.clone()]
                    .iter_mut()
                    .zip(&delta)
                    .zip(&origin[span])
                {
                    // Clipping toward a clean input inside the box only shortens δ.
                    *c = (o + d).clamp(bounds.min, bounds.max);
                }
            }
        }
        for (k, &e) in attacked.iter().enumerate() {
            out[e] = current[k * n * features..(k + 1) * n * features].to_vec();
        }
        Ok(out)
    }

    /// The gradient of `−log((1/m) Σ_j softmax(f(x + ε_j))_y)` for every row of `x`: the
    /// rows' `m` noisy copies go through the model at once and their gradients are summed
    /// (the copies are `x` plus constants).
    fn gradient(
        &self,
        model: &dyn Differentiable,
        x: &[f32],
        labels: &[i64],
        rng: &mut StdRng,
    ) -> Result<Vec<f32>> {
        let features = model.features();
        let (rows, m) = (labels.len(), self.noise_draws);
        let mut noisy = Vec::with_capacity(rows * m * features);
        for row in x.chunks(features) {
            for _ in 0..m {
                noisy.extend(
                    row.iter()
                        .map(|&v| v + self.sigma * rng.sample::<f32, _>(StandardNormal)),
                );
            }
        }
        let device = compute_device();
        let input = from_rows(noisy, rows * m, features, &device)
            .autodiff()
            .require_grad();
        let logits = model.logits_tracked(input.clone())?;
        let idx: Vec<i64> = labels
            .iter()
            .flat_map(|&y| std::iter::repeat_n(y, m))
            .collect();
        let idx: Tensor<2, Int> =
            Tensor::from_data(TensorData::new(idx, [rows * m, 1]), &logits.device());
        let p_label = softmax(logits, 1).gather(1, idx).reshape([rows, m]);
        let loss = (p_label.mean_dim(1) + 1e-12).log().neg();
        let grads = loss.sum().backward();
        let grad = input
            .grad(&grads)
            .ok_or_else(|| {
                Error::Model(
                    "the model's output does not depend on its input, so SmoothAdv has no \
                     gradient to follow"
                        .into(),
                )
            })?
            .without_autodiff();
        let grad = to_vec(grad);
        let mut summed = vec![0f32; rows * features];
        for (r, copies) in grad.chunks(m * features).enumerate() {
            let target = &mut summed[r * features..(r + 1) * features];
            for copy in copies.chunks(features) {
                target.iter_mut().zip(copy).for_each(|(t, g)| *t += g);
            }
        }
        Ok(summed)
    }
}
