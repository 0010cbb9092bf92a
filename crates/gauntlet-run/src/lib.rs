//! # gauntlet-run
//!
//! What every kind of gauntlet audit shares, whatever it attacks (images, text, and the kinds
//! still to come). It knows nothing of tensors, texts or models, and depends on burn no more
//! than on any input type:
//!
//! * [`progress`]: the [`Progress`] trait an audit reports to as items finish (and asks whether
//!   the user wants it to stop), and [`Silent`].
//! * [`gate`]: the CI gate — thresholds (`deepwordbug=0.3`, `pgd:linf:8/255=0.8`), a baseline
//!   report with an allowed drop, the [`Verdict`] and its exit code (0 pass, 1 fail, 2 usage
//!   error or incomplete run), JUnit XML and a JSON summary. Each audit turns its own report
//!   into [`gate::Row`]s.
//! * [`fs::write_atomic`]: report files that are never half written.
//! * [`plot`]: line plots as inline SVG for every report's curves.
//! * [`journal`]: an append-only, fsynced JSON Lines [`Journal`] of finished items, so a run
//!   killed at any instant resumes without recomputing or losing a finished item.
//! * [`shard`]: one run split over processes or machines ([`Shard`], `I/N` or a job
//!   scheduler's index), by whole blocks, so merged shards equal the unsharded run; and the
//!   check, shared by every kind of audit, that the folders given to a merge are the complete
//!   set of one run ([`shard::read_set`]).
//!
//! ```
//! use gauntlet_run::gate::{Gate, Plan, Row};
//!
//! // Checked before any work: the threshold names a result the audit will produce.
//! let gate = Gate::new(vec!["deepwordbug=0.3".parse()?], None);
//! gate.check_applicable(&Plan { rows: vec!["deepwordbug".into(), "worst".into()], ..Plan::default() })?;
//! // After the run: its results as rows.
//! let judgement = gate.judge(&[Row::new("deepwordbug", 0.25), Row::new("worst", 0.25)], true);
//! assert_eq!(judgement.verdict().code(), 1);
//! # Ok::<(), gauntlet_run::gate::GateError>(())
//! ```

pub mod fs;
pub mod gate;
pub mod journal;
pub mod markup;
pub mod plot;
pub mod progress;
pub mod shard;

pub use gate::{Gate, GateError, Verdict};
pub use journal::{Journal, JournalError};
pub use progress::{Progress, Silent};
pub use shard::{Shard, ShardError};
