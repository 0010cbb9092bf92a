//! [`Samples`]: what an evaluation reads its inputs from, a batch of rows at a time — a
//! [`Dataset`] in memory, or a [`crate::sample_set::SampleSet`] whose rows may stay on disk
//! until a batch needs them.

use crate::data::Dataset;
use crate::Result;

/// Labelled samples read by rows.
pub trait Samples: Sync {
    /// Number of samples.
    fn len(&self) -> usize;

    /// Shape of one sample, channels first (e.g. `[1, 28, 28]`).
    fn sample_shape(&self) -> &[usize];

    /// One class index per sample.
    fn labels(&self) -> &[i64];

    /// Flat rows of the samples at `indices`, in that order.
    fn read_rows(&self, indices: &[usize]) -> Result<Vec<f32>>;

    /// Smallest and largest input value over all samples.
    fn value_range(&self) -> (f32, f32);

    /// SHA-256 over the raw bytes of the input and label files (the whole files, also when
    /// only part of them is used).
    fn sha256(&self) -> &str;

    /// True when there is no sample.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of values per sample.
    fn features(&self) -> usize {
        self.sample_shape().iter().product()
    }

    /// Flat rows of the samples `start..end`.
    fn read_range(&self, start: usize, end: usize) -> Result<Vec<f32>> {
        self.read_rows(&(start..end).collect::<Vec<_>>())
    }
}

impl Samples for Dataset {
    fn len(&self) -> usize {
        Dataset::len(self)
    }

    fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    fn labels(&self) -> &[i64] {
        &self.labels
    }

    fn read_rows(&self, indices: &[usize]) -> Result<Vec<f32>> {
        Ok(self.rows(indices))
    }

    fn value_range(&self) -> (f32, f32) {
        Dataset::value_range(self)
    }

    fn sha256(&self) -> &str {
        &self.sha256
    }

    fn read_range(&self, start: usize, end: usize) -> Result<Vec<f32>> {
        let f = self.features();
        Ok(self.inputs[start * f..end * f].to_vec())
    }
}
