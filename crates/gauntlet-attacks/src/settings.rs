//! Building attacks by name from one validated, serializable settings value.

use serde::{Deserialize, Serialize};

use gauntlet_core::{Error, Result};

use crate::{apgd, boundary, cw, deepfool, fab, fgsm, hsj, pgd, simba, square, uap, Attack};

/// Most iterations [`AttackSettings::validated`] accepts.
pub const MAX_STEPS: usize = 100_000;
/// Most restarts [`AttackSettings::validated`] accepts.
pub const MAX_RESTARTS: usize = 1000;
/// Largest query budget [`AttackSettings::validated`] accepts.
pub const MAX_QUERIES: u64 = 100_000_000;

/// The knobs shared by the attacks built with [`by_name`]. Each attack reads the fields that
/// apply to it and ignores the others (a suite shares one value): iterative attacks read
/// `steps` (and PGD, APGD and FAB `restarts`, PGD `rel_step`); black-box attacks read
/// `queries`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackSettings {
    /// Iterations of an iterative attack (PGD, APGD, FAB, C&W optimizer steps, DeepFool's
    /// most iterations); `None`: the attack's default, [`default_steps`].
    #[serde(default)]
    pub steps: Option<usize>,
    /// Query budget of a black-box attack: the most queries it may spend on one sample at one
    /// budget (see the crate docs); `None`: the attack's default, [`default_queries`].
    #[serde(default)]
    pub queries: Option<u64>,
    /// Runs per attack: random restarts (PGD, APGD) or further randomly started runs (FAB).
    #[serde(default = "one")]
    pub restarts: usize,
    /// PGD's step size as a fraction of ε; `None`: 2.5 / steps (Madry et al.).
    #[serde(default)]
    pub rel_step: Option<f32>,
}

fn one() -> usize {
    1
}

impl Default for AttackSettings {
    fn default() -> Self {
        AttackSettings {
            steps: None,
            queries: None,
            restarts: 1,
            rel_step: None,
        }
    }
}

impl AttackSettings {
    /// Checks every field's range; errors name the field.
    pub fn validated(self) -> Result<Self> {
        if let Some(steps) = self.steps {
            if steps == 0 || steps > MAX_STEPS {
                return Err(Error::Parameter(format!(
                    "steps = {steps} is out of range; use 1 to {MAX_STEPS}"
                )));
            }
        }
        if let Some(queries) = self.queries {
            if queries > MAX_QUERIES {
                return Err(Error::Parameter(format!(
                    "queries = {queries} is out of range; use 0 to {MAX_QUERIES}"
                )));
            }
        }
        if self.restarts == 0 || self.restarts > MAX_RESTARTS {
            return Err(Error::Parameter(format!(
                "restarts = {} is out of range; use 1 to {MAX_RESTARTS}",
                self.restarts
            )));
        }
        if let Some(r) = self.rel_step {
            if !r.is_finite() || r <= 0.0 {
                return Err(Error::Parameter(format!(
                    "rel_step = {r} is out of range; it is a fraction of ε, a positive number"
                )));
            }
        }
        Ok(self)
    }
}

/// Names accepted by [`by_name`].
pub const ATTACK_NAMES: &[&str] = &[
    "fgsm",
    "pgd",
    "apgd-ce",
    "apgd-dlr",
    "apgd-t",
    "cw",
    "deepfool",
    "fab",
    "fab-t",
    "square",
    "simba",
    "simba-dct",
    "hsj",
    "boundary",
    "uap",
];

/// Attack suites, run as ensembles in increasing cost (AutoAttack, Croce & Hein 2020).
/// `auto` is `standard`.
pub fn suite(name: &str) -> Option<&'static [&'static str]> {
    match name.to_ascii_lowercase().as_str() {
        "auto" | "standard" => Some(&["apgd-ce", "apgd-t", "fab-t", "square"]),
        "fast" => Some(&["apgd-ce", "apgd-t"]),
        _ => None,
    }
}

/// Iterations an attack runs when [`AttackSettings::steps`] is `None`: AutoAttack's settings
/// for its attacks, Madry et al.'s 40 for PGD, 1 for FGSM. 0 for the black-box attacks, whose
/// budget is counted in queries ([`default_queries`]).
pub fn default_steps(name: &str) -> usize {
    match name.to_ascii_lowercase().as_str() {
        "fgsm" | "fgm" => 1,
        "pgd" => 40,
        "deepfool" => 50,
        n if default_queries(n).is_some() => 0,
        _ => 100,
    }
}

/// The query budget a black-box attack gets when [`AttackSettings::queries`] is `None`
/// (per sample and budget; see the crate docs); `None` for attacks that do not query.
pub fn default_queries(name: &str) -> Option<u64> {
    match name.to_ascii_lowercase().as_str() {
        "square" => Some(square::Square::DEFAULT_QUERIES),
        "simba" | "simba-dct" => Some(simba::Simba::DEFAULT_QUERIES),
        "hsj" | "hopskipjump" => Some(hsj::HopSkipJump::DEFAULT_QUERIES),
        "boundary" => Some(boundary::Boundary::DEFAULT_QUERIES),
        _ => None,
    }
}

/// DeepFool stops by itself once the label flips; more iterations than this never help.
const DEEPFOOL_MAX_STEPS: usize = 100;

/// Builds an attack from its name (one of [`ATTACK_NAMES`], or an alias such as `apgd`,
/// `hopskipjump`) with the settings that apply to it.
pub fn by_name(name: &str, settings: &AttackSettings) -> Result<Box<dyn Attack>> {
    let s = settings.clone().validated()?;
    let lower = name.to_ascii_lowercase();
    let steps = s.steps.unwrap_or_else(|| default_steps(&lower));
    let queries = s.queries.or_else(|| default_queries(&lower)).unwrap_or(0);
    Ok(match lower.as_str() {
        "fgsm" | "fgm" => Box::new(fgsm::Fgsm),
        "pgd" => Box::new(pgd::Pgd::new(steps, s.restarts, s.rel_step, true)?),
        "apgd-ce" | "apgd" => Box::new(apgd::Apgd::new(
            apgd::ApgdLoss::CrossEntropy,
            steps,
            s.restarts,
        )?),
        "apgd-dlr" => Box::new(apgd::Apgd::new(apgd::ApgdLoss::Dlr, steps, s.restarts)?),
        "apgd-t" => Box::new(apgd::Apgd::new(
            apgd::ApgdLoss::TargetedDlr {
                targets: apgd::Apgd::DEFAULT_TARGET_CLASSES,
            },
            steps,
            s.restarts,
        )?),
        "cw" | "cw-l2" | "carlini-wagner" => Box::new(cw::CarliniWagner::new(steps)?),
        "deepfool" => Box::new(deepfool::DeepFool::new(steps.min(DEEPFOOL_MAX_STEPS))?),
        "square" => Box::new(square::Square::new(queries)),
        "simba" => Box::new(simba::Simba::pixel(queries)),
        "simba-dct" => Box::new(simba::Simba::dct(queries)),
        "hsj" | "hopskipjump" => Box::new(hsj::HopSkipJump::new(queries)),
        "boundary" => Box::new(boundary::Boundary::new(queries)),
        "uap" | "universal" => Box::new(uap::Universal::new(steps, s.rel_step)?),
        "fab" => Box::new(fab::Fab::new(steps, s.restarts)?),
        "fab-t" | "fabt" => Box::new(fab::Fab::targeted(
            steps,
            s.restarts,
            fab::Fab::DEFAULT_TARGET_CLASSES,
        )?),
        other => {
            return Err(Error::Parameter(format!(
                "unknown attack '{other}'; available: {}",
                ATTACK_NAMES.join(", ")
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_reject_out_of_range_fields_by_name() {
        let bad = [
            (
                AttackSettings {
                    steps: Some(0),
                    ..Default::default()
                },
                "steps = 0",
            ),
            (
                AttackSettings {
                    steps: Some(MAX_STEPS + 1),
                    ..Default::default()
                },
                "steps = 100001",
            ),
            (
                AttackSettings {
                    queries: Some(MAX_QUERIES + 1),
                    ..Default::default()
                },
                "queries = ",
            ),
            (
                AttackSettings {
                    restarts: 0,
                    ..Default::default()
                },
                "restarts = 0",
            ),
            (
                AttackSettings {
                    rel_step: Some(-0.1),
                    ..Default::default()
                },
                "rel_step = -0.1",
            ),
            (
                AttackSettings {
                    rel_step: Some(f32::NAN),
                    ..Default::default()
                },
                "rel_step = NaN",
            ),
        ];
        for (settings, field) in bad {
            let err = settings.clone().validated().unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
            assert!(
                !err.contains("--"),
                "a library error names no CLI flag: {err}"
            );
            assert!(by_name("pgd", &settings).is_err());
        }
        AttackSettings::default().validated().unwrap();
    }

    #[test]
    fn settings_deserialize_strictly_with_defaults() {
        let s: AttackSettings = serde_json::from_str(r#"{"steps": 20, "queries": 300}"#).unwrap();
        assert_eq!(
            s,
            AttackSettings {
                steps: Some(20),
                queries: Some(300),
                ..Default::default()
            }
        );
        let empty: AttackSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, AttackSettings::default());
        assert!(serde_json::from_str::<AttackSettings>(r#"{"step": 20}"#).is_err());
        let back: AttackSettings =
            serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn each_budget_has_one_meaning() {
        for name in ["square", "simba", "simba-dct", "hsj", "boundary"] {
            assert!(default_queries(name).is_some(), "{name}");
            assert_eq!(
                default_steps(name),
                0,
                "{name} has no iterations of its own"
            );
        }
        for name in [
            "fgsm", "pgd", "apgd-ce", "apgd-t", "cw", "deepfool", "fab", "fab-t",
        ] {
            assert_eq!(default_queries(name), None, "{name}");
            assert!(default_steps(name) >= 1, "{name}");
        }
        // `queries` sets a black-box budget and leaves an iterative attack alone, and back.
        let settings = AttackSettings {
            steps: Some(7),
            queries: Some(123),
            ..Default::default()
        };
        assert_eq!(
            by_name("square", &settings).unwrap().describe()["queries"],
            123
        );
        assert_eq!(
            by_name("hsj", &settings).unwrap().describe()["queries"],
            123
        );
        assert_eq!(by_name("pgd", &settings).unwrap().describe()["steps"], 7);
        let defaults = AttackSettings::default();
        assert_eq!(
            by_name("square", &defaults).unwrap().describe()["queries"],
            5000
        );
        assert_eq!(by_name("pgd", &defaults).unwrap().describe()["steps"], 40);
        assert_eq!(
            by_name(
                "deepfool",
                &AttackSettings {
                    steps: Some(500),
                    ..defaults
                }
            )
            .unwrap()
            .describe()["steps"],
            100
        );
    }

    #[test]
    fn every_named_attack_builds_and_describes_itself() {
        for &name in ATTACK_NAMES {
            let attack = by_name(name, &AttackSettings::default()).unwrap();
            assert_eq!(attack.name(), name);
            let described = attack.describe();
            assert_eq!(described["attack"], name, "{described}");
            assert!(
                described["kind"] == "fixed-budget" || described["kind"] == "minimum-norm",
                "{described}"
            );
        }
        assert!(by_name("nope", &AttackSettings::default()).is_err());
    }
}
