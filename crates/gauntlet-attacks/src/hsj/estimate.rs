//! Step 3 of HopSkipJumpAttack: the Monte-Carlo estimate of the gradient direction at a
//! boundary point from the labels of random probes around it.

use rand::rngs::StdRng;
use rand::Rng;
use rand_distr::StandardNormal;

use gauntlet_core::threat::Norm;
use gauntlet_core::Result;

use crate::decision::{Oracle, MAX_ROWS};

/// For each planned `(sample, probes)`, probes `clip(x_t + δ u_b)` around the sample's
/// boundary point `current[sample]` with `probes` random unit directions `u_b` (Gaussian for
/// L2, uniform in `[−1, 1]^d` for L∞) and returns the estimated direction: the mean of
/// `(φ_b − φ̄)·u_b` over the directions actually taken (after clipping), with `φ_b = ±1`
/// (adversarial or not) and the baseline `φ̄` their mean (the mean of `±u_b` when every probe
/// agrees); unit L2 length for L2, its sign for L∞. Probes stream in chunks of at most
/// [`MAX_ROWS`] rows.
pub(super) fn directions(
    oracle: &mut Oracle,
    norm: Norm,
    plan: &[(usize, u64)],
    current: &[Vec<f32>],
    delta: &[f32],
    rng: &mut StdRng,
) -> Result<Vec<Vec<f32>>> {
    let input = *oracle.input();
    let f = input.features();
    let bounds = input.threat().bounds();
    let (lo, hi) = (bounds.min, bounds.max);
    let mut sums = Sums {
        all: vec![vec![0f64; f]; plan.len()],
        signed: vec![vec![0f64; f]; plan.len()],
        positives: vec![0u64; plan.len()],
    };
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
            let scale = delta[k] / (Norm::L2.measure_row(&u) + 1e-12);
            rows.extend(
                base.iter()
                    .zip(&u)
                    .map(|(b, v)| (b + scale * v).clamp(lo, hi)),
            );
            owners.push(k);
            if owners.len() == MAX_ROWS {
                sums.probe(oracle, plan, current, delta, &rows, &owners)?;
                rows.clear();
                owners.clear();
            }
        }
    }
    if !owners.is_empty() {
        sums.probe(oracle, plan, current, delta, &rows, &owners)?;
    }
    Ok(plan
        .iter()
        .enumerate()
        .map(|(k, &(_, evals))| sums.direction(k, evals, norm))
        .collect())
}

/// Per planned sample `k`: `Σ u_b`, `Σ φ_b u_b` and the number of adversarial probes.
struct Sums {
    all: Vec<Vec<f64>>,
    signed: Vec<Vec<f64>>,
    positives: Vec<u64>,
}

impl Sums {
    /// Queries a chunk of probes and accumulates the directions actually taken.
    fn probe(
        &mut self,
        oracle: &mut Oracle,
        plan: &[(usize, u64)],
        current: &[Vec<f32>],
        delta: &[f32],
        rows: &[f32],
        owners: &[usize],
    ) -> Result<()> {
        let f = oracle.input().features();
        let samples: Vec<usize> = owners.iter().map(|&k| plan[k].0).collect();
        let adv = oracle.ask(rows, &samples)?;
        for (j, &k) in owners.iter().enumerate() {
            let base = &current[plan[k].0];
            let sign = if adv[j] { 1.0 } else { -1.0 };
            if adv[j] {
                self.positives[k] += 1;
            }
            let inv = 1.0 / delta[k] as f64;
            let row = &rows[j * f..(j + 1) * f];
            for ((a, s), (r, b)) in self.all[k]
                .iter_mut()
                .zip(self.signed[k].iter_mut())
                .zip(row.iter().zip(base))
            {
                let v = (r - b) as f64 * inv;
                *a += v;
                *s += sign * v;
            }
        }
        Ok(())
    }

    /// The estimated direction of planned sample `k` from its `evals` probes.
    fn direction(&self, k: usize, evals: u64, norm: Norm) -> Vec<f32> {
        let m = evals as f64;
        let positives = self.positives[k];
        let mean = (2.0 * positives as f64 - m) / m;
        let grad: Vec<f64> = if positives as f64 == m {
            self.all[k].iter().map(|v| v / m).collect()
        } else if positives == 0 {
            self.all[k].iter().map(|v| -v / m).collect()
        } else {
            self.signed[k]
                .iter()
                .zip(&self.all[k])
                .map(|(s, a)| (s - mean * a) / m)
                .collect()
        };
        match norm {
            Norm::L2 => {
                let g = grad.iter().map(|v| v * v).sum::<f64>().sqrt();
                if g > 0.0 {
                    grad.iter().map(|v| (v / g) as f32).collect()
                } else {
                    vec![0.0; grad.len()]
                }
            }
            _ => grad.iter().map(|&v| crate::step::sign(v)).collect(),
        }
    }
}
