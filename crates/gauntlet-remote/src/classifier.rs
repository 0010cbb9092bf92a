//! A remote model as a [`Classifier`]: what black-box attacks query.

use burn::tensor::Tensor;
use gauntlet_core::model::{AnswerKind, Classifier};
use gauntlet_core::tensor::{from_rows, to_vec};
use gauntlet_core::{Error, Result};

use crate::codec::Shape;
use crate::command::{CommandSettings, ExternalCommand};
use crate::http::{HttpEndpoint, HttpSettings};
use crate::transport::{Transport, TransportStats};

/// A [`Classifier`] whose answers come from a [`Transport`]. Sample shape, number of classes
/// and answer kind are what the user declared for the transport; every answer is checked
/// against them. [`Classifier::logits`] returns the decoded rows on the input's device (one-hot
/// rows for label-only targets, filled rows for top-k targets).
///
/// Wrap it in `gauntlet_core::query::CachedTarget` to avoid sending an input twice and to
/// count what was sent.
pub struct RemoteClassifier {
    transport: Box<dyn Transport>,
}

impl std::fmt::Debug for RemoteClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteClassifier")
            .field("target", &self.transport.describe())
            .field("shape", &self.transport.codec().shape)
            .field("answer", &self.transport.codec().answer)
            .finish()
    }
}

impl RemoteClassifier {
    /// A classifier over any transport.
    pub fn new(transport: impl Transport + 'static) -> Self {
        RemoteClassifier {
            transport: Box::new(transport),
        }
    }

    /// A classifier behind an HTTP endpoint (see [`HttpEndpoint::new`]).
    pub fn http(settings: HttpSettings, shape: Shape) -> Result<Self> {
        Ok(Self::new(HttpEndpoint::new(settings, shape)?))
    }

    /// A classifier behind an external program (see [`ExternalCommand::new`]).
    pub fn command(settings: CommandSettings, shape: Shape) -> Result<Self> {
        Ok(Self::new(ExternalCommand::new(settings, shape)?))
    }

    /// The transport, e.g. for its statistics.
    pub fn transport(&self) -> &dyn Transport {
        self.transport.as_ref()
    }

    /// What the target is, safe to print or record (secrets redacted).
    pub fn describe(&self) -> String {
        self.transport.describe()
    }

    /// Traffic so far.
    pub fn stats(&self) -> TransportStats {
        self.transport.stats()
    }

    /// Sends one all-zero input and checks that the answer fits the declared shape and
    /// answer kind, so a wrong setting fails before an audit starts rather than during it.
    pub fn probe(&self) -> Result<()> {
        let features = self.features();
        self.transport
            .call(&vec![0.0; features], 1)
            .map(|_| ())
            .map_err(|e| {
                Error::Model(format!(
                    "checking the target with one all-zero input ({} values, {} classes, {}) \
                 failed: {e}",
                    features,
                    self.num_classes(),
                    self.answer_kind()
                ))
            })
    }
}

impl Classifier for RemoteClassifier {
    fn sample_shape(&self) -> &[usize] {
        &self.transport.codec().shape.sample_shape
    }

    fn num_classes(&self) -> usize {
        self.transport.codec().shape.num_classes
    }

    fn answer_kind(&self) -> AnswerKind {
        self.transport.codec().answer_kind()
    }

    fn logits(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        let [n, f] = x.dims();
        let classes = self.num_classes();
        if f != self.features() {
            return Err(Error::Data(format!(
                "samples have {f} values but the remote target takes {} (shape {:?}); check the \
                 declared input shape",
                self.features(),
                self.sample_shape()
            )));
        }
        let device = x.device();
        if n == 0 {
            return Ok(from_rows(Vec::new(), 0, classes, &device));
        }
        let scores = self.transport.call(&to_vec(x), n)?;
        if scores.len() != n * classes {
            return Err(Error::Model(format!(
                "{} returned {} values for {n} inputs of {classes} classes",
                self.describe(),
                scores.len()
            )));
        }
        Ok(from_rows(scores, n, classes, &device))
    }
}
