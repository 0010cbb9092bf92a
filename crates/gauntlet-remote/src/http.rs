//! A model behind an HTTP endpoint.
//!
//! Each batch becomes one or more JSON requests (see [`RequestTemplate`]) sent with `ureq`
//! (rustls, certificates verified). What a production endpoint needs is built in:
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

use std::time::Duration;

use gauntlet_core::{Error, Result};
use ureq::http::{self, header, HeaderName, HeaderValue, Method, Uri};

use crate::answer::AnswerSpec;
use crate::batching::in_chunks;
use crate::codec::{excerpt, Codec, Shape};
use crate::rate::RateLimiter;
use crate::request::RequestTemplate;
use crate::retry::{failed_times, with_retries, Failure, RetryPolicy};
use crate::secrets::{expand, Redactor};
use crate::transport::{Counters, Transport, TransportStats};

/// Redirects followed within one try.
const MAX_REDIRECTS: usize = 5;
/// Largest answer read, in bytes.
const MAX_ANSWER_BYTES: u64 = 256 << 20;

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
    /// The URL as given (with `${…}` unexpanded): safe to show.
    url_shown: String,
    uri: Uri,
    method: Method,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Header names as given, for [`HttpEndpoint::describe`].
    header_names_shown: Vec<String>,
    codec: Codec,
    timeout: Duration,
    retry: RetryPolicy,
    limiter: Option<RateLimiter>,
    max_in_flight: usize,
    rows_per_request: usize,
    agent: ureq::Agent,
    redactor: Redactor,
    counters: Counters,
}

impl std::fmt::Debug for HttpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpEndpoint")
            .field("target", &self.describe())
            .field("shape", &self.codec.shape)
            .field("answer", &self.codec.answer)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("max_in_flight", &self.max_in_flight)
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
        let mut redactor = Redactor::default();
        let (url, url_secrets) = expand(&settings.url, "the URL", &env)?;
        url_secrets.iter().for_each(|s| redactor.add(s));
        let uri = parse_url(&url, &settings.url)?;
        let method = match settings.method.to_ascii_uppercase().as_str() {
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            other => {
                return Err(Error::Parameter(format!(
                    "the HTTP method '{other}' cannot carry the batch; use POST, PUT or PATCH"
                )))
            }
        };
        let mut headers = Vec::new();
        let mut header_names_shown = Vec::new();
        for (name, template) in &settings.headers {
            let header_name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
                Error::Parameter(format!(
                    "'{name}' is not a valid HTTP header name; use letters, digits and '-' \
                     (e.g. Authorization, X-Api-Key)"
                ))
            })?;
            let what = format!("the header '{name}'");
            let (value, secrets) = expand(template, &what, &env)?;
            secrets.iter().for_each(|s| redactor.add(s));
            if !secrets.is_empty() {
                redactor.add(&value);
            }
            let mut header_value = HeaderValue::from_str(value.trim()).map_err(|_| {
                Error::Parameter(format!(
                    "{what} has a value (after expanding ${{…}}) with a line break or other \
                     characters not allowed in HTTP headers; check the value and the \
                     environment variables it uses"
                ))
            })?;
            header_value.set_sensitive(true);
            header_names_shown.push(name.trim().to_string());
            headers.push((header_name, header_value));
        }
        if !headers.iter().any(|(n, _)| n == header::CONTENT_TYPE) {
            headers.push((
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ));
        }
        if settings.timeout.is_zero() {
            return Err(Error::Parameter(
                "the request timeout must be longer than zero; give e.g. 30 s".into(),
            ));
        }
        let limiter = match settings.max_requests_per_second {
            None => None,
            Some(r) if r.is_finite() && r > 0.0 => Some(RateLimiter::new(r)),
            Some(r) => {
                return Err(Error::Parameter(format!(
                    "the rate limit must be a positive number of requests per second, not {r}"
                )))
            }
        };
        if settings.max_in_flight == 0 || settings.rows_per_request == 0 {
            return Err(Error::Parameter(format!(
                "requests in flight ({}) and rows per request ({}) must both be at least 1",
                settings.max_in_flight, settings.rows_per_request
            )));
        }
        let codec = Codec::new(shape, settings.template, settings.answer)?;
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(settings.timeout))
            .max_redirects(0)
            .http_status_as_error(false)
            .user_agent(format!("gauntlet/{}", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(HttpEndpoint {
            url_shown: settings.url,
            uri,
            method,
            headers,
            header_names_shown,
            codec,
            timeout: settings.timeout,
            retry: settings.retry,
            limiter,
            max_in_flight: settings.max_in_flight,
            rows_per_request: settings.rows_per_request,
            agent: ureq::Agent::new_with_config(config),
            redactor,
            counters: Counters::default(),
        })
    }

    /// Method, URL (as given, `${…}` unexpanded) and header names with redacted values, e.g.
    /// `POST https://api.example.com/v1/predict (headers: Authorization: <redacted>)`.
    pub fn describe(&self) -> String {
        let mut text = format!("{} {}", self.method, self.url_shown);
        if !self.header_names_shown.is_empty() {
            let headers: Vec<String> = self
                .header_names_shown
                .iter()
                .map(|n| format!("{n}: <redacted>"))
                .collect();
            text.push_str(&format!(" (headers: {})", headers.join(", ")));
        }
        self.redactor.redact(&text)
    }

    /// Traffic so far: requests, tries (retries included), failed tries, rows answered.
    pub fn stats(&self) -> TransportStats {
        self.counters.snapshot()
    }

    /// One request for `n` rows (no splitting), with retries.
    pub fn send(&self, rows: &[f32], n: usize) -> Result<Vec<f32>> {
        let body = self.codec.encode(rows, n)?;
        Counters::bump(&self.counters.requests, 1);
        let answer = with_retries(
            &self.retry,
            |_| {
                let answer = self.try_once(&body, n);
                if answer.is_err() {
                    Counters::bump(&self.counters.failures, 1);
                }
                answer
            },
            |cause, attempts, unusable_answer| {
                let advice = if unusable_answer {
                    "The endpoint answers, but not as declared: check the answer pointer, the \
                     answer kind and the number of classes"
                } else {
                    "Check that the endpoint is up and accepts this request; if it is only slow \
                     or busy, allow more retries or a longer timeout"
                };
                Error::Model(format!(
                    "{} {}; the last try: {cause}. {advice}",
                    self.label(),
                    failed_times(attempts)
                ))
            },
        )
        .map_err(|e| self.redactor.redact_error(e))?;
        Counters::bump(&self.counters.rows, n as u64);
        Ok(answer)
    }

    /// Method and URL as given, for messages.
    fn label(&self) -> String {
        format!("the endpoint {} {}", self.method, self.url_shown)
    }

    /// One try: send, follow same-origin redirects, read and decode the answer.
    fn try_once(&self, body: &str, n: usize) -> std::result::Result<Vec<f32>, Failure> {
        if let Some(limiter) = &self.limiter {
            limiter.acquire();
        }
        Counters::bump(&self.counters.attempts, 1);
        let mut uri = self.uri.clone();
        let mut redirects = 0;
        loop {
            let mut request = http::Request::builder()
                .method(self.method.clone())
                .uri(uri.clone());
            for (name, value) in &self.headers {
                request = request.header(name, value);
            }
            let request = request.body(body).map_err(|e| {
                Failure::Fatal(Error::Parameter(format!(
                    "{}: cannot build the request: {e}",
                    self.label()
                )))
            })?;
            let mut response = self.agent.run(request).map_err(|e| self.failure(e))?;
            let status = response.status();
            if status.is_redirection() && status != http::StatusCode::NOT_MODIFIED {
                redirects += 1;
                uri = self.redirect_target(&uri, &response, redirects)?;
                continue;
            }
            let text = response
                .body_mut()
                .with_config()
                .limit(MAX_ANSWER_BYTES)
                .read_to_vec()
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .map_err(|e| match e {
                    ureq::Error::Timeout(_) => self.timeout_failure(),
                    e => Failure::retry(format!("reading the answer failed: {e}")),
                })?;
            let code = status.as_u16();
            let reason = status
                .canonical_reason()
                .map(|r| format!(" {r}"))
                .unwrap_or_default();
            return match code {
                200..=299 => self.codec.decode(&text, n).map_err(|e| {
                    Failure::unusable(format!("HTTP {code}, but the answer cannot be used: {e}"))
                }),
                408 | 429 | 500..=599 => Err(Failure::Retry {
                    cause: format!("HTTP {code}{reason}, answer {}", excerpt(&text, 200)),
                    wait: retry_after(&response),
                    unusable_answer: false,
                }),
                _ => Err(Failure::Fatal(Error::Model(format!(
                    "{} answered HTTP {code}{reason}, a client error that is not retried; check \
                     the URL, method, headers and request template. The answer starts with {}",
                    self.label(),
                    excerpt(&text, 200)
                )))),
            };
        }
    }

    /// Where a redirect leads, if it stays on this scheme, host and port.
    fn redirect_target(
        &self,
        from: &Uri,
        response: &http::Response<ureq::Body>,
        redirects: usize,
    ) -> std::result::Result<Uri, Failure> {
        let code = response.status().as_u16();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Failure::Fatal(Error::Model(format!(
                    "{} answered HTTP {code} (a redirect) without a usable Location header; use \
                     the endpoint's final URL",
                    self.label()
                )))
            })?;
        let to = resolve(from, location).ok_or_else(|| {
            Failure::Fatal(Error::Model(format!(
                "{} answered HTTP {code} with a Location that is not a URL; use the endpoint's \
                 final URL",
                self.label()
            )))
        })?;
        if origin(&to) != origin(from) {
            let (scheme, host, port) = origin(&to);
            return Err(Failure::Fatal(Error::Model(format!(
                "{} redirects (HTTP {code}) to another host or scheme, {scheme}://{host}:{port}; \
                 gauntlet follows redirects only within the same scheme, host and port, so that \
                 headers (which may carry credentials) never go elsewhere. If you trust that \
                 host, use its URL directly",
                self.label()
            ))));
        }
        if redirects > MAX_REDIRECTS {
            return Err(Failure::Fatal(Error::Model(format!(
                "{} redirected more than {MAX_REDIRECTS} times; use the endpoint's final URL",
                self.label()
            ))));
        }
        Ok(to)
    }

    fn timeout_failure(&self) -> Failure {
        Failure::retry(format!(
            "no complete answer within the timeout of {}",
            human(self.timeout)
        ))
    }

    /// Classifies a client error: network trouble is retried, the rest is not.
    fn failure(&self, e: ureq::Error) -> Failure {
        match e {
            ureq::Error::Timeout(_) => self.timeout_failure(),
            ureq::Error::Io(io) => Failure::retry(format!("connection error: {io}")),
            ureq::Error::ConnectionFailed => Failure::retry("the connection failed"),
            ureq::Error::HostNotFound => Failure::retry("the host name does not resolve"),
            ureq::Error::Protocol(p) => {
                Failure::retry(format!("the answer is not valid HTTP: {p}"))
            }
            e @ (ureq::Error::Tls(_) | ureq::Error::Rustls(_)) => {
                Failure::Fatal(Error::Model(format!(
                "{}: TLS failed ({e}); gauntlet verifies certificates, so the server needs one \
                 that is valid for its host name",
                self.label()
            )))
            }
            e => Failure::Fatal(Error::Model(format!(
                "{}: the request could not be made: {e}",
                self.label()
            ))),
        }
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

/// Parses and checks an endpoint URL; `shown` is the URL as given (secrets unexpanded).
fn parse_url(url: &str, shown: &str) -> Result<Uri> {
    let uri: Uri = url.trim().parse().map_err(|e| {
        Error::Parameter(format!(
            "'{shown}' is not a URL ({e}); give e.g. https://host/predict"
        ))
    })?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => {
            return Err(Error::Parameter(format!(
                "'{shown}' is not an http:// or https:// URL; give e.g. https://host/predict"
            )))
        }
    }
    let authority = uri.authority().ok_or_else(|| {
        Error::Parameter(format!(
            "'{shown}' has no host; give e.g. https://host/predict"
        ))
    })?;
    if authority.as_str().contains('@') {
        return Err(Error::Parameter(
            "the URL carries a user name or password; put credentials in a header read from the \
             environment instead (e.g. Authorization: Bearer ${API_TOKEN})"
                .into(),
        ));
    }
    Ok(uri)
}

/// Scheme, host and port (explicit or the scheme's default), lower-cased.
fn origin(uri: &Uri) -> (String, String, u16) {
    let scheme = uri.scheme_str().unwrap_or("").to_ascii_lowercase();
    let host = uri.host().unwrap_or("").to_ascii_lowercase();
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    (scheme, host, port)
}

/// The absolute URL a `Location` header points to, relative to `base`.
fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    let location = location.trim();
    if let Ok(uri) = location.parse::<Uri>() {
        if uri.scheme().is_some() && uri.authority().is_some() {
            return Some(uri);
        }
    }
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    let text = if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else if location.starts_with('?') {
        format!("{scheme}://{authority}{}{location}", base.path())
    } else {
        let path = base.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        format!("{scheme}://{authority}{dir}{location}")
    };
    text.parse().ok()
}

/// A `Retry-After` given in seconds.
fn retry_after(response: &http::Response<ureq::Body>) -> Option<Duration> {
    response
        .headers()
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// `250 ms`, `1.5 s`.
fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_locations_resolve_against_the_current_url() {
        let base: Uri = "http://h:8080/api/v1/predict?x=1".parse().unwrap();
        let r = |l: &str| resolve(&base, l).unwrap().to_string();
        assert_eq!(r("/v2/predict"), "http://h:8080/v2/predict");
        assert_eq!(r("predict2"), "http://h:8080/api/v1/predict2");
        assert_eq!(r("https://other/x"), "https://other/x");
        assert_eq!(r("//other:1/x"), "http://other:1/x");
        assert_eq!(
            origin(&"HTTP://H/x".parse().unwrap()),
            ("http".into(), "h".into(), 80)
        );
        assert_eq!(
            origin(&"https://h:443/".parse().unwrap()),
            origin(&"https://h/".parse().unwrap())
        );
    }

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
        let e = HttpEndpoint::with_env(bad, shape.clone(), env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("NOPE is not set") && e.contains("'X-Key'"),
            "{e}"
        );
        let mut bad = s.clone();
        bad.url = "ftp://x/y".into();
        assert!(HttpEndpoint::with_env(bad, shape.clone(), env).is_err());
        let mut bad = s.clone();
        bad.url = "https://user:pw@x/y".into();
        assert!(HttpEndpoint::with_env(bad, shape.clone(), env)
            .unwrap_err()
            .to_string()
            .contains("user name or password"));
        let mut bad = s.clone();
        bad.method = "GET".into();
        assert!(HttpEndpoint::with_env(bad, shape.clone(), env).is_err());
        let mut bad = s;
        bad.headers.push(("Bad Name".into(), "x".into()));
        assert!(HttpEndpoint::with_env(bad, shape, env).is_err());
    }
}
