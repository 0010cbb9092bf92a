//! The closed loop, as one library call: poison → train → audit the backdoor and the clean
//! accuracy → scan → drop the flagged samples → retrain → re-audit, next to a model trained on
//! the clean data as the reference; one report with the before/after table.
//!
//! Nothing here is a second pipeline: poisoning is [`PoisonJob`], training is gauntlet-train's
//! `TrainJob` (the given architecture, the same settings for every model), measuring is the
//! library audit (`AuditConfig` → `check` → `run`, an ε = 0 audit: its clean predictions on
//! the clean test set and on the triggered test set), scanning is gauntlet-detect's `ScanJob`,
//! and the report is gauntlet-report's.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::json;

use gauntlet_audit::{AuditConfig, Silent};
use gauntlet_core::data::Dataset;
use gauntlet_core::hash::sha256_hex;
use gauntlet_core::model::Classifier;
use gauntlet_core::tensor::argmax_rows;
use gauntlet_detect::{Method, ScanJob};
use gauntlet_onnx::OnnxModel;
use gauntlet_report::poisoning::{
    write_poisoning_report, ModelRow, Picture, PoisoningReport, PoisoningWritten,
};
use gauntlet_run::progress::Progress;
use gauntlet_train::{TrainJob, TrainSettings};

use crate::job::{write_dataset, PoisonJob};
use crate::manifest::Manifest;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoopJob {
    /// The poisoning (its `out` and `test` are set by the loop).
    pub poison: PoisonJob,
    /// The architecture every model is trained from (an ONNX file; weights reinitialized when
    /// `settings.from_scratch`).
    pub architecture: PathBuf,
    /// Clean test inputs and labels: clean accuracy, and the triggered test set.
    pub test: (PathBuf, PathBuf),
    /// Training settings, the same for every model.
    pub settings: TrainSettings,
    /// Test samples each training run checks per epoch.
    pub holdout: usize,
    /// Detectors whose flagged samples are dropped (one repaired model each).
    pub methods: Vec<Method>,
    /// The value whose activations the detectors read (default: the last linear layer's
    /// input).
    pub layer: Option<String>,
    /// The poisoned share the detectors assume (spectral's ε̂).
    pub expected_fraction: f64,
    /// After each detector's repair, give back the flagged rows that the repaired model reads
    /// as their own label and train once more (exclusionary reclassification).
    pub reclassify: bool,
    /// Triggered test images shown in the report.
    pub pictures: usize,
    /// Output folder.
    pub out: PathBuf,
}

/// What the loop produced.
#[derive(Debug)]
pub struct LoopOutcome {
    /// One row per trained model: clean data, poisoned data, then one per detector.
    pub rows: Vec<ModelRow>,
    /// The report files.
    pub written: PoisoningWritten,
}

/// One model's measurements.
struct Measured {
    row: ModelRow,
    /// Predictions on the first triggered test images.
    shown: Vec<i64>,
}

/// What the attacker wants a (triggered) test input of true class `y` classified as.
fn wanted(manifest: &Manifest, y: i64) -> Option<i64> {
    match manifest.variant.as_str() {
        "all-to-all" => Some((y + 1).rem_euclid(manifest.classes as i64)),
        "targeted" => (Some(y) == manifest.source_class)
            .then_some(manifest.target_class)
            .flatten(),
        "random" => None,
        _ => manifest.target_class,
    }
}

impl LoopJob {
    /// Runs every stage; `log` gets one line per stage (and the trainer's epoch lines).
    pub fn run(&self, progress: &dyn Progress, log: &mut dyn FnMut(&str)) -> Result<LoopOutcome> {
        let mut stages: Vec<(String, f64)> = Vec::new();
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("cannot create '{}'", self.out.display()))?;

        log("stage 1: poisoning the training set");
        let clock = Instant::now();
        let mut poison = self.poison.clone();
        poison.out = self.out.join("poisoned-data");
        poison.test = Some(self.test.clone());
        let poisoned = poison.run(progress).context("poisoning")?;
        stages.push(("poison".into(), clock.elapsed().as_secs_f64()));
        let manifest = &poisoned.manifest;
        let manifest_path = poison.out.join("manifest.json");
        let poisoned_x = poison.out.join("x.npy");
        let poisoned_y = poison.out.join("y.npy");
        let triggered = poisoned.test_triggered.as_ref().map(|_| {
            (
                poison.out.join("test_triggered_x.npy"),
                poison.out.join("test_triggered_y.npy"),
            )
        });
        log(&format!(
            "  {} ({}): {} of {} samples poisoned",
            manifest.attack,
            manifest.variant,
            manifest.poisoned.len(),
            manifest.samples
        ));

        let mut rows = Vec::new();
        let mut shown: Vec<Vec<i64>> = Vec::new();
        let train_measure = |name: &str,
                             (x, y, dir): &(PathBuf, PathBuf, PathBuf),
                             stages: &mut Vec<(String, f64)>,
                             log: &mut dyn FnMut(&str)|
         -> Result<Measured> {
            log(&format!("training on {name}"));
            let m = self.train_and_measure(
                name,
                x,
                y,
                dir,
                manifest,
                triggered.as_ref(),
                progress,
                log,
            )?;
            stages.push((format!("train ({name})"), m.row.train_seconds));
            stages.push((format!("audit ({name})"), m.row.audit_seconds));
            log(&format!(
                "  {name}: clean accuracy {:.2} %{}",
                100.0 * m.row.clean_accuracy,
                m.row
                    .attack_success
                    .map(|a| format!(", attack success {:.2} %", 100.0 * a))
                    .unwrap_or_default()
            ));
            Ok(m)
        };

        log("stage 2: the reference model, trained on the clean data");
        let clean = train_measure(
            "clean data",
            &(
                self.poison.inputs.clone(),
                self.poison.labels.clone(),
                self.out.join("model-clean"),
            ),
            &mut stages,
            log,
        )?;
        rows.push(clean.row);
        shown.push(clean.shown);

        log("stage 3: the victim model, trained on the poisoned data");
        let victim_dir = self.out.join("model-poisoned");
        let mut victim = train_measure(
            "poisoned data",
            &(poisoned_x.clone(), poisoned_y.clone(), victim_dir.clone()),
            &mut stages,
            log,
        )?;
        victim.row.poisons_total = Some(manifest.poisoned.len());
        rows.push(victim.row);
        shown.push(victim.shown);

        if !self.methods.is_empty() {
            log("stage 4: scanning the poisoned set through the victim model");
            let mut scan = ScanJob::new(
                victim_dir.join("train").join("model.onnx"),
                poisoned_x.clone(),
                poisoned_y.clone(),
                self.out.join("scan"),
            );
            scan.methods = self.methods.clone();
            scan.layer = self.layer.clone();
            scan.manifest = Some(manifest_path.clone());
            scan.expected_fraction = self.expected_fraction;
            scan.seed = self.settings.seed;
            let scanned = scan.run(progress).context("scanning the poisoned set")?;
            stages.push(("scan".into(), scanned.seconds));
            let data = &poisoned.poisoned.data;
            let truth: HashSet<usize> = manifest.poisoned.iter().copied().collect();
            for outcome in &scanned.methods {
                let name = outcome.method.name();
                let flagged: HashSet<usize> = outcome.flagged.iter().copied().collect();
                let found = outcome.flagged.iter().filter(|i| truth.contains(i)).count();
                log(&format!(
                    "  {name}: flagged {} samples, {found} of the {} poisons",
                    flagged.len(),
                    truth.len()
                ));
                let dir = self.out.join(format!("repaired-{name}"));
                let mut repaired = train_measure(
                    &format!("after {name}"),
                    &write_kept(data, &flagged, &dir)?,
                    &mut stages,
                    log,
                )?;
                record_removal(&mut repaired.row, &flagged, &truth);
                repaired.row.scan_seconds = Some(outcome.seconds);
                let mut reclassified = None;
                if self.reclassify && !flagged.is_empty() {
                    // Exclusionary reclassification (Chen et al. 2018): the model trained
                    // without the flagged rows reads each of them; a row it gives its own
                    // label to is clean after all (a clean class's unusual members), a row it
                    // reads as another class is poison. Decided per row, so it also serves a
                    // threshold detector.
                    let clock = Instant::now();
                    let cleared = agreeing_rows(
                        &dir.join("train").join("model.onnx"),
                        data,
                        &outcome.flagged,
                        progress,
                    )?;
                    let dropped: HashSet<usize> = flagged.difference(&cleared).copied().collect();
                    log(&format!(
                        "  reclassified: {} of the {} flagged rows read as their own label and \
                         go back ({:.1} s)",
                        cleared.len(),
                        flagged.len(),
                        clock.elapsed().as_secs_f64()
                    ));
                    let dir = self.out.join(format!("repaired-{name}-reclassified"));
                    let mut second = train_measure(
                        &format!("after {name} + reclassification"),
                        &write_kept(data, &dropped, &dir)?,
                        &mut stages,
                        log,
                    )?;
                    record_removal(&mut second.row, &dropped, &truth);
                    second.row.scan_seconds = Some(outcome.seconds + clock.elapsed().as_secs_f64());
                    reclassified = Some(second);
                }
                rows.push(repaired.row);
                shown.push(repaired.shown);
                if let Some(second) = reclassified {
                    rows.push(second.row);
                    shown.push(second.shown);
                }
            }
        }

        let pictures = self.pictures(triggered.as_ref(), &rows, &shown)?;
        let sample_shape = poisoned.poisoned.data.sample_shape.clone();
        let architecture_sha256 = sha256_hex(
            &std::fs::read(&self.architecture)
                .with_context(|| format!("reading '{}'", self.architecture.display()))?,
        );
        let report = PoisoningReport {
            attack: &manifest.attack,
            variant: &manifest.variant,
            fraction: manifest.fraction,
            target_class: manifest.target_class,
            sample_shape: &sample_shape,
            rows: &rows,
            stages: &stages,
            pictures: &pictures,
            provenance: json!({
                "architecture": self.architecture.display().to_string(),
                "architecture_sha256": architecture_sha256,
                "training": self.settings,
                "holdout": self.holdout,
                "methods": self.methods.iter().map(|m| m.name()).collect::<Vec<_>>(),
                "layer": self.layer,
                "expected_fraction": self.expected_fraction,
                "reclassify": self.reclassify,
                "seed": self.settings.seed,
                "poison_seed": manifest.seed,
                "inputs": manifest.inputs,
                "labels": manifest.labels,
                "test_inputs": manifest.test_inputs,
                "test_labels": manifest.test_labels,
                "manifest": manifest_path.display().to_string(),
                "gauntlet_version": env!("CARGO_PKG_VERSION"),
            }),
        };
        let written = write_poisoning_report(&self.out, &report)?;
        Ok(LoopOutcome { rows, written })
    }

    /// Trains one model on `x`/`y` into `dir/train` and audits it into `dir/audit-*`.
    #[allow(clippy::too_many_arguments)] // one stage's inputs, each of its own kind
    fn train_and_measure(
        &self,
        name: &str,
        x: &Path,
        y: &Path,
        dir: &Path,
        manifest: &Manifest,
        triggered: Option<&(PathBuf, PathBuf)>,
        progress: &dyn Progress,
        log: &mut dyn FnMut(&str),
    ) -> Result<Measured> {
        let job = TrainJob {
            model: self.architecture.clone(),
            inputs: x.to_path_buf(),
            labels: y.to_path_buf(),
            eval_data: Some(self.test.clone()),
            holdout: Some(self.holdout),
            input_shape: None,
            limit: None,
            settings: self.settings.clone(),
            out: dir.join("train"),
            fresh: false,
        };
        let trained = job
            .run(progress, &mut |line| log(&format!("  {line}")))
            .with_context(|| format!("training on {name}"))?;
        let model = trained
            .model
            .clone()
            .with_context(|| format!("training on {name} was interrupted; rerun to resume"))?;
        let clock = Instant::now();
        let clean = audit(
            &model,
            &self.test,
            &dir.join("audit-clean"),
            self.settings.seed,
        )
        .with_context(|| format!("auditing the model trained on {name}"))?;
        let mut attack_success = None;
        let mut shown = Vec::new();
        if let Some(t) = triggered {
            let e = audit(&model, t, &dir.join("audit-triggered"), self.settings.seed)
                .with_context(|| format!("auditing the model trained on {name} (triggered)"))?;
            attack_success = Some(success(manifest, &e.labels, &e.clean_predictions));
            shown = e
                .clean_predictions
                .iter()
                .take(self.pictures)
                .copied()
                .collect();
        } else if manifest.variant == "targeted" {
            attack_success = Some(success(manifest, &clean.labels, &clean.clean_predictions));
        }
        let samples = Dataset::load(x, y)?.len();
        Ok(Measured {
            row: ModelRow {
                name: name.to_string(),
                training_samples: samples,
                clean_accuracy: clean.clean_accuracy,
                attack_success,
                flagged: None,
                poisons_found: None,
                poisons_total: None,
                clean_lost: None,
                train_seconds: trained.seconds,
                audit_seconds: clock.elapsed().as_secs_f64(),
                scan_seconds: None,
            },
            shown,
        })
    }

    /// The first triggered test images and each model's prediction for them.
    fn pictures(
        &self,
        triggered: Option<&(PathBuf, PathBuf)>,
        rows: &[ModelRow],
        shown: &[Vec<i64>],
    ) -> Result<Vec<Picture>> {
        let Some((x, y)) = triggered else {
            return Ok(Vec::new());
        };
        let data = Dataset::load(x, y)?;
        let n = self.pictures.min(data.len());
        let f = data.features();
        Ok((0..n)
            .map(|i| Picture {
                index: i,
                values: data.inputs[i * f..(i + 1) * f].to_vec(),
                label: data.labels[i],
                predictions: rows
                    .iter()
                    .zip(shown)
                    .filter_map(|(r, s)| s.get(i).map(|&p| (r.name.clone(), p)))
                    .collect(),
            })
            .collect())
    }
}

/// Share of the inputs the attacker has a wish for that the model grants it.
fn success(manifest: &Manifest, labels: &[i64], predictions: &[i64]) -> f64 {
    let (hits, total) = labels
        .iter()
        .zip(predictions)
        .filter_map(|(&y, &p)| wanted(manifest, y).map(|w| w == p))
        .fold((0usize, 0usize), |(h, t), ok| (h + usize::from(ok), t + 1));
    if total == 0 {
        0.0
    } else {
        hits as f64 / total as f64
    }
}

/// Fills a repaired model's removal columns: rows dropped, poisons among them, clean rows lost.
fn record_removal(row: &mut ModelRow, dropped: &HashSet<usize>, truth: &HashSet<usize>) {
    let found = dropped.intersection(truth).count();
    row.flagged = Some(dropped.len());
    row.poisons_found = Some(found);
    row.poisons_total = Some(truth.len());
    row.clean_lost = Some(dropped.len() - found);
}

/// Writes `data` without the rows `dropped` to `dir/x.npy`, `dir/y.npy`; returns those paths
/// and `dir` (where the model trained on them goes).
fn write_kept(
    data: &Dataset,
    dropped: &HashSet<usize>,
    dir: &Path,
) -> Result<(PathBuf, PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create '{}'", dir.display()))?;
    let keep: Vec<usize> = (0..data.len()).filter(|i| !dropped.contains(i)).collect();
    let kept = data.subset(&keep);
    let (x, y) = (dir.join("x.npy"), dir.join("y.npy"));
    write_dataset(&kept, &x, &y)?;
    Ok((x, y, dir.to_path_buf()))
}

/// The rows of `data` among `rows` that the model at `model` classifies as their label.
fn agreeing_rows(
    model: &Path,
    data: &Dataset,
    rows: &[usize],
    progress: &dyn Progress,
) -> Result<HashSet<usize>> {
    let model = OnnxModel::load(model)?;
    let subset = data.subset(rows).into_channels_first(model.layout());
    let logits = gauntlet_detect::job::logits(&model, &subset, 256, progress)?;
    let predicted = argmax_rows(&logits, model.num_classes());
    Ok(rows
        .iter()
        .zip(predicted)
        .filter(|&(&i, p)| p == data.labels[i])
        .map(|(&i, _)| i)
        .collect())
}

/// The library audit at ε = 0: the model's clean predictions and accuracy on `data`.
fn audit(
    model: &Path,
    data: &(PathBuf, PathBuf),
    out: &Path,
    seed: u64,
) -> Result<gauntlet_audit::Evaluation> {
    let mut config = AuditConfig::new(model, &data.0, &data.1, &[0.0]);
    config.attacks = "fgsm".into();
    config.no_diagnostics = true;
    config.no_bpda = true;
    config.quiet = true;
    config.fresh = true;
    config.seed = seed;
    config.out = out.to_path_buf();
    Ok(config.check()?.run(&Silent)?.evaluation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reclassification_gives_back_the_rows_the_model_reads_as_their_label() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut data = Dataset::load(
            &root.join("data/mnist-demo/x.npy"),
            &root.join("data/mnist-demo/y.npy"),
        )
        .unwrap();
        // Every 10th digit gets a wrong label: the embedded CNN (≈ 99 % on these digits)
        // must not give those back, and must give back nearly all the others.
        let flipped: HashSet<usize> = (0..data.len()).step_by(10).collect();
        for &i in &flipped {
            data.labels[i] = (data.labels[i] + 3) % 10;
        }
        let rows: Vec<usize> = (0..data.len()).collect();
        let model = root.join("models/mnist_cnn.onnx");
        let back = agreeing_rows(&model, &data, &rows, &gauntlet_run::progress::Silent).unwrap();
        let wrongly_back = back.intersection(&flipped).count();
        assert!(
            wrongly_back <= 2,
            "{wrongly_back} mislabelled digits given back"
        );
        let kept_clean = back.len() - wrongly_back;
        assert!(
            kept_clean >= 880,
            "only {kept_clean} of 900 correct labels given back"
        );
        // A subset is judged row by row: the same answer for the rows it names.
        let some: Vec<usize> = (0..data.len()).step_by(7).collect();
        let part = agreeing_rows(&model, &data, &some, &gauntlet_run::progress::Silent).unwrap();
        let expected: HashSet<usize> = some.iter().filter(|i| back.contains(i)).copied().collect();
        assert_eq!(part, expected);
    }

    fn manifest(variant: &str, target: Option<i64>, source: Option<i64>) -> Manifest {
        let file = crate::manifest::InputFile {
            path: String::new(),
            sha256: String::new(),
        };
        Manifest {
            attack: "badnets".into(),
            variant: variant.into(),
            seed: 0,
            fraction: 0.1,
            samples: 10,
            classes: 10,
            target_class: target,
            source_class: source,
            trigger: None,
            perturbation: None,
            inputs: file.clone(),
            labels: file,
            test_inputs: None,
            test_labels: None,
            test_triggered: None,
            gauntlet_version: String::new(),
            poisoned: vec![],
        }
    }

    #[test]
    fn success_counts_what_the_attacker_wanted() {
        let one = manifest("all-to-one", Some(7), None);
        assert_eq!(success(&one, &[1, 2, 3, 4], &[7, 7, 3, 7]), 0.75);
        let all = manifest("all-to-all", None, None);
        assert_eq!(success(&all, &[1, 9, 3], &[2, 0, 3]), 2.0 / 3.0);
        // targeted flip: only the source class counts
        let flip = manifest("targeted", Some(8), Some(3));
        assert_eq!(success(&flip, &[3, 3, 5, 3], &[8, 3, 8, 8]), 2.0 / 3.0);
        let random = manifest("random", None, None);
        assert_eq!(success(&random, &[1, 2], &[1, 2]), 0.0);
    }
}
