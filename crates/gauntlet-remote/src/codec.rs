//! The wire format of one exchange with a remote target: batch → request body, response
//! body → rows of scores. Both transports speak it; only how the bytes travel differs.

use gauntlet_core::model::AnswerKind;
use gauntlet_core::{Error, Result};

use crate::answer::AnswerSpec;
use crate::request::RequestTemplate;

/// What the user says the remote model looks like: the shape of one sample and the number of
/// classes. A remote target cannot be asked, so these are given, and checked against every
/// answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Shape of one sample, e.g. `[1, 28, 28]` or `[784]`.
    pub sample_shape: Vec<usize>,
    /// Number of classes.
    pub num_classes: usize,
}

impl Shape {
    /// Checks that samples have at least one value and that there are at least two classes.
    pub fn new(sample_shape: Vec<usize>, num_classes: usize) -> Result<Self> {
        if sample_shape.is_empty() || sample_shape.contains(&0) {
            return Err(Error::Parameter(format!(
                "the sample shape {sample_shape:?} holds no values; give the shape of one \
                 input, e.g. 1,28,28 or 784"
            )));
        }
        if num_classes < 2 {
            return Err(Error::Parameter(format!(
                "a classifier needs at least 2 classes, not {num_classes}; give the number of \
                 classes the target distinguishes"
            )));
        }
        Ok(Shape {
            sample_shape,
            num_classes,
        })
    }

    /// Values per sample.
    pub fn features(&self) -> usize {
        self.sample_shape.iter().product()
    }
}

/// Template + answer spec + shape: everything needed to encode a batch and decode its answer.
#[derive(Debug, Clone)]
pub struct Codec {
    /// The declared sample shape and number of classes every answer is checked against.
    pub shape: Shape,
    /// The request envelope a batch is written into.
    pub template: RequestTemplate,
    /// Where the scores are in an answer, and what kind of answer it is.
    pub answer: AnswerSpec,
}

impl Codec {
    /// Checks that the answer kind fits the number of classes.
    pub fn new(shape: Shape, template: RequestTemplate, answer: AnswerSpec) -> Result<Self> {
        answer.check_classes(shape.num_classes)?;
        Ok(Codec {
            shape,
            template,
            answer,
        })
    }

    /// What the target's answers carry.
    pub fn answer_kind(&self) -> AnswerKind {
        self.answer.kind
    }

    /// The request body for `n` flat rows (one line of JSON).
    pub fn encode(&self, rows: &[f32], n: usize) -> Result<String> {
        self.template.render(rows, n, &self.shape.sample_shape)
    }

    /// `n` rows of `num_classes` scores from a response body. Errors are [`Error::Model`] and
    /// describe the body (a transport retries them: a flaky target may answer well next time).
    pub fn decode(&self, body: &str, n: usize) -> Result<Vec<f32>> {
        let value: serde_json::Value = serde_json::from_str(body).map_err(|e| {
            let hint = if ["NaN", "Infinity"].iter().any(|t| body.contains(t)) {
                " It contains NaN or Infinity, which JSON does not allow: the model produced \
                 non-finite scores."
            } else {
                ""
            };
            Error::Model(format!(
                "the answer is not valid JSON ({e}); it starts with {}.{hint}",
                excerpt(body, 200)
            ))
        })?;
        self.answer.parse(&value, n, self.shape.num_classes)
    }
}

/// The first `limit` characters of `text`, quoted, for error messages.
pub(crate) use gauntlet_transport::excerpt;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_explains_malformed_and_non_finite_answers() {
        let codec = Codec::new(
            Shape::new(vec![2], 2).unwrap(),
            RequestTemplate::default(),
            AnswerSpec::default(),
        )
        .unwrap();
        assert_eq!(
            codec.decode(r#"{"scores": [[1, 2]]}"#, 1).unwrap(),
            vec![1.0, 2.0]
        );
        let e = codec
            .decode("<html>busy</html>", 1)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not valid JSON") && e.contains("<html>busy"),
            "{e}"
        );
        let e = codec
            .decode(r#"{"scores": [[NaN, 1]]}"#, 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("non-finite scores"), "{e}");
        assert!(Shape::new(vec![], 3).is_err());
        assert!(Shape::new(vec![3], 1).is_err());
    }
}
