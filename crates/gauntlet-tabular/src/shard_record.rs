//! What a tabular shard leaves in its output folder for the merge: `shard.json`.

use gauntlet_run::shard::{ShardHeader, SHARD_FILE};
use serde::{Deserialize, Serialize};

use gauntlet_run::Shard;

use crate::config::TabularAuditConfig;
use crate::error::{Error, Result};

/// The kind of audit a tabular shard's `shard.json` names.
pub const KIND: &str = "tabular-audit";

/// What a tabular shard's `shard.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ShardRecord {
    /// Kind, part, the whole run's fingerprint, whether it finished.
    #[serde(flatten)]
    pub header: ShardHeader,
    /// The fingerprint in the header of the shard's checkpoint.
    pub checkpoint_fingerprint: String,
    /// The shard's settings: the merge reruns the audit from them.
    pub config: TabularAuditConfig,
}

/// Writes `shard.json` into the output folder of shard `shard` of the run `config` describes.
pub(crate) fn write_record(
    config: &TabularAuditConfig,
    shard: Shard,
    run_fingerprint: &str,
    checkpoint_fingerprint: String,
    complete: bool,
) -> Result<()> {
    let record = ShardRecord {
        header: ShardHeader {
            kind: KIND.to_string(),
            shard,
            run_fingerprint: run_fingerprint.to_string(),
            complete,
        },
        checkpoint_fingerprint,
        config: config.clone(),
    };
    let path = config.out.join(SHARD_FILE);
    let json = serde_json::to_vec_pretty(&record).expect("a shard record serializes");
    gauntlet_run::fs::write_atomic(&path, &json).map_err(Error::io(&path, "write it"))
}
