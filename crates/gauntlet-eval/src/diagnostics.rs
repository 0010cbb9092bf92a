//! Checks that say when the audit's own numbers should not be trusted.
//!
//! The most common failure in robustness evaluation is reporting robustness that is not there:
//! masked gradients, weak attacks. Each check is a pass/warn flag with a plain explanation
//! (after Carlini et al., "On Evaluating Adversarial Robustness", 2019).

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;

use gauntlet_attacks::pgd::Pgd;
use gauntlet_attacks::{Access, Attack, AttackInput};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::device::compute_device;
use gauntlet_core::loss::Objective;
use gauntlet_core::model::{loss_and_grad, AnswerKind, Differentiable};
use gauntlet_core::samples::Samples;
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_core::threat::Norm;
use gauntlet_core::Result;

use crate::{AuditPlan, Evaluation};

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing suggests the numbers are wrong.
    Pass,
    /// The audit's own numbers should not be trusted as they are; the detail says why.
    Warn,
}

/// One diagnostic: a name, a verdict, and what it means.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnostic {
    /// The check's name (`monotone-in-epsilon`, `non-differentiable-operators`, …).
    pub check: &'static str,
    /// Pass or warn.
    pub status: Status,
    /// What was measured, and on a warning what it means and what to do.
    pub detail: String,
}

fn verdict(check: &'static str, ok: bool, pass: String, warn: String) -> Diagnostic {
    Diagnostic {
        check,
        status: if ok { Status::Pass } else { Status::Warn },
        detail: if ok { pass } else { warn },
    }
}

/// Samples used by the checks that run extra attacks or gradients (kept small: diagnostics
/// must not cost more than the audit).
const PROBE: usize = 64;

/// Runs every check. `blockers` lists gradient-blocking nodes (`(op, node)`); `bpda` says
/// whether the attacks were rerun with BPDA.
pub fn diagnose(
    model: &dyn Differentiable,
    data: &dyn Samples,
    plan: &AuditPlan,
    evaluation: &Evaluation,
    blockers: &[(String, String)],
    bpda: bool,
) -> Result<Vec<Diagnostic>> {
    let mut out = Vec::new();
    let device = compute_device();
    let f = data.features();
    let correct: Vec<usize> = (0..data.len())
        .filter(|&i| evaluation.clean_predictions[i] == data.labels()[i])
        .collect();
    let probe: Vec<usize> = correct.iter().copied().take(PROBE).collect();

    // 1. Robust accuracy must not rise with the budget.
    let accs: Vec<f64> = evaluation
        .worst_case
        .iter()
        .map(|w| w.robust_accuracy)
        .collect();
    let monotone = accs.windows(2).all(|w| w[1] <= w[0] + 1e-12);
    out.push(verdict(
        "monotone-in-epsilon",
        monotone,
        "robust accuracy does not rise as ε grows".into(),
        format!("robust accuracy rises with ε ({accs:?}): the attacks are not reliable"),
    ));

    // Checks 2, 4 and 5 read gradients or losses: they need white-box access.
    let white_box = model.has_gradients() && model.answer_kind() == AnswerKind::Scores;

    // 2. An unbounded budget must break (almost) everything.
    if white_box && !probe.is_empty() {
        let b = plan.threat.bounds();
        let width = b.max - b.min;
        let huge = match plan.threat.norm() {
            Norm::Linf => width,
            Norm::L2 => width * (f as f32).sqrt(),
            Norm::L1 => width * f as f32,
        };
        let threat = plan.threat.with_epsilons(&[huge])?;
        let x = data.read_rows(&probe)?;
        let labels: Vec<i64> = probe.iter().map(|&i| data.labels()[i]).collect();
        let criterion = Criterion::Untargeted;
        let input = AttackInput::new(model, &x, &labels, &criterion, &threat)?;
        let outcome =
            Pgd::new(20, 1, Some(0.1), true)?.run(&input, &mut StdRng::seed_from_u64(plan.seed))?;
        let survived = outcome.per_eps[0].success.iter().filter(|&&s| !s).count();
        let fraction = survived as f64 / probe.len() as f64;
        out.push(verdict(
            "unbounded-budget",
            fraction <= 0.05,
            format!(
                "PGD at an unbounded budget (ε = {huge}) breaks {}/{} samples",
                probe.len() - survived,
                probe.len()
            ),
            format!(
                "PGD at an unbounded budget (ε = {huge}) leaves {survived}/{} samples correct: \
                 gradients are likely masked or obfuscated, and the reported robustness is an \
                 overestimate",
                probe.len()
            ),
        ));
    }

    // 3. A black-box attack must not beat the white-box ones. In an ensemble a pair Square
    // broke is one every earlier attack failed on, so the check only speaks when a gradient
    // attack ran before Square (otherwise the gradient attacks never tried those pairs).
    let square_at = plan.attacks.iter().position(|a| a.name() == "square");
    let gradient_attacks = square_at.is_some_and(|at| {
        plan.attacks[..at]
            .iter()
            .any(|a| a.access() == Access::Gradients)
    });
    let white_box_failed_black_box_won = evaluation
        .worst_case
        .iter()
        .flat_map(|w| w.broken_by.iter())
        .filter(|b| b.as_deref() == Some("square"))
        .count();
    if plan.ensemble && gradient_attacks {
        out.push(verdict(
            "black-box-vs-white-box",
            white_box_failed_black_box_won == 0,
            "the score-based Square attack found nothing the gradient attacks missed".into(),
            format!(
                "the score-based Square attack broke {white_box_failed_black_box_won} (sample, ε) \
                 pairs on which every gradient attack failed: gradients are likely masked"
            ),
        ));
    }

    // 4. Input gradients: zero, non-finite or exploding.
    if white_box && !probe.is_empty() {
        let x = from_rows(data.read_rows(&probe)?, probe.len(), f, &device);
        let labels: Vec<i64> = probe.iter().map(|&i| data.labels()[i]).collect();
        let grad = to_vec(loss_and_grad(model, &x, &Objective::CrossEntropy(&labels))?.grad);
        let (mut zero, mut bad, mut huge) = (0usize, 0usize, 0usize);
        for row in grad.chunks(f) {
            let norm: f32 = row.iter().map(|g| g * g).sum::<f32>().sqrt();
            if row.iter().any(|g| !g.is_finite()) {
                bad += 1;
            } else if norm == 0.0 {
                zero += 1;
            } else if norm > 1e6 {
                huge += 1;
            }
        }
        let n = probe.len();
        out.push(verdict(
            "input-gradients",
            zero + bad + huge == 0,
            format!("all {n} probed samples have finite, non-zero input gradients"),
            format!(
                "of {n} probed samples, {zero} have zero input gradients, {bad} NaN/Inf and {huge} \
                 exploding (‖∇‖ > 1e6): gradient attacks cannot work there"
            ),
        ));
    }

    // 5. The attacks must actually raise the loss.
    if let Some(first) = evaluation
        .results
        .iter()
        .find(|r| r.eps == *plan.threat.epsilons().last().unwrap_or(&0.0))
    {
        let rows: Vec<usize> = probe.clone();
        if white_box && !rows.is_empty() {
            let labels: Vec<i64> = rows.iter().map(|&i| data.labels()[i]).collect();
            let clean = from_rows(data.read_rows(&rows)?, rows.len(), f, &device);
            let adv_rows = first.adversarial.rows(&rows, f)?;
            let adv = from_rows(adv_rows, rows.len(), f, &device);
            let objective = Objective::CrossEntropy(&labels);
            let before: f32 = loss_and_grad(model, &clean, &objective)?
                .loss
                .iter()
                .sum::<f32>()
                / rows.len() as f32;
            let after: f32 = loss_and_grad(model, &adv, &objective)?
                .loss
                .iter()
                .sum::<f32>()
                / rows.len() as f32;
            out.push(verdict(
                "loss-increased",
                after > before,
                format!("{} raised the mean cross-entropy from {before:.3} to {after:.3}", first.attack),
                format!(
                    "{} did not raise the mean cross-entropy ({before:.3} → {after:.3}): the attack \
                     is not making progress",
                    first.attack
                ),
            ));
        }
    }

    // 6. Operators that block gradients.
    let names: Vec<String> = blockers
        .iter()
        .map(|(op, node)| format!("{op} ('{node}')"))
        .collect();
    out.push(verdict(
        "non-differentiable-operators",
        blockers.is_empty(),
        "no gradient-blocking operator lies between the input and the output".into(),
        format!(
            "gradients are blocked at {}; {}",
            names.join(", "),
            if bpda {
                "the attacks were rerun with BPDA (identity gradient through these operators), \
                 and the worst case covers both runs"
            } else {
                "rerun with BPDA to see through them"
            }
        ),
    ));
    Ok(out)
}
