//! Order statistics along an axis: TopK, ArgMax, ArgMin.
//!
//! Which elements win is decided on the host (ties to the lower index, as onnxruntime does);
//! TopK then gathers its values from the tensor, so they keep their gradient. Indices are
//! host integers.

use burn::tensor::{Int, Tensor, TensorData};

use gauntlet_core::Result;

use super::{Ctx, Inputs};
use crate::value::{physical, FloatValue, IntValue, Value};

/// The input's values as lanes along `axis`: `(outer, len, inner)` with lane `(o, i)` at
/// `o * len * inner + k * inner + i`.
fn lanes(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

/// Host values of a float or integer input, as f64.
fn host_values(v: &Value) -> Vec<f64> {
    match v {
        Value::Float(f) => f.to_host_f64(),
        Value::Int(i) => i.data.iter().map(|&x| x as f64).collect(),
    }
}

/// `a` before `b` when looking for the largest (or smallest) first; NaN counts as largest.
fn before(a: f64, b: f64, largest: bool) -> bool {
    let (a, b) = if largest { (a, b) } else { (b, a) };
    (a.is_nan() && !b.is_nan()) || a > b
}

pub fn top_k(ctx: &Ctx, mut inputs: Inputs) -> Result<Vec<Value>> {
    let x = inputs.value(0, ctx)?;
    let k = if ctx.opset < 10 {
        ctx.int("k", 0)
    } else {
        inputs
            .value(1, ctx)?
            .into_int()
            .data
            .first()
            .copied()
            .unwrap_or(0)
    };
    let shape = x.shape();
    let axis = ctx.axis(ctx.int("axis", -1), shape.len())?;
    let largest = ctx.int("largest", 1) != 0;
    let (outer, len, inner) = lanes(&shape, axis);
    if k < 0 || k as usize > len {
        return Err(ctx.error(format!(
            "k = {k} is out of range for an axis of length {len}"
        )));
    }
    let k = k as usize;
    let values = host_values(&x);
    let mut indices = vec![0i64; outer * k * inner];
    let mut order: Vec<usize> = Vec::with_capacity(len);
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| values[(o * len + j) * inner + i];
            order.clear();
            order.extend(0..len);
            // Stable, so equal values keep the lower index first.
            order.sort_by(|&a, &b| {
                if before(at(a), at(b), largest) {
                    std::cmp::Ordering::Less
                } else if before(at(b), at(a), largest) {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            });
            for (r, &j) in order[..k].iter().enumerate() {
                indices[(o * k + r) * inner + i] = j as i64;
            }
        }
    }
    let mut out_shape = shape.clone();
    out_shape[axis] = k;
    let idx = IntValue {
        data: indices,
        shape: out_shape.clone(),
    };
    let picked = match x {
        Value::Int(v) => {
            let data = (0..idx.data.len())
                .map(|flat| {
                    let (o, rest) = (flat / (k * inner), flat % inner);
                    v.data[(o * len + idx.data[flat] as usize) * inner + rest]
                })
                .collect();
            Value::Int(IntValue {
                data,
                shape: out_shape,
            })
        }
        Value::Float(f) => {
            let index: Tensor<{ crate::value::RANK }, Int> = Tensor::from_data(
                TensorData::new(idx.data.clone(), physical(&out_shape)?),
                ctx.device,
            );
            Value::Float(FloatValue {
                t: f.t.clone().gather(f.axis(axis), index),
                rank: f.rank,
            })
        }
    };
    Ok(vec![picked, Value::Int(idx)])
}

/// ArgMax and ArgMin: the first (or, with `select_last_index`, the last) extreme position.
pub fn arg_extreme(ctx: &Ctx, x: Value) -> Result<Value> {
    let shape = x.shape();
    let axis = ctx.axis(ctx.int("axis", 0), shape.len())?;
    let keepdims = ctx.int("keepdims", 1) != 0;
    let last = ctx.int("select_last_index", 0) != 0;
    let largest = ctx.node.op == "ArgMax";
    let (outer, len, inner) = lanes(&shape, axis);
    if len == 0 {
        return Err(ctx.error("cannot take the extreme of an empty axis"));
    }
    let values = host_values(&x);
    let mut data = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| values[(o * len + j) * inner + i];
            let mut best = 0;
            for j in 1..len {
                let better = before(at(j), at(best), largest);
                let tie = !better && !before(at(best), at(j), largest);
                if better || (last && tie) {
                    best = j;
                }
            }
            data.push(best as i64);
        }
    }
    let mut out_shape = shape;
    if keepdims {
        out_shape[axis] = 1;
    } else {
        out_shape.remove(axis);
    }
    Ok(Value::Int(IntValue {
        data,
        shape: out_shape,
    }))
}
