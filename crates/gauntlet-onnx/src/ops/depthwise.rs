//! Depthwise convolution (one input channel per group, one or more filters per channel),
//! computed directly on channel planes: no column matrix, one rayon task per output plane
//! (forward), input plane (input gradient) or filter (weight gradient).
//!
//! MobileNet-style networks alternate these with 1×1 convolutions; burn's generic grouped
//! convolution ran them on one core.

use rayon::prelude::*;

use super::conv_shape::{ColumnRange, ConvShape};
use super::matmul::{build, fill};

/// Visits, for every kernel tap `(i, j)` and output row `oy` that reads the image, `f(tap,
/// oy, y, range)`: `tap = i · kw + j`, `y` the input row, `range` the output columns that read
/// inside the image and the input column of the first.
fn for_each_row(
    shape: &ConvShape,
    ranges: &[ColumnRange],
    mut f: impl FnMut(usize, usize, usize, ColumnRange),
) {
    let [_, _, oh, _] = shape.output();
    let kw = shape.kernel[1];
    for i in 0..shape.kernel[0] {
        for (j, &range) in ranges.iter().enumerate() {
            if range.lo == range.hi {
                continue;
            }
            for oy in 0..oh {
                if let Some(y) = shape.input_row(oy, i) {
                    f(i * kw + j, oy, y, range);
                }
            }
        }
    }
}

/// Sizes shared by the three kernels.
struct Dims {
    /// Input channel plane (`h · w`) and output plane (`oh · ow`).
    plane: usize,
    out_plane: usize,
    /// Input row length and output row length.
    w: usize,
    ow: usize,
    /// Filters per input channel.
    multiplier: usize,
    /// Taps per filter.
    taps: usize,
    stride: usize,
}

impl Dims {
    fn new(shape: &ConvShape) -> Self {
        let [_, _, h, w] = shape.input;
        let [_, _, oh, ow] = shape.output();
        Dims {
            plane: h * w,
            out_plane: oh * ow,
            w,
            ow,
            multiplier: shape.group_out(),
            taps: shape.kernel[0] * shape.kernel[1],
            stride: shape.window.stride[1],
        }
    }
}

/// `y = w ⊛ x + b`, row-major `[n, c_out, oh, ow]`.
pub fn forward(x: &[f32], weight: &[f32], bias: &[f32], shape: ConvShape) -> Vec<f32> {
    let d = Dims::new(&shape);
    let ranges = shape.column_ranges();
    let [_, c, _, _] = shape.input;
    let [n, c_out, _, _] = shape.output();
    let len = n * c_out * d.out_plane;
    if len == 0 {
        return Vec::new();
    }
    let plane_of = |t: usize| {
        let (s, co) = (t / c_out, t % c_out);
        let ci = s * c + co / d.multiplier;
        (co, &x[ci * d.plane..(ci + 1) * d.plane])
    };
    let init = |y: &mut [std::mem::MaybeUninit<f32>]| {
        y.par_chunks_mut(d.out_plane)
            .enumerate()
            .for_each(|(t, out)| {
                let (co, plane) = plane_of(t);
                let out = fill(out, bias[co]);
                let filter = &weight[co * d.taps..(co + 1) * d.taps];
                for_each_row(&shape, &ranges, |tap, oy, y, r| {
                    let (wv, line) = (filter[tap], &plane[y * d.w..(y + 1) * d.w]);
                    let dst = &mut out[oy * d.ow + r.lo..oy * d.ow + r.hi];
                    if d.stride == 1 {
                        for (o, &v) in dst.iter_mut().zip(&line[r.first..]) {
                            *o += wv * v;
                        }
                    } else {
                        let src = line[r.first..].iter().step_by(d.stride);
                        for (o, &v) in dst.iter_mut().zip(src) {
                            *o += wv * v;
                        }
                    }
                });
            })
    };
    // SAFETY: the chunks partition the output and `fill` writes each one whole.
    unsafe { build(len, init) }
}

/// Gradient with respect to the input: every input plane gathers from its channel's filters.
pub fn input_grad(weight: &[f32], dy: &[f32], shape: ConvShape) -> Vec<f32> {
    let d = Dims::new(&shape);
    let ranges = shape.column_ranges();
    let [n, c, _, _] = shape.input;
    let c_out = shape.out_channels;
    let len = n * c * d.plane;
    if len == 0 {
        return Vec::new();
    }
    let init = |dx: &mut [std::mem::MaybeUninit<f32>]| {
        dx.par_chunks_mut(d.plane)
            .enumerate()
            .for_each(|(t, plane)| {
                let (s, ci) = (t / c, t % c);
                let plane = fill(plane, 0.0);
                for co in ci * d.multiplier..(ci + 1) * d.multiplier {
                    let g = &dy[(s * c_out + co) * d.out_plane..(s * c_out + co + 1) * d.out_plane];
                    let filter = &weight[co * d.taps..(co + 1) * d.taps];
                    for_each_row(&shape, &ranges, |tap, oy, y, r| {
                        let wv = filter[tap];
                        let src = &g[oy * d.ow + r.lo..oy * d.ow + r.hi];
                        let line = &mut plane[y * d.w + r.first..(y + 1) * d.w];
                        if d.stride == 1 {
                            for (o, &v) in line.iter_mut().zip(src) {
                                *o += wv * v;
                            }
                        } else {
                            for (o, &v) in line.iter_mut().step_by(d.stride).zip(src) {
                                *o += wv * v;
                            }
                        }
                    });
                }
            })
    };
    // SAFETY: the chunks partition the gradient and `fill` writes each one whole.
    unsafe { build(len, init) }
}

/// Gradient with respect to the weights: each filter's taps summed over samples and positions.
pub fn weight_grad(x: &[f32], dy: &[f32], shape: ConvShape) -> Vec<f32> {
    let d = Dims::new(&shape);
    let ranges = shape.column_ranges();
    let [n, c, _, _] = shape.input;
    let c_out = shape.out_channels;
    let mut dw = vec![0f32; c_out * d.taps];
    if d.taps == 0 {
        return dw;
    }
    dw.par_chunks_mut(d.taps).enumerate().for_each(|(co, dwc)| {
        let ci = co / d.multiplier;
        for s in 0..n {
            let plane = &x[(s * c + ci) * d.plane..(s * c + ci + 1) * d.plane];
            let g = &dy[(s * c_out + co) * d.out_plane..(s * c_out + co + 1) * d.out_plane];
            for_each_row(&shape, &ranges, |tap, oy, y, r| {
                let src = &g[oy * d.ow + r.lo..oy * d.ow + r.hi];
                let line = &plane[y * d.w + r.first..(y + 1) * d.w];
                dwc[tap] += if d.stride == 1 {
                    src.iter().zip(line).map(|(a, b)| a * b).sum::<f32>()
                } else {
                    let line = line.iter().step_by(d.stride);
                    src.iter().zip(line).map(|(a, b)| a * b).sum::<f32>()
                };
            });
        }
    });
    dw
}
