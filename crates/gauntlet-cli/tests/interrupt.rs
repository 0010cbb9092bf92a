//! Ctrl-C during an audit keeps what was finished: the report is written, marked incomplete.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::{interrupt, Scratch};

#[test]
fn sigint_writes_a_partial_report() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scratch = Scratch::new("interrupt");
    let out = scratch.join("report");
    // FGSM finishes at once; PGD (50 batches of 500 steps) is still running when the signal
    // arrives, and stops after the batch in hand.
    let child = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args([
            "audit",
            "--model",
            root.join("models/mnist_cnn.onnx").to_str().unwrap(),
            "--inputs",
            root.join("data/mnist-demo/x.npy").to_str().unwrap(),
            "--labels",
            root.join("data/mnist-demo/y.npy").to_str().unwrap(),
            "--eps",
            "0.01",
            "--attacks",
            "fgsm,pgd",
            "--steps",
            "500",
            "--batch-size",
            "8",
            "--samples",
            "400",
            "--no-diagnostics",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (exit, stderr) = interrupt(child, Duration::from_secs(3), Duration::from_secs(120));
    assert_eq!(exit.code(), Some(2), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["status"], "incomplete");
    assert!(report["errors"][0]
        .as_str()
        .unwrap()
        .contains("interrupted"));
    // The attack that finished before the signal is in the report.
    assert!(report["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["attack"] == "fgsm"));
}
