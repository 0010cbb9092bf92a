//! The spatial stage of an audit: Engstrom et al.'s grid search and random baselines
//! (`gauntlet_attacks::spatial`) over a data set, **verified outside the attack**, reduced to
//! robust accuracy per search.
//!
//! The attack proposes one transformation per sample; this stage decides. Each recorded
//! (angle, dx, dy) is applied again to the clean picture with the same [`Transform::apply`]
//! and the model is asked once more; a sample counts as fooled only if that answer meets the
//! criterion. A proposal the model does not confirm is counted in `unconfirmed` (it should
//! stay 0; anything else means the model answers differently for the same picture in another
//! batch). Samples the model already misclassifies are not attacked and count as not robust;
//! under a targeted criterion, samples of the target class are not attacked and count as
//! robust (as in the Lp rows).
//!
//! With a journal path, every finished group of samples is appended (fsynced) to a
//! [`Journal`] whose header holds the plan's settings: a rerun after Ctrl-C or a kill restores
//! those samples instead of searching them again, and gets the same numbers.

use std::path::Path;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use gauntlet_attacks::spatial::{Picture, SpatialFinding, SpatialGrid, SpatialSearch, Transform};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::device::compute_device;
use gauntlet_core::model::{predict, Classifier};
use gauntlet_core::samples::Samples;
use gauntlet_core::tensor::from_rows;
use gauntlet_core::{Error, Result};
use gauntlet_run::Journal;

use crate::Progress;

/// What the spatial stage runs: the grid, the random baseline's draws, the run's batching and
/// seed.
#[derive(Debug, Clone, Serialize)]
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
/// clean, of the target class under a targeted criterion, or the stage stopped first).
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
    /// Wall time of the stage in this process, seconds (a resumed run's restored samples cost
    /// none).
    pub seconds: f64,
    /// False when the stage was stopped before every sample was searched.
    pub complete: bool,
    /// Samples restored from the journal of an interrupted run instead of searched again.
    pub resumed_samples: usize,
    /// Per sample, in data order.
    pub per_sample: Vec<SpatialSample>,
}

/// Samples searched between progress reports, cancellation checks and journal records.
const SAMPLES_PER_STEP: usize = 8;

/// One journal line: a finished group of samples with what it cost.
#[derive(Serialize, Deserialize)]
struct StepRecord {
    samples: Vec<(usize, SpatialSample)>,
    queries: u64,
    unconfirmed: usize,
}

fn journal_error(e: gauntlet_run::JournalError) -> Error {
    Error::Data(e.to_string())
}

/// Runs the grid search and both random baselines on every correctly classified sample of
/// `samples` (pictures, read a step at a time), verifies every proposal and reduces. `clean_predictions` are the
/// model's answers on the clean samples (from the Lp evaluation). With `journal`, finished
/// samples are recorded there and restored by a rerun with the same plan (module docs).
#[allow(clippy::too_many_arguments)]
pub fn run_spatial(
    model: &dyn Classifier,
    samples: &dyn Samples,
    clean_predictions: &[i64],
    criterion: &Criterion,
    plan: &SpatialPlan,
    progress: &dyn Progress,
    journal: Option<&Path>,
) -> Result<SpatialEvaluation> {
    let started = Instant::now();
    let picture = Picture::from_sample_shape(model.sample_shape())?;
    let f = picture.len();
    let labels = samples.labels();
    let n = labels.len();
    if samples.features() != f || clean_predictions.len() != n {
        return Err(Error::Data(format!(
            "spatial stage: samples of {} values and {} clean predictions do not describe {n} \
             pictures of {f} values",
            samples.features(),
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
    // The journal's header: everything that decides the per-sample results (the audit's own
    // checkpoint already names the model, the data and the criterion).
    let fingerprint = serde_json::to_string(&(plan, criterion, n))
        .map_err(|e| Error::Data(format!("cannot describe the spatial plan: {e}")))?;
    let mut journal = match journal {
        Some(path) => {
            let opened =
                Journal::open::<StepRecord>(path, &fingerprint, false).map_err(journal_error)?;
            Some((opened.journal, opened.records))
        }
        None => None,
    };
    let mut done = vec![false; n];
    let mut resumed_samples = 0;
    for record in journal
        .iter_mut()
        .flat_map(|(_, records)| records.drain(..))
    {
        for (i, sample) in record.samples {
            if i < n && !done[i] {
                done[i] = true;
                per_sample[i] = sample;
                resumed_samples += 1;
            }
        }
        queries += record.queries;
        unconfirmed += record.unconfirmed;
    }
    let attacked = open.len();
    let open: Vec<usize> = open.into_iter().filter(|&i| !done[i]).collect();
    progress.begin(
        &format!("spatial ({} transformations)", plan.grid.len()),
        open.len() as u64,
    );
    for step in open.chunks(SAMPLES_PER_STEP) {
        if progress.cancelled() {
            complete = false;
            break;
        }
        let xs = samples.read_rows(step)?;
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
        let mut step_queries = q_grid + q_random + q_worst;
        let mut step_unconfirmed = 0;
        let proposals: Vec<&[SpatialFinding]> = vec![&grid, &random, &worst];
        let mut verdicts = Vec::with_capacity(3);
        for found in proposals {
            let (checked, q) = verify(model, picture, plan.fill, &xs, &ys, &sub, found)?;
            step_queries += q;
            step_unconfirmed += found
                .iter()
                .zip(&checked)
                .filter(|(p, v)| p.fooled && !v.fooled)
                .count();
            verdicts.push(checked);
        }
        let mut record = StepRecord {
            samples: Vec::with_capacity(step.len()),
            queries: step_queries,
            unconfirmed: step_unconfirmed,
        };
        for (k, &i) in step.iter().enumerate() {
            per_sample[i] = SpatialSample {
                grid: Some(verdicts[0][k]),
                random: Some(verdicts[1][k]),
                worst_of_random: Some(verdicts[2][k]),
            };
            record.samples.push((i, per_sample[i].clone()));
        }
        if let Some((journal, _)) = journal.as_mut() {
            journal.append(&record).map_err(journal_error)?;
        }
        queries += step_queries;
        unconfirmed += step_unconfirmed;
        progress.advance(step.len() as u64);
    }
    progress.end();
    // Under a targeted criterion a sample of the target class is not attacked and counts as
    // robust, as in the Lp rows.
    let at_target: Vec<bool> = (0..n)
        .map(|i| correct[i] && criterion.is_adversarial(i, labels[i], clean_predictions[i]))
        .collect();
    let robust = |pick: fn(&SpatialSample) -> Option<SpatialVerdict>| {
        // Otherwise a sample is robust when correct clean and the search ran and did not fool
        // it (a sample left unsearched by a stop does not count).
        let kept = (0..n)
            .filter(|&i| {
                at_target[i] || (correct[i] && pick(&per_sample[i]).is_some_and(|v| !v.fooled))
            })
            .count();
        kept as f64 / n.max(1) as f64
    };
    Ok(SpatialEvaluation {
        grid: plan.grid,
        random_draws: plan.random_draws,
        fill: plan.fill,
        samples: n,
        attacked,
        robust_accuracy: robust(|s| s.grid),
        random_robust_accuracy: robust(|s| s.random),
        worst_of_random_robust_accuracy: robust(|s| s.worst_of_random),
        unconfirmed,
        queries,
        seconds: started.elapsed().as_secs_f64(),
        complete,
        resumed_samples,
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::path::PathBuf;

    use gauntlet_core::data::Dataset;
    use gauntlet_core::model::predict;
    use gauntlet_onnx::OnnxModel;

    use super::*;
    use crate::Silent;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// Stops the run once `after` samples are done.
    struct StopAfter {
        after: u64,
        done: Cell<u64>,
    }

    impl Progress for StopAfter {
        fn begin(&self, _: &str, _: u64) {}
        fn advance(&self, done: u64) {
            self.done.set(self.done.get() + done);
        }
        fn end(&self) {}
        fn cancelled(&self) -> bool {
            self.done.get() >= self.after
        }
    }

    #[test]
    fn an_interrupted_stage_resumes_to_the_same_numbers() {
        let model = OnnxModel::load(&root().join("models/mnist_cnn.onnx")).unwrap();
        let mut data = Dataset::load(
            &root().join("data/mnist-demo/x.npy"),
            &root().join("data/mnist-demo/y.npy"),
        )
        .unwrap();
        data.truncate(20);
        let clean = predict(
            &model,
            from_rows(data.inputs.clone(), 20, 784, &compute_device()),
        )
        .unwrap();
        let plan = SpatialPlan {
            grid: SpatialGrid::new(20.0, 5, 2.0, 3).unwrap(),
            random_draws: 4,
            rows_per_pass: 50,
            seed: 3,
            fill: 0.0,
        };
        let run = |progress: &dyn Progress, journal: Option<&Path>| {
            run_spatial(
                &model,
                &data,
                &clean,
                &Criterion::Untargeted,
                &plan,
                progress,
                journal,
            )
            .unwrap()
        };
        let whole = run(&Silent, None);
        assert!(whole.complete);
        assert_eq!(whole.unconfirmed, 0);

        let dir =
            std::env::temp_dir().join(format!("gauntlet-spatial-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let journal = dir.join("spatial.jsonl");
        let stopped = run(
            &StopAfter {
                after: SAMPLES_PER_STEP as u64,
                done: Cell::new(0),
            },
            Some(&journal),
        );
        assert!(!stopped.complete);
        let searched = stopped
            .per_sample
            .iter()
            .filter(|s| s.grid.is_some())
            .count();
        assert_eq!(searched, SAMPLES_PER_STEP);
        let resumed = run(&Silent, Some(&journal));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(resumed.complete);
        assert_eq!(resumed.resumed_samples, SAMPLES_PER_STEP);
        assert_eq!(resumed.per_sample, whole.per_sample);
        assert_eq!(resumed.robust_accuracy, whole.robust_accuracy);
        assert_eq!(resumed.random_robust_accuracy, whole.random_robust_accuracy);
        assert_eq!(resumed.queries, whole.queries);
        assert_eq!(resumed.attacked, whole.attacked);
    }

    #[test]
    fn a_targeted_stage_reaches_the_target_and_spares_its_class() {
        let model = OnnxModel::load(&root().join("models/mnist_cnn.onnx")).unwrap();
        let mut data = Dataset::load(
            &root().join("data/mnist-demo/x.npy"),
            &root().join("data/mnist-demo/y.npy"),
        )
        .unwrap();
        data.truncate(30);
        let clean = predict(
            &model,
            from_rows(data.inputs.clone(), 30, 784, &compute_device()),
        )
        .unwrap();
        let target = 1;
        let plan = SpatialPlan {
            grid: SpatialGrid::new(30.0, 7, 3.0, 3).unwrap(),
            random_draws: 3,
            rows_per_pass: 64,
            seed: 0,
            fill: 0.0,
        };
        let out = run_spatial(
            &model,
            &data,
            &clean,
            &Criterion::Targeted(vec![target; 30]),
            &plan,
            &Silent,
            None,
        )
        .unwrap();
        let mut robust = 0;
        for (i, s) in out.per_sample.iter().enumerate() {
            let correct = clean[i] == data.labels[i];
            if correct && data.labels[i] == target {
                assert!(s.grid.is_none(), "sample {i} is of the target class");
                robust += 1;
                continue;
            }
            let Some(v) = s.grid else {
                assert!(!correct);
                continue;
            };
            assert_eq!(v.fooled, v.prediction == target, "sample {i}");
            robust += usize::from(!v.fooled);
        }
        assert!(data.labels.contains(&target));
        let reached = out
            .per_sample
            .iter()
            .filter(|s| s.grid.is_some_and(|v| v.fooled));
        assert!(reached.count() > 0, "no digit was turned into a {target}");
        assert_eq!(out.robust_accuracy, robust as f64 / 30.0);
    }

    #[test]
    fn samples_that_are_not_pictures_are_refused() {
        struct Flat;
        impl Classifier for Flat {
            fn sample_shape(&self) -> &[usize] {
                &[4]
            }
            fn num_classes(&self) -> usize {
                4
            }
            fn logits(&self, x: gauntlet_core::Tensor<2>) -> Result<gauntlet_core::Tensor<2>> {
                Ok(x)
            }
        }
        let plan = SpatialPlan {
            grid: SpatialGrid::default(),
            random_draws: 1,
            rows_per_pass: 8,
            seed: 0,
            fill: 0.0,
        };
        let flat = Dataset::from_parts(vec![0.0; 4], vec![1, 4], vec![0], String::new()).unwrap();
        let err = run_spatial(
            &Flat,
            &flat,
            &[0],
            &Criterion::Untargeted,
            &plan,
            &Silent,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("C×H×W"), "{err}");
    }
}
