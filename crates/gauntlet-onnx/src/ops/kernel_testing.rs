//! What the host kernels' tests share: seeded inputs and a comparison with burn's results.

use burn::tensor::{Tensor, TensorData};
use gauntlet_core::Device;

use super::pool_kernel::Axis;

/// A pooling axis of `input` values whose windows of `kernel` tile it (stride = kernel, no
/// padding or dilation).
pub fn tiling_axis(input: usize, kernel: usize) -> Axis {
    Axis {
        input,
        kernel,
        stride: kernel,
        dilation: 1,
        pad_begin: 0,
        pad_end: 0,
    }
}

/// A tensor of `shape` with deterministic values in [-1, 1), different for each `seed`.
pub fn tensor<const D: usize>(shape: [usize; D], seed: usize, device: &Device) -> Tensor<D> {
    let len: usize = shape.iter().product();
    let values: Vec<f32> = (0..len)
        .map(|i| (((i + seed) * 7919) % 997) as f32 / 499.0 - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Asserts `mine` equals `theirs` within 1e-4 of the larger of 1 and their largest entry.
pub fn assert_close(mine: Vec<f32>, theirs: Vec<f32>, what: &str) {
    assert_eq!(mine.len(), theirs.len(), "{what}: lengths");
    let worst = mine
        .iter()
        .zip(&theirs)
        .map(|(a, t)| (a - t).abs())
        .fold(0f32, f32::max);
    let scale = theirs.iter().map(|t| t.abs()).fold(1f32, f32::max);
    assert!(
        worst <= 1e-4 * scale,
        "{what}: max difference {worst} (scale {scale})"
    );
}
