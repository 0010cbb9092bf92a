//! `gauntlet text-audit --config gauntlet.toml`: every flag has a key of the same name; the
//! file's settings are used, flags given on the command line override them, and an unknown key
//! is an error naming it (exit 2).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use gauntlet_text::TextAuditConfig;

mod common;
use common::Scratch;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The long flags `gauntlet text-audit --help` lists.
fn flags_in_help() -> BTreeSet<String> {
    let help = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["text-audit", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    String::from_utf8_lossy(&help.stdout)
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_string()
        })
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect()
}

#[test]
fn every_flag_of_text_audit_has_a_config_key() {
    let keys: BTreeSet<String> = serde_json::to_value(TextAuditConfig::default())
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let flags = flags_in_help();
    assert!(flags.len() > 25, "the help lists the flags: {flags:?}");
    for flag in &flags {
        if ["config", "help"].contains(&flag.as_str()) {
            continue;
        }
        assert!(
            keys.contains(&flag.replace('-', "_")),
            "--{flag} has no key in gauntlet.toml"
        );
    }
    for key in &keys {
        assert!(
            flags.contains(&key.replace('_', "-")),
            "the key {key} has no flag"
        );
    }
}

#[test]
fn the_file_is_used_and_flags_override_it() {
    let dir = Scratch::new("text-config-run");
    let out = dir.0.join("out");
    let corpus = root().join("data/spam-demo/spam-demo.jsonl.gz");
    let config = dir.0.join("gauntlet.toml");
    std::fs::write(
        &config,
        format!(
            "corpus = {:?}\nattacks = [\"goodword\"]\nno_defenses = true\nmax_messages = 2\ndictionary_size = 50\nseed = 7\nout = {:?}\nquiet = true\nfail_under = [\"goodword=0\"]\n",
            corpus.display().to_string(),
            out.display().to_string()
        ),
    )
    .unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .arg("text-audit")
        .arg("--config")
        .arg(&config)
        .args(["--max-messages", "3", "--seed", "9"])
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.stdout.is_empty(), "quiet = true from the file");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("text-report.json")).unwrap()).unwrap();
    let recorded = &report["config"];
    assert_eq!(recorded["attacks"], serde_json::json!(["goodword"]));
    assert_eq!(
        (recorded["max_messages"].as_u64(), recorded["seed"].as_u64()),
        (Some(3), Some(9)),
        "flags override the file"
    );
    assert_eq!(recorded["dictionary_size"], 50);
    assert!(report["runs"][0]["attacked"].as_u64().unwrap() <= 3);
    assert_eq!(report["runs"].as_array().unwrap().len(), 1);

    std::fs::write(&config, "corpus = \"x.jsonl\"\nmax_edit = 3\n").unwrap();
    let bad = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .arg("text-audit")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    assert!(
        err.contains("max_edit") && err.contains("gauntlet.toml"),
        "{err}"
    );
    let none = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .arg("text-audit")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&none.stderr);
    assert_eq!(none.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--corpus") && err.contains("`corpus` in --config"),
        "{err}"
    );
}
