//! An interrupted audit — Ctrl-C or `kill -9` — resumes from its checkpoint: rerun with the
//! same output directory and it finishes without recomputing finished batches, with results
//! identical to a run that was never interrupted. A complete run removes its checkpoint.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A black-box Square audit slow enough to interrupt: 24 batches of 4 samples.
fn audit(out: &Path) -> Command {
    audit_seeded(out, "7")
}

fn audit_seeded(out: &Path, seed: &str) -> Command {
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
        "96",
        "--eps",
        "0.1",
        "--attacks",
        "square",
        "--queries",
        "400",
        "--black-box",
        "--batch-size",
        "4",
        "--seed",
        seed,
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    cmd
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gauntlet-resume-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Finished batch records in the checkpoint, with their modification times.
fn finished(out: &Path) -> Vec<(String, SystemTime)> {
    let mut files: Vec<(String, SystemTime)> = std::fs::read_dir(out.join("checkpoint"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name().to_string_lossy().ends_with(".json")
                        && e.file_name() != "clean.json"
                })
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.metadata().unwrap().modified().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn wait_for_batches(child: &mut Child, out: &Path, count: usize) {
    let started = Instant::now();
    while finished(out).len() < count {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the audit ended before it could be interrupted"
        );
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait(child: &mut Child) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the audit did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn report(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

fn resume_after(signal: &str, name: &str) {
    // The uninterrupted reference.
    let reference = scratch(&format!("{name}-reference"));
    let status = audit(&reference).status().unwrap();
    assert_eq!(status.code(), Some(0));
    let expected = std::fs::read_to_string(reference.join("samples.jsonl")).unwrap();

    let out = scratch(name);
    let mut child = audit(&out).spawn().unwrap();
    wait_for_batches(&mut child, &out, 3);
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    let code = wait(&mut child);
    let done_before = finished(&out);
    assert!(
        done_before.len() >= 3 && done_before.len() < 24,
        "{} batches were done",
        done_before.len()
    );
    if signal == "-INT" {
        assert_eq!(
            code,
            Some(2),
            "Ctrl-C ends with a partial report and exit 2"
        );
        assert_eq!(report(&out)["status"], "incomplete");
    }

    let status = audit(&out).status().unwrap();
    assert_eq!(status.code(), Some(0));
    // Finished batches were read back, not recomputed ...
    let resumed = report(&out)["resumed_batches"].as_u64().unwrap() as usize;
    assert_eq!(resumed, done_before.len());
    // ... and nothing was lost or changed: every sample's outcome equals the reference's.
    assert_eq!(
        std::fs::read_to_string(out.join("samples.jsonl")).unwrap(),
        expected
    );
    assert_eq!(report(&out)["status"], "complete");
    // A complete run leaves no checkpoint: the next run measures afresh.
    assert!(!out.join("checkpoint").exists());
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&reference);
}

#[test]
fn resumes_after_sigkill_without_losing_or_repeating_samples() {
    resume_after("-KILL", "kill");
}

#[test]
fn resumes_after_sigint_without_losing_or_repeating_samples() {
    resume_after("-INT", "int");
}

#[test]
fn a_checkpoint_of_another_run_is_discarded_not_mixed_in() {
    let out = scratch("other");
    let mut child = audit(&out).spawn().unwrap();
    wait_for_batches(&mut child, &out, 3);
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    wait(&mut child);
    assert!(finished(&out).len() >= 3);
    // Another seed is another run: nothing of the first is reused.
    assert_eq!(audit_seeded(&out, "8").status().unwrap().code(), Some(0));
    assert_eq!(report(&out)["resumed_batches"], 0);
    let fresh = scratch("other-fresh");
    assert_eq!(audit_seeded(&fresh, "8").status().unwrap().code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(out.join("samples.jsonl")).unwrap(),
        std::fs::read_to_string(fresh.join("samples.jsonl")).unwrap()
    );
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&fresh);
}

#[test]
fn ctrl_c_stops_a_black_box_batch_at_its_next_query() {
    // One batch that would take many minutes (ε too small to succeed, 100,000 queries each).
    let root = root();
    let out = scratch("midbatch");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args([
            "audit",
            "--model",
            root.join("models/mnist_cnn.onnx").to_str().unwrap(),
            "--inputs",
            root.join("data/mnist-demo/x.npy").to_str().unwrap(),
            "--labels",
            root.join("data/mnist-demo/y.npy").to_str().unwrap(),
            "--samples",
            "64",
            "--batch-size",
            "64",
            "--eps",
            "0.005",
            "--attacks",
            "square",
            "--queries",
            "100000",
            "--black-box",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the attack is under way (clean predictions checkpointed), then interrupt.
    let started = Instant::now();
    while !out.join("checkpoint/clean.json").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the audit did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let interrupted = Instant::now();
    let code = wait(&mut child);
    // Far sooner than the batch (minutes) would take: the target refused the next query.
    assert!(
        interrupted.elapsed() < Duration::from_secs(60),
        "Ctrl-C waited for the batch"
    );
    assert_eq!(code, Some(2));
    let r = report(&out);
    assert_eq!(r["status"], "incomplete");
    assert!(
        r["errors"].to_string().contains("interrupted"),
        "{}",
        r["errors"]
    );
    // The abandoned batch is not in the checkpoint: a resumed run redoes it.
    assert!(finished(&out).is_empty());
    let _ = std::fs::remove_dir_all(&out);
}
