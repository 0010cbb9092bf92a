//! The spatial stage of an audit: Engstrom et al.'s grid search and random baselines
//! (`gauntlet_attacks::spatial`) over a data set, **verified outside the attack**, reduced to
//! robust accuracy per search.
//!
//! The attack proposes one transformation per sample; this stage decides. Each recorded
//! (angle, dx, dy) is applied again to the clean picture with the same [`Transform::apply`]
//! and the model is asked once more; a sample counts as fooled only if that answer meets the
//! criterion. A proposal the model does not confirm is counted in `unconfirmed` (it should
//! stay 0; anything else means the model answers differently for the same picture in another
//! batch). Samples the model already misclassifies are not attacked and count as not robust.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use gauntlet_attacks::spatial::{Picture, SpatialFinding, SpatialGrid, SpatialSearch, Transform};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::device::compute_device;
use gauntlet_core::model::{predict, Classifier};
use gauntlet_core::tensor::from_rows;
use gauntlet_core::{Error, Result};

use crate::Progress;

/// What the spatial stage runs: the grid, the random baseline's draws, the run's batching and
/// seed.
#[derive(Debug, Clone)]
pub struct SpatialPlan {
    /// The transformations of the grid search.
    pub grid: SpatialGrid,
    /// Random draws of the worst-of-k baseline (its first draw alone is the random baseline).
    pub random_draws: usize,
    /// Transformed pictures per forward pass.
    pub rows_per_pass: usize,
    /// Seed of the random draws; sample `i` draws from its own generator.
    pub seed: u64,
    /// Value of pixels that come from outside the picture (the valid box's minimum).
    pub fill: f32,
}

/// One search's verified result for one sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpatialVerdict {
    /// The transformation the search proposed (its worst).
    pub transform: Transform,
    /// The model's prediction on the clean picture with that transformation applied again.
    pub prediction: i64,
    /// True when that prediction meets the criterion: the sample is broken.
    pub fooled: bool,
}

/// Per sample: the three searches' verdicts; `None` for a sample not attacked (misclassified
/// clean, or the stage stopped first).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpatialSample {
    /// Grid search.
    pub grid: Option<SpatialVerdict>,
    /// One random transformation.
    pub random: Option<SpatialVerdict>,
    /// The worst of `random_draws` random transformations.
    pub worst_of_random: Option<SpatialVerdict>,
}

/// The spatial stage's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpatialEvaluation {
    /// The grid searched.
    pub grid: SpatialGrid,
    /// Draws of the worst-of-k random baseline.
    pub random_draws: usize,
    /// Value given to pixels that came from outside the picture.
    pub fill: f32,
    /// Samples evaluated (all of them, attacked or not).
    pub samples: usize,
    /// Samples attacked (those classified correctly, or not yet at the target, when clean).
    pub attacked: usize,
    /// Share of samples classified correctly clean and under every grid transformation.
    pub robust_accuracy: f64,
    /// The same under one random transformation per sample.
    pub random_robust_accuracy: f64,
    /// The same under the worst of `random_draws` random transformations.
    pub worst_of_random_robust_accuracy: f64,
    /// Proposals the verification did not confirm (not counted as broken).
    pub unconfirmed: usize,
    /// Forward rows spent: search and verification.
    pub queries: u64,
    /// Wall time of the stage, seconds.
    pub seconds: f64,
    /// False when the stage was stopped before every sample was searched.
    pub complete: bool,
    /// Per sample, in data order.
    pub per_sample: Vec<SpatialSample>,
}

/// Samples searched between progress reports and cancellation checks.
const SAMPLES_PER_STEP: usize = 8;

/// Runs the grid search and both random baselines on every correctly classified sample of
/// `x` (flat `[n, C·H·W]`), verifies every proposal and reduces. `clean_predictions` are the
/// model's answers on the clean samples (from the Lp evaluation).
#[allow(clippy::too_many_arguments)]
pub fn run_spatial(
    model: &dyn Classifier,
    x: &[f32],
    labels: &[i64],
    clean_predictions: &[i64],
    criterion: &Criterion,
    plan: &SpatialPlan,
    progress: &dyn Progress,
) -> Result<SpatialEvaluation> {
    let started = Instant::now();
    let picture = Picture::from_sample_shape(model.sample_shape())?;
    let f = picture.len();
    let n = labels.len();
    if x.len() != n * f || clean_predictions.len() != n {
        return Err(Error::Data(format!(
            "spatial stage: {} values, {n} labels and {} clean predictions do not describe {n} \
             pictures of {f} values",
            x.len(),
            clean_predictions.len()
        )));
    }
    if plan.random_draws == 0 {
        return Err(Error::Parameter(
            "spatial random draws must be at least 1".into(),
        ));
    }
    let search = SpatialSearch {
        model,
        picture,
        fill: plan.fill,
        rows_per_pass: plan.rows_per_pass,
    };
    // Robust accuracy counts samples correct when clean, as the Lp rows do.
    let correct: Vec<bool> = (0..n).map(|i| clean_predictions[i] == labels[i]).collect();
    let open: Vec<usize> = (0..n)
        .filter(|&i| correct[i] && !criterion.is_adversarial(i, labels[i], clean_predictions[i]))
        .collect();
    let mut per_sample = vec![SpatialSample::default(); n];
    let mut queries = 0u64;
    let mut unconfirmed = 0usize;
    let mut complete = true;
    progress.begin(
        &format!("spatial ({} transformations)", plan.grid.len()),
        open.len() as u64,
    );
    for step in open.chunks(SAMPLES_PER_STEP) {
        if progress.cancelled() {
            complete = false;
            break;
        }
        let xs: Vec<f32> = step
            .iter()
            .flat_map(|&i| x[i * f..(i + 1) * f].iter().copied())
            .collect();
        let ys: Vec<i64> = step.iter().map(|&i| labels[i]).collect();
        let sub = criterion.subset(step);
        let (grid, q_grid) = search.grid(&xs, &ys, &sub, &plan.grid)?;
        let mut rngs: Vec<StdRng> = step.iter().map(|&i| sample_rng(plan.seed, i)).collect();
        let draws: Vec<Vec<Transform>> = rngs
            .iter_mut()
            .map(|rng| {
                (0..plan.random_draws)
                    .map(|_| plan.grid.random(rng))
                    .collect()
            })
            .collect();
        let first: Vec<Vec<Transform>> = draws.iter().map(|d| d[..1].to_vec()).collect();
        let (random, q_random) = search.worst_of(&xs, &ys, &sub, &first)?;
        let (worst, q_worst) = search.worst_of(&xs, &ys, &sub, &draws)?;
        queries += q_grid + q_random + q_worst;
        let proposals: Vec<&[SpatialFinding]> = vec![&grid, &random, &worst];
        let mut verdicts = Vec::with_capacity(3);
        for found in proposals {
            let (checked, q) = verify(model, picture, plan.fill, &xs, &ys, &sub, found)?;
            queries += q;
            unconfirmed += found
                .iter()
                .zip(&checked)
                .filter(|(p, v)| p.fooled && !v.fooled)
                .count();
            verdicts.push(checked);
        }
        for (k, &i) in step.iter().enumerate() {
            per_sample[i] = SpatialSample {
                grid: Some(verdicts[0][k]),
                random: Some(verdicts[1][k]),
                worst_of_random: Some(verdicts[2][k]),
            };
        }
        progress.advance(step.len() as u64);
    }
    progress.end();
    let robust = |pick: fn(&SpatialSample) -> Option<SpatialVerdict>| {
        // A sample is robust when correct clean and the search was run and did not fool it.
        let kept = (0..n)
            .filter(|&i| correct[i] && pick(&per_sample[i]).is_some_and(|v| !v.fooled))
            .count();
        kept as f64 / n.max(1) as f64
    };
    Ok(SpatialEvaluation {
        grid: plan.grid,
        random_draws: plan.random_draws,
        fill: plan.fill,
        samples: n,
        attacked: open.len(),
        robust_accuracy: robust(|s| s.grid),
        random_robust_accuracy: robust(|s| s.random),
        worst_of_random_robust_accuracy: robust(|s| s.worst_of_random),
        unconfirmed,
        queries,
        seconds: started.elapsed().as_secs_f64(),
        complete,
        per_sample,
    })
}

/// The framework's check: each proposed transformation applied again to the clean picture,
/// the model asked, the criterion applied. Returns the verdicts and the queries spent.
fn verify(
    model: &dyn Classifier,
    picture: Picture,
    fill: f32,
    x: &[f32],
    labels: &[i64],
    criterion: &Criterion,
    proposals: &[SpatialFinding],
) -> Result<(Vec<SpatialVerdict>, u64)> {
    let f = picture.len();
    let moved: Vec<f32> = proposals
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.transform.apply(&x[i * f..(i + 1) * f], picture, fill))
        .collect();
    let n = proposals.len();
    let predictions = predict(model, from_rows(moved, n, f, &compute_device()))?;
    let verdicts = proposals
        .iter()
        .zip(&predictions)
        .enumerate()
        .map(|(i, (p, &prediction))| SpatialVerdict {
            transform: p.transform,
            prediction,
            fooled: criterion.is_adversarial(i, labels[i], prediction),
        })
        .collect();
    Ok((verdicts, n as u64))
}

/// Sample `index`'s own generator, so draws do not depend on batching or on `samples`.
fn sample_rng(seed: u64, index: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03))
}
