//! The settings of a poisoning study, one per `gauntlet text-poison` flag (checked by
//! `PoisonConfig::validate`, in the study's file).

use std::path::PathBuf;

use serde::Serialize;

use super::roni::RoniSettings;

/// The attacker shares studied by default: 0.1 % to 10 % of the training mail.
pub const DEFAULT_FRACTIONS: [f64; 6] = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1];

/// Settings of a poisoning study (`gauntlet text-poison`'s flags).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoisonConfig {
    /// JSON Lines corpus (fields id, label, text), gzip or plain.
    pub corpus: PathBuf,
    /// The built-in filter retrained: `nb`, `lr` or `spambayes`.
    pub filter: String,
    /// Attacks, comma-separated: dictionary, optimal, focused, label-flip.
    pub attacks: String,
    /// Attacker shares of the training mail, each in (0, 0.5].
    pub fractions: Vec<f64>,
    /// Word list of the dictionary attack (default: the embedded `wamerican`).
    pub dictionary: Option<PathBuf>,
    /// Defenses, comma-separated: none, roni, threshold.
    pub defenses: String,
    /// Seed of every random choice.
    pub seed: u64,
    /// Share of the corpus (split by a hash of the id) used for training; the rest is held out.
    pub train_fraction: f64,
    /// Held-out ham messages the focused attack targets, one at a time.
    pub targets: usize,
    /// Share of a target's words the focused attacker knows.
    pub knowledge: f64,
    /// Share of the clean training mail the defender trusts (RONI's samples and calibration;
    /// never flipped by the attacker).
    pub trusted_fraction: f64,
    /// Share of the training mail the threshold defense holds out to choose its cut-off.
    pub validation_fraction: f64,
    /// RONI's sample sizes, trials and calibration quantile.
    pub roni: RoniSettings,
}

impl PoisonConfig {
    /// Defaults for `corpus`: the dictionary attack with NB over the default shares, no
    /// defense, seed 0.
    pub fn new(corpus: impl Into<PathBuf>) -> Self {
        PoisonConfig {
            corpus: corpus.into(),
            filter: "nb".into(),
            attacks: "dictionary".into(),
            fractions: DEFAULT_FRACTIONS.to_vec(),
            dictionary: None,
            defenses: "none".into(),
            seed: 0,
            train_fraction: 0.8,
            targets: 10,
            knowledge: 0.5,
            trusted_fraction: 0.1,
            validation_fraction: 0.25,
            roni: RoniSettings::default(),
        }
    }
}
