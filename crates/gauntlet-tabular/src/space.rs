//! What an attacker may do to a row: the *units* it can change (a column, or a one-hot group
//! as one categorical feature), the values each may take from where it stands, and the
//! repair that brings a row back inside the box, the kinds and the linear rules.
//!
//! The constrained space follows the schema (immutables fixed, kinds and bounds kept, one-hot
//! groups switched as a whole). The unconstrained space is what a standard attack assumes:
//! every column free within the range the data spans — the baseline whose results are then
//! checked against the rules.

use crate::rule::{Op, RuleBody};
use crate::schema::{Kind, Schema};

/// A feature as the attacker sees it.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Its name (the column's, or the one-hot group's).
    pub name: String,
    /// The columns it writes.
    pub columns: Vec<usize>,
    /// The cost of changing it.
    pub cost: f64,
    /// Whether the attacker may change it.
    pub mutable: bool,
    /// The domain its column takes values from (for a one-hot group: `Binary`).
    kind: Kind,
    /// Bounds of its (single) column.
    min: f64,
    max: f64,
    /// The spread of the column's values in the data (the grid's unit for models without
    /// split thresholds).
    scale: f64,
}

/// The attacker's moves, for one schema and model.
#[derive(Debug, Clone)]
pub struct Space {
    /// The units, columns first in schema order with one-hot groups in place of their first
    /// column.
    pub units: Vec<Unit>,
    /// Whether the schema's kinds, immutables and rules bind the attacker.
    pub constrained: bool,
    /// Unit of each column.
    unit_of: Vec<usize>,
    /// Per column, sorted thresholds where the model's output can change (tree ensembles).
    thresholds: Option<Vec<Vec<f32>>>,
    /// Columns per row.
    width: usize,
    /// Each column's least value in the data.
    data_lo: Vec<f32>,
    /// Each column's greatest value in the data.
    data_hi: Vec<f32>,
    /// Per column, the schema's rules that read it.
    rules_of: Vec<Vec<usize>>,
}

/// Relative grid of steps, in units of a column's spread, tried by models without thresholds.
const GRID: [f64; 6] = [0.02, 0.05, 0.1, 0.25, 0.5, 1.0];

impl Space {
    /// The space of `schema`; `data` (row-major, `width` columns) gives each column's spread;
    /// `thresholds` come from a tree ensemble's splits.
    pub fn new(
        schema: &Schema,
        constrained: bool,
        thresholds: Option<Vec<Vec<f32>>>,
        data: &[f32],
    ) -> Space {
        let width = schema.width();
        let (lo, hi) = column_ranges(data, width);
        let mut units = Vec::new();
        let mut unit_of = vec![usize::MAX; width];
        for (col, f) in schema.features.iter().enumerate() {
            let group = schema.onehots.iter().position(|g| g.columns.contains(&col));
            if constrained {
                if let Some(g) = group {
                    let group = &schema.onehots[g];
                    if group.columns[0] != col {
                        unit_of[col] = unit_of[group.columns[0]];
                        continue;
                    }
                    unit_of[col] = units.len();
                    units.push(Unit {
                        name: group.name.clone(),
                        columns: group.columns.clone(),
                        cost: f.cost,
                        mutable: !f.immutable,
                        kind: Kind::Binary,
                        min: 0.0,
                        max: 1.0,
                        scale: 1.0,
                    });
                    continue;
                }
            }
            let spread = f64::from(hi[col]) - f64::from(lo[col]);
            let (kind, min, max) = if constrained {
                (f.kind.clone(), f.min, f.max)
            } else {
                // A standard attack knows only the valid box the data spans.
                (Kind::Continuous, f64::from(lo[col]), f64::from(hi[col]))
            };
            unit_of[col] = units.len();
            units.push(Unit {
                name: f.name.clone(),
                columns: vec![col],
                cost: if constrained { f.cost } else { 1.0 },
                mutable: !constrained || !f.immutable,
                kind,
                min,
                max,
                scale: if spread > 0.0 { spread } else { 1.0 },
            });
        }
        let mut rules_of = vec![Vec::new(); width];
        for (r, rule) in schema.rules.iter().enumerate() {
            for c in rule.body.columns() {
                rules_of[c].push(r);
            }
        }
        Space {
            units,
            constrained,
            unit_of,
            thresholds,
            width,
            data_lo: lo,
            data_hi: hi,
            rules_of,
        }
    }

    /// Columns per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The units whose columns differ between `original` and `row`.
    pub fn changed(&self, original: &[f32], row: &[f32]) -> Vec<usize> {
        let mut units: Vec<usize> = (0..self.width)
            .filter(|&c| original[c] != row[c])
            .map(|c| self.unit_of[c])
            .collect();
        units.sort_unstable();
        units.dedup();
        units
    }

    /// The cost of turning `original` into `row` (the sum of the changed units' costs; with
    /// unit costs, the number of features changed).
    pub fn cost(&self, original: &[f32], row: &[f32]) -> f64 {
        self.units
            .iter()
            .filter(|u| u.columns.iter().any(|&c| original[c] != row[c]))
            .map(|u| u.cost)
            .sum()
    }

    /// The size of the change from `original` to `row`: the L2 norm of the per-column change
    /// in units of each column's spread in the data (so a change of a whole column's range
    /// counts 1, whatever its unit).
    pub fn distance(&self, original: &[f32], row: &[f32]) -> f64 {
        (0..self.width)
            .map(|c| {
                let d = (f64::from(row[c]) - f64::from(original[c]))
                    / self.units[self.unit_of[c]].scale;
                d * d
            })
            .sum::<f64>()
            .sqrt()
    }

    /// The values unit `u` may be set to from `row` (each a list of column writes), nearest
    /// first where there is an order. Empty for an immutable unit.
    pub fn moves(&self, u: usize, row: &[f32]) -> Vec<Vec<(usize, f32)>> {
        let unit = &self.units[u];
        if !unit.mutable {
            return Vec::new();
        }
        if unit.columns.len() > 1 {
            // A one-hot group: switch which column is hot.
            return unit
                .columns
                .iter()
                .filter(|&&c| row[c] != 1.0)
                .map(|&hot| {
                    unit.columns
                        .iter()
                        .map(|&c| (c, f32::from(c == hot)))
                        .collect()
                })
                .collect();
        }
        let col = unit.columns[0];
        let x = row[col];
        let mut values: Vec<f32> = match &unit.kind {
            Kind::Binary => vec![1.0 - x.round()],
            Kind::Categorical(values) => values.clone(),
            Kind::Integer | Kind::Continuous => match &self.thresholds {
                Some(thresholds) => crossings(&thresholds[col], x, &unit.kind),
                None => grid(x, unit),
            },
        };
        for v in &mut values {
            *v = unit.clamp(*v);
        }
        values.retain(|&v| v != x && v.is_finite());
        // Nearest first, so a search that stops early has tried the cheapest moves.
        values.sort_by(|a, b| (a - x).abs().total_cmp(&(b - x).abs()));
        values.dedup();
        values.into_iter().map(|v| vec![(col, v)]).collect()
    }

    /// Brings `row` into the space: immutable columns back to `original`, each column to its
    /// kind and bounds, each one-hot group to its largest column; then, in the constrained
    /// space, projects onto the schema's violated linear rules (moving only mutable
    /// continuous and integer columns) and snaps again — a few rounds, since snapping to
    /// integers can break a rule again. Rules it cannot repair stay broken; the verification
    /// rejects such rows.
    pub fn repair(&self, schema: &Schema, original: &[f32], row: &mut [f32]) {
        self.snap(original, row);
        if !self.constrained {
            return;
        }
        for _ in 0..8 {
            let mut moved = false;
            for rule in &schema.rules {
                let RuleBody::Always(condition) = &rule.body else {
                    continue;
                };
                if !condition.ratios.is_empty() || condition.holds(row) {
                    continue;
                }
                // Free columns: mutable, not one-hot, of a numeric kind.
                let free: Vec<(usize, f64)> = condition
                    .linear
                    .iter()
                    .copied()
                    .filter(|&(c, _)| {
                        let unit = &self.units[self.unit_of[c]];
                        unit.mutable
                            && unit.columns.len() == 1
                            && matches!(unit.kind, Kind::Continuous | Kind::Integer)
                    })
                    .collect();
                let norm: f64 = free.iter().map(|(_, k)| k * k).sum();
                if norm == 0.0 {
                    continue;
                }
                let Some((value, tol)) = condition.value(row) else {
                    continue;
                };
                // Move to the boundary, a little inside for strict comparisons.
                let target = match condition.op {
                    Op::Le | Op::Eq => 0.0,
                    Op::Lt => -2.0 * tol,
                    Op::Ge => 0.0,
                    Op::Gt => 2.0 * tol,
                    Op::Ne => continue,
                };
                let step = (value - target) / norm;
                for &(c, k) in &free {
                    row[c] = (f64::from(row[c]) - step * k) as f32;
                }
                moved = true;
            }
            self.snap(original, row);
            if !moved {
                break;
            }
        }
    }

    /// `row` after `writes` (each a value of its column's domain) brought into the space:
    /// repaired only if the constrained space has a rule, reading a written column, that
    /// the row breaks — the common case of a move that breaks nothing costs a few
    /// comparisons.
    pub fn settle(
        &self,
        schema: &Schema,
        original: &[f32],
        row: &mut [f32],
        writes: &[(usize, f32)],
    ) {
        let broken = self.constrained
            && writes.iter().any(|&(c, _)| {
                self.rules_of[c]
                    .iter()
                    .any(|&r| !schema.rules[r].body.holds(row))
            });
        if broken {
            self.repair(schema, original, row);
        }
    }

    /// Immutables restored, every column of its kind within its bounds, one-hot groups with
    /// exactly their largest column hot.
    pub fn snap(&self, original: &[f32], row: &mut [f32]) {
        for unit in &self.units {
            if !unit.mutable {
                for &c in &unit.columns {
                    row[c] = original[c];
                }
            } else if unit.columns.len() > 1 {
                let hot = unit
                    .columns
                    .iter()
                    .copied()
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap_or(unit.columns[0]);
                for &c in &unit.columns {
                    row[c] = f32::from(c == hot);
                }
            } else {
                let c = unit.columns[0];
                row[c] = unit.clamp(row[c]);
            }
        }
    }

    /// A column's least value in the data and its spread (greatest minus least; 1 for a
    /// constant column).
    pub fn data_range(&self, column: usize) -> (f32, f32) {
        let spread = self.data_hi[column] - self.data_lo[column];
        (
            self.data_lo[column],
            if spread > 0.0 { spread } else { 1.0 },
        )
    }

    /// The unit a column belongs to.
    pub fn unit_of(&self, column: usize) -> usize {
        self.unit_of[column]
    }

    /// The spread of a unit's column in the data (a step size's natural unit).
    pub fn scale(&self, u: usize) -> f64 {
        self.units[u].scale
    }

    /// The bounds of a unit's column.
    pub fn bounds(&self, u: usize) -> (f64, f64) {
        (self.units[u].min, self.units[u].max)
    }
}

impl Unit {
    /// The nearest value of the unit's kind within its bounds.
    fn clamp(&self, v: f32) -> f32 {
        let v = f64::from(v).clamp(self.min, self.max);
        let v = match &self.kind {
            Kind::Continuous => v,
            Kind::Integer => {
                let r = v.round();
                // Rounding must not leave the bounds.
                if r > self.max {
                    r - 1.0
                } else if r < self.min {
                    r + 1.0
                } else {
                    r
                }
            }
            Kind::Binary => v.round().clamp(0.0, 1.0),
            Kind::Categorical(values) => f64::from(
                *values
                    .iter()
                    .min_by(|a, b| {
                        (f64::from(**a) - v)
                            .abs()
                            .total_cmp(&(f64::from(**b) - v).abs())
                    })
                    .expect("a categorical feature has values"),
            ),
        };
        v as f32
    }
}

/// The values just across each threshold from `x`: below a threshold under `x`, above one
/// over it (`x <= t` and `x < t` splits both change side there), whole numbers for an
/// integer column.
fn crossings(thresholds: &[f32], x: f32, kind: &Kind) -> Vec<f32> {
    thresholds
        .iter()
        .map(|&t| {
            let down = x >= t;
            match (kind, down) {
                (Kind::Integer, true) => (f64::from(t).ceil() - 1.0) as f32,
                (Kind::Integer, false) => (f64::from(t).floor() + 1.0) as f32,
                (_, true) => next_down(t),
                (_, false) => next_up(t),
            }
        })
        .collect()
}

/// Steps of the column's spread in both directions, and its bounds.
fn grid(x: f32, unit: &Unit) -> Vec<f32> {
    let mut values = Vec::with_capacity(2 * GRID.len() + 2);
    for step in GRID {
        let delta = step * unit.scale;
        values.push((f64::from(x) + delta) as f32);
        values.push((f64::from(x) - delta) as f32);
    }
    for bound in [unit.min, unit.max] {
        if bound.is_finite() {
            values.push(bound as f32);
        }
    }
    values
}

/// The next float above `t`.
fn next_up(t: f32) -> f32 {
    if t.is_nan() || t == f32::INFINITY {
        return t;
    }
    if t == 0.0 {
        return f32::from_bits(1);
    }
    let bits = t.to_bits();
    f32::from_bits(if t > 0.0 { bits + 1 } else { bits - 1 })
}

/// The next float below `t`.
fn next_down(t: f32) -> f32 {
    -next_up(-t)
}

/// Each column's least and greatest value in the data.
fn column_ranges(data: &[f32], width: usize) -> (Vec<f32>, Vec<f32>) {
    let mut lo = vec![f32::INFINITY; width];
    let mut hi = vec![f32::NEG_INFINITY; width];
    for row in data.chunks(width) {
        for (c, &v) in row.iter().enumerate() {
            lo[c] = lo[c].min(v);
            hi[c] = hi[c].max(v);
        }
    }
    for c in 0..width {
        if lo[c] > hi[c] {
            (lo[c], hi[c]) = (0.0, 0.0);
        }
    }
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feasibility::violations;

    fn schema() -> Schema {
        Schema::parse(
            r#"
[[feature]]
name = "age"
kind = "integer"
min = 0
max = 10
immutable = true
[[feature]]
name = "https"
kind = "categorical"
values = [0.0, 0.5, 1.0]
[[feature]]
name = "tcp"
kind = "binary"
[[feature]]
name = "udp"
kind = "binary"
[[feature]]
name = "avg"
kind = "continuous"
min = 0
[[feature]]
name = "longest"
kind = "integer"
min = 1
[[onehot]]
name = "protocol"
features = ["tcp", "udp"]
[[rule]]
rule = "avg <= longest"
"#,
            "s",
        )
        .unwrap()
    }

    const DATA: [f32; 12] = [1.0, 0.0, 1.0, 0.0, 1.5, 2.0, 9.0, 1.0, 0.0, 1.0, 4.0, 7.0];

    #[test]
    fn the_constrained_space_follows_the_schema() {
        let s = schema();
        let space = Space::new(&s, true, None, &DATA);
        let names: Vec<&str> = space.units.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["age", "https", "protocol", "avg", "longest"]);
        let row = &DATA[..6];
        assert!(space.moves(0, row).is_empty(), "immutable");
        assert_eq!(space.moves(1, row), vec![vec![(1, 0.5)], vec![(1, 1.0)]]);
        assert_eq!(space.moves(2, row), vec![vec![(2, 0.0), (3, 1.0)]]);
        // Integer moves stay whole and within bounds.
        for m in space.moves(4, row) {
            let v = m[0].1;
            assert!(v >= 1.0 && v.fract() == 0.0 && v != 2.0, "{v}");
        }
        assert_eq!(
            space.changed(row, &[1.0, 0.5, 0.0, 1.0, 1.5, 2.0]),
            vec![1, 2]
        );
        assert_eq!(space.cost(row, &[1.0, 0.5, 0.0, 1.0, 1.5, 2.0]), 2.0);
    }

    #[test]
    fn repair_restores_immutables_kinds_groups_and_linear_rules() {
        let s = schema();
        let space = Space::new(&s, true, None, &DATA);
        let original = &DATA[..6];
        let mut row = [3.0, 0.4, 0.7, 0.9, 5.2, 2.2];
        space.repair(&s, original, &mut row);
        assert_eq!(row[0], 1.0, "immutable restored");
        assert_eq!(row[1], 0.5, "nearest category");
        assert_eq!((row[2], row[3]), (0.0, 1.0), "largest column hot");
        assert!(
            violations(&s, &row).is_empty(),
            "{row:?} breaks {:?}",
            violations(&s, &row)
        );
    }

    #[test]
    fn thresholds_give_the_values_just_across_each_split() {
        let s = schema();
        let thresholds = vec![vec![]; 6]
            .into_iter()
            .enumerate()
            .map(|(c, t): (usize, Vec<f32>)| {
                if c == 4 {
                    vec![0.5, 1.25, 3.0]
                } else if c == 5 {
                    vec![2.5, 4.5]
                } else {
                    t
                }
            })
            .collect();
        let space = Space::new(&s, true, Some(thresholds), &DATA);
        let row = &DATA[..6];
        let avg: Vec<f32> = space.moves(3, row).iter().map(|m| m[0].1).collect();
        assert_eq!(avg, vec![next_down(1.25), next_down(0.5), next_up(3.0)]);
        let longest: Vec<f32> = space.moves(4, row).iter().map(|m| m[0].1).collect();
        assert_eq!(longest, vec![3.0, 5.0]);
    }

    #[test]
    fn the_unconstrained_space_frees_every_column_within_the_data_range() {
        let s = schema();
        let space = Space::new(&s, false, None, &DATA);
        assert_eq!(space.units.len(), 6);
        assert!(space.units.iter().all(|u| u.mutable));
        for m in space.moves(1, &DATA[..6]) {
            assert!((0.0..=1.0).contains(&m[0].1));
        }
    }
}
