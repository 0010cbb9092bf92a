//! The structure (`leaf_of`, `raw_scores`, `split_thresholds`) agrees with `predict`, which
//! agrees with onnxruntime (tests/onnxruntime_agreement.rs).

mod common;

use gauntlet_trees::{Aggregate, EnsembleKind, Node, PostTransform, TreeModel};

fn model(name: &str) -> (TreeModel, common::Fixture) {
    let f = common::load(name);
    (TreeModel::from_bytes(&f.model).unwrap(), f)
}

/// Per output, the leaf weights `leaf_of` reaches, summed in float32 in tree order, plus the
/// per-output base values: what `raw_scores` must return for a SUM ensemble.
fn sum_of_leaves(m: &TreeModel, row: &[f32]) -> Vec<f32> {
    let e = m.ensemble();
    let mut sums = vec![0f32; e.n_outputs];
    for (t, tree) in e.trees.iter().enumerate() {
        let Node::Leaf { weights } = &tree.nodes[e.leaf_of(t, row)] else {
            panic!("leaf_of returned a branch");
        };
        let weights: &[(usize, f64)] = if e.n_outputs == 1 {
            &weights[..1]
        } else {
            weights
        };
        for &(k, w) in weights {
            sums[k] += w as f32;
        }
    }
    let classifier = matches!(e.kind, EnsembleKind::Classifier { .. });
    if classifier || e.base_values.len() == e.n_outputs || e.n_outputs == 1 {
        for (s, &b) in sums.iter_mut().zip(&e.base_values) {
            *s += b as f32;
        }
    }
    sums
}

#[test]
fn raw_scores_are_the_leaves_that_leaf_of_reaches() {
    let mut checked = 0;
    for name in common::fixture_names() {
        let (m, f) = model(&name);
        let e = m.ensemble();
        if e.aggregate != Aggregate::Sum || name.contains("values_as_double") {
            continue;
        }
        for row in f.x.chunks(m.n_features()) {
            let raw = m.ensemble().raw_scores(row);
            let expected = sum_of_leaves(&m, row);
            // Outputs no leaf wrote read 0 in raw_scores; the sum gives the base value there.
            for (k, (&r, &s)) in raw.iter().zip(&expected).enumerate() {
                assert!(r == s || r == 0.0, "{name} output {k}: raw {r}, leaves {s}");
            }
            checked += 1;
        }
    }
    assert!(checked > 10_000, "only {checked} rows checked");
}

#[test]
fn predict_is_the_post_transform_of_raw_scores() {
    // Multiclass, no post-processing: NONE returns the raw scores, SOFTMAX their softmax.
    for (name, post) in [
        ("multiclass_none", PostTransform::None),
        ("multiclass_softmax", PostTransform::Softmax),
    ] {
        let (m, f) = model(name);
        assert_eq!(m.ensemble().post_transform, post);
        let predicted = m.predict(&f.x).unwrap();
        for (row, p) in
            f.x.chunks(m.n_features())
                .zip(predicted.chunks(m.n_outputs()))
        {
            let mut raw = m.ensemble().raw_scores(row);
            post.apply(&mut raw);
            assert_eq!(raw, p, "{name}");
        }
    }
    // Boosting's binary case (skl2onnx GradientBoostingClassifier): p(class 1) = σ(raw[0]).
    let (m, f) = model("sk_gradient_boosting_cancer");
    assert!(matches!(
        m.ensemble().kind,
        EnsembleKind::Classifier {
            binary_case: true,
            ..
        }
    ));
    let predicted = m.predict(&f.x).unwrap();
    for (row, p) in f.x.chunks(m.n_features()).zip(predicted.chunks(2)) {
        let raw = m.ensemble().raw_scores(row);
        assert_eq!(p[1], gauntlet_trees::transform::logistic(raw[0]));
    }
}

#[test]
fn leaves_change_only_across_split_thresholds() {
    for name in [
        "sk_random_forest_cancer",
        "xgboost_iris",
        "lightgbm_cancer",
        "mode_mixed",
    ] {
        let (m, f) = model(name);
        let thresholds = m.split_thresholds();
        assert_eq!(thresholds.len(), m.n_features());
        for list in &thresholds {
            assert!(
                list.windows(2).all(|w| w[0] < w[1]),
                "{name}: not sorted and unique"
            );
        }
        // Every split's threshold is listed for its feature.
        for tree in &m.ensemble().trees {
            for node in &tree.nodes {
                if let Node::Branch {
                    feature, threshold, ..
                } = node
                {
                    assert!(
                        thresholds[*feature].contains(&(*threshold as f32)),
                        "{name}"
                    );
                }
            }
        }
        // Two values strictly inside the same gap between thresholds reach the same leaves.
        let n_trees = m.ensemble().trees.len();
        for row in f.x.chunks(m.n_features()).take(20) {
            for (j, list) in thresholds.iter().enumerate() {
                for gap in list.windows(2) {
                    let (lo, hi) = (gap[0], gap[1]);
                    let a = lo + (hi - lo) * 0.25;
                    let b = lo + (hi - lo) * 0.75;
                    if !(a > lo && b < hi) {
                        continue;
                    }
                    let (mut ra, mut rb) = (row.to_vec(), row.to_vec());
                    ra[j] = a;
                    rb[j] = b;
                    for t in 0..n_trees {
                        assert_eq!(
                            m.ensemble().leaf_of(t, &ra),
                            m.ensemble().leaf_of(t, &rb),
                            "{name}: feature {j} between {lo} and {hi}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn labels_and_sizes_are_read_from_the_file() {
    let (m, _) = model("multiclass_strings_zipmap");
    assert!(m.is_classifier());
    assert_eq!(m.class_labels(), ["cat", "dog", "eel"]);
    assert_eq!((m.n_features(), m.n_outputs()), (4, 3));
    let (m, _) = model("multiclass_none");
    assert_eq!(m.class_labels(), ["3", "7", "9"]);
    let (m, _) = model("regressor_3t_sum");
    assert!(!m.is_classifier());
    assert_eq!(m.n_outputs(), 3);
    assert!(m.class_labels().is_empty());
    assert!(m.predict_labels(&[0.0; 4]).is_err());
}

#[test]
fn big_batches_run_in_parallel_with_the_same_result() {
    let (m, f) = model("sk_random_forest_iris");
    let mut rows = Vec::new();
    while rows.len() < 5000 * m.n_features() {
        rows.extend_from_slice(&f.x);
    }
    let batch = m.predict(&rows).unwrap();
    let one_by_one: Vec<f32> = rows
        .chunks(m.n_features())
        .flat_map(|r| m.predict(r).unwrap())
        .collect();
    assert_eq!(batch, one_by_one);
}
