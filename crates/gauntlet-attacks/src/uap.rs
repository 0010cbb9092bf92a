//! Universal adversarial perturbation (Moosavi-Dezfooli et al., "Universal adversarial
//! perturbations", CVPR 2017): **one** perturbation δ, within the budget, added to every input
//! of a batch. It measures something per-sample attacks do not: whether the model has a
//! direction that fools it on most inputs at once — what a sticker, a filter on a camera or a
//! noise pattern in a broadcast could exploit.
//!
//! The search is the stochastic-gradient form of Shafahi et al. ("Universal adversarial
//! training", AAAI 2020) rather than the paper's DeepFool loop: δ climbs the summed
//! cross-entropy of the batch (toward the target under a targeted criterion), one projected
//! step of the norm's steepest-ascent direction per iteration, and the δ that fooled most
//! inputs is kept:
//!
//! ```text
//! δ ← 0
//! repeat steps times:
//!     g ← Σᵢ ∇ₓ L(f(clip(xᵢ + δ)), yᵢ)          one gradient for the shared δ
//!     δ ← Π_ε(δ + α · dir(g))                    α = rel_step · ε
//!     keep δ if it fools more inputs than any before
//! ```
//!
//! Universal *within each batch of the audit* (its `batch_size`): a larger batch asks more of
//! one δ. Each input is clipped to the valid box after δ is added, so near the box's edges an
//! input receives a clipped δ — as a physical perturbation would saturate.

use rand::rngs::StdRng;
use serde_json::json;

use gauntlet_core::device::compute_device;
use gauntlet_core::model::loss_and_grad;
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::threat::Norm;
use gauntlet_core::{Error, Result};

use crate::attack::described;
use crate::outcome::BudgetCandidates;
use crate::step::ascent_direction;
use crate::{objective_for, Attack, AttackInput, FixedBudget, Kind};

/// One perturbation for every input of a batch; a fixed-budget attack.
#[derive(Debug, Clone)]
pub struct Universal {
    steps: usize,
    rel_step: f32,
}

impl Universal {
    /// `steps` projected gradient steps on the shared δ of size `rel_step · ε` each (default
    /// 2.5 / steps, Madry et al.'s rule).
    pub fn new(steps: usize, rel_step: Option<f32>) -> Result<Self> {
        if steps == 0 {
            return Err(Error::Parameter(
                "Universal: steps must be at least 1".into(),
            ));
        }
        if let Some(r) = rel_step {
            if !r.is_finite() || r <= 0.0 {
                return Err(Error::Parameter(format!(
                    "Universal: rel_step = {r} must be a positive number (a fraction of ε)"
                )));
            }
        }
        Ok(Universal {
            steps,
            rel_step: rel_step.unwrap_or(2.5 / steps as f32),
        })
    }
}

impl Attack for Universal {
    fn name(&self) -> &str {
        "uap"
    }

    fn norms(&self) -> &[Norm] {
        &[Norm::Linf, Norm::L2, Norm::L1]
    }

    fn describe(&self) -> serde_json::Value {
        described(
            self,
            json!({
                "steps": self.steps,
                "rel_step": self.rel_step,
                "step_size": "rel_step × ε, constant",
                "universal": "one δ per batch of the audit",
                "loss": "summed cross-entropy (toward the target when targeted)",
            }),
        )
    }

    fn kind(&self) -> Kind<'_> {
        Kind::FixedBudget(self)
    }
}

impl FixedBudget for Universal {
    fn attack_budgets(&self, input: &AttackInput, _rng: &mut StdRng) -> Result<BudgetCandidates> {
        let (n, f) = (input.len(), input.features());
        let norm = input.threat().norm();
        let bounds = input.threat().bounds();
        let device = compute_device();
        let classes = input.model().num_classes();
        let x = input.x();
        let labels = input.labels();
        let targets = input.criterion().targets();
        let objective = objective_for(labels, targets.as_deref());
        let perturbed = |delta: &[f32]| -> Vec<f32> {
            x.chunks(f)
                .flat_map(|row| {
                    row.iter()
                        .zip(delta)
                        .map(|(v, d)| (v + d).clamp(bounds.min, bounds.max))
                })
                .collect()
        };
        let fooled = |logits: &[f32]| -> usize {
            argmax_rows(logits, classes)
                .iter()
                .enumerate()
                .filter(|&(i, &p)| input.criterion().is_adversarial(i, labels[i], p))
                .count()
        };
        let mut rows = Vec::with_capacity(input.threat().epsilons().len());
        let mut gradient_evals = 0u64;
        for &eps in input.threat().epsilons() {
            let mut delta = vec![0f32; f];
            let mut best = (0usize, delta.clone());
            if eps > 0.0 && n > 0 {
                let step = self.rel_step * eps;
                for _ in 0..self.steps {
                    let xt = from_rows(perturbed(&delta), n, f, &device);
                    let lg = loss_and_grad(input.model(), &xt, &objective)?;
                    gradient_evals += n as u64;
                    let count = fooled(&lg.logits);
                    if count > best.0 {
                        best = (count, delta.clone());
                    }
                    // The gradient of the summed loss with respect to the shared δ.
                    let per_sample = to_vec(lg.grad);
                    let mut total = vec![0f32; f];
                    for row in per_sample.chunks(f) {
                        for (t, g) in total.iter_mut().zip(row) {
                            *t += g;
                        }
                    }
                    let at = from_rows(delta.clone(), 1, f, &device);
                    let direction = to_vec(ascent_direction(
                        norm,
                        from_rows(total, 1, f, &device),
                        &at,
                        (bounds.min - bounds.max, bounds.max - bounds.min),
                    ));
                    for (d, s) in delta.iter_mut().zip(&direction) {
                        *d += step * s;
                    }
                    norm.project_rows(&mut delta, f, eps);
                }
                let logits = to_vec(input.model().logits(from_rows(
                    perturbed(&delta),
                    n,
                    f,
                    &device,
                ))?);
                let count = fooled(&logits);
                if count > best.0 {
                    best = (count, delta);
                }
            }
            rows.push(perturbed(&best.1));
        }
        Ok(BudgetCandidates {
            rows,
            gradient_evals,
            queries: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::testing::Identity;
    use gauntlet_core::criterion::Criterion;
    use gauntlet_core::threat::{Bounds, ThreatModel};

    #[test]
    fn one_perturbation_for_every_input_within_the_budget() {
        // Logits are the inputs: class 0 leads the first and third rows, class 1 the second.
        let model = Identity::new(3);
        let x = vec![0.6, 0.5, 0.2, 0.2, 0.7, 0.6, 0.55, 0.3, 0.4, 0.9, 0.1, 0.0];
        let labels = vec![0, 1, 0, 0];
        let threat = ThreatModel::new(Norm::Linf, &[0.1, 0.3], Bounds::default()).unwrap();
        let criterion = Criterion::Untargeted;
        let input = AttackInput::new(&model, &x, &labels, &criterion, &threat).unwrap();
        let attack = Universal::new(20, None).unwrap();
        let mut rng = StdRng::seed_from_u64(0);
        let out = attack.run(&input, &mut rng).unwrap();
        let f = input.features();
        for per_eps in &out.per_eps {
            // Away from the box's edges every input moved by the same δ.
            let mut shared: Vec<Option<f32>> = vec![None; f];
            for (row, clean) in per_eps.adversarial.chunks(f).zip(x.chunks(f)) {
                for j in 0..f {
                    let d = row[j] - clean[j];
                    assert!(d.abs() <= per_eps.eps + 1e-6);
                    let inside = row[j] > 0.0 && row[j] < 1.0;
                    if inside {
                        match shared[j] {
                            None => shared[j] = Some(d),
                            Some(s) => assert!((s - d).abs() < 1e-5, "feature {j}: {s} vs {d}"),
                        }
                    }
                }
            }
        }
        let last = out.per_eps.last().unwrap();
        // Ascending the summed loss, one δ of 0.3 fools rows of small margin; nothing within
        // L∞ 0.3 fools the fourth (its margin is 0.8).
        assert!(
            last.success.iter().filter(|&&s| s).count() >= 2,
            "{:?}",
            last.success
        );
        assert!(!last.success[3]);
    }
}
