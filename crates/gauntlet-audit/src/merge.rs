//! [`merge`]: the output folders of a sharded audit (`audit --shard I/N`) combined into the
//! report the unsharded run would have written.
//!
//! Each shard leaves `shard.json` (which part of which run, and whether it finished) and its
//! checkpoint, whose records name samples and batches as the whole run does. Merging checks
//! that the shards are the complete set of one run, lays their records out as one checkpoint
//! and runs the audit over all samples with every batch restored from it — no attack runs
//! again, and the evaluation, diagnostics, report and gate are the unsharded run's own code
//! path, so the merged files equal the unsharded run's.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use gauntlet_eval::Progress;

use crate::run::AuditRun;
use crate::shard_record::ShardRecord;

/// Merges the output folders `shards` of one sharded audit into `out`: the same
/// `report.json`, `samples.jsonl` and `adversarial/` as the unsharded run, and its gate
/// verdict. Refuses shards of different runs, a shard given twice, missing or unfinished
/// shards. The model and data are read again (their hashes must match the shards'): the
/// clean-data checks and the diagnostics run on them; no attack does.
pub fn merge(
    shards: &[PathBuf],
    out: &Path,
    command: Vec<String>,
    progress: &dyn Progress,
) -> Result<AuditRun> {
    let records = read_records(shards)?;
    let (first_dir, first) = &records[0];
    lay_out_checkpoint(&records, &out.join("checkpoint"))?;
    let mut config = first.config.clone();
    config.shard = None;
    config.out = out.to_path_buf();
    config.fresh = false;
    let mut audit = config
        .check()
        .with_context(|| format!("the settings in '{}'", first_dir.display()))?;
    audit.restore_only = true;
    audit.with_command(command).run(progress)
}

/// Reads and cross-checks every shard's record: one run, each part once, all parts present and
/// finished (`gauntlet_run::shard::read_set`, the checks every kind of audit shares); in shard
/// order.
fn read_records(shards: &[PathBuf]) -> Result<Vec<(PathBuf, ShardRecord)>> {
    if shards.is_empty() {
        bail!("give the output folders of every shard of the run to merge");
    }
    Ok(gauntlet_run::shard::read_set(
        shards,
        gauntlet_run::shard::IMAGE_KIND,
    )?)
}

/// One checkpoint holding every shard's records under the whole run's fingerprint. Batch
/// records already carry the whole run's names; clean predictions are per shard and are
/// placed by sample index.
fn lay_out_checkpoint(records: &[(PathBuf, ShardRecord)], checkpoint: &Path) -> Result<()> {
    if checkpoint.exists() {
        fs::remove_dir_all(checkpoint)
            .with_context(|| format!("cannot clear '{}'", checkpoint.display()))?;
    }
    fs::create_dir_all(checkpoint)
        .with_context(|| format!("cannot create '{}'", checkpoint.display()))?;
    let first = &records[0].1;
    for (dir, record) in records {
        let own = record.shard.samples(record.samples, record.batch_size);
        copy_records(&dir.join("checkpoint"), checkpoint, &own, record.samples)
            .with_context(|| format!("while merging the shard in '{}'", dir.display()))?;
    }
    gauntlet_run::fs::write_atomic(
        &checkpoint.join("plan.txt"),
        first.run_fingerprint.as_bytes(),
    )
    .with_context(|| format!("cannot write into '{}'", checkpoint.display()))
}

/// Copies one shard's checkpoint folder (and its nested passes, e.g. `bpda/`) into the merged
/// one; `clean.json` files are combined into the whole run's by sample index (a missing entry
/// stays -1 until another shard fills it).
fn copy_records(from: &Path, to: &Path, own: &[usize], samples: usize) -> Result<()> {
    let entries = fs::read_dir(from).with_context(|| {
        format!(
            "'{}' is missing: the shard's results are gone (was its output folder cleaned?)",
            from.display()
        )
    })?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let source = entry.path();
        let target = to.join(&name);
        if entry.file_type()?.is_dir() {
            fs::create_dir_all(&target)?;
            copy_records(&source, &target, own, samples)?;
        } else if name == "clean.json" {
            let part: Vec<i64> = serde_json::from_str(&fs::read_to_string(&source)?)
                .with_context(|| format!("'{}' is corrupt", source.display()))?;
            if part.len() != own.len() {
                bail!(
                    "'{}' holds {} predictions for a shard of {} samples",
                    source.display(),
                    part.len(),
                    own.len()
                );
            }
            let mut whole: Vec<i64> = match fs::read_to_string(&target) {
                Ok(text) => serde_json::from_str(&text)?,
                Err(_) => vec![-1; samples],
            };
            for (&i, &p) in own.iter().zip(&part) {
                whole[i] = p;
            }
            fs::write(&target, serde_json::to_vec(&whole)?)?;
        } else if name != "plan.txt" && !name.to_string_lossy().contains(".tmp") {
            fs::copy(&source, &target)
                .with_context(|| format!("cannot copy '{}'", source.display()))?;
        }
    }
    Ok(())
}
