//! Checkpoint and resume of the library's text audit: a run stopped midway (cancelled, or its
//! journal torn by a kill) resumes without recomputing or losing a finished message, and ends
//! with the outcomes of an uninterrupted run; other settings never mix in.

use std::cell::Cell;
use std::path::PathBuf;

use gauntlet_run::journal::Start;
use gauntlet_run::{Progress, Silent, Verdict};
use gauntlet_text::corpus::demo_corpus_path;
use gauntlet_text::report::{MessageOutcome, TextAuditReport};
use gauntlet_text::TextAuditConfig;

/// A scratch output directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "gauntlet-text-resume-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Stops the audit after `limit` freshly finished items; tells resumed items (the first
/// advance of a task) from fresh ones.
struct StopAfter {
    limit: u64,
    fresh: Cell<u64>,
    resumed: Cell<u64>,
    first: Cell<bool>,
}

impl StopAfter {
    fn new(limit: u64) -> Self {
        StopAfter {
            limit,
            fresh: Cell::new(0),
            resumed: Cell::new(0),
            first: Cell::new(false),
        }
    }
}

impl Progress for StopAfter {
    fn begin(&self, _: &str, _: u64) {
        self.first.set(true);
    }
    fn advance(&self, done: u64) {
        if self.first.replace(false) {
            self.resumed.set(self.resumed.get() + done);
        } else {
            self.fresh.set(self.fresh.get() + done);
        }
    }
    fn end(&self) {}
    fn cancelled(&self) -> bool {
        self.fresh.get() >= self.limit
    }
}

fn config(out: &Scratch) -> TextAuditConfig {
    let mut c = TextAuditConfig::new(demo_corpus_path());
    c.attacks = vec!["deepwordbug".into(), "goodword".into()];
    c.max_messages = 4;
    c.adv_train = 10;
    c.dictionary_size = 200;
    c.max_word_fraction = 0.3;
    c.out = out.0.clone();
    c
}

/// What must not change between an interrupted and an uninterrupted run (floats compared
/// after a JSON round trip may differ in the last digit).
fn key(o: &MessageOutcome) -> String {
    let edits = o
        .edits
        .iter()
        .map(|e| format!("{}>{}", e.original, e.replacement))
        .collect::<Vec<_>>()
        .join("|");
    format!(
        "{} {} {} {} {} {} {} {edits}",
        o.variant, o.attack, o.id, o.success, o.queries, o.levenshtein, o.n_words
    )
}

fn keys(r: &TextAuditReport) -> Vec<String> {
    r.outcomes.iter().map(key).collect()
}

#[test]
fn a_stopped_run_resumes_without_recomputing_or_losing_anything() {
    let out = Scratch::new("stop");
    let cfg = config(&out);
    let reference = cfg.validate().unwrap().evaluate(&Silent).unwrap();
    let adv_items = 2 * 10; // two attacks on ten training spam
    let total = adv_items as u64 + reference.outcomes.len() as u64;

    // Stopped during adversarial training.
    let first = StopAfter::new(7);
    let run = cfg.validate().unwrap().run(&first).unwrap();
    assert_eq!(run.report.status, "incomplete");
    assert_eq!(run.verdict(), Verdict::Incomplete);
    assert_eq!(run.checkpoint, Start::New);
    assert!(run.report.outcomes.is_empty());
    let checkpoint = cfg.validate().unwrap().checkpoint_path();
    assert!(checkpoint.exists());
    let md = std::fs::read_to_string(&run.files.markdown).unwrap();
    assert!(md.contains("**Incomplete:**"), "{md}");

    // Stopped during the attacks.
    let second = StopAfter::new(30);
    let run = cfg.validate().unwrap().run(&second).unwrap();
    assert_eq!(run.report.status, "incomplete");
    assert!(
        matches!(run.checkpoint, Start::Resumed { records, dropped_lines: 0 } if records > 0),
        "{:?}",
        run.checkpoint
    );
    assert_eq!(second.resumed.get(), first.fresh.get());
    let partial = run.report.outcomes.len();
    assert!(
        partial > 0 && partial < reference.outcomes.len(),
        "{partial}"
    );

    // A kill while a record was being written leaves a torn line: it is dropped, not mixed in.
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&checkpoint)
        .unwrap();
    f.write_all(br#"{"record":"attacked","message":3,"seco"#)
        .unwrap();
    drop(f);

    let third = StopAfter::new(u64::MAX);
    let run = cfg.validate().unwrap().run(&third).unwrap();
    assert_eq!(run.report.status, "complete");
    assert!(
        matches!(
            run.checkpoint,
            Start::Resumed {
                dropped_lines: 1,
                ..
            }
        ),
        "{:?}",
        run.checkpoint
    );
    assert!(
        !checkpoint.exists(),
        "a complete run removes its checkpoint"
    );
    assert_eq!(
        run.report.resumed, partial,
        "every outcome of the stopped run was restored"
    );
    // Each item was computed exactly once over the three runs.
    assert_eq!(
        first.fresh.get() + second.fresh.get() + third.fresh.get(),
        total
    );
    assert_eq!(third.resumed.get(), first.fresh.get() + second.fresh.get());
    // And the result is the uninterrupted run's.
    assert_eq!(keys(&run.report), keys(&reference));
    assert_eq!(
        run.report
            .adversarial_training
            .as_ref()
            .map(|a| (a.attacked_training_messages, a.added_examples)),
        reference
            .adversarial_training
            .as_ref()
            .map(|a| (a.attacked_training_messages, a.added_examples))
    );
    let setup = |r: &TextAuditReport| {
        r.runs
            .iter()
            .map(|x| (x.variant.clone(), x.setup_queries, x.evaded))
            .collect::<Vec<_>>()
    };
    assert_eq!(setup(&run.report), setup(&reference));
    assert_eq!(run.report.gate_rows.len(), reference.gate_rows.len());
}

#[test]
fn other_settings_or_fresh_discard_the_checkpoint() {
    let out = Scratch::new("discard");
    let mut cfg = config(&out);
    cfg.no_defenses = true;
    let stopped = cfg.validate().unwrap().run(&StopAfter::new(3)).unwrap();
    assert_eq!(stopped.report.outcomes.len(), 3);
    // Another seed is another audit: nothing of the first is reused.
    let mut other = cfg.clone();
    other.seed = 1;
    let stop = StopAfter::new(2);
    let run = other.validate().unwrap().run(&stop).unwrap();
    assert!(
        matches!(&run.checkpoint, Start::Discarded { reason } if reason.contains("other settings")),
        "{:?}",
        run.checkpoint
    );
    assert_eq!((run.report.resumed, stop.resumed.get()), (0, 0));
    // The same settings with `fresh` start over too.
    let mut fresh = other.clone();
    fresh.fresh = true;
    let run = fresh.validate().unwrap().run(&Silent).unwrap();
    assert!(matches!(&run.checkpoint, Start::Discarded { reason } if reason.contains("fresh")));
    assert_eq!(run.report.resumed, 0);
    assert_eq!(run.report.status, "complete");
    // Output-only settings (report examples, the gate) are not part of the fingerprint.
    let a = cfg.validate().unwrap();
    let mut b = cfg.clone();
    b.examples = 5;
    b.fail_under = vec!["worst=0".into()];
    b.junit = Some(out.0.join("junit.xml"));
    assert_eq!(
        a.fingerprint("sha"),
        b.validate().unwrap().fingerprint("sha")
    );
    assert_ne!(a.fingerprint("sha"), a.fingerprint("other corpus"));
}

#[test]
fn the_gate_judges_the_run_and_writes_junit() {
    let out = Scratch::new("gate");
    let mut cfg = config(&out);
    cfg.no_defenses = true;
    let first = cfg.validate().unwrap().run(&Silent).unwrap();
    assert_eq!(first.verdict(), Verdict::Pass, "no check asked for");
    let caught = first
        .report
        .gate_rows
        .iter()
        .find(|g| g.row == "deepwordbug")
        .unwrap()
        .still_caught;
    assert!(
        caught < 1.0,
        "the loose budget evades some spam: {:?}",
        first.report.gate_rows
    );
    cfg.fail_under = vec![format!("deepwordbug={}", caught), "worst=0".into()];
    cfg.junit = Some(out.0.join("junit.xml"));
    let pass = cfg.validate().unwrap().run(&Silent).unwrap();
    assert_eq!(pass.verdict(), Verdict::Pass);
    let xml = std::fs::read_to_string(out.0.join("junit.xml")).unwrap();
    assert!(
        xml.contains("<testsuite name=\"gauntlet-text\" tests=\"3\" failures=\"0\""),
        "{xml}"
    );
    cfg.fail_under = vec![format!("deepwordbug={}", (caught + 0.01).min(1.0))];
    let fail = cfg.validate().unwrap().run(&Silent).unwrap();
    assert_eq!(fail.verdict(), Verdict::Fail);
    let xml = std::fs::read_to_string(out.0.join("junit.xml")).unwrap();
    assert!(
        xml.contains("failures=\"1\"") && xml.contains("spam still caught"),
        "{xml}"
    );
    // The first report as a baseline: the same run passes with no drop allowed.
    cfg.fail_under.clear();
    cfg.baseline = Some(first.files.json.clone());
    let same = cfg.validate().unwrap().run(&Silent).unwrap();
    assert_eq!(same.verdict(), Verdict::Pass);
    assert!(same.judgement.cases.iter().all(|c| c.baseline.is_some()));
    let summary = same.summary_json();
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["cases"].as_array().unwrap().len(), 3);
}
