//! `gauntlet poison`: the files and manifest keys the CLI contract promises, and bad input as
//! a one-line error with exit code 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::Scratch;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn poison(extra: &[&str], out: &Path) -> Output {
    let x = root().join("data/mnist-demo/x.npy");
    let y = root().join("data/mnist-demo/y.npy");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gauntlet"));
    cmd.arg("poison")
        .arg("--inputs")
        .arg(&x)
        .arg("--labels")
        .arg(&y)
        .args(extra)
        .arg("--quiet")
        .arg("--out")
        .arg(out);
    cmd.output().unwrap()
}

#[test]
fn poison_writes_the_set_the_manifest_and_the_triggered_test_set() {
    let scratch = Scratch::new("cli-poison");
    let out = scratch.0.join("out");
    let x = root().join("data/mnist-demo/x.npy");
    let y = root().join("data/mnist-demo/y.npy");
    let output = poison(
        &[
            "--attack",
            "badnets",
            "--trigger",
            "corner:4",
            "--fraction",
            "0.1",
            "--target-class",
            "0",
            "--seed",
            "3",
            "--test-inputs",
            &x.display().to_string(),
            "--test-labels",
            &y.display().to_string(),
        ],
        &out,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for f in [
        "x.npy",
        "y.npy",
        "manifest.json",
        "trigger.png",
        "test_triggered_x.npy",
        "test_triggered_y.npy",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    for key in [
        "attack",
        "variant",
        "seed",
        "fraction",
        "target_class",
        "trigger",
        "inputs",
        "labels",
        "poisoned",
    ] {
        assert!(manifest.get(key).is_some(), "manifest lacks {key}");
    }
    assert_eq!(manifest["attack"], "badnets");
    assert_eq!(manifest["seed"], 3);
    assert_eq!(manifest["target_class"], 0);
    let poisoned: Vec<u64> = manifest["poisoned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(poisoned.len(), 100);
    assert!(poisoned.windows(2).all(|w| w[0] < w[1]), "sorted");
    assert_eq!(manifest["trigger"]["spec"], "corner:4");
    assert_eq!(manifest["inputs"]["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn bad_input_exits_2_with_a_message() {
    let scratch = Scratch::new("cli-poison-bad");
    let out = scratch.0.join("out");
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "--attack",
                "badnets",
                "--fraction",
                "1.5",
                "--target-class",
                "0",
            ],
            "(0, 1]",
        ),
        (
            &[
                "--attack",
                "badnets",
                "--fraction",
                "0.1",
                "--target-class",
                "10",
            ],
            "out of range",
        ),
        (
            &[
                "--attack",
                "badnets",
                "--trigger",
                "corner:40",
                "--fraction",
                "0.1",
                "--target-class",
                "1",
            ],
            "does not fit",
        ),
        (
            &["--attack", "bogus", "--fraction", "0.1"],
            "badnets, label-flip, clean-label",
        ),
        (
            &[
                "--attack",
                "clean-label",
                "--fraction",
                "0.01",
                "--target-class",
                "1",
            ],
            "--model",
        ),
    ];
    for (args, message) in cases {
        let output = poison(args, &out);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(!out.join("manifest.json").exists());
    }
}

/// Runs `gauntlet poison-loop` on the 1,000 demo digits (BadNets 10 % to class 0, one
/// epoch of batch 32, 100 held-out digits, no progress bars) with `extra` flags, into `out`.
fn poison_loop(out: &Path, extra: &[&str]) -> Output {
    let x = root().join("data/mnist-demo/x.npy");
    let y = root().join("data/mnist-demo/y.npy");
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .arg("poison-loop")
        .arg("--inputs")
        .arg(&x)
        .arg("--labels")
        .arg(&y)
        .arg("--test-inputs")
        .arg(&x)
        .arg("--test-labels")
        .arg(&y)
        .arg("--architecture")
        .arg(root().join("models/mnist_cnn.onnx"))
        .args([
            "--attack",
            "badnets",
            "--fraction",
            "0.1",
            "--target-class",
            "0",
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--holdout",
            "100",
            "--quiet",
        ])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn poison_loop_trains_scans_repairs_and_reports_before_and_after() {
    let scratch = Scratch::new("cli-poison-loop");
    let out = scratch.0.join("loop");
    let output = poison_loop(
        &out,
        &[
            "--pictures",
            "4",
            "--methods",
            "spectral,activation-clustering",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for f in [
        "report.json",
        "report.md",
        "report.html",
        "triggered_examples.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let models = report["models"].as_array().unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "clean data",
            "poisoned data",
            "after spectral",
            "after activation-clustering"
        ]
    );
    assert_eq!(models[0]["training_samples"], 1000);
    for m in &models[2..] {
        let flagged = m["flagged"].as_u64().unwrap();
        let found = m["poisons_found"].as_u64().unwrap();
        assert_eq!(m["poisons_total"], 100);
        assert!(found <= 100 && found <= flagged);
        assert_eq!(m["clean_lost"].as_u64().unwrap(), flagged - found);
        assert_eq!(m["training_samples"].as_u64().unwrap(), 1000 - flagged);
        let success = m["attack_success"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&success));
    }
    assert_eq!(report["pictures"].as_array().unwrap().len(), 4);
    assert_eq!(
        report["pictures"][0]["predictions"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn poison_loop_reclassification_gives_rows_back_and_trains_once_more() {
    let scratch = Scratch::new("cli-poison-loop-reclassify");
    let out = scratch.0.join("loop");
    let output = poison_loop(&out, &["--methods", "spectral", "--reclassify"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let models = report["models"].as_array().unwrap();
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "clean data",
            "poisoned data",
            "after spectral",
            "after spectral + reclassification"
        ]
    );
    // Spectral's fixed budget flags rows in every class; the retrained model reads most clean
    // ones as their own label, so fewer rows are dropped the second time, never more.
    let first = models[2]["flagged"].as_u64().unwrap();
    let second = models[3]["flagged"].as_u64().unwrap();
    assert!(first > 0 && second < first, "{first} then {second}");
    let third = &models[3];
    assert_eq!(third["training_samples"].as_u64().unwrap(), 1000 - second);
    assert_eq!(
        third["clean_lost"].as_u64().unwrap() + third["poisons_found"].as_u64().unwrap(),
        second
    );
    // The second training set is the written one.
    let labels = std::fs::read(out.join("repaired-spectral-reclassified/y.npy")).unwrap();
    let header = u16::from_le_bytes([labels[8], labels[9]]) as usize + 10;
    assert_eq!((labels.len() - header) as u64 / 8, 1000 - second);
    assert_eq!(report["provenance"]["reclassify"], true);
}
