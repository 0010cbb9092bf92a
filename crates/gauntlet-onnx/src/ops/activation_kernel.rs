//! Piecewise activations on the host (ReLU, HardSigmoid, HardSwish), forward and backward, in
//! parallel chunks.
//!
//! burn-flex runs element-wise operations on one thread, and HardSwish as burn operations is
//! five of them forward and more backward (masks, comparisons, products), each a pass over
//! memory. On MobileNetV3 they kept the second core idle for a quarter of the time. Here each
//! is one pass, split across the rayon pool, in place when the input's buffer is not shared;
//! [`super::host`] wires them into burn.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::matmul::build;

/// Values per rayon task: large enough that splitting costs nothing, small enough that a
/// MobileNet layer gives every thread several tasks.
const CHUNK: usize = 1 << 14;

/// A piecewise-linear activation, with the semantics burn's composite forms have (NaN
/// propagates; at a clamp's boundary the gradient passes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// `max(x, 0)`; gradient 1 where `x > 0`.
    Relu,
    /// `clamp(alpha · x + beta, 0, 1)`.
    HardSigmoid {
        /// Slope.
        alpha: f32,
        /// Offset.
        beta: f32,
    },
    /// `x · clamp(x / 6 + 1/2, 0, 1)`.
    HardSwish,
}

/// What the backward pass reads: the activation's input, or (ReLU only, so the forward pass
/// can overwrite its input) its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// `x`.
    Input,
    /// `f(x)`; only for [`Activation::Relu`], whose slope it determines.
    Output,
}

impl Activation {
    /// `(f(x), f'(x))`, the derivative as burn's composite form differentiates it.
    #[inline(always)]
    fn eval(self, x: f32) -> (f32, f32) {
        let clamp = |t: f32, slope: f32| {
            if t < 0.0 {
                (0.0, 0.0)
            } else if t > 1.0 {
                (1.0, 0.0)
            } else {
                (t, slope)
            }
        };
        match self {
            Activation::Relu => (relu(x), if x <= 0.0 { 0.0 } else { 1.0 }),
            Activation::HardSigmoid { alpha, beta } => clamp(x * alpha + beta, alpha),
            Activation::HardSwish => {
                let (gate, slope) = clamp(x * (1.0 / 6.0) + 0.5, 1.0 / 6.0);
                (x * gate, gate + x * slope)
            }
        }
    }

    /// The slope at the point the saved value describes.
    #[inline(always)]
    fn slope(self, saved: f32, kind: Saved) -> f32 {
        match kind {
            Saved::Input => self.eval(saved).1,
            // ReLU's output is 0 exactly where its input is ≤ 0 (NaN stays NaN, slope 1).
            Saved::Output => {
                if saved == 0.0 {
                    0.0
                } else {
                    1.0
                }
            }
        }
    }
}

/// `max(x, 0)`, NaN kept.
#[inline(always)]
pub fn relu(x: f32) -> f32 {
    if x <= 0.0 {
        0.0
    } else {
        x
    }
}

/// `f(x)` element-wise, over `x` itself.
pub fn apply(x: &mut [f32], f: Activation) {
    x.par_chunks_mut(CHUNK).for_each(|x| {
        for v in x.iter_mut() {
            *v = f.eval(*v).0;
        }
    })
}

/// `f(x)` element-wise.
pub fn forward(x: &[f32], f: Activation) -> Vec<f32> {
    let init = |y: &mut [MaybeUninit<f32>]| {
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(y, x)| {
                for (y, &x) in y.iter_mut().zip(x) {
                    y.write(f.eval(x).0);
                }
            })
    };
    // SAFETY: the chunks of `y` pair with equally long chunks of `x` and each element of
    // every chunk is written.
    unsafe { build(x.len(), init) }
}

/// `g · slope`, except that a zero slope blocks even a NaN or infinite gradient, as burn's
/// masks do.
#[inline(always)]
fn chain(g: f32, slope: f32) -> f32 {
    if slope == 0.0 {
        0.0
    } else {
        g * slope
    }
}

/// `dy · f'(x)` element-wise: the gradient with respect to the input, from the `saved` values.
pub fn backward(saved: &[f32], kind: Saved, dy: &[f32], f: Activation) -> Vec<f32> {
    assert_eq!(saved.len(), dy.len());
    let init = |dx: &mut [MaybeUninit<f32>]| {
        dx.par_chunks_mut(CHUNK)
            .zip(saved.par_chunks(CHUNK).zip(dy.par_chunks(CHUNK)))
            .for_each(|(dx, (saved, dy))| {
                for ((dx, &s), &g) in dx.iter_mut().zip(saved).zip(dy) {
                    dx.write(chain(g, f.slope(s, kind)));
                }
            })
    };
    // SAFETY: as in `forward`, every element of every chunk is written.
    unsafe { build(saved.len(), init) }
}

/// [`backward`] over `dy` itself.
pub fn backward_in_place(saved: &[f32], kind: Saved, dy: &mut [f32], f: Activation) {
    assert_eq!(saved.len(), dy.len());
    dy.par_chunks_mut(CHUNK)
        .zip(saved.par_chunks(CHUNK))
        .for_each(|(dy, saved)| {
            for (g, &s) in dy.iter_mut().zip(saved) {
                *g = chain(*g, f.slope(s, kind));
            }
        })
}
