//! The dynamic threshold defense (Nelson et al. 2008, §5.2): poisoning shifts every score
//! (after a dictionary attack, ham scores rise with everything else), so instead of the fixed
//! cut-off the defender re-chooses it on a validation share of the training mail, held out
//! from the fit. SpamBayes has two cut-offs (ham / unsure / spam); the built-in filters have
//! one, chosen here to minimize the balanced error on the validation mail: the share of ham
//! at or above the cut-off plus the share of spam below it.

/// The cut-off minimizing the balanced error over `(score, is_spam)` validation pairs; among
/// equally good cut-offs, the one nearest 0.5. Both classes must be present.
pub fn dynamic_threshold(validation: &[(f64, bool)]) -> f64 {
    let ham = validation.iter().filter(|v| !v.1).count().max(1) as f64;
    let spam = validation.iter().filter(|v| v.1).count().max(1) as f64;
    let mut scores: Vec<f64> = validation.iter().map(|v| v.0).collect();
    scores.sort_by(f64::total_cmp);
    scores.dedup();
    // Candidate cut-offs: every observed score (a message at the cut-off is spam), and one
    // above the largest.
    let mut candidates = scores.clone();
    candidates.push(f64::INFINITY);
    let mut best = (f64::INFINITY, f64::INFINITY, 0.5);
    for t in candidates {
        let ham_flagged = validation.iter().filter(|v| !v.1 && v.0 >= t).count() as f64;
        let spam_missed = validation.iter().filter(|v| v.1 && v.0 < t).count() as f64;
        let err = ham_flagged / ham + spam_missed / spam;
        let t = if t.is_finite() { t } else { 1.0 };
        let key = (err, (t - 0.5).abs());
        if key < (best.0, best.1) {
            best = (err, (t - 0.5).abs(), t);
        }
    }
    best.2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_scores_get_a_shifted_cut_off() {
        // Poisoned: every ham scores 0.6..0.7, every spam 0.8..0.99. The fixed 0.5 flags all
        // ham; the dynamic cut-off separates the classes.
        let v: Vec<(f64, bool)> = (0..10)
            .map(|i| (0.6 + 0.01 * i as f64, false))
            .chain((0..10).map(|i| (0.8 + 0.019 * i as f64, true)))
            .collect();
        let t = dynamic_threshold(&v);
        assert!(t > 0.69 && t <= 0.8, "{t}");
        assert!(v.iter().all(|&(s, spam)| (s >= t) == spam));
    }

    #[test]
    fn separable_clean_scores_keep_a_cut_off_near_one_half() {
        let v = [
            (0.1, false),
            (0.2, false),
            (0.45, false),
            (0.55, true),
            (0.9, true),
        ];
        assert_eq!(dynamic_threshold(&v), 0.55);
    }
}
