//! Fixtures shared by the attack tests: the demo MNIST CNN and correctly classified digits.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use gauntlet_core::data::{parse_inputs, parse_labels};
use gauntlet_core::device::compute_device;
use gauntlet_core::model::{predict, Classifier};
use gauntlet_core::tensor::from_rows;
use gauntlet_onnx::OnnxModel;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn mnist_cnn() -> OnnxModel {
    OnnxModel::load(&root().join("models/mnist_cnn.onnx")).unwrap()
}

/// The first `n` demo digits the model classifies correctly.
pub fn digits(model: &dyn Classifier, n: usize) -> (Vec<f32>, Vec<i64>) {
    let x_path = root().join("data/mnist-demo/x.npy");
    let y_path = root().join("data/mnist-demo/y.npy");
    let (x, _) = parse_inputs(&std::fs::read(&x_path).unwrap(), &x_path).unwrap();
    let y = parse_labels(&std::fs::read(&y_path).unwrap(), &y_path).unwrap();
    let f = model.features();
    let m = (2 * n + 32).min(y.len());
    let preds = predict(
        model,
        from_rows(x[..m * f].to_vec(), m, f, &compute_device()),
    )
    .unwrap();
    let keep: Vec<usize> = (0..m).filter(|&i| preds[i] == y[i]).take(n).collect();
    assert_eq!(keep.len(), n, "not enough correctly classified demo digits");
    let rows = keep
        .iter()
        .flat_map(|&i| x[i * f..(i + 1) * f].to_vec())
        .collect();
    (rows, keep.iter().map(|&i| y[i]).collect())
}
