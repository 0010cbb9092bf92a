//! The evaluation's reductions, on a fake classifier whose every answer follows from its
//! construction (tests/common): which (sample, ε) pairs each attack runs on and breaks, robust
//! accuracy per attack and in the worst case, the BPDA combine, failed batches, cancellation,
//! checkpoint resume, misclassified samples and targeted criteria.
//!
//! What the construction says the real attacks do (L∞, budgets below `SPACING / 2`):
//! - FGSM breaks a sample at ε exactly when its gradient at the clean row is honest and
//!   ε > tau (one step of ε along the gradient's sign; a zero gradient does not move it);
//! - PGD with one step (random start, then a step of 2.5 ε) breaks it exactly when its
//!   gradient away from the clean row is honest and ε > tau (specs with another gradient
//!   away from the clean row need all six signal features in the corner: a random start lands
//!   there with probability < 1e-6);
//! - Square with 100 queries breaks a one-feature sample exactly when ε > tau (each proposal
//!   flips the feature with probability ≥ 1/7, so missing it has probability < 1e-6).

mod common;

use std::sync::atomic::Ordering;

use common::{open_to_square, plan, stop_in_square_after, Fake, Grad, Script, Seen, Spec, TempDir};
use gauntlet_core::criterion::Criterion;
use gauntlet_eval::{run_audit, run_audit_with, Checkpoint, Evaluation, Silent};
const MAX_CONSECUTIVE_FAILURES: usize = 3;

const EPS: [f32; 3] = [0.01, 0.02, 0.03];

/// Does `attack` break a sample of this spec at `eps`, by construction (module docs)?
fn breaks(attack: &str, spec: &Spec, eps: f32) -> bool {
    match attack {
        "fgsm" => spec.at_clean == Grad::Honest && eps > spec.tau,
        "pgd" => spec.elsewhere == Grad::Honest && eps > spec.tau,
        "square" => {
            assert_eq!(
                spec.signal, 1,
                "Square is only predicted on one-feature specs"
            );
            eps > spec.tau
        }
        other => panic!("no prediction for {other}"),
    }
}

/// What the evaluation must report, reduced by hand from the construction.
struct Expected {
    /// [attack][budget][sample]: the attack broke the sample at that budget.
    success: Vec<Vec<Vec<bool>>>,
    /// [attack][budget]: robust accuracy reported on the attack's row.
    robust: Vec<Vec<f64>>,
    /// [budget][sample]: the first attack that broke it.
    broken_by: Vec<Vec<Option<String>>>,
    /// [budget]: clean-correct samples no attack broke, over all samples.
    worst: Vec<f64>,
}

/// `attackable[i]`: the sample is clean-correct (and not already of its target class).
fn expected(
    specs: &[Spec],
    correct: &[bool],
    attackable: &[bool],
    attacks: &[&str],
    eps: &[f32],
    ensemble: bool,
) -> Expected {
    let n = specs.len();
    let mut broken_by: Vec<Vec<Option<String>>> = vec![vec![None; n]; eps.len()];
    let mut success = Vec::new();
    let mut robust = Vec::new();
    for &name in attacks {
        let mut mine = Vec::new();
        let mut rows = Vec::new();
        for (e, &budget) in eps.iter().enumerate() {
            // In an ensemble, a pair an earlier attack broke is not attacked again.
            let s: Vec<bool> = (0..n)
                .map(|i| {
                    attackable[i]
                        && !(ensemble && broken_by[e][i].is_some())
                        && breaks(name, &specs[i], budget)
                })
                .collect();
            for i in 0..n {
                if s[i] && broken_by[e][i].is_none() {
                    broken_by[e][i] = Some(name.to_string());
                }
            }
            let standing = (0..n).filter(|&i| {
                correct[i]
                    && if ensemble {
                        broken_by[e][i].is_none()
                    } else {
                        !s[i]
                    }
            });
            rows.push(standing.count() as f64 / n as f64);
            mine.push(s);
        }
        success.push(mine);
        robust.push(rows);
    }
    let worst = broken_by
        .iter()
        .map(|b| (0..n).filter(|&i| correct[i] && b[i].is_none()).count() as f64 / n as f64)
        .collect();
    Expected {
        success,
        robust,
        broken_by,
        worst,
    }
}

/// Asserts every per-pair outcome and every reduction of `ev` against `want`.
fn assert_reduced(
    ev: &Evaluation,
    want: &Expected,
    attacks: &[&str],
    eps: &[f32],
    correct: &[bool],
) {
    let names: Vec<(&str, f32)> = ev
        .results
        .iter()
        .map(|r| (r.attack.as_str(), r.eps))
        .collect();
    let order: Vec<(&str, f32)> = attacks
        .iter()
        .flat_map(|&a| eps.iter().map(move |&e| (a, e)))
        .collect();
    assert_eq!(names, order, "one result per (attack, ε), in plan order");
    let clean_correct = correct.iter().filter(|&&c| c).count() as f64;
    for (a, &name) in attacks.iter().enumerate() {
        for e in 0..eps.len() {
            let r = &ev.results[a * eps.len() + e];
            let s = &want.success[a][e];
            assert_eq!(
                r.success, *s,
                "{name} at ε = {}: which samples it broke",
                eps[e]
            );
            assert_eq!(
                r.robust_accuracy, want.robust[a][e],
                "{name} at ε = {}: robust accuracy",
                eps[e]
            );
            let broke = s.iter().filter(|&&b| b).count() as f64;
            assert_eq!(
                r.attack_success_rate,
                broke / clean_correct,
                "{name} at ε = {}: success rate",
                eps[e]
            );
            for (i, &b) in s.iter().enumerate() {
                let p = r.predictions[i];
                assert_eq!(
                    p != ev.labels[i] && correct[i],
                    b,
                    "{name}: prediction of sample {i} agrees with success"
                );
            }
        }
    }
    let broken_by: Vec<Vec<Option<String>>> =
        ev.worst_case.iter().map(|w| w.broken_by.clone()).collect();
    assert_eq!(
        broken_by, want.broken_by,
        "first attack (in plan order) that broke each pair"
    );
    let worst: Vec<f64> = ev.worst_case.iter().map(|w| w.robust_accuracy).collect();
    assert_eq!(worst, want.worst, "worst-case robust accuracy per ε");
    assert_eq!(ev.worst_case.iter().map(|w| w.eps).collect::<Vec<_>>(), eps);
}

fn labels_correct(labels: &[i64]) -> Vec<bool> {
    // Every fake sample is predicted 0 on its clean row.
    labels.iter().map(|&l| l == 0).collect()
}

fn by(name: &str) -> Option<String> {
    Some(name.to_string())
}

#[test]
fn an_ensemble_runs_each_attack_only_where_every_earlier_one_failed() {
    let specs = vec![
        Spec::honest(0.005), // 0: FGSM breaks it at every ε
        Spec::honest(0.015), // 1: FGSM breaks it at 0.02 and 0.03
        Spec::honest(0.05),  // 2: robust
        Spec::masked(0.015), // 3: Square only, at 0.02 and 0.03
        Spec::masked(0.005), // 4: Square only, at every ε
        Spec::honest(0.005), // 5: labelled 1, predicted 0
    ];
    let labels = [0, 0, 0, 0, 0, 1];
    let attacks = ["fgsm", "square"];
    let model = Fake::new(specs.clone());
    let data = model.data(&labels);
    let ev = run_audit(&model, &data, &plan(&attacks, &EPS, true, 2), &Silent).unwrap();
    assert!(ev.errors.is_empty(), "{:?}", ev.errors);

    // The table, written out from the comments above.
    let none = None;
    let early = vec![
        by("fgsm"),
        none.clone(),
        none.clone(),
        none.clone(),
        by("square"),
        none.clone(),
    ];
    let late = vec![
        by("fgsm"),
        by("fgsm"),
        none.clone(),
        by("square"),
        by("square"),
        none.clone(),
    ];
    let broken_by: Vec<_> = ev.worst_case.iter().map(|w| w.broken_by.clone()).collect();
    assert_eq!(broken_by, vec![early, late.clone(), late]);
    // Robust accuracy after FGSM, then after FGSM and Square (cumulative), over 6 samples.
    let robust: Vec<f64> = ev.results.iter().map(|r| r.robust_accuracy).collect();
    assert_eq!(
        robust,
        vec![
            4.0 / 6.0,
            3.0 / 6.0,
            3.0 / 6.0,
            3.0 / 6.0,
            1.0 / 6.0,
            1.0 / 6.0
        ]
    );
    let correct = labels_correct(&labels);
    let want = expected(&specs, &correct, &correct, &attacks, &EPS, true);
    assert_reduced(&ev, &want, &attacks, &EPS, &correct);

    // Square spent queries exactly on the pairs FGSM left standing: sample 1 only at 0.01.
    for (e, r) in ev.results[3..].iter().enumerate() {
        for (i, &clean_correct) in correct.iter().enumerate() {
            let open = clean_correct && !ev.results[e].success[i];
            assert_eq!(
                r.sample_queries[i] > 0,
                open,
                "Square's queries on sample {i} at ε = {}",
                r.eps
            );
        }
    }
    // Square never even saw sample 0, which FGSM broke at every budget: the model saw it
    // exactly as often as in a run of FGSM alone.
    let alone = Fake::new(specs.clone());
    run_audit(&alone, &data, &plan(&["fgsm"], &EPS, true, 2), &Silent).unwrap();
    assert_eq!(model.seen()[0], alone.seen()[0]);
    assert!(
        model.seen()[1].queried > alone.seen()[1].queried,
        "sample 1 stays open at 0.01"
    );

    // Run as separate attacks, Square breaks samples 0 and 1 too: the ensemble skipped them.
    let separate = run_audit(
        &Fake::new(specs.clone()),
        &data,
        &plan(&attacks, &EPS, false, 2),
        &Silent,
    )
    .unwrap();
    assert!(separate.results[3].success[0] && separate.results[4].success[1]);
    let want = expected(&specs, &correct, &correct, &attacks, &EPS, false);
    assert_reduced(&separate, &want, &attacks, &EPS, &correct);
}

#[test]
fn worst_case_counts_a_sample_robust_only_if_every_attack_failed() {
    let specs = vec![
        Spec::honest(0.005),    // 0: both attacks, every ε
        Spec::pgd_only(0.015),  // 1: PGD only, 0.02 and 0.03
        Spec::fgsm_only(0.025), // 2: FGSM only, 0.03
        Spec::honest(0.05),     // 3: robust
        Spec::honest(0.015),    // 4: both, 0.02 and 0.03
        Spec::honest(0.005),    // 5: misclassified
    ];
    let labels = [0, 0, 0, 0, 0, 1];
    let correct = labels_correct(&labels);
    let model = Fake::new(specs.clone());
    let data = model.data(&labels);

    let attacks = ["fgsm", "pgd"];
    let ev = run_audit(&model, &data, &plan(&attacks, &EPS, false, 4), &Silent).unwrap();
    assert!(ev.errors.is_empty(), "{:?}", ev.errors);
    // At 0.03 each attack alone leaves two of six samples standing, but not the same two:
    // FGSM misses 1, PGD misses 2. Only sample 3 survives both.
    assert_eq!(ev.results[2].robust_accuracy, 2.0 / 6.0);
    assert_eq!(ev.results[5].robust_accuracy, 2.0 / 6.0);
    assert_eq!(ev.worst_case[2].robust_accuracy, 1.0 / 6.0);
    assert_eq!(
        ev.worst_case[2].broken_by,
        vec![by("fgsm"), by("pgd"), by("fgsm"), None, by("fgsm"), None]
    );
    let want = expected(&specs, &correct, &correct, &attacks, &EPS, false);
    assert_reduced(&ev, &want, &attacks, &EPS, &correct);

    // broken_by names the first attack in plan order, not the strongest or the last.
    let reversed = ["pgd", "fgsm"];
    let ev = run_audit(
        &Fake::new(specs.clone()),
        &data,
        &plan(&reversed, &EPS, false, 4),
        &Silent,
    )
    .unwrap();
    assert_eq!(
        ev.worst_case[2].broken_by,
        vec![by("pgd"), by("pgd"), by("fgsm"), None, by("pgd"), None]
    );
    assert_eq!(ev.worst_case[2].robust_accuracy, 1.0 / 6.0);
    let want = expected(&specs, &correct, &correct, &reversed, &EPS, false);
    assert_reduced(&ev, &want, &reversed, &EPS, &correct);
}

#[test]
fn robust_accuracy_never_rises_with_epsilon() {
    // Thresholds between every pair of budgets, so every prefix of budgets is what an
    // ensemble leaves open to Square for some sample.
    let eps = [0.005, 0.01, 0.02, 0.03, 0.04];
    let specs = vec![
        Spec::honest(0.003),
        Spec::honest(0.007),
        Spec::honest(0.015),
        Spec::honest(0.025),
        Spec::honest(0.035),
        Spec::honest(0.06),
        Spec::masked(0.007),
        Spec::masked(0.025),
        Spec::honest(0.003),
    ];
    let labels = [0, 0, 0, 0, 0, 0, 0, 0, 1];
    let correct = labels_correct(&labels);
    let attacks = ["fgsm", "square"];
    for ensemble in [true, false] {
        let model = Fake::new(specs.clone());
        let ev = run_audit(
            &model,
            &model.data(&labels),
            &plan(&attacks, &eps, ensemble, 3),
            &Silent,
        )
        .unwrap();
        let want = expected(&specs, &correct, &correct, &attacks, &eps, ensemble);
        assert_reduced(&ev, &want, &attacks, &eps, &correct);
        let mut series: Vec<Vec<f64>> = ev
            .results
            .chunks(eps.len())
            .map(|c| c.iter().map(|r| r.robust_accuracy).collect())
            .collect();
        series.push(ev.worst_case.iter().map(|w| w.robust_accuracy).collect());
        for s in &series {
            assert!(
                s.windows(2).all(|w| w[1] <= w[0]),
                "ensemble = {ensemble}: {s:?} rises with ε"
            );
        }
        // From 8/9 clean-correct down to the one sample no budget breaks.
        let worst = series.last().unwrap();
        assert_eq!(
            worst,
            &vec![7.0 / 9.0, 5.0 / 9.0, 4.0 / 9.0, 2.0 / 9.0, 1.0 / 9.0]
        );
    }
}

#[test]
fn combine_renames_the_second_run_and_takes_the_worst_case_over_both() {
    // First run: gradients blocked for sample 1. The BPDA rerun sees through the block, but
    // its approximation misleads on sample 2.
    let first = vec![
        Spec::honest(0.005),
        Spec::masked(0.005),
        Spec::honest(0.015),
        Spec::honest(0.05),
        Spec::honest(0.005),
    ];
    let bpda = vec![
        Spec::honest(0.005),
        Spec::honest(0.005),
        Spec::honest(0.015).gradient(Grad::Reversed),
        Spec::honest(0.05),
        Spec::honest(0.005),
    ];
    let labels = [0, 0, 0, 0, 1];
    let attacks = ["fgsm"];
    let model = Fake::new(first);
    let data = model.data(&labels);
    let mut a = run_audit(&model, &data, &plan(&attacks, &EPS, true, 2), &Silent).unwrap();
    let mut b = run_audit(
        &Fake::new(bpda),
        &data,
        &plan(&attacks, &EPS, true, 2),
        &Silent,
    )
    .unwrap();
    // Before combining: each run alone misses one of samples 1 and 2 at 0.03.
    assert_eq!(a.worst_case[2].robust_accuracy, 2.0 / 5.0);
    assert_eq!(b.worst_case[2].robust_accuracy, 2.0 / 5.0);
    a.errors.push("first run's error".into());
    b.errors.push("second run's error".into());
    a.resumed_batches = 1;
    b.resumed_batches = 2;
    let first_results = a.results.clone();
    let second_results = b.results.clone();

    let c = a.combine(b, "+bpda");
    let names: Vec<&str> = c.results.iter().map(|r| r.attack.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "fgsm",
            "fgsm",
            "fgsm",
            "fgsm+bpda",
            "fgsm+bpda",
            "fgsm+bpda"
        ]
    );
    for (r, original) in c
        .results
        .iter()
        .zip(first_results.iter().chain(&second_results))
    {
        assert_eq!(
            (r.eps, &r.success, r.robust_accuracy),
            (original.eps, &original.success, original.robust_accuracy)
        );
    }
    // The first run's name wins where both broke a pair; the rerun's (renamed) fills the rest.
    assert_eq!(
        c.worst_case[0].broken_by,
        vec![by("fgsm"), by("fgsm+bpda"), None, None, None]
    );
    assert_eq!(
        c.worst_case[2].broken_by,
        vec![by("fgsm"), by("fgsm+bpda"), by("fgsm"), None, None]
    );
    // Robust: clean-correct and broken in neither run (sample 4 is misclassified).
    let worst: Vec<f64> = c.worst_case.iter().map(|w| w.robust_accuracy).collect();
    assert_eq!(worst, vec![2.0 / 5.0, 1.0 / 5.0, 1.0 / 5.0]);
    assert_eq!(
        c.errors,
        vec![
            "first run's error".to_string(),
            "second run's error".to_string()
        ]
    );
    assert_eq!(c.resumed_batches, 3);
}

#[test]
fn an_attack_stops_after_three_failed_batches_in_a_row_and_the_others_are_kept() {
    assert_eq!(MAX_CONSECUTIVE_FAILURES, 3);
    let specs = vec![Spec::honest(0.005); 6];
    let labels = [0; 6];
    // FGSM's first three batches (one sample each) fail.
    let model = Fake::new(specs.clone()).failing_gradients_for(&[0, 1, 2]);
    let data = model.data(&labels);
    let ev = run_audit(
        &model,
        &data,
        &plan(&["fgsm", "square"], &EPS, false, 1),
        &Silent,
    )
    .unwrap();

    let fgsm_errors: Vec<&String> = ev.errors.iter().filter(|e| e.contains("fgsm")).collect();
    assert_eq!(
        fgsm_errors.len(),
        4,
        "three failed batches and the stop: {:?}",
        ev.errors
    );
    assert_eq!(
        ev.errors.len(),
        4,
        "Square ran without errors: {:?}",
        ev.errors
    );
    assert!(fgsm_errors[3].contains("stopped"), "{:?}", fgsm_errors[3]);
    // FGSM tried nothing after the third failure.
    let seen = model.seen();
    assert!(seen[..3].iter().all(|s| s.tracked > 0));
    assert!(seen[3..].iter().all(|s| s.tracked == 0), "{seen:?}");
    // A stopped attack reports nothing; Square's results are whole.
    assert!(ev.results.iter().all(|r| r.attack == "square"));
    let correct = labels_correct(&labels);
    let want = expected(&specs, &correct, &correct, &["square"], &EPS, false);
    assert_reduced(&ev, &want, &["square"], &EPS, &correct);
}

#[test]
fn failures_that_are_not_three_in_a_row_leave_unattacked_samples_counted_as_robust() {
    let specs = vec![Spec::honest(0.005); 8];
    let labels = [0; 8];
    let failing = [0, 1, 3, 4, 6, 7]; // two in a row, a success, two, a success, two
    for ensemble in [false, true] {
        let model = Fake::new(specs.clone()).failing_gradients_for(&failing);
        let data = model.data(&labels);
        let ev = run_audit(
            &model,
            &data,
            &plan(&["fgsm", "square"], &EPS, ensemble, 1),
            &Silent,
        )
        .unwrap();
        assert_eq!(
            ev.errors.len(),
            failing.len(),
            "one error per failed batch, no stop: {:?}",
            ev.errors
        );
        assert!(
            ev.errors
                .iter()
                .all(|e| e.contains("fgsm") && !e.contains("stopped")),
            "{:?}",
            ev.errors
        );
        let fgsm: Vec<_> = ev.results.iter().filter(|r| r.attack == "fgsm").collect();
        assert_eq!(fgsm.len(), EPS.len());
        for r in fgsm {
            assert_eq!(r.unattacked, failing.len());
            assert_eq!(
                r.success,
                (0..8).map(|i| !failing.contains(&i)).collect::<Vec<_>>()
            );
            // Unattacked samples count as robust for the attack (an upper bound).
            assert_eq!(r.robust_accuracy, 6.0 / 8.0);
        }
        // Square breaks them (in an ensemble: it is handed exactly those).
        let expect: Vec<Option<String>> = (0..8)
            .map(|i| {
                by(if failing.contains(&i) {
                    "square"
                } else {
                    "fgsm"
                })
            })
            .collect();
        for w in &ev.worst_case {
            assert_eq!(w.broken_by, expect, "ensemble = {ensemble}");
            assert_eq!(w.robust_accuracy, 0.0);
        }
        if ensemble {
            let square = ev.results.iter().find(|r| r.attack == "square").unwrap();
            for i in 0..8 {
                assert_eq!(
                    square.sample_queries[i] > 0,
                    failing.contains(&i),
                    "Square's work on sample {i}"
                );
            }
        }
    }
}

#[test]
fn an_attack_on_a_target_that_went_down_stops_and_finished_attacks_are_kept() {
    let specs = vec![
        Spec::honest(0.005),
        Spec::honest(0.015),
        Spec::honest(0.05),
        Spec::honest(0.005),
        Spec::honest(0.005),
    ];
    let labels = [0; 5];
    let model = Fake::new(specs.clone());
    let data = model.data(&labels);
    // The target goes down for good when Square starts.
    let progress =
        Script::watch().on_begin(|name| model.down.store(name == "square", Ordering::SeqCst));
    let ev = run_audit(
        &model,
        &data,
        &plan(&["fgsm", "square"], &EPS, false, 1),
        &progress,
    )
    .unwrap();
    let square_errors = ev.errors.iter().filter(|e| e.contains("square")).count();
    assert_eq!(
        (ev.errors.len(), square_errors),
        (MAX_CONSECUTIVE_FAILURES + 1, MAX_CONSECUTIVE_FAILURES + 1),
        "{:?}",
        ev.errors
    );
    let correct = labels_correct(&labels);
    let want = expected(&specs, &correct, &correct, &["fgsm"], &EPS, false);
    assert_reduced(&ev, &want, &["fgsm"], &EPS, &correct);
}

#[test]
fn cancellation_keeps_finished_attacks_and_says_it_was_interrupted() {
    let specs = vec![
        Spec::honest(0.005),
        Spec::honest(0.015),
        Spec::honest(0.05),
        Spec::masked(0.005),
        Spec::honest(0.005),
    ];
    let labels = [0; 5];
    let correct = labels_correct(&labels);

    // Ctrl-C after Square finished two batches: FGSM is kept, Square and PGD are not.
    let model = Fake::new(specs.clone());
    let data = model.data(&labels);
    let progress =
        Script::new(|begun, advanced| begun.last().is_some_and(|a| a == "square") && advanced >= 2);
    let ev = run_audit(
        &model,
        &data,
        &plan(&["fgsm", "square", "pgd"], &EPS, false, 1),
        &progress,
    )
    .unwrap();
    assert_eq!(
        progress.begun(),
        vec!["fgsm", "square"],
        "nothing starts after a cancellation"
    );
    assert_eq!(ev.errors.len(), 1, "{:?}", ev.errors);
    assert!(ev.errors[0].contains("interrupted"), "{:?}", ev.errors);
    let want = expected(&specs, &correct, &correct, &["fgsm"], &EPS, false);
    assert_reduced(&ev, &want, &["fgsm"], &EPS, &correct);
    // Square worked on the first two samples only.
    let seen = model.seen();
    let clean_and_fgsm = Fake::new(specs.clone());
    run_audit(
        &clean_and_fgsm,
        &data,
        &plan(&["fgsm"], &EPS, false, 1),
        &Silent,
    )
    .unwrap();
    let before = clean_and_fgsm.seen();
    assert!(
        seen[2..].iter().zip(&before[2..]).all(|(s, b)| s == b),
        "{seen:?} vs {before:?}"
    );
    assert!(
        seen[..2]
            .iter()
            .zip(&before[..2])
            .all(|(s, b)| s.queried > b.queried),
        "{seen:?} vs {before:?}"
    );

    // Ctrl-C in the middle of the first attack: nothing is finished, nothing is reported.
    let progress = Script::new(|_, advanced| advanced >= 2);
    let ev = run_audit(
        &Fake::new(specs.clone()),
        &data,
        &plan(&["fgsm", "square"], &EPS, false, 1),
        &progress,
    )
    .unwrap();
    assert_eq!(progress.begun(), vec!["fgsm"]);
    assert!(ev.results.is_empty());
    assert!(ev
        .worst_case
        .iter()
        .all(|w| w.broken_by.iter().all(Option::is_none)));
    assert_eq!(ev.errors.len(), 1);
    assert!(ev.errors[0].contains("interrupted"), "{:?}", ev.errors);

    // A batch that fails because the user interrupted it (a request cut short) is not a
    // failed batch: no unattacked samples, no failure error, just the interruption.
    let model = Fake::new(specs.clone());
    let progress = Script::new(|_, _| model.tripped.load(Ordering::SeqCst))
        .on_begin(|name| model.down.store(name == "square", Ordering::SeqCst));
    let ev = run_audit(
        &model,
        &data,
        &plan(&["fgsm", "square"], &EPS, false, 1),
        &progress,
    )
    .unwrap();
    assert_eq!(ev.errors.len(), 1, "{:?}", ev.errors);
    assert!(ev.errors[0].contains("interrupted"), "{:?}", ev.errors);
    assert_reduced(&ev, &want, &["fgsm"], &EPS, &correct);
}

/// Everything a result reports per sample, for comparing two runs.
#[derive(Debug, PartialEq)]
struct Outcome {
    attack: String,
    eps: f32,
    robust_accuracy: f64,
    success: Vec<bool>,
    predictions: Vec<i64>,
    perturbation: Vec<f32>,
    adversarial: Vec<f32>,
    sample_queries: Vec<u64>,
}

fn features(ev: &Evaluation) -> usize {
    ev.features
}

fn outcomes(ev: &Evaluation) -> Vec<Outcome> {
    ev.results
        .iter()
        .map(|r| Outcome {
            attack: r.attack.clone(),
            eps: r.eps,
            robust_accuracy: r.robust_accuracy,
            success: r.success.clone(),
            predictions: r.predictions.clone(),
            perturbation: r.perturbation.clone(),
            adversarial: r.adversarial.to_vec(ev.samples, features(ev)).unwrap(),
            sample_queries: r.sample_queries.clone(),
        })
        .collect()
}

fn worst(ev: &Evaluation) -> Vec<(f64, Vec<Option<String>>)> {
    ev.worst_case
        .iter()
        .map(|w| (w.robust_accuracy, w.broken_by.clone()))
        .collect()
}

#[test]
fn a_second_run_with_the_same_checkpoint_restores_every_batch() {
    let specs = vec![
        Spec::honest(0.005),
        Spec::honest(0.015),
        Spec::honest(0.05),
        Spec::masked(0.015),
        Spec::masked(0.005),
        Spec::honest(0.005),
    ];
    let labels = [0, 0, 0, 0, 0, 1];
    let dir = TempDir::new("resume");
    let plan = plan(&["fgsm", "square"], &EPS, true, 2);

    let first_model = Fake::new(specs.clone());
    let data = first_model.data(&labels);
    let checkpoint = Checkpoint::open(dir.path(), "fake run", true).unwrap();
    let first = run_audit_with(&first_model, &data, &plan, &Silent, Some(&checkpoint)).unwrap();
    assert_eq!(first.resumed_batches, 0);

    let second_model = Fake::new(specs.clone());
    let checkpoint = Checkpoint::open(dir.path(), "fake run", false).unwrap();
    let second = run_audit_with(&second_model, &data, &plan, &Silent, Some(&checkpoint)).unwrap();
    // FGSM: 5 attackable samples in batches of 2 → 3 batches. Square: samples 2, 3, 4 open at
    // every ε (2 batches) and sample 1 at 0.01 only (1 batch).
    assert_eq!(second.resumed_batches, 6);
    assert_eq!(
        second_model.seen(),
        vec![Seen::default(); specs.len()],
        "nothing recomputed, clean predictions included"
    );
    assert_eq!(outcomes(&second), outcomes(&first));
    assert_eq!(worst(&second), worst(&first));
    assert_eq!(second.clean_predictions, first.clean_predictions);
}

#[test]
fn a_run_interrupted_and_resumed_gives_the_results_of_an_uninterrupted_one() {
    let specs = open_to_square();
    let labels = [0; 6];
    let plan = plan(&["fgsm", "square"], &EPS, true, 1);
    let model = Fake::new(specs.clone());
    let data = model.data(&labels);
    let uninterrupted = run_audit(&model, &data, &plan, &Silent).unwrap();

    let dir = TempDir::new("interrupted");
    let checkpoint = Checkpoint::open(dir.path(), "fake run", true).unwrap();
    let progress = stop_in_square_after(2);
    let interrupted = run_audit_with(
        &Fake::new(specs.clone()),
        &data,
        &plan,
        &progress,
        Some(&checkpoint),
    )
    .unwrap();
    assert!(interrupted.errors.iter().any(|e| e.contains("interrupted")));

    let resumed_model = Fake::new(specs.clone());
    let checkpoint = Checkpoint::open(dir.path(), "fake run", false).unwrap();
    let resumed = run_audit_with(&resumed_model, &data, &plan, &Silent, Some(&checkpoint)).unwrap();
    assert!(resumed.errors.is_empty(), "{:?}", resumed.errors);
    // FGSM's 6 batches and Square's first 2 come from the checkpoint…
    assert_eq!(resumed.resumed_batches, 8);
    // …so the model computed no gradient at all, and Square queried only the samples left.
    let seen = resumed_model.seen();
    assert!(seen.iter().all(|s| s.tracked == 0), "{seen:?}");
    assert_eq!(outcomes(&resumed), outcomes(&uninterrupted));
    assert_eq!(worst(&resumed), worst(&uninterrupted));
}

#[test]
fn restored_batches_break_a_run_of_failures() {
    let specs = vec![Spec::honest(0.005); 6];
    let labels = [0; 6];
    let plan = plan(&["fgsm"], &EPS, false, 1);
    let dir = TempDir::new("flaky");
    // Every other batch fails, in the first run and again in the resumed one.
    let model = Fake::new(specs.clone()).failing_gradients_for(&[0, 2, 4]);
    let data = model.data(&labels);
    let checkpoint = Checkpoint::open(dir.path(), "fake run", true).unwrap();
    let first = run_audit_with(&model, &data, &plan, &Silent, Some(&checkpoint)).unwrap();
    assert_eq!(first.errors.len(), 3, "{:?}", first.errors);
    assert_eq!(first.results.len(), EPS.len());
    assert!(first.results.iter().all(|r| r.unattacked == 3));

    let again = Fake::new(specs.clone()).failing_gradients_for(&[0, 2, 4]);
    let checkpoint = Checkpoint::open(dir.path(), "fake run", false).unwrap();
    let resumed = run_audit_with(&again, &data, &plan, &Silent, Some(&checkpoint)).unwrap();
    assert!(
        !resumed.errors.iter().any(|e| e.contains("stopped")),
        "{:?}",
        resumed.errors
    );
    assert_eq!(resumed.resumed_batches, 3);
    assert_eq!(outcomes(&resumed), outcomes(&first));
}

#[test]
fn misclassified_samples_are_not_robust_and_never_attacked() {
    let specs = vec![
        Spec::honest(0.005),
        Spec::honest(0.05),
        Spec::honest(0.005),
        Spec::honest(0.05),
        Spec::honest(0.05),
    ];
    // Samples 1 and 3 are labelled 1 but predicted 0. Nothing could break them anyway
    // (tau above every ε): they must still not count as robust.
    let labels = [0, 1, 0, 1, 0];
    let correct = labels_correct(&labels);
    let model = Fake::new(specs.clone());
    let data = model.data(&labels);
    let attacks = ["fgsm", "square"];
    let ev = run_audit(&model, &data, &plan(&attacks, &EPS, true, 2), &Silent).unwrap();
    assert_eq!(ev.clean_accuracy, 3.0 / 5.0);
    assert_eq!(ev.clean_predictions, vec![0; 5]);
    // Seen once each, by the clean pass; no attack sent them to the model.
    let seen = model.seen();
    for i in [1, 3] {
        assert_eq!(
            seen[i],
            Seen {
                queried: 1,
                tracked: 0
            },
            "sample {i}"
        );
    }
    assert!(
        seen[4].queried > 1,
        "a robust clean-correct sample is attacked"
    );
    for r in &ev.results {
        assert!(!r.success[1] && !r.success[3]);
        assert_eq!(r.predictions[1], 0);
    }
    // Robust: clean-correct and unbroken = sample 4 only; the success rate is over the three
    // clean-correct samples.
    assert!(ev.worst_case.iter().all(|w| w.robust_accuracy == 1.0 / 5.0));
    assert_eq!(ev.results[0].attack_success_rate, 2.0 / 3.0);
    let want = expected(&specs, &correct, &correct, &attacks, &EPS, true);
    assert_reduced(&ev, &want, &attacks, &EPS, &correct);
}

#[test]
fn a_targeted_run_skips_samples_already_of_their_target_class() {
    let specs = vec![Spec::honest(0.005); 5];
    let labels = [0; 5];
    // Class 1 lies up, class 2 down; samples 1 and 4 are asked for their own class.
    let targets = vec![1, 0, 2, 1, 0];
    let model = Fake::new(specs.clone()).three_classes();
    let data = model.data(&labels);
    let mut targeted = plan(&["fgsm", "square"], &[0.01], false, 2);
    targeted.criterion = Criterion::Targeted(targets.clone());
    let ev = run_audit(&model, &data, &targeted, &Silent).unwrap();
    assert!(ev.errors.is_empty(), "{:?}", ev.errors);
    for r in &ev.results {
        assert_eq!(
            r.success,
            vec![true, false, true, true, false],
            "{}",
            r.attack
        );
        // Each broken sample reached its own target, down as well as up.
        assert_eq!(r.predictions, vec![1, 0, 2, 1, 0], "{}", r.attack);
    }
    let seen = model.seen();
    for i in [1, 4] {
        assert_eq!(
            seen[i],
            Seen {
                queried: 1,
                tracked: 0
            },
            "sample {i} is never attacked"
        );
    }
    // Skipped samples are clean-correct and unchanged, so they count as robust.
    assert_eq!(ev.worst_case[0].robust_accuracy, 2.0 / 5.0);
    assert_eq!(
        ev.worst_case[0].broken_by,
        vec![by("fgsm"), None, by("fgsm"), by("fgsm"), None]
    );

    // Untargeted, the same attacks break all five, and sample 2 goes up, not down: the
    // per-sample targets above were honoured.
    let model = Fake::new(specs.clone()).three_classes();
    let ev = run_audit(&model, &data, &plan(&["fgsm"], &[0.01], false, 2), &Silent).unwrap();
    assert_eq!(ev.results[0].success, vec![true; 5]);
    assert_eq!(ev.results[0].predictions, vec![1; 5]);
}
