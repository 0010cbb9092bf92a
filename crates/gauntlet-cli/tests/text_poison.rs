//! `gauntlet text-poison`'s contract: `DIR/report.json` has one row per (attack, fraction,
//! defense) with `ham_misclassified`, `spam_missed` and, for defenses, `attack_flagged` and
//! `clean_flagged`; bad input exits 2 with a message naming the problem and no report.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::Scratch;

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/spam-demo/spam-demo.jsonl.gz")
}

fn gauntlet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .arg("text-poison")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn report_has_a_row_per_attack_fraction_and_defense() {
    let dir = Scratch::new("text-poison");
    let out = dir.0.join("r");
    let o = gauntlet(&[
        "--corpus",
        demo().to_str().unwrap(),
        "--filter",
        "nb",
        "--attack",
        "dictionary,label-flip",
        "--fraction",
        "0.01,0.05",
        "--defense",
        "none,roni,threshold",
        "--trusted-fraction",
        "0.25",
        "--seed",
        "3",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["seed"], 3);
    assert_eq!(r["corpus"]["sha256"].as_str().unwrap().len(), 64);
    assert!(r["tool"].as_str().unwrap().starts_with("gauntlet-text "));
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2 * 2 * 3);
    for attack in ["dictionary", "label-flip"] {
        for f in [0.01, 0.05] {
            for d in ["none", "roni", "threshold"] {
                let row = rows
                    .iter()
                    .find(|x| x["attack"] == attack && x["fraction"] == f && x["defense"] == d)
                    .unwrap_or_else(|| panic!("no row {attack} {f} {d}"));
                for key in ["ham_misclassified", "spam_missed"] {
                    let v = row[key].as_f64().unwrap();
                    assert!((0.0..=1.0).contains(&v), "{key} = {v}");
                }
                if d != "none" {
                    for key in ["attack_flagged", "clean_flagged"] {
                        let v = row[key].as_f64().unwrap();
                        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
                    }
                }
            }
        }
    }
    assert!(out.join("report.md").exists());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<polyline") && html.contains("dictionary / roni"));
}

#[test]
fn bad_input_exits_2_with_a_message() {
    let dir = Scratch::new("text-poison-bad");
    let out = dir.0.join("r");
    let corpus = demo();
    let ham_free = dir.0.join("spam-only.jsonl");
    std::fs::write(
        &ham_free,
        (0..40)
            .map(|i| format!("{{\"id\":\"{i}\",\"label\":\"spam\",\"text\":\"buy now {i}\"}}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let cases: [(Vec<&str>, &str); 5] = [
        (
            vec!["--attack", "dictonary"],
            "unknown attack \"dictonary\"",
        ),
        (vec!["--fraction", "0.7"], "outside (0, 0.5]"),
        (vec!["--fraction", "0"], "outside (0, 0.5]"),
        (vec!["--filter", "svm"], "nb, lr or spambayes"),
        (vec!["--defense", "magic"], "unknown defense"),
    ];
    for (extra, message) in cases {
        let mut args = vec![
            "--corpus",
            corpus.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra.iter().copied());
        let o = gauntlet(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(message), "{extra:?}: {err}");
    }
    let o = gauntlet(&[
        "--corpus",
        ham_free.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no ham message"), "{err}");
    assert!(!out.join("report.json").exists());
}
