//! GELU, element by element, forward and backward, in float32: the exact form
//! `x·Φ(x)` and the tanh approximation, split over the rayon pool and compiled for the
//! widest vector instructions the CPU has (see `row_kernel` for the row-wise kernels).

use rayon::prelude::*;

use super::fast_math::{erf, exp, multiversion, tanh};
use super::row_kernel::GRAIN;

/// Which GELU: the exact one, `x·Φ(x)`, or the tanh approximation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gelu {
    /// `x/2·(1 + erf(x/√2))`.
    Erf,
    /// `x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
    Tanh,
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const CUBIC: f32 = 0.044_715;
/// 1/√(2π), the standard normal density's constant.
const INV_SQRT_2PI: f32 = 0.398_942_3;

// The element loops below index plainly: iterator adapters (`zip(..).for_each`) may stay
// out-of-line calls, compiled without the AVX-512 features of the `wide` version.

multiversion! {
    /// Values of [`gelu`].
    fn gelu_chunk(x: &[f32], y: &mut [f32], kind: Gelu) {
        let n = x.len().min(y.len());
        let (x, y) = (&x[..n], &mut y[..n]);
        match kind {
            Gelu::Erf => {
                for i in 0..n {
                    let v = x[i];
                    y[i] = 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
                }
            }
            Gelu::Tanh => {
                for i in 0..n {
                    let v = x[i];
                    y[i] = 0.5 * v * (1.0 + tanh(SQRT_2_OVER_PI * (v + CUBIC * v * v * v)));
                }
            }
        }
    }
}

multiversion! {
    /// Values of [`gelu_backward`].
    fn gelu_chunk_backward(x: &[f32], dy: &[f32], dx: &mut [f32], kind: Gelu) {
        let n = x.len().min(dy.len()).min(dx.len());
        let (x, dy, dx) = (&x[..n], &dy[..n], &mut dx[..n]);
        match kind {
            Gelu::Erf => {
                for i in 0..n {
                    let v = x[i];
                    let cdf = 0.5 * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
                    let pdf = INV_SQRT_2PI * exp(-0.5 * v * v);
                    dx[i] = dy[i] * (cdf + v * pdf);
                }
            }
            Gelu::Tanh => {
                for i in 0..n {
                    let v = x[i];
                    let t = tanh(SQRT_2_OVER_PI * (v + CUBIC * v * v * v));
                    let du = SQRT_2_OVER_PI * (1.0 + 3.0 * CUBIC * v * v);
                    dx[i] = dy[i] * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du);
                }
            }
        }
    }
}

/// GELU element by element.
pub fn gelu(x: &[f32], kind: Gelu) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    y.par_chunks_mut(GRAIN)
        .zip(x.par_chunks(GRAIN))
        .for_each(|(y, x)| gelu_chunk(x, y, kind));
    y
}

/// Input gradient of [`gelu`] at `x` from the output gradient `dy`.
pub fn gelu_backward(x: &[f32], dy: &[f32], kind: Gelu) -> Vec<f32> {
    let mut dx = vec![0f32; x.len()];
    dx.par_chunks_mut(GRAIN)
        .zip(x.par_chunks(GRAIN).zip(dy.par_chunks(GRAIN)))
        .for_each(|(dx, (x, dy))| gelu_chunk_backward(x, dy, dx, kind));
    dx
}
