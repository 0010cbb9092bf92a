//! A target whose input gradient is confined to a region: outside the mask the gradient is
//! exactly zero, so every gradient attack moves only the pixels it may move (an L∞ step's sign
//! of zero is zero; an L2 step normalizes the masked gradient). The forward pass is the
//! target's own. Together with [`ThreatModel::confine`](crate::threat::ThreatModel::confine),
//! which the verification applies to every attack's answer, no feature outside the mask ever
//! changes.

use crate::model::{AnswerKind, Classifier, Differentiable};
use crate::tensor::from_rows;
use crate::{Result, Tensor};

/// `inner` with its input gradient multiplied by a 0/1 mask.
pub struct MaskedGradients<'a> {
    inner: &'a dyn Differentiable,
    /// The mask as a `[1, F]` row, and its complement: built once, not per gradient step.
    inside: Tensor<2>,
    outside: Tensor<2>,
}

impl<'a> MaskedGradients<'a> {
    /// Wraps `inner`; `mask` has one 0/1 value per feature.
    pub fn new(inner: &'a dyn Differentiable, mask: Vec<f32>) -> Self {
        let f = mask.len();
        let device = crate::device::compute_device();
        let outside = mask.iter().map(|m| 1.0 - m).collect();
        MaskedGradients {
            inner,
            inside: from_rows(mask, 1, f, &device),
            outside: from_rows(outside, 1, f, &device),
        }
    }
}

impl Classifier for MaskedGradients<'_> {
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

impl Differentiable for MaskedGradients<'_> {
    /// The same values, `x ⊙ m + stop_gradient(x) ⊙ (1 − m)`: the tape reaches the input only
    /// inside the mask.
    fn logits_tracked(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        let confined = x.clone() * self.inside.clone() + x.detach() * self.outside.clone();
        self.inner.logits_tracked(confined)
    }

    fn has_gradients(&self) -> bool {
        self.inner.has_gradients()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::compute_device;
    use crate::loss::Objective;
    use crate::model::loss_and_grad;
    use crate::tensor::to_vec;

    /// Logits `[Σ 2·x, Σ −x]`: every feature matters.
    struct Sums;

    impl Classifier for Sums {
        fn sample_shape(&self) -> &[usize] {
            &[4]
        }
        fn num_classes(&self) -> usize {
            2
        }
        fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
            let a = x.clone().sum_dim(1) * 2.0;
            let b = x.sum_dim(1) * -1.0;
            Ok(Tensor::cat(vec![a, b], 1))
        }
    }

    impl Differentiable for Sums {
        fn logits_tracked(&self, x: Tensor<2>) -> Result<Tensor<2>> {
            self.logits(x)
        }
    }

    #[test]
    fn the_gradient_is_zero_outside_the_mask_and_the_values_are_the_targets() {
        let device = compute_device();
        let x = from_rows(vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], 2, 4, &device);
        let masked = MaskedGradients::new(&Sums, vec![1.0, 0.0, 1.0, 0.0]);
        let labels = [0i64, 0];
        let plain = loss_and_grad(&Sums, &x, &Objective::Margin(&labels)).unwrap();
        let confined = loss_and_grad(&masked, &x, &Objective::Margin(&labels)).unwrap();
        assert_eq!(plain.logits, confined.logits);
        let (g, h) = (to_vec(plain.grad), to_vec(confined.grad));
        for (i, (a, b)) in g.iter().zip(&h).enumerate() {
            if i % 4 == 1 || i % 4 == 3 {
                assert_eq!(*b, 0.0, "feature {i} is outside the mask");
                assert_ne!(*a, 0.0);
            } else {
                assert_eq!(a, b);
            }
        }
    }
}
