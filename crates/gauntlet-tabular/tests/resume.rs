//! An audit stopped after its first batch reports what finished (incomplete, exit code 2) and
//! keeps its checkpoint; the rerun restores those rows and ends with exactly the outcomes of
//! an uninterrupted run.

mod common;

use std::cell::Cell;

use common::{root, Scratch};
use gauntlet_run::{Progress, Silent};
use gauntlet_tabular::TabularAuditConfig;

/// Asks to stop once `limit` rows have finished.
struct StopAfter {
    done: Cell<u64>,
    limit: u64,
}

impl Progress for StopAfter {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, done: u64) {
        self.done.set(self.done.get() + done);
    }
    fn end(&self) {}
    fn cancelled(&self) -> bool {
        self.done.get() >= self.limit
    }
}

fn config(out: &std::path::Path) -> TabularAuditConfig {
    TabularAuditConfig {
        model: root().join("models/tabular/spambase_gradient_boosting.onnx"),
        data: root().join("data/tabular/spambase/test.csv"),
        schema: root().join("data/tabular/spambase/schema.toml"),
        direction: Some("spam:nonspam".into()),
        samples: Some(40),
        batch_size: 8,
        attacks: vec!["tree".into()],
        out: out.to_path_buf(),
        ..TabularAuditConfig::default()
    }
}

#[test]
fn an_interrupted_audit_resumes_to_the_uninterrupted_result() {
    let whole = Scratch::new("resume-whole");
    let reference = config(whole.path()).check().unwrap().run(&Silent).unwrap();
    assert!(reference.report.complete && reference.exit_code() == 0);
    let expected = std::fs::read_to_string(whole.path().join("samples.jsonl")).unwrap();

    let parts = Scratch::new("resume-parts");
    let audit = config(parts.path()).check().unwrap();
    let stopped = audit
        .run(&StopAfter {
            done: Cell::new(0),
            limit: 16,
        })
        .unwrap();
    assert!(!stopped.report.complete);
    assert_eq!(stopped.exit_code(), 2, "an incomplete run is not a pass");
    assert!(stopped.report.attacks[0].attacked < 40);
    assert!(parts.path().join("tabular-checkpoint.jsonl").exists());

    let resumed = audit.run(&Silent).unwrap();
    assert!(resumed.report.complete);
    assert!(resumed.resumed >= 16, "restored {} rows", resumed.resumed);
    let got = std::fs::read_to_string(parts.path().join("samples.jsonl")).unwrap();
    assert_eq!(got.lines().count(), expected.lines().count());
    if let Some((a, b)) = got.lines().zip(expected.lines()).find(|(a, b)| a != b) {
        panic!(
            "resumed and uninterrupted outcomes differ:\n{}\n{}",
            &a[..a.len().min(300)],
            &b[..b.len().min(300)]
        );
    }
    assert!(
        !parts.path().join("tabular-checkpoint.jsonl").exists(),
        "a finished run removes its checkpoint"
    );
}
