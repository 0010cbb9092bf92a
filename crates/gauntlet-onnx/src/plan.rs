//! What the interpreter runs: the graph's nodes with known operator patterns fused into
//! single nodes, and where each tensor is read for the last time.
//!
//! Exporters spell GELU out as `x/√2 → Erf → +1 → ·x → ·½` (in either order of the two
//! products). Fused into one `Gelu` node it runs as one pass over memory with one backward
//! step, instead of five element-wise operators each storing its own input for the backward
//! pass. A convolution followed by a ReLU (or not) and a max pooling, each the only reader of
//! the one before, becomes one node as well ([`ConvPoolNodes`]), so that a sample's
//! convolution output is pooled while still in the cache. The graph as parsed ([`Graph`]) is
//! left as the file has it, and [`Plan::detailed`] keeps every value the file names (what
//! [`crate::OnnxModel::activations`] may be asked for).

use std::collections::HashMap;

use crate::graph::{Attribute, Graph, HostTensor, Node};
use crate::ops::fused::ConvPoolNodes;

/// The nodes to evaluate, in order, and the last reader of each tensor.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Nodes in evaluation order (topological).
    pub nodes: Vec<Node>,
    /// Index in `nodes` of the last node reading each tensor, so intermediates are freed early.
    pub last_use: HashMap<String, usize>,
}

impl Plan {
    /// The plan of `graph` that computes every value the file names outside a GELU.
    pub fn detailed(graph: &Graph) -> Self {
        Self::of(fuse_gelu(graph))
    }

    /// This plan with its `Conv → (Relu) → MaxPool` chains fused as well; `output` is the
    /// graph's result.
    pub fn with_fused_chains(&self, output: &str) -> Self {
        Self::of(fuse_conv_pool(self.nodes.clone(), output))
    }

    /// Whether a node of the plan produces `name`.
    pub fn produces(&self, name: &str) -> bool {
        self.nodes
            .iter()
            .any(|n| n.outputs.iter().any(|o| o == name))
    }

    fn of(nodes: Vec<Node>) -> Self {
        let mut last_use = HashMap::new();
        for (i, node) in nodes.iter().enumerate() {
            for input in &node.inputs {
                last_use.insert(input.clone(), i);
            }
        }
        Plan { nodes, last_use }
    }
}

/// The value of a scalar float constant named `name` (an initializer or a Constant node's
/// output), if it is one.
fn scalar(graph: &Graph, producers: &HashMap<&str, usize>, name: &str) -> Option<f32> {
    let tensor = match graph.constants.get(name) {
        Some(t) => t,
        None => {
            let node = &graph.nodes[*producers.get(name)?];
            if node.op != "Constant" {
                return None;
            }
            match node.attributes.get("value") {
                Some(Attribute::Tensor(t)) => t,
                _ => match node.attributes.get("value_float") {
                    Some(Attribute::Float(v)) => return Some(*v),
                    _ => return None,
                },
            }
        }
    };
    match tensor {
        HostTensor::Float { data, .. } if data.len() == 1 => Some(data[0]),
        _ => None,
    }
}

/// `x` is `v` up to float32 rounding of a constant written in decimal.
fn near(x: f32, v: f32) -> bool {
    (x - v).abs() <= 1e-6 * v.abs()
}

/// Replaces each `Conv → (Relu) → MaxPool` chain whose values have no other reader (and are
/// not the graph's result) by one node.
fn fuse_conv_pool(nodes: Vec<Node>, output: &str) -> Vec<Node> {
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        for input in node.inputs.iter().filter(|i| !i.is_empty()) {
            readers.entry(input).or_default().push(i);
        }
    }
    // The one node reading the one output of node `i`, when there is exactly one.
    let only_reader = |i: usize| -> Option<usize> {
        let [out] = nodes[i].outputs.as_slice() else {
            return None;
        };
        match readers.get(out.as_str()).map(Vec::as_slice) {
            Some(&[r]) if out != output && nodes[r].inputs.first() == Some(out) => Some(r),
            _ => None,
        }
    };
    let pooling = |i: usize| {
        let node = &nodes[i];
        node.op == "MaxPool" && node.outputs.iter().skip(1).all(String::is_empty)
    };
    let mut fused: HashMap<usize, Node> = HashMap::new();
    let mut removed = vec![false; nodes.len()];
    for (c, conv) in nodes.iter().enumerate() {
        if conv.op != "Conv" {
            continue;
        }
        let Some(next) = only_reader(c) else {
            continue;
        };
        let (relu, pool) = if nodes[next].op == "Relu" && nodes[next].inputs.len() == 1 {
            match only_reader(next) {
                Some(p) if pooling(p) => (Some(next), p),
                _ => continue,
            }
        } else if pooling(next) {
            (None, next)
        } else {
            continue;
        };
        let chain = ConvPoolNodes::fuse(conv, relu.map(|r| &nodes[r]), &nodes[pool]);
        fused.insert(c, chain);
        removed[pool] = true;
        if let Some(r) = relu {
            removed[r] = true;
        }
    }
    nodes
        .into_iter()
        .enumerate()
        .filter_map(|(i, node)| match fused.remove(&i) {
            Some(chain) => Some(chain),
            None if removed[i] => None,
            None => Some(node),
        })
        .collect()
}

/// Replaces each exported exact GELU by one `Gelu` node.
fn fuse_gelu(graph: &Graph) -> Vec<Node> {
    let nodes = &graph.nodes;
    let mut producers: HashMap<&str, usize> = HashMap::new();
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        for output in &node.outputs {
            producers.insert(output, i);
        }
        for input in &node.inputs {
            readers.entry(input).or_default().push(i);
        }
    }
    // The one node reading `name`, when it is read once and is not the graph's result.
    let only_reader = |name: &str| -> Option<usize> {
        match readers.get(name).map(Vec::as_slice) {
            Some(&[i]) if name != graph.output_name => Some(i),
            _ => None,
        }
    };
    let is = |i: usize, op: &str| nodes[i].op == op && nodes[i].inputs.len() == 2;
    // The operand of binary node `i` other than `name`, when `name` is one of its operands.
    let other = |i: usize, name: &str| -> Option<&str> {
        match nodes[i].inputs.as_slice() {
            [a, b] if a == name => Some(b),
            [a, b] if b == name => Some(a),
            _ => None,
        }
    };
    let constant = |name: &str| scalar(graph, &producers, name);
    let mut removed = vec![false; nodes.len()];
    let mut replaced: HashMap<usize, Node> = HashMap::new();
    for (e, erf) in nodes.iter().enumerate() {
        let found = (|| {
            if erf.op != "Erf" || erf.inputs.len() != 1 {
                return None;
            }
            // x/√2 (or x·(1/√2)).
            let scaled = *producers.get(erf.inputs[0].as_str())?;
            let [x, c] = nodes[scaled].inputs.as_slice() else {
                return None;
            };
            let half_root = std::f32::consts::FRAC_1_SQRT_2;
            let fits = match nodes[scaled].op.as_str() {
                "Div" => constant(c).is_some_and(|v| near(v, std::f32::consts::SQRT_2)),
                "Mul" => constant(c).is_some_and(|v| near(v, half_root)),
                _ => false,
            };
            if !fits || only_reader(&erf.inputs[0])? != e {
                return None;
            }
            // 1 + erf(·).
            let plus = only_reader(&erf.outputs[0])?;
            if !is(plus, "Add")
                || !constant(other(plus, &erf.outputs[0])?).is_some_and(|v| v == 1.0)
            {
                return None;
            }
            // Two products with x and ½, in either order; or one with x·½ computed apart.
            let first = only_reader(&nodes[plus].outputs[0])?;
            if !is(first, "Mul") {
                return None;
            }
            let by = other(first, &nodes[plus].outputs[0])?;
            let half = |name: &str| constant(name).is_some_and(|v| v == 0.5);
            let mut chain = vec![scaled, e, plus, first];
            let last = if by == x || half(by) {
                let second = only_reader(&nodes[first].outputs[0])?;
                let rest = other(second, &nodes[first].outputs[0])?;
                let pair_fits = (by == x && half(rest)) || (half(by) && rest == x);
                if !is(second, "Mul") || !pair_fits {
                    return None;
                }
                chain.push(second);
                second
            } else {
                // (x·½)·(1 + erf): the product x·½ must serve only this GELU.
                let halved = *producers.get(by)?;
                let h = other(halved, x)?;
                if !is(halved, "Mul") || !half(h) || only_reader(by)? != first {
                    return None;
                }
                chain.push(halved);
                first
            };
            Some((x.clone(), chain, last))
        })();
        let Some((x, chain, last)) = found else {
            continue;
        };
        if chain
            .iter()
            .any(|&i| removed[i] || replaced.contains_key(&i))
        {
            continue;
        }
        for &i in &chain {
            removed[i] = true;
        }
        let mut attributes = HashMap::new();
        attributes.insert("approximate".to_string(), Attribute::String("none".into()));
        replaced.insert(
            last,
            Node {
                op: "Gelu".into(),
                name: format!("{} (fused GELU)", erf.name),
                inputs: vec![x],
                outputs: nodes[last].outputs.clone(),
                attributes,
            },
        );
    }
    nodes
        .iter()
        .enumerate()
        .filter_map(|(i, node)| match replaced.remove(&i) {
            Some(fused) => Some(fused),
            None if removed[i] => None,
            None => Some(node.clone()),
        })
        .collect()
}
