//! The attacks against exhaustive search on a small discrete domain: a beam as wide as every
//! level is exhaustive, so it must find exactly the minimum number of features to change; a
//! narrow beam finds an upper bound; every evasion keeps the rules and the immutables.

use gauntlet_tabular::attacks::beam::BeamSearch;
use gauntlet_tabular::attacks::cpgd::ConstrainedPgd;
use gauntlet_tabular::attacks::{Context, TabularAttack};
use gauntlet_tabular::feasibility::attacked_violations;
use gauntlet_tabular::model::{predicted, Goal, Gradient, TabularModel};
use gauntlet_tabular::outcome::verify;
use gauntlet_tabular::{Result, Schema, Space};

const SCHEMA: &str = r#"
[[feature]]
name = "a"
kind = "categorical"
values = [0.0, 0.5, 1.0]
[[feature]]
name = "b"
kind = "categorical"
values = [0.0, 0.5, 1.0]
[[feature]]
name = "c"
kind = "categorical"
values = [0.0, 0.5, 1.0]
cost = 2.0
[[feature]]
name = "d"
kind = "binary"
immutable = true
[[feature]]
name = "e"
kind = "integer"
min = 0
max = 4
[[rule]]
name = "implication"
rule = "if a > 0.75 then e >= 2"
[[rule]]
name = "sum"
rule = "b + c <= 1.5"
"#;

/// A sum of stumps: class-1 score `Σ w·[x_j > t]` minus a bias; class-0 score 0.
struct Stumps {
    stumps: Vec<(usize, f32, f32)>,
    bias: f32,
}

impl Stumps {
    fn new() -> Stumps {
        Stumps {
            stumps: vec![
                (0, 0.25, 1.0),
                (0, 0.75, 0.5),
                (1, 0.25, 0.8),
                (2, 0.75, 1.2),
                (3, 0.5, 1.5),
                (4, 1.5, 0.7),
                (4, 3.5, 0.6),
                (1, 0.75, -0.3),
            ],
            bias: 2.0,
        }
    }
}

impl TabularModel for Stumps {
    fn width(&self) -> usize {
        5
    }
    fn classes(&self) -> usize {
        2
    }
    fn scores(&self, rows: &[f32]) -> Result<Vec<f32>> {
        Ok(rows
            .chunks(5)
            .flat_map(|r| {
                let s: f32 = self
                    .stumps
                    .iter()
                    .map(|&(j, t, w)| if r[j] > t { w } else { 0.0 })
                    .sum();
                [0.0, s - self.bias]
            })
            .collect())
    }
    fn split_thresholds(&self) -> Option<Vec<Vec<f32>>> {
        let mut t = vec![Vec::new(); 5];
        for &(j, th, _) in &self.stumps {
            t[j].push(th);
        }
        for v in &mut t {
            v.sort_by(f32::total_cmp);
            v.dedup();
        }
        Some(t)
    }
    fn describe(&self) -> String {
        "stumps".into()
    }
}

/// Every row of the domain.
fn domain() -> Vec<Vec<f32>> {
    let cat = [0.0, 0.5, 1.0];
    let mut rows = Vec::new();
    for a in cat {
        for b in cat {
            for c in cat {
                for d in [0.0, 1.0] {
                    for e in 0..=4 {
                        rows.push(vec![a, b, c, d, e as f32]);
                    }
                }
            }
        }
    }
    rows
}

/// The least cost of a feasible row of class 0 reachable from `x` (None: none exists).
fn exhaustive(model: &Stumps, schema: &Schema, space: &Space, x: &[f32]) -> Option<f64> {
    domain()
        .into_iter()
        .filter(|r| attacked_violations(schema, x, r).is_empty())
        .filter(|r| predicted(&model.scores(r).unwrap()) == 0)
        .map(|r| space.cost(x, &r))
        .min_by(f64::total_cmp)
}

#[test]
fn a_wide_beam_is_exhaustive_and_a_narrow_one_an_upper_bound() {
    let schema = Schema::parse(SCHEMA, "test").unwrap();
    let model = Stumps::new();
    let rows: Vec<Vec<f32>> = domain()
        .into_iter()
        .filter(|r| gauntlet_tabular::feasibility::violations(&schema, r).is_empty())
        .filter(|r| predicted(&model.scores(r).unwrap()) == 1)
        .collect();
    assert!(rows.len() > 50, "{} rows", rows.len());
    let data: Vec<f32> = domain().concat();
    let mut checked = (0, 0);
    for over_thresholds in [false, true] {
        let thresholds = over_thresholds.then(|| model.split_thresholds().unwrap());
        let space = Space::new(&schema, true, thresholds, &data);
        let context = Context {
            model: &model,
            space: &space,
            schema: &schema,
            seed: 0,
        };
        let wide = BeamSearch {
            width: 100_000,
            max_changes: 5,
            max_queries: u64::MAX,
            over_thresholds,
        };
        let narrow = BeamSearch {
            width: 2,
            ..wide.clone()
        };
        let flat: Vec<f32> = rows.concat();
        let goals = vec![Goal::Targeted { target: 0 }; rows.len()];
        let labels = vec![1; rows.len()];
        let indices: Vec<usize> = (0..rows.len()).collect();
        let found_wide = wide.attack(&context, &flat, &goals).unwrap();
        let found_narrow = narrow.attack(&context, &flat, &goals).unwrap();
        let wide_out = verify(
            &model, &schema, &space, "beam", &indices, &labels, &flat, &goals, found_wide,
        )
        .unwrap();
        let narrow_out = verify(
            &model,
            &schema,
            &space,
            "beam",
            &indices,
            &labels,
            &flat,
            &goals,
            found_narrow,
        )
        .unwrap();
        for (i, x) in rows.iter().enumerate() {
            let optimum = exhaustive(&model, &schema, &space, x);
            let (w, n) = (&wide_out[i], &narrow_out[i]);
            assert_eq!(w.found, w.evaded, "a returned row must evade: {w:?}");
            assert_eq!(n.found, n.evaded, "a returned row must evade: {n:?}");
            match optimum {
                None => assert!(!w.found && !n.found),
                Some(best) => {
                    assert!(
                        w.evaded,
                        "row {x:?}: optimum {best} but the wide beam found nothing"
                    );
                    assert_eq!(w.cost, best, "row {x:?}: {w:?}");
                    if n.evaded {
                        assert!(n.cost >= best);
                    }
                    checked.0 += 1;
                }
            }
            for o in [w, n] {
                if let Some(adv) = &o.adversarial {
                    assert_eq!(adv[3], x[3], "the immutable feature changed");
                    assert!(o.violations.is_empty());
                }
            }
            checked.1 += 1;
        }
    }
    assert!(checked.0 > 20, "{checked:?}");
}

/// A linear model with its exact gradient: class-1 score `w·x + b`.
struct Linear {
    w: Vec<f32>,
    b: f32,
}

impl TabularModel for Linear {
    fn width(&self) -> usize {
        self.w.len()
    }
    fn classes(&self) -> usize {
        2
    }
    fn scores(&self, rows: &[f32]) -> Result<Vec<f32>> {
        Ok(rows
            .chunks(self.w.len())
            .flat_map(|r| {
                [
                    0.0,
                    r.iter().zip(&self.w).map(|(x, w)| x * w).sum::<f32>() + self.b,
                ]
            })
            .collect())
    }
    fn margin_gradient(&self, rows: &[f32], goals: &[Goal]) -> Option<Result<Gradient>> {
        // Toward class 0: margin = 0 − (w·x + b), gradient −w.
        assert!(goals.iter().all(|g| *g == Goal::Targeted { target: 0 }));
        Some(Ok(Gradient {
            scores: self.scores(rows).unwrap(),
            gradient: rows
                .chunks(self.w.len())
                .flat_map(|_| self.w.iter().map(|w| -w))
                .collect(),
        }))
    }
    fn describe(&self) -> String {
        "linear".into()
    }
}

#[test]
fn constrained_pgd_keeps_the_rules_and_finds_what_exhaustive_search_finds() {
    let schema = Schema::parse(SCHEMA, "test").unwrap();
    let model = Linear {
        w: vec![1.0, 0.8, 1.2, 1.5, 0.4],
        b: -2.4,
    };
    let data: Vec<f32> = domain().concat();
    let space = Space::new(&schema, true, None, &data);
    let rows: Vec<Vec<f32>> = domain()
        .into_iter()
        .filter(|r| gauntlet_tabular::feasibility::violations(&schema, r).is_empty())
        .filter(|r| predicted(&model.scores(r).unwrap()) == 1)
        .collect();
    let flat: Vec<f32> = rows.concat();
    let goals = vec![Goal::Targeted { target: 0 }; rows.len()];
    let context = Context {
        model: &model,
        space: &space,
        schema: &schema,
        seed: 1,
    };
    let found = ConstrainedPgd::default()
        .attack(&context, &flat, &goals)
        .unwrap();
    let indices: Vec<usize> = (0..rows.len()).collect();
    let out = verify(
        &model,
        &schema,
        &space,
        "cpgd",
        &indices,
        &vec![1; rows.len()],
        &flat,
        &goals,
        found,
    )
    .unwrap();
    let mut evadable = 0;
    let mut evaded = 0;
    for (i, x) in rows.iter().enumerate() {
        let o = &out[i];
        assert_eq!(o.found, o.evaded, "{o:?}");
        // Exhaustive over the linear model.
        let optimum = domain()
            .into_iter()
            .filter(|r| attacked_violations(&schema, x, r).is_empty())
            .filter(|r| predicted(&model.scores(r).unwrap()) == 0)
            .map(|r| space.cost(x, &r))
            .min_by(f64::total_cmp);
        if optimum.is_some() {
            evadable += 1;
            evaded += usize::from(o.evaded);
        } else {
            assert!(!o.found);
        }
    }
    assert!(evadable > 20);
    // A linear model in a box: gradient ascent reaches every evadable row.
    assert_eq!(evaded, evadable);
}
