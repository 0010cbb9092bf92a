//! FAB and FAB-T on the MNIST CNN and real demo digits:
//! - returned inputs lie inside every ε-ball and the [0, 1] box, for L∞, L2 and L1;
//! - reported success equals the model's own prediction, and never falls as ε grows;
//! - a seeded run is reproducible;
//! - FAB-T at L∞ ε = 0.3 breaks an undefended CNN;
//! - the L2 perturbations FAB finds are not much larger than DeepFool's.

use rand::rngs::StdRng;
use rand::SeedableRng;

use gauntlet_attacks::fab::Fab;
use gauntlet_attacks::{by_name, Attack, AttackInput, AttackOutcome, AttackSettings};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::device::compute_device;
use gauntlet_core::model::{predict, Classifier};
use gauntlet_core::tensor::from_rows;
use gauntlet_core::threat::{Bounds, Norm, ThreatModel};
use gauntlet_onnx::OnnxModel;

mod common;
use common::{digits, mnist_cnn};

fn check_properties(name: &str, model: &OnnxModel, input: &AttackInput, outcome: &AttackOutcome) {
    let f = model.features();
    let n = input.len();
    let threat = input.threat();
    let mut previous = vec![false; n];
    assert_eq!(
        outcome.per_eps.len(),
        threat.epsilons().len(),
        "{name}: one outcome per ε"
    );
    for o in &outcome.per_eps {
        let delta: Vec<f32> = o
            .adversarial
            .iter()
            .zip(input.x())
            .map(|(a, x)| a - x)
            .collect();
        for (i, &d) in threat.norm().measure_rows(&delta, f).iter().enumerate() {
            assert!(
                d <= o.eps * (1.0 + 1e-5) + 1e-6,
                "{name}: sample {i} at ε={} has ‖δ‖ = {d}",
                o.eps
            );
        }
        let b = threat.bounds();
        assert!(
            o.adversarial.iter().all(|&v| v >= b.min && v <= b.max),
            "{name}: outside the box"
        );
        let preds = predict(
            model,
            from_rows(o.adversarial.clone(), n, f, &compute_device()),
        )
        .unwrap();
        assert_eq!(
            input.criterion().success(input.labels(), &preds),
            o.success,
            "{name}: success differs from the model at ε={}",
            o.eps
        );
        for (i, (&before, &now)) in previous.iter().zip(&o.success).enumerate() {
            assert!(
                !before || now,
                "{name}: sample {i} broken at a smaller ε but not at ε={}",
                o.eps
            );
        }
        previous = o.success.clone();
    }
}

fn attack(
    attack: &dyn Attack,
    model: &OnnxModel,
    x: &[f32],
    labels: &[i64],
    norm: Norm,
    eps: &[f32],
    seed: u64,
) -> AttackOutcome {
    let threat = ThreatModel::new(norm, eps, Bounds::default()).unwrap();
    let criterion = Criterion::Untargeted;
    let input = AttackInput::new(model, x, labels, &criterion, &threat).unwrap();
    attack.check(&threat).unwrap();
    let outcome = attack
        .run(&input, &mut StdRng::seed_from_u64(seed))
        .unwrap();
    check_properties(
        &format!("{} {norm}", attack.name()),
        model,
        &input,
        &outcome,
    );
    outcome
}

fn broken(outcome: &AttackOutcome, e: usize) -> usize {
    outcome.per_eps[e].success.iter().filter(|&&s| s).count()
}

#[test]
fn fab_keeps_every_budget_for_every_norm() {
    let model = mnist_cnn();
    let (x, labels) = digits(&model, 6);
    let fab = by_name(
        "fab",
        &AttackSettings {
            steps: Some(10),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(fab.name(), "fab");
    let linf = attack(
        fab.as_ref(),
        &model,
        &x,
        &labels,
        Norm::Linf,
        &[0.05, 0.1, 0.3],
        1,
    );
    assert!(
        broken(&linf, 2) * 2 >= labels.len(),
        "FAB L∞ at ε=0.3 broke only {}",
        broken(&linf, 2)
    );
    assert!(linf.gradient_evals > 0);
    let l2 = attack(
        fab.as_ref(),
        &model,
        &x,
        &labels,
        Norm::L2,
        &[0.5, 2.0, 4.0],
        1,
    );
    assert!(
        broken(&l2, 2) * 2 >= labels.len(),
        "FAB L2 at ε=4 broke only {}",
        broken(&l2, 2)
    );
    let l1 = attack(
        fab.as_ref(),
        &model,
        &x,
        &labels,
        Norm::L1,
        &[2.0, 10.0, 30.0],
        1,
    );
    assert!(broken(&l1, 2) >= 1, "FAB L1 at ε=30 broke nothing");
}

#[test]
fn fab_t_breaks_the_cnn_at_linf_03() {
    let model = mnist_cnn();
    let (x, labels) = digits(&model, 8);
    let fab_t = by_name(
        "fab-t",
        &AttackSettings {
            steps: Some(10),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(fab_t.name(), "fab-t");
    let outcome = attack(
        fab_t.as_ref(),
        &model,
        &x,
        &labels,
        Norm::Linf,
        &[0.1, 0.3],
        3,
    );
    let n = labels.len();
    assert!(
        broken(&outcome, 1) * 4 >= n * 3,
        "FAB-T at ε=0.3 broke only {}/{n}",
        broken(&outcome, 1)
    );
    // One backward per sample, step and target class — except that a sample broken within
    // every budget (here ε = 0.1) is not attacked toward further classes.
    let all_targets = (n * 10 * Fab::DEFAULT_TARGET_CLASSES) as u64;
    assert!(outcome.gradient_evals >= (n * 10) as u64 && outcome.gradient_evals <= all_targets);
    if broken(&outcome, 0) > 0 {
        assert!(
            outcome.gradient_evals < all_targets,
            "broken samples kept being attacked"
        );
    }
    // L2 FAB-T with a random restart keeps the budget too.
    let (x, labels) = (&x[..3 * model.features()], &labels[..3]);
    attack(
        &Fab::targeted(5, 2, 3).unwrap(),
        &model,
        x,
        labels,
        Norm::L2,
        &[1.0, 3.0],
        3,
    );
}

#[test]
fn fab_is_reproducible_with_a_seed() {
    let model = mnist_cnn();
    let (x, labels) = digits(&model, 4);
    // Two restarts, so the random start is exercised.
    let fab = Fab::new(5, 2).unwrap();
    let a = attack(&fab, &model, &x, &labels, Norm::L2, &[1.0, 2.0], 11);
    let b = attack(&fab, &model, &x, &labels, Norm::L2, &[1.0, 2.0], 11);
    for (p, q) in a.per_eps.iter().zip(&b.per_eps) {
        assert_eq!(p.adversarial, q.adversarial);
        assert_eq!(p.success, q.success);
    }
    assert_eq!(a.gradient_evals, b.gradient_evals);
}

#[test]
fn fab_l2_norms_are_close_to_deepfools() {
    let model = mnist_cnn();
    let (x, labels) = digits(&model, 8);
    let n = labels.len();
    // A budget no attack needs: every success is then the attack's own minimum.
    let eps = [100.0];
    let fab = attack(
        &Fab::new(20, 1).unwrap(),
        &model,
        &x,
        &labels,
        Norm::L2,
        &eps,
        5,
    );
    let deepfool = by_name(
        "deepfool",
        &AttackSettings {
            steps: Some(50),
            ..Default::default()
        },
    )
    .unwrap();
    let df = attack(deepfool.as_ref(), &model, &x, &labels, Norm::L2, &eps, 5);
    let both: Vec<usize> = (0..n)
        .filter(|&i| fab.per_eps[0].success[i] && df.per_eps[0].success[i])
        .collect();
    assert!(
        both.len() * 4 >= n * 3,
        "FAB and DeepFool both broke only {}/{n}",
        both.len()
    );
    let mean = |o: &AttackOutcome| {
        both.iter()
            .map(|&i| o.per_eps[0].perturbation[i])
            .sum::<f32>()
            / both.len() as f32
    };
    let (fab_mean, df_mean) = (mean(&fab), mean(&df));
    eprintln!(
        "mean L2 over {} digits: FAB {fab_mean:.3}, DeepFool {df_mean:.3}",
        both.len()
    );
    assert!(
        fab_mean <= 1.5 * df_mean,
        "FAB mean L2 {fab_mean} vs DeepFool {df_mean}"
    );
}

#[test]
fn a_targeted_criterion_makes_fab_targeted() {
    let model = mnist_cnn();
    let (x, labels) = digits(&model, 6);
    let targets: Vec<i64> = labels.iter().map(|&l| (l + 1) % 10).collect();
    let criterion = Criterion::Targeted(targets.clone());
    let threat = ThreatModel::new(Norm::L2, &[2.0, 6.0], Bounds::default()).unwrap();
    let input = AttackInput::new(&model, &x, &labels, &criterion, &threat).unwrap();
    let outcome = Fab::new(20, 1)
        .unwrap()
        .run(&input, &mut StdRng::seed_from_u64(2))
        .unwrap();
    check_properties("targeted fab", &model, &input, &outcome);
    let last = outcome.per_eps.last().unwrap();
    let hits = last
        .predictions
        .iter()
        .zip(&targets)
        .filter(|(p, t)| p == t)
        .count();
    assert_eq!(hits, broken(&outcome, 1));
    assert!(
        hits * 2 >= labels.len(),
        "targeted FAB reached the target for only {hits} digits"
    );
    assert_eq!(outcome.gradient_evals, (labels.len() * 20) as u64);
}
