//! [`AuditConfig::check`]: every setting checked once, before anything is loaded or written,
//! into an [`Audit`] that can only hold valid settings (linfa's `ParamGuard` pattern). Errors
//! name the config key in backticks (front ends map keys to their own flags).

use std::sync::Arc;

use anyhow::{anyhow, bail, Result};

use gauntlet_attacks::spatial::SpatialGrid;
use gauntlet_attacks::{by_name, suite, AttackSettings};
use gauntlet_core::layout::Layout;
use gauntlet_core::threat::{parse_epsilons, Bounds, Norm, ThreatModel};
use gauntlet_run::gate::{Gate, Plan, WORST};
use gauntlet_run::Shard;

use crate::config::AuditConfig;
use crate::rows::SPATIAL;
use crate::target::{OnnxOptions, StopSignal};
use crate::{Audit, TRANSFER};

/// The attacks a list of names asks for: suites expanded (and run as an ensemble), duplicates
/// dropped, order kept.
pub(crate) fn expand_attacks(requested: &[String]) -> (Vec<String>, bool) {
    let ensemble = requested.iter().any(|name| suite(name).is_some());
    let mut names: Vec<String> = Vec::new();
    for name in requested {
        let members: Vec<String> = match suite(name) {
            Some(members) => members.iter().map(|m| m.to_string()).collect(),
            None => vec![name.to_ascii_lowercase()],
        };
        for m in members {
            if !names.contains(&m) {
                names.push(m);
            }
        }
    }
    (names, ensemble)
}

impl AuditConfig {
    /// Checks every setting and returns the audit ready to run. Nothing is loaded or written
    /// except the gate's baseline report, so a typo costs milliseconds, not an audit.
    pub fn check(self) -> Result<Audit> {
        let remote = self.target.is_some() || self.target_cmd.is_some();
        match (&self.model, &self.target, &self.target_cmd) {
            (None, None, None) => {
                bail!("no target: set `model` (an ONNX file), `target` (a URL) or `target_cmd` (a command)")
            }
            (Some(_), None, None) | (None, Some(_), None) | (None, None, Some(_)) => {}
            _ => bail!("set one target: `model`, `target` or `target_cmd`, not several"),
        }
        if self.black_box && remote {
            bail!("`black_box` applies to an ONNX `model`; a remote target is always attacked by queries");
        }
        if self.max_queries.is_some() && !self.black_box && !remote {
            bail!("`max_queries` limits queries to a black-box target; set `black_box` (or use `target`/`target_cmd`)");
        }
        if self.max_queries == Some(0) {
            bail!("`max_queries` must be at least 1");
        }
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            bail!("`timeout` must be a positive number of seconds");
        }
        if self.rate_limit.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
            bail!("`rate_limit` must be a positive number of requests per second");
        }
        if self.max_in_flight == 0 || self.rows_per_request == 0 {
            bail!("`max_in_flight` and `rows_per_request` must be at least 1");
        }
        if self.inputs.is_none() {
            bail!("`inputs` is required (a .npy array or MNIST IDX file of samples)");
        }
        if self.labels.is_none() {
            bail!("`labels` is required (a .npy array or MNIST IDX file of class indices)");
        }
        if self.samples == Some(0) {
            bail!("`samples` must be at least 1");
        }
        if self.batch_size == 0 {
            bail!("`batch_size` must be at least 1");
        }

        let norm: Norm = self.norm.parse().map_err(|e| anyhow!("`norm`: {e}"))?;
        let Some(eps) = &self.eps else {
            bail!("`eps` is required: one or more budgets, e.g. [0.1, 0.3] or \"2/255,8/255\"");
        };
        let epsilons = parse_epsilons(&eps.joined()).map_err(|e| anyhow!("`eps`: {e}"))?;
        let bounds = self.bounds.numbers::<f32>("bounds")?;
        let [min, max] = bounds[..] else {
            bail!("`bounds` needs two numbers, min and max (e.g. [0, 1])");
        };
        let threat = ThreatModel::new(norm, &epsilons, Bounds { min, max })
            .map_err(|e| anyhow!("`eps`/`bounds`: {e}"))?;
        if self.target_class.is_some_and(|t| t < 0) {
            bail!("`target_class` must be a class index ≥ 0");
        }

        let mut onnx = OnnxOptions::from_lists(
            self.input_shape.as_ref(),
            self.mean.as_ref(),
            self.std.as_ref(),
        )?;
        onnx.output = self.output.clone();
        onnx.layout = self
            .layout
            .as_deref()
            .map(str::parse::<Layout>)
            .transpose()
            .map_err(|e| anyhow!("`layout`: {e}"))?;

        let requested = self.attacks.items();
        if requested.is_empty() {
            bail!("no attack selected; set `attacks`, e.g. [\"fgsm\", \"pgd\"] or \"auto\"");
        }
        let (attacks, ensemble) = expand_attacks(&requested);
        let settings = AttackSettings {
            steps: self.steps,
            queries: self.queries,
            restarts: self.restarts,
            rel_step: self.rel_step,
        }
        .validated()?;
        // Each attack is built once here so that a bad name, setting or norm fails now.
        for name in &attacks {
            let crafted_with = match name.strip_prefix(TRANSFER) {
                Some(inner) => {
                    if self.surrogate.is_none() {
                        bail!("attack '{name}' crafts on a surrogate model: set `surrogate` to an ONNX file");
                    }
                    inner
                }
                None => name.as_str(),
            };
            by_name(crafted_with, &settings)?.check(&threat)?;
        }

        let gate = Gate::parse(
            &self.fail_under,
            self.baseline.as_deref(),
            self.max_drop,
            "report.json",
            crate::rows::report_rows,
        )
        .map_err(|e| anyhow!("{e}"))?;
        // A BPDA rerun adds `+bpda` rows; whether it happens is known only once the model is
        // loaded, so a threshold on one is accepted now and reported as unmatched if absent.
        let mut rows: Vec<String> = attacks
            .iter()
            .flat_map(|a| [a.clone(), format!("{a}+bpda")])
            .collect();
        rows.push(WORST.to_string());
        let budgetless: Vec<String> = if self.spatial {
            vec![SPATIAL.to_string()]
        } else {
            Vec::new()
        };
        rows.extend(budgetless.iter().cloned());
        let plan = Plan {
            rows,
            norm: Some(norm.to_string()),
            epsilons: threat.epsilons().iter().map(|&e| e as f64).collect(),
            budgetless,
        };
        gate.check_applicable(&plan).map_err(|e| anyhow!("{e}"))?;

        let never: StopSignal = Arc::new(|| false);
        let shard = match &self.shard {
            None => Shard::WHOLE,
            Some(spec) => Shard::resolve(spec).map_err(|e| anyhow!("`shard`: {e}"))?,
        };
        let spatial = self.check_spatial()?;
        Ok(Audit {
            spatial,
            shard,
            restore_only: false,
            config: self,
            threat,
            attacks,
            ensemble,
            settings,
            onnx,
            gate,
            stop: never,
            command: Vec::new(),
        })
    }
}

impl AuditConfig {
    /// The spatial stage's grid, when `spatial` is set; refused where it cannot mean anything.
    fn check_spatial(&self) -> Result<Option<SpatialGrid>> {
        if !self.spatial {
            return Ok(None);
        }
        if self.mask.is_some() {
            bail!(
                "`spatial` and `mask` cannot be combined: a rotated or shifted picture moves \
                 every pixel, so no region of it stays unchanged; run the spatial stage in an \
                 audit without `mask`"
            );
        }
        if self.shard.is_some() {
            bail!(
                "`spatial` runs in an unsharded audit only (`gauntlet merge` runs no attack, and \
                 the spatial stage has no per-shard record yet); drop `shard` or `spatial`"
            );
        }
        if self.spatial_random_draws == 0 {
            bail!("`spatial_random_draws` must be at least 1 (the paper's worst-of-10: 10)");
        }
        SpatialGrid::new(
            self.spatial_rotation,
            self.spatial_rotation_steps,
            self.spatial_translation,
            self.spatial_translation_steps,
        )
        .map(Some)
        .map_err(|e| {
            anyhow!(
                "`spatial_rotation`, `spatial_rotation_steps`, `spatial_translation`, \
                 `spatial_translation_steps`: {e}"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AuditConfig {
        AuditConfig::new("m.onnx", "x.npy", "y.npy", &[0.1, 0.3])
    }

    #[test]
    fn suites_expand_into_an_ensemble_without_duplicates() {
        let (names, ensemble) = expand_attacks(&["fgsm".into(), "auto".into(), "apgd-ce".into()]);
        assert!(ensemble);
        assert_eq!(names, vec!["fgsm", "apgd-ce", "apgd-t", "fab-t", "square"]);
        let (names, ensemble) = expand_attacks(&["PGD".into()]);
        assert_eq!((names, ensemble), (vec!["pgd".to_string()], false));
    }

    #[test]
    fn bad_settings_are_refused_naming_the_key() {
        type Change = Box<dyn Fn(&mut AuditConfig)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|c| c.eps = None), "`eps`"),
            (Box::new(|c| c.eps = Some("-1".into())), "`eps`"),
            (Box::new(|c| c.norm = "l7".into()), "`norm`"),
            (Box::new(|c| c.bounds = "0".into()), "`bounds`"),
            (Box::new(|c| c.batch_size = 0), "`batch_size`"),
            (Box::new(|c| c.samples = Some(0)), "`samples`"),
            (Box::new(|c| c.inputs = None), "`inputs`"),
            (Box::new(|c| c.mean = Some("0.5".into())), "`mean`"),
            (
                Box::new(|c| c.input_shape = Some("3,x".into())),
                "`input_shape`",
            ),
            (
                Box::new(|c| c.target = Some("http://x".into())),
                "not several",
            ),
            (Box::new(|c| c.max_queries = Some(10)), "`max_queries`"),
            (
                Box::new(|c| c.attacks = "transfer-pgd".into()),
                "`surrogate`",
            ),
            (Box::new(|c| c.attacks = "nope".into()), "unknown attack"),
            (Box::new(|c| c.attacks = "cw".into()), "does not support"),
            (
                Box::new(|c| c.fail_under = vec!["pgd:linf:0.2=0.5".into()]),
                "ε",
            ),
            (Box::new(|c| c.timeout = 0.0), "`timeout`"),
            (
                Box::new(|c| {
                    c.spatial = true;
                    c.mask = Some("m.png".into());
                }),
                "cannot be combined",
            ),
            (
                Box::new(|c| {
                    c.spatial = true;
                    c.shard = Some("0/2".into());
                }),
                "unsharded",
            ),
            (
                Box::new(|c| {
                    c.spatial = true;
                    c.spatial_rotation_steps = 0;
                }),
                "`spatial_rotation_steps`",
            ),
            (
                Box::new(|c| {
                    c.spatial = true;
                    c.spatial_random_draws = 0;
                }),
                "`spatial_random_draws`",
            ),
        ];
        for (change, needle) in cases {
            let mut c = config();
            c.attacks = "fgsm,pgd".into();
            change(&mut c);
            let err = format!(
                "{:#}",
                c.check().err().expect("a bad setting must be refused")
            );
            assert!(err.contains(needle), "expected '{needle}' in: {err}");
        }
    }

    #[test]
    fn a_good_config_is_accepted() {
        let mut c = config();
        c.attacks = "auto".into();
        c.fail_under = vec!["worst:linf:0.3=0".into(), "apgd-t:linf:0.1=0.5".into()];
        let audit = c.check().unwrap();
        assert!(audit.ensemble);
        assert_eq!(audit.attacks.len(), 4);
    }
}
