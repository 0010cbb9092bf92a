//! Run a spam-filter evasion audit from the command line (stand-in for
//! `gauntlet text-audit` until the CLI wires it in).
//!
//! ```text
//! cargo run -p gauntlet-text --example text_audit -- \
//!     --corpus data/spam-demo/spam-demo.jsonl.gz --filter nb --out out/text-audit
//! ```
//! Run with `--help` for every flag.

use std::path::PathBuf;
use std::process::ExitCode;

use gauntlet_text::attacks::AttackKind;
use gauntlet_text::{run_text_audit, write_text_report, FilterSpec, TextAuditConfig, TextBudget};

const HELP: &str = "text_audit — spam-filter evasion audit

  --corpus PATH            JSON Lines corpus, gzip or plain (id, label, text)   [required]
  --filter nb|lr|external  built-in Naive Bayes, logistic regression, or a command [nb]
  --filter-cmd 'PROG ARGS' command for --filter external (split on spaces)
  --filter-timeout SECS    longest wait for one answer from the command         [10]
  --attacks LIST           comma list of deepwordbug,homoglyph,leet,goodword     [all]
  --max-edits N            edits per message                                   [50]
  --max-word-fraction F    fraction of words touched                            [0.1]
  --max-levenshtein N      character edit distance                              [150]
  --max-queries N          queries per message                                  [unlimited]
  --decision-only          attacks see labels only
  --max-messages N         held-out spam attacked per filter variant            [200]
  --train-fraction F       share of messages (by id hash) used for training     [0.8]
  --no-defenses            skip the normalized / adversarially trained re-audit
  --adv-train N            training spam attacked for adversarial training      [400]
  --examples N             example evasions per (variant, attack)               [2]
  --seed N                                                                      [0]
  --out DIR                where text-report.json / text-report.md go           [out/text-audit]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut corpus: Option<PathBuf> = None;
    let mut filter = "nb".to_string();
    let mut cmd: Option<String> = None;
    let mut timeout = 10.0;
    let (mut edits, mut frac, mut lev, mut queries) = ("50".to_string(), "0.1".to_string(), "150".to_string(), None::<String>);
    let mut out = PathBuf::from("out/text-audit");
    let mut cfg = TextAuditConfig::new("");
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "-h" | "--help" => {
                println!("{HELP}");
                return Ok(());
            }
            "--corpus" => corpus = Some(val()?.into()),
            "--filter" => filter = val()?,
            "--filter-cmd" => cmd = Some(val()?),
            "--filter-timeout" => timeout = val()?.parse().map_err(|_| "--filter-timeout needs seconds")?,
            "--attacks" => {
                cfg.attacks = val()?.split(',').map(str::parse).collect::<Result<Vec<AttackKind>, _>>()?;
            }
            "--max-edits" => edits = val()?,
            "--max-word-fraction" => frac = val()?,
            "--max-levenshtein" => lev = val()?,
            "--max-queries" => queries = Some(val()?),
            "--decision-only" => cfg.decision_only = true,
            "--max-messages" => cfg.max_messages = Some(val()?.parse().map_err(|_| "--max-messages needs a whole number")?),
            "--train-fraction" => cfg.train_fraction = val()?.parse().map_err(|_| "--train-fraction needs a number")?,
            "--no-defenses" => cfg.defenses = false,
            "--adv-train" => cfg.adv_train_messages = val()?.parse().map_err(|_| "--adv-train needs a whole number")?,
            "--examples" => cfg.examples = val()?.parse().map_err(|_| "--examples needs a whole number")?,
            "--seed" => cfg.seed = val()?.parse().map_err(|_| "--seed needs a whole number")?,
            "--out" => out = val()?.into(),
            other => return Err(format!("unknown argument {other:?}; see --help").into()),
        }
    }
    cfg.corpus = corpus.ok_or("--corpus PATH is required; see --help")?;
    cfg.budget = TextBudget::parse(&edits, &frac, &lev, queries.as_deref())?;
    cfg.filter = match filter.as_str() {
        "nb" | "naive-bayes" => FilterSpec::NaiveBayes,
        "lr" | "logistic" => FilterSpec::Logistic,
        "external" => {
            let c = cmd.ok_or("--filter external needs --filter-cmd 'PROGRAM ARGS'")?;
            FilterSpec::External { argv: c.split_whitespace().map(String::from).collect(), timeout_s: timeout }
        }
        other => return Err(format!("unknown filter {other:?}; use nb, lr or external").into()),
    };
    let last = std::cell::Cell::new(0usize);
    let progress = |done: usize, total: usize| {
        // One line per 5 %: readable in logs and CI output.
        let step = (total / 20).max(1);
        if done == total || done >= last.get() + step {
            last.set(done);
            eprintln!("attacked {done}/{total}");
        }
    };
    let report = run_text_audit(&cfg, &progress)?;
    let (json, md) = write_text_report(&out, &report)?;
    println!("{}", report.to_markdown());
    println!("wrote {} and {}", json.display(), md.display());
    Ok(())
}
