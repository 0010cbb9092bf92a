//! The interpreter against onnxruntime (forward) and against finite differences (gradients),
//! on fixtures exported from PyTorch by `tools/export_fixtures.py`.

use std::path::{Path, PathBuf};

use gauntlet_core::data::read_npy_f32;
use gauntlet_core::device::compute_device;
use gauntlet_core::loss::Objective;
use gauntlet_core::model::{loss_and_grad, Classifier};
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_onnx::OnnxModel;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const FIXTURES: &[&str] = &[
    "mlp",
    "lenet",
    "resnet_bn",
    "maxpool_k3s2p1",
    "ops_mix",
    "gemm_trans",
    "mnist_cnn",
    "vit_tiny",
    "vit_tiny_dynamo",
    "convnext_tiny",
    "convnext_tiny_dynamo",
    "swin_tiny",
    "swin_tiny_dynamo",
    "dw_separable",
    "ops_misc",
    "ops_misc_dynamo",
    "norm_ops_opset18",
    "norm_ops_opset21",
    "einsum_forms",
    "resize_modes",
    "select_logic_scatter",
    "softmax_opset11",
];

fn model_path(name: &str) -> PathBuf {
    if name == "mnist_cnn" {
        root().join("models/mnist_cnn.onnx")
    } else {
        root().join(format!("fixtures/onnx/{name}.onnx"))
    }
}

fn npy(path: PathBuf) -> (Vec<f32>, Vec<usize>) {
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    read_npy_f32(&bytes, &path).unwrap()
}

fn load(name: &str) -> (OnnxModel, Vec<f32>, usize) {
    let model = OnnxModel::load(&model_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (x, shape) = npy(root().join(format!("fixtures/onnx/{name}.input.npy")));
    (model, x, shape[0])
}

#[test]
fn forward_matches_onnxruntime() {
    for name in FIXTURES {
        let (model, x, n) = load(name);
        let (expected, _) = npy(root().join(format!("fixtures/onnx/{name}.expected.npy")));
        let got = to_vec(
            model
                .logits(from_rows(x, n, model.features(), &compute_device()))
                .unwrap(),
        );
        assert_eq!(got.len(), expected.len(), "{name}: output size");
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst <= 1e-4, "{name}: max |Δlogit| = {worst}");
    }
}

/// Central differences of the objective along single input coordinates. The model runs in
/// double precision here, so the comparison is not drowned in float32 round-off (randomly
/// initialized nets such as the LeNet fixture have input gradients near 1e-4).
#[test]
fn input_gradients_match_finite_differences() {
    let device = compute_device();
    for name in FIXTURES {
        let (model, x, n) = load(name);
        let model = model.with_double_precision();
        // A generic point: real images have runs of equal pixels, which make max-pool windows
        // tie, where the max is not differentiable and finite differences are one-sided.
        let x: Vec<f32> = x
            .iter()
            .enumerate()
            .map(|(i, v)| v + 0.01 * ((i * 7919 % 1000) as f32 / 1000.0))
            .collect();
        let f = model.features();
        let logits = to_vec(model.logits(from_rows(x.clone(), n, f, &device)).unwrap());
        let labels = argmax_rows(&logits, model.num_classes());
        // Objective: the logit margin of the predicted class over class (label+1) — smooth in
        // the logits, so the check tests the network's own gradient.
        let other: Vec<i64> = labels
            .iter()
            .map(|&l| (l + 1) % model.num_classes() as i64)
            .collect();
        let objective = Objective::LogitDifference {
            positive: &labels,
            negative: &other,
        };
        let grad = to_vec(
            loss_and_grad(&model, &from_rows(x.clone(), n, f, &device), &objective)
                .unwrap()
                .grad,
        );

        // Coordinates with a non-negligible gradient, spread over the batch (deterministic).
        let scale = grad.iter().fold(0f32, |m, g| m.max(g.abs()));
        let mut coords: Vec<usize> = (0..grad.len())
            .filter(|&i| grad[i].abs() > 0.05 * scale)
            .collect();
        let stride = (coords.len() / 12).max(1);
        coords = coords.into_iter().step_by(stride).take(12).collect();
        assert!(!coords.is_empty(), "{name}: gradient is zero everywhere");

        // Richardson-extrapolated central differences, (4·D(h) − D(2h)) / 3: truncation error
        // O(h⁴), so h can stay large enough for float32 round-off not to dominate.
        let h = 1e-4f64;
        let mut rows: Vec<f64> = Vec::new();
        for &c in &coords {
            let sample = c / f;
            for offset in [h, -h] {
                let mut row: Vec<f64> = x[sample * f..(sample + 1) * f]
                    .iter()
                    .map(|&v| v as f64)
                    .collect();
                row[c % f] += offset;
                rows.extend(row);
            }
        }
        let m = coords.len() * 2;
        let out = model.logits_f64(&rows, m).unwrap();
        let k = model.num_classes();
        let mut failures = Vec::new();
        for (j, &c) in coords.iter().enumerate() {
            let sample = c / f;
            let value = |r: usize| {
                let row = &out[r * k..(r + 1) * k];
                row[labels[sample] as usize] - row[other[sample] as usize]
            };
            let fd = (value(2 * j) - value(2 * j + 1)) / (2.0 * h);
            let g = grad[c] as f64;
            let rel = (fd - g).abs() / fd.abs().max(g.abs()).max(1e-12);
            if rel > 1e-3 {
                failures.push(format!(
                    "coord {c}: analytic {g:.6e} vs numeric {fd:.6e} (rel {rel:.2e})"
                ));
            }
        }
        // Piecewise-linear nets can put a kink inside ±h for an unlucky coordinate; allow at
        // most one such outlier, never a systematic error.
        assert!(failures.len() <= 1, "{name}: {}", failures.join("; "));
    }
}

/// `select_logic_scatter` multiplies the input by 0/1 masks from comparisons (Greater → Cast
/// → Mul): the comparisons are reported as gradient blockers, and BPDA changes the input
/// gradient (it passes the gradient of the thresholded difference) without changing logits.
#[test]
fn comparisons_used_as_values_are_blockers_that_bpda_bypasses() {
    let device = compute_device();
    let (model, x, n) = load("select_logic_scatter");
    let blockers: Vec<String> = model
        .gradient_blockers()
        .into_iter()
        .map(|(op, _)| op)
        .collect();
    for op in [
        "Less",
        "LessOrEqual",
        "Greater",
        "GreaterOrEqual",
        "Equal",
        "ArgMin",
    ] {
        assert!(blockers.iter().any(|b| b == op), "{op} not in {blockers:?}");
    }
    let bpda = OnnxModel::load(&model_path("select_logic_scatter"))
        .unwrap()
        .with_bpda();
    let f = model.features();
    let batch = from_rows(x, n, f, &device);
    let labels: Vec<i64> = vec![0; n];
    let objective = Objective::CrossEntropy(&labels);
    let plain = loss_and_grad(&model, &batch, &objective).unwrap();
    let through = loss_and_grad(&bpda, &batch, &objective).unwrap();
    assert_eq!(
        plain.logits, through.logits,
        "BPDA must not change the forward pass"
    );
    let (g0, g1) = (to_vec(plain.grad), to_vec(through.grad));
    assert!(g1.iter().all(|g| g.is_finite()));
    assert!(g0.iter().zip(&g1).any(|(a, b)| (a - b).abs() > 1e-6));
}
