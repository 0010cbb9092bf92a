//! A sharded tabular audit: `tabular-audit --shard I/3` run as three processes and merged (in
//! a shuffled order) gives exactly the unsharded run's report, per-row files and gate verdict;
//! a missing, duplicated or foreign shard is refused with a message that names it.

mod common;
mod sharding;

use std::path::Path;

use common::Scratch;
use sharding::{audit, exits, file_names, merge, refused, without_times};

/// The beam search, constrained PGD and HopSkipJump (both seeded per batch: their outcomes
/// change with the seed) on the phishing MLP, 40 rows in 7 batches of 6; a threshold the model
/// fails, so the gate's verdict is part of what must match.
fn tabular_audit(out: &Path, shard: Option<&str>, seed: &str) -> std::process::Output {
    let command = [
        "tabular-audit",
        "--model",
        "models/tabular/phishing_mlp.onnx",
        "--data",
        "data/tabular/phishing/test.csv",
        "--schema",
        "data/tabular/phishing/schema.toml",
        "--samples",
        "40",
        "--batch-size",
        "6",
        "--steps",
        "10",
        "--restarts",
        "2",
        "--max-queries",
        "3000",
        "--attacks",
        "beam,cpgd,hsj",
        "--queries",
        "300",
        "--fail-under",
        "worst=0.99",
    ];
    audit(&command, seed, out, shard)
}

#[test]
fn three_tabular_shards_merged_equal_the_unsharded_run_and_bad_sets_are_refused() {
    let scratch = Scratch::new("tabular-shard");
    let out = scratch.0.join("out");
    exits(&tabular_audit(&out, None, "3"), 1);
    let unsharded = scratch.0.join("unsharded");
    std::fs::rename(&out, &unsharded).unwrap();

    let shards: Vec<_> = (0..3).map(|i| scratch.0.join(format!("s{i}"))).collect();
    for (i, dir) in shards.iter().enumerate() {
        exits(&tabular_audit(dir, Some(&format!("{i}/3")), "3"), 0);
        assert!(dir.join("shard.json").exists());
    }
    exits(&merge(&[&shards[2], &shards[0], &shards[1]], &out), 1);

    assert_eq!(
        without_times(&out.join("report.json")),
        without_times(&unsharded.join("report.json"))
    );
    for file in ["samples.jsonl", "adversarial.csv"] {
        let read = |dir: &Path| std::fs::read_to_string(dir.join(file)).unwrap();
        assert_eq!(read(&out), read(&unsharded), "{file}");
    }
    assert_eq!(
        std::fs::read_to_string(unsharded.join("samples.jsonl"))
            .unwrap()
            .lines()
            .count(),
        // Every row under every pass (constrained and unconstrained) of the three attacks.
        40 * 6
    );
    assert_eq!(file_names(&out), file_names(&unsharded));

    let refused_into = scratch.0.join("refused");
    refused(
        &merge(&[&shards[2], &shards[1]], &refused_into),
        &["shard 0/3", "missing", "tabular-audit"],
    );
    refused(
        &merge(
            &[&shards[0], &shards[0], &shards[1], &shards[2]],
            &refused_into,
        ),
        &["given twice"],
    );
    let foreign = scratch.0.join("foreign");
    exits(&tabular_audit(&foreign, Some("1/3"), "4"), 0);
    refused(
        &merge(&[&shards[0], &foreign, &shards[2]], &refused_into),
        &["another run"],
    );
    assert!(!refused_into.exists(), "a refused merge writes nothing");

    // Shards that cannot exist, or would have no batch, are refused before any attack.
    for (spec, words) in [
        ("3/3", ["0…2", "--shard"]),
        ("7/8", ["no rows", "7 batches"]),
    ] {
        let output = tabular_audit(&scratch.0.join("bad"), Some(spec), "3");
        refused(&output, &words);
    }
}
