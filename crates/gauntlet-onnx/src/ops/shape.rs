//! Shape manipulation: Reshape, Flatten, Transpose, Concat, (Un)Squeeze, Shape, Gather, Slice,
//! constants, Cast, Pad, Expand. Integer tensors (shape arithmetic) are handled on the host.

use burn::tensor::{Int, Tensor, TensorData};

use gauntlet_core::Result;

use super::{Ctx, Inputs};
use crate::graph::{Attribute, HostTensor};
use crate::value::{physical, FloatValue, IntValue, Value, RANK};

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

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
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
    let dtype = floats[0].t.dtype();
    let t = Tensor::cat(floats.into_iter().map(|f| f.t.cast(dtype)).collect(), phys);
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

pub fn gather(ctx: &Ctx, mut inputs: Inputs) -> Result<Value> {
    let data = inputs.value(0, ctx)?;
    let indices = inputs.value(1, ctx)?.into_int();
    let shape = data.shape();
    let axis = ctx.axis(ctx.int("axis", 0), shape.len())?;
    let dim = shape[axis] as i64;
    let idx: Vec<i64> = indices
        .data
        .iter()
        .map(|&i| if i < 0 { i + dim } else { i })
        .collect();
    if let Some(bad) = idx.iter().find(|&&i| i < 0 || i >= dim) {
        return Err(ctx.error(format!(
            "index {bad} is out of range for axis {axis} of size {dim}"
        )));
    }
    let mut out_shape: Vec<usize> = shape[..axis].to_vec();
    out_shape.extend_from_slice(&indices.shape);
    out_shape.extend_from_slice(&shape[axis + 1..]);
    match data {
        Value::Int(v) => {
            let outer: usize = shape[..axis].iter().product();
            let inner: usize = shape[axis + 1..].iter().product();
            let mut out = Vec::with_capacity(outer * idx.len() * inner);
            for o in 0..outer {
                for &i in &idx {
                    let start = (o * shape[axis] + i as usize) * inner;
                    out.extend_from_slice(&v.data[start..start + inner]);
                }
            }
            Ok(Value::Int(IntValue {
                data: out,
                shape: out_shape,
            }))
        }
        Value::Float(f) => {
            let phys = f.axis(axis);
            let n = idx.len();
            let index: Tensor<1, Int> = Tensor::from_data(TensorData::new(idx, [n]), ctx.device);
            let selected = FloatValue {
                t: f.t.select(phys, index),
                rank: f.rank,
            };
            Ok(Value::Float(selected.reshape(&out_shape)?))
        }
    }
}

/// Indices an ONNX Slice selects along one axis of size `dim` (any step, negative included).
fn slice_indices(start: i64, end: i64, step: i64, dim: usize) -> Vec<usize> {
    let d = dim as i64;
    let norm = |v: i64| if v < 0 { v + d } else { v };
    let mut out = Vec::new();
    if step > 0 {
        let (mut i, e) = (norm(start).clamp(0, d), norm(end).clamp(0, d));
        while i < e {
            out.push(i as usize);
            i += step;
        }
    } else {
        let (mut i, e) = (norm(start).clamp(0, d - 1), norm(end).clamp(-1, d - 1));
        while i > e {
            out.push(i as usize);
            i += step;
        }
    }
    out
}

pub fn slice(ctx: &Ctx, mut inputs: Inputs) -> Result<Value> {
    let x = inputs.value(0, ctx)?;
    let shape = x.shape();
    let (starts, ends, axes, steps) = if ctx.opset < 10 {
        (
            ctx.ints("starts").unwrap_or_default(),
            ctx.ints("ends").unwrap_or_default(),
            ctx.ints("axes"),
            None,
        )
    } else {
        (
            inputs.value(1, ctx)?.into_int().data,
            inputs.value(2, ctx)?.into_int().data,
            inputs.ints_opt(3).map(|v| v.data),
            inputs.ints_opt(4).map(|v| v.data),
        )
    };
    let axes: Vec<usize> = match axes {
        Some(a) => a
            .iter()
            .map(|&a| ctx.axis(a, shape.len()))
            .collect::<Result<_>>()?,
        None => (0..starts.len()).collect(),
    };
    if starts.len() != axes.len() || ends.len() != axes.len() {
        return Err(ctx.error("starts, ends and axes differ in length"));
    }
    // Per axis: the selected indices (all of them for axes not sliced).
    let mut picks: Vec<Vec<usize>> = shape.iter().map(|&d| (0..d).collect()).collect();
    for (k, &axis) in axes.iter().enumerate() {
        let step = steps.as_ref().and_then(|s| s.get(k).copied()).unwrap_or(1);
        if step == 0 {
            return Err(ctx.error("a slice step of 0 is invalid"));
        }
        picks[axis] = slice_indices(starts[k], ends[k], step, shape[axis]);
    }
    let out_shape: Vec<usize> = picks.iter().map(Vec::len).collect();
    match x {
        Value::Int(v) => {
            let count: usize = out_shape.iter().product();
            let src_strides = strides(&shape);
            let data = (0..count)
                .map(|flat| {
                    let coords = unravel(flat, &out_shape);
                    let src: usize = coords
                        .iter()
                        .enumerate()
                        .map(|(a, &c)| picks[a][c] * src_strides[a])
                        .sum();
                    v.data[src]
                })
                .collect();
            Ok(Value::Int(IntValue {
                data,
                shape: out_shape,
            }))
        }
        Value::Float(f) => {
            let mut t = f.t;
            for (axis, pick) in picks.iter().enumerate() {
                let contiguous = pick.windows(2).all(|w| w[1] == w[0] + 1);
                if pick.len() == shape[axis] && contiguous {
                    continue;
                }
                let phys = axis + RANK - f.rank;
                if contiguous && !pick.is_empty() {
                    let mut ranges: [std::ops::Range<usize>; RANK] =
                        std::array::from_fn(|i| 0..t.dims()[i]);
                    ranges[phys] = pick[0]..pick[0] + pick.len();
                    t = t.slice(ranges);
                } else {
                    let idx: Vec<i64> = pick.iter().map(|&i| i as i64).collect();
                    let n = idx.len();
                    let index: Tensor<1, Int> =
                        Tensor::from_data(TensorData::new(idx, [n]), ctx.device);
                    t = t.select(phys, index);
                }
            }
            Ok(Value::Float(FloatValue { t, rank: f.rank }))
        }
    }
}

pub fn constant(ctx: &Ctx) -> Result<Value> {
    let attrs = &ctx.node.attributes;
    let value = if let Some(Attribute::Tensor(t)) = attrs.get("value") {
        return Value::from_host(t, ctx.device);
    } else if let Some(Attribute::Float(v)) = attrs.get("value_float") {
        HostTensor::Float {
            data: vec![*v],
            shape: vec![],
        }
    } else if let Some(Attribute::Floats(v)) = attrs.get("value_floats") {
        HostTensor::Float {
            data: v.clone(),
            shape: vec![v.len()],
        }
    } else if let Some(Attribute::Int(v)) = attrs.get("value_int") {
        HostTensor::Int {
            data: vec![*v],
            shape: vec![],
        }
    } else if let Some(Attribute::Ints(v)) = attrs.get("value_ints") {
        HostTensor::Int {
            data: v.clone(),
            shape: vec![v.len()],
        }
    } else {
        return Err(ctx.error("a Constant without a supported value attribute"));
    };
    Value::from_host(&value, ctx.device)
}

pub fn constant_of_shape(ctx: &Ctx, mut inputs: Inputs) -> Result<Value> {
    let shape: Vec<usize> = inputs
        .value(0, ctx)?
        .into_int()
        .data
        .iter()
        .map(|&d| d.max(0) as usize)
        .collect();
    let count: usize = shape.iter().product();
    match ctx.node.attributes.get("value") {
        Some(Attribute::Tensor(HostTensor::Int { data, .. })) => Ok(Value::Int(IntValue {
            data: vec![data.first().copied().unwrap_or(0); count],
            shape,
        })),
        Some(Attribute::Tensor(HostTensor::Float { data, .. })) => {
            Ok(Value::Float(FloatValue::from_host(
                vec![data.first().copied().unwrap_or(0.0); count],
                &shape,
                ctx.device,
            )?))
        }
        _ => Ok(Value::Float(FloatValue::from_host(
            vec![0.0; count],
            &shape,
            ctx.device,
        )?)),
    }
}

pub fn cast(ctx: &Ctx, x: Value) -> Result<Value> {
    // ONNX TensorProto types: 1 float, 10 float16, 11 double, 16 bfloat16 stay float.
    match (ctx.int("to", 1), x) {
        (1 | 10 | 11 | 16, x) => Ok(Value::Float(x.into_float(ctx.device)?)),
        // Under BPDA a float cast to integers stays a float tensor: truncated values forward,
        // identity gradient backward.
        (_, Value::Float(f)) if ctx.bpda && f.t.is_autodiff() => {
            let truncated = f.t.clone().sign() * f.t.clone().abs().floor();
            Ok(Value::Float(FloatValue {
                t: f.t.clone() + (truncated - f.t).detach(),
                rank: f.rank,
            }))
        }
        (_, x) => Ok(Value::Int(x.into_int())),
    }
}

pub fn pad(ctx: &Ctx, mut inputs: Inputs) -> Result<FloatValue> {
    let x = inputs.float(0, ctx)?;
    let mode = ctx.string("mode", "constant");
    if mode != "constant" {
        return Err(ctx.error(format!(
            "Pad mode '{mode}' is not supported (only constant)"
        )));
    }
    let (pads, value, axes) = if ctx.opset < 11 {
        (
            ctx.ints("pads").unwrap_or_default(),
            ctx.float("value", 0.0),
            None,
        )
    } else {
        let pads = inputs.value(1, ctx)?.into_int().data;
        let value = inputs
            .opt(2)
            .and_then(|v| v.to_host_f32().first().copied())
            .unwrap_or(0.0);
        (pads, value, inputs.ints_opt(3).map(|v| v.data))
    };
    let shape = x.shape();
    let axes: Vec<usize> = match axes {
        Some(a) => a
            .iter()
            .map(|&a| ctx.axis(a, shape.len()))
            .collect::<Result<_>>()?,
        None => (0..shape.len()).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(ctx.error(format!("{} pads for {} axes", pads.len(), axes.len())));
    }
    let mut before = vec![0i64; shape.len()];
    let mut after = vec![0i64; shape.len()];
    for (k, &a) in axes.iter().enumerate() {
        before[a] = pads[k];
        after[a] = pads[k + axes.len()];
    }
    if before.iter().chain(&after).any(|&p| p < 0) {
        return Err(ctx.error("negative pads (cropping) are not supported"));
    }
    let out_shape: Vec<usize> = (0..shape.len())
        .map(|a| shape[a] + before[a] as usize + after[a] as usize)
        .collect();
    let phys = physical(&out_shape)?;
    let base = Tensor::<RANK>::full(phys, value, ctx.device).cast(x.t.dtype());
    let offset = RANK - x.rank;
    let ranges: [std::ops::Range<usize>; RANK] = std::array::from_fn(|i| {
        if i < offset {
            0..1
        } else {
            let a = i - offset;
            before[a] as usize..before[a] as usize + shape[a]
        }
    });
    let t = if x.t.is_autodiff() {
        base.autodiff()
    } else {
        base
    };
    Ok(FloatValue {
        t: t.slice_assign(ranges, x.t),
        rank: x.rank,
    })
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
    let shape = super::elementwise::broadcast_shape(ctx, &x.shape(), &target)?;
    let f = x.into_float(ctx.device)?;
    let zeros = Tensor::<RANK>::zeros(physical(&shape)?, ctx.device).cast(f.t.dtype());
    Ok(Value::Float(FloatValue {
        t: f.t + zeros,
        rank: shape.len(),
    }))
}
