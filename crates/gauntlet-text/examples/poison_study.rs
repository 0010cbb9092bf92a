//! A poisoning study from code: the library call behind `gauntlet text-poison`, runnable
//! without building the CLI (gauntlet-text does not depend on burn, so this builds in seconds).
//!
//! `cargo run -p gauntlet-text --example poison_study -- CORPUS FILTER ATTACKS FRACTIONS
//! DEFENSES OUT` runs what `gauntlet text-poison --corpus CORPUS --filter FILTER --attack
//! ATTACKS --fraction FRACTIONS --defense DEFENSES --out OUT` runs (every other setting at its
//! default); with no arguments, the dictionary attack on the demo corpus at 1 % and 10 %.

use std::path::PathBuf;

use gauntlet_text::corpus::demo_corpus_path;
use gauntlet_text::poison::PoisonConfig;

/// Progress as one line per stage on stderr.
struct Stages;

impl gauntlet_run::Progress for Stages {
    fn begin(&self, task: &str, total: u64) {
        eprintln!("{task} ({total})");
    }
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut config = PoisonConfig::new(args.first().map_or_else(demo_corpus_path, PathBuf::from));
    if args.len() >= 6 {
        config.filter = args[1].clone();
        config.attacks = args[2].clone();
        config.fractions = args[3]
            .split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        config.defenses = args[4].clone();
    } else {
        config.fractions = vec![0.01, 0.1];
    }
    let out = args.get(5).map_or_else(
        || std::env::temp_dir().join("gauntlet-poison-example"),
        PathBuf::from,
    );
    let mut report = config.validate()?.run(&Stages)?;
    report.command = Some(std::env::args().collect::<Vec<_>>().join(" "));
    let files = report.write(&out)?;
    println!("{}", report.to_markdown());
    println!("report: {}", files.json.display());
    Ok(())
}
