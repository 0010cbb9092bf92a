//! Activations of any named value of the graph, for detectors that look inside a model
//! (spectral signatures, activation clustering): the graph is evaluated up to that value and
//! the value is returned flat per sample, `[N, features]`. No gradient is recorded.
//!
//! The default layer is the input of the last linear layer on the way to the class scores (a
//! `Gemm`, or a `MatMul` with a constant weight): what the papers call the penultimate-layer
//! representation, found by walking the graph back from the scores, whatever the exporter
//! named the values.

use std::collections::HashSet;

use burn::tensor::{DType, Tensor};

use gauntlet_core::{guard, Error, Result};

use crate::OnnxModel;

/// Operators read as a linear layer when they multiply by a constant weight.
const LINEAR_OPS: [&str; 2] = ["Gemm", "MatMul"];

impl OnnxModel {
    /// Names of the values the interpreter computes on the way to the class scores (the graph
    /// input first, then every node output in evaluation order): what
    /// [`OnnxModel::activations`] accepts.
    pub fn value_names(&self) -> Vec<String> {
        std::iter::once(self.graph.input_name.clone())
            .chain(
                self.detailed
                    .nodes
                    .iter()
                    .flat_map(|n| n.outputs.iter())
                    .filter(|o| !o.is_empty())
                    .cloned(),
            )
            .collect()
    }

    /// The input of the last linear layer (`Gemm`, or `MatMul` by a constant) on the path to
    /// the class scores: the default layer whose activations detectors read. An error when
    /// the scores do not pass through a linear layer.
    pub fn last_linear_input(&self) -> Result<String> {
        let producer = |name: &str| {
            self.detailed
                .nodes
                .iter()
                .find(|n| n.outputs.iter().any(|o| o == name))
        };
        let constant = |name: &str| self.graph.constants.contains_key(name) || name.is_empty();
        // Breadth first from the scores: the nearest linear layer wins.
        let mut queue = std::collections::VecDeque::from([self.graph.output_name.clone()]);
        let mut seen = HashSet::new();
        while let Some(name) = queue.pop_front() {
            if !seen.insert(name.clone()) {
                continue;
            }
            let Some(node) = producer(&name) else {
                continue;
            };
            let data: Vec<&String> = node.inputs.iter().filter(|i| !constant(i)).collect();
            if LINEAR_OPS.contains(&node.op.as_str()) && data.len() == 1 {
                return Ok(data[0].clone());
            }
            queue.extend(data.into_iter().cloned());
        }
        Err(Error::Model(format!(
            "'{}': no linear layer (Gemm, or MatMul by a constant weight) leads to the class \
             scores, so there is no default layer; name one of these values as the layer:\n{}",
            self.label,
            self.candidate_listing()
        )))
    }

    /// The value `name` for a flat batch `x` (`[N, features]`, the same input as
    /// [`gauntlet_core::model::Classifier::logits`]), flattened per sample to `[N, size]`.
    /// An error listing the candidate names when the graph computes no such value on the way
    /// to its scores.
    pub fn activations(&self, x: Tensor<2>, name: &str) -> Result<Tensor<2>> {
        if !self.value_names().iter().any(|v| v == name) {
            return Err(Error::Model(format!(
                "'{}' computes no value named '{name}' on the way to its scores; give one of \
                 these as the layer:\n{}",
                self.label,
                self.candidate_listing()
            )));
        }
        let [n, f] = x.dims();
        self.check_features(f)?;
        let x = x.detach();
        let x = match &self.normalization {
            Some(norm) => norm.apply(x, &self.device),
            None => x,
        };
        if name == self.graph.input_name {
            return Ok(x);
        }
        let one = |x: Tensor<2>| -> Result<Tensor<2>> {
            let rows = x.dims()[0];
            let value = self.evaluate_to(x, None, name)?;
            let size: usize = value.shape().iter().product();
            if value.shape().first() != Some(&rows) {
                return Err(Error::Model(format!(
                    "'{}': value '{name}' has shape {:?}, which is not one row per sample of \
                     a batch of {rows}; choose a value with the batch as its first axis",
                    self.label,
                    value.shape()
                )));
            }
            Ok(value.t.reshape([rows, size / rows]).cast(DType::F32))
        };
        guard::catch(
            &format!("evaluating '{}' up to '{name}' failed", self.label),
            || {
                if self.batch_of_one && n > 1 {
                    let rows: Vec<Tensor<2>> = (0..n)
                        .map(|i| one(x.clone().slice([i..i + 1, 0..f])))
                        .collect::<Result<_>>()?;
                    Ok(Tensor::cat(rows, 0))
                } else {
                    one(x)
                }
            },
        )
    }

    /// The value names as an indented list, each with the operator that produces it.
    fn candidate_listing(&self) -> String {
        let mut lines = vec![format!("  - {} (the input)", self.graph.input_name)];
        for node in &self.detailed.nodes {
            for o in node.outputs.iter().filter(|o| !o.is_empty()) {
                lines.push(format!("  - {o} ({} node '{}')", node.op, node.name));
            }
        }
        lines.join("\n")
    }
}
