//! Any text classifier as a target through an external command speaking JSON
//! Lines over stdin/stdout.
//!
//! Protocol: for each text gauntlet writes one line `{"id": N, "text": "..."}`
//! and waits for one answer line, which is one of
//! `{"score": 0.93}` (spam probability in [0, 1]), `{"label": "spam"}` /
//! `{"label": "ham"}`, `{"spam": true}`, a bare number, or a bare `"spam"` /
//! `"ham"` string. An answer may echo `"id"`; if it does it must match.
//! The process is started once and kept; if it crashes, hangs past the timeout
//! or answers garbage, that query fails with an error naming the command, and
//! the next query starts a fresh process.
//!
//! An HTTP endpoint is the other target, [`super::HttpFilter`], with the same
//! answer rules (`score_of`); other transports would be further
//! [`TextClassifier`] implementations beside these; nothing else in the audit
//! needs to change.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::classifier::TextClassifier;
use crate::error::{Result, TextError};

/// Settings for an external filter.
#[derive(Debug, Clone)]
pub struct ExternalOptions {
    /// Longest wait for one answer before the process is killed.
    pub timeout: Duration,
}

impl Default for ExternalOptions {
    fn default() -> Self {
        ExternalOptions { timeout: Duration::from_secs(10) }
    }
}

struct Running {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    next_id: u64,
}

/// A filter run as a child process (see the module docs for the protocol).
pub struct ExternalCommand {
    argv: Vec<String>,
    opts: ExternalOptions,
    running: RefCell<Option<Running>>,
}

impl ExternalCommand {
    /// `argv[0]` is the program, the rest its arguments. Nothing is started yet.
    pub fn new(argv: Vec<String>, opts: ExternalOptions) -> Result<Self> {
        if argv.is_empty() || argv[0].trim().is_empty() {
            return Err(TextError::invalid("filter command", "empty command; give a program, e.g. `python3 my_filter.py`"));
        }
        if opts.timeout.is_zero() {
            return Err(TextError::invalid("filter timeout", "must be positive"));
        }
        Ok(ExternalCommand { argv, opts, running: RefCell::new(None) })
    }

    fn command_line(&self) -> String {
        self.argv.join(" ")
    }

    fn failed(&self, detail: String) -> TextError {
        TextError::CommandFailed { command: self.command_line(), detail }
    }

    fn start(&self) -> Result<Running> {
        let mut child = Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| TextError::CommandSpawn { command: self.command_line(), source })?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        // Reader threads: stdout lines to a channel (so reads can time out),
        // stderr kept (tail only) for error messages.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => {
                        // Not UTF-8: report as garbage rather than hanging.
                        if tx.send("\u{fffd}<non-UTF-8 output>".into()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
                if s.len() > 4000 {
                    let cut = s.len() - 2000;
                    let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(s.len());
                    s.drain(..cut);
                }
            }
        });
        Ok(Running { child, stdin, lines, stderr, next_id: 0 })
    }

    /// Kill the process and describe how it ended.
    fn reap(&self, mut r: Running, what: &str) -> TextError {
        let _ = r.child.kill();
        let status = r.child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
        std::thread::sleep(Duration::from_millis(20));
        let tail = r.stderr.lock().map(|s| s.trim().to_string()).unwrap_or_default();
        let tail: String = tail.chars().rev().take(500).collect::<Vec<_>>().into_iter().rev().collect();
        self.failed(format!("{what} ({status}); stderr: {}", if tail.is_empty() { "<empty>" } else { &tail }))
    }

    /// One round trip. `Err(Ok(reason))`: the process is dead or hung;
    /// `Err(Err(e))`: it answered garbage but is still in step.
    fn ask(&self, r: &mut Running, text: &str) -> std::result::Result<f64, std::result::Result<String, TextError>> {
        let id = r.next_id;
        r.next_id += 1;
        let line = serde_json::json!({ "id": id, "text": text }).to_string();
        if writeln!(r.stdin, "{line}").and_then(|_| r.stdin.flush()).is_err() {
            return Err(Ok("it closed its input".into()));
        }
        match r.lines.recv_timeout(self.opts.timeout) {
            Ok(answer) => parse_answer(&answer, id).ok_or_else(|| {
                let shown: String = answer.chars().take(200).collect();
                Err(TextError::BadAnswer { command: self.command_line(), answer: shown })
            }),
            Err(RecvTimeoutError::Timeout) => Err(Ok(format!("no answer within {:?}; it was stopped", self.opts.timeout))),
            Err(RecvTimeoutError::Disconnected) => Err(Ok("it exited without answering".into())),
        }
    }
}

/// Parse one answer line; `None` for garbage.
fn parse_answer(line: &str, id: u64) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    if let Some(echo) = v.as_object().and_then(|o| o.get("id")) {
        if echo.as_u64() != Some(id) {
            return None;
        }
    }
    score_of(&v)
}

/// The spam score an answer value stands for, shared by every text target: a number in
/// [0, 1], `true`/`false`, a label `"spam"`/`"ham"` (also `"1"`/`"0"`, `"true"`/`"false"`,
/// any case), or an object with one of `score`, `label` or `spam` holding such a value.
/// `None` for anything else (out of range, NaN, another label, another shape).
pub(crate) fn score_of(v: &serde_json::Value) -> Option<f64> {
    let from_label = |s: &str| match s.trim().to_ascii_lowercase().as_str() {
        "spam" | "1" | "true" => Some(1.0),
        "ham" | "0" | "false" => Some(0.0),
        _ => None,
    };
    let from_bool = |b: bool| if b { 1.0 } else { 0.0 };
    let score = match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => from_label(s),
        serde_json::Value::Bool(b) => Some(from_bool(*b)),
        serde_json::Value::Object(o) => {
            if let Some(s) = o.get("score") {
                s.as_f64()
            } else if let Some(l) = o.get("label") {
                l.as_str().and_then(from_label)
            } else if let Some(b) = o.get("spam") {
                b.as_bool().map(from_bool)
            } else {
                None
            }
        }
        _ => None,
    }?;
    (score.is_finite() && (0.0..=1.0).contains(&score)).then_some(score)
}

impl TextClassifier for ExternalCommand {
    fn name(&self) -> String {
        format!("external:{}", self.command_line())
    }

    fn scores(&self, texts: &[String]) -> Result<Vec<f64>> {
        let mut slot = self.running.borrow_mut();
        let mut out = Vec::with_capacity(texts.len());
        for t in texts {
            if slot.is_none() {
                *slot = Some(self.start()?);
            }
            let r = slot.as_mut().expect("started above");
            match self.ask(r, t) {
                Ok(s) => out.push(s),
                Err(Ok(reason)) => {
                    let r = slot.take().expect("running");
                    return Err(self.reap(r, &reason));
                }
                Err(Err(garbage)) => return Err(garbage),
            }
        }
        Ok(out)
    }
}

impl Drop for ExternalCommand {
    fn drop(&mut self) {
        if let Some(mut r) = self.running.get_mut().take() {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_answer;

    #[test]
    fn answers_are_parsed_or_rejected() {
        assert_eq!(parse_answer(r#"{"score": 0.25}"#, 0), Some(0.25));
        assert_eq!(parse_answer(r#"{"id": 3, "label": "SPAM"}"#, 3), Some(1.0));
        assert_eq!(parse_answer(r#"{"spam": false}"#, 0), Some(0.0));
        assert_eq!(parse_answer("0.7", 0), Some(0.7));
        assert_eq!(parse_answer(r#""ham""#, 0), Some(0.0));
        assert_eq!(parse_answer(r#"{"id": 2, "score": 0.1}"#, 3), None);
        assert_eq!(parse_answer(r#"{"score": 1.5}"#, 0), None);
        assert_eq!(parse_answer("hello", 0), None);
        assert_eq!(parse_answer(r#"{"score": "NaN"}"#, 0), None);
    }
}
