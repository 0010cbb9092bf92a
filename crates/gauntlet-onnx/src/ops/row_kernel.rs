//! Row-wise float32 kernels of transformer layers, forward and backward: layer
//! normalization and softmax over rows (GELU, element by element, is in `gelu_kernel`).
//!
//! Each fuses what the graph spells as several operators into one pass over memory, splits
//! its rows (or values) over the rayon pool so every core works, and runs its loops in
//! [`multiversion`] code (AVX-512 where the CPU has it) with the vectorizable
//! [`fast_math`](super::fast_math) functions. The
//! arithmetic is the textbook one (two-pass mean and variance, max-shifted exponentials), so
//! results agree with burn's composed operators to float32 rounding.

use rayon::prelude::*;

use super::fast_math::{exp, multiversion};

/// Values per rayon task: enough to amortize the task, few enough to balance two cores.
pub const GRAIN: usize = 1 << 14;

/// Rows per task for rows of `len` values.
fn rows_per_task(len: usize) -> usize {
    GRAIN.div_ceil(len.max(1)).max(1)
}

/// Independent accumulators of a reduction, so it vectorizes (order: lane by lane).
const LANES: usize = 16;

/// Σ f(i) over `0..n`, accumulated in [`LANES`] lanes.
#[inline(always)]
fn lane_sum(n: usize, f: impl Fn(usize) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let full = n - n % LANES;
    for start in (0..full).step_by(LANES) {
        for (lane, a) in acc.iter_mut().enumerate() {
            *a += f(start + lane);
        }
    }
    let tail: f32 = (full..n).map(&f).sum();
    acc.iter().sum::<f32>() + tail
}

/// Largest value of `x` (−∞ when empty; NaN ignored, as the exponentials carry it).
#[inline(always)]
fn lane_max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = if v > *a { v } else { *a };
        }
    }
    let top = acc
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    chunks
        .remainder()
        .iter()
        .fold(top, |m, &v| if v > m { v } else { m })
}

/// Per-row statistics of a layer normalization: mean and 1/√(variance + ε).
#[derive(Clone, Debug, Default)]
pub struct RowStats {
    /// Mean of each row.
    pub mean: Vec<f32>,
    /// 1/√(variance + ε) of each row.
    pub inv_std: Vec<f32>,
}

/// One row of [`layer_norm`]; returns (mean, 1/std).
#[inline(always)]
fn layer_norm_row(x: &[f32], gamma: &[f32], beta: &[f32], eps: f32, y: &mut [f32]) -> (f32, f32) {
    let n = x.len();
    let mu = lane_sum(n, |i| x[i]) / n as f32;
    let var = lane_sum(n, |i| (x[i] - mu) * (x[i] - mu)) / n as f32;
    let inv = 1.0 / (var + eps).sqrt();
    for (((y, x), g), b) in y.iter_mut().zip(x).zip(gamma).zip(beta) {
        *y = (x - mu) * inv * g + b;
    }
    (mu, inv)
}

multiversion! {
    /// Rows of [`layer_norm`] (as many as `mean` has).
    fn layer_norm_task(
        y: &mut [f32],
        x: &[f32],
        mean: &mut [f32],
        inv_std: &mut [f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f32,
    ) {
        let n = gamma.len();
        for (((y, x), m), s) in y
            .chunks_exact_mut(n)
            .zip(x.chunks_exact(n))
            .zip(mean.iter_mut())
            .zip(inv_std.iter_mut())
        {
            (*m, *s) = layer_norm_row(x, gamma, beta, eps, y);
        }
    }
}

/// Layer normalization of the rows of `x` (length `gamma.len()` each):
/// `(x − mean)/√(var + ε)·γ + β`. Returns the output and the rows' statistics.
pub fn layer_norm(x: &[f32], gamma: &[f32], beta: &[f32], eps: f32) -> (Vec<f32>, RowStats) {
    let n = gamma.len();
    let rows = x.len() / n.max(1);
    let mut y = vec![0f32; x.len()];
    let mut mean = vec![0f32; rows];
    let mut inv_std = vec![0f32; rows];
    if n == 0 {
        return (y, RowStats { mean, inv_std });
    }
    let per = rows_per_task(n);
    y.par_chunks_mut(per * n)
        .zip(x.par_chunks(per * n))
        .zip(mean.par_chunks_mut(per).zip(inv_std.par_chunks_mut(per)))
        .for_each(|((y, x), (mean, inv_std))| {
            layer_norm_task(y, x, mean, inv_std, gamma, beta, eps)
        });
    (y, RowStats { mean, inv_std })
}

/// One row of [`layer_norm_backward`]: writes dx, adds to dγ and dβ when given.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn layer_norm_row_backward(
    x: &[f32],
    dy: &[f32],
    gamma: &[f32],
    (mu, inv): (f32, f32),
    g: &mut [f32],
    dx: &mut [f32],
    params: Option<(&mut [f32], &mut [f32])>,
) {
    // g = dy·γ, x̂ = (x − μ)·inv; dx = inv·(g − mean(g) − x̂·mean(g·x̂)).
    let n = x.len();
    for ((g, dy), gm) in g.iter_mut().zip(dy).zip(gamma) {
        *g = dy * gm;
    }
    let a = lane_sum(n, |i| g[i]) / n as f32;
    let b = lane_sum(n, |i| g[i] * (x[i] - mu) * inv) / n as f32;
    for ((dx, g), x) in dx.iter_mut().zip(&*g).zip(x) {
        *dx = inv * (g - a - (x - mu) * inv * b);
    }
    if let Some((dgamma, dbeta)) = params {
        for (((dg, db), dy), x) in dgamma.iter_mut().zip(dbeta).zip(dy).zip(x) {
            *dg += dy * (x - mu) * inv;
            *db += dy;
        }
    }
}

multiversion! {
    /// Rows of [`layer_norm_backward`]; dγ and dβ are accumulated when not empty.
    fn layer_norm_backward_task(
        dx: &mut [f32],
        x: &[f32],
        dy: &[f32],
        mean: &[f32],
        inv_std: &[f32],
        gamma: &[f32],
        g: &mut [f32],
        params: (&mut [f32], &mut [f32]),
    ) {
        let n = gamma.len();
        let (dgamma, dbeta) = params;
        let want = !dgamma.is_empty();
        for ((((dx, x), dy), &mu), &inv) in dx
            .chunks_exact_mut(n)
            .zip(x.chunks_exact(n))
            .zip(dy.chunks_exact(n))
            .zip(mean)
            .zip(inv_std)
        {
            let params = want.then_some((&mut dgamma[..], &mut dbeta[..]));
            layer_norm_row_backward(x, dy, gamma, (mu, inv), g, dx, params);
        }
    }
}

/// Gradients of [`layer_norm`] from the output gradient `dy`: for the input, and summed over
/// rows for γ and β (`want_params`; empty otherwise).
pub fn layer_norm_backward(
    x: &[f32],
    gamma: &[f32],
    stats: &RowStats,
    dy: &[f32],
    want_params: bool,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let n = gamma.len();
    let mut dx = vec![0f32; x.len()];
    if n == 0 {
        return (dx, Vec::new(), Vec::new());
    }
    let per = rows_per_task(n);
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(per * n)
        .zip(x.par_chunks(per * n).zip(dy.par_chunks(per * n)))
        .zip(
            stats
                .mean
                .par_chunks(per)
                .zip(stats.inv_std.par_chunks(per)),
        )
        .map(|((dx, (x, dy)), (mean, inv_std))| {
            let width = if want_params { n } else { 0 };
            let (mut dgamma, mut dbeta) = (vec![0f32; width], vec![0f32; width]);
            let mut g = vec![0f32; n];
            let params = (&mut dgamma[..], &mut dbeta[..]);
            layer_norm_backward_task(dx, x, dy, mean, inv_std, gamma, &mut g, params);
            (dgamma, dbeta)
        })
        .collect();
    let (mut dgamma, mut dbeta) = (Vec::new(), Vec::new());
    if want_params {
        (dgamma, dbeta) = (vec![0f32; n], vec![0f32; n]);
        for (pg, pb) in partials {
            dgamma.iter_mut().zip(pg).for_each(|(a, b)| *a += b);
            dbeta.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
        }
    }
    (dx, dgamma, dbeta)
}

/// A tensor seen as `[outer, len, inner]` around the softmax axis (of length `len`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SoftmaxShape {
    /// Product of the axes before the softmax axis.
    pub outer: usize,
    /// Length of the softmax axis.
    pub len: usize,
    /// Product of the axes after it (1 for the last axis).
    pub inner: usize,
}

/// Softmax (or log-softmax) of one contiguous row.
#[inline(always)]
fn softmax_row(x: &[f32], y: &mut [f32], log: bool) {
    let top = lane_max(x);
    for (y, &x) in y.iter_mut().zip(x) {
        *y = exp(x - top);
    }
    let sum = lane_sum(y.len(), |i| y[i]);
    if log {
        let shift = top + sum.ln();
        y.iter_mut().zip(x).for_each(|(y, &x)| *y = x - shift);
    } else {
        let inv = 1.0 / sum;
        y.iter_mut().for_each(|y| *y *= inv);
    }
}

/// Softmax of one `[len, inner]` block along its first axis: `inner` interleaved rows.
#[inline(always)]
fn softmax_strided(x: &[f32], y: &mut [f32], inner: usize, log: bool, acc: &mut [f32]) {
    let (top, sum) = acc.split_at_mut(inner);
    top.fill(f32::NEG_INFINITY);
    for row in x.chunks_exact(inner) {
        top.iter_mut()
            .zip(row)
            .for_each(|(t, &v)| *t = if v > *t { v } else { *t });
    }
    sum.fill(0.0);
    for (yr, xr) in y.chunks_exact_mut(inner).zip(x.chunks_exact(inner)) {
        for (((y, &x), t), a) in yr.iter_mut().zip(xr).zip(&*top).zip(&mut *sum) {
            *y = exp(x - t);
            *a += *y;
        }
    }
    for (yr, xr) in y.chunks_exact_mut(inner).zip(x.chunks_exact(inner)) {
        for (((y, &x), t), a) in yr.iter_mut().zip(xr).zip(&*top).zip(&*sum) {
            *y = if log { x - t - a.ln() } else { *y / a };
        }
    }
}

multiversion! {
    /// Blocks of `block = len·inner` values of [`softmax`].
    fn softmax_task(x: &[f32], y: &mut [f32], block: usize, inner: usize, log: bool, acc: &mut [f32]) {
        for (y, x) in y.chunks_exact_mut(block).zip(x.chunks_exact(block)) {
            if inner == 1 {
                softmax_row(x, y, log);
            } else {
                softmax_strided(x, y, inner, log, acc);
            }
        }
    }
}

/// Softmax along the middle axis of `[outer, len, inner]` values (log-softmax when `log`).
pub fn softmax(x: &[f32], shape: SoftmaxShape, log: bool) -> Vec<f32> {
    let SoftmaxShape { len, inner, .. } = shape;
    let block = len * inner;
    let mut y = vec![0f32; x.len()];
    if block == 0 {
        return y;
    }
    let per = rows_per_task(block);
    y.par_chunks_mut(per * block)
        .zip(x.par_chunks(per * block))
        .for_each(|(y, x)| {
            let mut acc = vec![0f32; 2 * inner];
            softmax_task(x, y, block, inner, log, &mut acc);
        });
    y
}

/// One `[len, inner]` block of [`softmax_backward`].
#[inline(always)]
fn softmax_block_backward(
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    inner: usize,
    log: bool,
    acc: &mut [f32],
) {
    if inner == 1 {
        let s = if log {
            lane_sum(y.len(), |i| dy[i])
        } else {
            lane_sum(y.len(), |i| dy[i] * y[i])
        };
        for ((dx, &y), &d) in dx.iter_mut().zip(y).zip(dy) {
            *dx = if log { d - exp(y) * s } else { y * (d - s) };
        }
        return;
    }
    acc.fill(0.0);
    for (yr, dr) in y.chunks_exact(inner).zip(dy.chunks_exact(inner)) {
        for ((a, &y), &d) in acc.iter_mut().zip(yr).zip(dr) {
            *a += if log { d } else { d * y };
        }
    }
    for ((xr, yr), dr) in dx
        .chunks_exact_mut(inner)
        .zip(y.chunks_exact(inner))
        .zip(dy.chunks_exact(inner))
    {
        for (((dx, &y), &d), a) in xr.iter_mut().zip(yr).zip(dr).zip(&*acc) {
            *dx = if log { d - exp(y) * a } else { y * (d - a) };
        }
    }
}

multiversion! {
    /// Blocks of `block = len·inner` values of [`softmax_backward`].
    fn softmax_backward_task(
        y: &[f32],
        dy: &[f32],
        dx: &mut [f32],
        block: usize,
        inner: usize,
        log: bool,
        acc: &mut [f32],
    ) {
        for ((dx, y), dy) in dx
            .chunks_exact_mut(block)
            .zip(y.chunks_exact(block))
            .zip(dy.chunks_exact(block))
        {
            softmax_block_backward(y, dy, dx, inner, log, acc);
        }
    }
}

/// Input gradient of [`softmax`] from its output `y` and the output gradient `dy`:
/// `y·(dy − Σ dy·y)` for softmax, `dy − exp(y)·Σ dy` for log-softmax.
pub fn softmax_backward(y: &[f32], dy: &[f32], shape: SoftmaxShape, log: bool) -> Vec<f32> {
    let SoftmaxShape { len, inner, .. } = shape;
    let block = len * inner;
    let mut dx = vec![0f32; y.len()];
    if block == 0 {
        return dx;
    }
    let per = rows_per_task(block);
    dx.par_chunks_mut(per * block)
        .zip(y.par_chunks(per * block).zip(dy.par_chunks(per * block)))
        .for_each(|(dx, (y, dy))| {
            let mut acc = vec![0f32; inner];
            softmax_backward_task(y, dy, dx, block, inner, log, &mut acc);
        });
    dx
}
