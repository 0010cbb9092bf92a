//! A model behind a long-lived external program speaking JSON Lines.
//!
//! The program (run with `sh -c` on Unix, `cmd /C` on Windows) is started once and kept
//! running. For each request gauntlet writes one line to its stdin — the same JSON body an
//! HTTP endpoint would get (see [`RequestTemplate`]), on one line — and reads one line back
//! from its stdout, decoded with the [`AnswerSpec`]. Empty lines on stdout are skipped;
//! anything the program wants to log goes to stderr, whose last lines are quoted in errors.
//! The program must flush stdout after each answer (`PYTHONUNBUFFERED=1` is set for Python).
//!
//! A minimal Python target:
//!
//! ```python
//! import json, sys
//! for line in sys.stdin:
//!     x = json.loads(line)["inputs"]
//!     print(json.dumps({"scores": [model(row) for row in x]}), flush=True)
//! ```
//!
//! When the program exits, answers something unreadable, or does not answer within the
//! timeout, the try fails with an error naming what happened and quoting its stderr; the
//! program is stopped (its whole process group on Unix) and started afresh for the next try,
//! up to the retry policy's limit. All of that is gauntlet-transport's [`CommandRunner`];
//! this module encodes batches and decodes answers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gauntlet_core::{Error, Result};
use gauntlet_transport::{CommandOptions, CommandRunner, RetryPolicy};

use crate::answer::AnswerSpec;
use crate::batching::in_chunks;
use crate::codec::{Codec, Shape};
use crate::request::RequestTemplate;
use crate::transport::{core_error, send_encoded, Transport, TransportStats};

/// What the give-up message advises when the program keeps answering unusable lines.
const UNUSABLE_ADVICE: &str = "The program answers, but not as declared: check the answer \
     pointer, the answer kind and the number of classes, and that it writes nothing else to \
     stdout (logs belong on stderr)";

/// How to run an external model program. [`CommandSettings::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct CommandSettings {
    /// The command line, run by the shell (so `$VAR`, quoting and `cd dir &&` work).
    pub command: String,
    /// The envelope of each request line.
    pub template: RequestTemplate,
    /// Where the answer is in each answer line and what it holds.
    pub answer: AnswerSpec,
    /// Longest wait for one answer line (the first one includes the program's start-up).
    pub timeout: Duration,
    /// Retries (each after a restart) and backoff.
    pub retry: RetryPolicy,
    /// Rows (inputs) per request line; a batch is split into lines of at most this many.
    pub rows_per_request: usize,
}

impl CommandSettings {
    /// Defaults: body `{"inputs": …}`, scores at `/scores`, 30 s per answer, 3 retries from
    /// 200 ms, 64 rows per line.
    pub fn new(command: impl Into<String>) -> Self {
        CommandSettings {
            command: command.into(),
            template: RequestTemplate::default(),
            answer: AnswerSpec::default(),
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            rows_per_request: 64,
        }
    }
}

/// A running external program (started on first use), one request at a time.
pub struct ExternalCommand {
    runner: CommandRunner,
    codec: Codec,
    rows_per_request: usize,
    rows: AtomicU64,
}

impl std::fmt::Debug for ExternalCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalCommand")
            .field("runner", &self.runner)
            .field("shape", &self.codec.shape)
            .field("answer", &self.codec.answer)
            .finish_non_exhaustive()
    }
}

impl ExternalCommand {
    /// Checks the settings. The program is started by the first request.
    pub fn new(settings: CommandSettings, shape: Shape) -> Result<Self> {
        if settings.command.trim().is_empty() {
            return Err(Error::Parameter(
                "the external command is empty; give the command line that runs the model, \
                 e.g. python3 serve_model.py"
                    .into(),
            ));
        }
        if settings.timeout.is_zero() || settings.rows_per_request == 0 {
            return Err(Error::Parameter(
                "the command's timeout must be longer than zero and its rows per request at \
                 least 1"
                    .into(),
            ));
        }
        let mut options = CommandOptions::shell(settings.command);
        options.timeout = settings.timeout;
        options.retry = settings.retry;
        options.unusable_advice = UNUSABLE_ADVICE.into();
        Ok(ExternalCommand {
            runner: CommandRunner::new(options).map_err(core_error)?,
            codec: Codec::new(shape, settings.template, settings.answer)?,
            rows_per_request: settings.rows_per_request,
            rows: AtomicU64::new(0),
        })
    }

    /// `command `…``.
    pub fn describe(&self) -> String {
        self.runner.describe()
    }

    /// Traffic so far; `starts` counts (re)starts of the program.
    pub fn stats(&self) -> TransportStats {
        TransportStats::from_exchanges(self.runner.stats(), self.rows.load(Ordering::Relaxed))
    }

    /// One request line for `n` rows (no splitting), with retries.
    pub fn send(&self, rows: &[f32], n: usize) -> Result<Vec<f32>> {
        send_encoded(&self.codec, &self.rows, rows, n, |body, decode| {
            self.runner.exchange(body, decode)
        })
    }
}

impl Transport for ExternalCommand {
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
            1,
            |part, m| self.send(part, m),
        )
    }

    fn describe(&self) -> String {
        ExternalCommand::describe(self)
    }

    fn stats(&self) -> TransportStats {
        ExternalCommand::stats(self)
    }
}
