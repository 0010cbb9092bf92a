//! A model behind an HTTP endpoint.
//!
//! Each batch becomes one or more JSON requests (see [`RequestTemplate`]); the bytes travel
//! through gauntlet-transport's [`HttpClient`], which brings what a production endpoint needs:
//!
//! * **Secrets from the environment.** A header value such as `Bearer ${API_TOKEN}` is
//!   expanded once, when the endpoint is built; a missing variable is an error naming it. The
//!   expanded value never appears in `Debug` output, in [`HttpEndpoint::describe`] or in an
//!   error message (errors are scrubbed of every expanded value, even if a server echoes it).
//! * **Retries** with exponential backoff on connection errors, timeouts, HTTP 408/429/5xx and
//!   answers that cannot be read (a flaky server); other 4xx are returned at once with the
//!   start of the server's explanation.
//! * **Redirects** only within the same scheme, host and port (at most 5, same method and
//!   body), so credentials never travel to another host; a redirect elsewhere is an error.
//! * **Throughput control**: batches are split into requests of `rows_per_request` rows, up to
//!   `max_in_flight` of them in flight at once, and optionally no more than
//!   `max_requests_per_second` (retries included). Answers are reassembled in order.
//!
//! This module only encodes batches ([`Codec::encode`]) and decodes answers
//! ([`Codec::decode`]); transport errors become [`Error`]s with the same messages.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gauntlet_core::{Error, Result};
use gauntlet_transport::{HttpClient, HttpOptions};

use crate::answer::AnswerSpec;
use crate::batching::in_chunks;
use crate::codec::{Codec, Shape};
use crate::request::RequestTemplate;
use crate::transport::{core_error, send_encoded, Transport, TransportStats};
use gauntlet_transport::RetryPolicy;

/// What the give-up message advises when the endpoint keeps answering something unusable.
const UNUSABLE_ADVICE: &str = "The endpoint answers, but not as declared: check the answer \
     pointer, the answer kind and the number of classes";

/// How to reach an HTTP endpoint. [`HttpSettings::new`] gives the defaults; change fields,
/// then build an [`HttpEndpoint`], which checks them all.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// `http://` or `https://` URL; may contain `${ENV_VAR}` (e.g. for a key in the query).
    pub url: String,
    /// `POST` (default), `PUT` or `PATCH`: the batch travels in the body.
    pub method: String,
    /// Extra headers as (name, value template); values may contain `${ENV_VAR}`, expanded
    /// from the environment when the endpoint is built. `Content-Type: application/json` is
    /// sent unless given here.
    pub headers: Vec<(String, String)>,
    /// The request body's envelope.
    pub template: RequestTemplate,
    /// Where the answer is in the response and what it holds.
    pub answer: AnswerSpec,
    /// Longest time one try may take, connecting and reading the whole answer included.
    pub timeout: Duration,
    /// Retries and backoff.
    pub retry: RetryPolicy,
    /// Client-side rate limit over all requests of this endpoint, retries included.
    pub max_requests_per_second: Option<f64>,
    /// Requests in flight at once.
    pub max_in_flight: usize,
    /// Rows (inputs) per request; a batch is split into requests of at most this many.
    pub rows_per_request: usize,
}

impl HttpSettings {
    /// Defaults: `POST`, no extra headers, body `{"inputs": …}`, scores at `/scores`, 30 s
    /// timeout, 3 retries from 200 ms, no rate limit, 4 requests in flight of 64 rows each.
    pub fn new(url: impl Into<String>) -> Self {
        HttpSettings {
            url: url.into(),
            method: "POST".into(),
            headers: Vec::new(),
            template: RequestTemplate::default(),
            answer: AnswerSpec::default(),
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            max_requests_per_second: None,
            max_in_flight: 4,
            rows_per_request: 64,
        }
    }
}

/// A remote model behind HTTP. Thread-safe; requests of one batch run concurrently.
pub struct HttpEndpoint {
    client: HttpClient,
    codec: Codec,
    max_in_flight: usize,
    rows_per_request: usize,
    rows: AtomicU64,
}

impl std::fmt::Debug for HttpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpEndpoint")
            .field("client", &self.client)
            .field("shape", &self.codec.shape)
            .field("answer", &self.codec.answer)
            .field("rows_per_request", &self.rows_per_request)
            .finish_non_exhaustive()
    }
}

impl HttpEndpoint {
    /// Checks the settings, expands `${ENV_VAR}` in the URL and header values, and prepares
    /// the client. Nothing is sent (see [`crate::RemoteClassifier::probe`]).
    pub fn new(settings: HttpSettings, shape: Shape) -> Result<Self> {
        Self::with_env(settings, shape, |name| std::env::var(name))
    }

    /// [`HttpEndpoint::new`] with another source of variables than the process environment.
    pub fn with_env(
        settings: HttpSettings,
        shape: Shape,
        env: impl Fn(&str) -> std::result::Result<String, std::env::VarError>,
    ) -> Result<Self> {
        if settings.max_in_flight == 0 || settings.rows_per_request == 0 {
            return Err(Error::Parameter(format!(
                "requests in flight ({}) and rows per request ({}) must both be at least 1",
                settings.max_in_flight, settings.rows_per_request
            )));
        }
        let options = HttpOptions {
            url: settings.url,
            method: settings.method,
            headers: settings.headers,
            timeout: settings.timeout,
            retry: settings.retry,
            max_requests_per_second: settings.max_requests_per_second,
            max_in_flight: settings.max_in_flight,
            unusable_advice: UNUSABLE_ADVICE.into(),
        };
        let client = HttpClient::with_env(options, env).map_err(core_error)?;
        let codec = Codec::new(shape, settings.template, settings.answer)?;
        Ok(HttpEndpoint {
            client,
            codec,
            max_in_flight: settings.max_in_flight,
            rows_per_request: settings.rows_per_request,
            rows: AtomicU64::new(0),
        })
    }

    /// Method, URL (as given, `${…}` unexpanded) and header names with redacted values, e.g.
    /// `POST https://api.example.com/v1/predict (headers: Authorization: <redacted>)`.
    pub fn describe(&self) -> String {
        self.client.describe()
    }

    /// Traffic so far: requests, tries (retries included), failed tries, rows answered.
    pub fn stats(&self) -> TransportStats {
        TransportStats::from_exchanges(self.client.stats(), self.rows.load(Ordering::Relaxed))
    }

    /// One request for `n` rows (no splitting), with retries.
    pub fn send(&self, rows: &[f32], n: usize) -> Result<Vec<f32>> {
        send_encoded(&self.codec, &self.rows, rows, n, |body, decode| {
            self.client.exchange(body, decode)
        })
    }
}

impl Transport for HttpEndpoint {
    fn codec(&self) -> &Codec {
        &self.codec
    }

    fn call(&self, rows: &[f32], n: usize) -> Result<Vec<f32>> {
        let shape = &self.codec.shape;
        in_chunks(
            rows,
            n,
            shape.features(),
            shape.num_classes,
            self.rows_per_request,
            self.max_in_flight,
            |part, m| self.send(part, m),
        )
    }

    fn describe(&self) -> String {
        HttpEndpoint::describe(self)
    }

    fn stats(&self) -> TransportStats {
        HttpEndpoint::stats(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_without_showing_secrets() {
        let shape = Shape::new(vec![2], 2).unwrap();
        let env = |name: &str| match name {
            "TOKEN" => Ok("tok-123456".to_string()),
            _ => Err(std::env::VarError::NotPresent),
        };
        let mut s = HttpSettings::new("http://localhost:9/predict");
        s.headers
            .push(("Authorization".into(), "Bearer ${TOKEN}".into()));
        let endpoint = HttpEndpoint::with_env(s.clone(), shape.clone(), env).unwrap();
        assert_eq!(
            endpoint.describe(),
            "POST http://localhost:9/predict (headers: Authorization: <redacted>)"
        );
        assert!(!format!("{endpoint:?}").contains("tok-123456"));
        let mut bad = s.clone();
        bad.headers.push(("X-Key".into(), "${NOPE}".into()));
        let e = HttpEndpoint::with_env(bad, shape.clone(), env).unwrap_err();
        assert!(matches!(e, Error::Parameter(_)), "{e}");
        let e = e.to_string();
        assert!(
            e.contains("NOPE is not set") && e.contains("'X-Key'"),
            "{e}"
        );
        let mut bad = s.clone();
        bad.url = "ftp://x/y".into();
        assert!(HttpEndpoint::with_env(bad, shape.clone(), env).is_err());
        let mut bad = s.clone();
        bad.rows_per_request = 0;
        assert!(HttpEndpoint::with_env(bad, shape.clone(), env)
            .unwrap_err()
            .to_string()
            .contains("rows per request (0)"));
        let mut bad = s;
        bad.method = "GET".into();
        assert!(HttpEndpoint::with_env(bad, shape, env).is_err());
    }
}
