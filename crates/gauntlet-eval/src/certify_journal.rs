//! Resume for certification: each finished sample's results as one record, its floats kept
//! as their bits (JSON's decimal form need not read back to the same `f64`), so a resumed run
//! reports exactly what an uninterrupted one does.

use serde::{Deserialize, Serialize};

use crate::certified::{Attacked, BrokenCertificate, SampleResult};

/// Where a run restores finished samples from and records new ones to.
pub trait SampleJournal {
    /// The results of sample `index` from an earlier run, if it finished then.
    fn restored(&mut self, index: usize) -> Option<(SampleResult, Vec<BrokenCertificate>)>;
    /// Records a finished sample (before the run moves on).
    fn record(
        &mut self,
        result: &SampleResult,
        broken: &[BrokenCertificate],
    ) -> gauntlet_core::Result<()>;
}

/// No resume: nothing restored, nothing recorded.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoJournal;

impl SampleJournal for NoJournal {
    fn restored(&mut self, _: usize) -> Option<(SampleResult, Vec<BrokenCertificate>)> {
        None
    }
    fn record(&mut self, _: &SampleResult, _: &[BrokenCertificate]) -> gauntlet_core::Result<()> {
        Ok(())
    }
}

/// One sample's results as a journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    index: usize,
    label: i64,
    prediction: Option<i64>,
    pa_lower_bits: u64,
    radius_bits: u64,
    correct: bool,
    clean_prediction: Option<i64>,
    /// (radius bits, prediction, perturbation bits) per attacked radius.
    attacked: Vec<(u32, Option<i64>, u32)>,
    /// (certified class, certified radius bits, attack radius bits, perturbation bits,
    /// attacked prediction, confirm draws) per broken certificate.
    broken: Vec<(i64, u64, u32, u32, i64, u64)>,
}

impl SampleRecord {
    /// The record of one finished sample.
    pub fn new(result: &SampleResult, broken: &[BrokenCertificate]) -> SampleRecord {
        SampleRecord {
            index: result.index,
            label: result.label,
            prediction: result.prediction,
            pa_lower_bits: result.pa_lower.to_bits(),
            radius_bits: result.radius.to_bits(),
            correct: result.correct,
            clean_prediction: result.clean_prediction,
            attacked: result
                .attacked
                .iter()
                .map(|a| (a.radius.to_bits(), a.prediction, a.perturbation.to_bits()))
                .collect(),
            broken: broken
                .iter()
                .map(|b| {
                    (
                        b.certified_class,
                        b.certified_radius.to_bits(),
                        b.attack_radius.to_bits(),
                        b.perturbation.to_bits(),
                        b.attacked_prediction,
                        b.confirm_draws,
                    )
                })
                .collect(),
        }
    }

    /// The sample's index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The results it holds.
    pub fn results(&self) -> (SampleResult, Vec<BrokenCertificate>) {
        let result = SampleResult {
            index: self.index,
            label: self.label,
            prediction: self.prediction,
            pa_lower: f64::from_bits(self.pa_lower_bits),
            radius: f64::from_bits(self.radius_bits),
            correct: self.correct,
            clean_prediction: self.clean_prediction,
            attacked: self
                .attacked
                .iter()
                .map(|&(radius, prediction, perturbation)| Attacked {
                    radius: f32::from_bits(radius),
                    prediction,
                    perturbation: f32::from_bits(perturbation),
                })
                .collect(),
        };
        let broken = self
            .broken
            .iter()
            .map(
                |&(class, radius, attack, perturbation, attacked, draws)| BrokenCertificate {
                    index: self.index,
                    certified_class: class,
                    certified_radius: f64::from_bits(radius),
                    attack_radius: f32::from_bits(attack),
                    perturbation: f32::from_bits(perturbation),
                    attacked_prediction: attacked,
                    confirm_draws: draws,
                },
            )
            .collect();
        (result, broken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_bit_for_bit_through_json() {
        let result = SampleResult {
            index: 7,
            label: 3,
            prediction: Some(3),
            pa_lower: 0.999_372_815_234_117_4,
            radius: 0.801_234_567_890_123_4,
            correct: true,
            clean_prediction: Some(3),
            attacked: vec![Attacked {
                radius: 0.25,
                prediction: None,
                perturbation: 0.249_999_98,
            }],
        };
        let broken = vec![BrokenCertificate {
            index: 7,
            certified_class: 3,
            certified_radius: 0.801_234_567_890_123_4,
            attack_radius: 0.5,
            perturbation: 0.433_333_3,
            attacked_prediction: 5,
            confirm_draws: 100_000,
        }];
        let line = serde_json::to_string(&SampleRecord::new(&result, &broken)).unwrap();
        let back: SampleRecord = serde_json::from_str(&line).unwrap();
        let (r, b) = back.results();
        assert_eq!(r.pa_lower.to_bits(), result.pa_lower.to_bits());
        assert_eq!(r.radius.to_bits(), result.radius.to_bits());
        assert_eq!(
            r.attacked[0].perturbation.to_bits(),
            result.attacked[0].perturbation.to_bits()
        );
        assert_eq!(
            b[0].certified_radius.to_bits(),
            broken[0].certified_radius.to_bits()
        );
        assert_eq!(back, SampleRecord::new(&r, &b));
    }
}
