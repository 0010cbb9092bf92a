//! The tabular audit as a library call: schema + table + model → clean check (accuracy,
//! infeasible rows) → each attack, constrained and (optionally) unconstrained, batch by batch
//! with a resume journal → verified per-row outcomes → summaries → report, samples, the
//! adversarial rows and the gate.

use std::path::{Path, PathBuf};
use std::time::Instant;

use gauntlet_run::gate::{junit, Gate, Judgement, Plan, Verdict};
use gauntlet_run::journal::Journal;
use gauntlet_run::{Progress, Shard, ShardError};
use serde::{Deserialize, Serialize};

use crate::attacks::beam::BeamSearch;
use crate::attacks::cpgd::ConstrainedPgd;
use crate::attacks::hsj::DecisionBased;
use crate::attacks::{Context, Needs, TabularAttack};
use crate::config::{TabularAuditConfig, ATTACKS, DEFAULT_ATTACKS};
use crate::error::{Error, Result};
use crate::feasibility::violations;
use crate::loader::{load_model, ModelKind};
use crate::model::{predicted, Counted, Goal, TabularModel};
use crate::outcome::{verify, RowOutcome};
use crate::report::{self, gate_rows, Report};
use crate::schema::Schema;
use crate::space::Space;
use crate::summary::{worst_case, AttackSummary, WORST};
use crate::table::Table;

/// A checked audit, ready to run.
#[derive(Debug, Clone)]
pub struct TabularAudit {
    /// The settings it was checked from.
    pub config: TabularAuditConfig,
    /// The beam search's settings (the `tree` attack shares them).
    pub beam: BeamSearch,
    /// Constrained PGD's settings.
    pub cpgd: ConstrainedPgd,
    /// The CI gate.
    pub gate: Gate,
    /// Which batches of rows this process attacks (see [`crate::shard`]).
    pub shard: Shard,
}

/// What a merge of shards runs from: every shard's records, and the run they belong to.
pub(crate) struct Merged {
    /// Every batch of every pass, from the shards' checkpoints.
    pub records: Vec<BatchRecord>,
    /// The fingerprint the shards ran with: the merge must read the same files.
    pub run_fingerprint: String,
}

/// A finished (or interrupted) audit.
#[derive(Debug)]
pub struct TabularRun {
    /// The report, as written to `report.json`.
    pub report: Report,
    /// The gate's judgement.
    pub judgement: Judgement,
    /// Where the report went.
    pub out: PathBuf,
    /// Rows restored from an earlier run's checkpoint.
    pub resumed: usize,
}

impl TabularRun {
    /// The process exit code: 0 passed, 1 a threshold failed, 2 incomplete.
    pub fn exit_code(&self) -> u8 {
        self.judgement.verdict().code()
    }

    /// The gate's verdict.
    pub fn verdict(&self) -> Verdict {
        self.judgement.verdict()
    }
}

/// One checkpoint record: an attack's verified outcomes for one batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BatchRecord {
    attack: String,
    constrained: bool,
    /// The batch's index in the whole run (which decides its seed and its shard).
    pub batch: usize,
    outcomes: Vec<RowOutcome>,
    queries: u64,
    gradients: u64,
    seconds: f64,
}

/// The file of the resume journal inside the output directory.
pub(crate) const JOURNAL_FILE: &str = "tabular-checkpoint.jsonl";

/// The JUnit suite name of tabular audits.
const JUNIT_SUITE: &str = "gauntlet-tabular";

/// An attack as one run: which attack, in which space.
struct Pass<'a> {
    attack: &'a dyn TabularAttack,
    constrained: bool,
}

impl TabularAudit {
    /// Runs the audit end to end (see the module docs). A cancellation from `progress` stops
    /// after the batch in hand; the report then says `complete: false`, the checkpoint stays,
    /// and a rerun resumes.
    ///
    /// A shard (`shard` `I/N`) attacks its batches only, writes its part's report without
    /// judging thresholds, and keeps its checkpoint beside `shard.json` for
    /// [`crate::shard::merge`].
    pub fn run(&self, progress: &dyn Progress) -> Result<TabularRun> {
        self.run_from(None, progress)
    }

    /// [`TabularAudit::run`], or with `merged` a merge: every batch restored from the shards'
    /// records (a missing one is an error, never attacked again), no journal.
    pub(crate) fn run_from(
        &self,
        merged: Option<Merged>,
        progress: &dyn Progress,
    ) -> Result<TabularRun> {
        let config = &self.config;
        let started = Instant::now();
        let out = &config.out;
        std::fs::create_dir_all(out).map_err(Error::io(out, "create it"))?;
        let schema = Schema::load(&config.schema)?;
        let table = Table::load(&config.data, &schema, config.label_column.as_deref())?;
        let loaded = load_model(&config.model, schema.width())?;
        let model: &dyn TabularModel = loaded.model.as_ref();
        if model.classes() < table.classes.len() {
            return Err(Error::Model {
                model: config.model.display().to_string(),
                reason: format!(
                    "gives {} scores per row but the data has {} classes ({}); check the label \
                     column and the schema's `classes`",
                    model.classes(),
                    table.classes.len(),
                    table.classes.join(", ")
                ),
            });
        }
        let direction = self.direction(&table.classes)?;

        // The clean pass: predictions and feasibility of every row.
        let clean_scores = model.scores(&table.rows)?;
        let classes = model.classes();
        let clean_predictions: Vec<usize> = clean_scores.chunks(classes).map(predicted).collect();
        let correct = (0..table.len())
            .filter(|&i| clean_predictions[i] == table.labels[i])
            .count();
        let infeasible: Vec<(usize, Vec<String>)> = (0..table.len())
            .filter_map(|i| {
                let found = violations(&schema, table.row(i));
                (!found.is_empty())
                    .then(|| (i, found.iter().map(|v| v.describe(&schema)).collect()))
            })
            .collect();
        let eligible: Vec<usize> = (0..table.len())
            .filter(|&i| clean_predictions[i] == table.labels[i])
            .filter(|&i| direction.is_none_or(|(from, _)| table.labels[i] == from))
            .filter(|i| infeasible.binary_search_by_key(i, |(r, _)| *r).is_err())
            .collect();
        let attacked: Vec<usize> = match config.samples {
            Some(n) => eligible.iter().copied().take(n).collect(),
            None => eligible.clone(),
        };

        let attacks = self.attacks(&loaded.kind)?;
        // A threshold naming an attack this run does not have is an error before any work.
        self.gate.check_applicable(&Plan {
            rows: attacks
                .iter()
                .map(|a| a.name().to_string())
                .chain([WORST.to_string()])
                .collect(),
            ..Plan::default()
        })?;
        let passes: Vec<Pass> = attacks
            .iter()
            .flat_map(|a| {
                let both = if config.constrained_only {
                    vec![true]
                } else {
                    vec![true, false]
                };
                both.into_iter().map(move |constrained| Pass {
                    attack: a.as_ref(),
                    constrained,
                })
            })
            .collect();
        let fingerprint = self.fingerprint(&schema, &table, &loaded.sha256, &attacked, &attacks);
        let restore_only = merged.is_some();
        let (mut journal, mut records) = match merged {
            Some(merged) => {
                if merged.run_fingerprint != fingerprint {
                    return Err(ShardError::new(
                        "the shards were run on other files or settings than the merge reads now \
                         (the model's, the data's or the schema's content hash differs); merge \
                         with the files the shards audited, from the folder they ran in",
                    )
                    .into());
                }
                (None, merged.records)
            }
            None => {
                let opened = Journal::open::<BatchRecord>(
                    &out.join(JOURNAL_FILE),
                    &self.checkpoint_fingerprint(&fingerprint),
                    config.fresh,
                )?;
                (Some(opened.journal), opened.records)
            }
        };
        // A merge's rows come from the shards, not from an interrupted run.
        let resumed: usize = if restore_only {
            0
        } else {
            records.iter().map(|r| r.outcomes.len()).sum()
        };

        // Batches are cut from all attacked rows, then dealt to shards: a batch's rows and
        // seed are the same in every shard count.
        let batches: Vec<&[usize]> = attacked.chunks(config.batch_size).collect();
        let mine = |b: usize| self.shard.owns(b);
        let my_rows: usize = batches
            .iter()
            .enumerate()
            .filter(|&(b, _)| mine(b))
            .map(|(_, batch)| batch.len())
            .sum();
        if my_rows == 0 {
            return Err(Error::config(
                "shard",
                format!(
                    "{} has no rows: {} attacked rows make only {} batches of batch_size {}, \
                     dealt one per shard in turn; use at most that many shards (or a smaller \
                     batch_size)",
                    self.shard,
                    attacked.len(),
                    batches.len(),
                    config.batch_size
                ),
            ));
        }
        let mut complete = true;
        'passes: for pass in &passes {
            let thresholds = match pass.attack.needs() {
                Needs::Thresholds => model.split_thresholds(),
                _ => None,
            };
            let space = Space::new(&schema, pass.constrained, thresholds, &table.rows);
            let label = pass_name(pass.attack.name(), pass.constrained);
            progress.begin(&label, my_rows as u64);
            for (b, batch) in batches.iter().enumerate().filter(|&(b, _)| mine(b)) {
                let done = records.iter().any(|r| {
                    r.attack == pass.attack.name()
                        && r.constrained == pass.constrained
                        && r.batch == b
                });
                if done {
                    progress.advance(batch.len() as u64);
                    continue;
                }
                if restore_only {
                    return Err(ShardError::new(format!(
                        "the shards' checkpoints hold no {label} batch {b} (rows {}…{}): a \
                         shard's checkpoint is incomplete or was changed; rerun that shard's \
                         command with the same output folder, then merge again",
                        batch[0],
                        batch[batch.len() - 1]
                    ))
                    .into());
                }
                if progress.cancelled() {
                    complete = false;
                    progress.end();
                    break 'passes;
                }
                let record =
                    self.attack_batch(model, &schema, &space, &table, pass, b, batch, direction)?;
                if let Some(journal) = &mut journal {
                    journal.append(&record)?;
                }
                records.push(record);
                progress.advance(batch.len() as u64);
            }
            progress.end();
        }

        // Summaries, in the order the attacks ran; the worst case over constrained ones.
        let mut summaries = Vec::new();
        for pass in &passes {
            let mut mine: Vec<&BatchRecord> = records
                .iter()
                .filter(|r| r.attack == pass.attack.name() && r.constrained == pass.constrained)
                .collect();
            // In batch order, however the records came (a merge reads them shard by shard).
            mine.sort_by_key(|r| r.batch);
            let outcomes: Vec<&RowOutcome> = mine.iter().flat_map(|r| &r.outcomes).collect();
            summaries.push(AttackSummary::of(
                pass.attack.name(),
                pass.constrained,
                &outcomes,
                mine.iter().map(|r| r.queries).sum(),
                mine.iter().map(|r| r.gradients).sum(),
                mine.iter().map(|r| r.seconds).sum(),
            ));
        }
        let mut all: Vec<RowOutcome> = records.into_iter().flat_map(|r| r.outcomes).collect();
        all.sort_by(|a, b| {
            (a.row, &a.attack, !a.constrained).cmp(&(b.row, &b.attack, !b.constrained))
        });
        let worst_rows = worst_case(&all);
        let worst = AttackSummary::of(WORST, true, &worst_rows, 0, 0, 0.0);

        let report = Report {
            tool: format!("gauntlet-tabular {}", env!("CARGO_PKG_VERSION")),
            complete,
            seed: config.seed,
            seconds: started.elapsed().as_secs_f64(),
            model: report::ModelInfo {
                path: config.model.display().to_string(),
                sha256: loaded.sha256.clone(),
                description: model.describe(),
                classes,
            },
            data: report::DataInfo {
                path: config.data.display().to_string(),
                sha256: table.sha256.clone(),
                rows: table.len(),
                classes: table.classes.clone(),
            },
            schema: report::SchemaInfo::of(&config.schema, &schema),
            clean: report::Clean {
                accuracy: correct as f64 / table.len() as f64,
                correct,
                infeasible: infeasible
                    .iter()
                    .map(|(row, v)| report::Infeasible {
                        row: *row,
                        violations: v.clone(),
                    })
                    .collect(),
                eligible: eligible.len(),
                attacked: attacked.len(),
                direction: direction.map(|(from, to)| report::Direction {
                    from: table.classes[from].clone(),
                    to: table.classes[to].clone(),
                }),
            },
            attacks: summaries,
            worst,
            settings: self.settings_json(),
        };
        crate::files::write_all(out, &report, &all, &worst_rows, &schema, &table)?;
        // The gate judges the whole run: a shard's report covers only its part, so only
        // whether it finished counts (the thresholds apply to the merged report).
        let no_thresholds = Gate::new(Vec::new(), None);
        let gate = if self.shard.is_whole() {
            &self.gate
        } else {
            crate::shard_record::write_record(
                config,
                self.shard,
                &fingerprint,
                self.checkpoint_fingerprint(&fingerprint),
                complete,
            )?;
            &no_thresholds
        };
        let judgement = gate.judge(&gate_rows(&report), complete);
        if let Some(path) = &config.junit {
            gauntlet_run::fs::write_atomic(
                path,
                junit(&judgement, JUNIT_SUITE, report.seconds).as_bytes(),
            )
            .map_err(Error::io(path, "write it"))?;
        }
        if complete && self.shard.is_whole() {
            if let Some(journal) = journal {
                journal.finish()?;
            }
        }
        Ok(TabularRun {
            report,
            judgement,
            out: out.clone(),
            resumed,
        })
    }

    /// Attacks one batch of rows and verifies the answers.
    #[allow(clippy::too_many_arguments)] // one batch needs each of these, once
    fn attack_batch(
        &self,
        model: &dyn TabularModel,
        schema: &Schema,
        space: &Space,
        table: &Table,
        pass: &Pass,
        batch_index: usize,
        batch: &[usize],
        direction: Option<(usize, usize)>,
    ) -> Result<BatchRecord> {
        let started = Instant::now();
        let counted = Counted::new(model);
        let originals: Vec<f32> = batch.iter().flat_map(|&i| table.row(i).to_vec()).collect();
        let labels: Vec<usize> = batch.iter().map(|&i| table.labels[i]).collect();
        let goals: Vec<Goal> = labels
            .iter()
            .map(|&label| match direction {
                Some((_, to)) => Goal::Targeted { target: to },
                None => Goal::Untargeted { label },
            })
            .collect();
        // Seeded per (seed, attack, batch): a resumed run repeats an uninterrupted one.
        let seed = self.config.seed
            ^ (batch_index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ u64::from(pass.constrained)
            ^ pass
                .attack
                .name()
                .bytes()
                .fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(b));
        let context = Context {
            model: &counted,
            space,
            schema,
            seed,
        };
        let found = pass.attack.attack(&context, &originals, &goals)?;
        let outcomes = verify(
            model,
            schema,
            space,
            pass.attack.name(),
            batch,
            &labels,
            &originals,
            &goals,
            found,
        )?;
        Ok(BatchRecord {
            attack: pass.attack.name().to_string(),
            constrained: pass.constrained,
            batch: batch_index,
            outcomes,
            queries: counted.queries(),
            gradients: counted.gradients(),
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// The attacks to run, given what the model offers.
    fn attacks(&self, kind: &ModelKind) -> Result<Vec<Box<dyn TabularAttack>>> {
        let offers = |needs: Needs| match needs {
            Needs::Scores => true,
            Needs::Gradients => *kind == ModelKind::Network,
            Needs::Thresholds => *kind == ModelKind::TreeEnsemble,
        };
        let build = |name: &str| -> Box<dyn TabularAttack> {
            match name {
                "tree" => Box::new(BeamSearch {
                    over_thresholds: true,
                    ..self.beam.clone()
                }),
                "cpgd" => Box::new(self.cpgd.clone()),
                "hsj" => Box::new(DecisionBased {
                    queries: self.config.queries,
                }),
                _ => Box::new(self.beam.clone()),
            }
        };
        if self.config.attacks.is_empty() {
            return Ok(DEFAULT_ATTACKS
                .iter()
                .map(|n| build(n))
                .filter(|a| offers(a.needs()))
                .collect());
        }
        self.config
            .attacks
            .iter()
            .map(|n| {
                let attack = build(n);
                if offers(attack.needs()) {
                    Ok(attack)
                } else {
                    Err(Error::config(
                        "attacks",
                        format!(
                            "'{n}' needs {} but {} is {}; use beam (any model){}",
                            match attack.needs() {
                                Needs::Gradients => "input gradients (an ONNX network)",
                                Needs::Thresholds => "split thresholds (a tree ensemble)",
                                Needs::Scores => "scores",
                            },
                            self.config.model.display(),
                            kind.as_str(),
                            if *kind == ModelKind::Network {
                                " or cpgd"
                            } else {
                                " or tree"
                            }
                        ),
                    ))
                }
            })
            .collect()
    }

    /// `(from, to)` class indices of the configured direction.
    fn direction(&self, classes: &[String]) -> Result<Option<(usize, usize)>> {
        let Some(text) = &self.config.direction else {
            return Ok(None);
        };
        let (from, to) = text.split_once(':').expect("checked");
        let find = |name: &str| {
            let name = name.trim();
            classes
                .iter()
                .position(|c| c == name)
                .or_else(|| name.parse::<usize>().ok().filter(|&i| i < classes.len()))
                .ok_or_else(|| {
                    Error::config(
                        "direction",
                        format!(
                            "'{name}' is not a class of the data ({})",
                            classes.join(", ")
                        ),
                    )
                })
        };
        let (from, to) = (find(from)?, find(to)?);
        if from == to {
            return Err(Error::config("direction", "FROM and TO are the same class"));
        }
        Ok(Some((from, to)))
    }

    /// SHA-256 of everything that decides the results.
    fn fingerprint(
        &self,
        schema: &Schema,
        table: &Table,
        model_sha256: &str,
        attacked: &[usize],
        attacks: &[Box<dyn TabularAttack>],
    ) -> String {
        let what = serde_json::json!({
            "tool": "gauntlet-tabular",
            "version": env!("CARGO_PKG_VERSION"),
            "model": model_sha256,
            "data": table.sha256,
            "schema": schema.sha256,
            "rows": attacked,
            "attacks": attacks.iter().map(|a| a.describe()).collect::<Vec<_>>(),
            "constrained_only": self.config.constrained_only,
            "direction": self.config.direction,
            "seed": self.config.seed,
            "batch_size": self.config.batch_size,
        });
        gauntlet_core::hash::sha256_hex(what.to_string().as_bytes())
    }

    /// The checkpoint's fingerprint: the run's, and in a shard also which part, so one shard's
    /// checkpoint never resumes in another's folder.
    pub(crate) fn checkpoint_fingerprint(&self, run_fingerprint: &str) -> String {
        if self.shard.is_whole() {
            run_fingerprint.to_string()
        } else {
            format!("{run_fingerprint}\nshard {}", self.shard)
        }
    }

    /// The settings as the report records them (gate and output settings left out).
    fn settings_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(&self.config).expect("settings serialize");
        if let Some(map) = value.as_object_mut() {
            for key in [
                "fail_under",
                "baseline",
                "max_drop",
                "junit",
                "fresh",
                "out",
                "quiet",
                "json",
            ] {
                map.remove(key);
            }
        }
        value
    }

    /// Where the report goes.
    pub fn out(&self) -> &Path {
        &self.config.out
    }
}

/// A pass's name in progress and reports: `beam`, `beam (unconstrained)`.
fn pass_name(attack: &str, constrained: bool) -> String {
    if constrained {
        attack.to_string()
    } else {
        format!("{attack} (unconstrained)")
    }
}

impl TabularAuditConfig {
    /// Checks every setting that can be checked without reading the files.
    pub fn check(&self) -> Result<TabularAudit> {
        for (field, path) in [
            ("model", &self.model),
            ("data", &self.data),
            ("schema", &self.schema),
        ] {
            if path.as_os_str().is_empty() {
                return Err(Error::config(field, format!("no {field} file given")));
            }
        }
        let mut seen = Vec::new();
        for name in &self.attacks {
            if !ATTACKS.contains(&name.as_str()) {
                return Err(Error::config(
                    "attacks",
                    format!(
                        "'{name}' is not an attack here; choose from {}",
                        ATTACKS.join(", ")
                    ),
                ));
            }
            if seen.contains(name) {
                return Err(Error::config(
                    "attacks",
                    format!("'{name}' is listed twice"),
                ));
            }
            seen.push(name.clone());
        }
        if self.batch_size == 0 {
            return Err(Error::config("batch_size", "must be at least 1"));
        }
        if self.samples == Some(0) {
            return Err(Error::config(
                "samples",
                "must be at least 1 (or left out for every row)",
            ));
        }
        if self.beam_width == 0 || self.max_changes == 0 || self.max_queries == 0 {
            return Err(Error::config(
                "beam_width",
                "beam_width, max_changes and max_queries must each be at least 1",
            ));
        }
        if self.queries == 0 {
            return Err(Error::config("queries", "must be at least 1"));
        }
        if self.steps == 0 || self.restarts == 0 {
            return Err(Error::config(
                "steps",
                "steps and restarts must each be at least 1",
            ));
        }
        if let Some(eps) = self.eps {
            if !(eps.is_finite() && eps > 0.0) {
                return Err(Error::config(
                    "eps",
                    format!("{eps} is not a positive radius"),
                ));
            }
        }
        if let Some(direction) = &self.direction {
            if direction
                .split_once(':')
                .is_none_or(|(a, b)| a.trim().is_empty() || b.trim().is_empty())
            {
                return Err(Error::config(
                    "direction",
                    format!("'{direction}' is not FROM:TO (e.g. 1:0 or spam:nonspam)"),
                ));
            }
        }
        let shard = match &self.shard {
            None => Shard::WHOLE,
            Some(spec) => {
                Shard::resolve(spec).map_err(|e| Error::config("shard", e.to_string()))?
            }
        };
        let gate = gauntlet_run::Gate::parse(
            &self.fail_under,
            self.baseline.as_deref(),
            self.max_drop,
            report::REPORT_FILE,
            report::baseline_rows,
        )?
        .with_measure("rows not evaded");
        Ok(TabularAudit {
            config: self.clone(),
            beam: BeamSearch {
                width: self.beam_width,
                max_changes: self.max_changes,
                max_queries: self.max_queries,
                over_thresholds: false,
            },
            cpgd: ConstrainedPgd {
                steps: self.steps,
                restarts: self.restarts,
                eps: self.eps,
                check_every: 5,
            },
            gate,
            shard,
        })
    }
}
