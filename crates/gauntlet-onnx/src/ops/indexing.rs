//! Indexing: Gather, Slice, ScatterND. Indices live on the host; the values they pick keep
//! their gradient.

use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData};

use gauntlet_core::Result;

use super::broadcast::{align, bool_tensor};
use super::shape::{strides, unravel};
use super::{Ctx, Inputs};
use crate::value::{FloatValue, IntValue, Value, RANK};

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
            if n > 0 && idx.windows(2).all(|w| w[1] == w[0] + 1) {
                // A run of neighbours (typically one index: q, k, v out of a fused
                // projection) is a view, and its backward pass a copy, not a scatter.
                let selected = FloatValue {
                    t: f.t.narrow(phys, idx[0] as usize, n),
                    rank: f.rank,
                };
                return Ok(Value::Float(selected.reshape(&out_shape)?));
            }
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

/// ScatterND: `data` with the slices `indices` name replaced by (reduction `none`) or added
/// to (`add`) `updates`.
pub fn scatter_nd(ctx: &Ctx, mut inputs: Inputs) -> Result<Value> {
    let data = inputs.value(0, ctx)?;
    let indices = inputs.value(1, ctx)?.into_int();
    let updates = inputs.value(2, ctx)?;
    let reduction = ctx.string("reduction", "none");
    let ds = data.shape();
    let k = indices.shape.last().copied().unwrap_or(0);
    let batch = &indices.shape[..indices.shape.len().saturating_sub(1)];
    let mut expected: Vec<usize> = batch.to_vec();
    if k > ds.len() || k == 0 {
        return Err(ctx.error(format!(
            "indices of shape {:?} do not index data of shape {ds:?}",
            indices.shape
        )));
    }
    expected.extend_from_slice(&ds[k..]);
    if updates.shape() != expected {
        return Err(ctx.error(format!(
            "updates have shape {:?}; data {ds:?} and indices {:?} need {expected:?}",
            updates.shape(),
            indices.shape
        )));
    }
    let outer: usize = ds[..k].iter().product();
    let inner: usize = ds[k..].iter().product();
    let count: usize = batch.iter().product();
    // The flat row of `data` (over its first k axes) each update goes to.
    let rows = indices
        .data
        .chunks(k)
        .map(|idx| {
            idx.iter().zip(&ds[..k]).try_fold(0usize, |acc, (&i, &d)| {
                let i = if i < 0 { i + d as i64 } else { i };
                if i < 0 || i >= d as i64 {
                    return Err(ctx.error(format!("index {idx:?} is out of range for {ds:?}")));
                }
                Ok(acc * d + i as usize)
            })
        })
        .collect::<Result<Vec<usize>>>()?;
    if let (Value::Int(d), Value::Int(u)) = (&data, &updates) {
        let mut out = d.data.clone();
        for (j, &row) in rows.iter().enumerate() {
            for c in 0..inner {
                let (slot, v) = (&mut out[row * inner + c], u.data[j * inner + c]);
                *slot = match reduction.as_str() {
                    "add" => *slot + v,
                    "mul" => *slot * v,
                    "max" => (*slot).max(v),
                    "min" => (*slot).min(v),
                    _ => v,
                };
            }
        }
        return Ok(Value::Int(IntValue {
            data: out,
            shape: ds,
        }));
    }
    let [d, u]: [FloatValue; 2] = align(vec![
        data.into_float(ctx.device)?,
        updates.into_float(ctx.device)?,
    ])
    .try_into()
    .expect("two operands");
    let d = d.reshape(&[outer, inner])?;
    let u = u.reshape(&[count, inner])?;
    let axis = RANK - 2;
    let index = |rows: Vec<usize>| {
        let n = rows.len();
        let data: Vec<i64> = rows.into_iter().map(|r| r as i64).collect();
        Tensor::<1, Int>::from_data(TensorData::new(data, [n]), ctx.device)
    };
    let t = match reduction.as_str() {
        "add" => {
            d.t.select_assign(axis, index(rows), u.t, IndexingUpdateOp::Add)
        }
        "none" => {
            // Updates apply in order, so the last one to a row wins; rows no update names
            // keep `data` (selected by mask, so their gradient reaches `data` unchanged).
            let mut last = vec![None; outer];
            for (j, &row) in rows.iter().enumerate() {
                last[row] = Some(j);
            }
            let (targets, sources): (Vec<usize>, Vec<usize>) = last
                .iter()
                .enumerate()
                .filter_map(|(row, j)| j.map(|j| (row, j)))
                .unzip();
            let picked = u.t.select(axis, index(sources));
            let zeros = FloatValue::from_tensor(Tensor::<2>::zeros([outer, inner], ctx.device));
            let [zeros, picked]: [FloatValue; 2] =
                align(vec![zeros, FloatValue { t: picked, rank: 2 }])
                    .try_into()
                    .expect("two operands");
            let scattered =
                zeros
                    .t
                    .select_assign(axis, index(targets), picked.t, IndexingUpdateOp::Add);
            let hit: Vec<bool> = last.iter().map(Option::is_some).collect();
            let mask = bool_tensor(hit, &[outer, 1], ctx.device)?
                .expand(crate::value::physical(&[outer, inner])?);
            d.t.mask_where(mask, scattered)
        }
        other => {
            return Err(ctx.error(format!(
                "ScatterND reduction '{other}' on floats is not supported (none and add are)"
            )))
        }
    };
    Ok(Value::Float(FloatValue { t, rank: 2 }.reshape(&ds)?))
}

/// GatherElements: `out[.., i, ..] = data[.., indices[.., i, ..], ..]` along `axis`; the
/// output has the shape of `indices`, which may be shorter than `data` on the other axes.
pub fn gather_elements(ctx: &Ctx, mut inputs: Inputs) -> Result<Value> {
    let data = inputs.value(0, ctx)?;
    let indices = inputs.value(1, ctx)?.into_int();
    let ds = data.shape();
    let is = indices.shape.clone();
    let axis = ctx.axis(ctx.int("axis", 0), ds.len())?;
    if is.len() != ds.len() || (0..ds.len()).any(|a| a != axis && is[a] > ds[a]) {
        return Err(ctx.error(format!(
            "indices of shape {is:?} do not fit data of shape {ds:?} on axis {axis}"
        )));
    }
    let dim = ds[axis] as i64;
    let idx = indices
        .data
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + dim } else { i };
            if (0..dim).contains(&j) {
                Ok(j)
            } else {
                Err(ctx.error(format!(
                    "index {i} is out of range for axis {axis} of size {dim}"
                )))
            }
        })
        .collect::<Result<Vec<i64>>>()?;
    match data {
        Value::Int(v) => {
            let src = strides(&ds);
            let data = (0..idx.len())
                .map(|flat| {
                    let mut coords = unravel(flat, &is);
                    coords[axis] = idx[flat] as usize;
                    v.data[coords.iter().zip(&src).map(|(c, s)| c * s).sum::<usize>()]
                })
                .collect();
            Ok(Value::Int(IntValue { data, shape: is }))
        }
        Value::Float(f) => {
            // burn's gather wants the data and indices to agree off the axis: crop first.
            let phys = f.axis(axis);
            let offset = RANK - f.rank;
            let ranges: [std::ops::Range<usize>; RANK] = std::array::from_fn(|i| {
                if i < offset {
                    0..1
                } else if i == phys {
                    0..ds[axis]
                } else {
                    0..is[i - offset]
                }
            });
            let index = Tensor::<RANK, Int>::from_data(
                TensorData::new(idx, crate::value::physical(&is)?),
                ctx.device,
            );
            Ok(Value::Float(FloatValue {
                t: f.t.slice(ranges).gather(phys, index),
                rank: f.rank,
            }))
        }
    }
}
