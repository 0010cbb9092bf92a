//! Randomized smoothing (Cohen, Rosenfeld & Kolter 2019, "Certified Adversarial Robustness via
//! Randomized Smoothing"): the smoothed classifier `g(x) = argmax_c P(f(x + ε) = c)`,
//! `ε ~ N(0, σ²I)`, estimated by Monte Carlo with the paper's two procedures.
//!
//! - CERTIFY: `n0` draws choose the top class `cA`; `n` fresh draws count it; the one-sided
//!   Clopper–Pearson lower bound `pA` at level `1 − α` gives the L2 radius `σ Φ⁻¹(pA)`, or an
//!   abstention when `pA < ½`. With probability at least `1 − α` over the draws, a returned
//!   class is `g`'s at every point within the radius.
//! - PREDICT: `n` draws; the two-sided binomial test between the two largest counts; abstain
//!   when its p-value exceeds `α`. With probability at least `1 − α`, a returned class is
//!   `g(x)`.
//!
//! Noisy copies go through the base classifier in batches of `batch_size` rows. Noise is not
//! clipped to the valid box: the guarantee is about Gaussian noise on all of `Rᵈ`.

use rand::rngs::StdRng;
use rand::Rng;
use rand_distr::StandardNormal;
use serde::Serialize;

use gauntlet_core::device::compute_device;
use gauntlet_core::model::{predict, Classifier};
use gauntlet_core::tensor::from_rows;
use gauntlet_core::{Error, Result};

use crate::stats::{binomial_test_half, clopper_pearson_lower, normal_quantile};

/// A base classifier smoothed with isotropic Gaussian noise of standard deviation `sigma`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Smoothing {
    sigma: f32,
    batch_size: usize,
}

/// What CERTIFY returns for one input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Certificate {
    /// The certified class, `None` when CERTIFY abstains (`pa_lower < ½`).
    pub prediction: Option<i64>,
    /// The class the `n0` selection draws chose (`cA`), certified or not.
    pub top_class: i64,
    /// Draws out of `n` that the base classifier put in `top_class`.
    pub count: u64,
    /// The Clopper–Pearson lower bound on `P(f(x + ε) = cA)`.
    pub pa_lower: f64,
    /// Certified L2 radius `σ Φ⁻¹(pa_lower)`; 0 when abstaining.
    pub radius: f64,
}

impl Smoothing {
    /// Noise of standard deviation `sigma` (finite, > 0), `batch_size` (≥ 1) noisy rows per
    /// forward pass.
    pub fn new(sigma: f32, batch_size: usize) -> Result<Self> {
        if !sigma.is_finite() || sigma <= 0.0 {
            return Err(Error::Parameter(format!(
                "`sigma` = {sigma} must be a positive number (the noise's standard deviation)"
            )));
        }
        if batch_size == 0 {
            return Err(Error::Parameter("`batch_size` must be at least 1".into()));
        }
        Ok(Smoothing { sigma, batch_size })
    }

    /// The noise's standard deviation σ.
    pub fn sigma(&self) -> f32 {
        self.sigma
    }

    /// How often the base classifier predicts each class on `draws` noisy copies of `x`.
    pub fn counts(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        draws: u64,
        rng: &mut StdRng,
    ) -> Result<Vec<u64>> {
        let features = x.len();
        let mut counts = vec![0u64; model.num_classes()];
        let device = compute_device();
        let mut left = draws;
        while left > 0 {
            let rows = left.min(self.batch_size as u64) as usize;
            let mut batch = Vec::with_capacity(rows * features);
            for _ in 0..rows {
                batch.extend(
                    x.iter()
                        .map(|&v| v + self.sigma * rng.sample::<f32, _>(StandardNormal)),
                );
            }
            let noisy = from_rows(batch, rows, features, &device);
            for class in predict(model, noisy)? {
                counts[class as usize] += 1;
            }
            left -= rows as u64;
        }
        Ok(counts)
    }

    /// CERTIFY(f, σ, x, n0, n, α).
    pub fn certify(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        n0: u64,
        n: u64,
        alpha: f64,
        rng: &mut StdRng,
    ) -> Result<Certificate> {
        check_draws(n0, "n0")?;
        check_draws(n, "n")?;
        check_alpha(alpha)?;
        let selection = self.counts(model, x, n0, rng)?;
        let top_class = top_two(&selection).0;
        let estimation = self.counts(model, x, n, rng)?;
        let count = estimation[top_class];
        let pa_lower = clopper_pearson_lower(count, n, alpha);
        let (prediction, radius) = if pa_lower < 0.5 {
            (None, 0.0)
        } else {
            (
                Some(top_class as i64),
                self.sigma as f64 * normal_quantile(pa_lower),
            )
        };
        Ok(Certificate {
            prediction,
            top_class: top_class as i64,
            count,
            pa_lower,
            radius,
        })
    }

    /// PREDICT(f, σ, x, n, α): the smoothed class, or `None` (abstain).
    pub fn predict(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        n: u64,
        alpha: f64,
        rng: &mut StdRng,
    ) -> Result<Option<i64>> {
        check_draws(n, "n")?;
        check_alpha(alpha)?;
        let counts = self.counts(model, x, n, rng)?;
        let (first, second) = top_two(&counts);
        let (na, nb) = (counts[first], second.map_or(0, |c| counts[c]));
        Ok((binomial_test_half(na, na + nb) <= alpha).then_some(first as i64))
    }
}

/// The largest and the second largest count's classes (ties go to the smaller index).
fn top_two(counts: &[u64]) -> (usize, Option<usize>) {
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|a, b| counts[*b].cmp(&counts[*a]).then(a.cmp(b)));
    (order[0], order.get(1).copied())
}

fn check_draws(n: u64, name: &str) -> Result<()> {
    if n == 0 {
        return Err(Error::Parameter(format!(
            "`{name}` must be at least 1 (noise draws)"
        )));
    }
    Ok(())
}

/// α must be a probability strictly between 0 and 1.
pub fn check_alpha(alpha: f64) -> Result<()> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(Error::Parameter(format!(
            "`alpha` = {alpha} must lie strictly between 0 and 1 (the failure probability)"
        )));
    }
    Ok(())
}
