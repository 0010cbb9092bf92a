//! The interpreter against onnxruntime (forward) and against finite differences (gradients),
//! on fixtures exported from PyTorch by `tools/export_fixtures.py`.

use std::path::{Path, PathBuf};

use gauntlet_core::data::read_npy_f32;
use gauntlet_core::device::compute_device;
use gauntlet_core::loss::Objective;
use gauntlet_core::model::{loss_and_grad, Classifier};
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_onnx::gradcheck::{check_margin_gradient, generic_point};
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
        let x = generic_point(&x);
        let f = model.features();
        let logits = to_vec(model.logits(from_rows(x.clone(), n, f, &device)).unwrap());
        let labels = argmax_rows(&logits, model.num_classes());
        // Objective: the logit margin of the predicted class over class (label+1) — smooth in
        // the logits, so the check tests the network's own gradient.
        let other: Vec<i64> = labels
            .iter()
            .map(|&l| (l + 1) % model.num_classes() as i64)
            .collect();
        let check = check_margin_gradient(&model, &x, (&labels, &other), 12, 1e-4, 1e-3).unwrap();
        assert!(check.coordinates > 0, "{name}: gradient is zero everywhere");
        let failures = check.failures;
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

/// Convolution → ReLU → max-pool chains run fused, one pass per sample: the logits and the
/// input gradients must be those of the node-by-node evaluation, bit for bit (the fused pass
/// runs the same kernels in the same order). 64 real digits — a batch the fused kernels take
/// — have runs of equal pixels, so pooling windows tie and ReLU zeros reach the maxima.
#[test]
fn fused_chains_give_the_values_and_gradients_of_the_nodes() {
    let device = compute_device();
    let (digits, shape) = npy(root().join("data/mnist-demo/x.npy"));
    let n = 64;
    let features: usize = shape[1..].iter().product();
    let x = digits[..n * features].to_vec();
    for name in ["mnist_cnn", "lenet"] {
        let bytes = std::fs::read(model_path(name)).unwrap();
        let fused = OnnxModel::from_bytes(&bytes, name, None).unwrap();
        let options = gauntlet_onnx::LoadOptions {
            node_by_node: true,
            ..Default::default()
        };
        let plain = OnnxModel::from_bytes_with(&bytes, name, &options).unwrap();
        assert!(fused.fused_chains() > 0, "{name}: nothing fused");
        assert_eq!(plain.fused_chains(), 0, "{name}");
        let batch = from_rows(x.clone(), n, features, &device);
        let labels: Vec<i64> = (0..n as i64).map(|i| i % 10).collect();
        let objective = Objective::CrossEntropy(&labels);
        let a = loss_and_grad(&fused, &batch, &objective).unwrap();
        let b = loss_and_grad(&plain, &batch, &objective).unwrap();
        assert_eq!(a.logits, b.logits, "{name}: logits");
        let (ga, gb) = (to_vec(a.grad), to_vec(b.grad));
        assert!(gb.iter().any(|&g| g != 0.0), "{name}: gradient is zero");
        assert_eq!(ga, gb, "{name}: input gradient");
    }
}

/// Every fixture, its inputs repeated to a batch the fused kernels take: whatever chains the
/// plan fuses (a convolution layout, a pooling shape, a chain without ReLU), the logits and input
/// gradients are the node-by-node ones, bit for bit.
#[test]
fn fused_chains_change_no_fixture() {
    let device = compute_device();
    let mut fused_models = 0;
    for name in FIXTURES {
        let (model, x, n) = load(name);
        if model.fused_chains() == 0 {
            continue;
        }
        fused_models += 1;
        let bytes = std::fs::read(model_path(name)).unwrap();
        let options = gauntlet_onnx::LoadOptions {
            node_by_node: true,
            ..Default::default()
        };
        let plain = OnnxModel::from_bytes_with(&bytes, name, &options).unwrap();
        let f = model.features();
        let copies = 3 * rayon::current_num_threads().max(2);
        let rows: Vec<f32> = (0..copies).flat_map(|_| x.iter().copied()).collect();
        let batch = from_rows(rows, n * copies, f, &device);
        let labels: Vec<i64> = (0..(n * copies) as i64)
            .map(|i| i % model.num_classes() as i64)
            .collect();
        let objective = Objective::CrossEntropy(&labels);
        let a = loss_and_grad(&model, &batch, &objective).unwrap();
        let b = loss_and_grad(&plain, &batch, &objective).unwrap();
        assert_eq!(a.logits, b.logits, "{name}: logits");
        assert_eq!(to_vec(a.grad), to_vec(b.grad), "{name}: input gradient");
    }
    assert!(
        fused_models >= 2,
        "only {fused_models} fixtures have fused chains"
    );
}

/// `loss_and_grad` runs a batch of 32 samples or more as two halves, side by side when it has
/// two threads. For every fixture, each half's logits, per-sample losses and input gradients must
/// be those of that half passed alone, bit for bit, on one thread or two: labels and targets
/// differ from row to row, so a half given another half's labels, or halves joined in the wrong
/// order, would show.
#[test]
fn a_batch_runs_as_two_halves_with_each_halfs_own_results() {
    let device = compute_device();
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let two_threads = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for name in FIXTURES {
        let (model, x, n) = load(name);
        let f = model.features();
        let copies = 41usize.div_ceil(n);
        let total = n * copies;
        let rows: Vec<f32> = (0..copies)
            .flat_map(|c| x.iter().map(move |v| v * (1.0 - 0.01 * c as f32)))
            .collect();
        let classes = model.num_classes() as i64;
        let labels: Vec<i64> = (0..total as i64).map(|i| (i * 7 + 3) % classes).collect();
        let targets: Vec<i64> = labels.iter().map(|l| (l + 1 + l % 3) % classes).collect();
        let run = |pool: &rayon::ThreadPool, from: usize, to: usize| {
            let objectives = [
                Objective::CrossEntropy(&labels[from..to]),
                Objective::TargetedDlr {
                    labels: &labels[from..to],
                    targets: &targets[from..to],
                },
            ];
            pool.install(|| {
                objectives.map(|objective| {
                    let batch = from_rows(rows[from * f..to * f].to_vec(), to - from, f, &device);
                    let out = loss_and_grad(&model, &batch, &objective).unwrap();
                    (out.logits, out.loss, to_vec(out.grad))
                })
            })
        };
        let half = total / 2;
        let whole = run(&two_threads, 0, total);
        assert_eq!(
            whole,
            run(&one_thread, 0, total),
            "{name}: one thread or two"
        );
        let (first, second) = (run(&one_thread, 0, half), run(&one_thread, half, total));
        for (objective, whole) in whole.iter().enumerate() {
            let (a, b) = (&first[objective], &second[objective]);
            assert!(
                whole.2.iter().any(|&g| g != 0.0),
                "{name}: gradient is zero"
            );
            assert_eq!(
                whole.0,
                [&a.0[..], &b.0[..]].concat(),
                "{name} {objective}: logits"
            );
            assert_eq!(
                whole.1,
                [&a.1[..], &b.1[..]].concat(),
                "{name} {objective}: loss"
            );
            assert_eq!(
                whole.2,
                [&a.2[..], &b.2[..]].concat(),
                "{name} {objective}: gradient"
            );
        }
    }
}
