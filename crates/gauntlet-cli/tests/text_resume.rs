//! `gauntlet text-audit` killed with SIGKILL mid-run resumes: the rerun of the same command
//! sends no finished message to the filter again (an external filter logs every text it is
//! asked about), loses none (the final report holds every journaled outcome, unchanged, and
//! equals an uninterrupted run), and removes its checkpoint once complete. Ctrl-C stops with a
//! partial report and exit code 2.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gauntlet_text::corpus::{load_corpus, split_by_id};
use gauntlet_text::mime::extract_text;

mod common;
use common::Scratch;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python3() -> Option<String> {
    match Command::new("python3").arg("--version").output() {
        Ok(o) if o.status.success() => Some("python3".into()),
        _ => {
            eprintln!("SKIP: python3 not found on PATH");
            None
        }
    }
}

/// The audit: DeepWordBug against the keyword filter (a Python process), plain filter only.
fn text_audit(py: &str, out: &Path, log: &Path) -> Command {
    let root = root();
    let filter = root.join("crates/gauntlet-text/tests/fixtures/keyword_filter.py");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gauntlet"));
    cmd.arg("text-audit")
        .arg("--corpus")
        .arg(root.join("data/spam-demo/spam-demo.jsonl.gz"))
        .arg("--filter-cmd")
        .arg(format!("{py} {}", filter.display()))
        .args([
            "--filter-timeout",
            "30",
            "--attacks",
            "deepwordbug",
            "--no-defenses",
            "--max-messages",
            "12",
        ])
        .args(["--max-word-fraction", "0.3", "--quiet", "--out"])
        .arg(out)
        // Where the filter logs what it is sent; not part of the command, so not of the fingerprint.
        .env("GAUNTLET_FILTER_LOG", log);
    cmd
}

/// Journal records of finished messages: (message id, the outcome as JSON).
fn journaled(checkpoint: &Path) -> Vec<(String, serde_json::Value)> {
    let text = std::fs::read_to_string(checkpoint).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["record"] == "attacked")
        .map(|r| {
            (
                r["outcome"]["id"].as_str().unwrap().to_string(),
                r["outcome"].clone(),
            )
        })
        .collect()
}

/// The texts a filter log holds, with how often each was sent.
fn logged(log: &Path) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        if let Ok(text) = serde_json::from_str::<String>(line) {
            *seen.entry(text).or_insert(0) += 1;
        }
    }
    seen
}

/// What an outcome is, less its wall time and floats (compared after JSON round trips).
fn essence(o: &serde_json::Value) -> String {
    format!(
        "{} {} {} {} {} {} {}",
        o["variant"],
        o["attack"],
        o["id"],
        o["success"],
        o["queries"],
        o["levenshtein"],
        o["edits"]
    )
}

fn report(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("text-report.json")).unwrap()).unwrap()
}

#[test]
fn a_killed_text_audit_resumes_without_requerying_or_losing_a_message() {
    let Some(py) = python3() else { return };
    let dir = Scratch::new("text-resume-kill");
    let out = dir.0.join("out");
    let checkpoint = out.join("text-checkpoint.jsonl");
    let (log1, log2) = (dir.0.join("first.log"), dir.0.join("second.log"));

    // Kill the real process once three messages are journaled (SIGKILL: no handler runs).
    let mut child = text_audit(&py, &out, &log1)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if journaled(&checkpoint).len() >= 3 {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the audit ended ({status}) before it could be killed; make it longer");
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no message finished within 300 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on unix
    child.wait().unwrap();
    let finished = journaled(&checkpoint);
    assert!(finished.len() >= 3);
    assert!(
        !out.join("text-report.json").exists(),
        "killed before any report was written"
    );

    // The same command again, to the end.
    let rerun = text_audit(&py, &out, &log2).output().unwrap();
    let stderr = String::from_utf8_lossy(&rerun.stderr);
    assert_eq!(rerun.status.code(), Some(0), "{stderr}");
    assert!(
        !checkpoint.exists(),
        "a complete run removes its checkpoint"
    );
    let r = report(&out);
    assert_eq!(r["status"], "complete");
    assert_eq!(
        r["resumed"].as_u64().unwrap() as usize,
        finished.len(),
        "every journaled outcome was restored"
    );

    // No finished message was sent again: neither its text (held-out evaluation) nor its
    // extracted text (the first query of every attack on it).
    let corpus = load_corpus(&root().join("data/spam-demo/spam-demo.jsonl.gz")).unwrap();
    let (_, test) = split_by_id(&corpus.messages, 0.8);
    let texts: HashMap<&str, (String, String)> = test
        .iter()
        .map(|m| (m.id.as_str(), (m.text.clone(), extract_text(&m.text))))
        .collect();
    let done: HashSet<&str> = finished.iter().map(|(id, _)| id.as_str()).collect();
    let outcomes = r["outcomes"].as_array().unwrap();
    let pending: Vec<&str> = outcomes
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .filter(|id| !done.contains(id))
        .collect();
    assert!(!pending.is_empty(), "the kill left messages to do");
    let second = logged(&log2);
    for id in &done {
        let (raw, extracted) = &texts[id];
        assert!(
            !second.contains_key(raw) && !second.contains_key(extracted),
            "finished message {id} was queried again"
        );
    }
    // The check can see a message being attacked: every pending message's text was sent.
    for id in &pending {
        assert!(
            second.contains_key(&texts[id].1),
            "pending message {id} was not attacked on the rerun"
        );
    }
    let first = logged(&log1);
    assert!(
        first.len() > second.len() / 4,
        "the first run did real work before the kill"
    );

    // Nothing was lost or changed: the journaled outcomes are in the report as they were, and
    // the report is the one an uninterrupted run gives.
    let by_id: HashMap<&str, &serde_json::Value> = outcomes
        .iter()
        .map(|o| (o["id"].as_str().unwrap(), o))
        .collect();
    assert_eq!(by_id.len(), outcomes.len(), "one outcome per message");
    for (id, journaled) in &finished {
        assert_eq!(essence(by_id[id.as_str()]), essence(journaled), "{id}");
    }
    let reference_out = dir.0.join("reference");
    let reference = text_audit(&py, &reference_out, &dir.0.join("reference.log"))
        .output()
        .unwrap();
    assert_eq!(
        reference.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&reference.stderr)
    );
    let expected: Vec<String> = report(&reference_out)["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(essence)
        .collect();
    let got: Vec<String> = outcomes.iter().map(essence).collect();
    assert_eq!(got, expected);
}

#[test]
fn ctrl_c_stops_with_a_partial_report_and_exit_code_2_then_the_rerun_completes() {
    let Some(py) = python3() else { return };
    let dir = Scratch::new("text-resume-interrupt");
    let out = dir.0.join("out");
    let checkpoint = out.join("text-checkpoint.jsonl");
    let log = dir.0.join("filter.log");
    let mut child = text_audit(&py, &out, &log)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while journaled(&checkpoint).is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the audit ended before it could be interrupted"
        );
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no message finished within 300 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let stopped = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert_eq!(stopped.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("status: incomplete") && stderr.contains("did not finish"),
        "{stderr}"
    );
    let partial = report(&out);
    assert_eq!(partial["status"], "incomplete");
    assert!(checkpoint.exists(), "the checkpoint is kept for the rerun");
    let html = std::fs::read_to_string(out.join("text-report.html")).unwrap();
    assert!(html.contains("Incomplete"));

    let rerun = text_audit(&py, &out, &log).output().unwrap();
    assert_eq!(
        rerun.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    let done = report(&out);
    assert_eq!(done["status"], "complete");
    assert_eq!(
        done["resumed"].as_u64().unwrap() as usize,
        partial["outcomes"].as_array().unwrap().len()
    );
    assert!(!checkpoint.exists());
}
