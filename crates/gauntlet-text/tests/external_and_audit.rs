//! The external-command target (a Python filter), its failure modes, and the
//! whole audit end to end on the demo subset.

mod common;

use std::time::Duration;

use gauntlet_text::attacks::AttackKind;
use gauntlet_text::classifier::evaluate;
use gauntlet_text::corpus::{demo_corpus_path, Label, Message};
use gauntlet_text::filters::{ExternalCommand, ExternalOptions};
use gauntlet_text::report::TextAuditReport;
use gauntlet_transport::RetryPolicy;
use gauntlet_text::{run_text_audit, write_text_report, FilterSpec, TextAuditConfig, TextBudget, TextClassifier, TextError};

fn cmd(py: &str, args: &[&str], timeout: Duration) -> ExternalCommand {
    let mut argv = vec![py.to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    // Retries kept quick: each failing message is tried 3 times.
    let retry = RetryPolicy { retries: 2, backoff_base: Duration::from_millis(1), backoff_max: Duration::from_millis(2) };
    ExternalCommand::new(argv, ExternalOptions { timeout, retry }).unwrap()
}

fn msg(id: &str, label: Label, text: &str) -> Message {
    Message { id: id.into(), label, text: text.into() }
}

#[test]
fn python_filter_answers_scores() {
    let Some(py) = common::python3() else { return };
    let f = cmd(&py, &[&common::fixture("keyword_filter.py")], Duration::from_secs(20));
    let s = f.scores(&["free money, click to order now!".into(), "lunch at noon?".into(), String::new()]).unwrap();
    assert_eq!(s.len(), 3);
    assert!(s[0] >= 0.5 && s[1] < 0.5 && s[2] < 0.5, "{s:?}");
    // The process is kept between calls.
    assert!(f.scores(&["cash bonus credit".into()]).unwrap()[0] >= 0.5);
}

#[test]
fn crashing_or_garbage_filter_gives_per_message_failures_and_the_run_goes_on() {
    let Some(py) = common::python3() else { return };
    let f = cmd(&py, &[&common::fixture("keyword_filter.py")], Duration::from_secs(20));
    let messages = vec![
        msg("ok1", Label::Spam, "free money cash offer"),
        msg("crash", Label::Spam, "CRASH_NOW please"),
        msg("ok2", Label::Ham, "see you at the meeting"),
        msg("garbage", Label::Ham, "GARBAGE_NOW"),
        msg("ok3", Label::Spam, "earn income from home business opportunity"),
    ];
    let (m, scores) = evaluate(&f, &messages, 8);
    let failed: Vec<&str> = m.failures.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(failed, ["crash", "garbage"], "{m:?}");
    assert!(m.failures[0].1.contains("exit status: 3"), "{}", m.failures[0].1);
    assert!(m.failures[1].1.contains("this is not json") && m.failures[1].1.contains("is not a spam score"), "{}", m.failures[1].1);
    assert!(m.failures.iter().all(|(_, e)| e.contains("keyword_filter.py") && e.contains("failed 3 times")), "{m:?}");
    assert_eq!(scores.iter().filter(|s| s.is_some()).count(), 3);
    assert_eq!((m.tp, m.tn, m.n), (2, 1, 3));
}

#[test]
fn command_errors_say_what_happened() {
    let Some(py) = common::python3() else { return };
    let missing = ExternalCommand::new(vec!["/nonexistent/filter-binary".into()], ExternalOptions::default()).unwrap();
    let e = missing.scores(&["x".into()]).unwrap_err();
    assert!(matches!(e, TextError::Transport(_)) && e.to_string().contains("cannot start"), "{e}");
    assert!(e.to_string().contains("/nonexistent/filter-binary") && e.to_string().contains("PATH"), "{e}");
    let hang = cmd(&py, &["-c", "import time; time.sleep(30)"], Duration::from_millis(300));
    let e = hang.scores(&["x".into()]).unwrap_err();
    assert!(e.to_string().contains("did not answer within the timeout of 0.3 s"), "{e}");
    let exits = cmd(&py, &["-c", "import sys; sys.stderr.write('model file missing'); sys.exit(2)"], Duration::from_secs(20));
    let e = exits.scores(&["x".into()]).unwrap_err();
    assert!(e.to_string().contains("model file missing"), "{e}");
    let garbage = cmd(&py, &["-c", "import sys\nfor l in sys.stdin: print('{\"score\": 7}', flush=True)"], Duration::from_secs(20));
    let e = garbage.scores(&["x".into()]).unwrap_err().to_string();
    assert!(e.contains("is not a spam score") && e.contains("{\"score\": 0.93}"), "{e}");
    assert!(ExternalCommand::new(vec![], ExternalOptions::default()).is_err());
}

fn small_config(filter: FilterSpec) -> TextAuditConfig {
    let mut c = TextAuditConfig::new(demo_corpus_path());
    c.filter = filter;
    c.max_messages = Some(4);
    c.adv_train_messages = 20;
    c.dictionary_size = 200;
    c.budget = TextBudget::new(30.0, 0.3, 150.0, None).unwrap();
    c
}

fn check_report(r: &TextAuditReport, variants: usize, attacks: usize) {
    assert_eq!(r.filters.len(), variants);
    assert_eq!(r.runs.len(), variants * attacks);
    for run in &r.runs {
        assert_eq!(run.budget_violations, 0, "{run:?}");
        assert!(run.evaded <= run.attacked);
        assert!((0.0..=1.0).contains(&run.success_rate));
    }
    for o in &r.outcomes {
        assert!(o.within_budget, "{o:?}");
        if o.success {
            assert!(o.verified_score.is_some_and(|s| s < 0.5));
            assert!(o.similarity > 0.0 && o.similarity < 1.0);
        }
    }
}

#[test]
fn audit_with_builtin_nb_writes_json_and_markdown() {
    let cfg = small_config(FilterSpec::NaiveBayes);
    let calls = std::cell::Cell::new(0);
    let r = run_text_audit(&cfg, &|done, total| {
        assert!(done <= total);
        calls.set(calls.get() + 1);
    })
    .unwrap();
    check_report(&r, 4, AttackKind::ALL.len());
    assert_eq!(calls.get(), r.outcomes.len());
    assert!(r.adversarial_training.is_some());
    assert!(r.filters[0].metrics.accuracy >= 0.9);
    let dir = std::env::temp_dir().join(format!("gauntlet-text-report-{}", std::process::id()));
    let (json, md) = write_text_report(&dir, &r).unwrap();
    let back: TextAuditReport = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    // (Floats may differ in the last digit after a JSON round trip.)
    let key = |r: &TextAuditReport| r.runs.iter().map(|x| (x.variant.clone(), x.attack, x.attacked, x.evaded)).collect::<Vec<_>>();
    assert_eq!(key(&back), key(&r));
    assert_eq!(back.outcomes.len(), r.outcomes.len());
    let md = std::fs::read_to_string(md).unwrap();
    assert!(md.contains("| baseline | deepwordbug |") && md.contains("Before and after hardening"));
    // Same seed, same outcomes.
    let again = run_text_audit(&cfg, &|_, _| {}).unwrap();
    assert_eq!(again.outcomes, r.outcomes);
}

#[test]
fn audit_with_logistic_regression_in_decision_only_mode() {
    let mut cfg = small_config(FilterSpec::Logistic);
    cfg.decision_only = true;
    cfg.defenses = false;
    cfg.max_messages = Some(3);
    let r = run_text_audit(&cfg, &|_, _| {}).unwrap();
    check_report(&r, 1, AttackKind::ALL.len());
    assert!(r.runs.iter().all(|x| x.mode == "decision-only"));
}

#[test]
fn audit_with_external_python_filter() {
    let Some(py) = common::python3() else { return };
    let mut cfg = small_config(FilterSpec::External { argv: vec![py, common::fixture("keyword_filter.py")], timeout_s: 20.0 });
    cfg.attacks = vec![AttackKind::DeepWordBug, AttackKind::GoodWord];
    let r = run_text_audit(&cfg, &|_, _| {}).unwrap();
    // External filters get the normalization defense only (they cannot be retrained here).
    check_report(&r, 2, 2);
    assert!(r.filters[0].metrics.filter.starts_with("external:"));
    assert!(r.runs[0].attacked > 0, "the keyword filter should detect some demo spam");
    assert!(r.runs.iter().any(|x| x.evaded > 0), "{:?}", r.runs);
}

#[test]
fn audit_rejects_bad_settings_with_clear_errors() {
    let mut cfg = small_config(FilterSpec::NaiveBayes);
    cfg.train_fraction = 1.0;
    assert!(run_text_audit(&cfg, &|_, _| {}).unwrap_err().to_string().contains("train_fraction"));
    let mut cfg = small_config(FilterSpec::External { argv: vec!["x".into()], timeout_s: f64::NAN });
    assert!(run_text_audit(&cfg, &|_, _| {}).is_err());
    cfg.filter = FilterSpec::NaiveBayes;
    cfg.attacks.clear();
    assert!(run_text_audit(&cfg, &|_, _| {}).is_err());
    let cfg = TextAuditConfig::new("/nonexistent/corpus.jsonl.gz");
    assert!(matches!(run_text_audit(&cfg, &|_, _| {}).unwrap_err(), TextError::Io { .. }));
}

#[test]
fn audit_stops_early_with_the_reason_when_the_filter_never_works() {
    let Some(py) = common::python3() else { return };
    let argv = vec![py, "-c".into(), "import sys; sys.stderr.write('weights.bin not found'); sys.exit(4)".into()];
    let cfg = small_config(FilterSpec::External { argv, timeout_s: 20.0 });
    // Stops after the first five held-out messages, not after retrying every one.
    let e = run_text_audit(&cfg, &|_, _| {}).unwrap_err();
    assert!(matches!(e, TextError::FilterUnusable { count: 5, .. }), "{e}");
    let e = e.to_string();
    assert!(e.contains("weights.bin not found") && e.contains("exit status: 4"), "{e}");
}
