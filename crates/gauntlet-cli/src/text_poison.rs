//! `gauntlet text-poison`: poison a built-in spam filter's training mail (dictionary, optimal,
//! focused, label-flip), retrain it, measure the damage on held-out mail, with and without the
//! RONI and dynamic-threshold defenses (crate gauntlet-text, module `poison`). A thin mapping:
//! flags → `PoisonConfig` → `PoisonStudy::run` → `report.{json,md,html}`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use gauntlet_text::poison::PoisonConfig;
use gauntlet_text::Error;

use crate::progress::Bar;

/// Flags of `gauntlet text-poison`.
#[derive(Args, Debug)]
pub struct TextPoisonArgs {
    /// JSON Lines corpus, gzip or plain, with fields id, label (spam/ham), text.
    #[arg(long)]
    pub corpus: PathBuf,
    /// The built-in filter retrained on the poisoned mail: nb (Naive Bayes), lr (logistic
    /// regression) or spambayes (SpamBayes-style: token presence, chi-squared combining, ham /
    /// unsure / spam cut-offs 0.20 / 0.90, as Nelson et al. 2008 attacked).
    #[arg(long, default_value = "nb")]
    pub filter: String,
    /// Attacks, comma-separated: dictionary, optimal (the training ham vocabulary as the
    /// dictionary), focused (one target ham at a time), label-flip (training ham relabelled
    /// spam).
    #[arg(long, value_name = "LIST", default_value = "dictionary")]
    pub attack: String,
    /// Attacker shares of the training mail, comma-separated, each in (0, 0.5]; the attack
    /// mails (or flips) number round(share × training messages).
    #[arg(
        long,
        value_name = "F[,F…]",
        default_value = "0.001,0.005,0.01,0.02,0.05,0.1"
    )]
    pub fraction: String,
    /// Word list of the dictionary attack, one word a line, gzip or plain [default: Debian's
    /// wamerican, embedded].
    #[arg(long, value_name = "FILE")]
    pub dictionary: Option<PathBuf>,
    /// Defenses, comma-separated: none, roni (reject on negative impact), threshold (dynamic
    /// cut-off chosen on a validation share).
    #[arg(long, value_name = "LIST", default_value = "none")]
    pub defense: String,
    /// Seed of every random choice (recorded in the report).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Share of the corpus (split by a hash of the id) used for training.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.8)]
    pub train_fraction: f64,
    /// Held-out ham messages the focused attack targets, one at a time.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub targets: usize,
    /// Share of a target's words the focused attacker knows.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.5)]
    pub knowledge: f64,
    /// Share of the clean training mail the defender trusts (RONI's samples and calibration).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.1)]
    pub trusted_fraction: f64,
    /// Share of the training mail the threshold defense holds out to choose its cut-off.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.25)]
    pub validation_fraction: f64,
    /// RONI rejects mail whose impact is below this quantile of the trusted mail's impacts.
    #[arg(long, value_name = "Q", default_value_t = 0.01)]
    pub roni_quantile: f64,
    /// Output directory for report.json, report.md, report.html.
    #[arg(long, value_name = "DIR", default_value = "gauntlet-poison-report")]
    pub out: PathBuf,
    /// No progress bar and no table.
    #[arg(long)]
    pub quiet: bool,
}

/// Parses `0.01,0.05` into shares; the library checks their range.
fn fractions(list: &str) -> Result<Vec<f64>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<f64>().map_err(|_| {
                anyhow::anyhow!(
                    "--fraction: {s:?} is not a number; give shares of the training mail, e.g. 0.01,0.05"
                )
            })
        })
        .collect()
}

/// A library error, with the flag a setting error is about.
fn with_flag(e: Error) -> anyhow::Error {
    match &e {
        Error::InvalidConfig { field, .. }
            if field.chars().all(|c| c.is_ascii_lowercase() || c == '_') =>
        {
            anyhow::anyhow!("{e} (the flag --{})", field.replace('_', "-"))
        }
        _ => anyhow::Error::new(e),
    }
}

/// Runs `gauntlet text-poison`: exit 0 with the report written, errors exit 2 (in `main`).
pub fn run(args: TextPoisonArgs) -> Result<ExitCode> {
    let mut config = PoisonConfig::new(&args.corpus);
    config.filter = args.filter.clone();
    config.attacks = args.attack.clone();
    config.fractions = fractions(&args.fraction)?;
    config.dictionary = args.dictionary.clone();
    config.defenses = args.defense.clone();
    config.seed = args.seed;
    config.train_fraction = args.train_fraction;
    config.targets = args.targets;
    config.knowledge = args.knowledge;
    config.trusted_fraction = args.trusted_fraction;
    config.validation_fraction = args.validation_fraction;
    config.roni.clean_quantile = args.roni_quantile;
    let study = config.validate().map_err(with_flag)?;
    let mut report = study.run(&Bar::new(args.quiet)).map_err(with_flag)?;
    report.command = Some(std::env::args().collect::<Vec<_>>().join(" "));
    let files = report.write(&args.out).map_err(with_flag)?;
    if !args.quiet {
        println!("{}", report.to_markdown());
        println!(
            "report: {}\n        {}\n        {}",
            files.json.display(),
            files.markdown.display(),
            files.html.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
