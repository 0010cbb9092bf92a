//! Every diagnostic fires on a case built to trigger it and passes on one built not to, on the
//! fake classifier of tests/common (decisions and gradients set by construction).

mod common;

use common::{attack, linf, Fake, Grad, Spec};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::data::Dataset;
use gauntlet_core::model::{Differentiable, QueryOnly};
use gauntlet_eval::diagnostics::{diagnose, Diagnostic, Status};
use gauntlet_eval::{run_audit, AuditPlan, Evaluation, Silent};

const EPS: [f32; 3] = [0.01, 0.02, 0.03];

struct Audit {
    data: Dataset,
    plan: AuditPlan,
    evaluation: Evaluation,
}

/// Audits `model` (every sample labelled 0, the class of every clean row).
fn audit(
    model: &dyn Differentiable,
    samples: usize,
    attacks: &[&str],
    eps: &[f32],
    ensemble: bool,
) -> Audit {
    let data = common::dataset(&vec![0; samples]);
    let plan = AuditPlan {
        attacks: attacks
            .iter()
            .map(|&a| attack(a, if a == "square" { 100 } else { 1 }))
            .collect(),
        threat: linf(eps),
        criterion: Criterion::Untargeted,
        batch_size: 4,
        seed: 5,
        ensemble,
        blocks: Default::default(),
    };
    let evaluation = run_audit(model, &data, &plan, &Silent).unwrap();
    assert!(evaluation.errors.is_empty(), "{:?}", evaluation.errors);
    Audit {
        data,
        plan,
        evaluation,
    }
}

fn diagnostics(
    model: &dyn Differentiable,
    audit: &Audit,
    blockers: &[(String, String)],
    bpda: bool,
) -> Vec<Diagnostic> {
    diagnose(
        model,
        &audit.data,
        &audit.plan,
        &audit.evaluation,
        blockers,
        bpda,
    )
    .unwrap()
}

/// The one diagnostic named `check`.
fn find<'a>(all: &'a [Diagnostic], check: &str) -> &'a Diagnostic {
    let found: Vec<&Diagnostic> = all.iter().filter(|d| d.check == check).collect();
    assert_eq!(found.len(), 1, "exactly one '{check}' in {all:?}");
    found[0]
}

fn absent(all: &[Diagnostic], check: &str) -> bool {
    all.iter().all(|d| d.check != check)
}

#[test]
fn monotone_in_epsilon() {
    let model = Fake::new(vec![
        Spec::honest(0.005),
        Spec::honest(0.015),
        Spec::honest(0.05),
    ]);
    let mut run = audit(&model, 3, &["fgsm"], &EPS, false);
    let accs: Vec<f64> = run
        .evaluation
        .worst_case
        .iter()
        .map(|w| w.robust_accuracy)
        .collect();
    assert_eq!(accs, vec![2.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]);
    let d = find(
        &diagnostics(&model, &run, &[], false),
        "monotone-in-epsilon",
    )
    .clone();
    assert_eq!(d.status, Status::Pass, "{d:?}");

    // The same evaluation with the largest budget reported more robust than the smallest.
    let last = run.evaluation.worst_case.len() - 1;
    run.evaluation.worst_case[last].robust_accuracy = 1.0;
    run.evaluation.worst_case[last].broken_by = vec![None; 3];
    let d = find(
        &diagnostics(&model, &run, &[], false),
        "monotone-in-epsilon",
    )
    .clone();
    assert_eq!(d.status, Status::Warn, "{d:?}");

    // A rise smaller than any real difference still counts.
    run.evaluation.worst_case[last].robust_accuracy = 1.0 / 3.0 + 1e-9;
    let d = find(
        &diagnostics(&model, &run, &[], false),
        "monotone-in-epsilon",
    )
    .clone();
    assert_eq!(d.status, Status::Warn, "{d:?}");
}

#[test]
fn unbounded_budget() {
    // All six signal features must rise by 0.45: PGD at an unbounded budget does it along an
    // honest gradient. With the gradient masked it only has its random start, which reaches
    // that corner with probability 0.275^6 < 1e-3 per sample.
    let breakable = Spec::honest(0.45).signal(6);
    let model = Fake::new(vec![breakable; 4]);
    let run = audit(&model, 4, &["fgsm"], &EPS, false);
    let d = find(&diagnostics(&model, &run, &[], false), "unbounded-budget").clone();
    assert_eq!(d.status, Status::Pass, "{d:?}");

    let model = Fake::new(vec![breakable.gradient(Grad::Zero); 4]);
    let run = audit(&model, 4, &["fgsm"], &EPS, false);
    let d = find(&diagnostics(&model, &run, &[], false), "unbounded-budget").clone();
    assert_eq!(d.status, Status::Warn, "{d:?}");
}

#[test]
fn black_box_vs_white_box() {
    // Honest gradients: FGSM breaks samples 0 and 1; Square gets the pairs of samples 2 and 3
    // (tau above every ε) and, like any attack, finds nothing there.
    let model = Fake::new(vec![
        Spec::honest(0.005),
        Spec::honest(0.005),
        Spec::honest(0.05),
        Spec::honest(0.05),
    ]);
    let run = audit(&model, 4, &["fgsm", "square"], &EPS, true);
    let square = run
        .evaluation
        .results
        .iter()
        .find(|r| r.attack == "square")
        .unwrap();
    assert!(
        square.sample_queries[2] > 0 && square.sample_queries[3] > 0,
        "Square ran on what FGSM left"
    );
    let d = find(
        &diagnostics(&model, &run, &[], false),
        "black-box-vs-white-box",
    )
    .clone();
    assert_eq!(d.status, Status::Pass, "{d:?}");

    // Masked gradients: FGSM breaks nothing, Square breaks every (sample, ε) pair.
    let model = Fake::new(vec![Spec::masked(0.005); 4]);
    let run = audit(&model, 4, &["fgsm", "square"], &EPS, true);
    let d = find(
        &diagnostics(&model, &run, &[], false),
        "black-box-vs-white-box",
    )
    .clone();
    assert_eq!(d.status, Status::Warn, "{d:?}");
    assert!(
        d.detail.contains(&format!("{} (sample, ε)", 4 * EPS.len())),
        "{}",
        d.detail
    );

    // Not an ensemble: the attacks ran independently and the check does not apply.
    let run = audit(&model, 4, &["fgsm", "square"], &EPS, false);
    assert!(absent(
        &diagnostics(&model, &run, &[], false),
        "black-box-vs-white-box"
    ));
}

#[test]
fn black_box_first_in_an_ensemble_is_not_a_black_box_win() {
    // Honest gradients and Square first: Square breaks the pairs before FGSM is tried on them;
    // FGSM would have broken every one (it does when run first, see above). No gradient attack
    // tried those pairs, so the check has nothing to compare and must not speak (a warning here
    // was a false alarm).
    let model = Fake::new(vec![Spec::honest(0.005); 4]);
    let run = audit(&model, 4, &["square", "fgsm"], &EPS, true);
    let all = diagnostics(&model, &run, &[], false);
    assert!(absent(&all, "black-box-vs-white-box"), "{all:?}");
}

#[test]
fn input_gradients() {
    let model = Fake::new(vec![Spec::honest(0.005); 4]);
    let run = audit(&model, 4, &["fgsm"], &EPS, false);
    let d = find(&diagnostics(&model, &run, &[], false), "input-gradients").clone();
    assert_eq!(d.status, Status::Pass, "{d:?}");

    for (grad, what) in [
        (Grad::Zero, "4 have zero"),
        (Grad::NaN, "4 NaN/Inf"),
        (Grad::Huge, "4 exploding"),
    ] {
        let model = Fake::new(vec![Spec::honest(0.005).gradient(grad); 4]);
        let run = audit(&model, 4, &["square"], &EPS, false);
        let d = find(&diagnostics(&model, &run, &[], false), "input-gradients").clone();
        assert_eq!(d.status, Status::Warn, "{grad:?}: {d:?}");
        assert!(d.detail.contains(what), "{grad:?}: {}", d.detail);
    }
}

#[test]
fn loss_increased() {
    let model = Fake::new(vec![Spec::honest(0.005); 4]);
    let run = audit(&model, 4, &["fgsm"], &EPS, false);
    let d = find(&diagnostics(&model, &run, &[], false), "loss-increased").clone();
    assert_eq!(d.status, Status::Pass, "{d:?}");

    // A gradient that points away from the other class: FGSM lowers the loss.
    let model = Fake::new(vec![Spec::honest(0.005).gradient(Grad::Reversed); 4]);
    let run = audit(&model, 4, &["fgsm"], &EPS, false);
    assert!(run
        .evaluation
        .results
        .iter()
        .all(|r| r.success.iter().all(|&s| !s)));
    let d = find(&diagnostics(&model, &run, &[], false), "loss-increased").clone();
    assert_eq!(d.status, Status::Warn, "{d:?}");
    assert!(d.detail.contains("fgsm"), "{}", d.detail);
}

#[test]
fn non_differentiable_operators() {
    let model = Fake::new(vec![Spec::honest(0.005); 2]);
    let run = audit(&model, 2, &["fgsm"], &EPS, false);
    let d = find(
        &diagnostics(&model, &run, &[], false),
        "non-differentiable-operators",
    )
    .clone();
    assert_eq!(d.status, Status::Pass, "{d:?}");

    let blockers = [
        ("Sign".to_string(), "quantize".to_string()),
        ("Round".to_string(), "round_1".to_string()),
    ];
    let d = find(
        &diagnostics(&model, &run, &blockers, false),
        "non-differentiable-operators",
    )
    .clone();
    assert_eq!(d.status, Status::Warn, "{d:?}");
    assert!(
        d.detail.contains("Sign ('quantize')") && d.detail.contains("Round ('round_1')"),
        "{}",
        d.detail
    );
    assert!(!d.detail.contains("were rerun"), "{}", d.detail);
    let d = find(
        &diagnostics(&model, &run, &blockers, true),
        "non-differentiable-operators",
    )
    .clone();
    assert_eq!(d.status, Status::Warn, "{d:?}");
    assert!(d.detail.contains("were rerun with BPDA"), "{}", d.detail);
}

#[test]
fn gradient_checks_are_skipped_for_a_query_only_target() {
    let model = QueryOnly::new(Fake::new(vec![Spec::honest(0.005); 3]));
    let run = audit(&model, 3, &["square"], &EPS, false);
    let all = diagnostics(&model, &run, &[], false);
    for check in ["unbounded-budget", "input-gradients", "loss-increased"] {
        assert!(absent(&all, check), "{check} needs gradients: {all:?}");
    }
    assert_eq!(find(&all, "monotone-in-epsilon").status, Status::Pass);
    assert_eq!(
        find(&all, "non-differentiable-operators").status,
        Status::Pass
    );
}
