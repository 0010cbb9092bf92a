//! The JSON Lines runner against small shell programs: one that answers, one that exits at
//! once, one that answers garbage, one that hangs, and one that crashes once.

use std::time::{Duration, Instant};

use gauntlet_transport::{CommandOptions, CommandRunner, Program, RetryPolicy, TransportError};

fn quick(retries: u32) -> RetryPolicy {
    RetryPolicy {
        retries,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(20),
    }
}

fn runner(command: &str, retries: u32, timeout: Duration) -> CommandRunner {
    let mut o = CommandOptions::shell(command);
    o.retry = quick(retries);
    o.timeout = timeout;
    CommandRunner::new(o).unwrap()
}

fn number(line: &str) -> Result<f64, String> {
    line.trim()
        .parse::<f64>()
        .map_err(|_| format!("{line:?} is not a number"))
}

/// A fresh directory for this test's files, removed when the test ends.
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("gauntlet-transport-{name}-"))
        .tempdir()
        .unwrap()
}

#[test]
fn a_program_is_kept_running_between_exchanges() {
    // Answers the length of each line, with a blank line first (skipped).
    let r = runner(
        "while read -r l; do echo; echo ${#l}; done",
        0,
        Duration::from_secs(10),
    );
    assert_eq!(r.exchange("abc", number).unwrap(), 3.0);
    assert_eq!(
        r.exchange_json(&serde_json::json!({"a": 1}), number)
            .unwrap(),
        7.0
    );
    let s = r.stats();
    assert_eq!(
        (s.starts, s.requests, s.attempts, s.failures, s.answered),
        (1, 2, 2, 0, 2)
    );
    assert_eq!(
        r.describe(),
        "command `while read -r l; do echo; echo ${#l}; done`"
    );

    let argv = CommandOptions::argv(vec![
        "sh".into(),
        "-c".into(),
        "while read -r l; do echo 1; done".into(),
    ]);
    let r = CommandRunner::new(argv).unwrap();
    assert_eq!(r.exchange("x", number).unwrap(), 1.0);
    assert_eq!(
        r.program(),
        &Program::Argv(vec![
            "sh".into(),
            "-c".into(),
            "while read -r l; do echo 1; done".into()
        ])
    );
}

#[test]
fn a_program_that_exits_is_restarted_and_reported_with_its_stderr() {
    let r = runner(
        "echo 'cannot load weights.pt' >&2; exit 3",
        1,
        Duration::from_secs(10),
    );
    let e = r.exchange("x", number).unwrap_err();
    assert!(matches!(e, TransportError::Failed(_)));
    let e = e.to_string();
    assert!(
        e.contains(
            "the command `echo 'cannot load weights.pt' >&2; exit 3` failed 2 times in a row"
        ),
        "{e}"
    );
    assert!(
        e.contains("exit status: 3") && e.contains("cannot load weights.pt"),
        "{e}"
    );
    assert_eq!(r.stats().starts, 2, "restarted for the retry");
}

#[test]
fn garbage_is_retried_then_reported_with_the_line() {
    let r = runner(
        "while read -r l; do echo 'loaded' >&2; echo 'predictions follow'; done",
        1,
        Duration::from_secs(10),
    );
    let e = r.exchange("x", number).unwrap_err().to_string();
    assert!(
        e.contains(
            "it answered a line gauntlet cannot use: \"predictions follow\" is not a number"
        ),
        "{e}"
    );
    assert!(
        e.contains("loaded") && e.contains("writes nothing else to stdout"),
        "{e}"
    );
    assert_eq!(r.stats().attempts, 2);
}

#[test]
fn a_program_that_hangs_times_out() {
    let r = runner(
        "while read -r l; do sleep 60; done",
        0,
        Duration::from_millis(300),
    );
    let started = Instant::now();
    let e = r.exchange("x", number).unwrap_err().to_string();
    assert!(
        e.contains("did not answer within the timeout of 0.3 s"),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_program_that_crashes_once_is_restarted() {
    let dir = scratch("flaky");
    let marker = dir.path().join("crashed-once");
    let cmd = format!(
        "if [ ! -e '{m}' ]; then touch '{m}'; echo 'crashing on purpose' >&2; exit 5; fi; while read -r l; do echo 0.5; done",
        m = marker.display()
    );
    let r = runner(&cmd, 2, Duration::from_secs(10));
    assert_eq!(r.exchange("x", number).unwrap(), 0.5);
    let s = r.stats();
    assert_eq!((s.starts, s.attempts, s.failures), (2, 2, 1));
}

#[test]
fn bad_options_are_refused() {
    assert!(matches!(
        CommandRunner::new(CommandOptions::shell("  ")),
        Err(TransportError::Settings(_))
    ));
    assert!(CommandRunner::new(CommandOptions::argv(vec![])).is_err());
    let mut o = CommandOptions::shell("cat");
    o.timeout = Duration::ZERO;
    assert!(CommandRunner::new(o).is_err());
    let missing = CommandRunner::new(CommandOptions::argv(vec![
        "/nonexistent/filter-binary".into()
    ]))
    .unwrap();
    let e = missing.exchange("x", number).unwrap_err().to_string();
    assert!(
        e.contains("cannot start the command `/nonexistent/filter-binary`"),
        "{e}"
    );
}
