//! RONI, Reject On Negative Impact (Nelson et al. 2008, §5.1): a candidate training message
//! is judged by what it does to the filter. In each of several trials a small training sample
//! and a quiz set are drawn from mail the defender trusts; the filter is fitted on the sample
//! with and without the candidate, and the candidate's impact is the change in quiz messages
//! classified correctly, averaged over the trials. A candidate whose impact is below a
//! threshold is rejected. The threshold is calibrated on the trusted mail itself (each trusted
//! message judged against samples without it): the `clean_quantile` quantile of their impacts,
//! so about that share of clean mail is rejected by construction.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;

use super::learner::{Learner, Row};
use crate::error::{Error, Result};

/// RONI's settings; the defaults are Nelson et al.'s (training sample 20, quiz 50, 5 trials).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RoniSettings {
    /// Messages in each training sample (both classes, in the trusted mail's proportion).
    pub train_size: usize,
    /// Messages in each quiz set.
    pub quiz_size: usize,
    /// Trials averaged per candidate.
    pub trials: usize,
    /// Candidates with an impact strictly below this quantile of the trusted mail's impacts
    /// are rejected.
    pub clean_quantile: f64,
}

impl Default for RoniSettings {
    fn default() -> Self {
        RoniSettings {
            train_size: 20,
            quiz_size: 50,
            trials: 5,
            clean_quantile: 0.01,
        }
    }
}

/// RONI over a pool of trusted (known clean) training mail.
pub struct Roni<'a> {
    learner: &'a Learner,
    trusted: Vec<Row<'a>>,
    settings: RoniSettings,
    seed: u64,
}

/// One message to judge: a key that seeds its trials (the same key, the same samples), the
/// message, and the trusted message it is, if any (left out of its own samples).
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Seeds the candidate's samples.
    pub key: u64,
    /// The message as the filter would be told it.
    pub row: Row<'a>,
    /// Its index in the trusted pool, when it is trusted mail being calibrated.
    pub trusted_index: Option<usize>,
}

impl<'a> Roni<'a> {
    /// RONI with `trusted` mail for samples and quiz sets.
    pub fn new(
        learner: &'a Learner,
        trusted: Vec<Row<'a>>,
        settings: RoniSettings,
        seed: u64,
    ) -> Result<Self> {
        let spam = trusted.iter().filter(|r| r.spam).count();
        let need = settings.train_size + settings.quiz_size + 1;
        if settings.train_size < 2 || settings.quiz_size == 0 || settings.trials == 0 {
            return Err(Error::invalid(
                "roni settings",
                "the training sample needs at least 2 messages, the quiz and the trials at least 1",
            ));
        }
        if !(0.0..1.0).contains(&settings.clean_quantile) {
            return Err(Error::invalid("roni_quantile", "must be in [0, 1)"));
        }
        if trusted.len() < need || spam == 0 || spam == trusted.len() {
            return Err(Error::invalid(
                "trusted_fraction",
                format!(
                    "RONI needs at least {need} trusted training messages of both classes, got {} ({spam} spam); \
                     use a larger corpus or a larger trusted share",
                    trusted.len()
                ),
            ));
        }
        Ok(Roni {
            learner,
            trusted,
            settings,
            seed,
        })
    }

    /// The trusted mail as candidates of their own calibration.
    pub fn trusted_candidates(&self, key_base: u64) -> Vec<Candidate<'a>> {
        self.trusted
            .iter()
            .enumerate()
            .map(|(i, &row)| Candidate {
                key: key_base + i as u64,
                row,
                trusted_index: Some(i),
            })
            .collect()
    }

    /// Each candidate's impact (mean change in correct quiz classifications when it joins
    /// the training sample), on all cores.
    pub fn impacts(&self, candidates: &[Candidate]) -> Vec<f64> {
        candidates
            .par_iter()
            .map_init(
                || self.learner.scratch(),
                |scratch, c| self.impact(scratch, c),
            )
            .collect()
    }

    fn impact(&self, scratch: &mut super::learner::Scratch, c: &Candidate) -> f64 {
        let mut rng = StdRng::seed_from_u64(
            self.seed ^ 0x524f_4e49 ^ c.key.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let (mut ham, mut spam): (Vec<usize>, Vec<usize>) = (0..self.trusted.len())
            .filter(|&i| Some(i) != c.trusted_index)
            .partition(|&i| !self.trusted[i].spam);
        let share = spam.len() as f64 / (ham.len() + spam.len()) as f64;
        let n = self.settings.train_size;
        let n_spam = ((share * n as f64).round() as usize).clamp(1, n - 1);
        let mut total = 0i64;
        for _ in 0..self.settings.trials {
            ham.shuffle(&mut rng);
            spam.shuffle(&mut rng);
            let mut train: Vec<Row> = spam[..n_spam.min(spam.len())]
                .iter()
                .chain(&ham[..(n - n_spam).min(ham.len())])
                .map(|&i| self.trusted[i])
                .collect();
            let mut rest: Vec<usize> = spam[n_spam.min(spam.len())..]
                .iter()
                .chain(&ham[(n - n_spam).min(ham.len())..])
                .copied()
                .collect();
            rest.shuffle(&mut rng);
            let quiz: Vec<Row> = rest[..self.settings.quiz_size.min(rest.len())]
                .iter()
                .map(|&i| self.trusted[i])
                .collect();
            let without = self.learner.correct_on(scratch, &train, &quiz) as i64;
            train.push(c.row);
            let with = self.learner.correct_on(scratch, &train, &quiz) as i64;
            total += with - without;
        }
        total as f64 / self.settings.trials as f64
    }

    /// The rejection threshold: the `clean_quantile` quantile of the trusted mail's impacts
    /// (the lower order statistic).
    pub fn threshold(&self, trusted_impacts: &[f64]) -> f64 {
        let mut v = trusted_impacts.to_vec();
        v.sort_by(f64::total_cmp);
        let k = ((self.settings.clean_quantile * v.len() as f64).floor() as usize).min(v.len() - 1);
        v[k]
    }
}

/// Whether RONI rejects a candidate with this impact.
pub fn rejected(impact: f64, threshold: f64) -> bool {
    impact < threshold
}
