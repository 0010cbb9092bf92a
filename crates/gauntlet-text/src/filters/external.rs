//! Any text classifier as a target through an external command speaking JSON
//! Lines over stdin/stdout.
//!
//! Protocol: for each text gauntlet writes one line `{"id": N, "text": "..."}`
//! and waits for one answer line, which is one of
//! `{"score": 0.93}` (spam probability in [0, 1]), `{"label": "spam"}` /
//! `{"label": "ham"}`, `{"spam": true}`, a bare number, or a bare `"spam"` /
//! `"ham"` string. An answer may echo `"id"`; if it does it must match.
//!
//! The process itself is gauntlet-transport's [`CommandRunner`] (shared with
//! the image black-box targets): started once and kept; if it crashes, hangs
//! past the timeout or answers garbage, it is stopped and the query retried on
//! a fresh process; after the last retry that message fails with an error
//! naming the command, how it ended and the tail of its stderr, and the next
//! message starts afresh.
//!
//! An HTTP endpoint is the other target, [`super::HttpFilter`], with the same
//! answer rules (`score_of`); other transports would be further
//! [`Classifier`] implementations beside these; nothing else in the audit
//! needs to change.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gauntlet_transport::{CommandOptions, CommandRunner, RetryPolicy};

use crate::classifier::Classifier;
use crate::error::{Error, Result};

/// Settings for an external filter.
#[derive(Debug, Clone)]
pub struct ExternalOptions {
    /// Longest wait for one answer before the process is stopped.
    pub timeout: Duration,
    /// Retries of a query (each on a restarted process) before the message fails.
    pub retry: RetryPolicy,
}

impl Default for ExternalOptions {
    /// 10 s per answer; one retry on a fresh process after 100 ms. A filter that fails a
    /// message is usually deterministic about it, and an audit sends it thousands.
    fn default() -> Self {
        let retry = RetryPolicy {
            retries: 1,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(100),
        };
        ExternalOptions {
            timeout: Duration::from_secs(10),
            retry,
        }
    }
}

/// What the give-up message advises when the filter kept answering unusable lines.
const ANSWER_ADVICE: &str = "The filter answers, but not with a spam score: answer each request line with one \
     JSON line such as {\"score\": 0.93}, {\"label\": \"spam\"} or {\"spam\": true}, and write logs to stderr";

/// A filter run as a child process (see the module docs for the protocol).
pub struct ExternalCommand {
    argv: Vec<String>,
    runner: CommandRunner,
    next_id: AtomicU64,
}

impl ExternalCommand {
    /// `argv[0]` is the program, the rest its arguments. Nothing is started yet.
    pub fn new(argv: Vec<String>, opts: ExternalOptions) -> Result<Self> {
        if argv.is_empty() || argv[0].trim().is_empty() {
            return Err(Error::invalid(
                "argv",
                "empty command; give a program, e.g. `python3 my_filter.py`",
            ));
        }
        if opts.timeout.is_zero() {
            return Err(Error::invalid("timeout", "must be positive"));
        }
        let mut options = CommandOptions::argv(argv.clone());
        options.timeout = opts.timeout;
        options.retry = opts.retry;
        options.unusable_advice = ANSWER_ADVICE.into();
        Ok(ExternalCommand {
            argv,
            runner: CommandRunner::new(options)?,
            next_id: AtomicU64::new(0),
        })
    }

    fn score(&self, text: &str) -> Result<f64> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let line = serde_json::json!({ "id": id, "text": text });
        let decode = |answer: &str| {
            parse_answer(answer, id).ok_or_else(|| {
                let shown: String = answer.chars().take(200).collect();
                format!(
                    "{shown:?} is not a spam score in [0, 1] or a spam/ham label for request {id}"
                )
            })
        };
        Ok(self.runner.exchange_json(&line, decode)?)
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

impl Classifier for ExternalCommand {
    fn name(&self) -> String {
        format!("external:{}", self.argv.join(" "))
    }

    fn scores(&self, texts: &[String]) -> Result<Vec<f64>> {
        texts.iter().map(|t| self.score(t)).collect()
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
