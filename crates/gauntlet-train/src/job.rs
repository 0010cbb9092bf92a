//! A whole training run as one library call: load the model and data, set a held-out slice
//! aside, train epoch by epoch with a checkpoint after each (a rerun of the same command
//! resumes), and write `model.onnx` (with provenance) and `training.json`.

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use serde_json::json;

use gauntlet_core::data::{write_npy_f32, write_npy_i64, Dataset};
use gauntlet_core::hash::sha256_hex;
use gauntlet_core::model::Classifier;
use gauntlet_core::{Error, Result};
use gauntlet_onnx::{LoadOptions, OnnxModel};
use gauntlet_run::fs::write_atomic;
use gauntlet_run::progress::Progress;

use crate::checkpoint::Checkpoint;
use crate::export::with_initializers;
use crate::trainer::{EpochEnd, EpochRecord, TrainSettings, Trainer};

/// What to train, on what, and where to write it.
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// The ONNX model whose weights are trained (its architecture is kept).
    pub model: PathBuf,
    /// Training inputs (`.npy` or IDX).
    pub inputs: PathBuf,
    /// Training labels.
    pub labels: PathBuf,
    /// A separate held-out set (inputs, labels); otherwise the last `holdout` training
    /// samples are set aside and never trained on.
    pub eval_data: Option<(PathBuf, PathBuf)>,
    /// Samples set aside when no held-out set is given (default: 10 %, at most 1,000).
    pub holdout: Option<usize>,
    /// Shape of one sample, for models with symbolic input dimensions.
    pub input_shape: Option<Vec<usize>>,
    /// Use only the first this many training samples.
    pub limit: Option<usize>,
    /// The run's settings.
    pub settings: TrainSettings,
    /// Output folder.
    pub out: PathBuf,
    /// Discard a checkpoint left in `out` instead of resuming it.
    pub fresh: bool,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Status {
    /// Every epoch ran.
    Finished,
    /// Held-out PGD accuracy collapsed (catastrophic overfitting); the best epoch was kept.
    Collapsed {
        /// Epoch whose weights were written.
        kept_epoch: usize,
        /// Epoch at which the collapse was seen.
        at_epoch: usize,
    },
    /// Ctrl-C: the checkpoint holds the finished epochs; rerun to resume.
    Interrupted,
}

/// What a run produced.
#[derive(Debug)]
pub struct JobOutcome {
    /// How it ended.
    pub status: Status,
    /// The trained model (absent when interrupted).
    pub model: Option<PathBuf>,
    /// `training.json`.
    pub training_json: PathBuf,
    /// Every finished epoch.
    pub history: Vec<EpochRecord>,
    /// The held-out slice as written for audits (inputs, labels).
    pub holdout_files: (PathBuf, PathBuf),
    /// Epochs taken over from a checkpoint.
    pub resumed_epochs: usize,
    /// Wall time of this invocation.
    pub seconds: f64,
}

/// Model and data of a run, loaded and checked.
pub struct Loaded {
    /// The model as loaded.
    pub model: OnnxModel,
    /// Its file's bytes (the write-back starts from them).
    pub bytes: Vec<u8>,
    /// The data trained and checked on (training samples, then held-out ones).
    pub data: Dataset,
    /// Indices trained on.
    pub train: Vec<usize>,
    /// Indices of the held-out slice.
    pub holdout: Vec<usize>,
}

impl TrainJob {
    /// Loads and checks the model and the data.
    pub fn load(&self) -> Result<Loaded> {
        let bytes = std::fs::read(&self.model).map_err(|e| Error::io(&self.model, e))?;
        let options = LoadOptions {
            sample_shape: self.input_shape.clone(),
            ..LoadOptions::default()
        };
        let model =
            OnnxModel::from_bytes_with(&bytes, &self.model.display().to_string(), &options)?;
        let fit = |d: Dataset, what: &str| -> Result<Dataset> {
            let d = if d.sample_shape != model.sample_shape()
                && d.sample_shape == model.layout().from_channels_first(model.sample_shape())
            {
                d.into_channels_first(model.layout())
            } else {
                d
            };
            if d.features() != model.features() {
                return Err(Error::Data(format!(
                    "{what} samples have shape {:?} but the model takes {:?}; give data of the \
                     model's input shape",
                    d.sample_shape,
                    model.sample_shape()
                )));
            }
            if let Some(&bad) = d
                .labels
                .iter()
                .find(|&&l| l < 0 || l as usize >= model.num_classes())
            {
                return Err(Error::Data(format!(
                    "{what} label {bad} is outside the model's {} classes (0..{})",
                    model.num_classes(),
                    model.num_classes() - 1
                )));
            }
            Ok(d)
        };
        let mut train_data = fit(Dataset::load(&self.inputs, &self.labels)?, "training")?;
        if let Some(limit) = self.limit {
            train_data.truncate(limit);
        }
        let (data, train, holdout): (Dataset, Vec<usize>, Vec<usize>) = match &self.eval_data {
            Some((x, y)) => {
                let mut eval = fit(Dataset::load(x, y)?, "held-out")?;
                if let Some(h) = self.holdout {
                    eval.truncate(h);
                }
                let n = train_data.len();
                let m = eval.len();
                let mut inputs = train_data.inputs;
                inputs.extend(eval.inputs);
                let mut labels = train_data.labels;
                labels.extend(eval.labels);
                let mut shape = vec![n + m];
                shape.extend(&train_data.sample_shape);
                let sha = format!("{}+{}", train_data.sha256, eval.sha256);
                let data = Dataset::from_parts(inputs, shape, labels, sha)?;
                (data, (0..n).collect(), (n..n + m).collect())
            }
            None => {
                let n = train_data.len();
                let h = self.holdout.unwrap_or((n / 10).min(1000)).min(n / 2);
                (train_data, (0..n - h).collect(), (n - h..n).collect())
            }
        };
        if train.len() < 2 {
            return Err(Error::Data(
                "fewer than 2 training samples remain after the held-out slice; give more data \
                 or a smaller --holdout"
                    .into(),
            ));
        }
        Ok(Loaded {
            model,
            bytes,
            data,
            train,
            holdout,
        })
    }

    /// A fingerprint of model, data and settings: a checkpoint is resumed only by its own run.
    fn fingerprint(&self, loaded: &Loaded) -> String {
        let settings = serde_json::to_string(&self.settings).unwrap_or_default();
        sha256_hex(
            format!(
                "{}|{}|{}|{:?}|{settings}",
                loaded.model.sha256(),
                loaded.data.sha256,
                loaded.train.len(),
                self.limit
            )
            .as_bytes(),
        )
    }

    /// Runs (or resumes) the training. `log` receives one line per epoch.
    pub fn run(&self, progress: &dyn Progress, log: &mut dyn FnMut(&str)) -> Result<JobOutcome> {
        let started = Instant::now();
        let loaded = self.load()?;
        std::fs::create_dir_all(&self.out).map_err(|e| Error::io(&self.out, e))?;
        let holdout_files = self.write_holdout(&loaded)?;
        let checkpoint = Checkpoint::new(&self.out.join("checkpoint"), &self.fingerprint(&loaded));
        if self.fresh {
            checkpoint.remove()?;
        }
        let blockers = loaded.model.gradient_blockers();
        if !blockers.is_empty() {
            let list: Vec<String> = blockers
                .iter()
                .map(|(n, op)| format!("{n} ({op})"))
                .collect();
            log(&format!(
                "warning: {} has gradient-blocking nodes on the way to its scores: {}; weights \
                 before them get no gradient from the loss and will not train",
                self.model.display(),
                list.join(", ")
            ));
        }
        let mut trainer = Trainer::new(&loaded.model, self.settings.clone())?;
        let resumed_epochs = if checkpoint.resume(&mut trainer)? {
            log(&format!(
                "resuming after epoch {} from {}",
                trainer.epochs_done(),
                self.out.join("checkpoint").display()
            ));
            trainer.epochs_done()
        } else {
            0
        };
        let (before_clean, before_robust) = trainer.evaluate(&loaded.data, &loaded.holdout)?;
        if resumed_epochs == 0 {
            log(&format!(
                "{} trainable values in {} tensors; held-out before training: clean {}{}",
                trainer.parameters().trainable_count(),
                trainer.parameters().trainable().count(),
                percent(before_clean),
                before_robust
                    .map(|r| format!(", PGD {}", percent(r)))
                    .unwrap_or_default()
            ));
        }
        let mut status = Status::Finished;
        while trainer.epochs_done() < self.settings.epochs {
            let end = trainer.epoch(&loaded.data, &loaded.train, &loaded.holdout, progress)?;
            match end {
                EpochEnd::Interrupted => {
                    status = Status::Interrupted;
                    break;
                }
                EpochEnd::Collapsed { best_epoch } => {
                    log(&epoch_line(trainer.history().last(), self.settings.epochs));
                    log(&format!(
                        "held-out PGD accuracy collapsed (catastrophic overfitting); keeping \
                         epoch {best_epoch}"
                    ));
                    status = Status::Collapsed {
                        kept_epoch: best_epoch,
                        at_epoch: trainer.epochs_done(),
                    };
                    break;
                }
                EpochEnd::Continue => {
                    log(&epoch_line(trainer.history().last(), self.settings.epochs));
                    checkpoint.save(&trainer, &loaded.bytes)?;
                }
            }
        }
        let training_json = self.out.join("training.json");
        let model_path = self.out.join("model.onnx");
        let model = if status == Status::Interrupted {
            None
        } else {
            let metadata = self.provenance(&loaded, &status);
            let bytes = with_initializers(&loaded.bytes, &trainer.values(), &metadata)?;
            write_atomic(&model_path, &bytes).map_err(Error::Write)?;
            Some(model_path)
        };
        let seconds = started.elapsed().as_secs_f64();
        let record = json!({
            "status": status,
            "model": self.model.display().to_string(),
            "model_sha256": loaded.model.sha256(),
            "data_sha256": loaded.data.sha256,
            "train_samples": loaded.train.len(),
            "holdout_samples": loaded.holdout.len(),
            "gauntlet_version": env!("CARGO_PKG_VERSION"),
            "settings": self.settings,
            "before": {"clean_accuracy": before_clean, "robust_accuracy": before_robust},
            "epochs": trainer.history(),
            "resumed_epochs": resumed_epochs,
            "seconds": seconds,
        });
        let text = serde_json::to_vec_pretty(&record)
            .map_err(|e| Error::Model(format!("cannot encode training.json: {e}")))?;
        write_atomic(&training_json, &text).map_err(Error::Write)?;
        if model.is_some() {
            checkpoint.remove()?;
        }
        Ok(JobOutcome {
            status,
            model,
            training_json,
            history: trainer.history().to_vec(),
            holdout_files,
            resumed_epochs,
            seconds,
        })
    }

    /// The held-out slice as `.npy` files, so audits of the models before and after training
    /// read exactly these samples.
    fn write_holdout(&self, loaded: &Loaded) -> Result<(PathBuf, PathBuf)> {
        let dir = self.out.join("holdout");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let x = dir.join("x.npy");
        let y = dir.join("y.npy");
        let mut shape = vec![loaded.holdout.len()];
        shape.extend(&loaded.data.sample_shape);
        write_npy_f32(&x, &loaded.data.rows(&loaded.holdout), &shape)?;
        let labels: Vec<i64> = loaded
            .holdout
            .iter()
            .map(|&i| loaded.data.labels[i])
            .collect();
        write_npy_i64(&y, &labels)?;
        Ok((x, y))
    }

    /// `metadata_props` of the written model: how it was trained, reproducibly.
    fn provenance(&self, loaded: &Loaded, status: &Status) -> Vec<(String, String)> {
        let s = &self.settings;
        let mut out = vec![
            ("gauntlet.version", env!("CARGO_PKG_VERSION").to_string()),
            ("gauntlet.method", s.method.name().to_string()),
            (
                "gauntlet.settings",
                serde_json::to_string(s).unwrap_or_default(),
            ),
            ("gauntlet.epochs", s.epochs.to_string()),
            ("gauntlet.seed", s.seed.to_string()),
            ("gauntlet.from_scratch", s.from_scratch.to_string()),
            (
                "gauntlet.source_model_sha256",
                loaded.model.sha256().to_string(),
            ),
            ("gauntlet.data_sha256", loaded.data.sha256.clone()),
            (
                "gauntlet.status",
                serde_json::to_string(status).unwrap_or_default(),
            ),
        ];
        if let Some(eps) = s.method.eps() {
            out.push(("gauntlet.eps", eps.to_string()));
        }
        out.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

fn percent(v: f32) -> String {
    format!("{:.1} %", 100.0 * v)
}

/// One line per epoch for the terminal.
fn epoch_line(r: Option<&EpochRecord>, epochs: usize) -> String {
    let Some(r) = r else {
        return String::new();
    };
    format!(
        "epoch {}/{epochs}: loss {:.4}, trained-on accuracy {}, held-out clean {}{} (lr {:.2e}, \
         {:.1} s, {:.0} samples/s)",
        r.epoch,
        r.loss,
        percent(r.train_accuracy),
        percent(r.clean_accuracy),
        r.robust_accuracy
            .map(|a| format!(", PGD {}", percent(a)))
            .unwrap_or_default(),
        r.lr,
        r.seconds,
        r.samples_per_second
    )
}
