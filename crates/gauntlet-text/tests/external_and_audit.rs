//! The external-command target (a Python filter), its failure modes, and the
//! whole audit end to end on the demo subset.

mod common;

use std::time::Duration;

use gauntlet_run::Silent;
use gauntlet_text::attacks::AttackKind;
use gauntlet_text::classifier::evaluate;
use gauntlet_text::corpus::{demo_corpus_path, Label, Message};
use gauntlet_text::filters::{ExternalCommand, ExternalOptions};
use gauntlet_text::report::TextAuditReport;
use gauntlet_text::{write_report, Classifier, Error, TextAuditConfig};
use gauntlet_transport::RetryPolicy;

fn cmd(py: &str, args: &[&str], timeout: Duration) -> ExternalCommand {
    let mut argv = vec![py.to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    // Retries kept quick: each failing message is tried 3 times.
    let retry = RetryPolicy {
        retries: 2,
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(2),
    };
    ExternalCommand::new(argv, ExternalOptions { timeout, retry }).unwrap()
}

fn msg(id: &str, label: Label, text: &str) -> Message {
    Message {
        id: id.into(),
        label,
        text: text.into(),
    }
}

#[test]
fn python_filter_answers_scores() {
    let Some(py) = common::python3() else { return };
    let f = cmd(
        &py,
        &[&common::fixture("keyword_filter.py")],
        Duration::from_secs(20),
    );
    let s = f
        .scores(&[
            "free money, click to order now!".into(),
            "lunch at noon?".into(),
            String::new(),
        ])
        .unwrap();
    assert_eq!(s.len(), 3);
    assert!(s[0] >= 0.5 && s[1] < 0.5 && s[2] < 0.5, "{s:?}");
    // The process is kept between calls.
    assert!(f.scores(&["cash bonus credit".into()]).unwrap()[0] >= 0.5);
}

#[test]
fn crashing_or_garbage_filter_gives_per_message_failures_and_the_run_goes_on() {
    let Some(py) = common::python3() else { return };
    let f = cmd(
        &py,
        &[&common::fixture("keyword_filter.py")],
        Duration::from_secs(20),
    );
    let messages = vec![
        msg("ok1", Label::Spam, "free money cash offer"),
        msg("crash", Label::Spam, "CRASH_NOW please"),
        msg("ok2", Label::Ham, "see you at the meeting"),
        msg("garbage", Label::Ham, "GARBAGE_NOW"),
        msg(
            "ok3",
            Label::Spam,
            "earn income from home business opportunity",
        ),
    ];
    let (m, scores) = evaluate(&f, &messages, 8);
    let failed: Vec<&str> = m.failures.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(failed, ["crash", "garbage"], "{m:?}");
    assert!(
        m.failures[0].1.contains("exit status: 3"),
        "{}",
        m.failures[0].1
    );
    assert!(
        m.failures[1].1.contains("this is not json")
            && m.failures[1].1.contains("is not a spam score"),
        "{}",
        m.failures[1].1
    );
    assert!(
        m.failures
            .iter()
            .all(|(_, e)| e.contains("keyword_filter.py") && e.contains("failed 3 times")),
        "{m:?}"
    );
    assert_eq!(scores.iter().filter(|s| s.is_some()).count(), 3);
    assert_eq!((m.tp, m.tn, m.n), (2, 1, 3));
}

#[test]
fn command_errors_say_what_happened() {
    let Some(py) = common::python3() else { return };
    let missing = ExternalCommand::new(
        vec!["/nonexistent/filter-binary".into()],
        ExternalOptions::default(),
    )
    .unwrap();
    let e = missing.scores(&["x".into()]).unwrap_err();
    assert!(
        matches!(e, Error::Transport(_)) && e.to_string().contains("cannot start"),
        "{e}"
    );
    assert!(
        e.to_string().contains("/nonexistent/filter-binary") && e.to_string().contains("PATH"),
        "{e}"
    );
    let hang = cmd(
        &py,
        &["-c", "import time; time.sleep(30)"],
        Duration::from_millis(300),
    );
    let e = hang.scores(&["x".into()]).unwrap_err();
    assert!(
        e.to_string()
            .contains("did not answer within the timeout of 0.3 s"),
        "{e}"
    );
    let exits = cmd(
        &py,
        &[
            "-c",
            "import sys; sys.stderr.write('model file missing'); sys.exit(2)",
        ],
        Duration::from_secs(20),
    );
    let e = exits.scores(&["x".into()]).unwrap_err();
    assert!(e.to_string().contains("model file missing"), "{e}");
    let garbage = cmd(
        &py,
        &[
            "-c",
            "import sys\nfor l in sys.stdin: print('{\"score\": 7}', flush=True)",
        ],
        Duration::from_secs(20),
    );
    let e = garbage.scores(&["x".into()]).unwrap_err().to_string();
    assert!(
        e.contains("is not a spam score") && e.contains("{\"score\": 0.93}"),
        "{e}"
    );
    assert!(ExternalCommand::new(vec![], ExternalOptions::default()).is_err());
}

/// A quick audit of the demo corpus: 4 messages per variant, a loose budget.
fn small_config(filter: &str) -> TextAuditConfig {
    let mut c = TextAuditConfig::new(demo_corpus_path());
    c.filter = Some(filter.into());
    c.max_messages = 4;
    c.adv_train = 20;
    c.dictionary_size = 200;
    c.max_edits = 30.0;
    c.max_word_fraction = 0.3;
    c
}

fn check_report(r: &TextAuditReport, variants: usize, attacks: usize) {
    assert_eq!(r.filters.len(), variants);
    assert_eq!(r.runs.len(), variants * attacks);
    assert_eq!(r.status, "complete");
    for run in &r.runs {
        assert_eq!(run.budget_violations, 0, "{run:?}");
        assert!(run.evaded <= run.attacked);
        assert!((0.0..=1.0).contains(&run.success_rate));
        assert_eq!(
            run.still_caught.map(|c| 1.0 - c),
            (run.attacked > run.failed).then_some(run.success_rate)
        );
    }
    for o in &r.outcomes {
        assert!(o.within_budget, "{o:?}");
        if o.success {
            assert!(o.verified_score.is_some_and(|s| s < 0.5));
            assert!(o.similarity > 0.0 && o.similarity < 1.0);
        }
    }
}

/// Counts progress and checks it adds up.
#[derive(Default)]
struct Count {
    begun: std::cell::RefCell<Vec<(String, u64)>>,
    done: std::cell::Cell<u64>,
}

impl gauntlet_run::Progress for Count {
    fn begin(&self, task: &str, total: u64) {
        self.begun.borrow_mut().push((task.to_string(), total));
    }
    fn advance(&self, done: u64) {
        self.done.set(self.done.get() + done);
    }
    fn end(&self) {}
}

#[test]
fn audit_with_builtin_nb_writes_json_markdown_and_html() {
    let cfg = small_config("nb");
    let progress = Count::default();
    let r = cfg.validate().unwrap().evaluate(&progress).unwrap();
    check_report(&r, 4, AttackKind::ALL.len());
    let begun = progress.begun.borrow().clone();
    assert_eq!(
        begun.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["adversarial training", "attacks"]
    );
    assert_eq!(begun[1].1 as usize, r.outcomes.len());
    assert_eq!(
        progress.done.get(),
        begun.iter().map(|(_, n)| n).sum::<u64>()
    );
    assert!(r.adversarial_training.is_some());
    assert!(r.filters[0].metrics.accuracy >= 0.9);
    // The gate's rows: four attacks and the worst case per variant, named by variant.
    let rows: Vec<&str> = r.gate_rows.iter().map(|g| g.row.as_str()).collect();
    assert_eq!(rows.len(), 4 * 5);
    assert!(
        rows.contains(&"deepwordbug") && rows.contains(&"worst+normalized+adversarial"),
        "{rows:?}"
    );
    let dir = std::env::temp_dir().join(format!("gauntlet-text-report-{}", std::process::id()));
    let files = write_report(&dir, &r).unwrap();
    let back: TextAuditReport =
        serde_json::from_str(&std::fs::read_to_string(&files.json).unwrap()).unwrap();
    // (Floats may differ in the last digit after a JSON round trip.)
    let key = |r: &TextAuditReport| {
        r.runs
            .iter()
            .map(|x| (x.variant.clone(), x.attack, x.attacked, x.evaded))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&back), key(&r));
    assert_eq!(back.outcomes.len(), r.outcomes.len());
    let md = std::fs::read_to_string(&files.markdown).unwrap();
    assert!(md.contains("| baseline | deepwordbug |") && md.contains("Before and after hardening"));
    assert!(md.contains("| `worst+normalized` |"), "{md}");
    let html = std::fs::read_to_string(&files.html).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>")
            && html.contains("Spam still caught")
            && html.contains("<svg")
    );
    // Self-contained: nothing is fetched (URLs quoted from spam are text, not links).
    assert!(
        !html.contains(" src=") && !html.contains("<link") && !html.contains("href=\"http"),
        "{html}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    // Same seed, same outcomes.
    let again = cfg.validate().unwrap().evaluate(&Silent).unwrap();
    assert_eq!(again.outcomes, r.outcomes);
}

#[test]
fn audit_with_logistic_regression_in_decision_only_mode() {
    let mut cfg = small_config("lr");
    cfg.decision_only = true;
    cfg.no_defenses = true;
    cfg.max_messages = 3;
    let r = cfg.validate().unwrap().evaluate(&Silent).unwrap();
    check_report(&r, 1, AttackKind::ALL.len());
    assert!(r.runs.iter().all(|x| x.mode == "decision-only"));
}

#[test]
fn audit_with_external_python_filter() {
    let Some(py) = common::python3() else { return };
    let mut cfg = small_config("external");
    cfg.filter_cmd = Some(format!("{py} {}", common::fixture("keyword_filter.py")));
    cfg.filter_timeout = 20.0;
    cfg.attacks = vec!["deepwordbug".into(), "goodword".into()];
    let r = cfg.validate().unwrap().evaluate(&Silent).unwrap();
    // External filters get the normalization defense only (they cannot be retrained here).
    check_report(&r, 2, 2);
    assert!(r.filters[0].metrics.filter.starts_with("external:"));
    assert!(
        r.runs[0].attacked > 0,
        "the keyword filter should detect some demo spam"
    );
    assert!(r.runs.iter().any(|x| x.evaded > 0), "{:?}", r.runs);
}

#[test]
fn audit_rejects_bad_settings_with_errors_naming_the_key() {
    let mut cfg = small_config("nb");
    cfg.train_fraction = 1.0;
    assert!(cfg
        .validate()
        .unwrap_err()
        .to_string()
        .contains("train_fraction"));
    let mut cfg = small_config("external");
    cfg.filter_cmd = Some("x".into());
    cfg.filter_timeout = f64::NAN;
    assert!(cfg
        .validate()
        .unwrap_err()
        .to_string()
        .contains("filter_timeout"));
    let mut cfg = small_config("nb");
    cfg.attacks.clear();
    assert!(cfg.validate().unwrap_err().to_string().contains("attacks"));
    let cfg = TextAuditConfig::new("/nonexistent/corpus.jsonl.gz");
    assert!(matches!(
        cfg.validate().unwrap().evaluate(&Silent).unwrap_err(),
        Error::Io { .. }
    ));
}

#[test]
fn audit_stops_early_with_the_reason_when_the_filter_never_works() {
    let Some(py) = common::python3() else { return };
    let mut cfg = small_config("external");
    // A command whose words survive the split on whitespace: the script is a file.
    let dir = std::env::temp_dir().join(format!("gauntlet-text-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("broken.py");
    std::fs::write(
        &script,
        "import sys\nsys.stderr.write('weights.bin not found')\nsys.exit(4)\n",
    )
    .unwrap();
    cfg.filter_cmd = Some(format!("{py} {}", script.display()));
    // Stops after the first five held-out messages, not after retrying every one.
    let e = cfg.validate().unwrap().evaluate(&Silent).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(e, Error::FilterUnusable { count: 5, .. }), "{e}");
    let e = e.to_string();
    assert!(
        e.contains("weights.bin not found") && e.contains("exit status: 4"),
        "{e}"
    );
}
