//! Values flowing between nodes.
//!
//! Float tensors are stored at one fixed rank ([`RANK`]) with leading axes of size 1, plus
//! their logical rank. Right-aligned NumPy broadcasting then *is* same-rank broadcasting, one
//! tensor type serves every node, and changing the logical rank is a free reshape. Integer
//! tensors (shapes, indices) live on the host: they never carry gradients.

use burn::tensor::{Tensor, TensorData};

use gauntlet_core::{Device, Error, Result};

use crate::graph::HostTensor;

/// Physical rank of every float tensor.
pub const RANK: usize = 6;

/// A float tensor of logical rank `rank ≤ RANK`.
#[derive(Clone, Debug)]
pub struct FloatValue {
    /// The values at physical rank [`RANK`]: the logical shape padded with leading ones.
    pub t: Tensor<RANK>,
    /// The logical rank, `0..=RANK`: how many trailing axes of `t` the graph sees.
    pub rank: usize,
}

/// Pads a logical shape with leading ones to the physical rank.
pub fn physical(shape: &[usize]) -> Result<[usize; RANK]> {
    if shape.len() > RANK {
        return Err(Error::Model(format!(
            "a tensor of rank {} appears in the graph; gauntlet supports tensors up to rank {RANK}",
            shape.len()
        )));
    }
    let mut dims = [1usize; RANK];
    dims[RANK - shape.len()..].copy_from_slice(shape);
    Ok(dims)
}

/// The permutation taking physical shape `from` to `to` when the two differ only in where
/// their axes of length 1 sit (the other lengths in the same order); `None` otherwise, or
/// when nothing moves.
fn unit_axes_moved(from: &[usize; RANK], to: &[usize; RANK]) -> Option<[usize; RANK]> {
    if from == to {
        return None;
    }
    let long = |s: &[usize; RANK]| -> Vec<usize> { (0..RANK).filter(|&i| s[i] != 1).collect() };
    let (long_from, long_to) = (long(from), long(to));
    let lengths =
        |s: &[usize; RANK], axes: &[usize]| axes.iter().map(|&i| s[i]).collect::<Vec<_>>();
    if lengths(from, &long_from) != lengths(to, &long_to) {
        return None;
    }
    // Output axis i reads input axis axes[i]: long axes in order, unit axes in order.
    let mut units = (0..RANK).filter(|&i| from[i] == 1);
    let mut longs = long_from.into_iter();
    Some(std::array::from_fn(|i| {
        if to[i] == 1 {
            units.next().expect("as many unit axes on both sides")
        } else {
            longs.next().expect("as many long axes on both sides")
        }
    }))
}

impl FloatValue {
    /// Wraps a tensor of any rank.
    pub fn from_tensor<const D: usize>(t: Tensor<D>) -> Self {
        let dims = t.dims();
        let phys = physical(&dims).expect("rank checked by the caller");
        FloatValue {
            t: t.reshape(phys),
            rank: D,
        }
    }

    /// Uploads host data.
    pub fn from_host(data: Vec<f32>, shape: &[usize], device: &Device) -> Result<Self> {
        let phys = physical(shape)?;
        Ok(FloatValue {
            t: Tensor::from_data(TensorData::new(data, phys), device),
            rank: shape.len(),
        })
    }

    /// The logical shape.
    pub fn shape(&self) -> Vec<usize> {
        self.t.dims()[RANK - self.rank..].to_vec()
    }

    /// Number of values.
    pub fn numel(&self) -> usize {
        self.t.dims().iter().product()
    }

    /// Physical index of logical axis `axis`.
    pub fn axis(&self, axis: usize) -> usize {
        axis + RANK - self.rank
    }

    /// Changes the logical shape (same number of elements).
    pub fn reshape(self, shape: &[usize]) -> Result<Self> {
        let count: usize = shape.iter().product();
        if count != self.numel() {
            return Err(Error::Model(format!(
                "cannot reshape a tensor of shape {:?} ({} values) to {shape:?} ({count} values)",
                self.shape(),
                self.numel()
            )));
        }
        let target = physical(shape)?;
        let dims = self.t.dims();
        let t = match unit_axes_moved(&dims, &target) {
            // Nothing changes: a reshape would still copy a strided view.
            _ if dims == target => self.t,
            // Only axes of length 1 come or go (Squeeze, Unsqueeze, a rank change): a
            // permutation says the same without copying a strided view (a reshape would).
            Some(axes) => self.t.permute(axes),
            // Split or merged axes: a view where the strides allow (burn would copy).
            None if crate::ops::view::served(&self.t) => crate::ops::view::reshape(self.t, target),
            None => self.t.reshape(target),
        };
        Ok(FloatValue {
            t,
            rank: shape.len(),
        })
    }

    /// Broadcasts to the logical shape `shape` (NumPy rules; a view, no copy).
    pub fn expand_to(self, shape: &[usize]) -> Result<Self> {
        Ok(FloatValue {
            t: self.t.expand(physical(shape)?),
            rank: shape.len(),
        })
    }

    /// The values on the host in double precision, detached (for index and mask arithmetic).
    pub fn to_host_f64(&self) -> Vec<f64> {
        self.t
            .clone()
            .detach()
            .without_autodiff()
            .into_data()
            .convert::<f64>()
            .try_into_vec::<f64>()
            .expect("a float tensor converts to f64")
    }

    /// The tensor at its logical rank `D` (which must equal `self.rank`).
    pub fn at_rank<const D: usize>(&self) -> Tensor<D> {
        let shape = self.shape();
        let dims: [usize; D] = shape.try_into().expect("rank checked by the caller");
        self.t.clone().reshape(dims)
    }
}

/// An integer tensor on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct IntValue {
    /// Row-major values, `shape.iter().product()` of them.
    pub data: Vec<i64>,
    /// Dimensions; empty for a scalar.
    pub shape: Vec<usize>,
}

impl IntValue {
    /// A rank-0 tensor.
    pub fn scalar(v: i64) -> Self {
        IntValue {
            data: vec![v],
            shape: vec![],
        }
    }

    /// A rank-1 tensor holding `data`.
    pub fn vector(data: Vec<i64>) -> Self {
        let n = data.len();
        IntValue {
            data,
            shape: vec![n],
        }
    }
}

/// What a node input or output holds.
// Nearly every value is a Float: boxing it would cost an allocation per node output.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Value {
    /// A float tensor, on the device; gradients flow through it.
    Float(FloatValue),
    /// An integer tensor on the host (shapes, indices, axes); no gradient.
    Int(IntValue),
}

impl Value {
    /// A constant from the file: floats are uploaded to `device`, integers stay on the host.
    pub fn from_host(t: &HostTensor, device: &Device) -> Result<Value> {
        Ok(match t {
            HostTensor::Float { data, shape } => {
                Value::Float(FloatValue::from_host(data.clone(), shape, device)?)
            }
            HostTensor::Int { data, shape } => Value::Int(IntValue {
                data: data.clone(),
                shape: shape.clone(),
            }),
        })
    }

    /// The logical shape.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Value::Float(f) => f.shape(),
            Value::Int(i) => i.shape.clone(),
        }
    }

    /// As a float tensor, uploading integers if needed.
    pub fn into_float(self, device: &Device) -> Result<FloatValue> {
        match self {
            Value::Float(f) => Ok(f),
            Value::Int(i) => {
                FloatValue::from_host(i.data.iter().map(|&v| v as f32).collect(), &i.shape, device)
            }
        }
    }

    /// As host integers, truncating floats toward zero (not differentiable).
    pub fn into_int(self) -> IntValue {
        match self {
            Value::Int(i) => i,
            Value::Float(f) => {
                let shape = f.shape();
                let data = gauntlet_core::tensor::to_vec(f.t.detach().without_autodiff())
                    .into_iter()
                    .map(|v| v as i64)
                    .collect();
                IntValue { data, shape }
            }
        }
    }

    /// Host values as f32 (for small constant operands such as clip bounds).
    pub fn to_host_f32(&self) -> Vec<f32> {
        match self {
            Value::Int(i) => i.data.iter().map(|&v| v as f32).collect(),
            Value::Float(f) => {
                gauntlet_core::tensor::to_vec(f.t.clone().detach().without_autodiff())
            }
        }
    }
}
