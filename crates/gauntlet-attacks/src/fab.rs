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
//! [`verify`] projects them into each budget.

use rand::rngs::StdRng;
use rand::Rng;
use rand_distr::StandardNormal;

use gauntlet_core::device::compute_device;
use gauntlet_core::loss::Objective;
use gauntlet_core::model::{loss_and_grad, predict};
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::threat::{Bounds, Norm};
use gauntlet_core::Result;

use crate::outcome::{verify, AttackOutcome};
use crate::rows::wrong_classes_by_score;
use crate::{Attack, AttackInput};

/// Coordinates whose gradient is smaller than this cannot move the linearized margin.
const FLAT: f64 = 1e-12;

/// The Fast Adaptive Boundary attack; see the module documentation.
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
        Fab::new(Fab::DEFAULT_STEPS, 1)
    }
}

impl Fab {
    /// Iterations per run unless told otherwise (AutoAttack uses 100 for FAB-T).
    pub const DEFAULT_STEPS: usize = 10;
    /// Target classes FAB-T tries (AutoAttack's default).
    pub const DEFAULT_TARGET_CLASSES: usize = 9;

    /// Untargeted FAB with `steps` iterations per run and `restarts` runs (the first from the
    /// clean input, the others from random starts).
    pub fn new(steps: usize, restarts: usize) -> Self {
        Fab {
            steps: steps.max(1),
            restarts: restarts.max(1),
            target_classes: None,
            alpha_max: 0.1,
            eta: 1.05,
            beta: 0.9,
        }
    }

    /// FAB-T: targeted FAB toward each of the `target_classes` highest-scoring non-true classes.
    pub fn targeted(steps: usize, restarts: usize, target_classes: usize) -> Self {
        Fab {
            target_classes: Some(target_classes.max(1)),
            ..Fab::new(steps, restarts)
        }
    }

    /// Overrides the step parameters (defaults α_max = 0.1, η = 1.05, β = 0.9).
    pub fn with_step_parameters(mut self, alpha_max: f32, eta: f32, beta: f32) -> Self {
        self.alpha_max = alpha_max;
        self.eta = eta;
        self.beta = beta;
        self
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

    fn run(&self, input: &AttackInput, rng: &mut StdRng) -> Result<AttackOutcome> {
        self.check(input.threat)?;
        let (n, f) = (input.len(), input.features());
        let device = compute_device();
        let classes = input.model.num_classes();
        let mut best = Best {
            norms: vec![f32::INFINITY; n],
            rows: input.x.to_vec(),
        };
        let mut gradient_evals = 0u64;

        // Samples the criterion already holds for need no perturbation at all.
        let clean_logits = if n == 0 {
            Vec::new()
        } else {
            to_vec(input.model.logits(from_rows(input.x.to_vec(), n, f, &device))?)
        };
        let clean_preds = argmax_rows(&clean_logits, classes);
        let mut rows: Vec<usize> = Vec::with_capacity(n);
        for (i, &p) in clean_preds.iter().enumerate() {
            if input.criterion.is_adversarial(i, input.labels[i], p) {
                best.norms[i] = 0.0;
            } else {
                rows.push(i);
            }
        }

        if !rows.is_empty() && classes > 1 {
            if let Some(targets) = input.criterion.targets() {
                let goal: Vec<i64> = rows.iter().map(|&i| targets[i]).collect();
                for restart in 0..self.restarts {
                    self.single_run(input, &rows, &Goal::Toward(&goal), restart > 0, &mut best, &mut gradient_evals, rng)?;
                }
            } else if let Some(k) = self.target_classes {
                // Non-true classes ranked by clean logit, best first.
                let ranked: Vec<Vec<i64>> = rows
                    .iter()
                    .map(|&i| wrong_classes_by_score(&clean_logits[i * classes..(i + 1) * classes], input.labels[i]))
                    .collect();
                // As in AutoAttack, a sample leaves once it is broken — here once its smallest
                // adversarial lies within every budget (smaller norms could still matter for a
                // smaller ε, so until then it stays).
                let eps_min = input.threat.epsilons().iter().copied().fold(f32::INFINITY, f32::min);
                for rank in 0..k.min(classes - 1) {
                    let open: Vec<usize> = (0..rows.len()).filter(|&a| best.norms[rows[a]] > eps_min).collect();
                    if open.is_empty() {
                        break;
                    }
                    let open_rows: Vec<usize> = open.iter().map(|&a| rows[a]).collect();
                    let goal: Vec<i64> = open.iter().map(|&a| ranked[a][rank]).collect();
                    for restart in 0..self.restarts {
                        self.single_run(input, &open_rows, &Goal::Toward(&goal), restart > 0, &mut best, &mut gradient_evals, rng)?;
                    }
                }
            } else {
                for restart in 0..self.restarts {
                    self.single_run(input, &rows, &Goal::Closest, restart > 0, &mut best, &mut gradient_evals, rng)?;
                }
            }
        }

        let candidates = vec![best.rows; input.threat.epsilons().len()];
        Ok(AttackOutcome {
            per_eps: verify(input, candidates)?,
            gradient_evals,
            queries: 0,
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
        let norm = input.threat.norm();
        let bounds = input.threat.bounds();
        let classes = input.model.num_classes();
        let device = compute_device();
        let eps_max = input.threat.epsilons().iter().copied().fold(0f32, f32::max);

        let x0: Vec<f32> = rows.iter().flat_map(|&i| input.x[i * f..(i + 1) * f].iter().copied()).collect();
        let labels: Vec<i64> = rows.iter().map(|&i| input.labels[i]).collect();
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
                        input.model,
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
                        let positive: Vec<i64> =
                            labels.iter().map(|&y| if (slot as i64) < y { slot as i64 } else { slot as i64 + 1 }).collect();
                        let lg = loss_and_grad(
                            input.model,
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
                            let distance = lg.loss[a].abs() / (dual_norm(norm, g) + 1e-12);
                            if distance < closest[a] || slot == 0 {
                                closest[a] = distance;
                                margin[a] = lg.loss[a];
                                w[a * f..(a + 1) * f].copy_from_slice(g);
                            }
                        }
                    }
                }
            }

            for (a, &z) in margin.iter().enumerate() {
                let span = a * f..(a + 1) * f;
                let wa = &w[span.clone()];
                let (xa, oa) = (&x1[span.clone()], &x0[span.clone()]);
                // Boundary: margin + w·(z − x1) = 0, so w·δ must equal c from each point.
                let c1 = -(z as f64);
                let shift: f64 = wa.iter().zip(xa).zip(oa).map(|((&g, &p), &o)| g as f64 * (p - o) as f64).sum();
                let d1 = project_hyperplane_box(norm, xa, wa, c1, bounds);
                let d2 = project_hyperplane_box(norm, oa, wa, c1 + shift, bounds);
                let a1 = measure(norm, &d1).max(1e-8);
                let a2 = measure(norm, &d2).max(1e-8);
                let alpha = (a1 / (a1 + a2)).clamp(0.0, self.alpha_max);
                let eta = self.eta;
                let next: Vec<f32> = (0..f)
                    .map(|j| {
                        ((xa[j] + eta * d1[j]) * (1.0 - alpha) + (oa[j] + eta * d2[j]) * alpha)
                            .clamp(bounds.min, bounds.max)
                    })
                    .collect();
                x1[span].copy_from_slice(&next);
            }

            let preds = predict(input.model, from_rows(x1.clone(), m, f, &device))?;
            for (a, &i) in rows.iter().enumerate() {
                if !input.criterion.is_adversarial(i, labels[a], preds[a]) {
                    continue;
                }
                let span = a * f..(a + 1) * f;
                let delta: Vec<f32> = x1[span.clone()].iter().zip(&x0[span.clone()]).map(|(p, o)| p - o).collect();
                let size = measure(norm, &delta);
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

/// Size of one row in the norm.
fn measure(norm: Norm, row: &[f32]) -> f32 {
    match norm {
        Norm::Linf => row.iter().fold(0f32, |m, v| m.max(v.abs())),
        Norm::L2 => row.iter().map(|v| v * v).sum::<f32>().sqrt(),
        Norm::L1 => row.iter().map(|v| v.abs()).sum(),
    }
}

/// The dual norm of a gradient row: the linearized distance to a boundary is |margin| / dual.
fn dual_norm(norm: Norm, g: &[f32]) -> f32 {
    match norm {
        Norm::Linf => measure(Norm::L1, g),
        Norm::L2 => measure(Norm::L2, g),
        Norm::L1 => measure(Norm::Linf, g),
    }
}

/// A random direction of unit norm (L∞: uniform in the cube, L2 and L1: Gaussian), as in the
/// reference implementation's random starts.
fn random_direction(norm: Norm, f: usize, rng: &mut StdRng) -> Vec<f32> {
    let t: Vec<f32> = match norm {
        Norm::Linf => (0..f).map(|_| rng.gen_range(-1.0f32..=1.0)).collect(),
        Norm::L2 | Norm::L1 => (0..f).map(|_| rng.sample::<f32, _>(StandardNormal)).collect(),
    };
    let size = measure(norm, &t).max(1e-12);
    t.into_iter().map(|v| v / size).collect()
}

/// The minimum-norm step `δ` from `t` with `w·δ = c` and `t + δ` inside the box: the
/// projection of `t` onto the hyperplane intersected with the box. When the box does not reach
/// the hyperplane, the box point that gets closest to it (every coordinate that helps moved to
/// its edge).
///
/// With `s_i = sign(w_i c)` the helpful direction of coordinate `i`, `a_i = |w_i|` its rate and
/// `cap_i` the room to the box edge in that direction, every optimum has `δ_i = s_i m_i` with
/// `0 ≤ m_i ≤ cap_i` and `Σ a_i m_i = |c|`:
/// - L∞: `m_i = min(λ, cap_i)` for the smallest λ that reaches |c| (a sweep over sorted caps);
/// - L2: `m_i = min(μ a_i, cap_i)` (KKT of the clipped closed form; a sweep over sorted
///   breakpoints `cap_i / a_i`);
/// - L1: a fractional knapsack, filling coordinates in order of decreasing `a_i`.
pub fn project_hyperplane_box(norm: Norm, t: &[f32], w: &[f32], c: f64, bounds: Bounds) -> Vec<f32> {
    let mut delta = vec![0f32; t.len()];
    if c == 0.0 || !c.is_finite() {
        return delta;
    }
    let need = c.abs();
    // (index, rate a_i, room cap_i, helpful sign)
    let mut coords: Vec<(usize, f64, f64, f32)> = Vec::with_capacity(t.len());
    let mut reach = 0f64;
    for (i, (&ti, &wi)) in t.iter().zip(w).enumerate() {
        let a = (wi as f64).abs();
        if a <= FLAT || !a.is_finite() {
            continue;
        }
        let up = (wi > 0.0) == (c > 0.0);
        let cap = if up { bounds.max - ti } else { ti - bounds.min }.max(0.0) as f64;
        if cap <= 0.0 {
            continue;
        }
        reach += a * cap;
        coords.push((i, a, cap, if up { 1.0 } else { -1.0 }));
    }
    if reach <= need {
        // Unreachable inside the box: go as far toward the hyperplane as the box allows.
        for &(i, _, cap, s) in &coords {
            delta[i] = s * cap as f32;
        }
        return delta;
    }
    match norm {
        Norm::Linf | Norm::L2 => {
            // Coordinate i moves k_i·τ until it saturates at τ = cap_i / k_i (k_i = 1 for L∞,
            // a_i for L2); progress grows piecewise linearly in τ with slope Σ a_i k_i over the
            // coordinates not yet saturated.
            let rate = |a: f64| if norm == Norm::Linf { 1.0 } else { a };
            coords.sort_unstable_by(|p, q| (p.2 / rate(p.1)).total_cmp(&(q.2 / rate(q.1))));
            let mut slope: f64 = coords.iter().map(|&(_, a, _, _)| a * rate(a)).sum();
            let (mut tau, mut progress) = (0f64, 0f64);
            let mut solved = None;
            for &(_, a, cap, _) in &coords {
                let kink = cap / rate(a);
                let at_kink = progress + slope * (kink - tau);
                if at_kink >= need || slope <= 0.0 {
                    solved = Some(tau + (need - progress) / slope.max(f64::MIN_POSITIVE));
                    break;
                }
                progress = at_kink;
                tau = kink;
                slope -= a * rate(a);
            }
            let tau = solved.unwrap_or(tau);
            for &(i, a, cap, s) in &coords {
                delta[i] = s * (rate(a) * tau).min(cap) as f32;
            }
        }
        Norm::L1 => {
            coords.sort_unstable_by(|p, q| q.1.total_cmp(&p.1));
            let mut left = need;
            for &(i, a, cap, s) in &coords {
                let take = (left / a).min(cap);
                delta[i] = s * take as f32;
                left -= a * take;
                if left <= 0.0 {
                    break;
                }
            }
        }
    }
    delta
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit_box() -> Bounds {
        Bounds { min: 0.0, max: 1.0 }
    }

    fn dot(w: &[f32], d: &[f32]) -> f64 {
        w.iter().zip(d).map(|(a, b)| *a as f64 * *b as f64).sum()
    }

    #[test]
    fn projections_reach_the_hyperplane_inside_the_box() {
        let t = [0.5f32, 0.9, 0.1, 0.5];
        let w = [1.0f32, 2.0, -0.5, 0.0];
        for norm in [Norm::Linf, Norm::L2, Norm::L1] {
            for c in [0.3f64, -0.4, 0.05] {
                let d = project_hyperplane_box(norm, &t, &w, c, unit_box());
                assert!((dot(&w, &d) - c).abs() < 1e-5, "{norm} c={c}: w·δ = {}", dot(&w, &d));
                for (ti, di) in t.iter().zip(&d) {
                    assert!((0.0..=1.0).contains(&(ti + di)), "{norm}: left the box");
                }
                assert_eq!(d[3], 0.0, "a flat coordinate moved");
            }
        }
    }

    #[test]
    fn projections_match_closed_forms_without_the_box() {
        let t = [0.5f32; 3];
        let w = [0.1f32, -0.2, 0.4];
        // L2: δ = c w / ‖w‖².
        let d = project_hyperplane_box(Norm::L2, &t, &w, 0.02, unit_box());
        let sq = 0.01 + 0.04 + 0.16;
        for (di, wi) in d.iter().zip(&w) {
            assert!((di - 0.02 * wi / sq).abs() < 1e-6);
        }
        // L∞: δ = c sign(w) / ‖w‖₁.
        let d = project_hyperplane_box(Norm::Linf, &t, &w, 0.07, unit_box());
        for (di, wi) in d.iter().zip(&w) {
            assert!((di - 0.07 * wi.signum() / 0.7).abs() < 1e-6);
        }
        // L1: all on the largest |w|.
        let d = project_hyperplane_box(Norm::L1, &t, &w, 0.04, unit_box());
        assert!(d[0] == 0.0 && d[1] == 0.0 && (d[2] - 0.1).abs() < 1e-6);
    }

    #[test]
    fn box_saturation_and_unreachable_hyperplanes() {
        // L∞ with the second coordinate capped at 0.1: λ solves 0.1·1 + λ·1 = 0.5.
        let t = [0.5f32, 0.9];
        let w = [1.0f32, 1.0];
        let d = project_hyperplane_box(Norm::Linf, &t, &w, 0.5, unit_box());
        assert!((d[0] - 0.4).abs() < 1e-6 && (d[1] - 0.1).abs() < 1e-6, "{d:?}");
        // Unreachable: every helpful coordinate goes to the edge.
        let d = project_hyperplane_box(Norm::L2, &t, &w, 5.0, unit_box());
        assert!((d[0] - 0.5).abs() < 1e-6 && (d[1] - 0.1).abs() < 1e-6, "{d:?}");
        // L1 fills the largest rate first, then the next.
        let w = [2.0f32, 1.0];
        let d = project_hyperplane_box(Norm::L1, &[0.9, 0.5], &w, 0.3, unit_box());
        assert!((d[0] - 0.1).abs() < 1e-6 && (d[1] - 0.1).abs() < 1e-6, "{d:?}");
    }
}
