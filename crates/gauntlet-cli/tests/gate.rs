//! The CI gate end to end: thresholds and baseline regressions decide the exit code (0 pass,
//! 1 failed, 2 usage error), the JUnit file names the failing case, `--json` owns stdout.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::Scratch;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("gate-{name}"))
}

/// `gauntlet audit` on 16 MNIST digits with PGD-5 at ε = 0.1, 0.3, plus `extra`.
fn audit(out: &Path, extra: &[&str]) -> Output {
    let root = root();
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .arg("audit")
        .arg("--model")
        .arg(root.join("models/mnist_cnn.onnx"))
        .arg("--inputs")
        .arg(root.join("data/mnist-demo/x.npy"))
        .arg("--labels")
        .arg(root.join("data/mnist-demo/y.npy"))
        .args([
            "--attacks",
            "pgd",
            "--steps",
            "5",
            "--samples",
            "16",
            "--eps",
            "0.1,0.3",
            "--quiet",
            "--out",
        ])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn robust(report: &serde_json::Value, attack: &str, eps: f64) -> f64 {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["attack"] == attack && (r["eps"].as_f64().unwrap() - eps).abs() < 1e-6)
        .unwrap()["robust_accuracy"]
        .as_f64()
        .unwrap()
}

#[test]
fn thresholds_baseline_and_junit_decide_the_exit_code() {
    let dir = scratch("run");
    let first = dir.join("first");
    let junit = dir.join("junit.xml");
    let junit_str = junit.display().to_string();
    // At ε = 0.3 PGD breaks (nearly) every digit: demanding 99 % robust accuracy must fail.
    let run = audit(
        &first,
        &[
            "--fail-under",
            "pgd:linf:0.3=0.99",
            "--fail-under",
            "worst:linf:0.1=0",
            "--junit",
            &junit_str,
        ],
    );
    assert_eq!(run.status.code(), Some(1), "stderr: {}", stderr(&run));
    assert!(
        stderr(&run).contains("below the threshold"),
        "{}",
        stderr(&run)
    );
    let xml = std::fs::read_to_string(&junit).expect("the JUnit file is written");
    assert!(
        xml.contains("<testsuite name=\"gauntlet\" tests=\"4\" failures=\"1\""),
        "{xml}"
    );
    let failing = xml
        .split("<testcase")
        .find(|c| c.contains("<failure"))
        .expect("a failing testcase");
    assert!(failing.contains("name=\"pgd linf eps=0.3\""), "{failing}");
    assert!(failing.contains("below the threshold"), "{failing}");
    assert_eq!(
        xml.matches("<testcase").count(),
        4,
        "pgd and the worst case at two budgets"
    );

    // The numbers of that run make a looser threshold that must pass on the same run.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(first.join("report.json")).unwrap()).unwrap();
    let at_01 = robust(&report, "pgd", 0.1);
    let loose = format!("pgd:linf:0.1={:.4}", (at_01 - 0.01).max(0.0));
    let second = dir.join("second");
    let pass = audit(
        &second,
        &[
            "--fail-under",
            &loose,
            "--fail-under",
            "worst:linf:0.3=0",
            "--json",
        ],
    );
    assert_eq!(pass.status.code(), Some(0), "stderr: {}", stderr(&pass));
    // --json: stdout is exactly one JSON document.
    let summary: serde_json::Value =
        serde_json::from_slice(&pass.stdout).expect("stdout is JSON and nothing else");
    assert_eq!(summary["passed"], true);
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["cases"].as_array().unwrap().len(), 4);

    // Baseline: the same report with robust accuracy raised beyond --max-drop must fail, and
    // within --max-drop must pass.
    let mut better = report.clone();
    for key in ["results", "worst_case"] {
        for r in better[key].as_array_mut().unwrap() {
            let acc = r["robust_accuracy"].as_f64().unwrap();
            r["robust_accuracy"] = serde_json::json!(acc + 0.05);
        }
    }
    let baseline = dir.join("baseline.json");
    std::fs::write(&baseline, serde_json::to_vec(&better).unwrap()).unwrap();
    let baseline_str = baseline.display().to_string();
    let third = dir.join("third");
    let drop = audit(
        &third,
        &["--baseline", &baseline_str, "--max-drop", "0.02", "--json"],
    );
    assert_eq!(drop.status.code(), Some(1), "stderr: {}", stderr(&drop));
    let summary: serde_json::Value = serde_json::from_slice(&drop.stdout).unwrap();
    let failed: Vec<&serde_json::Value> = summary["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .collect();
    assert_eq!(failed.len(), 4, "every row dropped 5 points: {summary}");
    assert!(
        failed.iter().any(|c| c["attack"] == "worst"),
        "the worst case is compared too"
    );
    assert!(failed[0]["failures"][0]
        .as_str()
        .unwrap()
        .contains("dropped"));

    let fourth = dir.join("fourth");
    let within = audit(
        &fourth,
        &["--baseline", &baseline_str, "--max-drop", "0.06"],
    );
    assert_eq!(within.status.code(), Some(0), "stderr: {}", stderr(&within));
}

#[test]
fn malformed_gates_exit_2_before_any_work() {
    let dir = scratch("bad");
    let missing = dir.join("missing.json").display().to_string();
    let not_json = dir.join("not.json");
    std::fs::write(&not_json, "{ nope").unwrap();
    let not_json = not_json.display().to_string();
    for (extra, needle) in [
        (vec!["--fail-under", "pgd:linf:0.1"], "no '=MIN'"),
        (vec!["--fail-under", "pgd:linf=0.5"], "three"),
        (vec!["--fail-under", "pgd:linf:0.1=1.5"], "fraction"),
        (
            vec!["--fail-under", "fgsm:linf:0.1=0.5"],
            "this audit runs pgd",
        ),
        (
            vec!["--fail-under", "pgd:linf:0.2=0.5"],
            "add 0.2 to the audit's --eps",
        ),
        (vec!["--fail-under", "pgd:l2:0.1=0.5"], "--norm"),
        (
            vec!["--max-drop", "0.02"],
            "needs a baseline: give --baseline",
        ),
        (vec!["--baseline", &missing], "cannot read the baseline"),
        (vec!["--baseline", &not_json], "not valid JSON"),
    ] {
        let out = dir.join("report");
        let run = audit(&out, &extra);
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{extra:?}: {err}");
        assert!(
            err.contains(needle),
            "{extra:?}: stderr lacks '{needle}': {err}"
        );
        assert!(
            !out.join("report.json").exists(),
            "{extra:?}: the audit ran anyway"
        );
    }
}
