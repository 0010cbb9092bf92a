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
//! **Budgets.** As in HopSkipJumpAttack ([`crate::hsj`]), a minimum-norm attack: one
//! distance-minimising run per sample serves all budgets, so a sample's `queries` (start
//! search included, every row counted) are its budget at every ε. A sample stops when its best
//! point is within the smallest ε or its budget is spent. The best point goes to
//! [`Attack::run`], which projects it into each ε-ball; the queries reported at ε are those
//! spent until the best distance first fell to ε (all queries used, on failure).

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde_json::json;

use gauntlet_core::threat::Norm;
use gauntlet_core::{Error, Result};

use crate::attack::described;
use crate::decision::{settle, start_points, Oracle, Tracker};
use crate::outcome::SampleCandidates;
use crate::{Access, Attack, AttackInput, Kind, MinimumNorm};

/// The orthogonal point is also queried every this many steps (for δ's success rate).
pub const CHECK_EVERY: usize = 5;
/// Orthogonal-step checks per δ adaptation.
pub const SPHERICAL_WINDOW: usize = 10;
/// Steps per ε adaptation.
pub const STEP_WINDOW: usize = 30;
/// Factor of every step-size change.
const ADAPTATION: f32 = 1.5;

/// Decision-based Boundary Attack, L2; a minimum-norm attack.
#[derive(Debug, Clone)]
pub struct Boundary {
    /// Query budget per sample, the start search included (it serves every ε at once).
    queries: u64,
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
    /// Query budget per sample and budget unless told otherwise.
    pub const DEFAULT_QUERIES: u64 = 10_000;

    /// The reference configuration (δ = ε = 0.01 at the start, adapted by factors of 1.5) with
    /// a budget of `queries` per sample and budget (0: no query, every sample keeps its clean
    /// input).
    pub fn new(queries: u64) -> Self {
        Boundary {
            queries,
            spherical_step: 0.01,
            source_step: 0.01,
            start_tries: Self::DEFAULT_START_TRIES,
        }
    }

    /// Overrides the initial orthogonal step δ and step toward the original ε (both relative
    /// to the distance, positive).
    pub fn with_step_sizes(mut self, spherical: f32, source: f32) -> Result<Self> {
        for (field, value) in [("spherical", spherical), ("source", source)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(Error::Parameter(format!(
                    "Boundary: {field} = {value} must be a positive number"
                )));
            }
        }
        self.spherical_step = spherical;
        self.source_step = source;
        Ok(self)
    }

    /// Overrides the number of random-noise draws for the start point (at least 1).
    pub fn with_start_tries(mut self, tries: usize) -> Result<Self> {
        if tries == 0 {
            return Err(Error::Parameter(
                "Boundary: start_tries must be at least 1".into(),
            ));
        }
        self.start_tries = tries;
        Ok(self)
    }
}

/// One sample's walk along the boundary: its step sizes and their success statistics.
struct Walk {
    sample: usize,
    spherical: f32,
    source: f32,
    spherical_stats: VecDeque<bool>,
    step_stats: VecDeque<bool>,
}

impl Walk {
    /// The paper's step-size adaptation from the success rates of the last windows.
    fn adapt(&mut self) {
        if self.spherical_stats.len() == SPHERICAL_WINDOW {
            let rate = success_rate(&self.spherical_stats);
            if rate > 0.5 {
                self.spherical *= ADAPTATION;
                self.source *= ADAPTATION;
                self.spherical_stats.clear();
            } else if rate < 0.2 {
                self.spherical /= ADAPTATION;
                self.source /= ADAPTATION;
                self.spherical_stats.clear();
            }
        }
        if self.step_stats.len() == STEP_WINDOW {
            let rate = success_rate(&self.step_stats);
            if rate > 0.25 {
                self.source *= ADAPTATION;
                self.step_stats.clear();
            } else if rate < 0.1 {
                self.source /= ADAPTATION;
                self.step_stats.clear();
            }
        }
    }
}

impl MinimumNorm for Boundary {
    fn minimize(&self, input: &AttackInput, rng: &mut StdRng) -> Result<SampleCandidates> {
        let f = input.features();
        let bounds = input.threat().bounds();
        let (lo, hi) = (bounds.min, bounds.max);
        let mut oracle = Oracle::new(input, self.queries);
        let mut track = Tracker::new(input);
        let starts = start_points(&mut oracle, self.start_tries, rng)?;
        let mut walks: Vec<Walk> = Vec::new();
        for (i, start) in starts.into_iter().enumerate() {
            if let Some(p) = start {
                let dt = Norm::L2.distance(input.row(i), &p);
                track.offer(i, &p, dt, oracle.used(i));
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
        loop {
            step += 1;
            walks.retain(|w| !track.is_done(w.sample) && oracle.left(w.sample) > 0);
            if walks.is_empty() {
                break;
            }
            // Candidates for every walk first, then the orthogonal points being checked. Each
            // walk draws its proposal in its own task, from a stream seeded by the attack's
            // generator in walk order, so the run stays reproducible.
            let seeds: Vec<u64> = walks.iter().map(|_| rng.gen()).collect();
            let proposals: Vec<(Vec<f32>, Vec<f32>)> = walks
                .par_iter()
                .zip(&seeds)
                .map(|(w, &seed)| {
                    let current = track.best(w.sample).expect("walks start adversarial");
                    let mut walk_rng = StdRng::seed_from_u64(seed);
                    let steps = (w.spherical, w.source);
                    proposal(input.row(w.sample), current, steps, (lo, hi), &mut walk_rng)
                })
                .collect();
            let mut rows = Vec::with_capacity(walks.len() * f);
            let mut checks = Vec::new();
            let mut check_rows = Vec::new();
            for (k, (w, (candidate, spherical))) in walks.iter().zip(&proposals).enumerate() {
                rows.extend_from_slice(candidate);
                if step.is_multiple_of(CHECK_EVERY) && oracle.left(w.sample) >= 2 {
                    checks.push(k);
                    check_rows.extend_from_slice(spherical);
                }
            }
            let mut owners: Vec<usize> = walks.iter().map(|w| w.sample).collect();
            owners.extend(checks.iter().map(|&k| walks[k].sample));
            rows.extend_from_slice(&check_rows);
            let adv = oracle.ask(&rows, &owners)?;
            let m = walks.len();
            for (k, w) in walks.iter_mut().enumerate() {
                let i = w.sample;
                let candidate = &rows[k * f..(k + 1) * f];
                if adv[k] {
                    let dt = Norm::L2.distance(input.row(i), candidate);
                    track.offer(i, candidate, dt, oracle.used(i));
                }
                push(&mut w.step_stats, adv[k], STEP_WINDOW);
            }
            for (j, &k) in checks.iter().enumerate() {
                push(&mut walks[k].spherical_stats, adv[m + j], SPHERICAL_WINDOW);
            }
            walks.iter_mut().for_each(Walk::adapt);
        }
        Ok(track.into_candidates(input, oracle))
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
/// reconstruct.
fn proposal(
    x: &[f32],
    current: &[f32],
    (spherical_step, source_step): (f32, f32),
    (lo, hi): (f32, f32),
    rng: &mut StdRng,
) -> (Vec<f32>, Vec<f32>) {
    // source = x* − x̃, its length d and unit direction.
    let source: Vec<f32> = x.iter().zip(current).map(|(a, b)| a - b).collect();
    let d = Norm::L2.measure_row(&source).max(1e-12);
    let mut eta: Vec<f32> = (0..x.len()).map(|_| rng.sample(StandardNormal)).collect();
    let along: f32 = eta.iter().zip(&source).map(|(e, s)| e * s).sum::<f32>() / (d * d);
    eta.iter_mut()
        .zip(&source)
        .for_each(|(e, s)| *e -= along * s);
    let scale = spherical_step * d / (Norm::L2.measure_row(&eta) + 1e-12);
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
    let t = Norm::L2.measure_row(&toward).max(1e-12);
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
        Boundary::new(Self::DEFAULT_QUERIES)
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

    fn describe(&self) -> serde_json::Value {
        described(
            self,
            json!({
                "queries": self.queries,
                "queries_per": "sample and budget (one walk serves every budget of a sample)",
                "spherical_step": self.spherical_step,
                "source_step": self.source_step,
                "adaptation": ADAPTATION,
                "check_every": CHECK_EVERY,
                "spherical_window": SPHERICAL_WINDOW,
                "step_window": STEP_WINDOW,
                "start_tries": self.start_tries,
            }),
        )
    }

    fn kind(&self) -> Kind<'_> {
        Kind::MinimumNorm(self)
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
        let d = Norm::L2.distance(&x, &current);
        let (candidate, spherical) = proposal(&x, &current, (0.1, 0.05), (0.0, 1.0), &mut rng);
        let ds = Norm::L2.distance(&x, &spherical);
        assert!((ds - d).abs() < 1e-4 * d.max(1.0), "{ds} vs {d}");
        let dc = Norm::L2.distance(&x, &candidate);
        assert!(
            (dc - 0.95 * d).abs() < 1e-3 * d.max(1.0),
            "{dc} vs {}",
            0.95 * d
        );
        assert_ne!(spherical, current);
    }

    #[test]
    fn builders_reject_bad_values_by_field() {
        let err = |r: Result<Boundary>| r.unwrap_err().to_string();
        assert!(err(Boundary::new(10).with_step_sizes(0.0, 0.01))
            .starts_with("Boundary: spherical = 0"));
        assert!(
            err(Boundary::new(10).with_step_sizes(0.01, -1.0)).starts_with("Boundary: source = -1")
        );
        assert_eq!(
            err(Boundary::new(10).with_start_tries(0)),
            "Boundary: start_tries must be at least 1"
        );
        let b = Boundary::new(400).with_step_sizes(0.02, 0.03).unwrap();
        assert_eq!(b.describe()["queries"], 400);
        assert_eq!(b.describe()["spherical_step"], 0.02f32 as f64);
    }
}
