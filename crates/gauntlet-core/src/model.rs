//! What attacks may know about a model: the two traits every target implements.
//!
//! A [`Classifier`] answers a batch with logits (black-box access). A [`Differentiable`]
//! classifier can also run the same forward pass on autodiff tensors, which is all that
//! [`loss_and_grad`] needs to return input gradients of any [`Objective`].

use burn::tensor::Tensor;

use crate::loss::Objective;
use crate::tensor::{argmax_rows, to_vec};
use crate::Result;

/// Black-box access: inputs in, scores out.
pub trait Classifier: Send + Sync {
    /// Shape of one sample, e.g. `[1, 28, 28]` or `[784]`.
    fn sample_shape(&self) -> &[usize];

    /// Number of output classes.
    fn num_classes(&self) -> usize;

    /// Logits (or any monotone scores) for a flat batch `[N, F]`, `F` = product of
    /// [`Classifier::sample_shape`]. Runs without an autodiff tape.
    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>>;

    /// Number of features per sample (product of the sample shape).
    fn features(&self) -> usize {
        self.sample_shape().iter().product()
    }
}

/// White-box access: the forward pass can be differentiated with respect to the input.
pub trait Differentiable: Classifier {
    /// The same forward pass as [`Classifier::logits`], on tensors that carry an autodiff tape.
    fn logits_tracked(&self, x: Tensor<2>) -> Result<Tensor<2>>;
}

/// Predicted class of every sample of a flat batch.
pub fn predict(model: &dyn Classifier, x: Tensor<2>) -> Result<Vec<i64>> {
    let logits = to_vec(model.logits(x)?);
    Ok(argmax_rows(&logits, model.num_classes()))
}

/// Result of one forward + backward pass.
pub struct LossAndGrad {
    /// Logits of the batch, row-major `[N, classes]`, on the host.
    pub logits: Vec<f32>,
    /// The objective's value per sample (attacks maximize it).
    pub loss: Vec<f32>,
    /// Gradient of the per-sample objective with respect to the input, `[N, F]`.
    pub grad: Tensor<2>,
}

/// One forward and one backward pass: the objective and its input gradient, per sample.
///
/// Samples do not interact, so the gradient of the summed objective is the per-sample gradient.
pub fn loss_and_grad(
    model: &dyn Differentiable,
    x: &Tensor<2>,
    objective: &Objective,
) -> Result<LossAndGrad> {
    let input = x.clone().detach().autodiff().require_grad();
    let logits = model.logits_tracked(input.clone())?;
    let logits_host = to_vec(logits.clone().detach().without_autodiff());
    let loss = objective.per_sample(logits, &logits_host, model.num_classes());
    let loss_host = to_vec(loss.clone().detach().without_autodiff());
    let grads = loss.sum().backward();
    let grad = input
        .grad(&grads)
        .ok_or_else(|| {
            crate::Error::Model(
                "the model's output does not depend on its input, so no input gradient exists; \
                 check that the ONNX graph's input feeds its output"
                    .into(),
            )
        })?
        .without_autodiff();
    Ok(LossAndGrad {
        logits: logits_host,
        loss: loss_host,
        grad,
    })
}
