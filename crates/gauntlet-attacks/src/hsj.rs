//! HopSkipJumpAttack (Chen, Jordan & Wainwright, "HopSkipJumpAttack: A Query-Efficient
//! Decision-Based Attack", IEEE S&P 2020): a decision-based black-box attack for L2 and L∞
//! that needs nothing but the model's predicted label.
//!
//! It minimises the distance to the clean input `x*` along the decision boundary:
//!
//! 1. **Start.** Uniform noise in the valid box, redrawn until the model's label satisfies the
//!    criterion (at most [`HopSkipJump::DEFAULT_START_TRIES`] draws; a targeted start must be
//!    classified as the target). A sample without such a point fails cleanly. The noise is
//!    then blended toward `x*` by binary search on the blend factor.
//! 2. **Boundary search.** Binary search between `x*` and the current point down to the
//!    paper's threshold θ: on the blend factor with `θ = γ / d^{3/2}` for L2, on the L∞ radius
//!    of a clip-projection with `min(θ·dist, θ)` and `θ = γ / d²` for L∞ (`d` features,
//!    `γ = 1`). The adversarial end `x_t` is kept.
//! 3. **Gradient-direction estimate** at `x_t`: `B_t = 100·√t` (at most 10 000) random unit
//!    directions `u_b` (Gaussian for L2, uniform in `[−1, 1]^d` for L∞, normalised), probes
//!    `clip(x_t + δ_t u_b)` with `δ_t = √d·θ·dist_{t−1}` (L2) or `d·θ·dist_{t−1}` (L∞), and
//!    `0.1 · (box width)` at `t = 1`; the estimate is the mean of `(φ_b − φ̄)·u_b` with
//!    `φ_b = ±1` (adversarial or not) and the baseline `φ̄` their mean (the mean of `±u_b`
//!    when every probe agrees).
//! 4. **Geometric step search**: step `ξ = dist_t / √t` along the estimate (its sign for L∞),
//!    halved until the point is adversarial again; then back to 2.
//!
//! **Label-only.** Every decision is the arg-max of [`Classifier::logits`]; scores are never
//! read, so the attack runs unchanged on label-only targets ([`AnswerKind::Label`]) and never
//! asks for a gradient.
//!
//! **Budgets.** A minimum-norm attack: it minimises the distance once per sample, for all
//! budgets at once, so one search of at most `queries` queries serves every (sample, ε) pair
//! of that sample (the crate's budget: at most `queries` per sample and budget). A sample
//! stops when its best adversarial point is within the smallest ε, or when its budget cannot
//! pay for another iteration. Every row sent to the model counts (start draws, binary
//! searches, gradient probes, step search); the budget is never exceeded. The best point goes
//! to [`Attack::run`], which projects it into each ε-ball, so success at ε means the attack
//! found an adversarial point within ε. The queries reported at ε are those spent until the
//! best distance first fell to ε (all queries used, on failure).
//!
//! The shared decision-based machinery (label oracle, noise start, binary searches, best-point
//! tracking) is in `decision.rs`; the gradient-direction estimate (step 3) is in
//! `hsj/estimate.rs`.
//!
//! [`Classifier::logits`]: gauntlet_core::model::Classifier::logits
//! [`AnswerKind::Label`]: gauntlet_core::model::AnswerKind::Label

use rand::rngs::StdRng;
use serde_json::json;

use gauntlet_core::threat::Norm;
use gauntlet_core::{Error, Result};

use crate::attack::described;
use crate::decision::{bisect, settle, start_points, Bisection, Oracle, Path, Tracker};
use crate::outcome::SampleCandidates;
use crate::{Access, Attack, AttackInput, Kind, MinimumNorm};

mod estimate;

/// Decision-based HopSkipJumpAttack, L2 and L∞; a minimum-norm attack.
#[derive(Debug, Clone)]
pub struct HopSkipJump {
    /// Query budget per sample, the start search included (it serves every ε at once).
    queries: u64,
    /// γ of the boundary-search threshold θ.
    gamma: f32,
    /// Gradient-estimate probes at the first iteration (grows as √t).
    init_evals: usize,
    /// Cap on the probes per gradient estimate.
    max_evals: usize,
    /// Random-noise draws tried per sample for the start point.
    start_tries: usize,
}

/// Fewest probes worth a gradient estimate; a sample that cannot afford them stops.
const MIN_EVALS: u64 = 10;
/// Most halvings of one geometric step search.
const MAX_HALVINGS: usize = 30;

impl HopSkipJump {
    /// Random-noise draws per sample before the start search gives up.
    pub const DEFAULT_START_TRIES: usize = 100;
    /// Query budget per sample and budget unless told otherwise.
    pub const DEFAULT_QUERIES: u64 = 10_000;

    /// The paper's configuration (γ = 1, 100 probes growing as √t up to 10 000, geometric
    /// step search) with a budget of `queries` per sample and budget (0: no query, every
    /// sample keeps its clean input).
    pub fn new(queries: u64) -> Self {
        HopSkipJump {
            queries,
            gamma: 1.0,
            init_evals: 100,
            max_evals: 10_000,
            start_tries: Self::DEFAULT_START_TRIES,
        }
    }

    /// Overrides γ (the boundary-search threshold scale), a positive number.
    pub fn with_gamma(mut self, gamma: f32) -> Result<Self> {
        if !(gamma.is_finite() && gamma > 0.0) {
            return Err(Error::Parameter(format!(
                "HopSkipJump: gamma = {gamma} must be a positive number"
            )));
        }
        self.gamma = gamma;
        Ok(self)
    }

    /// Overrides the number of random-noise draws for the start point (at least 1).
    pub fn with_start_tries(mut self, tries: usize) -> Result<Self> {
        if tries == 0 {
            return Err(Error::Parameter(
                "HopSkipJump: start_tries must be at least 1".into(),
            ));
        }
        self.start_tries = tries;
        Ok(self)
    }
}

impl Default for HopSkipJump {
    fn default() -> Self {
        HopSkipJump::new(Self::DEFAULT_QUERIES)
    }
}

impl Attack for HopSkipJump {
    fn name(&self) -> &str {
        "hsj"
    }

    fn access(&self) -> Access {
        Access::Decisions
    }

    fn norms(&self) -> &[Norm] {
        &[Norm::L2, Norm::Linf]
    }

    fn describe(&self) -> serde_json::Value {
        described(
            self,
            json!({
                "queries": self.queries,
                "queries_per": "sample and budget (one search serves every budget of a sample)",
                "gamma": self.gamma,
                "init_evals": self.init_evals,
                "max_evals": self.max_evals,
                "start_tries": self.start_tries,
                "step_search": "geometric",
            }),
        )
    }

    fn kind(&self) -> Kind<'_> {
        Kind::MinimumNorm(self)
    }
}

impl MinimumNorm for HopSkipJump {
    fn minimize(&self, input: &AttackInput, rng: &mut StdRng) -> Result<SampleCandidates> {
        let f = input.features();
        let n = input.len();
        let norm = input.threat().norm();
        let bounds = input.threat().bounds();
        let (lo, hi) = (bounds.min, bounds.max);
        let width = hi - lo;
        let d = f.max(1) as f32;
        let theta = match norm {
            Norm::L2 => self.gamma / (d * d.sqrt()),
            _ => self.gamma / (d * d),
        };
        let mut oracle = Oracle::new(input, self.queries);
        let mut track = Tracker::new(input);
        let starts = start_points(&mut oracle, self.start_tries, rng)?;

        // Current boundary point x_t, distance of the last point before its boundary search
        // (for δ_t), and distance of x_t.
        let mut current: Vec<Vec<f32>> = vec![Vec::new(); n];
        let mut dist_post = vec![0f32; n];
        let mut dist = vec![0f32; n];
        let mut active: Vec<usize> = Vec::new();
        let pending: Vec<(usize, Vec<f32>)> = starts
            .into_iter()
            .enumerate()
            .filter_map(|(i, p)| p.map(|p| (i, p)))
            .collect();
        for (i, point, post) in boundary_search(&mut oracle, norm, theta, width, pending)? {
            let dt = norm.distance(input.row(i), &point);
            track.offer(i, &point, dt, oracle.used(i));
            dist_post[i] = post;
            dist[i] = dt;
            current[i] = point;
            active.push(i);
        }

        let mut t = 0usize;
        loop {
            t += 1;
            // Queries one iteration needs besides the probes: the boundary search and a few
            // halvings of the step search.
            let bs_steps = |i: usize| -> u64 {
                let range = match norm {
                    Norm::L2 => 1.0f32,
                    _ => dist[i].max(1e-12),
                };
                let thr = boundary_threshold(norm, theta, width, dist[i]);
                ((range / thr).log2().ceil().max(0.0) as u64) + 1
            };
            let wanted = ((self.init_evals as f64) * (t as f64).sqrt()) as u64;
            let wanted = wanted.min(self.max_evals as u64).max(1);
            let mut plan: Vec<(usize, u64)> = Vec::new();
            for &i in &active {
                if track.is_done(i) {
                    continue;
                }
                let reserve = bs_steps(i) + 3;
                let evals = wanted.min(oracle.left(i).saturating_sub(reserve));
                if evals >= MIN_EVALS {
                    plan.push((i, evals));
                }
            }
            if plan.is_empty() {
                break;
            }
            active = plan.iter().map(|&(i, _)| i).collect();

            // 3. Gradient-direction estimate at each planned sample's boundary point.
            let delta: Vec<f32> = plan
                .iter()
                .map(|&(i, _)| {
                    if t == 1 {
                        0.1 * width
                    } else {
                        match norm {
                            Norm::L2 => d.sqrt() * theta * dist_post[i],
                            _ => d * theta * dist_post[i],
                        }
                        .max(1e-12)
                    }
                })
                .collect();
            let updates = estimate::directions(&mut oracle, norm, &plan, &current, &delta, rng)?;

            // 4. Geometric step search: ξ = dist / √t, halved until adversarial. The boundary
            // search's queries stay reserved.
            let mut step: Vec<f32> = plan
                .iter()
                .map(|&(i, _)| dist[i] / (t as f32).sqrt())
                .collect();
            let mut moved: Vec<Option<Vec<f32>>> = vec![None; plan.len()];
            let mut searching: Vec<usize> = (0..plan.len()).collect();
            let mut halvings = 0;
            while !searching.is_empty() {
                let mut batch = Vec::with_capacity(searching.len() * f);
                let mut who = Vec::with_capacity(searching.len());
                for &k in &searching {
                    let i = plan[k].0;
                    if oracle.left(i) <= bs_steps(i) {
                        continue;
                    }
                    let mut row: Vec<f32> = current[i]
                        .iter()
                        .zip(&updates[k])
                        .map(|(c, g)| c + step[k] * g)
                        .collect();
                    settle(input.row(i), &mut row, lo, hi);
                    batch.extend_from_slice(&row);
                    who.push(k);
                }
                if who.is_empty() {
                    break;
                }
                let owners: Vec<usize> = who.iter().map(|&k| plan[k].0).collect();
                let adv = oracle.ask(&batch, &owners)?;
                let mut still = Vec::new();
                for (j, &k) in who.iter().enumerate() {
                    if adv[j] {
                        moved[k] = Some(batch[j * f..(j + 1) * f].to_vec());
                    } else {
                        step[k] *= 0.5;
                        still.push(k);
                    }
                }
                searching = still;
                halvings += 1;
                if halvings >= MAX_HALVINGS {
                    break;
                }
            }

            // 2. Boundary search from each moved point.
            let pending: Vec<(usize, Vec<f32>)> = moved
                .into_iter()
                .enumerate()
                .filter_map(|(k, m)| m.map(|p| (plan[k].0, p)))
                .collect();
            for (i, point, post) in boundary_search(&mut oracle, norm, theta, width, pending)? {
                let dt = norm.distance(input.row(i), &point);
                track.offer(i, &point, dt, oracle.used(i));
                dist_post[i] = post;
                dist[i] = dt;
                current[i] = point;
            }
        }
        Ok(track.into_candidates(input, oracle))
    }
}

/// Threshold of the boundary binary search (see the module docs).
fn boundary_threshold(norm: Norm, theta: f32, width: f32, dist: f32) -> f32 {
    match norm {
        Norm::L2 => theta,
        _ => (dist * theta).min(theta * width).max(1e-12),
    }
}

/// Binary search between each sample's clean input and its adversarial point `p`, down to the
/// paper's threshold: on the blend factor for L2, on the L∞ radius otherwise. Returns
/// `(sample, adversarial end, distance of p)`.
fn boundary_search(
    oracle: &mut Oracle,
    norm: Norm,
    theta: f32,
    width: f32,
    pending: Vec<(usize, Vec<f32>)>,
) -> Result<Vec<(usize, Vec<f32>, f32)>> {
    let input = *oracle.input();
    let posts: Vec<f32> = pending
        .iter()
        .map(|(i, p)| norm.distance(input.row(*i), p))
        .collect();
    let searches = pending
        .into_iter()
        .zip(&posts)
        .map(|((sample, target), &post)| Bisection {
            sample,
            target,
            high: if norm == Norm::L2 { 1.0 } else { post },
            threshold: boundary_threshold(norm, theta, width, post),
        })
        .collect();
    let path = if norm == Norm::L2 {
        Path::Blend
    } else {
        Path::Clip
    };
    Ok(bisect(oracle, path, searches)?
        .into_iter()
        .zip(posts)
        .map(|((i, point), post)| (i, point, post))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_follow_the_paper() {
        // d = 784: θ = 1/784^{3/2} for L2 → 15 halvings of [0, 1].
        let d = 784f32;
        let theta = 1.0 / (d * d.sqrt());
        assert!(
            (1.0 / boundary_threshold(Norm::L2, theta, 1.0, 3.0))
                .log2()
                .ceil()
                == 15.0
        );
        let theta_inf = 1.0 / (d * d);
        assert_eq!(
            boundary_threshold(Norm::Linf, theta_inf, 1.0, 0.5),
            0.5 * theta_inf
        );
        assert_eq!(
            boundary_threshold(Norm::Linf, theta_inf, 1.0, 2.0),
            theta_inf
        );
    }

    #[test]
    fn builders_reject_bad_values_by_field() {
        let err = |r: Result<HopSkipJump>| r.unwrap_err().to_string();
        assert!(err(HopSkipJump::new(100).with_gamma(0.0)).starts_with("HopSkipJump: gamma = 0"));
        assert!(err(HopSkipJump::new(100).with_gamma(f32::NAN)).starts_with("HopSkipJump: gamma"));
        assert_eq!(
            err(HopSkipJump::new(100).with_start_tries(0)),
            "HopSkipJump: start_tries must be at least 1"
        );
        let hsj = HopSkipJump::new(300)
            .with_gamma(2.0)
            .unwrap()
            .with_start_tries(5)
            .unwrap();
        assert_eq!(hsj.describe()["queries"], 300);
        assert_eq!(hsj.describe()["gamma"], 2.0);
        assert_eq!(hsj.describe()["start_tries"], 5);
    }
}
