//! A tree ensemble and its scores, computed in onnxruntime's order and precision
//! (`tree_ensemble_aggregator.h`, `ml_common.h`): trees in file order, leaf weights in file
//! order, sums rounded to float32 after every addition for a float model (double for a
//! model whose input is double), then the base values, then the post-transform in float32 —
//! including the quirks of its two-class paths, which the exporters rely on.

use serde::Serialize;

use crate::transform::{logistic, probit, PostTransform};
use crate::tree::{Node, Tree};

/// How the trees' leaf weights combine per output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Aggregate {
    /// Sum over trees (every classifier; boosting regressors).
    Sum,
    /// Sum divided by the number of trees (forests).
    Average,
    /// The smallest weight any tree gives.
    Min,
    /// The largest weight any tree gives.
    Max,
}

impl Aggregate {
    /// The aggregate an ONNX `aggregate_function` attribute names.
    pub fn from_onnx(name: &str) -> Option<Aggregate> {
        Some(match name {
            "SUM" => Aggregate::Sum,
            "AVERAGE" => Aggregate::Average,
            "MIN" => Aggregate::Min,
            "MAX" => Aggregate::Max,
            _ => return None,
        })
    }
}

/// The type onnxruntime compares thresholds and sums scores in: the model input's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Precision {
    /// float32 input: thresholds, weights and running sums are float32.
    Float,
    /// float64 input: all of them are doubles.
    Double,
}

/// Classifier or regressor, with what the classifier's two-class rules need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EnsembleKind {
    /// `TreeEnsembleRegressor`.
    Regressor,
    /// `TreeEnsembleClassifier`.
    Classifier {
        /// Two labels but one class id in the weights: onnxruntime derives the second
        /// probability from the first (boosting and binary forests exported by skl2onnx).
        binary_case: bool,
        /// No class weight is negative (forests: probabilities; boosting: margins).
        weights_all_positive: bool,
    },
}

/// A tree ensemble as one `TreeEnsembleClassifier` / `TreeEnsembleRegressor` node holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ensemble {
    /// The trees, in the file's order (the order scores are summed in).
    pub trees: Vec<Tree>,
    /// How leaf weights combine (classifiers always sum).
    pub aggregate: Aggregate,
    /// What is applied to the aggregated scores.
    pub post_transform: PostTransform,
    /// `base_values`: added per output when there is one per output; a single value is the
    /// regressor's offset (one target) or the binary classifier's.
    pub base_values: Vec<f64>,
    /// Classes (classifier) or targets (regressor).
    pub n_outputs: usize,
    /// Precision of comparisons and sums.
    pub precision: Precision,
    /// Classifier or regressor.
    pub kind: EnsembleKind,
}

/// A running score: onnxruntime tracks whether any tree wrote to an output.
#[derive(Debug, Clone, Copy, Default)]
struct Score {
    value: f64,
    written: bool,
}

impl Score {
    /// The value onnxruntime reads when it converts a score to float: 0 when never written.
    fn as_f32(self) -> f32 {
        if self.written {
            self.value as f32
        } else {
            0.0
        }
    }
}

impl Ensemble {
    /// Index (into `trees[tree].nodes`) of the leaf `row` reaches in tree `tree`.
    pub fn leaf_of(&self, tree: usize, row: &[f32]) -> usize {
        self.trees[tree].leaf_of(row)
    }

    /// The aggregated score per output before the post-transform: leaf weights combined by
    /// the aggregate, averaged for `AVERAGE`, plus the base values (a regressor's when there
    /// is one per output, or the single offset of a one-target regressor; a classifier's
    /// `base_values[k]` on class k). A regressor's output no leaf wrote reads 0, as
    /// onnxruntime reads it. For a binary booster (one score column) `raw_scores[0]` is the
    /// margin the post-transform turns into probabilities.
    pub fn raw_scores(&self, row: &[f32]) -> Vec<f32> {
        if self.single_output() {
            return vec![self.single_score(row) as f32];
        }
        let mut scores = self.accumulate(row);
        match self.kind {
            EnsembleKind::Regressor => self.finish_regression(&mut scores),
            // Classifiers add base value k to class k (one base value: class 0, the margin
            // of a binary booster).
            EnsembleKind::Classifier { .. } => {
                for (s, &b) in scores.iter_mut().zip(&self.base_values) {
                    *s = Score {
                        value: self.round(s.value + b),
                        written: true,
                    };
                }
            }
        }
        scores.iter().map(|s| s.as_f32()).collect()
    }

    /// The output onnxruntime returns for one row (probabilities for a classifier,
    /// predictions for a regressor), `n_outputs` values, and the index of the label it
    /// predicts (regressors: 0).
    pub fn predict_row(&self, row: &[f32]) -> (Vec<f32>, usize) {
        if self.single_output() {
            let v = self.single_score(row) as f32;
            let out = if self.post_transform == PostTransform::Probit {
                probit(v)
            } else {
                v
            };
            return (vec![out], 0);
        }
        let mut scores = self.accumulate(row);
        match self.kind {
            EnsembleKind::Regressor => {
                self.finish_regression(&mut scores);
                (self.write_scores(&scores, None), 0)
            }
            EnsembleKind::Classifier {
                binary_case,
                weights_all_positive,
            } => {
                if self.n_outputs > 2 {
                    self.classify_many(scores)
                } else {
                    self.classify_two(scores, binary_case, weights_all_positive)
                }
            }
        }
    }

    /// Per feature (`n_features` of them): the sorted distinct thresholds its splits use,
    /// as float32 (exact for float models; rounded to nearest for double models).
    pub fn split_thresholds(&self, n_features: usize) -> Vec<Vec<f32>> {
        let mut per_feature = vec![Vec::new(); n_features];
        for tree in &self.trees {
            for node in &tree.nodes {
                if let Node::Branch {
                    feature, threshold, ..
                } = node
                {
                    if let Some(list) = per_feature.get_mut(*feature) {
                        list.push(*threshold as f32);
                    }
                }
            }
        }
        for list in &mut per_feature {
            list.sort_by(f32::total_cmp);
            list.dedup();
        }
        per_feature
    }

    /// Regressors with one target take onnxruntime's one-score path (classifiers never do:
    /// they have at least two labels).
    fn single_output(&self) -> bool {
        self.kind == EnsembleKind::Regressor && self.n_outputs == 1
    }

    #[inline]
    fn round(&self, v: f64) -> f64 {
        match self.precision {
            // An f64 sum of two float32 values rounded to float32 equals the float32 sum.
            Precision::Float => f64::from(v as f32),
            Precision::Double => v,
        }
    }

    /// The one-target regressor's score: its sums use each leaf's first weight only, and the
    /// single base value is the offset.
    fn single_score(&self, row: &[f32]) -> f64 {
        let origin = if self.base_values.len() == 1 {
            self.base_values[0]
        } else {
            0.0
        };
        let mut score = Score::default();
        for tree in &self.trees {
            let w = tree.leaf_weights(row).first().map_or(0.0, |&(_, w)| w);
            match self.aggregate {
                Aggregate::Sum | Aggregate::Average => score.value = self.round(score.value + w),
                Aggregate::Min => {
                    if !score.written || w < score.value {
                        score.value = w;
                    }
                    score.written = true;
                }
                Aggregate::Max => {
                    if !score.written || w > score.value {
                        score.value = w;
                    }
                    score.written = true;
                }
            }
        }
        match self.aggregate {
            Aggregate::Sum => self.round(score.value + origin),
            Aggregate::Average => {
                let mean = self.round(score.value / self.round(self.trees.len() as f64));
                self.round(mean + origin)
            }
            Aggregate::Min | Aggregate::Max if score.written => self.round(score.value + origin),
            Aggregate::Min | Aggregate::Max => origin,
        }
    }

    /// Leaf weights combined per output over the trees, in file order.
    fn accumulate(&self, row: &[f32]) -> Vec<Score> {
        let mut scores = vec![Score::default(); self.n_outputs];
        for tree in &self.trees {
            for &(output, w) in tree.leaf_weights(row) {
                let s = &mut scores[output];
                match self.aggregate {
                    Aggregate::Sum | Aggregate::Average => s.value = self.round(s.value + w),
                    Aggregate::Min => {
                        if !s.written || w < s.value {
                            s.value = w;
                        }
                    }
                    Aggregate::Max => {
                        if !s.written || w > s.value {
                            s.value = w;
                        }
                    }
                }
                s.written = true;
            }
        }
        scores
    }

    /// A regressor's base values and average (several targets).
    fn finish_regression(&self, scores: &mut [Score]) {
        let per_output = self.base_values.len() == self.n_outputs;
        let n_trees = self.round(self.trees.len() as f64);
        for (k, s) in scores.iter_mut().enumerate() {
            let base = if per_output { self.base_values[k] } else { 0.0 };
            s.value = match self.aggregate {
                Aggregate::Sum if per_output => self.round(s.value + base),
                Aggregate::Sum => s.value,
                Aggregate::Average if per_output => {
                    self.round(self.round(s.value / n_trees) + base)
                }
                Aggregate::Average => self.round(s.value / n_trees),
                // onnxruntime adds the base to the score but keeps the "never written" mark,
                // so an output no leaf wrote still reads 0.
                Aggregate::Min | Aggregate::Max => {
                    self.round(base + if s.written { s.value } else { 0.0 })
                }
            };
        }
    }

    /// Three or more classes: base values, then the first highest written score wins.
    fn classify_many(&self, mut scores: Vec<Score>) -> (Vec<f32>, usize) {
        for (s, &b) in scores.iter_mut().zip(&self.base_values) {
            if s.written {
                s.value = self.round(s.value + b);
            } else {
                *s = Score {
                    value: b,
                    written: true,
                };
            }
        }
        let mut best: Option<(usize, f64)> = None;
        for (k, s) in scores.iter().enumerate() {
            if s.written && best.is_none_or(|(_, v)| s.value > v) {
                best = Some((k, s.value));
            }
        }
        (self.write_scores(&scores, None), best.map_or(0, |(k, _)| k))
    }

    /// Two labels: onnxruntime's binary rules, quirks included (with two base values and
    /// class 1 written, class 1's score becomes `base[1] + score[0]`).
    fn classify_two(
        &self,
        mut scores: Vec<Score>,
        binary_case: bool,
        weights_all_positive: bool,
    ) -> (Vec<f32>, usize) {
        let mut second_class: Option<SecondClass> = None;
        match self.base_values.len() {
            2 => {
                if scores[1].written {
                    scores[1].value = self.round(self.base_values[1] + scores[0].value);
                    scores[0].value = -scores[1].value;
                } else {
                    scores[1].value = self.round(scores[1].value + self.base_values[1]);
                    scores[0].value = self.round(scores[0].value + self.base_values[0]);
                }
            }
            1 => {
                scores[0].value = self.round(scores[0].value + self.base_values[0]);
                if !scores[1].written {
                    scores.pop();
                }
            }
            0 => {
                second_class = Some(SecondClass::MixedNegative);
                if !scores[1].written {
                    scores.pop();
                }
            }
            _ => {}
        }
        let positive = match scores.get(1) {
            Some(s1) if s1.written => s1.value,
            _ if scores[0].written => scores[0].value,
            _ => 0.0,
        };
        let label = if binary_case {
            let (is_positive, rule) = if weights_all_positive {
                if positive > 0.5 {
                    (true, SecondClass::PositiveWins)
                } else {
                    (false, SecondClass::PositiveLoses)
                }
            } else if positive > 0.0 {
                (true, SecondClass::MixedPositive)
            } else {
                (false, SecondClass::MixedNegative)
            };
            second_class = Some(rule);
            usize::from(is_positive)
        } else {
            usize::from(positive > 0.0)
        };
        (self.write_scores(&scores, second_class), label)
    }

    /// The post-transform, or, for a single score, the second class derived from it.
    fn write_scores(&self, scores: &[Score], second_class: Option<SecondClass>) -> Vec<f32> {
        let mut out: Vec<f32> = scores.iter().map(|s| s.as_f32()).collect();
        if out.len() >= 2 {
            self.post_transform.apply(&mut out);
            return out;
        }
        let s = out[0];
        if self.post_transform == PostTransform::Probit {
            // onnxruntime writes one value; the second column is left as allocated (0 here).
            return vec![probit(s), 0.0];
        }
        match second_class {
            Some(SecondClass::PositiveWins | SecondClass::PositiveLoses) => vec![1.0 - s, s],
            Some(SecondClass::MixedPositive | SecondClass::MixedNegative) => {
                if self.post_transform == PostTransform::Logistic {
                    vec![logistic(-s), logistic(s)]
                } else {
                    vec![-s, s]
                }
            }
            None => vec![s, 0.0],
        }
    }
}

/// How onnxruntime fills the second probability from a single score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecondClass {
    /// Weights all positive, class 1 wins: `[1 − s, s]`.
    PositiveWins,
    /// Weights all positive, class 0 wins: `[1 − s, s]`.
    PositiveLoses,
    /// Mixed-sign weights, class 1 wins: `[−s, s]` or logistic of both.
    MixedPositive,
    /// Mixed-sign weights, class 0 wins (and no base values): as above.
    MixedNegative,
}
