//! `manifest.json`: what was poisoned and how, so the poisoning can be checked, reproduced
//! and scored. Detection reads `poisoned` (the sorted indices of the changed rows) to compute
//! its precision and recall; the trigger's full pattern is kept so it can be re-applied.

use std::path::Path;

use serde::{Deserialize, Serialize};

use gauntlet_core::{Error, Result};
use gauntlet_run::fs::write_atomic;

use crate::trigger::Trigger;

/// A file the poisoning read, by content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    /// The path as given.
    pub path: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
}

/// The clean-label perturbation as run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerturbationRecord {
    /// `linf` or `l2`.
    pub norm: String,
    /// Radius.
    pub eps: f32,
    /// Gradient steps.
    pub steps: usize,
    /// Step size in input units.
    pub step_size: f32,
    /// The model attacked.
    pub model: InputFile,
}

/// Everything `gauntlet poison` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `badnets`, `label-flip` or `clean-label`.
    pub attack: String,
    /// `all-to-one`/`all-to-all` (BadNets), `random`/`targeted` (label flipping),
    /// `clean-label`.
    pub variant: String,
    /// Seed of every random choice.
    pub seed: u64,
    /// Share of the training set poisoned, as asked.
    pub fraction: f64,
    /// Training samples.
    pub samples: usize,
    /// Classes of the labels.
    pub classes: usize,
    /// The attacker's class (all-to-one, targeted flip, clean-label).
    pub target_class: Option<i64>,
    /// The class relabelled (targeted flip).
    pub source_class: Option<i64>,
    /// The trigger (absent for label flipping); `trigger.png` holds it as an image.
    pub trigger: Option<Trigger>,
    /// The clean-label perturbation.
    pub perturbation: Option<PerturbationRecord>,
    /// Training inputs and labels read.
    pub inputs: InputFile,
    /// Training labels read.
    pub labels: InputFile,
    /// Test inputs and labels the triggered test set was made from.
    pub test_inputs: Option<InputFile>,
    /// Test labels.
    pub test_labels: Option<InputFile>,
    /// Triggered test samples written (every non-target test input).
    pub test_triggered: Option<usize>,
    /// gauntlet's version.
    pub gauntlet_version: String,
    /// Indices of the poisoned training rows, ascending.
    pub poisoned: Vec<usize>,
}

impl Manifest {
    /// Writes the manifest atomically as pretty JSON.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Data(format!("cannot encode the manifest: {e}")))?;
        write_atomic(path, &text).map_err(Error::Write)
    }

    /// Reads a manifest written by [`Manifest::write`].
    pub fn read(path: &Path) -> Result<Manifest> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::Data(format!(
                "'{}' is not a poisoning manifest ({e}); give the manifest.json `gauntlet \
                 poison` wrote",
                path.display()
            ))
        })
    }
}

/// Path and content hash of a file.
pub fn input_file(path: &Path) -> Result<InputFile> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(InputFile {
        path: path.display().to_string(),
        sha256: gauntlet_core::hash::sha256_hex(&bytes),
    })
}
