//! gauntlet-transport: moving request bodies to a target that lives somewhere else, and its
//! answers back, reliably.
//!
//! This crate knows nothing about images, texts, tensors or classes. It moves bytes:
//!
//! * [`HttpClient`] sends a request body to an HTTP endpoint and returns the caller's decoding
//!   of the answer, with retries and exponential backoff (connection errors, timeouts, HTTP
//!   408/429/5xx with `Retry-After`, and answers the caller's `decode` refuses), a client-side
//!   rate limit, a bound on requests in flight, `${ENV}` secrets in headers and the URL that
//!   never appear in [`HttpClient::describe`] or an error, redirects followed only on the same
//!   host, and TLS verification.
//! * [`CommandRunner`] keeps a program running and exchanges JSON Lines with it over
//!   stdin/stdout, restarting it when it dies, hangs or answers garbage, and quoting the last
//!   lines of its stderr in errors.
//!
//! Both take a `decode: impl Fn(&str) -> Result<T, String>` that validates an answer; an
//! answer it refuses counts as a failed try (a flaky target may answer well next time).
//! Errors are [`TransportError`]s with messages that say what happened and what to check.
//!
//! What goes into the bodies is the business of the crates above:
//!
//! * `gauntlet-remote` encodes batches of images (tensors) and decodes class scores, and turns
//!   either transport into a black-box `Classifier` for gauntlet's image attacks;
//! * `gauntlet-text` encodes texts and decodes spam scores, for spam-filter audits.
//!
//! In an audit (data + model + threat model → attack → outcomes → evaluation → report) this
//! crate sits under the *model*: when the model under audit is a remote black box, every query
//! an attack makes ends up as one exchange here. Like `gauntlet-text`, it does not depend on
//! burn or gauntlet-core and builds in seconds.
//!
//! A secret in a header is read from the environment when the client is built, and shown
//! nowhere (runs offline: nothing is sent until [`HttpClient::exchange`]):
//!
//! ```
//! use gauntlet_transport::{HttpClient, HttpOptions};
//!
//! let mut options = HttpOptions::new("https://filter.example.com/v1/score");
//! options.headers.push(("Authorization".into(), "Bearer ${API_TOKEN}".into()));
//! // `with_env` reads variables from a function; `HttpClient::new` reads the process's.
//! let env = |name: &str| match name {
//!     "API_TOKEN" => Ok("tok-5ecret".to_string()),
//!     _ => Err(std::env::VarError::NotPresent),
//! };
//! let client = HttpClient::with_env(options.clone(), env)?;
//! assert_eq!(
//!     client.describe(),
//!     "POST https://filter.example.com/v1/score (headers: Authorization: <redacted>)"
//! );
//! assert!(!format!("{client:?}").contains("tok-5ecret"));
//!
//! // A variable that is not set is a settings error that names it.
//! let unset = |_: &str| Err(std::env::VarError::NotPresent);
//! let error = HttpClient::with_env(options, unset).unwrap_err();
//! assert!(error.message().contains("API_TOKEN is not set"), "{error}");
//! # Ok::<(), gauntlet_transport::TransportError>(())
//! ```
//!
//! Exchanging a body for a decoded answer:
//!
//! ```no_run
//! use gauntlet_transport::{HttpClient, HttpOptions};
//!
//! let mut options = HttpOptions::new("https://filter.example.com/v1/score");
//! options.headers.push(("Authorization".into(), "Bearer ${API_TOKEN}".into()));
//! let client = HttpClient::new(options)?;
//! let score: f64 = client.exchange(r#"{"text": "free money"}"#, |answer| {
//!     let v: serde_json::Value = serde_json::from_str(answer).map_err(|e| e.to_string())?;
//!     v["score"].as_f64().ok_or_else(|| "no score".to_string())
//! })?;
//! println!("{} says {score}", client.describe());
//! # Ok::<(), gauntlet_transport::TransportError>(())
//! ```

pub mod command;
pub mod error;
pub mod http;
pub mod parallel;
mod rate;
pub mod retry;
mod secrets;
pub mod stats;

pub use command::{CommandOptions, CommandRunner, Program};
pub use error::{Result, TransportError};
pub use http::{HttpClient, HttpOptions};
pub use retry::RetryPolicy;
pub use stats::ExchangeStats;

use std::time::Duration;

/// The first `limit` characters of `text`, quoted, for error messages.
pub fn excerpt(text: &str, limit: usize) -> String {
    let mut s: String = text.chars().take(limit).collect();
    if text.chars().count() > limit {
        s.push('…');
    }
    format!("{s:?}")
}

/// `250 ms`, `1.5 s`.
pub(crate) fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}
