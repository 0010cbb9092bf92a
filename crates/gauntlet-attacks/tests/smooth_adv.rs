//! SmoothAdv on the demo MNIST CNN: every point lies within its L2 budget and the [0, 1] box,
//! radius 0 returns the input, the same seed gives the same points, and the attack lowers the
//! smoothed classifier's soft score of the true class (estimated with fresh noise).

use rand::rngs::StdRng;
use rand::SeedableRng;

use burn::tensor::activation::softmax;
use gauntlet_attacks::smooth_adv::SmoothAdv;
use gauntlet_core::device::compute_device;
use gauntlet_core::model::Classifier;
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_core::threat::{Bounds, Norm};
use rand::Rng;
use rand_distr::StandardNormal;

mod common;
use common::{digits, mnist_cnn};

/// Mean softmax of the true class over `draws` noisy copies of each row.
fn soft_score(model: &dyn Classifier, x: &[f32], labels: &[i64], sigma: f32, draws: usize) -> f32 {
    let f = model.features();
    let mut rng = StdRng::seed_from_u64(99);
    let mut total = 0.0;
    for (row, &y) in x.chunks(f).zip(labels) {
        let noisy: Vec<f32> = (0..draws)
            .flat_map(|_| {
                row.iter()
                    .map(|&v| v + sigma * rng.sample::<f32, _>(StandardNormal))
                    .collect::<Vec<_>>()
            })
            .collect();
        let logits = model
            .logits(from_rows(noisy, draws, f, &compute_device()))
            .unwrap();
        let p = to_vec(softmax(logits, 1));
        total += (0..draws).map(|d| p[d * 10 + y as usize]).sum::<f32>() / draws as f32;
    }
    total / labels.len() as f32
}

#[test]
fn smooth_adv_stays_in_budget_and_box_and_lowers_the_smoothed_score() {
    let model = mnist_cnn();
    let (x, y) = digits(&model, 3);
    let f = model.features();
    let radii = [0.0f32, 0.5, 1.0, 2.0];
    let sigma = 0.25;
    let attack = SmoothAdv::new(sigma, 8, 4, None).unwrap();
    let run = || {
        attack
            .run(
                &model,
                &x,
                &y,
                &radii,
                Bounds::default(),
                &mut StdRng::seed_from_u64(5),
            )
            .unwrap()
    };
    let points = run();
    assert_eq!(points.len(), radii.len());
    assert_eq!(points[0], x, "radius 0 returns the input");
    for (e, &r) in radii.iter().enumerate() {
        assert_eq!(points[e].len(), x.len());
        assert!(
            points[e].iter().all(|v| (0.0..=1.0).contains(v)),
            "outside the box"
        );
        for (i, d) in Norm::L2
            .measure_rows(
                &points[e]
                    .iter()
                    .zip(&x)
                    .map(|(a, b)| a - b)
                    .collect::<Vec<_>>(),
                f,
            )
            .iter()
            .enumerate()
        {
            assert!(
                *d <= r,
                "radius {r}, sample {i}: ‖δ‖ = {d} exceeds the budget"
            );
        }
    }
    let again = run();
    assert_eq!(points, again, "same seed, same points");
    let clean = soft_score(&model, &x, &y, sigma, 64);
    let attacked = soft_score(&model, &points[3], &y, sigma, 64);
    assert!(
        attacked < clean - 0.1,
        "the attack at radius 2 should lower the smoothed score of the true class: {clean} → {attacked}"
    );
}

#[test]
fn smooth_adv_refuses_bad_settings() {
    assert!(SmoothAdv::new(0.0, 10, 4, None).is_err());
    assert!(SmoothAdv::new(0.25, 0, 4, None).is_err());
    assert!(SmoothAdv::new(0.25, 10, 0, None).is_err());
    assert!(SmoothAdv::new(0.25, 10, 4, Some(-1.0)).is_err());
}
