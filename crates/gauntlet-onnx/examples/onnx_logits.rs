//! Runs an ONNX classifier on a batch stored as `.npy` and writes its logits, to compare
//! gauntlet's interpreter with another runtime (e.g. onnxruntime) on a real model.
//!
//! ```text
//! cargo run -p gauntlet-onnx --release --example onnx_logits -- \
//!     MODEL.onnx INPUT.npy OUT_LOGITS.npy [--input-shape 3,224,224] [--grad OUT_GRAD.npy]
//! ```
//!
//! INPUT.npy is a float32 array whose first axis is the batch; the logits are written as
//! a float32 `[N, classes]` array. `--input-shape` gives the shape of one sample when the
//! model does not declare it. `--grad` also writes the input gradient (shaped like INPUT) of
//! Σ over the batch of `logit[p] − logit[(p + 1) mod classes]`, `p` each sample's predicted
//! class: the objective `tests/fixtures.rs` checks, to compare with another framework.

use std::path::PathBuf;
use std::time::Instant;

use gauntlet_core::data::{read_npy_f32, write_npy_f32};
use gauntlet_core::device::{compute_device, keep_freed_memory};
use gauntlet_core::loss::Objective;
use gauntlet_core::model::{loss_and_grad, Classifier};
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_onnx::OnnxModel;

const USAGE: &str = "usage: onnx_logits MODEL.onnx INPUT.npy OUT_LOGITS.npy \
                     [--input-shape 3,224,224] [--grad OUT_GRAD.npy]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut paths = Vec::new();
    let mut input_shape = None;
    let mut grad_path = None;
    while let Some(arg) = args.next() {
        if arg == "--input-shape" {
            let value = args.next().ok_or(USAGE)?;
            let shape = value
                .split(',')
                .map(|d| d.trim().parse::<usize>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("cannot read --input-shape '{value}': {e}"))?;
            input_shape = Some(shape);
        } else if arg == "--grad" {
            grad_path = Some(PathBuf::from(args.next().ok_or(USAGE)?));
        } else {
            paths.push(PathBuf::from(arg));
        }
    }
    let [model_path, input_path, output_path]: [PathBuf; 3] =
        paths.try_into().map_err(|_| USAGE)?;
    keep_freed_memory();

    let started = Instant::now();
    let bytes = std::fs::read(&model_path)
        .map_err(|e| format!("cannot read {}: {e}", model_path.display()))?;
    let model = OnnxModel::from_bytes(&bytes, &model_path.display().to_string(), input_shape)?;
    let loaded = started.elapsed();

    let input = std::fs::read(&input_path)
        .map_err(|e| format!("cannot read {}: {e}", input_path.display()))?;
    let (x, shape) = read_npy_f32(&input, &input_path)?;
    let n = shape.first().copied().unwrap_or(0);
    if n == 0 || x.len() != n * model.features() {
        return Err(format!(
            "{} holds shape {shape:?}; the model expects [N, {:?}]",
            input_path.display(),
            model.sample_shape()
        )
        .into());
    }
    let batch = from_rows(x, n, model.features(), &compute_device());
    let started = Instant::now();
    let logits = model.logits(batch.clone())?;
    let elapsed = started.elapsed();
    let logits = to_vec(logits);
    write_npy_f32(&output_path, &logits, &[n, model.num_classes()])?;
    println!(
        "{}: opset {}, {} samples × {} classes; loaded (with a 1-sample probe) in {:.2} s, \
         ran in {:.2} s; logits written to {}",
        model_path.display(),
        model.opset(),
        n,
        model.num_classes(),
        loaded.as_secs_f64(),
        elapsed.as_secs_f64(),
        output_path.display()
    );
    if let Some(path) = grad_path {
        let positive = argmax_rows(&logits, model.num_classes());
        let negative: Vec<i64> = positive
            .iter()
            .map(|&p| (p + 1) % model.num_classes() as i64)
            .collect();
        let objective = Objective::LogitDifference {
            positive: &positive,
            negative: &negative,
        };
        let started = Instant::now();
        let step = loss_and_grad(&model, &batch, &objective)?;
        let elapsed = started.elapsed();
        write_npy_f32(&path, &to_vec(step.grad), &shape)?;
        println!(
            "input gradient in {:.2} s (forward and backward), written to {}",
            elapsed.as_secs_f64(),
            path.display()
        );
    }
    Ok(())
}
