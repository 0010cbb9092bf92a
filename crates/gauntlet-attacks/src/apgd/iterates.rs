//! APGD's iterates on the host, one row per (sample, ε), and its step in one parallel pass.
//!
//! As burn operations, a step was some thirty element-wise passes over the batch (the best-point
//! bookkeeping, the ascent direction, two projections, the momentum), each on one thread while
//! the other core waited for the next gradient. Here each row's step is one task.

use rayon::prelude::*;

use gauntlet_core::threat::Norm;

use crate::rows::keep_host_rows;
use crate::step::{place_row, sign};

/// `x₀`, the current and previous iterates, the best point and its gradient, and each row's
/// radius; rows of `features` values.
pub(super) struct Iterates {
    features: usize,
    pub(super) x0: Vec<f32>,
    pub(super) xk: Vec<f32>,
    x_prev: Vec<f32>,
    x_best: Vec<f32>,
    grad_best: Vec<f32>,
    eps: Vec<f32>,
}

/// Copies the rows of `src` into `dst` where `mask` is set.
fn copy_rows_where(mask: &[bool], src: &[f32], dst: &mut [f32], f: usize) {
    dst.par_chunks_mut(f)
        .zip(src.par_chunks(f))
        .zip(mask.par_iter())
        .for_each(|((d, s), &m)| {
            if m {
                d.copy_from_slice(s)
            }
        });
}

impl Iterates {
    /// Starting at `start` around the clean rows `x0`.
    pub(super) fn new(x0: Vec<f32>, start: Vec<f32>, eps: Vec<f32>, features: usize) -> Self {
        Iterates {
            features,
            x_prev: start.clone(),
            x_best: start.clone(),
            grad_best: Vec::new(),
            xk: start,
            x0,
            eps,
        }
    }

    /// Rows with `improved` set take the current iterate and `grad` as their best.
    pub(super) fn keep_best(&mut self, improved: &[bool], grad: &[f32]) {
        let f = self.features;
        copy_rows_where(improved, &self.xk, &mut self.x_best, f);
        if self.grad_best.is_empty() {
            self.grad_best = grad.to_vec();
        } else {
            copy_rows_where(improved, grad, &mut self.grad_best, f);
        }
    }

    /// Keeps the rows at `kept` (and the same rows of `grad`).
    pub(super) fn select(&mut self, kept: &[usize], grad: &mut Vec<f32>) {
        let f = self.features;
        for v in [
            &mut self.x0,
            &mut self.xk,
            &mut self.x_prev,
            &mut self.x_best,
            &mut self.grad_best,
            grad,
        ] {
            *v = keep_host_rows(v, f, kept);
        }
        self.eps = kept.iter().map(|&r| self.eps[r]).collect();
    }

    /// Rows with `restart` set go back to their best point and its gradient.
    pub(super) fn restart(&mut self, restart: &[bool], grad: &mut [f32]) {
        let f = self.features;
        copy_rows_where(restart, &self.x_best, &mut self.xk, f);
        copy_rows_where(restart, &self.grad_best, grad, f);
    }

    /// One step per row, with step size `eta[row]`:
    /// `z = P(x + η·d)`, and after the first step `x⁺ = P(x + α(z − x) + (1 − α)(x − x_prev))`
    /// with momentum `alpha`; `P` projects onto the row's ball around `x₀` and into the box.
    pub(super) fn step(
        &mut self,
        (norm, bounds): (Norm, (f32, f32)),
        grad: &[f32],
        eta: &[f32],
        (first, alpha): (bool, f32),
    ) {
        let f = self.features;
        let rows = self
            .xk
            .par_chunks_mut(f)
            .zip(self.x_prev.par_chunks_mut(f))
            .zip(self.x0.par_chunks(f).zip(grad.par_chunks(f)))
            .zip(self.eps.par_iter().zip(eta.par_iter()));
        rows.for_each(|(((xk, x_prev), (x0, g)), (&eps, &eta))| {
            let place =
                |delta: &mut [f32], out: &mut [f32]| place_row((norm, bounds), delta, x0, eps, out);
            // The direction of steepest ascent of the linear model, unit-norm per row.
            let scale = match norm {
                Norm::L2 => 1.0 / (g.iter().map(|v| v * v).sum::<f32>().sqrt() + 1e-12),
                _ => 1.0,
            };
            let direction = |v: f32| match norm {
                Norm::L2 => v * scale,
                _ => sign(v),
            };
            let mut delta: Vec<f32> = xk
                .iter()
                .zip(g)
                .zip(x0)
                .map(|((&x, &g), &c)| x + direction(g) * eta - c)
                .collect();
            let mut z = vec![0f32; f];
            place(&mut delta, &mut z);
            if first {
                x_prev.copy_from_slice(xk);
                xk.copy_from_slice(&z);
                return;
            }
            for (((d, &x), (&zv, &p)), &c) in delta
                .iter_mut()
                .zip(xk.iter())
                .zip(z.iter().zip(x_prev.iter()))
                .zip(x0)
            {
                *d = x + (zv - x) * alpha + (x - p) * (1.0 - alpha) - c;
            }
            x_prev.copy_from_slice(xk);
            place(&mut delta, xk);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tensor;
    use gauntlet_core::device::compute_device;
    use gauntlet_core::tensor::{from_rows, to_vec};

    /// The step as burn operations, the way APGD computed it before.
    fn step_as_tensors(
        norm: Norm,
        (x0, xk, x_prev, grad): (&[f32], &[f32], &[f32], &[f32]),
        (eps, eta): (&[f32], &[f32]),
        first: bool,
        f: usize,
    ) -> Vec<f32> {
        let device = compute_device();
        let n = eps.len();
        let t = |v: &[f32], cols| -> Tensor<2> { from_rows(v.to_vec(), n, cols, &device) };
        let (x0, xk, x_prev) = (t(x0, f), t(xk, f), t(x_prev, f));
        let (eps, eta) = (t(eps, 1), t(eta, 1));
        let direction = crate::step::ascent_direction(norm, t(grad, f), &xk, (0.0, 1.0));
        let project =
            |v: Tensor<2>| (x0.clone() + norm.project(v - x0.clone(), &eps)).clamp(0.0, 1.0);
        let z = project(xk.clone() + direction * eta);
        let next = if first {
            z
        } else {
            project(xk.clone() + (z - xk.clone()) * 0.75 + (xk.clone() - x_prev) * (1.0 - 0.75))
        };
        to_vec(next)
    }

    #[test]
    fn the_host_step_is_the_tensor_step() {
        let (n, f) = (5, 37);
        let value = |i: usize, seed: f32| (i as f32 * 0.61 + seed).sin() * 0.5 + 0.5;
        let x0: Vec<f32> = (0..n * f).map(|i| value(i, 0.1)).collect();
        let xk: Vec<f32> = (0..n * f)
            .map(|i| (value(i, 0.1) + 0.05 * value(i, 2.0)).min(1.0))
            .collect();
        let x_prev: Vec<f32> = (0..n * f)
            .map(|i| value(i, 0.1) - 0.02 * value(i, 3.0))
            .collect();
        // Some zero gradients: sign 0 moves nothing.
        let grad: Vec<f32> = (0..n * f)
            .map(|i| if i % 7 == 0 { 0.0 } else { value(i, 5.0) - 0.5 })
            .collect();
        let eps = vec![0.03, 0.1, 0.3, 0.0, 1.0];
        let eta = vec![0.06, 0.2, 0.3, 0.01, 2.0];
        for norm in [Norm::Linf, Norm::L2] {
            for first in [true, false] {
                let expected =
                    step_as_tensors(norm, (&x0, &xk, &x_prev, &grad), (&eps, &eta), first, f);
                let mut it = Iterates::new(x0.clone(), xk.clone(), eps.clone(), f);
                it.x_prev = x_prev.clone();
                it.step((norm, (0.0, 1.0)), &grad, &eta, (first, 0.75));
                let worst = it
                    .xk
                    .iter()
                    .zip(&expected)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(
                    worst <= 1e-6,
                    "{norm:?} first={first}: max difference {worst}"
                );
                assert_eq!(
                    it.x_prev, xk,
                    "the previous iterate is the one stepped from"
                );
                // Inside the ball around x0 and the box.
                for (r, row) in it.xk.chunks(f).enumerate() {
                    let d: Vec<f32> = row.iter().zip(&x0[r * f..]).map(|(a, b)| a - b).collect();
                    let size = match norm {
                        Norm::L2 => d.iter().map(|v| v * v).sum::<f32>().sqrt(),
                        _ => d.iter().fold(0f32, |m, v| m.max(v.abs())),
                    };
                    assert!(
                        size <= eps[r] * (1.0 + 1e-5) + 1e-6,
                        "{norm:?} row {r}: {size}"
                    );
                    assert!(row.iter().all(|v| (0.0..=1.0).contains(v)));
                }
            }
        }
    }

    #[test]
    fn bookkeeping_moves_whole_rows() {
        let f = 3;
        let rows = |v: &[f32]| v.to_vec();
        let mut it = Iterates::new(
            rows(&[0.0; 9]),
            rows(&[1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0]),
            vec![0.1, 0.2, 0.3],
            f,
        );
        let grad = [9.0, 9.0, 9.0, 8.0, 8.0, 8.0, 7.0, 7.0, 7.0];
        it.keep_best(&[true, true, true], &grad);
        it.xk = rows(&[4.0, 4.0, 4.0, 5.0, 5.0, 5.0, 6.0, 6.0, 6.0]);
        it.keep_best(&[false, true, false], &[0.0; 9]);
        assert_eq!(it.x_best, [1.0, 1.0, 1.0, 5.0, 5.0, 5.0, 3.0, 3.0, 3.0]);
        assert_eq!(it.grad_best, [9.0, 9.0, 9.0, 0.0, 0.0, 0.0, 7.0, 7.0, 7.0]);
        let mut g = vec![-1.0; 9];
        it.restart(&[true, false, false], &mut g);
        assert_eq!(it.xk, [1.0, 1.0, 1.0, 5.0, 5.0, 5.0, 6.0, 6.0, 6.0]);
        assert_eq!(g, [9.0, 9.0, 9.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0]);
        it.select(&[2, 0], &mut g);
        assert_eq!(it.xk, [6.0, 6.0, 6.0, 1.0, 1.0, 1.0]);
        assert_eq!(it.eps, [0.3, 0.1]);
        assert_eq!(g, [-1.0, -1.0, -1.0, 9.0, 9.0, 9.0]);
    }
}
