//! A sharded text audit: `text-audit --shard I/N` attacks every N-th held-out spam message
//! (in the audit's attack order, so `max_messages` is honoured by the whole run) and leaves
//! `shard.json` and its checkpoint; [`merge`] combines the shards' output folders into the
//! report the unsharded run would have written.
//!
//! What every shard does identically, because it is cheap and deterministic and every shard
//! needs its result: split the corpus, train the built-in filters, measure every filter variant
//! on all held-out messages (which spam each detects decides what is attacked), and the
//! adversarial training (see `TextAudit::adversarial_training`). What is split: the attacks on
//! held-out spam. Each message's attack is seeded by the seed and its id only, so its outcome
//! does not depend on the shard count.
//!
//! The merge restores every shard's checkpoint records into one in-memory checkpoint and runs
//! the audit with every result restored — nothing is attacked or measured again (a missing
//! record is an error), and the report and gate come from the unsharded code path.

use std::path::{Path, PathBuf};

use gauntlet_run::shard::{read_checkpoint, read_set};
use gauntlet_run::{Progress, ShardError};

use crate::audit::TextAuditRun;
use crate::checkpoint::{Checkpoint, Record};
use crate::config::CHECKPOINT_FILE;
use crate::corpus::load_corpus;
use crate::error::{Error, Result};
use crate::shard_record::ShardRecord;
pub use crate::shard_record::KIND;

/// Merges the output folders `shards` of one sharded text audit into `out`: the report files
/// (`text-report.{json,md,html}`), the gate's judgement and the JUnit file the unsharded run
/// would have written, with the shards' settings (`quiet` and `json` as given here). Refuses
/// shards of different runs, a shard given twice, missing or unfinished shards, and a corpus
/// that changed since the shards read it.
pub fn merge(
    shards: &[PathBuf],
    out: &Path,
    quiet: bool,
    json: bool,
    progress: &dyn Progress,
) -> Result<TextAuditRun> {
    let set = read_set::<ShardRecord>(shards, KIND)?;
    let first = &set[0].1;
    let mut config = first.config.clone();
    config.shard = None;
    config.out = out.to_path_buf();
    config.fresh = false;
    config.quiet = quiet;
    config.json = json;
    let mut audit = config.validate()?;
    audit.restore_only = true;
    let corpus = load_corpus(&audit.settings.corpus)?;
    if audit.shared_fingerprint(&corpus)? != first.header.run_fingerprint {
        return Err(ShardError::new(format!(
            "the corpus '{}' is not the one the shards audited (its content hash differs); \
             merge with the corpus the shards read, from the folder they ran in",
            audit.settings.corpus.display()
        ))
        .into());
    }
    let mut checkpoint = Checkpoint::in_memory();
    for (dir, record) in &set {
        let records = read_checkpoint::<Record>(
            dir,
            CHECKPOINT_FILE,
            &record.checkpoint_fingerprint,
            record.header.shard,
        )?;
        for r in records {
            checkpoint.index(r);
        }
    }
    std::fs::create_dir_all(out).map_err(|e| Error::Report {
        path: out.to_path_buf(),
        detail: e.to_string(),
    })?;
    audit.report_and_judge(&corpus, checkpoint, progress)
}
