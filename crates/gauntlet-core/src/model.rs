//! What attacks may know about a model: the two traits every target implements.
//!
//! A [`Classifier`] answers a batch with logits (black-box access). A [`Differentiable`]
//! classifier can also run the same forward pass on autodiff tensors, which is all that
//! [`loss_and_grad`] needs to return input gradients of any [`Objective`].

use burn::tensor::Tensor;

use crate::loss::Objective;
use crate::tensor::{argmax_rows, to_vec};
use crate::Result;

/// What a target's answer to a query contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// A score per class (logits or probabilities).
    Scores,
    /// Scores of the `k` best classes only. [`Classifier::logits`] fills every other class
    /// with the lowest reported score of its row minus one, so the arg-max is kept.
    TopK(usize),
    /// The predicted class only (decision-based). [`Classifier::logits`] returns a one-hot
    /// row: 1 at the predicted class, 0 elsewhere.
    Label,
}

impl std::fmt::Display for AnswerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnswerKind::Scores => write!(f, "scores"),
            AnswerKind::TopK(k) => write!(f, "top-{k} scores"),
            AnswerKind::Label => write!(f, "labels only"),
        }
    }
}

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

    /// What [`Classifier::logits`] really carries: full scores unless the target answers
    /// less (a top-k or label-only endpoint).
    fn answer_kind(&self) -> AnswerKind {
        AnswerKind::Scores
    }
}

/// White-box access: the forward pass can be differentiated with respect to the input.
pub trait Differentiable: Classifier {
    /// The same forward pass as [`Classifier::logits`], on tensors that carry an autodiff tape.
    fn logits_tracked(&self, x: Tensor<2>) -> Result<Tensor<2>>;

    /// False for targets that only answer queries ([`QueryOnly`]): gradient attacks must not
    /// be planned on them.
    fn has_gradients(&self) -> bool {
        true
    }
}

/// A black-box target seen through the white-box interface: queries pass through, gradient
/// requests fail with an explanation. Lets one audit pipeline serve both kinds of target
/// while plans are checked up front with [`Differentiable::has_gradients`].
pub struct QueryOnly<C> {
    inner: C,
}

impl<C: Classifier> QueryOnly<C> {
    /// Wraps a black-box target.
    pub fn new(inner: C) -> Self {
        QueryOnly { inner }
    }

    /// The wrapped target, e.g. for its traffic counters.
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

impl<C: Classifier> Classifier for QueryOnly<C> {
    fn sample_shape(&self) -> &[usize] {
        self.inner.sample_shape()
    }

    fn num_classes(&self) -> usize {
        self.inner.num_classes()
    }

    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        self.inner.logits(x)
    }

    fn answer_kind(&self) -> AnswerKind {
        self.inner.answer_kind()
    }
}

impl<C: Classifier> Differentiable for QueryOnly<C> {
    fn logits_tracked(&self, _x: Tensor<2>) -> Result<Tensor<2>> {
        Err(crate::Error::Model(
            "this target answers queries only, so gradient attacks cannot run on it; use a \
             black-box attack (square, simba, simba-dct, hsj, boundary) or transfer from a \
             surrogate model"
                .into(),
        ))
    }

    fn has_gradients(&self) -> bool {
        false
    }
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

/// Fewest samples in each of the two halves [`by_halves`] runs side by side.
pub const MIN_ROWS_PER_HALF: usize = 16;

/// Runs `pass` on a batch of `n` samples: whole, or — from `2 × MIN_ROWS_PER_HALF` samples on —
/// as two halves side by side, whose results `join` puts back in order.
///
/// A forward or backward pass spends part of its time in serial work (building and walking the
/// autodiff tape, small tensor ops). Two halves at once overlap one half's serial work with the
/// other half's parallel kernels, so the cores stay busy. Samples do not interact, so each
/// sample's result is that of its half alone. The split depends on `n` only, not on the number
/// of threads, so neither do the results (matrix products round differently at different batch
/// sizes); with one thread the halves run one after the other.
pub fn by_halves<T: Send>(
    n: usize,
    pass: impl Fn(std::ops::Range<usize>) -> Result<T> + Sync,
    join: impl FnOnce(T, T) -> T,
) -> Result<T> {
    if n < 2 * MIN_ROWS_PER_HALF {
        return pass(0..n);
    }
    let half = n / 2;
    let (first, second) = rayon::join(|| pass(0..half), || pass(half..n));
    Ok(join(first?, second?))
}

/// One forward and one backward pass: the objective and its input gradient, per sample.
///
/// Samples do not interact, so the gradient of the summed objective is the per-sample gradient;
/// a large batch runs as two halves ([`by_halves`]).
pub fn loss_and_grad(
    model: &dyn Differentiable,
    x: &Tensor<2>,
    objective: &Objective,
) -> Result<LossAndGrad> {
    by_halves(
        x.dims()[0],
        |rows| {
            let part = x.clone().slice(rows.clone());
            loss_and_grad_whole(model, &part, &objective.rows(rows))
        },
        |mut first, second| {
            first.logits.extend(second.logits);
            first.loss.extend(second.loss);
            LossAndGrad {
                logits: first.logits,
                loss: first.loss,
                grad: Tensor::cat(vec![first.grad, second.grad], 0),
            }
        },
    )
}

fn loss_and_grad_whole(
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

/// A shared target is still a target (so a caller can keep a handle on, e.g., a cache's
/// counters while the attacks use it).
impl<C: Classifier + ?Sized> Classifier for std::sync::Arc<C> {
    fn sample_shape(&self) -> &[usize] {
        (**self).sample_shape()
    }

    fn num_classes(&self) -> usize {
        (**self).num_classes()
    }

    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        (**self).logits(x)
    }

    fn answer_kind(&self) -> AnswerKind {
        (**self).answer_kind()
    }
}
