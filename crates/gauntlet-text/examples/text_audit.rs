//! A text audit from code: DeepWordBug against the built-in Naive Bayes filter on the demo
//! corpus, gated on the share of attacked spam the filter still catches.
//!
//! `cargo run -p gauntlet-text --example text_audit` (a few seconds). The same settings as a
//! command: `gauntlet text-audit --corpus data/spam-demo/spam-demo.jsonl.gz --attacks
//! deepwordbug --no-defenses --max-messages 20 --fail-under deepwordbug=0.5`.

use gauntlet_text::corpus::demo_corpus_path;
use gauntlet_text::TextAuditConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = TextAuditConfig::new(demo_corpus_path());
    config.attacks = vec!["deepwordbug".into()];
    config.no_defenses = true;
    config.max_messages = 20;
    config.fail_under = vec!["deepwordbug=0.5".into()];
    config.out = std::env::temp_dir().join(format!("gauntlet-text-example-{}", std::process::id()));
    // Checked once (errors name the setting), then run: resumable, reports written, gate judged.
    let run = config.validate()?.run(&gauntlet_run::Silent)?;
    for row in &run.report.gate_rows {
        println!(
            "{:>12}: {:5.1} % of attacked spam still caught",
            row.row,
            100.0 * row.still_caught
        );
    }
    println!(
        "gate: {} (exit code {})",
        run.verdict(),
        run.verdict().code()
    );
    for line in run.judgement.problems() {
        println!("  {line}");
    }
    std::fs::remove_dir_all(&config.out)?;
    Ok(())
}
