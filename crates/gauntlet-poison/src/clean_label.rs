//! The clean-label backdoor (Turner, Tsipras & Madry 2019, "Label-Consistent Backdoor
//! Attacks"): poisoned images keep their true labels, so a person checking the labels finds
//! nothing. The attacker takes images of the target class, makes them hard to recognise with
//! an adversarial perturbation against a (preferably adversarially trained) model — the
//! network cannot learn them from their content and leans on the trigger instead — and then
//! stamps the trigger.
//!
//! The perturbation is projected gradient ascent on the cross-entropy of the true label,
//! every step taken (not stopped at the first misclassification: the harder the image, the
//! stronger the poison), from a random start, projected into the ε-ball and the valid box.
//! Steps and starts come from gauntlet-attacks' shared step helpers.

use rand::rngs::StdRng;

use gauntlet_attacks::step::{ascent_direction, random_start};
use gauntlet_core::data::Dataset;
use gauntlet_core::device::compute_device;
use gauntlet_core::loss::Objective;
use gauntlet_core::model::{loss_and_grad, Differentiable};
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_core::threat::{Bounds, Norm};
use gauntlet_core::{Error, Result};
use gauntlet_run::progress::Progress;

use crate::poisoned::Poisoned;
use crate::selection::choose;
use crate::trigger::Trigger;

/// The adversarial perturbation that makes target-class images hard.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Perturbation {
    /// `linf` or `l2`.
    pub norm: Norm,
    /// Radius of the ball, in input units.
    pub eps: f32,
    /// Gradient steps.
    pub steps: usize,
    /// Step size as a fraction of ε (2.5 / steps, Madry et al., when `None`).
    pub rel_step: Option<f32>,
}

impl Perturbation {
    /// Checks the values, naming the flag at fault.
    pub fn check(&self) -> Result<()> {
        if self.norm == Norm::L1 {
            return Err(Error::Parameter(
                "--norm l1 is not offered for the clean-label perturbation; use linf or l2".into(),
            ));
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::Parameter(format!(
                "--eps {} must be a positive number (the perturbation's radius)",
                self.eps
            )));
        }
        if self.steps == 0 {
            return Err(Error::Parameter("--steps must be at least 1".into()));
        }
        if let Some(r) = self.rel_step {
            if !(r.is_finite() && r > 0.0) {
                return Err(Error::Parameter(format!(
                    "the step size {r} (a fraction of ε) must be positive"
                )));
            }
        }
        Ok(())
    }
}

/// Rows perturbed per batch.
const BATCH: usize = 128;

/// Perturbs `rows` (labels `labels`) adversarially against `model` within `p`'s ball and the
/// box; returns the perturbed rows.
pub fn make_hard(
    model: &dyn Differentiable,
    rows: &[f32],
    labels: &[i64],
    p: &Perturbation,
    bounds: Bounds,
    rng: &mut StdRng,
    progress: &dyn Progress,
) -> Result<Vec<f32>> {
    p.check()?;
    let n = labels.len();
    let f = rows.len() / n.max(1);
    let device = compute_device();
    let step = p.eps * p.rel_step.unwrap_or(2.5 / p.steps as f32);
    let mut out = Vec::with_capacity(rows.len());
    progress.begin("clean-label perturbation", n as u64);
    for start in (0..n).step_by(BATCH) {
        let end = (start + BATCH).min(n);
        let m = end - start;
        let batch_labels = &labels[start..end];
        let x0 = from_rows(rows[start * f..end * f].to_vec(), m, f, &device);
        let eps = from_rows(vec![p.eps; m], m, 1, &device);
        let noise = random_start(p.norm, m, f, &vec![p.eps; m], rng);
        let mut x = bounds.clip(x0.clone() + from_rows(noise, m, f, &device));
        let objective = Objective::CrossEntropy(batch_labels);
        for _ in 0..p.steps {
            let grad = loss_and_grad(model, &x, &objective)?.grad;
            let direction = ascent_direction(p.norm, grad, &x, (bounds.min, bounds.max));
            let moved = x + direction * step;
            let delta = p.norm.project(moved - x0.clone(), &eps);
            x = bounds.clip(x0.clone() + delta);
        }
        let mut values = to_vec(x);
        // The host-side projection once more, so rounding never leaves the ball.
        let clean = &rows[start * f..end * f];
        let mut delta: Vec<f32> = values.iter().zip(clean).map(|(a, b)| a - b).collect();
        p.norm.project_rows(&mut delta, f, p.eps);
        for ((v, d), c) in values.iter_mut().zip(&delta).zip(clean) {
            *v = (c + d).clamp(bounds.min, bounds.max);
        }
        out.extend(values);
        progress.advance(m as u64);
        if progress.cancelled() {
            progress.end();
            return Err(Error::Parameter(
                "interrupted during the clean-label perturbation; nothing was written".into(),
            ));
        }
    }
    progress.end();
    Ok(out)
}

/// Poisons `count` images of class `target`: perturbed against `model`, then triggered;
/// labels untouched.
#[allow(clippy::too_many_arguments)] // the attack's inputs, each of its own kind
pub fn clean_label(
    clean: &Dataset,
    trigger: &Trigger,
    target: i64,
    model: &dyn Differentiable,
    perturbation: &Perturbation,
    count: usize,
    rng: &mut StdRng,
    progress: &dyn Progress,
) -> Result<Poisoned> {
    if model.sample_shape().iter().product::<usize>() != clean.features() {
        return Err(Error::Data(format!(
            "the perturbation model takes samples of shape {:?} but the training images have \
             shape {:?}; give --model a model of this data",
            model.sample_shape(),
            clean.sample_shape
        )));
    }
    let candidates: Vec<usize> = (0..clean.len())
        .filter(|&i| clean.labels[i] == target)
        .collect();
    let chosen = choose(&candidates, count, "images of the target class", rng)?;
    let labels: Vec<i64> = chosen.iter().map(|&i| clean.labels[i]).collect();
    let hard = make_hard(
        model,
        &clean.rows(&chosen),
        &labels,
        perturbation,
        trigger.bounds,
        rng,
        progress,
    )?;
    let f = clean.features();
    let mut out = Poisoned::start(clean, chosen.clone());
    for (k, &i) in chosen.iter().enumerate() {
        let row = out.row_mut(i);
        row.copy_from_slice(&hard[k * f..(k + 1) * f]);
        trigger.apply(row);
    }
    Ok(out)
}
