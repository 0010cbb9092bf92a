//! Audits of models as other tools export them: a scikit-learn MLP through skl2onnx (two
//! outputs, a ZipMap), and a channels-last (Keras-style) CNN with its data in its own layout.

mod common;

use std::path::Path;

use gauntlet_audit::{AuditConfig, Silent};
use gauntlet_core::data::{parse_labels, read_npy_f32, write_npy_f32, write_npy_i64};
use gauntlet_core::layout::chw_to_hwc;

use common::{root, Scratch};

fn npy(path: &Path) -> (Vec<f32>, Vec<usize>) {
    read_npy_f32(&std::fs::read(path).unwrap(), path).unwrap()
}

#[test]
fn a_scikit_learn_mlp_audits_with_scikit_learns_accuracy() {
    let scratch = Scratch::new("sklearn");
    let dir = root().join("fixtures/sklearn");
    let mut config = AuditConfig::new(
        dir.join("mlp.onnx"),
        dir.join("x_test.npy"),
        dir.join("y_test.npy"),
        &[0.05, 0.1],
    );
    config.attacks = "auto".into();
    config.out = scratch.0.clone();
    let run = config.check().unwrap().run(&Silent).unwrap();
    assert!(
        run.evaluation.errors.is_empty(),
        "{:?}",
        run.evaluation.errors
    );

    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let sklearn = expected["models"]["mlp"]["sklearn_test_accuracy"]
        .as_f64()
        .unwrap();
    let n = run.evaluation.samples as f64;
    assert_eq!(
        (run.evaluation.clean_accuracy * n).round(),
        (sklearn * n).round()
    );
    // The ensemble ran and its worst case is reported per budget, never above clean accuracy.
    assert_eq!(run.evaluation.worst_case.len(), 2);
    for worst in &run.evaluation.worst_case {
        assert!(worst.robust_accuracy <= sklearn, "{worst:?}");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(scratch.0.join("report.json")).unwrap()).unwrap();
    let scores = report["manifest"]["model"]["scores"].as_str().unwrap();
    assert!(
        scores.contains("output_probability") && scores.contains("Softmax"),
        "{scores}"
    );
}

#[test]
fn a_channels_last_model_audits_exactly_like_its_channels_first_twin() {
    let scratch = Scratch::new("nhwc");
    std::fs::create_dir_all(&scratch.0).unwrap();
    let (x, shape) = npy(&root().join("data/mnist-demo/x.npy"));
    let n = 12;
    let x = &x[..n * 784];
    assert_eq!(shape[1..], [1, 28, 28]);
    let x_nchw = scratch.0.join("x_nchw.npy");
    let x_nhwc = scratch.0.join("x_nhwc.npy");
    write_npy_f32(&x_nchw, x, &[n, 1, 28, 28]).unwrap();
    write_npy_f32(&x_nhwc, &chw_to_hwc(x, n, [1, 28, 28]), &[n, 28, 28, 1]).unwrap();
    let labels_path = root().join("data/mnist-demo/y.npy");
    let labels = parse_labels(&std::fs::read(&labels_path).unwrap(), &labels_path).unwrap();
    let y = scratch.0.join("y.npy");
    write_npy_i64(&y, &labels[..n]).unwrap();

    let audit = |model: &str, inputs: &Path, out: &str| {
        let mut config =
            AuditConfig::new(root().join(model), inputs.to_path_buf(), y.clone(), &[0.1]);
        config.attacks = "pgd".into();
        config.steps = Some(10);
        config.samples = Some(n);
        config.out = scratch.0.join(out);
        config.check().unwrap().run(&Silent).unwrap()
    };
    let nchw = audit("models/mnist_cnn.onnx", &x_nchw, "nchw");
    let nhwc = audit("fixtures/onnx/mnist_cnn_nhwc.onnx", &x_nhwc, "nhwc");
    assert_eq!(
        nchw.evaluation.clean_predictions,
        nhwc.evaluation.clean_predictions
    );
    let (a, b) = (&nchw.evaluation.results[0], &nhwc.evaluation.results[0]);
    assert_eq!(a.success, b.success);
    assert_eq!(a.predictions, b.predictions);

    // Adversarial examples come back in each model's own layout, pixel for pixel the same.
    let (adv_nchw, s1) = npy(&nchw.written.adversarial[0]);
    let (adv_nhwc, s2) = npy(&nhwc.written.adversarial[0]);
    assert_eq!(s1, [n, 1, 28, 28]);
    assert_eq!(s2, [n, 28, 28, 1]);
    let back = chw_to_hwc(&adv_nchw, n, [1, 28, 28]);
    let worst = back
        .iter()
        .zip(&adv_nhwc)
        .map(|(p, q)| (p - q).abs())
        .fold(0f32, f32::max);
    assert!(worst <= 1e-5, "max |Δ| = {worst}");
}
