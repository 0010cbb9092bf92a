//! Minimum-cost evasion by beam search (black-box: scores only).
//!
//! Level k holds rows that differ from the original in k features. From each row of the beam
//! the search tries every allowed value of every feature not yet changed (a one-hot group is
//! one feature), repairs the rules a change breaks, and scores all candidates in one batch.
//! The first level with a success gives the cheapest evasion found (the fewest features, when
//! every feature costs 1; among those, the smallest change); otherwise the `width` candidates that gained the most margin per
//! unit of cost become the next beam. With a beam as wide as the level, this is exhaustive
//! search in order of cost; narrower, it is the greedy coordinate search of the tabular
//! literature (e.g. Cartella et al. 2021) with a beam, and its answer is an upper bound.
//!
//! The same search is the tree attack when the space's moves are a tree ensemble's split
//! thresholds: the output of an ensemble changes only where a feature crosses one, so those
//! values are all the search needs to try — the neighbourhood of leaf tuples that Zhang et al.
//! (2020, "An Efficient Adversarial Attack for Tree Ensembles") search, one feature at a time.

use std::collections::HashSet;

use rayon::prelude::*;
use std::hash::{BuildHasherDefault, Hasher};

use crate::attacks::reduce::reduce;
use crate::attacks::{Context, Needs, TabularAttack};
use crate::error::Result;
use crate::model::Goal;

/// Beam search for a minimum-cost evasion.
#[derive(Debug, Clone)]
pub struct BeamSearch {
    /// Rows kept per level.
    pub width: usize,
    /// Most features changed.
    pub max_changes: usize,
    /// Most rows scored per attacked row.
    pub max_queries: u64,
    /// Over a tree ensemble's thresholds (the `tree` attack) or a grid (`beam`).
    pub over_thresholds: bool,
}

/// Rows scored per model call, so a wide level does not hold every candidate's scores at once.
const CHUNK: usize = 8192;

/// A row of the beam.
struct State {
    row: Vec<f32>,
}

impl TabularAttack for BeamSearch {
    fn name(&self) -> &'static str {
        if self.over_thresholds {
            "tree"
        } else {
            "beam"
        }
    }

    fn needs(&self) -> Needs {
        if self.over_thresholds {
            Needs::Thresholds
        } else {
            Needs::Scores
        }
    }

    fn describe(&self) -> String {
        format!(
            "{}: beam {} rows, at most {} features changed, {} queries per row",
            self.name(),
            self.width,
            self.max_changes,
            self.max_queries
        )
    }

    fn attack(
        &self,
        context: &Context,
        rows: &[f32],
        goals: &[Goal],
    ) -> Result<Vec<Option<Vec<f32>>>> {
        // Rows are independent searches: one per core.
        let width = context.space.width();
        rows.par_chunks(width)
            .zip(goals)
            .map(|(row, &goal)| self.search(context, row, goal))
            .collect()
    }
}

impl BeamSearch {
    fn search(&self, context: &Context, original: &[f32], goal: Goal) -> Result<Option<Vec<f32>>> {
        let space = context.space;
        let width = space.width();
        let classes = context.model.classes();
        let start_scores = context.model.scores(original)?;
        let start_margin = goal.margin(&start_scores);
        let mut queries = 1u64;
        let mut beam = vec![State {
            row: original.to_vec(),
        }];
        // (cost, distance, row): the cheapest success, the smallest change among equals.
        let mut best: Option<(f64, f64, Vec<f32>)> = None;
        // Rows already scored, by a 64-bit digest of their bits (a collision, at odds of about
        // 2⁻⁶⁴ per pair, would only skip one candidate).
        let mut seen: HashSet<u64, BuildHasherDefault<Digested>> = HashSet::default();
        let mut row = Vec::with_capacity(width);
        for _level in 0..self.max_changes {
            // Candidates, flat: `width` values each.
            let mut candidates: Vec<f32> = Vec::new();
            for state in &beam {
                let changed = space.changed(original, &state.row);
                for u in 0..space.units.len() {
                    if changed.contains(&u) {
                        continue;
                    }
                    for writes in space.moves(u, &state.row) {
                        row.clear();
                        row.extend_from_slice(&state.row);
                        for &(c, v) in &writes {
                            row[c] = v;
                        }
                        space.settle(context.schema, original, &mut row, &writes);
                        if row == state.row {
                            continue;
                        }
                        if seen.insert(digest(&row)) {
                            candidates.extend_from_slice(&row);
                        }
                    }
                }
            }
            let budget_left = self.max_queries.saturating_sub(queries) as usize;
            candidates.truncate(budget_left.saturating_mul(width));
            if candidates.is_empty() {
                break;
            }
            // (merit, index) of every candidate that did not succeed.
            let mut open: Vec<(f32, usize)> = Vec::new();
            let mut cheapest_open = f64::INFINITY;
            for (k, chunk) in candidates.chunks(CHUNK * width).enumerate() {
                let scores = context.model.scores(chunk)?;
                queries += (chunk.len() / width) as u64;
                for (i, row) in chunk.chunks(width).enumerate() {
                    let s = &scores[i * classes..(i + 1) * classes];
                    let cost = space.cost(original, row);
                    if context.success(original, row, s, goal) {
                        let distance = space.distance(original, row);
                        let better = match &best {
                            None => true,
                            Some((c, d, _)) => cost < *c || (cost == *c && distance < *d),
                        };
                        if better {
                            best = Some((cost, distance, row.to_vec()));
                        }
                    } else {
                        let merit = (goal.margin(s) - start_margin) / cost.max(1e-9) as f32;
                        open.push((merit, k * CHUNK + i));
                        cheapest_open = cheapest_open.min(cost);
                    }
                }
            }
            if let Some((best_cost, _, _)) = &best {
                // Deeper levels cost more, unless costs differ so much that a cheaper path
                // still lies ahead.
                if cheapest_open >= *best_cost {
                    break;
                }
            }
            if queries >= self.max_queries {
                break;
            }
            open.sort_by(|a, b| b.0.total_cmp(&a.0));
            beam = open
                .iter()
                .take(self.width)
                .map(|&(_, i)| State {
                    row: candidates[i * width..(i + 1) * width].to_vec(),
                })
                .collect();
        }
        match best {
            Some((_, _, row)) => reduce(context, original, row, goal).map(Some),
            None => Ok(None),
        }
    }
}

/// A 64-bit digest of a row's bits (FNV-1a over each value, then a final mix).
fn digest(row: &[f32]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in row {
        h ^= u64::from(v.to_bits());
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^ (h >> 31)
}

/// The set's hasher: its keys are digests already.
#[derive(Default)]
struct Digested(u64);

impl Hasher for Digested {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}
