//! Checkpoints: every finished (attack, batch) is written to disk at once, so a run that is
//! interrupted — Ctrl-C, a crash, `kill -9` — resumes without losing or repeating finished
//! samples.
//!
//! Layout of a checkpoint directory:
//! - `plan.txt`: the fingerprint of the run (model, data, attacks, budgets, seed, …). Another
//!   run's checkpoint is discarded, never mixed in.
//! - `clean.json`: clean predictions (for remote targets these cost queries).
//! - `<attack index>-<attack>-<batch>.json` + `.f32`: one batch's per-sample outcomes and its
//!   adversarial rows (little-endian `f32`, budget-major).
//!
//! A complete, reported run removes its checkpoint ([`Checkpoint::finish`]).
//!
//! Every file is written to a temporary name and renamed, and the `.json` (which marks the
//! record complete) is renamed last, so a kill never leaves a half record that would be read.
//! Failed batches are not recorded: a resumed run retries them.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use gauntlet_core::{Error, Result};

/// One budget's outcomes for the samples of a batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BudgetRecord {
    /// The budget.
    pub eps: f32,
    /// Per sample of the batch: the attack broke it at this budget.
    pub success: Vec<bool>,
    /// Per sample: the model's prediction on the adversarial input.
    pub predictions: Vec<i64>,
    /// Per sample: the perturbation's size in the threat model's norm.
    pub perturbation: Vec<f32>,
    /// Per sample: queries a black-box attack spent at this budget (empty for gradient attacks).
    pub queries: Vec<u64>,
}

/// What one attack did on one batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BatchRecord {
    /// Indices of the batch's samples in the data set.
    pub samples: Vec<usize>,
    /// One record per budget the batch was attacked at, ε ascending.
    pub budgets: Vec<BudgetRecord>,
    /// Per-sample gradient evaluations the attack spent on the batch.
    pub gradient_evals: u64,
    /// Per-sample queries a black-box attack sent for the batch.
    pub queries: u64,
    /// Time the batch took when it ran, seconds.
    pub seconds: f64,
    /// Adversarial rows, budget-major (`budgets.len() × samples.len() × features`).
    #[serde(skip)]
    pub adversarial: Vec<f32>,
}

/// A checkpoint directory bound to one run's fingerprint.
pub struct Checkpoint {
    dir: PathBuf,
}

/// Every checkpoint file is written whole or not at all (fsynced), so a kill never leaves a
/// torn record.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    gauntlet_run::fs::write_atomic(path, bytes).map_err(Error::Write)
}

impl Checkpoint {
    /// Opens (or starts) the checkpoint in `dir` for the run described by `fingerprint`.
    /// A checkpoint of a different run (or any, with `fresh`) is discarded, never mixed in;
    /// [`Checkpoint::resumable`] says whether one of this run was found.
    pub fn open(dir: impl Into<PathBuf>, fingerprint: &str, fresh: bool) -> Result<Checkpoint> {
        let dir = dir.into();
        let plan = dir.join("plan.txt");
        if dir.exists() {
            let existing = fs::read_to_string(&plan).unwrap_or_default();
            if fresh || existing != fingerprint {
                fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            }
        }
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        if !plan.exists() {
            write_atomically(&plan, fingerprint.as_bytes())?;
        }
        Ok(Checkpoint { dir })
    }

    /// Removes the checkpoint once the run it belongs to is complete and reported, so the
    /// next run of the same command measures afresh.
    pub fn finish(self) -> Result<()> {
        fs::remove_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))
    }

    /// The directory this checkpoint lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A checkpoint for a second pass of the same run (e.g. the BPDA rerun).
    pub fn nested(&self, name: &str) -> Result<Checkpoint> {
        let dir = self.dir.join(name);
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Checkpoint { dir })
    }

    fn batch_path(&self, attack_index: usize, attack: &str, batch: u64, ext: &str) -> PathBuf {
        let safe: String = attack
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir
            .join(format!("{attack_index:02}-{safe}-{batch:06}.{ext}"))
    }

    /// Clean predictions saved by an earlier run, if they cover `n` samples.
    pub fn load_clean(&self, n: usize) -> Option<Vec<i64>> {
        let text = fs::read_to_string(self.dir.join("clean.json")).ok()?;
        let predictions: Vec<i64> = serde_json::from_str(&text).ok()?;
        (predictions.len() == n).then_some(predictions)
    }

    /// Records the clean predictions (a resumed run on a remote target need not pay for them
    /// again).
    pub fn save_clean(&self, predictions: &[i64]) -> Result<()> {
        let json = serde_json::to_vec(predictions).expect("integers serialize");
        write_atomically(&self.dir.join("clean.json"), &json)
    }

    /// The record of a finished batch, if one exists for exactly these samples and budgets.
    pub fn load(
        &self,
        attack_index: usize,
        attack: &str,
        batch: u64,
        samples: &[usize],
        epsilons: &[f32],
        features: usize,
    ) -> Option<BatchRecord> {
        let text = fs::read_to_string(self.batch_path(attack_index, attack, batch, "json")).ok()?;
        let mut record: BatchRecord = serde_json::from_str(&text).ok()?;
        let budgets: Vec<f32> = record.budgets.iter().map(|b| b.eps).collect();
        if record.samples != samples || budgets != epsilons {
            return None;
        }
        let bytes = fs::read(self.batch_path(attack_index, attack, batch, "f32")).ok()?;
        if bytes.len() != 4 * epsilons.len() * samples.len() * features {
            return None;
        }
        record.adversarial = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Some(record)
    }

    /// Writes a finished batch; the `.json` lands last and marks the record complete.
    pub fn save(
        &self,
        attack_index: usize,
        attack: &str,
        batch: u64,
        record: &BatchRecord,
    ) -> Result<()> {
        let bytes: Vec<u8> = record
            .adversarial
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        write_atomically(&self.batch_path(attack_index, attack, batch, "f32"), &bytes)?;
        let json = serde_json::to_vec(record)
            .map_err(|e| Error::Data(format!("cannot encode a checkpoint record: {e}")))?;
        write_atomically(&self.batch_path(attack_index, attack, batch, "json"), &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> BatchRecord {
        BatchRecord {
            samples: vec![3, 7],
            budgets: vec![BudgetRecord {
                eps: 0.1,
                success: vec![true, false],
                predictions: vec![2, 7],
                perturbation: vec![0.1, 0.0],
                queries: vec![12, 5000],
            }],
            gradient_evals: 0,
            queries: 5012,
            seconds: 1.5,
            adversarial: vec![0.25, -1.0, 3.5, f32::MIN_POSITIVE],
        }
    }

    #[test]
    fn records_round_trip_and_mismatches_are_ignored() {
        let dir = std::env::temp_dir().join(format!("gauntlet-ckpt-{}", std::process::id()));
        let ckpt = Checkpoint::open(&dir, "run A", true).unwrap();
        ckpt.save(1, "square", 4, &record()).unwrap();
        let back = ckpt.load(1, "square", 4, &[3, 7], &[0.1], 2).unwrap();
        assert_eq!(back, record());
        assert!(ckpt.load(1, "square", 4, &[3, 8], &[0.1], 2).is_none());
        assert!(ckpt.load(1, "square", 4, &[3, 7], &[0.2], 2).is_none());
        assert!(ckpt.load(1, "square", 5, &[3, 7], &[0.1], 2).is_none());
        // Same fingerprint resumes; another run's records are discarded, never mixed in.
        let again = Checkpoint::open(&dir, "run A", false).unwrap();
        assert!(again.load(1, "square", 4, &[3, 7], &[0.1], 2).is_some());
        let other = Checkpoint::open(&dir, "run B", false).unwrap();
        assert!(other.load(1, "square", 4, &[3, 7], &[0.1], 2).is_none());
        other.save(1, "square", 4, &record()).unwrap();
        let fresh = Checkpoint::open(&dir, "run B", true).unwrap();
        assert!(fresh.load(1, "square", 4, &[3, 7], &[0.1], 2).is_none());
        fresh.finish().unwrap();
        assert!(!dir.exists());
    }
}
