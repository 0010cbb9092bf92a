//! Unit-test fixtures: a model whose logits are its inputs, so a test can pick predictions by
//! picking inputs.

use gauntlet_core::model::{Classifier, Differentiable};
use gauntlet_core::{Result, Tensor};

/// `classes` features in, the same values out as logits.
pub(crate) struct Identity {
    shape: [usize; 1],
}

impl Identity {
    pub(crate) fn new(classes: usize) -> Identity {
        Identity { shape: [classes] }
    }
}

impl Classifier for Identity {
    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    fn num_classes(&self) -> usize {
        self.shape[0]
    }

    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        Ok(x)
    }
}

impl Differentiable for Identity {
    fn logits_tracked(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        Ok(x)
    }
}
