//! What a text shard leaves in its output folder for the merge (`shard.json`), and the
//! fingerprints that tie a shard's files to its run.

use gauntlet_run::shard::ShardHeader;
use serde::{Deserialize, Serialize};

use crate::config::{TextAudit, TextAuditConfig};
use crate::corpus::Corpus;
use crate::error::{Error, Result};

/// The kind of audit a text shard's `shard.json` names.
pub const KIND: &str = "text-audit";

/// What a text shard's `shard.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ShardRecord {
    /// Kind, part, the whole run's fingerprint, whether it finished.
    #[serde(flatten)]
    pub header: ShardHeader,
    /// The fingerprint in the header of the shard's checkpoint.
    pub checkpoint_fingerprint: String,
    /// The shard's settings, header values redacted: the merge reruns the audit from them.
    pub config: TextAuditConfig,
}

impl TextAudit {
    /// The checkpoint's fingerprint: the run's, and in a shard also which part, so one
    /// shard's checkpoint never resumes in another's folder.
    pub(crate) fn checkpoint_fingerprint(&self, corpus_sha256: &str) -> String {
        let run = self.fingerprint(corpus_sha256);
        if self.shard.is_whole() {
            run
        } else {
            format!("{run}\nshard {}", self.shard)
        }
    }

    /// The run's fingerprint as `shard.json` records it: of the settings with HTTP header
    /// values redacted (`shard.json` holds no secret, and the merge, which reads it, must
    /// compute the same).
    pub(crate) fn shared_fingerprint(&self, corpus: &Corpus) -> Result<String> {
        Ok(self
            .config
            .redacted()
            .validate()?
            .fingerprint(&corpus.sha256))
    }
}

/// Writes `shard.json` into a shard's output folder.
pub(crate) fn write_record(audit: &TextAudit, corpus: &Corpus, complete: bool) -> Result<()> {
    let record = ShardRecord {
        header: ShardHeader {
            kind: KIND.to_string(),
            shard: audit.shard,
            run_fingerprint: audit.shared_fingerprint(corpus)?,
            complete,
        },
        checkpoint_fingerprint: audit.checkpoint_fingerprint(&corpus.sha256),
        config: audit.config.redacted(),
    };
    let path = audit.config.out.join(gauntlet_run::shard::SHARD_FILE);
    let json = serde_json::to_vec_pretty(&record).expect("a shard record serializes");
    gauntlet_run::fs::write_atomic(&path, &json).map_err(|e| Error::Report {
        path,
        detail: e.to_string(),
    })
}
