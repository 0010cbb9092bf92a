//! Projected Gradient Descent (Madry et al., 2018) for L∞, L2 and L1.
//!
//! All budgets run in one batch: the inputs are replicated once per ε, each row carrying its
//! own radius (`rows.rs`). A row that becomes adversarial is recorded at that iterate and
//! leaves the batch, so later iterations only pay for rows still standing; restarts rerun only
//! those. A row that never breaks proposes its last iterate.

use rand::rngs::StdRng;
use serde_json::json;

use gauntlet_core::device::compute_device;
use gauntlet_core::model::loss_and_grad;
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::threat::Norm;
use gauntlet_core::{Error, Result};

use crate::attack::described;
use crate::outcome::BudgetCandidates;
use crate::rows::{keep_host_rows, Active, Rows};
use crate::step::{projected_ascent_step, random_start};
use crate::{objective_for, Attack, AttackInput, FixedBudget, Kind};

/// PGD with a constant step `rel_step · ε`, optional random start, and restarts; a
/// fixed-budget attack. `steps` iterations per run, one gradient evaluation per row each.
#[derive(Debug, Clone)]
pub struct Pgd {
    steps: usize,
    restarts: usize,
    rel_step: f32,
    random_start: bool,
}

impl Pgd {
    /// `steps` iterations (at least 1), `restarts` runs (at least 1), a step of `rel_step · ε`
    /// (`None`: 2.5 / steps, Madry et al.), from a uniformly random point of the ball when
    /// `random_start`.
    pub fn new(
        steps: usize,
        restarts: usize,
        rel_step: Option<f32>,
        random_start: bool,
    ) -> Result<Self> {
        if steps == 0 {
            return Err(Error::Parameter("Pgd: steps must be at least 1".into()));
        }
        if restarts == 0 {
            return Err(Error::Parameter("Pgd: restarts must be at least 1".into()));
        }
        if let Some(r) = rel_step {
            if !r.is_finite() || r <= 0.0 {
                return Err(Error::Parameter(format!(
                    "Pgd: rel_step = {r} must be a positive number (a fraction of ε)"
                )));
            }
        }
        Ok(Pgd {
            steps,
            restarts,
            rel_step: rel_step.unwrap_or(2.5 / steps as f32),
            random_start,
        })
    }
}

impl Attack for Pgd {
    fn name(&self) -> &str {
        "pgd"
    }

    fn norms(&self) -> &[Norm] {
        &[Norm::Linf, Norm::L2, Norm::L1]
    }

    fn describe(&self) -> serde_json::Value {
        described(
            self,
            json!({
                "steps": self.steps,
                "restarts": self.restarts,
                "step_size": "rel_step × ε, constant",
                "rel_step": self.rel_step,
                "random_start": self.random_start,
                "loss": "cross-entropy (toward the target when targeted)",
            }),
        )
    }

    fn kind(&self) -> Kind<'_> {
        Kind::FixedBudget(self)
    }
}

impl FixedBudget for Pgd {
    fn attack_budgets(&self, input: &AttackInput, rng: &mut StdRng) -> Result<BudgetCandidates> {
        let f = input.features();
        let norm = input.threat().norm();
        let bounds = input.threat().bounds();
        let device = compute_device();
        let classes = input.model().num_classes();
        let mut rows = Rows::new(input);
        let mut gradient_evals = 0u64;

        for _restart in 0..self.restarts {
            let mut active = Active::plain(rows.open());
            if active.is_empty() {
                break;
            }
            let clean = rows.clean_rows(active.rows());
            let radii = rows.radii(active.rows());
            let start: Vec<f32> = if self.random_start {
                let mut noise = random_start(norm, active.len(), f, &radii, rng);
                input.threat().confine(&mut noise, f);
                clean
                    .iter()
                    .zip(&noise)
                    .map(|(x, d)| (x + d).clamp(bounds.min, bounds.max))
                    .collect()
            } else {
                clean.clone()
            };
            // The iterates live on the host; each step is one task per row.
            let (mut x0, mut xt, mut radii) = (clean, start, radii);

            for step in 0..=self.steps {
                let labels = rows.labels(active.rows());
                let targets = rows.targets(active.rows());
                let objective = objective_for(&labels, targets.as_deref());
                let batch = from_rows(xt.clone(), active.len(), f, &device);
                // The last pass only checks the final iterate.
                let (logits, grad) = if step < self.steps {
                    let lg = loss_and_grad(input.model(), &batch, &objective)?;
                    gradient_evals += active.len() as u64;
                    (lg.logits, Some(to_vec(lg.grad)))
                } else {
                    (to_vec(input.model().logits(batch)?), None)
                };
                let preds = argmax_rows(&logits, classes);
                let success: Vec<bool> = active
                    .rows()
                    .iter()
                    .zip(&preds)
                    .map(|(&r, &p)| rows.is_adversarial(r, p))
                    .collect();
                let any_success = success.contains(&true);
                if any_success || grad.is_none() {
                    rows.record(active.rows(), &xt, &success, grad.is_none());
                }
                let Some(mut grad) = grad else { break };
                if any_success {
                    let kept = active.drop_where(&success);
                    if kept.is_empty() {
                        break;
                    }
                    xt = keep_host_rows(&xt, f, &kept);
                    x0 = keep_host_rows(&x0, f, &kept);
                    grad = keep_host_rows(&grad, f, &kept);
                    radii = kept.iter().map(|&k| radii[k]).collect();
                }
                projected_ascent_step(
                    (norm, (bounds.min, bounds.max)),
                    &mut xt,
                    (&x0, &grad),
                    &radii,
                    self.rel_step,
                    f,
                );
            }
        }
        Ok(rows.into_candidates(gradient_evals, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_rejects_bad_values_by_field() {
        let err = |r: Result<Pgd>| r.unwrap_err().to_string();
        assert_eq!(
            err(Pgd::new(0, 1, None, true)),
            "Pgd: steps must be at least 1"
        );
        assert_eq!(
            err(Pgd::new(10, 0, None, true)),
            "Pgd: restarts must be at least 1"
        );
        assert!(err(Pgd::new(10, 1, Some(0.0), true)).starts_with("Pgd: rel_step = 0"));
        assert!(err(Pgd::new(10, 1, Some(f32::INFINITY), true)).starts_with("Pgd: rel_step = inf"));
        let pgd = Pgd::new(10, 2, None, false).unwrap();
        assert_eq!(pgd.describe()["rel_step"], 0.25);
        assert_eq!(pgd.describe()["restarts"], 2);
    }
}
