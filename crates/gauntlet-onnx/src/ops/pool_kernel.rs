//! 2-D max pooling on the host, forward (with or without argmax indices) and backward.
//!
//! burn-flex's max-pool kernel re-derives each window's valid range per output element; on an
//! MNIST CNN it took more time than both convolutions. Here window ranges are computed once per
//! axis and each channel plane is one rayon task; forward-only passes skip the indices.
//! [`super::host`] wires these kernels into burn.

use rayon::prelude::*;

use super::matmul::with_scratch;
use super::simd;

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
    if let Some(planes) = TiledPlanes::of(&shape) {
        tiled_max_pool(&planes, input, shape, &mut output);
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

/// The larger of two values, a NaN winning (PyTorch and burn propagate NaN; `f32::max` would
/// drop it). Branch-free, so loops over rows vectorize.
#[inline(always)]
fn nan_max(a: f32, b: f32) -> f32 {
    if b > a || b.is_nan() {
        b
    } else {
        a
    }
}

/// The maximum over the `kh` input rows of each output row, element by element (contiguous,
/// vectorized), into `acc` (`ow · kw` values): what is left is a maximum over each run of `kw`.
#[inline(always)]
fn rows_max(x: &[f32], iw: usize, r: usize, kh: usize, acc: &mut [f32]) {
    let span = acc.len();
    let first = r * kh * iw;
    let row = &x[first..first + span];
    if kh == 1 {
        acc.copy_from_slice(row);
        return;
    }
    // The first two rows straight into `acc`: copying the first row there and reading it
    // back at once stalled on store forwarding (the copy's stores are not the loads' width).
    for ((a, &u), &v) in acc
        .iter_mut()
        .zip(row)
        .zip(&x[first + iw..first + iw + span])
    {
        *a = nan_max(u, v);
    }
    for y in r * kh + 2..(r + 1) * kh {
        for (a, &v) in acc.iter_mut().zip(&x[y * iw..y * iw + span]) {
            *a = nan_max(*a, v);
        }
    }
}

/// Whole planes of [`tiled_max_pool`] (`x`: `[planes, ih, iw]`, `out`: `[planes, oh, ow]`):
/// first each output row's maxima over its `kh` input rows into `acc` (`out.len() · kw`
/// values), then the maxima of the runs of `kw` over all of them in one pass. (Per output row,
/// the second step is a loop shorter than one vector on small planes — 12 and 4 outputs in
/// the demo CNN — and ran scalar.)
#[inline(always)]
fn max_plane<const KW: usize>(
    x: &[f32],
    [ih, iw]: [usize; 2],
    [kh, kw]: [usize; 2],
    out: &mut [f32],
    acc: &mut [f32],
) {
    let kw = if KW == 0 { kw } else { KW };
    let (oh, ow) = (ih / kh, iw / kw);
    let span = ow * kw;
    let mut rows = acc.chunks_exact_mut(span);
    for x in x.chunks_exact(ih * iw) {
        for r in 0..oh {
            rows_max(
                x,
                iw,
                r,
                kh,
                rows.next().expect("acc holds every output row"),
            );
        }
    }
    for (o, run) in out.iter_mut().zip(acc.chunks_exact(kw)) {
        *o = run[1..].iter().fold(run[0], |m, &v| nan_max(m, v));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn max_plane_avx512<const KW: usize>(
    x: &[f32],
    input: [usize; 2],
    kernel: [usize; 2],
    out: &mut [f32],
    acc: &mut [f32],
) {
    max_plane::<KW>(x, input, kernel, out, acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn max_plane_avx2<const KW: usize>(
    x: &[f32],
    input: [usize; 2],
    kernel: [usize; 2],
    out: &mut [f32],
    acc: &mut [f32],
) {
    max_plane::<KW>(x, input, kernel, out, acc)
}

type MaxPlane = fn(&[f32], [usize; 2], [usize; 2], &mut [f32], &mut [f32]);

/// [`max_plane`] compiled for the widest vectors this CPU has (the crate's baseline is SSE2).
fn max_plane_kernel<const KW: usize>() -> MaxPlane {
    match simd::level() {
        #[cfg(target_arch = "x86_64")]
        simd::Level::Avx512 => |x, input, k, out, acc| {
            // SAFETY: `level` found the instructions this function is compiled for.
            unsafe { max_plane_avx512::<KW>(x, input, k, out, acc) }
        },
        #[cfg(target_arch = "x86_64")]
        simd::Level::Avx2 => |x, input, k, out, acc| {
            // SAFETY: as above.
            unsafe { max_plane_avx2::<KW>(x, input, k, out, acc) }
        },
        _ => max_plane::<KW>,
    }
}

/// Tiled pooling: rows first, then runs of `kw`, a few planes per task.
fn tiled_max_pool(planes: &TiledPlanes, input: &[f32], shape: PoolShape, output: &mut [f32]) {
    let [ih, iw] = planes.input;
    let [oh, ow] = shape.output();
    let group = planes_per_task(shape.planes, ih * iw);
    output
        .par_chunks_mut(group * oh * ow)
        .enumerate()
        .for_each(|(t, out)| {
            let x = &input[t * group * ih * iw..][..out.len() / (oh * ow) * ih * iw];
            with_scratch(planes.scratch_len(out.len()), |acc| planes.max(x, out, acc));
        });
}

/// Planes per task: enough input (16K values) that a task outweighs its scheduling — the demo
/// CNN's second pooling has 64 values per plane — while every thread still gets a few tasks.
fn planes_per_task(planes: usize, plane_len: usize) -> usize {
    let by_size = (16 * 1024 / plane_len.max(1)).max(1);
    by_size
        .min(planes.div_ceil(4 * rayon::current_num_threads()))
        .max(1)
}

/// The running maximum of one pooling window and where it is, fed value by value in scan
/// order: the first maximum wins ties, and the first NaN wins and ends the scan (the tiled
/// kernel's [`pick`] gives the same).
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

/// Of two (value, plane position) candidates, the one the scan-order rule keeps: a NaN over a
/// number, else the larger value, and between equals (or two NaNs) the earlier position. So
/// candidates may be combined in any order and still give what one scan of the window in
/// order gives (the first maximum, or the first NaN). Branch-free.
#[inline(always)]
fn pick(value: f32, at: u32, v: f32, p: u32) -> (f32, u32) {
    let (nan, v_nan) = (value.is_nan(), v.is_nan());
    // `|` and `&`, not `||` and `&&`: no branches, so loops over windows vectorize.
    let beats = (v > value) | (v_nan & !nan);
    let ties = (v == value) | (v_nan & nan);
    if beats | (ties & (p < at)) {
        (v, p)
    } else {
        (value, at)
    }
}

/// Whole planes of [`tiled_max_pool_with_indices`], in [`max_plane`]'s two steps: `values`
/// and `at` hold `out.len() · kw` candidates.
#[inline(always)]
fn max_plane_indexed<const KW: usize>(
    x: &[f32],
    [ih, iw]: [usize; 2],
    [kh, kw]: [usize; 2],
    (out, idx): (&mut [f32], &mut [u32]),
    (values, at): (&mut [f32], &mut [u32]),
) {
    let kw = if KW == 0 { kw } else { KW };
    let (oh, ow) = (ih / kh, iw / kw);
    let span = ow * kw;
    let mut rows = values.chunks_exact_mut(span).zip(at.chunks_exact_mut(span));
    for x in x.chunks_exact(ih * iw) {
        for r in 0..oh {
            let (values, at) = rows.next().expect("the scratch holds every output row");
            let first = r * kh * iw;
            let row = &x[first..first + span];
            if kh == 1 {
                values.copy_from_slice(row);
                for (j, a) in at.iter_mut().enumerate() {
                    *a = (first + j) as u32;
                }
            } else {
                // The first two rows straight into the candidates, as in [`rows_max`].
                let next = &x[first + iw..first + iw + span];
                for (j, ((value, a), (&u, &v))) in values
                    .iter_mut()
                    .zip(at.iter_mut())
                    .zip(row.iter().zip(next))
                    .enumerate()
                {
                    let p = (first + j) as u32;
                    (*value, *a) = pick(u, p, v, p + iw as u32);
                }
            }
            for y in r * kh + 2..(r + 1) * kh {
                let start = y * iw;
                for (j, ((value, a), &v)) in values
                    .iter_mut()
                    .zip(at.iter_mut())
                    .zip(&x[start..start + span])
                    .enumerate()
                {
                    (*value, *a) = pick(*value, *a, v, (start + j) as u32);
                }
            }
        }
    }
    let runs = values.chunks_exact(kw).zip(at.chunks_exact(kw));
    for ((o, i), (run, run_at)) in out.iter_mut().zip(idx.iter_mut()).zip(runs) {
        let mut best = (run[0], run_at[0]);
        for k in 1..kw {
            best = pick(best.0, best.1, run[k], run_at[k]);
        }
        (*o, *i) = best;
    }
}

type IndexedPlane =
    fn(&[f32], [usize; 2], [usize; 2], (&mut [f32], &mut [u32]), (&mut [f32], &mut [u32]));

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn max_plane_indexed_avx512<const KW: usize>(
    x: &[f32],
    input: [usize; 2],
    kernel: [usize; 2],
    out: (&mut [f32], &mut [u32]),
    scratch: (&mut [f32], &mut [u32]),
) {
    max_plane_indexed::<KW>(x, input, kernel, out, scratch)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn max_plane_indexed_avx2<const KW: usize>(
    x: &[f32],
    input: [usize; 2],
    kernel: [usize; 2],
    out: (&mut [f32], &mut [u32]),
    scratch: (&mut [f32], &mut [u32]),
) {
    max_plane_indexed::<KW>(x, input, kernel, out, scratch)
}

/// [`max_plane_indexed`] compiled for the widest vectors this CPU has.
fn max_plane_indexed_kernel<const KW: usize>() -> IndexedPlane {
    match simd::level() {
        #[cfg(target_arch = "x86_64")]
        simd::Level::Avx512 => |x, input, k, out, scratch| {
            // SAFETY: `level` found the instructions this function is compiled for.
            unsafe { max_plane_indexed_avx512::<KW>(x, input, k, out, scratch) }
        },
        #[cfg(target_arch = "x86_64")]
        simd::Level::Avx2 => |x, input, k, out, scratch| {
            // SAFETY: as above.
            unsafe { max_plane_indexed_avx2::<KW>(x, input, k, out, scratch) }
        },
        _ => max_plane_indexed::<KW>,
    }
}

/// [`tiled_max_pool`] with each maximum's position: rows first (vectorized), then runs of
/// `kw`, candidates combined by [`pick`].
fn tiled_max_pool_with_indices(
    planes: &TiledPlanes,
    input: &[f32],
    shape: PoolShape,
    output: &mut [f32],
    indices: &mut [u32],
) {
    let [ih, iw] = planes.input;
    let [oh, ow] = shape.output();
    let group = planes_per_task(shape.planes, ih * iw);
    output
        .par_chunks_mut(group * oh * ow)
        .zip(indices.par_chunks_mut(group * oh * ow))
        .enumerate()
        .for_each_init(
            || planes.indexed_scratch(group * oh * ow),
            |(values, at), (t, (out, idx))| {
                let x = &input[t * group * ih * iw..][..out.len() / (oh * ow) * ih * iw];
                let len = planes.scratch_len(out.len());
                planes.max_indexed(x, (out, idx), (&mut values[..len], &mut at[..len]));
            },
        );
}

/// The kernels of a pooling whose windows tile its input ([`PoolShape::tiled`]), for whole
/// planes: what [`max_pool`] runs a few planes per task, and the fused convolution → pooling
/// ([`super::conv_pool`]) one sample's planes at a time.
pub(super) struct TiledPlanes {
    max: MaxPlane,
    indexed: IndexedPlane,
    input: [usize; 2],
    kernel: [usize; 2],
    /// Candidates per output: `kw`.
    run: usize,
}

impl TiledPlanes {
    /// `None` unless the shape is valid, the windows tile the input and there is an output;
    /// `KW` is fixed for the common runs of 2 and 3 so the compiler knows it.
    pub(super) fn of(shape: &PoolShape) -> Option<Self> {
        // A zero kernel or stride has no output length to compute.
        if !shape.is_valid() {
            return None;
        }
        let [oh, ow] = shape.output();
        if !shape.tiled() || oh * ow == 0 {
            return None;
        }
        let kw = shape.w.kernel;
        let (max, indexed) = match kw {
            2 => (max_plane_kernel::<2>(), max_plane_indexed_kernel::<2>()),
            3 => (max_plane_kernel::<3>(), max_plane_indexed_kernel::<3>()),
            _ => (max_plane_kernel::<0>(), max_plane_indexed_kernel::<0>()),
        };
        Some(TiledPlanes {
            max,
            indexed,
            input: [shape.h.input, shape.w.input],
            kernel: [shape.h.kernel, kw],
            run: kw,
        })
    }

    /// Scratch values [`TiledPlanes::max`] needs for `outputs` pooled values.
    pub(super) fn scratch_len(&self, outputs: usize) -> usize {
        outputs * self.run
    }

    /// Scratch for [`TiledPlanes::max_indexed`] of `outputs` pooled values (or fewer: cut
    /// to [`TiledPlanes::scratch_len`]).
    pub(super) fn indexed_scratch(&self, outputs: usize) -> (Vec<f32>, Vec<u32>) {
        let len = self.scratch_len(outputs);
        (vec![0f32; len], vec![0u32; len])
    }

    /// The maxima of whole planes: `x` `[planes, ih, iw]`, `out` `[planes, oh, ow]`.
    pub(super) fn max(&self, x: &[f32], out: &mut [f32], acc: &mut [f32]) {
        (self.max)(x, self.input, self.kernel, out, acc)
    }

    /// [`TiledPlanes::max`] with each maximum's position in its plane.
    pub(super) fn max_indexed(
        &self,
        x: &[f32],
        out: (&mut [f32], &mut [u32]),
        scratch: (&mut [f32], &mut [u32]),
    ) {
        (self.indexed)(x, self.input, self.kernel, out, scratch)
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
    if let Some(planes) = TiledPlanes::of(&shape) {
        tiled_max_pool_with_indices(&planes, input, shape, &mut output, &mut indices);
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

#[cfg(test)]
mod tests {
    use super::super::kernel_testing::tiling_axis;
    use super::*;

    /// One window scanned in order: the first maximum, or the first NaN.
    fn scan(
        x: &[f32],
        iw: usize,
        ys: std::ops::Range<usize>,
        xs: std::ops::Range<usize>,
    ) -> (f32, u32) {
        let mut best = (f32::NEG_INFINITY, u32::MAX);
        for y in ys {
            for q in xs.clone() {
                let (v, p) = (x[y * iw + q], (y * iw + q) as u32);
                if v.is_nan() {
                    return (v, p);
                }
                if best.1 == u32::MAX || v > best.0 {
                    best = (v, p);
                }
            }
        }
        best
    }

    #[test]
    fn tiled_kernels_agree_with_a_scan_of_each_window_on_ties_and_nan() {
        // Few distinct values (many ties, in every arrangement), some NaNs, -0.0 beside 0.0.
        let mut state = 12345u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        for (ih, iw, kh, kw) in [
            (6, 8, 2, 2),
            (9, 7, 3, 3),
            (4, 9, 2, 3),
            (8, 9, 4, 4),
            (5, 5, 1, 2),
        ] {
            let planes = 3;
            let x: Vec<f32> = (0..planes * ih * iw)
                .map(|_| match next() % 13 {
                    0 => f32::NAN,
                    1 => -0.0,
                    k => (k % 4) as f32,
                })
                .collect();
            let shape = PoolShape {
                planes,
                h: tiling_axis(ih, kh),
                w: tiling_axis(iw, kw),
                ceil_mode: false,
            };
            assert!(shape.tiled());
            let [oh, ow] = shape.output();
            let plain = max_pool(&x, shape);
            let (values, at) = max_pool_with_indices(&x, shape);
            for plane in 0..planes {
                let p = &x[plane * ih * iw..(plane + 1) * ih * iw];
                for r in 0..oh {
                    for q in 0..ow {
                        let (v, pos) = scan(p, iw, r * kh..(r + 1) * kh, q * kw..(q + 1) * kw);
                        let o = plane * oh * ow + r * ow + q;
                        let same =
                            |a: f32| (a.is_nan() && v.is_nan()) || a.to_bits() == v.to_bits();
                        assert!(
                            same(values[o]) && at[o] == pos,
                            "{kh}×{kw} plane {plane} ({r}, {q}): {} at {} vs {v} at {pos}",
                            values[o],
                            at[o]
                        );
                        assert!(
                            (plain[o].is_nan() && v.is_nan()) || plain[o] == v,
                            "{kh}×{kw} ({r}, {q})"
                        );
                    }
                }
            }
        }
    }
}
