//! Boundary Attack (Brendel, Rauber & Bethge, "Decision-Based Adversarial Attacks: Reliable
//! Attacks Against Black-Box Machine Learning Models", ICLR 2018): a decision-based black-box
//! attack for L2 that needs nothing but the model's predicted label.
//!
//! Starting from an adversarial point, it walks along the decision boundary toward the clean
//! input `x*`, keeping every step adversarial:
//!
//! 1. **Start.** Uniform noise in the valid box, redrawn until the model's label satisfies the
//!    criterion (at most [`Boundary::DEFAULT_START_TRIES`] draws; a targeted start must be
//!    classified as the target), then blended toward `x*` by binary search. A sample without
//!    such a point fails cleanly.
//! 2. **Orthogonal step.** With `x̃` the current point and `d = ‖x̃ − x*‖₂`, draw `η ~ N(0, I)`,
//!    remove its component along `x* − x̃`, scale it to `‖η‖ = δ·d`, and map `x̃ + η` back onto
//!    the sphere of radius `d` around `x*` (`x* + (x̃ − x* + η)/√(1 + δ²)`), clipped to the box.
//! 3. **Step toward the original**: move that point by `ε·d` toward `x*` (clipped). The
//!    candidate replaces `x̃` when it is adversarial (and closer).
//! 4. **Step-size adaptation from success rates** (the paper's rule, with the statistics of the
//!    reference implementation): every [`CHECK_EVERY`]-th step the orthogonal point itself is
//!    also queried; once [`SPHERICAL_WINDOW`] such checks are in, a success rate above 50 %
//!    multiplies δ and ε by 1.5 and one below 20 % divides both by 1.5. The candidate's own
//!    success is recorded every step; over [`STEP_WINDOW`] steps, above 25 % multiplies ε by
//!    1.5, below 10 % divides it. Both start at 0.01.
//!
//! **Label-only.** Every decision is the arg-max of the target's logits; scores are never read,
//! so the attack runs unchanged on label-only targets, and never asks for a gradient.
//!
//! **Budgets.** As in HopSkipJumpAttack ([`crate::hsj`]): one distance-minimising run per
//! sample for all budgets; a sample stops when its best point is within the smallest ε or its
//! query budget (start search included, every row counted) is spent. The best point goes to
//! [`crate::outcome::verify`], which projects it into each ε-ball; the queries reported at ε are
//! those spent until the best distance first fell to ε (all queries used, on failure).

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::Rng;
use rand_distr::StandardNormal;

use gauntlet_core::threat::Norm;
use gauntlet_core::Result;

use crate::hsj::{ask, distance, l2, noise_start, settle, Tracker};
use crate::outcome::AttackOutcome;
use crate::{Access, Attack, AttackInput};

/// The orthogonal point is also queried every this many steps (for δ's success rate).
pub const CHECK_EVERY: usize = 5;
/// Orthogonal-step checks per δ adaptation.
pub const SPHERICAL_WINDOW: usize = 10;
/// Steps per ε adaptation.
pub const STEP_WINDOW: usize = 30;
/// Factor of every step-size change.
const ADAPTATION: f32 = 1.5;

/// Decision-based Boundary Attack, L2.
pub struct Boundary {
    /// Query budget per sample, the start search included.
    queries: usize,
    /// Initial orthogonal step δ (relative to the distance).
    spherical_step: f32,
    /// Initial step toward the original ε (relative to the distance).
    source_step: f32,
    /// Random-noise draws tried per sample for the start point.
    start_tries: usize,
}

impl Boundary {
    /// Random-noise draws per sample before the start search gives up.
    pub const DEFAULT_START_TRIES: usize = 100;

    /// The reference configuration (δ = ε = 0.01 at the start, adapted by factors of 1.5) with
    /// a budget of `queries` per sample.
    pub fn new(queries: usize) -> Self {
        Boundary {
            queries,
            spherical_step: 0.01,
            source_step: 0.01,
            start_tries: Self::DEFAULT_START_TRIES,
        }
    }

    /// Overrides the initial orthogonal and toward-the-original step sizes.
    pub fn with_steps(mut self, spherical: f32, source: f32) -> Self {
        if spherical.is_finite() && spherical > 0.0 {
            self.spherical_step = spherical;
        }
        if source.is_finite() && source > 0.0 {
            self.source_step = source;
        }
        self
    }

    /// Like [`Attack::run`], also returning the queries each sample used in all.
    pub fn run_counted(
        &self,
        input: &AttackInput,
        rng: &mut StdRng,
    ) -> Result<(AttackOutcome, Vec<u64>)> {
        self.check(input.threat)?;
        let (n, f) = (input.len(), input.features());
        let epsilons = input.threat.epsilons();
        let bounds = input.threat.bounds();
        let (lo, hi) = (bounds.min, bounds.max);
        let budget = self.queries as u64;
        let max_eps = epsilons.last().copied().unwrap_or(0.0);
        // Done once within every (positive) budget, so smaller budgets are not left weaker.
        let done_at = epsilons.iter().copied().filter(|&e| e > 0.0).fold(f32::INFINITY, f32::min);
        let clean = |i: usize| &input.x[i * f..(i + 1) * f];

        let mut used = vec![0u64; n];
        let mut track = Tracker::new(n, epsilons);
        let candidates: Vec<usize> = if max_eps > 0.0 && budget > 0 {
            (0..n).collect()
        } else {
            Vec::new()
        };
        let starts = noise_start(
            input,
            &candidates,
            budget,
            self.start_tries,
            1e-3,
            &mut used,
            rng,
        )?;
        struct Walk {
            sample: usize,
            spherical: f32,
            source: f32,
            spherical_stats: VecDeque<bool>,
            step_stats: VecDeque<bool>,
        }
        let mut walks: Vec<Walk> = Vec::new();
        for (i, start) in starts.into_iter().enumerate() {
            if let Some(p) = start {
                let dt = distance(Norm::L2, clean(i), &p);
                track.offer(i, &p, dt, used[i]);
                walks.push(Walk {
                    sample: i,
                    spherical: self.spherical_step,
                    source: self.source_step,
                    spherical_stats: VecDeque::new(),
                    step_stats: VecDeque::new(),
                });
            }
        }

        let mut step = 0usize;
        let mut eta = vec![0f32; f];
        loop {
            step += 1;
            walks.retain(|w| track.best_dist[w.sample] > done_at && used[w.sample] < budget);
            if walks.is_empty() {
                break;
            }
            // Candidates for every walk first, then the orthogonal points being checked.
            let mut rows = Vec::with_capacity(walks.len() * f);
            let mut checks = Vec::new();
            let mut check_rows = Vec::new();
            for (k, w) in walks.iter().enumerate() {
                let i = w.sample;
                let x = clean(i);
                let current = track.best[i].as_ref().expect("walks start adversarial");
                let (candidate, spherical) =
                    proposal(x, current, w.spherical, w.source, (lo, hi), &mut eta, rng);
                rows.extend_from_slice(&candidate);
                if step.is_multiple_of(CHECK_EVERY) && budget - used[i] >= 2 {
                    checks.push(k);
                    check_rows.extend_from_slice(&spherical);
                }
            }
            let mut owners: Vec<usize> = walks.iter().map(|w| w.sample).collect();
            owners.extend(checks.iter().map(|&k| walks[k].sample));
            rows.extend_from_slice(&check_rows);
            let adv = ask(input, &rows, &owners, &mut used)?;
            let m = walks.len();
            for (k, w) in walks.iter_mut().enumerate() {
                let i = w.sample;
                let candidate = &rows[k * f..(k + 1) * f];
                if adv[k] {
                    let dt = distance(Norm::L2, clean(i), candidate);
                    track.offer(i, candidate, dt, used[i]);
                }
                push(&mut w.step_stats, adv[k], STEP_WINDOW);
            }
            for (j, &k) in checks.iter().enumerate() {
                push(&mut walks[k].spherical_stats, adv[m + j], SPHERICAL_WINDOW);
            }
            for w in walks.iter_mut() {
                if w.spherical_stats.len() == SPHERICAL_WINDOW {
                    let rate = success_rate(&w.spherical_stats);
                    if rate > 0.5 {
                        w.spherical *= ADAPTATION;
                        w.source *= ADAPTATION;
                        w.spherical_stats.clear();
                    } else if rate < 0.2 {
                        w.spherical /= ADAPTATION;
                        w.source /= ADAPTATION;
                        w.spherical_stats.clear();
                    }
                }
                if w.step_stats.len() == STEP_WINDOW {
                    let rate = success_rate(&w.step_stats);
                    if rate > 0.25 {
                        w.source *= ADAPTATION;
                        w.step_stats.clear();
                    } else if rate < 0.1 {
                        w.source /= ADAPTATION;
                        w.step_stats.clear();
                    }
                }
            }
        }

        let outcome = track.finish(input, &used)?;
        Ok((outcome, used))
    }
}

/// Appends to a sliding window of at most `len` outcomes.
fn push(window: &mut VecDeque<bool>, value: bool, len: usize) {
    if window.len() == len {
        window.pop_front();
    }
    window.push_back(value);
}

fn success_rate(window: &VecDeque<bool>) -> f32 {
    window.iter().filter(|&&b| b).count() as f32 / window.len().max(1) as f32
}

/// One proposal: `(candidate, orthogonal point)`, both settled to what verification would
/// reconstruct. `eta` is scratch space of one row.
fn proposal(
    x: &[f32],
    current: &[f32],
    spherical_step: f32,
    source_step: f32,
    (lo, hi): (f32, f32),
    eta: &mut [f32],
    rng: &mut StdRng,
) -> (Vec<f32>, Vec<f32>) {
    // source = x* − x̃, its length d and unit direction.
    let source: Vec<f32> = x.iter().zip(current).map(|(a, b)| a - b).collect();
    let d = l2(&source).max(1e-12);
    eta.iter_mut().for_each(|v| *v = rng.sample(StandardNormal));
    let along: f32 = eta.iter().zip(&source).map(|(e, s)| e * s).sum::<f32>() / (d * d);
    eta.iter_mut()
        .zip(&source)
        .for_each(|(e, s)| *e -= along * s);
    let scale = spherical_step * d / (l2(eta) + 1e-12);
    let radius = (spherical_step * spherical_step + 1.0).sqrt();
    // x* + (x̃ − x* + η)/√(1 + δ²): on the sphere of radius d around x*.
    let mut spherical: Vec<f32> = x
        .iter()
        .zip(&source)
        .zip(eta.iter())
        .map(|((a, s), e)| (a + (e * scale - s) / radius).clamp(lo, hi))
        .collect();
    // Step toward x*: ε·d, corrected for the clipping's deviation from the sphere.
    let toward: Vec<f32> = x.iter().zip(&spherical).map(|(a, b)| a - b).collect();
    let t = l2(&toward).max(1e-12);
    let length = (source_step * d + t - d).max(0.0) / t;
    let mut candidate: Vec<f32> = spherical
        .iter()
        .zip(&toward)
        .map(|(s, v)| (s + length * v).clamp(lo, hi))
        .collect();
    settle(x, &mut candidate, lo, hi);
    settle(x, &mut spherical, lo, hi);
    (candidate, spherical)
}

impl Default for Boundary {
    fn default() -> Self {
        Boundary::new(10_000)
    }
}

impl Attack for Boundary {
    fn name(&self) -> &str {
        "boundary"
    }

    fn access(&self) -> Access {
        Access::Decisions
    }

    fn norms(&self) -> &[Norm] {
        &[Norm::L2]
    }

    fn run(&self, input: &AttackInput, rng: &mut StdRng) -> Result<AttackOutcome> {
        Ok(self.run_counted(input, rng)?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn orthogonal_point_stays_on_the_sphere_and_the_candidate_moves_closer() {
        let mut rng = StdRng::seed_from_u64(1);
        let x: Vec<f32> = (0..64)
            .map(|k| 0.3 + 0.4 * ((k % 7) as f32 / 7.0))
            .collect();
        let current: Vec<f32> = x
            .iter()
            .map(|v| v + 0.05 * rng.gen_range(-1.0f32..1.0))
            .collect();
        let d = distance(Norm::L2, &x, &current);
        let mut eta = vec![0f32; 64];
        let (candidate, spherical) =
            proposal(&x, &current, 0.1, 0.05, (0.0, 1.0), &mut eta, &mut rng);
        let ds = distance(Norm::L2, &x, &spherical);
        assert!((ds - d).abs() < 1e-4 * d.max(1.0), "{ds} vs {d}");
        let dc = distance(Norm::L2, &x, &candidate);
        assert!(
            (dc - 0.95 * d).abs() < 1e-3 * d.max(1.0),
            "{dc} vs {}",
            0.95 * d
        );
        assert_ne!(spherical, current);
    }
}
