//! Machinery shared by the decision-based attacks ([`crate::hsj`], [`crate::boundary`]): a
//! label oracle that counts every row it answers against a per-sample budget, the noise start
//! and the binary searches toward the clean input, and the tracker of each sample's best
//! adversarial point.
//!
//! Every row is asked in the exact form the verification will rebuild it ([`settle`]), so the
//! label the attack saw is the label the verification sees.

use rand::rngs::StdRng;
use rand::Rng;

use gauntlet_core::device::compute_device;
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::Result;

use crate::outcome::{SampleCandidates, SampleQueries};
use crate::AttackInput;

/// Rows per `logits` call at most (large batches are split to bound memory).
pub(crate) const MAX_ROWS: usize = 1024;

/// Blend tolerance of the start search (a fraction of the way from the clean input).
const START_TOLERANCE: f32 = 1e-3;

/// The target's labels, one query per row, charged to the row's sample.
pub(crate) struct Oracle<'a> {
    input: AttackInput<'a>,
    used: Vec<u64>,
    budget: u64,
}

impl<'a> Oracle<'a> {
    /// A fresh count for every sample of `input`, each allowed `budget` queries.
    pub(crate) fn new(input: &AttackInput<'a>, budget: u64) -> Oracle<'a> {
        Oracle {
            input: *input,
            used: vec![0; input.len()],
            budget,
        }
    }

    /// The input being attacked.
    pub(crate) fn input(&self) -> &AttackInput<'a> {
        &self.input
    }

    /// The per-sample budget.
    pub(crate) fn budget(&self) -> u64 {
        self.budget
    }

    /// Queries sample `i` has used.
    pub(crate) fn used(&self, i: usize) -> u64 {
        self.used[i]
    }

    /// Queries sample `i` has left.
    pub(crate) fn left(&self, i: usize) -> u64 {
        self.budget - self.used[i]
    }

    /// Asks the label of each row (row `j` belongs to sample `owners[j]`, which pays one
    /// query) and returns whether it satisfies the criterion.
    pub(crate) fn ask(&mut self, rows: &[f32], owners: &[usize]) -> Result<Vec<bool>> {
        if owners.is_empty() {
            return Ok(Vec::new());
        }
        let preds = predicted_labels(&self.input, rows)?;
        Ok(owners
            .iter()
            .zip(preds)
            .map(|(&i, p)| {
                self.used[i] += 1;
                self.input.is_adversarial(i, p)
            })
            .collect())
    }
}

/// Predicted labels of a flat batch of rows (arg-max of the logits, in chunks).
fn predicted_labels(input: &AttackInput, rows: &[f32]) -> Result<Vec<i64>> {
    let f = input.features().max(1);
    let classes = input.model().num_classes();
    let device = compute_device();
    let mut out = Vec::with_capacity(rows.len() / f);
    for chunk in rows.chunks(MAX_ROWS * f) {
        let m = chunk.len() / f;
        let logits = to_vec(
            input
                .model()
                .logits(from_rows(chunk.to_vec(), m, f, &device))?,
        );
        out.extend(argmax_rows(&logits, classes));
    }
    Ok(out)
}

/// Rewrites a candidate `a` of clean input `x` the way the verification reconstructs it
/// (`clip(x + (a − x))`), so that the row the model answered is the row verified.
pub(crate) fn settle(x: &[f32], a: &mut [f32], lo: f32, hi: f32) {
    for (a, x) in a.iter_mut().zip(x) {
        let d = *a - *x;
        *a = (*x + d).clamp(lo, hi);
    }
}

/// How a binary search moves from the clean input `x` toward its adversarial end `p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// `(1 − t)·x + t·p`, `t` in [0, 1] (the L2 path).
    Blend,
    /// `x + clip(p − x, −t, t)`, `t` an L∞ radius (the L∞ path).
    Clip,
}

/// One binary search: from `sample`'s clean input toward its adversarial point `target`,
/// over `(0, high]` on `path`, until the bracket is at most `threshold` wide.
pub(crate) struct Bisection {
    pub(crate) sample: usize,
    pub(crate) target: Vec<f32>,
    pub(crate) high: f32,
    pub(crate) threshold: f32,
}

/// Runs the searches side by side (one batch per halving) while their samples can pay, and
/// returns each sample's adversarial end of the final bracket (its `target` if never moved).
pub(crate) fn bisect(
    oracle: &mut Oracle,
    path: Path,
    searches: Vec<Bisection>,
) -> Result<Vec<(usize, Vec<f32>)>> {
    let input = *oracle.input();
    let bounds = input.threat().bounds();
    let f = input.features();
    // (low, high, adversarial end) per search.
    let mut state: Vec<(f32, f32, Vec<f32>)> = searches
        .iter()
        .map(|s| (0.0, s.high, s.target.clone()))
        .collect();
    loop {
        let open: Vec<usize> = (0..searches.len())
            .filter(|&k| {
                state[k].1 - state[k].0 > searches[k].threshold
                    && oracle.used(searches[k].sample) < oracle.budget()
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
            let x = input.row(s.sample);
            let mid = 0.5 * (state[k].0 + state[k].1);
            let mut row: Vec<f32> = match path {
                Path::Blend => x
                    .iter()
                    .zip(&s.target)
                    .map(|(a, b)| (1.0 - mid) * a + mid * b)
                    .collect(),
                Path::Clip => x
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
        let adv = oracle.ask(&rows, &owners)?;
        for (j, &k) in open.iter().enumerate() {
            if adv[j] {
                state[k].1 = mids[j];
                state[k].2 = rows[j * f..(j + 1) * f].to_vec();
            } else {
                state[k].0 = mids[j];
            }
        }
    }
    Ok(searches
        .iter()
        .zip(state)
        .map(|(s, (_, _, best))| (s.sample, best))
        .collect())
}

/// Start points: for every sample (none when no budget is above 0 or no query is allowed),
/// uniform noise in the box redrawn (one query per draw, at most `tries` draws and the
/// budget) until it satisfies the criterion, then blended toward the clean input by binary
/// search. `None` where no adversarial noise was found.
pub(crate) fn start_points(
    oracle: &mut Oracle,
    tries: usize,
    rng: &mut StdRng,
) -> Result<Vec<Option<Vec<f32>>>> {
    let input = *oracle.input();
    let n = input.len();
    let f = input.features();
    let bounds = input.threat().bounds();
    let (lo, hi) = (bounds.min, bounds.max);
    let max_eps = input.threat().epsilons().last().copied().unwrap_or(0.0);
    // Nothing can be within a zero budget: skip the work (and the queries).
    let mut looking: Vec<usize> = if max_eps > 0.0 && oracle.budget() > 0 {
        (0..n).collect()
    } else {
        Vec::new()
    };
    let mut noise: Vec<Option<Vec<f32>>> = vec![None; n];
    let mut round = 0;
    while !looking.is_empty() && round < tries {
        looking.retain(|&i| oracle.used(i) < oracle.budget());
        let mut rows = Vec::with_capacity(looking.len() * f);
        for &i in &looking {
            let mut row: Vec<f32> = (0..f).map(|_| lo + (hi - lo) * rng.gen::<f32>()).collect();
            settle(input.row(i), &mut row, lo, hi);
            rows.extend_from_slice(&row);
        }
        let adv = oracle.ask(&rows, &looking)?;
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
    let searches = noise
        .into_iter()
        .enumerate()
        .filter_map(|(i, p)| {
            p.map(|target| Bisection {
                sample: i,
                target,
                high: 1.0,
                threshold: START_TOLERANCE,
            })
        })
        .collect();
    let mut out: Vec<Option<Vec<f32>>> = vec![None; n];
    for (i, p) in bisect(oracle, Path::Blend, searches)? {
        out[i] = Some(p);
    }
    Ok(out)
}

/// Per-sample best adversarial point and, per budget, the queries spent when the best
/// distance first fell within it.
pub(crate) struct Tracker {
    epsilons: Vec<f32>,
    n: usize,
    /// A sample is done once its best point is within every (positive) budget: stopping at
    /// the largest ε would leave the smaller ones weaker than a run of their own.
    done_at: f32,
    best: Vec<Option<Vec<f32>>>,
    best_dist: Vec<f32>,
    reached: Vec<Option<u64>>,
}

impl Tracker {
    /// Nothing found yet for any sample of `input`.
    pub(crate) fn new(input: &AttackInput) -> Tracker {
        let epsilons = input.threat().epsilons().to_vec();
        let n = input.len();
        Tracker {
            done_at: epsilons
                .iter()
                .copied()
                .filter(|&e| e > 0.0)
                .fold(f32::INFINITY, f32::min),
            reached: vec![None; epsilons.len() * n],
            epsilons,
            n,
            best: vec![None; n],
            best_dist: vec![f32::INFINITY; n],
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

    /// Sample `i`'s best adversarial point so far.
    pub(crate) fn best(&self, i: usize) -> Option<&[f32]> {
        self.best[i].as_deref()
    }

    /// Whether sample `i`'s best point is within every budget (nothing left to gain).
    pub(crate) fn is_done(&self, i: usize) -> bool {
        self.best_dist[i] <= self.done_at
    }

    /// The best points (the clean input where none was found) with the queries.
    pub(crate) fn into_candidates(self, input: &AttackInput, oracle: Oracle) -> SampleCandidates {
        let points = (0..self.n)
            .flat_map(|i| match &self.best[i] {
                Some(p) => p.clone(),
                None => input.row(i).to_vec(),
            })
            .collect();
        SampleCandidates {
            points,
            gradient_evals: 0,
            queries: Some(SampleQueries {
                used: oracle.used,
                reached: self.reached,
            }),
        }
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
}
