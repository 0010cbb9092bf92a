//! Moving flat batches between host memory and tensors.

use burn::tensor::{Int, Tensor, TensorData};

use crate::Device;

/// Builds an `[n, features]` float tensor from row-major host data.
pub fn from_rows(values: Vec<f32>, n: usize, features: usize, device: &Device) -> Tensor<2> {
    debug_assert_eq!(values.len(), n * features);
    Tensor::from_data(TensorData::new(values, [n, features]), device)
}

/// Builds a rank-1 float tensor.
pub fn from_vec(values: Vec<f32>, device: &Device) -> Tensor<1> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// Builds a rank-1 integer tensor (labels, class indices).
pub fn labels_tensor(labels: &[i64], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(labels.to_vec(), [labels.len()]), device)
}

/// Copies any float tensor to host memory as `f32`, row-major.
pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("a float tensor converts to f32")
}

/// Copies an integer tensor to host memory as `i64`.
pub fn to_vec_int<const D: usize>(t: Tensor<D, Int>) -> Vec<i64> {
    t.into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .expect("an int tensor converts to i64")
}

/// Index of the largest entry of each row (ties go to the first), on the host.
pub fn argmax_rows(logits: &[f32], classes: usize) -> Vec<i64> {
    logits
        .chunks(classes)
        .map(|row| {
            let mut best = 0;
            for (i, v) in row.iter().enumerate() {
                if *v > row[best] {
                    best = i;
                }
            }
            best as i64
        })
        .collect()
}
