//! A long-lived child process speaking JSON Lines: one request line in, one answer line out.
//!
//! The program is started on first use and kept running. For each exchange the runner writes
//! one line to its stdin and reads one line back from its stdout (empty lines are skipped),
//! which the caller's `decode` checks. Anything the program wants to log goes to stderr,
//! whose last lines are quoted in errors. The program must flush stdout after each answer
//! (`PYTHONUNBUFFERED=1` is set for Python).
//!
//! When the program exits, answers something `decode` refuses, or does not answer within
//! the timeout, the try fails with an error naming what happened and quoting its stderr; the
//! program is stopped (its whole process group on Unix) and started afresh for the next try,
//! up to the retry policy's limit.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Result, TransportError};
use crate::retry::{failed_times, with_retries, Failure, RetryPolicy};
use crate::stats::{Counters, ExchangeStats};

/// Lines of stderr kept, and quoted in an error.
const STDERR_LINES: usize = 10;
/// Longest stderr line kept, in characters.
const STDERR_LINE_CHARS: usize = 300;

/// What the give-up message advises when the program kept answering lines `decode` refused.
const UNUSABLE_ADVICE: &str = "The program answers, but not as declared: check the answer \
     format, and that it writes nothing else to stdout (logs belong on stderr)";

/// How the program is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// A command line run by the shell (`sh -c` on Unix, `cmd /C` on Windows), so `$VAR`,
    /// quoting and `cd dir &&` work.
    Shell(String),
    /// A program and its arguments, run directly.
    Argv(Vec<String>),
}

impl Program {
    /// The command line, for messages.
    pub fn command_line(&self) -> String {
        match self {
            Program::Shell(line) => line.clone(),
            Program::Argv(argv) => argv.join(" "),
        }
    }
}

/// How to run a JSON Lines program. [`CommandOptions::shell`] and [`CommandOptions::argv`]
/// give the defaults.
#[derive(Debug, Clone)]
pub struct CommandOptions {
    /// The program.
    pub program: Program,
    /// Longest wait for one answer line (the first one includes the program's start-up).
    pub timeout: Duration,
    /// Retries (each after a restart) and backoff.
    pub retry: RetryPolicy,
    /// The advice that ends the error when the program kept answering lines `decode`
    /// refused.
    pub unusable_advice: String,
}

impl CommandOptions {
    /// A shell command line; 30 s per answer, 3 retries from 200 ms.
    pub fn shell(command: impl Into<String>) -> Self {
        Self::of(Program::Shell(command.into()))
    }

    /// A program and its arguments, run without a shell; same defaults.
    pub fn argv(argv: Vec<String>) -> Self {
        Self::of(Program::Argv(argv))
    }

    fn of(program: Program) -> Self {
        CommandOptions {
            program,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            unusable_advice: UNUSABLE_ADVICE.into(),
        }
    }
}

/// A running external program (started on first use), one exchange at a time.
pub struct CommandRunner {
    program: Program,
    timeout: Duration,
    retry: RetryPolicy,
    unusable_advice: String,
    process: Mutex<Option<Process>>,
    counters: Counters,
}

impl std::fmt::Debug for CommandRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandRunner")
            .field("program", &self.program)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// One run of the program, with threads feeding its stdin and draining stdout and stderr.
struct Process {
    child: Child,
    /// Lines for the writer thread; dropping it closes the program's stdin.
    input: Option<Sender<String>>,
    /// Lines the program wrote to stdout; disconnected when stdout closes.
    output: Receiver<String>,
    /// The last lines of stderr.
    stderr: Arc<Mutex<VecDeque<String>>>,
    /// Disconnected when stderr closes.
    stderr_closed: Receiver<()>,
}

impl CommandRunner {
    /// Checks the options. The program is started by the first exchange.
    pub fn new(options: CommandOptions) -> Result<Self> {
        let empty = match &options.program {
            Program::Shell(line) => line.trim().is_empty(),
            Program::Argv(argv) => argv.first().is_none_or(|p| p.trim().is_empty()),
        };
        if empty {
            return Err(TransportError::Settings(
                "the external command is empty; give the command line that runs the model, \
                 e.g. python3 serve_model.py"
                    .into(),
            ));
        }
        if options.timeout.is_zero() {
            return Err(TransportError::Settings(
                "the command's timeout must be longer than zero".into(),
            ));
        }
        Ok(CommandRunner {
            program: options.program,
            timeout: options.timeout,
            retry: options.retry,
            unusable_advice: options.unusable_advice,
            process: Mutex::new(None),
            counters: Counters::default(),
        })
    }

    /// `command `…``.
    pub fn describe(&self) -> String {
        format!("command `{}`", self.program.command_line())
    }

    /// The program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Traffic so far; `starts` counts (re)starts of the program.
    pub fn stats(&self) -> ExchangeStats {
        self.counters.snapshot()
    }

    /// Writes `line` (one line of JSON, without the newline) and returns `decode` of the
    /// answer line, with retries (each after a restart). A line `decode` refuses is retried
    /// like a crash.
    pub fn exchange<T>(
        &self,
        line: &str,
        decode: impl Fn(&str) -> std::result::Result<T, String>,
    ) -> Result<T> {
        Counters::bump(&self.counters.requests);
        let mut slot = self.process.lock().unwrap_or_else(|e| e.into_inner());
        let answer = with_retries(
            &self.retry,
            |_| {
                Counters::bump(&self.counters.attempts);
                let answer = self.try_once(&mut slot, line, &decode);
                if answer.is_err() {
                    Counters::bump(&self.counters.failures);
                }
                answer
            },
            |cause, attempts, unusable_answer| {
                let advice = if unusable_answer {
                    self.unusable_advice.as_str()
                } else {
                    "Run the command by hand to check that it starts and answers each request \
                     line with one line of JSON"
                };
                TransportError::Failed(format!(
                    "the {} {}; the last try: {cause}\n{advice}",
                    self.describe(),
                    failed_times(attempts)
                ))
            },
        )?;
        Counters::bump(&self.counters.answered);
        Ok(answer)
    }

    /// [`CommandRunner::exchange`] with a JSON value as the line.
    pub fn exchange_json<T>(
        &self,
        line: &serde_json::Value,
        decode: impl Fn(&str) -> std::result::Result<T, String>,
    ) -> Result<T> {
        self.exchange(&line.to_string(), decode)
    }

    /// Stops the program if it runs; the next exchange starts it afresh.
    pub fn stop(&self) {
        let mut slot = self.process.lock().unwrap_or_else(|e| e.into_inner());
        slot.take();
    }

    /// One exchange, starting the program if needed; on failure the program is stopped so
    /// the next try starts it afresh.
    fn try_once<T>(
        &self,
        slot: &mut Option<Process>,
        line: &str,
        decode: &impl Fn(&str) -> std::result::Result<T, String>,
    ) -> std::result::Result<T, Failure> {
        if slot.is_none() {
            *slot = Some(self.start()?);
        }
        let process = slot.as_mut().expect("started above");
        let trouble = match self.exchange_once(process, line, decode) {
            Ok(answer) => return Ok(answer),
            Err(trouble) => trouble,
        };
        let process = slot.take().expect("still there");
        // A program that closed its output is probably exiting: give it a moment to say how.
        let grace = match trouble {
            Trouble::Gone(_) => Duration::from_secs(1),
            Trouble::Silent(_) | Trouble::Unusable(_) => Duration::ZERO,
        };
        let (status, stderr) = process.stop(grace);
        Err(match trouble {
            Trouble::Unusable(cause) => Failure::unusable(format!("{cause}; {status}; {stderr}")),
            Trouble::Gone(cause) | Trouble::Silent(cause) => {
                Failure::retry(format!("{cause}; {status}; {stderr}"))
            }
        })
    }

    fn start(&self) -> std::result::Result<Process, Failure> {
        let mut command = match &self.program {
            Program::Shell(line) => shell(line),
            Program::Argv(argv) => {
                let mut c = Command::new(&argv[0]);
                c.args(&argv[1..]);
                c
            }
        };
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("PYTHONUNBUFFERED", "1");
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            // Its own process group, so stopping it also stops what it started.
            command.process_group(0);
        }
        let mut child = command.spawn().map_err(|e| {
            let hint = match self.program {
                Program::Shell(_) => "check that the shell can run it",
                Program::Argv(_) => "is it installed and on PATH?",
            };
            Failure::Fatal(TransportError::Failed(format!(
                "cannot start the {}: {e}; {hint}",
                self.describe()
            )))
        })?;
        Counters::bump(&self.counters.starts);
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (input, to_write) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut stdin = stdin;
            for line in to_write {
                if stdin
                    .write_all(line.as_bytes())
                    .and_then(|_| stdin.flush())
                    .is_err()
                {
                    break;
                }
            }
        });
        let (lines, output) = mpsc::channel();
        std::thread::spawn(move || read_lines(stdout, lines));
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let (stderr_open, stderr_closed) = mpsc::channel();
        let keep = Arc::clone(&tail);
        std::thread::spawn(move || {
            keep_tail(stderr, &keep);
            drop(stderr_open);
        });
        Ok(Process {
            child,
            input: Some(input),
            output,
            stderr: tail,
            stderr_closed,
        })
    }

    /// Sends one line and waits for one non-empty line back.
    fn exchange_once<T>(
        &self,
        process: &mut Process,
        line: &str,
        decode: &impl Fn(&str) -> std::result::Result<T, String>,
    ) -> std::result::Result<T, Trouble> {
        let sent = process
            .input
            .as_ref()
            .is_some_and(|input| input.send(format!("{line}\n")).is_ok());
        if !sent {
            return Err(Trouble::Gone("it stopped reading its input".into()));
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match process.output.recv_timeout(left) {
                Ok(answer) if answer.trim().is_empty() => continue,
                Ok(answer) => {
                    return decode(&answer).map_err(|e| {
                        Trouble::Unusable(format!("it answered a line gauntlet cannot use: {e}"))
                    })
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(Trouble::Silent(format!(
                        "it did not answer within the timeout of {:.1} s",
                        self.timeout.as_secs_f64()
                    )))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Trouble::Gone(
                        "it closed its output without answering".into(),
                    ))
                }
            }
        }
    }
}

/// What went wrong with one exchange.
enum Trouble {
    /// The program exited or closed its pipes.
    Gone(String),
    /// No answer within the timeout.
    Silent(String),
    /// An answer line that cannot be decoded.
    Unusable(String),
}

impl Process {
    /// Stops the program: closes its stdin, waits up to `grace` for it to exit, then kills
    /// it. Returns how it ended and the last lines of its stderr, as text for an error.
    fn stop(mut self, grace: Duration) -> (String, String) {
        self.input = None;
        let until = Instant::now() + grace;
        let mut exited = self.child.try_wait().ok().flatten();
        while exited.is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
            exited = self.child.try_wait().ok().flatten();
        }
        let status = match exited {
            Some(status) => format!("it exited ({status})"),
            None => {
                kill(&mut self.child);
                let _ = self.child.wait();
                "gauntlet stopped it".to_string()
            }
        };
        // stderr closes when the program (and everything it started) is gone; a grandchild
        // holding it open must not keep us waiting.
        let _ = self.stderr_closed.recv_timeout(Duration::from_secs(1));
        let tail = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let stderr = if tail.is_empty() {
            "it wrote nothing to stderr".to_string()
        } else {
            let lines: Vec<String> = tail.iter().map(|l| format!("  {l}")).collect();
            format!("the last lines of its stderr:\n{}", lines.join("\n"))
        };
        (status, stderr)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // Closing stdin asks a well-behaved program to finish; then it is stopped.
            self.input = None;
            let until = Instant::now() + Duration::from_millis(200);
            while Instant::now() < until && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
            kill(&mut self.child);
            let _ = self.child.wait();
        }
    }
}

#[cfg(unix)]
fn shell(command: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(command);
    c
}

#[cfg(not(unix))]
fn shell(command: &str) -> Command {
    let mut c = Command::new("cmd");
    c.arg("/C").arg(command);
    c
}

/// Kills the program and, on Unix, every process in its group.
fn kill(child: &mut Child) {
    #[cfg(unix)]
    {
        // The child leads its own process group (see `start`).
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill(2) with a negative pid signals that process group; no memory is
            // shared with the callee.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
    let _ = child.kill();
}

/// Forwards stdout lines (lossily decoded) until it closes.
fn read_lines(stdout: ChildStdout, lines: Sender<String>) {
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                if lines.send(line).is_err() {
                    return;
                }
            }
        }
    }
}

/// Keeps the last lines of stderr until it closes.
fn keep_tail(stderr: ChildStderr, tail: &Mutex<VecDeque<String>>) {
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        // A line longer than a few kilobytes is cut; the rest of it is read as further lines.
        match (&mut reader).take(8192).read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf);
                let text = text.trim_end();
                if text.is_empty() {
                    continue;
                }
                let mut line: String = text.chars().take(STDERR_LINE_CHARS).collect();
                if text.chars().count() > STDERR_LINE_CHARS {
                    line.push('…');
                }
                let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                if tail.len() == STDERR_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        }
    }
}
