//! Learning-rate schedules, as a function of training progress.

use serde::Serialize;

/// How the learning rate moves over a run; each gives the factor applied to the base rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Multiplied by `gamma` every `every` epochs.
    Step {
        /// Epochs between drops.
        every: usize,
        /// Factor of each drop.
        gamma: f32,
    },
    /// Half a cosine from the base rate to 0 over the run (Loshchilov & Hutter, 2017).
    Cosine,
    /// Linear from 0 up to the base rate at `peak` (a fraction of the run), then linear down
    /// to 0: the cyclic rate of "fast" adversarial training (Wong, Rice & Kolter, 2020).
    OneCycle {
        /// Where the peak lies, in (0, 1).
        peak: f32,
    },
}

impl Schedule {
    /// Parses `constant`, `step:EVERY:GAMMA` (default `step:10:0.1`), `cosine`, `one-cycle`
    /// or `one-cycle:PEAK` (default peak 0.4).
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let mut parts = text.split(':');
        let kind = parts.next().unwrap_or_default();
        let rest: Vec<&str> = parts.collect();
        let number = |s: &str, what: &str| -> Result<f32, String> {
            s.parse::<f32>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| format!("schedule '{text}': {what} '{s}' is not a positive number"))
        };
        let schedule = match (kind, rest.as_slice()) {
            ("constant", []) => Schedule::Constant,
            ("cosine", []) => Schedule::Cosine,
            ("step", []) => Schedule::Step {
                every: 10,
                gamma: 0.1,
            },
            ("step", [every, gamma]) => Schedule::Step {
                every: number(every, "the epochs between drops")?.round().max(1.0) as usize,
                gamma: number(gamma, "the factor")?,
            },
            ("one-cycle", []) => Schedule::OneCycle { peak: 0.4 },
            ("one-cycle", [peak]) => {
                let peak = number(peak, "the peak")?;
                if peak >= 1.0 {
                    return Err(format!("schedule '{text}': the peak must lie in (0, 1)"));
                }
                Schedule::OneCycle { peak }
            }
            _ => {
                return Err(format!(
                    "unknown schedule '{text}'; use constant, step[:EVERY:GAMMA], cosine or \
                     one-cycle[:PEAK]"
                ))
            }
        };
        Ok(schedule)
    }

    /// The factor at `progress` ∈ [0, 1] of a run of `epochs` epochs.
    pub fn factor(&self, progress: f32, epochs: usize) -> f32 {
        let t = progress.clamp(0.0, 1.0);
        match *self {
            Schedule::Constant => 1.0,
            Schedule::Step { every, gamma } => {
                let epoch = ((t * epochs as f32).floor() as usize).min(epochs.saturating_sub(1));
                gamma.powi((epoch / every.max(1)) as i32)
            }
            Schedule::Cosine => 0.5 * (1.0 + (std::f32::consts::PI * t).cos()),
            Schedule::OneCycle { peak } => {
                if t < peak {
                    t / peak
                } else {
                    (1.0 - t) / (1.0 - peak)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_have_their_shapes() {
        let one = Schedule::parse("one-cycle").unwrap();
        assert_eq!(one.factor(0.0, 10), 0.0);
        assert!((one.factor(0.4, 10) - 1.0).abs() < 1e-6);
        assert!((one.factor(0.7, 10) - 0.5).abs() < 1e-6);
        assert!(one.factor(1.0, 10).abs() < 1e-6);
        let cos = Schedule::parse("cosine").unwrap();
        assert!((cos.factor(0.5, 10) - 0.5).abs() < 1e-6);
        let step = Schedule::parse("step:2:0.5").unwrap();
        assert_eq!(step.factor(0.0, 6), 1.0);
        assert_eq!(step.factor(0.35, 6), 0.5);
        assert_eq!(step.factor(0.99, 6), 0.25);
        assert!(Schedule::parse("linear").is_err());
        assert!(Schedule::parse("one-cycle:1.5").is_err());
    }
}
