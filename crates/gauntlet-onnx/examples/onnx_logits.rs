//! Runs an ONNX classifier on a batch stored as `.npy` and writes its logits, to compare
//! gauntlet's interpreter with another runtime (e.g. onnxruntime) on a real model.
//!
//! ```text
//! cargo run -p gauntlet-onnx --release --example onnx_logits -- \
//!     MODEL.onnx INPUT.npy OUT_LOGITS.npy [--input-shape 3,224,224] [--output NAME]
//!     [--grad OUT_GRAD.npy [--fd K]] [--repeat R] [--node-by-node]
//! ```
//!
//! INPUT.npy is a float32 array whose first axis is the batch; the logits are written as
//! a float32 `[N, classes]` array. `--input-shape` gives the shape of one sample when the
//! model does not declare it. `--grad` also writes the input gradient (shaped like INPUT) of
//! Σ over the batch of `logit[p] − logit[(p + 1) mod classes]`, `p` each sample's predicted
//! class: the objective `tests/fixtures.rs` checks, to compare with another framework. `--fd K`
//! checks that gradient against central differences on K coordinates, in double precision.
//! `--output` names the scores output of a graph with several; a channels-last model's INPUT
//! is read (and its gradient written) in its own layout. `--repeat R` times R passes of each
//! kind and prints every wall-clock and CPU time: the first pass pays for fresh memory, later
//! ones show the steady state of an attack's iterations. `--node-by-node` turns off the fused
//! convolution → ReLU → pooling chains, to time them against the operators one by one.

use std::path::PathBuf;
use std::time::Instant;

use gauntlet_core::data::{read_npy_f32, write_npy_f32};
use gauntlet_core::device::{compute_device, keep_freed_memory};
use gauntlet_core::layout::{chw_to_hwc, hwc_to_chw, Layout};
use gauntlet_core::loss::Objective;
use gauntlet_core::model::{loss_and_grad, Classifier};
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_onnx::gradcheck::check_margin_gradient;
use gauntlet_onnx::{LoadOptions, OnnxModel};

const USAGE: &str = "usage: onnx_logits MODEL.onnx INPUT.npy OUT_LOGITS.npy \
                     [--input-shape 3,224,224] [--output NAME] [--grad OUT_GRAD.npy [--fd K]] \
                     [--repeat R] [--node-by-node]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut paths = Vec::new();
    let mut input_shape = None;
    let mut grad_path = None;
    let mut output = None;
    let mut fd_coordinates = 0usize;
    let mut repeat = 1usize;
    let mut node_by_node = false;
    while let Some(arg) = args.next() {
        if arg == "--input-shape" {
            let value = args.next().ok_or(USAGE)?;
            let shape = value
                .split(',')
                .map(|d| d.trim().parse::<usize>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("cannot read --input-shape '{value}': {e}"))?;
            input_shape = Some(shape);
        } else if arg == "--output" {
            output = Some(args.next().ok_or(USAGE)?);
        } else if arg == "--node-by-node" {
            node_by_node = true;
        } else if arg == "--repeat" {
            repeat = args.next().ok_or(USAGE)?.parse::<usize>()?.max(1);
        } else if arg == "--fd" {
            fd_coordinates = args.next().ok_or(USAGE)?.parse()?;
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
    let options = LoadOptions {
        sample_shape: input_shape,
        output,
        layout: None,
        node_by_node,
    };
    let label = model_path.display().to_string();
    let model = OnnxModel::from_bytes_with(&bytes, &label, &options)?;
    let loaded = started.elapsed();

    let input = std::fs::read(&input_path)
        .map_err(|e| format!("cannot read {}: {e}", input_path.display()))?;
    let (x, shape) = read_npy_f32(&input, &input_path)?;
    // Data in a channels-last model's own layout is fed channels first, as gauntlet works.
    let channels_last =
        model.layout() == Layout::Nhwc && shape.get(1..) == Some(model.graph_sample_shape());
    let x = match shape.get(1..).unwrap_or_default() {
        &[h, w, c] if channels_last => hwc_to_chw(&x, shape[0], [h, w, c]),
        _ => x,
    };
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
    let mut logits = None;
    let mut times = Vec::new();
    for _ in 0..repeat {
        let (started, cpu) = (Instant::now(), cpu_seconds());
        logits = Some(model.logits(batch.clone())?);
        times.push((started.elapsed().as_secs_f64(), cpu_seconds() - cpu));
    }
    let (logits, elapsed) = (logits.expect("one pass"), times[0].0);
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
        elapsed,
        output_path.display()
    );
    if repeat > 1 {
        println!("forward passes: {}", seconds(&times, n));
    }
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
        let mut step = None;
        let mut times = Vec::new();
        for _ in 0..repeat {
            let (started, cpu) = (Instant::now(), cpu_seconds());
            step = Some(loss_and_grad(&model, &batch, &objective)?);
            times.push((started.elapsed().as_secs_f64(), cpu_seconds() - cpu));
        }
        let (step, elapsed) = (step.expect("one pass"), times[0].0);
        let grad = to_vec(step.grad);
        let written = match shape.get(1..).unwrap_or_default() {
            &[h, w, c] if channels_last => chw_to_hwc(&grad, n, [c, h, w]),
            _ => grad.clone(),
        };
        write_npy_f32(&path, &written, &shape)?;
        println!(
            "input gradient in {:.2} s (forward and backward), written to {}",
            elapsed,
            path.display()
        );
        if repeat > 1 {
            println!("forward+backward passes: {}", seconds(&times, n));
        }
        if fd_coordinates > 0 {
            let x = to_vec(batch);
            let model =
                OnnxModel::from_bytes_with(&bytes, &label, &options)?.with_double_precision();
            let check = check_margin_gradient(
                &model,
                &x,
                (&positive, &negative),
                fd_coordinates,
                1e-4,
                1e-3,
            )?;
            println!(
                "finite differences: max relative error {:.2e} over {} coordinates ({} above 1e-3)",
                check.worst_relative_error,
                check.coordinates,
                check.failures.len()
            );
        }
    }
    Ok(())
}

/// `wall s (samples/s), CPU s` for each (wall, CPU) time: CPU over wall is how many cores
/// were busy; on a shared machine the CPU time varies less than the wall time.
fn seconds(times: &[(f64, f64)], n: usize) -> String {
    times
        .iter()
        .map(|(wall, cpu)| format!("{wall:.2} s ({:.2}/s, {cpu:.2} s CPU)", n as f64 / wall))
        .collect::<Vec<_>>()
        .join(", ")
}

/// CPU time used so far by the whole process, in seconds.
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `t` is.
    if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) } != 0 {
        return 0.0;
    }
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}
