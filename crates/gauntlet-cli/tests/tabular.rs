//! `gauntlet tabular-audit` end to end: the files of the contract, the adversarial rows in the
//! schema's columns (each one keeps the rules and is classified as the direction asks), the
//! gate's exit codes, and clear errors.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Scratch;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn gauntlet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_phishing_audit_writes_the_contract_and_the_gate_decides() {
    let scratch = Scratch::new("tabular-cli");
    let out = scratch.0.to_str().unwrap();
    let base = [
        "tabular-audit",
        "--model",
        "models/tabular/phishing_xgboost.onnx",
        "--data",
        "data/tabular/phishing/test.csv",
        "--schema",
        "data/tabular/phishing/schema.toml",
        "--direction",
        "1:0",
        "--out",
        out,
    ];
    let run = gauntlet(&base);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for file in [
        "report.json",
        "report.md",
        "report.html",
        "samples.jsonl",
        "adversarial.csv",
    ] {
        assert!(scratch.0.join(file).exists(), "{file}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scratch.0.join("report.json")).unwrap())
            .unwrap();
    let worst = &report["worst"];
    let evaded = worst["evaded"].as_u64().unwrap();
    assert!(evaded > 80, "{worst}");
    assert_eq!(report["model"]["sha256"].as_str().unwrap().len(), 64);
    // adversarial.csv: the schema's columns, one row per evaded row; immutables untouched.
    let csv = std::fs::read_to_string(scratch.0.join("adversarial.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[..3], ["row", "attack", "empty_server_form_handler"]);
    assert_eq!(*header.last().unwrap(), "is_phishing");
    let test = std::fs::read_to_string(root().join("data/tabular/phishing/test.csv")).unwrap();
    let originals: Vec<Vec<&str>> = test
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let age = header.iter().position(|h| *h == "age_of_domain").unwrap();
    let mut rows = 0;
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let row: usize = cells[0].parse().unwrap();
        assert_eq!(
            cells[age].parse::<f32>().unwrap(),
            originals[row][age - 2].parse::<f32>().unwrap(),
            "age_of_domain is immutable"
        );
        assert_eq!(
            *cells.last().unwrap(),
            "1",
            "only phishing rows are attacked"
        );
        rows += 1;
    }
    assert_eq!(rows as u64, evaded);
    let html = std::fs::read_to_string(scratch.0.join("report.html")).unwrap();
    assert!(html.contains("Features attackers change") && html.contains("class=\"changed\""));

    // The gate: every evadable row falls, so 50 % robust accuracy fails (exit 1), 0 % passes.
    let mut failing = base.to_vec();
    failing.extend(["--fail-under", "worst=0.5", "--quiet"]);
    let gate = gauntlet(&failing);
    assert_eq!(
        gate.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&gate.stderr)
    );
    let mut passing = base.to_vec();
    passing.extend(["--fail-under", "worst=0.0", "--quiet"]);
    assert_eq!(gauntlet(&passing).status.code(), Some(0));
}

#[test]
fn a_config_file_gives_the_settings_and_flags_win() {
    let scratch = Scratch::new("tabular-cli-config");
    let config = scratch.0.join("gauntlet.toml");
    std::fs::write(
        &config,
        "model = \"models/tabular/phishing_decision_tree.onnx\"\n\
         data = \"data/tabular/phishing/test.csv\"\n\
         schema = \"data/tabular/phishing/schema.toml\"\n\
         direction = \"1:0\"\nsamples = 5\nattacks = [\"tree\"]\n",
    )
    .unwrap();
    let out = scratch.0.join("out");
    let run = gauntlet(&[
        "tabular-audit",
        "--config",
        config.to_str().unwrap(),
        "--samples",
        "7",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(summary["verdict"], "pass", "{summary}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(
        report["clean"]["attacked"], 7,
        "the flag wins over the file"
    );
    let attacks: Vec<&str> = report["attacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["attack"].as_str().unwrap())
        .collect();
    assert_eq!(attacks, ["tree", "tree"]);
}

#[test]
fn mistakes_are_explained() {
    let scratch = Scratch::new("tabular-cli-errors");
    let out = scratch.0.to_str().unwrap();
    let schema = scratch.0.join("bad.toml");
    std::fs::write(&schema, "[[feature]]\nname = \"https\"\nkind = \"categorical\"\n[[rule]]\nrule = \"https <= nope\"\n").unwrap();
    let run = gauntlet(&[
        "tabular-audit",
        "--model",
        "models/tabular/phishing_mlp.onnx",
        "--data",
        "data/tabular/phishing/test.csv",
        "--schema",
        schema.to_str().unwrap(),
        "--out",
        out,
    ]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("needs `values"), "{stderr}");
    let run = gauntlet(&[
        "tabular-audit",
        "--model",
        "models/tabular/phishing_mlp.onnx",
        "--data",
        "data/tabular/phishing/test.csv",
        "--schema",
        "data/tabular/phishing/schema.toml",
        "--attacks",
        "tree",
        "--out",
        out,
    ]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("'tree' needs split thresholds") && stderr.contains("--attacks"),
        "{stderr}"
    );
}
