//! Properties every attack must keep, checked on real models and real MNIST digits:
//! - every returned input lies inside its ε-ball and the valid box;
//! - reported success equals the model's own prediction on the returned input;
//! - success never falls as ε grows;
//! - a strong attack at a large budget breaks an undefended CNN.

use rand::rngs::StdRng;
use rand::SeedableRng;

use gauntlet_attacks::{by_name, AttackInput, AttackOutcome, AttackSettings};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::data::parse_inputs;
use gauntlet_core::device::compute_device;
use gauntlet_core::model::{predict, Classifier};
use gauntlet_core::tensor::from_rows;
use gauntlet_core::threat::{Bounds, Norm, ThreatModel};
use gauntlet_onnx::OnnxModel;

mod common;
use common::{digits, mnist_cnn, root};

fn check_properties(name: &str, model: &OnnxModel, input: &AttackInput, outcome: &AttackOutcome) {
    let f = model.features();
    let n = input.len();
    let threat = input.threat();
    let mut previous_successes = 0;
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
        let norms = threat.norm().measure_rows(&delta, f);
        for (i, &d) in norms.iter().enumerate() {
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
        let truth = input.criterion().success(input.labels(), &preds);
        assert_eq!(
            truth, o.success,
            "{name}: reported success differs from the model at ε={}",
            o.eps
        );
        let successes = o.success.iter().filter(|&&s| s).count();
        assert!(
            successes >= previous_successes,
            "{name}: success fell as ε grew"
        );
        previous_successes = successes;
    }
}

fn run(
    attack: &str,
    model: &OnnxModel,
    norm: Norm,
    eps: &[f32],
    steps: usize,
    n: usize,
) -> (AttackOutcome, usize) {
    let (x, labels) = digits(model, n);
    let threat = ThreatModel::new(norm, eps, Bounds::default()).unwrap();
    let criterion = Criterion::Untargeted;
    let input = AttackInput::new(model, &x, &labels, &criterion, &threat).unwrap();
    let settings = AttackSettings {
        steps: Some(steps),
        ..Default::default()
    };
    let attack = by_name(attack, &settings).unwrap();
    attack.check(&threat).unwrap();
    let outcome = attack.run(&input, &mut StdRng::seed_from_u64(7)).unwrap();
    check_properties(
        &format!("{} {norm}", attack.name()),
        model,
        &input,
        &outcome,
    );
    (outcome, labels.len())
}

#[test]
fn fgsm_and_pgd_linf_keep_the_budget_and_break_the_cnn() {
    let model = mnist_cnn();
    run("fgsm", &model, Norm::Linf, &[0.05, 0.1, 0.3], 1, 16);
    let (pgd, n) = run("pgd", &model, Norm::Linf, &[0.05, 0.1, 0.3], 20, 16);
    let broken = pgd.per_eps[2].success.iter().filter(|&&s| s).count();
    assert!(
        broken * 10 >= n * 9,
        "PGD at ε=0.3 broke only {broken}/{n} digits of an undefended CNN"
    );
}

#[test]
fn pgd_l2_and_l1_keep_the_budget() {
    let model = mnist_cnn();
    let (l2, n) = run("pgd", &model, Norm::L2, &[0.5, 2.0, 4.0], 20, 8);
    assert!(
        l2.per_eps[2].success.iter().filter(|&&s| s).count() * 2 >= n,
        "L2 PGD at ε=4 too weak"
    );
    run("pgd", &model, Norm::L1, &[2.0, 10.0], 20, 8);
    run("fgsm", &model, Norm::L2, &[1.0, 3.0], 1, 8);
}

#[test]
fn minimum_norm_attacks_keep_the_budget() {
    let model = mnist_cnn();
    let (cw, n) = run("cw", &model, Norm::L2, &[1.0, 3.0], 30, 6);
    assert!(
        cw.per_eps[1].success.iter().filter(|&&s| s).count() * 2 >= n,
        "C&W at ε=3 too weak"
    );
    let (df, n) = run("deepfool", &model, Norm::L2, &[1.0, 4.0], 30, 6);
    assert!(
        df.per_eps[1].success.iter().any(|&s| s),
        "DeepFool broke nothing of {n} at ε=4"
    );
    run("deepfool", &model, Norm::Linf, &[0.1, 0.3], 30, 6);
}

#[test]
fn pgd_is_reproducible_with_a_seed() {
    let model = mnist_cnn();
    let (a, _) = run("pgd", &model, Norm::Linf, &[0.1], 10, 8);
    let (b, _) = run("pgd", &model, Norm::Linf, &[0.1], 10, 8);
    assert_eq!(a.per_eps[0].adversarial, b.per_eps[0].adversarial);
}

#[test]
fn targeted_pgd_reaches_the_target() {
    let model = mnist_cnn();
    let (x, labels) = digits(&model, 8);
    let targets: Vec<i64> = labels.iter().map(|&l| (l + 1) % 10).collect();
    let criterion = Criterion::Targeted(targets.clone());
    let threat = ThreatModel::new(Norm::Linf, &[0.3], Bounds::default()).unwrap();
    let input = AttackInput::new(&model, &x, &labels, &criterion, &threat).unwrap();
    let attack = by_name(
        "pgd",
        &AttackSettings {
            steps: Some(40),
            ..Default::default()
        },
    )
    .unwrap();
    let outcome = attack.run(&input, &mut StdRng::seed_from_u64(1)).unwrap();
    check_properties("targeted pgd", &model, &input, &outcome);
    let hits = outcome.per_eps[0]
        .predictions
        .iter()
        .zip(&targets)
        .filter(|(p, t)| p == t)
        .count();
    assert_eq!(
        hits,
        outcome.per_eps[0].success.iter().filter(|&&s| s).count()
    );
    assert!(
        hits * 2 >= labels.len(),
        "targeted PGD reached the target for only {hits} digits"
    );
}

#[test]
fn other_architectures_work_too() {
    // A different architecture (LeNet with Shape/Gather/Reshape) on random inputs.
    let model = OnnxModel::load(&root().join("fixtures/onnx/lenet.onnx")).unwrap();
    let path = root().join("fixtures/onnx/lenet.input.npy");
    let (x, _) = parse_inputs(&std::fs::read(&path).unwrap(), &path).unwrap();
    let labels = predict(
        &model,
        from_rows(x.clone(), 3, model.features(), &compute_device()),
    )
    .unwrap();
    let threat = ThreatModel::new(Norm::Linf, &[0.01, 0.1], Bounds::default()).unwrap();
    let criterion = Criterion::Untargeted;
    let input = AttackInput::new(&model, &x, &labels, &criterion, &threat).unwrap();
    let attack = by_name(
        "pgd",
        &AttackSettings {
            steps: Some(10),
            restarts: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let outcome = attack.run(&input, &mut StdRng::seed_from_u64(3)).unwrap();
    check_properties("pgd lenet", &model, &input, &outcome);
}

#[test]
fn unsupported_norms_are_rejected_before_work() {
    let threat = ThreatModel::new(Norm::Linf, &[0.1], Bounds::default()).unwrap();
    let cw = by_name("cw", &AttackSettings::default()).unwrap();
    assert!(cw.check(&threat).unwrap_err().to_string().contains("l2"));
    assert!(by_name("nope", &AttackSettings::default()).is_err());
}

#[test]
fn apgd_variants_keep_the_budget_and_break_the_cnn() {
    let model = mnist_cnn();
    let (ce, n) = run("apgd-ce", &model, Norm::Linf, &[0.05, 0.1, 0.3], 20, 12);
    let broken = ce.per_eps[2].success.iter().filter(|&&s| s).count();
    assert!(
        broken * 10 >= n * 9,
        "APGD-CE at ε=0.3 broke only {broken}/{n}"
    );
    run("apgd-dlr", &model, Norm::L2, &[1.0, 3.0], 20, 8);
    let (t, n) = run("apgd-t", &model, Norm::Linf, &[0.1, 0.3], 10, 6);
    assert!(
        t.per_eps[1].success.iter().filter(|&&s| s).count() * 2 >= n,
        "APGD-T at ε=0.3 too weak"
    );
}
