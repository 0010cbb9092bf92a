//! Which nodes mask the gradient of the output with respect to the input.
//!
//! A node counts when the input's values reach it, it is a gradient blocker (zero or no
//! gradient almost everywhere: rounding, casts to integers, comparisons, ArgMax/ArgMin), and
//! its result reaches the output. "Reach" follows dependencies on values only: the inputs an
//! operator reads for a shape, a count or axes (Shape's input, Reshape's target shape,
//! Slice's bounds, …) carry none, and neither does Where's condition, which picks between
//! two branches that keep their gradients (as ReLU does). So a Cast or an ArgMax that only
//! feeds shape arithmetic, or a comparison that only chooses a branch, is not reported.

use std::collections::HashSet;

use crate::graph::{Attribute, Graph, Node};
use crate::ops::GRADIENT_BLOCKERS;

/// Whether input `i` of `op` influences the output's values (not only its shape, or the
/// choice between differentiable branches).
fn carries_values(op: &str, i: usize) -> bool {
    match op {
        "Shape" | "Size" | "ConstantOfShape" => false,
        "Where" => i != 0,
        "Reshape" | "Expand" | "Tile" | "Squeeze" | "Unsqueeze" | "Split" | "TopK" | "Slice"
        | "Upsample" | "Resize" | "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" => i == 0,
        "Pad" => i != 1 && i != 3,
        _ => true,
    }
}

fn is_blocker(node: &Node) -> bool {
    if node.op == "Cast" {
        // To an integer or boolean type: float, float16, double and bfloat16 keep gradients.
        return !matches!(
            node.attributes.get("to"),
            Some(Attribute::Int(1 | 10 | 11 | 16))
        );
    }
    GRADIENT_BLOCKERS.contains(&node.op.as_str())
}

/// `(operator, node name)` of each blocking node, in graph order.
pub fn find(graph: &Graph) -> Vec<(String, String)> {
    let mut from_input: HashSet<&str> = HashSet::from([graph.input_name.as_str()]);
    for node in &graph.nodes {
        let reads = node
            .inputs
            .iter()
            .enumerate()
            .any(|(i, name)| carries_values(&node.op, i) && from_input.contains(name.as_str()));
        if reads {
            from_input.extend(node.outputs.iter().map(String::as_str));
        }
    }
    let mut to_output: HashSet<&str> = HashSet::from([graph.output_name.as_str()]);
    for node in graph.nodes.iter().rev() {
        if node.outputs.iter().any(|o| to_output.contains(o.as_str())) {
            for (i, name) in node.inputs.iter().enumerate() {
                if carries_values(&node.op, i) {
                    to_output.insert(name.as_str());
                }
            }
        }
    }
    graph
        .nodes
        .iter()
        .filter(|node| {
            is_blocker(node)
                && node.inputs.iter().enumerate().any(|(i, name)| {
                    carries_values(&node.op, i) && from_input.contains(name.as_str())
                })
                && node.outputs.iter().any(|o| to_output.contains(o.as_str()))
        })
        .map(|node| (node.op.clone(), node.name.clone()))
        .collect()
}
