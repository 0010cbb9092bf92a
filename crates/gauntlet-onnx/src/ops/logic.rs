//! Comparisons, boolean logic and Where.
//!
//! ONNX booleans have no type of their own here. Between host integers (shape arithmetic)
//! they stay host integers, 0 or 1. A comparison involving a float tensor gives a float
//! tensor of 0s and 1s without a gradient; logic operators and Where read any float as true
//! when non-zero, so a boolean can also pass through Cast or arithmetic unchanged.

use burn::tensor::{Bool, Tensor};

use gauntlet_core::Result;

use super::broadcast::{align, bool_tensor, broadcast_all, host_map};
use super::Ctx;
use crate::value::{physical, FloatValue, IntValue, Value, RANK};

/// A boolean mask at the logical shape `shape`: true where the value is non-zero.
fn mask(ctx: &Ctx, v: Value, shape: &[usize]) -> Result<Tensor<RANK, Bool>> {
    let m = match v {
        Value::Int(i) => {
            let bits = i.data.iter().map(|&b| b != 0).collect();
            bool_tensor(bits, &i.shape, ctx.device)?
        }
        Value::Float(f) => f.t.not_equal_elem(0.0),
    };
    Ok(m.expand(physical(shape)?))
}

/// A mask as a float tensor of 0/1 in precision `like`'s, without gradient.
fn as_float(m: Tensor<RANK, Bool>, like: &FloatValue, rank: usize) -> FloatValue {
    FloatValue {
        t: m.float().cast(like.t.dtype()),
        rank,
    }
}

/// Equal, Less, LessOrEqual, Greater, GreaterOrEqual.
pub fn compare(ctx: &Ctx, a: Value, b: Value) -> Result<Value> {
    let op = ctx.node.op.as_str();
    if let (Value::Int(a), Value::Int(b)) = (&a, &b) {
        return Ok(Value::Int(host_map(ctx, &[a, b], |v| {
            let (x, y) = (v[0], v[1]);
            Ok(i64::from(match op {
                "Equal" => x == y,
                "Less" => x < y,
                "LessOrEqual" => x <= y,
                "Greater" => x > y,
                _ => x >= y,
            }))
        })?));
    }
    let shape = broadcast_all(ctx, &[a.shape(), b.shape()])?;
    let [a, b]: [FloatValue; 2] = align(vec![a.into_float(ctx.device)?, b.into_float(ctx.device)?])
        .try_into()
        .expect("two operands");
    let (a, b) = (a.expand_to(&shape)?, b.expand_to(&shape)?);
    let m = match op {
        "Equal" => a.t.clone().equal(b.t.clone()),
        "Less" => a.t.clone().lower(b.t.clone()),
        "LessOrEqual" => a.t.clone().lower_equal(b.t.clone()),
        "Greater" => a.t.clone().greater(b.t.clone()),
        _ => a.t.clone().greater_equal(b.t.clone()),
    };
    let mut out = as_float(m, &a, shape.len());
    if ctx.bpda && op != "Equal" && (a.t.is_autodiff() || b.t.is_autodiff()) {
        // BPDA for a threshold: the forward value of the step, the gradient of the
        // difference it thresholds (a − b for Greater, b − a for Less). `s − detach(s)` is
        // exactly zero, so the forward value stays exactly 0 or 1.
        let s = if op.starts_with("Greater") {
            a.t - b.t
        } else {
            b.t - a.t
        };
        out.t = out.t.autodiff() + (s.clone() - s.detach());
    }
    Ok(Value::Float(out))
}

/// Not, And, Or, Xor.
pub fn logic(ctx: &Ctx, values: Vec<Value>) -> Result<Value> {
    let op = ctx.node.op.as_str();
    if values.iter().all(|v| matches!(v, Value::Int(_))) {
        let ints: Vec<IntValue> = values.into_iter().map(Value::into_int).collect();
        let refs: Vec<&IntValue> = ints.iter().collect();
        return Ok(Value::Int(host_map(ctx, &refs, |v| {
            let x = v[0] != 0;
            let y = v.get(1).is_some_and(|&y| y != 0);
            Ok(i64::from(match op {
                "Not" => !x,
                "And" => x && y,
                "Or" => x || y,
                _ => x != y,
            }))
        })?));
    }
    let shapes: Vec<Vec<usize>> = values.iter().map(Value::shape).collect();
    let shape = broadcast_all(ctx, &shapes)?;
    let like = values
        .iter()
        .find_map(|v| match v {
            Value::Float(f) => Some(f.clone()),
            Value::Int(_) => None,
        })
        .expect("one float operand");
    let mut masks = values
        .into_iter()
        .map(|v| mask(ctx, v, &shape))
        .collect::<Result<Vec<_>>>()?
        .into_iter();
    let x = masks
        .next()
        .ok_or_else(|| ctx.error("missing an operand"))?;
    let m = if op == "Not" {
        x.bool_not()
    } else {
        let y = masks
            .next()
            .ok_or_else(|| ctx.error("missing the second operand"))?;
        match op {
            "And" => x.bool_and(y),
            "Or" => x.bool_or(y),
            _ => x.bool_xor(y),
        }
    };
    Ok(Value::Float(as_float(m, &like, shape.len())))
}

/// Where(condition, x, y): x where the condition holds, else y. Selection by mask, so a
/// -inf or NaN in the branch not taken never reaches the output or its gradient.
pub fn where_(ctx: &Ctx, cond: Value, x: Value, y: Value) -> Result<Value> {
    if let (Value::Int(_), Value::Int(_)) = (&x, &y) {
        let (c, x, y) = (cond.into_int(), x.into_int(), y.into_int());
        return Ok(Value::Int(host_map(ctx, &[&c, &x, &y], |v| {
            Ok(if v[0] != 0 { v[1] } else { v[2] })
        })?));
    }
    let shape = broadcast_all(ctx, &[cond.shape(), x.shape(), y.shape()])?;
    let m = mask(ctx, cond, &shape)?;
    let [x, y]: [FloatValue; 2] = align(vec![x.into_float(ctx.device)?, y.into_float(ctx.device)?])
        .try_into()
        .expect("two operands");
    let (x, y) = (x.expand_to(&shape)?, y.expand_to(&shape)?);
    Ok(Value::Float(FloatValue {
        t: y.t.mask_where(m, x.t),
        rank: shape.len(),
    }))
}
