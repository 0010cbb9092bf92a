//! Depthwise convolution (one input channel per group, one or more filters per channel),
//! computed directly on channel planes: no column matrix, one rayon task per input plane
//! (forward and input gradient) or filter (weight gradient).
//!
//! Each input plane is first copied, zero-padded, into its `stride_x` column phases (phase `r`
//! holds padded columns `r, r + sx, …`), so that every kernel tap reads contiguous values:
//! output `(oy, ox)` of tap `(i, j)` reads phase `(j·dx) mod sx`, row `oy·sy + i·dy`, column
//! `ox + (j·dx) div sx`. Laid out in rows of `pitch = sy · phase width` values, a whole output
//! plane is then one long multiply-add per tap (the few columns past each output row are
//! computed and dropped), instead of one short one per output row and tap. MobileNet-style
//! networks alternate these with 1×1 convolutions; burn's generic grouped convolution ran them
//! on one core.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv_shape::ConvShape;
use super::matmul::{build, fill, with_scratch};
use super::simd::{axpy, dot};

/// The padded, phase-split layout of one plane and the flat output layout.
struct Geometry {
    /// Input plane `h × w`, output plane `oh × ow`.
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    /// Padding before the input (top, left).
    top: usize,
    left: usize,
    /// Column stride: the number of phases.
    sx: usize,
    /// Padded rows, and columns per phase.
    rows: usize,
    phase_w: usize,
    /// Distance between output rows in the flat layout, and its length up to the last output.
    pitch: usize,
    len: usize,
    /// Per tap, where its reads start in the phase-split plane.
    taps: Vec<usize>,
    /// Filters per input channel.
    multiplier: usize,
}

impl Geometry {
    fn new(shape: &ConvShape) -> Self {
        let [_, _, h, w] = shape.input;
        let [_, _, oh, ow] = shape.output();
        let win = &shape.window;
        let [sy, sx] = win.stride;
        let [dy, dx] = win.dilation;
        let rows = h + win.padding[0].0 + win.padding[0].1;
        let phase_w = (w + win.padding[1].0 + win.padding[1].1).div_ceil(sx);
        let pitch = sy * phase_w;
        let taps = (0..shape.kernel[0])
            .flat_map(|i| (0..shape.kernel[1]).map(move |j| (i, j)))
            .map(|(i, j)| {
                let (r, q) = ((j * dx) % sx, (j * dx) / sx);
                (r * rows + i * dy) * phase_w + q
            })
            .collect();
        Geometry {
            h,
            w,
            oh,
            ow,
            top: win.padding[0].0,
            left: win.padding[1].0,
            sx,
            rows,
            phase_w,
            pitch,
            len: if oh == 0 { 0 } else { (oh - 1) * pitch + ow },
            taps,
            multiplier: shape.group_out(),
        }
    }

    /// Values of the phase-split padded plane.
    fn padded_len(&self) -> usize {
        self.sx * self.rows * self.phase_w
    }

    /// Where input `(y, x)` lies in the phase-split padded plane.
    fn at(&self, y: usize, x: usize) -> usize {
        let px = x + self.left;
        ((px % self.sx) * self.rows + y + self.top) * self.phase_w + px / self.sx
    }

    /// The phase-split positions of input row `y`, phase by phase: `(input column of the
    /// first, where it lies in the padded plane, how many)`; the phase's columns step by `sx`.
    fn row_phases(&self, y: usize) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        (0..self.sx.min(self.w)).map(move |x0| {
            let count = (self.w - x0).div_ceil(self.sx);
            (x0, self.at(y, x0), count)
        })
    }

    /// Copies one input plane, zero-padded and phase-split, into `q`.
    fn pad(&self, plane: &[f32], q: &mut [f32]) {
        q.fill(0.0);
        for y in 0..self.h {
            let line = &plane[y * self.w..(y + 1) * self.w];
            if self.sx == 1 {
                let at = self.at(y, 0);
                q[at..at + self.w].copy_from_slice(line);
                continue;
            }
            for (x0, at, count) in self.row_phases(y) {
                let src = line[x0..].iter().step_by(self.sx);
                q[at..at + count]
                    .iter_mut()
                    .zip(src)
                    .for_each(|(d, &v)| *d = v);
            }
        }
    }

    /// Writes one input plane from its phase-split padded form (the padding is dropped).
    fn crop(&self, q: &[f32], plane: &mut [MaybeUninit<f32>]) {
        for y in 0..self.h {
            let line = &mut plane[y * self.w..(y + 1) * self.w];
            if self.sx == 1 {
                let at = self.at(y, 0);
                for (d, &v) in line.iter_mut().zip(&q[at..at + self.w]) {
                    d.write(v);
                }
                continue;
            }
            for (x0, at, count) in self.row_phases(y) {
                let dst = line[x0..].iter_mut().step_by(self.sx);
                dst.zip(&q[at..at + count]).for_each(|(d, &v)| {
                    d.write(v);
                });
            }
        }
    }

    /// One output plane in the flat layout, zero between the rows (its first `len` values).
    fn spread(&self, plane: &[f32], flat: &mut [f32]) {
        flat.fill(0.0);
        for oy in 0..self.oh {
            flat[oy * self.pitch..oy * self.pitch + self.ow]
                .copy_from_slice(&plane[oy * self.ow..(oy + 1) * self.ow]);
        }
    }
}

/// `y = w ⊛ x + b`, row-major `[n, c_out, oh, ow]`.
pub fn forward(x: &[f32], weight: &[f32], bias: &[f32], shape: ConvShape) -> Vec<f32> {
    let g = Geometry::new(&shape);
    let [_, c, _, _] = shape.input;
    let [n, c_out, _, _] = shape.output();
    let out_plane = g.oh * g.ow;
    let len = n * c_out * out_plane;
    if len == 0 {
        return Vec::new();
    }
    let (plane, k) = (g.h * g.w, g.taps.len());
    let init = |y: &mut [MaybeUninit<f32>]| {
        // One task per input plane: its `multiplier` output planes.
        y.par_chunks_mut(g.multiplier * out_plane)
            .enumerate()
            .for_each(|(t, outs)| {
                with_scratch(g.padded_len() + g.len, |scratch| {
                    let (q, acc) = scratch.split_at_mut(g.padded_len());
                    g.pad(&x[t * plane..(t + 1) * plane], q);
                    for (m, out) in outs.chunks_mut(out_plane).enumerate() {
                        let co = (t % c) * g.multiplier + m;
                        acc.fill(0.0);
                        for (&at, &wv) in g.taps.iter().zip(&weight[co * k..(co + 1) * k]) {
                            axpy(acc, wv, &q[at..at + g.len]);
                        }
                        let out = fill(out, bias[co]);
                        for (oy, row) in out.chunks_mut(g.ow).enumerate() {
                            let src = &acc[oy * g.pitch..oy * g.pitch + g.ow];
                            row.iter_mut().zip(src).for_each(|(o, a)| *o += a);
                        }
                    }
                })
            })
    };
    // SAFETY: the chunks partition the output and `fill` writes each output plane whole.
    unsafe { build(len, init) }
}

/// Gradient with respect to the input: every input plane gathers from its channel's filters.
pub fn input_grad(weight: &[f32], dy: &[f32], shape: ConvShape) -> Vec<f32> {
    let g = Geometry::new(&shape);
    let [n, c, _, _] = shape.input;
    let (plane, out_plane, k) = (g.h * g.w, g.oh * g.ow, g.taps.len());
    let len = n * c * plane;
    if len == 0 {
        return Vec::new();
    }
    let init = |dx: &mut [MaybeUninit<f32>]| {
        dx.par_chunks_mut(plane).enumerate().for_each(|(t, dxp)| {
            with_scratch(g.padded_len() + g.len, |scratch| {
                let (q, flat) = scratch.split_at_mut(g.padded_len());
                q.fill(0.0);
                // Output planes of this input plane's filters: t·multiplier onward.
                for m in 0..g.multiplier {
                    let (co, o) = ((t % c) * g.multiplier + m, t * g.multiplier + m);
                    g.spread(&dy[o * out_plane..(o + 1) * out_plane], flat);
                    for (&at, &wv) in g.taps.iter().zip(&weight[co * k..(co + 1) * k]) {
                        axpy(&mut q[at..at + g.len], wv, flat);
                    }
                }
                g.crop(q, dxp);
            })
        })
    };
    // SAFETY: the chunks partition the gradient and `crop` writes each plane whole.
    unsafe { build(len, init) }
}

/// Gradient with respect to the weights: each filter's taps summed over samples and positions.
pub fn weight_grad(x: &[f32], dy: &[f32], shape: ConvShape) -> Vec<f32> {
    let g = Geometry::new(&shape);
    let [n, c, _, _] = shape.input;
    let c_out = shape.out_channels;
    let (plane, out_plane, k) = (g.h * g.w, g.oh * g.ow, g.taps.len());
    let mut dw = vec![0f32; c_out * k];
    if k == 0 {
        return dw;
    }
    dw.par_chunks_mut(k).enumerate().for_each(|(co, dwc)| {
        let ci = co / g.multiplier;
        with_scratch(g.padded_len() + g.len, |scratch| {
            let (q, flat) = scratch.split_at_mut(g.padded_len());
            for s in 0..n {
                g.pad(&x[(s * c + ci) * plane..(s * c + ci + 1) * plane], q);
                let o = s * c_out + co;
                g.spread(&dy[o * out_plane..(o + 1) * out_plane], flat);
                for (d, &at) in dwc.iter_mut().zip(&g.taps) {
                    *d += dot(flat, &q[at..at + g.len]);
                }
            }
        })
    });
    dw
}
