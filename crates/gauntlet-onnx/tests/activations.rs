//! Activations of intermediate values: the default layer is found in any exporter's graph, and
//! the values are the ones the forward pass computes (the last linear layer applied to them
//! gives the logits).

use std::path::{Path, PathBuf};

use gauntlet_core::data::read_npy_f32;
use gauntlet_core::device::compute_device;
use gauntlet_core::model::Classifier;
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_onnx::graph::HostTensor;
use gauntlet_onnx::OnnxModel;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Ten demo digits scaled to [0, 1].
fn digits() -> Vec<f32> {
    let path = root().join("data/mnist-demo/x.npy");
    let bytes = std::fs::read(&path).unwrap();
    let (values, _) = gauntlet_core::data::parse_inputs(&bytes, &path).unwrap();
    values[..10 * 784].to_vec()
}

#[test]
fn the_last_linear_input_times_its_weights_gives_the_logits() {
    let model = OnnxModel::load(&root().join("models/mnist_cnn.onnx")).unwrap();
    let layer = model.last_linear_input().unwrap();
    assert_eq!(layer, "/net/net.8/Relu_output_0");
    let device = compute_device();
    let x = from_rows(digits(), 10, 784, &device);
    let h = model.activations(x.clone(), &layer).unwrap();
    assert_eq!(h.dims(), [10, 100]);
    let h = to_vec(h);
    assert!(h.iter().all(|&v| v >= 0.0), "a ReLU output");
    let logits = to_vec(model.logits(x).unwrap());
    let (w, b) = match (
        &model.graph().constants["net.9.weight"],
        &model.graph().constants["net.9.bias"],
    ) {
        (HostTensor::Float { data: w, shape }, HostTensor::Float { data: b, .. }) => {
            assert_eq!(shape, &vec![10, 100]);
            (w.clone(), b.clone())
        }
        _ => panic!("float weights"),
    };
    for i in 0..10 {
        for c in 0..10 {
            let z: f32 = b[c]
                + (0..100)
                    .map(|k| h[i * 100 + k] * w[c * 100 + k])
                    .sum::<f32>();
            assert!(
                (z - logits[i * 10 + c]).abs() < 1e-3,
                "row {i} class {c}: {z} vs logits"
            );
        }
    }
    // The input itself and a convolution's output are values too; the batch stays first.
    let x = from_rows(digits(), 10, 784, &device);
    assert_eq!(
        model.activations(x.clone(), "input").unwrap().dims(),
        [10, 784]
    );
    let conv = model.activations(x, "/net/net.0/Conv_output_0").unwrap();
    assert_eq!(conv.dims(), [10, 16 * 24 * 24]);
}

#[test]
fn an_unknown_layer_is_an_error_listing_the_candidates() {
    let model = OnnxModel::load(&root().join("models/mnist_cnn.onnx")).unwrap();
    let x = from_rows(digits(), 10, 784, &compute_device());
    let msg = model.activations(x, "fc7").unwrap_err().to_string();
    assert!(msg.contains("'fc7'"), "{msg}");
    assert!(msg.contains("/net/net.8/Relu_output_0 (Relu node"), "{msg}");
    assert!(msg.contains("logits (Gemm node"), "{msg}");
}

#[test]
fn the_default_layer_is_found_in_other_exporters_graphs() {
    // PyTorch's TorchScript (Gemm) and dynamo (MatMul + Add) exporters, and tf2onnx (Keras).
    for name in ["mlp", "lenet", "resnet_bn", "vit_tiny_dynamo", "keras_cnn"] {
        let path = root().join(format!("fixtures/onnx/{name}.onnx"));
        let model = OnnxModel::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let layer = model
            .last_linear_input()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The value feeds a Gemm or MatMul whose other operand is a constant.
        let reader = model
            .graph()
            .nodes
            .iter()
            .rev()
            .find(|n| n.inputs.contains(&layer))
            .unwrap();
        assert!(
            ["Gemm", "MatMul"].contains(&reader.op.as_str()),
            "{name}: '{layer}' is read by {}",
            reader.op
        );
        let input = root().join(format!("fixtures/onnx/{name}.input.npy"));
        let (x, shape) = read_npy_f32(&std::fs::read(&input).unwrap(), &input).unwrap();
        let n = shape[0];
        let f = x.len() / n;
        let x = if model.layout() == gauntlet_onnx::Layout::Nhwc {
            let [h, w, c] = [shape[1], shape[2], shape[3]];
            gauntlet_core::layout::hwc_to_chw(&x, n, [h, w, c])
        } else {
            x
        };
        let a = model
            .activations(from_rows(x, n, f, &compute_device()), &layer)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(a.dims()[0], n, "{name}");
    }
}
