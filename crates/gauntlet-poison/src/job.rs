//! `gauntlet poison` as one library call: read the training (and test) data, build the
//! attack, poison, and write the poisoned set — `x.npy` (float32, the inputs' shape),
//! `y.npy` (int64), `manifest.json`, `trigger.png`, and with test data
//! `test_triggered_x.npy`/`test_triggered_y.npy` — into a folder.

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::SeedableRng;

use gauntlet_core::data::{write_npy_f32, write_npy_i64, Dataset};
use gauntlet_core::threat::{Bounds, Norm};
use gauntlet_core::{Error, Result};
use gauntlet_onnx::OnnxModel;
use gauntlet_run::fs::write_atomic;
use gauntlet_run::progress::Progress;

use crate::attack::{AttackKind, PoisonAttack};
use crate::badnets::Labelling;
use crate::clean_label::Perturbation;
use crate::label_flip::Flip;
use crate::manifest::{input_file, Manifest, PerturbationRecord};
use crate::poisoned::Poisoned;
use crate::selection::poison_count;
use crate::trigger::Trigger;

/// Default trigger: Gu et al.'s pattern in the bottom-right corner.
pub const DEFAULT_TRIGGER: &str = "corner:4";

/// What to poison, how, and where to write it.
#[derive(Debug, Clone)]
pub struct PoisonJob {
    /// Training inputs (`.npy` or MNIST IDX, `.gz` allowed), channels first.
    pub inputs: PathBuf,
    /// Training labels.
    pub labels: PathBuf,
    /// The attack family.
    pub attack: AttackKind,
    /// Trigger spec (BadNets, clean-label); [`DEFAULT_TRIGGER`] when absent.
    pub trigger: Option<String>,
    /// BadNets: relabel `y → (y + 1) mod C` instead of to one target class.
    pub all_to_all: bool,
    /// Share of the training set to poison, in (0, 1].
    pub fraction: f64,
    /// The attacker's class (all-to-one, targeted flip, clean-label).
    pub target_class: Option<i64>,
    /// Label flipping: flip only this class (targeted); random flipping without it.
    pub source_class: Option<i64>,
    /// Clean-label: the model the perturbation is computed against.
    pub model: Option<PathBuf>,
    /// Clean-label: the perturbation (norm, ε, steps).
    pub perturbation: Perturbation,
    /// Test inputs and labels for the triggered test set.
    pub test: Option<(PathBuf, PathBuf)>,
    /// Valid input box.
    pub bounds: Bounds,
    /// Seed of every random choice.
    pub seed: u64,
    /// Output folder.
    pub out: PathBuf,
}

/// The clean-label perturbation's defaults: L∞, ε = 0.3, 40 steps (MNIST's usual budget; the
/// repository's adversarially trained MNIST model was trained at it).
pub fn default_perturbation() -> Perturbation {
    Perturbation {
        norm: Norm::Linf,
        eps: 0.3,
        steps: 40,
        rel_step: None,
    }
}

/// What a run wrote.
#[derive(Debug, Clone)]
pub struct PoisonOutcome {
    /// The manifest as written.
    pub manifest: Manifest,
    /// The poisoned training set.
    pub poisoned: Poisoned,
    /// The triggered test set (true labels), when test data was given and the attack has a
    /// trigger.
    pub test_triggered: Option<Dataset>,
    /// The files written.
    pub files: Vec<PathBuf>,
}

fn check_class(flag: &str, class: i64, classes: usize) -> Result<()> {
    if class < 0 || class as usize >= classes {
        return Err(Error::Parameter(format!(
            "{flag} {class} is out of range: the labels hold classes 0..{}",
            classes - 1
        )));
    }
    Ok(())
}

impl PoisonJob {
    /// Runs the attack and writes the poisoned set.
    pub fn run(&self, progress: &dyn Progress) -> Result<PoisonOutcome> {
        let clean = Dataset::load(&self.inputs, &self.labels)?;
        let test = match &self.test {
            Some((x, y)) => {
                let t = Dataset::load(x, y)?;
                if t.sample_shape != clean.sample_shape {
                    return Err(Error::Data(format!(
                        "test samples have shape {:?} but training samples {:?}; give test data \
                         of the same shape",
                        t.sample_shape, clean.sample_shape
                    )));
                }
                Some(t)
            }
            None => None,
        };
        let (lo, hi) = clean.value_range();
        if lo < self.bounds.min || hi > self.bounds.max {
            return Err(Error::Data(format!(
                "training inputs range over [{lo}, {hi}], outside the valid box [{}, {}]; give \
                 --bounds for this data",
                self.bounds.min, self.bounds.max
            )));
        }
        let model = match (&self.model, self.attack) {
            (Some(path), AttackKind::CleanLabel) => Some(OnnxModel::load(path)?),
            (None, AttackKind::CleanLabel) => {
                return Err(Error::Parameter(
                    "--attack clean-label needs --model M.onnx, the model the perturbation is \
                     computed against (an adversarially trained one, as in Turner et al.; e.g. \
                     models/mnist_cnn_adv.onnx)"
                        .into(),
                ))
            }
            _ => None,
        };
        let max_label = clean
            .labels
            .iter()
            .chain(test.iter().flat_map(|t| t.labels.iter()))
            .copied()
            .max()
            .unwrap_or(0);
        let mut classes = max_label as usize + 1;
        if let Some(m) = &model {
            use gauntlet_core::model::Classifier;
            classes = classes.max(m.num_classes());
        }
        let target = self.target_class;
        if let Some(k) = target {
            check_class("--target-class", k, classes)?;
        }
        if let Some(s) = self.source_class {
            check_class("--source-class", s, classes)?;
        }
        let need_target = |what: &str| -> Result<i64> {
            target.ok_or_else(|| {
                Error::Parameter(format!(
                    "{what} needs --target-class K, the attacker's class"
                ))
            })
        };
        let trigger = || -> Result<Trigger> {
            Trigger::parse(
                self.trigger.as_deref().unwrap_or(DEFAULT_TRIGGER),
                &clean.sample_shape,
                self.bounds,
            )
        };
        let attack = match self.attack {
            AttackKind::BadNets => PoisonAttack::BadNets {
                trigger: trigger()?,
                labelling: if self.all_to_all {
                    if target.is_some() {
                        return Err(Error::Parameter(
                            "--all-to-all relabels every class to the next one; drop \
                             --target-class"
                                .into(),
                        ));
                    }
                    Labelling::AllToAll
                } else {
                    Labelling::AllToOne {
                        target: need_target("--attack badnets (all-to-one)")?,
                    }
                },
            },
            AttackKind::LabelFlip => PoisonAttack::LabelFlip(match self.source_class {
                Some(source) => Flip::Targeted {
                    source,
                    target: need_target("a targeted flip (--source-class)")?,
                },
                None => {
                    if target.is_some() {
                        return Err(Error::Parameter(
                            "--target-class with --attack label-flip needs --source-class S \
                             (the class relabelled); leave both out for random flipping"
                                .into(),
                        ));
                    }
                    Flip::Random
                }
            }),
            AttackKind::CleanLabel => PoisonAttack::CleanLabel {
                trigger: trigger()?,
                target: need_target("--attack clean-label")?,
                model: model
                    .as_ref()
                    .map(|m| m as &dyn gauntlet_core::model::Differentiable)
                    .ok_or_else(|| Error::Parameter("--model is missing".into()))?,
                perturbation: self.perturbation,
            },
        };
        if self.all_to_all && self.attack != AttackKind::BadNets {
            return Err(Error::Parameter(
                "--all-to-all applies to --attack badnets only".into(),
            ));
        }
        let count = poison_count(self.fraction, clean.len())?;
        let mut rng = StdRng::seed_from_u64(self.seed);
        let poisoned = attack.run(&clean, classes, count, &mut rng, progress)?;
        let test_triggered = match &test {
            Some(t) => attack.triggered_test(t)?,
            None => None,
        };
        let manifest = Manifest {
            attack: attack.kind().to_string(),
            variant: attack.variant().to_string(),
            seed: self.seed,
            fraction: self.fraction,
            samples: clean.len(),
            classes,
            target_class: attack.target_class(),
            source_class: match attack {
                PoisonAttack::LabelFlip(Flip::Targeted { source, .. }) => Some(source),
                _ => None,
            },
            trigger: attack.trigger().cloned(),
            perturbation: match (&attack, &self.model) {
                (
                    PoisonAttack::CleanLabel {
                        perturbation: p, ..
                    },
                    Some(path),
                ) => Some(PerturbationRecord {
                    norm: p.norm.to_string(),
                    eps: p.eps,
                    steps: p.steps,
                    step_size: p.eps * p.rel_step.unwrap_or(2.5 / p.steps as f32),
                    model: input_file(path)?,
                }),
                _ => None,
            },
            inputs: input_file(&self.inputs)?,
            labels: input_file(&self.labels)?,
            test_inputs: self.test.as_ref().map(|t| input_file(&t.0)).transpose()?,
            test_labels: self.test.as_ref().map(|t| input_file(&t.1)).transpose()?,
            test_triggered: test_triggered.as_ref().map(Dataset::len),
            gauntlet_version: env!("CARGO_PKG_VERSION").to_string(),
            poisoned: poisoned.poisoned.clone(),
        };
        let files = write_set(&self.out, &poisoned, test_triggered.as_ref(), &manifest)?;
        Ok(PoisonOutcome {
            manifest,
            poisoned,
            test_triggered,
            files,
        })
    }
}

/// Writes a data set as `STEM_x.npy`-style pair (`x`/`y` names given) in its own shape.
pub fn write_dataset(data: &Dataset, x: &Path, y: &Path) -> Result<()> {
    let mut shape = vec![data.len()];
    shape.extend(&data.sample_shape);
    write_npy_f32(x, &data.inputs, &shape)?;
    write_npy_i64(y, &data.labels)
}

/// Writes the poisoned set, the triggered test set, the trigger image and (last, so its
/// presence means the folder is complete) the manifest.
fn write_set(
    dir: &Path,
    poisoned: &Poisoned,
    test_triggered: Option<&Dataset>,
    manifest: &Manifest,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let stale = dir.join("manifest.json");
    if stale.exists() {
        std::fs::remove_file(&stale).map_err(|e| Error::io(&stale, e))?;
    }
    let mut files = vec![dir.join("x.npy"), dir.join("y.npy")];
    write_dataset(&poisoned.data, &files[0], &files[1])?;
    if let Some(t) = test_triggered {
        let (x, y) = (
            dir.join("test_triggered_x.npy"),
            dir.join("test_triggered_y.npy"),
        );
        write_dataset(t, &x, &y)?;
        files.extend([x, y]);
    }
    if let Some(trigger) = &manifest.trigger {
        let png = dir.join("trigger.png");
        write_atomic(&png, &trigger.to_png()?).map_err(Error::Write)?;
        files.push(png);
    }
    manifest.write(&stale)?;
    files.push(stale);
    Ok(files)
}
