//! Auto-PGD (Croce & Hein, ICML 2020): PGD without a step-size to tune.
//!
//! Step size starts at 2ε and is halved at checkpoints when progress stalls (fewer than ρ = 75 %
//! of the steps since the last checkpoint increased the loss, or neither the step size nor the
//! best loss changed); on halving, the iterate restarts from the best point found. Steps use
//! momentum 0.75. Losses: cross-entropy (APGD-CE), the Difference of Logits Ratio (APGD-DLR),
//! and targeted DLR toward each of the top-k classes (APGD-T).
//!
//! As in [`crate::pgd`], every (sample, ε) pair is one row of a single batch, and a row leaves the
//! batch as soon as it is adversarial; a row that never breaks proposes its clean input.

use rand::rngs::StdRng;
use serde_json::json;

use gauntlet_core::device::compute_device;
use gauntlet_core::loss::Objective;
use gauntlet_core::model::loss_and_grad;
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::threat::Norm;
use gauntlet_core::{Error, Result};

use crate::attack::described;
use crate::outcome::BudgetCandidates;
use crate::rows::{wrong_classes_by_score, Active, Rows};
use crate::step::random_start;
use crate::{Attack, AttackInput, FixedBudget, Kind};

mod iterates;

use iterates::Iterates;

/// The loss APGD ascends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ApgdLoss {
    /// Cross-entropy (APGD-CE); toward the target under a targeted criterion.
    CrossEntropy,
    /// The Difference of Logits Ratio (APGD-DLR); the targeted margin under a targeted
    /// criterion.
    Dlr,
    /// Targeted DLR, run once per target: the `targets` highest-scoring wrong classes (APGD-T).
    TargetedDlr {
        /// How many target classes to try.
        targets: usize,
    },
}

/// Auto-PGD, a fixed-budget attack for L∞ and L2: `steps` iterations per run, `restarts` runs
/// (per target class for APGD-T).
#[derive(Debug, Clone)]
pub struct Apgd {
    steps: usize,
    restarts: usize,
    loss: ApgdLoss,
    name: &'static str,
}

const MOMENTUM: f32 = 0.75;
const RHO: f32 = 0.75;

impl Apgd {
    /// Target classes APGD-T tries (AutoAttack's default).
    pub const DEFAULT_TARGET_CLASSES: usize = 9;

    /// APGD with `loss`, `steps` iterations per run and `restarts` runs (each at least 1).
    pub fn new(loss: ApgdLoss, steps: usize, restarts: usize) -> Result<Self> {
        if steps == 0 {
            return Err(Error::Parameter("Apgd: steps must be at least 1".into()));
        }
        if restarts == 0 {
            return Err(Error::Parameter("Apgd: restarts must be at least 1".into()));
        }
        let name = match loss {
            ApgdLoss::CrossEntropy => "apgd-ce",
            ApgdLoss::Dlr => "apgd-dlr",
            ApgdLoss::TargetedDlr { targets: 0 } => {
                return Err(Error::Parameter(
                    "Apgd: the targets of ApgdLoss::TargetedDlr must be at least 1".into(),
                ))
            }
            ApgdLoss::TargetedDlr { .. } => "apgd-t",
        };
        Ok(Apgd {
            steps,
            restarts,
            loss,
            name,
        })
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

impl Attack for Apgd {
    fn name(&self) -> &str {
        self.name
    }

    fn norms(&self) -> &[Norm] {
        &[Norm::Linf, Norm::L2]
    }

    fn describe(&self) -> serde_json::Value {
        let (loss, targets) = match self.loss {
            ApgdLoss::CrossEntropy => ("cross-entropy", None),
            ApgdLoss::Dlr => ("dlr", None),
            ApgdLoss::TargetedDlr { targets } => ("targeted-dlr", Some(targets)),
        };
        described(
            self,
            json!({
                "steps": self.steps,
                "restarts": self.restarts,
                "loss": loss,
                "target_classes": targets,
                "step_size": "2ε, halved at checkpoints where progress stalls",
                "checkpoints": self.checkpoints(),
                "rho": RHO,
                "momentum": MOMENTUM,
            }),
        )
    }

    fn kind(&self) -> Kind<'_> {
        Kind::FixedBudget(self)
    }
}

impl FixedBudget for Apgd {
    fn attack_budgets(&self, input: &AttackInput, rng: &mut StdRng) -> Result<BudgetCandidates> {
        let (n, f) = (input.len(), input.features());
        let classes = input.model().num_classes();
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
        if matches!(self.loss, ApgdLoss::TargetedDlr { .. }) && input.criterion().is_targeted() {
            return Err(Error::Parameter(
                "apgd-t chooses its own targets; use apgd-ce for a targeted criterion".into(),
            ));
        }
        let mut rows = Rows::new(input);
        let mut gradient_evals = 0u64;

        // Target classes per sample for APGD-T: wrong classes by decreasing clean logit.
        let ranked: Vec<Vec<i64>> = if let ApgdLoss::TargetedDlr { .. } = self.loss {
            let logits = to_vec(input.model().logits(from_rows(
                input.x().to_vec(),
                n,
                f,
                &device,
            ))?);
            (0..n)
                .map(|i| {
                    wrong_classes_by_score(
                        &logits[i * classes..(i + 1) * classes],
                        input.labels()[i],
                    )
                })
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
                let open = rows.open();
                if open.is_empty() {
                    break;
                }
                let targets =
                    target_rank.map(|k| open.iter().map(|&r| ranked[rows.sample(r)][k]).collect());
                gradient_evals += self.run_rows(input, &mut rows, open, targets, rng)?;
            }
        }
        Ok(rows.into_candidates(gradient_evals, false))
    }
}

/// One row's step-size control.
#[derive(Clone)]
struct Progress {
    step: f32,
    loss_prev: f32,
    loss_best: f32,
    increases: usize,
    step_at_checkpoint: f32,
    best_at_checkpoint: f32,
    /// APGD-T's target class for this run (unused otherwise).
    target: i64,
}

impl Apgd {
    /// One APGD run over the `open` (sample, ε) rows, APGD-T toward `targets` (one per row);
    /// records adversarial rows in `rows`. Returns the gradient evaluations spent.
    fn run_rows(
        &self,
        input: &AttackInput,
        rows: &mut Rows,
        open: Vec<usize>,
        targets: Option<Vec<i64>>,
        rng: &mut StdRng,
    ) -> Result<u64> {
        let f = input.features();
        let classes = input.model().num_classes();
        let norm = input.threat().norm();
        let bounds = input.threat().bounds();
        let device = compute_device();
        let checkpoints = self.checkpoints();
        let targeted_run = targets.is_some();
        let mut evals = 0u64;

        let m = open.len();
        let clean = rows.clean_rows(&open);
        let radii = rows.radii(&open);
        let mut noise = random_start(norm, m, f, &radii, rng);
        input.threat().confine(&mut noise, f);
        let start: Vec<f32> = clean
            .iter()
            .zip(&noise)
            .map(|(x, d)| (x + d).clamp(bounds.min, bounds.max))
            .collect();
        let mut it = Iterates::new(clean, start, radii.clone(), f);
        let progress: Vec<Progress> = radii
            .iter()
            .enumerate()
            .map(|(a, e)| Progress {
                step: 2.0 * e,
                loss_prev: f32::NEG_INFINITY,
                loss_best: f32::NEG_INFINITY,
                increases: 0,
                step_at_checkpoint: 2.0 * e,
                best_at_checkpoint: f32::NEG_INFINITY,
                target: targets.as_ref().map_or(0, |t| t[a]),
            })
            .collect();
        let mut active = Active::new(open, progress);
        let mut last_checkpoint = 0usize;

        for k in 0..=self.steps {
            let labels = rows.labels(active.rows());
            let user_targets = rows.targets(active.rows());
            let run_targets: Vec<i64> = active.state().iter().map(|p| p.target).collect();
            let objective = match (self.loss, targeted_run, &user_targets) {
                (ApgdLoss::TargetedDlr { .. }, true, _) => Objective::TargetedDlr {
                    labels: &labels,
                    targets: &run_targets,
                },
                (ApgdLoss::CrossEntropy, _, Some(t)) => Objective::TargetedCrossEntropy(t),
                (ApgdLoss::Dlr, _, Some(t)) => Objective::TargetedMargin(t),
                (ApgdLoss::Dlr, _, None) => Objective::Dlr(&labels),
                _ => Objective::CrossEntropy(&labels),
            };
            let last = k == self.steps;
            let xk = from_rows(it.xk.clone(), active.len(), f, &device);
            let (logits, loss, grad) = if last {
                (to_vec(input.model().logits(xk)?), Vec::new(), None)
            } else {
                let lg = loss_and_grad(input.model(), &xk, &objective)?;
                evals += active.len() as u64;
                (lg.logits, lg.loss, Some(to_vec(lg.grad)))
            };
            let preds = argmax_rows(&logits, classes);
            let success: Vec<bool> = active
                .rows()
                .iter()
                .zip(&preds)
                .map(|(&r, &p)| rows.is_adversarial(r, p))
                .collect();
            let any_success = success.contains(&true);
            if any_success {
                rows.record(active.rows(), &it.xk, &success, false);
            }
            let Some(mut grad) = grad else { break };

            // Best point so far (the loss is of the current iterate).
            let improved: Vec<bool> = active
                .state()
                .iter()
                .zip(&loss)
                .map(|(p, l)| *l > p.loss_best)
                .collect();
            for (p, &l) in active.state_mut().iter_mut().zip(&loss) {
                if l > p.loss_prev && k > 0 {
                    p.increases += 1;
                }
                if l > p.loss_best {
                    p.loss_best = l;
                }
                p.loss_prev = l;
            }
            it.keep_best(&improved, &grad);

            // Rows that became adversarial leave the batch.
            if any_success {
                let kept = active.drop_where(&success);
                if kept.is_empty() {
                    break;
                }
                it.select(&kept, &mut grad);
            }

            // Checkpoint: halve the step and restart from the best point where progress stalled.
            if checkpoints.contains(&k) {
                let window = (k - last_checkpoint).max(1) as f32;
                let mut restart = vec![false; active.len()];
                for (a, p) in active.state_mut().iter_mut().enumerate() {
                    let too_few = (p.increases as f32) < RHO * window;
                    let stalled =
                        p.step == p.step_at_checkpoint && p.loss_best == p.best_at_checkpoint;
                    if too_few || stalled {
                        p.step /= 2.0;
                        restart[a] = true;
                    }
                    p.increases = 0;
                    p.step_at_checkpoint = p.step;
                    p.best_at_checkpoint = p.loss_best;
                }
                last_checkpoint = k;
                if restart.contains(&true) {
                    it.restart(&restart, &mut grad);
                }
            }

            // z = P(x + η·d);  x⁺ = P(x + α(z − x) + (1 − α)(x − x_prev)).
            let steps: Vec<f32> = active.state().iter().map(|p| p.step).collect();
            let box_ = (bounds.min, bounds.max);
            it.step((norm, box_), &grad, &steps, (k == 0, MOMENTUM));
        }
        Ok(evals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_follow_the_paper() {
        let apgd = Apgd::new(ApgdLoss::CrossEntropy, 100, 1).unwrap();
        assert_eq!(&apgd.checkpoints()[..4], &[22, 41, 57, 70]);
    }

    #[test]
    fn builder_rejects_bad_values_by_field() {
        let err = |r: Result<Apgd>| r.unwrap_err().to_string();
        assert_eq!(
            err(Apgd::new(ApgdLoss::Dlr, 0, 1)),
            "Apgd: steps must be at least 1"
        );
        assert_eq!(
            err(Apgd::new(ApgdLoss::Dlr, 10, 0)),
            "Apgd: restarts must be at least 1"
        );
        assert!(err(Apgd::new(ApgdLoss::TargetedDlr { targets: 0 }, 10, 1)).contains("targets"));
        let t = Apgd::new(ApgdLoss::TargetedDlr { targets: 3 }, 10, 1).unwrap();
        assert_eq!(t.describe()["target_classes"], 3);
        assert_eq!(t.describe()["loss"], "targeted-dlr");
    }
}
