//! A poisoned training set: the data as the victim will train on it, and which rows the
//! attacker touched.

use gauntlet_core::data::Dataset;

/// The training set after an attack.
#[derive(Debug, Clone)]
pub struct Poisoned {
    /// Inputs and labels as poisoned (same order and shape as the clean set).
    pub data: Dataset,
    /// Indices of the rows the attack changed (input, label or both), ascending.
    pub poisoned: Vec<usize>,
}

impl Poisoned {
    /// A copy of `clean` to be poisoned at `poisoned` (rows are changed by the caller).
    pub fn start(clean: &Dataset, poisoned: Vec<usize>) -> Poisoned {
        Poisoned {
            data: clean.clone(),
            poisoned,
        }
    }

    /// The flat values of row `i`, for changing in place.
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        let f = self.data.features();
        &mut self.data.inputs[i * f..(i + 1) * f]
    }
}
