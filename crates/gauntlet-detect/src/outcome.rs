//! What a scan returns: the detectors by name, and per detector the flagged indices, the
//! scores and, given a manifest, precision and recall.

use std::path::PathBuf;
use std::str::FromStr;

use serde::Serialize;

use gauntlet_core::{Error, Result};

use crate::detection::{Accuracy, ClassNote};
use crate::strip::Calibration;

/// A detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Spectral signatures on a layer's activations ([`crate::spectral`]).
    Spectral,
    /// Spectral signatures against the class's clean core ([`crate::robust_spectral`]).
    RobustSpectral,
    /// Activation clustering on a layer's activations ([`crate::activation_clustering`]).
    ActivationClustering,
    /// Activation clustering in the clean core's coordinates ([`crate::robust_clustering`]).
    RobustActivationClustering,
    /// The per-sample loss under the given label ([`crate::loss_filter`]).
    Loss,
    /// STRIP, at inference time ([`crate::strip`]); needs clean inputs.
    Strip,
}

/// Every method's name as the CLI and the report spell it.
pub const METHOD_NAMES: [&str; 6] = [
    "spectral",
    "robust-spectral",
    "activation-clustering",
    "robust-activation-clustering",
    "loss",
    "strip",
];

impl Method {
    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Method::Spectral => METHOD_NAMES[0],
            Method::RobustSpectral => METHOD_NAMES[1],
            Method::ActivationClustering => METHOD_NAMES[2],
            Method::RobustActivationClustering => METHOD_NAMES[3],
            Method::Loss => METHOD_NAMES[4],
            Method::Strip => METHOD_NAMES[5],
        }
    }

    /// Whether the method reads a layer's activations.
    pub fn reads_activations(self) -> bool {
        matches!(
            self,
            Method::Spectral
                | Method::RobustSpectral
                | Method::ActivationClustering
                | Method::RobustActivationClustering
        )
    }
}

impl FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Method> {
        match s.trim() {
            "spectral" => Ok(Method::Spectral),
            "robust-spectral" => Ok(Method::RobustSpectral),
            "activation-clustering" | "ac" => Ok(Method::ActivationClustering),
            "robust-activation-clustering" | "robust-ac" => Ok(Method::RobustActivationClustering),
            "loss" => Ok(Method::Loss),
            "strip" => Ok(Method::Strip),
            other => Err(Error::Parameter(format!(
                "unknown detection method '{other}'; choose from {}",
                METHOD_NAMES.join(", ")
            ))),
        }
    }
}

/// One detector's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodOutcome {
    /// The detector.
    pub method: Method,
    /// Indices (into the inputs) of the flagged inputs, ascending.
    pub flagged: Vec<usize>,
    /// One score per input (see `score`).
    pub scores: Vec<f32>,
    /// Share of the flagged inputs that the manifest lists as poisoned (`None` without a
    /// manifest, or when nothing was flagged).
    pub precision: Option<f64>,
    /// Share of the manifest's poisoned inputs that were flagged (`None` without a manifest).
    pub recall: Option<f64>,
    /// The full comparison with the manifest.
    pub accuracy: Option<Accuracy>,
    /// What the score measures.
    pub score: String,
    /// The decision rule as applied.
    pub rule: String,
    /// Per-class details for class-wise detectors.
    pub classes: Vec<ClassNote>,
    /// STRIP's calibration on the clean inputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// Wall-clock seconds of this detector (the shared activation pass not included).
    pub seconds: f64,
}

/// What a scan produced.
#[derive(Debug, Clone)]
pub struct ScanOutcome {
    /// One result per requested method, in the requested order.
    pub methods: Vec<MethodOutcome>,
    /// The layer whose activations were read (when a method read any).
    pub layer: Option<String>,
    /// The manifest's poisoned indices, when given.
    pub poisoned: Option<Vec<usize>>,
    /// `report.json`.
    pub report_json: PathBuf,
    /// `report.md`.
    pub report_md: PathBuf,
    /// `report.html`.
    pub report_html: PathBuf,
    /// Wall-clock seconds of the whole scan.
    pub seconds: f64,
}

impl ScanOutcome {
    /// The result of `method`, when it ran.
    pub fn method(&self, method: Method) -> Option<&MethodOutcome> {
        self.methods.iter().find(|m| m.method == method)
    }
}
