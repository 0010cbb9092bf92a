//! `gauntlet text-audit`: spam-filter evasion (crate gauntlet-text). A thin mapping: the flags
//! and `--config gauntlet.toml` become one `TextAuditConfig` (keys named like the flags; flags
//! given on the command line override the file); the library checks it, runs the audit with
//! checkpoint and resume, writes the reports and judges the CI gate; this prints and returns
//! the gate's exit code (0 pass, 1 a threshold failed, 2 usage error or incomplete run).

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use gauntlet_run::journal::Start;
use gauntlet_run::Progress;
use gauntlet_text::{Error, TextAuditConfig, TextAuditRun};

use crate::progress::{install_interrupt_handler, interrupted};
use crate::settings::flags_over_file;

/// Flags of `gauntlet text-audit`. Each has a `gauntlet.toml` key of the same name with `_`
/// for `-` (`--max-edits` is `max_edits`); defaults are `TextAuditConfig::default()`'s.
#[derive(Args, Debug, Default, Serialize)]
pub struct TextAuditArgs {
    /// Read settings from a gauntlet.toml (keys named like the flags, e.g. max_edits = 30);
    /// flags given on the command line override it.
    #[arg(long, value_name = "gauntlet.toml")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// JSON Lines corpus, gzip or plain, with fields id, label (spam/ham), text (required, as a
    /// flag or in --config).
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Target: built-in Naive Bayes (nb), logistic regression (lr), an external command
    /// (external, with --filter-cmd) or an HTTP endpoint (http, with --filter-url). Default:
    /// http with --filter-url, external with --filter-cmd, else nb.
    #[arg(long)]
    pub filter: Option<String>,
    /// Command for --filter external (JSON Lines on stdin/stdout), e.g. 'python3 filter.py'.
    #[arg(long, value_name = "'PROGRAM ARGS'")]
    pub filter_cmd: Option<String>,
    /// URL of an HTTP spam filter (--filter http): one POST per text, the answer a spam score
    /// in [0, 1], true/false or "spam"/"ham" (see --request-template, --answer-pointer).
    #[arg(long, value_name = "URL")]
    pub filter_url: Option<String>,
    /// HTTP header 'Name: value' for --filter-url, repeatable; ${ENV_VAR} in the value is read
    /// from the environment and never written to reports or logs.
    #[arg(long, value_name = "'NAME: VALUE'")]
    pub header: Vec<String>,
    /// Request body for --filter-url; the quoted "{{text}}" is replaced by the text as a JSON
    /// string (default {"text": "{{text}}"}).
    #[arg(long, value_name = "JSON")]
    pub request_template: Option<String>,
    /// JSON pointer to the answer in the endpoint's response, e.g. /score; "" is the whole
    /// response [default: ""].
    #[arg(long, value_name = "POINTER")]
    pub answer_pointer: Option<String>,
    /// Longest wait for one answer from the external command or HTTP endpoint, in seconds
    /// [default: 10].
    #[arg(long, alias = "timeout", value_name = "SECONDS")]
    pub filter_timeout: Option<f64>,
    /// Retries of a failed HTTP request (5xx, 429, timeouts, unusable answers), with
    /// exponential backoff [default: 3].
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// Client-side rate limit for --filter-url, requests per second.
    #[arg(long, value_name = "REQ/S")]
    pub rate_limit: Option<f64>,
    /// Attacks, comma-separated [default: deepwordbug,homoglyph,leet,goodword].
    #[arg(long, value_name = "LIST")]
    pub attacks: Option<String>,
    /// Edits per message [default: 50].
    #[arg(long, value_name = "N")]
    pub max_edits: Option<f64>,
    /// Fraction of a message's words that may be touched [default: 0.1].
    #[arg(long, value_name = "FRACTION")]
    pub max_word_fraction: Option<f64>,
    /// Character Levenshtein distance per message [default: 150].
    #[arg(long, value_name = "N")]
    pub max_levenshtein: Option<f64>,
    /// Queries per message (unlimited if absent).
    #[arg(long, value_name = "N")]
    pub max_queries: Option<f64>,
    /// Attacks see only the spam/ham label, not the score.
    #[arg(long)]
    pub decision_only: bool,
    /// Held-out spam attacked per filter variant [default: 200].
    #[arg(long, value_name = "N")]
    pub max_messages: Option<usize>,
    /// Share of messages (split by a hash of id) used for training [default: 0.8].
    #[arg(long, value_name = "FRACTION")]
    pub train_fraction: Option<f64>,
    /// Skip the re-audit of the normalized and adversarially trained filters.
    #[arg(long)]
    pub no_defenses: bool,
    /// Training spam attacked to build adversarial-training examples [default: 400].
    #[arg(long, value_name = "N")]
    pub adv_train: Option<usize>,
    /// Example evasions shown per (variant, attack) [default: 2].
    #[arg(long, value_name = "N")]
    pub examples: Option<usize>,
    /// Words in the good-word attacker's dictionary (the most frequent training words)
    /// [default: 1000].
    #[arg(long, value_name = "N")]
    pub dictionary_size: Option<usize>,
    /// Seed of every random choice (recorded in the report) [default: 0].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Output directory for text-report.{json,md,html} and, while a run is unfinished, its
    /// checkpoint [default: gauntlet-text-report].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Discard the checkpoint an interrupted run left in the output directory instead of
    /// resuming from it.
    #[arg(long)]
    pub fresh: bool,
    /// Attack part of the held-out spam: I/N (every N-th message from the I-th, counted from
    /// 0), or auto (a Kubernetes Indexed Job's JOB_COMPLETION_INDEX, with the count in
    /// GAUNTLET_SHARDS, or a Slurm job array's SLURM_ARRAY_TASK_ID). `gauntlet merge` combines
    /// the parts' output folders into the report of the whole run.
    #[arg(long, value_name = "I/N|auto")]
    pub shard: Option<String>,
    /// CI gate: exit 1 when the share of attacked spam the filter still catches under ATTACK
    /// is below MIN, a fraction; repeatable. Rows: deepwordbug, homoglyph, leet, goodword and
    /// worst (every attack) on the filter as deployed; ATTACK+normalized,
    /// ATTACK+adversarial-training and ATTACK+normalized+adversarial on the hardened variants
    /// (e.g. deepwordbug=0.3, worst+normalized=0.5).
    #[arg(long = "fail-under", value_name = "ATTACK=MIN")]
    pub fail_under: Vec<String>,
    /// CI gate: an earlier text-report.json (or its directory); exit 1 when any row's share of
    /// spam still caught dropped by more than --max-drop.
    #[arg(long, value_name = "OLD/text-report.json")]
    pub baseline: Option<PathBuf>,
    /// Largest allowed drop from --baseline, a fraction (0.02 = 2 points; default 0).
    #[arg(long, value_name = "FRACTION")]
    pub max_drop: Option<f64>,
    /// Write the gate's verdict as JUnit XML (one testcase per row).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Print a machine-readable JSON summary on stdout, and nothing else there.
    /// Exit codes: 0 pass, 1 a threshold failed, 2 usage error or incomplete run.
    #[arg(long)]
    pub json: bool,
    /// No progress lines and no tables.
    #[arg(long)]
    pub quiet: bool,
}

impl TextAuditArgs {
    /// The audit's configuration: the file's (if any), then the flags given over it.
    fn config(&self) -> Result<TextAuditConfig> {
        flags_over_file(
            self.config.as_deref(),
            self,
            &[
                ("fail_under", "thresholds"),
                ("header", "headers"),
                ("filter_timeout", "timeout"),
            ],
        )
    }
}

/// A library error, with the flag (and config key) a setting error is about.
fn with_flag(e: Error) -> anyhow::Error {
    match &e {
        Error::InvalidConfig { field, .. }
            if field.chars().all(|c| c.is_ascii_lowercase() || c == '_') =>
        {
            anyhow::anyhow!(
                "{e} (the flag --{}, or `{field}` in --config)",
                field.replace('_', "-")
            )
        }
        _ => anyhow::Error::new(e),
    }
}

/// Progress as log lines on stderr (one per 5 %: readable in terminals and CI logs alike);
/// Ctrl-C asks the audit to stop after the message in hand.
struct Lines {
    quiet: bool,
    task: std::cell::RefCell<String>,
    total: Cell<u64>,
    done: Cell<u64>,
    shown: Cell<u64>,
}

impl Lines {
    fn new(quiet: bool) -> Self {
        install_interrupt_handler(
            "stopping after the message in hand and writing what is done; rerun the same command \
             to resume (the checkpoint keeps every finished message)",
        );
        Lines {
            quiet,
            task: Default::default(),
            total: Cell::new(0),
            done: Cell::new(0),
            shown: Cell::new(0),
        }
    }
}

impl Progress for Lines {
    fn begin(&self, task: &str, total: u64) {
        *self.task.borrow_mut() = task.to_string();
        self.total.set(total);
        self.done.set(0);
        self.shown.set(0);
    }

    fn advance(&self, done: u64) {
        let done = self.done.get() + done;
        self.done.set(done);
        let total = self.total.get();
        if self.quiet || done == 0 {
            return;
        }
        if done == total || done >= self.shown.get() + (total / 20).max(1) {
            self.shown.set(done);
            eprintln!("{}: {done}/{total}", self.task.borrow());
        }
    }

    fn end(&self) {}

    fn cancelled(&self) -> bool {
        interrupted()
    }
}

/// Runs `gauntlet text-audit`; the exit code is the gate's verdict (errors before or during the
/// run are returned, and `main` exits 2 on them).
pub fn run(args: TextAuditArgs) -> Result<ExitCode> {
    let config = args.config()?;
    let quiet = config.quiet || config.json;
    let audit = config.validate().map_err(with_flag)?;
    let run = audit.run(&Lines::new(quiet)).map_err(with_flag)?;
    if !audit.shard().is_whole() && !quiet {
        eprintln!(
            "shard {} of the run written to {}; `gauntlet merge` its output folder with the \
             other shards' for the whole run's report",
            audit.shard(),
            config.out.display()
        );
    }
    match &run.checkpoint {
        Start::Resumed { .. } if run.report.resumed > 0 && !quiet => eprintln!(
            "resumed {} finished message outcomes from {} (pass --fresh to recompute)",
            run.report.resumed,
            audit.checkpoint_path().display()
        ),
        Start::Discarded { reason } if !config.fresh && !quiet => {
            eprintln!(
                "note: the checkpoint in {} was not resumed: {reason}",
                config.out.display()
            )
        }
        _ => {}
    }
    let rerun = format!(
        "rerun the same command to resume from {}",
        audit.checkpoint_path().display()
    );
    Ok(show(&run, quiet, config.json, &rerun))
}

/// Prints a finished (or stopped) run — its tables, files, gate problems, the JSON summary —
/// and returns the gate's exit code. `rerun` says how to finish an incomplete run.
fn show(run: &TextAuditRun, quiet: bool, json: bool, rerun: &str) -> ExitCode {
    if !quiet {
        println!("{}", run.report.to_markdown());
        println!(
            "report: {}\n        {}\n        {}",
            run.files.json.display(),
            run.files.markdown.display(),
            run.files.html.display()
        );
        if let Some(junit) = &run.junit {
            println!("junit:  {}", junit.display());
        }
    }
    for line in run.judgement.problems() {
        eprintln!("{line}");
    }
    if run.report.status != "complete" {
        eprintln!("the report holds what finished (status: incomplete); {rerun}");
    }
    if json {
        println!("{}", run.summary_json());
    }
    ExitCode::from(run.verdict().code())
}

/// `gauntlet merge` of text-audit shards: the whole run's report and gate.
/// `shards`, `out`, `quiet`, `json`: the flags of `gauntlet merge`.
pub fn merge(shards: &[PathBuf], out: &Path, quiet: bool, json: bool) -> Result<ExitCode> {
    let silent = quiet || json;
    let run = gauntlet_text::shard::merge(shards, out, quiet, json, &Lines::new(silent))
        .map_err(with_flag)?;
    Ok(show(
        &run,
        silent,
        json,
        "stopped before the report was complete; run the same merge again",
    ))
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches, Parser};

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: TextAuditArgs,
    }

    /// Every flag's id (`max_edits`), `config` and clap's own aside.
    fn flags() -> Vec<String> {
        Cli::command()
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .filter(|id| id != "config" && id != "help")
            .collect()
    }

    fn keys() -> Vec<String> {
        let v = serde_json::to_value(TextAuditConfig::default()).unwrap();
        v.as_object().unwrap().keys().cloned().collect()
    }

    fn parse(argv: &[&str]) -> TextAuditArgs {
        let m = Cli::command()
            .try_get_matches_from(std::iter::once("text-audit").chain(argv.iter().copied()))
            .unwrap();
        Cli::from_arg_matches(&m).unwrap().args
    }

    #[test]
    fn every_flag_has_a_config_key_of_the_same_name_and_back() {
        let mut flags = flags();
        let mut keys = keys();
        flags.sort();
        keys.sort();
        assert_eq!(flags, keys);
    }

    /// A value for every flag that differs from its default, as (flag, command-line value,
    /// TOML value).
    fn everything() -> Vec<(&'static str, &'static str, &'static str)> {
        vec![
            ("corpus", "c.jsonl", "\"c.jsonl\""),
            ("filter", "http", "\"http\""),
            ("filter-cmd", "python3 f.py", "\"python3 f.py\""),
            (
                "filter-url",
                "http://localhost:9/",
                "\"http://localhost:9/\"",
            ),
            ("header", "X-Key: ${KEY}", "[\"X-Key: ${KEY}\"]"),
            (
                "request-template",
                "{\"t\": \"{{text}}\"}",
                "'{\"t\": \"{{text}}\"}'",
            ),
            ("answer-pointer", "/score", "\"/score\""),
            ("filter-timeout", "2.5", "2.5"),
            ("retries", "7", "7"),
            ("rate-limit", "3", "3.0"),
            ("attacks", "leet,goodword", "[\"leet\", \"goodword\"]"),
            ("max-edits", "9", "9"),
            ("max-word-fraction", "0.25", "0.25"),
            ("max-levenshtein", "40", "40"),
            ("max-queries", "500", "500"),
            ("decision-only", "", "true"),
            ("max-messages", "12", "12"),
            ("train-fraction", "0.7", "0.7"),
            ("no-defenses", "", "true"),
            ("adv-train", "8", "8"),
            ("examples", "5", "5"),
            ("dictionary-size", "300", "300"),
            ("seed", "42", "42"),
            ("out", "o", "\"o\""),
            ("fresh", "", "true"),
            ("shard", "1/3", "\"1/3\""),
            ("fail-under", "leet=0.5", "[\"leet=0.5\"]"),
            ("baseline", "b.json", "\"b.json\""),
            ("max-drop", "0.02", "0.02"),
            ("junit", "j.xml", "\"j.xml\""),
            ("json", "", "true"),
            ("quiet", "", "true"),
        ]
    }

    #[test]
    fn a_flag_and_its_key_set_the_same_setting() {
        let all = everything();
        let mut named: Vec<String> = all.iter().map(|(f, _, _)| f.replace('-', "_")).collect();
        named.sort();
        let mut expected = flags();
        expected.sort();
        assert_eq!(named, expected, "the test sets every flag");
        let mut argv: Vec<String> = Vec::new();
        let mut toml_text = String::new();
        for (flag, cli, file) in &all {
            argv.push(format!("--{flag}"));
            if !cli.is_empty() {
                argv.push(cli.to_string());
            }
            toml_text.push_str(&format!("{} = {file}\n", flag.replace('-', "_")));
        }
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let from_flags = parse(&argv).config().unwrap();
        let from_file: TextAuditConfig = toml::from_str(&toml_text).unwrap();
        assert_eq!(from_flags, from_file);
        assert_ne!(
            from_file,
            TextAuditConfig::default(),
            "every value differs from its default"
        );
        let default = serde_json::to_value(TextAuditConfig::default()).unwrap();
        let set = serde_json::to_value(&from_file).unwrap();
        for key in keys() {
            assert_ne!(default[&key], set[&key], "{key} keeps its default");
        }
    }

    #[test]
    fn flags_override_the_file_and_unknown_keys_are_errors() {
        let dir = std::env::temp_dir().join(format!("gauntlet-text-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gauntlet.toml");
        std::fs::write(&path, "corpus = \"a.jsonl\"\nmax_edits = 9\nattacks = \"leet, goodword\"\nthresholds = [\"leet=0.1\"]\n").unwrap();
        let path_text = path.display().to_string();
        let c = parse(&[
            "--config",
            &path_text,
            "--max-edits",
            "4",
            "--decision-only",
        ])
        .config()
        .unwrap();
        assert_eq!(c.corpus, Some(PathBuf::from("a.jsonl")));
        assert_eq!((c.max_edits, c.decision_only), (4.0, true));
        assert_eq!(c.attacks, ["leet", "goodword"]);
        assert_eq!(
            c.fail_under,
            ["leet=0.1"],
            "`thresholds` is accepted as in the image audit's file"
        );
        std::fs::write(&path, "corpus = \"a.jsonl\"\nmax_edit = 9\n").unwrap();
        let e = format!(
            "{:#}",
            parse(&["--config", &path_text]).config().unwrap_err()
        );
        assert!(e.contains("max_edit") && e.contains("gauntlet.toml"), "{e}");
        std::fs::write(&path, "max_messages = \"many\"\n").unwrap();
        let e = format!(
            "{:#}",
            parse(&["--config", &path_text]).config().unwrap_err()
        );
        assert!(e.contains("max_messages"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn defaults_shown_in_the_help_are_the_configs() {
        let default = serde_json::to_value(TextAuditConfig::default()).unwrap();
        for arg in Cli::command().get_arguments() {
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let key = arg.get_id().to_string();
            let Some(shown) = help
                .split("[default: ")
                .nth(1)
                .and_then(|s| s.split(']').next())
            else {
                let d = &default[&key];
                let trivial =
                    d.is_null() || d == &serde_json::json!(false) || d == &serde_json::json!([]);
                assert!(
                    trivial || key == "config",
                    "--{key} has default {d} but its help does not say so"
                );
                continue;
            };
            let shown = shown.trim().trim_matches('"');
            let actual = match &default[&key] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            let same = match (shown.parse::<f64>(), actual.parse::<f64>()) {
                (Ok(a), Ok(b)) => a == b,
                _ => shown == actual || (shown.is_empty() && actual.is_empty()),
            };
            assert!(
                same,
                "--{key}: help says {shown:?}, the default is {actual:?}"
            );
        }
    }

    #[test]
    fn setting_errors_name_the_flag_and_the_key() {
        let e = with_flag(Error::InvalidConfig {
            field: "max_edits".into(),
            reason: "2.5 is not a whole number".into(),
        });
        assert_eq!(e.to_string(), "invalid max_edits: 2.5 is not a whole number (the flag --max-edits, or `max_edits` in --config)");
        let e = with_flag(Error::InvalidConfig {
            field: "goodword state".into(),
            reason: "x".into(),
        });
        assert!(!e.to_string().contains("--"), "{e}");
    }
}
