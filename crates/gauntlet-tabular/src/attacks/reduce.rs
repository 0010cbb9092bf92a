//! The last step of every minimum-cost attack: given a row that evades, put changed features
//! back to their original values, costliest first, as long as the row still evades and keeps
//! the rules. Searches that move several features at once (a gradient step, a repair) find
//! an evasion; this finds which of its changes were needed.

use crate::attacks::Context;
use crate::error::Result;
use crate::model::Goal;

/// `row` with every change that is not needed for success undone, and its scores.
pub fn reduce(context: &Context, original: &[f32], row: Vec<f32>, goal: Goal) -> Result<Vec<f32>> {
    let space = context.space;
    let mut current = row;
    loop {
        let mut changed = space.changed(original, &current);
        if changed.len() <= 1 {
            return Ok(current);
        }
        changed.sort_by(|&a, &b| space.units[b].cost.total_cmp(&space.units[a].cost));
        // Every single revert at once, as one batch.
        let candidates: Vec<Vec<f32>> = changed
            .iter()
            .map(|&u| {
                let mut r = current.clone();
                for &c in &space.units[u].columns {
                    r[c] = original[c];
                }
                space.repair(context.schema, original, &mut r);
                r
            })
            .collect();
        let flat: Vec<f32> = candidates.iter().flatten().copied().collect();
        let scores = context.model.scores(&flat)?;
        let classes = context.model.classes();
        // The first (costliest) revert that still succeeds and lowers the cost.
        let before = space.cost(original, &current);
        let next = candidates.into_iter().enumerate().find(|(i, r)| {
            context.success(original, r, &scores[i * classes..(i + 1) * classes], goal)
                && space.cost(original, r) < before
        });
        match next {
            Some((_, r)) => current = r,
            None => return Ok(current),
        }
    }
}
