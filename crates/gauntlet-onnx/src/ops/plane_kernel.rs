//! Operations on whole channel planes, forward and backward, one rayon task per group of
//! planes: the mean of each plane (GlobalAveragePool) and each plane scaled by its own factor
//! (the squeeze-and-excitation product `x · s`, `s` of shape `[N, C, 1, 1]`).
//!
//! As burn operations both ran on one thread, their gradients too (a broadcast product and a
//! sum for the scale, an expansion for the mean): on MobileNetV3 they were most of what kept
//! the second core waiting. [`super::host_planes`] wires them into burn.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::matmul::{build, fill};
use super::simd::dot;

/// Values per rayon task, at least one plane.
const CHUNK: usize = 1 << 14;

/// Planes per task for planes of `len` values.
fn planes_per_task(len: usize) -> usize {
    (CHUNK / len.max(1)).max(1)
}

/// The mean of each `len`-value plane of `x`.
pub fn mean(x: &[f32], len: usize) -> Vec<f32> {
    if len == 0 {
        return Vec::new();
    }
    let k = planes_per_task(len);
    let mut out = vec![0f32; x.len() / len];
    out.par_chunks_mut(k)
        .zip(x.par_chunks(k * len))
        .for_each(|(out, x)| {
            for (o, plane) in out.iter_mut().zip(x.chunks(len)) {
                *o = plane.iter().sum::<f32>() / len as f32;
            }
        });
    out
}

/// Gradient of [`mean`]: every value of plane `i` gets `dy[i] / len`.
pub fn mean_backward(dy: &[f32], len: usize) -> Vec<f32> {
    let k = planes_per_task(len);
    let init = |dx: &mut [MaybeUninit<f32>]| {
        dx.par_chunks_mut(k * len.max(1))
            .zip(dy.par_chunks(k))
            .for_each(|(dx, dy)| {
                for (plane, &g) in dx.chunks_mut(len.max(1)).zip(dy) {
                    fill(plane, g / len as f32);
                }
            })
    };
    // SAFETY: the chunks of `dx` (k planes each) pair with the k gradients of their planes, and
    // `fill` writes every plane whole.
    unsafe { build(dy.len() * len, init) }
}

/// `x · s`, plane `i` of `x` (`len` values) scaled by `s[i]`; with `dy` for `x`, the gradient
/// with respect to `x`.
pub fn scale(x: &[f32], s: &[f32], len: usize) -> Vec<f32> {
    assert_eq!(x.len(), s.len() * len);
    if len == 0 {
        return Vec::new();
    }
    let k = planes_per_task(len);
    let init = |y: &mut [MaybeUninit<f32>]| {
        y.par_chunks_mut(k * len)
            .zip(x.par_chunks(k * len).zip(s.par_chunks(k)))
            .for_each(|(y, (x, s))| {
                for ((y, x), &f) in y.chunks_mut(len).zip(x.chunks(len)).zip(s) {
                    for (y, &v) in y.iter_mut().zip(x) {
                        y.write(v * f);
                    }
                }
            })
    };
    // SAFETY: the chunks of `y` pair with equally long chunks of `x`, and every element of
    // every plane is written.
    unsafe { build(x.len(), init) }
}

/// [`scale`] over `x` itself.
pub fn scale_in_place(x: &mut [f32], s: &[f32], len: usize) {
    let k = planes_per_task(len);
    x.par_chunks_mut(k * len.max(1))
        .zip(s.par_chunks(k))
        .for_each(|(x, s)| {
            for (plane, &f) in x.chunks_mut(len.max(1)).zip(s) {
                plane.iter_mut().for_each(|v| *v *= f);
            }
        })
}

/// Gradient of [`scale`] with respect to the scales: `ds[i] = Σ dy · x` over plane `i`.
pub fn scale_grad_factors(x: &[f32], dy: &[f32], len: usize) -> Vec<f32> {
    assert_eq!(x.len(), dy.len());
    if len == 0 {
        return Vec::new();
    }
    let k = planes_per_task(len);
    let mut ds = vec![0f32; x.len() / len];
    ds.par_chunks_mut(k)
        .zip(x.par_chunks(k * len).zip(dy.par_chunks(k * len)))
        .for_each(|(ds, (x, dy))| {
            for (d, (x, dy)) in ds.iter_mut().zip(x.chunks(len).zip(dy.chunks(len))) {
                *d = dot(x, dy);
            }
        });
    ds
}
