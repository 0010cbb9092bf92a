//! Steepest-ascent directions and random starts shared by FGSM and PGD.

use burn::tensor::Tensor;
use rand::rngs::StdRng;
use rand::Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_core::threat::Norm;

/// Fraction of coordinates an L1 step moves (the largest-gradient ones), as in the sparse
/// L1 descent of Tramèr & Boneh (2019).
const L1_SPARSITY: f32 = 0.01;

/// The sign as burn's `sign` gives it (0 at 0), of a float of either width.
pub fn sign<T: PartialOrd + Default>(v: T) -> f32 {
    let zero = T::default();
    if v > zero {
        1.0
    } else if v < zero {
        -1.0
    } else {
        0.0
    }
}

/// The unit-norm direction of steepest ascent of a linear function with gradient `grad`,
/// per row. For L1, coordinates that cannot move further (at the box edge, gradient pointing
/// outward) are excluded, so the step is not wasted.
pub fn ascent_direction(
    norm: Norm,
    grad: Tensor<2>,
    x: &Tensor<2>,
    bounds: (f32, f32),
) -> Tensor<2> {
    match norm {
        Norm::Linf => grad.sign(),
        Norm::L2 => {
            let length = grad.clone().square().sum_dim(1).sqrt() + 1e-12;
            grad / length
        }
        Norm::L1 => {
            let [n, f] = grad.dims();
            let device = grad.device();
            let (g, xv) = (to_vec(grad), to_vec(x.clone()));
            let mut out = vec![0f32; n * f];
            for ((o, g), x) in out.chunks_mut(f).zip(g.chunks(f)).zip(xv.chunks(f)) {
                ascent_direction_row(norm, g, x, bounds, o);
            }
            from_rows(out, n, f, &device)
        }
    }
}

/// [`ascent_direction`] for one row on the host, written into `out`.
pub fn ascent_direction_row(norm: Norm, g: &[f32], x: &[f32], bounds: (f32, f32), out: &mut [f32]) {
    match norm {
        Norm::Linf => {
            for (o, &v) in out.iter_mut().zip(g) {
                *o = sign(v);
            }
        }
        Norm::L2 => {
            let length = g.iter().map(|v| v * v).sum::<f32>().sqrt() + 1e-12;
            for (o, &v) in out.iter_mut().zip(g) {
                *o = v / length;
            }
        }
        Norm::L1 => {
            let f = g.len();
            let k = ((f as f32 * L1_SPARSITY).ceil() as usize).max(1);
            let mut candidates: Vec<usize> = (0..f)
                .filter(|&j| {
                    let outward =
                        (x[j] >= bounds.1 && g[j] > 0.0) || (x[j] <= bounds.0 && g[j] < 0.0);
                    !outward && g[j] != 0.0
                })
                .collect();
            candidates.sort_by(|a, b| g[*b].abs().total_cmp(&g[*a].abs()));
            candidates.truncate(k);
            let m = candidates.len().max(1) as f32;
            out.iter_mut().for_each(|o| *o = 0.0);
            for &j in &candidates {
                out[j] = g[j].signum() / m;
            }
        }
    }
}

/// Projects one row's `delta` onto the ball of radius `eps`, as [`Norm::project`] does.
fn project_row(norm: Norm, delta: &mut [f32], eps: f32) {
    match norm {
        Norm::Linf => delta.iter_mut().for_each(|d| *d = d.clamp(-eps, eps)),
        Norm::L2 => {
            let length = delta.iter().map(|d| d * d).sum::<f32>().sqrt();
            let factor = (eps / (length + 1e-12)).min(1.0);
            delta.iter_mut().for_each(|d| *d *= factor);
        }
        Norm::L1 => {
            let projected =
                gauntlet_core::threat::project_l1_rows(delta.to_vec(), delta.len(), &[eps]);
            delta.copy_from_slice(&projected);
        }
    }
}

/// Places one row at `out = clamp(x₀ + P(delta))`: `delta` projected onto the ball of radius
/// `eps` (in place), then around `x0` and into the box.
pub(crate) fn place_row(
    (norm, bounds): (Norm, (f32, f32)),
    delta: &mut [f32],
    x0: &[f32],
    eps: f32,
    out: &mut [f32],
) {
    project_row(norm, delta, eps);
    for ((o, &d), &c) in out.iter_mut().zip(delta.iter()).zip(x0) {
        *o = (c + d).clamp(bounds.0, bounds.1);
    }
}

/// One projected steepest-ascent step of every row of `x` (rows of `f` values), on the host,
/// one row per task: `x ← clamp(x₀ + P(x + rel_step·ε·d(g) − x₀))`, with `d` the row's
/// [`ascent_direction_row`] and `P` the projection onto the row's ball of radius `ε`.
pub(crate) fn projected_ascent_step(
    (norm, bounds): (Norm, (f32, f32)),
    x: &mut [f32],
    (x0, grad): (&[f32], &[f32]),
    eps: &[f32],
    rel_step: f32,
    f: usize,
) {
    x.par_chunks_mut(f)
        .zip(x0.par_chunks(f).zip(grad.par_chunks(f)))
        .zip(eps.par_iter())
        .for_each(|((x, (x0, g)), &eps)| {
            let mut delta = vec![0f32; f];
            ascent_direction_row(norm, g, x, bounds, &mut delta);
            let eta = eps * rel_step;
            for ((d, &xv), &c) in delta.iter_mut().zip(x.iter()).zip(x0) {
                *d = xv + *d * eta - c;
            }
            place_row((norm, bounds), &mut delta, x0, eps, x);
        });
}

/// A uniformly random point of each row's ball of radius `eps[row]` (Linf: uniform in the
/// cube; L2/L1: random direction, radius scaled by U(0,1)^(1/d) for L2).
pub fn random_start(norm: Norm, n: usize, f: usize, eps: &[f32], rng: &mut StdRng) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * f);
    for &e in eps.iter().take(n) {
        match norm {
            Norm::Linf => out.extend((0..f).map(|_| rng.gen_range(-1.0f32..=1.0) * e)),
            Norm::L2 => {
                let dir: Vec<f32> = (0..f)
                    .map(|_| rng.sample::<f32, _>(StandardNormal))
                    .collect();
                let len = dir.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                let radius = e * rng.gen::<f32>().powf(1.0 / f as f32);
                out.extend(dir.iter().map(|v| v / len * radius));
            }
            Norm::L1 => {
                // Laplace direction normalized to the L1 sphere, radius U(0,1)^(1/d).
                let dir: Vec<f32> = (0..f)
                    .map(|_| {
                        let u: f32 = rng.gen_range(-0.5f32..0.5);
                        -u.signum() * (1.0 - 2.0 * u.abs()).max(1e-12).ln()
                    })
                    .collect();
                let len = dir.iter().map(|v| v.abs()).sum::<f32>().max(1e-12);
                let radius = e * rng.gen::<f32>().powf(1.0 / f as f32);
                out.extend(dir.iter().map(|v| v / len * radius));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gauntlet_core::device::compute_device;

    /// PGD's step as burn operations, the way it was computed before the host step.
    fn step_as_tensors(
        norm: Norm,
        (x, x0, grad): (&[f32], &[f32], &[f32]),
        eps: &[f32],
        rel_step: f32,
        f: usize,
    ) -> Vec<f32> {
        let device = compute_device();
        let n = eps.len();
        let t = |v: &[f32], cols| -> Tensor<2> { from_rows(v.to_vec(), n, cols, &device) };
        let (x, x0, eps) = (t(x, f), t(x0, f), t(eps, 1));
        let direction = ascent_direction(norm, t(grad, f), &x, (0.0, 1.0));
        let moved = x + direction * (eps.clone() * rel_step);
        let delta = norm.project(moved - x0.clone(), &eps);
        to_vec((x0 + delta).clamp(0.0, 1.0))
    }

    #[test]
    fn the_host_step_is_the_tensor_step_and_stays_in_the_ball_and_the_box() {
        let (n, f) = (6, 301);
        let value = |i: usize, seed: f32| (i as f32 * 0.61 + seed).sin() * 0.5 + 0.5;
        let x0: Vec<f32> = (0..n * f).map(|i| value(i, 0.1)).collect();
        // Some pixels at the box's edges, where L1 must not push outward.
        let x: Vec<f32> = (0..n * f)
            .map(|i| (value(i, 0.1) + 0.08 * (value(i, 2.0) - 0.5)).clamp(0.0, 1.0))
            .collect();
        let grad: Vec<f32> = (0..n * f)
            .map(|i| if i % 7 == 0 { 0.0 } else { value(i, 5.0) - 0.5 })
            .collect();
        let eps = vec![0.03, 0.1, 0.3, 0.0, 1.0, 5.0];
        for norm in [Norm::Linf, Norm::L2, Norm::L1] {
            let expected = step_as_tensors(norm, (&x, &x0, &grad), &eps, 0.4, f);
            let mut stepped = x.clone();
            projected_ascent_step((norm, (0.0, 1.0)), &mut stepped, (&x0, &grad), &eps, 0.4, f);
            let worst = stepped
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst <= 1e-6, "{norm:?}: max difference {worst}");
            assert_ne!(stepped, x, "{norm:?}: nothing moved");
            for (r, row) in stepped.chunks(f).enumerate() {
                let d: Vec<f32> = row.iter().zip(&x0[r * f..]).map(|(a, b)| a - b).collect();
                let size = match norm {
                    Norm::L2 => d.iter().map(|v| v * v).sum::<f32>().sqrt(),
                    Norm::L1 => d.iter().map(|v| v.abs()).sum::<f32>(),
                    Norm::Linf => d.iter().fold(0f32, |m, v| m.max(v.abs())),
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
