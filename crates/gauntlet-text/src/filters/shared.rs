//! Helpers the built-in filters share: training-set checks, batch scoring on all cores, the
//! logistic function.

use rayon::prelude::*;

use crate::corpus::Label;
use crate::error::{Error, Result};

/// Reject training sets a filter cannot learn from (empty, or one class only).
pub(crate) fn check_training_set(model: &str, labels: impl Iterator<Item = Label>) -> Result<()> {
    let (mut ham, mut spam) = (0usize, 0usize);
    for l in labels {
        if l.is_spam() {
            spam += 1
        } else {
            ham += 1
        }
    }
    if ham == 0 || spam == 0 {
        return Err(Error::Training {
            model: model.to_string(),
            reason: format!("need both classes, got {ham} ham and {spam} spam messages"),
        });
    }
    Ok(())
}

/// Score a batch on all cores (the built-in filters are pure functions of the
/// text; attacks send them batches of hundreds of candidate rewrites).
pub(crate) fn score_batch(texts: &[String], score: impl Fn(&str) -> f64 + Sync) -> Vec<f64> {
    texts.par_iter().map(|t| score(t)).collect()
}

pub(crate) fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}
