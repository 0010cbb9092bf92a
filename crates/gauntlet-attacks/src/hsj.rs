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
//! **Budgets.** The attack minimises the distance once per sample, for all budgets at once:
//! a sample stops when its best adversarial point is within the smallest ε, or when its query
//! budget cannot pay for another iteration. Every row sent to the model counts (start draws,
//! binary searches, gradient probes, step search); the budget is never exceeded. The best
//! point goes to [`verify`], which projects it into each ε-ball, so success at ε means the
//! attack found an adversarial point within ε. The queries reported at ε are those spent
//! until the best distance first fell to ε (all queries used, on failure).
//!
//! [`Classifier::logits`]: gauntlet_core::model::Classifier::logits
//! [`AnswerKind::Label`]: gauntlet_core::model::AnswerKind::Label

use rand::rngs::StdRng;
use rand::Rng;
use rand_distr::StandardNormal;

use gauntlet_core::device::compute_device;
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::threat::Norm;
use gauntlet_core::Result;

use crate::outcome::{attach_queries, verify, AttackOutcome};
use crate::{Access, Attack, AttackInput};

/// Rows per `logits` call at most (large gradient estimates are split to bound memory).
const MAX_ROWS: usize = 1024;

/// Decision-based HopSkipJumpAttack, L2 and L∞.
pub struct HopSkipJump {
    /// Query budget per sample, the start search included.
    queries: usize,
    /// γ of the boundary-search threshold θ.
    gamma: f32,
    /// Gradient-estimate probes at the first iteration (grows as √t).
    init_evals: usize,
    /// Cap on the probes per gradient estimate.
    max_evals: usize,
    /// Random-noise draws tried per sample for the start point.
    start_tries: usize,
}

impl HopSkipJump {
    /// Random-noise draws per sample before the start search gives up.
    pub const DEFAULT_START_TRIES: usize = 100;

    /// The paper's configuration (γ = 1, 100 probes growing as √t up to 10 000, geometric
    /// step search) with a budget of `queries` per sample.
    pub fn new(queries: usize) -> Self {
        HopSkipJump {
            queries,
            gamma: 1.0,
            init_evals: 100,
            max_evals: 10_000,
            start_tries: Self::DEFAULT_START_TRIES,
        }
    }

    /// Overrides γ (the boundary-search threshold scale).
    pub fn with_gamma(mut self, gamma: f32) -> Self {
        if gamma.is_finite() && gamma > 0.0 {
            self.gamma = gamma;
        }
        self
    }

    /// Overrides the number of random-noise draws for the start point (at least 1).
    pub fn with_start_tries(mut self, tries: usize) -> Self {
        self.start_tries = tries.max(1);
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
        let norm = input.threat.norm();
        let bounds = input.threat.bounds();
        let (lo, hi) = (bounds.min, bounds.max);
        let width = hi - lo;
        let budget = self.queries as u64;
        let max_eps = epsilons.last().copied().unwrap_or(0.0);
        // A sample is done once its best point is within every (positive) budget: stopping at
        // the largest ε would leave the smaller ones weaker than a run of their own.
        let done_at = epsilons.iter().copied().filter(|&e| e > 0.0).fold(f32::INFINITY, f32::min);
        let d = f.max(1) as f32;
        let theta = match norm {
            Norm::L2 => self.gamma / (d * d.sqrt()),
            _ => self.gamma / (d * d),
        };
        let clean = |i: usize| &input.x[i * f..(i + 1) * f];

        let mut used = vec![0u64; n];
        let mut track = Tracker::new(n, epsilons);
        // Nothing can be within a zero budget: skip the work (and the queries).
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

        // Current boundary point x_t, distance of the last point before its boundary search
        // (for δ_t), and distance of x_t.
        let mut current: Vec<Vec<f32>> = vec![Vec::new(); n];
        let mut dist_post = vec![0f32; n];
        let mut dist = vec![0f32; n];
        let mut active: Vec<usize> = Vec::new();
        let mut pending: Vec<(usize, Vec<f32>)> = Vec::new();
        for (i, start) in starts.into_iter().enumerate() {
            if let Some(p) = start {
                pending.push((i, p));
            }
        }
        for (i, point, post) in
            boundary_search(input, norm, theta, width, pending, budget, &mut used)?
        {
            let dt = distance(norm, clean(i), &point);
            track.offer(i, &point, dt, used[i]);
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
                if track.best_dist[i] <= done_at {
                    continue;
                }
                let left = budget - used[i];
                let reserve = bs_steps(i) + 3;
                let evals = wanted.min(left.saturating_sub(reserve));
                if evals >= MIN_EVALS {
                    plan.push((i, evals));
                }
            }
            if plan.is_empty() {
                break;
            }
            active = plan.iter().map(|&(i, _)| i).collect();

            // 3. Gradient-direction estimate, streamed in chunks of rows.
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
            let mut s_all = vec![vec![0f64; f]; plan.len()];
            let mut s_signed = vec![vec![0f64; f]; plan.len()];
            let mut positives = vec![0u64; plan.len()];
            let mut rows: Vec<f32> = Vec::with_capacity(MAX_ROWS * f);
            let mut owners: Vec<usize> = Vec::with_capacity(MAX_ROWS);
            let mut u = vec![0f32; f];
            for (k, &(i, evals)) in plan.iter().enumerate() {
                let base = &current[i];
                for _ in 0..evals {
                    match norm {
                        Norm::L2 => u.iter_mut().for_each(|v| *v = rng.sample(StandardNormal)),
                        _ => u.iter_mut().for_each(|v| *v = rng.gen_range(-1.0f32..=1.0)),
                    }
                    let scale = delta[k] / (l2(&u) + 1e-12);
                    rows.extend(
                        base.iter()
                            .zip(&u)
                            .map(|(b, v)| (b + scale * v).clamp(lo, hi)),
                    );
                    owners.push(k);
                    if owners.len() == MAX_ROWS {
                        probe(
                            input,
                            &plan,
                            &current,
                            &delta,
                            &rows,
                            &owners,
                            &mut used,
                            &mut s_all,
                            &mut s_signed,
                            &mut positives,
                        )?;
                        rows.clear();
                        owners.clear();
                    }
                }
            }
            if !owners.is_empty() {
                probe(
                    input,
                    &plan,
                    &current,
                    &delta,
                    &rows,
                    &owners,
                    &mut used,
                    &mut s_all,
                    &mut s_signed,
                    &mut positives,
                )?;
                rows.clear();
                owners.clear();
            }
            let updates: Vec<Vec<f32>> = plan
                .iter()
                .enumerate()
                .map(|(k, &(_, evals))| {
                    let m = evals as f64;
                    let mean = (2.0 * positives[k] as f64 - m) / m;
                    let grad: Vec<f64> = if positives[k] as f64 == m {
                        s_all[k].iter().map(|v| v / m).collect()
                    } else if positives[k] == 0 {
                        s_all[k].iter().map(|v| -v / m).collect()
                    } else {
                        s_signed[k]
                            .iter()
                            .zip(&s_all[k])
                            .map(|(s, a)| (s - mean * a) / m)
                            .collect()
                    };
                    match norm {
                        Norm::L2 => {
                            let g = grad.iter().map(|v| v * v).sum::<f64>().sqrt();
                            if g > 0.0 {
                                grad.iter().map(|v| (v / g) as f32).collect()
                            } else {
                                vec![0.0; f]
                            }
                        }
                        _ => grad
                            .iter()
                            .map(|&v| {
                                if v > 0.0 {
                                    1.0
                                } else if v < 0.0 {
                                    -1.0
                                } else {
                                    0.0
                                }
                            })
                            .collect(),
                    }
                })
                .collect();
            drop(s_all);
            drop(s_signed);

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
                    if budget - used[i] <= bs_steps(i) {
                        continue;
                    }
                    let mut row: Vec<f32> = current[i]
                        .iter()
                        .zip(&updates[k])
                        .map(|(c, g)| c + step[k] * g)
                        .collect();
                    settle(clean(i), &mut row, lo, hi);
                    batch.extend_from_slice(&row);
                    who.push(k);
                }
                if who.is_empty() {
                    break;
                }
                let owners: Vec<usize> = who.iter().map(|&k| plan[k].0).collect();
                let adv = ask(input, &batch, &owners, &mut used)?;
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
            let mut pending = Vec::new();
            for (k, m) in moved.into_iter().enumerate() {
                if let Some(p) = m {
                    pending.push((plan[k].0, p));
                }
            }
            for (i, point, post) in
                boundary_search(input, norm, theta, width, pending, budget, &mut used)?
            {
                let dt = distance(norm, clean(i), &point);
                track.offer(i, &point, dt, used[i]);
                dist_post[i] = post;
                dist[i] = dt;
                current[i] = point;
            }
        }

        let outcome = track.finish(input, &used)?;
        Ok((outcome, used))
    }
}

/// Fewest probes worth a gradient estimate; a sample that cannot afford them stops.
const MIN_EVALS: u64 = 10;
/// Most halvings of one geometric step search.
const MAX_HALVINGS: usize = 30;

/// Queries a chunk of gradient probes and accumulates, per planned sample `k`, the sums
/// `Σ u_b` and `Σ φ_b u_b` of the directions actually taken (after clipping).
#[allow(clippy::too_many_arguments)]
fn probe(
    input: &AttackInput,
    plan: &[(usize, u64)],
    current: &[Vec<f32>],
    delta: &[f32],
    rows: &[f32],
    owners: &[usize],
    used: &mut [u64],
    s_all: &mut [Vec<f64>],
    s_signed: &mut [Vec<f64>],
    positives: &mut [u64],
) -> Result<()> {
    let f = input.features();
    let samples: Vec<usize> = owners.iter().map(|&k| plan[k].0).collect();
    let adv = ask(input, rows, &samples, used)?;
    for (j, &k) in owners.iter().enumerate() {
        let base = &current[plan[k].0];
        let sign = if adv[j] { 1.0 } else { -1.0 };
        if adv[j] {
            positives[k] += 1;
        }
        let inv = 1.0 / delta[k] as f64;
        let row = &rows[j * f..(j + 1) * f];
        for ((a, s), (r, b)) in s_all[k]
            .iter_mut()
            .zip(s_signed[k].iter_mut())
            .zip(row.iter().zip(base))
        {
            let v = (r - b) as f64 * inv;
            *a += v;
            *s += sign * v;
        }
    }
    Ok(())
}

/// Threshold of the boundary binary search (see the module docs).
fn boundary_threshold(norm: Norm, theta: f32, width: f32, dist: f32) -> f32 {
    match norm {
        Norm::L2 => theta,
        _ => (dist * theta).min(theta * width).max(1e-12),
    }
}

/// Binary search between each sample's clean input and its adversarial point `p`, down to the
/// paper's threshold. Returns `(sample, adversarial end, distance of p)`.
fn boundary_search(
    input: &AttackInput,
    norm: Norm,
    theta: f32,
    width: f32,
    pending: Vec<(usize, Vec<f32>)>,
    budget: u64,
    used: &mut [u64],
) -> Result<Vec<(usize, Vec<f32>, f32)>> {
    let f = input.features();
    let bounds = input.threat.bounds();
    let clean = |i: usize| &input.x[i * f..(i + 1) * f];
    struct Search {
        sample: usize,
        target: Vec<f32>,
        low: f32,
        high: f32,
        threshold: f32,
        best: Vec<f32>,
        post: f32,
    }
    let mut searches: Vec<Search> = pending
        .into_iter()
        .map(|(i, p)| {
            let post = distance(norm, clean(i), &p);
            let high = match norm {
                Norm::L2 => 1.0,
                _ => post,
            };
            Search {
                sample: i,
                threshold: boundary_threshold(norm, theta, width, post),
                best: p.clone(),
                target: p,
                low: 0.0,
                high,
                post,
            }
        })
        .collect();
    loop {
        let open: Vec<usize> = (0..searches.len())
            .filter(|&k| {
                let s = &searches[k];
                s.high - s.low > s.threshold && used[s.sample] < budget
            })
            .collect();
        if open.is_empty() {
            break;
        }
        let mut rows = Vec::with_capacity(open.len() * f);
        let mut owners = Vec::with_capacity(open.len());
        let mut mids = Vec::with_capacity(open.len());
        for &k in &open {
            let s = &searches[k];
            let x = clean(s.sample);
            let mid = 0.5 * (s.low + s.high);
            let mut row: Vec<f32> = match norm {
                Norm::L2 => x
                    .iter()
                    .zip(&s.target)
                    .map(|(a, b)| (1.0 - mid) * a + mid * b)
                    .collect(),
                _ => x
                    .iter()
                    .zip(&s.target)
                    .map(|(a, b)| a + (b - a).clamp(-mid, mid))
                    .collect(),
            };
            settle(x, &mut row, bounds.min, bounds.max);
            rows.extend_from_slice(&row);
            owners.push(s.sample);
            mids.push(mid);
        }
        let adv = ask(input, &rows, &owners, used)?;
        for (j, &k) in open.iter().enumerate() {
            let s = &mut searches[k];
            if adv[j] {
                s.high = mids[j];
                s.best = rows[j * f..(j + 1) * f].to_vec();
            } else {
                s.low = mids[j];
            }
        }
    }
    Ok(searches
        .into_iter()
        .map(|s| (s.sample, s.best, s.post))
        .collect())
}

/// Per-sample best adversarial point and, per budget, the queries spent when the best
/// distance first fell within it (decision attacks).
pub(crate) struct Tracker {
    epsilons: Vec<f32>,
    n: usize,
    pub(crate) best: Vec<Option<Vec<f32>>>,
    pub(crate) best_dist: Vec<f32>,
    reached: Vec<Option<u64>>,
}

impl Tracker {
    pub(crate) fn new(n: usize, epsilons: &[f32]) -> Tracker {
        Tracker {
            epsilons: epsilons.to_vec(),
            n,
            best: vec![None; n],
            best_dist: vec![f32::INFINITY; n],
            reached: vec![None; epsilons.len() * n],
        }
    }

    /// Offers an adversarial point of sample `i` at distance `dist`, found after `used`
    /// queries; kept if closer than the best so far.
    pub(crate) fn offer(&mut self, i: usize, point: &[f32], dist: f32, used: u64) {
        if dist < self.best_dist[i] {
            self.best_dist[i] = dist;
            self.best[i] = Some(point.to_vec());
            for (e, &eps) in self.epsilons.iter().enumerate() {
                let r = &mut self.reached[e * self.n + i];
                if r.is_none() && dist <= eps {
                    *r = Some(used);
                }
            }
        }
    }

    /// Verifies the best points (the clean input where none was found) at every budget and
    /// attaches the per-budget queries.
    pub(crate) fn finish(&self, input: &AttackInput, used: &[u64]) -> Result<AttackOutcome> {
        let f = input.features();
        let n = self.n;
        let candidates: Vec<Vec<f32>> = (0..self.epsilons.len())
            .map(|_| {
                (0..n)
                    .flat_map(|i| match &self.best[i] {
                        Some(p) => p.clone(),
                        None => input.x[i * f..(i + 1) * f].to_vec(),
                    })
                    .collect()
            })
            .collect();
        let mut per_eps = verify(input, candidates)?;
        let per_row: Vec<u64> = (0..self.epsilons.len() * n)
            .map(|r| self.reached[r].unwrap_or(used[r % n.max(1)]))
            .collect();
        attach_queries(&mut per_eps, &per_row);
        Ok(AttackOutcome {
            per_eps,
            gradient_evals: 0,
            queries: used.iter().sum(),
        })
    }
}

/// Predicted labels of a flat batch of rows (arg-max of the logits, in chunks).
pub(crate) fn predicted_labels(input: &AttackInput, rows: &[f32]) -> Result<Vec<i64>> {
    let f = input.features().max(1);
    let classes = input.model.num_classes();
    let device = compute_device();
    let mut out = Vec::with_capacity(rows.len() / f);
    for chunk in rows.chunks(MAX_ROWS * f) {
        let m = chunk.len() / f;
        let logits = to_vec(
            input
                .model
                .logits(from_rows(chunk.to_vec(), m, f, &device))?,
        );
        out.extend(argmax_rows(&logits, classes));
    }
    Ok(out)
}

/// Asks the model for the label of each row (row `j` belongs to sample `owners[j]`, which pays
/// one query) and returns whether it satisfies the criterion.
pub(crate) fn ask(
    input: &AttackInput,
    rows: &[f32],
    owners: &[usize],
    used: &mut [u64],
) -> Result<Vec<bool>> {
    if owners.is_empty() {
        return Ok(Vec::new());
    }
    let preds = predicted_labels(input, rows)?;
    Ok(owners
        .iter()
        .zip(preds)
        .map(|(&i, p)| {
            used[i] += 1;
            input.criterion.is_adversarial(i, input.labels[i], p)
        })
        .collect())
}

/// Rewrites a candidate `a` of clean input `x` the way [`verify`] reconstructs it
/// (`clip(x + (a − x))`), so that the row the model answered is the row verified.
pub(crate) fn settle(x: &[f32], a: &mut [f32], lo: f32, hi: f32) {
    for (a, x) in a.iter_mut().zip(x) {
        let d = *a - *x;
        *a = (*x + d).clamp(lo, hi);
    }
}

/// The threat norm of `a − x`, measured exactly as [`verify`] measures it.
pub(crate) fn distance(norm: Norm, x: &[f32], a: &[f32]) -> f32 {
    let delta: Vec<f32> = a.iter().zip(x).map(|(a, x)| a - x).collect();
    norm.measure_rows(&delta, delta.len().max(1))[0]
}

pub(crate) fn l2(values: &[f32]) -> f32 {
    values.iter().map(|v| v * v).sum::<f32>().sqrt()
}

/// Start points for the decision attacks: for every sample in `samples`, uniform noise in the
/// box redrawn (one query per draw, at most `tries` draws and the budget) until it satisfies
/// the criterion, then blended toward the clean input by binary search on the blend factor
/// down to `tolerance`. `None` where no adversarial noise was found.
pub(crate) fn noise_start(
    input: &AttackInput,
    samples: &[usize],
    budget: u64,
    tries: usize,
    tolerance: f32,
    used: &mut [u64],
    rng: &mut StdRng,
) -> Result<Vec<Option<Vec<f32>>>> {
    let n = input.len();
    let f = input.features();
    let bounds = input.threat.bounds();
    let (lo, hi) = (bounds.min, bounds.max);
    let clean = |i: usize| &input.x[i * f..(i + 1) * f];
    let mut noise: Vec<Option<Vec<f32>>> = vec![None; n];
    let mut looking: Vec<usize> = samples.to_vec();
    let mut round = 0;
    while !looking.is_empty() && round < tries {
        looking.retain(|&i| used[i] < budget);
        let mut rows = Vec::with_capacity(looking.len() * f);
        for &i in &looking {
            let mut row: Vec<f32> = (0..f).map(|_| lo + (hi - lo) * rng.gen::<f32>()).collect();
            settle(clean(i), &mut row, lo, hi);
            rows.extend_from_slice(&row);
        }
        let adv = ask(input, &rows, &looking, used)?;
        let mut still = Vec::new();
        for (j, &i) in looking.iter().enumerate() {
            if adv[j] {
                noise[i] = Some(rows[j * f..(j + 1) * f].to_vec());
            } else {
                still.push(i);
            }
        }
        looking = still;
        round += 1;
    }
    // Blend toward the clean input: (1 − α)·x + α·noise, α in (low, high], high adversarial.
    let mut state: Vec<(usize, f32, f32, Vec<f32>)> = noise
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.as_ref().map(|p| (i, 0.0, 1.0, p.clone())))
        .collect();
    loop {
        let open: Vec<usize> = (0..state.len())
            .filter(|&k| state[k].2 - state[k].1 > tolerance && used[state[k].0] < budget)
            .collect();
        if open.is_empty() {
            break;
        }
        let mut rows = Vec::with_capacity(open.len() * f);
        let mut owners = Vec::with_capacity(open.len());
        let mut mids = Vec::with_capacity(open.len());
        for &k in &open {
            let (i, low, high, _) = &state[k];
            let mid = 0.5 * (low + high);
            let target = noise[*i]
                .as_ref()
                .expect("blended only where noise was found");
            let mut row: Vec<f32> = clean(*i)
                .iter()
                .zip(target)
                .map(|(a, b)| (1.0 - mid) * a + mid * b)
                .collect();
            settle(clean(*i), &mut row, lo, hi);
            rows.extend_from_slice(&row);
            owners.push(*i);
            mids.push(mid);
        }
        let adv = ask(input, &rows, &owners, used)?;
        for (j, &k) in open.iter().enumerate() {
            if adv[j] {
                state[k].2 = mids[j];
                state[k].3 = rows[j * f..(j + 1) * f].to_vec();
            } else {
                state[k].1 = mids[j];
            }
        }
    }
    let mut out: Vec<Option<Vec<f32>>> = vec![None; n];
    for (i, _, _, p) in state {
        out[i] = Some(p);
    }
    Ok(out)
}

impl Default for HopSkipJump {
    fn default() -> Self {
        HopSkipJump::new(10_000)
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

    fn run(&self, input: &AttackInput, rng: &mut StdRng) -> Result<AttackOutcome> {
        Ok(self.run_counted(input, rng)?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn settled_rows_are_fixed_points_of_verify_arithmetic() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..20_000 {
            let x: Vec<f32> = (0..8).map(|_| rng.gen::<f32>()).collect();
            let mut a: Vec<f32> = (0..8)
                .map(|_| rng.gen_range(-0.2f32..1.2) * rng.gen::<f32>().powi(3))
                .collect();
            settle(&x, &mut a, 0.0, 1.0);
            let mut again = a.clone();
            settle(&x, &mut again, 0.0, 1.0);
            assert_eq!(a, again);
        }
    }

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
}
