//! Max pooling for forward-only passes, on the host.
//!
//! burn-flex's max-pool kernel also computes argmax indices and re-derives each window's valid
//! range per output element; on an MNIST CNN it took more time than both convolutions. Black-box
//! attacks (Square: thousands of forward passes per sample) and every evaluation pass run
//! without an autodiff tape, so they take this kernel: window ranges computed once per axis,
//! one rayon task per channel plane, no indices. Passes that record gradients keep burn's op,
//! whose backward needs the indices.

use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

/// One spatial axis of a pooling window.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    pub input: usize,
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    pub pad_begin: usize,
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
        let mut out = if ceil_mode { room.div_ceil(self.stride) + 1 } else { room / self.stride + 1 };
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
                        let pos = (o * self.stride + k * self.dilation) as isize - self.pad_begin as isize;
                        (pos >= 0 && (pos as usize) < self.input).then_some(pos as usize)
                    })
                    .collect()
            })
            .collect()
    }
}

/// Max pooling of a float32 `[N, C, H, W]` tensor that records no gradient. Hands the tensor
/// back (`Err`) when this kernel does not serve it (tracked by autodiff, or not float32): it
/// then takes burn's op. Taking the tensor by value lets its buffer move out without a copy.
pub fn max_pool2d_untracked(x: Tensor<4>, h: Axis, w: Axis, ceil_mode: bool) -> Result<Tensor<4>, Tensor<4>> {
    if x.is_autodiff() || x.dtype() != DType::F32 || h.stride == 0 || w.stride == 0 || h.kernel == 0 || w.kernel == 0 {
        return Err(x);
    }
    let [n, c, ih, iw] = x.dims();
    let (oh, ow) = (h.output(ceil_mode), w.output(ceil_mode));
    let device = x.device();
    let input = x.into_data().try_into_vec::<f32>().expect("a float32 tensor holds f32");
    let rows = h.windows(oh);
    let cols = w.windows(ow);
    let mut output = vec![f32::NEG_INFINITY; n * c * oh * ow];
    // The common case (windows tiling the input: no padding, no dilation, stride = kernel)
    // indexes directly, with no per-window position lists.
    let tiled = h.dilation == 1
        && w.dilation == 1
        && h.pad_begin + h.pad_end + w.pad_begin + w.pad_end == 0
        && h.stride == h.kernel
        && w.stride == w.kernel
        && oh * h.kernel <= ih
        && ow * w.kernel <= iw;
    if tiled && oh * ow > 0 {
        let (kh, kw) = (h.kernel, w.kernel);
        output.par_chunks_mut(oh * ow).enumerate().for_each(|(plane, out)| {
            let x = &input[plane * ih * iw..(plane + 1) * ih * iw];
            for r in 0..oh {
                let out_row = &mut out[r * ow..(r + 1) * ow];
                out_row.fill(f32::NEG_INFINITY);
                for y in r * kh..(r + 1) * kh {
                    let line = &x[y * iw..y * iw + ow * kw];
                    for (o, window) in out_row.iter_mut().zip(line.chunks_exact(kw)) {
                        for &v in window {
                            // NaN propagates, as in PyTorch and burn (max would drop it).
                            *o = if v.is_nan() || o.is_nan() { f32::NAN } else { o.max(v) };
                        }
                    }
                }
            }
        });
    } else if oh * ow > 0 {
        output.par_chunks_mut(oh * ow).enumerate().for_each(|(plane, out)| {
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
    Ok(Tensor::from_data(TensorData::new(output, [n, c, oh, ow]), &device))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::module::max_pool2d;
    use burn::tensor::ops::MaxPoolOptions;
    use gauntlet_core::device::compute_device;
    use gauntlet_core::tensor::to_vec;

    /// Every window shape the ONNX interpreter can hand over agrees with burn's op.
    #[test]
    fn matches_burn_on_strides_padding_dilation_and_ceil_mode() {
        let device = compute_device();
        let (n, c, ih, iw) = (2, 3, 9, 8);
        let values: Vec<f32> = (0..n * c * ih * iw).map(|i| ((i * 37) % 101) as f32 / 7.0 - 5.0).collect();
        let x: Tensor<4> = Tensor::from_data(TensorData::new(values, [n, c, ih, iw]), &device);
        let cases = [
            ([2, 2], [2, 2], [(0, 0), (0, 0)], [1, 1], false),
            ([3, 2], [3, 2], [(0, 0), (0, 0)], [1, 1], false),
            ([3, 3], [2, 2], [(1, 1), (1, 1)], [1, 1], false),
            ([3, 2], [2, 3], [(0, 0), (0, 0)], [1, 1], true),
            ([2, 2], [1, 1], [(0, 0), (0, 0)], [2, 2], false),
            ([3, 3], [3, 3], [(1, 1), (0, 0)], [1, 1], true),
        ];
        for (kernel, stride, padding, dilation, ceil_mode) in cases {
            let axis = |i: usize, input: usize| Axis {
                input,
                kernel: kernel[i],
                stride: stride[i],
                dilation: dilation[i],
                pad_begin: padding[i].0,
                pad_end: padding[i].1,
            };
            let mine = max_pool2d_untracked(x.clone(), axis(0, ih), axis(1, iw), ceil_mode).unwrap();
            let theirs = max_pool2d(
                x.clone(),
                MaxPoolOptions { kernel_size: kernel, stride, padding, dilation, ceil_mode },
            );
            assert_eq!(mine.dims(), theirs.dims(), "{kernel:?} {stride:?} {padding:?} {dilation:?} {ceil_mode}");
            assert_eq!(to_vec(mine), to_vec(theirs), "{kernel:?} {stride:?} {padding:?} {dilation:?} {ceil_mode}");
        }
        // NaN propagates in both the tiled and the general kernel.
        let mut values: Vec<f32> = vec![0.5; 16];
        values[5] = f32::NAN;
        let x_nan: Tensor<4> = Tensor::from_data(TensorData::new(values, [1, 1, 4, 4]), &device);
        for (k, s, pad) in [(2, 2, 0), (3, 1, 1)] {
            let a = Axis { input: 4, kernel: k, stride: s, dilation: 1, pad_begin: pad, pad_end: pad };
            let y = to_vec(max_pool2d_untracked(x_nan.clone(), a, a, false).unwrap());
            assert!(y[0].is_nan(), "kernel {k}: the NaN at (1, 1) must reach the first window, got {y:?}");
            assert!(y.iter().any(|v| !v.is_nan()));
        }
        // Tracked tensors are left to burn (its backward needs the argmax indices).
        let tracked = x.autodiff().require_grad();
        let a = Axis { input: ih, kernel: 2, stride: 2, dilation: 1, pad_begin: 0, pad_end: 0 };
        assert!(max_pool2d_untracked(tracked, a, Axis { input: iw, ..a }, false).is_err());
    }
}
