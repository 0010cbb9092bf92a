//! Stride-1 convolution of small pictures without a column matrix.
//!
//! im2col copies every input value `kh · kw` times into a matrix that no longer fits the L1
//! cache (100 KB per sample for the demo CNN's second layer), and the copying took longer than
//! the product. Here each sample's padded input is copied `kw` times, shifted left by each
//! kernel column `j` and cut to the output's width: `shifted[j][c][y][ox] = x[c][y][ox + j]`.
//! The input under kernel tap `(c, i, j)` for the consecutive output positions
//! `p = oy · ow + ox` is then one contiguous run, starting at row `i` of `shifted[j][c]`, and a
//! register tile of output channels × positions accumulates `w[co, tap] · run[p]` straight from
//! the (L1-resident) shifted input: every multiply-add is a useful one.
//!
//! The input gradient runs the same steps backwards ([`input_grad`]): each tap's run gets
//! `Σ_co w[co, tap] · dy[co, ·]` from the same tile, and the shifted copies' gradient is summed
//! back onto the input. (As a correlation of the padded `dy` with flipped filters it would fit
//! the forward kernel unchanged, but every input position would then sum over all taps, also
//! those in the padding: measured slower on both layers of the demo CNN.)

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::conv_shape::ConvShape;
use super::matmul::{build, fill, with_scratch};
use super::simd;

/// The padded input's largest size per sample for this kernel: beyond it the input falls out
/// of the caches between taps and im2col's blocked product is the better plan.
const MAX_INPUT: usize = 32 * 1024;

/// Whether [`forward`] and [`input_grad`] compute `shape`.
pub fn handles(shape: ConvShape) -> bool {
    let win = &shape.window;
    let [_, c, h, _] = shape.input;
    let kw = shape.kernel[1];
    let [(pt, pb), _] = win.padding;
    let [_, co, oh, ow] = shape.output();
    shape.groups == 1
        && win.stride == [1, 1]
        && win.dilation == [1, 1]
        && !shape.is_pointwise()
        && oh > 0
        && ow > 0
        && c > 0
        && co > 0
        // The shifted copies.
        && kw * c * (h + pt + pb) * ow <= MAX_INPUT
}

/// One stride-1 correlation: input `[n, c, h, w]`, padding, filters `[co, c, kh, kw]`.
struct Geometry {
    channels: usize,
    height: usize,
    width: usize,
    kernel: [usize; 2],
    padding: [(usize, usize); 2],
    out_channels: usize,
}

impl Geometry {
    fn of(shape: ConvShape) -> Self {
        let [_, channels, height, width] = shape.input;
        Geometry {
            channels,
            height,
            width,
            kernel: shape.kernel,
            padding: shape.window.padding,
            out_channels: shape.out_channels,
        }
    }

    fn padded_height(&self) -> usize {
        let [(pt, pb), _] = self.padding;
        self.height + pt + pb
    }

    fn output(&self) -> [usize; 2] {
        let [(pt, pb), (pl, pr)] = self.padding;
        [
            self.height + pt + pb + 1 - self.kernel[0],
            self.width + pl + pr + 1 - self.kernel[1],
        ]
    }

    fn taps(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }

    /// Values of the shifted copies of one sample (`kw · c · hp · ow`), plus the slack that
    /// the last, partial tile reads past the end.
    fn shifted_len(&self, tile: usize) -> usize {
        let [_, ow] = self.output();
        self.kernel[1] * self.channels * self.padded_height() * ow + tile
    }

    /// Where the run of tap `(c, i, j)` starts in the shifted copies, in the filters' tap order.
    fn offsets(&self) -> Vec<usize> {
        let [kh, kw] = self.kernel;
        let hp = self.padded_height();
        let [_, ow] = self.output();
        let mut offsets = Vec::with_capacity(self.taps());
        for c in 0..self.channels {
            for i in 0..kh {
                for j in 0..kw {
                    offsets.push(((j * self.channels + c) * hp + i) * ow);
                }
            }
        }
        offsets
    }

    /// Calls `f(row, start, (lo, hi))` for every row of the shifted copies (`ow` values) that
    /// reads the input: its `lo..hi` holds input values from `start` on; the rest is padding.
    /// Rows wholly in the padding come with `None`.
    #[inline(always)]
    fn for_each_row<'r>(
        &self,
        rows: &'r mut [f32],
        mut f: impl FnMut(&'r mut [f32], Option<(usize, usize, usize)>),
    ) {
        let [(pt, _), (pl, _)] = self.padding;
        let (h, w, hp) = (self.height, self.width, self.padded_height());
        let [_, ow] = self.output();
        for (jc, plane) in rows.chunks_exact_mut(hp * ow).enumerate() {
            let (j, c) = (jc / self.channels, jc % self.channels);
            // Output column ox reads input column ox + j − pl: inside for lo ≤ ox < hi.
            let lo = pl.saturating_sub(j).min(ow);
            let hi = (w + pl).saturating_sub(j).clamp(lo, ow);
            for (yp, row) in plane.chunks_exact_mut(ow).enumerate() {
                let y = yp.checked_sub(pt).filter(|&y| y < h && lo < hi);
                f(row, y.map(|y| ((c * h + y) * w + lo + j - pl, lo, hi)));
            }
        }
    }

    /// Writes one sample's `[c, h, w]` input into `dst` as its `kw` shifted copies of the padded
    /// input, `[kw][c][hp][ow]`; the slack after them is zeroed.
    fn shift_into(&self, x: &[f32], dst: &mut [f32]) {
        let (rows, slack) = dst.split_at_mut(self.shifted_len(0));
        slack.fill(0.0);
        if self.padding == [(0, 0); 2] {
            // No padding (valid convolutions, common in small networks): every row is a
            // straight copy, without the per-row bookkeeping of the general case.
            let (h, w) = (self.height, self.width);
            let [_, ow] = self.output();
            for (jc, plane) in rows.chunks_exact_mut(h * ow).enumerate() {
                let (j, c) = (jc / self.channels, jc % self.channels);
                let src = &x[c * h * w + j..];
                for (y, row) in plane.chunks_exact_mut(ow).enumerate() {
                    copy_run(row, &src[y * w..y * w + ow]);
                }
            }
            return;
        }
        self.for_each_row(rows, |row, reads| {
            let Some((start, lo, hi)) = reads else {
                row.fill(0.0);
                return;
            };
            row[..lo].fill(0.0);
            row[hi..].fill(0.0);
            copy_run(&mut row[lo..hi], &x[start..start + (hi - lo)]);
        });
    }

    /// The adjoint of [`Geometry::shift_into`]: adds the shifted copies' gradient `grad` onto
    /// the sample's input gradient `dx`.
    fn unshift(&self, grad: &mut [f32], dx: &mut [f32]) {
        let len = self.shifted_len(0);
        if self.padding == [(0, 0); 2] {
            // As in `shift_into`: without padding every row adds straight onto the input.
            let (h, w) = (self.height, self.width);
            let [_, ow] = self.output();
            for (jc, plane) in grad[..len].chunks_exact(h * ow).enumerate() {
                let (j, c) = (jc / self.channels, jc % self.channels);
                let dst = &mut dx[c * h * w + j..];
                for (y, row) in plane.chunks_exact(ow).enumerate() {
                    for (d, &v) in dst[y * w..y * w + ow].iter_mut().zip(row) {
                        *d += v;
                    }
                }
            }
            return;
        }
        self.for_each_row(&mut grad[..len], |row, reads| {
            if let Some((start, lo, hi)) = reads {
                for (d, &v) in dx[start..start + (hi - lo)].iter_mut().zip(&row[lo..hi]) {
                    *d += v;
                }
            }
        });
    }
}

/// Copies `src` into `dst` (same length). Rows are as short as 8 values; `copy_from_slice`
/// makes each a call to `memcpy`, which costs more than the copy. Short runs move in fixed
/// blocks of 8 (the last one overlapping), which compile to plain vector moves.
#[inline(always)]
fn copy_run(dst: &mut [f32], src: &[f32]) {
    let n = dst.len();
    let src = &src[..n];
    if n >= 64 {
        dst.copy_from_slice(src);
    } else if n >= 8 {
        let block = |dst: &mut [f32], at: usize| {
            let values: [f32; 8] = src[at..at + 8].try_into().expect("8 values");
            dst[at..at + 8].copy_from_slice(&values);
        };
        let mut at = 0;
        while at + 8 < n {
            block(dst, at);
            at += 8;
        }
        block(dst, n - 8);
    } else {
        for (d, &v) in dst.iter_mut().zip(src) {
            *d = v;
        }
    }
}

/// Filters `[co, taps]` regrouped as tiles of `cb` output channels, each tap's `cb` weights
/// together (zeros past the last channel).
fn pack(filters: &[f32], out_channels: usize, taps: usize, cb: usize) -> Vec<f32> {
    let tiles = out_channels.div_ceil(cb);
    let mut packed = vec![0f32; tiles * taps * cb];
    for co in 0..out_channels {
        let (tile, lane) = (co / cb, co % cb);
        for t in 0..taps {
            packed[(tile * taps + t) * cb + lane] = filters[co * taps + t];
        }
    }
    packed
}

/// Where each tap's run starts, and the furthest start: what one bounds check on a tile needs,
/// found once per call rather than once per tile.
struct Runs {
    offsets: Vec<usize>,
    last: usize,
}

impl Runs {
    fn new(offsets: Vec<usize>) -> Self {
        let last = offsets.iter().max().copied().unwrap_or(0);
        Runs { offsets, last }
    }
}

/// `acc[c][l] = Σ_t weights[t · CB + c] · x[runs.offsets[t] + p0 + l]`.
#[inline(always)]
fn tile_body<const CB: usize, const PB: usize, const FMA: bool>(
    x: &[f32],
    runs: &Runs,
    weights: &[f32],
    p0: usize,
    acc: &mut [[f32; PB]; CB],
) {
    *acc = [[0f32; PB]; CB];
    let offsets = &runs.offsets;
    assert!(runs.last + p0 + PB <= x.len() && weights.len() >= offsets.len() * CB);
    for (t, &off) in offsets.iter().enumerate() {
        // SAFETY: the assertion above bounds every read: off + p0 + PB ≤ x.len(), and the
        // weights hold CB values per tap.
        let (xs, ws) = unsafe {
            (
                &*(x.as_ptr().add(off + p0) as *const [f32; PB]),
                &*(weights.as_ptr().add(t * CB) as *const [f32; CB]),
            )
        };
        for c in 0..CB {
            for l in 0..PB {
                acc[c][l] = if FMA {
                    ws[c].mul_add(xs[l], acc[c][l])
                } else {
                    acc[c][l] + ws[c] * xs[l]
                };
            }
        }
    }
}

type TileFn<const CB: usize, const PB: usize> =
    fn(&[f32], &Runs, &[f32], usize, &mut [[f32; PB]; CB]);

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn tile_avx512<const CB: usize, const PB: usize>(
    x: &[f32],
    runs: &Runs,
    weights: &[f32],
    p0: usize,
    acc: &mut [[f32; PB]; CB],
) {
    tile_body::<CB, PB, true>(x, runs, weights, p0, acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tile_avx2<const CB: usize, const PB: usize>(
    x: &[f32],
    runs: &Runs,
    weights: &[f32],
    p0: usize,
    acc: &mut [[f32; PB]; CB],
) {
    tile_body::<CB, PB, true>(x, runs, weights, p0, acc)
}

/// The tile kernel for the widest instructions this CPU has.
fn tile_kernel<const CB: usize, const PB: usize>() -> TileFn<CB, PB> {
    #[cfg(target_arch = "x86_64")]
    {
        match simd::level() {
            simd::Level::Avx512 => {
                return |x, o, w, p, a| {
                    // SAFETY: `level` found the instructions this function is compiled for.
                    unsafe { tile_avx512::<CB, PB>(x, o, w, p, a) }
                };
            }
            simd::Level::Avx2 => {
                return |x, o, w, p, a| {
                    // SAFETY: as above.
                    unsafe { tile_avx2::<CB, PB>(x, o, w, p, a) }
                };
            }
            simd::Level::Baseline => {}
        }
    }
    tile_body::<CB, PB, false>
}

/// One sample's `filters ⋆ x + bias` in register tiles of `CB` output channels × `PB`
/// positions.
struct Tiles<const CB: usize, const PB: usize> {
    runs: Runs,
    packed: Vec<f32>,
    tile: TileFn<CB, PB>,
}

impl<const CB: usize, const PB: usize> Tiles<CB, PB> {
    fn new(geo: &Geometry, filters: &[f32]) -> Self {
        Tiles {
            runs: Runs::new(geo.offsets()),
            packed: pack(filters, geo.out_channels, geo.taps(), CB),
            tile: tile_kernel::<CB, PB>(),
        }
    }

    /// `out[co][p] = act(Σ_tap w[co, tap] · x[tap's run][p] + bias[co])` for one sample, after
    /// shifting its input into `shifted` (`geo.shifted_len(PB)` values of scratch).
    fn sample(
        &self,
        geo: &Geometry,
        bias: &[f32],
        (x, shifted): (&[f32], &mut [f32]),
        out: &mut [MaybeUninit<f32>],
        act: impl Fn(f32) -> f32,
    ) {
        let [oh, ow] = geo.output();
        let (taps, positions) = (geo.taps(), oh * ow);
        geo.shift_into(x, shifted);
        let mut acc = [[0f32; PB]; CB];
        for (ct, weights) in self.packed.chunks_exact(taps * CB).enumerate() {
            for p0 in (0..positions).step_by(PB) {
                (self.tile)(shifted, &self.runs, weights, p0, &mut acc);
                let len = PB.min(positions - p0);
                for (c, row) in acc.iter().enumerate() {
                    let co = ct * CB + c;
                    if co >= geo.out_channels {
                        break;
                    }
                    let b = bias.get(co).copied().unwrap_or(0.0);
                    let dst = &mut out[co * positions + p0..][..len];
                    for (d, &v) in dst.iter_mut().zip(row) {
                        d.write(act(v + b));
                    }
                }
            }
        }
    }
}

/// The tile that wastes least: 4 channels × 64 positions, or a single channel × 256
/// positions when there are fewer than 4 (a network's first layer's input gradient has one or
/// three).
enum TileShape {
    Narrow(Tiles<1, 256>),
    Wide(Tiles<4, 64>),
}

/// One layer's correlation, computed a sample at a time: by [`forward`] for every sample, and
/// by the fused convolution → pooling ([`super::conv_pool`]) one sample at a time, so the
/// convolution's output stays in the cache for the pooling.
pub(super) struct Correlation<'a> {
    geo: Geometry,
    bias: &'a [f32],
    tiles: TileShape,
}

impl<'a> Correlation<'a> {
    /// For a `shape` that [`handles`] accepts; `bias` holds `co` values or none.
    pub(super) fn new(weight: &[f32], bias: &'a [f32], shape: ConvShape) -> Self {
        let geo = Geometry::of(shape);
        let tiles = if geo.out_channels < 4 {
            TileShape::Narrow(Tiles::new(&geo, weight))
        } else {
            TileShape::Wide(Tiles::new(&geo, weight))
        };
        Correlation { geo, bias, tiles }
    }

    /// Values of one sample's input, `c · h · w`.
    pub(super) fn input_len(&self) -> usize {
        self.geo.channels * self.geo.height * self.geo.width
    }

    /// Values of one sample's output, `co · oh · ow`.
    pub(super) fn output_len(&self) -> usize {
        let [oh, ow] = self.geo.output();
        self.geo.out_channels * oh * ow
    }

    /// Scratch values [`Correlation::sample`] needs.
    pub(super) fn scratch_len(&self) -> usize {
        match self.tiles {
            TileShape::Narrow(_) => self.geo.shifted_len(256),
            TileShape::Wide(_) => self.geo.shifted_len(64),
        }
    }

    /// `out = act(w ⊛ x + b)` for one sample: `x` `[c, h, w]`, `out` `[co, oh, ow]`, every
    /// value written.
    pub(super) fn sample(
        &self,
        x: &[f32],
        scratch: &mut [f32],
        out: &mut [MaybeUninit<f32>],
        act: impl Fn(f32) -> f32,
    ) {
        match &self.tiles {
            TileShape::Narrow(t) => t.sample(&self.geo, self.bias, (x, scratch), out, act),
            TileShape::Wide(t) => t.sample(&self.geo, self.bias, (x, scratch), out, act),
        }
    }
}

/// Convolution forward for a shape [`handles`] accepts: `y = w ⊛ x + b`, `[n, co, oh, ow]`.
pub fn forward(x: &[f32], weight: &[f32], bias: &[f32], shape: ConvShape) -> Vec<f32> {
    let correlation = Correlation::new(weight, bias, shape);
    let (per_in, per_out) = (correlation.input_len(), correlation.output_len());
    let init = |y: &mut [MaybeUninit<f32>]| {
        y.par_chunks_mut(per_out).enumerate().for_each(|(s, out)| {
            with_scratch(correlation.scratch_len(), |scratch| {
                correlation.sample(&x[s * per_in..][..per_in], scratch, out, |v| v)
            })
        });
    };
    // SAFETY: `sample` writes each sample's chunk whole.
    unsafe { build(shape.input[0] * per_out, init) }
}

/// Input gradient for a shape [`handles`] accepts, the forward pass run backwards: the
/// gradient of each tap's run is `Σ_co w[co, tap] · dy[co, ·]` (the same register tile, over
/// `dy`'s rows, with the filters transposed), added into the shifted copies' gradient at the
/// run's offset; summing the `kw` shifted copies back onto the input is the adjoint of
/// [`Geometry::shift_into`]. No column matrix and no col2im.
pub fn input_grad(weight: &[f32], dy: &[f32], shape: ConvShape) -> Vec<f32> {
    let backward = InputGrad::new(weight, shape);
    let (per_in, per_dy) = (backward.input_len(), backward.dy_len());
    let init = |dx: &mut [MaybeUninit<f32>]| {
        dx.par_chunks_mut(per_in).enumerate().for_each(|(s, dxs)| {
            with_scratch(backward.scratch_len(), |scratch| {
                let dys = backward.dy_scratch(scratch);
                dys.copy_from_slice(&dy[s * per_dy..][..per_dy]);
                backward.sample(scratch, dxs);
            })
        });
    };
    // SAFETY: `sample` writes each sample's chunk whole.
    unsafe { build(shape.input[0] * per_in, init) }
}

/// One layer's input gradient ([`input_grad`]), a sample at a time: also the fused
/// convolution → pooling's backward pass ([`super::conv_pool`]), which routes one sample's
/// pooled gradient into [`InputGrad::dy_scratch`] and never stores the whole `dy`.
pub(super) struct InputGrad {
    geo: Geometry,
    /// Where each tap's run starts in the shifted copies.
    offsets: Vec<usize>,
    /// Where each output channel's row of `dy` starts.
    rows: Runs,
    /// `wᵀ` (`[taps, co]`) in tiles of [`InputGrad::CB`] taps.
    packed: Vec<f32>,
    tile: TileFn<4, 64>,
}

impl InputGrad {
    const CB: usize = 4;
    const PB: usize = 64;

    /// For a `shape` that [`handles`] accepts.
    pub(super) fn new(weight: &[f32], shape: ConvShape) -> Self {
        let geo = Geometry::of(shape);
        let [oh, ow] = geo.output();
        let (taps, co) = (geo.taps(), geo.out_channels);
        let mut transposed = vec![0f32; taps * co];
        for o in 0..co {
            for t in 0..taps {
                transposed[t * co + o] = weight[o * taps + t];
            }
        }
        InputGrad {
            offsets: geo.offsets(),
            rows: Runs::new((0..co).map(|o| o * oh * ow).collect()),
            packed: pack(&transposed, taps, co, Self::CB),
            tile: tile_kernel::<4, 64>(),
            geo,
        }
    }

    /// Values of one sample's input, `c · h · w`.
    pub(super) fn input_len(&self) -> usize {
        self.geo.channels * self.geo.height * self.geo.width
    }

    /// Values of one sample's output gradient, `co · oh · ow`.
    pub(super) fn dy_len(&self) -> usize {
        let [oh, ow] = self.geo.output();
        self.geo.out_channels * oh * ow
    }

    /// Scratch values [`InputGrad::sample`] needs: the shifted copies' gradient, then `dy`
    /// with slack so the last tile may read past its rows.
    pub(super) fn scratch_len(&self) -> usize {
        self.geo.shifted_len(Self::PB) + self.dy_len() + Self::PB
    }

    /// Where in `scratch` the sample's `dy` goes before [`InputGrad::sample`] (`dy_len`
    /// values); the slack after it is zeroed here.
    pub(super) fn dy_scratch<'s>(&self, scratch: &'s mut [f32]) -> &'s mut [f32] {
        let dys = &mut scratch[self.geo.shifted_len(Self::PB)..];
        let (dy, slack) = dys.split_at_mut(self.dy_len());
        slack.fill(0.0);
        dy
    }

    /// One sample's input gradient into `dx` (`[c, h, w]`, every value written), from the
    /// `dy` placed in `scratch` by way of [`InputGrad::dy_scratch`].
    pub(super) fn sample(&self, scratch: &mut [f32], dx: &mut [MaybeUninit<f32>]) {
        const CB: usize = InputGrad::CB;
        const PB: usize = InputGrad::PB;
        let [oh, ow] = self.geo.output();
        let (positions, co) = (oh * ow, self.geo.out_channels);
        let (grad, dys) = scratch.split_at_mut(self.geo.shifted_len(PB));
        grad.fill(0.0);
        let mut acc = [[0f32; PB]; CB];
        for (tt, weights) in self.packed.chunks_exact(co * CB).enumerate() {
            for p0 in (0..positions).step_by(PB) {
                (self.tile)(dys, &self.rows, weights, p0, &mut acc);
                let len = PB.min(positions - p0);
                for (lane, row) in acc.iter().enumerate() {
                    let Some(&off) = self.offsets.get(tt * CB + lane) else {
                        break;
                    };
                    let dst = &mut grad[off + p0..][..len];
                    for (d, &v) in dst.iter_mut().zip(row) {
                        *d += v;
                    }
                }
            }
        }
        self.geo.unshift(grad, fill(dx, 0.0));
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv_kernel;
    use super::super::conv_shape::ConvWindow;
    use super::*;

    fn values(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 + seed) * 0.7311).sin()).collect()
    }

    /// The direct kernels against im2col's over paddings, odd widths and channel counts that
    /// leave partial tiles (of both tile shapes).
    #[test]
    fn matches_im2col_forward_and_input_gradient() {
        for (c, co, h, w, k, pad) in [
            (1, 16, 28, 28, [5, 5], [(0, 0), (0, 0)]),
            (16, 32, 12, 12, [5, 5], [(0, 0), (0, 0)]),
            (3, 5, 9, 13, [3, 3], [(1, 1), (1, 1)]),
            (2, 7, 6, 5, [3, 2], [(2, 0), (0, 1)]),
            (4, 3, 7, 7, [1, 3], [(0, 0), (1, 1)]),
            // Padding wider than the kernel; outputs one column wide.
            (2, 4, 3, 4, [2, 2], [(3, 3), (3, 2)]),
            (3, 5, 2, 2, [2, 2], [(0, 0), (0, 0)]),
        ] {
            let shape = ConvShape {
                input: [3, c, h, w],
                out_channels: co,
                kernel: k,
                window: ConvWindow {
                    stride: [1, 1],
                    padding: pad,
                    dilation: [1, 1],
                },
                groups: 1,
            };
            assert!(handles(shape), "{shape:?}");
            let x = values(3 * c * h * w, 0.0);
            let wt = values(co * c * k[0] * k[1], 1.0);
            let b = values(co, 2.0);
            let want = conv_kernel::forward_im2col(&x, &wt, &b, shape);
            let got = forward(&x, &wt, &b, shape);
            assert_eq!(want.len(), got.len());
            for (a, g) in want.iter().zip(&got) {
                assert!((a - g).abs() < 1e-4, "{shape:?}: {a} vs {g}");
            }
            let dy = values(want.len(), 3.0);
            let want = conv_kernel::input_grad_im2col(&wt, &dy, shape);
            let got = input_grad(&wt, &dy, shape);
            assert_eq!(want.len(), got.len());
            for (a, g) in want.iter().zip(&got) {
                assert!((a - g).abs() < 1e-4, "gradient, {shape:?}: {a} vs {g}");
            }
        }
    }
}
