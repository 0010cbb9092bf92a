//! A model whose first layer quantizes its input to 8 levels masks gradients: plain gradient
//! attacks fail on it. gauntlet must flag it, rerun with BPDA, and report a credible (low)
//! robust accuracy.

use std::path::{Path, PathBuf};
use std::process::Command;

use onnx_ir::{Message, ModelProto, NodeProto, TensorProto};

mod common;
use common::Scratch;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// mnist_cnn with `round(7x) / 7` in front.
fn quantized_model(path: &Path) {
    let bytes = std::fs::read(root().join("models/mnist_cnn.onnx")).unwrap();
    let mut model = ModelProto::parse_from_bytes(&bytes).unwrap();
    let graph = model.graph.as_mut().unwrap();
    let input = graph.input[0].name.clone();
    for node in graph.node.iter_mut() {
        for i in node.input.iter_mut() {
            if *i == input {
                *i = "quantized".into();
            }
        }
    }
    let mut scale = TensorProto::new();
    scale.name = "levels".into();
    scale.data_type = 1;
    scale.float_data = vec![7.0];
    graph.initializer.push(scale);
    let node = |op: &str, name: &str, inputs: &[&str], output: &str| {
        let mut n = NodeProto::new();
        n.op_type = op.into();
        n.name = name.into();
        n.input = inputs.iter().map(|s| s.to_string()).collect();
        n.output = vec![output.into()];
        n
    };
    let front = vec![
        node("Mul", "scale_up", &[&input, "levels"], "scaled"),
        node("Round", "quantize", &["scaled"], "rounded"),
        node("Div", "scale_down", &["rounded", "levels"], "quantized"),
    ];
    let rest = std::mem::take(&mut graph.node);
    graph.node = front.into_iter().chain(rest).collect();
    std::fs::write(path, model.write_to_bytes().unwrap()).unwrap();
}

#[test]
fn quantized_input_is_flagged_and_broken_with_bpda() {
    let dir = Scratch::new("masking");
    let model = dir.join("quantized.onnx");
    quantized_model(&model);
    let out = dir.join("report");
    let run = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args([
            "audit",
            "--model",
            model.to_str().unwrap(),
            "--inputs",
            root().join("data/mnist-demo/x.npy").to_str().unwrap(),
            "--labels",
            root().join("data/mnist-demo/y.npy").to_str().unwrap(),
            "--eps",
            "0.3",
            "--attacks",
            "pgd",
            "--steps",
            "20",
            "--samples",
            "24",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    let acc = |name: &str| {
        results
            .iter()
            .find(|r| r["attack"] == name)
            .unwrap_or_else(|| panic!("no {name}"))["robust_accuracy"]
            .as_f64()
            .unwrap()
    };
    let plain = acc("pgd");
    let bpda = acc("pgd+bpda");
    // Round has a zero gradient: plain PGD is blind; through BPDA it breaks the model.
    assert!(
        plain >= 0.5,
        "plain PGD should be masked, got robust accuracy {plain}"
    );
    assert!(
        bpda <= 0.2,
        "PGD with BPDA should break the quantized model, got {bpda}"
    );
    let worst = report["worst_case"][0]["robust_accuracy"].as_f64().unwrap();
    assert!(worst <= bpda + 1e-9);
    let diagnostics = report["diagnostics"].as_array().unwrap();
    let flag = diagnostics
        .iter()
        .find(|d| d["check"] == "non-differentiable-operators")
        .unwrap();
    assert_eq!(flag["status"], "warn");
    assert!(flag["detail"]
        .as_str()
        .unwrap()
        .contains("Round ('quantize')"));
    let grads = diagnostics
        .iter()
        .find(|d| d["check"] == "input-gradients")
        .unwrap();
    assert_eq!(
        grads["status"], "warn",
        "zero gradients must be reported: {grads}"
    );
    // Per-sample results are written next to the report.
    let lines = std::fs::read_to_string(out.join("samples.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 24);
}
