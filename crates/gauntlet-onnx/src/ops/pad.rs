//! Pad (constant mode).

use burn::tensor::Tensor;

use gauntlet_core::Result;

use super::{Ctx, Inputs};
use crate::value::{physical, FloatValue, RANK};

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
