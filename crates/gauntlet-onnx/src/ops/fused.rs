//! How a fused `Conv → (Relu) → MaxPool` chain is written as one node, and read back.
//!
//! The plan ([`crate::plan`]) writes the chain as one node of the internal operator
//! [`CONV_POOL`]: the convolution's inputs, the pooling's output, the convolution's attributes
//! as they were, the pooling's with a `pool.` prefix, and the three nodes' names, so that
//! [`super::nn::conv_pool`] can run them one by one (where the fused kernels do not serve)
//! with errors that name the file's nodes.

use std::collections::HashMap;

use crate::graph::{Attribute, Node};

/// The internal operator of a fused chain. No ONNX operator has this name, and operators of
/// other domains carry their domain as a prefix.
pub const CONV_POOL: &str = "ConvReluMaxPool";

const POOL_PREFIX: &str = "pool.";
const CONV_NAME: &str = "names.conv";
const RELU_NAME: &str = "names.relu";
const POOL_NAME: &str = "names.pool";

/// The chain's nodes: what the fused node stands for.
pub struct ConvPoolNodes {
    pub conv: Node,
    pub relu: Option<Node>,
    pub pool: Node,
}

impl ConvPoolNodes {
    /// One node standing for the chain: the convolution's inputs, the pooling's outputs.
    pub fn fuse(conv: &Node, relu: Option<&Node>, pool: &Node) -> Node {
        let mut attributes = conv.attributes.clone();
        for (key, value) in &pool.attributes {
            attributes.insert(format!("{POOL_PREFIX}{key}"), value.clone());
        }
        attributes.insert(CONV_NAME.into(), Attribute::String(conv.name.clone()));
        attributes.insert(POOL_NAME.into(), Attribute::String(pool.name.clone()));
        if let Some(relu) = relu {
            attributes.insert(RELU_NAME.into(), Attribute::String(relu.name.clone()));
        }
        let steps = match relu {
            Some(_) => "Conv + Relu + MaxPool",
            None => "Conv + MaxPool",
        };
        Node {
            op: CONV_POOL.into(),
            name: format!("{} ({steps}, fused)", conv.name),
            inputs: conv.inputs.clone(),
            outputs: pool.outputs.clone(),
            attributes,
        }
    }

    /// The chain a node made by [`ConvPoolNodes::fuse`] stands for (without the intermediate
    /// values' names, which the fused node does not keep).
    pub fn of(fused: &Node) -> Self {
        let mut conv = HashMap::new();
        let mut pool = HashMap::new();
        let mut names = HashMap::new();
        for (key, value) in &fused.attributes {
            if let Some(key) = key.strip_prefix(POOL_PREFIX) {
                pool.insert(key.to_string(), value.clone());
            } else if let (true, Attribute::String(name)) = (key.starts_with("names."), value) {
                names.insert(key.as_str(), name.clone());
            } else {
                conv.insert(key.clone(), value.clone());
            }
        }
        let node = |op: &str, name: Option<&String>, attributes| Node {
            op: op.into(),
            name: name.cloned().unwrap_or_else(|| fused.name.clone()),
            inputs: Vec::new(),
            outputs: Vec::new(),
            attributes,
        };
        ConvPoolNodes {
            conv: node("Conv", names.get(CONV_NAME), conv),
            relu: names
                .get(RELU_NAME)
                .map(|name| node("Relu", Some(name), HashMap::new())),
            pool: node("MaxPool", names.get(POOL_NAME), pool),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_attributes(a: &Node, b: &Node) {
        assert_eq!(a.attributes.len(), b.attributes.len());
        for (key, value) in &b.attributes {
            assert_eq!(
                format!("{:?}", a.attributes[key]),
                format!("{value:?}"),
                "{key}"
            );
        }
    }

    #[test]
    fn a_fused_node_gives_back_its_nodes() {
        let node = |op: &str, name: &str, attributes: &[(&str, Attribute)]| Node {
            op: op.into(),
            name: name.into(),
            inputs: vec![format!("{name}_in"), "w".into()],
            outputs: vec![format!("{name}_out")],
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        };
        let conv = node(
            "Conv",
            "c",
            &[
                ("kernel_shape", Attribute::Ints(vec![5, 5])),
                ("pads", Attribute::Ints(vec![1, 1, 1, 1])),
            ],
        );
        let relu = node("Relu", "r", &[]);
        let pool = node(
            "MaxPool",
            "p",
            &[
                ("kernel_shape", Attribute::Ints(vec![2, 2])),
                ("strides", Attribute::Ints(vec![2, 2])),
            ],
        );
        for relu in [Some(&relu), None] {
            let fused = ConvPoolNodes::fuse(&conv, relu, &pool);
            assert_eq!(fused.op, CONV_POOL);
            assert_eq!(fused.inputs, conv.inputs);
            assert_eq!(fused.outputs, pool.outputs);
            let back = ConvPoolNodes::of(&fused);
            assert_eq!(back.conv.name, "c");
            same_attributes(&back.conv, &conv);
            assert_eq!(back.pool.name, "p");
            same_attributes(&back.pool, &pool);
            assert_eq!(back.relu.map(|r| r.name), relu.map(|r| r.name.clone()));
        }
    }
}
