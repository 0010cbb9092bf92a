//! The text audit's checkpoint: every finished unit of work — a variant's held-out
//! evaluation, an attack's preparation, one adversarial-training attack, one (variant, attack,
//! message) outcome — is one record in a [`Journal`] in the output directory, flushed to disk
//! before the audit moves on. A rerun of the same audit (same fingerprint) reads them back and
//! sends no finished message to the filter again; a run with other settings discards them.

use std::collections::HashMap;
use std::path::Path;

use gauntlet_run::journal::{Journal, Start};
use serde::{Deserialize, Serialize};

use crate::attacks::AttackKind;
use crate::error::Result;
use crate::report::{FilterReport, MessageOutcome};

/// One finished unit of work. Messages are named by their index in the held-out (or training)
/// split, which the fingerprint pins (same corpus, same split).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub(crate) enum Record {
    /// A variant's held-out evaluation, and the held-out spam it detects in attack order.
    Evaluated {
        variant: String,
        filter: FilterReport,
        detected: Vec<usize>,
    },
    /// An attack prepared for adversarial training (its learned state, if it has one).
    TrainingPrepared {
        attack: AttackKind,
        state: Option<serde_json::Value>,
    },
    /// One training spam attacked for adversarial training, and its evasive version if any.
    Trained {
        attack: AttackKind,
        message: usize,
        evasive: Option<String>,
        seconds: f64,
    },
    /// An attack prepared against a variant (or why that failed).
    Prepared {
        variant: String,
        attack: AttackKind,
        setup_queries: u64,
        state: Option<serde_json::Value>,
        error: Option<String>,
        seconds: f64,
    },
    /// One message attacked.
    Attacked {
        message: usize,
        seconds: f64,
        outcome: MessageOutcome,
    },
}

/// A finished preparation.
#[derive(Debug, Clone)]
pub(crate) struct Preparation {
    pub setup_queries: u64,
    pub state: Option<serde_json::Value>,
    pub error: Option<String>,
    pub seconds: f64,
}

/// The records of this run and of the interrupted run it resumes, by what they finished.
#[derive(Debug, Default)]
pub(crate) struct Checkpoint {
    journal: Option<Journal>,
    /// How the journal was found (`None`: no journal, nothing is kept).
    pub start: Option<Start>,
    evaluated: HashMap<String, (FilterReport, Vec<usize>)>,
    training_prepared: HashMap<AttackKind, Option<serde_json::Value>>,
    trained: HashMap<(AttackKind, usize), (Option<String>, f64)>,
    prepared: HashMap<(String, AttackKind), Preparation>,
    attacked: HashMap<(String, AttackKind, usize), (MessageOutcome, f64)>,
}

impl Checkpoint {
    /// A checkpoint that keeps nothing on disk (a run that cannot be resumed).
    pub fn in_memory() -> Checkpoint {
        Checkpoint::default()
    }

    /// Opens (or starts) the journal at `path` for a run with `fingerprint`.
    pub fn open(path: &Path, fingerprint: &str, fresh: bool) -> Result<Checkpoint> {
        let opened = Journal::open::<Record>(path, fingerprint, fresh)?;
        let mut checkpoint = Checkpoint {
            start: Some(opened.start),
            ..Checkpoint::default()
        };
        for record in opened.records {
            checkpoint.index(record);
        }
        checkpoint.journal = Some(opened.journal);
        Ok(checkpoint)
    }

    /// Keeps a record (a later record of the same work replaces an earlier one); a merge
    /// restores the shards' records with it.
    pub(crate) fn index(&mut self, record: Record) {
        match record {
            Record::Evaluated {
                variant,
                filter,
                detected,
            } => {
                self.evaluated.insert(variant, (filter, detected));
            }
            Record::TrainingPrepared { attack, state } => {
                self.training_prepared.insert(attack, state);
            }
            Record::Trained {
                attack,
                message,
                evasive,
                seconds,
            } => {
                self.trained.insert((attack, message), (evasive, seconds));
            }
            Record::Prepared {
                variant,
                attack,
                setup_queries,
                state,
                error,
                seconds,
            } => {
                self.prepared.insert(
                    (variant, attack),
                    Preparation {
                        setup_queries,
                        state,
                        error,
                        seconds,
                    },
                );
            }
            Record::Attacked {
                message,
                seconds,
                outcome,
            } => {
                self.attacked.insert(
                    (outcome.variant.clone(), outcome.attack, message),
                    (outcome, seconds),
                );
            }
        }
    }

    /// Writes a record to the journal (flushed to disk) and keeps it.
    pub fn record(&mut self, record: Record) -> Result<()> {
        if let Some(journal) = &mut self.journal {
            journal.append(&record)?;
        }
        self.index(record);
        Ok(())
    }

    /// A variant's finished evaluation.
    pub fn evaluated(&self, variant: &str) -> Option<&(FilterReport, Vec<usize>)> {
        self.evaluated.get(variant)
    }

    /// The state of an attack prepared for adversarial training (`Some(None)`: prepared, with
    /// no state to restore).
    pub fn training_prepared(&self, attack: AttackKind) -> Option<&Option<serde_json::Value>> {
        self.training_prepared.get(&attack)
    }

    /// A finished adversarial-training attack on training message `message`.
    pub fn trained(&self, attack: AttackKind, message: usize) -> Option<&(Option<String>, f64)> {
        self.trained.get(&(attack, message))
    }

    /// A finished preparation of `attack` against `variant`.
    pub fn prepared(&self, variant: &str, attack: AttackKind) -> Option<&Preparation> {
        self.prepared.get(&(variant.to_string(), attack))
    }

    /// A finished outcome of `attack` on held-out message `message` against `variant`.
    pub fn attacked(
        &self,
        variant: &str,
        attack: AttackKind,
        message: usize,
    ) -> Option<&(MessageOutcome, f64)> {
        self.attacked.get(&(variant.to_string(), attack, message))
    }

    /// Removes the journal: the run is complete and reported.
    pub fn finish(self) -> Result<()> {
        if let Some(journal) = self.journal {
            journal.finish()?;
        }
        Ok(())
    }
}
