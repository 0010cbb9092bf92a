//! A sharded audit: `audit --shard I/N` run as separate processes, then `gauntlet merge`, gives
//! exactly the unsharded run's report, per-sample outcomes and adversarial examples; a missing,
//! duplicated, unfinished or foreign shard is refused with a message that names it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use common::Scratch;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The standard ensemble (APGD-CE, APGD-T, FAB-T, Square) on 200 demo digits at two budgets,
/// shortened (iterations, queries) so the test stays quick; 8 blocks of 25 samples.
fn audit(out: &Path, shard: Option<&str>, seed: &str) -> Output {
    let root = root();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gauntlet"));
    cmd.args([
        "audit",
        "--model",
        root.join("models/mnist_cnn.onnx").to_str().unwrap(),
        "--inputs",
        root.join("data/mnist-demo/x.npy").to_str().unwrap(),
        "--labels",
        root.join("data/mnist-demo/y.npy").to_str().unwrap(),
        "--samples",
        "200",
        "--eps",
        "0.1,0.2",
        "--attacks",
        "auto",
        "--steps",
        "10",
        "--queries",
        "100",
        "--batch-size",
        "25",
        "--seed",
        seed,
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    if let Some(shard) = shard {
        cmd.args(["--shard", shard]);
    }
    cmd.output().unwrap()
}

fn merge(dirs: &[PathBuf], out: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gauntlet"));
    cmd.arg("merge");
    for d in dirs {
        cmd.arg(d);
    }
    cmd.args(["--quiet", "--out", out.to_str().unwrap()]);
    cmd.output().unwrap()
}

fn ok(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The report with what differs between any two runs removed: times and the command line.
fn comparable(report: &Path) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.retain(|key, _| {
                    !matches!(key.as_str(), "seconds" | "command" | "resumed_batches")
                        && !key.ends_with("_seconds")
                });
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    strip(&mut value);
    value
}

/// Every file under `dir/sub`, by relative path, with its bytes.
fn files(dir: &Path, sub: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.join(sub))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn four_shards_merged_equal_the_unsharded_run_and_bad_sets_are_refused() {
    let scratch = Scratch::new("shard");
    let whole = scratch.0.join("whole");
    ok(&audit(&whole, None, "3"));
    let shards: Vec<PathBuf> = (0..4).map(|i| scratch.0.join(format!("s{i}"))).collect();
    for (i, dir) in shards.iter().enumerate() {
        ok(&audit(dir, Some(&format!("{i}/4")), "3"));
        assert!(dir.join("shard.json").exists());
    }
    // In any order.
    let merged = scratch.0.join("merged");
    let reversed: Vec<PathBuf> = shards.iter().rev().cloned().collect();
    ok(&merge(&reversed, &merged));

    assert_eq!(comparable(&merged), comparable(&whole));
    let samples = |dir: &Path| std::fs::read_to_string(dir.join("samples.jsonl")).unwrap();
    assert_eq!(samples(&merged), samples(&whole));
    assert_eq!(samples(&whole).lines().count(), 200);
    let adversarial = files(&whole, "adversarial");
    assert!(!adversarial.is_empty());
    assert_eq!(files(&merged, "adversarial"), adversarial);
    assert!(
        !merged.join("checkpoint").exists(),
        "a complete merged run keeps no checkpoint"
    );

    // A missing shard is named.
    let out = scratch.0.join("refused");
    let three = merge(&shards[..3], &out);
    assert_eq!(three.status.code(), Some(2));
    let err = String::from_utf8_lossy(&three.stderr);
    assert!(
        err.contains("shard 3/4") && err.contains("missing"),
        "{err}"
    );
    // The same shard twice.
    let twice = merge(
        &[
            shards[0].clone(),
            shards[1].clone(),
            shards[1].clone(),
            shards[2].clone(),
        ],
        &out,
    );
    assert_eq!(twice.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("given twice"));
    // A shard of another run (another seed) is foreign.
    let foreign = scratch.0.join("foreign");
    ok(&audit(&foreign, Some("3/4"), "4"));
    let mixed = merge(
        &[
            shards[0].clone(),
            shards[1].clone(),
            shards[2].clone(),
            foreign,
        ],
        &out,
    );
    assert_eq!(mixed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("another run"));
    // A folder that is not a shard.
    let not_a_shard = merge(std::slice::from_ref(&whole), &out);
    assert_eq!(not_a_shard.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&not_a_shard.stderr).contains("shard.json"));
}

#[test]
fn a_shard_that_does_not_exist_is_refused_before_any_work() {
    let scratch = Scratch::new("shard-bad");
    for (spec, expected) in [("4/4", "0…3"), ("x", "I/N"), ("9/10", "no samples")] {
        let output = audit(&scratch.0.join("out"), Some(spec), "3");
        assert_eq!(output.status.code(), Some(2), "{spec}");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.contains(expected), "{spec}: {err}");
        assert!(err.contains("--shard"), "{spec}: {err}");
    }
}
