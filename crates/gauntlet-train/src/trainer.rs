//! The training loop: batches through the interpreter with the weights as autodiff leaves,
//! the method's inputs and loss, an optimizer step on the host, running statistics folded
//! in, and a per-epoch check of clean and PGD accuracy on a held-out slice.

use std::collections::HashMap;
use std::time::Instant;

use burn::tensor::{DType, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use gauntlet_attacks::step::random_start;
use gauntlet_core::data::Dataset;
use gauntlet_core::device::{autodiff_device, compute_device};
use gauntlet_core::model::{Classifier, Differentiable};
use gauntlet_core::tensor::{argmax_rows, from_rows, to_vec};
use gauntlet_core::threat::{Bounds, Norm};
use gauntlet_core::{Error, Result};
use gauntlet_onnx::training::{BatchStatistics, Pass};
use gauntlet_onnx::OnnxModel;
use gauntlet_run::progress::Progress;

use crate::init::reinitialize;
use crate::method::{
    cross_entropy, kl, maximize, one_hot, probabilities, FastStart, Inner, InnerSteps, Method,
    Start,
};
use crate::optimizer::{Optimizer, OptimizerKind};
use crate::parameters::Parameters;
use crate::schedule::Schedule;

/// Everything a run is configured with. Checked once by [`Trainer::new`].
#[derive(Debug, Clone, Serialize)]
pub struct TrainSettings {
    /// What each batch is trained on.
    pub method: Method,
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// Base learning rate (the schedule scales it).
    pub lr: f32,
    /// Update rule.
    pub optimizer: OptimizerKind,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Seed of initialization, shuffling, random starts, noise and dropout.
    pub seed: u64,
    /// Start from fresh weights instead of the file's.
    pub from_scratch: bool,
    /// Norm of the adversarial methods' ball.
    pub norm: Norm,
    /// Valid input box.
    pub bounds: Bounds,
    /// PGD steps of the per-epoch robustness check (0: no check).
    pub eval_steps: usize,
    /// Epochs over which the adversarial budget (and its step sizes) grows linearly from 0 to
    /// ε; 0 trains at ε from the start. A warm-up keeps a fresh network from facing the full
    /// budget before it has learned anything (standard for MNIST at ε = 0.3).
    pub eps_warmup: f32,
    /// Stop when the held-out PGD accuracy falls this far (a fraction) below its best —
    /// fast-AT's catastrophic overfitting — and keep the best epoch's weights.
    pub collapse_drop: f32,
}

impl TrainSettings {
    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Parameter(m));
        if self.epochs == 0 {
            return bad("--epochs must be at least 1".into());
        }
        if self.batch_size < 2 {
            return bad(format!(
                "--batch-size {} is too small: training needs at least 2 samples per batch \
                 (batch statistics)",
                self.batch_size
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("--lr {} must be a positive number", self.lr));
        }
        if !(self.eps_warmup.is_finite() && self.eps_warmup >= 0.0) {
            return bad(format!(
                "--eps-warmup {} must be a number of epochs, 0 or more",
                self.eps_warmup
            ));
        }
        if !(self.collapse_drop > 0.0 && self.collapse_drop <= 1.0) {
            return bad(format!(
                "the collapse threshold {} must be in (0, 1]",
                self.collapse_drop
            ));
        }
        Ok(())
    }
}

/// One epoch's figures (`training.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Learning rate at the epoch's last step.
    pub lr: f32,
    /// Mean training loss.
    pub loss: f32,
    /// Accuracy on the inputs trained on (adversarial ones for adversarial methods).
    pub train_accuracy: f32,
    /// Clean accuracy on the held-out slice.
    pub clean_accuracy: f32,
    /// PGD accuracy on the held-out slice at the method's ε (adversarial methods).
    pub robust_accuracy: Option<f32>,
    /// Wall time of the epoch's training steps.
    pub seconds: f32,
    /// Training samples per second.
    pub samples_per_second: f32,
}

/// How an epoch ended.
#[derive(Debug, Clone, PartialEq)]
pub enum EpochEnd {
    /// Finished; train on.
    Continue,
    /// The user asked to stop: the epoch in hand is dropped (weights as after the last
    /// finished epoch are not restored — checkpoints hold them).
    Interrupted,
    /// Held-out PGD accuracy collapsed; the best epoch's weights were restored.
    Collapsed {
        /// The epoch whose weights were kept.
        best_epoch: usize,
    },
}

/// Trains the initializers of one ONNX model.
pub struct Trainer<'m> {
    model: &'m OnnxModel,
    settings: TrainSettings,
    parameters: Parameters,
    optimizer: Optimizer,
    /// Epochs finished.
    epochs_done: usize,
    /// Every finished epoch.
    history: Vec<EpochRecord>,
    /// Best held-out PGD accuracy so far, its epoch and weights.
    best: Option<(f32, usize, Parameters)>,
    /// Share of ε the adversarial methods use now (the warm-up).
    eps_scale: f32,
    /// Each training sample's last perturbation (fast-AT with `start: Previous`).
    previous: Previous,
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The most memory fast-AT's carried perturbations may take (MNIST's 60,000 digits: 0.18 GiB;
/// CIFAR-10's 50,000 pictures: 0.57 GiB).
const CARRIED_BYTES_LIMIT: f64 = 4.0 * GIB;

/// The perturbation each training sample ended with when it was last trained on, by its
/// index in the data set: where fast-AT's next step for it starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Previous {
    /// Values per sample (row-major, `features` each); empty until the first store.
    pub(crate) values: Vec<f32>,
    /// Whether each sample has a stored perturbation.
    pub(crate) stored: Vec<bool>,
    /// Features per sample.
    pub(crate) features: usize,
}

impl Previous {
    /// Overwrites the rows of `delta` (one per entry of `samples`) whose sample has a stored
    /// perturbation.
    fn fill(&self, samples: &[usize], delta: &mut [f32]) {
        let f = self.features;
        for (row, &i) in delta.chunks_mut(f.max(1)).zip(samples) {
            if self.stored.get(i) == Some(&true) {
                row.copy_from_slice(&self.values[i * f..(i + 1) * f]);
            }
        }
    }

    /// Stores `delta`'s rows as the perturbations of `samples`, for a data set of `total`
    /// samples of `features` each.
    fn store(&mut self, samples: &[usize], delta: &[f32], total: usize, features: usize) {
        if self.features != features || self.stored.len() != total {
            *self = Previous {
                values: vec![0.0; total * features],
                stored: vec![false; total],
                features,
            };
        }
        for (row, &i) in delta.chunks(features.max(1)).zip(samples) {
            self.values[i * features..(i + 1) * features].copy_from_slice(row);
            self.stored[i] = true;
        }
    }
}

impl<'m> Trainer<'m> {
    /// A trainer for `model`'s weights, from the file's values or freshly initialized.
    pub fn new(model: &'m OnnxModel, settings: TrainSettings) -> Result<Trainer<'m>> {
        settings.check()?;
        let mut parameters = Parameters::discover(model.graph());
        if parameters.trainable_count() == 0 {
            return Err(Error::Model(
                "the model has no float initializer that acts as a weight (Conv, Gemm or MatMul \
                 kernels, biases, normalization scales); nothing to train"
                    .into(),
            ));
        }
        if settings.from_scratch {
            reinitialize(&mut parameters, settings.seed);
        }
        let sizes: Vec<usize> = parameters.trainable().map(|p| p.values.len()).collect();
        let optimizer = Optimizer::new(settings.optimizer, &sizes);
        Ok(Trainer {
            model,
            settings,
            parameters,
            optimizer,
            epochs_done: 0,
            history: Vec::new(),
            best: None,
            eps_scale: 1.0,
            previous: Previous::default(),
        })
    }

    /// The current weights and running statistics.
    pub fn parameters(&self) -> &Parameters {
        &self.parameters
    }

    /// The settings.
    pub fn settings(&self) -> &TrainSettings {
        &self.settings
    }

    /// Finished epochs, in order.
    pub fn history(&self) -> &[EpochRecord] {
        &self.history
    }

    /// The perturbation fast-AT (`start: Previous`) last trained sample `index` of the data
    /// set on, where its next step starts; `None` before the sample was trained on.
    pub fn carried_perturbation(&self, index: usize) -> Option<&[f32]> {
        let f = self.previous.features;
        (self.previous.stored.get(index) == Some(&true))
            .then(|| &self.previous.values[index * f..(index + 1) * f])
    }

    /// Number of finished epochs.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// The current weights and statistics as tensors; trainable ones as autodiff leaves
    /// when `tracked`.
    fn tensors(&self, tracked: bool) -> HashMap<String, Tensor<1>> {
        let plain = compute_device();
        let autodiff = autodiff_device();
        self.parameters
            .list
            .iter()
            .map(|p| {
                let data = TensorData::new(p.values.clone(), [p.values.len()]);
                let t = if tracked && p.role.trainable() {
                    Tensor::<1>::from_data(data, &autodiff).require_grad()
                } else {
                    Tensor::<1>::from_data(data, &plain)
                };
                (p.name.clone(), t)
            })
            .collect()
    }

    /// The model with the current weights, in inference form, as attacks and audits see it.
    pub fn current_model(&self) -> TrainedModel<'_> {
        TrainedModel {
            model: self.model,
            parameters: self.tensors(false),
        }
    }

    /// Input gradient of `inner` (summed over the batch) at `x`, with the weights fixed and
    /// the model in training form (batch statistics, discarded), as adversarial training
    /// runs its inner maximization.
    fn input_gradient(
        &self,
        weights: &HashMap<String, Tensor<1>>,
        x: Tensor<2>,
        inner: &Inner,
        seed: u64,
    ) -> Result<Tensor<2>> {
        let pass = Pass {
            parameters: weights,
            train: true,
            seed,
        };
        input_gradient(self.model, &pass, x, inner)
    }

    /// One optimizer step on a batch; returns the batch's mean loss and how many of the
    /// inputs it trained on were classified correctly. Fast-AT with `start: Previous` starts
    /// from random points here: the batch's samples are not known (see [`Trainer::epoch`]).
    pub fn step(
        &mut self,
        x: Tensor<2>,
        labels: &[i64],
        lr: f32,
        seed: u64,
        rng: &mut StdRng,
    ) -> Result<(f32, usize)> {
        self.step_on(x, labels, None, lr, seed, rng)
    }

    /// [`Trainer::step`] on the samples `batch` of a data set of `total` samples, so that
    /// fast-AT can start each sample where its last perturbation ended.
    fn step_on(
        &mut self,
        x: Tensor<2>,
        labels: &[i64],
        batch: Option<(&[usize], usize)>,
        lr: f32,
        seed: u64,
        rng: &mut StdRng,
    ) -> Result<(f32, usize)> {
        let [n, f] = x.dims();
        let classes = self.model.num_classes();
        if let Some(&bad) = labels.iter().find(|&&l| l < 0 || l as usize >= classes) {
            return Err(Error::Data(format!(
                "label {bad} is outside the model's {classes} classes (0..{})",
                classes - 1
            )));
        }
        let onehot = one_hot(labels, classes, &x);
        let scale = self.eps_scale;
        let steps = |eps: f32, steps: usize, step_size: f32| InnerSteps {
            norm: self.settings.norm,
            eps: eps * scale,
            steps,
            step_size: step_size * scale,
            bounds: self.settings.bounds,
        };
        // The weights as constants, for the inner maximization (adversarial methods only).
        let fixed = if self.settings.method.eps().is_some() {
            self.tensors(false)
        } else {
            HashMap::new()
        };
        let leaves = self.tensors(true);
        let pass = Pass {
            parameters: &leaves,
            train: true,
            seed,
        };
        let ce = Inner::CrossEntropy(&onehot);
        let (loss, logits, statistics) = match self.settings.method {
            Method::Plain | Method::Gaussian { .. } => {
                let input = match self.settings.method {
                    Method::Gaussian { sigma } => {
                        let noise: Vec<f32> = (0..n * f)
                            .map(|_| sigma * rng.sample::<f32, _>(StandardNormal))
                            .collect();
                        x + from_rows(noise, n, f, &compute_device())
                    }
                    _ => x,
                };
                let (logits, stats) = self.model.forward(input, &pass)?;
                (cross_entropy(logits.clone(), &onehot).mean(), logits, stats)
            }
            Method::FastAt { eps, alpha, start } => {
                let settings = steps(eps, 1, alpha);
                let carried = batch.filter(|_| start == FastStart::Previous);
                let start = match carried {
                    Some((samples, _)) => {
                        // Drawn for every row, so the random stream does not depend on
                        // which samples have a stored perturbation.
                        let mut delta =
                            random_start(settings.norm, n, f, &vec![settings.eps; n], rng);
                        self.previous.fill(samples, &mut delta);
                        Start::Given(delta)
                    }
                    None => Start::Uniform,
                };
                let adv = maximize(&x, &settings, start, rng, |a| {
                    self.input_gradient(&fixed, a, &ce, seed)
                })?;
                if let Some((samples, total)) = carried {
                    let delta = to_vec(adv.clone() - x.clone());
                    self.previous.store(samples, &delta, total, f);
                }
                let (logits, stats) = self.model.forward(adv, &pass)?;
                (cross_entropy(logits.clone(), &onehot).mean(), logits, stats)
            }
            Method::PgdAt {
                eps,
                steps: k,
                step_size,
            } => {
                let adv = maximize(&x, &steps(eps, k, step_size), Start::Uniform, rng, |a| {
                    self.input_gradient(&fixed, a, &ce, seed)
                })?;
                let (logits, stats) = self.model.forward(adv, &pass)?;
                (cross_entropy(logits.clone(), &onehot).mean(), logits, stats)
            }
            Method::Trades {
                eps,
                steps: k,
                step_size,
                beta,
            } => {
                let (clean, stats) = self.model.forward(x.clone(), &pass)?;
                let p = probabilities(clean.clone());
                let kl_inner = Inner::Kl(&p);
                let adv = maximize(
                    &x,
                    &steps(eps, k, step_size),
                    Start::Gaussian(0.001),
                    rng,
                    |a| self.input_gradient(&fixed, a, &kl_inner, seed),
                )?;
                let (adv_logits, _) = self.model.forward(adv, &pass)?;
                let p_clean = burn::tensor::activation::softmax(clean.clone(), 1);
                let loss = cross_entropy(clean.clone(), &onehot).mean()
                    + kl(&p_clean, adv_logits).mean() * beta;
                (loss, clean, stats)
            }
        };
        let loss_value = to_vec(loss.clone().detach().without_autodiff().cast(DType::F32))[0];
        if !loss_value.is_finite() {
            return Err(Error::Model(format!(
                "the training loss became {loss_value}; lower --lr (now {lr}) or check the data"
            )));
        }
        let predicted = argmax_rows(
            &to_vec(logits.detach().without_autodiff().cast(DType::F32)),
            classes,
        );
        let correct = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
        let grads = loss.backward();
        let mut grad_values = Vec::new();
        let mut reached = false;
        for p in self.parameters.trainable() {
            let g = leaves[&p.name]
                .grad(&grads)
                .map(|g| to_vec(g.cast(DType::F32)))
                // A weight the loss does not reach (a branch the scores do not use).
                .unwrap_or_else(|| vec![0.0; p.values.len()]);
            reached |= g.iter().any(|&v| v != 0.0);
            grad_values.push(g);
        }
        // A loss with something left to learn but no gradient to any weight: the graph, not
        // the batch (a saturated softmax gives zero gradients with a loss of zero).
        if !reached && loss_value > 1e-6 {
            return Err(Error::Model(format!(
                "the loss is {loss_value} but no weight receives a gradient from it: between the \
                 weights and the scores the graph has an operator without one (Round, Floor, \
                 Sign, ArgMax, a comparison, a cast to integers), or every unit is inactive; \
                 gauntlet cannot train this graph"
            )));
        }
        let mut values: Vec<&mut Vec<f32>> = self
            .parameters
            .list
            .iter_mut()
            .filter(|p| p.role.trainable())
            .map(|p| &mut p.values)
            .collect();
        self.optimizer.step(&mut values, &grad_values, lr);
        self.fold_statistics(&statistics);
        Ok((loss_value, correct))
    }

    /// Folds a training batch's statistics into the running averages.
    fn fold_statistics(&mut self, statistics: &[BatchStatistics]) {
        let list = &mut self.parameters.list;
        for s in statistics {
            let position = |name: &str| list.iter().position(|p| p.name == name);
            if let (Some(m), Some(v)) = (position(&s.mean_name), position(&s.var_name)) {
                let mut mean = std::mem::take(&mut list[m].values);
                let mut var = std::mem::take(&mut list[v].values);
                s.update(&mut mean, &mut var);
                list[m].values = mean;
                list[v].values = var;
            }
        }
    }

    /// Runs the next epoch over `train` (sample indices of `data`), then checks accuracy on
    /// `holdout`. Stops between batches, with an error, when `progress` is cancelled (the
    /// epoch is lost; earlier ones are kept).
    pub fn epoch(
        &mut self,
        data: &Dataset,
        train: &[usize],
        holdout: &[usize],
        progress: &dyn Progress,
    ) -> Result<EpochEnd> {
        let epoch = self.epochs_done;
        if let Method::FastAt {
            start: FastStart::Previous,
            ..
        } = self.settings.method
        {
            let bytes = data.len() as f64 * data.features() as f64 * 4.0;
            if bytes > CARRIED_BYTES_LIMIT {
                return Err(Error::Parameter(format!(
                    "--start previous keeps one perturbation per training sample: {:.1} GiB for \
                     {} samples of {} values, above the {:.0} GiB it may take; use --start \
                     random, or train on a part of the data",
                    bytes / GIB,
                    data.len(),
                    data.features(),
                    CARRIED_BYTES_LIMIT / GIB
                )));
            }
        }
        // Shuffling and randomness depend only on (seed, epoch): a resumed run repeats an
        // uninterrupted one.
        let mut rng = StdRng::seed_from_u64(self.settings.seed ^ (epoch as u64 + 1) << 32);
        let mut order = train.to_vec();
        order.shuffle(&mut rng);
        let batches: Vec<&[usize]> = order
            .chunks(self.settings.batch_size)
            .filter(|b| b.len() >= 2)
            .collect();
        let f = data.features();
        let device = compute_device();
        let started = Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0f64, 0usize, 0usize);
        let mut lr = self.settings.lr;
        progress.begin(&format!("epoch {}", epoch + 1), order.len() as u64);
        for (b, batch) in batches.iter().enumerate() {
            if progress.cancelled() {
                progress.end();
                return Ok(EpochEnd::Interrupted);
            }
            let at = (epoch as f32 + b as f32 / batches.len() as f32) / self.settings.epochs as f32;
            lr = self.settings.lr * self.settings.schedule.factor(at, self.settings.epochs);
            let done = epoch as f32 + b as f32 / batches.len() as f32;
            self.eps_scale = if self.settings.eps_warmup > 0.0 {
                (done / self.settings.eps_warmup).min(1.0)
            } else {
                1.0
            };
            let x = from_rows(data.rows(batch), batch.len(), f, &device);
            let labels: Vec<i64> = batch.iter().map(|&i| data.labels[i]).collect();
            let seed =
                self.settings.seed.wrapping_mul(1_000_003) ^ ((epoch * 1_000_000 + b) as u64);
            let (loss, ok) = self
                .step_on(x, &labels, Some((batch, data.len())), lr, seed, &mut rng)
                .map_err(|e| match e {
                    Error::Model(m) => Error::Model(format!(
                        "epoch {}, batch {} of {}: {m}",
                        epoch + 1,
                        b + 1,
                        batches.len()
                    )),
                    other => other,
                })?;
            loss_sum += f64::from(loss) * batch.len() as f64;
            correct += ok;
            seen += batch.len();
            progress.advance(batch.len() as u64);
        }
        progress.end();
        let seconds = started.elapsed().as_secs_f32();
        let (clean_accuracy, robust_accuracy) = self.evaluate(data, holdout)?;
        self.epochs_done += 1;
        self.history.push(EpochRecord {
            epoch: self.epochs_done,
            lr,
            loss: (loss_sum / seen.max(1) as f64) as f32,
            train_accuracy: correct as f32 / seen.max(1) as f32,
            clean_accuracy,
            robust_accuracy,
            seconds,
            samples_per_second: seen as f32 / seconds.max(1e-6),
        });
        let Some(robust) = robust_accuracy else {
            return Ok(EpochEnd::Continue);
        };
        match &self.best {
            Some((best, best_epoch, weights)) if robust < best - self.settings.collapse_drop => {
                let best_epoch = *best_epoch;
                self.parameters = weights.clone();
                Ok(EpochEnd::Collapsed { best_epoch })
            }
            Some((best, _, _)) if robust <= *best => Ok(EpochEnd::Continue),
            _ => {
                self.best = Some((robust, self.epochs_done, self.parameters.clone()));
                Ok(EpochEnd::Continue)
            }
        }
    }

    /// Clean accuracy and, for adversarial methods with `eval_steps > 0`, PGD accuracy at
    /// the method's ε, on `holdout`, in inference form.
    pub fn evaluate(&self, data: &Dataset, holdout: &[usize]) -> Result<(f32, Option<f32>)> {
        if holdout.is_empty() {
            return Ok((f32::NAN, None));
        }
        let model = self.current_model();
        let f = data.features();
        let device = compute_device();
        let classes = self.model.num_classes();
        let eps = self
            .settings
            .method
            .eps()
            .filter(|_| self.settings.eval_steps > 0);
        let mut rng = StdRng::seed_from_u64(self.settings.seed ^ 0xE7A1);
        let (mut clean, mut robust) = (0usize, 0usize);
        for batch in holdout.chunks(self.settings.batch_size.max(2)) {
            let x = from_rows(data.rows(batch), batch.len(), f, &device);
            let labels: Vec<i64> = batch.iter().map(|&i| data.labels[i]).collect();
            let predicted = argmax_rows(&to_vec(model.logits(x.clone())?), classes);
            clean += predicted
                .iter()
                .zip(&labels)
                .filter(|(p, l)| p == l)
                .count();
            if let Some(eps) = eps {
                let onehot = one_hot(&labels, classes, &x);
                let inner = Inner::CrossEntropy(&onehot);
                let settings = InnerSteps {
                    norm: self.settings.norm,
                    eps,
                    steps: self.settings.eval_steps,
                    step_size: 2.5 * eps / self.settings.eval_steps as f32,
                    bounds: self.settings.bounds,
                };
                let adv = maximize(&x, &settings, Start::Uniform, &mut rng, |a| {
                    model.input_gradient(a, &inner)
                })?;
                let predicted = argmax_rows(&to_vec(model.logits(adv)?), classes);
                robust += predicted
                    .iter()
                    .zip(&labels)
                    .filter(|(p, l)| p == l)
                    .count();
            }
        }
        let n = holdout.len() as f32;
        Ok((clean as f32 / n, eps.map(|_| robust as f32 / n)))
    }

    /// The trained values of every parameter, by initializer name.
    pub fn values(&self) -> HashMap<String, Vec<f32>> {
        self.parameters
            .list
            .iter()
            .map(|p| (p.name.clone(), p.values.clone()))
            .collect()
    }

    /// Restores a checkpoint's state (see `checkpoint.rs`).
    pub(crate) fn restore(
        &mut self,
        values: &HashMap<String, Vec<f32>>,
        optimizer: Optimizer,
        history: Vec<EpochRecord>,
        best: Option<(f32, usize, HashMap<String, Vec<f32>>)>,
        previous: Previous,
    ) -> Result<()> {
        let load = |parameters: &mut Parameters, values: &HashMap<String, Vec<f32>>| {
            for p in &mut parameters.list {
                match values.get(&p.name) {
                    Some(v) if v.len() == p.values.len() => p.values.clone_from(v),
                    _ => {
                        return Err(Error::Data(format!(
                            "the checkpoint does not hold weight '{}' of this model; it belongs \
                             to another model — use another --out or delete the checkpoint",
                            p.name
                        )))
                    }
                }
            }
            Ok(())
        };
        load(&mut self.parameters, values)?;
        self.best = match best {
            Some((acc, epoch, weights)) => {
                let mut p = self.parameters.clone();
                load(&mut p, &weights)?;
                Some((acc, epoch, p))
            }
            None => None,
        };
        self.optimizer = optimizer;
        self.previous = previous;
        self.epochs_done = history.len();
        self.history = history;
        Ok(())
    }

    /// The carried perturbations (for checkpoints).
    pub(crate) fn previous(&self) -> &Previous {
        &self.previous
    }

    /// The optimizer (for checkpoints).
    pub(crate) fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    /// The best epoch so far by held-out PGD accuracy, with its weights.
    pub(crate) fn best(&self) -> Option<(f32, usize, HashMap<String, Vec<f32>>)> {
        self.best.as_ref().map(|(acc, epoch, p)| {
            let values = p
                .list
                .iter()
                .map(|q| (q.name.clone(), q.values.clone()))
                .collect();
            (*acc, *epoch, values)
        })
    }
}

/// Input gradient of `inner` summed over the batch at `x`, the model run as `pass` says.
fn input_gradient(
    model: &OnnxModel,
    pass: &Pass,
    x: Tensor<2>,
    inner: &Inner,
) -> Result<Tensor<2>> {
    let leaf = x.detach().autodiff().require_grad();
    let (logits, _) = model.forward(leaf.clone(), pass)?;
    let grads = inner.per_sample(logits).sum().backward();
    leaf.grad(&grads)
        .map(|g| g.without_autodiff().cast(DType::F32))
        .ok_or_else(|| Error::Model("the model's output does not depend on its input".into()))
}

/// A model with trained weights, in inference form: what attacks and audits run on.
pub struct TrainedModel<'m> {
    model: &'m OnnxModel,
    parameters: HashMap<String, Tensor<1>>,
}

impl TrainedModel<'_> {
    fn run(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        let pass = Pass {
            parameters: &self.parameters,
            train: false,
            seed: 0,
        };
        Ok(self.model.forward(x, &pass)?.0.cast(DType::F32))
    }

    /// Input gradient of `inner` summed over the batch.
    fn input_gradient(&self, x: Tensor<2>, inner: &Inner) -> Result<Tensor<2>> {
        let pass = Pass {
            parameters: &self.parameters,
            train: false,
            seed: 0,
        };
        input_gradient(self.model, &pass, x, inner)
    }
}

impl Classifier for TrainedModel<'_> {
    fn sample_shape(&self) -> &[usize] {
        self.model.sample_shape()
    }

    fn num_classes(&self) -> usize {
        self.model.num_classes()
    }

    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        self.run(x)
    }
}

impl Differentiable for TrainedModel<'_> {
    fn logits_tracked(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        self.run(x)
    }
}
