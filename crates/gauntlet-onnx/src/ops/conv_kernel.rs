//! 2-D convolution on the host: im2col per sample and one matrix product, forward and backward.
//!
//! burn-flex's convolution (NHWC copies, 512-pixel tiles, a scatter of every tile's result) and
//! above all its input gradient (a general `conv_transpose`) cost more than the arithmetic on
//! the small CNNs attacks run thousands of times. These kernels work on plain row-major slices;
//! [`super::host`] wires them into burn, with a backward pass, for tensors on the CPU backend.

use rayon::prelude::*;

/// Window of a convolution, per spatial axis (height, width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvWindow {
    /// Step between consecutive windows; ≥ 1.
    pub stride: [usize; 2],
    /// Zeros added (before, after) the input.
    pub padding: [(usize, usize); 2],
    /// Spacing between kernel taps; 1 is a contiguous kernel.
    pub dilation: [usize; 2],
}

/// Shapes of one convolution: input `[batch, channels, height, width]`, weights
/// `[out_channels, channels, kernel[0], kernel[1]]`, one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    /// `[batch, channels, height, width]` of the input.
    pub input: [usize; 4],
    /// Output channels (filters).
    pub out_channels: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride, padding and dilation.
    pub window: ConvWindow,
}

fn output_len(
    input: usize,
    kernel: usize,
    stride: usize,
    (begin, end): (usize, usize),
    dilation: usize,
) -> usize {
    let span = dilation * (kernel - 1) + 1;
    let padded = input + begin + end;
    if padded < span || stride == 0 {
        0
    } else {
        (padded - span) / stride + 1
    }
}

impl ConvShape {
    /// Output `[batch, out_channels, out_height, out_width]`.
    pub fn output(&self) -> [usize; 4] {
        let [n, _, h, w] = self.input;
        let win = &self.window;
        [
            n,
            self.out_channels,
            output_len(
                h,
                self.kernel[0],
                win.stride[0],
                win.padding[0],
                win.dilation[0],
            ),
            output_len(
                w,
                self.kernel[1],
                win.stride[1],
                win.padding[1],
                win.dilation[1],
            ),
        ]
    }

    /// Whether the shapes describe a computable convolution (no zero kernel or stride).
    pub fn is_valid(&self) -> bool {
        !self.kernel.contains(&0) && !self.window.stride.contains(&0)
    }
}

/// The im2col mapping of one sample: row `(c, i, j)` of the column matrix holds, for each
/// output position `(oy, ox)`, the input pixel under kernel tap `(i, j)` (zero in the padding).
struct Columns {
    shape: ConvShape,
    out: [usize; 2],
    /// For kernel column j: the output columns whose input column lies inside the image, and
    /// the input column of the first of them (so rows copy without per-element bounds checks).
    ranges: Vec<(usize, usize, usize)>,
}

impl Columns {
    fn new(shape: ConvShape) -> Self {
        let [_, _, oh, ow] = shape.output();
        let w = shape.input[3];
        let win = shape.window;
        let ranges = (0..shape.kernel[1])
            .map(|j| {
                let offset = j * win.dilation[1];
                let pad = win.padding[1].0;
                let stride = win.stride[1];
                // ox is valid when 0 <= ox·stride + offset − pad < w.
                let lo = if pad > offset {
                    (pad - offset).div_ceil(stride)
                } else {
                    0
                };
                let hi = if w + pad > offset {
                    ((w + pad - offset - 1) / stride + 1).min(ow)
                } else {
                    0
                };
                let lo = lo.min(hi);
                (lo, hi, (lo * stride + offset).saturating_sub(pad))
            })
            .collect();
        Columns {
            shape,
            out: [oh, ow],
            ranges,
        }
    }

    /// Rows of the column matrix (`channels · kh · kw`) and its columns (`oh · ow`).
    fn dims(&self) -> (usize, usize) {
        let [_, c, _, _] = self.shape.input;
        (
            c * self.shape.kernel[0] * self.shape.kernel[1],
            self.out[0] * self.out[1],
        )
    }

    /// Visits every (column-matrix row segment, input row segment) pair of one sample: `f(row,
    /// Some((y, first, lo, hi)))` for the part of output row `oy` that reads input row `y`
    /// starting at column `first`, `f(row, None)` for rows wholly in the padding.
    fn for_each_segment(
        &self,
        mut f: impl FnMut(usize, usize, Option<(usize, usize, usize, usize)>),
    ) {
        let [_, c, h, _] = self.shape.input;
        let [kh, _] = self.shape.kernel;
        let win = self.shape.window;
        let [oh, ow] = self.out;
        for ch in 0..c {
            for i in 0..kh {
                for (j, &(lo, hi, first)) in self.ranges.iter().enumerate() {
                    let row = (ch * kh + i) * self.ranges.len() + j;
                    for oy in 0..oh {
                        let y = (oy * win.stride[0] + i * win.dilation[0]) as isize
                            - win.padding[0].0 as isize;
                        let start = row * oh * ow + oy * ow;
                        if y < 0 || y as usize >= h || lo == hi {
                            f(start, ch, None);
                        } else {
                            f(start, ch, Some((y as usize, first, lo, hi)));
                        }
                    }
                }
            }
        }
    }

    /// Fills `col` (`rows × cols`) from one sample's `[channels, height, width]` values.
    fn gather(&self, sample: &[f32], col: &mut [f32]) {
        let [_, _, h, w] = self.shape.input;
        let ow = self.out[1];
        let stride = self.shape.window.stride[1];
        self.for_each_segment(|start, ch, segment| {
            let dst = &mut col[start..start + ow];
            let Some((y, first, lo, hi)) = segment else {
                dst.fill(0.0);
                return;
            };
            let line = &sample[(ch * h + y) * w..(ch * h + y + 1) * w];
            dst[..lo].fill(0.0);
            dst[hi..].fill(0.0);
            if stride == 1 {
                dst[lo..hi].copy_from_slice(&line[first..first + (hi - lo)]);
            } else {
                for (d, &v) in dst[lo..hi]
                    .iter_mut()
                    .zip(line[first..].iter().step_by(stride))
                {
                    *d = v;
                }
            }
        });
    }

    /// Adds `col` back onto one sample's `[channels, height, width]` gradient: the adjoint of
    /// [`Columns::gather`].
    fn scatter_add(&self, col: &[f32], sample: &mut [f32]) {
        let [_, _, h, w] = self.shape.input;
        let stride = self.shape.window.stride[1];
        self.for_each_segment(|start, ch, segment| {
            let Some((y, first, lo, hi)) = segment else {
                return;
            };
            let src = &col[start + lo..start + hi];
            let line = &mut sample[(ch * h + y) * w..(ch * h + y + 1) * w];
            if stride == 1 {
                for (d, &v) in line[first..first + (hi - lo)].iter_mut().zip(src) {
                    *d += v;
                }
            } else {
                for (d, &v) in line[first..].iter_mut().step_by(stride).zip(src) {
                    *d += v;
                }
            }
        });
    }
}

/// `dst (m×n) = [dst +] lhs (m×k) · rhs (k×n)`, each operand given by its (row, column) strides.
// gemm's own argument list: three operands with their strides; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
fn matmul(
    dst: &mut [f32],
    [m, n, k]: [usize; 3],
    lhs: &[f32],
    lhs_strides: [usize; 2],
    rhs: &[f32],
    rhs_strides: [usize; 2],
    accumulate: bool,
    parallel: bool,
) {
    let end = |[rs, cs]: [usize; 2], rows: usize, cols: usize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    };
    assert!(
        dst.len() >= m * n
            && lhs.len() >= end(lhs_strides, m, k)
            && rhs.len() >= end(rhs_strides, k, n)
    );
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the assertion above keeps every index gemm touches inside the three slices; dst
    // is row-major m×n and does not alias the operands (it is a distinct &mut).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_strides[1] as isize,
            lhs_strides[0] as isize,
            rhs.as_ptr(),
            rhs_strides[1] as isize,
            rhs_strides[0] as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            if parallel {
                gemm::Parallelism::Rayon(0)
            } else {
                gemm::Parallelism::None
            },
        );
    }
}

/// Runs `work(sample, out_chunk, col_scratch)` for every sample: one task per sample when there
/// are enough of them, otherwise in order with `parallel = true` for the products inside.
fn per_sample(
    n: usize,
    out: &mut [f32],
    chunk: usize,
    scratch: usize,
    work: impl Fn(usize, &mut [f32], &mut [f32], bool) + Sync,
) {
    if chunk == 0 {
        return;
    }
    if n >= 2 * rayon::current_num_threads() {
        out.par_chunks_mut(chunk).enumerate().for_each_init(
            || vec![0f32; scratch],
            |col, (s, out)| work(s, out, col, false),
        );
    } else {
        let mut col = vec![0f32; scratch];
        for (s, out) in out.chunks_mut(chunk).enumerate() {
            work(s, out, &mut col, true);
        }
    }
}

/// Convolution forward: `y = w ⊛ x + b`, row-major `[n, c_out, oh, ow]`.
pub fn forward(x: &[f32], weight: &[f32], bias: &[f32], shape: ConvShape) -> Vec<f32> {
    let cols = Columns::new(shape);
    let (k, p) = cols.dims();
    let [n, c, h, w] = shape.input;
    let c_out = shape.out_channels;
    let mut y = vec![0f32; n * c_out * p];
    per_sample(n, &mut y, c_out * p, k * p, |s, out, col, parallel| {
        cols.gather(&x[s * c * h * w..(s + 1) * c * h * w], col);
        matmul(
            out,
            [c_out, p, k],
            weight,
            [k, 1],
            col,
            [p, 1],
            false,
            parallel,
        );
        for (row, &b) in out.chunks_mut(p.max(1)).zip(bias) {
            row.iter_mut().for_each(|o| *o += b);
        }
    });
    y
}

/// Gradient with respect to the input: `dx = col2im(wᵀ · dy)` per sample.
pub fn input_grad(weight: &[f32], dy: &[f32], shape: ConvShape) -> Vec<f32> {
    let cols = Columns::new(shape);
    let (k, p) = cols.dims();
    let [n, c, h, w] = shape.input;
    let c_out = shape.out_channels;
    let mut dx = vec![0f32; n * c * h * w];
    per_sample(n, &mut dx, c * h * w, k * p, |s, out, col, parallel| {
        // wᵀ is k × c_out: element (kk, co) = weight[co·k + kk].
        matmul(
            col,
            [k, p, c_out],
            weight,
            [1, k],
            &dy[s * c_out * p..(s + 1) * c_out * p],
            [p, 1],
            false,
            parallel,
        );
        cols.scatter_add(col, out);
    });
    dx
}

/// Gradient with respect to the weights: `dw = Σ_samples dy · colᵀ`.
pub fn weight_grad(x: &[f32], dy: &[f32], shape: ConvShape) -> Vec<f32> {
    let cols = Columns::new(shape);
    let (k, p) = cols.dims();
    let [n, c, h, w] = shape.input;
    let c_out = shape.out_channels;
    let threads = rayon::current_num_threads().max(1);
    let per_task = n.div_ceil(threads).max(1);
    // One partial sum per task, added at the end (the sum over samples is the reduction).
    let partials: Vec<Vec<f32>> = (0..n.div_ceil(per_task))
        .into_par_iter()
        .map(|task| {
            let mut dw = vec![0f32; c_out * k];
            let mut col = vec![0f32; k * p];
            for s in task * per_task..((task + 1) * per_task).min(n) {
                cols.gather(&x[s * c * h * w..(s + 1) * c * h * w], &mut col);
                // colᵀ is p × k: element (pp, kk) = col[kk·p + pp].
                matmul(
                    &mut dw,
                    [c_out, k, p],
                    &dy[s * c_out * p..(s + 1) * c_out * p],
                    [p, 1],
                    &col,
                    [1, p],
                    true,
                    false,
                );
            }
            dw
        })
        .collect();
    let mut dw = vec![0f32; c_out * k];
    for part in partials {
        dw.iter_mut().zip(part).for_each(|(d, v)| *d += v);
    }
    dw
}

/// Gradient with respect to the bias: `db[co] = Σ_{samples, positions} dy`.
pub fn bias_grad(dy: &[f32], shape: ConvShape) -> Vec<f32> {
    let [n, c_out, oh, ow] = shape.output();
    let p = oh * ow;
    let mut db = vec![0f32; c_out];
    for s in 0..n {
        for (co, d) in db.iter_mut().enumerate() {
            *d += dy[(s * c_out + co) * p..(s * c_out + co + 1) * p]
                .iter()
                .sum::<f32>();
        }
    }
    db
}
