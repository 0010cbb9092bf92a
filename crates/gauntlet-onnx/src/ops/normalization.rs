//! Normalization over the sample's own statistics: LayerNormalization, GroupNormalization,
//! InstanceNormalization. (BatchNormalization, with stored statistics, is in `nn`.)
//!
//! Each is built from burn operations on a `[rows, values]` view, so autodiff differentiates
//! through the mean and variance as well, for the input and for the weights.

use burn::tensor::Tensor;

use gauntlet_core::Result;

use super::broadcast::align;
use super::{Ctx, Inputs};
use crate::value::{FloatValue, Value, RANK};

/// Standardized rows of a `[rows, n]` tensor, with each row's mean and 1/√(variance + ε)
/// (shape `[rows, 1]`). The variance is the mean squared deviation (two passes, as exact as
/// the precision allows).
fn standardize(x: FloatValue, eps: f64) -> (FloatValue, FloatValue, FloatValue) {
    let last = RANK - 1;
    let mean = x.t.clone().mean_dim(last);
    let centered = x.t - mean.clone();
    let var = centered.clone().square().mean_dim(last);
    let inv = (var + eps).sqrt().recip();
    let rows = |t| FloatValue { t, rank: 2 };
    (rows(centered * inv.clone()), rows(mean), rows(inv))
}

/// The optional input `i` as a float tensor.
fn optional(ctx: &Ctx, inputs: &mut Inputs, i: usize) -> Result<Option<FloatValue>> {
    inputs.opt(i).map(|v| v.into_float(ctx.device)).transpose()
}

/// LayerNormalization: standardizes over the axes from `axis` on, then scales and shifts.
/// The optional Mean and InvStdDev outputs are computed too.
pub fn layer_norm(ctx: &Ctx, mut inputs: Inputs) -> Result<Vec<Value>> {
    let x = inputs.float(0, ctx)?;
    let scale = inputs.float(1, ctx)?;
    let bias = optional(ctx, &mut inputs, 2)?;
    let shape = x.shape();
    let axis = ctx.axis(ctx.int("axis", -1), shape.len())?;
    let eps = f64::from(ctx.float("epsilon", 1e-5));
    let normalized = &shape[axis..];
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = normalized.iter().product();
    let mut operands = vec![x, scale];
    operands.extend(bias);
    let mut operands = align(operands).into_iter();
    let (x, scale, bias) = (operands.next(), operands.next(), operands.next());
    let (x, scale) = (x.expect("input"), scale.expect("scale"));
    // Scale and bias broadcast to the normalized axes, then act on each row.
    let per_row = |v: FloatValue, what: &str| -> Result<FloatValue> {
        super::broadcast::broadcast_shape(ctx, normalized, &v.shape())
            .ok()
            .filter(|s| s == normalized)
            .ok_or_else(|| {
                ctx.error(format!(
                    "{what} of shape {:?} does not fit the normalized axes {normalized:?}",
                    v.shape()
                ))
            })?;
        v.expand_to(normalized)?.reshape(&[1, inner])
    };
    let scale = per_row(scale, "scale")?;
    let bias = bias.map(|b| per_row(b, "bias")).transpose()?;
    let statistics_wanted = ctx.node.outputs.iter().skip(1).any(|o| !o.is_empty());
    if !statistics_wanted && super::row_ops::served(&x.t) {
        // One fused pass per row, with its own backward step.
        let device = x.t.device();
        let bias = match bias {
            Some(b) => b.t.reshape([inner]),
            None => Tensor::zeros([inner], &device),
        };
        let x = x.t.reshape([outer, inner]);
        let y = super::row_ops::layer_norm(x, scale.t.reshape([inner]), bias, eps as f32);
        return Ok(vec![Value::Float(
            FloatValue::from_tensor(y).reshape(&shape)?,
        )]);
    }
    let (y, mean, inv) = standardize(x.reshape(&[outer, inner])?, eps);
    let mut t = y.t * scale.t;
    if let Some(b) = bias {
        t = t + b.t;
    }
    let y = FloatValue { t, rank: 2 }.reshape(&shape)?;
    // Mean and InvStdDev keep the normalized axes with length 1.
    let mut stat_shape = shape[..axis].to_vec();
    stat_shape.resize(shape.len(), 1);
    let outputs = ctx.node.outputs.len();
    let mut out = vec![Value::Float(y)];
    if outputs > 1 {
        out.push(Value::Float(mean.reshape(&stat_shape)?));
    }
    if outputs > 2 {
        out.push(Value::Float(inv.reshape(&stat_shape)?));
    }
    Ok(out)
}

/// Per-channel parameters `[C]` as a `[1, C, 1, …]` tensor for an input of rank `rank`.
fn per_channel(v: FloatValue, c: usize, rank: usize) -> Result<FloatValue> {
    let mut s = vec![1; rank];
    s[1] = c;
    v.reshape(&s)
}

/// GroupNormalization (`num_groups` groups of channels) and InstanceNormalization (one
/// group per channel): standardizes each sample's group over its channels and positions,
/// then scales and shifts per channel.
///
/// GroupNormalization's scale and bias hold one value per group in opset 18 and one per
/// channel from opset 21; both are accepted, told apart by their length.
pub fn group_norm(ctx: &Ctx, mut inputs: Inputs) -> Result<FloatValue> {
    let x = inputs.float(0, ctx)?;
    let scale = inputs.float(1, ctx)?;
    let bias = inputs.float(2, ctx)?;
    let shape = x.shape();
    if shape.len() < 2 {
        return Err(ctx.error(format!("expects an N×C×… input, got {shape:?}")));
    }
    let (n, c) = (shape[0], shape[1]);
    let groups = if ctx.node.op == "InstanceNormalization" {
        c
    } else {
        ctx.int("num_groups", 0).max(0) as usize
    };
    if groups == 0 || !c.is_multiple_of(groups) {
        return Err(ctx.error(format!(
            "{c} channels cannot form {groups} groups of equal size"
        )));
    }
    let eps = f64::from(ctx.float("epsilon", 1e-5));
    let [x, scale, bias]: [FloatValue; 3] = align(vec![x, scale, bias])
        .try_into()
        .expect("three operands");
    let per_group = c / groups;
    let widen = |v: FloatValue, what: &str| -> Result<FloatValue> {
        match v.numel() {
            k if k == c => per_channel(v, c, shape.len()),
            k if k == groups => {
                // One value per group: repeat it for the group's channels.
                let v = v.reshape(&[groups, 1])?.expand_to(&[groups, per_group])?;
                per_channel(v.reshape(&[c])?, c, shape.len())
            }
            k => Err(ctx.error(format!(
                "{what} has {k} values; expected {c} (one per channel) or {groups} (one per group)"
            ))),
        }
    };
    let scale = widen(scale, "scale")?;
    let bias = widen(bias, "bias")?;
    let rows = n * groups;
    let per_row = x.numel() / rows.max(1);
    let (y, _, _) = standardize(x.reshape(&[rows, per_row])?, eps);
    let y = y.reshape(&shape)?;
    Ok(FloatValue {
        t: y.t * scale.t + bias.t,
        rank: shape.len(),
    })
}
