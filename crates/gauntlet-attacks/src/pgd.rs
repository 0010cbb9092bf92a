//! Projected Gradient Descent (Madry et al., 2018) for L∞, L2 and L1.
//!
//! All budgets run in one batch: the inputs are replicated once per ε, each row carrying its
//! own radius. A row that becomes adversarial is recorded at that iterate and leaves the batch,
//! so later iterations only pay for rows still standing; restarts rerun only those.

use burn::tensor::Tensor;
use rand::rngs::StdRng;

use gauntlet_core::device::compute_device;
use gauntlet_core::model::loss_and_grad;
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::threat::Norm;
use gauntlet_core::Result;

use crate::outcome::{verify, AttackOutcome};
use crate::rows::{candidates, select_rows};
use crate::step::{ascent_direction, random_start};
use crate::{objective_for, Attack, AttackInput};

/// PGD with a constant step `rel_step · ε`, optional random start, and restarts.
pub struct Pgd {
    steps: usize,
    restarts: usize,
    rel_step: f32,
    random_start: bool,
}

impl Pgd {
    pub fn new(steps: usize, restarts: usize, rel_step: Option<f32>, random_start: bool) -> Self {
        Pgd {
            steps,
            restarts,
            rel_step: rel_step.unwrap_or(2.5 / steps as f32),
            random_start,
        }
    }
}

impl Attack for Pgd {
    fn name(&self) -> &str {
        "pgd"
    }

    fn norms(&self) -> &[Norm] {
        &[Norm::Linf, Norm::L2, Norm::L1]
    }

    fn run(&self, input: &AttackInput, rng: &mut StdRng) -> Result<AttackOutcome> {
        let (n, f) = (input.len(), input.features());
        let epsilons = input.threat.epsilons();
        let norm = input.threat.norm();
        let bounds = input.threat.bounds();
        let device = compute_device();
        let classes = input.model.num_classes();
        let targets = input.criterion.targets();

        // Row r = e·n + i: sample i at budget e.
        let rows = epsilons.len() * n;
        let sample_of = |r: usize| r % n;
        let eps_of = |r: usize| epsilons[r / n];
        let mut found: Vec<Option<Vec<f32>>> = vec![None; rows];
        let mut last: Vec<Vec<f32>> = vec![Vec::new(); rows];
        let mut gradient_evals = 0u64;

        for _restart in 0..self.restarts {
            let mut active: Vec<usize> = (0..rows).filter(|&r| found[r].is_none() && eps_of(r) > 0.0).collect();
            if active.is_empty() {
                break;
            }
            let clean: Vec<f32> = active
                .iter()
                .flat_map(|&r| input.x[sample_of(r) * f..(sample_of(r) + 1) * f].iter().copied())
                .collect();
            let radii: Vec<f32> = active.iter().map(|&r| eps_of(r)).collect();
            let start: Vec<f32> = if self.random_start {
                let noise = random_start(norm, active.len(), f, &radii, rng);
                clean
                    .iter()
                    .zip(&noise)
                    .map(|(x, d)| (x + d).clamp(bounds.min, bounds.max))
                    .collect()
            } else {
                clean.clone()
            };
            let mut x0 = from_rows(clean, active.len(), f, &device);
            let mut xt = from_rows(start, active.len(), f, &device);
            let mut eps_col = from_rows(radii.clone(), active.len(), 1, &device);

            for step in 0..=self.steps {
                let labels: Vec<i64> = active.iter().map(|&r| input.labels[sample_of(r)]).collect();
                let row_targets: Option<Vec<i64>> =
                    targets.as_ref().map(|t| active.iter().map(|&r| t[sample_of(r)]).collect());
                let objective = objective_for(&labels, row_targets.as_deref());
                // The last pass only checks the final iterate.
                let (logits, grad) = if step < self.steps {
                    let lg = loss_and_grad(input.model, &xt, &objective)?;
                    gradient_evals += active.len() as u64;
                    (lg.logits, Some(lg.grad))
                } else {
                    (to_vec(input.model.logits(xt.clone())?), None)
                };
                let preds = argmax_rows(&logits, classes);
                let success: Vec<bool> = preds
                    .iter()
                    .enumerate()
                    .map(|(k, &p)| match &row_targets {
                        Some(t) => p == t[k],
                        None => p != labels[k],
                    })
                    .collect();
                let any_success = success.iter().any(|&s| s);
                if any_success || grad.is_none() {
                    let current = to_vec(xt.clone());
                    for (k, &r) in active.iter().enumerate() {
                        let row = current[k * f..(k + 1) * f].to_vec();
                        if success[k] {
                            found[r] = Some(row);
                        } else {
                            last[r] = row;
                        }
                    }
                }
                let Some(grad) = grad else { break };
                if any_success {
                    let keep: Vec<usize> = (0..active.len()).filter(|&k| !success[k]).collect();
                    if keep.is_empty() {
                        break;
                    }
                    xt = select_rows(xt, &keep);
                    x0 = select_rows(x0, &keep);
                    eps_col = select_rows(eps_col, &keep);
                    let grad_kept = select_rows(grad, &keep);
                    active = keep.iter().map(|&k| active[k]).collect();
                    xt = self.step(norm, xt, &x0, grad_kept, &eps_col, (bounds.min, bounds.max));
                } else {
                    xt = self.step(norm, xt, &x0, grad, &eps_col, (bounds.min, bounds.max));
                }
            }
        }

        let candidates = candidates(&found, epsilons.len(), n, |r, i| {
            if last[r].is_empty() {
                input.x[i * f..(i + 1) * f].to_vec()
            } else {
                last[r].clone()
            }
        });
        Ok(AttackOutcome {
            per_eps: verify(input, candidates)?,
            gradient_evals,
            queries: 0,
        })
    }
}

impl Pgd {
    /// One ascent step followed by projection onto the ε-ball and the box.
    fn step(
        &self,
        norm: Norm,
        xt: Tensor<2>,
        x0: &Tensor<2>,
        grad: Tensor<2>,
        eps_col: &Tensor<2>,
        bounds: (f32, f32),
    ) -> Tensor<2> {
        let direction = ascent_direction(norm, grad, &xt, bounds);
        let moved = xt + direction * (eps_col.clone() * self.rel_step);
        let delta = norm.project(moved - x0.clone(), eps_col);
        (x0.clone() + delta).clamp(bounds.0, bounds.1)
    }
}
