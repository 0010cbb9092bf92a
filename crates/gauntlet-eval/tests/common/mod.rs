//! Fixtures for gauntlet-eval's tests: a fake classifier whose decisions and gradients are set
//! by construction, data sets for it, attacks by name, scripted progress and temporary
//! directories.
//!
//! **The fake model.** A row has `FEATURES` values: feature 0 is the sample's id (ids are
//! `SPACING` apart, so a row perturbed by less than `SPACING / 2` is still recognised as its
//! sample), features `1..=SIGNAL` carry the signal and sit at `CENTER` on clean rows. Each
//! sample has a [`Spec`]: its class is 1 ("up") once *every* one of its first `signal` signal
//! features rose by more than `tau` above `CENTER`, and otherwise 0 (with three classes, class
//! 2 ("down") once every one fell by more than `tau`). So under L∞ a sample can be broken at
//! budget ε exactly when ε > `tau`, and only by moving all its signal features.
//!
//! The gradient the attacks see is chosen separately from the decision: `logits_tracked` adds
//! `(x − detach(x)) · M`, which is zero in value, so the logits are those of `logits`, but the
//! input gradient of the class-1 logit is `M` — honest (+), zero, reversed (−), huge or NaN,
//! and possibly different at the exact clean row than anywhere else.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use gauntlet_attacks::{by_name, Attack, AttackSettings};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::data::Dataset;
use gauntlet_core::device::compute_device;
use gauntlet_core::model::{Classifier, Differentiable};
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_core::threat::{Bounds, Norm, ThreatModel};
use gauntlet_core::{Error, Result, Tensor};
use gauntlet_eval::{AuditPlan, Progress};

/// Builds an attack from its name with the given budget: iterations for gradient attacks,
/// queries for black-box ones. The one place that knows `AttackSettings`' fields.
pub fn attack(name: &str, budget: usize) -> Box<dyn Attack> {
    let settings = AttackSettings {
        steps: Some(budget),
        queries: Some(budget as u64),
        restarts: 1,
        rel_step: None,
    };
    by_name(name, &settings.validated().unwrap()).unwrap()
}

/// Signal features per row.
pub const SIGNAL: usize = 6;
/// Values per row: the id and the signal.
pub const FEATURES: usize = 1 + SIGNAL;
/// Distance between sample ids (budgets must stay below half of it).
pub const SPACING: f32 = 0.09;
/// Where the signal features of a clean row sit.
pub const CENTER: f32 = 0.5;
/// Logit scale.
const SCALE: f32 = 10.0;

/// The input gradient the model reports (of the class-1 logit, per signal feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grad {
    /// Points toward class 1, as the decision does.
    Honest,
    /// Zero (a masked gradient).
    Zero,
    /// Points away from class 1 (a misleading gradient).
    Reversed,
    /// Honest in direction, 1e8 times too large.
    Huge,
    /// NaN. Affects every row of a batch in which any row asks for it.
    NaN,
}

impl Grad {
    fn factor(self) -> f32 {
        match self {
            Grad::Honest | Grad::NaN => 1.0,
            Grad::Zero => 0.0,
            Grad::Reversed => -1.0,
            Grad::Huge => 1e8,
        }
    }
}

/// How one sample answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    /// How many signal features must all move (1..=SIGNAL).
    pub signal: usize,
    /// How far they must move: broken at L∞ budget ε exactly when ε > tau.
    pub tau: f32,
    /// The gradient at the exact clean row.
    pub at_clean: Grad,
    /// The gradient anywhere else.
    pub elsewhere: Grad,
}

impl Spec {
    /// An honest model: any gradient attack breaks the sample once ε > tau.
    pub fn honest(tau: f32) -> Spec {
        Spec {
            signal: 1,
            tau,
            at_clean: Grad::Honest,
            elsewhere: Grad::Honest,
        }
    }

    /// Gradients masked everywhere: only black-box attacks break it.
    pub fn masked(tau: f32) -> Spec {
        Spec {
            signal: 1,
            tau,
            at_clean: Grad::Zero,
            elsewhere: Grad::Zero,
        }
    }

    /// Zero gradient at the clean row, honest elsewhere: FGSM (one step from the clean row)
    /// fails, PGD (random start, then gradient steps) succeeds.
    pub fn pgd_only(tau: f32) -> Spec {
        Spec {
            signal: 1,
            tau,
            at_clean: Grad::Zero,
            elsewhere: Grad::Honest,
        }
    }

    /// Honest at the clean row, reversed elsewhere, and all `SIGNAL` features must move: FGSM
    /// breaks it; PGD's steps walk away, and a random start lands in the corner that breaks
    /// it with probability ((ε − tau) / 2ε)^SIGNAL (< 1e-6 for the budgets used).
    pub fn fgsm_only(tau: f32) -> Spec {
        Spec {
            signal: SIGNAL,
            tau,
            at_clean: Grad::Honest,
            elsewhere: Grad::Reversed,
        }
    }

    /// The same decision with one gradient everywhere.
    pub fn gradient(self, grad: Grad) -> Spec {
        Spec {
            at_clean: grad,
            elsewhere: grad,
            ..self
        }
    }

    /// Needs `k` signal features to move.
    pub fn signal(self, k: usize) -> Spec {
        assert!((1..=SIGNAL).contains(&k));
        Spec { signal: k, ..self }
    }
}

/// Rows a sample was seen in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// Through `logits` (queries, predictions, verification).
    pub queried: u64,
    /// Through `logits_tracked` (gradients).
    pub tracked: u64,
}

/// The fake classifier; see the module docs.
pub struct Fake {
    specs: Vec<Spec>,
    classes: usize,
    shape: [usize; 1],
    seen: Mutex<Vec<Seen>>,
    /// Samples whose rows make `logits_tracked` fail (gradient attacks fail on their batch).
    fail_tracked: Vec<usize>,
    /// While set, every call fails (a target that went down).
    pub down: AtomicBool,
    /// Set once any call has failed.
    pub tripped: AtomicBool,
}

impl Fake {
    /// Two classes (0 clean, 1 up).
    pub fn new(specs: Vec<Spec>) -> Fake {
        assert!(!specs.is_empty());
        assert!(
            (specs.len() as f32 + 1.0) * SPACING < 1.0,
            "too many samples for the id feature"
        );
        let n = specs.len();
        Fake {
            specs,
            classes: 2,
            shape: [FEATURES],
            seen: Mutex::new(vec![Seen::default(); n]),
            fail_tracked: Vec::new(),
            down: AtomicBool::new(false),
            tripped: AtomicBool::new(false),
        }
    }

    /// Adds class 2, reached by moving the signal down.
    pub fn three_classes(mut self) -> Fake {
        self.classes = 3;
        self
    }

    /// `logits_tracked` fails for any batch holding a row of one of `samples`.
    pub fn failing_gradients_for(mut self, samples: &[usize]) -> Fake {
        self.fail_tracked = samples.to_vec();
        self
    }

    pub fn specs(&self) -> &[Spec] {
        &self.specs
    }

    /// The clean row of sample `i`.
    pub fn clean_row(&self, i: usize) -> Vec<f32> {
        clean_row(i)
    }

    /// The data set of every sample's clean row, with these labels.
    pub fn data(&self, labels: &[i64]) -> Dataset {
        assert_eq!(labels.len(), self.specs.len());
        dataset(labels)
    }

    /// Rows seen so far, per sample.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The sample a (possibly perturbed) row belongs to.
    fn locate(&self, row: &[f32]) -> usize {
        let i = (row[0] / SPACING).round() as i64 - 1;
        i.clamp(0, self.specs.len() as i64 - 1) as usize
    }

    fn logit_row(&self, row: &[f32]) -> Vec<f32> {
        let s = &self.specs[self.locate(row)];
        let signal = &row[1..=s.signal];
        let up = signal
            .iter()
            .map(|v| v - CENTER)
            .fold(f32::INFINITY, f32::min)
            - s.tau;
        let down = signal
            .iter()
            .map(|v| CENTER - v)
            .fold(f32::INFINITY, f32::min)
            - s.tau;
        let mut logits = vec![0.0, SCALE * up];
        if self.classes == 3 {
            // Slightly below class 1 at the clean row, so the untargeted gradient goes up.
            logits.push(SCALE * down - 1e-3);
        }
        logits
    }

    /// Counts the rows and fails when told to.
    fn record(&self, host: &[f32], tracked: bool) -> Result<()> {
        let mut fail = self.down.load(Ordering::SeqCst);
        {
            let mut seen = self.seen.lock().unwrap();
            for row in host.chunks(FEATURES) {
                let i = self.locate(row);
                if tracked {
                    seen[i].tracked += 1;
                    fail |= self.fail_tracked.contains(&i);
                } else {
                    seen[i].queried += 1;
                }
            }
        }
        if fail {
            self.tripped.store(true, Ordering::SeqCst);
            return Err(Error::Model("the fake model was told to fail here".into()));
        }
        Ok(())
    }
}

impl Classifier for Fake {
    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    fn num_classes(&self) -> usize {
        self.classes
    }

    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        let [n, _] = x.dims();
        let host = to_vec(x);
        self.record(&host, false)?;
        let values = host
            .chunks(FEATURES)
            .flat_map(|row| self.logit_row(row))
            .collect();
        Ok(from_rows(values, n, self.classes, &compute_device()))
    }
}

impl Differentiable for Fake {
    fn logits_tracked(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        let [n, f] = x.dims();
        let host = to_vec(x.clone().detach().without_autodiff());
        self.record(&host, true)?;
        let c = self.classes;
        let values: Vec<f32> = host.chunks(f).flat_map(|row| self.logit_row(row)).collect();
        // Per row, per feature: the gradient factor of the class-1 logit.
        let mut factors = vec![0f32; n * f];
        let mut nan = false;
        for (r, row) in host.chunks(f).enumerate() {
            let i = self.locate(row);
            let s = &self.specs[i];
            let grad = if row == self.clean_row(i).as_slice() {
                s.at_clean
            } else {
                s.elsewhere
            };
            nan |= grad == Grad::NaN;
            for j in 1..=s.signal {
                factors[r * f + j] = grad.factor();
            }
        }
        // Maps a feature's factor to the logits: +SCALE on class 1, −SCALE on class 2.
        let mut spread = vec![0f32; f * c];
        for j in 0..f {
            spread[j * c + 1] = SCALE;
            if c == 3 {
                spread[j * c + 2] = -SCALE;
            }
        }
        let device = compute_device();
        let lift = |t: Tensor<2>| if x.is_autodiff() { t.autodiff() } else { t };
        let spread = lift(from_rows(spread, f, c, &device));
        let delta = x.clone() - x.clone().detach();
        let mut logits = lift(from_rows(values, n, c, &device))
            + (delta.clone() * lift(from_rows(factors, n, f, &device))).matmul(spread.clone());
        if nan {
            // sqrt(δ²) is 0 in value and has a 0·∞ = NaN derivative at δ = 0.
            logits = logits + (delta.clone() * delta).sqrt().matmul(spread);
        }
        Ok(logits)
    }
}

/// The clean row of sample `i`: its id, then the signal at `CENTER`.
pub fn clean_row(i: usize) -> Vec<f32> {
    let mut row = vec![CENTER; FEATURES];
    row[0] = (i as f32 + 1.0) * SPACING;
    row
}

/// The clean rows of samples `0..labels.len()`, with these labels.
pub fn dataset(labels: &[i64]) -> Dataset {
    let n = labels.len();
    let rows = (0..n).flat_map(clean_row).collect();
    Dataset::from_parts(rows, vec![n, FEATURES], labels.to_vec(), "fake".into()).unwrap()
}

/// An L∞ threat model on [0, 1].
pub fn linf(eps: &[f32]) -> ThreatModel {
    ThreatModel::new(Norm::Linf, eps, Bounds { min: 0.0, max: 1.0 }).unwrap()
}

/// Six samples, each open to Square at some budget of [0.01, 0.02, 0.03] after FGSM, so
/// Square's progress counts batches only (for interrupting it midway).
pub fn open_to_square() -> Vec<Spec> {
    vec![
        Spec::masked(0.015),
        Spec::honest(0.05),
        Spec::masked(0.015),
        Spec::masked(0.005),
        Spec::masked(0.025),
        Spec::honest(0.015),
    ]
}

/// Cancels the run once Square has finished `batches` samples.
pub fn stop_in_square_after(batches: u64) -> Script<'static> {
    Script::new(move |begun, advanced| {
        begun.last().is_some_and(|a| a == "square") && advanced >= batches
    })
}

/// Square's query budget in [`plan`]: enough that it breaks what it can (module docs).
pub const SQUARE_QUERIES: usize = 100;

/// A plan of `attacks` at L∞ budgets `eps`, untargeted, seed 3; Square gets
/// [`SQUARE_QUERIES`], the others one step.
pub fn plan(attacks: &[&str], eps: &[f32], ensemble: bool, batch_size: usize) -> AuditPlan {
    AuditPlan {
        attacks: attacks
            .iter()
            .map(|&name| attack(name, if name == "square" { SQUARE_QUERIES } else { 1 }))
            .collect(),
        threat: linf(eps),
        criterion: Criterion::Untargeted,
        batch_size,
        seed: 3,
        ensemble,
        blocks: Default::default(),
    }
}

/// Says, from the attacks begun so far and the samples advanced in the current one, whether
/// the user has asked to stop.
type CancelWhen<'a> = Box<dyn Fn(&[String], u64) -> bool + 'a>;

/// Progress driven by a script: it records which attacks began, can act when one begins, and
/// reports cancellation when `cancel(begun, samples advanced in the current attack)` says so.
pub struct Script<'a> {
    begun: RefCell<Vec<String>>,
    advanced: Cell<u64>,
    cancel: CancelWhen<'a>,
    on_begin: Box<dyn Fn(&str) + 'a>,
}

impl<'a> Script<'a> {
    pub fn new(cancel: impl Fn(&[String], u64) -> bool + 'a) -> Self {
        Script {
            begun: RefCell::new(Vec::new()),
            advanced: Cell::new(0),
            cancel: Box::new(cancel),
            on_begin: Box::new(|_| {}),
        }
    }

    /// Records only.
    pub fn watch() -> Self {
        Script::new(|_, _| false)
    }

    pub fn on_begin(mut self, act: impl Fn(&str) + 'a) -> Self {
        self.on_begin = Box::new(act);
        self
    }

    /// The attacks that began, in order.
    pub fn begun(&self) -> Vec<String> {
        self.begun.borrow().clone()
    }
}

impl Progress for Script<'_> {
    fn begin(&self, attack: &str, _samples: u64) {
        self.begun.borrow_mut().push(attack.to_string());
        self.advanced.set(0);
        (self.on_begin)(attack);
    }

    fn advance(&self, samples: u64) {
        self.advanced.set(self.advanced.get() + samples);
    }

    fn end(&self) {}

    fn cancelled(&self) -> bool {
        (self.cancel)(&self.begun.borrow(), self.advanced.get())
    }
}

/// A fresh directory under the system's temporary directory, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "gauntlet-eval-{tag}-{}-{nanos}",
            std::process::id()
        ));
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
