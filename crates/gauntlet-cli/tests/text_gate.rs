//! The CI gate of `gauntlet text-audit`: `--fail-under ATTACK=MIN` thresholds on the share of
//! attacked spam still caught, and `--baseline` regressions, decide the exit code (0 pass, 1
//! below a threshold, 2 malformed threshold, unknown attack or other usage error — before any
//! work); the JUnit file names the failing row; `--json` owns stdout.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::Scratch;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// DeepWordBug on 6 demo messages against the built-in Naive Bayes, up to 30 % of words.
fn text_audit(out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .arg("text-audit")
        .arg("--corpus")
        .arg(root().join("data/spam-demo/spam-demo.jsonl.gz"))
        .args([
            "--attacks",
            "deepwordbug",
            "--no-defenses",
            "--max-messages",
            "6",
            "--max-word-fraction",
            "0.3",
        ])
        .args(["--quiet", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn still_caught(report: &serde_json::Value, row: &str) -> f64 {
    report["gate_rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["row"] == row)
        .unwrap()["still_caught"]
        .as_f64()
        .unwrap()
}

#[test]
fn thresholds_baseline_and_junit_decide_the_exit_code() {
    let dir = Scratch::new("text-gate-run");
    let first = dir.0.join("first");
    let junit = dir.0.join("junit.xml");
    let junit_arg = junit.display().to_string();
    let run = text_audit(
        &first,
        &[
            "--fail-under",
            "deepwordbug=0",
            "--fail-under",
            "worst=0",
            "--junit",
            &junit_arg,
            "--json",
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    // --json: stdout is exactly one JSON document.
    let summary: serde_json::Value =
        serde_json::from_slice(&run.stdout).expect("stdout is JSON and nothing else");
    assert_eq!(
        (summary["passed"].clone(), summary["exit_code"].clone()),
        (true.into(), 0.into())
    );
    assert_eq!(
        summary["cases"].as_array().unwrap().len(),
        2,
        "deepwordbug and worst"
    );
    let xml = std::fs::read_to_string(&junit).expect("the JUnit file is written");
    assert!(
        xml.contains("<testsuite name=\"gauntlet-text\" tests=\"2\" failures=\"0\""),
        "{xml}"
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(first.join("text-report.json")).unwrap()).unwrap();
    let caught = still_caught(&report, "deepwordbug");
    assert!(
        caught < 1.0,
        "30 % of words evade some spam: {}",
        report["gate_rows"]
    );
    assert_eq!(
        summary["cases"][0]["robust_accuracy"].as_f64().unwrap(),
        caught
    );

    // The example: passes or fails exactly as the measured share says.
    let second = dir.0.join("second");
    let run = text_audit(
        &second,
        &["--fail-under", "deepwordbug=0.3", "--junit", &junit_arg],
    );
    let expected = if caught >= 0.3 { 0 } else { 1 };
    assert_eq!(
        run.status.code(),
        Some(expected),
        "still caught {caught}: {}",
        stderr(&run)
    );

    // Demanding every attacked spam still caught fails, says why, and names the row in JUnit.
    let run = text_audit(
        &second,
        &["--fail-under", "deepwordbug=1", "--junit", &junit_arg],
    );
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("FAIL deepwordbug: spam still caught")
            && stderr(&run).contains("below the threshold"),
        "{}",
        stderr(&run)
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
    let failing = xml
        .split("<testcase")
        .find(|c| c.contains("<failure"))
        .expect("a failing testcase");
    assert!(failing.contains("name=\"deepwordbug\""), "{failing}");

    // Baseline: the same run passes with no drop allowed; a baseline where fewer messages were
    // evaded (more spam caught) fails beyond --max-drop.
    let path = first.join("text-report.json").display().to_string();
    let same = text_audit(&second, &["--baseline", &path]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    let mut better = report.clone();
    let evaded = better["outcomes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|o| o["success"] == true)
        .unwrap();
    evaded["success"] = false.into();
    let baseline = dir.0.join("baseline.json");
    std::fs::write(&baseline, serde_json::to_vec(&better).unwrap()).unwrap();
    let baseline_arg = baseline.display().to_string();
    let drop = text_audit(
        &second,
        &["--baseline", &baseline_arg, "--max-drop", "0.02", "--json"],
    );
    assert_eq!(drop.status.code(), Some(1), "{}", stderr(&drop));
    let summary: serde_json::Value = serde_json::from_slice(&drop.stdout).unwrap();
    let failed: Vec<&serde_json::Value> = summary["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .collect();
    assert_eq!(
        failed.len(),
        2,
        "one message more evaded: both rows dropped by 1/6: {summary}"
    );
    assert!(failed[0]["failures"][0]
        .as_str()
        .unwrap()
        .contains("dropped"));
    // 1/6 of the messages is about 0.17: allowed with --max-drop 0.2.
    let within = text_audit(&second, &["--baseline", &baseline_arg, "--max-drop", "0.2"]);
    assert_eq!(within.status.code(), Some(0), "{}", stderr(&within));
}

#[test]
fn malformed_gates_exit_2_before_any_work() {
    let dir = Scratch::new("text-gate-bad");
    let missing = dir.0.join("missing.json").display().to_string();
    let not_json = dir.0.join("not.json");
    std::fs::write(&not_json, "{ nope").unwrap();
    let not_json = not_json.display().to_string();
    for (extra, needle) in [
        (vec!["--fail-under", "deepwordbug"], "no '=MIN'"),
        (vec!["--fail-under", "deepwordbug=abc"], "not a number"),
        (vec!["--fail-under", "deepwordbug=1.5"], "fraction"),
        (
            vec!["--fail-under", "fgsm=0.3"],
            "this audit runs deepwordbug, worst",
        ),
        (
            vec!["--fail-under", "deepwordbug+normalized=0.3"],
            "this audit runs deepwordbug, worst",
        ),
        (
            vec!["--fail-under", "deepwordbug:linf:0.1=0.3"],
            "write deepwordbug=0.3",
        ),
        (vec!["--max-drop", "0.02"], "needs a baseline"),
        (vec!["--baseline", &missing], "cannot read the baseline"),
        (vec!["--baseline", &not_json], "not valid JSON"),
        (vec!["--attacks", "fgsm"], "--attacks"),
        (vec!["--max-edits", "2.5"], "--max-edits"),
    ] {
        let out = dir.0.join("report");
        let run = text_audit(&out, &extra);
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{extra:?}: {err}");
        assert!(
            err.contains(needle),
            "{extra:?}: stderr lacks '{needle}': {err}"
        );
        assert!(!out.exists(), "{extra:?}: the audit ran anyway");
    }
}
