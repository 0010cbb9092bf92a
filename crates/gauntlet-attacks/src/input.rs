//! What an attack runs on, validated once so that no attack meets mismatched lengths or a
//! class the model does not have.

use gauntlet_core::criterion::Criterion;
use gauntlet_core::model::Differentiable;
use gauntlet_core::threat::ThreatModel;
use gauntlet_core::{Error, Result};

/// A batch to attack: a model, `len()` flat input rows with their labels, a success criterion
/// and a threat model (norm, budgets, valid box). Built only by [`AttackInput::new`].
#[derive(Clone, Copy)]
pub struct AttackInput<'a> {
    model: &'a dyn Differentiable,
    x: &'a [f32],
    labels: &'a [i64],
    criterion: &'a Criterion,
    threat: &'a ThreatModel,
}

impl<'a> AttackInput<'a> {
    /// Checks that `x` holds `labels.len()` rows of `model.features()` values, that every
    /// label (and every target of a targeted criterion, one per sample) is a class of the
    /// model.
    pub fn new(
        model: &'a dyn Differentiable,
        x: &'a [f32],
        labels: &'a [i64],
        criterion: &'a Criterion,
        threat: &'a ThreatModel,
    ) -> Result<AttackInput<'a>> {
        let f = model.features();
        let classes = model.num_classes();
        if x.len() != labels.len() * f {
            return Err(Error::Data(format!(
                "attack input: `x` holds {} values, but {} labels of {f} features each need {}",
                x.len(),
                labels.len(),
                labels.len() * f
            )));
        }
        let in_range = |c: i64| c >= 0 && (c as usize) < classes;
        if let Some((i, &y)) = labels.iter().enumerate().find(|(_, y)| !in_range(**y)) {
            return Err(Error::Data(format!(
                "attack input: `labels[{i}]` = {y} is not a class of the model (0 to {})",
                classes.saturating_sub(1)
            )));
        }
        if let Some(targets) = criterion.targets() {
            if targets.len() != labels.len() {
                return Err(Error::Data(format!(
                    "attack input: the targeted `criterion` has {} targets for {} samples",
                    targets.len(),
                    labels.len()
                )));
            }
            if let Some((i, &t)) = targets.iter().enumerate().find(|(_, t)| !in_range(**t)) {
                return Err(Error::Data(format!(
                    "attack input: target {t} of sample {i} is not a class of the model (0 to {})",
                    classes.saturating_sub(1)
                )));
            }
        }
        Ok(AttackInput {
            model,
            x,
            labels,
            criterion,
            threat,
        })
    }

    /// The model under attack.
    pub fn model(&self) -> &'a dyn Differentiable {
        self.model
    }

    /// The clean inputs, `len()` flat rows of `features()` values.
    pub fn x(&self) -> &'a [f32] {
        self.x
    }

    /// The true label of each sample.
    pub fn labels(&self) -> &'a [i64] {
        self.labels
    }

    /// When a prediction counts as adversarial.
    pub fn criterion(&self) -> &'a Criterion {
        self.criterion
    }

    /// The norm, the budgets and the valid box.
    pub fn threat(&self) -> &'a ThreatModel {
        self.threat
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is no sample.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Features per sample.
    pub fn features(&self) -> usize {
        self.model.features()
    }

    /// Sample `i`'s clean row.
    pub(crate) fn row(&self, i: usize) -> &'a [f32] {
        let f = self.features();
        &self.x[i * f..(i + 1) * f]
    }

    /// The same batch on another model with the same features and classes (so the checks
    /// made by [`AttackInput::new`] still hold).
    pub(crate) fn on(&self, model: &'a dyn Differentiable) -> Result<AttackInput<'a>> {
        AttackInput::new(model, self.x, self.labels, self.criterion, self.threat)
    }

    /// Whether `prediction` satisfies the criterion for sample `i`.
    pub(crate) fn is_adversarial(&self, i: usize, prediction: i64) -> bool {
        self.criterion.is_adversarial(i, self.labels[i], prediction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Identity;
    use gauntlet_core::threat::{Bounds, Norm};

    #[test]
    fn new_validates_lengths_labels_and_targets() {
        let model = Identity::new(3);
        let threat = ThreatModel::new(Norm::Linf, &[0.1], Bounds::default()).unwrap();
        let untargeted = Criterion::Untargeted;
        let x = [0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6];
        let err = |r: Result<AttackInput>| r.err().expect("rejected").to_string();

        let input = AttackInput::new(&model, &x, &[0, 2], &untargeted, &threat).unwrap();
        assert_eq!(
            (input.len(), input.features(), input.is_empty()),
            (2, 3, false)
        );
        assert_eq!(input.x(), &x);
        assert_eq!(input.labels(), &[0, 2]);
        assert_eq!(input.row(1), &[0.4, 0.5, 0.6]);
        assert_eq!(input.threat().epsilons(), &[0.1]);
        assert!(!input.criterion().is_targeted());
        assert!(input.is_adversarial(0, 1) && !input.is_adversarial(0, 0));

        assert!(err(AttackInput::new(
            &model,
            &x[..5],
            &[0, 2],
            &untargeted,
            &threat
        ))
        .contains("`x` holds 5"));
        assert!(
            err(AttackInput::new(&model, &x, &[0], &untargeted, &threat)).contains("`x` holds 6")
        );
        assert!(
            err(AttackInput::new(&model, &x, &[0, 3], &untargeted, &threat))
                .contains("`labels[1]` = 3")
        );
        assert!(
            err(AttackInput::new(&model, &x, &[-1, 0], &untargeted, &threat))
                .contains("`labels[0]` = -1")
        );
        let short = Criterion::Targeted(vec![1]);
        assert!(err(AttackInput::new(&model, &x, &[0, 2], &short, &threat))
            .contains("1 targets for 2 samples"));
        let outside = Criterion::Targeted(vec![1, 7]);
        assert!(
            err(AttackInput::new(&model, &x, &[0, 2], &outside, &threat))
                .contains("target 7 of sample 1")
        );
        let targeted = Criterion::Targeted(vec![1, 0]);
        let input = AttackInput::new(&model, &x, &[0, 2], &targeted, &threat).unwrap();
        assert!(input.is_adversarial(1, 0) && !input.is_adversarial(1, 1));
        assert!(AttackInput::new(&model, &[], &[], &untargeted, &threat)
            .unwrap()
            .is_empty());
    }
}
