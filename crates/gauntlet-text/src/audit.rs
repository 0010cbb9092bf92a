//! The text audit: corpus → filter(s) → attacks → per-message outcomes →
//! summary. [`run_text_audit`] is the library entry point behind
//! `gauntlet text-audit`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::attacks::goodword::frequent_words;
use crate::attacks::{build_attack, AttackKind, TextAttack};
use crate::budget::TextBudget;
use crate::classifier::{evaluate, Oracle, TextClassifier};
use crate::corpus::{class_counts, id_hash_unit, load_corpus, split_by_id, Label, Message};
use crate::error::{Result, TextError};
use crate::filters::{
    ExternalCommand, ExternalOptions, HttpFilter, HttpFilterOptions, LogisticOptions, LogisticRegression, NaiveBayes,
    TextRequestTemplate,
};
use crate::mime::extract_text;
use crate::normalize::{NormalizeSteps, Normalized, Normalizer};
use crate::report::{
    AdversarialTrainingSummary, AttackRunSummary, CorpusSummary, Example, FilterReport, MessageOutcome, TextAuditReport,
};
use crate::tokenize::{levenshtein_within, similarity, word_count};

/// Which filter to audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FilterSpec {
    /// Built-in multinomial Naive Bayes, trained on the train split.
    NaiveBayes,
    /// Built-in logistic regression over hashed n-grams, trained on the train split.
    Logistic,
    /// Any program speaking the JSON Lines protocol of [`ExternalCommand`].
    External {
        /// Program and arguments.
        argv: Vec<String>,
        /// Longest wait for one answer, in seconds.
        timeout_s: f64,
    },
    /// Any classifier behind an HTTP endpoint ([`HttpFilter`]). Header values keep
    /// their `${ENV_VAR}`s unexpanded here, so the spec can be recorded safely.
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
    fn label(&self) -> String {
        match self {
            FilterSpec::NaiveBayes => "naive-bayes".into(),
            FilterSpec::Logistic => "logistic".into(),
            FilterSpec::External { argv, .. } => format!("external:{}", argv.join(" ")),
            FilterSpec::Http { url, .. } => format!("http:POST {url}"),
        }
    }
}

/// Everything a text audit needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextAuditConfig {
    /// JSON Lines corpus (gzip or plain): id, label, text.
    pub corpus: PathBuf,
    /// Share of messages (by id hash) used for training; the rest is held out.
    pub train_fraction: f64,
    /// The target.
    pub filter: FilterSpec,
    /// Attacks to run.
    pub attacks: Vec<AttackKind>,
    /// Edit budget per message.
    pub budget: TextBudget,
    /// Attacks see labels only.
    pub decision_only: bool,
    /// Attack at most this many held-out spam messages per filter variant.
    pub max_messages: Option<usize>,
    /// Seed for every random choice (same seed, same report).
    pub seed: u64,
    /// Also audit the hardened variants (normalization, adversarial training).
    pub defenses: bool,
    /// Training spam attacked to build adversarial-training examples.
    pub adv_train_messages: usize,
    /// Example messages shown per (variant, attack).
    pub examples: usize,
    /// Size of the good-word attacker's dictionary.
    pub dictionary_size: usize,
}

impl TextAuditConfig {
    /// Defaults: 80/20 split, Naive Bayes, all attacks, default budget, scores
    /// visible, at most 200 messages, seed 0, defenses on.
    pub fn new(corpus: impl Into<PathBuf>) -> Self {
        TextAuditConfig {
            corpus: corpus.into(),
            train_fraction: 0.8,
            filter: FilterSpec::NaiveBayes,
            attacks: AttackKind::ALL.to_vec(),
            budget: TextBudget::default(),
            decision_only: false,
            max_messages: Some(200),
            seed: 0,
            defenses: true,
            adv_train_messages: 400,
            examples: 2,
            dictionary_size: 1000,
        }
    }

    /// This configuration as it may be recorded: HTTP header values replaced by
    /// `<redacted>` (they may hold credentials, even when not read from `${ENV}`).
    pub fn redacted(&self) -> TextAuditConfig {
        let mut c = self.clone();
        if let FilterSpec::Http { headers, .. } = &mut c.filter {
            for (_, value) in headers.iter_mut() {
                *value = "<redacted>".into();
            }
        }
        c
    }

    fn validate(&self) -> Result<()> {
        if !(self.train_fraction > 0.0 && self.train_fraction < 1.0) {
            return Err(TextError::invalid("train_fraction", format!("{} must be strictly between 0 and 1", self.train_fraction)));
        }
        if self.attacks.is_empty() {
            return Err(TextError::invalid("attacks", "no attack selected"));
        }
        if self.max_messages == Some(0) {
            return Err(TextError::invalid("max_messages", "must be at least 1"));
        }
        if let FilterSpec::External { argv, timeout_s } = &self.filter {
            if argv.is_empty() {
                return Err(TextError::invalid("filter command", "empty"));
            }
            if !(timeout_s.is_finite() && *timeout_s > 0.0) {
                return Err(TextError::invalid("filter timeout", format!("{timeout_s} must be a positive number of seconds")));
            }
        }
        if let FilterSpec::Http { timeout_s, .. } = &self.filter {
            if !(timeout_s.is_finite() && *timeout_s > 0.0) {
                return Err(TextError::invalid("filter timeout", format!("{timeout_s} must be a positive number of seconds")));
            }
        }
        Ok(())
    }
}

/// A filter under audit, with how it was made.
struct Variant {
    name: String,
    clf: Box<dyn TextClassifier>,
    train_seconds: f64,
}

fn external(argv: &[String], timeout_s: f64) -> Result<ExternalCommand> {
    ExternalCommand::new(argv.to_vec(), ExternalOptions { timeout: Duration::from_secs_f64(timeout_s), ..Default::default() })
}

/// The HTTP filter a [`FilterSpec::Http`] describes.
pub fn http_filter(spec: &FilterSpec) -> Result<HttpFilter> {
    let FilterSpec::Http { url, headers, request_template, answer_pointer, timeout_s, retries, rate_limit } = spec else {
        return Err(TextError::invalid("filter", "not an HTTP filter"));
    };
    let mut options = HttpFilterOptions::new(url.clone());
    options.headers = headers.clone();
    if let Some(t) = request_template {
        options.template = TextRequestTemplate::parse(t)?;
    }
    options.answer_pointer = answer_pointer.clone();
    options.timeout = Duration::from_secs_f64(*timeout_s);
    options.retry.retries = *retries;
    options.rate_limit = *rate_limit;
    HttpFilter::new(options)
}

fn train_builtin(spec: &FilterSpec, name: &str, train: &[Message], seed: u64) -> Result<(Box<dyn TextClassifier>, f64)> {
    let t = Instant::now();
    let clf: Box<dyn TextClassifier> = match spec {
        FilterSpec::NaiveBayes => Box::new(NaiveBayes::train(name, train)?),
        FilterSpec::Logistic => Box::new(LogisticRegression::train(name, train, LogisticOptions { seed, ..Default::default() })?),
        FilterSpec::External { .. } | FilterSpec::Http { .. } => unreachable!("remote filters are not trained here"),
    };
    Ok((clf, t.elapsed().as_secs_f64()))
}

/// Held-out messages the filter must not all fail on before the audit goes on.
const FIRST_MESSAGES_CHECKED: usize = 5;

/// Per-message RNG: depends on the seed, the message and the attack only, so a
/// message's outcome does not change when others are added or removed.
fn message_rng(seed: u64, id: &str, salt: u64) -> StdRng {
    let h = (id_hash_unit(id) * (1u64 << 53) as f64) as u64;
    StdRng::seed_from_u64(seed ^ h.rotate_left(11) ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Run a full audit. `progress(done, total)` is called after each attacked message.
pub fn run_text_audit(config: &TextAuditConfig, progress: &dyn Fn(usize, usize)) -> Result<TextAuditReport> {
    let started = Instant::now();
    config.validate()?;
    let corpus = load_corpus(&config.corpus)?;
    let (train, test) = split_by_id(&corpus.messages, config.train_fraction);
    let (test_ham, test_spam) = class_counts(&test);
    let (train_ham, train_spam) = class_counts(&train);
    if test_spam == 0 {
        return Err(TextError::MissingClass { what: "the audit attacks held-out spam".into(), split: "test".into(), label: "spam".into() });
    }
    let builtin = !matches!(config.filter, FilterSpec::External { .. } | FilterSpec::Http { .. });
    let filter_label = config.filter.label();

    // Filters under audit.
    let mut variants: Vec<Variant> = Vec::new();
    let normalizer = || Normalizer::from_training(&train, NormalizeSteps::default());
    match &config.filter {
        FilterSpec::External { argv, timeout_s } => {
            variants.push(Variant { name: "baseline".into(), clf: Box::new(external(argv, *timeout_s)?), train_seconds: 0.0 });
            if config.defenses {
                let clf = Normalized::new(external(argv, *timeout_s)?, normalizer());
                variants.push(Variant { name: "normalized".into(), clf: Box::new(clf), train_seconds: 0.0 });
            }
        }
        spec @ FilterSpec::Http { .. } => {
            variants.push(Variant { name: "baseline".into(), clf: Box::new(http_filter(spec)?), train_seconds: 0.0 });
            if config.defenses {
                let clf = Normalized::new(http_filter(spec)?, normalizer());
                variants.push(Variant { name: "normalized".into(), clf: Box::new(clf), train_seconds: 0.0 });
            }
        }
        spec => {
            let (clf, secs) = train_builtin(spec, &filter_label, &train, config.seed)?;
            variants.push(Variant { name: "baseline".into(), clf, train_seconds: secs });
            if config.defenses {
                let (inner, secs) = train_builtin(spec, &filter_label, &train, config.seed)?;
                let clf = Normalized::new(inner, normalizer());
                variants.push(Variant { name: "normalized".into(), clf: Box::new(clf), train_seconds: secs });
            }
        }
    }

    // Held-out quality of the baseline (and normalized) filter.
    let mut filters: Vec<FilterReport> = Vec::new();
    let mut detected: Vec<Vec<usize>> = Vec::new();
    // Attack order: by id hash, so `max_messages` takes a representative sample.
    let mut spam_order: Vec<usize> = (0..test.len()).filter(|&i| test[i].label == Label::Spam).collect();
    spam_order.sort_by(|&a, &b| id_hash_unit(&test[a].id).total_cmp(&id_hash_unit(&test[b].id)));
    let evaluate_variant = |v: &Variant, filters: &mut Vec<FilterReport>, detected: &mut Vec<Vec<usize>>| {
        let (mut metrics, scores) = evaluate(v.clf.as_ref(), &test, 64);
        metrics.filter = v.clf.name();
        let det: Vec<usize> = spam_order.iter().copied().filter(|&i| scores[i].is_some_and(|s| s >= 0.5)).collect();
        filters.push(FilterReport { variant: v.name.clone(), metrics, train_seconds: v.train_seconds });
        detected.push(det);
    };
    // A filter that fails its first few messages is almost surely broken (a command that
    // cannot run, a wrong URL): say so now rather than after retrying every message.
    let first: Vec<&Message> = test.iter().take(FIRST_MESSAGES_CHECKED).collect();
    let mut first_failures = Vec::new();
    for m in &first {
        match variants[0].clf.scores(std::slice::from_ref(&m.text)) {
            Ok(_) => break,
            Err(e) => first_failures.push((m.id.clone(), e.to_string())),
        }
    }
    if !first.is_empty() && first_failures.len() == first.len() {
        let (id, reason) = first_failures.swap_remove(0);
        return Err(TextError::FilterUnusable { filter: variants[0].clf.name(), count: first.len(), id, reason });
    }
    for v in &variants {
        evaluate_variant(v, &mut filters, &mut detected);
        let m = &filters.last().expect("just pushed").metrics;
        if m.n == 0 {
            if let Some((id, reason)) = m.failures.first() {
                return Err(TextError::FilterUnusable {
                    filter: m.filter.clone(),
                    count: m.failures.len(),
                    id: id.clone(),
                    reason: reason.clone(),
                });
            }
        }
    }

    // Adversarial training: attack training spam against the baseline, add the
    // evasive versions as spam, retrain.
    let mut adv_summary = None;
    if config.defenses && builtin {
        let t = Instant::now();
        let base = variants[0].clf.as_ref();
        let dictionary = frequent_words(&train, config.dictionary_size);
        let mut train_spam_idx: Vec<usize> = (0..train.len()).filter(|&i| train[i].label == Label::Spam).collect();
        train_spam_idx.sort_by(|&a, &b| id_hash_unit(&train[a].id).total_cmp(&id_hash_unit(&train[b].id)));
        train_spam_idx.truncate(config.adv_train_messages);
        let mut added: Vec<Message> = Vec::new();
        let mut attacked = 0;
        for (k, &kind) in config.attacks.iter().enumerate() {
            let mut attack = build_attack(kind, &dictionary);
            let mut rng = StdRng::seed_from_u64(config.seed ^ 0xAD7);
            attack.prepare(&Oracle::new(base, false, None), &mut rng)?;
            for &i in &train_spam_idx {
                let m = &train[i];
                let text = extract_text(&m.text);
                let oracle = Oracle::new(base, false, config.budget.max_queries());
                let mut rng = message_rng(config.seed ^ 0xAD7, &m.id, k as u64);
                attacked += 1;
                if let Ok(r) = attack.attack(&text, &oracle, &config.budget, &mut rng) {
                    if r.success && !r.edits.is_empty() {
                        added.push(Message { id: format!("adv:{}:{}", kind, m.id), label: Label::Spam, text: r.adversarial });
                    }
                }
            }
        }
        let mut augmented = train.clone();
        augmented.extend(added.iter().cloned());
        let (clf, _) = train_builtin(&config.filter, &filter_label, &augmented, config.seed)?;
        let secs = t.elapsed().as_secs_f64();
        let v = Variant { name: "adversarial-training".into(), clf, train_seconds: secs };
        evaluate_variant(&v, &mut filters, &mut detected);
        variants.push(v);
        let (inner, _) = train_builtin(&config.filter, &filter_label, &augmented, config.seed)?;
        let v = Variant { name: "normalized+adversarial".into(), clf: Box::new(Normalized::new(inner, normalizer())), train_seconds: secs };
        evaluate_variant(&v, &mut filters, &mut detected);
        variants.push(v);
        adv_summary = Some(AdversarialTrainingSummary { attacked_training_messages: attacked, added_examples: added.len(), seconds: secs });
    }

    // Attack every variant with every attack.
    let cap = config.max_messages.unwrap_or(usize::MAX);
    let total: usize = detected.iter().map(|d| d.len().min(cap) * config.attacks.len()).sum();
    let mut done = 0;
    let dictionary = frequent_words(&train, config.dictionary_size);
    let mut runs = Vec::new();
    let mut outcomes = Vec::new();
    let mut examples = Vec::new();
    for (v, det) in variants.iter().zip(&detected) {
        for (k, &kind) in config.attacks.iter().enumerate() {
            let t = Instant::now();
            let mut attack = build_attack(kind, &dictionary);
            let setup = Oracle::new(v.clf.as_ref(), config.decision_only, None);
            let mut rng = StdRng::seed_from_u64(config.seed ^ (k as u64 + 1));
            let prep = attack.prepare(&setup, &mut rng);
            let mut run_outcomes = Vec::new();
            for &i in det.iter().take(cap) {
                let m = &test[i];
                let outcome = match &prep {
                    Ok(()) => attack_one(kind, attack.as_ref(), v, m, config, k as u64),
                    Err(e) => MessageOutcome::failed(&v.name, kind, &m.id, format!("attack preparation failed: {e}")),
                };
                if outcome.success && examples.iter().filter(|e: &&Example| e.variant == v.name && e.attack == kind).count() < config.examples {
                    examples.push(Example::new(&v.name, kind, &m.id, &extract_text(&m.text), &outcome));
                }
                run_outcomes.push(outcome);
                done += 1;
                progress(done, total);
            }
            runs.push(AttackRunSummary::from_outcomes(
                &v.name,
                kind,
                config.decision_only,
                &run_outcomes,
                setup.queries(),
                t.elapsed().as_secs_f64(),
            ));
            outcomes.extend(run_outcomes.into_iter().map(|mut o| {
                o.adversarial = None; // full texts only for examples: keeps the JSON small
                o
            }));
        }
    }

    Ok(TextAuditReport {
        tool: format!("gauntlet-text {}", env!("CARGO_PKG_VERSION")),
        filter: filter_label,
        config: config.redacted(),
        corpus: CorpusSummary {
            path: config.corpus.display().to_string(),
            messages: corpus.messages.len(),
            skipped_lines: corpus.failures.len(),
            first_skipped: corpus.failures.iter().take(10).cloned().collect(),
            train_ham,
            train_spam,
            test_ham,
            test_spam,
        },
        filters,
        adversarial_training: adv_summary,
        runs,
        examples,
        outcomes,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Attack one message and check the outcome independently of the attack:
/// the target is re-queried on the adversarial text, the Levenshtein distance
/// recomputed, and the budget re-checked.
fn attack_one(kind: AttackKind, attack: &dyn TextAttack, v: &Variant, m: &Message, config: &TextAuditConfig, salt: u64) -> MessageOutcome {
    let text = extract_text(&m.text);
    let oracle = Oracle::new(v.clf.as_ref(), config.decision_only, config.budget.max_queries());
    let mut rng = message_rng(config.seed, &m.id, salt);
    let r = match attack.attack(&text, &oracle, &config.budget, &mut rng) {
        Ok(r) => r,
        Err(e) => {
            let mut o = MessageOutcome::failed(&v.name, kind, &m.id, e.to_string());
            o.queries = oracle.queries();
            return o;
        }
    };
    let verified = match v.clf.scores(std::slice::from_ref(&r.adversarial)) {
        Ok(s) if s.len() == 1 => Some(s[0]),
        _ => None,
    };
    let n_words = word_count(&text);
    let a: Vec<char> = text.chars().collect();
    let b: Vec<char> = r.adversarial.chars().collect();
    let lev = levenshtein_within(&a, &b, config.budget.max_levenshtein());
    let within_budget = lev.is_some() && r.edits.len() <= config.budget.allowed_edits(n_words);
    let lev = lev.unwrap_or_else(|| crate::tokenize::levenshtein(&text, &r.adversarial));
    MessageOutcome {
        variant: v.name.clone(),
        attack: kind,
        id: m.id.clone(),
        success: r.success && verified.is_some_and(|s| s < 0.5) && within_budget,
        verified_score: verified,
        n_words,
        words_touched: r.edits.len(),
        words_touched_fraction: if n_words == 0 { 0.0 } else { r.edits.len() as f64 / n_words as f64 },
        levenshtein: lev,
        similarity: similarity(lev, &text, &r.adversarial),
        queries: oracle.queries(),
        within_budget,
        note: r.note.clone(),
        error: if verified.is_none() { Some("re-query of the adversarial text failed".into()) } else { None },
        edits: r.edits,
        adversarial: Some(r.adversarial),
    }
}
