//! 2-D max pooling on the host, forward (with or without argmax indices) and backward.
//!
//! burn-flex's max-pool kernel re-derives each window's valid range per output element; on an
//! MNIST CNN it took more time than both convolutions. Here window ranges are computed once per
//! axis and each channel plane is one rayon task; forward-only passes skip the indices.
//! [`super::host`] wires these kernels into burn.

use rayon::prelude::*;

/// One spatial axis of a pooling window.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    /// Input length along this axis.
    pub input: usize,
    /// Window length (taps); ≥ 1.
    pub kernel: usize,
    /// Step between consecutive windows; ≥ 1.
    pub stride: usize,
    /// Spacing between taps; 1 is a contiguous window.
    pub dilation: usize,
    /// Padding before the input; padded positions never win the maximum.
    pub pad_begin: usize,
    /// Padding after the input.
    pub pad_end: usize,
}

impl Axis {
    /// Output length, with ONNX/PyTorch semantics: in ceil mode the last window must start
    /// inside the input or its leading padding.
    pub fn output(&self, ceil_mode: bool) -> usize {
        let span = self.dilation * (self.kernel - 1) + 1;
        let padded = self.input + self.pad_begin + self.pad_end;
        if padded < span {
            return 0;
        }
        let room = padded - span;
        let mut out = if ceil_mode {
            room.div_ceil(self.stride) + 1
        } else {
            room / self.stride + 1
        };
        if ceil_mode && (out - 1) * self.stride >= self.input + self.pad_begin {
            out -= 1;
        }
        out
    }

    /// For every output position, the input positions its window covers (inside the input).
    fn windows(&self, outputs: usize) -> Vec<Vec<usize>> {
        (0..outputs)
            .map(|o| {
                (0..self.kernel)
                    .filter_map(|k| {
                        let pos = (o * self.stride + k * self.dilation) as isize
                            - self.pad_begin as isize;
                        (pos >= 0 && (pos as usize) < self.input).then_some(pos as usize)
                    })
                    .collect()
            })
            .collect()
    }
}

/// Shapes of one 2-D max pooling: `planes` = batch × channels input planes of `h.input ×
/// w.input` values each.
#[derive(Debug, Clone, Copy)]
pub struct PoolShape {
    /// Input planes (batch × channels), each pooled on its own.
    pub planes: usize,
    /// The vertical axis.
    pub h: Axis,
    /// The horizontal axis.
    pub w: Axis,
    /// Round the output length up (a last, partial window) instead of down.
    pub ceil_mode: bool,
}

impl PoolShape {
    /// Output height and width.
    pub fn output(&self) -> [usize; 2] {
        [self.h.output(self.ceil_mode), self.w.output(self.ceil_mode)]
    }

    /// Whether the shapes describe a computable pooling (no zero kernel or stride).
    pub fn is_valid(&self) -> bool {
        self.h.stride > 0 && self.w.stride > 0 && self.h.kernel > 0 && self.w.kernel > 0
    }

    /// Windows tiling the input (no padding, no dilation, stride = kernel): indexed directly,
    /// with no per-window position lists.
    fn tiled(&self) -> bool {
        let [oh, ow] = self.output();
        let (h, w) = (self.h, self.w);
        h.dilation == 1
            && w.dilation == 1
            && h.pad_begin + h.pad_end + w.pad_begin + w.pad_end == 0
            && h.stride == h.kernel
            && w.stride == w.kernel
            && oh * h.kernel <= h.input
            && ow * w.kernel <= w.input
    }
}

/// Max pooling forward without indices (passes that record no gradient).
pub fn max_pool(input: &[f32], shape: PoolShape) -> Vec<f32> {
    let (ih, iw) = (shape.h.input, shape.w.input);
    let [oh, ow] = shape.output();
    let mut output = vec![f32::NEG_INFINITY; shape.planes * oh * ow];
    if oh * ow == 0 {
        return output;
    }
    if shape.tiled() {
        let (kh, kw) = (shape.h.kernel, shape.w.kernel);
        output
            .par_chunks_mut(oh * ow)
            .enumerate()
            .for_each(|(plane, out)| {
                let x = &input[plane * ih * iw..(plane + 1) * ih * iw];
                for r in 0..oh {
                    let out_row = &mut out[r * ow..(r + 1) * ow];
                    for y in r * kh..(r + 1) * kh {
                        let line = &x[y * iw..y * iw + ow * kw];
                        for (o, window) in out_row.iter_mut().zip(line.chunks_exact(kw)) {
                            for &v in window {
                                // NaN propagates, as in PyTorch and burn (max would drop it).
                                *o = if v.is_nan() || o.is_nan() {
                                    f32::NAN
                                } else {
                                    o.max(v)
                                };
                            }
                        }
                    }
                }
            });
    } else {
        let (rows, cols) = (shape.h.windows(oh), shape.w.windows(ow));
        output
            .par_chunks_mut(oh * ow)
            .enumerate()
            .for_each(|(plane, out)| {
                let x = &input[plane * ih * iw..(plane + 1) * ih * iw];
                for (r, row_positions) in rows.iter().enumerate() {
                    for (q, col_positions) in cols.iter().enumerate() {
                        let mut best = f32::NEG_INFINITY;
                        let mut nan = false;
                        for &y in row_positions {
                            let line = &x[y * iw..(y + 1) * iw];
                            for &x in col_positions {
                                let v = line[x];
                                nan |= v.is_nan();
                                best = best.max(v);
                            }
                        }
                        // NaN propagates, as in PyTorch and burn.
                        out[r * ow + q] = if nan { f32::NAN } else { best };
                    }
                }
            });
    }
    output
}

/// The running maximum of one pooling window and where it is, fed value by value in scan
/// order. Both indexed kernels share this step, so they agree on ties (the first maximum wins)
/// and on NaN (the first NaN wins, and ends the scan).
#[derive(Clone, Copy)]
struct WindowMax {
    value: f32,
    /// Position of `value` inside the input plane (`y · width + x`).
    at: usize,
}

impl WindowMax {
    /// Starts a scan at the window's first position, which the scan then offers again (a
    /// no-op unless it is NaN, which ends the scan there).
    #[inline(always)]
    fn first(x: &[f32], pos: usize) -> Self {
        WindowMax {
            value: x[pos],
            at: pos,
        }
    }

    /// Takes `v` at plane position `pos` if it is NaN or larger than the maximum so far.
    /// Returns true at a NaN: nothing later can replace it, so the scan may stop.
    #[inline(always)]
    fn offer(&mut self, v: f32, pos: usize) -> bool {
        if v.is_nan() {
            (self.value, self.at) = (v, pos);
            return true;
        }
        if v > self.value {
            (self.value, self.at) = (v, pos);
        }
        false
    }

    /// The maximum and its position, for the output and index planes.
    fn get(self) -> (f32, u32) {
        (self.value, self.at as u32)
    }
}

/// Max pooling forward that also returns, for each output, the position of its maximum inside
/// its input plane (`y · width + x`; the first maximum in scan order, or the first NaN) — what
/// the backward pass routes the gradient to. A window wholly in the padding points at no
/// position (`u32::MAX`).
pub fn max_pool_with_indices(input: &[f32], shape: PoolShape) -> (Vec<f32>, Vec<u32>) {
    let (ih, iw) = (shape.h.input, shape.w.input);
    let [oh, ow] = shape.output();
    let mut output = vec![f32::NEG_INFINITY; shape.planes * oh * ow];
    let mut indices = vec![u32::MAX; shape.planes * oh * ow];
    if oh * ow == 0 {
        return (output, indices);
    }
    if shape.tiled() {
        let (kh, kw) = (shape.h.kernel, shape.w.kernel);
        output
            .par_chunks_mut(oh * ow)
            .zip(indices.par_chunks_mut(oh * ow))
            .enumerate()
            .for_each(|(plane, (out, idx))| {
                let x = &input[plane * ih * iw..(plane + 1) * ih * iw];
                for r in 0..oh {
                    for q in 0..ow {
                        let mut max = WindowMax::first(x, r * kh * iw + q * kw);
                        'window: for y in r * kh..(r + 1) * kh {
                            let start = y * iw + q * kw;
                            for (pos, &v) in (start..).zip(&x[start..start + kw]) {
                                if max.offer(v, pos) {
                                    break 'window;
                                }
                            }
                        }
                        (out[r * ow + q], idx[r * ow + q]) = max.get();
                    }
                }
            });
        return (output, indices);
    }
    let (rows, cols) = (shape.h.windows(oh), shape.w.windows(ow));
    output
        .par_chunks_mut(oh * ow)
        .zip(indices.par_chunks_mut(oh * ow))
        .enumerate()
        .for_each(|(plane, (out, idx))| {
            let x = &input[plane * ih * iw..(plane + 1) * ih * iw];
            for (r, row_positions) in rows.iter().enumerate() {
                for (q, col_positions) in cols.iter().enumerate() {
                    let (Some(&y0), Some(&x0)) = (row_positions.first(), col_positions.first())
                    else {
                        // Wholly in the padding: keeps -∞ and no position (`u32::MAX`).
                        continue;
                    };
                    let mut max = WindowMax::first(x, y0 * iw + x0);
                    'window: for &y in row_positions {
                        for &x_pos in col_positions {
                            let pos = y * iw + x_pos;
                            if max.offer(x[pos], pos) {
                                break 'window;
                            }
                        }
                    }
                    (out[r * ow + q], idx[r * ow + q]) = max.get();
                }
            }
        });
    (output, indices)
}

/// Max pooling backward: each output's gradient goes to the input position that was its
/// maximum (summed where windows overlap).
pub fn max_pool_backward(grad_output: &[f32], indices: &[u32], shape: PoolShape) -> Vec<f32> {
    let plane_in = shape.h.input * shape.w.input;
    let [oh, ow] = shape.output();
    let plane_out = oh * ow;
    let mut grad = vec![0f32; shape.planes * plane_in];
    if plane_out == 0 || plane_in == 0 {
        return grad;
    }
    grad.par_chunks_mut(plane_in)
        .enumerate()
        .for_each(|(plane, dx)| {
            let range = plane * plane_out..(plane + 1) * plane_out;
            for (&g, &at) in grad_output[range.clone()].iter().zip(&indices[range]) {
                if at != u32::MAX {
                    dx[at as usize] += g;
                }
            }
        });
    grad
}
