//! [`AuditConfig`]: everything an audit needs, as plain data. `gauntlet.toml` deserializes into
//! it, the CLI fills it from its flags (a key per flag, same name with `_` for `-`), and a Rust
//! caller builds it directly. It is checked once, by [`AuditConfig::check`], into an
//! [`Audit`](crate::Audit).
//!
//! ```toml
//! model = "models/mnist_cnn.onnx"
//! inputs = "data/mnist-demo/x.npy"
//! labels = "data/mnist-demo/y.npy"
//! norm = "linf"
//! eps = [0.1, 0.3]            # or "0.1,8/255"
//! attacks = ["fgsm", "pgd"]   # or "fgsm,pgd"
//! steps = 40
//! fail_under = ["pgd:linf:0.1=0.80", "worst:linf:0.3=0.0"]
//! spatial = true            # also rotations (±30°) and translations (±3 px), Engstrom et al.
//! # a black-box target instead of `model`:
//! # target = "https://models.example.com/v1/predict"
//! # input_shape = [1, 28, 28]
//! # num_classes = 10
//! # header = ["Authorization: Bearer ${API_TOKEN}"]
//! ```
//!
//! An unknown key is an error naming it, so a typo never silently falls back to a default.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// A list given either as an array or as comma-separated text (`"0.1,8/255"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum List {
    /// Comma-separated text, as a flag takes it.
    Text(String),
    /// An array of numbers.
    Numbers(Vec<f64>),
    /// An array of names.
    Names(Vec<String>),
}

impl List {
    /// The items as text, one per element (a text list is split at commas).
    pub fn items(&self) -> Vec<String> {
        match self {
            List::Text(t) => t
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            List::Numbers(v) => v.iter().map(|x| x.to_string()).collect(),
            List::Names(v) => v.iter().map(|s| s.trim().to_string()).collect(),
        }
    }

    /// The comma-separated form.
    pub fn joined(&self) -> String {
        self.items().join(",")
    }

    /// The items as numbers; `key` names the setting in the error.
    pub fn numbers<T: std::str::FromStr>(&self, key: &str) -> Result<Vec<T>> {
        self.items()
            .iter()
            .map(|s| {
                s.parse::<T>().map_err(|_| {
                    anyhow::anyhow!("cannot read '{s}' in `{key}`; give numbers, e.g. [0, 1]")
                })
            })
            .collect()
    }
}

impl From<&str> for List {
    fn from(text: &str) -> Self {
        List::Text(text.to_string())
    }
}

/// Every setting of an image audit. Field names are the `gauntlet.toml` keys and, with `-` for
/// `_`, the `gauntlet audit` flags. Defaults are those of the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    // --- the target -------------------------------------------------------------------------
    /// The ONNX classifier (white-box unless `black_box`). Exactly one of `model`, `target`,
    /// `target_cmd`.
    pub model: Option<PathBuf>,
    /// Attack the ONNX model by queries only, as a deployed model would be.
    pub black_box: bool,
    /// Surrogate ONNX model for `transfer-<attack>` attacks.
    pub surrogate: Option<PathBuf>,
    /// A black-and-white PNG at the model's input resolution: attacks change only the white
    /// pixels (every channel); the black ones never change.
    pub mask: Option<PathBuf>,
    /// Total rows a black-box target may receive over the run (after the answer cache).
    pub max_queries: Option<u64>,
    /// Bound of a black-box target's answer cache, MiB; least recently used answers are
    /// evicted first (0: no cache). Default 256.
    pub query_cache_mb: u64,
    /// A live HTTP(S) prediction endpoint, attacked by queries.
    pub target: Option<String>,
    /// An external command speaking JSON Lines on stdin/stdout, attacked by queries.
    pub target_cmd: Option<String>,
    /// Classes a remote target predicts (required with `target`/`target_cmd`).
    pub num_classes: Option<usize>,
    /// What a remote target answers: `scores`, `label` or `topk:K`.
    pub answer: String,
    /// JSON pointer to the answer in the response (default `/scores`, or `/labels`).
    pub answer_pointer: Option<String>,
    /// Request body template with a `"{{inputs}}"` placeholder.
    pub request_template: Option<String>,
    /// HTTP headers `Name: value`; `${ENV_VAR}` is read from the environment at run time and
    /// never written anywhere.
    #[serde(alias = "headers")]
    pub header: Vec<String>,
    /// HTTP method.
    pub method: String,
    /// Seconds to wait for one answer of a remote target.
    pub timeout: f64,
    /// Retries of a failed request, with exponential backoff.
    pub retries: u32,
    /// Client-side rate limit, requests per second.
    pub rate_limit: Option<f64>,
    /// HTTP requests in flight at once.
    pub max_in_flight: usize,
    /// Inputs per request to a remote target.
    pub rows_per_request: usize,

    // --- the data ---------------------------------------------------------------------------
    /// Inputs: `.npy` (float32 in the valid box, or uint8 scaled to [0, 1]) or MNIST IDX.
    pub inputs: Option<PathBuf>,
    /// Labels: `.npy` integer class indices or MNIST IDX.
    pub labels: Option<PathBuf>,
    /// Evaluate only the first N samples.
    pub samples: Option<usize>,
    /// Per-sample input shape when the ONNX file does not declare it (`[3, 32, 32]`), in the
    /// model's own layout.
    pub input_shape: Option<List>,
    /// The ONNX output holding the class scores (by default the only float `[N, classes]`
    /// output).
    pub output: Option<String>,
    /// Input layout of an ONNX model: `nchw` or `nhwc` (by default read off its input shape).
    /// Data files are in the model's layout.
    pub layout: Option<String>,
    /// Per-channel mean the model expects, applied inside the model.
    pub mean: Option<List>,
    /// Per-channel standard deviation the model expects, applied inside the model.
    pub std: Option<List>,

    // --- the threat model -------------------------------------------------------------------
    /// Perturbation norm: `linf`, `l2` or `l1`.
    pub norm: String,
    /// Budgets (fractions such as `8/255` allowed in text).
    pub eps: Option<List>,
    /// Valid input box `[min, max]`.
    pub bounds: List,
    /// Targeted attack: every sample is pushed toward this class.
    pub target_class: Option<i64>,

    // --- the attacks ------------------------------------------------------------------------
    /// Attack names, or a suite run as an ensemble (`auto` = `standard`, `fast`).
    pub attacks: List,
    /// Iterations of iterative attacks (each attack's default when absent).
    pub steps: Option<usize>,
    /// Query budget of black-box attacks (each attack's default when absent).
    pub queries: Option<u64>,
    /// Random restarts.
    pub restarts: usize,
    /// PGD step as a fraction of ε (default 2.5 / steps).
    pub rel_step: Option<f32>,

    // --- the spatial stage (Engstrom et al. 2019) -------------------------------------------
    /// After the Lp attacks, also search every picture's rotations and translations for the
    /// worst (a grid search, verified by re-applying it) and report robust accuracy under it
    /// and under random transformations. Image inputs (C×H×W) only.
    pub spatial: bool,
    /// Largest rotation either way, degrees (default 30).
    pub spatial_rotation: f32,
    /// Angles tried, evenly spaced over ±`spatial_rotation` (default 31: 2° apart).
    pub spatial_rotation_steps: usize,
    /// Largest shift either way on each axis, pixels (default 3).
    pub spatial_translation: f32,
    /// Shifts tried per axis, evenly spaced over ±`spatial_translation` (default 7: 1 px apart).
    pub spatial_translation_steps: usize,
    /// Random transformations per sample of the worst-of-k baseline (default 10, the paper's).
    pub spatial_random_draws: usize,

    // --- the run ----------------------------------------------------------------------------
    /// Samples per batch.
    pub batch_size: usize,
    /// Seed of every random choice (recorded in the report).
    pub seed: u64,
    /// Output directory (report, adversarial examples, checkpoint).
    pub out: PathBuf,
    /// Discard a checkpoint left in `out` instead of resuming from it.
    pub fresh: bool,
    /// Run only part of the samples: `I/N` (part I of N, from 0) or `auto` (a Kubernetes
    /// Indexed Job's or a Slurm job array's index). `gauntlet merge` combines the parts into
    /// the report the whole run would have written.
    pub shard: Option<String>,
    /// Do not rerun with BPDA when the model has gradient-blocking operators.
    pub no_bpda: bool,
    /// Skip the gradient-masking diagnostics.
    pub no_diagnostics: bool,
    /// No progress output (read by front ends; the library never prints).
    pub quiet: bool,
    /// A machine-readable summary on stdout (read by front ends).
    pub json: bool,

    // --- the CI gate ------------------------------------------------------------------------
    /// Thresholds `ATTACK:NORM:EPS=MIN` on robust accuracy (`worst` for the worst case).
    #[serde(alias = "thresholds")]
    pub fail_under: Vec<String>,
    /// An earlier `report.json` (or its directory) robust accuracy must not drop from.
    pub baseline: Option<PathBuf>,
    /// Largest allowed drop from `baseline`, a fraction (default 0).
    pub max_drop: Option<f64>,
    /// Write the gate's verdict as JUnit XML here.
    pub junit: Option<PathBuf>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            model: None,
            black_box: false,
            surrogate: None,
            mask: None,
            max_queries: None,
            query_cache_mb: 256,
            target: None,
            target_cmd: None,
            num_classes: None,
            answer: "scores".into(),
            answer_pointer: None,
            request_template: None,
            header: Vec::new(),
            method: "POST".into(),
            timeout: 30.0,
            retries: 3,
            rate_limit: None,
            max_in_flight: 4,
            rows_per_request: 64,
            inputs: None,
            labels: None,
            samples: None,
            input_shape: None,
            output: None,
            layout: None,
            mean: None,
            std: None,
            norm: "linf".into(),
            eps: None,
            bounds: List::Numbers(vec![0.0, 1.0]),
            target_class: None,
            attacks: List::Text("auto".into()),
            steps: None,
            queries: None,
            restarts: 1,
            rel_step: None,
            spatial: false,
            spatial_rotation: 30.0,
            spatial_rotation_steps: 31,
            spatial_translation: 3.0,
            spatial_translation_steps: 7,
            spatial_random_draws: 10,
            batch_size: 128,
            seed: 0,
            out: PathBuf::from("gauntlet-report"),
            fresh: false,
            shard: None,
            no_bpda: false,
            no_diagnostics: false,
            quiet: false,
            json: false,
            fail_under: Vec::new(),
            baseline: None,
            max_drop: None,
            junit: None,
        }
    }
}

impl AuditConfig {
    /// A white-box audit of `model` on `inputs`/`labels` at budgets `eps`; everything else at
    /// its default.
    pub fn new(
        model: impl Into<PathBuf>,
        inputs: impl Into<PathBuf>,
        labels: impl Into<PathBuf>,
        eps: &[f64],
    ) -> Self {
        AuditConfig {
            model: Some(model.into()),
            inputs: Some(inputs.into()),
            labels: Some(labels.into()),
            eps: Some(List::Numbers(eps.to_vec())),
            ..AuditConfig::default()
        }
    }

    /// Reads a `gauntlet.toml`.
    pub fn load(path: &Path) -> Result<AuditConfig> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the config '{}'; check the path",
                path.display()
            )
        })?;
        Self::from_toml(&text).with_context(|| format!("in the config '{}'", path.display()))
    }

    /// Parses TOML text; unknown keys and wrong types are errors naming the key.
    pub fn from_toml(text: &str) -> Result<AuditConfig> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
    }

    /// The names of every key (the fields of this struct), for front ends that map flags.
    pub fn keys() -> Vec<String> {
        match serde_json::to_value(AuditConfig::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_take_arrays_or_text() {
        let c = AuditConfig::from_toml(
            "eps = [0.1, 0.3]\nattacks = \"fgsm,pgd\"\nmean = [0.5]\nfail_under = [\"pgd:linf:0.1=0.8\"]",
        )
        .unwrap();
        assert_eq!(c.eps.unwrap().joined(), "0.1,0.3");
        assert_eq!(c.attacks.items(), vec!["fgsm", "pgd"]);
        assert_eq!(c.mean.unwrap().joined(), "0.5");
        assert_eq!(c.fail_under, vec!["pgd:linf:0.1=0.8"]);
        let names = AuditConfig::from_toml(
            "attacks = [\"fgsm\", \"pgd\"]\nthresholds = [\"worst:linf:0.1=0\"]",
        )
        .unwrap();
        assert_eq!(names.attacks.joined(), "fgsm,pgd");
        assert_eq!(
            names.fail_under,
            vec!["worst:linf:0.1=0"],
            "the old key still reads"
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_errors_naming_the_key() {
        let err = AuditConfig::from_toml("model = \"m.onnx\"\nepsilon = 0.3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("epsilon"), "{err}");
        let err = AuditConfig::from_toml("steps = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("steps"), "{err}");
    }

    #[test]
    fn a_config_survives_a_round_trip_through_json() {
        let config = AuditConfig::new("m.onnx", "x.npy", "y.npy", &[0.1, 0.3]);
        let back: AuditConfig =
            serde_json::from_value(serde_json::to_value(&config).unwrap()).unwrap();
        assert_eq!(back, config);
        assert!(AuditConfig::keys().contains(&"rows_per_request".to_string()));
    }
}
