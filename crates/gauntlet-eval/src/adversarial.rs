//! Where an evaluation keeps its adversarial rows: in memory, or — for an audit that writes a
//! report — streamed into the report's `.npy` files as batches finish, so memory holds a
//! batch's rows instead of the data set's for every (attack, budget).
//!
//! A streamed file starts as the clean inputs (the rows of samples an attack does not touch)
//! and each finished or restored batch overwrites its samples' rows in place, so batches may
//! finish in any order. It lives as `<stem>.npy.partial` beside the final name until the report
//! moves it there ([`AdversarialRows::persist`]); a run that stops before that removes it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gauntlet_core::layout::{chw_to_hwc, hwc_to_chw, Layout};
use gauntlet_core::npy_rows::NpyRows;
use gauntlet_core::samples::Samples;
use gauntlet_core::threat::Norm;
use gauntlet_core::Result;

/// The name (without `.npy`) of the file holding an attack's rows at one budget:
/// `<attack>_<norm>_eps<ε>`.
pub fn file_stem(attack: &str, norm: Norm, eps: f32) -> String {
    format!("{attack}_{norm}_eps{eps}")
}

/// Where an audit's adversarial files go, and in which layout.
#[derive(Debug, Clone)]
pub struct AdversarialStore {
    dir: PathBuf,
    layout: Layout,
    sample_shape: Vec<usize>,
    suffix: String,
}

impl AdversarialStore {
    /// Files in `dir` (which must exist), written in the model's `layout` for samples of the
    /// channels-first `sample_shape`.
    pub fn new(dir: impl Into<PathBuf>, layout: Layout, sample_shape: &[usize]) -> Self {
        AdversarialStore {
            dir: dir.into(),
            layout,
            sample_shape: sample_shape.to_vec(),
            suffix: String::new(),
        }
    }

    /// The same store for a second pass whose attacks are renamed with `suffix` (e.g.
    /// `+bpda`), so its files do not meet the first pass's.
    pub fn with_suffix(&self, suffix: &str) -> Self {
        AdversarialStore {
            suffix: suffix.to_string(),
            ..self.clone()
        }
    }

    /// The channels-first dims when rows are transposed for the file (a channels-last model's
    /// images).
    fn transposed(&self) -> Option<[usize; 3]> {
        match (self.layout, self.sample_shape.as_slice()) {
            (Layout::Nhwc, &[c, h, w]) => Some([c, h, w]),
            _ => None,
        }
    }

    /// A new file for `attack` at budget `eps`, holding the clean inputs of `data`.
    pub(crate) fn open(
        &self,
        attack: &str,
        norm: Norm,
        eps: f32,
        data: &dyn Samples,
    ) -> Result<AdversarialRows> {
        let name = format!(
            "{}.npy.partial",
            file_stem(&format!("{attack}{}", self.suffix), norm, eps)
        );
        let path = self.dir.join(name);
        let shape: Vec<usize> = std::iter::once(data.len())
            .chain(self.layout.from_channels_first(&self.sample_shape))
            .collect();
        let transposed = self.transposed();
        // The clean rows, read a block at a time: the first read that fails ends the values
        // (the file then comes out short) and is the error returned.
        let mut failure = None;
        let n = data.len();
        let clean = (0..n)
            .step_by(CLEAN_BLOCK)
            .map_while(|start| {
                let end = (start + CLEAN_BLOCK).min(n);
                match data.read_range(start, end) {
                    Ok(rows) => Some(to_file(&rows, end - start, transposed)),
                    Err(e) => {
                        failure = Some(e);
                        None
                    }
                }
            })
            .flatten();
        let created = NpyRows::create(&path, &shape, clean);
        if let Some(e) = failure {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        let npy = created?;
        Ok(AdversarialRows::File(Arc::new(Mutex::new(RowsFile {
            npy,
            transposed,
            persisted: false,
        }))))
    }
}

/// `n` channels-first rows in the file's layout.
fn to_file(rows: &[f32], n: usize, transposed: Option<[usize; 3]>) -> Vec<f32> {
    match transposed {
        Some(chw) => chw_to_hwc(rows, n, chw),
        None => rows.to_vec(),
    }
}

/// Samples whose clean rows are read at once when a streamed file is created.
const CLEAN_BLOCK: usize = 256;

/// A streamed file; removed when dropped unless the report kept it.
#[derive(Debug)]
pub struct RowsFile {
    npy: NpyRows,
    transposed: Option<[usize; 3]>,
    persisted: bool,
}

impl Drop for RowsFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(self.npy.path());
        }
    }
}

/// One attack's adversarial rows at one budget, for every sample (the clean row where the
/// attack did not run), channels first.
#[derive(Debug, Clone)]
pub enum AdversarialRows {
    /// Flat rows in memory.
    Memory(Vec<f32>),
    /// Rows in a `.npy` file (in the model's layout), shared by the clones of a result.
    File(Arc<Mutex<RowsFile>>),
}

impl AdversarialRows {
    fn file(&self) -> Option<std::sync::MutexGuard<'_, RowsFile>> {
        match self {
            AdversarialRows::Memory(_) => None,
            AdversarialRows::File(f) => Some(f.lock().unwrap_or_else(|e| e.into_inner())),
        }
    }

    /// Replaces sample `i`'s row.
    pub fn write_row(&mut self, i: usize, row: &[f32]) -> Result<()> {
        if let AdversarialRows::Memory(values) = self {
            let f = row.len();
            values[i * f..(i + 1) * f].copy_from_slice(row);
            return Ok(());
        }
        let mut file = self.file().expect("a file");
        let values = to_file(row, 1, file.transposed);
        file.npy.write_row(i, &values)
    }

    /// Sample `i`'s row (`features` values).
    pub fn row(&self, i: usize, features: usize) -> Result<Vec<f32>> {
        match self {
            AdversarialRows::Memory(values) => {
                Ok(values[i * features..(i + 1) * features].to_vec())
            }
            AdversarialRows::File(_) => {
                let mut file = self.file().expect("a file");
                let values = file.npy.read_row(i)?;
                Ok(match file.transposed {
                    Some([c, h, w]) => hwc_to_chw(&values, 1, [h, w, c]),
                    None => values,
                })
            }
        }
    }

    /// The rows of `samples`, flat, in that order.
    pub fn rows(&self, samples: &[usize], features: usize) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(samples.len() * features);
        for &i in samples {
            out.extend(self.row(i, features)?);
        }
        Ok(out)
    }

    /// Every row, flat (reads a streamed file whole: for tests and small runs).
    pub fn to_vec(&self, samples: usize, features: usize) -> Result<Vec<f32>> {
        self.rows(&(0..samples).collect::<Vec<_>>(), features)
    }

    /// A streamed file is flushed and moved to `to`, where it stays; `false` for rows in
    /// memory (the caller writes them).
    pub fn persist(&self, to: &Path) -> Result<bool> {
        let Some(mut file) = self.file() else {
            return Ok(false);
        };
        file.npy.persist(to)?;
        file.persisted = true;
        Ok(true)
    }
}

impl Default for AdversarialRows {
    fn default() -> Self {
        AdversarialRows::Memory(Vec::new())
    }
}
