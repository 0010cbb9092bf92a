//! Reductions over axes.

use gauntlet_core::Result;

use super::{Ctx, Inputs};
use crate::value::FloatValue;

pub fn reduce(ctx: &Ctx, mut inputs: Inputs) -> Result<FloatValue> {
    let x = inputs.float(0, ctx)?;
    let op = ctx.node.op.as_str();
    let axes_from_input = (op == "ReduceSum" && ctx.opset >= 13) || ctx.opset >= 18;
    let axes = if axes_from_input {
        inputs.ints_opt(1).map(|v| v.data)
    } else {
        ctx.ints("axes")
    };
    let axes: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => a
            .iter()
            .map(|&a| ctx.axis(a, x.rank))
            .collect::<Result<_>>()?,
        _ if ctx.int("noop_with_empty_axes", 0) != 0 => return Ok(x),
        _ => (0..x.rank).collect(),
    };
    let keepdims = ctx.int("keepdims", 1) != 0;
    let shape = x.shape();
    let mut t = x.t.clone();
    for &axis in &axes {
        let phys = x.axis(axis);
        t = match op {
            "ReduceMean" => t.mean_dim(phys),
            "ReduceSum" => t.sum_dim(phys),
            "ReduceMax" => t.max_dim(phys),
            _ => t.min_dim(phys),
        };
    }
    let reduced = FloatValue { t, rank: x.rank };
    if keepdims {
        return Ok(reduced);
    }
    let kept: Vec<usize> = shape
        .iter()
        .enumerate()
        .filter(|(i, _)| !axes.contains(i))
        .map(|(_, &d)| d)
        .collect();
    reduced.reshape(&kept)
}
