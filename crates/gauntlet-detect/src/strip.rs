//! STRIP (Gao et al., "STRIP: A Defence Against Trojan Attacks on Deep Neural Networks",
//! ACSAC 2019), at inference time. A trojaned model answers the trigger whatever else is in
//! the picture, so an input carrying the trigger, superimposed with unrelated clean images,
//! keeps being classified the same way: the predictions' entropy stays low. A clean input
//! blended with other images gives confused, high-entropy predictions.
//!
//! Per input: `overlays` clean images drawn (seeded) from the held-out clean set, each
//! superimposed as the paper's code does (`cv2.addWeighted(x, 1, c, 1, 0)`: the sum, saturated
//! at the top of the value range), the Shannon entropy (bits) of each blend's softmax, and
//! their mean. Decision rule: the threshold is the `false_rejection_rate` quantile of the
//! clean inputs' own mean entropies (each blended with *other* clean images; the paper fits a
//! normal distribution to them, the empirical quantile is used here); an input whose mean
//! entropy is below it is flagged. The paper uses N = 100 overlays; the default here is 20
//! (the entropy's spread shrinks as 1/√N, and 20 already separates the two populations of the
//! measurements in docs/poisoning-detection.md) — raise it with `overlays`.

use burn::tensor::activation::softmax;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::SeedableRng;

use gauntlet_core::data::Dataset;
use gauntlet_core::model::Classifier;
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_core::{Error, Result};
use gauntlet_run::progress::Progress;

use crate::detection::Detection;

/// STRIP's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StripSettings {
    /// Clean images superimposed on each input (the paper's N).
    pub overlays: usize,
    /// Share of clean inputs the threshold may reject (the paper's FRR; 1 % by default).
    pub false_rejection_rate: f64,
    /// Blended images per model call.
    pub batch_size: usize,
}

impl Default for StripSettings {
    fn default() -> Self {
        StripSettings {
            overlays: 20,
            false_rejection_rate: 0.01,
            batch_size: 500,
        }
    }
}

/// The calibration: the clean inputs' entropies and the threshold drawn from them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Calibration {
    /// Inputs flagged when their mean entropy is below this.
    pub threshold: f32,
    /// Clean calibration inputs.
    pub clean_inputs: usize,
    /// Share of the calibration inputs below the threshold (at most the requested FRR).
    pub clean_rejected: f64,
}

/// Mean prediction entropy (bits) of each row of `inputs` superimposed with `overlays` rows of
/// `clean`. With `exclude_same_index`, row `i` is never blended with clean row `i` (used when
/// `inputs` is `clean` itself).
pub fn mean_entropies(
    model: &dyn Classifier,
    inputs: &Dataset,
    clean: &Dataset,
    settings: &StripSettings,
    exclude_same_index: bool,
    seed: u64,
    progress: &dyn Progress,
) -> Result<Vec<f32>> {
    let f = inputs.features();
    // Saturation at the clean data's own range (1.0 for images scaled to [0, 1]).
    let (lo, hi) = clean.value_range();
    let pool = clean.len() - usize::from(exclude_same_index);
    if pool < settings.overlays {
        return Err(Error::Data(format!(
            "STRIP superimposes {} clean images on each input but the clean set holds {}; give \
             more clean inputs or fewer overlays",
            settings.overlays,
            clean.len()
        )));
    }
    let device = gauntlet_core::device::compute_device();
    let per_batch = (settings.batch_size / settings.overlays).max(1);
    let mut out = Vec::with_capacity(inputs.len());
    let mut start = 0;
    while start < inputs.len() {
        if progress.cancelled() {
            return Err(Error::Data("STRIP stopped by the user".into()));
        }
        let end = (start + per_batch).min(inputs.len());
        let mut blends = Vec::with_capacity((end - start) * settings.overlays * f);
        for i in start..end {
            // One generator per input: the draws do not depend on the batch size.
            let mut rng = StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x2545_F491));
            let x = &inputs.inputs[i * f..(i + 1) * f];
            for k in sample(&mut rng, pool, settings.overlays) {
                let k = if exclude_same_index && k >= i {
                    k + 1
                } else {
                    k
                };
                let c = &clean.inputs[k * f..(k + 1) * f];
                blends.extend(x.iter().zip(c).map(|(a, b)| (a + b).clamp(lo, hi)));
            }
        }
        let rows = (end - start) * settings.overlays;
        let logits = model.logits(from_rows(blends, rows, f, &device))?;
        let classes = logits.dims()[1];
        let p = to_vec(softmax(logits, 1));
        for chunk in p.chunks(classes * settings.overlays) {
            let total: f64 = chunk
                .iter()
                .filter(|&&q| q > 0.0)
                .map(|&q| -(q as f64) * (q as f64).log2())
                .sum();
            out.push((total / settings.overlays as f64) as f32);
        }
        progress.advance((end - start) as u64);
        start = end;
    }
    Ok(out)
}

/// The threshold at the requested false-rejection rate over the clean entropies.
pub fn calibrate(clean_entropies: &[f32], false_rejection_rate: f64) -> Calibration {
    let mut sorted = clean_entropies.to_vec();
    sorted.sort_by(f32::total_cmp);
    let k = ((false_rejection_rate * sorted.len() as f64).floor() as usize)
        .min(sorted.len().saturating_sub(1));
    let threshold = sorted.get(k).copied().unwrap_or(0.0);
    let below = sorted.iter().filter(|&&e| e < threshold).count();
    Calibration {
        threshold,
        clean_inputs: sorted.len(),
        clean_rejected: below as f64 / sorted.len().max(1) as f64,
    }
}

/// STRIP over `inputs`, calibrated on `clean` at `settings.false_rejection_rate`.
pub fn detect(
    model: &dyn Classifier,
    inputs: &Dataset,
    clean: &Dataset,
    settings: &StripSettings,
    seed: u64,
    progress: &dyn Progress,
) -> Result<(Detection, Calibration)> {
    if clean.features() != inputs.features() {
        return Err(Error::Data(format!(
            "the clean inputs have {} values per sample but the inputs have {}; STRIP blends \
             images of the same shape",
            clean.features(),
            inputs.features()
        )));
    }
    progress.begin("STRIP: calibrating on clean inputs", clean.len() as u64);
    let clean_entropies = mean_entropies(model, clean, clean, settings, true, !seed, progress)?;
    progress.end();
    let calibration = calibrate(&clean_entropies, settings.false_rejection_rate);
    progress.begin("STRIP: checking inputs", inputs.len() as u64);
    let entropies = mean_entropies(model, inputs, clean, settings, false, seed, progress)?;
    progress.end();
    let flagged = (0..entropies.len())
        .filter(|&i| entropies[i] < calibration.threshold)
        .collect();
    let detection = Detection {
        flagged,
        scores: entropies,
        score: format!(
            "mean entropy (bits) of the predictions on the input superimposed with {} clean \
             images (low = suspicious)",
            settings.overlays
        ),
        rule: format!(
            "entropy < {:.4}, the {} quantile of {} clean inputs' entropies (Gao et al. 2019)",
            calibration.threshold, settings.false_rejection_rate, calibration.clean_inputs
        ),
        classes: Vec::new(),
    };
    Ok((detection, calibration))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_rejects_at_most_the_requested_share() {
        let e: Vec<f32> = (0..200).map(|i| i as f32 / 10.0).collect();
        let c = calibrate(&e, 0.01);
        assert_eq!(c.threshold, 0.2);
        assert_eq!(c.clean_rejected, 0.01);
    }
}
