//! An HTTP client that exchanges request bodies for validated answers.
//!
//! Requests are sent with `ureq` (rustls, certificates verified). What a production endpoint
//! needs is built in:
//!
//! * **Secrets from the environment.** A header value such as `Bearer ${API_TOKEN}` (or the
//!   URL) is expanded once, when the client is built; a missing variable is an error naming
//!   it. The expanded value never appears in `Debug` output, in [`HttpClient::describe`] or in
//!   an error message (errors are scrubbed of every expanded value, even if a server echoes
//!   it).
//! * **Retries** with exponential backoff on connection errors, timeouts, HTTP 408/429/5xx
//!   (honouring `Retry-After`) and answers the caller's `decode` rejects (a flaky server);
//!   other 4xx are returned at once with the start of the server's explanation.
//! * **Redirects** only within the same scheme, host and port (at most 5, same method and
//!   body), so credentials never travel to another host; a redirect elsewhere is an error.
//! * **Throughput control**: at most `max_in_flight` requests at once over all threads, and
//!   optionally no more than `max_requests_per_second` (retries included).

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use ureq::http::{self, header, HeaderName, HeaderValue, Method, Uri};

use crate::error::{Result, TransportError};
use crate::rate::RateLimiter;
use crate::retry::{failed_times, with_retries, Failure, RetryPolicy};
use crate::secrets::{expand, Redactor};
use crate::stats::{Counters, ExchangeStats};
use crate::{excerpt, human};

/// Redirects followed within one try.
const MAX_REDIRECTS: usize = 5;
/// Largest answer read, in bytes.
const MAX_ANSWER_BYTES: u64 = 256 << 20;

/// What the give-up message advises when the endpoint answered, but `decode` refused it.
const UNUSABLE_ADVICE: &str =
    "The endpoint answers, but not as declared: check the answer pointer and the answer format";

/// How to reach an HTTP endpoint. [`HttpOptions::new`] gives the defaults; change fields, then
/// build an [`HttpClient`], which checks them all.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// `http://` or `https://` URL; may contain `${ENV_VAR}` (e.g. for a key in the query).
    pub url: String,
    /// `POST` (default), `PUT` or `PATCH`: the request travels in the body.
    pub method: String,
    /// Extra headers as (name, value template); values may contain `${ENV_VAR}`, expanded
    /// from the environment when the client is built. `Content-Type: application/json` is
    /// sent unless given here.
    pub headers: Vec<(String, String)>,
    /// Longest time one try may take, connecting and reading the whole answer included.
    pub timeout: Duration,
    /// Retries and backoff.
    pub retry: RetryPolicy,
    /// Client-side rate limit over all requests of this client, retries included.
    pub max_requests_per_second: Option<f64>,
    /// Requests in flight at once, over all threads using this client.
    pub max_in_flight: usize,
    /// The advice that ends the error when the endpoint kept answering something `decode`
    /// refused (e.g. "check the answer pointer, the answer kind and the number of classes").
    pub unusable_advice: String,
}

impl HttpOptions {
    /// Defaults: `POST`, no extra headers, 30 s timeout, 3 retries from 200 ms, no rate limit,
    /// 4 requests in flight.
    pub fn new(url: impl Into<String>) -> Self {
        HttpOptions {
            url: url.into(),
            method: "POST".into(),
            headers: Vec::new(),
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            max_requests_per_second: None,
            max_in_flight: 4,
            unusable_advice: UNUSABLE_ADVICE.into(),
        }
    }
}

/// A counting semaphore bounding the requests in flight.
#[derive(Debug)]
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    fn acquire(&self) -> SlotGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        SlotGuard(self)
    }
}

struct SlotGuard<'a>(&'a Slots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

/// A client for one HTTP endpoint. Thread-safe: share it between threads to send requests
/// concurrently (up to `max_in_flight`).
pub struct HttpClient {
    /// The URL as given (with `${…}` unexpanded): safe to show.
    url_shown: String,
    uri: Uri,
    method: Method,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Header names as given, for [`HttpClient::describe`].
    header_names_shown: Vec<String>,
    timeout: Duration,
    retry: RetryPolicy,
    limiter: Option<RateLimiter>,
    slots: Slots,
    max_in_flight: usize,
    unusable_advice: String,
    agent: ureq::Agent,
    redactor: Redactor,
    counters: Counters,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("target", &self.describe())
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Checks the options, expands `${ENV_VAR}` in the URL and header values, and prepares
    /// the client. Nothing is sent.
    pub fn new(options: HttpOptions) -> Result<Self> {
        Self::with_env(options, |name| std::env::var(name))
    }

    /// [`HttpClient::new`] with another source of variables than the process environment.
    pub fn with_env(
        options: HttpOptions,
        env: impl Fn(&str) -> std::result::Result<String, std::env::VarError>,
    ) -> Result<Self> {
        let mut redactor = Redactor::default();
        let (url, url_secrets) = expand(&options.url, "the URL", &env)?;
        url_secrets.iter().for_each(|s| redactor.add(s));
        let uri = parse_url(&url, &options.url).map_err(|e| redactor.redact_error(e))?;
        let method = match options.method.to_ascii_uppercase().as_str() {
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            other => {
                return Err(TransportError::Settings(format!(
                    "the HTTP method '{other}' cannot carry the request; use POST, PUT or PATCH"
                )))
            }
        };
        let mut headers = Vec::new();
        let mut header_names_shown = Vec::new();
        for (name, template) in &options.headers {
            let header_name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
                TransportError::Settings(format!(
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
                TransportError::Settings(format!(
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
        if options.timeout.is_zero() {
            return Err(TransportError::Settings(
                "the request timeout must be longer than zero; give e.g. 30 s".into(),
            ));
        }
        let limiter = match options.max_requests_per_second {
            None => None,
            Some(r) if r.is_finite() && r > 0.0 => Some(RateLimiter::new(r)),
            Some(r) => {
                return Err(TransportError::Settings(format!(
                    "the rate limit must be a positive number of requests per second, not {r}"
                )))
            }
        };
        if options.max_in_flight == 0 {
            return Err(TransportError::Settings(
                "requests in flight must be at least 1".into(),
            ));
        }
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(options.timeout))
            .max_redirects(0)
            .http_status_as_error(false)
            .user_agent(format!("gauntlet/{}", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(HttpClient {
            url_shown: options.url,
            uri,
            method,
            headers,
            header_names_shown,
            timeout: options.timeout,
            retry: options.retry,
            limiter,
            slots: Slots {
                free: Mutex::new(options.max_in_flight),
                freed: Condvar::new(),
            },
            max_in_flight: options.max_in_flight,
            unusable_advice: options.unusable_advice,
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

    /// Traffic so far: requests, tries (retries included), failed tries, answers.
    pub fn stats(&self) -> ExchangeStats {
        self.counters.snapshot()
    }

    /// Sends `body` and returns `decode(answer)` for a 2xx answer, with retries. An answer
    /// `decode` refuses (its `Err` says why) is retried like a 5xx: a flaky target may answer
    /// well next time. The error after the last try names the endpoint, the number of tries
    /// and the last cause; it never contains a secret.
    pub fn exchange<T>(
        &self,
        body: &str,
        decode: impl Fn(&str) -> std::result::Result<T, String>,
    ) -> Result<T> {
        Counters::bump(&self.counters.requests);
        let answer = with_retries(
            &self.retry,
            |_| {
                let answer = self.try_once(body, &decode);
                if answer.is_err() {
                    Counters::bump(&self.counters.failures);
                }
                answer
            },
            |cause, attempts, unusable_answer| {
                let advice = if unusable_answer {
                    self.unusable_advice.as_str()
                } else {
                    "Check that the endpoint is up and accepts this request; if it is only slow \
                     or busy, allow more retries or a longer timeout"
                };
                TransportError::Failed(format!(
                    "{} {}; the last try: {cause}. {advice}",
                    self.label(),
                    failed_times(attempts)
                ))
            },
        )
        .map_err(|e| self.redactor.redact_error(e))?;
        Counters::bump(&self.counters.answered);
        Ok(answer)
    }

    /// [`HttpClient::exchange`] with a JSON value as the body.
    pub fn exchange_json<T>(
        &self,
        body: &serde_json::Value,
        decode: impl Fn(&str) -> std::result::Result<T, String>,
    ) -> Result<T> {
        self.exchange(&body.to_string(), decode)
    }

    /// Method and URL as given, for messages.
    fn label(&self) -> String {
        format!("the endpoint {} {}", self.method, self.url_shown)
    }

    /// One try: send, follow same-origin redirects, read and decode the answer.
    fn try_once<T>(
        &self,
        body: &str,
        decode: &impl Fn(&str) -> std::result::Result<T, String>,
    ) -> std::result::Result<T, Failure> {
        let _slot = self.slots.acquire();
        if let Some(limiter) = &self.limiter {
            limiter.acquire();
        }
        Counters::bump(&self.counters.attempts);
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
                Failure::Fatal(TransportError::Settings(format!(
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
                200..=299 => decode(&text).map_err(|e| {
                    Failure::unusable(format!("HTTP {code}, but the answer cannot be used: {e}"))
                }),
                408 | 429 | 500..=599 => Err(Failure::Retry {
                    cause: format!("HTTP {code}{reason}, answer {}", excerpt(&text, 200)),
                    wait: retry_after(&response),
                    unusable_answer: false,
                }),
                _ => Err(Failure::Fatal(TransportError::Failed(format!(
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
                Failure::Fatal(TransportError::Failed(format!(
                    "{} answered HTTP {code} (a redirect) without a usable Location header; use \
                     the endpoint's final URL",
                    self.label()
                )))
            })?;
        let to = resolve(from, location).ok_or_else(|| {
            Failure::Fatal(TransportError::Failed(format!(
                "{} answered HTTP {code} with a Location that is not a URL; use the endpoint's \
                 final URL",
                self.label()
            )))
        })?;
        if origin(&to) != origin(from) {
            let (scheme, host, port) = origin(&to);
            return Err(Failure::Fatal(TransportError::Failed(format!(
                "{} redirects (HTTP {code}) to another host or scheme, {scheme}://{host}:{port}; \
                 gauntlet follows redirects only within the same scheme, host and port, so that \
                 headers (which may carry credentials) never go elsewhere. If you trust that \
                 host, use its URL directly",
                self.label()
            ))));
        }
        if redirects > MAX_REDIRECTS {
            return Err(Failure::Fatal(TransportError::Failed(format!(
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
                Failure::Fatal(TransportError::Failed(format!(
                "{}: TLS failed ({e}); gauntlet verifies certificates, so the server needs one \
                 that is valid for its host name",
                self.label()
            )))
            }
            e => Failure::Fatal(TransportError::Failed(format!(
                "{}: the request could not be made: {e}",
                self.label()
            ))),
        }
    }
}

/// Parses and checks an endpoint URL; `shown` is the URL as given (secrets unexpanded).
fn parse_url(url: &str, shown: &str) -> Result<Uri> {
    let uri: Uri = url.trim().parse().map_err(|e| {
        TransportError::Settings(format!(
            "'{shown}' is not a URL ({e}); give e.g. https://host/predict"
        ))
    })?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => {
            return Err(TransportError::Settings(format!(
                "'{shown}' is not an http:// or https:// URL; give e.g. https://host/predict"
            )))
        }
    }
    let authority = uri.authority().ok_or_else(|| {
        TransportError::Settings(format!(
            "'{shown}' has no host; give e.g. https://host/predict"
        ))
    })?;
    if authority.as_str().contains('@') {
        return Err(TransportError::Settings(
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
    fn options_are_checked_without_showing_secrets() {
        let env = |name: &str| match name {
            "TOKEN" => Ok("tok-123456".to_string()),
            _ => Err(std::env::VarError::NotPresent),
        };
        let mut s = HttpOptions::new("http://localhost:9/predict");
        s.headers
            .push(("Authorization".into(), "Bearer ${TOKEN}".into()));
        let client = HttpClient::with_env(s.clone(), env).unwrap();
        assert_eq!(
            client.describe(),
            "POST http://localhost:9/predict (headers: Authorization: <redacted>)"
        );
        assert!(!format!("{client:?}").contains("tok-123456"));
        let mut bad = s.clone();
        bad.headers.push(("X-Key".into(), "${NOPE}".into()));
        let e = HttpClient::with_env(bad, env).unwrap_err();
        assert!(matches!(e, TransportError::Settings(_)));
        let e = e.to_string();
        assert!(
            e.contains("NOPE is not set") && e.contains("'X-Key'"),
            "{e}"
        );
        let mut bad = s.clone();
        bad.url = "ftp://x/y".into();
        assert!(HttpClient::with_env(bad, env).is_err());
        let mut bad = s.clone();
        bad.url = "https://user:pw@x/y".into();
        assert!(HttpClient::with_env(bad, env)
            .unwrap_err()
            .to_string()
            .contains("user name or password"));
        let mut bad = s.clone();
        bad.method = "GET".into();
        assert!(HttpClient::with_env(bad, env).is_err());
        let mut bad = s.clone();
        bad.max_in_flight = 0;
        assert!(HttpClient::with_env(bad, env).is_err());
        let mut bad = s;
        bad.headers.push(("Bad Name".into(), "x".into()));
        assert!(HttpClient::with_env(bad, env).is_err());
    }
}
