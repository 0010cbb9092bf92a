//! The settings of a text audit: [`TextAuditConfig`] as a user writes them (a `gauntlet.toml`
//! or the flags of `gauntlet text-audit`, key for flag), and [`TextAudit`], the same settings
//! checked once (by [`TextAuditConfig::validate`]) and ready to run.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

use crate::attacks::AttackKind;
use crate::budget::Budget;

/// The checkpoint's file in the output directory.
pub const CHECKPOINT_FILE: &str = "text-checkpoint.jsonl";

/// The filter as it is deployed, with no hardening. In gate rows it adds no suffix
/// (`deepwordbug`, `worst`).
pub const VARIANT_PLAIN: &str = "baseline";
/// The filter behind the normalization defense (`deepwordbug+normalized`).
pub const VARIANT_NORMALIZED: &str = "normalized";
/// The filter retrained with adversarial examples (built-in filters;
/// `deepwordbug+adversarial-training`).
pub const VARIANT_ADVERSARIAL: &str = "adversarial-training";
/// Both defenses (`deepwordbug+normalized+adversarial`).
pub const VARIANT_BOTH: &str = "normalized+adversarial";

/// The settings of a text audit, one key per flag of `gauntlet text-audit`, named like the
/// flag with `_` for `-` (`--max-edits` is `max_edits`; `header` and `fail_under` also answer
/// to `headers` and `thresholds`, as in the image audit's file). Every key is optional in a
/// file ([`Default`] gives the flags' defaults); unknown keys are errors, so a typo never
/// falls back to a default silently.
///
/// ```toml
/// corpus = "data/spam-demo/spam-demo.jsonl.gz"
/// filter = "nb"
/// attacks = ["deepwordbug", "goodword"]   # or "deepwordbug,goodword"
/// max_word_fraction = 0.1
/// max_messages = 50
/// fail_under = ["deepwordbug=0.3", "worst=0.2"]
/// junit = "text-junit.xml"
/// ```
///
/// Nothing is checked here; [`TextAuditConfig::validate`] checks everything at once and its
/// errors name these keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextAuditConfig {
    /// JSON Lines corpus (gzip or plain) with fields `id`, `label` (spam/ham), `text`. Required.
    pub corpus: Option<PathBuf>,
    /// The target: `nb` (built-in Naive Bayes), `lr` (logistic regression), `external` (a
    /// command, `filter_cmd`) or `http` (an endpoint, `filter_url`). Default: `http` with
    /// `filter_url`, `external` with `filter_cmd`, else `nb`.
    pub filter: Option<String>,
    /// The command of an external filter, split on whitespace (e.g. `python3 filter.py`).
    pub filter_cmd: Option<String>,
    /// The URL of an HTTP filter (may contain `${ENV_VAR}`).
    pub filter_url: Option<String>,
    /// HTTP headers `Name: value`; `${ENV_VAR}` in a value is read from the environment and
    /// never recorded.
    #[serde(alias = "headers")]
    pub header: Vec<String>,
    /// Request body of an HTTP filter, with the quoted placeholder `"{{text}}"` (default
    /// `{"text": "{{text}}"}`).
    pub request_template: Option<String>,
    /// JSON pointer to the answer in an HTTP filter's response ("" for the whole response).
    pub answer_pointer: String,
    /// Longest wait for one answer of an external or HTTP filter, in seconds.
    #[serde(alias = "timeout")]
    pub filter_timeout: f64,
    /// Retries of a failed HTTP request.
    pub retries: u32,
    /// Client-side rate limit of an HTTP filter, requests per second.
    pub rate_limit: Option<f64>,
    /// Attacks by name (`deepwordbug`, `homoglyph`, `leet`, `goodword`); a file may give a
    /// list or the flag's comma-separated text.
    #[serde(deserialize_with = "names")]
    pub attacks: Vec<String>,
    /// Most edits per message.
    pub max_edits: f64,
    /// Most words touched, as a fraction of the message's words.
    pub max_word_fraction: f64,
    /// Most character Levenshtein distance per message.
    pub max_levenshtein: f64,
    /// Most filter queries per message (none: unlimited).
    pub max_queries: Option<f64>,
    /// Attacks see only the spam/ham label, not the score.
    pub decision_only: bool,
    /// Held-out spam attacked per filter variant, at most.
    pub max_messages: usize,
    /// Share of messages (split by a hash of the id) used for training.
    pub train_fraction: f64,
    /// Skip the re-audit of the normalized and adversarially trained filters.
    pub no_defenses: bool,
    /// Training spam attacked to build adversarial-training examples.
    pub adv_train: usize,
    /// Example evasions shown per (variant, attack) in the report.
    pub examples: usize,
    /// Words in the good-word attacker's dictionary.
    pub dictionary_size: usize,
    /// Seed of every random choice (same seed, same report).
    pub seed: u64,
    /// Output directory: `text-report.{json,md,html}` and, while a run is unfinished, its
    /// checkpoint.
    pub out: PathBuf,
    /// Discard the checkpoint an interrupted run left in `out` instead of resuming from it.
    pub fresh: bool,
    /// Attack only part of the held-out spam: `I/N` (part I of N, from 0) or `auto` (a
    /// Kubernetes Indexed Job's or a Slurm job array's index). `gauntlet merge` combines the
    /// parts' output folders into the report the whole run would have written.
    pub shard: Option<String>,
    /// CI gate: thresholds `ATTACK=MIN` on the share of attacked spam still caught (see
    /// [`crate::gate`] for the row names).
    #[serde(alias = "thresholds")]
    pub fail_under: Vec<String>,
    /// CI gate: the `text-report.json` of an earlier run (or its directory) to compare against.
    pub baseline: Option<PathBuf>,
    /// CI gate: largest allowed drop from `baseline`, a fraction (default 0).
    pub max_drop: Option<f64>,
    /// CI gate: write the verdict as JUnit XML to this file.
    pub junit: Option<PathBuf>,
    /// For the command line: print one JSON summary on stdout and nothing else there.
    pub json: bool,
    /// For the command line: no progress lines.
    pub quiet: bool,
}

/// A list given as TOML array or as the flag's comma-separated text.
fn names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Names {
        Text(String),
        List(Vec<String>),
    }
    Ok(match Names::deserialize(d)? {
        Names::Text(t) => split_list(&t),
        Names::List(l) => l,
    })
}

/// `"a, b,,c"` → `["a", "b", "c"]`.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl Default for TextAuditConfig {
    /// The flags' defaults: Naive Bayes, every attack, 50 edits / 10 % of words / Levenshtein
    /// 150, scores visible, 200 messages, 80 % training, defenses on, seed 0.
    fn default() -> Self {
        TextAuditConfig {
            corpus: None,
            filter: None,
            filter_cmd: None,
            filter_url: None,
            header: Vec::new(),
            request_template: None,
            answer_pointer: String::new(),
            filter_timeout: 10.0,
            retries: 3,
            rate_limit: None,
            attacks: AttackKind::ALL
                .iter()
                .map(|k| k.as_str().to_string())
                .collect(),
            max_edits: 50.0,
            max_word_fraction: 0.1,
            max_levenshtein: 150.0,
            max_queries: None,
            decision_only: false,
            max_messages: 200,
            train_fraction: 0.8,
            no_defenses: false,
            adv_train: 400,
            examples: 2,
            dictionary_size: 1000,
            seed: 0,
            out: PathBuf::from("gauntlet-text-report"),
            fresh: false,
            shard: None,
            fail_under: Vec::new(),
            baseline: None,
            max_drop: None,
            junit: None,
            json: false,
            quiet: false,
        }
    }
}

impl TextAuditConfig {
    /// The defaults, auditing `corpus`.
    pub fn new(corpus: impl Into<PathBuf>) -> Self {
        TextAuditConfig {
            corpus: Some(corpus.into()),
            ..TextAuditConfig::default()
        }
    }

    /// This configuration as it may be recorded: header values replaced by `<redacted>` (they
    /// may hold credentials, even when not read from `${ENV}`).
    pub fn redacted(&self) -> TextAuditConfig {
        let mut c = self.clone();
        for h in &mut c.header {
            let name = h
                .split_once(':')
                .map_or(h.as_str(), |(name, _)| name)
                .trim()
                .to_string();
            *h = format!("{name}: <redacted>");
        }
        c
    }
}

/// Which filter to audit, resolved from `filter`, `filter_cmd`, `filter_url` and their options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FilterSpec {
    /// Built-in multinomial Naive Bayes, trained on the train split.
    NaiveBayes,
    /// Built-in logistic regression over hashed n-grams, trained on the train split.
    Logistic,
    /// Any program speaking the JSON Lines protocol of
    /// [`ExternalCommand`](crate::filters::ExternalCommand).
    External {
        /// Program and arguments.
        argv: Vec<String>,
        /// Longest wait for one answer, in seconds.
        timeout_s: f64,
    },
    /// Any classifier behind an HTTP endpoint ([`HttpFilter`](crate::filters::HttpFilter)).
    /// Header values keep their `${ENV_VAR}`s unexpanded here.
    Http {
        /// `http://` or `https://` URL (may contain `${ENV_VAR}`).
        url: String,
        /// Headers as (name, value template).
        headers: Vec<(String, String)>,
        /// Request body with a `"{{text}}"` placeholder; `None` for `{"text": "{{text}}"}`.
        request_template: Option<String>,
        /// JSON pointer to the answer; "" for the whole body.
        answer_pointer: String,
        /// Longest time one try may take, in seconds.
        timeout_s: f64,
        /// Retries after a failed try.
        retries: u32,
        /// Client-side rate limit, requests per second.
        rate_limit: Option<f64>,
    },
}

impl FilterSpec {
    /// Short name for reports: `naive-bayes`, `logistic`, `external:CMD`, `http:POST URL`.
    pub fn label(&self) -> String {
        match self {
            FilterSpec::NaiveBayes => "naive-bayes".into(),
            FilterSpec::Logistic => "logistic".into(),
            FilterSpec::External { argv, .. } => format!("external:{}", argv.join(" ")),
            FilterSpec::Http { url, .. } => format!("http:POST {url}"),
        }
    }

    /// Whether the filter is trained here (and so can be adversarially retrained).
    pub fn is_builtin(&self) -> bool {
        matches!(self, FilterSpec::NaiveBayes | FilterSpec::Logistic)
    }
}

/// What decides an audit's results, validated: everything the checkpoint fingerprint covers
/// (with the corpus's content hash and the crate version).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// The corpus file.
    pub corpus: PathBuf,
    /// Share of messages used for training, in (0, 1).
    pub train_fraction: f64,
    /// The target.
    pub filter: FilterSpec,
    /// Attacks, in run order, without repeats.
    pub attacks: Vec<AttackKind>,
    /// The edit budget per message.
    pub budget: Budget,
    /// Attacks see labels only.
    pub decision_only: bool,
    /// Held-out spam attacked per variant, at most (≥ 1).
    pub max_messages: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Whether the hardened variants are audited too.
    pub defenses: bool,
    /// Training spam attacked for adversarial training.
    pub adv_train: usize,
    /// Words in the good-word attacker's dictionary.
    pub dictionary_size: usize,
}

impl Settings {
    /// The filter variants this audit measures, in order: the plain filter, then (with
    /// defenses) the normalized one, then (built-in filters) the adversarially trained ones.
    pub fn variants(&self) -> Vec<&'static str> {
        let mut v = vec![VARIANT_PLAIN];
        if self.defenses {
            v.push(VARIANT_NORMALIZED);
            if self.filter.is_builtin() {
                v.extend([VARIANT_ADVERSARIAL, VARIANT_BOTH]);
            }
        }
        v
    }
}

/// A text audit checked and ready to run: build it with [`TextAuditConfig::validate`], run it
/// with [`TextAudit::run`] (checkpoint, report files, gate) or [`TextAudit::evaluate`] (the
/// report only).
#[derive(Debug, Clone)]
pub struct TextAudit {
    /// The configuration as given.
    pub(crate) config: TextAuditConfig,
    /// What decides the results.
    pub(crate) settings: Settings,
    /// The CI gate, with its baseline loaded.
    pub(crate) gate: gauntlet_run::Gate,
    /// Which part of the held-out spam this process attacks ([`crate::shard`]).
    pub(crate) shard: gauntlet_run::Shard,
    /// Every result must come from the checkpoint (a merge of shards): a missing one is an
    /// error, never recomputed.
    pub(crate) restore_only: bool,
}

impl TextAudit {
    /// The configuration it was validated from.
    pub fn config(&self) -> &TextAuditConfig {
        &self.config
    }

    /// What decides its results.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The CI gate it will judge the results with.
    pub fn gate(&self) -> &gauntlet_run::Gate {
        &self.gate
    }

    /// Where the checkpoint lives while a run is unfinished (and, in a shard, for the merge).
    pub fn checkpoint_path(&self) -> PathBuf {
        self.config.out.join(CHECKPOINT_FILE)
    }

    /// Which part of the held-out spam this audit attacks.
    pub fn shard(&self) -> gauntlet_run::Shard {
        self.shard
    }
}
