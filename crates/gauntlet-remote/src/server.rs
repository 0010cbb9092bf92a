//! A prediction server for any [`Classifier`]: the other side of [`HttpEndpoint`].
//!
//! | request | answer |
//! |---|---|
//! | `POST /predict` with `{"inputs": [...]}`, nested `[n, ...sample_shape]` or flat `[n, F]` | `{"scores": [[...], ...], "labels": [...]}`, or `{"labels": [...]}` when serving labels only |
//! | `GET /health` | `{"sample_shape": [...], "num_classes": k, "answer": "scores" or "labels"}` |
//!
//! A malformed body, a wrong number of values or a value that is not a finite number is
//! HTTP 400, a model error 500, an unknown path 404; every error body is
//! `{"error": "<what is wrong and what to do>"}`.
//!
//! Scores are written as the shortest decimals that read back as the same `f32`, so a client
//! that parses them as `f32` (like [`HttpEndpoint`]) gets bit-identical scores to calling the
//! model directly on the same batch.
//!
//! [`HttpEndpoint`]: crate::HttpEndpoint

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use gauntlet_core::device::compute_device;
use gauntlet_core::model::{AnswerKind, Classifier};
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::{guard, Error, Result};
use serde::Serialize;
use serde_json::{json, Value};

/// How the server answers.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Answer labels only (a decision-based target), never scores. Also implied by a model
    /// whose own answers are labels only.
    pub labels_only: bool,
    /// Threads answering requests.
    pub workers: usize,
    /// Largest request body accepted, in bytes (larger: HTTP 413).
    pub max_body_bytes: usize,
}

impl Default for ServeOptions {
    /// Scores and labels; one worker per core (2 to 8); bodies up to 256 MiB.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ServeOptions {
            labels_only: false,
            workers: cores.clamp(2, 8),
            max_body_bytes: 256 << 20,
        }
    }
}

/// Serves `model` on `addr` until the process ends. `ready` is called with the bound address
/// (port 0 picks a free port) once requests are accepted.
pub fn serve(
    model: Arc<dyn Classifier>,
    addr: SocketAddr,
    labels_only: bool,
    ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let options = ServeOptions {
        labels_only,
        ..ServeOptions::default()
    };
    let handle = ServerHandle::start(model, addr, options)?;
    ready(handle.addr());
    handle.wait();
    Ok(())
}

/// A running server. Dropping it (or [`ServerHandle::stop`]) stops it.
pub struct ServerHandle {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

/// Stops a server from another thread (e.g. a Ctrl-C handler).
#[derive(Debug, Clone)]
pub struct Stopper(Arc<AtomicBool>);

impl Stopper {
    /// Asks the server to stop; requests in hand are answered first.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// How often idle workers look at the stop flag.
const POLL: Duration = Duration::from_millis(50);

impl ServerHandle {
    /// Binds `addr` and starts the worker threads.
    pub fn start(
        model: Arc<dyn Classifier>,
        addr: SocketAddr,
        options: ServeOptions,
    ) -> Result<Self> {
        let server = tiny_http::Server::http(addr).map_err(|e| {
            Error::Parameter(format!(
                "cannot listen on {addr}: {e}; pick another port or host (port 0 lets the \
                 system choose a free one)"
            ))
        })?;
        let addr = server.server_addr().to_ip().ok_or_else(|| {
            Error::Parameter(format!(
                "cannot listen on {addr}: the server has no IP address"
            ))
        })?;
        let server = Arc::new(server);
        let stopping = Arc::new(AtomicBool::new(false));
        let options = Arc::new(options);
        let workers = (0..options.workers.max(1))
            .map(|_| {
                let (server, stopping, model, options) = (
                    Arc::clone(&server),
                    Arc::clone(&stopping),
                    Arc::clone(&model),
                    Arc::clone(&options),
                );
                std::thread::spawn(move || {
                    while !stopping.load(Ordering::SeqCst) {
                        match server.recv_timeout(POLL) {
                            Ok(Some(request)) => answer(model.as_ref(), &options, request),
                            Ok(None) => {}
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        Ok(ServerHandle {
            addr,
            stopping,
            workers,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops the server from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper(Arc::clone(&self.stopping))
    }

    /// Stops the server and waits for its workers (requests in hand are answered first).
    pub fn stop(self) {
        drop(self);
    }

    /// Blocks until the server is stopped through a [`Stopper`].
    pub fn wait(mut self) {
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// Answers one request; a client that hung up is not an error worth reporting.
fn answer(model: &dyn Classifier, options: &ServeOptions, mut request: tiny_http::Request) {
    let path = request.url().split('?').next().unwrap_or("").to_string();
    let (status, body) = match (request.method(), path.as_str()) {
        (tiny_http::Method::Post, "/predict") => match predict(model, options, &mut request) {
            Ok(body) => (200, body),
            Err((status, message)) => (status, error_body(&message)),
        },
        (tiny_http::Method::Get, "/health") => (200, health(model, options)),
        (method, "/predict" | "/health") => (
            405,
            error_body(&format!(
                "{method} {path} is not served; use POST /predict or GET /health"
            )),
        ),
        (_, path) => (
            404,
            error_body(&format!(
                "there is nothing at '{path}'; use POST /predict or GET /health"
            )),
        ),
    };
    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
        .expect("a valid header");
    let response = tiny_http::Response::from_string(body)
        .with_status_code(status)
        .with_header(header);
    let _ = request.respond(response);
}

fn labels_only(model: &dyn Classifier, options: &ServeOptions) -> bool {
    options.labels_only || model.answer_kind() == AnswerKind::Label
}

fn health(model: &dyn Classifier, options: &ServeOptions) -> String {
    json!({
        "sample_shape": model.sample_shape(),
        "num_classes": model.num_classes(),
        "answer": if labels_only(model, options) { "labels" } else { "scores" },
    })
    .to_string()
}

fn error_body(message: &str) -> String {
    json!({ "error": message }).to_string()
}

#[derive(Serialize)]
struct Prediction<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    scores: Option<Vec<&'a [f32]>>,
    labels: Vec<i64>,
}

/// The body of a successful `/predict`, or the status and message of a failed one.
fn predict(
    model: &dyn Classifier,
    options: &ServeOptions,
    request: &mut tiny_http::Request,
) -> std::result::Result<String, (u16, String)> {
    let mut body = Vec::new();
    let limit = options.max_body_bytes;
    request
        .as_reader()
        .take(limit as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| (400, format!("cannot read the request body: {e}")))?;
    if body.len() > limit {
        return Err((
            413,
            format!("the request body is larger than {limit} bytes; send fewer inputs per request"),
        ));
    }
    let (rows, n) = parse_inputs(&body, model).map_err(|m| (400, m))?;
    let classes = model.num_classes();
    let scores = if n == 0 {
        Vec::new()
    } else {
        let features = model.features();
        let logits = guard::catch("the model failed", || {
            model.logits(from_rows(rows, n, features, &compute_device()))
        })
        .map_err(|e| (500, format!("the model failed on this batch: {e}")))?;
        to_vec(logits)
    };
    if scores.len() != n * classes {
        return Err((
            500,
            format!(
                "the model returned {} scores for {n} inputs of {classes} classes",
                scores.len()
            ),
        ));
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err((
            500,
            format!(
                "the model produced a non-finite score ({}) for input {}, class {}",
                scores[i],
                i / classes,
                i % classes
            ),
        ));
    }
    let labels = argmax_rows(&scores, classes);
    let prediction = Prediction {
        scores: (!labels_only(model, options)).then(|| scores.chunks(classes).collect()),
        labels,
    };
    Ok(serde_json::to_string(&prediction).expect("numbers and arrays serialize"))
}

/// The flat rows and their number from a `{"inputs": …}` body, or a message for HTTP 400.
fn parse_inputs(
    body: &[u8],
    model: &dyn Classifier,
) -> std::result::Result<(Vec<f32>, usize), String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let text = String::from_utf8_lossy(body);
        let hint = if ["NaN", "Infinity"].iter().any(|t| text.contains(t)) {
            "; JSON has no NaN or Infinity, send finite numbers"
        } else {
            ""
        };
        format!("the body is not valid JSON ({e}){hint}; send {{\"inputs\": [[...], ...]}}")
    })?;
    let inputs = value.get("inputs").ok_or_else(|| {
        let what = match &value {
            Value::Object(map) if !map.is_empty() => {
                let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                format!("the body has the key(s) {}", keys.join(", "))
            }
            _ => "the body is not an object with an \"inputs\" key".to_string(),
        };
        format!("{what}; send {{\"inputs\": [[...], ...]}} with one entry per input")
    })?;
    if inputs.as_array().is_some_and(Vec::is_empty) {
        return Ok((Vec::new(), 0));
    }
    // The shape follows the first element at every depth; every other element must match.
    let mut shape = Vec::new();
    let mut probe = inputs;
    while let Value::Array(items) = probe {
        shape.push(items.len());
        match items.first() {
            Some(first) => probe = first,
            None => break,
        }
    }
    let sample = model.sample_shape();
    let features = model.features();
    let nested_ok = shape.len() == sample.len() + 1 && shape[1..] == *sample;
    let flat_ok = shape.len() == 2 && shape[1] == features;
    if !nested_ok && !flat_ok {
        let mut nested = vec!["n".to_string()];
        nested.extend(sample.iter().map(usize::to_string));
        return Err(format!(
            "\"inputs\" has shape [{}], but the model takes a batch of samples of shape {:?}: \
             give [{}] or flat [n, {features}] (a single input is a batch of one)",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            sample,
            nested.join(", "),
        ));
    }
    let n = shape[0];
    let mut rows = Vec::with_capacity(n * features);
    let mut place = "inputs".to_string();
    collect(inputs, &shape, &mut place, &mut rows)?;
    Ok((rows, n))
}

/// Appends the numbers of `value`, which must have exactly `shape`, row-major.
fn collect(
    value: &Value,
    shape: &[usize],
    place: &mut String,
    out: &mut Vec<f32>,
) -> std::result::Result<(), String> {
    match (shape, value) {
        ([], Value::Number(number)) => {
            let x = number.as_f64().unwrap_or(f64::NAN) as f32;
            if !x.is_finite() {
                return Err(format!("{place} is {number}, which is not a finite 32-bit float"));
            }
            out.push(x);
            Ok(())
        }
        ([], other) => Err(format!(
            "{place} is {}, not a number{}",
            match other {
                Value::Null => "null".to_string(),
                Value::Array(_) => "an array (the inputs are nested too deeply)".to_string(),
                other => other.to_string().chars().take(40).collect(),
            },
            if other.is_null() { " (NaN cannot be sent in JSON; send finite numbers)" } else { "" }
        )),
        ([len, inner @ ..], Value::Array(items)) if items.len() == *len => {
            let at = place.len();
            for (i, item) in items.iter().enumerate() {
                place.push_str(&format!("[{i}]"));
                collect(item, inner, place, out)?;
                place.truncate(at);
            }
            Ok(())
        }
        ([len, ..], Value::Array(items)) => Err(format!(
            "{place} has {} entries but {len} were expected (the inputs must be a rectangular array)",
            items.len()
        )),
        ([len, ..], other) => Err(format!(
            "{place} is {}, but an array of {len} entries was expected",
            other.to_string().chars().take(40).collect::<String>()
        )),
    }
}
