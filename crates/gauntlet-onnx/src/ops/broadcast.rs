//! NumPy broadcasting, for host integers and for operands that must meet in one burn call.

use burn::tensor::{Bool, DType, Tensor, TensorData};

use gauntlet_core::{Device, Result};

use super::Ctx;
use crate::value::{physical, FloatValue, IntValue, RANK};

/// Broadcast shape of two logical shapes, or an error naming both.
pub fn broadcast_shape(ctx: &Ctx, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        if i + s.len() >= rank {
            s[i + s.len() - rank]
        } else {
            1
        }
    };
    let mut out = vec![1; rank];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(ctx.error(format!(
                    "cannot broadcast shapes {a:?} and {b:?}; the input probably has the wrong \
                     shape for this model"
                )))
            }
        };
    }
    Ok(out)
}

/// Broadcast shape of any number of logical shapes.
pub fn broadcast_all(ctx: &Ctx, shapes: &[Vec<usize>]) -> Result<Vec<usize>> {
    shapes
        .iter()
        .try_fold(Vec::new(), |acc, s| broadcast_shape(ctx, &acc, s))
}

/// Element-wise `f` over host integer operands broadcast together.
pub fn host_map(
    ctx: &Ctx,
    operands: &[&IntValue],
    mut f: impl FnMut(&[i64]) -> Result<i64>,
) -> Result<IntValue> {
    let shapes: Vec<Vec<usize>> = operands.iter().map(|v| v.shape.clone()).collect();
    let shape = broadcast_all(ctx, &shapes)?;
    let rank = shape.len();
    // Per operand and output axis: the operand's stride, 0 where it is broadcast.
    let strides: Vec<Vec<usize>> = operands
        .iter()
        .map(|v| {
            let offset = rank - v.shape.len();
            let mut s = vec![0; rank];
            let mut stride = 1;
            for axis in (offset..rank).rev() {
                let d = v.shape[axis - offset];
                s[axis] = if d == 1 { 0 } else { stride };
                stride *= d;
            }
            s
        })
        .collect();
    let count: usize = shape.iter().product();
    let mut coords = vec![0usize; rank];
    let mut args = vec![0i64; operands.len()];
    let mut data = Vec::with_capacity(count);
    for _ in 0..count {
        for (k, v) in operands.iter().enumerate() {
            let idx: usize = coords.iter().zip(&strides[k]).map(|(c, s)| c * s).sum();
            args[k] = v.data[idx];
        }
        data.push(f(&args)?);
        // Odometer increment of the output coordinates.
        for axis in (0..rank).rev() {
            coords[axis] += 1;
            if coords[axis] < shape[axis] {
                break;
            }
            coords[axis] = 0;
        }
    }
    Ok(IntValue { data, shape })
}

/// Float operands made fit to meet in one burn operation: the widest precision among them,
/// and on the autodiff graph if any of them is (constants are not).
pub fn align(values: Vec<FloatValue>) -> Vec<FloatValue> {
    let dtype = if values.iter().any(|v| v.t.dtype() == DType::F64) {
        DType::F64
    } else {
        values.first().map_or(DType::F32, |v| v.t.dtype())
    };
    let tracked = values.iter().any(|v| v.t.is_autodiff());
    values
        .into_iter()
        .map(|v| {
            let mut t = if v.t.dtype() == dtype {
                v.t
            } else {
                v.t.cast(dtype)
            };
            if tracked && !t.is_autodiff() {
                t = t.autodiff();
            }
            FloatValue { t, rank: v.rank }
        })
        .collect()
}

/// A boolean mask uploaded from the host at logical shape `shape`.
pub fn bool_tensor(
    data: Vec<bool>,
    shape: &[usize],
    device: &Device,
) -> Result<Tensor<RANK, Bool>> {
    Ok(Tensor::from_data(
        TensorData::new(data, physical(shape)?),
        device,
    ))
}
