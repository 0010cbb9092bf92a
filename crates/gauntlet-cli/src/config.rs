//! `gauntlet.toml`: an audit's settings in a file, for `gauntlet audit --config gauntlet.toml`.
//!
//! ```toml
//! model = "models/mnist_cnn.onnx"
//! inputs = "data/mnist-demo/x.npy"
//! labels = "data/mnist-demo/y.npy"
//! norm = "linf"
//! eps = [0.1, 0.3]            # or "0.1,8/255"
//! attacks = ["fgsm", "pgd"]   # or "fgsm,pgd"
//! steps = 40
//! thresholds = ["pgd:linf:0.1=0.80", "worst:linf:0.3=0.0"]
//! # a black-box target instead of `model`:
//! # target = "https://models.example.com/v1/predict"
//! # input_shape = [1, 28, 28]
//! # num_classes = 10
//! # headers = ["Authorization: Bearer ${API_TOKEN}"]
//! ```
//!
//! Every audit flag has a key of the same name with `_` for `-` (`--fail-under` is
//! `thresholds`, `--header` is `headers`).
//!
//! Flags typed on the command line override the file. An unknown key is an error naming it, so
//! a typo never silently falls back to a default.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::audit::AuditArgs;

/// A list given either as TOML array or as the comma-separated text the flag takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum List {
    Text(String),
    Numbers(Vec<f64>),
    Names(Vec<String>),
}

impl List {
    /// The flag's comma-separated form.
    fn to_flag(&self) -> String {
        match self {
            List::Text(t) => t.clone(),
            List::Numbers(v) => v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","),
            List::Names(v) => v.join(","),
        }
    }
}

/// The keys `gauntlet.toml` may hold (the audit flags of the same name).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub model: Option<PathBuf>,
    pub inputs: Option<PathBuf>,
    pub labels: Option<PathBuf>,
    pub norm: Option<String>,
    pub eps: Option<List>,
    pub attacks: Option<List>,
    pub steps: Option<usize>,
    pub samples: Option<usize>,
    pub batch_size: Option<usize>,
    pub seed: Option<u64>,
    pub out: Option<PathBuf>,
    pub mean: Option<List>,
    pub std: Option<List>,
    /// `--fail-under` values.
    pub thresholds: Option<Vec<String>>,
    pub restarts: Option<usize>,
    pub rel_step: Option<f32>,
    pub input_shape: Option<List>,
    pub target_class: Option<i64>,
    pub bounds: Option<List>,
    pub junit: Option<PathBuf>,
    pub baseline: Option<PathBuf>,
    pub max_drop: Option<f64>,
    // Black-box targets.
    pub black_box: Option<bool>,
    pub surrogate: Option<PathBuf>,
    pub max_queries: Option<u64>,
    pub target: Option<String>,
    pub target_cmd: Option<String>,
    pub num_classes: Option<usize>,
    pub answer: Option<String>,
    pub answer_pointer: Option<String>,
    pub request_template: Option<String>,
    /// `--header` values; `${ENV_VAR}` is read from the environment at run time.
    pub headers: Option<Vec<String>>,
    pub method: Option<String>,
    pub timeout: Option<f64>,
    pub retries: Option<u32>,
    pub rate_limit: Option<f64>,
    pub max_in_flight: Option<usize>,
    pub rows_per_request: Option<usize>,
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config '{}'; check the path", path.display()))?;
        Self::parse(&text).with_context(|| format!("in the config '{}'", path.display()))
    }

    /// Parses TOML text; unknown keys are errors that name the key.
    pub fn parse(text: &str) -> Result<Config> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
    }

    /// Fills `args` from the file wherever the flag was not `given` on the command line.
    pub fn apply(self, args: &mut AuditArgs, given: &dyn Fn(&str) -> bool) {
        fn set<T>(slot: &mut T, value: Option<T>, flag_given: bool) {
            if let (Some(v), false) = (value, flag_given) {
                *slot = v;
            }
        }
        set(&mut args.model, self.model.map(Some), given("model"));
        set(&mut args.inputs, self.inputs.map(Some), given("inputs"));
        set(&mut args.labels, self.labels.map(Some), given("labels"));
        set(&mut args.norm, self.norm, given("norm"));
        set(&mut args.eps, self.eps.map(|l| Some(l.to_flag())), given("eps"));
        set(&mut args.attacks, self.attacks.map(|l| l.to_flag()), given("attacks"));
        set(&mut args.steps, self.steps.map(Some), given("steps"));
        set(&mut args.samples, self.samples.map(Some), given("samples"));
        set(&mut args.batch_size, self.batch_size, given("batch_size"));
        set(&mut args.seed, self.seed, given("seed"));
        set(&mut args.out, self.out, given("out"));
        set(&mut args.mean, self.mean.map(|l| Some(l.to_flag())), given("mean"));
        set(&mut args.std, self.std.map(|l| Some(l.to_flag())), given("std"));
        set(&mut args.fail_under, self.thresholds, given("fail_under"));
        set(&mut args.restarts, self.restarts, given("restarts"));
        set(&mut args.rel_step, self.rel_step.map(Some), given("rel_step"));
        set(&mut args.input_shape, self.input_shape.map(|l| Some(l.to_flag())), given("input_shape"));
        set(&mut args.target_class, self.target_class.map(Some), given("target_class"));
        set(&mut args.bounds, self.bounds.map(|l| l.to_flag()), given("bounds"));
        set(&mut args.junit, self.junit.map(Some), given("junit"));
        set(&mut args.baseline, self.baseline.map(Some), given("baseline"));
        set(&mut args.max_drop, self.max_drop.map(Some), given("max_drop"));
        set(&mut args.black_box, self.black_box, given("black_box"));
        set(&mut args.surrogate, self.surrogate.map(Some), given("surrogate"));
        set(&mut args.max_queries, self.max_queries.map(Some), given("max_queries"));
        let remote = &mut args.remote;
        set(&mut remote.target, self.target.map(Some), given("target"));
        set(&mut remote.target_cmd, self.target_cmd.map(Some), given("target_cmd"));
        set(&mut remote.num_classes, self.num_classes.map(Some), given("num_classes"));
        set(&mut remote.answer, self.answer, given("answer"));
        set(&mut remote.answer_pointer, self.answer_pointer.map(Some), given("answer_pointer"));
        set(&mut remote.request_template, self.request_template.map(Some), given("request_template"));
        set(&mut remote.header, self.headers, given("header"));
        set(&mut remote.method, self.method, given("method"));
        set(&mut remote.timeout, self.timeout, given("timeout"));
        set(&mut remote.retries, self.retries, given("retries"));
        set(&mut remote.rate_limit, self.rate_limit.map(Some), given("rate_limit"));
        set(&mut remote.max_in_flight, self.max_in_flight, given("max_in_flight"));
        set(&mut remote.rows_per_request, self.rows_per_request, given("rows_per_request"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_take_arrays_or_text() {
        let c = Config::parse("eps = [0.1, 0.3]\nattacks = \"fgsm,pgd\"\nmean = [0.5]\nthresholds = [\"pgd:linf:0.1=0.8\"]").unwrap();
        assert_eq!(c.eps.unwrap().to_flag(), "0.1,0.3");
        assert_eq!(c.attacks.unwrap().to_flag(), "fgsm,pgd");
        assert_eq!(c.mean.unwrap().to_flag(), "0.5");
        assert_eq!(c.thresholds.unwrap(), vec!["pgd:linf:0.1=0.8"]);
        let names = Config::parse("attacks = [\"fgsm\", \"pgd\"]").unwrap();
        assert_eq!(names.attacks.unwrap().to_flag(), "fgsm,pgd");
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_errors_naming_the_key() {
        let err = Config::parse("model = \"m.onnx\"\nepsilon = 0.3\n").unwrap_err().to_string();
        assert!(err.contains("epsilon"), "{err}");
        let err = Config::parse("steps = \"many\"\n").unwrap_err().to_string();
        assert!(err.contains("steps"), "{err}");
    }
}
