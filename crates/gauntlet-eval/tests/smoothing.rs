//! Randomized smoothing on a linear two-class model, where everything is known exactly: for
//! `f(x) = [w·x + b > 0]`, the smoothed classifier's top-class probability is
//! `Φ(|w·x + b| / (σ‖w‖))`, so its exact certified radius is the distance to the hyperplane,
//! `|w·x + b| / ‖w‖`. CERTIFY's radius must never exceed it and must approach it as `n` grows;
//! PREDICT must abstain on the hyperplane; SmoothAdv must walk straight at it.

use rand::rngs::StdRng;
use rand::SeedableRng;

use gauntlet_attacks::smooth_adv::SmoothAdv;
use gauntlet_core::model::{Classifier, Differentiable};
use gauntlet_core::threat::{Bounds, Norm};
use gauntlet_core::{Tensor, TensorData};
use gauntlet_eval::smoothing::Smoothing;

/// Logits `[−z, z]` with `z = w·x + b`: class 1 where `w·x + b > 0`.
struct Linear {
    w: Vec<f32>,
    b: f32,
    shape: Vec<usize>,
}

impl Linear {
    fn new(w: Vec<f32>, b: f32) -> Self {
        let shape = vec![w.len()];
        Linear { w, b, shape }
    }

    fn scores(&self, x: Tensor<2>) -> Tensor<2> {
        let w = Tensor::from_data(
            TensorData::new(self.w.clone(), [self.w.len(), 1]),
            &x.device(),
        );
        let z = x.matmul(w) + self.b;
        Tensor::cat(vec![z.clone().neg(), z], 1)
    }

    fn margin(&self, x: &[f32]) -> f64 {
        let dot: f64 = self
            .w
            .iter()
            .zip(x)
            .map(|(w, x)| (*w as f64) * (*x as f64))
            .sum();
        dot + self.b as f64
    }

    /// The exact radius of the smoothed classifier: the distance to the hyperplane.
    fn distance(&self, x: &[f32]) -> f64 {
        let norm = self
            .w
            .iter()
            .map(|w| (*w as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        self.margin(x).abs() / norm
    }
}

impl Classifier for Linear {
    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }
    fn num_classes(&self) -> usize {
        2
    }
    fn logits(&self, x: Tensor<2>) -> gauntlet_core::Result<Tensor<2>> {
        Ok(self.scores(x))
    }
}

impl Differentiable for Linear {
    fn logits_tracked(&self, x: Tensor<2>) -> gauntlet_core::Result<Tensor<2>> {
        Ok(self.scores(x))
    }
}

fn model() -> Linear {
    Linear::new(vec![1.0, 1.0, -0.5], -1.0)
}

#[test]
fn certified_radius_is_at_most_the_exact_one_and_close_to_it_for_large_n() {
    let model = model();
    let smoothing = Smoothing::new(0.25, 10_000).unwrap();
    let points: [[f32; 3]; 4] = [
        [0.8, 0.6, 0.2],
        [0.9, 0.7, 0.0],
        [0.2, 0.3, 0.4],
        [0.6, 0.5, 0.1],
    ];
    for (k, x) in points.iter().enumerate() {
        let exact = model.distance(x);
        let class = i64::from(model.margin(x) > 0.0);
        // Small n: a valid but loose bound.
        let mut rng = StdRng::seed_from_u64(k as u64);
        let small = smoothing
            .certify(&model, x, 100, 1_000, 0.001, &mut rng)
            .unwrap();
        // Large n: tight.
        let large = smoothing
            .certify(&model, x, 100, 100_000, 0.001, &mut rng)
            .unwrap();
        // Close to the hyperplane (point 3: pA ≈ 0.55) few draws may abstain; many must not.
        assert_eq!(large.prediction, Some(class), "point {k}: certified class");
        for (c, n) in [(small, 1_000), (large, 100_000)] {
            assert!(
                c.prediction.is_none_or(|p| p == class),
                "point {k}, n = {n}: wrong class certified"
            );
            assert!(
                c.radius <= exact,
                "point {k}, n = {n}: certified radius {} exceeds the exact radius {exact}",
                c.radius
            );
        }
        assert!(
            large.radius > exact - 0.02,
            "point {k}: with n = 100000 the radius {} should be within 0.02 of {exact}",
            large.radius
        );
        assert!(large.radius >= small.radius, "more draws, tighter bound");
    }
}

#[test]
fn certify_abstains_and_predict_abstains_on_the_hyperplane() {
    let model = model();
    let smoothing = Smoothing::new(0.5, 4096).unwrap();
    let on_plane = [0.5f32, 0.5, 0.0];
    assert!(model.margin(&on_plane).abs() < 1e-9);
    let mut rng = StdRng::seed_from_u64(7);
    let c = smoothing
        .certify(&model, &on_plane, 100, 10_000, 0.001, &mut rng)
        .unwrap();
    assert_eq!(
        c.prediction, None,
        "pA ≈ ½: abstain (pA_lower = {})",
        c.pa_lower
    );
    assert_eq!(c.radius, 0.0);
    let p = smoothing
        .predict(&model, &on_plane, 10_000, 0.001, &mut rng)
        .unwrap();
    assert_eq!(
        p, None,
        "PREDICT must abstain between two equally likely classes"
    );
    let far = [2.0f32, 2.0, 0.0];
    let p = smoothing
        .predict(&model, &far, 1_000, 0.001, &mut rng)
        .unwrap();
    assert_eq!(p, Some(1));
}

#[test]
fn the_same_seed_gives_the_same_certificate_whatever_the_batch_size() {
    let model = model();
    let x = [0.8f32, 0.6, 0.2];
    let run = |batch: usize| {
        let smoothing = Smoothing::new(0.25, batch).unwrap();
        smoothing
            .certify(&model, &x, 100, 5_000, 0.001, &mut StdRng::seed_from_u64(3))
            .unwrap()
    };
    assert_eq!(run(64), run(5_000));
}

#[test]
fn bad_settings_are_refused() {
    assert!(Smoothing::new(0.0, 10).is_err());
    assert!(Smoothing::new(-1.0, 10).is_err());
    assert!(Smoothing::new(f32::NAN, 10).is_err());
    let smoothing = Smoothing::new(0.25, 10).unwrap();
    let mut rng = StdRng::seed_from_u64(0);
    let x = [0.5f32, 0.5, 0.5];
    assert!(smoothing
        .certify(&model(), &x, 0, 100, 0.001, &mut rng)
        .is_err());
    assert!(smoothing
        .certify(&model(), &x, 10, 0, 0.001, &mut rng)
        .is_err());
    for alpha in [0.0, 1.0, -0.1, f64::NAN] {
        assert!(smoothing
            .certify(&model(), &x, 10, 10, alpha, &mut rng)
            .is_err());
    }
}

#[test]
fn smooth_adv_walks_straight_at_the_hyperplane_within_its_budget() {
    // For a linear model every noisy copy's gradient is a positive multiple of ∓w, so the
    // best L2 attack of budget r is x − r·ŵ (toward the other class); PGD must end there.
    let model = model();
    let x = [0.8f32, 0.6, 0.2];
    let radii = [0.0f32, 0.05, 0.1];
    let attack = SmoothAdv::new(0.25, 10, 4, None).unwrap();
    let points = attack
        .run(
            &model,
            &x,
            &[1],
            &radii,
            Bounds::default(),
            &mut StdRng::seed_from_u64(1),
        )
        .unwrap();
    let norm = model.w.iter().map(|w| w * w).sum::<f32>().sqrt();
    assert_eq!(points[0], x.to_vec(), "radius 0: the input itself");
    for (e, &r) in radii.iter().enumerate().skip(1) {
        let d = Norm::L2.distance(&x, &points[e]);
        assert!(d <= r, "radius {r}: the point lies {d} away");
        for j in 0..3 {
            let want = x[j] - r * model.w[j] / norm;
            assert!(
                (points[e][j] - want).abs() < 1e-3,
                "radius {r}, feature {j}: {} but the optimum is {want}",
                points[e][j]
            );
        }
        assert!(
            model.margin(&points[e]) < model.margin(&x),
            "the margin must shrink"
        );
    }
}
