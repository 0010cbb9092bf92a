//! Square Attack (score-based, black-box) on the MNIST CNN and real demo digits:
//! - every returned input lies inside its ε-ball (L∞ and L2) and the [0, 1] box;
//! - reported success equals the model's own prediction on the returned input;
//! - success never falls as ε grows;
//! - queries are counted per (sample, ε) row and never exceed the budget;
//! - the same seed gives the same result;
//! - at L∞ ε = 0.3 a 1000-query budget breaks most digits of the undefended CNN.

use burn::tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

use gauntlet_attacks::square::Square;
use gauntlet_attacks::{by_name, Attack, AttackInput, AttackOutcome, AttackSettings};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::device::compute_device;
use gauntlet_core::model::{predict, Classifier, Differentiable};
use gauntlet_core::tensor::from_rows;
use gauntlet_core::threat::{Bounds, Norm, ThreatModel};
use gauntlet_onnx::OnnxModel;

mod common;
use common::{digits, mnist_cnn};

fn check_properties(
    name: &str,
    model: &dyn Classifier,
    input: &AttackInput,
    outcome: &AttackOutcome,
) {
    let f = model.features();
    let n = input.len();
    let threat = input.threat();
    let mut previous_successes = 0;
    assert_eq!(
        outcome.per_eps.len(),
        threat.epsilons().len(),
        "{name}: one outcome per ε"
    );
    assert_eq!(
        outcome.gradient_evals, 0,
        "{name}: a black-box attack uses no gradients"
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
        assert_eq!(
            preds, o.predictions,
            "{name}: reported predictions differ from the model at ε={}",
            o.eps
        );
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

/// Runs the attack and checks the properties and the query accounting.
#[allow(clippy::too_many_arguments)]
fn attack(
    model: &dyn Differentiable,
    x: &[f32],
    labels: &[i64],
    criterion: &Criterion,
    norm: Norm,
    eps: &[f32],
    queries: usize,
    seed: u64,
) -> (AttackOutcome, Vec<u64>) {
    let threat = ThreatModel::new(norm, eps, Bounds::default()).unwrap();
    let input = AttackInput::new(model, x, labels, criterion, &threat).unwrap();
    let square = Square::new(queries as u64);
    let outcome = square
        .run(&input, &mut StdRng::seed_from_u64(seed))
        .unwrap();
    // A fixed-budget attack reports the queries of every (sample i, budget e) row: row e·n + i.
    let used: Vec<u64> = outcome
        .per_eps
        .iter()
        .flat_map(|o| o.queries.clone())
        .collect();
    let name = format!("square {norm} {queries}q");
    check_properties(&name, model, &input, &outcome);
    let n = labels.len();
    assert_eq!(used.len(), threat.epsilons().len() * n);
    assert!(
        used.iter().all(|&q| q as usize <= queries),
        "{name}: a row exceeded the budget"
    );
    assert_eq!(
        outcome.queries,
        used.iter().sum::<u64>(),
        "{name}: total differs from the rows"
    );
    assert!(outcome.queries as usize <= queries * n * threat.epsilons().len());
    for (e, o) in outcome.per_eps.iter().enumerate() {
        if o.eps == 0.0 {
            assert!(
                used[e * n..(e + 1) * n].iter().all(|&q| q == 0),
                "{name}: ε = 0 must cost nothing"
            );
        }
        // Early exit: a row that stopped before the budget did so because it succeeded.
        for i in 0..n {
            let q = used[e * n + i] as usize;
            if q > 0 && q < queries {
                assert!(
                    o.success[i],
                    "{name}: sample {i} stopped at {q} queries without success"
                );
            }
        }
    }
    (outcome, used)
}

fn broken(outcome: &AttackOutcome, e: usize) -> usize {
    outcome.per_eps[e].success.iter().filter(|&&s| s).count()
}

#[test]
fn linf_keeps_the_budget_and_breaks_most_digits_in_1000_queries() {
    let model = mnist_cnn();
    let (x, labels) = digits(&model, 16);
    let (outcome, used) = attack(
        &model,
        &x,
        &labels,
        &Criterion::Untargeted,
        Norm::Linf,
        &[0.0, 0.1, 0.3],
        1000,
        7,
    );
    assert_eq!(
        broken(&outcome, 0),
        0,
        "ε = 0 cannot break a correctly classified digit"
    );
    let n = labels.len();
    let at_03 = broken(&outcome, 2);
    // Measured: 16/16 with seed 7. Threshold kept conservative.
    assert!(
        at_03 * 4 >= n * 3,
        "Square L∞ ε=0.3 broke only {at_03}/{n} digits in 1000 queries"
    );
    // Successful rows stop early: far fewer queries than the budget on average.
    let spent: u64 = used[2 * n..].iter().sum();
    assert!(spent < (1000 * n) as u64, "no early exit at ε = 0.3");
}

#[test]
fn l2_keeps_the_budget() {
    let model = mnist_cnn();
    let (x, labels) = digits(&model, 8);
    let (outcome, _) = attack(
        &model,
        &x,
        &labels,
        &Criterion::Untargeted,
        Norm::L2,
        &[0.5, 3.0],
        300,
        11,
    );
    assert!(
        broken(&outcome, 1) >= 1,
        "Square L2 ε=3 broke nothing in 300 queries"
    );
}

#[test]
fn same_seed_same_result() {
    let model = mnist_cnn();
    let (x, labels) = digits(&model, 6);
    for norm in [Norm::Linf, Norm::L2] {
        let eps = if norm == Norm::Linf { 0.15 } else { 1.5 };
        let (a, qa) = attack(
            &model,
            &x,
            &labels,
            &Criterion::Untargeted,
            norm,
            &[eps],
            150,
            5,
        );
        let (b, qb) = attack(
            &model,
            &x,
            &labels,
            &Criterion::Untargeted,
            norm,
            &[eps],
            150,
            5,
        );
        assert_eq!(
            a.per_eps[0].adversarial, b.per_eps[0].adversarial,
            "{norm}: same seed, other result"
        );
        assert_eq!(qa, qb);
        let (c, _) = attack(
            &model,
            &x,
            &labels,
            &Criterion::Untargeted,
            norm,
            &[eps],
            150,
            6,
        );
        assert_ne!(
            a.per_eps[0].adversarial, c.per_eps[0].adversarial,
            "{norm}: seed has no effect"
        );
    }
}

#[test]
fn targeted_reaches_the_target() {
    let model = mnist_cnn();
    let (x, labels) = digits(&model, 6);
    let targets: Vec<i64> = labels.iter().map(|&l| (l + 1) % 10).collect();
    let criterion = Criterion::Targeted(targets.clone());
    let (outcome, _) = attack(&model, &x, &labels, &criterion, Norm::Linf, &[0.3], 600, 3);
    let hits = outcome.per_eps[0]
        .predictions
        .iter()
        .zip(&targets)
        .filter(|(p, t)| p == t)
        .count();
    assert_eq!(hits, broken(&outcome, 0));
    assert!(
        hits * 2 >= labels.len(),
        "targeted Square reached the target for only {hits} digits"
    );
}

/// The MNIST CNN seen as a flat 784-feature model: exercises the 1-D window layout.
struct Flat(OnnxModel, [usize; 1]);

impl Classifier for Flat {
    fn sample_shape(&self) -> &[usize] {
        &self.1
    }
    fn num_classes(&self) -> usize {
        self.0.num_classes()
    }
    fn logits(&self, x: Tensor<2>) -> gauntlet_core::Result<Tensor<2>> {
        self.0.logits(x)
    }
}

impl Differentiable for Flat {
    fn logits_tracked(&self, x: Tensor<2>) -> gauntlet_core::Result<Tensor<2>> {
        self.0.logits_tracked(x)
    }
}

#[test]
fn flat_inputs_use_a_one_dimensional_layout() {
    let model = Flat(mnist_cnn(), [784]);
    let (x, labels) = digits(&model, 6);
    let c = Criterion::Untargeted;
    attack(&model, &x, &labels, &c, Norm::Linf, &[0.1, 0.3], 200, 2);
    attack(&model, &x, &labels, &c, Norm::L2, &[1.0, 3.0], 200, 2);
}

#[test]
fn registered_by_name_and_rejects_l1() {
    let settings = AttackSettings {
        queries: Some(50),
        ..Default::default()
    };
    let square = by_name("square", &settings).unwrap();
    assert_eq!(square.name(), "square");
    assert_eq!(square.describe()["queries"], 50);
    assert!(gauntlet_attacks::ATTACK_NAMES.contains(&"square"));
    let l1 = ThreatModel::new(Norm::L1, &[1.0], Bounds::default()).unwrap();
    assert!(square.check(&l1).is_err());
    // A zero budget returns the clean inputs without a query.
    let model = mnist_cnn();
    let (x, labels) = digits(&model, 2);
    let (outcome, used) = attack(
        &model,
        &x,
        &labels,
        &Criterion::Untargeted,
        Norm::Linf,
        &[0.3],
        0,
        1,
    );
    assert!(used.iter().all(|&q| q == 0));
    assert_eq!(outcome.per_eps[0].adversarial, x);
}

/// The reported measurement: first 100 correctly classified demo digits, L∞ ε = 0.3,
/// 5000 queries. Run with `cargo test --release -p gauntlet-attacks --test square -- --ignored
/// --nocapture`.
#[test]
#[ignore]
fn measure_linf_03_on_100_digits() {
    let model = mnist_cnn();
    let (x, labels) = digits(&model, 100);
    let start = std::time::Instant::now();
    let (outcome, used) = attack(
        &model,
        &x,
        &labels,
        &Criterion::Untargeted,
        Norm::Linf,
        &[0.3],
        5000,
        0,
    );
    let seconds = start.elapsed().as_secs_f64();
    let o = &outcome.per_eps[0];
    let mut q: Vec<u64> = (0..labels.len())
        .filter(|&i| o.success[i])
        .map(|i| used[i])
        .collect();
    q.sort_unstable();
    let median = if q.is_empty() {
        f64::NAN
    } else if q.len() % 2 == 1 {
        q[q.len() / 2] as f64
    } else {
        (q[q.len() / 2 - 1] + q[q.len() / 2]) as f64 / 2.0
    };
    let mean = q.iter().sum::<u64>() as f64 / q.len().max(1) as f64;
    println!(
        "square linf eps=0.3 5000q: success {}/{} ({:.1}%), queries of successes: median {median}, mean {mean:.1}, \
         total queries {}, wall {seconds:.2}s",
        q.len(),
        labels.len(),
        100.0 * q.len() as f64 / labels.len() as f64,
        outcome.queries
    );
}
