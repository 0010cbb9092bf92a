//! A sharded tabular audit: `tabular-audit --shard I/N` attacks batch `b` of the attacked rows
//! when `b mod N = I` (the batches are cut from all attacked rows first, so a batch's rows and
//! seed do not depend on the shard count) and leaves `shard.json` and its checkpoint;
//! [`merge`] combines the shards' output folders into the report the unsharded run would have
//! written.
//!
//! Every shard loads the model, the data and the schema and scores every row clean (cheap, and
//! which rows are attacked depends on it); only the attacks are split. The merge lays every
//! shard's batch records out as one run and runs the audit with each batch restored — nothing
//! is attacked again (a missing batch is an error), and the report, per-row files and gate come
//! from the unsharded code path.

use std::path::{Path, PathBuf};

use gauntlet_run::shard::{read_checkpoint, read_set};
use gauntlet_run::Progress;

use crate::audit::{BatchRecord, Merged, TabularRun, JOURNAL_FILE};
use crate::error::Result;
use crate::shard_record::ShardRecord;
pub use crate::shard_record::KIND;

/// Merges the output folders `shards` of one sharded tabular audit into `out`: `report.json`,
/// `report.md`, `report.html`, `samples.jsonl`, `adversarial.csv`, the gate's judgement and
/// the JUnit file the unsharded run would have written, with the shards' settings (`quiet` and
/// `json` as given here). Refuses shards of different runs, a shard given twice, missing or
/// unfinished shards, and model, data or schema files that changed since the shards read them.
pub fn merge(
    shards: &[PathBuf],
    out: &Path,
    quiet: bool,
    json: bool,
    progress: &dyn Progress,
) -> Result<TabularRun> {
    let set = read_set::<ShardRecord>(shards, KIND)?;
    let first = &set[0].1;
    let mut config = first.config.clone();
    config.shard = None;
    config.out = out.to_path_buf();
    config.fresh = false;
    config.quiet = quiet;
    config.json = json;
    let audit = config.check()?;
    let mut records = Vec::new();
    for (dir, record) in &set {
        let shard = record.header.shard;
        let batches = read_checkpoint::<BatchRecord>(
            dir,
            JOURNAL_FILE,
            &record.checkpoint_fingerprint,
            shard,
        )?;
        records.extend(batches.into_iter().filter(|b| shard.owns(b.batch)));
    }
    audit.run_from(
        Some(Merged {
            records,
            run_fingerprint: first.header.run_fingerprint.clone(),
        }),
        progress,
    )
}
