//! Which output holds the class scores (scikit-learn's `label` + probabilities, ZipMap,
//! auxiliary heads), and channels-last models. Fixtures: `tools/export_output_and_layout_fixtures.py`.

use std::path::{Path, PathBuf};

use gauntlet_core::data::read_npy_f32;
use gauntlet_core::device::compute_device;
use gauntlet_core::layout::{hwc_to_chw, Layout};
use gauntlet_core::loss::Objective;
use gauntlet_core::model::{loss_and_grad, Classifier};
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_onnx::gradcheck::{check_margin_gradient, generic_point};
use gauntlet_onnx::{LoadOptions, OnnxModel};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn npy(relative: &str) -> (Vec<f32>, Vec<usize>) {
    let path = root().join(relative);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    read_npy_f32(&bytes, &path).unwrap()
}

fn load(relative: &str, output: Option<&str>) -> gauntlet_core::Result<OnnxModel> {
    let path = root().join(relative);
    let bytes = std::fs::read(&path).unwrap();
    let options = LoadOptions {
        output: output.map(String::from),
        ..LoadOptions::default()
    };
    OnnxModel::from_bytes_with(&bytes, relative, &options)
}

fn logits(model: &OnnxModel, x: Vec<f32>) -> Vec<f32> {
    let n = x.len() / model.features();
    to_vec(
        model
            .logits(from_rows(x, n, model.features(), &compute_device()))
            .unwrap(),
    )
}

fn softmax_rows(logits: &[f32], classes: usize) -> Vec<f32> {
    logits
        .chunks(classes)
        .flat_map(|row| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
            let sum: f32 = e.iter().sum();
            e.into_iter().map(move |v| v / sum)
        })
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// scikit-learn's test accuracy recorded by the export script.
fn sklearn_accuracy(model: &str) -> f64 {
    let text = std::fs::read_to_string(root().join("fixtures/sklearn/expected.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["models"][model]["sklearn_test_accuracy"]
        .as_f64()
        .unwrap()
}

#[test]
fn scikit_learn_exports_give_scikit_learns_probabilities_and_accuracy() {
    let (x, _) = npy("fixtures/sklearn/x_test.npy");
    let labels = {
        let path = root().join("fixtures/sklearn/y_test.npy");
        gauntlet_core::data::parse_labels(&std::fs::read(&path).unwrap(), &path).unwrap()
    };
    for (name, output, bypassed) in [
        ("mlp", "output_probability", vec!["ZipMap", "Softmax"]),
        (
            "logreg",
            "probabilities",
            vec!["Normalizer", "LinearClassifier's SOFTMAX post-transform"],
        ),
    ] {
        let model = load(&format!("fixtures/sklearn/{name}.onnx"), None)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(model.scores().output, output, "{name}");
        assert_eq!(model.scores().bypassed, bypassed, "{name}");
        assert_eq!(model.sample_shape(), [64]);
        assert_eq!(model.num_classes(), 10);
        let scores = logits(&model, x.clone());
        // The logits before the final softmax give onnxruntime's probabilities back.
        let (expected, _) = npy(&format!("fixtures/sklearn/{name}.expected.npy"));
        let worst = max_diff(&softmax_rows(&scores, 10), &expected);
        assert!(worst <= 1e-5, "{name}: max |Δp| = {worst}");
        let predicted = argmax_rows(&scores, 10);
        let correct = predicted
            .iter()
            .zip(&labels)
            .filter(|(p, l)| p == l)
            .count();
        let expected_correct = (sklearn_accuracy(name) * labels.len() as f64).round() as usize;
        assert_eq!(correct, expected_correct, "{name}");
    }
}

#[test]
fn only_the_nodes_the_scores_need_are_evaluated() {
    // The label branch needs ai.onnx.ml ArrayFeatureExtractor, which gauntlet does not
    // evaluate: asking for it names that operator; the default output never reaches it.
    let err = load("fixtures/sklearn/mlp.onnx", Some("output_label"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("ai.onnx.ml::ArrayFeatureExtractor"), "{err}");
    assert!(!err.contains("MatMul"), "{err}");
    assert!(load("fixtures/sklearn/mlp.onnx", None).is_ok());
}

#[test]
fn an_unknown_output_lists_the_outputs() {
    let err = load("fixtures/sklearn/logreg.onnx", Some("scores"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no output named 'scores'"), "{err}");
    assert!(err.contains("'label' (int64"), "{err}");
    assert!(err.contains("'probabilities' (float"), "{err}");
}

#[test]
fn several_score_outputs_must_be_chosen_between() {
    let err = load("fixtures/onnx/two_heads.onnx", None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("2 outputs that could hold the class scores")
            && err.contains("'logits'")
            && err.contains("'aux'")
            && err.contains("`output`"),
        "{err}"
    );
    let (x, _) = npy("fixtures/onnx/two_heads.input.npy");
    let (expected, _) = npy("fixtures/onnx/two_heads.expected.npy");
    let head = load("fixtures/onnx/two_heads.onnx", Some("logits")).unwrap();
    assert!(max_diff(&logits(&head, x.clone()), &expected) <= 1e-5);
    assert_eq!(head.scores().bypassed, Vec::<String>::new());
    // The other head is a different function of the same input.
    let aux = load("fixtures/onnx/two_heads.onnx", Some("aux")).unwrap();
    assert!(max_diff(&logits(&aux, x), &expected) > 1e-2);
}

#[test]
fn a_channels_last_model_takes_channels_first_data_and_agrees_with_its_twin() {
    let nhwc = load("fixtures/onnx/mnist_cnn_nhwc.onnx", None).unwrap();
    assert_eq!(nhwc.layout(), Layout::Nhwc);
    assert_eq!(nhwc.graph_sample_shape(), [28, 28, 1]);
    assert_eq!(nhwc.sample_shape(), [1, 28, 28]);
    let nchw = OnnxModel::load(&root().join("models/mnist_cnn.onnx")).unwrap();
    assert_eq!(nchw.layout(), Layout::Nchw);

    let (x_hwc, shape) = npy("fixtures/onnx/mnist_cnn_nhwc.input.npy");
    assert_eq!(shape[1..], [28, 28, 1]);
    let n = shape[0];
    let x = hwc_to_chw(&x_hwc, n, [28, 28, 1]);
    let (expected, _) = npy("fixtures/onnx/mnist_cnn_nhwc.expected.npy");
    let got = logits(&nhwc, x.clone());
    assert!(max_diff(&got, &expected) <= 1e-4);
    assert!(max_diff(&got, &logits(&nchw, x.clone())) <= 1e-5);

    // Gradients reach the channels-first input through the transposition.
    let device = compute_device();
    let batch = from_rows(x, n, 784, &device);
    let labels = [7i64, 2, 1];
    let objective = Objective::CrossEntropy(&labels);
    let a = to_vec(loss_and_grad(&nhwc, &batch, &objective).unwrap().grad);
    let b = to_vec(loss_and_grad(&nchw, &batch, &objective).unwrap().grad);
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0);
    assert!(max_diff(&a, &b) <= 1e-5 * scale.max(1.0));
}

#[test]
fn a_forced_layout_is_checked_against_the_input() {
    let path = root().join("fixtures/sklearn/mlp.onnx");
    let bytes = std::fs::read(path).unwrap();
    let options = LoadOptions {
        layout: Some(Layout::Nhwc),
        ..LoadOptions::default()
    };
    let err = OnnxModel::from_bytes_with(&bytes, "mlp.onnx", &options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nhwc") && err.contains("[64]"), "{err}");
}

#[test]
fn linear_classifier_gradients_match_finite_differences() {
    let model = load("fixtures/sklearn/logreg.onnx", None)
        .unwrap()
        .with_double_precision();
    let (x, _) = npy("fixtures/sklearn/x_test.npy");
    let x: Vec<f64> = x[..64].iter().map(|&v| v as f64).collect();
    let device = compute_device();
    let batch = from_rows(x.iter().map(|&v| v as f32).collect(), 1, 64, &device);
    // The margin of class 3 over class 5: smooth in the logits (which the LinearClassifier
    // computes before its softmax post-transform), so this checks the operator's own gradient.
    let (positive, negative) = ([3i64], [5i64]);
    let objective = Objective::LogitDifference {
        positive: &positive,
        negative: &negative,
    };
    let grad = to_vec(loss_and_grad(&model, &batch, &objective).unwrap().grad);
    let margin = |x: &[f64]| {
        let z = model.logits_f64(x, 1).unwrap();
        z[3] - z[5]
    };
    // The scores are linear in the input, so a wide step has no truncation error and keeps
    // float32 rounding of the perturbed input (1e-8) far below the tolerance.
    let h = 1e-2;
    for i in [0usize, 10, 27, 36, 63] {
        let (mut up, mut down) = (x.clone(), x.clone());
        up[i] += h;
        down[i] -= h;
        let numeric = (margin(&up) - margin(&down)) / (2.0 * h);
        assert!(
            (numeric - grad[i] as f64).abs() <= 1e-4 * numeric.abs().max(1.0),
            "coordinate {i}: numeric {numeric} vs {}",
            grad[i]
        );
    }
}

#[test]
fn a_keras_model_exported_by_tf2onnx_is_read_channels_last() {
    let model = load("fixtures/onnx/keras_cnn.onnx", None).unwrap();
    assert_eq!(model.layout(), Layout::Nhwc);
    assert_eq!(model.graph_sample_shape(), [8, 8, 3]);
    assert_eq!(model.sample_shape(), [3, 8, 8]);
    assert_eq!(model.scores().bypassed, ["Softmax"]);
    let (x_hwc, shape) = npy("fixtures/onnx/keras_cnn.input.npy");
    let n = shape[0];
    let x = hwc_to_chw(&x_hwc, n, [8, 8, 3]);
    let (expected, _) = npy("fixtures/onnx/keras_cnn.expected.npy");
    let worst = max_diff(&softmax_rows(&logits(&model, x.clone()), 10), &expected);
    assert!(worst <= 1e-5, "max |Δp| = {worst}");

    // Input gradients of a logit margin against central differences, in double precision,
    // at a generic point: the digits' runs of equal pixels tie max-pool windows, where
    // finite differences are one-sided.
    let model = model.with_double_precision();
    let x = generic_point(&x);
    let check = check_margin_gradient(&model, &x, (&[1; 3], &[4; 3]), 10, 1e-4, 1e-3).unwrap();
    assert!(check.coordinates >= 5);
    assert!(check.failures.is_empty(), "{:?}", check.failures);
}
