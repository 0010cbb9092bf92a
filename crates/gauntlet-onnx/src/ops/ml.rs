//! ONNX-ML operators of scikit-learn exports (skl2onnx): `LinearClassifier` (logistic
//! regression, linear SVMs) and `Normalizer`. Both are linear algebra on burn tensors, so
//! gradients reach the input like everywhere else.

use burn::tensor::{activation, Tensor};

use gauntlet_core::Result;

use super::Ctx;

use crate::graph::Attribute;
use crate::value::{FloatValue, IntValue, Value};

fn floats(ctx: &Ctx, key: &str) -> Option<Vec<f32>> {
    match ctx.node.attributes.get(key) {
        Some(Attribute::Floats(v)) => Some(v.clone()),
        Some(Attribute::Float(v)) => Some(vec![*v]),
        _ => None,
    }
}

/// `LinearClassifier`: scores `X·Wᵀ + b`, then the node's `post_transform`. Outputs the
/// predicted label (from `classlabels_ints`) and the scores. A binary model with one row of
/// coefficients scores `[-s, s]`, as onnxruntime does.
pub fn linear_classifier(ctx: &Ctx, x: FloatValue) -> Result<Vec<Value>> {
    let coefficients =
        floats(ctx, "coefficients").ok_or_else(|| ctx.error("has no `coefficients` attribute"))?;
    let shape = x.shape();
    let (n, features) = match shape.as_slice() {
        [n, f] => (*n, *f),
        [f] => (1, *f),
        other => {
            return Err(ctx.error(format!(
                "takes a batch of feature vectors [N, features]; got shape {other:?}"
            )))
        }
    };
    if features == 0 || coefficients.len() % features != 0 {
        return Err(ctx.error(format!(
            "has {} coefficients, not a multiple of the {features} input features; the data \
             probably has the wrong number of features for this model",
            coefficients.len()
        )));
    }
    let rows = coefficients.len() / features;
    let intercepts = floats(ctx, "intercepts").unwrap_or_else(|| vec![0.0; rows]);
    if intercepts.len() != rows {
        return Err(ctx.error(format!(
            "has {} intercepts for {rows} rows of coefficients",
            intercepts.len()
        )));
    }
    let labels: Vec<i64> = match ctx.node.attributes.get("classlabels_ints") {
        Some(Attribute::Ints(v)) => v.clone(),
        _ if ctx.node.attributes.contains_key("classlabels_strings") => {
            // String labels cannot flow through the audit; the scores' columns are the classes.
            (0..rows.max(2) as i64).collect()
        }
        _ => (0..rows.max(2) as i64).collect(),
    };
    let dtype = x.t.dtype();
    let device = ctx.device;
    let w = FloatValue::from_host(coefficients, &[rows, features], device)?;
    let b = FloatValue::from_host(intercepts, &[rows], device)?;
    let x2: Tensor<2> = x.t.reshape([n, features]);
    let w2: Tensor<2> = w.t.cast(dtype).reshape([rows, features]);
    let b2: Tensor<2> = b.t.cast(dtype).reshape([1, rows]);
    let mut scores = x2.matmul(w2.transpose()) + b2;
    let binary = rows == 1 && labels.len() == 2;
    if binary {
        scores = Tensor::cat(vec![scores.clone().neg(), scores], 1);
    }
    let scores = match ctx.string("post_transform", "NONE").as_str() {
        "NONE" => scores,
        "LOGISTIC" => activation::sigmoid(scores),
        "SOFTMAX" => activation::softmax(scores, 1),
        "SOFTMAX_ZERO" => {
            // Softmax over the non-zero scores of each row; zeros stay zero.
            let nonzero = scores.clone().not_equal_elem(0.0).float();
            let e = (scores.clone() - scores.max_dim(1)).exp() * nonzero;
            e.clone() / e.sum_dim(1).clamp_min(f32::MIN_POSITIVE)
        }
        other => {
            return Err(ctx.error(format!(
                "post_transform {other} is not supported; export with post_transform NONE, \
                 LOGISTIC, SOFTMAX or SOFTMAX_ZERO"
            )))
        }
    };
    let classes = scores.dims()[1];
    if labels.len() != classes {
        return Err(ctx.error(format!(
            "has {} class labels for {classes} score columns",
            labels.len()
        )));
    }
    let host = gauntlet_core::tensor::to_vec(scores.clone().detach().without_autodiff());
    let best = gauntlet_core::tensor::argmax_rows(&host, classes);
    let label = IntValue {
        data: best.iter().map(|&i| labels[i as usize]).collect(),
        shape: vec![n],
    };
    Ok(vec![
        Value::Int(label),
        Value::Float(FloatValue::from_tensor(scores)),
    ])
}

/// `Normalizer`: each row divided by its L1 norm, L2 norm or largest value (`norm`).
pub fn normalizer(ctx: &Ctx, x: FloatValue) -> Result<FloatValue> {
    let shape = x.shape();
    let [n, f] = match shape.as_slice() {
        [n, f] => [*n, *f],
        [f] => [1, *f],
        other => return Err(ctx.error(format!("takes [N, features]; got shape {other:?}"))),
    };
    let t: Tensor<2> = x.t.reshape([n, f]);
    let norm = match ctx.string("norm", "MAX").as_str() {
        "L1" => t.clone().abs().sum_dim(1),
        "L2" => t.clone().square().sum_dim(1).sqrt(),
        "MAX" => t.clone().max_dim(1),
        other => return Err(ctx.error(format!("unknown norm {other}; use L1, L2 or MAX"))),
    };
    FloatValue::from_tensor(t / norm).reshape(&shape)
}
