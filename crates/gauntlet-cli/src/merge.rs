//! `gauntlet merge`: the output folders of a sharded audit — image, text or tabular, told
//! apart by their `shard.json` — combined into the whole run's report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::audit::{redact_command, show_run, with_flag_names};
use crate::progress::Bar;

/// Flags of `gauntlet merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The output folder of every shard (`gauntlet audit|text-audit|tabular-audit … --shard
    /// I/N --out DIR_I`), in any order.
    #[arg(required = true, value_name = "DIR")]
    pub shards: Vec<PathBuf>,
    /// Where the merged report goes (`report.json`, `samples.jsonl`, `adversarial/`, …).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Print a machine-readable JSON summary on stdout, and nothing else there.
    #[arg(long)]
    pub json: bool,
}

/// Runs `gauntlet merge`: checks the shards are the complete set of one run, then writes the
/// report (and judges the gate) the unsharded run would have.
pub fn run(args: MergeArgs) -> Result<ExitCode> {
    match gauntlet_run::shard::kind_of(&args.shards)?.as_str() {
        gauntlet_text::shard::KIND => {
            crate::text::merge(&args.shards, &args.out, args.quiet, args.json)
        }
        gauntlet_tabular::shard::KIND => {
            crate::tabular::merge(&args.shards, &args.out, args.quiet, args.json)
        }
        _ => merge_images(args),
    }
}

/// Merges the shards of `gauntlet audit`.
fn merge_images(args: MergeArgs) -> Result<ExitCode> {
    let progress = Bar::new(args.quiet || args.json);
    let command = redact_command(std::env::args().collect());
    let run = gauntlet_audit::merge(&args.shards, &args.out, command, &progress)
        .map_err(with_flag_names)?;
    Ok(show_run(&run, args.quiet, args.json))
}
