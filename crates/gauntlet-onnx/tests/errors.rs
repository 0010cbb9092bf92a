//! Bad model files give clear errors, never panics.

use onnx_ir::{Message, ModelProto, NodeProto};

use gauntlet_onnx::OnnxModel;

fn path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(name)
}

#[test]
fn truncated_file_is_an_error() {
    let bytes = std::fs::read(path("models/mnist_cnn.onnx")).unwrap();
    let err = OnnxModel::from_bytes(&bytes[..bytes.len() / 3], "cut.onnx", None).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("cut.onnx"), "{msg}");
}

#[test]
fn missing_file_is_an_error() {
    let err = OnnxModel::load(std::path::Path::new("/nonexistent/model.onnx")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/model.onnx"));
}

#[test]
fn every_unsupported_operator_is_listed_at_once() {
    let bytes = std::fs::read(path("models/mnist_cnn.onnx")).unwrap();
    let mut model = ModelProto::parse_from_bytes(&bytes).unwrap();
    let graph = model.graph.as_mut().unwrap();
    // Two unsupported operators on the path from the input to the scores: the first
    // convolution reads their output.
    let mut previous = "input".to_string();
    for (i, (op, name)) in [
        ("NonMaxSuppression", "nms_1"),
        ("StringNormalizer", "strnorm_7"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut node = NodeProto::new();
        node.op_type = op.into();
        node.name = name.into();
        node.input.push(previous.clone());
        previous = format!("{name}_out");
        node.output.push(previous.clone());
        graph.node.insert(i, node);
    }
    let conv = graph.node.iter_mut().find(|n| n.op_type == "Conv").unwrap();
    conv.input[0] = previous;
    // A third on a dead end: the scores do not depend on it, so it is not evaluated.
    let mut dead = NodeProto::new();
    dead.op_type = "TfIdfVectorizer".into();
    dead.name = "unused_9".into();
    dead.input.push("input".into());
    dead.output.push("unused_9_out".into());
    graph.node.push(dead);
    let edited = model.write_to_bytes().unwrap();
    let msg = OnnxModel::from_bytes(&edited, "edited.onnx", None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("NonMaxSuppression") && msg.contains("nms_1"),
        "{msg}"
    );
    assert!(
        msg.contains("StringNormalizer") && msg.contains("strnorm_7"),
        "{msg}"
    );
    assert!(msg.contains("opset 13"), "{msg}");
    assert!(!msg.contains("TfIdfVectorizer"), "{msg}");
}

#[test]
fn wrong_input_size_is_an_error_not_a_panic() {
    use gauntlet_core::model::Classifier;
    let model = OnnxModel::load(&path("models/mnist_cnn.onnx")).unwrap();
    let x = burn::tensor::Tensor::<2>::zeros([2, 100], &gauntlet_core::device::compute_device());
    let msg = model.logits(x).unwrap_err().to_string();
    assert!(msg.contains("expects 784"), "{msg}");
    // A declared shape that does not fit the graph is caught at load time.
    let bytes = std::fs::read(path("models/mnist_cnn.onnx")).unwrap();
    let msg = OnnxModel::from_bytes(&bytes, "m.onnx", Some(vec![3, 28, 28]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("channels"), "{msg}");
}
