//! The projective map between four point pairs: how a flat sticker seen at an angle lands on
//! the picture. Rotation, scale and translation are the special case with no perspective.

/// A 3 × 3 projective map, row-major, `h[8] = 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homography([f64; 9]);

impl Homography {
    /// The map that takes each `from[k]` to `to[k]`; `None` when three of the points are
    /// collinear (no such map).
    pub fn from_points(from: [(f64, f64); 4], to: [(f64, f64); 4]) -> Option<Homography> {
        // Eight equations in the eight unknowns h0..h7:
        //   u = (h0 x + h1 y + h2) / (h6 x + h7 y + 1), v = (h3 x + h4 y + h5) / (…).
        let mut a = [[0f64; 9]; 8];
        for k in 0..4 {
            let ((x, y), (u, v)) = (from[k], to[k]);
            a[2 * k] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
            a[2 * k + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
        }
        // Gaussian elimination with partial pivoting on the augmented matrix.
        for col in 0..8 {
            let pivot = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
            if a[pivot][col].abs() < 1e-12 {
                return None;
            }
            a.swap(col, pivot);
            let pivot_row = a[col];
            for (r, row) in a.iter_mut().enumerate() {
                if r != col {
                    let f = row[col] / pivot_row[col];
                    for (v, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                        *v -= f * p;
                    }
                }
            }
        }
        let mut h = [0f64; 9];
        for (k, row) in a.iter().enumerate() {
            h[k] = row[8] / row[k];
        }
        h[8] = 1.0;
        Some(Homography(h))
    }

    /// Where the map takes `(x, y)`.
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let h = &self.0;
        let w = h[6] * x + h[7] * y + h[8];
        (
            (h[0] * x + h[1] * y + h[2]) / w,
            (h[3] * x + h[4] * y + h[5]) / w,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_pairs_fix_the_map_and_a_rotation_stays_affine() {
        let from = [(0.0, 0.0), (4.0, 0.0), (4.0, 2.0), (0.0, 2.0)];
        let (c, s) = (0.6f64, 0.8f64);
        let to = from.map(|(x, y)| (c * x - s * y + 3.0, s * x + c * y - 1.0));
        let h = Homography::from_points(from, to).unwrap();
        for (p, q) in from.iter().zip(&to) {
            let r = h.apply(p.0, p.1);
            assert!((r.0 - q.0).abs() < 1e-9 && (r.1 - q.1).abs() < 1e-9);
        }
        // An inner point follows the rotation, and the map has no projective part.
        let r = h.apply(1.0, 1.0);
        assert!((r.0 - (c - s + 3.0)).abs() < 1e-9 && (r.1 - (s + c - 1.0)).abs() < 1e-9);
        assert!(h.0[6].abs() < 1e-12 && h.0[7].abs() < 1e-12);
        // A true perspective view: a trapezoid.
        let to = [(0.0, 0.0), (4.0, 0.5), (4.0, 1.5), (0.0, 2.0)];
        let h = Homography::from_points(from, to).unwrap();
        let r = h.apply(4.0, 2.0);
        assert!((r.0 - 4.0).abs() < 1e-9 && (r.1 - 1.5).abs() < 1e-9);
        let line = [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (3.0, 3.0)];
        assert!(Homography::from_points(line, to).is_none());
    }
}
