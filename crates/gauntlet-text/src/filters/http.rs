//! Any text classifier behind an HTTP endpoint as a target: text in, spam score or label out.
//!
//! For each text gauntlet sends one request whose body is the request template with the
//! quoted placeholder `"{{text}}"` replaced by the text as a JSON string (default
//! `{"text": "{{text}}"}`), and reads the answer at a JSON pointer (default: the whole body).
//! The answer follows the rules of the external-command target: a spam score in [0, 1],
//! `true`/`false`, a label `"spam"`/`"ham"`, or an object with `score`, `label` or `spam`.
//!
//! How the bytes travel is gauntlet-transport's [`HttpClient`]: `${ENV}` secrets in headers
//! (never shown in names, reports or errors), a timeout per try, retries with exponential
//! backoff on connection errors, timeouts, 408/429/5xx and unusable answers, `Retry-After`,
//! a client-side rate limit, requests in flight bounded, redirects only on the same host,
//! TLS certificates verified. A batch of texts is sent as up to `max_in_flight` concurrent
//! requests, and the scores come back in the order of the texts.

use std::time::Duration;

use gauntlet_transport::{excerpt, HttpClient, HttpOptions, RetryPolicy, TransportError};

use crate::classifier::Classifier;
use crate::error::{Error, Result};
use crate::filters::external::score_of;

/// The placeholder, quoted, that the text replaces.
const PLACEHOLDER: &str = "\"{{text}}\"";

/// A request body with one `"{{text}}"` placeholder (quotes included), checked to be JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRequestTemplate {
    before: String,
    after: String,
}

impl Default for TextRequestTemplate {
    /// `{"text": "{{text}}"}`.
    fn default() -> Self {
        TextRequestTemplate::parse(r#"{"text": "{{text}}"}"#)
            .expect("the default template is valid")
    }
}

impl TextRequestTemplate {
    /// Checks that `template` has the quoted placeholder `"{{text}}"` exactly once and is
    /// JSON once it is filled in.
    pub fn parse(template: &str) -> Result<Self> {
        let bad = |reason: String| Error::invalid("request_template", reason);
        let (before, after) = template.split_once(PLACEHOLDER).ok_or_else(|| {
            bad(format!(
                "{template:?} has no \"{{{{text}}}}\" placeholder (with its quotes) for the text; \
                 e.g. {{\"text\": \"{{{{text}}}}\"}}"
            ))
        })?;
        if after.contains(PLACEHOLDER) {
            return Err(bad(format!(
                "{template:?} has the \"{{{{text}}}}\" placeholder more than once"
            )));
        }
        let filled = format!("{before}\"\"{after}");
        serde_json::from_str::<serde_json::Value>(&filled).map_err(|e| {
            bad(format!(
                "{template:?} is not JSON once \"{{{{text}}}}\" is filled in ({e})"
            ))
        })?;
        Ok(TextRequestTemplate {
            before: before.to_string(),
            after: after.to_string(),
        })
    }

    /// The body for `text` (JSON-escaped).
    pub fn render(&self, text: &str) -> String {
        let quoted = serde_json::to_string(text).expect("a string serializes");
        format!("{}{quoted}{}", self.before, self.after)
    }
}

/// Settings of an HTTP filter. [`HttpFilterOptions::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct HttpFilterOptions {
    /// `http://` or `https://` URL; may contain `${ENV_VAR}`.
    pub url: String,
    /// Extra headers as (name, value template); values may contain `${ENV_VAR}`.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub template: TextRequestTemplate,
    /// JSON pointer to the answer in the response ("" for the whole body).
    pub answer_pointer: String,
    /// Longest time one try may take.
    pub timeout: Duration,
    /// Retries after a failed try, with exponential backoff.
    pub retry: RetryPolicy,
    /// Client-side rate limit, requests per second (retries included).
    pub rate_limit: Option<f64>,
    /// Requests in flight at once.
    pub max_in_flight: usize,
}

impl HttpFilterOptions {
    /// `POST url` with `{"text": "{{text}}"}`, the answer the whole body, 10 s timeout, 3
    /// retries from 200 ms, no rate limit, 4 requests in flight.
    pub fn new(url: impl Into<String>) -> Self {
        HttpFilterOptions {
            url: url.into(),
            headers: Vec::new(),
            template: TextRequestTemplate::default(),
            answer_pointer: String::new(),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            rate_limit: None,
            max_in_flight: 4,
        }
    }
}

/// A spam filter behind HTTP (see the module docs).
#[derive(Debug)]
pub struct HttpFilter {
    client: HttpClient,
    template: TextRequestTemplate,
    pointer: String,
    max_in_flight: usize,
}

impl HttpFilter {
    /// Checks the settings and expands `${ENV_VAR}`s; nothing is sent yet.
    pub fn new(options: HttpFilterOptions) -> Result<Self> {
        Self::with_env(options, |name| std::env::var(name))
    }

    /// [`HttpFilter::new`] with another source of variables than the process environment.
    pub fn with_env(
        options: HttpFilterOptions,
        env: impl Fn(&str) -> std::result::Result<String, std::env::VarError>,
    ) -> Result<Self> {
        let pointer = options.answer_pointer.trim().to_string();
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            return Err(Error::invalid(
                "answer_pointer",
                format!("{pointer:?} is not a JSON pointer; write e.g. /score or /result/label (\"\" for the whole answer)"),
            ));
        }
        let mut http = HttpOptions::new(options.url);
        http.headers = options.headers;
        http.timeout = options.timeout;
        http.retry = options.retry;
        http.max_requests_per_second = options.rate_limit;
        http.max_in_flight = options.max_in_flight;
        http.unusable_advice = format!(
            "The endpoint answers, but not as declared: check the answer pointer ({}) and that \
             it holds a spam score in [0, 1], true/false or \"spam\"/\"ham\"",
            shown_pointer(&pointer)
        );
        let client = HttpClient::with_env(http, env)?;
        Ok(HttpFilter {
            client,
            template: options.template,
            pointer,
            max_in_flight: options.max_in_flight,
        })
    }

    /// Method, URL and header names, secrets redacted.
    pub fn describe(&self) -> String {
        self.client.describe()
    }

    /// Traffic so far.
    pub fn stats(&self) -> gauntlet_transport::ExchangeStats {
        self.client.stats()
    }

    /// The spam score of one text.
    pub fn score(&self, text: &str) -> std::result::Result<f64, TransportError> {
        self.client.exchange(&self.template.render(text), |answer| {
            decode(answer, &self.pointer)
        })
    }
}

fn shown_pointer(pointer: &str) -> String {
    if pointer.is_empty() {
        "the whole answer".into()
    } else {
        format!("'{pointer}'")
    }
}

/// The spam score in an answer body, or why there is none.
pub(crate) fn decode(answer: &str, pointer: &str) -> std::result::Result<f64, String> {
    let value: serde_json::Value = serde_json::from_str(answer).map_err(|e| {
        format!(
            "the answer is not valid JSON ({e}); it starts with {}",
            excerpt(answer, 200)
        )
    })?;
    let at = value.pointer(pointer).ok_or_else(|| {
        format!(
            "the answer has nothing at the pointer '{pointer}'; it starts with {}",
            excerpt(answer, 200)
        )
    })?;
    score_of(at).ok_or_else(|| {
        format!(
            "{} is {}, not a spam score in [0, 1], true/false or \"spam\"/\"ham\"",
            if pointer.is_empty() {
                "the answer".to_string()
            } else {
                format!("the value at '{pointer}'")
            },
            excerpt(&at.to_string(), 200)
        )
    })
}

impl Classifier for HttpFilter {
    fn name(&self) -> String {
        format!("http:{}", self.describe())
    }

    fn scores(&self, texts: &[String]) -> Result<Vec<f64>> {
        gauntlet_transport::parallel::in_flight(texts.len(), self.max_in_flight, |i| {
            self.score(&texts[i])
        })
        .map_err(Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_escape_the_text_and_are_checked() {
        let t = TextRequestTemplate::default();
        assert_eq!(
            t.render("say \"hi\"\n\u{0430}"),
            "{\"text\": \"say \\\"hi\\\"\\n\u{0430}\"}"
        );
        let v: serde_json::Value = serde_json::from_str(&t.render("a\"b\\c\u{1}")).unwrap();
        assert_eq!(v["text"], "a\"b\\c\u{1}");
        let t =
            TextRequestTemplate::parse(r#"{"model": "m", "input": {"text": "{{text}}"}}"#).unwrap();
        assert_eq!(t.render("x"), r#"{"model": "m", "input": {"text": "x"}}"#);
        assert!(TextRequestTemplate::parse(r#"{"text": {{text}}}"#).is_err());
        assert!(TextRequestTemplate::parse(r#"{"a": "{{text}}", "b": "{{text}}"}"#).is_err());
        assert!(TextRequestTemplate::parse(r#"{"a": "{{text}}""#).is_err());
    }

    #[test]
    fn answers_follow_the_external_rules() {
        assert_eq!(decode(r#"{"score": 0.25}"#, ""), Ok(0.25));
        assert_eq!(
            decode(r#"{"result": {"label": "SPAM"}}"#, "/result/label"),
            Ok(1.0)
        );
        assert_eq!(
            decode(r#"{"result": {"label": "ham"}}"#, "/result"),
            Ok(0.0)
        );
        assert_eq!(decode(r#"{"is_spam": true}"#, "/is_spam"), Ok(1.0));
        assert_eq!(decode("0.7", ""), Ok(0.7));
        let e = decode(r#"{"score": 1.5}"#, "/score").unwrap_err();
        assert!(
            e.contains("the value at '/score' is \"1.5\", not a spam score"),
            "{e}"
        );
        assert!(decode(r#"{"score": 0.5}"#, "/prob")
            .unwrap_err()
            .contains("nothing at the pointer '/prob'"));
        assert!(decode("<html>", "").unwrap_err().contains("not valid JSON"));
        let bad = HttpFilterOptions {
            answer_pointer: "score".into(),
            ..HttpFilterOptions::new("http://localhost:9/")
        };
        assert!(HttpFilter::new(bad)
            .unwrap_err()
            .to_string()
            .contains("not a JSON pointer"));
    }
}
