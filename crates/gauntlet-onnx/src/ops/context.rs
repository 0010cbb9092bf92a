//! What an operator sees: its node's attributes and settings ([`Ctx`]) and its inputs
//! ([`Inputs`]).

use gauntlet_core::{Device, Error, Result};

use crate::graph::{Attribute, Node};
use crate::training::TrainingState;
use crate::value::{FloatValue, IntValue, Value};

/// What every operator may consult besides its inputs.
pub struct Ctx<'a> {
    pub node: &'a Node,
    pub opset: i64,
    pub device: &'a Device,
    /// Backward Pass Differentiable Approximation: non-differentiable rounding operators pass
    /// the gradient through unchanged (Athalye et al., 2018).
    pub bpda: bool,
    /// Set while a trainer runs the graph ([`crate::training::Pass`]): BatchNormalization
    /// and Dropout read it to choose their training form.
    pub training: Option<&'a TrainingState>,
}

impl Ctx<'_> {
    /// Whether training-form operators should train (batch statistics, dropout).
    pub fn training(&self) -> Option<&TrainingState> {
        self.training.filter(|t| t.train)
    }

    /// An error about this node.
    pub fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::Model(format!(
            "node '{}' ({}): {message}",
            self.node.name, self.node.op
        ))
    }

    pub fn int(&self, key: &str, default: i64) -> i64 {
        match self.node.attributes.get(key) {
            Some(Attribute::Int(v)) => *v,
            _ => default,
        }
    }

    pub fn float(&self, key: &str, default: f32) -> f32 {
        match self.node.attributes.get(key) {
            Some(Attribute::Float(v)) => *v,
            Some(Attribute::Int(v)) => *v as f32,
            _ => default,
        }
    }

    pub fn ints(&self, key: &str) -> Option<Vec<i64>> {
        match self.node.attributes.get(key) {
            Some(Attribute::Ints(v)) => Some(v.clone()),
            Some(Attribute::Int(v)) => Some(vec![*v]),
            _ => None,
        }
    }

    pub fn string(&self, key: &str, default: &str) -> String {
        match self.node.attributes.get(key) {
            Some(Attribute::String(v)) => v.clone(),
            _ => default.to_string(),
        }
    }

    /// Normalizes a possibly negative axis against `rank`.
    pub fn axis(&self, axis: i64, rank: usize) -> Result<usize> {
        let r = rank as i64;
        let a = if axis < 0 { axis + r } else { axis };
        if a < 0 || a >= r.max(1) {
            return Err(self.error(format!("axis {axis} is out of range for rank {rank}")));
        }
        Ok(a as usize)
    }
}

/// Inputs of one node, by position; absent optional inputs are `None`.
pub struct Inputs(pub Vec<Option<Value>>);

impl Inputs {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn opt(&mut self, i: usize) -> Option<Value> {
        self.0.get_mut(i).and_then(Option::take)
    }

    pub fn value(&mut self, i: usize, ctx: &Ctx) -> Result<Value> {
        self.opt(i)
            .ok_or_else(|| ctx.error(format!("required input {i} is missing")))
    }

    pub fn float(&mut self, i: usize, ctx: &Ctx) -> Result<FloatValue> {
        self.value(i, ctx)?.into_float(ctx.device)
    }

    pub fn ints_opt(&mut self, i: usize) -> Option<IntValue> {
        self.opt(i).map(Value::into_int)
    }
}
