//! A checkpoint after every epoch, so a killed run resumes where it stopped.
//!
//! The folder holds the weights as an ONNX file (loadable on its own), the optimizer's state,
//! the best epoch's weights, and `state.json`, which names them and is written last: files
//! carry their epoch in their names, so a kill at any point leaves either the old checkpoint
//! or the new one complete. A checkpoint is resumed only by the same run (same model, data and
//! settings: a fingerprint over all three).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use gauntlet_core::{Error, Result};
use gauntlet_onnx::graph::{Graph, HostTensor};
use gauntlet_run::fs::write_atomic;

use crate::export::with_initializers;
use crate::optimizer::Optimizer;
use crate::trainer::{EpochRecord, Previous, Trainer};

/// `state.json`.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    fingerprint: String,
    epochs_done: usize,
    model: String,
    optimizer: String,
    best: Option<Best>,
    history: Vec<EpochRecord>,
    /// Fast-AT's carried perturbations (`start: previous`), when there are any.
    #[serde(default)]
    perturbations: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Best {
    accuracy: f32,
    epoch: usize,
    model: String,
}

/// Where a run keeps its checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    dir: PathBuf,
    fingerprint: String,
}

impl Checkpoint {
    /// The checkpoint folder `dir` of the run identified by `fingerprint`.
    pub fn new(dir: &Path, fingerprint: &str) -> Checkpoint {
        Checkpoint {
            dir: dir.to_path_buf(),
            fingerprint: fingerprint.to_string(),
        }
    }

    /// Whether a checkpoint exists there.
    pub fn exists(&self) -> bool {
        self.dir.join("state.json").exists()
    }

    /// Deletes the checkpoint (a finished run no longer needs it).
    pub fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&self.dir, e)),
            _ => Ok(()),
        }
    }

    /// Saves the trainer's state after its last finished epoch. `original` is the model file
    /// the run started from.
    pub fn save(&self, trainer: &Trainer, original: &[u8]) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let epoch = trainer.epochs_done();
        let write = |name: &str, bytes: &[u8]| -> Result<()> {
            write_atomic(&self.dir.join(name), bytes).map_err(Error::Write)
        };
        let model_name = format!("model-epoch{epoch}.onnx");
        write(
            &model_name,
            &with_initializers(original, &trainer.values(), &[])?,
        )?;
        let optimizer_name = format!("optimizer-epoch{epoch}.bin");
        write(&optimizer_name, &encode_optimizer(trainer.optimizer()))?;
        let best = match trainer.best() {
            Some((accuracy, best_epoch, values)) => {
                let name = format!("best-epoch{best_epoch}.onnx");
                if !self.dir.join(&name).exists() {
                    write(&name, &with_initializers(original, &values, &[])?)?;
                }
                Some(Best {
                    accuracy,
                    epoch: best_epoch,
                    model: name,
                })
            }
            None => None,
        };
        let perturbations = if trainer.previous().stored.is_empty() {
            None
        } else {
            let name = format!("perturbations-epoch{epoch}.bin");
            write(&name, &encode_previous(trainer.previous()))?;
            Some(name)
        };
        let state = State {
            fingerprint: self.fingerprint.clone(),
            epochs_done: epoch,
            model: model_name,
            optimizer: optimizer_name,
            best,
            history: trainer.history().to_vec(),
            perturbations,
        };
        let json = serde_json::to_vec_pretty(&state)
            .map_err(|e| Error::Model(format!("cannot encode the checkpoint state: {e}")))?;
        write("state.json", &json)?;
        // Files of earlier checkpoints are no longer named by state.json.
        let keep = [
            Some(state.model.as_str()),
            Some(state.optimizer.as_str()),
            state.best.as_ref().map(|b| b.model.as_str()),
            state.perturbations.as_deref(),
            Some("state.json"),
        ];
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !keep.contains(&Some(name.as_str())) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }

    /// Restores the trainer from the checkpoint; `Ok(false)` when there is none. A checkpoint
    /// of another run is an error (the user chooses: another `--out`, or delete it).
    pub fn resume(&self, trainer: &mut Trainer) -> Result<bool> {
        let path = self.dir.join("state.json");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let state: State = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Data(format!(
                "'{}' is not a gauntlet checkpoint ({e}); delete the folder to start over",
                path.display()
            ))
        })?;
        if state.fingerprint != self.fingerprint {
            return Err(Error::Data(format!(
                "'{}' holds a checkpoint of another run (different model, data or settings); \
                 give another --out, or delete that folder to start over",
                self.dir.display()
            )));
        }
        let values = self.read_values(&state.model)?;
        let optimizer_path = self.dir.join(&state.optimizer);
        let optimizer_bytes =
            std::fs::read(&optimizer_path).map_err(|e| Error::io(&optimizer_path, e))?;
        let mut optimizer = trainer.optimizer().clone();
        decode_optimizer(&optimizer_bytes, &mut optimizer)
            .map_err(|m| Error::Data(format!("'{}': {m}", optimizer_path.display())))?;
        let best = match &state.best {
            Some(b) => Some((b.accuracy, b.epoch, self.read_values(&b.model)?)),
            None => None,
        };
        let previous = match &state.perturbations {
            Some(name) => {
                let path = self.dir.join(name);
                let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
                decode_previous(&bytes)
                    .map_err(|m| Error::Data(format!("'{}': {m}", path.display())))?
            }
            None => Previous::default(),
        };
        trainer.restore(&values, optimizer, state.history, best, previous)?;
        Ok(true)
    }

    fn read_values(&self, name: &str) -> Result<HashMap<String, Vec<f32>>> {
        let path = self.dir.join(name);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let graph = Graph::parse(&bytes, &path.display().to_string())?;
        Ok(graph
            .constants
            .into_iter()
            .filter_map(|(k, v)| match v {
                HostTensor::Float { data, .. } => Some((k, data)),
                HostTensor::Int { .. } => None,
            })
            .collect())
    }
}

/// Samples and features (u64), one byte per sample (1: stored), then the values (f32),
/// little-endian.
fn encode_previous(p: &Previous) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + p.stored.len() + 4 * p.values.len());
    out.extend((p.stored.len() as u64).to_le_bytes());
    out.extend((p.features as u64).to_le_bytes());
    out.extend(p.stored.iter().map(|&s| u8::from(s)));
    out.extend(p.values.iter().flat_map(|v| v.to_le_bytes()));
    out
}

fn decode_previous(bytes: &[u8]) -> std::result::Result<Previous, String> {
    let truncated = || "the carried perturbations are truncated".to_string();
    let u64_at = |at: usize| -> std::result::Result<usize, String> {
        let b = bytes.get(at..at + 8).ok_or_else(truncated)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
    };
    let (samples, features) = (u64_at(0)?, u64_at(8)?);
    let values_at = 16 + samples;
    let expected = samples
        .checked_mul(features)
        .and_then(|v| v.checked_mul(4))
        .and_then(|v| v.checked_add(values_at))
        .ok_or_else(truncated)?;
    if bytes.len() != expected {
        return Err(format!(
            "the carried perturbations hold {} bytes where {samples} samples of {features} \
             values need {expected}",
            bytes.len()
        ));
    }
    Ok(Previous {
        stored: bytes[16..values_at].iter().map(|&b| b != 0).collect(),
        values: bytes[values_at..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect(),
        features,
    })
}

/// Steps (u64), then per tensor its first and second buffers' lengths (u64) and values (f32),
/// little-endian.
fn encode_optimizer(o: &Optimizer) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(o.steps.to_le_bytes());
    for (a, b) in o.first.iter().zip(&o.second) {
        for buf in [a, b] {
            out.extend((buf.len() as u64).to_le_bytes());
            out.extend(buf.iter().flat_map(|v| v.to_le_bytes()));
        }
    }
    out
}

fn decode_optimizer(bytes: &[u8], o: &mut Optimizer) -> std::result::Result<(), String> {
    let mut at = 0usize;
    let mut take = |n: usize| -> std::result::Result<&[u8], String> {
        let s = bytes
            .get(at..at + n)
            .ok_or("the optimizer state is truncated")?;
        at += n;
        Ok(s)
    };
    let u64_of = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    o.steps = u64_of(take(8)?);
    for i in 0..o.first.len() {
        for second in [false, true] {
            let len = u64_of(take(8)?) as usize;
            let expected = if second {
                o.second[i].len()
            } else {
                o.first[i].len()
            };
            if len != expected {
                return Err("the optimizer state belongs to another model".into());
            }
            let values: Vec<f32> = take(4 * len)?
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect();
            if second {
                o.second[i] = values;
            } else {
                o.first[i] = values;
            }
        }
    }
    if at != bytes.len() {
        return Err("the optimizer state has trailing bytes".into());
    }
    Ok(())
}
