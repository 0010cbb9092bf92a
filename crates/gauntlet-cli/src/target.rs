//! What `audit` attacks: an ONNX file (white-box, or black-box with `--black-box`), an HTTP
//! endpoint (`--target URL`) or an external command (`--target-cmd`). Every kind ends up as one
//! `Differentiable` for the pipeline; query-only kinds refuse gradients, and the plan is
//! checked against that before any work.

use std::path::Path;
use std::sync::Arc;

use std::time::Duration;

use anyhow::{bail, Context, Result};

use gauntlet_core::model::{AnswerKind, Classifier, Differentiable, QueryOnly};
use gauntlet_core::preprocess::Normalization;
use gauntlet_core::query::{CachedTarget, Interruptible, QueryStats};
use gauntlet_onnx::OnnxModel;
use gauntlet_remote::{AnswerSpec, CommandSettings, HttpSettings, RemoteClassifier, RequestTemplate, RetryPolicy, Shape};
use gauntlet_report::ModelInfo;

/// Comma-separated numbers, with an error naming the flag.
pub fn parse_list<T: std::str::FromStr>(text: &str, what: &str) -> Result<Vec<T>> {
    text.split(',')
        .map(|s| {
            s.trim()
                .parse::<T>()
                .map_err(|_| anyhow::anyhow!("cannot read '{s}' in {what}; give comma-separated numbers"))
        })
        .collect()
}

/// How to read an ONNX file: its input shape when the file does not declare one, and the
/// normalization the model expects (applied inside the model, so attacks work in input space).
#[derive(Debug, Clone, Default)]
pub struct OnnxOptions {
    pub input_shape: Option<String>,
    pub mean: Option<String>,
    pub std: Option<String>,
}

/// Loads an ONNX classifier from bytes already read (so a model read once can be built twice,
/// e.g. with and without BPDA).
pub fn onnx_from_bytes(bytes: &[u8], label: &str, options: &OnnxOptions, bpda: bool) -> Result<OnnxModel> {
    let shape = options
        .input_shape
        .as_deref()
        .map(|s| parse_list::<usize>(s, "--input-shape"))
        .transpose()?;
    let mut model = OnnxModel::from_bytes(bytes, label, shape)?;
    match (&options.mean, &options.std) {
        (Some(m), Some(s)) => {
            let norm = Normalization::new(parse_list(m, "--mean")?, parse_list(s, "--std")?, model.sample_shape())?;
            model = model.with_normalization(norm);
        }
        (None, None) => {}
        _ => bail!("--mean and --std go together; give both or neither"),
    }
    Ok(if bpda { model.with_bpda() } else { model })
}

/// Reads and loads an ONNX classifier.
pub fn load_onnx(path: &Path, options: &OnnxOptions) -> Result<OnnxModel> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the model file '{}'; check the path", path.display()))?;
    onnx_from_bytes(&bytes, &path.display().to_string(), options, false)
}

/// Report entry for an ONNX model.
pub fn onnx_info(model: &OnnxModel, path: &Path, access: &str) -> ModelInfo {
    ModelInfo {
        path: path.display().to_string(),
        sha256: model.sha256().to_string(),
        opset: model.opset(),
        sample_shape: model.sample_shape().to_vec(),
        num_classes: model.num_classes(),
        operators: model.operators(),
        access: access.to_string(),
    }
}

/// A query-only target behind an answer cache; the handle reads the cache's counters.
pub struct BlackBox {
    pub model: Box<dyn Differentiable>,
    cache: Arc<CachedTarget<Interruptible<Arc<dyn Classifier>>>>,
}

impl BlackBox {
    /// `max_queries`: total rows the target may receive (after the cache), if limited.
    pub fn new(target: Arc<dyn Classifier>, max_queries: Option<u64>) -> BlackBox {
        // Ctrl-C stops a slow target between queries instead of after the batch in hand.
        let target = Interruptible::new(target, crate::progress::interrupted);
        let cache = CachedTarget::new(target);
        let cache = Arc::new(match max_queries {
            Some(limit) => cache.with_limit(limit),
            None => cache,
        });
        BlackBox {
            model: Box::new(QueryOnly::new(cache.clone())),
            cache,
        }
    }

    /// Rows sent to the target and rows answered from the cache so far.
    pub fn stats(&self) -> QueryStats {
        self.cache.stats()
    }
}

/// How to reach a remote target (`--target URL` or `--target-cmd CMD`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RemoteArgs {
    /// Attack a live HTTP(S) prediction endpoint by queries (in place of --model).
    #[arg(long, value_name = "URL", conflicts_with = "model")]
    pub target: Option<String>,
    /// Attack an external command speaking JSON Lines on stdin/stdout (in place of --model):
    /// one request line in, one answer line out.
    #[arg(long, value_name = "COMMAND", conflicts_with_all = ["model", "target"])]
    pub target_cmd: Option<String>,
    /// Classes the remote target predicts (required with --target/--target-cmd).
    #[arg(long)]
    pub num_classes: Option<usize>,
    /// What the target answers: scores, label, or topk:K.
    #[arg(long, default_value = "scores")]
    pub answer: String,
    /// JSON pointer to the answer in the response (default /scores, or /labels for label).
    #[arg(long, value_name = "POINTER")]
    pub answer_pointer: Option<String>,
    /// Request body template; "{{inputs}}" is replaced by the batch as nested arrays
    /// (default {"inputs": "{{inputs}}"}).
    #[arg(long, value_name = "JSON")]
    pub request_template: Option<String>,
    /// HTTP header 'Name: value', repeatable; ${ENV_VAR} in the value is read from the
    /// environment and never written to reports or logs.
    #[arg(long, value_name = "'NAME: VALUE'")]
    pub header: Vec<String>,
    /// HTTP method.
    #[arg(long, default_value = "POST")]
    pub method: String,
    /// Seconds to wait for one answer.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Retries of a failed request (5xx, 429, timeouts, malformed answers), with exponential backoff.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Client-side rate limit, requests per second.
    #[arg(long, value_name = "REQ/S")]
    pub rate_limit: Option<f64>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub max_in_flight: usize,
    /// Inputs per request.
    #[arg(long, default_value_t = 64)]
    pub rows_per_request: usize,
}

impl RemoteArgs {
    pub fn is_remote(&self) -> bool {
        self.target.is_some() || self.target_cmd.is_some()
    }

    fn answer_spec(&self) -> Result<AnswerSpec> {
        let kind = match self.answer.trim().to_ascii_lowercase().as_str() {
            "scores" | "logits" | "probabilities" => AnswerKind::Scores,
            "label" | "labels" => AnswerKind::Label,
            other => match other.strip_prefix("topk:").or_else(|| other.strip_prefix("top-")) {
                Some(k) => AnswerKind::TopK(k.parse().map_err(|_| {
                    anyhow::anyhow!("cannot read k in --answer {other}; use e.g. topk:3")
                })?),
                None => bail!("unknown --answer '{other}'; use scores, label or topk:K"),
            },
        };
        Ok(match &self.answer_pointer {
            Some(p) => AnswerSpec::new(kind, p.clone())?,
            None => AnswerSpec::default_for(kind),
        })
    }

    fn template(&self) -> Result<RequestTemplate> {
        Ok(match &self.request_template {
            Some(t) => RequestTemplate::new(t)?,
            None => RequestTemplate::default(),
        })
    }

    fn retry(&self) -> RetryPolicy {
        RetryPolicy { retries: self.retries, ..RetryPolicy::default() }
    }

    fn timeout(&self) -> Result<Duration> {
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            bail!("--timeout must be a positive number of seconds");
        }
        Ok(Duration::from_secs_f64(self.timeout))
    }

    /// Connects to the remote target, checks one answer fits the declared shape, and returns
    /// it with a redacted description for the report.
    pub fn connect(&self, input_shape: Option<&str>) -> Result<(RemoteClassifier, ModelInfo)> {
        let Some(shape_text) = input_shape else {
            bail!("a remote target needs --input-shape (the shape of one sample, e.g. 1,28,28)");
        };
        let Some(classes) = self.num_classes else {
            bail!("a remote target needs --num-classes (how many classes it predicts)");
        };
        let shape = Shape::new(parse_list(shape_text, "--input-shape")?, classes)?;
        let (classifier, kind) = if let Some(url) = &self.target {
            let mut settings = HttpSettings::new(url.clone());
            settings.method = self.method.clone();
            for h in &self.header {
                let Some((name, value)) = h.split_once(':') else {
                    bail!("--header needs 'Name: value' (e.g. 'Authorization: Bearer ${{API_TOKEN}}')");
                };
                settings.headers.push((name.trim().to_string(), value.trim().to_string()));
            }
            settings.template = self.template()?;
            settings.answer = self.answer_spec()?;
            settings.timeout = self.timeout()?;
            settings.retry = self.retry();
            settings.max_requests_per_second = self.rate_limit;
            settings.max_in_flight = self.max_in_flight;
            settings.rows_per_request = self.rows_per_request;
            (RemoteClassifier::http(settings, shape.clone())?, "HTTP endpoint")
        } else if let Some(cmd) = &self.target_cmd {
            let mut settings = CommandSettings::new(cmd.clone());
            settings.template = self.template()?;
            settings.answer = self.answer_spec()?;
            settings.timeout = self.timeout()?;
            settings.retry = self.retry();
            settings.rows_per_request = self.rows_per_request;
            (RemoteClassifier::command(settings, shape.clone())?, "external command")
        } else {
            bail!("no remote target given");
        };
        classifier.probe()?;
        let info = ModelInfo {
            path: classifier.describe(),
            sha256: String::new(),
            opset: 0,
            sample_shape: shape.sample_shape.clone(),
            num_classes: classes,
            operators: Vec::new(),
            access: format!("black-box {kind} ({})", classifier.answer_kind()),
        };
        Ok((classifier, info))
    }
}

/// Hides the values of `--header` arguments in a command line that goes into a report, in
/// case a secret was typed literally instead of as `${ENV_VAR}`.
pub fn redact_command(command: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(command.len());
    let mut hide_next = false;
    for arg in command {
        if hide_next {
            out.push(redact_header(&arg));
            hide_next = false;
        } else if arg == "--header" {
            out.push(arg);
            hide_next = true;
        } else if let Some(value) = arg.strip_prefix("--header=") {
            out.push(format!("--header={}", redact_header(value)));
        } else {
            out.push(arg);
        }
    }
    out
}

fn redact_header(header: &str) -> String {
    match header.split_once(':') {
        Some((name, _)) => format!("{name}: <redacted>"),
        None => "<redacted>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_never_reach_the_recorded_command() {
        let cmd = ["gauntlet", "audit", "--header", "Authorization: Bearer s3cret", "--header=X-Key: k3y", "--seed", "1"]
            .map(String::from)
            .to_vec();
        let shown = redact_command(cmd).join(" ");
        assert!(!shown.contains("s3cret") && !shown.contains("k3y"), "{shown}");
        assert!(shown.contains("Authorization: <redacted>") && shown.contains("--seed 1"));
    }
}
