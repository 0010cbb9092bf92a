//! The verification: what an attack's answer for a row is worth, judged here and not by the
//! attack. The model scores the returned row again; the schema checks it (kinds, bounds,
//! one-hot groups, rules, immutables against the original). A row *evades* only if the model
//! is fooled and the row could occur.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::feasibility::attacked_violations;
use crate::model::{predicted, Goal, TabularModel};
use crate::schema::Schema;
use crate::space::Space;

/// What one attack did to one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowOutcome {
    /// The row's index in the data file (0 = the first data row).
    pub row: usize,
    /// The attack's name.
    pub attack: String,
    /// Whether the attack respected the schema (false: the unconstrained baseline).
    pub constrained: bool,
    /// The row's class.
    pub label: usize,
    /// The class the model gives the attack's row (the original's, if it found none).
    pub predicted: usize,
    /// The attack returned a row.
    pub found: bool,
    /// The model's answer on that row reaches the goal.
    pub fooled: bool,
    /// The model is fooled and the row keeps every rule of the schema.
    pub evaded: bool,
    /// Features (units) the row changes.
    pub changed: Vec<String>,
    /// How many.
    pub l0: usize,
    /// The summed cost of the changes (equal to `l0` when every feature costs 1).
    pub cost: f64,
    /// The size of the change: L2 of the per-column change in units of each column's spread
    /// in the data. Single precision: it survives the checkpoint's JSON exactly, so a resumed
    /// run reports what an uninterrupted one does.
    pub distance: f32,
    /// Every way the row breaks the schema, in words.
    pub violations: Vec<String>,
    /// The row the attack returned, in the schema's column order.
    pub adversarial: Option<Vec<f32>>,
}

/// Verifies an attack's answers for a batch: `originals` row-major, `found` per row.
#[allow(clippy::too_many_arguments)] // the verification needs each of these, once
pub fn verify(
    model: &dyn TabularModel,
    schema: &Schema,
    space: &Space,
    attack: &str,
    indices: &[usize],
    labels: &[usize],
    originals: &[f32],
    goals: &[Goal],
    found: Vec<Option<Vec<f32>>>,
) -> Result<Vec<RowOutcome>> {
    let width = schema.width();
    let classes = model.classes();
    // Rows without an answer are scored as they are (the prediction stays the clean one).
    let rows: Vec<f32> = found
        .iter()
        .enumerate()
        .flat_map(|(i, f)| match f {
            Some(row) => row.clone(),
            None => originals[i * width..(i + 1) * width].to_vec(),
        })
        .collect();
    let scores = model.scores(&rows)?;
    Ok(found
        .into_iter()
        .enumerate()
        .map(|(i, answer)| {
            let original = &originals[i * width..(i + 1) * width];
            let row = &rows[i * width..(i + 1) * width];
            let class = predicted(&scores[i * classes..(i + 1) * classes]);
            let fooled = answer.is_some() && goals[i].reached_by(class);
            let violations: Vec<String> = attacked_violations(schema, original, row)
                .iter()
                .map(|v| v.describe(schema))
                .collect();
            let changed = space.changed(original, row);
            RowOutcome {
                row: indices[i],
                attack: attack.to_string(),
                constrained: space.constrained,
                label: labels[i],
                predicted: class,
                found: answer.is_some(),
                fooled,
                evaded: fooled && violations.is_empty(),
                l0: changed.len(),
                // Rounded as the checkpoint gives it back, so a restored outcome equals this.
                cost: gauntlet_run::journal::exact(space.cost(original, row)),
                distance: space.distance(original, row) as f32,
                changed: changed
                    .iter()
                    .map(|&u| space.units[u].name.clone())
                    .collect(),
                violations,
                adversarial: answer,
            }
        })
        .collect())
}
