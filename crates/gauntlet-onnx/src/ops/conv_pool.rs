//! Convolution → (ReLU) → max pooling, one sample at a time.
//!
//! Run node by node, the demo CNN's first convolution writes 9.4 MB for a batch of 256 that the
//! pooling then reads back from memory, and the pooling was a sixth of the forward pass. Here
//! each sample's convolution output (36 KB there) is computed into scratch, activated, and
//! pooled while it is still in the cache; only the pooled values leave. The backward pass
//! routes the gradient through each window's maximum (where the ReLU passed it) to the
//! convolution's output and then runs the convolution's gradient kernels: the values are the
//! ones the three operators give node by node, bit for bit.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::activation_kernel::relu;
use super::conv_direct::{Correlation, InputGrad};
use super::conv_kernel;
use super::conv_shape::ConvShape;
use super::matmul::{build, with_scratch};
use super::pool_kernel::{self, PoolShape, TiledPlanes};

/// A convolution, whether a ReLU follows it, and the max pooling of the result.
#[derive(Debug, Clone, Copy)]
pub struct ConvPoolShape {
    /// The convolution.
    pub conv: ConvShape,
    /// The pooling of the convolution's (activated) output: `planes = n · co`.
    pub pool: PoolShape,
    /// A ReLU between the two.
    pub relu: bool,
}

impl ConvPoolShape {
    /// Whether the fused kernels compute this: a convolution the direct kernel serves (what
    /// the convolution alone would run, so the values are the same), and a pooling whose
    /// windows tile its input, over the convolution's output.
    pub fn is_fusable(&self) -> bool {
        let [n, co, oh, ow] = self.conv.output();
        conv_kernel::direct_serves(self.conv)
            && self.pool.planes == n * co
            && self.pool.h.input == oh
            && self.pool.w.input == ow
            && TiledPlanes::of(&self.pool).is_some()
    }

    /// The pooled output's shape, `[n, co, ph, pw]`.
    pub fn output(&self) -> [usize; 4] {
        let [n, co, _, _] = self.conv.output();
        let [ph, pw] = self.pool.output();
        [n, co, ph, pw]
    }
}

/// The pooled output, `[n, co, ph, pw]`, for a shape [`ConvPoolShape::is_fusable`] accepts;
/// with `indices`, also each maximum's position in its convolution-output plane, or
/// `u32::MAX` where the ReLU passes no gradient (the maximum is 0).
pub fn forward(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    shape: ConvPoolShape,
    indices: bool,
) -> (Vec<f32>, Option<Vec<u32>>) {
    let correlation = Correlation::new(weight, bias, shape.conv);
    let planes = TiledPlanes::of(&shape.pool).expect("checked by is_fusable");
    let (per_in, conv_len) = (correlation.input_len(), correlation.output_len());
    let [_, co, ph, pw] = shape.output();
    let per_out = co * ph * pw;
    let n = shape.conv.input[0];
    let scratch_len = correlation.scratch_len() + conv_len;
    // One sample's convolution, activated, into `scratch`'s tail; returns it.
    let convolve = |s: usize, scratch: &mut [f32]| {
        let (shifted, y) = scratch.split_at_mut(correlation.scratch_len());
        // SAFETY: `MaybeUninit<f32>` has `f32`'s layout, and only initialized values are
        // written through the view.
        let y_out = unsafe { &mut *(y as *mut [f32] as *mut [MaybeUninit<f32>]) };
        let x = &x[s * per_in..][..per_in];
        // Two calls, so each inlines its activation into the tile's write-out.
        if shape.relu {
            correlation.sample(x, shifted, y_out, relu);
        } else {
            correlation.sample(x, shifted, y_out, |v| v);
        }
    };
    if !indices {
        let init = |out: &mut [MaybeUninit<f32>]| {
            out.par_chunks_mut(per_out)
                .enumerate()
                .for_each(|(s, out)| {
                    with_scratch(scratch_len + planes.scratch_len(per_out), |scratch| {
                        let (scratch, acc) = scratch.split_at_mut(scratch_len);
                        convolve(s, scratch);
                        let out = super::matmul::fill(out, 0.0);
                        planes.max(&scratch[correlation.scratch_len()..], out, acc);
                    })
                });
        };
        // SAFETY: every sample's chunk is written whole by `fill` before the maxima.
        return (unsafe { build(n * per_out, init) }, None);
    }
    let mut output = vec![0f32; n * per_out];
    let mut at = vec![0u32; n * per_out];
    output
        .par_chunks_mut(per_out)
        .zip(at.par_chunks_mut(per_out))
        .enumerate()
        .for_each_init(
            || planes.indexed_scratch(per_out),
            |(values, positions), (s, (out, idx))| {
                with_scratch(scratch_len, |scratch| {
                    convolve(s, scratch);
                    let y = &scratch[correlation.scratch_len()..];
                    planes.max_indexed(y, (out, idx), (values, positions));
                });
                if shape.relu {
                    // ReLU's output is 0 exactly where its slope is (NaN keeps slope 1).
                    // A select, not a branch, so the loop vectorizes.
                    for (&v, i) in out.iter().zip(idx.iter_mut()) {
                        *i = if v == 0.0 { u32::MAX } else { *i };
                    }
                }
            },
        );
    (output, Some(at))
}

/// The gradient with respect to the convolution's output, `[n, co, oh, ow]`, from the pooled
/// output's gradient and the positions [`forward`] returned.
pub fn conv_output_grad(grad: &[f32], indices: &[u32], shape: ConvPoolShape) -> Vec<f32> {
    pool_kernel::max_pool_backward(grad, indices, shape.pool)
}

/// The gradient with respect to the convolution's input, `[n, c, h, w]`, from the pooled
/// output's gradient and the positions [`forward`] returned, a sample at a time: each sample's
/// convolution-output gradient is routed into scratch and consumed there, never stored whole.
/// The same values as [`conv_output_grad`] followed by the convolution's input gradient.
pub fn input_grad(weight: &[f32], grad: &[f32], indices: &[u32], shape: ConvPoolShape) -> Vec<f32> {
    let backward = InputGrad::new(weight, shape.conv);
    let (per_in, per_dy) = (backward.input_len(), backward.dy_len());
    let [_, co, ph, pw] = shape.output();
    let (pooled, plane) = (ph * pw, per_dy / co);
    let init = |dx: &mut [MaybeUninit<f32>]| {
        dx.par_chunks_mut(per_in).enumerate().for_each(|(s, dxs)| {
            with_scratch(backward.scratch_len(), |scratch| {
                let dy = backward.dy_scratch(scratch);
                dy.fill(0.0);
                let g = &grad[s * co * pooled..][..co * pooled];
                let at = &indices[s * co * pooled..][..co * pooled];
                for ((dy, g), at) in dy
                    .chunks_exact_mut(plane)
                    .zip(g.chunks_exact(pooled))
                    .zip(at.chunks_exact(pooled))
                {
                    for (&g, &at) in g.iter().zip(at) {
                        if at != u32::MAX {
                            dy[at as usize] += g;
                        }
                    }
                }
                backward.sample(scratch, dxs);
            })
        });
    };
    // SAFETY: `sample` writes each sample's chunk whole.
    unsafe { build(shape.conv.input[0] * per_in, init) }
}

#[cfg(test)]
mod tests {
    use super::super::activation_kernel::{self, Activation};
    use super::super::conv_shape::ConvWindow;
    use super::super::kernel_testing::tiling_axis;
    use super::super::pool_kernel::Axis;
    use super::*;

    fn values(n: usize, seed: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f32 * 0.7368 + seed).sin() * 1.9).round() * 0.25 - 0.1)
            .collect()
    }

    /// The three operators node by node: convolution, ReLU, max pooling with indices.
    fn node_by_node(
        x: &[f32],
        w: &[f32],
        b: &[f32],
        shape: ConvPoolShape,
    ) -> (Vec<f32>, Vec<f32>, Vec<u32>) {
        let mut y = conv_kernel::forward(x, w, b, shape.conv);
        if shape.relu {
            activation_kernel::apply(&mut y, Activation::Relu);
        }
        let (pooled, idx) = pool_kernel::max_pool_with_indices(&y, shape.pool);
        (y, pooled, idx)
    }

    #[test]
    fn fused_pass_equals_the_three_operators_forward_and_backward() {
        let axis = tiling_axis;
        // (c, h, w, co, k, pad, pool, relu): odd sizes leave rows and columns no window
        // covers; fewer than 4 output channels take the narrow tile.
        // Enough samples for the direct kernels (a task per sample), and one more.
        let n = 2 * rayon::current_num_threads() + 1;
        let cases = [
            (1, 28, 28, 16, 5, 0, 2, true),
            (16, 12, 12, 32, 5, 0, 2, true),
            (3, 9, 11, 2, 3, 1, 3, true),
            (2, 7, 7, 5, 3, 1, 2, false),
        ];
        for (c, h, w, co, k, pad, pool, relu) in cases {
            let conv = ConvShape {
                input: [n, c, h, w],
                out_channels: co,
                kernel: [k, k],
                window: ConvWindow {
                    stride: [1, 1],
                    padding: [(pad, pad), (pad, pad)],
                    dilation: [1, 1],
                },
                groups: 1,
            };
            let [_, _, oh, ow] = conv.output();
            let shape = ConvPoolShape {
                conv,
                pool: PoolShape {
                    planes: n * co,
                    h: axis(oh, pool),
                    w: axis(ow, pool),
                    ceil_mode: false,
                },
                relu,
            };
            assert!(shape.is_fusable(), "{shape:?}");
            let x = values(n * c * h * w, 0.3);
            let wt = values(co * c * k * k, 1.1);
            // Every other channel's bias pushes it below zero: windows whose maximum the ReLU
            // clips, so no gradient must pass.
            let mut b = values(co, 2.0);
            b.iter_mut().step_by(2).for_each(|v| *v -= 20.0);
            let (y, expected, idx) = node_by_node(&x, &wt, &b, shape);
            let (plain, none) = forward(&x, &wt, &b, shape, false);
            assert!(none.is_none());
            let (pooled, at) = forward(&x, &wt, &b, shape, true);
            let at = at.expect("asked for");
            // Bit for bit, both forms; the test values are coarse, so there are ties and zeros.
            assert_eq!(plain, expected, "{shape:?}");
            assert_eq!(pooled, expected, "{shape:?}");
            assert!(!relu || expected.contains(&0.0));
            // Backward: the pooling's then the ReLU's gradient, node by node.
            let g = values(expected.len(), 0.9);
            let mut dy = pool_kernel::max_pool_backward(&g, &idx, shape.pool);
            if relu {
                dy = activation_kernel::backward(
                    &y,
                    activation_kernel::Saved::Output,
                    &dy,
                    Activation::Relu,
                );
            }
            assert_eq!(conv_output_grad(&g, &at, shape), dy, "{shape:?}");
            assert_eq!(
                input_grad(&wt, &g, &at, shape),
                conv_kernel::input_grad(&wt, &dy, shape.conv),
                "{shape:?}"
            );
        }
    }

    #[test]
    fn shapes_the_kernels_do_not_serve_are_not_fusable() {
        let conv = ConvShape {
            input: [2 * rayon::current_num_threads(), 1, 8, 8],
            out_channels: 4,
            kernel: [3, 3],
            window: ConvWindow {
                stride: [1, 1],
                padding: [(0, 0), (0, 0)],
                dilation: [1, 1],
            },
            groups: 1,
        };
        let overlapping = Axis {
            input: 6,
            kernel: 3,
            stride: 2,
            dilation: 1,
            pad_begin: 0,
            pad_end: 0,
        };
        let shape = ConvPoolShape {
            conv,
            pool: PoolShape {
                planes: conv.input[0] * 4,
                h: overlapping,
                w: overlapping,
                ceil_mode: false,
            },
            relu: true,
        };
        assert!(!shape.is_fusable());
        let tiling = Axis {
            stride: 3,
            ..overlapping
        };
        let fits = ConvPoolShape {
            pool: PoolShape {
                h: tiling,
                w: tiling,
                ..shape.pool
            },
            ..shape
        };
        assert!(fits.is_fusable());
        let strided = ConvPoolShape {
            conv: ConvShape {
                window: ConvWindow {
                    stride: [2, 2],
                    ..conv.window
                },
                ..conv
            },
            ..fits
        };
        assert!(!strided.is_fusable());
        // Too few samples for a task each: the convolution alone would run im2col.
        let one = ConvShape {
            input: [1, 1, 8, 8],
            ..conv
        };
        let alone = ConvPoolShape {
            conv: one,
            pool: PoolShape {
                planes: 4,
                ..fits.pool
            },
            ..fits
        };
        assert!(!alone.is_fusable());
        // A zero stride (a malformed file) is refused, not divided by.
        let zero = Axis {
            kernel: 0,
            stride: 0,
            ..overlapping
        };
        let broken = ConvPoolShape {
            pool: PoolShape {
                h: zero,
                w: zero,
                ..fits.pool
            },
            ..fits
        };
        assert!(!broken.is_fusable());
    }
}
