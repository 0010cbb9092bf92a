//! gauntlet-remote: black-box targets that live somewhere else, and a server that puts any
//! classifier behind HTTP.
//!
//! In an audit (data + model + threat model → attack → outcomes → evaluation → report) this
//! crate provides the *model* of a black-box audit: the attacks only query it, so only
//! query-based attacks (or transfer from a local surrogate) apply.
//!
//! A model you cannot load — a prediction API, a model in another language — is still a
//! [`Classifier`](gauntlet_core::model::Classifier) to gauntlet's black-box attacks:
//!
//! * [`HttpEndpoint`] sends each batch as a JSON request ([`RequestTemplate`]) to a URL, with
//!   retries, client-side rate limiting, bounded concurrency and secret headers read from the
//!   environment (`Authorization: Bearer ${API_TOKEN}`), and reads the answer ([`AnswerSpec`]:
//!   scores, top-k scores or labels, found by a JSON pointer).
//! * [`ExternalCommand`] keeps a program running and talks to it in JSON Lines over
//!   stdin/stdout, restarting it when it dies, hangs or answers garbage.
//! * [`RemoteClassifier`] turns either [`Transport`] into a `Classifier`.
//!
//! How the bytes travel — retries, backoff, `Retry-After`, rate limits, requests in flight,
//! secrets, redirects, timeouts, restarting a crashed program — is `gauntlet-transport`'s
//! business ([`gauntlet_transport::HttpClient`], [`gauntlet_transport::CommandRunner`]), shared
//! with gauntlet-text's spam-filter targets. This crate encodes images: a batch becomes a
//! request body ([`Codec`]), the answer becomes rows of class scores, and transport errors
//! become [`gauntlet_core::Error`]s with the same messages.
//!
//! The other direction, [`server`], answers `POST /predict` for any local classifier, with
//! scores bit-identical to calling the model directly (what `gauntlet serve` runs).
//!
//! ```no_run
//! use gauntlet_core::model::{AnswerKind, Classifier};
//! use gauntlet_remote::{AnswerSpec, HttpSettings, RemoteClassifier, Shape};
//!
//! let mut settings = HttpSettings::new("https://models.example.com/v1/predict");
//! settings.headers.push(("Authorization".into(), "Bearer ${API_TOKEN}".into()));
//! settings.answer = AnswerSpec::new(AnswerKind::TopK(3), "/predictions")?;
//! let shape = Shape::new(vec![1, 28, 28], 10)?;
//! let target = RemoteClassifier::http(settings, shape)?;
//! target.probe()?; // one zero input: fails early if the answer does not fit the shape
//! println!("{} ({})", target.describe(), target.answer_kind());
//! # Ok::<(), gauntlet_core::Error>(())
//! ```
//!
//! What travels, shown offline with a [`Codec`]: a batch becomes one JSON body, and a top-1
//! answer becomes full rows of scores (every unreported class gets the row's lowest reported
//! score minus one, so the arg-max is kept):
//!
//! ```
//! use gauntlet_core::model::AnswerKind;
//! use gauntlet_remote::{AnswerSpec, Codec, RequestTemplate, Shape};
//!
//! let codec = Codec::new(
//!     Shape::new(vec![2], 3)?, // samples of 2 values, 3 classes
//!     RequestTemplate::new(r#"{"instances": "{{inputs}}", "version": 2}"#)?,
//!     AnswerSpec::new(AnswerKind::TopK(1), "/predictions")?,
//! )?;
//! let body = codec.encode(&[0.0, 0.5, 1.0, 0.25], 2)?;
//! assert_eq!(body, r#"{"instances": [[0.0,0.5],[1.0,0.25]], "version": 2}"#);
//! let rows = codec.decode(r#"{"predictions": [[[2, 2.0]], [[0, 0.5]]]}"#, 2)?;
//! assert_eq!(rows, [1.0, 1.0, 2.0, 0.5, -0.5, -0.5]);
//! # Ok::<(), gauntlet_core::Error>(())
//! ```
//!
//! Wrap the classifier in `gauntlet_core::query::CachedTarget` to never send the same input
//! twice and count what was sent, and in `gauntlet_core::model::QueryOnly` to hand it to the
//! attack pipeline.

pub mod answer;
mod batching;
pub mod classifier;
pub mod codec;
pub mod command;
pub mod http;
pub mod request;
pub mod server;
pub mod transport;

pub use answer::AnswerSpec;
pub use classifier::RemoteClassifier;
pub use codec::{Codec, Shape};
pub use command::{CommandSettings, ExternalCommand};
pub use gauntlet_transport::RetryPolicy;
pub use http::{HttpEndpoint, HttpSettings};
pub use request::RequestTemplate;
pub use server::{serve, ServeOptions, ServerHandle, Stopper};
pub use transport::{Transport, TransportStats};
