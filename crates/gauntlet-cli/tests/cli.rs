//! The command line end to end: a real audit, and every kind of bad input → exit code 2, a
//! one-line message naming the problem, and no report written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gauntlet_core::data::{write_npy_f32, write_npy_i64};

mod common;
use common::Scratch;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("cli-{name}"))
}

fn gauntlet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(args)
        .output()
        .unwrap()
}

fn model() -> String {
    root().join("models/mnist_cnn.onnx").display().to_string()
}

fn demo_x() -> String {
    root().join("data/mnist-demo/x.npy").display().to_string()
}

fn demo_y() -> String {
    root().join("data/mnist-demo/y.npy").display().to_string()
}

/// Runs an audit expected to fail with exit code 2 and a message containing `needle`.
fn expect_input_error(name: &str, model: &str, x: &str, y: &str, extra: &[&str], needle: &str) {
    let dir = scratch(name);
    let out_dir = dir.join("report");
    let out_str = out_dir.display().to_string();
    let mut args = vec![
        "audit",
        "--model",
        model,
        "--inputs",
        x,
        "--labels",
        y,
        "--samples",
        "4",
        "--steps",
        "2",
        "--quiet",
        "--out",
        &out_str,
    ];
    if !extra.iter().any(|a| a.starts_with("--eps")) {
        args.extend_from_slice(&["--eps", "0.1"]);
    }
    args.extend_from_slice(extra);
    let out = gauntlet(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{name}: expected exit 2, stderr: {stderr}"
    );
    assert!(
        stderr.contains(needle),
        "{name}: stderr lacks '{needle}': {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{name}: panicked: {stderr}");
    assert!(
        !out_dir.join("report.json").exists(),
        "{name}: a report was written"
    );
}

#[test]
fn audit_writes_the_report_contract() {
    let dir = scratch("ok");
    let out = dir.join("report");
    let out_str = out.display().to_string();
    let run = gauntlet(&[
        "audit",
        "--model",
        &model(),
        "--inputs",
        &demo_x(),
        "--labels",
        &demo_y(),
        "--norm",
        "linf",
        "--eps",
        "0.1,0.3",
        "--attacks",
        "fgsm,pgd",
        "--steps",
        "10",
        "--samples",
        "24",
        "--batch-size",
        "16",
        "--seed",
        "5",
        "--out",
        &out_str,
        "--quiet",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["samples"], 24);
    assert_eq!(report["seed"], 5);
    assert!(report["clean_accuracy"].as_f64().unwrap() > 0.9);
    assert_eq!(report["model"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(report["data"]["sha256"].as_str().unwrap().len(), 64);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for r in results {
        for key in [
            "attack",
            "norm",
            "eps",
            "robust_accuracy",
            "attack_success_rate",
            "mean_perturbation",
            "seconds",
            "gradient_evals",
        ] {
            assert!(!r[key].is_null(), "result lacks {key}: {r}");
        }
    }
    // Robust accuracy never rises with ε, per attack.
    for attack in ["fgsm", "pgd"] {
        let accs: Vec<f64> = results
            .iter()
            .filter(|r| r["attack"] == attack)
            .map(|r| r["robust_accuracy"].as_f64().unwrap())
            .collect();
        assert!(accs.windows(2).all(|w| w[1] <= w[0]), "{attack}: {accs:?}");
    }
    assert!(out.join("report.md").exists());
    assert!(out.join("adversarial/pgd_linf_eps0.3.npy").exists());
    assert!(out.join("adversarial/pgd_linf_eps0.3_grid.png").exists());

    // Same seed, same numbers.
    let out2 = dir.join("report2");
    let out2_str = out2.display().to_string();
    let rerun = gauntlet(&[
        "audit",
        "--model",
        &model(),
        "--inputs",
        &demo_x(),
        "--labels",
        &demo_y(),
        "--norm",
        "linf",
        "--eps",
        "0.1,0.3",
        "--attacks",
        "fgsm,pgd",
        "--steps",
        "10",
        "--samples",
        "24",
        "--batch-size",
        "16",
        "--seed",
        "5",
        "--out",
        &out2_str,
        "--quiet",
    ]);
    assert!(rerun.status.success());
    let again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out2.join("report.json")).unwrap()).unwrap();
    for (a, b) in results.iter().zip(again["results"].as_array().unwrap()) {
        assert_eq!(a["robust_accuracy"], b["robust_accuracy"]);
        assert_eq!(a["mean_perturbation"], b["mean_perturbation"]);
    }
}

#[test]
fn bad_inputs_exit_2_with_a_clear_message() {
    let dir = scratch("bad");
    let m = model();
    let (x, y) = (demo_x(), demo_y());

    expect_input_error(
        "missing-model",
        "/nonexistent/m.onnx",
        &x,
        &y,
        &[],
        "cannot read the model file",
    );

    let corrupt = dir.join("corrupt.onnx");
    std::fs::write(&corrupt, b"\x08\x07garbage that is not an onnx model").unwrap();
    expect_input_error(
        "corrupt",
        &corrupt.display().to_string(),
        &x,
        &y,
        &[],
        "corrupt.onnx",
    );

    let truncated = dir.join("truncated.onnx");
    let bytes = std::fs::read(root().join("models/mnist_cnn.onnx")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    expect_input_error(
        "truncated",
        &truncated.display().to_string(),
        &x,
        &y,
        &[],
        "truncated.onnx",
    );

    let wrong_shape = dir.join("rgb.npy");
    write_npy_f32(&wrong_shape, &vec![0.5; 4 * 3 * 32 * 32], &[4, 3, 32, 32]).unwrap();
    let y4 = dir.join("y4.npy");
    write_npy_i64(&y4, &[1, 2, 3, 4]).unwrap();
    expect_input_error(
        "wrong-shape",
        &m,
        &wrong_shape.display().to_string(),
        &y4.display().to_string(),
        &[],
        "expects",
    );

    let y_short = dir.join("y_short.npy");
    write_npy_i64(&y_short, &[1, 2, 3]).unwrap();
    expect_input_error(
        "label-length",
        &m,
        &x,
        &y_short.display().to_string(),
        &[],
        "labels for",
    );

    let nan = dir.join("nan.npy");
    let mut values = vec![0.5f32; 4 * 784];
    values[784 + 10] = f32::NAN;
    write_npy_f32(&nan, &values, &[4, 1, 28, 28]).unwrap();
    expect_input_error(
        "nan",
        &m,
        &nan.display().to_string(),
        &y4.display().to_string(),
        &[],
        "NaN",
    );

    let empty = dir.join("empty.npy");
    write_npy_f32(&empty, &[], &[0, 1, 28, 28]).unwrap();
    let y0 = dir.join("y0.npy");
    write_npy_i64(&y0, &[]).unwrap();
    expect_input_error(
        "empty",
        &m,
        &empty.display().to_string(),
        &y0.display().to_string(),
        &[],
        "no samples",
    );

    expect_input_error("eps-negative", &m, &x, &y, &["--eps=-0.1"], "ε");
    expect_input_error("eps-too-big", &m, &x, &y, &["--eps=2"], "exceeds");
    expect_input_error("eps-nan", &m, &x, &y, &["--eps=nan"], "ε");
    expect_input_error(
        "unknown-norm",
        &m,
        &x,
        &y,
        &["--norm", "l7"],
        "unknown norm",
    );
    expect_input_error(
        "unknown-attack",
        &m,
        &x,
        &y,
        &["--attacks", "pgd,magic"],
        "unknown attack",
    );
    expect_input_error(
        "cw-linf",
        &m,
        &x,
        &y,
        &["--attacks", "cw"],
        "does not support",
    );
    expect_input_error(
        "missing-inputs",
        &m,
        "/nonexistent/x.npy",
        &y,
        &[],
        "/nonexistent/x.npy",
    );
}

#[test]
fn ensemble_is_cumulative_and_names_the_breaking_attack() {
    let dir = scratch("ensemble");
    let out = dir.join("report");
    let out_str = out.display().to_string();
    let run = gauntlet(&[
        "audit",
        "--model",
        &model(),
        "--inputs",
        &demo_x(),
        "--labels",
        &demo_y(),
        "--norm",
        "linf",
        "--eps",
        "0.05,0.1",
        "--attacks",
        "fast",
        "--steps",
        "10",
        "--samples",
        "16",
        "--out",
        &out_str,
        "--quiet",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["manifest"]["ensemble"], true);
    let results = report["results"].as_array().unwrap();
    for eps in [0.05, 0.1] {
        let acc: Vec<f64> = results
            .iter()
            .filter(|r| (r["eps"].as_f64().unwrap() - eps).abs() < 1e-6)
            .map(|r| r["robust_accuracy"].as_f64().unwrap())
            .collect();
        assert_eq!(acc.len(), 2);
        assert!(
            acc[1] <= acc[0],
            "cumulative robust accuracy rose within the ensemble: {acc:?}"
        );
        let worst = report["worst_case"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| (w["eps"].as_f64().unwrap() - eps).abs() < 1e-6)
            .unwrap()["robust_accuracy"]
            .as_f64()
            .unwrap();
        assert_eq!(worst, acc[1]);
    }
    // Every broken sample names the attack that broke it.
    let lines = std::fs::read_to_string(out.join("samples.jsonl")).unwrap();
    for line in lines.lines() {
        let s: serde_json::Value = serde_json::from_str(line).unwrap();
        for b in s["budgets"].as_array().unwrap() {
            if let Some(name) = b["broken_by"].as_str() {
                assert!(name == "apgd-ce" || name == "apgd-t", "{name}");
            }
        }
    }
}
