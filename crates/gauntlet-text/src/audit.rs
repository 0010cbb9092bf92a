//! The text audit: corpus → filter variants → attacks → per-message outcomes → report → gate.
//! [`TextAudit::run`] is the library entry point behind `gauntlet text-audit`.
//!
//! Stages: split the corpus; build the variants (the filter, and with defenses the normalized
//! and adversarially retrained ones); evaluate each on the held-out split; attack the held-out
//! spam each variant detects with every attack; verify every outcome independently; reduce.
//! Every finished unit of work goes to the [checkpoint](crate::checkpoint) first, so a run
//! killed at any point resumes where it stopped.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use gauntlet_run::gate::{junit, summary_json, Judgement};
use gauntlet_run::journal::{exact, Start};
use gauntlet_run::{Progress, Verdict};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::attacks::goodword::frequent_words;
use crate::attacks::{build_attack, Attack, AttackKind};
use crate::checkpoint::{Checkpoint, Record};
use crate::classifier::{evaluate, Classifier, Oracle};
use crate::config::{
    FilterSpec, Settings, TextAudit, VARIANT_ADVERSARIAL, VARIANT_BOTH, VARIANT_NORMALIZED,
    VARIANT_PLAIN,
};
use crate::corpus::{class_counts, id_hash_unit, load_corpus, split_by_id, Corpus, Label, Message};
use crate::error::{Error, Result};
use crate::filters::{
    ExternalCommand, ExternalOptions, LogisticOptions, LogisticRegression, NaiveBayes,
};
use crate::gate;
use crate::mime::extract_text;
use crate::normalize::{NormalizeSteps, Normalized, Normalizer};
use crate::output::{write_report, ReportFiles};
use crate::report::{
    AdversarialTrainingSummary, AttackRunSummary, CorpusSummary, Example, FilterReport, GateRow,
    MessageOutcome, TextAuditReport,
};
use crate::tokenize::{levenshtein_within, similarity, word_count};
use crate::validate::http_filter;

/// What [`TextAudit::run`] did: the report, where it was written, and the gate's verdict.
#[derive(Debug)]
pub struct TextAuditRun {
    /// Everything the audit found.
    pub report: TextAuditReport,
    /// Where the report was written.
    pub files: ReportFiles,
    /// The CI gate's judgement of the report.
    pub judgement: Judgement,
    /// How the checkpoint was found: new, resumed from an interrupted run, or discarded.
    pub checkpoint: Start,
    /// The JUnit file, when one was asked for.
    pub junit: Option<PathBuf>,
}

impl TextAuditRun {
    /// Pass, fail, or incomplete (a stopped run, a threshold that matched nothing).
    pub fn verdict(&self) -> Verdict {
        self.judgement.verdict()
    }

    /// The machine-readable summary: verdict, exit code, every gate row, and the run's size.
    pub fn summary_json(&self) -> serde_json::Value {
        let mut v = summary_json(&self.judgement, &self.files.json);
        v["filter"] = serde_json::json!(self.report.filter);
        v["messages_attacked"] = serde_json::json!(self.report.outcomes.len());
        v["resumed"] = serde_json::json!(self.report.resumed);
        v
    }
}

/// A filter under audit, with how it was made.
struct Variant {
    name: &'static str,
    clf: Box<dyn Classifier>,
    train_seconds: f64,
}

fn external(argv: &[String], timeout_s: f64) -> Result<ExternalCommand> {
    ExternalCommand::new(
        argv.to_vec(),
        ExternalOptions {
            timeout: Duration::from_secs_f64(timeout_s),
            ..Default::default()
        },
    )
}

fn train_builtin(
    spec: &FilterSpec,
    name: &str,
    train: &[Message],
    seed: u64,
) -> Result<(Box<dyn Classifier>, f64)> {
    let t = Instant::now();
    let clf: Box<dyn Classifier> = match spec {
        FilterSpec::NaiveBayes => Box::new(NaiveBayes::train(name, train)?),
        FilterSpec::Logistic => Box::new(LogisticRegression::train(
            name,
            train,
            LogisticOptions {
                seed,
                ..Default::default()
            },
        )?),
        FilterSpec::External { .. } | FilterSpec::Http { .. } => {
            unreachable!("remote filters are not trained here")
        }
    };
    Ok((clf, t.elapsed().as_secs_f64()))
}

/// Held-out messages the filter must not all fail on before the audit goes on.
const FIRST_MESSAGES_CHECKED: usize = 5;

/// Per-message RNG: depends on the seed, the message and the attack only, so a message's
/// outcome does not change when others are added, removed, or restored from a checkpoint.
fn message_rng(seed: u64, id: &str, salt: u64) -> StdRng {
    let h = (id_hash_unit(id) * (1u64 << 53) as f64) as u64;
    StdRng::seed_from_u64(seed ^ h.rotate_left(11) ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The JUnit suite name of text audits.
const JUNIT_SUITE: &str = "gauntlet-text";

impl TextAudit {
    /// Runs the audit end to end: resumes from the checkpoint an interrupted run of the same
    /// audit left in `out` (unless `fresh`), records every finished unit of work there, writes
    /// `text-report.{json,md,html}` atomically, removes the checkpoint once the run is
    /// complete, judges the gate and writes the JUnit file if one was asked for. When
    /// `progress` reports a cancellation the run stops after the message in hand and reports
    /// what is done (status `incomplete`; the checkpoint is kept for the rerun).
    ///
    /// A shard (`shard` `I/N`) attacks its part of the held-out spam, writes its part's report
    /// without judging thresholds, and keeps its checkpoint beside `shard.json` for
    /// [`crate::shard::merge`].
    pub fn run(&self, progress: &dyn Progress) -> Result<TextAuditRun> {
        let out = &self.config.out;
        std::fs::create_dir_all(out).map_err(|e| Error::Report {
            path: out.clone(),
            detail: e.to_string(),
        })?;
        let corpus = load_corpus(&self.settings.corpus)?;
        let checkpoint = Checkpoint::open(
            &self.checkpoint_path(),
            &self.checkpoint_fingerprint(&corpus.sha256),
            self.config.fresh,
        )?;
        self.report_and_judge(&corpus, checkpoint, progress)
    }

    /// Runs the audit from `checkpoint` (a journal, or a merge's restored records), writes the
    /// report, judges the gate and writes the JUnit file.
    pub(crate) fn report_and_judge(
        &self,
        corpus: &Corpus,
        mut checkpoint: Checkpoint,
        progress: &dyn Progress,
    ) -> Result<TextAuditRun> {
        let out = &self.config.out;
        let report = self.execute(corpus, &mut checkpoint, progress)?;
        let files = write_report(out, &report)?;
        let complete = report.status == "complete";
        let start = checkpoint.start.clone().unwrap_or(Start::New);
        // The gate judges the whole run: a shard's report covers only its part, so only
        // whether it finished counts (the thresholds apply to the merged report).
        let no_thresholds = gauntlet_run::Gate::new(Vec::new(), None);
        let gate = if self.shard.is_whole() {
            if complete {
                checkpoint.finish()?;
            }
            &self.gate
        } else {
            crate::shard_record::write_record(self, corpus, complete)?;
            &no_thresholds
        };
        let judgement = gate.judge(&gate::rows(&report.outcomes), complete);
        if let Some(path) = &self.config.junit {
            gauntlet_run::fs::write_atomic(
                path,
                junit(&judgement, JUNIT_SUITE, report.total_seconds).as_bytes(),
            )
            .map_err(|e| Error::Report {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        }
        Ok(TextAuditRun {
            report,
            files,
            judgement,
            checkpoint: start,
            junit: self.config.junit.clone(),
        })
    }

    /// Runs the audit and returns the report; writes nothing (no checkpoint, no files, no gate).
    pub fn evaluate(&self, progress: &dyn Progress) -> Result<TextAuditReport> {
        let corpus = load_corpus(&self.settings.corpus)?;
        self.execute(&corpus, &mut Checkpoint::in_memory(), progress)
    }

    /// SHA-256 of everything that decides the results: the validated settings serialized, the
    /// corpus's bytes and this crate's version. A checkpoint with another fingerprint is
    /// discarded. External filters are known by their command or URL: after changing the
    /// program behind one, start afresh.
    pub fn fingerprint(&self, corpus_sha256: &str) -> String {
        #[derive(Serialize)]
        struct Fingerprinted<'a> {
            tool: &'a str,
            version: &'a str,
            corpus_sha256: &'a str,
            settings: &'a Settings,
        }
        let what = Fingerprinted {
            tool: "gauntlet-text",
            version: env!("CARGO_PKG_VERSION"),
            corpus_sha256,
            settings: &self.settings,
        };
        let bytes = serde_json::to_vec(&what).expect("settings serialize");
        Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn execute(
        &self,
        corpus: &Corpus,
        checkpoint: &mut Checkpoint,
        progress: &dyn Progress,
    ) -> Result<TextAuditReport> {
        let started = Instant::now();
        let s = &self.settings;
        let (train, test) = split_by_id(&corpus.messages, s.train_fraction);
        let (test_ham, test_spam) = class_counts(&test);
        let (train_ham, train_spam) = class_counts(&train);
        if test_spam == 0 {
            return Err(Error::MissingClass {
                what: "the audit attacks held-out spam".into(),
                split: "test".into(),
                label: "spam".into(),
            });
        }
        let filter_label = s.filter.label();
        let normalizer = || Normalizer::from_training(&train, NormalizeSteps::default());

        let mut variants: Vec<Variant> = Vec::new();
        match &s.filter {
            FilterSpec::External { argv, timeout_s } => {
                variants.push(Variant {
                    name: VARIANT_PLAIN,
                    clf: Box::new(external(argv, *timeout_s)?),
                    train_seconds: 0.0,
                });
                if s.defenses {
                    let clf = Normalized::new(external(argv, *timeout_s)?, normalizer());
                    variants.push(Variant {
                        name: VARIANT_NORMALIZED,
                        clf: Box::new(clf),
                        train_seconds: 0.0,
                    });
                }
            }
            spec @ FilterSpec::Http { .. } => {
                variants.push(Variant {
                    name: VARIANT_PLAIN,
                    clf: Box::new(http_filter(spec)?),
                    train_seconds: 0.0,
                });
                if s.defenses {
                    let clf = Normalized::new(http_filter(spec)?, normalizer());
                    variants.push(Variant {
                        name: VARIANT_NORMALIZED,
                        clf: Box::new(clf),
                        train_seconds: 0.0,
                    });
                }
            }
            spec => {
                let (clf, secs) = train_builtin(spec, &filter_label, &train, s.seed)?;
                variants.push(Variant {
                    name: VARIANT_PLAIN,
                    clf,
                    train_seconds: secs,
                });
                if s.defenses {
                    let (inner, secs) = train_builtin(spec, &filter_label, &train, s.seed)?;
                    let clf = Normalized::new(inner, normalizer());
                    variants.push(Variant {
                        name: VARIANT_NORMALIZED,
                        clf: Box::new(clf),
                        train_seconds: secs,
                    });
                }
            }
        }

        // Attack order: by id hash, so `max_messages` takes a representative sample.
        let mut spam_order: Vec<usize> = (0..test.len())
            .filter(|&i| test[i].label == Label::Spam)
            .collect();
        spam_order
            .sort_by(|&a, &b| id_hash_unit(&test[a].id).total_cmp(&id_hash_unit(&test[b].id)));
        // A shard attacks every N-th message of the attack order. Messages, not blocks, are
        // the unit: each message's attack is seeded by its id alone (`message_rng`), so its
        // outcome is the same in any shard and in the unsharded run.
        let most = s.max_messages.min(spam_order.len());
        if self.shard.count > most {
            return Err(Error::invalid(
                "shard",
                format!(
                    "{} leaves some shards no message: at most {most} held-out spam messages \
                     are attacked (max_messages {}, {} held out), dealt one per shard in turn; \
                     use at most {most} shards",
                    self.shard,
                    s.max_messages,
                    spam_order.len()
                ),
            ));
        }
        let mut mine = vec![true; test.len()];
        for (rank, &i) in spam_order.iter().enumerate() {
            mine[i] = self.shard.owns(rank);
        }
        if checkpoint.evaluated(VARIANT_PLAIN).is_none() && !self.restore_only {
            check_filter_works(variants[0].clf.as_ref(), &test)?;
        }
        let mut filters: Vec<FilterReport> = Vec::new();
        let mut detected: Vec<Vec<usize>> = Vec::new();
        for v in &variants {
            let (f, d) = evaluate_variant(
                v,
                &test,
                &spam_order,
                checkpoint,
                self.restore_only,
                progress,
            )?;
            filters.push(f);
            detected.push(d);
        }

        let dictionary = frequent_words(&train, s.dictionary_size);
        let mut cancelled = false;
        let mut adv_summary = None;
        if s.defenses && s.filter.is_builtin() {
            let adv = self.adversarial_training(
                &train,
                variants[0].clf.as_ref(),
                &dictionary,
                checkpoint,
                progress,
            )?;
            match adv {
                None => cancelled = true,
                Some((added, attacked, attack_seconds)) => {
                    let t = Instant::now();
                    let mut augmented = train.clone();
                    augmented.extend(added.iter().cloned());
                    let (clf, _) = train_builtin(&s.filter, &filter_label, &augmented, s.seed)?;
                    let secs = attack_seconds + t.elapsed().as_secs_f64();
                    let (inner, _) = train_builtin(&s.filter, &filter_label, &augmented, s.seed)?;
                    let both = Normalized::new(inner, normalizer());
                    for v in [
                        Variant {
                            name: VARIANT_ADVERSARIAL,
                            clf,
                            train_seconds: secs,
                        },
                        Variant {
                            name: VARIANT_BOTH,
                            clf: Box::new(both),
                            train_seconds: secs,
                        },
                    ] {
                        let (f, d) = evaluate_variant(
                            &v,
                            &test,
                            &spam_order,
                            checkpoint,
                            self.restore_only,
                            progress,
                        )?;
                        filters.push(f);
                        detected.push(d);
                        variants.push(v);
                    }
                    adv_summary = Some(AdversarialTrainingSummary {
                        attacked_training_messages: attacked,
                        added_examples: added.len(),
                        seconds: secs,
                    });
                }
            }
        }

        // Attack every variant with every attack.
        let cap = s.max_messages;
        let mut runs = Vec::new();
        let mut outcomes: Vec<(usize, MessageOutcome)> = Vec::new();
        let mut resumed = 0;
        if !cancelled {
            // The first `max_messages` each variant detects, of this shard's.
            let detected: Vec<Vec<usize>> = detected
                .iter()
                .map(|d| d.iter().copied().take(cap).filter(|&i| mine[i]).collect())
                .collect();
            let total: usize = detected.iter().map(|d| d.len() * s.attacks.len()).sum();
            let done = variants
                .iter()
                .zip(&detected)
                .flat_map(|(v, det)| {
                    s.attacks
                        .iter()
                        .flat_map(move |&kind| det.iter().map(move |&i| (v.name, kind, i)))
                })
                .filter(|&(v, kind, i)| checkpoint.attacked(v, kind, i).is_some())
                .count();
            progress.begin("attacks", total as u64);
            progress.advance(done as u64);
            'variants: for (v, det) in variants.iter().zip(&detected) {
                for (k, &kind) in s.attacks.iter().enumerate() {
                    let run = self.attack_variant(
                        v,
                        kind,
                        k,
                        det,
                        &test,
                        &dictionary,
                        checkpoint,
                        progress,
                    )?;
                    // A merge's outcomes come from the shards, not from an interrupted run.
                    if !self.restore_only {
                        resumed += run.resumed;
                    }
                    if !run.outcomes.is_empty() {
                        let only: Vec<MessageOutcome> =
                            run.outcomes.iter().map(|(_, o)| o.clone()).collect();
                        runs.push(AttackRunSummary::from_outcomes(
                            v.name,
                            kind,
                            s.decision_only,
                            &only,
                            run.setup_queries,
                            run.seconds,
                        ));
                        outcomes.extend(run.outcomes);
                    }
                    if run.cancelled {
                        cancelled = true;
                        break 'variants;
                    }
                }
            }
            progress.end();
        }

        let mut examples: Vec<Example> = Vec::new();
        for (i, o) in &outcomes {
            let shown = examples
                .iter()
                .filter(|e| e.variant == o.variant && e.attack == o.attack)
                .count();
            if o.success && shown < self.config.examples {
                examples.push(Example::new(
                    &o.variant,
                    o.attack,
                    &o.id,
                    &extract_text(&test[*i].text),
                    o,
                ));
            }
        }
        let outcomes: Vec<MessageOutcome> = outcomes.into_iter().map(|(_, o)| o).collect();
        let gate_rows = gate::rows(&outcomes)
            .into_iter()
            .map(|r| GateRow {
                row: r.attack,
                still_caught: r.robust_accuracy,
            })
            .collect();
        Ok(TextAuditReport {
            tool: format!("gauntlet-text {}", env!("CARGO_PKG_VERSION")),
            filter: filter_label,
            config: self.config.redacted(),
            corpus: CorpusSummary {
                path: s.corpus.display().to_string(),
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
            status: if cancelled { "incomplete" } else { "complete" }.into(),
            resumed,
            gate_rows,
        })
    }

    /// Attacks training spam against the plain filter with every attack and collects the
    /// evasive versions (as spam) for retraining. Returns (examples, attacks run, seconds spent
    /// attacking), or `None` when the user cancelled.
    ///
    /// In a sharded run every shard does this whole step, identically (the same training spam,
    /// each attack seeded by the seed and the message id): the hardened filters it retrains are
    /// the whole run's, which every shard needs before it can attack them, and handing the step
    /// to one shard would make the others wait for it. The repeated work is bounded by
    /// `adv_train`; the attacks on held-out spam, the bulk of a run, are split.
    fn adversarial_training(
        &self,
        train: &[Message],
        base: &dyn Classifier,
        dictionary: &[String],
        checkpoint: &mut Checkpoint,
        progress: &dyn Progress,
    ) -> Result<Option<(Vec<Message>, usize, f64)>> {
        let s = &self.settings;
        let mut order: Vec<usize> = (0..train.len())
            .filter(|&i| train[i].label == Label::Spam)
            .collect();
        order.sort_by(|&a, &b| id_hash_unit(&train[a].id).total_cmp(&id_hash_unit(&train[b].id)));
        order.truncate(s.adv_train);
        let done = s
            .attacks
            .iter()
            .flat_map(|&k| order.iter().map(move |&i| (k, i)))
            .filter(|&(k, i)| checkpoint.trained(k, i).is_some());
        progress.begin(
            "adversarial training",
            (s.attacks.len() * order.len()) as u64,
        );
        progress.advance(done.count() as u64);
        let (mut added, mut attacked, mut seconds) = (Vec::new(), 0, 0.0);
        for (k, &kind) in s.attacks.iter().enumerate() {
            let mut attack = build_attack(kind, dictionary);
            if order.iter().any(|&i| checkpoint.trained(kind, i).is_none()) {
                match checkpoint.training_prepared(kind).cloned() {
                    Some(Some(state)) => attack.restore_state(state)?,
                    _ => {
                        let mut rng = StdRng::seed_from_u64(s.seed ^ 0xAD7);
                        attack.prepare(&Oracle::new(base, false, None), &mut rng)?;
                        checkpoint.record(Record::TrainingPrepared {
                            attack: kind,
                            state: attack.prepared_state(),
                        })?;
                    }
                }
            }
            for &i in &order {
                let m = &train[i];
                let (evasive, secs) = match checkpoint.trained(kind, i) {
                    Some(done) => done.clone(),
                    None => {
                        if self.restore_only {
                            return Err(not_in_shards(format!(
                                "adversarial-training attack {kind} on training message {}",
                                m.id
                            )));
                        }
                        if progress.cancelled() {
                            progress.end();
                            return Ok(None);
                        }
                        let t = Instant::now();
                        let text = extract_text(&m.text);
                        let oracle = Oracle::new(base, false, s.budget.max_queries());
                        let mut rng = message_rng(s.seed ^ 0xAD7, &m.id, k as u64);
                        let evasive = match attack.attack(&text, &oracle, &s.budget, &mut rng) {
                            Ok(r) if r.success && !r.edits.is_empty() => Some(r.adversarial),
                            // Redone on resume: the failure may be the interruption's.
                            Err(_) if progress.cancelled() => {
                                progress.end();
                                return Ok(None);
                            }
                            _ => None,
                        };
                        let secs = t.elapsed().as_secs_f64();
                        checkpoint.record(Record::Trained {
                            attack: kind,
                            message: i,
                            evasive: evasive.clone(),
                            seconds: secs,
                        })?;
                        progress.advance(1);
                        (evasive, secs)
                    }
                };
                attacked += 1;
                seconds += secs;
                if let Some(text) = evasive {
                    added.push(Message {
                        id: format!("adv:{}:{}", kind, m.id),
                        label: Label::Spam,
                        text,
                    });
                }
            }
        }
        progress.end();
        Ok(Some((added, attacked, seconds)))
    }

    /// One attack on one variant: restores or runs the preparation, then attacks each message
    /// not already in the checkpoint.
    #[allow(clippy::too_many_arguments)]
    fn attack_variant(
        &self,
        v: &Variant,
        kind: AttackKind,
        k: usize,
        messages: &[usize],
        test: &[Message],
        dictionary: &[String],
        checkpoint: &mut Checkpoint,
        progress: &dyn Progress,
    ) -> Result<VariantRun> {
        let s = &self.settings;
        let mut attack = build_attack(kind, dictionary);
        if let Some(&i) = messages
            .iter()
            .find(|&&i| self.restore_only && checkpoint.attacked(v.name, kind, i).is_none())
        {
            return Err(not_in_shards(format!(
                "outcome of {kind} on message {} against the {} filter",
                test[i].id, v.name
            )));
        }
        let pending = messages
            .iter()
            .any(|&i| checkpoint.attacked(v.name, kind, i).is_none());
        let earlier = checkpoint.prepared(v.name, kind).cloned();
        let (prepared, setup_queries, mut seconds) = match earlier {
            Some(p) if p.error.is_none() => {
                if pending {
                    match p.state {
                        Some(state) => attack.restore_state(state)?,
                        // Nothing to restore: preparing again costs no message query.
                        None => attack.prepare(
                            &Oracle::new(v.clf.as_ref(), s.decision_only, None),
                            &mut prepare_rng(s.seed, k),
                        )?,
                    }
                }
                (Ok(()), p.setup_queries, p.seconds)
            }
            // Every message is done (the preparation failed, and each outcome says so).
            Some(p) if !pending => (Err(p.error.unwrap_or_default()), p.setup_queries, p.seconds),
            _ if !pending => (Ok(()), 0, 0.0),
            _ => {
                let t = Instant::now();
                let setup = Oracle::new(v.clf.as_ref(), s.decision_only, None);
                let result = attack
                    .prepare(&setup, &mut prepare_rng(s.seed, k))
                    .map_err(|e| e.to_string());
                let secs = t.elapsed().as_secs_f64();
                checkpoint.record(Record::Prepared {
                    variant: v.name.to_string(),
                    attack: kind,
                    setup_queries: setup.queries(),
                    state: if result.is_ok() {
                        attack.prepared_state()
                    } else {
                        None
                    },
                    error: result.clone().err(),
                    seconds: secs,
                })?;
                (result, setup.queries(), secs)
            }
        };
        let mut run = VariantRun {
            outcomes: Vec::new(),
            setup_queries,
            seconds: 0.0,
            resumed: 0,
            cancelled: false,
        };
        for &i in messages {
            if let Some((outcome, secs)) = checkpoint.attacked(v.name, kind, i) {
                run.outcomes.push((i, outcome.clone()));
                seconds += secs;
                run.resumed += 1;
                continue;
            }
            if progress.cancelled() {
                run.cancelled = true;
                break;
            }
            let t = Instant::now();
            let m = &test[i];
            let outcome = match &prepared {
                Ok(()) => attack_one(kind, attack.as_ref(), v, m, s, k as u64),
                Err(e) => MessageOutcome::failed(
                    v.name,
                    kind,
                    &m.id,
                    format!("attack preparation failed: {e}"),
                ),
            };
            if outcome.error.is_some() && progress.cancelled() {
                // Ctrl-C in a terminal also stops an external filter: this failure is the
                // interruption's, not the message's, so it is redone on resume.
                run.cancelled = true;
                break;
            }
            let secs = t.elapsed().as_secs_f64();
            checkpoint.record(Record::Attacked {
                message: i,
                seconds: secs,
                outcome: outcome.clone(),
            })?;
            progress.advance(1);
            run.outcomes.push((i, outcome));
            seconds += secs;
        }
        run.seconds = seconds;
        Ok(run)
    }
}

/// The RNG an attack's preparation gets on variant run `k`.
fn prepare_rng(seed: u64, k: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ (k as u64 + 1))
}

/// The outcomes of one attack on one variant (by held-out index), and its cost.
struct VariantRun {
    outcomes: Vec<(usize, MessageOutcome)>,
    setup_queries: u64,
    seconds: f64,
    resumed: usize,
    cancelled: bool,
}

/// A filter that fails its first few messages is almost surely broken (a command that cannot
/// run, a wrong URL): say so now rather than after retrying every message.
fn check_filter_works(clf: &dyn Classifier, test: &[Message]) -> Result<()> {
    let first: Vec<&Message> = test.iter().take(FIRST_MESSAGES_CHECKED).collect();
    let mut failures = Vec::new();
    for m in &first {
        match clf.scores(std::slice::from_ref(&m.text)) {
            Ok(_) => return Ok(()),
            Err(e) => failures.push((m.id.clone(), e.to_string())),
        }
    }
    if first.is_empty() {
        return Ok(());
    }
    let (id, reason) = failures.swap_remove(0);
    Err(Error::FilterUnusable {
        filter: clf.name(),
        count: first.len(),
        id,
        reason,
    })
}

/// A merge found no record of `what` in the shards' checkpoints.
fn not_in_shards(what: String) -> Error {
    Error::Shard(gauntlet_run::ShardError::new(format!(
        "the shards' checkpoints hold no {what}: a shard's checkpoint is incomplete or was \
         changed; rerun that shard's command with the same output folder, then merge again"
    )))
}

/// A variant's held-out quality and the spam it detects, in attack order: from the checkpoint,
/// or measured and recorded (unless the user cancelled meanwhile: failures may then be the
/// interruption's, so it is measured again on resume; with `restore_only`, a merge, never).
/// Every shard measures every variant on all held-out messages: which spam a variant detects
/// decides which messages are attacked at all.
fn evaluate_variant(
    v: &Variant,
    test: &[Message],
    spam_order: &[usize],
    checkpoint: &mut Checkpoint,
    restore_only: bool,
    progress: &dyn Progress,
) -> Result<(FilterReport, Vec<usize>)> {
    if let Some((filter, detected)) = checkpoint.evaluated(v.name) {
        return Ok((filter.clone(), detected.clone()));
    }
    if restore_only {
        return Err(not_in_shards(format!(
            "held-out evaluation of the {} filter",
            v.name
        )));
    }
    let (mut metrics, scores) = evaluate(v.clf.as_ref(), test, 64);
    metrics.filter = v.clf.name();
    for x in [
        &mut metrics.accuracy,
        &mut metrics.precision,
        &mut metrics.recall,
        &mut metrics.f1,
    ] {
        *x = exact(*x);
    }
    if metrics.n == 0 {
        if let Some((id, reason)) = metrics.failures.first() {
            return Err(Error::FilterUnusable {
                filter: metrics.filter.clone(),
                count: metrics.failures.len(),
                id: id.clone(),
                reason: reason.clone(),
            });
        }
    }
    let detected: Vec<usize> = spam_order
        .iter()
        .copied()
        .filter(|&i| scores[i].is_some_and(|s| s >= 0.5))
        .collect();
    let filter = FilterReport {
        variant: v.name.to_string(),
        metrics,
        train_seconds: v.train_seconds,
    };
    if progress.cancelled() {
        return Ok((filter, detected));
    }
    checkpoint.record(Record::Evaluated {
        variant: v.name.to_string(),
        filter: filter.clone(),
        detected: detected.clone(),
    })?;
    Ok((filter, detected))
}

/// Attack one message and check the outcome independently of the attack: the target is
/// re-queried on the adversarial text, the Levenshtein distance recomputed, and the budget
/// re-checked.
fn attack_one(
    kind: AttackKind,
    attack: &dyn Attack,
    v: &Variant,
    m: &Message,
    s: &Settings,
    salt: u64,
) -> MessageOutcome {
    let text = extract_text(&m.text);
    let oracle = Oracle::new(v.clf.as_ref(), s.decision_only, s.budget.max_queries());
    let mut rng = message_rng(s.seed, &m.id, salt);
    let r = match attack.attack(&text, &oracle, &s.budget, &mut rng) {
        Ok(r) => r,
        Err(e) => {
            let mut o = MessageOutcome::failed(v.name, kind, &m.id, e.to_string());
            o.queries = oracle.queries();
            return o;
        }
    };
    let verified = match v.clf.scores(std::slice::from_ref(&r.adversarial)) {
        Ok(s) if s.len() == 1 => Some(exact(s[0])),
        _ => None,
    };
    let n_words = word_count(&text);
    let a: Vec<char> = text.chars().collect();
    let b: Vec<char> = r.adversarial.chars().collect();
    let lev = levenshtein_within(&a, &b, s.budget.max_levenshtein());
    let within_budget = lev.is_some() && r.edits.len() <= s.budget.allowed_edits(n_words);
    let lev = lev.unwrap_or_else(|| crate::tokenize::levenshtein(&text, &r.adversarial));
    MessageOutcome {
        variant: v.name.to_string(),
        attack: kind,
        id: m.id.clone(),
        success: r.success && verified.is_some_and(|s| s < 0.5) && within_budget,
        verified_score: verified,
        n_words,
        words_touched: r.edits.len(),
        words_touched_fraction: if n_words == 0 {
            0.0
        } else {
            exact(r.edits.len() as f64 / n_words as f64)
        },
        levenshtein: lev,
        similarity: exact(similarity(lev, &text, &r.adversarial)),
        queries: oracle.queries(),
        within_budget,
        note: r.note.clone(),
        error: if verified.is_none() {
            Some("re-query of the adversarial text failed".into())
        } else {
            None
        },
        edits: r.edits,
    }
}
