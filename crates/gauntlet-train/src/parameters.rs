//! Which of a graph's initializers are weights, and their values on the host.
//!
//! ONNX stores learned weights and plain constants alike as initializers; what makes one a
//! weight is where it is read: the kernel and bias of Conv, Gemm and MatMul, the scale and
//! shift of the normalizations, PRelu's slopes, a bias added to a product, a per-channel
//! scale. BatchNormalization's running mean and variance are state, not weights: a training
//! pass updates them from batch statistics. Everything else (shapes, axes, normalization
//! constants, attention scales) stays as the file has it.

use std::collections::HashMap;

use gauntlet_onnx::graph::{Graph, HostTensor};

/// What an initializer does in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The kernel of a convolution (`fan_in` = input channels per group × kernel area).
    ConvWeight,
    /// The matrix of Gemm or MatMul.
    MatrixWeight,
    /// An additive bias (Conv, Gemm, or an Add after a product).
    Bias,
    /// A multiplicative scale (normalization γ, a per-channel Mul).
    Scale,
    /// A normalization's shift β.
    Shift,
    /// PRelu's negative slopes.
    Slope,
    /// BatchNormalization's running mean (state, not trained by gradients).
    RunningMean,
    /// BatchNormalization's running variance (state, not trained by gradients).
    RunningVar,
}

impl Role {
    /// Whether gradients train it (running statistics are state).
    pub fn trainable(self) -> bool {
        !matches!(self, Role::RunningMean | Role::RunningVar)
    }
}

/// One initializer the trainer owns.
#[derive(Debug, Clone)]
pub struct Parameter {
    /// The initializer's name in the file.
    pub name: String,
    /// Its shape in the file.
    pub shape: Vec<usize>,
    /// What it does.
    pub role: Role,
    /// Inputs feeding each output value (for initialization).
    pub fan_in: usize,
    /// Outputs each input value feeds (for initialization).
    pub fan_out: usize,
    /// Current values, row-major.
    pub values: Vec<f32>,
}

/// The weights and state of one model, in file order of first use.
#[derive(Debug, Clone)]
pub struct Parameters {
    /// Every weight and running statistic found.
    pub list: Vec<Parameter>,
}

impl Parameters {
    /// Finds the weights of `graph` and copies their values from the file.
    pub fn discover(graph: &Graph) -> Parameters {
        let mut list: Vec<Parameter> = Vec::new();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for node in &graph.nodes {
            for (i, name) in node.inputs.iter().enumerate() {
                let Some(HostTensor::Float { data, shape }) = graph.constants.get(name) else {
                    continue;
                };
                if seen.contains_key(name.as_str()) {
                    continue;
                }
                let Some((role, fan_in, fan_out)) = role_of(graph, &node.op, node, i, shape) else {
                    continue;
                };
                seen.insert(name, list.len());
                list.push(Parameter {
                    name: name.clone(),
                    shape: shape.clone(),
                    role,
                    fan_in,
                    fan_out,
                    values: data.clone(),
                });
            }
        }
        Parameters { list }
    }

    /// The trainable ones.
    pub fn trainable(&self) -> impl Iterator<Item = &Parameter> {
        self.list.iter().filter(|p| p.role.trainable())
    }

    /// Number of trainable values.
    pub fn trainable_count(&self) -> usize {
        self.trainable().map(|p| p.values.len()).sum()
    }

    /// The parameter named `name`.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Parameter> {
        self.list.iter_mut().find(|p| p.name == name)
    }
}

/// The role of initializer input `i` of `node`, with its fans; `None` for a constant.
fn role_of(
    graph: &Graph,
    op: &str,
    node: &gauntlet_onnx::graph::Node,
    i: usize,
    shape: &[usize],
) -> Option<(Role, usize, usize)> {
    let numel: usize = shape.iter().product();
    let other_is_computed = |j: usize| {
        node.inputs
            .get(j)
            .is_some_and(|n| !n.is_empty() && !graph.constants.contains_key(n))
    };
    match (op, i) {
        ("Conv" | "ConvTranspose", 1) if shape.len() >= 3 => {
            let area: usize = shape[2..].iter().product();
            // Conv: [out, in/groups, k…]; ConvTranspose: [in, out/groups, k…].
            let (fan_in, fan_out) = if op == "Conv" {
                (shape[1] * area, shape[0] * area)
            } else {
                (shape[0] * area, shape[1] * area)
            };
            Some((Role::ConvWeight, fan_in, fan_out))
        }
        ("Gemm", 1) if shape.len() == 2 => {
            let trans_b = matches!(
                node.attributes.get("transB"),
                Some(gauntlet_onnx::graph::Attribute::Int(1))
            );
            let (fan_in, fan_out) = if trans_b {
                (shape[1], shape[0])
            } else {
                (shape[0], shape[1])
            };
            Some((Role::MatrixWeight, fan_in, fan_out))
        }
        ("MatMul", 1) if shape.len() == 2 && other_is_computed(0) => {
            Some((Role::MatrixWeight, shape[0], shape[1]))
        }
        ("Conv" | "ConvTranspose" | "Gemm", 2) => Some((Role::Bias, numel, numel)),
        ("Add", _) if !shape.is_empty() && numel > 0 && other_is_computed(1 - i.min(1)) => {
            Some((Role::Bias, numel, numel))
        }
        ("Mul", _) if !shape.is_empty() && numel > 1 && other_is_computed(1 - i.min(1)) => {
            Some((Role::Scale, numel, numel))
        }
        ("BatchNormalization", 1)
        | ("LayerNormalization" | "GroupNormalization" | "InstanceNormalization", 1) => {
            Some((Role::Scale, numel, numel))
        }
        ("BatchNormalization", 2)
        | ("LayerNormalization" | "GroupNormalization" | "InstanceNormalization", 2) => {
            Some((Role::Shift, numel, numel))
        }
        ("BatchNormalization", 3) => Some((Role::RunningMean, numel, numel)),
        ("BatchNormalization", 4) => Some((Role::RunningVar, numel, numel)),
        ("PRelu", 1) => Some((Role::Slope, numel, numel)),
        _ => None,
    }
}
