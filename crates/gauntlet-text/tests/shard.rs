//! A sharded text audit through the library: three shards merged (in any order) give the
//! unsharded run's report exactly, hardened variants and adversarial training included; a
//! merge never attacks again (a shard's lost outcome is an error, not a recomputation).

use std::path::{Path, PathBuf};

use gauntlet_run::Silent;
use gauntlet_text::corpus::demo_corpus_path;
use gauntlet_text::TextAuditConfig;

/// A scratch folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("gauntlet-text-shard-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Two attacks on Naive Bayes and its hardened variants, kept small.
fn config(out: &Path, shard: Option<&str>) -> TextAuditConfig {
    let mut c = TextAuditConfig::new(demo_corpus_path());
    c.attacks = vec!["deepwordbug".into(), "goodword".into()];
    c.max_messages = 8;
    c.adv_train = 4;
    c.dictionary_size = 200;
    c.max_word_fraction = 0.2;
    c.seed = 5;
    c.quiet = true;
    c.out = out.to_path_buf();
    c.shard = shard.map(str::to_string);
    c
}

/// `text-report.json` without what differs between any two runs, times, compared as text so
/// that every number must match to the last digit.
fn comparable(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("text-report.json")).unwrap();
    text.lines()
        .filter(|line| {
            let key = line.trim_start();
            !(key.starts_with("\"seconds\":") || key.contains("_seconds\":"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn three_shards_merged_equal_the_unsharded_run() {
    let scratch = Scratch::new("three");
    // The merged run writes where the unsharded one did, so the recorded settings are equal.
    let out = scratch.0.join("out");
    let whole = config(&out, None).validate().unwrap().run(&Silent).unwrap();
    assert_eq!(whole.report.status, "complete");
    assert_eq!(
        whole.report.filters.len(),
        4,
        "hardened variants are audited"
    );
    let attacked = whole.report.outcomes.len();
    assert!(attacked >= 30, "{attacked} outcomes");
    let unsharded = scratch.0.join("unsharded");
    std::fs::rename(&out, &unsharded).unwrap();

    let shards: Vec<PathBuf> = (0..3).map(|i| scratch.0.join(format!("s{i}"))).collect();
    let mut parts = 0;
    for (i, dir) in shards.iter().enumerate() {
        let run = config(dir, Some(&format!("{i}/3")))
            .validate()
            .unwrap()
            .run(&Silent)
            .unwrap();
        assert!(dir.join("shard.json").exists());
        assert!(
            dir.join("text-checkpoint.jsonl").exists(),
            "a shard keeps its checkpoint for the merge"
        );
        let n = run.report.outcomes.len();
        assert!(n > 0 && n < attacked, "shard {i}: {n} of {attacked}");
        parts += n;
    }
    assert_eq!(parts, attacked, "every outcome in exactly one shard");

    let order = [shards[2].clone(), shards[0].clone(), shards[1].clone()];
    let merged = gauntlet_text::shard::merge(&order, &out, true, false, &Silent).unwrap();
    assert_eq!(merged.report.resumed, 0);
    assert_eq!(comparable(&out), comparable(&unsharded));
    assert!(
        !out.join("text-checkpoint.jsonl").exists(),
        "a merge keeps no checkpoint"
    );

    // A lost outcome is refused, never attacked again.
    let journal = shards[1].join("text-checkpoint.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("\"record\":\"attacked\""))
        .collect();
    std::fs::write(&journal, kept.join("\n") + "\n").unwrap();
    let err = gauntlet_text::shard::merge(&order, &scratch.0.join("again"), true, false, &Silent)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("hold no outcome") && err.contains("rerun"),
        "{err}"
    );
}
