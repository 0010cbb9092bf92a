//! 2-D convolution for forward-only passes, on the host: im2col per sample and one matrix
//! product into the NCHW output.
//!
//! Black-box attacks and evaluation passes run thousands of forward passes without an autodiff
//! tape; there burn-flex's convolution (NHWC copies, 512-pixel tiles, a scatter of every tile's
//! result) costs more than the arithmetic. Passes that record gradients keep burn's op.

use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

/// Window of a convolution, per spatial axis (height, width).
#[derive(Debug, Clone, Copy)]
pub struct ConvWindow {
    pub stride: [usize; 2],
    pub padding: [(usize, usize); 2],
    pub dilation: [usize; 2],
}

fn output_len(input: usize, kernel: usize, stride: usize, (begin, end): (usize, usize), dilation: usize) -> usize {
    let span = dilation * (kernel - 1) + 1;
    let padded = input + begin + end;
    if padded < span {
        0
    } else {
        (padded - span) / stride + 1
    }
}

/// `weight · col` for one sample: `out[c_out, p] = Σ_k weight[c_out, k] · col[k, p]`.
fn matmul(out: &mut [f32], weight: &[f32], col: &[f32], c_out: usize, k: usize, p: usize, parallel: bool) {
    // SAFETY: the slices hold c_out×p, c_out×k and k×p row-major values (checked by the caller's
    // sizes), and gemm reads and writes only inside them.
    unsafe {
        gemm::gemm(
            c_out,
            p,
            k,
            out.as_mut_ptr(),
            1,
            p as isize,
            false,
            weight.as_ptr(),
            1,
            k as isize,
            col.as_ptr(),
            1,
            p as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            if parallel { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None },
        );
    }
}

/// Convolution of a float32 `[N, C, H, W]` input with `[C_out, C, KH, KW]` weights (one
/// group) that records no gradient. Hands the operands back (`Err`) when this kernel does not
/// serve them (tracked by autodiff, grouped, or not float32).
#[allow(clippy::type_complexity)]
pub fn conv2d_untracked(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    window: ConvWindow,
    groups: usize,
) -> Result<Tensor<4>, (Tensor<4>, Tensor<4>, Option<Tensor<1>>)> {
    let tracked = x.is_autodiff() || weight.is_autodiff() || bias.as_ref().is_some_and(|b| b.is_autodiff());
    let float32 = x.dtype() == DType::F32 && weight.dtype() == DType::F32 && bias.as_ref().is_none_or(|b| b.dtype() == DType::F32);
    let [n, c, h, w] = x.dims();
    let [c_out, c_w, kh, kw] = weight.dims();
    if tracked || !float32 || groups != 1 || c_w != c || kh == 0 || kw == 0 || window.stride.contains(&0) {
        return Err((x, weight, bias));
    }
    let oh = output_len(h, kh, window.stride[0], window.padding[0], window.dilation[0]);
    let ow = output_len(w, kw, window.stride[1], window.padding[1], window.dilation[1]);
    let (k, p) = (c * kh * kw, oh * ow);
    let device = x.device();
    let input = x.into_data().try_into_vec::<f32>().expect("a float32 tensor holds f32");
    let weights = weight.into_data().try_into_vec::<f32>().expect("a float32 tensor holds f32");
    let bias = bias.map(|b| b.into_data().try_into_vec::<f32>().expect("a float32 tensor holds f32"));

    // For kernel column j: the output columns whose input column lies inside the image, and
    // where the first of them starts (so rows copy without per-element bounds checks).
    let col_ranges: Vec<(usize, usize, usize)> = (0..kw)
        .map(|j| {
            let offset = j * window.dilation[1];
            let pad = window.padding[1].0;
            let stride = window.stride[1];
            // ox is valid when 0 <= ox·stride + offset − pad < w.
            let lo = if pad > offset { (pad - offset).div_ceil(stride) } else { 0 };
            let hi = if w + pad > offset { ((w + pad - offset - 1) / stride + 1).min(ow) } else { 0 };
            let lo = lo.min(hi);
            (lo, hi, lo * stride + offset - pad.min(lo * stride + offset))
        })
        .collect();
    // Column matrix of one sample: row (c, i, j) of the kernel, column (oy, ox) of the output.
    let im2col = |sample: &[f32], col: &mut [f32]| {
        for ch in 0..c {
            let plane = &sample[ch * h * w..(ch + 1) * h * w];
            for i in 0..kh {
                for (j, &(lo, hi, first)) in col_ranges.iter().enumerate() {
                    let row = &mut col[((ch * kh + i) * kw + j) * p..][..p];
                    for oy in 0..oh {
                        let y = (oy * window.stride[0] + i * window.dilation[0]) as isize - window.padding[0].0 as isize;
                        let dst = &mut row[oy * ow..(oy + 1) * ow];
                        if y < 0 || y as usize >= h || lo == hi {
                            dst.fill(0.0);
                            continue;
                        }
                        let line = &plane[y as usize * w..(y as usize + 1) * w];
                        dst[..lo].fill(0.0);
                        dst[hi..].fill(0.0);
                        if window.stride[1] == 1 {
                            dst[lo..hi].copy_from_slice(&line[first..first + (hi - lo)]);
                        } else {
                            let src = line[first..].iter().step_by(window.stride[1]);
                            for (d, &v) in dst[lo..hi].iter_mut().zip(src) {
                                *d = v;
                            }
                        }
                    }
                }
            }
        }
    };
    let finish = |out: &mut [f32]| {
        if let Some(b) = &bias {
            for (row, &v) in out.chunks_mut(p.max(1)).zip(b) {
                row.iter_mut().for_each(|o| *o += v);
            }
        }
    };
    let mut output = vec![0f32; n * c_out * p];
    if p > 0 && c_out > 0 {
        let threads = rayon::current_num_threads();
        if n >= 2 * threads {
            // Many samples: one task per sample, each a sequential product.
            output.par_chunks_mut(c_out * p).enumerate().for_each_init(
                || vec![0f32; k * p],
                |col, (s, out)| {
                    im2col(&input[s * c * h * w..(s + 1) * c * h * w], col);
                    matmul(out, &weights, col, c_out, k, p, false);
                    finish(out);
                },
            );
        } else {
            // Few samples (the tail of a query attack): parallelize inside the product.
            let mut col = vec![0f32; k * p];
            for (s, out) in output.chunks_mut(c_out * p).enumerate() {
                im2col(&input[s * c * h * w..(s + 1) * c * h * w], &mut col);
                matmul(out, &weights, &col, c_out, k, p, true);
                finish(out);
            }
        }
    }
    Ok(Tensor::from_data(TensorData::new(output, [n, c_out, oh, ow]), &device))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;
    use gauntlet_core::device::compute_device;
    use gauntlet_core::tensor::to_vec;

    fn tensor<const D: usize>(shape: [usize; D], seed: usize) -> Tensor<D> {
        let len: usize = shape.iter().product();
        let values: Vec<f32> = (0..len).map(|i| (((i + seed) * 7919) % 997) as f32 / 499.0 - 1.0).collect();
        Tensor::from_data(TensorData::new(values, shape), &compute_device())
    }

    #[test]
    fn matches_burn_on_strides_padding_dilation_and_batch_sizes() {
        let cases: [(usize, usize, usize, [usize; 2], [usize; 2], [(usize, usize); 2], [usize; 2]); 6] = [
            (9, 1, 16, [5, 5], [1, 1], [(0, 0), (0, 0)], [1, 1]),
            (9, 4, 8, [3, 3], [2, 2], [(1, 1), (1, 1)], [1, 1]),
            (1, 3, 5, [3, 2], [1, 2], [(2, 0), (0, 1)], [1, 1]),
            (2, 2, 3, [3, 3], [1, 1], [(2, 2), (2, 2)], [2, 2]),
            (5, 3, 4, [1, 1], [1, 1], [(0, 0), (0, 0)], [1, 1]),
            (1, 1, 2, [1, 7], [1, 1], [(0, 0), (3, 3)], [1, 1]),
        ];
        for (n, c, c_out, [kh, kw], stride, padding, dilation) in cases {
            let x = tensor([n, c, 11, 10], 1);
            let w = tensor([c_out, c, kh, kw], 2);
            let b = tensor([c_out], 3);
            let window = ConvWindow { stride, padding, dilation };
            let mine = conv2d_untracked(x.clone(), w.clone(), Some(b.clone()), window, 1).unwrap();
            let theirs = conv2d(x, w, Some(b), ConvOptions { stride, padding, dilation, groups: 1 });
            assert_eq!(mine.dims(), theirs.dims());
            let (a, t) = (to_vec(mine), to_vec(theirs));
            let worst = a.iter().zip(&t).map(|(a, t)| (a - t).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-4, "max difference {worst} for k {kh}×{kw} stride {stride:?} padding {padding:?} dilation {dilation:?}");
        }
    }

    #[test]
    fn tracked_or_grouped_convolutions_are_left_to_burn() {
        let x = tensor([2, 4, 6, 6], 1);
        let w = tensor([4, 2, 3, 3], 2);
        let window = ConvWindow { stride: [1, 1], padding: [(0, 0); 2], dilation: [1, 1] };
        assert!(conv2d_untracked(x.clone(), w, None, window, 2).is_err());
        let w = tensor([4, 4, 3, 3], 2);
        assert!(conv2d_untracked(x.autodiff().require_grad(), w.autodiff(), None, window, 1).is_err());
    }
}
