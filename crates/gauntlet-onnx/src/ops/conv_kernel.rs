//! 2-D convolution on the host, forward and backward: per sample and channel group, im2col and
//! one matrix product. 1×1 stride-1 kernels skip im2col (a sample's input already is its column
//! matrix); depthwise convolutions go to [`super::depthwise`], which needs no products at all.
//!
//! burn-flex's convolution (NHWC copies, 512-pixel tiles, a scatter of every tile's result) and
//! above all its input gradient (a general `conv_transpose`) cost more than the arithmetic.
//! These kernels work on plain row-major slices; [`super::host`] wires them into burn, with a
//! backward pass, for tensors on the CPU backend.
//!
//! Threads: with at least two samples per thread, each sample is one task (its column matrix
//! in the thread's reused scratch space). With fewer, the column matrices of all samples are
//! built first, one task per input channel plane, and the products are then split across
//! samples, groups and blocks of output rows, so small batches keep every core busy too.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv_direct;
use super::conv_shape::ConvShape;
use super::depthwise;
use super::im2col::Columns;
use super::matmul::{add_product, build, fill, product, set_product, with_scratch, Operand};

/// The sizes of one convolution's per-group products.
struct Plan {
    shape: ConvShape,
    cols: Columns,
    /// Rows of a group's column matrix (`channels / groups · kh · kw`).
    k: usize,
    /// Output positions (`oh · ow`), the column matrix's columns.
    p: usize,
    groups: usize,
    /// Output channels per group.
    og: usize,
    /// Input values per group of one sample (`channels / groups · h · w`).
    group_len: usize,
}

impl Plan {
    fn new(shape: ConvShape) -> Self {
        let cols = Columns::new(shape);
        let (k, p) = cols.dims();
        let [_, _, h, w] = shape.input;
        Plan {
            shape,
            cols,
            k,
            p,
            groups: shape.groups,
            og: shape.group_out(),
            group_len: shape.group_in() * h * w,
        }
    }

    fn samples(&self) -> usize {
        self.shape.input[0]
    }

    /// Enough samples to give every thread two or more.
    fn per_sample_tasks(&self) -> bool {
        self.samples() >= 2 * rayon::current_num_threads()
    }

    /// Scratch values for one column matrix (none for 1×1 stride-1 kernels).
    fn col_len(&self) -> usize {
        if self.shape.is_pointwise() {
            0
        } else {
            self.k * self.p
        }
    }

    /// Filters of group `g`: `og × k`, row-major.
    fn filters<'a>(&self, weight: &'a [f32], g: usize) -> &'a [f32] {
        &weight[g * self.og * self.k..(g + 1) * self.og * self.k]
    }

    /// Column matrix (`k × p`) of group `g` of sample `s`: the input itself for 1×1 stride-1
    /// kernels, otherwise gathered into `col`.
    fn columns<'a>(&self, x: &'a [f32], s: usize, g: usize, col: &'a mut [f32]) -> &'a [f32] {
        let at = (s * self.groups + g) * self.group_len;
        let group = &x[at..at + self.group_len];
        if self.shape.is_pointwise() {
            group
        } else {
            self.cols.gather(group, col);
            col
        }
    }

    /// Rows per task when the products of `units` (sample, group) pairs of `rows` rows each
    /// are split so that every thread gets a few tasks.
    fn row_block(&self, units: usize, rows: usize) -> usize {
        let want = 4 * rayon::current_num_threads();
        let blocks = want.div_ceil(units.max(1));
        rows.div_ceil(blocks)
            .next_multiple_of(16)
            .clamp(1, rows.max(1))
    }
}

/// Adds `bias[r]` to row `r` of `out` (rows of `p` values).
fn add_bias(out: &mut [f32], bias: &[f32], p: usize) {
    for (row, &b) in out.chunks_mut(p).zip(bias) {
        if b != 0.0 {
            row.iter_mut().for_each(|o| *o += b);
        }
    }
}

/// Whether [`forward`] and [`input_grad`] run the direct kernels ([`conv_direct`]): a shape
/// they handle, with enough samples for a task per sample (with fewer, the products of
/// im2col split across the threads instead).
pub(super) fn direct_serves(shape: ConvShape) -> bool {
    conv_direct::handles(shape) && Plan::new(shape).per_sample_tasks()
}

/// Convolution forward: `y = w ⊛ x + b`, row-major `[n, c_out, oh, ow]`.
pub fn forward(x: &[f32], weight: &[f32], bias: &[f32], shape: ConvShape) -> Vec<f32> {
    if shape.is_depthwise() {
        return depthwise::forward(x, weight, bias, shape);
    }
    if direct_serves(shape) {
        return conv_direct::forward(x, weight, bias, shape);
    }
    forward_im2col(x, weight, bias, shape)
}

/// [`forward`] through im2col and one product per sample and group.
pub(super) fn forward_im2col(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    shape: ConvShape,
) -> Vec<f32> {
    let plan = Plan::new(shape);
    let (k, p, og) = (plan.k, plan.p, plan.og);
    let len = plan.samples() * shape.out_channels * p;
    if len == 0 {
        return Vec::new();
    }
    let init = |y: &mut [MaybeUninit<f32>]| {
        if plan.per_sample_tasks() {
            y.par_chunks_mut(shape.out_channels * p)
                .enumerate()
                .for_each(|(s, out)| {
                    with_scratch(plan.col_len(), |col| {
                        for (g, out) in out.chunks_mut(og * p).enumerate() {
                            let rhs = Operand::rows(plan.columns(x, s, g, col), p);
                            let lhs = Operand::rows(plan.filters(weight, g), k);
                            let out = product(out, [og, p, k], lhs, rhs);
                            add_bias(out, &bias[g * og..], p);
                        }
                    })
                });
            return;
        }
        let all = if shape.is_pointwise() {
            0
        } else {
            plan.samples() * plan.groups * k * p
        };
        with_scratch(all, |all| {
            let per_plane = plan.cols.per_channel();
            let plane = shape.input[2] * shape.input[3];
            all.par_chunks_mut(per_plane.max(1))
                .enumerate()
                .for_each(|(t, col)| {
                    plan.cols
                        .gather_channel(&x[t * plane..(t + 1) * plane], col)
                });
            let block = plan.row_block(y.len() / (og * p), og);
            y.par_chunks_mut(og * p).enumerate().for_each(|(sg, out)| {
                let g = sg % plan.groups;
                let rhs = if shape.is_pointwise() {
                    &x[sg * plan.group_len..(sg + 1) * plan.group_len]
                } else {
                    &all[sg * k * p..(sg + 1) * k * p]
                };
                let filters = plan.filters(weight, g);
                out.par_chunks_mut(block * p)
                    .enumerate()
                    .for_each(|(b, out)| {
                        let rows = out.len() / p;
                        let lhs = Operand::rows(&filters[b * block * k..], k);
                        let out = product(out, [rows, p, k], lhs, Operand::rows(rhs, p));
                        add_bias(out, &bias[g * og + b * block..], p);
                    });
            });
        })
    };
    // SAFETY: the chunks partition the output (samples × groups × row blocks), and `product`
    // writes every element of each.
    unsafe { build(len, init) }
}

/// Gradient with respect to the input: `dx = col2im(wᵀ · dy)` per sample and group (for 1×1
/// stride-1 kernels `wᵀ · dy` is `dx` itself).
pub fn input_grad(weight: &[f32], dy: &[f32], shape: ConvShape) -> Vec<f32> {
    if shape.is_depthwise() {
        return depthwise::input_grad(weight, dy, shape);
    }
    if direct_serves(shape) {
        return conv_direct::input_grad(weight, dy, shape);
    }
    input_grad_im2col(weight, dy, shape)
}

/// [`input_grad`] through one product per sample and group, then col2im.
pub(super) fn input_grad_im2col(weight: &[f32], dy: &[f32], shape: ConvShape) -> Vec<f32> {
    let plan = Plan::new(shape);
    let (k, p, og) = (plan.k, plan.p, plan.og);
    let pointwise = shape.is_pointwise();
    let len = plan.samples() * shape.input[1] * shape.input[2] * shape.input[3];
    if len == 0 {
        return Vec::new();
    }
    // wᵀ (k × og) is the filters' transpose; from row r on, it starts at filters[r].
    let dy_of = |sg: usize| Operand::rows(&dy[sg * og * p..(sg + 1) * og * p], p);
    let init = |dx: &mut [MaybeUninit<f32>]| {
        if plan.per_sample_tasks() || p == 0 {
            dx.par_chunks_mut(plan.groups * plan.group_len)
                .enumerate()
                .for_each(|(s, dxs)| {
                    with_scratch(plan.col_len(), |col| {
                        for (g, dxg) in dxs.chunks_mut(plan.group_len).enumerate() {
                            let (filters, sg) = (plan.filters(weight, g), s * plan.groups + g);
                            if pointwise {
                                product(
                                    dxg,
                                    [k, p, og],
                                    Operand::transposed(filters, k),
                                    dy_of(sg),
                                );
                            } else {
                                set_product(
                                    col,
                                    [k, p, og],
                                    Operand::transposed(filters, k),
                                    dy_of(sg),
                                );
                                plan.cols.scatter_add(col, fill(dxg, 0.0));
                            }
                        }
                    })
                });
            return;
        }
        // Few samples: the products first, split across (sample, group) and row blocks.
        let units = len / plan.group_len;
        let block = plan.row_block(units, k);
        let products = |out: &mut [MaybeUninit<f32>], sg: usize| {
            let filters = plan.filters(weight, sg % plan.groups);
            out.par_chunks_mut(block * p)
                .enumerate()
                .for_each(|(b, out)| {
                    let rows = out.len() / p;
                    product(
                        out,
                        [rows, p, og],
                        Operand::transposed(&filters[b * block..], k),
                        dy_of(sg),
                    );
                });
        };
        if pointwise {
            dx.par_chunks_mut(plan.group_len)
                .enumerate()
                .for_each(|(sg, dxg)| products(dxg, sg));
            return;
        }
        with_scratch(units * k * p, |all| {
            // SAFETY: f32 → MaybeUninit<f32> only forgets that the values are initialized.
            let all_uninit = unsafe { &mut *(all as *mut [f32] as *mut [MaybeUninit<f32>]) };
            all_uninit
                .par_chunks_mut(k * p)
                .enumerate()
                .for_each(|(sg, col)| products(col, sg));
            let plane = shape.input[2] * shape.input[3];
            let per_plane = plan.cols.per_channel();
            dx.par_chunks_mut(plane).enumerate().for_each(|(t, dxc)| {
                let col = &all[t * per_plane..(t + 1) * per_plane];
                plan.cols.scatter_add_channel(col, fill(dxc, 0.0));
            });
        })
    };
    // SAFETY: the chunks partition the gradient (samples × groups, or channel planes), and
    // `product` or `fill` writes every element of each.
    unsafe { build(len, init) }
}

/// Gradient with respect to the weights: `dw_g = Σ_samples dy_g · col_gᵀ` per group.
pub fn weight_grad(x: &[f32], dy: &[f32], shape: ConvShape) -> Vec<f32> {
    if shape.is_depthwise() {
        return depthwise::weight_grad(x, dy, shape);
    }
    let plan = Plan::new(shape);
    let (k, p, og) = (plan.k, plan.p, plan.og);
    let n = plan.samples();
    let per_task = n.div_ceil(rayon::current_num_threads().max(1)).max(1);
    // One partial sum per task, added at the end (the sum over samples is the reduction).
    let partials: Vec<Vec<f32>> = (0..n.div_ceil(per_task))
        .into_par_iter()
        .map(|task| {
            let mut dw = vec![0f32; shape.out_channels * k];
            with_scratch(plan.col_len(), |col| {
                for s in task * per_task..((task + 1) * per_task).min(n) {
                    for g in 0..plan.groups {
                        let sg = s * plan.groups + g;
                        let cols = Operand::transposed(plan.columns(x, s, g, col), p);
                        let dyg = Operand::rows(&dy[sg * og * p..(sg + 1) * og * p], p);
                        add_product(&mut dw[g * og * k..(g + 1) * og * k], [og, k, p], dyg, cols);
                    }
                }
            });
            dw
        })
        .collect();
    let mut dw = vec![0f32; shape.out_channels * k];
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
