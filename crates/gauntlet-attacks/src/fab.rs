//! FAB, the Fast Adaptive Boundary attack (Croce & Hein, ICML 2020): minimum-norm, white-box,
//! for L∞, L2 and L1, untargeted ([`Fab::new`], `fab`) and in the targeted form AutoAttack uses
//! ([`Fab::targeted`], `fab-t`).
//!
//! Each step linearizes the decision boundary between the true class and another class at the
//! current iterate `x1`: `z_j(x1) − z_y(x1) + ∇(z_j − z_y)·(z − x1) = 0`. Untargeted FAB takes the
//! class whose linearized boundary is closest in the threat norm (one backward pass per other
//! class); FAB-T takes one fixed target class per run. It then projects both the iterate and the
//! original point `x0` onto that hyperplane intersected with the valid box (the exact
//! minimum-norm projection: a sort over the coordinates for L∞ and L1, a sort over breakpoints of
//! the clipped closed form for L2), and moves to a convex combination of the two projections,
//! biased toward `x0` by `α = min(‖d1‖ / (‖d1‖ + ‖d2‖), α_max)` and extrapolated by `η`. When the
//! iterate becomes adversarial it is recorded if it is the smallest so far and pulled back toward
//! `x0` by `β`, so the search keeps shrinking the perturbation.
//!
//! Restarts after the first start at a random point of the ball of radius
//! `½·min(best norm so far, largest ε)` around `x0`, drawn from the caller's RNG. FAB-T runs
//! targeted FAB toward each of the `k` best-scoring non-true classes (clean logits) and keeps the
//! smallest success per sample, dropping a sample once it is broken within every budget;
//! success itself is the criterion's (any misclassification when
//! untargeted). A targeted criterion turns both variants into targeted FAB toward its targets.
//!
//! Like the other minimum-norm attacks, the same best rows are proposed for every ε and
//! [`Attack::run`] projects them into each budget.

mod projection;

pub use projection::project_hyperplane_box;
use projection::random_direction;

use rand::rngs::StdRng;
use rayon::prelude::*;
use serde_json::json;

use gauntlet_core::device::compute_device;
use gauntlet_core::loss::Objective;
use gauntlet_core::model::{loss_and_grad, predict};
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::threat::Norm;
use gauntlet_core::{Error, Result};

use crate::attack::described;
use crate::outcome::SampleCandidates;
use crate::rows::wrong_classes_by_score;
use crate::{Attack, AttackInput, Kind, MinimumNorm};

/// The Fast Adaptive Boundary attack, a minimum-norm attack; see the module documentation.
#[derive(Debug, Clone)]
pub struct Fab {
    steps: usize,
    restarts: usize,
    /// `None`: untargeted FAB. `Some(k)`: FAB-T over the `k` best non-true classes.
    target_classes: Option<usize>,
    alpha_max: f32,
    eta: f32,
    beta: f32,
}

impl Default for Fab {
    fn default() -> Self {
        Fab::checked(Fab::DEFAULT_STEPS, 1)
    }
}

impl Fab {
    /// Iterations per run unless told otherwise (AutoAttack uses 100 for FAB-T).
    pub const DEFAULT_STEPS: usize = 10;
    /// Target classes FAB-T tries (AutoAttack's default).
    pub const DEFAULT_TARGET_CLASSES: usize = 9;

    /// Untargeted FAB with `steps` iterations per run and `restarts` runs (the first from the
    /// clean input, the others from random starts); both at least 1.
    pub fn new(steps: usize, restarts: usize) -> Result<Self> {
        if steps == 0 {
            return Err(Error::Parameter("Fab: steps must be at least 1".into()));
        }
        if restarts == 0 {
            return Err(Error::Parameter("Fab: restarts must be at least 1".into()));
        }
        Ok(Fab::checked(steps, restarts))
    }

    /// FAB-T: targeted FAB toward each of the `target_classes` (at least 1) highest-scoring
    /// non-true classes.
    pub fn targeted(steps: usize, restarts: usize, target_classes: usize) -> Result<Self> {
        if target_classes == 0 {
            return Err(Error::Parameter(
                "Fab: target_classes must be at least 1".into(),
            ));
        }
        Ok(Fab {
            target_classes: Some(target_classes),
            ..Fab::new(steps, restarts)?
        })
    }

    /// Overrides the step parameters (defaults α_max = 0.1, η = 1.05, β = 0.9): `alpha_max`
    /// in (0, 1] caps the bias toward the original point, `eta` > 0 extrapolates the step,
    /// `beta` in (0, 1] is the pull-back toward the original point after a success.
    pub fn with_step_parameters(mut self, alpha_max: f32, eta: f32, beta: f32) -> Result<Self> {
        let unit = |v: f32| v.is_finite() && v > 0.0 && v <= 1.0;
        if !unit(alpha_max) {
            return Err(Error::Parameter(format!(
                "Fab: alpha_max = {alpha_max} must be in (0, 1]"
            )));
        }
        if !(eta.is_finite() && eta > 0.0) {
            return Err(Error::Parameter(format!(
                "Fab: eta = {eta} must be a positive number"
            )));
        }
        if !unit(beta) {
            return Err(Error::Parameter(format!(
                "Fab: beta = {beta} must be in (0, 1]"
            )));
        }
        self.alpha_max = alpha_max;
        self.eta = eta;
        self.beta = beta;
        Ok(self)
    }

    /// The reference step parameters, with counts already checked.
    fn checked(steps: usize, restarts: usize) -> Fab {
        Fab {
            steps,
            restarts,
            target_classes: None,
            alpha_max: 0.1,
            eta: 1.05,
            beta: 0.9,
        }
    }
}

/// Which boundary a run walks to.
enum Goal<'a> {
    /// The closest boundary among all other classes, chosen afresh every step.
    Closest,
    /// The boundary to one class per sample (indexed like the run's rows).
    Toward(&'a [i64]),
}

/// The smallest adversarial found so far, per sample of the input.
struct Best {
    norms: Vec<f32>,
    rows: Vec<f32>,
}

impl Attack for Fab {
    fn name(&self) -> &str {
        if self.target_classes.is_some() {
            "fab-t"
        } else {
            "fab"
        }
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
                "target_classes": self.target_classes,
                "alpha_max": self.alpha_max,
                "eta": self.eta,
                "beta": self.beta,
                "random_restarts": "ball of radius ½·min(best norm, largest ε)",
            }),
        )
    }

    fn kind(&self) -> Kind<'_> {
        Kind::MinimumNorm(self)
    }
}

impl MinimumNorm for Fab {
    fn minimize(&self, input: &AttackInput, rng: &mut StdRng) -> Result<SampleCandidates> {
        let (n, f) = (input.len(), input.features());
        let device = compute_device();
        let classes = input.model().num_classes();
        let mut best = Best {
            norms: vec![f32::INFINITY; n],
            rows: input.x().to_vec(),
        };
        let mut gradient_evals = 0u64;

        // Samples the criterion already holds for need no perturbation at all.
        let clean_logits = if n == 0 {
            Vec::new()
        } else {
            to_vec(
                input
                    .model()
                    .logits(from_rows(input.x().to_vec(), n, f, &device))?,
            )
        };
        let clean_preds = argmax_rows(&clean_logits, classes);
        let mut rows: Vec<usize> = Vec::with_capacity(n);
        for (i, &p) in clean_preds.iter().enumerate() {
            if input.is_adversarial(i, p) {
                best.norms[i] = 0.0;
            } else {
                rows.push(i);
            }
        }

        if !rows.is_empty() && classes > 1 {
            if let Some(targets) = input.criterion().targets() {
                let goal: Vec<i64> = rows.iter().map(|&i| targets[i]).collect();
                for restart in 0..self.restarts {
                    self.single_run(
                        input,
                        &rows,
                        &Goal::Toward(&goal),
                        restart > 0,
                        &mut best,
                        &mut gradient_evals,
                        rng,
                    )?;
                }
            } else if let Some(k) = self.target_classes {
                // Non-true classes ranked by clean logit, best first.
                let ranked: Vec<Vec<i64>> = rows
                    .iter()
                    .map(|&i| {
                        wrong_classes_by_score(
                            &clean_logits[i * classes..(i + 1) * classes],
                            input.labels()[i],
                        )
                    })
                    .collect();
                // As in AutoAttack, a sample leaves once it is broken — here once its smallest
                // adversarial lies within every budget (smaller norms could still matter for a
                // smaller ε, so until then it stays).
                let eps_min = input
                    .threat()
                    .epsilons()
                    .iter()
                    .copied()
                    .fold(f32::INFINITY, f32::min);
                // `rank` walks the ranks of every sample's own class list, not one list.
                #[allow(clippy::needless_range_loop)]
                for rank in 0..k.min(classes - 1) {
                    let open: Vec<usize> = (0..rows.len())
                        .filter(|&a| best.norms[rows[a]] > eps_min)
                        .collect();
                    if open.is_empty() {
                        break;
                    }
                    let open_rows: Vec<usize> = open.iter().map(|&a| rows[a]).collect();
                    let goal: Vec<i64> = open.iter().map(|&a| ranked[a][rank]).collect();
                    for restart in 0..self.restarts {
                        self.single_run(
                            input,
                            &open_rows,
                            &Goal::Toward(&goal),
                            restart > 0,
                            &mut best,
                            &mut gradient_evals,
                            rng,
                        )?;
                    }
                }
            } else {
                for restart in 0..self.restarts {
                    self.single_run(
                        input,
                        &rows,
                        &Goal::Closest,
                        restart > 0,
                        &mut best,
                        &mut gradient_evals,
                        rng,
                    )?;
                }
            }
        }

        Ok(SampleCandidates {
            points: best.rows,
            gradient_evals,
            queries: None,
        })
    }
}

impl Fab {
    /// One FAB run of `self.steps` iterations over the input samples `rows`, updating `best`.
    #[allow(clippy::too_many_arguments)]
    fn single_run(
        &self,
        input: &AttackInput,
        rows: &[usize],
        goal: &Goal,
        random_start: bool,
        best: &mut Best,
        gradient_evals: &mut u64,
        rng: &mut StdRng,
    ) -> Result<()> {
        let f = input.features();
        let m = rows.len();
        let norm = input.threat().norm();
        let bounds = input.threat().bounds();
        let classes = input.model().num_classes();
        let device = compute_device();
        let eps_max = input
            .threat()
            .epsilons()
            .iter()
            .copied()
            .fold(0f32, f32::max);

        let x0: Vec<f32> = rows
            .iter()
            .flat_map(|&i| input.row(i).iter().copied())
            .collect();
        let labels: Vec<i64> = rows.iter().map(|&i| input.labels()[i]).collect();
        let mut x1 = x0.clone();
        if random_start {
            for (a, &i) in rows.iter().enumerate() {
                let radius = 0.5 * best.norms[i].min(eps_max);
                let noise = random_direction(norm, f, rng);
                for (v, d) in x1[a * f..(a + 1) * f].iter_mut().zip(noise) {
                    *v = (*v + radius * d).clamp(bounds.min, bounds.max);
                }
            }
        }

        // Hyperplane of the chosen boundary per row: margin z_j − z_y at x1, and its gradient.
        let mut margin = vec![0f32; m];
        let mut w = vec![0f32; m * f];
        for _ in 0..self.steps {
            let xt = from_rows(x1.clone(), m, f, &device);
            match goal {
                Goal::Toward(targets) => {
                    let lg = loss_and_grad(
                        input.model(),
                        &xt,
                        &Objective::LogitDifference {
                            positive: targets,
                            negative: &labels,
                        },
                    )?;
                    *gradient_evals += m as u64;
                    margin.copy_from_slice(&lg.loss);
                    w = to_vec(lg.grad);
                }
                Goal::Closest => {
                    let mut closest = vec![f32::INFINITY; m];
                    for slot in 0..classes - 1 {
                        // The slot-th class other than the label.
                        let positive: Vec<i64> = labels
                            .iter()
                            .map(|&y| {
                                if (slot as i64) < y {
                                    slot as i64
                                } else {
                                    slot as i64 + 1
                                }
                            })
                            .collect();
                        let lg = loss_and_grad(
                            input.model(),
                            &xt,
                            &Objective::LogitDifference {
                                positive: &positive,
                                negative: &labels,
                            },
                        )?;
                        *gradient_evals += m as u64;
                        let grad = to_vec(lg.grad);
                        for a in 0..m {
                            let g = &grad[a * f..(a + 1) * f];
                            let distance = lg.loss[a].abs() / (norm.dual().measure_row(g) + 1e-12);
                            if distance < closest[a] || slot == 0 {
                                closest[a] = distance;
                                margin[a] = lg.loss[a];
                                w[a * f..(a + 1) * f].copy_from_slice(g);
                            }
                        }
                    }
                }
            }

            // Each row's two projections (sorts over its coordinates) are independent: one task
            // per row keeps both cores busy where this step ran on one.
            let (eta, alpha_max) = (self.eta, self.alpha_max);
            x1.par_chunks_mut(f)
                .zip(x0.par_chunks(f))
                .zip(w.par_chunks(f))
                .zip(margin.par_iter())
                .for_each(|(((xa, oa), wa), &z)| {
                    // Boundary: margin + w·(z − x1) = 0, so w·δ must equal c from each point.
                    let c1 = -(z as f64);
                    let shift: f64 = wa
                        .iter()
                        .zip(&*xa)
                        .zip(oa)
                        .map(|((&g, &p), &o)| g as f64 * (p - o) as f64)
                        .sum();
                    let d1 = project_hyperplane_box(norm, xa, wa, c1, bounds);
                    let d2 = project_hyperplane_box(norm, oa, wa, c1 + shift, bounds);
                    let a1 = norm.measure_row(&d1).max(1e-8);
                    let a2 = norm.measure_row(&d2).max(1e-8);
                    let alpha = (a1 / (a1 + a2)).clamp(0.0, alpha_max);
                    for (j, x) in xa.iter_mut().enumerate() {
                        *x = ((*x + eta * d1[j]) * (1.0 - alpha) + (oa[j] + eta * d2[j]) * alpha)
                            .clamp(bounds.min, bounds.max);
                    }
                });

            let preds = predict(input.model(), from_rows(x1.clone(), m, f, &device))?;
            for (a, &i) in rows.iter().enumerate() {
                if !input.is_adversarial(i, preds[a]) {
                    continue;
                }
                let span = a * f..(a + 1) * f;
                let delta: Vec<f32> = x1[span.clone()]
                    .iter()
                    .zip(&x0[span.clone()])
                    .map(|(p, o)| p - o)
                    .collect();
                let size = norm.measure_row(&delta);
                if size < best.norms[i] {
                    best.norms[i] = size;
                    best.rows[i * f..(i + 1) * f].copy_from_slice(&x1[span.clone()]);
                }
                // Step back toward x0 and keep searching for a smaller perturbation.
                for ((p, &o), d) in x1[span].iter_mut().zip(&x0[a * f..(a + 1) * f]).zip(&delta) {
                    *p = o + self.beta * d;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_reject_bad_values_by_field() {
        let err = |r: Result<Fab>| r.unwrap_err().to_string();
        assert_eq!(err(Fab::new(0, 1)), "Fab: steps must be at least 1");
        assert_eq!(err(Fab::new(10, 0)), "Fab: restarts must be at least 1");
        assert_eq!(
            err(Fab::targeted(10, 1, 0)),
            "Fab: target_classes must be at least 1"
        );
        let fab = Fab::new(10, 1).unwrap();
        assert!(err(fab.clone().with_step_parameters(0.0, 1.05, 0.9)).starts_with("Fab: alpha_max"));
        assert!(err(fab.clone().with_step_parameters(0.1, f32::NAN, 0.9)).starts_with("Fab: eta"));
        assert!(err(fab.clone().with_step_parameters(0.1, 1.05, 1.5)).starts_with("Fab: beta"));
        let tuned = fab.with_step_parameters(0.2, 1.1, 0.8).unwrap();
        assert_eq!(tuned.describe()["beta"], 0.8f32 as f64);
        assert_eq!(
            Fab::targeted(5, 2, 3).unwrap().describe()["target_classes"],
            3
        );
    }
}
