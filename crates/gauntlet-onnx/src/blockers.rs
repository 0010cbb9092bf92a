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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn node(op: &str, inputs: &[&str], output: &str, to: Option<i64>) -> Node {
        Node {
            op: op.into(),
            name: output.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: vec![output.into()],
            attributes: to
                .map(|t| HashMap::from([("to".to_string(), Attribute::Int(t))]))
                .unwrap_or_default(),
        }
    }

    fn graph(nodes: Vec<Node>) -> Graph {
        Graph {
            nodes,
            constants: HashMap::new(),
            input_name: "x".into(),
            input_dims: Vec::new(),
            output_name: "y".into(),
            scores: crate::graph::Scores {
                output: "y".into(),
                bypassed: Vec::new(),
            },
            outputs: Vec::new(),
            opset: 17,
            producer: String::new(),
        }
    }

    fn names(g: &Graph) -> Vec<String> {
        find(g).into_iter().map(|(_, name)| name).collect()
    }

    #[test]
    fn a_binarizing_comparison_and_a_rounding_are_reported() {
        let g = graph(vec![
            node("Greater", &["x", "half"], "gt", None),
            node("Cast", &["gt"], "bits", Some(1)),
            node("Round", &["x"], "r", None),
            node("Mul", &["bits", "r"], "y", None),
        ]);
        assert_eq!(names(&g), ["gt", "r"]);
    }

    #[test]
    fn a_branch_choice_is_not_reported() {
        // torch.where(x > 0, x, 0.1 * x): a piecewise-linear function, like a leaky ReLU.
        let g = graph(vec![
            node("Greater", &["x", "zero"], "gt", None),
            node("Mul", &["x", "tenth"], "small", None),
            node("Where", &["gt", "x", "small"], "y", None),
        ]);
        assert!(names(&g).is_empty());
    }

    #[test]
    fn shape_arithmetic_is_not_reported() {
        // ArgMax and an integer Cast of input values feed only a Reshape's target shape, and
        // a Cast of the input's Shape never depends on its values.
        let g = graph(vec![
            node("ArgMax", &["x"], "am", None),
            node("Cast", &["am"], "am_i", Some(7)),
            node("Shape", &["x"], "s", None),
            node("Cast", &["s"], "s_f", Some(1)),
            node("Floor", &["s_f"], "s_floor", None),
            node("Concat", &["am_i", "s_floor"], "target", None),
            node("Reshape", &["x", "target"], "y", None),
        ]);
        assert!(names(&g).is_empty());
    }

    #[test]
    fn an_argmax_selecting_values_is_reported() {
        // Hard selection: the output depends on x through an index the gradient cannot see.
        let g = graph(vec![
            node("ArgMax", &["x"], "am", None),
            node("Gather", &["table", "am"], "y", None),
        ]);
        assert_eq!(names(&g), ["am"]);
    }

    #[test]
    fn a_blocker_off_the_output_path_is_not_reported() {
        let g = graph(vec![
            node("Round", &["x"], "unused", None),
            node("Relu", &["x"], "y", None),
        ]);
        assert!(names(&g).is_empty());
    }
}
