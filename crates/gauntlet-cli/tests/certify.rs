//! `gauntlet certify` on the demo MNIST CNN and digits: the report.json contract (rows at the
//! standard radii, abstain rate, per-sample results, manifest), the Markdown and HTML reports,
//! one-line errors with exit 2 for bad input, and Ctrl-C writing a partial report.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

mod common;
use common::interrupt;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn out_dir(name: &str) -> PathBuf {
    let out = std::env::temp_dir().join(format!("gauntlet-certify-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    out
}

/// The certify command on the demo files, with `extra` flags after the defaults.
fn certify(out: &Path, extra: &[&str]) -> Command {
    certify_labels(out, &root().join("data/mnist-demo/y.npy"), extra)
}

/// The same with another labels file.
fn certify_labels(out: &Path, labels: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gauntlet"));
    cmd.args([
        "certify",
        "--model",
        root().join("models/mnist_cnn.onnx").to_str().unwrap(),
        "--inputs",
        root().join("data/mnist-demo/x.npy").to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    cmd.args(extra);
    cmd
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Three digits, small n, a short attack: seconds even in the debug build. Report in `out`.
fn small_run(out: &Path, batch_size: &str) {
    let output = certify(
        out,
        &[
            "--sigma",
            "0.25",
            "--n0",
            "10",
            "--n",
            "100",
            "--alpha",
            "0.01",
            "--samples",
            "3",
            "--seed",
            "4",
            "--attack-steps",
            "2",
            "--attack-samples",
            "2",
            "--batch-size",
            batch_size,
        ],
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn report_json_holds_the_contract() {
    let out = out_dir("contract");
    small_run(&out, "64");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["status"], "complete");
    assert_eq!(report["samples"], 3);
    assert_eq!(report["seed"], 4);
    let rows = report["rows"].as_array().unwrap();
    let radii: Vec<f64> = rows.iter().map(|r| r["radius"].as_f64().unwrap()).collect();
    for want in [0.0, 0.25, 0.5, 0.75, 1.0] {
        assert!(
            radii.contains(&want),
            "radius {want} missing from {radii:?}"
        );
    }
    let mut last = (1.0f64, 1.0f64);
    for r in rows {
        let (c, e) = (
            r["certified_accuracy"].as_f64().unwrap(),
            r["empirical_accuracy"].as_f64().unwrap(),
        );
        assert!((0.0..=1.0).contains(&c) && (0.0..=1.0).contains(&e));
        assert!(
            c <= last.0 && e <= last.1,
            "accuracies never rise with the radius"
        );
        last = (c, e);
    }
    let abstain = report["abstain_rate"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&abstain));
    let per_sample = report["per_sample"].as_array().unwrap();
    assert_eq!(per_sample.len(), 3);
    for s in per_sample {
        for key in [
            "prediction",
            "pa_lower",
            "radius",
            "correct",
            "attacked",
            "label",
        ] {
            assert!(s.get(key).is_some(), "per-sample key {key} missing: {s}");
        }
        for a in s["attacked"].as_array().unwrap() {
            assert!(a["perturbation"].as_f64().unwrap() <= a["radius"].as_f64().unwrap());
        }
    }
    // The demo CNN is not trained with noise, but σ = 0.25 leaves most digits certified.
    assert!(
        rows[0]["certified_accuracy"].as_f64().unwrap() > 0.0,
        "{rows:?}"
    );
    assert!(report["broken_certificates"].as_array().unwrap().is_empty());
    assert_eq!(report["diagnostics"][0]["status"], "pass");
    let manifest = &report["manifest"];
    assert_eq!(manifest["seed"], 4);
    assert_eq!(manifest["model"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(manifest["data"]["sha256"].as_str().unwrap().len(), 64);
    assert!(!manifest["versions"].as_array().unwrap().is_empty());
    assert_eq!(manifest["settings"]["attack"]["steps"], 2);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| L2 radius |"), "{md}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("certified (lower bound)"));

    // Same seed, same numbers.
    let again = out_dir("contract-again");
    small_run(&again, "32");
    let second: serde_json::Value =
        serde_json::from_slice(&std::fs::read(again.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["rows"], second["rows"]);
    assert_eq!(report["per_sample"], second["per_sample"]);
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&again);
}

#[test]
fn bad_input_is_a_one_line_error_with_exit_2() {
    let labels = out_dir("labels").with_extension("npy");
    let mut bad = vec![1i64; 1000]; // one per demo digit
    bad[1] = 12;
    gauntlet_core::data::write_npy_i64(&labels, &bad).unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["--sigma", "0"], "--sigma"),
        (&["--sigma=-0.5"], "--sigma"),
        (&["--sigma", "0.25", "--n0", "0"], "--n0"),
        (&["--sigma", "0.25", "--n", "0"], "--n "),
        (&["--sigma", "0.25", "--alpha", "1.5"], "--alpha"),
        (&["--sigma", "0.25", "--alpha", "0"], "--alpha"),
    ];
    for (flags, needle) in cases {
        let out = out_dir("bad");
        let output = certify(&out, flags).output().unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {err}");
        assert_eq!(
            err.trim().lines().count(),
            1,
            "{flags:?}: one line, got {err}"
        );
        assert!(
            err.starts_with("error: ") && err.contains(needle),
            "{flags:?}: {err}"
        );
        assert!(!out.join("report.json").exists());
    }
    let out = out_dir("bad-labels");
    let output = certify_labels(&out, &labels, &["--sigma", "0.25", "--samples", "3"])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("label 12 is out of range"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let _ = std::fs::remove_file(&labels);
}

#[test]
fn sigint_writes_a_partial_report_and_exits_2() {
    let out = out_dir("interrupt");
    let child = certify(
        &out,
        &[
            "--sigma",
            "0.25",
            "--n0",
            "10",
            "--n",
            "2000",
            "--samples",
            "500",
            "--attack-steps",
            "2",
            "--attack-samples",
            "2",
            "--predict-n",
            "100",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let (exit, err) = interrupt(child, Duration::from_secs(3), Duration::from_secs(60));
    assert_eq!(exit.code(), Some(2), "{err}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["status"], "incomplete");
    let done = report["samples"].as_u64().unwrap();
    assert!(done < 500, "stopped early, {done} samples");
    assert_eq!(report["per_sample"].as_array().unwrap().len() as u64, done);
    assert!(report["errors"][0]
        .as_str()
        .unwrap()
        .contains("interrupted"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn an_interrupted_certification_resumes_to_the_uninterrupted_result() {
    let flags = [
        "--sigma",
        "0.25",
        "--n0",
        "10",
        "--n",
        "400",
        "--samples",
        "40",
        "--seed",
        "3",
        "--attack-steps",
        "2",
        "--attack-samples",
        "2",
        "--predict-n",
        "100",
    ];
    let whole = out_dir("resume-whole");
    let output = certify(&whole, &flags).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let per_sample = |dir: &Path| -> serde_json::Value {
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        report["per_sample"].clone()
    };
    let expected = per_sample(&whole);
    assert!(
        !whole.join("certify-checkpoint.jsonl").exists(),
        "a finished run removes its checkpoint"
    );

    let parts = out_dir("resume-parts");
    let child = certify(&parts, &flags)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (exit, err) = interrupt(child, Duration::from_millis(1500), Duration::from_secs(60));
    if exit.code() == Some(2) {
        // Stopped midway: the checkpoint holds the finished samples (and its header).
        let checkpoint = std::fs::read_to_string(parts.join("certify-checkpoint.jsonl")).unwrap();
        assert!(checkpoint.lines().count() > 1, "{err}");
    }
    // The rerun without --quiet, to read what it restored.
    let rerun = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .arg("certify")
        .args([
            "--model",
            root().join("models/mnist_cnn.onnx").to_str().unwrap(),
        ])
        .args([
            "--inputs",
            root().join("data/mnist-demo/x.npy").to_str().unwrap(),
        ])
        .args([
            "--labels",
            root().join("data/mnist-demo/y.npy").to_str().unwrap(),
        ])
        .args(["--out", parts.to_str().unwrap()])
        .args(flags)
        .output()
        .unwrap();
    assert_eq!(rerun.status.code(), Some(0), "{}", stderr(&rerun));
    if exit.code() == Some(2) {
        assert!(stderr(&rerun).contains("resumed"), "{}", stderr(&rerun));
    }
    assert!(!parts.join("certify-checkpoint.jsonl").exists());
    assert_eq!(
        per_sample(&parts),
        expected,
        "resumed and uninterrupted results differ"
    );
    let _ = std::fs::remove_dir_all(&whole);
    let _ = std::fs::remove_dir_all(&parts);
}
