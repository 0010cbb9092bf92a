//! A scan as one library call: load the model and the data, extract the activations once,
//! run each requested detector, compare with the manifest when given, write the report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Tensor;

use gauntlet_core::data::{read_maybe_gz, Dataset};
use gauntlet_core::hash::sha256_hex;
use gauntlet_core::model::Classifier;
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_core::{Error, Result};
use gauntlet_onnx::OnnxModel;
use gauntlet_run::progress::Progress;

use crate::activation_clustering::{self, ClusterRule};
use crate::detection::Accuracy;
use crate::linalg::Matrix;
use crate::outcome::{Method, MethodOutcome, ScanOutcome, METHOD_NAMES};
use crate::robust_clustering;
use crate::robust_core::whiten_classes;
use crate::robust_spectral::{self, RobustRule};
use crate::strip::{self, StripSettings};
use crate::{loss_filter, report, spectral};

/// What to scan, how, and where to write the report.
#[derive(Debug, Clone)]
pub struct ScanJob {
    /// The ONNX model (trained on `inputs` for the training-set methods).
    pub model: PathBuf,
    /// The inputs to check (`.npy` or IDX): a training set, or inference inputs for STRIP.
    pub inputs: PathBuf,
    /// Their labels (the given, possibly poisoned, labels).
    pub labels: PathBuf,
    /// The value whose activations spectral signatures and activation clustering read; by
    /// default the input of the last linear layer ([`OnnxModel::last_linear_input`]).
    pub layer: Option<String>,
    /// The detectors to run, in this order.
    pub methods: Vec<Method>,
    /// A poisoning manifest (JSON with `"poisoned": [indices]`), for precision and recall.
    pub manifest: Option<PathBuf>,
    /// ε̂, the expected poisoned share of a class (spectral) or of the set (loss filter).
    pub expected_fraction: f64,
    /// Held-out clean inputs for STRIP (overlays and calibration).
    pub clean_inputs: Option<PathBuf>,
    /// Activation clustering's decision thresholds.
    pub cluster_rule: ClusterRule,
    /// Robust spectral signatures' threshold.
    pub robust_rule: RobustRule,
    /// STRIP's settings.
    pub strip: StripSettings,
    /// Seed of every random choice (power iteration starts, k-means, STRIP overlays).
    pub seed: u64,
    /// Samples per model call.
    pub batch_size: usize,
    /// Output folder (`report.json`, `report.md`, `report.html`).
    pub out: PathBuf,
}

/// Default ε̂: the larger of the poison shares Tran et al. 2018 experiment with (5 %, 10 %).
pub const DEFAULT_EXPECTED_FRACTION: f64 = 0.1;

impl ScanJob {
    /// A job with the defaults: spectral signatures and activation clustering on the default
    /// layer, ε̂ = [`DEFAULT_EXPECTED_FRACTION`], seed 0.
    pub fn new(model: PathBuf, inputs: PathBuf, labels: PathBuf, out: PathBuf) -> ScanJob {
        ScanJob {
            model,
            inputs,
            labels,
            layer: None,
            methods: vec![Method::Spectral, Method::ActivationClustering],
            manifest: None,
            expected_fraction: DEFAULT_EXPECTED_FRACTION,
            clean_inputs: None,
            cluster_rule: ClusterRule::default(),
            robust_rule: RobustRule::default(),
            strip: StripSettings::default(),
            seed: 0,
            batch_size: 256,
            out,
        }
    }
}

/// Reads the `"poisoned"` index list of a poisoning manifest (other keys are ignored) and
/// checks it against `n` inputs.
pub fn read_manifest(path: &Path, n: usize) -> Result<Vec<usize>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::Data(format!(
            "manifest '{}' is not JSON ({e}); give the manifest.json `gauntlet poison` wrote",
            path.display()
        ))
    })?;
    let list = value
        .get("poisoned")
        .and_then(|p| p.as_array())
        .ok_or_else(|| {
            Error::Data(format!(
                "manifest '{}' has no \"poisoned\" list of indices; give the manifest.json \
             `gauntlet poison` wrote, or a JSON object {{\"poisoned\": [3, 17, …]}}",
                path.display()
            ))
        })?;
    let mut poisoned = Vec::with_capacity(list.len());
    for v in list {
        let i = v.as_u64().ok_or_else(|| {
            Error::Data(format!(
                "manifest '{}': \"poisoned\" holds {v}, which is not a sample index",
                path.display()
            ))
        })? as usize;
        if i >= n {
            return Err(Error::Data(format!(
                "manifest '{}' lists sample {i} as poisoned, but the inputs hold {n} samples; \
                 is it the manifest of these inputs?",
                path.display()
            )));
        }
        poisoned.push(i);
    }
    poisoned.sort_unstable();
    poisoned.dedup();
    Ok(poisoned)
}

/// The inputs, files hashed and checked against the model.
pub(crate) struct Loaded {
    pub(crate) data: Dataset,
    pub(crate) inputs_sha256: String,
    pub(crate) labels_sha256: String,
}

fn load_data(inputs: &Path, labels: &Path, model: &OnnxModel) -> Result<Loaded> {
    let data = Dataset::load(inputs, labels)?.into_channels_first(model.layout());
    if data.features() != model.features() {
        return Err(Error::Data(format!(
            "'{}' holds samples of shape {:?} but the model takes {:?}; give inputs the \
             model was trained on",
            inputs.display(),
            data.sample_shape,
            model.sample_shape()
        )));
    }
    if let Some(&l) = data
        .labels
        .iter()
        .find(|&&l| l as usize >= model.num_classes())
    {
        return Err(Error::Data(format!(
            "'{}' holds label {l}, but the model has {} classes",
            labels.display(),
            model.num_classes()
        )));
    }
    Ok(Loaded {
        data,
        inputs_sha256: sha256_hex(&read_maybe_gz(inputs)?),
        labels_sha256: sha256_hex(&read_maybe_gz(labels)?),
    })
}

/// The activations of `layer` for every input, as an `f64` matrix, in batches.
pub fn extract_activations(
    model: &OnnxModel,
    data: &Dataset,
    layer: &str,
    batch_size: usize,
    progress: &dyn Progress,
) -> Result<Matrix> {
    let mut values = Vec::new();
    let mut cols = 0;
    in_batches(
        data,
        batch_size,
        &format!("activations of '{layer}'"),
        progress,
        |x| {
            let a = model.activations(x, layer)?;
            cols = a.dims()[1];
            values.extend(to_vec(a).into_iter().map(f64::from));
            Ok(())
        },
    )?;
    Ok(Matrix::new(values, data.len(), cols))
}

/// The model's logits for every input, row-major, in batches.
pub fn logits(
    model: &dyn Classifier,
    data: &Dataset,
    batch_size: usize,
    progress: &dyn Progress,
) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    in_batches(data, batch_size, "losses", progress, |x| {
        out.extend(to_vec(model.logits(x)?));
        Ok(())
    })?;
    Ok(out)
}

/// Feeds the data set to `step` in batches of `batch_size` rows, with progress.
fn in_batches(
    data: &Dataset,
    batch_size: usize,
    what: &str,
    progress: &dyn Progress,
    mut step: impl FnMut(Tensor<2>) -> Result<()>,
) -> Result<()> {
    let f = data.features();
    let batch_size = batch_size.max(1);
    let device = gauntlet_core::device::compute_device();
    progress.begin(what, data.len() as u64);
    for start in (0..data.len()).step_by(batch_size) {
        let end = (start + batch_size).min(data.len());
        step(from_rows(
            data.inputs[start * f..end * f].to_vec(),
            end - start,
            f,
            &device,
        ))?;
        progress.advance((end - start) as u64);
    }
    progress.end();
    Ok(())
}

impl ScanJob {
    /// Checks the settings that need no file.
    fn check(&self) -> Result<()> {
        if self.methods.is_empty() {
            return Err(Error::Parameter(format!(
                "no detection method given; choose from {}",
                METHOD_NAMES.join(", ")
            )));
        }
        if !(self.expected_fraction > 0.0 && self.expected_fraction <= 1.0) {
            return Err(Error::Parameter(format!(
                "`expected_fraction` is {}; give the expected poisoned share as a number in \
                 (0, 1], e.g. 0.1",
                self.expected_fraction
            )));
        }
        if self.methods.contains(&Method::Strip) && self.clean_inputs.is_none() {
            return Err(Error::Parameter(
                "STRIP needs held-out clean inputs to superimpose and to calibrate its \
                 threshold; give them as `clean_inputs`"
                    .into(),
            ));
        }
        if self.strip.overlays == 0 || !(0.0..1.0).contains(&self.strip.false_rejection_rate) {
            return Err(Error::Parameter(format!(
                "STRIP needs at least one overlay and a false-rejection rate in [0, 1) (got \
                 {} and {})",
                self.strip.overlays, self.strip.false_rejection_rate
            )));
        }
        Ok(())
    }

    /// Runs the scan and writes `report.json`, `report.md` and `report.html` into `out`.
    pub fn run(&self, progress: &dyn Progress) -> Result<ScanOutcome> {
        self.check()?;
        let started = Instant::now();
        let model = OnnxModel::load(&self.model)?;
        let loaded = load_data(&self.inputs, &self.labels, &model)?;
        let data = &loaded.data;
        let poisoned = self
            .manifest
            .as_deref()
            .map(|m| read_manifest(m, data.len()))
            .transpose()?;
        let clean = match (&self.clean_inputs, self.methods.contains(&Method::Strip)) {
            (Some(path), true) => Some(load_clean(path, &model)?),
            _ => None,
        };
        let layer = if self.methods.iter().any(|m| m.reads_activations()) {
            Some(match &self.layer {
                Some(l) => l.clone(),
                None => model.last_linear_input()?,
            })
        } else {
            None
        };
        let activations = match &layer {
            Some(l) => Some(extract_activations(
                &model,
                data,
                l,
                self.batch_size,
                progress,
            )?),
            None => None,
        };
        // Both robust detectors start from the same whitened classes: computed once.
        let whitened_classes = std::cell::OnceCell::new();
        let whitened = || {
            whitened_classes.get_or_init(|| {
                whiten_classes(
                    activations.as_ref().expect("extracted above"),
                    &data.labels,
                    self.seed,
                )
            })
        };
        let mut methods = Vec::new();
        for &method in &self.methods {
            let clock = Instant::now();
            let mut calibration = None;
            let detection = match method {
                Method::Spectral => spectral::detect(
                    activations.as_ref().expect("extracted above"),
                    &data.labels,
                    self.expected_fraction,
                    self.seed,
                ),
                Method::RobustSpectral => {
                    robust_spectral::detect_whitened(whitened(), data.len(), self.robust_rule)
                }
                Method::ActivationClustering => activation_clustering::detect(
                    activations.as_ref().expect("extracted above"),
                    &data.labels,
                    self.cluster_rule,
                    self.seed,
                ),
                Method::RobustActivationClustering => robust_clustering::detect_whitened(
                    whitened(),
                    data.len(),
                    self.cluster_rule.min_silhouette,
                ),
                Method::Loss => {
                    let logits = logits(&model, data, self.batch_size, progress)?;
                    let losses =
                        loss_filter::cross_entropy(&logits, model.num_classes(), &data.labels);
                    loss_filter::detect(losses, self.expected_fraction)
                }
                Method::Strip => {
                    let clean = clean.as_ref().expect("loaded above");
                    let (d, c) =
                        strip::detect(&model, data, clean, &self.strip, self.seed, progress)?;
                    calibration = Some(c);
                    d
                }
            };
            let accuracy = poisoned
                .as_ref()
                .map(|p| Accuracy::of(&detection.flagged, p, data.len()));
            methods.push(MethodOutcome {
                method,
                precision: accuracy.and_then(|a| a.precision),
                recall: accuracy.and_then(|a| a.recall),
                accuracy,
                flagged: detection.flagged,
                scores: detection.scores,
                score: detection.score,
                rule: detection.rule,
                classes: detection.classes,
                calibration,
                seconds: clock.elapsed().as_secs_f64(),
            });
        }
        let seconds = started.elapsed().as_secs_f64();
        let written = report::write(
            &self.out,
            &report::ScanReport {
                model: &self.model,
                inputs: &self.inputs,
                labels_path: &self.labels,
                clean_inputs: self.clean_inputs.as_deref(),
                manifest: self.manifest.as_deref(),
                seed: self.seed,
                expected_fraction: self.expected_fraction,
                cluster_rule: self.cluster_rule,
                robust_rule: self.robust_rule,
                strip: self.strip,
                model_sha256: model.sha256(),
                inputs_sha256: &loaded.inputs_sha256,
                labels_sha256: &loaded.labels_sha256,
                clean_sha256: clean.as_ref().map(|c| c.sha256.as_str()),
                manifest_sha256: self
                    .manifest
                    .as_deref()
                    .map(|m| read_maybe_gz(m).map(|b| sha256_hex(&b)))
                    .transpose()?
                    .as_deref(),
                labels: &data.labels,
                layer: layer.as_deref(),
                poisoned: poisoned.as_deref(),
                methods: &methods,
                seconds,
            },
        )?;
        Ok(ScanOutcome {
            methods,
            layer,
            poisoned,
            report_json: written.json,
            report_md: written.markdown,
            report_html: written.html,
            seconds,
        })
    }
}

/// The clean inputs for STRIP (labels are not needed: zeros stand in).
fn load_clean(path: &Path, model: &OnnxModel) -> Result<Dataset> {
    let bytes = read_maybe_gz(path)?;
    let (values, shape) = gauntlet_core::data::parse_inputs(&bytes, path)?;
    let n = shape.first().copied().unwrap_or(0);
    let data = Dataset::from_parts(values, shape, vec![0; n], sha256_hex(&bytes))?
        .into_channels_first(model.layout());
    if data.features() != model.features() {
        return Err(Error::Data(format!(
            "clean inputs '{}' hold samples of shape {:?} but the model takes {:?}",
            path.display(),
            data.sample_shape,
            model.sample_shape()
        )));
    }
    Ok(data)
}
