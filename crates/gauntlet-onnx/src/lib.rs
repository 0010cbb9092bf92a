//! gauntlet-onnx: evaluates a user's ONNX classifier at run time with burn tensor operations,
//! so that gradients of any objective reach the input.
//!
//! In an audit (data + model + threat model → attack → outcomes → evaluation → report) this
//! crate is the *model* of a white-box audit: [`OnnxModel`] implements gauntlet-core's
//! `Classifier` and `Differentiable`, so every attack in gauntlet-attacks, gradient-based or
//! query-based, runs on the file as exported. Nothing is generated or compiled: the graph
//! ([`graph::Graph`]) is interpreted node by node, every operator in
//! [`graph::SUPPORTED_OPS`] has a forward pass built from burn operations (and so a backward
//! pass), and a model that does not fit its data is an error naming the node, never a panic.
//! Convolution and max pooling on the CPU run gauntlet's own kernels, with their own backward
//! passes, because they dominate an attack's time.
//!
//! Built-in preprocessing keeps budgets in input space ([`OnnxModel::with_normalization`]);
//! [`OnnxModel::gradient_blockers`] and [`OnnxModel::with_bpda`] find and bypass operators
//! that mask gradients; [`OnnxModel::with_double_precision`] is for gradient checks.
//!
//! ```
//! use gauntlet_core::device::compute_device;
//! use gauntlet_core::loss::Objective;
//! use gauntlet_core::model::{loss_and_grad, predict, Classifier};
//! use gauntlet_core::tensor::from_rows;
//! use gauntlet_onnx::OnnxModel;
//!
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/mnist_cnn.onnx");
//! let model = OnnxModel::load(std::path::Path::new(path))?;
//! assert_eq!(model.sample_shape(), [1, 28, 28]);
//! assert_eq!(model.num_classes(), 10);
//!
//! // Two blank digits as a flat [2, 784] batch in [0, 1], and the model's predictions.
//! let x = from_rows(vec![0.0; 2 * 784], 2, 784, &compute_device());
//! let predicted = predict(&model, x.clone())?;
//! // The gradient of the cross-entropy of those predictions reaches the input.
//! let step = loss_and_grad(&model, &x, &Objective::CrossEntropy(&predicted))?;
//! assert_eq!(step.grad.dims(), [2, 784]);
//! # Ok::<(), gauntlet_core::Error>(())
//! ```

mod activations;
mod blockers;
pub mod gradcheck;
pub mod graph;
mod ops;
mod plan;
mod profile;
pub mod training;
pub mod value;

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::{DType, Tensor};

use gauntlet_core::device::compute_device;
use gauntlet_core::hash::sha256_hex;
pub use gauntlet_core::layout::Layout;
use gauntlet_core::model::{by_halves, Classifier, Differentiable};
use gauntlet_core::preprocess::Normalization;
use gauntlet_core::{guard, Device, Error, Result};

use graph::{Dim, Graph};
use ops::{Ctx, Inputs};
use training::{BatchStatistics, Pass, TrainingState};
use value::{physical, FloatValue, Value};

/// How to read an ONNX file beyond what it declares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadOptions {
    /// Shape of one sample in the model's own layout, for files whose input dimensions are
    /// symbolic (e.g. `[3, 224, 224]`, or `[224, 224, 3]` for a channels-last model).
    pub sample_shape: Option<Vec<usize>>,
    /// The graph output holding the class scores; by default the only float `[N, classes]`
    /// output.
    pub output: Option<String>,
    /// The input's layout; by default read off the sample shape ([`Layout::detect`]).
    pub layout: Option<Layout>,
    /// Evaluate convolution → ReLU → pooling chains node by node, as the file has them,
    /// instead of fused into one pass per sample (same values, slower): for checking the
    /// fused kernels.
    pub node_by_node: bool,
}

/// An ONNX classifier, ready to be queried and differentiated.
pub struct OnnxModel {
    graph: Graph,
    label: String,
    sha256: String,
    /// Constants uploaded once, keyed by tensor name.
    constants: HashMap<String, Value>,
    /// The nodes as evaluated (known patterns fused) and each tensor's last reader.
    plan: plan::Plan,
    /// The same with the values inside fused chains kept, for activations read there.
    detailed: plan::Plan,
    /// Channels-first shape of one sample: what callers see.
    sample_shape: Vec<usize>,
    /// The shape the graph takes (channels last for an NHWC model).
    graph_sample_shape: Vec<usize>,
    layout: Layout,
    num_classes: usize,
    /// The graph was exported with a fixed batch of one: batches are run sample by sample.
    batch_of_one: bool,
    normalization: Option<Normalization>,
    /// Floating-point precision of every tensor inside the graph.
    dtype: DType,
    /// Identity gradients through rounding operators (see [`OnnxModel::with_bpda`]).
    bpda: bool,
    device: Device,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("file", &self.label)
            .field("opset", &self.graph.opset)
            .field("sample_shape", &self.sample_shape)
            .field("num_classes", &self.num_classes)
            .finish()
    }
}

impl OnnxModel {
    /// Loads and checks an ONNX file. The sample shape is read from the graph's input.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes, &path.display().to_string(), None)
    }

    /// Loads from bytes; `sample_shape` overrides symbolic input dimensions.
    pub fn from_bytes(bytes: &[u8], label: &str, sample_shape: Option<Vec<usize>>) -> Result<Self> {
        let options = LoadOptions {
            sample_shape,
            ..LoadOptions::default()
        };
        Self::from_bytes_with(bytes, label, &options)
    }

    /// Loads from bytes with every [`LoadOptions`] setting.
    pub fn from_bytes_with(bytes: &[u8], label: &str, options: &LoadOptions) -> Result<Self> {
        let graph = Graph::parse_for_output(bytes, label, options.output.as_deref())?;
        let sample_shape = options.sample_shape.clone();
        let device = compute_device();
        let mut constants = HashMap::new();
        for (name, t) in &graph.constants {
            constants.insert(name.clone(), Value::from_host(t, &device)?);
        }
        let detailed = plan::Plan::detailed(&graph);
        let plan = if options.node_by_node {
            detailed.clone()
        } else {
            detailed.with_fused_chains(&graph.output_name)
        };
        let batch_of_one = matches!(graph.input_dims.first(), Some(Dim::Fixed(1)));
        let declared: Option<Vec<usize>> = graph
            .input_dims
            .iter()
            .skip(1)
            .map(|d| match d {
                Dim::Fixed(v) => Some(*v),
                Dim::Symbolic(_) => None,
            })
            .collect();
        let sample_shape = match (sample_shape, declared) {
            (Some(s), _) => s,
            (None, Some(s)) if !s.is_empty() => s,
            _ => {
                return Err(Error::Model(format!(
                    "'{label}' does not declare a fixed per-sample input shape (its input dims \
                     are {:?}); give the shape of one sample as `input_shape`, e.g. 1,28,28",
                    graph.input_dims
                )))
            }
        };
        let layout = options
            .layout
            .unwrap_or_else(|| Layout::detect(&sample_shape));
        if layout == Layout::Nhwc && sample_shape.len() != 3 {
            return Err(Error::Model(format!(
                "'{label}': a channels-last (nhwc) layout needs an image input [H, W, C] per \
                 sample, but the sample shape is {sample_shape:?}"
            )));
        }
        let mut model = OnnxModel {
            sha256: sha256_hex(bytes),
            label: label.to_string(),
            graph,
            constants,
            plan,
            detailed,
            sample_shape: layout.channels_first(&sample_shape),
            graph_sample_shape: sample_shape,
            layout,
            num_classes: 0,
            batch_of_one,
            normalization: None,
            dtype: DType::F32,
            bpda: false,
            device,
        };
        // One probe sample validates that the graph runs and tells the number of classes.
        let probe = Tensor::<2>::zeros([1, model.features()], &model.device);
        let out = model.run(probe)?;
        model.num_classes = out.dims()[1];
        if model.num_classes < 2 {
            return Err(Error::Model(format!(
                "'{label}' outputs {} score(s) per sample; a classifier needs at least 2",
                model.num_classes
            )));
        }
        Ok(model)
    }

    /// Applies per-channel `(x − mean) / std` inside the model.
    pub fn with_normalization(mut self, normalization: Normalization) -> Self {
        self.normalization = Some(normalization);
        self
    }

    /// How many nodes of the plan run a fused operator chain in one pass (convolution → ReLU →
    /// pooling); [`LoadOptions::node_by_node`] makes it 0.
    pub fn fused_chains(&self) -> usize {
        self.plan
            .nodes
            .iter()
            .filter(|n| n.op == ops::fused::CONV_POOL)
            .count()
    }

    /// Evaluates the graph in double precision (inputs and outputs stay `f32`). Slower; meant
    /// for checking gradients against finite differences without float32 round-off.
    pub fn with_double_precision(mut self) -> Self {
        self.dtype = DType::F64;
        for value in self.constants.values_mut() {
            if let Value::Float(f) = value {
                f.t = f.t.clone().cast(DType::F64);
            }
        }
        self
    }

    /// Backward Pass Differentiable Approximation (Athalye, Carlini & Wagner, 2018): the
    /// forward pass is unchanged, but Sign/Round/Floor/Ceil and float-to-integer Casts pass
    /// gradients through as the identity, and Less/Greater(OrEqual) as the gradient of the
    /// difference they threshold, so gradient attacks see through input quantization.
    pub fn with_bpda(mut self) -> Self {
        self.bpda = true;
        self
    }

    /// Nodes whose operator blocks gradients from the input (`(operator, node name)`), in
    /// graph order: rounding, casts to integers, comparisons and ArgMax/ArgMin that the
    /// input's values reach and whose result reaches the output's values. A Cast in shape
    /// arithmetic, or a comparison that only chooses a Where branch, does not mask anything.
    pub fn gradient_blockers(&self) -> Vec<(String, String)> {
        blockers::find(&self.graph)
    }

    /// The input layout of the graph. [`Classifier::sample_shape`] and all data passed in are
    /// channels first whatever this is; a channels-last graph is fed transposed data.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The sample shape in the graph's own layout (`[H, W, C]` for a channels-last model).
    pub fn graph_sample_shape(&self) -> &[usize] {
        &self.graph_sample_shape
    }

    /// The output read as class scores, and what was passed over to reach logits.
    pub fn scores(&self) -> &graph::Scores {
        &self.graph.scores
    }

    /// SHA-256 of the ONNX file.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Opset of the default domain.
    pub fn opset(&self) -> i64 {
        self.graph.opset
    }

    /// Operator types in graph order, deduplicated.
    pub fn operators(&self) -> Vec<String> {
        let mut ops: Vec<String> = Vec::new();
        for n in &self.graph.nodes {
            if !ops.contains(&n.op) {
                ops.push(n.op.clone());
            }
        }
        ops
    }

    /// The graph as parsed.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Evaluates the graph on a flat batch, guarding against library panics.
    fn run(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        Ok(self.run_with(x, None)?.0.cast(DType::F32))
    }

    /// The forward pass a trainer runs: the initializers named in `pass.parameters` read from
    /// those tensors, BatchNormalization and Dropout in training form when `pass.train`. The
    /// logits stay in the model's precision (double after
    /// [`OnnxModel::with_double_precision`], for gradient checks); the statistics are those
    /// each BatchNormalization node measured (none unless `pass.train`).
    pub fn forward(&self, x: Tensor<2>, pass: &Pass) -> Result<(Tensor<2>, Vec<BatchStatistics>)> {
        if self.batch_of_one && x.dims()[0] > 1 && pass.train {
            return Err(Error::Model(format!(
                "'{}' was exported with a fixed batch of one, so batch statistics cannot be \
                 measured; export it again with a dynamic batch axis (torch.onnx.export(..., \
                 dynamic_axes={{'input': {{0: 'batch'}}}}))",
                self.label
            )));
        }
        for (name, t) in pass.parameters {
            let expected = match self.graph.constants.get(name) {
                Some(graph::HostTensor::Float { data, .. }) => data.len(),
                _ => {
                    return Err(Error::Model(format!(
                        "'{}' has no float initializer named '{name}' to replace",
                        self.label
                    )))
                }
            };
            if t.dims()[0] != expected {
                return Err(Error::Model(format!(
                    "initializer '{name}' of '{}' holds {expected} values, but {} were given",
                    self.label,
                    t.dims()[0]
                )));
            }
        }
        self.run_with(x, Some(pass))
    }

    /// Refuses samples whose value count is not the model's.
    pub(crate) fn check_features(&self, f: usize) -> Result<()> {
        if f != self.features() {
            return Err(Error::Model(format!(
                "samples have {f} values but '{}' expects {} (shape {:?}); check the input shape",
                self.label,
                self.features(),
                self.sample_shape
            )));
        }
        Ok(())
    }

    /// [`OnnxModel::run`] with an optional training pass; logits in the model's precision.
    fn run_with(
        &self,
        x: Tensor<2>,
        pass: Option<&Pass>,
    ) -> Result<(Tensor<2>, Vec<BatchStatistics>)> {
        let [n, f] = x.dims();
        self.check_features(f)?;
        let x = match &self.normalization {
            Some(norm) => norm.apply(x, &self.device),
            None => x,
        };
        let training = pass.map(TrainingState::new);
        let session = pass.zip(training.as_ref());
        let logits = guard::catch(&format!("evaluating '{}' failed", self.label), || {
            if self.batch_of_one && n > 1 {
                let rows: Vec<Tensor<2>> = (0..n)
                    .map(|i| self.run_graph(x.clone().slice([i..i + 1, 0..f]), session))
                    .collect::<Result<_>>()?;
                Ok(Tensor::cat(rows, 0))
            } else {
                self.run_graph(x, session)
            }
        })?;
        let statistics = training
            .map(|t| t.statistics.into_inner())
            .unwrap_or_default();
        Ok((logits, statistics))
    }

    /// Logits in double precision for double-precision inputs (`n` flat rows). Meant for
    /// finite-difference checks with [`OnnxModel::with_double_precision`].
    pub fn logits_f64(&self, rows: &[f64], n: usize) -> Result<Vec<f64>> {
        let f = self.features();
        if rows.len() != n * f {
            return Err(Error::Model(format!(
                "{} values for {n} samples of {f}",
                rows.len()
            )));
        }
        // Created as f64: the default dtype would round the perturbed inputs of a
        // finite-difference check to float32 (~1e-8), swamping small steps.
        let x: Tensor<2> = Tensor::from_data(
            burn::tensor::TensorData::new(rows.to_vec(), [n, f]),
            (&self.device, DType::F64),
        );
        let out = guard::catch("evaluating in double precision failed", || {
            self.run_graph(x, None)
        })?;
        out.into_data()
            .convert::<f64>()
            .try_into_vec::<f64>()
            .map_err(|e| Error::Model(format!("cannot read logits: {e:?}")))
    }

    fn run_graph(
        &self,
        x: Tensor<2>,
        session: Option<(&Pass, &TrainingState)>,
    ) -> Result<Tensor<2>> {
        let n = x.dims()[0];
        let out = self.evaluate_to(x, session, &self.graph.output_name)?;
        let s = out.shape();
        if s.first() != Some(&n) {
            return Err(Error::Model(format!(
                "'{}' returned an output of shape {s:?} for a batch of {n}; a classifier must \
                 return one row of scores per sample",
                self.label
            )));
        }
        let classes: usize = s[1..].iter().product();
        Ok(out.t.reshape([n, classes]))
    }

    /// Evaluates the plan's nodes until one produces `target` (the graph's output, or an
    /// intermediate value for [`OnnxModel::activations`]) and returns that value.
    fn evaluate_to(
        &self,
        x: Tensor<2>,
        session: Option<(&Pass, &TrainingState)>,
        target: &str,
    ) -> Result<FloatValue> {
        let n = x.dims()[0];
        let mut shape = vec![n];
        shape.extend_from_slice(&self.sample_shape);
        let mut t = x.reshape(physical(&shape)?).cast(self.dtype);
        if self.layout == Layout::Nhwc {
            // [.., N, C, H, W] → [.., N, H, W, C]; the permutation is differentiable.
            let r = value::RANK;
            let mut axes: [usize; value::RANK] = std::array::from_fn(|i| i);
            axes[r - 3..].copy_from_slice(&[r - 2, r - 1, r - 3]);
            t = t.permute(axes);
        }
        let input = FloatValue {
            t,
            rank: shape.len(),
        };
        let mut env: HashMap<&str, Value> = HashMap::new();
        env.insert(self.graph.input_name.as_str(), Value::Float(input));
        let mut profile = profile::Profile::start();
        let plan = if target == self.graph.output_name || self.plan.produces(target) {
            &self.plan
        } else {
            &self.detailed
        };
        for (i, node) in plan.nodes.iter().enumerate() {
            let clock = profile.clock();
            let inputs = node
                .inputs
                .iter()
                .map(|name| {
                    if name.is_empty() {
                        return Ok(None);
                    }
                    if let Some(t) = session.and_then(|(p, _)| p.parameters.get(name)) {
                        return self.parameter_value(name, t.clone()).map(Some);
                    }
                    if let Some(v) = self.constants.get(name) {
                        return Ok(Some(v.clone()));
                    }
                    // Values made inside operators (constants, casts) follow the model's precision.
                    let cast = |v: Value| match v {
                        Value::Float(f) if f.t.dtype() != self.dtype => Value::Float(FloatValue {
                            t: f.t.cast(self.dtype),
                            rank: f.rank,
                        }),
                        other => other,
                    };
                    let last = plan.last_use.get(name) == Some(&i) && name != target;
                    let value = if last {
                        env.remove(name.as_str())
                    } else {
                        env.get(name.as_str()).cloned()
                    };
                    value.map(|v| Some(cast(v))).ok_or_else(|| {
                        Error::Model(format!(
                            "'{}': node '{}' reads '{name}', which no earlier node produces; the \
                             graph is not in topological order or is corrupt",
                            self.label, node.name
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let ctx = Ctx {
                node,
                opset: self.graph.opset,
                device: &self.device,
                bpda: self.bpda,
                training: session.map(|(_, t)| t),
            };
            // An operator given double-precision floats must not answer in single precision
            // (it would spoil gradient checks silently): caught in debug builds.
            let wide = inputs
                .iter()
                .any(|v| matches!(v, Some(Value::Float(f)) if f.t.dtype() == DType::F64));
            let outputs = ops::evaluate(&ctx, Inputs(inputs))?;
            debug_assert!(
                !wide
                    || outputs
                        .iter()
                        .all(|v| !matches!(v, Value::Float(f) if f.t.dtype() != DType::F64)),
                "node '{}' ({}) returned single precision for double-precision inputs",
                node.name,
                node.op
            );
            profile.record(clock, node, &outputs);
            let reached = node.outputs.iter().any(|o| o == target);
            for (name, value) in node.outputs.iter().zip(outputs) {
                if !name.is_empty() {
                    env.insert(name.as_str(), value);
                }
            }
            if reached {
                break;
            }
        }
        profile.finish(&self.label);
        env.remove(target)
            .ok_or_else(|| {
                Error::Model(format!(
                    "'{}': no node produces the value '{target}'",
                    self.label
                ))
            })?
            .into_float(&self.device)
    }
}

impl OnnxModel {
    /// A caller's flat tensor standing for initializer `name`, at the initializer's shape and
    /// the model's precision.
    fn parameter_value(&self, name: &str, t: Tensor<1>) -> Result<Value> {
        let shape = match self.graph.constants.get(name) {
            Some(graph::HostTensor::Float { shape, .. }) => shape,
            _ => {
                return Err(Error::Model(format!(
                    "'{}' has no float initializer named '{name}'",
                    self.label
                )))
            }
        };
        let t = t.reshape(physical(shape)?);
        let t = if t.dtype() == self.dtype {
            t
        } else {
            t.cast(self.dtype)
        };
        Ok(Value::Float(FloatValue {
            t,
            rank: shape.len(),
        }))
    }
}

impl Classifier for OnnxModel {
    fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// A large batch runs as two halves side by side, as the gradient pass does.
    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        by_halves(
            x.dims()[0],
            |rows| self.run(x.clone().slice(rows)),
            |first, second| Tensor::cat(vec![first, second], 0),
        )
    }
}

impl Differentiable for OnnxModel {
    fn logits_tracked(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        self.run(x)
    }
}
