//! `gauntlet text-audit`: spam-filter evasion (crate gauntlet-text).

use std::cell::Cell;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;

use gauntlet_text::attacks::AttackKind;
use gauntlet_text::{run_text_audit, write_text_report, FilterSpec, TextAuditConfig, TextBudget};

#[derive(Args, Debug)]
pub struct TextAuditArgs {
    /// JSON Lines corpus, gzip or plain, with fields id, label (spam/ham), text.
    #[arg(long)]
    pub corpus: PathBuf,
    /// Target: built-in Naive Bayes (nb), logistic regression (lr), an external command
    /// (external, with --filter-cmd) or an HTTP endpoint (http, with --filter-url). Default:
    /// http with --filter-url, external with --filter-cmd, else nb.
    #[arg(long)]
    pub filter: Option<String>,
    /// Command for --filter external (JSON Lines on stdin/stdout), e.g. 'python3 filter.py'.
    #[arg(long)]
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
    /// JSON pointer to the answer in the endpoint's response, e.g. /score (default: the whole
    /// response).
    #[arg(long, value_name = "POINTER", default_value = "")]
    pub answer_pointer: String,
    /// Longest wait for one answer from the external command or HTTP endpoint, in seconds.
    #[arg(long, alias = "timeout", default_value_t = 10.0)]
    pub filter_timeout: f64,
    /// Retries of a failed HTTP request (5xx, 429, timeouts, unusable answers), with
    /// exponential backoff.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Client-side rate limit for --filter-url, requests per second.
    #[arg(long, value_name = "REQ/S")]
    pub rate_limit: Option<f64>,
    /// Attacks: deepwordbug, homoglyph, leet, goodword (comma-separated).
    #[arg(long, default_value = "deepwordbug,homoglyph,leet,goodword")]
    pub attacks: String,
    /// Edits per message.
    #[arg(long, default_value = "50")]
    pub max_edits: String,
    /// Fraction of a message's words that may be touched.
    #[arg(long, default_value = "0.1")]
    pub max_word_fraction: String,
    /// Character Levenshtein distance per message.
    #[arg(long, default_value = "150")]
    pub max_levenshtein: String,
    /// Queries per message (unlimited if absent).
    #[arg(long)]
    pub max_queries: Option<String>,
    /// Attacks see only the spam/ham label, not the score.
    #[arg(long)]
    pub decision_only: bool,
    /// Held-out spam attacked per filter variant.
    #[arg(long, default_value_t = 200)]
    pub max_messages: usize,
    /// Share of messages (split by a hash of id) used for training.
    #[arg(long, default_value_t = 0.8)]
    pub train_fraction: f64,
    /// Skip the re-audit of the normalized and adversarially trained filters.
    #[arg(long)]
    pub no_defenses: bool,
    /// Training spam attacked to build adversarial-training examples.
    #[arg(long, default_value_t = 400)]
    pub adv_train: usize,
    /// Example evasions shown per (variant, attack).
    #[arg(long, default_value_t = 2)]
    pub examples: usize,
    /// Seed (recorded in the report).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory for text-report.json and text-report.md.
    #[arg(long, default_value = "gauntlet-text-report")]
    pub out: PathBuf,
}

pub fn run(args: TextAuditArgs) -> Result<ExitCode> {
    let mut config = TextAuditConfig::new(&args.corpus);
    config.attacks = args
        .attacks
        .split(',')
        .map(|s| s.trim().parse::<AttackKind>())
        .collect::<Result<Vec<_>, _>>()?;
    config.budget = TextBudget::parse(
        &args.max_edits,
        &args.max_word_fraction,
        &args.max_levenshtein,
        args.max_queries.as_deref(),
    )?;
    let filter = match (&args.filter, &args.filter_url, &args.filter_cmd) {
        (Some(f), _, _) => f.as_str(),
        (None, Some(_), None) => "http",
        (None, None, Some(_)) => "external",
        (None, Some(_), Some(_)) => bail!("give either --filter-url or --filter-cmd, not both"),
        (None, None, None) => "nb",
    };
    if filter != "http" && (args.filter_url.is_some() || !args.header.is_empty()) {
        bail!("--filter-url and --header need --filter http (or no --filter)");
    }
    config.filter = match filter {
        "nb" | "naive-bayes" => FilterSpec::NaiveBayes,
        "lr" | "logistic" => FilterSpec::Logistic,
        "external" => match &args.filter_cmd {
            Some(cmd) => FilterSpec::External {
                argv: cmd.split_whitespace().map(String::from).collect(),
                timeout_s: args.filter_timeout,
            },
            None => bail!("--filter external needs --filter-cmd 'PROGRAM ARGS'"),
        },
        "http" => match &args.filter_url {
            Some(url) => {
                let mut headers = Vec::new();
                for h in &args.header {
                    let Some((name, value)) = h.split_once(':') else {
                        bail!("--header needs 'Name: value' (e.g. 'Authorization: Bearer ${{API_TOKEN}}')");
                    };
                    headers.push((name.trim().to_string(), value.trim().to_string()));
                }
                FilterSpec::Http {
                    url: url.clone(),
                    headers,
                    request_template: args.request_template.clone(),
                    answer_pointer: args.answer_pointer.clone(),
                    timeout_s: args.filter_timeout,
                    retries: args.retries,
                    rate_limit: args.rate_limit,
                }
            }
            None => bail!("--filter http needs --filter-url URL"),
        },
        other => bail!("unknown filter '{other}'; use nb, lr, external or http"),
    };
    config.decision_only = args.decision_only;
    config.max_messages = Some(args.max_messages);
    config.train_fraction = args.train_fraction;
    config.defenses = !args.no_defenses;
    config.adv_train_messages = args.adv_train;
    config.examples = args.examples;
    config.seed = args.seed;

    let last = Cell::new(0usize);
    let progress = |done: usize, total: usize| {
        // One line per 5 %: readable in terminals and CI logs alike.
        let step = (total / 20).max(1);
        if done == total || done >= last.get() + step {
            last.set(done);
            eprintln!("attacked {done}/{total}");
        }
    };
    let report = run_text_audit(&config, &progress)?;
    let (json, md) = write_text_report(&args.out, &report)?;
    println!("{}", report.to_markdown());
    println!("report: {}\n        {}", json.display(), md.display());
    Ok(ExitCode::SUCCESS)
}
