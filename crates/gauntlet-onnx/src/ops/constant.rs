//! Values made by the graph itself: Constant, ConstantOfShape, Range, and Cast.

use gauntlet_core::Result;

use super::{Ctx, Inputs};
use crate::graph::{Attribute, HostTensor};
use crate::value::{FloatValue, IntValue, Value};

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
        // BOOL: non-zero becomes 1, in the representation the value already has.
        (9, Value::Int(i)) => Ok(Value::Int(IntValue {
            data: i.data.iter().map(|&v| i64::from(v != 0)).collect(),
            shape: i.shape,
        })),
        (9, Value::Float(f)) => Ok(Value::Float(FloatValue {
            t: f.t.clone().not_equal_elem(0.0).float().cast(f.t.dtype()),
            rank: f.rank,
        })),
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

/// Range(start, limit, delta): integers on the host; floats computed on the host too (the
/// result depends on no tensor a gradient could reach).
pub fn range(ctx: &Ctx, mut inputs: Inputs) -> Result<Value> {
    let args = [
        inputs.value(0, ctx)?,
        inputs.value(1, ctx)?,
        inputs.value(2, ctx)?,
    ];
    if args.iter().all(|v| matches!(v, Value::Int(_))) {
        let [start, limit, delta] = args.map(|v| v.into_int().data.first().copied().unwrap_or(0));
        if delta == 0 {
            return Err(ctx.error("a Range delta of 0 is invalid"));
        }
        let count = ((limit - start) as f64 / delta as f64).ceil().max(0.0) as i64;
        let data: Vec<i64> = (0..count).map(|i| start + i * delta).collect();
        return Ok(Value::Int(IntValue::vector(data)));
    }
    let dtype = args.iter().find_map(|v| match v {
        Value::Float(f) => Some(f.t.dtype()),
        Value::Int(_) => None,
    });
    let [start, limit, delta] = args.map(|v| match v {
        Value::Float(f) => f.to_host_f64().first().copied().unwrap_or(0.0),
        Value::Int(i) => i.data.first().copied().unwrap_or(0) as f64,
    });
    if delta == 0.0 {
        return Err(ctx.error("a Range delta of 0 is invalid"));
    }
    let count = ((limit - start) / delta).ceil().max(0.0) as usize;
    let data: Vec<f32> = (0..count)
        .map(|i| (start + i as f64 * delta) as f32)
        .collect();
    let mut out = FloatValue::from_host(data, &[count], ctx.device)?;
    if let Some(dtype) = dtype {
        out.t = out.t.cast(dtype);
    }
    Ok(Value::Float(out))
}
