//! `gauntlet scan`: the report it promises (flagged indices, scores, precision and recall
//! against the manifest, seed and hashes) on a small poisoned set written here, and bad input
//! as a one-line error with exit code 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gauntlet_core::data::{write_npy_f32, write_npy_i64, Dataset};
use gauntlet_core::hash::sha256_hex;

mod common;
use common::Scratch;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn gauntlet(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(args)
        .output()
        .unwrap()
}

/// The demo digits with 28 non-zero digits given the corner trigger and label 0 (BadNets,
/// all-to-one); writes x.npy, y.npy and manifest.json into `dir`.
fn write_poisoned(dir: &Path) -> Vec<usize> {
    let demo = root().join("data/mnist-demo");
    let mut data = Dataset::load(&demo.join("x.npy"), &demo.join("y.npy")).unwrap();
    let poisoned: Vec<usize> = (0..1000)
        .filter(|&i| data.labels[i] != 0)
        .step_by(32)
        .take(28)
        .collect();
    for &i in &poisoned {
        for r in 24..28 {
            for c in 24..28 {
                data.inputs[i * 784 + r * 28 + c] = 1.0;
            }
        }
        data.labels[i] = 0;
    }
    write_npy_f32(&dir.join("x.npy"), &data.inputs, &[1000, 1, 28, 28]).unwrap();
    write_npy_i64(&dir.join("y.npy"), &data.labels).unwrap();
    let manifest =
        serde_json::json!({"attack": "badnets", "target_class": 0, "poisoned": poisoned});
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    poisoned
}

fn args(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "scan".into(),
        "--model".into(),
        root().join("models/mnist_cnn.onnx").display().to_string(),
        "--inputs".into(),
        dir.join("x.npy").display().to_string(),
        "--labels".into(),
        dir.join("y.npy").display().to_string(),
        "--quiet".into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

#[test]
fn scan_writes_flags_scores_and_precision_recall() {
    let scratch = Scratch::new("scan-report");
    let dir = &scratch.0;
    let poisoned = write_poisoned(dir);
    let out = dir.join("out");
    let manifest = dir.join("manifest.json").display().to_string();
    let o = gauntlet(&args(
        dir,
        &[
            "--method",
            "spectral,activation-clustering,loss",
            "--manifest",
            &manifest,
            "--expected-fraction",
            "0.25",
            "--seed",
            "4",
            "--out",
            &out.display().to_string(),
        ],
    ));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["seed"], 4);
    assert_eq!(report["layer"], "/net/net.8/Relu_output_0");
    assert_eq!(
        report["inputs"]["sha256"],
        sha256_hex(&std::fs::read(dir.join("x.npy")).unwrap())
    );
    assert_eq!(report["manifest"]["poisoned"], 28);
    for method in ["spectral", "activation-clustering", "loss"] {
        let m = &report["methods"][method];
        assert_eq!(m["scores"].as_array().unwrap().len(), 1000, "{method}");
        let flagged: Vec<usize> = serde_json::from_value(m["flagged"].clone()).unwrap();
        let found = flagged.iter().filter(|i| poisoned.contains(i)).count();
        let recall = m["recall"].as_f64().unwrap();
        assert!((recall - found as f64 / 28.0).abs() < 1e-12, "{method}");
        assert!(m["precision"].as_f64().is_some(), "{method}");
    }
    // The poisons are digits relabelled 0: both activation detectors find them.
    assert!(report["methods"]["spectral"]["recall"].as_f64().unwrap() >= 0.9);
    assert!(
        report["methods"]["activation-clustering"]["recall"]
            .as_f64()
            .unwrap()
            >= 0.9
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("class 0 (clean"),
        "histograms per class"
    );
    assert!(out.join("report.md").exists());
}

#[test]
fn bad_input_is_a_clear_error() {
    let scratch = Scratch::new("scan-errors");
    let dir = &scratch.0;
    write_poisoned(dir);
    let out = dir.join("out").display().to_string();
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (
            vec!["--layer", "fc7"],
            &["'fc7'", "/net/net.8/Relu_output_0 (Relu node"],
        ),
        (vec!["--method", "strip"], &["--clean-inputs"]),
        (
            vec!["--method", "spectrum"],
            &["spectrum", "activation-clustering"],
        ),
        (vec!["--expected-fraction", "0"], &["--expected-fraction"]),
    ];
    for (extra, expected) in cases {
        let mut a = extra.clone();
        a.extend(["--out", out.as_str()]);
        let o = gauntlet(&args(dir, &a));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        for e in expected {
            assert!(err.contains(e), "{extra:?}: {err}");
        }
    }
    // A manifest of another data set.
    std::fs::write(dir.join("bad.json"), r#"{"poisoned": [5000]}"#).unwrap();
    let bad = dir.join("bad.json").display().to_string();
    let o = gauntlet(&args(dir, &["--manifest", &bad, "--out", &out]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("sample 5000") && err.contains("1000 samples"),
        "{err}"
    );
}
