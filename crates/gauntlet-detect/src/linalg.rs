//! The little linear algebra the detectors need, on row-major `f64` matrices held as flat
//! slices: centring, the top right singular vectors of a data matrix by (subspace) power
//! iteration, and projections. The covariance matrix is never formed: each step multiplies by
//! `X` and `Xᵀ`, `O(n·d)` per vector, so a 4,096-wide layer costs no more than its data.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Iterations of the subspace iteration; the detectors need the leading directions, which
/// separate well in a poisoned class, so convergence well short of machine precision is enough.
pub const POWER_ITERATIONS: usize = 100;

/// A dense row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// `rows × cols` values, row after row.
    pub values: Vec<f64>,
    /// Number of rows (samples).
    pub rows: usize,
    /// Number of columns (features).
    pub cols: usize,
}

impl Matrix {
    /// Wraps row-major values; `values.len()` must be `rows · cols`.
    pub fn new(values: Vec<f64>, rows: usize, cols: usize) -> Self {
        assert_eq!(
            values.len(),
            rows * cols,
            "matrix values and shape disagree"
        );
        Matrix { values, rows, cols }
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.cols..(i + 1) * self.cols]
    }

    /// The rows at `indices`, in that order, as a new matrix.
    pub fn select_rows(&self, indices: &[usize]) -> Matrix {
        let mut values = Vec::with_capacity(indices.len() * self.cols);
        for &i in indices {
            values.extend_from_slice(self.row(i));
        }
        Matrix::new(values, indices.len(), self.cols)
    }

    /// Column means.
    pub fn column_means(&self) -> Vec<f64> {
        let mut mean = vec![0.0; self.cols];
        for i in 0..self.rows {
            for (m, v) in mean.iter_mut().zip(self.row(i)) {
                *m += v;
            }
        }
        let n = self.rows.max(1) as f64;
        mean.iter_mut().for_each(|m| *m /= n);
        mean
    }

    /// The matrix with its column means subtracted.
    pub fn centred(&self) -> Matrix {
        let mean = self.column_means();
        let mut values = self.values.clone();
        for row in values.chunks_mut(self.cols.max(1)) {
            for (v, m) in row.iter_mut().zip(&mean) {
                *v -= m;
            }
        }
        Matrix::new(values, self.rows, self.cols)
    }

    /// `X · v` for a vector of `cols` values: one value per row.
    pub fn times(&self, v: &[f64]) -> Vec<f64> {
        (0..self.rows).map(|i| dot(self.row(i), v)).collect()
    }

    /// `Xᵀ · u` for a vector of `rows` values.
    pub fn transpose_times(&self, u: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.cols];
        for (i, &ui) in u.iter().enumerate() {
            for (o, x) in out.iter_mut().zip(self.row(i)) {
                *o += ui * x;
            }
        }
        out
    }

    /// The rows projected on `directions` (each of `cols` values): `rows × directions.len()`.
    pub fn project(&self, directions: &[Vec<f64>]) -> Matrix {
        let k = directions.len();
        let mut values = Vec::with_capacity(self.rows * k);
        for i in 0..self.rows {
            values.extend(directions.iter().map(|d| dot(self.row(i), d)));
        }
        Matrix::new(values, self.rows, k)
    }
}

/// Dot product.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Euclidean norm.
pub fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// The `k` leading right singular vectors of `x` (the principal directions when `x` is
/// centred), unit length, strongest first, by subspace iteration on `XᵀX` from a seeded
/// random start with Gram–Schmidt after each step. Fewer than `k` come back when `x` has
/// fewer independent directions (e.g. a class of two identical rows has none).
pub fn top_right_singular_vectors(x: &Matrix, k: usize, seed: u64) -> Vec<Vec<f64>> {
    let k = k.min(x.cols).min(x.rows);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut basis: Vec<Vec<f64>> = (0..k)
        .map(|_| (0..x.cols).map(|_| rng.gen_range(-1.0..1.0)).collect())
        .collect();
    orthonormalize(&mut basis);
    for _ in 0..POWER_ITERATIONS {
        let mut next: Vec<Vec<f64>> = basis
            .iter()
            .map(|v| x.transpose_times(&x.times(v)))
            .collect();
        orthonormalize(&mut next);
        if next.is_empty() {
            return next;
        }
        basis = next;
    }
    // Sorted by singular value: subspace iteration converges to the span, and Gram–Schmidt
    // in this order keeps the strongest first, but a near tie may leave two swapped.
    let mut scored: Vec<(f64, Vec<f64>)> =
        basis.into_iter().map(|v| (norm(&x.times(&v)), v)).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|(_, v)| v).collect()
}

/// Orthonormalizes the vectors in place (modified Gram–Schmidt), dropping any that are (nearly)
/// dependent on the earlier ones.
fn orthonormalize(vectors: &mut Vec<Vec<f64>>) {
    let mut kept: Vec<Vec<f64>> = Vec::with_capacity(vectors.len());
    for mut v in vectors.drain(..) {
        let scale = norm(&v);
        for q in &kept {
            let c = dot(&v, q);
            v.iter_mut().zip(q).for_each(|(a, b)| *a -= c * b);
        }
        let n = norm(&v);
        if n > 1e-9 * scale.max(f64::MIN_POSITIVE) && n > 0.0 {
            v.iter_mut().for_each(|a| *a /= n);
            kept.push(v);
        }
    }
    *vectors = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_iteration_finds_the_known_principal_axes() {
        // Rows spread 10 along (1, 1, 0)/√2, 3 along (0, 0, 1) and 1 along (1, −1, 0)/√2.
        let a = [1.0 / 2f64.sqrt(), 1.0 / 2f64.sqrt(), 0.0];
        let b = [0.0, 0.0, 1.0];
        let c = [1.0 / 2f64.sqrt(), -1.0 / 2f64.sqrt(), 0.0];
        let mut values = Vec::new();
        for (scale, dir) in [(10.0, a), (3.0, b), (1.0, c)] {
            for sign in [1.0, -1.0] {
                values.extend(dir.iter().map(|d| sign * scale * d));
            }
        }
        let x = Matrix::new(values, 6, 3);
        let v = top_right_singular_vectors(&x, 3, 7);
        assert_eq!(v.len(), 3);
        for (found, expected) in v.iter().zip([a, b, c]) {
            assert!(
                (dot(found, &expected).abs() - 1.0).abs() < 1e-9,
                "{found:?} vs {expected:?}"
            );
        }
        // Singular values 10·√2, 3·√2, √2.
        assert!((norm(&x.times(&v[0])) - 10.0 * 2f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn centring_removes_the_mean_and_a_rank_one_set_has_one_direction() {
        let x = Matrix::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2).centred();
        assert_eq!(x.column_means(), vec![0.0, 0.0]);
        let v = top_right_singular_vectors(&x, 2, 1);
        assert_eq!(v.len(), 1, "the rows lie on one line");
        assert!((v[0][0].abs() - 1.0 / 2f64.sqrt()).abs() < 1e-9);
    }
}
