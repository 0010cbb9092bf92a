//! The external-command transport against small Python 3 programs: a working model, one that
//! dies at once, one that answers garbage, one that hangs, and one that crashes once.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::quick_retries;
use gauntlet_core::device::compute_device;
use gauntlet_core::model::{AnswerKind, Classifier};
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_remote::{AnswerSpec, CommandSettings, RemoteClassifier, Shape};

/// A linear model on 3 features and 2 classes, optionally crashing on its first request
/// (when the marker file does not exist yet).
const LINEAR: &str = r#"
import json, os, sys
W = [[1.0, 2.0, -1.0], [0.5, -0.25, 4.0]]
marker = sys.argv[1] if len(sys.argv) > 1 else None
for line in sys.stdin:
    if marker and not os.path.exists(marker):
        open(marker, "w").close()
        sys.stderr.write("crashing on purpose before the first answer\n")
        sys.exit(5)
    batch = json.loads(line)["inputs"]
    scores = [[sum(w * v for w, v in zip(row, x)) for row in W] for x in batch]
    print(json.dumps({"id": 1, "out": {"scores": scores}}), flush=True)
"#;

/// A fresh directory for this test's files, removed when the test ends.
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("gauntlet-remote-{name}-"))
        .tempdir()
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn settings(command: String, retries: u32) -> CommandSettings {
    let mut s = CommandSettings::new(command);
    s.answer = AnswerSpec::new(AnswerKind::Scores, "/out/scores").unwrap();
    s.retry = quick_retries(retries);
    s.timeout = Duration::from_secs(20);
    s
}

fn target(settings: CommandSettings) -> RemoteClassifier {
    RemoteClassifier::command(settings, Shape::new(vec![3], 2).unwrap()).unwrap()
}

fn query(target: &RemoteClassifier, rows: Vec<f32>) -> gauntlet_core::Result<Vec<f32>> {
    let n = rows.len() / 3;
    target
        .logits(from_rows(rows, n, 3, &compute_device()))
        .map(to_vec)
}

fn expected(rows: &[f32]) -> Vec<f32> {
    let w = [[1.0f32, 2.0, -1.0], [0.5, -0.25, 4.0]];
    rows.chunks(3)
        .flat_map(|x| {
            w.iter()
                .map(move |r| r.iter().zip(x).map(|(a, b)| a * b).sum::<f32>())
        })
        .collect()
}

#[test]
fn a_json_lines_program_answers_batches_split_into_lines() {
    let dir = scratch("linear");
    let script = write(dir.path(), "model.py", LINEAR);
    let mut s = settings(format!("python3 '{}'", script.display()), 0);
    s.rows_per_request = 2;
    let target = target(s);
    let rows = vec![
        1.0, 0.5, 0.25, 0.0, 1.0, 2.0, -1.0, 0.125, 0.5, 2.0, 2.0, 2.0, 0.75, 0.5, 0.25,
    ];
    assert_eq!(query(&target, rows.clone()).unwrap(), expected(&rows));
    // The program stays up between calls.
    assert_eq!(
        query(&target, rows[..3].to_vec()).unwrap(),
        expected(&rows[..3])
    );
    let stats = target.stats();
    assert_eq!(
        (stats.starts, stats.requests, stats.attempts, stats.failures),
        (1, 4, 4, 0)
    );
    assert_eq!(
        target.describe(),
        format!("command `python3 '{}'`", script.display())
    );
}

#[test]
fn a_program_that_exits_at_once_is_reported_with_its_stderr() {
    let target = target(settings(
        "echo 'cannot load weights.pt: no such file' >&2; exit 3".into(),
        1,
    ));
    let e = query(&target, vec![0.0; 3]).unwrap_err().to_string();
    assert!(e.contains("failed 2 times in a row"), "{e}");
    assert!(
        e.contains("without answering") || e.contains("stopped reading its input"),
        "{e}"
    );
    assert!(e.contains("exit status: 3"), "{e}");
    assert!(e.contains("cannot load weights.pt: no such file"), "{e}");
    assert_eq!(target.stats().starts, 2, "restarted for the retry");
}

#[test]
fn garbage_answers_are_reported_with_the_line_and_stderr() {
    let dir = scratch("garbage");
    let script = write(
        dir.path(),
        "garbage.py",
        "import sys\nfor line in sys.stdin:\n    sys.stderr.write('loaded the model\\n')\n    print('predictions follow', flush=True)\n",
    );
    let target = target(settings(format!("python3 '{}'", script.display()), 1));
    let e = query(&target, vec![0.0; 3]).unwrap_err().to_string();
    assert!(e.contains("answered a line gauntlet cannot use"), "{e}");
    assert!(e.contains("\"predictions follow\""), "{e}");
    assert!(e.contains("loaded the model"), "{e}");
    assert_eq!(target.stats().attempts, 2);
}

#[test]
fn a_program_that_hangs_times_out() {
    let dir = scratch("hang");
    let script = write(
        dir.path(),
        "hang.py",
        "import sys, time\nfor line in sys.stdin:\n    time.sleep(60)\n",
    );
    let mut s = settings(format!("python3 '{}'", script.display()), 0);
    s.timeout = Duration::from_millis(1500);
    let target = target(s);
    let started = std::time::Instant::now();
    let e = query(&target, vec![0.0; 3]).unwrap_err().to_string();
    assert!(
        e.contains("did not answer within the timeout of 1.5 s"),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_program_that_crashes_once_is_restarted() {
    // Within one call: the retry restarts it.
    let dir = scratch("flaky");
    let script = write(dir.path(), "model.py", LINEAR);
    let marker = dir.path().join("crashed-once");
    let target1 = target(settings(
        format!("python3 '{}' '{}'", script.display(), marker.display()),
        2,
    ));
    let rows = vec![1.0, 2.0, 3.0];
    assert_eq!(query(&target1, rows.clone()).unwrap(), expected(&rows));
    let stats = target1.stats();
    assert_eq!((stats.starts, stats.attempts, stats.failures), (2, 2, 1));

    // Without retries: the first call fails with the program's stderr, the next one works.
    std::fs::remove_file(&marker).unwrap();
    let target2 = target(settings(
        format!("python3 '{}' '{}'", script.display(), marker.display()),
        0,
    ));
    let e = query(&target2, rows.clone()).unwrap_err().to_string();
    assert!(
        e.contains("crashing on purpose before the first answer"),
        "{e}"
    );
    assert!(e.contains("exit status: 5"), "{e}");
    assert_eq!(query(&target2, rows.clone()).unwrap(), expected(&rows));
    assert_eq!(target2.stats().starts, 2);
}
