//! k-means (Lloyd's algorithm with k-means++ seeding, several seeded restarts, the lowest
//! inertia kept) and the silhouette score that says how well a clustering fits.

use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};

use crate::linalg::Matrix;

/// Lloyd iterations per restart at most; stops earlier once no point changes cluster.
const MAX_ITERATIONS: usize = 300;

/// Most points the silhouette is computed on (a seeded sample beyond that): it is quadratic.
pub const SILHOUETTE_SAMPLE: usize = 2_000;

/// A clustering of the rows of a matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Clustering {
    /// The cluster of each row, `0..k`.
    pub assignment: Vec<usize>,
    /// The centre of each cluster.
    pub centres: Vec<Vec<f64>>,
    /// Sum of squared distances of the rows to their centres.
    pub inertia: f64,
}

impl Clustering {
    /// Rows per cluster.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![0; self.centres.len()];
        for &a in &self.assignment {
            sizes[a] += 1;
        }
        sizes
    }
}

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// k-means with `restarts` seeded k-means++ starts; the run of lowest inertia is returned.
/// `k` is clamped to the number of rows; a matrix without rows gives an empty clustering.
pub fn kmeans(x: &Matrix, k: usize, restarts: usize, seed: u64) -> Clustering {
    let k = k.min(x.rows).max(1);
    let mut best: Option<Clustering> = None;
    for r in 0..restarts.max(1) {
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(r as u64));
        let run = lloyd(x, plus_plus(x, k, &mut rng));
        if best.as_ref().is_none_or(|b| run.inertia < b.inertia) {
            best = Some(run);
        }
    }
    best.expect("at least one restart")
}

/// k-means++ seeding: each next centre drawn with probability proportional to the squared
/// distance to the nearest centre so far.
fn plus_plus(x: &Matrix, k: usize, rng: &mut StdRng) -> Vec<Vec<f64>> {
    if x.rows == 0 {
        return vec![vec![0.0; x.cols]; k];
    }
    let mut centres = vec![x.row(rng.gen_range(0..x.rows)).to_vec()];
    let mut nearest: Vec<f64> = (0..x.rows)
        .map(|i| squared_distance(x.row(i), &centres[0]))
        .collect();
    while centres.len() < k {
        let total: f64 = nearest.iter().sum();
        let pick = if total > 0.0 {
            let mut target = rng.gen_range(0.0..total);
            let mut chosen = x.rows - 1;
            for (i, d) in nearest.iter().enumerate() {
                if target < *d {
                    chosen = i;
                    break;
                }
                target -= d;
            }
            chosen
        } else {
            rng.gen_range(0..x.rows)
        };
        let centre = x.row(pick).to_vec();
        for (i, d) in nearest.iter_mut().enumerate() {
            *d = d.min(squared_distance(x.row(i), &centre));
        }
        centres.push(centre);
    }
    centres
}

fn lloyd(x: &Matrix, mut centres: Vec<Vec<f64>>) -> Clustering {
    let k = centres.len();
    let mut assignment = vec![usize::MAX; x.rows];
    for _ in 0..MAX_ITERATIONS {
        let mut changed = false;
        for (i, a) in assignment.iter_mut().enumerate() {
            let nearest = nearest_centre(x.row(i), &centres);
            if nearest != *a {
                *a = nearest;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        let mut sums = vec![vec![0.0; x.cols]; k];
        let mut counts = vec![0usize; k];
        for (i, &a) in assignment.iter().enumerate() {
            counts[a] += 1;
            sums[a].iter_mut().zip(x.row(i)).for_each(|(s, v)| *s += v);
        }
        for ((centre, sum), count) in centres.iter_mut().zip(sums).zip(counts) {
            // An emptied cluster keeps its centre.
            if count > 0 {
                *centre = sum.into_iter().map(|s| s / count as f64).collect();
            }
        }
    }
    let inertia = assignment
        .iter()
        .enumerate()
        .map(|(i, &a)| squared_distance(x.row(i), &centres[a]))
        .sum();
    Clustering {
        assignment,
        centres,
        inertia,
    }
}

fn nearest_centre(row: &[f64], centres: &[Vec<f64>]) -> usize {
    let mut best = (0, f64::INFINITY);
    for (c, centre) in centres.iter().enumerate() {
        let d = squared_distance(row, centre);
        if d < best.1 {
            best = (c, d);
        }
    }
    best.0
}

/// The mean silhouette coefficient (Rousseeuw 1987) of a clustering, in [−1, 1]: near 1 when
/// clusters are compact and far apart, near 0 when one cluster was split arbitrarily. Computed
/// on a seeded sample of at most [`SILHOUETTE_SAMPLE`] rows (distances to all rows of that
/// sample). 0 when there are fewer than two non-empty clusters.
pub fn silhouette(x: &Matrix, assignment: &[usize], seed: u64) -> f64 {
    let k = assignment.iter().copied().max().map_or(0, |m| m + 1);
    let rows: Vec<usize> = if x.rows > SILHOUETTE_SAMPLE {
        let mut rng = StdRng::seed_from_u64(seed);
        sample(&mut rng, x.rows, SILHOUETTE_SAMPLE).into_vec()
    } else {
        (0..x.rows).collect()
    };
    let mut counts = vec![0usize; k];
    for &i in &rows {
        counts[assignment[i]] += 1;
    }
    if counts.iter().filter(|&&c| c > 0).count() < 2 {
        return 0.0;
    }
    let mut total = 0.0;
    for &i in &rows {
        let mut sums = vec![0.0; k];
        for &j in &rows {
            if i != j {
                sums[assignment[j]] += squared_distance(x.row(i), x.row(j)).sqrt();
            }
        }
        let own = assignment[i];
        if counts[own] <= 1 {
            continue; // a singleton's silhouette is 0 by convention
        }
        let a = sums[own] / (counts[own] - 1) as f64;
        let b = (0..k)
            .filter(|&c| c != own && counts[c] > 0)
            .map(|c| sums[c] / counts[c] as f64)
            .fold(f64::INFINITY, f64::min);
        let s = (b - a) / a.max(b);
        if s.is_finite() {
            total += s;
        }
    }
    total / rows.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two Gaussian-ish blobs in 3-D: `n_a` rows near the origin, `n_b` near (8, 8, 8).
    fn blobs(n_a: usize, n_b: usize, seed: u64) -> Matrix {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut values = Vec::new();
        for i in 0..n_a + n_b {
            let centre = if i < n_a { 0.0 } else { 8.0 };
            values.extend((0..3).map(|_| centre + rng.gen_range(-1.0..1.0)));
        }
        Matrix::new(values, n_a + n_b, 3)
    }

    #[test]
    fn two_means_separates_two_blobs_exactly() {
        let x = blobs(70, 30, 3);
        let c = kmeans(&x, 2, 5, 11);
        let first = c.assignment[0];
        assert!(c.assignment[..70].iter().all(|&a| a == first));
        assert!(c.assignment[70..].iter().all(|&a| a != first));
        let mut sizes = c.sizes();
        sizes.sort();
        assert_eq!(sizes, vec![30, 70]);
        assert!(silhouette(&x, &c.assignment, 0) > 0.8);
    }

    #[test]
    fn one_blob_split_in_two_has_a_low_silhouette() {
        let x = blobs(200, 0, 5);
        let c = kmeans(&x, 2, 5, 1);
        let s = silhouette(&x, &c.assignment, 0);
        assert!(s < 0.45, "an arbitrary split of one blob scored {s}");
        // A random labelling of separated blobs scores near zero.
        let y = blobs(50, 50, 6);
        let alternating: Vec<usize> = (0..100).map(|i| i % 2).collect();
        assert!(silhouette(&y, &alternating, 0).abs() < 0.1);
    }
}
