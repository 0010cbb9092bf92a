//! Steepest-ascent directions and random starts shared by FGSM and PGD.

use burn::tensor::Tensor;
use rand::rngs::StdRng;
use rand::Rng;
use rand_distr::StandardNormal;

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
            let g = to_vec(grad);
            let xv = to_vec(x.clone());
            let k = ((f as f32 * L1_SPARSITY).ceil() as usize).max(1);
            let mut out = vec![0f32; n * f];
            for r in 0..n {
                let row = &g[r * f..(r + 1) * f];
                let xr = &xv[r * f..(r + 1) * f];
                let mut candidates: Vec<usize> = (0..f)
                    .filter(|&j| {
                        let outward = (xr[j] >= bounds.1 && row[j] > 0.0)
                            || (xr[j] <= bounds.0 && row[j] < 0.0);
                        !outward && row[j] != 0.0
                    })
                    .collect();
                candidates.sort_by(|a, b| row[*b].abs().total_cmp(&row[*a].abs()));
                candidates.truncate(k);
                let m = candidates.len().max(1) as f32;
                for &j in &candidates {
                    out[r * f + j] = row[j].signum() / m;
                }
            }
            from_rows(out, n, f, &device)
        }
    }
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
