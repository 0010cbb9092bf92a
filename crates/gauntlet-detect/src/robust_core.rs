//! The clean core of a class: where most of its members sit and how they spread, estimated so
//! that up to half of the class may be something else (poison). The minimum covariance
//! determinant estimator (Rousseeuw & Van Driessen's FAST-MCD concentration steps), scaled by
//! its theoretical consistency factor (Croux & Haesbroeck 1999) and reweighted once at the
//! 97.5 % χ² quantile. Both robust detectors ([`crate::robust_spectral`],
//! [`crate::robust_clustering`]) whiten a class's activations by it: what clean members hardly
//! vary in becomes as loud as what they vary in most, so a poison's shift stands out.

use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::SeedableRng;

use crate::detection::{by_class, class_seed};
use crate::linalg::{top_right_singular_vectors, Matrix};

/// Principal directions a class is reduced to before its core is estimated (activation
/// clustering's 10).
pub const DIMENSIONS: usize = crate::activation_clustering::DIMENSIONS;

/// Share of a class the core holds (the MCD's h = n/2: the highest breakdown point).
pub const CORE_SHARE: f64 = 0.5;

/// Random starts of the concentration steps.
pub const STARTS: usize = 5;

/// Concentration steps per start at most (they stop early once the core no longer changes).
pub const MAX_STEPS: usize = 30;

/// The clean core's location and shape.
pub struct CleanCore {
    /// Its centre.
    pub mean: Vec<f64>,
    /// Lower Cholesky factor of the (consistency-scaled) core covariance, row-major `k × k`.
    pub cholesky: Vec<f64>,
    /// Rows the final estimate was made from.
    pub size: usize,
    /// The consistency factor its covariance was scaled by.
    pub consistency: f64,
}

impl CleanCore {
    /// `L⁻¹ (r − mean)` for every row `r`.
    pub fn whiten(&self, x: &Matrix) -> Matrix {
        let k = x.cols;
        let mut values = Vec::with_capacity(x.rows * k);
        for i in 0..x.rows {
            let centred: Vec<f64> = x
                .row(i)
                .iter()
                .zip(&self.mean)
                .map(|(a, m)| a - m)
                .collect();
            values.extend(forward_substitute(&self.cholesky, k, &centred));
        }
        Matrix::new(values, x.rows, k)
    }
}

/// One class of a training set in its clean core's coordinates.
pub struct WhitenedClass {
    /// The class (the given label).
    pub class: i64,
    /// Its rows in the activation matrix.
    pub rows: Vec<usize>,
    /// The seed everything random about this class derives from.
    pub seed: u64,
    /// Its rows (in `rows` order) centred, reduced to [`DIMENSIONS`] principal directions and
    /// whitened by the clean core, with that core; `None` when the class has too few rows
    /// (fewer than `4·(k + 1)` for `k` directions) or no variation to estimate a core from.
    pub whitened: Option<(Matrix, CleanCore)>,
}

/// Every class of `activations` (one row per input, labelled `labels`) whitened by its clean
/// core: what both robust detectors start from, computed once when a scan runs both.
pub fn whiten_classes(activations: &Matrix, labels: &[i64], seed: u64) -> Vec<WhitenedClass> {
    by_class(labels)
        .into_iter()
        .map(|(class, rows)| {
            let seed = class_seed(seed, class);
            let x = activations.select_rows(&rows).centred();
            let directions = top_right_singular_vectors(&x, DIMENSIONS, seed);
            let reduced = x.project(&directions);
            let k = reduced.cols;
            let whitened = (k > 0 && rows.len() >= 4 * (k + 1)).then(|| {
                let core = clean_core(&reduced, seed);
                (core.whiten(&reduced), core)
            });
            WhitenedClass {
                class,
                rows,
                seed,
                whitened,
            }
        })
        .collect()
}

/// The minimum-covariance-determinant core of `x` (rows of `k` values), by C-steps.
pub fn clean_core(x: &Matrix, seed: u64) -> CleanCore {
    let (n, k) = (x.rows, x.cols);
    let h = ((n as f64 * CORE_SHARE).ceil() as usize).clamp(k + 1, n);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut best: Option<(f64, Vec<usize>)> = None;
    // One deterministic start (the rows nearest the coordinate-wise median, as DetMCD does),
    // which lies in the majority even when the poison is near half the class and a random
    // (k + 1)-subset is almost never pure; then seeded random starts.
    let starts = std::iter::once(near_median(x, h))
        .chain((0..STARTS).map(|_| sample(&mut rng, n, k + 1).into_vec()))
        .collect::<Vec<_>>();
    for mut subset in starts {
        subset.sort_unstable();
        for _ in 0..MAX_STEPS {
            let (mean, cholesky) = mean_and_cholesky(x, &subset);
            let distances = mahalanobis(x, &mean, &cholesky);
            let mut next = smallest(&distances, h);
            next.sort_unstable();
            if next == subset {
                break;
            }
            subset = next;
        }
        let (_, cholesky) = mean_and_cholesky(x, &subset);
        let log_det: f64 = (0..k).map(|j| 2.0 * cholesky[j * k + j].ln()).sum();
        if best.as_ref().is_none_or(|(b, _)| log_det < *b) {
            best = Some((log_det, subset));
        }
    }
    let subset = best.expect("STARTS > 0").1;
    // The raw core's covariance is that of the central half of a Gaussian: scale it by the
    // consistency factor of a truncation at χ²_k(h/n). The factor is the theoretical one, not
    // one read off the data, so a class that is half poison does not inflate it.
    let share = h as f64 / n as f64;
    let raw_factor = consistency_factor(k, share);
    let (mean, cholesky) = mean_and_cholesky(x, &subset);
    let distances = mahalanobis(x, &mean, &cholesky);
    // Reweighting (the standard one-step reweighted MCD): every row within the 97.5 % χ²
    // region of the raw core joins it, and the estimate is made again from them.
    let cutoff = raw_factor * chi2_quantile(k, REWEIGHT_QUANTILE);
    let kept: Vec<usize> = (0..n).filter(|&i| distances[i] <= cutoff).collect();
    let (kept, factor) = if kept.len() > k {
        (kept, consistency_factor(k, REWEIGHT_QUANTILE))
    } else {
        (subset, raw_factor)
    };
    let (mean, mut cholesky) = mean_and_cholesky(x, &kept);
    cholesky.iter_mut().for_each(|l| *l *= factor.sqrt());
    CleanCore {
        mean,
        cholesky,
        size: kept.len(),
        consistency: factor,
    }
}

/// Share of the χ² region the reweighting step keeps.
pub const REWEIGHT_QUANTILE: f64 = 0.975;

/// The factor that makes the covariance of a `k`-dimensional Gaussian's rows inside the
/// `share` χ² quantile an unbiased estimate of the whole covariance: `share / P(χ²_{k+2} ≤
/// χ²_k(share))` (Croux & Haesbroeck 1999).
fn consistency_factor(k: usize, share: f64) -> f64 {
    share / chi2_cdf(k + 2, chi2_quantile(k, share))
}

/// P(χ²_k ≤ x): the regularized lower incomplete gamma function P(k/2, x/2), by its series
/// (which converges for every x; at most a few hundred terms for the x used here).
fn chi2_cdf(k: usize, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let (a, t) = (k as f64 / 2.0, x / 2.0);
    let mut term = 1.0 / a;
    let mut sum = term;
    for n in 1..10_000 {
        term *= t / (a + n as f64);
        sum += term;
        if term < sum * 1e-15 {
            break;
        }
    }
    (sum.ln() + a * t.ln() - t - ln_gamma(a)).exp().min(1.0)
}

/// ln Γ(a) for a = k/2: exact by recurrence from Γ(1) = 1 or Γ(1/2) = √π.
fn ln_gamma(a: f64) -> f64 {
    let (mut value, mut z) = if (a.fract() - 0.5).abs() < 1e-12 {
        (0.5 * std::f64::consts::PI.ln(), 0.5)
    } else {
        (0.0, 1.0)
    };
    while z < a - 1e-12 {
        value += z.ln();
        z += 1.0;
    }
    value
}

/// The `p` quantile of χ²_k, by bisection on [`chi2_cdf`].
fn chi2_quantile(k: usize, p: f64) -> f64 {
    let (mut low, mut high) = (0.0, (k as f64 + 10.0) * 10.0);
    for _ in 0..200 {
        let mid = 0.5 * (low + high);
        if chi2_cdf(k, mid) < p {
            low = mid;
        } else {
            high = mid;
        }
    }
    0.5 * (low + high)
}

/// Mean and Cholesky factor of the covariance of the rows `subset` of `x`, with a small ridge
/// (1e-9 of the mean variance) so a degenerate start still factors.
fn mean_and_cholesky(x: &Matrix, subset: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let k = x.cols;
    let m = subset.len() as f64;
    let mut mean = vec![0.0; k];
    for &i in subset {
        mean.iter_mut().zip(x.row(i)).for_each(|(a, v)| *a += v / m);
    }
    let mut cov = vec![0.0; k * k];
    for &i in subset {
        let d: Vec<f64> = x.row(i).iter().zip(&mean).map(|(v, a)| v - a).collect();
        for a in 0..k {
            for b in 0..=a {
                cov[a * k + b] += d[a] * d[b] / (m - 1.0).max(1.0);
            }
        }
    }
    let trace: f64 = (0..k).map(|j| cov[j * k + j]).sum();
    let ridge = 1e-9 * (trace / k as f64).max(f64::MIN_POSITIVE);
    (0..k).for_each(|j| cov[j * k + j] += ridge);
    (mean, cholesky_lower(&cov, k))
}

/// Lower Cholesky factor of a symmetric positive-definite `k × k` matrix (lower triangle read).
fn cholesky_lower(a: &[f64], k: usize) -> Vec<f64> {
    let mut l = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let s: f64 = (0..j).map(|p| l[i * k + p] * l[j * k + p]).sum();
            if i == j {
                l[i * k + i] = (a[i * k + i] - s).max(f64::MIN_POSITIVE).sqrt();
            } else {
                l[i * k + j] = (a[i * k + j] - s) / l[j * k + j];
            }
        }
    }
    l
}

/// Solves `L y = b` for lower-triangular `L`.
fn forward_substitute(l: &[f64], k: usize, b: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; k];
    for i in 0..k {
        let s: f64 = (0..i).map(|p| l[i * k + p] * y[p]).sum();
        y[i] = (b[i] - s) / l[i * k + i];
    }
    y
}

/// Squared Mahalanobis distance of every row from `mean` under the covariance `L Lᵀ`.
fn mahalanobis(x: &Matrix, mean: &[f64], cholesky: &[f64]) -> Vec<f64> {
    (0..x.rows)
        .map(|i| {
            let d: Vec<f64> = x.row(i).iter().zip(mean).map(|(v, m)| v - m).collect();
            forward_substitute(cholesky, x.cols, &d)
                .iter()
                .map(|y| y * y)
                .sum()
        })
        .collect()
}

/// The `h` rows nearest the coordinate-wise median, each coordinate scaled by its median
/// absolute deviation.
fn near_median(x: &Matrix, h: usize) -> Vec<usize> {
    let median = |mut v: Vec<f64>| {
        let mid = v.len() / 2;
        *v.select_nth_unstable_by(mid, f64::total_cmp).1
    };
    let columns: Vec<(f64, f64)> = (0..x.cols)
        .map(|c| {
            let values: Vec<f64> = (0..x.rows).map(|i| x.row(i)[c]).collect();
            let m = median(values.clone());
            let mad = median(values.iter().map(|v| (v - m).abs()).collect());
            (m, mad.max(f64::MIN_POSITIVE))
        })
        .collect();
    let distances: Vec<f64> = (0..x.rows)
        .map(|i| {
            x.row(i)
                .iter()
                .zip(&columns)
                .map(|(v, (m, mad))| ((v - m) / mad).powi(2))
                .sum()
        })
        .collect();
    smallest(&distances, h)
}

/// Indices of the `h` smallest values (ties by index).
fn smallest(values: &[f64], h: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
    order.truncate(h);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi_square_quantiles_and_the_consistency_factor_match_tables() {
        // χ²_10: median 9.3418, 97.5 % 20.4832; χ²_1 95 % 3.8415; χ²_2 cdf(2) = 1 − e⁻¹.
        assert!((chi2_quantile(10, 0.5) - 9.3418).abs() < 1e-3);
        assert!((chi2_quantile(10, 0.975) - 20.4832).abs() < 1e-3);
        assert!((chi2_quantile(1, 0.95) - 3.8415).abs() < 1e-3);
        assert!((chi2_cdf(2, 2.0) - (1.0 - (-1f64).exp())).abs() < 1e-12);
        // The half-sample factor in 10 dimensions: 0.5 / P(χ²_12 ≤ 9.3418) ≈ 1.53.
        let f = consistency_factor(10, 0.5);
        assert!((f - 1.53).abs() < 0.01, "{f}");
    }

    #[test]
    fn cholesky_and_substitution_invert_a_known_covariance() {
        // [[4, 2], [2, 3]] = L Lᵀ with L = [[2, 0], [1, √2]].
        let l = cholesky_lower(&[4.0, 0.0, 2.0, 3.0], 2);
        assert!((l[0] - 2.0).abs() < 1e-12 && (l[2] - 1.0).abs() < 1e-12);
        assert!((l[3] - 2f64.sqrt()).abs() < 1e-12);
        let y = forward_substitute(&l, 2, &[2.0, 1.0 + 2f64.sqrt()]);
        assert!((y[0] - 1.0).abs() < 1e-12 && (y[1] - 1.0).abs() < 1e-12);
    }
}
