//! The whole patch attack as one library call: make the patch under EOT, make the same-size
//! patch without EOT, draw a random patch of the same size, and judge all three on held-out
//! pictures under the same conditions. Checkpointed: a killed run resumes where it stopped.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use gauntlet_core::model::Differentiable;
use gauntlet_core::{Error, Result};
use gauntlet_run::fs::write_atomic;
use gauntlet_run::Progress;

use crate::eot::Eot;
use crate::evaluate::{eligible, Example, Judge, SettingResult};
use crate::optimize::{mix, noise, PatchProblem, PatchState, Printability, Schedule};
use crate::scene::{Goal, Scene};
use crate::shape::{Footprint, Shape};

/// The patch attack's settings, checked.
#[derive(Debug, Clone)]
pub struct PatchSettings {
    /// The patch's outline.
    pub shape: Shape,
    /// Its area as a fraction of each picture (or of its placement region).
    pub size: f64,
    /// The conditions the patch must survive.
    pub eot: Eot,
    /// What it should do.
    pub goal: Goal,
    /// Steps, batch, learning rate, seed (shared by both optimized patches).
    pub schedule: Schedule,
    /// Random conditions per held-out picture and setting.
    pub draws: usize,
    /// Smoothness and palette: how printable the patch is made, and whether it is snapped.
    pub printability: Printability,
}

impl PatchSettings {
    /// Checks the numbers once.
    pub fn check(&self, classes: usize) -> Result<()> {
        if !(self.size > 0.0 && self.size <= 1.0) {
            return Err(Error::Parameter(format!(
                "--size {} must be a fraction of the picture's area in (0, 1], e.g. 0.1",
                self.size
            )));
        }
        if let Goal::Targeted(t) = self.goal {
            if t < 0 || t as usize >= classes {
                return Err(Error::Parameter(format!(
                    "--target-class {t} is not a class of this model (it has {classes}: 0..{})",
                    classes - 1
                )));
            }
        }
        let s = &self.schedule;
        if s.steps == 0 || s.batch_size == 0 || self.draws == 0 {
            return Err(Error::Parameter(
                "--steps, --batch-size and --draws must each be at least 1".into(),
            ));
        }
        let p = &self.printability;
        if !(p.tv.is_finite() && p.tv >= 0.0 && p.nps.is_finite() && p.nps >= 0.0) {
            return Err(Error::Parameter(format!(
                "--tv {} and --nps {} must be finite weights ≥ 0",
                p.tv, p.nps
            )));
        }
        if p.nps > 0.0 && p.palette.is_none() {
            return Err(Error::Parameter(
                "--nps needs a palette to score against; add --palette default or --palette FILE"
                    .into(),
            ));
        }
        if !(s.lr.is_finite() && s.lr > 0.0) {
            return Err(Error::Parameter(format!(
                "--lr {} must be a positive number",
                s.lr
            )));
        }
        Ok(())
    }
}

/// A patch in the report's table: its key in `report.json`, its label, its values.
pub type Column<'a> = (&'static str, &'static str, &'a [f32]);

/// What a patch run produced.
#[derive(Debug, Clone)]
pub struct PatchOutcome {
    /// Every step done and the evaluation run.
    pub complete: bool,
    /// The patch's outline at scale 1.
    pub footprint: Footprint,
    /// The optimization with EOT (the patch written out).
    pub with_eot: PatchState,
    /// The same optimization without EOT: upright, scale 1, in the middle.
    pub without_eot: PatchState,
    /// Uniform noise of the same size.
    pub random: Vec<f32>,
    /// The EOT patch snapped onto the palette (what a printer makes of it), when one was given.
    pub printed: Option<Vec<f32>>,
    /// Success per setting, per patch ([`PatchOutcome::columns`] order); empty when
    /// incomplete.
    pub table: Vec<SettingResult>,
    /// Patched held-out pictures under the spec, for the report.
    pub examples: Vec<Example>,
    /// Held-out pictures counted (correctly classified, not of the target class).
    pub judged_pictures: usize,
    /// Steps restored from a checkpoint (0: a fresh run); pictures, in per-picture mode.
    pub resumed_steps: usize,
    /// Per-picture mode (`per_picture.rs`): every judged picture with its own patch. Empty for
    /// a universal patch. The outcome's patches and curves are then the first picture's.
    pub per_picture: Vec<PictureRecord>,
}

/// One picture of a per-picture run: its own patch and how it fared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PictureRecord {
    /// Index in the pictures given.
    pub index: usize,
    /// True class.
    pub label: i64,
    /// The patch written for it (snapped onto the palette when one was given), `[C, h, w]`.
    pub patch: Vec<f32>,
    /// Its optimizations, with EOT and without.
    pub with_eot: PatchState,
    /// See `with_eot`.
    pub without_eot: PatchState,
    /// The random patch it was compared with.
    pub random: Vec<f32>,
    /// Trials per setting, and the trials each column won, per setting.
    pub trials: Vec<usize>,
    /// `hits[setting][column]`.
    pub hits: Vec<Vec<usize>>,
}

/// The patches compared, in the table's order: with EOT, printed (when a palette was given),
/// without EOT, random.
pub fn compared<'a>(
    with_eot: &'a [f32],
    printed: Option<&'a [f32]>,
    without_eot: &'a [f32],
    random: &'a [f32],
) -> Vec<Column<'a>> {
    let mut out: Vec<Column> = vec![("with_eot", "with EOT", with_eot)];
    if let Some(printed) = printed {
        out.push(("printed", "with EOT, snapped to the palette", printed));
    }
    out.push(("without_eot", "without EOT", without_eot));
    out.push(("random", "random patch", random));
    out
}

impl PatchOutcome {
    /// The patches compared, in the table's order: with EOT, printed (snapped), without EOT,
    /// random.
    pub fn columns(&self) -> Vec<Column<'_>> {
        compared(
            &self.with_eot.patch,
            self.printed.as_deref(),
            &self.without_eot.patch,
            &self.random,
        )
    }

    /// The patch to print: snapped onto the palette when one was given.
    pub fn patch(&self) -> &[f32] {
        self.printed.as_deref().unwrap_or(&self.with_eot.patch)
    }
}

/// The checkpoint: both optimizations' states, for one run's fingerprint.
#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    fingerprint: String,
    with_eot: PatchState,
    without_eot: PatchState,
}

/// The checkpoint's file inside the output folder.
pub const CHECKPOINT_FILE: &str = "patch-checkpoint.json";

/// Steps between checkpoints.
const CHECKPOINT_EVERY: usize = 25;

/// One patch attack.
pub struct PatchJob<'a> {
    /// The white-box model.
    pub model: &'a dyn Differentiable,
    /// Pictures the patches are made on.
    pub train: &'a Scene<'a>,
    /// Held-out pictures they are judged on.
    pub eval: &'a Scene<'a>,
    /// Settings.
    pub settings: PatchSettings,
    /// Everything else that decides the result (model and data hashes), for the checkpoint.
    pub identity: serde_json::Value,
    /// Output folder (the checkpoint lives there).
    pub out: PathBuf,
    /// Ignore a checkpoint.
    pub fresh: bool,
}

impl PatchJob<'_> {
    /// Everything that decides the result, hashed: a checkpoint of another run is discarded.
    pub(crate) fn fingerprint(&self, footprint: &Footprint) -> String {
        let s = &self.settings;
        gauntlet_core::hash::sha256_hex(
            serde_json::json!({
                "version": env!("CARGO_PKG_VERSION"),
                "identity": self.identity,
                "shape": s.shape.describe(),
                "footprint": [footprint.height, footprint.width, footprint.area()],
                "size": s.size,
                "eot": s.eot,
                "goal": s.goal,
                "schedule": s.schedule,
                "printability": s.printability.describe(),
            })
            .to_string()
            .as_bytes(),
        )
    }

    fn restore(&self, path: &Path, fingerprint: &str) -> Option<Checkpoint> {
        if self.fresh {
            return None;
        }
        let bytes = std::fs::read(path).ok()?;
        let checkpoint: Checkpoint = serde_json::from_slice(&bytes).ok()?;
        (checkpoint.fingerprint == fingerprint).then_some(checkpoint)
    }

    /// Runs the attack; with `progress` cancelled it stops at the next step, checkpoints and
    /// returns an incomplete outcome.
    pub fn run(&self, progress: &dyn Progress) -> Result<PatchOutcome> {
        let s = &self.settings;
        s.check(self.model.num_classes())?;
        let canvas = self.train.canvas;
        let footprint = s.shape.footprint(self.train.mean_patch_area(s.size))?;
        let fingerprint = self.fingerprint(&footprint);
        std::fs::create_dir_all(&self.out).map_err(|e| Error::io(&self.out, e))?;
        let path = self.out.join(CHECKPOINT_FILE);
        let start = |offset: u64| {
            PatchState::start(
                &footprint,
                canvas.channels,
                canvas.bounds,
                mix(s.schedule.seed, &[offset]),
            )
        };
        let restored = self.restore(&path, &fingerprint);
        let resumed_steps = restored
            .as_ref()
            .map_or(0, |c| c.with_eot.step + c.without_eot.step);
        // Both optimizations start from the same noise, so they differ only by EOT.
        let (mut with_eot, mut without_eot) = match restored {
            Some(c) => (c.with_eot, c.without_eot),
            None => (start(1), start(1)),
        };
        let save = |a: &PatchState, b: &PatchState| -> Result<()> {
            let json = serde_json::to_vec(&Checkpoint {
                fingerprint: fingerprint.clone(),
                with_eot: a.clone(),
                without_eot: b.clone(),
            })
            .map_err(|e| Error::Data(format!("cannot serialize the checkpoint: {e}")))?;
            write_atomic(&path, &json).map_err(|e| Error::io(&path, e))
        };
        for (eot, phase) in [(s.eot, 0u64), (Eot::none(), 1)] {
            let problem = PatchProblem {
                model: self.model,
                scene: self.train,
                footprint: &footprint,
                size: s.size,
                eot,
                goal: s.goal,
                schedule: Schedule {
                    seed: mix(s.schedule.seed, &[10 + phase]),
                    ..s.schedule
                },
                printability: &s.printability,
            };
            let name = if phase == 0 {
                "patch with EOT"
            } else {
                "patch without EOT"
            };
            progress.begin(name, s.schedule.steps as u64);
            if phase == 0 {
                let state = std::mem::replace(&mut with_eot, start(1));
                with_eot = problem.run(state, progress, CHECKPOINT_EVERY, &mut |st| {
                    save(st, &without_eot)
                })?;
            } else {
                let state = std::mem::replace(&mut without_eot, start(1));
                without_eot = problem.run(state, progress, CHECKPOINT_EVERY, &mut |st| {
                    save(&with_eot, st)
                })?;
            }
            progress.end();
        }
        let random = noise(
            with_eot.patch.len(),
            canvas.bounds,
            mix(s.schedule.seed, &[2]),
        );
        let done = with_eot.step == s.schedule.steps && without_eot.step == s.schedule.steps;
        let mut outcome = PatchOutcome {
            complete: false,
            footprint: footprint.clone(),
            with_eot,
            without_eot,
            random,
            printed: None,
            table: Vec::new(),
            examples: Vec::new(),
            judged_pictures: 0,
            resumed_steps,
            per_picture: Vec::new(),
        };
        if !done || progress.cancelled() {
            return Ok(outcome);
        }
        let pictures = eligible(self.model, self.eval, s.goal, 256)?;
        if pictures.is_empty() {
            return Err(Error::Data(
                "no held-out picture to judge the patch on: the model misclassifies all of them, \
                 or all belong to the target class"
                    .into(),
            ));
        }
        let judge = Judge {
            model: self.model,
            scene: self.eval,
            footprint: &footprint,
            size: s.size,
            goal: s.goal,
            draws: s.draws,
            seed: mix(s.schedule.seed, &[3]),
            batch_pictures: (512 / s.draws).max(1),
        };
        let settings = s.eot.settings();
        let show = settings[s.eot.spec_index()].0.clone();
        outcome.printed = s
            .printability
            .palette
            .as_ref()
            .map(|p| p.snap(&outcome.with_eot.patch));
        let columns = outcome.columns();
        let patches: Vec<&[f32]> = columns.iter().map(|c| c.2).collect();
        let (table, examples) = judge.run(&patches, &settings, &pictures, (&show, 8), progress)?;
        outcome.table = table;
        outcome.examples = examples;
        outcome.judged_pictures = pictures.len();
        outcome.complete = true;
        Ok(outcome)
    }
}
