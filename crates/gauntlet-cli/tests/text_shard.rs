//! A sharded text audit: `text-audit --shard I/3` run as three processes and merged (in a
//! shuffled order) gives exactly the unsharded run's report and gate verdict; a missing,
//! duplicated or foreign shard is refused with a message that names it, and a merge never
//! attacks again.

mod common;
mod sharding;

use std::path::Path;

use common::Scratch;
use sharding::{audit, exits, file_names, merge, refused, without_times};

/// Two attacks on Naive Bayes and its hardened variants (adversarial training included), kept
/// small: leet, whose outcomes change with the seed, and goodword, which prepares a state with
/// queries; a threshold the filter fails, so the gate's verdict is part of what must match.
fn text_audit(out: &Path, shard: Option<&str>, seed: &str) -> std::process::Output {
    let command = [
        "text-audit",
        "--corpus",
        "data/spam-demo/spam-demo.jsonl.gz",
        "--attacks",
        "leet,goodword",
        "--max-messages",
        "6",
        "--adv-train",
        "3",
        "--dictionary-size",
        "200",
        "--max-word-fraction",
        "0.2",
        "--fail-under",
        "leet=0.99",
    ];
    audit(&command, seed, out, shard)
}

#[test]
fn three_text_shards_merged_equal_the_unsharded_run_and_bad_sets_are_refused() {
    let scratch = Scratch::new("text-shard");
    // The merge writes where the unsharded run did, so the settings the reports record match.
    let out = scratch.0.join("out");
    exits(&text_audit(&out, None, "5"), 1);
    let unsharded = scratch.0.join("unsharded");
    std::fs::rename(&out, &unsharded).unwrap();

    let shards: Vec<_> = (0..3).map(|i| scratch.0.join(format!("s{i}"))).collect();
    for (i, dir) in shards.iter().enumerate() {
        // A shard judges no threshold: the gate applies to the merged run.
        exits(&text_audit(dir, Some(&format!("{i}/3")), "5"), 0);
        assert!(dir.join("shard.json").exists());
    }
    exits(&merge(&[&shards[1], &shards[2], &shards[0]], &out), 1);

    let report = |dir: &Path| without_times(&dir.join("text-report.json"));
    assert_eq!(report(&out), report(&unsharded));
    let whole: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(unsharded.join("text-report.json")).unwrap())
            .unwrap();
    assert_eq!(whole["filters"].as_array().unwrap().len(), 4);
    assert!(whole["outcomes"].as_array().unwrap().len() >= 20);
    assert_eq!(file_names(&out), file_names(&unsharded));
    assert_eq!(
        file_names(&out),
        ["text-report.html", "text-report.json", "text-report.md"]
    );

    let refused_into = scratch.0.join("refused");
    refused(
        &merge(&[&shards[0], &shards[2]], &refused_into),
        &["shard 1/3", "missing", "text-audit"],
    );
    refused(
        &merge(
            &[&shards[0], &shards[1], &shards[1], &shards[2]],
            &refused_into,
        ),
        &["given twice"],
    );
    let foreign = scratch.0.join("foreign");
    exits(&text_audit(&foreign, Some("2/3"), "6"), 0);
    refused(
        &merge(&[&shards[0], &shards[1], &foreign], &refused_into),
        &["another run"],
    );
    refused(&merge(&[&unsharded], &refused_into), &["shard.json"]);
    assert!(!refused_into.exists(), "a refused merge writes nothing");

    // A merge attacks nothing: an outcome lost from a shard's checkpoint is an error.
    let journal = shards[1].join("text-checkpoint.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("\"record\":\"attacked\""))
        .collect();
    assert!(kept.len() < text.lines().count());
    std::fs::write(&journal, kept.join("\n") + "\n").unwrap();
    refused(
        &merge(&[&shards[0], &shards[1], &shards[2]], &refused_into),
        &["hold no outcome", "rerun"],
    );

    // Shards that cannot exist, or would have no message, are refused.
    for (spec, words) in [
        ("3/3", ["0…2", "--shard"]),
        ("6/7", ["at most 6 shards", "--shard"]),
    ] {
        refused(&text_audit(&scratch.0.join("bad"), Some(spec), "5"), &words);
    }
}
