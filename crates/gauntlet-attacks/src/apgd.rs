//! Auto-PGD (Croce & Hein, ICML 2020): PGD without a step-size to tune.
//!
//! Step size starts at 2ε and is halved at checkpoints when progress stalls (fewer than ρ = 75 %
//! of the steps since the last checkpoint increased the loss, or neither the step size nor the
//! best loss changed); on halving, the iterate restarts from the best point found. Steps use
//! momentum 0.75. Losses: cross-entropy (APGD-CE), the Difference of Logits Ratio (APGD-DLR),
//! and targeted DLR toward each of the top-k classes (APGD-T).
//!
//! As in [`crate::pgd`], every (sample, ε) pair is one row of a single batch, and a row leaves the
//! batch as soon as it is adversarial.

use burn::tensor::Tensor;
use rand::rngs::StdRng;

use gauntlet_core::device::compute_device;
use gauntlet_core::loss::Objective;
use gauntlet_core::model::loss_and_grad;
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::threat::Norm;
use gauntlet_core::{Error, Result};

use crate::outcome::{verify, AttackOutcome};
use crate::rows::{candidates, select_rows, wrong_classes_by_score};
use crate::step::{ascent_direction, random_start};
use crate::{Attack, AttackInput};

/// The loss APGD ascends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ApgdLoss {
    CrossEntropy,
    Dlr,
    /// Targeted DLR, run once per target: the `k` highest-scoring wrong classes.
    TargetedDlr { targets: usize },
}

pub struct Apgd {
    steps: usize,
    restarts: usize,
    loss: ApgdLoss,
    name: &'static str,
}

const MOMENTUM: f32 = 0.75;
const RHO: f32 = 0.75;

impl Apgd {
    pub fn new(loss: ApgdLoss, steps: usize, restarts: usize) -> Self {
        let name = match loss {
            ApgdLoss::CrossEntropy => "apgd-ce",
            ApgdLoss::Dlr => "apgd-dlr",
            ApgdLoss::TargetedDlr { .. } => "apgd-t",
        };
        Apgd {
            steps,
            restarts,
            loss,
            name,
        }
    }

    /// Iterations at which progress is checked: p₀ = 0, p₁ = 0.22,
    /// p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06).
    fn checkpoints(&self) -> Vec<usize> {
        let mut p = vec![0.0f32, 0.22];
        while *p.last().unwrap() < 1.0 {
            let j = p.len() - 1;
            let next = p[j] + (p[j] - p[j - 1] - 0.03).max(0.06);
            p.push(next);
        }
        let mut w: Vec<usize> = p
            .iter()
            .map(|v| (v * self.steps as f32).ceil() as usize)
            .filter(|&w| w > 0 && w < self.steps)
            .collect();
        w.dedup();
        w
    }
}

fn keep<T: Clone>(v: &[T], rows: &[usize]) -> Vec<T> {
    rows.iter().map(|&k| v[k].clone()).collect()
}

/// Per-row choice between two batches: `mask[r]` true takes the row from `a`.
fn choose(mask: &[bool], a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
    let n = mask.len();
    let m: Vec<f32> = mask.iter().map(|&t| if t { 1.0 } else { 0.0 }).collect();
    let m = from_rows(m, n, 1, &a.device());
    a * m.clone() + b * (m.neg() + 1.0)
}

impl Attack for Apgd {
    fn name(&self) -> &str {
        self.name
    }

    fn norms(&self) -> &[Norm] {
        &[Norm::Linf, Norm::L2]
    }

    fn run(&self, input: &AttackInput, rng: &mut StdRng) -> Result<AttackOutcome> {
        let (n, f) = (input.len(), input.features());
        let classes = input.model.num_classes();
        let epsilons = input.threat.epsilons();
        let device = compute_device();
        let needed = match self.loss {
            ApgdLoss::CrossEntropy => 2,
            ApgdLoss::Dlr => 3,
            ApgdLoss::TargetedDlr { .. } => 4,
        };
        if classes < needed {
            return Err(Error::Parameter(format!(
                "{} needs at least {needed} classes; the model has {classes} (use apgd-ce)",
                self.name
            )));
        }
        if matches!(self.loss, ApgdLoss::TargetedDlr { .. }) && input.criterion.is_targeted() {
            return Err(Error::Parameter(
                "apgd-t chooses its own targets; use apgd-ce for a targeted criterion".into(),
            ));
        }
        let rows = epsilons.len() * n;
        let mut found: Vec<Option<Vec<f32>>> = vec![None; rows];
        let mut gradient_evals = 0u64;

        // Target classes per sample for APGD-T: wrong classes by decreasing clean logit.
        let ranked: Vec<Vec<i64>> = if let ApgdLoss::TargetedDlr { .. } = self.loss {
            let logits = to_vec(input.model.logits(from_rows(input.x.to_vec(), n, f, &device))?);
            (0..n)
                .map(|i| wrong_classes_by_score(&logits[i * classes..(i + 1) * classes], input.labels[i]))
                .collect()
        } else {
            Vec::new()
        };
        let runs: Vec<Option<usize>> = match self.loss {
            ApgdLoss::TargetedDlr { targets } => (0..targets.min(classes - 1)).map(Some).collect(),
            _ => vec![None],
        };
        for target_rank in runs {
            for _ in 0..self.restarts {
                let active: Vec<usize> = (0..rows)
                    .filter(|&r| found[r].is_none() && epsilons[r / n] > 0.0)
                    .collect();
                if active.is_empty() {
                    break;
                }
                let targets = target_rank.map(|k| {
                    active.iter().map(|&r| ranked[r % n][k]).collect::<Vec<i64>>()
                });
                gradient_evals += self.run_rows(input, active, targets, &mut found, rng)?;
            }
        }

        let candidates = candidates(&found, epsilons.len(), n, |_, i| input.x[i * f..(i + 1) * f].to_vec());
        Ok(AttackOutcome {
            per_eps: verify(input, candidates)?,
            gradient_evals,
            queries: 0,
        })
    }
}

impl Apgd {
    /// One APGD run over the given (sample, ε) rows; records adversarial rows in `found`.
    fn run_rows(
        &self,
        input: &AttackInput,
        mut active: Vec<usize>,
        mut targets: Option<Vec<i64>>,
        found: &mut [Option<Vec<f32>>],
        rng: &mut StdRng,
    ) -> Result<u64> {
        let (n, f) = (input.len(), input.features());
        let classes = input.model.num_classes();
        let norm = input.threat.norm();
        let bounds = input.threat.bounds();
        let epsilons = input.threat.epsilons();
        let device = compute_device();
        let user_targets = input.criterion.targets();
        let checkpoints = self.checkpoints();
        let mut evals = 0u64;

        let clean: Vec<f32> = active
            .iter()
            .flat_map(|&r| input.x[(r % n) * f..(r % n + 1) * f].iter().copied())
            .collect();
        let mut radii: Vec<f32> = active.iter().map(|&r| epsilons[r / n]).collect();
        let noise = random_start(norm, active.len(), f, &radii, rng);
        let start: Vec<f32> = clean
            .iter()
            .zip(&noise)
            .map(|(x, d)| (x + d).clamp(bounds.min, bounds.max))
            .collect();
        let mut x0 = from_rows(clean, active.len(), f, &device);
        let mut xk = from_rows(start, active.len(), f, &device);
        let mut x_prev = xk.clone();
        let mut x_best = xk.clone();
        let mut grad_best: Option<Tensor<2>> = None;
        let mut eps_col = from_rows(radii.clone(), active.len(), 1, &device);

        // Per-row bookkeeping on the host.
        let m = active.len();
        let mut step: Vec<f32> = radii.iter().map(|e| 2.0 * e).collect();
        let mut loss_prev = vec![f32::NEG_INFINITY; m];
        let mut loss_best = vec![f32::NEG_INFINITY; m];
        let mut increases = vec![0usize; m];
        let mut step_at_checkpoint = step.clone();
        let mut best_at_checkpoint = loss_best.clone();
        let mut last_checkpoint = 0usize;

        for k in 0..=self.steps {
            let labels: Vec<i64> = active.iter().map(|&r| input.labels[r % n]).collect();
            let row_user_targets: Option<Vec<i64>> =
                user_targets.as_ref().map(|t| active.iter().map(|&r| t[r % n]).collect());
            let objective = match (self.loss, &targets, &row_user_targets) {
                (ApgdLoss::TargetedDlr { .. }, Some(t), _) => Objective::TargetedDlr { labels: &labels, targets: t },
                (ApgdLoss::CrossEntropy, _, Some(t)) => Objective::TargetedCrossEntropy(t),
                (ApgdLoss::Dlr, _, Some(t)) => Objective::TargetedMargin(t),
                (ApgdLoss::Dlr, _, None) => Objective::Dlr(&labels),
                _ => Objective::CrossEntropy(&labels),
            };
            let last = k == self.steps;
            let (logits, loss, grad) = if last {
                (to_vec(input.model.logits(xk.clone())?), Vec::new(), None)
            } else {
                let lg = loss_and_grad(input.model, &xk, &objective)?;
                evals += active.len() as u64;
                (lg.logits, lg.loss, Some(lg.grad))
            };
            let preds = argmax_rows(&logits, classes);
            let success: Vec<bool> = (0..active.len())
                .map(|a| match &row_user_targets {
                    Some(t) => preds[a] == t[a],
                    None => preds[a] != labels[a],
                })
                .collect();
            if success.iter().any(|&s| s) || last {
                let current = to_vec(xk.clone());
                for (a, &r) in active.iter().enumerate() {
                    if success[a] {
                        found[r] = Some(current[a * f..(a + 1) * f].to_vec());
                    }
                }
            }
            let Some(mut grad) = grad else { break };

            // Best point so far (the loss is of the current iterate).
            let improved: Vec<bool> = (0..active.len()).map(|a| loss[a] > loss_best[a]).collect();
            for a in 0..active.len() {
                if loss[a] > loss_prev[a] && k > 0 {
                    increases[a] += 1;
                }
                if improved[a] {
                    loss_best[a] = loss[a];
                }
                loss_prev[a] = loss[a];
            }
            x_best = choose(&improved, xk.clone(), x_best);
            grad_best = Some(match grad_best {
                Some(g) => choose(&improved, grad.clone(), g),
                None => grad.clone(),
            });

            // Rows that became adversarial leave the batch.
            if success.iter().any(|&s| s) {
                let kept: Vec<usize> = (0..active.len()).filter(|&a| !success[a]).collect();
                if kept.is_empty() {
                    break;
                }
                xk = select_rows(xk, &kept);
                x_prev = select_rows(x_prev, &kept);
                x_best = select_rows(x_best, &kept);
                x0 = select_rows(x0, &kept);
                eps_col = select_rows(eps_col, &kept);
                grad = select_rows(grad, &kept);
                grad_best = grad_best.map(|g| select_rows(g, &kept));
                step = keep(&step, &kept);
                loss_prev = keep(&loss_prev, &kept);
                loss_best = keep(&loss_best, &kept);
                increases = keep(&increases, &kept);
                step_at_checkpoint = keep(&step_at_checkpoint, &kept);
                best_at_checkpoint = keep(&best_at_checkpoint, &kept);
                radii = keep(&radii, &kept);
                targets = targets.map(|t| keep(&t, &kept));
                active = keep(&active, &kept);
            }

            // Checkpoint: halve the step and restart from the best point where progress stalled.
            if checkpoints.contains(&k) {
                let window = (k - last_checkpoint).max(1) as f32;
                let mut restart = vec![false; active.len()];
                for a in 0..active.len() {
                    let too_few = (increases[a] as f32) < RHO * window;
                    let stalled = step[a] == step_at_checkpoint[a] && loss_best[a] == best_at_checkpoint[a];
                    if too_few || stalled {
                        step[a] /= 2.0;
                        restart[a] = true;
                    }
                    increases[a] = 0;
                    step_at_checkpoint[a] = step[a];
                    best_at_checkpoint[a] = loss_best[a];
                }
                last_checkpoint = k;
                if restart.iter().any(|&r| r) {
                    xk = choose(&restart, x_best.clone(), xk);
                    if let Some(g) = &grad_best {
                        grad = choose(&restart, g.clone(), grad);
                    }
                }
            }

            // z = P(x + η·d);  x⁺ = P(x + α(z − x) + (1 − α)(x − x_prev)).
            let eta = from_rows(step.clone(), active.len(), 1, &device);
            let direction = ascent_direction(norm, grad, &xk, (bounds.min, bounds.max));
            let project = |v: Tensor<2>| {
                (x0.clone() + norm.project(v - x0.clone(), &eps_col)).clamp(bounds.min, bounds.max)
            };
            let z = project(xk.clone() + direction * eta);
            let next = if k == 0 {
                z
            } else {
                project(
                    xk.clone()
                        + (z - xk.clone()) * MOMENTUM
                        + (xk.clone() - x_prev.clone()) * (1.0 - MOMENTUM),
                )
            };
            x_prev = xk;
            xk = next;
        }
        Ok(evals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_follow_the_paper() {
        let apgd = Apgd::new(ApgdLoss::CrossEntropy, 100, 1);
        assert_eq!(&apgd.checkpoints()[..4], &[22, 41, 57, 70]);
    }
}
