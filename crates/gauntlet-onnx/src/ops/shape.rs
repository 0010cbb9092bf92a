//! Layout: Reshape, Flatten, Transpose, Concat, (Un)Squeeze, Shape, Expand, Tile, Split.
//! Integer tensors (shape arithmetic) are handled on the host.

use burn::tensor::Tensor;

use gauntlet_core::Result;

use super::broadcast::{align, broadcast_shape, host_map};
use super::{Ctx, Inputs};
use crate::value::{FloatValue, IntValue, Value, RANK};

fn reshape_value(ctx: &Ctx, v: Value, shape: &[usize]) -> Result<Value> {
    match v {
        Value::Float(f) => Ok(Value::Float(f.reshape(shape).map_err(|e| ctx.error(e))?)),
        Value::Int(i) => {
            let count: usize = shape.iter().product();
            if count != i.data.len() {
                return Err(ctx.error(format!("cannot reshape {:?} to {shape:?}", i.shape)));
            }
            Ok(Value::Int(IntValue {
                data: i.data,
                shape: shape.to_vec(),
            }))
        }
    }
}

pub fn reshape(ctx: &Ctx, mut inputs: Inputs) -> Result<Value> {
    let x = inputs.value(0, ctx)?;
    let target = if ctx.opset < 5 {
        ctx.ints("shape").unwrap_or_default()
    } else {
        inputs.value(1, ctx)?.into_int().data
    };
    let input_shape = x.shape();
    let allow_zero = ctx.int("allowzero", 0) != 0;
    let mut shape = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            -1 => {
                if infer.replace(i).is_some() {
                    return Err(ctx.error("more than one -1 in the target shape"));
                }
                shape.push(1);
            }
            0 if !allow_zero => shape.push(*input_shape.get(i).ok_or_else(|| {
                ctx.error(format!("target shape {target:?} copies a missing axis {i}"))
            })?),
            d if d >= 0 => shape.push(d as usize),
            d => return Err(ctx.error(format!("invalid target dimension {d}"))),
        }
    }
    let total: usize = input_shape.iter().product();
    if let Some(i) = infer {
        let known: usize = shape.iter().product();
        if known == 0 || !total.is_multiple_of(known) {
            return Err(ctx.error(format!(
                "cannot reshape {input_shape:?} to {target:?}; the input probably has the wrong \
                 size for this model"
            )));
        }
        shape[i] = total / known;
    }
    reshape_value(ctx, x, &shape).map_err(|_| {
        ctx.error(format!(
            "cannot reshape {input_shape:?} to {target:?}; the input probably has the wrong size \
             for this model"
        ))
    })
}

pub fn flatten(ctx: &Ctx, x: Value) -> Result<Value> {
    let shape = x.shape();
    let axis = ctx.int("axis", 1);
    let axis = if axis < 0 {
        axis + shape.len() as i64
    } else {
        axis
    } as usize;
    let rows: usize = shape[..axis.min(shape.len())].iter().product();
    let cols: usize = shape[axis.min(shape.len())..].iter().product();
    reshape_value(ctx, x, &[rows, cols])
}

pub fn transpose(ctx: &Ctx, x: Value) -> Result<Value> {
    let rank = x.shape().len();
    let perm: Vec<usize> = match ctx.ints("perm") {
        Some(p) => p
            .iter()
            .map(|&a| ctx.axis(a, rank))
            .collect::<Result<_>>()?,
        None => (0..rank).rev().collect(),
    };
    if perm.len() != rank {
        return Err(ctx.error(format!("perm {perm:?} does not match rank {rank}")));
    }
    match x {
        Value::Float(f) => {
            let offset = RANK - rank;
            let mut full = [0usize; RANK];
            for (i, slot) in full.iter_mut().enumerate() {
                *slot = if i < offset {
                    i
                } else {
                    perm[i - offset] + offset
                };
            }
            Ok(Value::Float(FloatValue {
                t: f.t.permute(full),
                rank,
            }))
        }
        Value::Int(i) => {
            let shape: Vec<usize> = perm.iter().map(|&p| i.shape[p]).collect();
            let strides = strides(&i.shape);
            let mut data = Vec::with_capacity(i.data.len());
            for flat in 0..i.data.len() {
                let coords = unravel(flat, &shape);
                let src: usize = coords
                    .iter()
                    .enumerate()
                    .map(|(k, c)| c * strides[perm[k]])
                    .sum();
                data.push(i.data[src]);
            }
            Ok(Value::Int(IntValue { data, shape }))
        }
    }
}

pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

pub fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut coords = vec![0; shape.len()];
    for i in (0..shape.len()).rev() {
        coords[i] = flat % shape[i].max(1);
        flat /= shape[i].max(1);
    }
    coords
}

pub fn concat(ctx: &Ctx, mut inputs: Inputs) -> Result<Value> {
    let values: Vec<Value> = (0..inputs.len()).filter_map(|i| inputs.opt(i)).collect();
    let Some(first) = values.first() else {
        return Err(ctx.error("no inputs"));
    };
    let rank = first.shape().len();
    let axis = ctx.axis(ctx.int("axis", 0), rank)?;
    for v in &values {
        let s = v.shape();
        let f = first.shape();
        if s.len() != rank || (0..rank).any(|a| a != axis && s[a] != f[a]) {
            return Err(ctx.error(format!(
                "cannot concatenate shapes {f:?} and {s:?} along axis {axis}"
            )));
        }
    }
    if values.iter().all(|v| matches!(v, Value::Int(_))) {
        // Host concat along `axis`.
        let ints: Vec<IntValue> = values.into_iter().map(Value::into_int).collect();
        let outer: usize = ints[0].shape[..axis].iter().product();
        let mut shape = ints[0].shape.clone();
        shape[axis] = ints.iter().map(|v| v.shape[axis]).sum();
        let mut data = Vec::new();
        for o in 0..outer {
            for v in &ints {
                let chunk: usize = v.shape[axis..].iter().product();
                data.extend_from_slice(&v.data[o * chunk..(o + 1) * chunk]);
            }
        }
        return Ok(Value::Int(IntValue { data, shape }));
    }
    let floats: Vec<FloatValue> = values
        .into_iter()
        .map(|v| v.into_float(ctx.device))
        .collect::<Result<_>>()?;
    let phys = floats[0].axis(axis);
    let t = Tensor::cat(align(floats).into_iter().map(|f| f.t).collect(), phys);
    Ok(Value::Float(FloatValue { t, rank }))
}

pub fn squeeze_unsqueeze(ctx: &Ctx, mut inputs: Inputs) -> Result<Value> {
    let x = inputs.value(0, ctx)?;
    let axes = if ctx.opset >= 13 {
        inputs.ints_opt(1).map(|v| v.data)
    } else {
        ctx.ints("axes")
    };
    let shape = x.shape();
    let new_shape = if ctx.node.op == "Unsqueeze" {
        let axes = axes.ok_or_else(|| ctx.error("missing axes"))?;
        let out_rank = shape.len() + axes.len();
        let mut axes: Vec<usize> = axes
            .iter()
            .map(|&a| ctx.axis(a, out_rank))
            .collect::<Result<_>>()?;
        axes.sort_unstable();
        let mut out = shape.clone();
        for a in axes {
            out.insert(a, 1);
        }
        out
    } else {
        match axes {
            Some(a) if !a.is_empty() => {
                let axes: Vec<usize> = a
                    .iter()
                    .map(|&a| ctx.axis(a, shape.len()))
                    .collect::<Result<_>>()?;
                for &a in &axes {
                    if shape[a] != 1 {
                        return Err(ctx.error(format!(
                            "cannot squeeze axis {a} of size {} (shape {shape:?})",
                            shape[a]
                        )));
                    }
                }
                shape
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !axes.contains(i))
                    .map(|(_, &d)| d)
                    .collect()
            }
            _ => shape.iter().copied().filter(|&d| d != 1).collect(),
        }
    };
    reshape_value(ctx, x, &new_shape)
}

pub fn shape_of(ctx: &Ctx, x: Value) -> Value {
    let shape: Vec<i64> = x.shape().iter().map(|&d| d as i64).collect();
    let r = shape.len() as i64;
    let clamp = |v: i64| if v < 0 { (v + r).max(0) } else { v.min(r) } as usize;
    let start = clamp(ctx.int("start", 0));
    let end = clamp(ctx.int("end", r));
    Value::Int(IntValue::vector(shape[start..end.max(start)].to_vec()))
}

/// Host integers broadcast to `shape` (which `v.shape` must broadcast to).
fn host_expand(ctx: &Ctx, v: &IntValue, shape: &[usize]) -> Result<IntValue> {
    let count: usize = shape.iter().product();
    let target = IntValue {
        data: vec![0; count],
        shape: shape.to_vec(),
    };
    host_map(ctx, &[v, &target], |a| Ok(a[0]))
}

pub fn expand(ctx: &Ctx, mut inputs: Inputs) -> Result<Value> {
    let x = inputs.value(0, ctx)?;
    let target: Vec<usize> = inputs
        .value(1, ctx)?
        .into_int()
        .data
        .iter()
        .map(|&d| d.max(0) as usize)
        .collect();
    let shape = broadcast_shape(ctx, &x.shape(), &target)?;
    match x {
        Value::Int(i) => Ok(Value::Int(host_expand(ctx, &i, &shape)?)),
        Value::Float(f) => Ok(Value::Float(f.expand_to(&shape)?)),
    }
}

pub fn tile(ctx: &Ctx, mut inputs: Inputs) -> Result<Value> {
    let x = inputs.value(0, ctx)?;
    let repeats = inputs.value(1, ctx)?.into_int().data;
    let shape = x.shape();
    if repeats.len() != shape.len() || repeats.iter().any(|&r| r < 0) {
        return Err(ctx.error(format!(
            "repeats {repeats:?} do not fit an input of shape {shape:?}"
        )));
    }
    let repeats: Vec<usize> = repeats.iter().map(|&r| r as usize).collect();
    let out_shape: Vec<usize> = shape.iter().zip(&repeats).map(|(d, r)| d * r).collect();
    match x {
        Value::Int(v) => {
            let count: usize = out_shape.iter().product();
            let src = strides(&shape);
            let data = (0..count)
                .map(|flat| {
                    let coords = unravel(flat, &out_shape);
                    let at: usize = (0..shape.len())
                        .map(|a| coords[a] % shape[a] * src[a])
                        .sum();
                    v.data[at]
                })
                .collect();
            Ok(Value::Int(IntValue {
                data,
                shape: out_shape,
            }))
        }
        Value::Float(f) => {
            let mut sizes = [1usize; RANK];
            sizes[RANK - f.rank..].copy_from_slice(&repeats);
            Ok(Value::Float(FloatValue {
                t: f.t.repeat(&sizes),
                rank: f.rank,
            }))
        }
    }
}

/// Lengths of the parts Split cuts an axis of length `dim` into.
fn split_sizes(ctx: &Ctx, split: Option<Vec<i64>>, dim: usize) -> Result<Vec<usize>> {
    let parts = ctx.node.outputs.len();
    let sizes: Vec<usize> = if let Some(split) = split {
        split.iter().map(|&s| s.max(0) as usize).collect()
    } else if let Some(n) = ctx.ints("num_outputs").and_then(|v| v.first().copied()) {
        // Opset 18: equal parts of ceil(dim / n), the last one smaller.
        let n = n.max(1) as usize;
        let chunk = dim.div_ceil(n);
        (0..n)
            .map(|i| chunk.min(dim.saturating_sub(i * chunk)))
            .collect()
    } else {
        if parts == 0 || !dim.is_multiple_of(parts) {
            return Err(ctx.error(format!(
                "cannot split an axis of length {dim} into {parts} equal parts"
            )));
        }
        vec![dim / parts; parts]
    };
    if sizes.iter().sum::<usize>() != dim || sizes.len() != parts {
        return Err(ctx.error(format!(
            "split sizes {sizes:?} do not cut an axis of length {dim} into {parts} parts"
        )));
    }
    Ok(sizes)
}

pub fn split(ctx: &Ctx, mut inputs: Inputs) -> Result<Vec<Value>> {
    let x = inputs.value(0, ctx)?;
    let shape = x.shape();
    let axis = ctx.axis(ctx.int("axis", 0), shape.len())?;
    let split = if ctx.opset >= 13 {
        inputs.ints_opt(1).map(|v| v.data)
    } else {
        ctx.ints("split")
    };
    let sizes = split_sizes(ctx, split, shape[axis])?;
    let mut start = 0;
    let mut out = Vec::with_capacity(sizes.len());
    for len in sizes {
        let range = start..start + len;
        start += len;
        out.push(match &x {
            Value::Int(v) => {
                let outer: usize = shape[..axis].iter().product();
                let inner: usize = shape[axis + 1..].iter().product();
                let mut data = Vec::with_capacity(outer * len * inner);
                for o in 0..outer {
                    let base = o * shape[axis] * inner;
                    data.extend_from_slice(
                        &v.data[base + range.start * inner..base + range.end * inner],
                    );
                }
                let mut s = shape.clone();
                s[axis] = len;
                Value::Int(IntValue { data, shape: s })
            }
            Value::Float(f) => {
                let phys = f.axis(axis);
                let ranges: [std::ops::Range<usize>; RANK] = std::array::from_fn(|i| {
                    if i == phys {
                        range.clone()
                    } else {
                        0..f.t.dims()[i]
                    }
                });
                Value::Float(FloatValue {
                    t: f.t.clone().slice(ranges),
                    rank: f.rank,
                })
            }
        });
    }
    Ok(out)
}
