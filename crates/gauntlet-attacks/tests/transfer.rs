//! Transfer attacks: crafted on a surrogate, judged on the target, one query per sample and
//! budget.

mod common;

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::SeedableRng;

use common::{digits, mnist_cnn, root};
use gauntlet_attacks::pgd::Pgd;
use gauntlet_attacks::transfer::Transfer;
use gauntlet_attacks::{Access, Attack, AttackInput};
use gauntlet_core::criterion::Criterion;
use gauntlet_core::model::{Differentiable, QueryOnly};
use gauntlet_core::threat::{Bounds, Norm, ThreatModel};
use gauntlet_onnx::OnnxModel;

fn run(
    attack: &dyn Attack,
    model: &dyn Differentiable,
    x: &[f32],
    labels: &[i64],
    eps: &[f32],
) -> gauntlet_attacks::AttackOutcome {
    let threat = ThreatModel::new(Norm::Linf, eps, Bounds::default()).unwrap();
    let criterion = Criterion::Untargeted;
    let input = AttackInput::new(model, x, labels, &criterion, &threat).unwrap();
    attack.run(&input, &mut StdRng::seed_from_u64(11)).unwrap()
}

#[test]
fn with_the_target_as_surrogate_transfer_equals_the_white_box_attack() {
    let model = mnist_cnn();
    let (x, labels) = digits(&model, 12);
    let eps = [0.1, 0.3];
    let direct = run(
        &Pgd::new(10, 1, None, true).unwrap(),
        &model,
        &x,
        &labels,
        &eps,
    );
    let transfer = Transfer::new(
        Arc::new(mnist_cnn()),
        Box::new(Pgd::new(10, 1, None, true).unwrap()),
    )
    .unwrap();
    assert_eq!(transfer.name(), "transfer-pgd");
    assert_eq!(transfer.access(), Access::Decisions);
    // The target is reached through queries only.
    let target = QueryOnly::new(mnist_cnn());
    let crafted = run(&transfer, &target, &x, &labels, &eps);
    for (d, t) in direct.per_eps.iter().zip(&crafted.per_eps) {
        assert_eq!(d.success, t.success);
        assert_eq!(d.adversarial, t.adversarial);
        assert_eq!(t.queries, vec![1; labels.len()]);
    }
    assert_eq!(crafted.queries, (labels.len() * eps.len()) as u64);
    assert_eq!(crafted.gradient_evals, direct.gradient_evals);
}

#[test]
fn success_is_judged_on_the_target_not_the_surrogate() {
    let target = mnist_cnn();
    let surrogate = OnnxModel::load(&root().join("models/mnist_cnn_adv.onnx")).unwrap();
    let (x, labels) = digits(&target, 24);
    let eps = [0.3];
    let on_surrogate = run(
        &Pgd::new(20, 1, None, true).unwrap(),
        &surrogate,
        &x,
        &labels,
        &eps,
    );
    let transfer = Transfer::new(
        Arc::new(surrogate),
        Box::new(Pgd::new(20, 1, None, true).unwrap()),
    )
    .unwrap();
    let outcome = run(&transfer, &target, &x, &labels, &eps);
    let on_target = gauntlet_core::model::predict(
        &target,
        gauntlet_core::tensor::from_rows(
            outcome.per_eps[0].adversarial.clone(),
            labels.len(),
            784,
            &gauntlet_core::device::compute_device(),
        ),
    )
    .unwrap();
    for i in 0..labels.len() {
        assert_eq!(outcome.per_eps[0].success[i], on_target[i] != labels[i]);
    }
    let transferred = outcome.per_eps[0].success.iter().filter(|&&s| s).count();
    let crafted = on_surrogate.per_eps[0]
        .success
        .iter()
        .filter(|&&s| s)
        .count();
    assert!(
        transferred > 0,
        "nothing transferred from the robust surrogate at ε = 0.3"
    );
    assert!(transferred <= labels.len() && crafted > 0);
}

#[test]
fn a_surrogate_of_another_shape_is_refused() {
    struct Tiny;
    impl gauntlet_core::model::Classifier for Tiny {
        fn sample_shape(&self) -> &[usize] {
            &[4]
        }
        fn num_classes(&self) -> usize {
            10
        }
        fn logits(
            &self,
            x: gauntlet_core::Tensor<2>,
        ) -> gauntlet_core::Result<gauntlet_core::Tensor<2>> {
            Ok(x)
        }
    }
    impl Differentiable for Tiny {
        fn logits_tracked(
            &self,
            x: gauntlet_core::Tensor<2>,
        ) -> gauntlet_core::Result<gauntlet_core::Tensor<2>> {
            Ok(x)
        }
    }
    let transfer = Transfer::new(
        Arc::new(Tiny),
        Box::new(Pgd::new(5, 1, None, true).unwrap()),
    )
    .unwrap();
    let err = transfer.check_target(&mnist_cnn()).unwrap_err().to_string();
    assert!(err.contains("surrogate"), "{err}");
}
