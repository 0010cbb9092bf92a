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

use anyhow::{anyhow, bail, Context, Result};

use gauntlet_eval::Progress;

use crate::run::AuditRun;
use crate::shard_record::{ShardRecord, SHARD_FILE};

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
/// finished.
fn read_records(shards: &[PathBuf]) -> Result<Vec<(PathBuf, ShardRecord)>> {
    if shards.is_empty() {
        bail!("give the output folders of every shard of the run to merge");
    }
    let mut records: Vec<(PathBuf, ShardRecord)> = Vec::new();
    for dir in shards {
        let path = dir.join(SHARD_FILE);
        let text = fs::read_to_string(&path).map_err(|_| {
            anyhow!(
                "'{}' holds no {SHARD_FILE}: it is not the output folder of `gauntlet audit \
                 --shard I/N` (or that shard has not finished writing its report)",
                dir.display()
            )
        })?;
        let record: ShardRecord = serde_json::from_str(&text)
            .with_context(|| format!("'{}' is not a shard record", path.display()))?;
        records.push((dir.clone(), record));
    }
    let (first_dir, first) = &records[0];
    for (dir, record) in &records[1..] {
        if record.run_fingerprint != first.run_fingerprint
            || record.shard.count != first.shard.count
        {
            bail!(
                "'{}' is a shard of another run than '{}' (the model, the data or the \
                 settings differ); merge only the shards of one run",
                dir.display(),
                first_dir.display()
            );
        }
    }
    let count = first.shard.count;
    let mut by_index: Vec<Option<&PathBuf>> = vec![None; count];
    for (dir, record) in &records {
        let slot = &mut by_index[record.shard.index];
        if let Some(other) = slot {
            bail!(
                "shard {} is given twice: '{}' and '{}'",
                record.shard,
                other.display(),
                dir.display()
            );
        }
        *slot = Some(dir);
    }
    let missing: Vec<String> = (0..count)
        .filter(|&i| by_index[i].is_none())
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "shard{} {} of the run {} missing; run {} (`gauntlet audit … --shard I/{count}`) \
             and give every shard's output folder",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            if missing.len() > 1 { "are" } else { "is" },
            if missing.len() > 1 { "them" } else { "it" },
        );
    }
    if let Some((dir, record)) = records.iter().find(|(_, r)| !r.complete) {
        bail!(
            "shard {} in '{}' did not finish (interrupted, or some batches failed: see its \
             report); rerun its command with the same output folder to resume it, then merge",
            record.shard,
            dir.display()
        );
    }
    Ok(records)
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
