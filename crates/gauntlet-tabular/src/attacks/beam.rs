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

struct State {
    row: Vec<f32>,
    /// Margin gained per unit of cost, the beam's order.
    merit: f32,
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
        let width = context.space.width();
        rows.chunks(width)
            .zip(goals)
            .map(|(row, &goal)| self.search(context, row, goal))
            .collect()
    }
}

impl BeamSearch {
    fn search(&self, context: &Context, original: &[f32], goal: Goal) -> Result<Option<Vec<f32>>> {
        let space = context.space;
        let classes = context.model.classes();
        let start_scores = context.model.scores(original)?;
        let start_margin = goal.margin(&start_scores);
        let mut queries = 1u64;
        let mut beam = vec![State {
            row: original.to_vec(),
            merit: 0.0,
        }];
        // (cost, distance, row): the cheapest success, the smallest change among equals.
        let mut best: Option<(f64, f64, Vec<f32>)> = None;
        let mut seen: HashSet<Vec<u32>> = HashSet::new();
        for _level in 0..self.max_changes {
            let mut candidates: Vec<Vec<f32>> = Vec::new();
            for state in &beam {
                let changed = space.changed(original, &state.row);
                for u in 0..space.units.len() {
                    if changed.contains(&u) {
                        continue;
                    }
                    for writes in space.moves(u, &state.row) {
                        let mut row = state.row.clone();
                        for &(c, v) in &writes {
                            row[c] = v;
                        }
                        space.repair(context.schema, original, &mut row);
                        if row == state.row {
                            continue;
                        }
                        if seen.insert(row.iter().map(|v| v.to_bits()).collect()) {
                            candidates.push(row);
                        }
                    }
                }
            }
            if candidates.is_empty() {
                break;
            }
            let budget_left = self.max_queries.saturating_sub(queries) as usize;
            candidates.truncate(budget_left);
            let mut next: Vec<State> = Vec::with_capacity(candidates.len());
            for chunk in candidates.chunks(CHUNK) {
                let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
                let scores = context.model.scores(&flat)?;
                queries += chunk.len() as u64;
                for (i, row) in chunk.iter().enumerate() {
                    let s = &scores[i * classes..(i + 1) * classes];
                    let margin = goal.margin(s);
                    let cost = space.cost(original, row);
                    if context.success(original, row, s, goal) {
                        let distance = space.distance(original, row);
                        let better = match &best {
                            None => true,
                            Some((c, d, _)) => cost < *c || (cost == *c && distance < *d),
                        };
                        if better {
                            best = Some((cost, distance, row.clone()));
                        }
                    } else {
                        next.push(State {
                            row: row.clone(),
                            merit: (margin - start_margin) / cost.max(1e-9) as f32,
                        });
                    }
                }
            }
            if let Some((best_cost, _, _)) = &best {
                // Deeper levels cost more, unless costs differ so much that a cheaper path
                // still lies ahead.
                let cheapest_open = next
                    .iter()
                    .map(|s| space.cost(original, &s.row))
                    .fold(f64::INFINITY, f64::min);
                if cheapest_open >= *best_cost {
                    break;
                }
            }
            if queries >= self.max_queries {
                break;
            }
            next.sort_by(|a, b| b.merit.total_cmp(&a.merit));
            next.truncate(self.width);
            beam = next;
        }
        match best {
            Some((_, _, row)) => reduce(context, original, row, goal).map(Some),
            None => Ok(None),
        }
    }
}
