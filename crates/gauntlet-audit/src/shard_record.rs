//! What a shard leaves in its output folder (`shard.json`) for `gauntlet merge`, and the
//! check that a merge reads the run the shards ran.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use gauntlet_run::Shard;

use crate::config::AuditConfig;

pub use gauntlet_run::shard::SHARD_FILE;

/// What a shard's output folder says about it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ShardRecord {
    /// Which part.
    pub shard: Shard,
    /// The whole run's fingerprint (model and data hashes, every setting): equal across the
    /// shards of one run.
    pub run_fingerprint: String,
    /// Samples in the whole run.
    pub samples: usize,
    /// Block size (the run's batch size).
    pub batch_size: usize,
    /// Whether every batch of the shard finished.
    pub complete: bool,
    /// The shard's settings, from which the merge reruns the (fully restored) audit.
    pub config: AuditConfig,
}

/// Writes `shard.json` into a shard's output folder.
pub(crate) fn write_shard_record(out: &Path, record: &ShardRecord) -> Result<()> {
    let json = serde_json::to_vec_pretty(record).context("cannot encode shard.json")?;
    let path = out.join(SHARD_FILE);
    gauntlet_run::fs::write_atomic(&path, &json)
        .with_context(|| format!("cannot write '{}'", path.display()))
}

/// Refuses to merge into a checkpoint whose run differs from the one the settings describe
/// (the model or data files changed after the shards ran).
pub(crate) fn check_fingerprint(checkpoint: &Path, run_fingerprint: &str) -> Result<()> {
    let found = fs::read_to_string(checkpoint.join("plan.txt")).unwrap_or_default();
    if found != run_fingerprint {
        bail!(
            "the shards were run on other files or settings than the merge reads now (the \
             model's or the data's content hash differs); merge with the model and data the \
             shards audited, from the folder they ran in"
        );
    }
    Ok(())
}
