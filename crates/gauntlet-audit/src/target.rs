//! What an audit attacks: an ONNX file (white-box, or black-box by queries only), an HTTP
//! endpoint or an external command. Every kind ends up as one `Differentiable` for the
//! evaluation; query-only kinds refuse gradients, and the plan is checked against that before
//! any work.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use gauntlet_core::model::{AnswerKind, Classifier, Differentiable, QueryOnly};
use gauntlet_core::preprocess::Normalization;
use gauntlet_core::query::{CachedTarget, Interruptible, QueryStats};
use gauntlet_onnx::{Layout, LoadOptions, OnnxModel};
use gauntlet_remote::{
    AnswerSpec, CommandSettings, HttpSettings, RemoteClassifier, RequestTemplate, RetryPolicy,
    Shape,
};
use gauntlet_report::ModelInfo;

use crate::config::{AuditConfig, List};

/// Asked between queries of a black-box target: true stops it (e.g. after Ctrl-C).
pub type StopSignal = Arc<dyn Fn() -> bool + Send + Sync>;

/// How to read an ONNX file, checked: the per-sample shape when the file does not declare
/// one, and the normalization the model expects (applied inside the model, so attacks work in
/// input space).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OnnxOptions {
    /// Per-sample shape (`input_shape`).
    pub input_shape: Option<Vec<usize>>,
    /// Per-channel mean and standard deviation (`mean`, `std`).
    pub normalization: Option<(Vec<f32>, Vec<f32>)>,
    /// The output holding the class scores (`output`).
    pub output: Option<String>,
    /// The input layout (`layout`); read off the input shape when absent.
    pub layout: Option<Layout>,
}

impl OnnxOptions {
    /// Reads the `input_shape`, `mean` and `std` settings.
    pub fn from_lists(
        input_shape: Option<&List>,
        mean: Option<&List>,
        std: Option<&List>,
    ) -> Result<OnnxOptions> {
        let input_shape = input_shape
            .map(|l| l.numbers::<usize>("input_shape"))
            .transpose()?;
        if input_shape
            .as_ref()
            .is_some_and(|s| s.is_empty() || s.contains(&0))
        {
            bail!("`input_shape` needs positive sizes, e.g. [3, 32, 32]");
        }
        let normalization = match (mean, std) {
            (Some(m), Some(s)) => Some((m.numbers::<f32>("mean")?, s.numbers::<f32>("std")?)),
            (None, None) => None,
            _ => bail!("`mean` and `std` go together; give both or neither"),
        };
        Ok(OnnxOptions {
            input_shape,
            normalization,
            output: None,
            layout: None,
        })
    }

    /// Builds the model from bytes already read (so a model read once can be built twice, with
    /// and without BPDA).
    pub fn build(&self, bytes: &[u8], label: &str, bpda: bool) -> Result<OnnxModel> {
        let options = LoadOptions {
            sample_shape: self.input_shape.clone(),
            output: self.output.clone(),
            layout: self.layout,
            ..LoadOptions::default()
        };
        let mut model = OnnxModel::from_bytes_with(bytes, label, &options)?;
        if let Some((mean, std)) = &self.normalization {
            let norm = Normalization::new(mean.clone(), std.clone(), model.sample_shape())?;
            model = model.with_normalization(norm);
        }
        Ok(if bpda { model.with_bpda() } else { model })
    }

    /// Reads and builds an ONNX classifier.
    pub fn load(&self, path: &std::path::Path) -> Result<OnnxModel> {
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "cannot read the model file '{}'; check the path",
                path.display()
            )
        })?;
        self.build(&bytes, &path.display().to_string(), false)
    }
}

/// Report entry for an ONNX model.
pub fn onnx_info(model: &OnnxModel, path: &str, access: &str) -> ModelInfo {
    ModelInfo {
        path: path.to_string(),
        sha256: model.sha256().to_string(),
        opset: model.opset(),
        sample_shape: model.sample_shape().to_vec(),
        num_classes: model.num_classes(),
        operators: model.operators(),
        access: access.to_string(),
        scores: scores_description(model),
        layout: model.layout(),
    }
}

/// `probabilities (logits before its Softmax)`, or just the output's name.
fn scores_description(model: &OnnxModel) -> String {
    let scores = model.scores();
    if scores.bypassed.is_empty() {
        format!("output '{}'", scores.output)
    } else {
        format!(
            "output '{}' (logits before its {})",
            scores.output,
            scores.bypassed.join(" and ")
        )
    }
}

/// A query-only target behind an answer cache; the handle reads the cache's counters.
pub struct BlackBox {
    model: Box<dyn Differentiable>,
    cache: Arc<CachedTarget<Interruptible<Arc<dyn Classifier>>>>,
}

impl BlackBox {
    /// `max_queries`: total rows the target may receive (after the cache), if limited;
    /// `cache_bytes`: the answer cache's bound (0: no cache); `stop` is asked before every
    /// query.
    pub fn new(
        target: Arc<dyn Classifier>,
        max_queries: Option<u64>,
        cache_bytes: usize,
        stop: StopSignal,
    ) -> BlackBox {
        // A stop request ends a slow target between queries instead of after the batch in hand.
        let target = Interruptible::new(target, move || stop());
        let cache = CachedTarget::new(target).with_cache_bytes(cache_bytes);
        let cache = Arc::new(match max_queries {
            Some(limit) => cache.with_limit(limit),
            None => cache,
        });
        BlackBox {
            model: Box::new(QueryOnly::new(cache.clone())),
            cache,
        }
    }

    /// Rows sent to the target and the answer cache's counters so far.
    pub fn stats(&self) -> QueryStats {
        self.cache.stats()
    }
}

/// The model under audit, loaded.
pub struct Target {
    /// As recorded in the report.
    pub info: ModelInfo,
    /// The ONNX model and its bytes (to rebuild it with BPDA), when attacked white-box.
    white_box: Option<(OnnxModel, Vec<u8>)>,
    black_box: Option<BlackBox>,
}

impl Target {
    /// Loads what `config` names (a remote target is connected and probed once).
    pub(crate) fn load(
        config: &AuditConfig,
        options: &OnnxOptions,
        stop: StopSignal,
    ) -> Result<Target> {
        if config.target.is_some() || config.target_cmd.is_some() {
            let (classifier, info) = connect(config, options)?;
            let black_box = BlackBox::new(
                Arc::new(classifier),
                config.max_queries,
                cache_bytes(config),
                stop,
            );
            return Ok(Target {
                info,
                white_box: None,
                black_box: Some(black_box),
            });
        }
        let Some(path) = &config.model else {
            bail!("no target: set `model` (an ONNX file), `target` (a URL) or `target_cmd` (a command)");
        };
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "cannot read the model file '{}'; check the path",
                path.display()
            )
        })?;
        let label = path.display().to_string();
        let model = options.build(&bytes, &label, false)?;
        if config.black_box {
            let info = onnx_info(&model, &label, "black-box (ONNX file, queries only)");
            let black_box = BlackBox::new(
                Arc::new(model),
                config.max_queries,
                cache_bytes(config),
                stop,
            );
            return Ok(Target {
                info,
                white_box: None,
                black_box: Some(black_box),
            });
        }
        let info = onnx_info(&model, &label, "white-box (ONNX)");
        Ok(Target {
            info,
            white_box: Some((model, bytes)),
            black_box: None,
        })
    }

    /// The model the attacks see.
    pub fn model(&self) -> &dyn Differentiable {
        match (&self.white_box, &self.black_box) {
            (Some((model, _)), _) => model,
            (None, Some(b)) => b.model.as_ref(),
            (None, None) => unreachable!("a target is white-box or black-box"),
        }
    }

    /// Gradient-blocking operators between input and output (white-box only).
    pub fn blockers(&self) -> Vec<(String, String)> {
        self.white_box
            .as_ref()
            .map(|(m, _)| m.gradient_blockers())
            .unwrap_or_default()
    }

    /// The same model with identity gradients through its blocking operators (BPDA); `None`
    /// for black-box targets.
    pub fn with_bpda(&self, options: &OnnxOptions) -> Result<Option<OnnxModel>> {
        self.white_box
            .as_ref()
            .map(|(_, bytes)| options.build(bytes, &self.info.path, true))
            .transpose()
    }

    /// Query traffic of a black-box target.
    pub fn traffic(&self) -> Option<QueryStats> {
        self.black_box.as_ref().map(BlackBox::stats)
    }
}

/// `query_cache_mb` in bytes.
fn cache_bytes(config: &AuditConfig) -> usize {
    usize::try_from(config.query_cache_mb)
        .unwrap_or(usize::MAX)
        .saturating_mul(1 << 20)
}

fn answer_spec(config: &AuditConfig) -> Result<AnswerSpec> {
    let answer = config.answer.trim().to_ascii_lowercase();
    let kind = match answer.as_str() {
        "scores" | "logits" | "probabilities" => AnswerKind::Scores,
        "label" | "labels" => AnswerKind::Label,
        other => match other
            .strip_prefix("topk:")
            .or_else(|| other.strip_prefix("top-"))
        {
            Some(k) => AnswerKind::TopK(k.parse().map_err(|_| {
                anyhow::anyhow!("cannot read k in `answer` = {other}; use e.g. topk:3")
            })?),
            None => bail!("unknown `answer` '{other}'; use scores, label or topk:K"),
        },
    };
    Ok(match &config.answer_pointer {
        Some(p) => AnswerSpec::new(kind, p.clone())?,
        None => AnswerSpec::default_for(kind),
    })
}

/// Connects to the remote target, checks one answer fits the declared shape, and returns it
/// with a redacted description for the report.
fn connect(config: &AuditConfig, options: &OnnxOptions) -> Result<(RemoteClassifier, ModelInfo)> {
    let Some(sample_shape) = options.input_shape.clone() else {
        bail!("a remote target needs `input_shape` (the shape of one sample, e.g. 1,28,28)");
    };
    let Some(classes) = config.num_classes else {
        bail!("a remote target needs `num_classes` (how many classes it predicts)");
    };
    let shape = Shape::new(sample_shape, classes)?;
    let template = match &config.request_template {
        Some(t) => RequestTemplate::new(t)?,
        None => RequestTemplate::default(),
    };
    let retry = RetryPolicy {
        retries: config.retries,
        ..RetryPolicy::default()
    };
    let timeout = Duration::from_secs_f64(config.timeout);
    let (classifier, kind) = if let Some(url) = &config.target {
        let mut settings = HttpSettings::new(url.clone());
        settings.method = config.method.clone();
        for h in &config.header {
            let Some((name, value)) = h.split_once(':') else {
                bail!(
                    "a `header` needs 'Name: value' (e.g. 'Authorization: Bearer ${{API_TOKEN}}')"
                );
            };
            settings
                .headers
                .push((name.trim().to_string(), value.trim().to_string()));
        }
        settings.template = template;
        settings.answer = answer_spec(config)?;
        settings.timeout = timeout;
        settings.retry = retry;
        settings.max_requests_per_second = config.rate_limit;
        settings.max_in_flight = config.max_in_flight;
        settings.rows_per_request = config.rows_per_request;
        (
            RemoteClassifier::http(settings, shape.clone())?,
            "HTTP endpoint",
        )
    } else if let Some(cmd) = &config.target_cmd {
        let mut settings = CommandSettings::new(cmd.clone());
        settings.template = template;
        settings.answer = answer_spec(config)?;
        settings.timeout = timeout;
        settings.retry = retry;
        settings.rows_per_request = config.rows_per_request;
        (
            RemoteClassifier::command(settings, shape.clone())?,
            "external command",
        )
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
        scores: String::new(),
        layout: Layout::Nchw,
    };
    Ok((classifier, info))
}
