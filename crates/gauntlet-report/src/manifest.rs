//! How a run was made, as recorded in every report: the model, the data, the settings and the
//! versions — enough to reproduce it.

use serde::Serialize;

use gauntlet_core::layout::Layout;
use gauntlet_core::threat::ThreatModel;

/// The model as recorded in a report.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// The model file as given, or for a black-box target its description (URL or command,
    /// secrets redacted).
    pub path: String,
    /// Hex SHA-256 of the model file; empty for a black-box target.
    pub sha256: String,
    /// ONNX opset of the default domain; 0 for a black-box target.
    pub opset: i64,
    /// Shape of one input sample, e.g. `[1, 28, 28]`.
    pub sample_shape: Vec<usize>,
    /// Number of classes the model scores.
    pub num_classes: usize,
    /// ONNX operator types in graph order, each once; empty for a black-box target.
    pub operators: Vec<String>,
    /// How the model was attacked: "white-box (ONNX)", "black-box HTTP (scores)", …
    pub access: String,
    /// Where the class scores were read: the ONNX output's name, and what was passed over to
    /// reach logits (e.g. `probabilities (logits before its Softmax)`); empty for a
    /// black-box target.
    pub scores: String,
    /// Layout of the model's input. Adversarial examples are written in it; the report's
    /// `sample_shape` is channels first.
    pub layout: Layout,
}

/// The data as recorded in a report.
#[derive(Debug, Clone, Serialize)]
pub struct DataInfo {
    /// Path of the inputs file as given.
    pub inputs: String,
    /// Path of the labels file as given.
    pub labels: String,
    /// Hex SHA-256 over the raw bytes of both files, inputs first.
    pub sha256: String,
}

/// How the run was made: enough to reproduce it.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// Version of the gauntlet that ran the audit.
    pub gauntlet_version: String,
    /// The command line, argument by argument, with header values redacted.
    pub command: Vec<String>,
    /// Seed of every random choice; the same seed on the same inputs gives the same report.
    pub seed: u64,
    /// The model audited.
    pub model: ModelInfo,
    /// The data it was audited on.
    pub data: DataInfo,
    /// Norm, budgets ε and valid input box.
    pub threat_model: ThreatModel,
    /// `untargeted`, or `targeted (class k)`.
    pub criterion: String,
    /// Attack names in the order they ran.
    pub attacks: Vec<String>,
    /// Each attack's real parameters as it ran (iterations, restarts, step rule, queries, …),
    /// in the order of `attacks`.
    pub attack_parameters: Vec<serde_json::Value>,
    /// Attacks ran as an ensemble (robust accuracy per attack is cumulative).
    pub ensemble: bool,
    /// Iterations requested (`None`: each attack's default).
    pub steps: Option<usize>,
    /// Random restarts requested per attack (for attacks that restart).
    pub restarts: usize,
    /// Samples attacked together in one batch.
    pub batch_size: usize,
    /// `(component, version)` pairs that determine the numbers: gauntlet, burn, onnx-ir.
    pub versions: Vec<(String, String)>,
    /// Black-box targets: what reached the target and what gauntlet's cache answered.
    pub traffic: Option<Traffic>,
}

/// Rows sent to a black-box target, rows answered from the answer cache instead, and how the
/// cache (bounded by bytes, least recently used answers evicted first) fared.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Traffic {
    /// Rows (inputs) that reached the target.
    pub sent: u64,
    /// Rows answered without reaching the target: repeats of an input already sent.
    pub cached: u64,
    /// Rows whose answer was found in the cache.
    pub cache_hits: u64,
    /// Rows whose answer was not in the cache.
    pub cache_misses: u64,
    /// Hits over lookups, 0 to 1.
    pub cache_hit_rate: f64,
    /// Answers evicted from the cache to stay within its bound.
    pub cache_evictions: u64,
    /// Bytes the cache held at the end of the run.
    pub cache_bytes: u64,
    /// The cache's bound, bytes (0: no cache).
    pub cache_limit_bytes: u64,
}

impl Traffic {
    /// One sentence for the readable reports.
    pub fn sentence(&self) -> String {
        let cache = if self.cache_limit_bytes == 0 {
            "the answer cache was off".to_string()
        } else {
            format!(
                "the answer cache (bounded to {:.0} MiB) hit {:.1} % of lookups and evicted {} answers",
                self.cache_limit_bytes as f64 / (1u64 << 20) as f64,
                100.0 * self.cache_hit_rate,
                self.cache_evictions
            )
        };
        format!(
            "The target received {} queries; {} identical ones were answered from gauntlet's cache; {cache}.",
            self.sent, self.cached
        )
    }
}
