//! One patch per picture (Sharif et al.'s glasses are made for one wearer): each picture gets
//! its own patch, optimized on that picture under the EOT draws — the jitter of glasses worn a
//! little differently, the light of another room — and judged on it under fresh draws. The same
//! comparison as for a universal patch: the patch made without EOT, a random patch, and, with a
//! palette, the patch snapped onto it.
//!
//! Pictures finish one at a time into a journal, so a killed run resumes at the next picture.

use gauntlet_core::{Error, Result};
use gauntlet_run::journal::Journal;
use gauntlet_run::{Progress, Silent};

use crate::eot::Eot;
use crate::evaluate::{eligible, Judge, SettingResult};
use crate::job::{compared, PatchJob, PatchOutcome, PictureRecord};
use crate::optimize::{mix, noise, PatchProblem, PatchState, Schedule};

/// The journal of finished pictures inside the output folder.
pub const JOURNAL_FILE: &str = "patch-pictures.jsonl";

/// Forwards only the stop request: a picture's steps are not the run's progress.
struct StopOnly<'a>(&'a dyn Progress);

impl Progress for StopOnly<'_> {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
    fn cancelled(&self) -> bool {
        self.0.cancelled()
    }
}

/// Runs `job` with one patch per picture of `job.eval` (`job.train` is not used).
pub fn run_per_picture(job: &PatchJob, progress: &dyn Progress) -> Result<PatchOutcome> {
    let s = &job.settings;
    s.check(job.model.num_classes())?;
    let scene = job.eval;
    let canvas = scene.canvas;
    let footprint = s.shape.footprint(scene.mean_patch_area(s.size))?;
    let fingerprint = job.fingerprint(&footprint);
    std::fs::create_dir_all(&job.out).map_err(|e| Error::io(&job.out, e))?;
    let journal_error = |e: gauntlet_run::JournalError| Error::Data(e.to_string());
    let opened =
        Journal::open::<PictureRecord>(&job.out.join(JOURNAL_FILE), &fingerprint, job.fresh)
            .map_err(journal_error)?;
    let mut journal = opened.journal;
    let mut records = opened.records;
    let resumed = records.len();
    let pictures = eligible(job.model, scene, s.goal, 256)?;
    if pictures.is_empty() {
        return Err(Error::Data(
            "no picture to attack: the model misclassifies all of them, or all belong to the \
             target class"
                .into(),
        ));
    }
    let settings = s.eot.settings();
    progress.begin("patch per picture", pictures.len() as u64);
    progress.advance(records.len() as u64);
    for &i in &pictures {
        if records.iter().any(|r| r.index == i) {
            continue;
        }
        if progress.cancelled() {
            break;
        }
        let one = scene.one(i);
        let seed = mix(s.schedule.seed, &[i as u64]);
        let start = PatchState::start(&footprint, canvas.channels, canvas.bounds, seed);
        let quiet = StopOnly(progress);
        let mut states = Vec::new();
        for (eot, phase) in [(s.eot, 0u64), (Eot::none(), 1)] {
            let problem = PatchProblem {
                model: job.model,
                scene: &one,
                footprint: &footprint,
                size: s.size,
                eot,
                goal: s.goal,
                schedule: Schedule {
                    seed: mix(seed, &[10 + phase]),
                    ..s.schedule
                },
                printability: &s.printability,
            };
            states.push(problem.run(start.clone(), &quiet, usize::MAX, &mut |_| Ok(()))?);
        }
        if progress.cancelled() {
            break;
        }
        let without_eot = states.pop().expect("two optimizations");
        let with_eot = states.pop().expect("two optimizations");
        let random = noise(with_eot.patch.len(), canvas.bounds, mix(seed, &[2]));
        let printed = s
            .printability
            .palette
            .as_ref()
            .map(|p| p.snap(&with_eot.patch));
        let patches: Vec<&[f32]> = compared(
            &with_eot.patch,
            printed.as_deref(),
            &without_eot.patch,
            &random,
        )
        .iter()
        .map(|c| c.2)
        .collect();
        let judge = Judge {
            model: job.model,
            scene: &one,
            footprint: &footprint,
            size: s.size,
            goal: s.goal,
            draws: s.draws,
            seed: mix(seed, &[3]),
            batch_pictures: 1,
        };
        let rows = match judge.run(&patches, &settings, &[0], ("", 0), &quiet) {
            Ok((rows, _)) => rows,
            // Stopped while judging: this picture is redone on resume.
            Err(_) if progress.cancelled() => break,
            Err(e) => return Err(e),
        };
        let record = PictureRecord {
            index: i,
            label: scene.labels[i],
            patch: printed.clone().unwrap_or_else(|| with_eot.patch.clone()),
            trials: rows.iter().map(|r| r.trials).collect(),
            hits: rows
                .iter()
                .map(|r| {
                    r.success
                        .iter()
                        .map(|share| (share * r.trials as f64).round() as usize)
                        .collect()
                })
                .collect(),
            with_eot,
            without_eot,
            random,
        };
        journal.append(&record).map_err(journal_error)?;
        records.push(record);
        progress.advance(1);
    }
    progress.end();
    records.sort_by_key(|r| r.index);
    let complete = records.len() == pictures.len();
    let first = records.first().cloned();
    let mut outcome = PatchOutcome {
        complete,
        footprint: footprint.clone(),
        with_eot: first.as_ref().map_or_else(
            || PatchState::start(&footprint, canvas.channels, canvas.bounds, 0),
            |r| r.with_eot.clone(),
        ),
        without_eot: first.as_ref().map_or_else(
            || PatchState::start(&footprint, canvas.channels, canvas.bounds, 0),
            |r| r.without_eot.clone(),
        ),
        random: first.as_ref().map_or_else(Vec::new, |r| r.random.clone()),
        printed: s
            .printability
            .palette
            .as_ref()
            .and(first.as_ref())
            .map(|r| r.patch.clone()),
        table: Vec::new(),
        examples: Vec::new(),
        judged_pictures: records.len(),
        resumed_steps: resumed,
        per_picture: Vec::new(),
    };
    if records.is_empty() {
        outcome.per_picture = records;
        return Ok(outcome);
    }
    // The table: every picture's hits and trials summed per setting and column.
    let columns = outcome.columns().len();
    outcome.table = settings
        .iter()
        .enumerate()
        .map(|(k, (name, eot))| {
            let trials: usize = records.iter().map(|r| r.trials[k]).sum();
            SettingResult {
                setting: name.clone(),
                eot: *eot,
                trials,
                success: (0..columns)
                    .map(|c| {
                        records.iter().map(|r| r.hits[k][c]).sum::<usize>() as f64
                            / trials.max(1) as f64
                    })
                    .collect(),
            }
        })
        .collect();
    // Pictures for the report: the first few, each under one draw of the spec.
    let spec = settings[s.eot.spec_index()].clone();
    for r in records.iter().take(8) {
        let one = scene.one(r.index);
        let judge = Judge {
            model: job.model,
            scene: &one,
            footprint: &footprint,
            size: s.size,
            goal: s.goal,
            draws: 1,
            seed: mix(s.schedule.seed, &[r.index as u64, 4]),
            batch_pictures: 1,
        };
        let printed = s.printability.palette.as_ref().map(|_| r.patch.as_slice());
        let patches: Vec<&[f32]> =
            compared(&r.with_eot.patch, printed, &r.without_eot.patch, &r.random)
                .iter()
                .map(|c| c.2)
                .collect();
        let (_, mut shown) = judge.run(
            &patches,
            std::slice::from_ref(&spec),
            &[0],
            (&spec.0, 1),
            &Silent,
        )?;
        for e in &mut shown {
            e.index = r.index;
        }
        outcome.examples.extend(shown);
    }
    // The journal stays: a rerun of the same command restores every picture.
    drop(journal);
    outcome.per_picture = records;
    Ok(outcome)
}
