//! [`SampleSet`]: the samples an audit works on. An uncompressed `.npy` or IDX input file stays
//! on disk ([`RowFile`]) and a batch's rows are read when the batch needs them, so an audit's
//! memory holds batches, not the data set; any other file (gzip-compressed, big-endian, …) is
//! loaded whole as a [`Dataset`]. Either way the set is checked the same way and hashed the
//! same way, and can be cut to its first samples or to a shard's, and served channels first.

use std::path::Path;

use crate::data::{check_shape_and_labels, non_finite, parse_labels, read_maybe_gz, Dataset};
use crate::hash::PartsHasher;
use crate::layout::{hwc_to_chw, Layout};
use crate::row_file::RowFile;
use crate::samples::Samples;
use crate::Result;

/// Where the values are.
#[derive(Debug)]
enum Store {
    /// Loaded whole: `[rows, row_len]` values.
    Memory(Vec<f32>),
    /// Read row by row; with each stored row's smallest and largest value.
    File {
        rows: RowFile,
        ranges: Vec<(f32, f32)>,
    },
}

/// Labelled samples read by rows, in memory or from disk.
#[derive(Debug)]
pub struct SampleSet {
    store: Store,
    /// The stored row of each sample (`None`: sample i is row i).
    picks: Option<Vec<usize>>,
    /// Stored `[H, W, C]` rows are served as `[C, H, W]`.
    channels_last: Option<[usize; 3]>,
    sample_shape: Vec<usize>,
    labels: Vec<i64>,
    sha256: String,
}

impl SampleSet {
    /// Opens inputs and labels, checking them as [`Dataset::load`] does (shape, one
    /// non-negative label per sample, finite values) with the same content hash. Inputs that
    /// can be read in place are scanned once and stay on disk.
    pub fn open(inputs: &Path, labels: &Path) -> Result<SampleSet> {
        let Some(rows) = RowFile::open(inputs)? else {
            return Ok(SampleSet::from(Dataset::load(inputs, labels)?));
        };
        let label_bytes = read_maybe_gz(labels)?;
        let label_values = parse_labels(&label_bytes, labels)?;
        check_shape_and_labels(rows.shape(), &label_values)?;
        let row_len = rows.row_len();
        let mut hasher = PartsHasher::default();
        let mut ranges = Vec::with_capacity(rows.rows());
        rows.scan(&mut hasher, |first, values| {
            for (k, row) in values.chunks(row_len).enumerate() {
                if let Some(pos) = row.iter().position(|v| !v.is_finite()) {
                    return Err(non_finite(first + k, row[pos]));
                }
                ranges.push(row_range(row));
            }
            Ok(())
        })?;
        hasher.begin_part(label_bytes.len() as u64);
        hasher.update(&label_bytes);
        Ok(SampleSet {
            sample_shape: rows.shape()[1..].to_vec(),
            store: Store::File { rows, ranges },
            picks: None,
            channels_last: None,
            labels: label_values,
            sha256: hasher.finish(),
        })
    }

    /// Whether the values stay on disk (read a batch at a time).
    pub fn on_disk(&self) -> bool {
        matches!(self.store, Store::File { .. })
    }

    /// Serves channels-last samples (`[H, W, C]`, a Keras/TensorFlow model's layout) channels
    /// first, the layout gauntlet works in; other sets are returned unchanged.
    pub fn into_channels_first(mut self, layout: Layout) -> Self {
        if let (Layout::Nhwc, &[h, w, c], None) =
            (layout, self.sample_shape.as_slice(), self.channels_last)
        {
            self.channels_last = Some([h, w, c]);
            self.sample_shape = vec![c, h, w];
        }
        self
    }

    /// Keeps only the first `n` samples.
    pub fn truncate(&mut self, n: usize) {
        if n < self.labels.len() {
            self.labels.truncate(n);
            match &mut self.picks {
                Some(picks) => picks.truncate(n),
                None => self.picks = Some((0..n).collect()),
            }
        }
    }

    /// The samples at `indices`, in that order, as a set of their own (a shard's part of a
    /// run). The content hash stays the whole files': it identifies the data, not the part.
    pub fn subset(mut self, indices: &[usize]) -> SampleSet {
        self.labels = indices.iter().map(|&i| self.labels[i]).collect();
        self.picks = Some(indices.iter().map(|&i| self.stored_row(i)).collect());
        self
    }

    fn stored_row(&self, sample: usize) -> usize {
        match &self.picks {
            Some(picks) => picks[sample],
            None => sample,
        }
    }

    fn stored_row_len(&self) -> usize {
        self.sample_shape.iter().product()
    }
}

impl From<Dataset> for SampleSet {
    fn from(data: Dataset) -> Self {
        SampleSet {
            store: Store::Memory(data.inputs),
            picks: None,
            channels_last: None,
            sample_shape: data.sample_shape,
            labels: data.labels,
            sha256: data.sha256,
        }
    }
}

fn row_range(row: &[f32]) -> (f32, f32) {
    row.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

impl Samples for SampleSet {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    fn labels(&self) -> &[i64] {
        &self.labels
    }

    fn read_rows(&self, indices: &[usize]) -> Result<Vec<f32>> {
        let stored: Vec<usize> = indices.iter().map(|&i| self.stored_row(i)).collect();
        let f = self.stored_row_len();
        let values = match &self.store {
            Store::Memory(values) => {
                let mut out = Vec::with_capacity(stored.len() * f);
                for &r in &stored {
                    out.extend_from_slice(&values[r * f..(r + 1) * f]);
                }
                out
            }
            Store::File { rows, .. } => rows.read(&stored)?,
        };
        Ok(match self.channels_last {
            Some(hwc) => hwc_to_chw(&values, stored.len(), hwc),
            None => values,
        })
    }

    fn value_range(&self) -> (f32, f32) {
        let f = self.stored_row_len();
        (0..self.labels.len())
            .map(|i| {
                let r = self.stored_row(i);
                match &self.store {
                    Store::Memory(values) => row_range(&values[r * f..(r + 1) * f]),
                    Store::File { ranges, .. } => ranges[r],
                }
            })
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), (a, b)| {
                (lo.min(a), hi.max(b))
            })
    }

    fn sha256(&self) -> &str {
        &self.sha256
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{write_npy_f32, write_npy_i64};

    struct Dir(std::path::PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir(name: &str) -> Dir {
        let path =
            std::env::temp_dir().join(format!("gauntlet-sample-set-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    /// Seven 2×3×2 channels-last pictures with distinct values, and labels.
    fn write_set(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let values: Vec<f32> = (0..7 * 12)
            .map(|v| (v as f32 * 0.37).sin() * 0.5 + 0.5)
            .collect();
        let x = dir.join("x.npy");
        let y = dir.join("y.npy");
        write_npy_f32(&x, &values, &[7, 2, 3, 2]).unwrap();
        write_npy_i64(&y, &[3, 1, 4, 1, 5, 9, 2]).unwrap();
        (x, y)
    }

    fn all_rows(set: &dyn Samples) -> Vec<f32> {
        set.read_range(0, set.len()).unwrap()
    }

    #[test]
    fn a_set_read_from_disk_equals_the_set_loaded_whole() {
        let d = dir("equal");
        let (x, y) = write_set(&d.0);
        let streamed = SampleSet::open(&x, &y).unwrap();
        assert!(streamed.on_disk());
        let whole = Dataset::load(&x, &y).unwrap();
        assert_eq!(streamed.sha256(), whole.sha256);
        assert_eq!(all_rows(&streamed), whole.inputs);
        assert_eq!(streamed.value_range(), whole.value_range());
        assert_eq!(
            streamed.read_rows(&[5, 0, 1, 2]).unwrap(),
            whole.rows(&[5, 0, 1, 2])
        );

        // Cut, subset and channels first: the same as the in-memory set treated the same way.
        let mut streamed = streamed.into_channels_first(Layout::Nhwc);
        let mut memory = SampleSet::from(whole.clone()).into_channels_first(Layout::Nhwc);
        let mut reference = whole.into_channels_first(Layout::Nhwc);
        streamed.truncate(6);
        memory.truncate(6);
        reference.truncate(6);
        let part = [4, 1, 5];
        let reference = reference.subset(&part);
        for set in [streamed.subset(&part), memory.subset(&part)] {
            assert_eq!(set.sample_shape(), &[2, 2, 3]);
            assert_eq!(set.labels(), &reference.labels[..]);
            assert_eq!(all_rows(&set), reference.inputs);
            assert_eq!(set.value_range(), reference.value_range());
        }
    }

    #[test]
    fn uint8_npy_and_idx_files_are_read_in_place_and_scaled() {
        let d = dir("bytes");
        let pixels: Vec<u8> = (0..3 * 4 * 5).map(|v| (v * 17 % 256) as u8).collect();
        let npy = d.0.join("x.npy");
        crate::data::write_npy_iter(&npy, &[3, 4, 5], pixels.iter().copied()).unwrap();
        let idx = d.0.join("x.idx");
        let mut bytes = vec![0, 0, 8, 3];
        for dim in [3u32, 4, 5] {
            bytes.extend(dim.to_be_bytes());
        }
        bytes.extend(&pixels);
        std::fs::write(&idx, &bytes).unwrap();
        let y = d.0.join("y.npy");
        write_npy_i64(&y, &[0, 1, 2]).unwrap();
        for x in [&npy, &idx] {
            let set = SampleSet::open(x, &y).unwrap();
            assert!(set.on_disk(), "{}", x.display());
            let whole = Dataset::load(x, &y).unwrap();
            assert_eq!(set.sample_shape(), &whole.sample_shape[..]);
            assert_eq!(all_rows(&set), whole.inputs);
            assert_eq!(set.sha256(), whole.sha256);
        }
    }

    #[test]
    fn a_compressed_file_is_loaded_whole_and_bad_files_fail_as_when_loaded_whole() {
        let d = dir("fallback");
        let (x, y) = write_set(&d.0);
        let gz = d.0.join("x.npy.gz");
        {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&std::fs::read(&x).unwrap()).unwrap();
            std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        }
        let set = SampleSet::open(&gz, &y).unwrap();
        assert!(!set.on_disk());
        assert_eq!(all_rows(&set), Dataset::load(&x, &y).unwrap().inputs);

        // A NaN in row 3, too few labels, a truncated file: clear errors, no panic.
        let mut values: Vec<f32> = vec![0.5; 7 * 12];
        values[3 * 12 + 5] = f32::NAN;
        let bad = d.0.join("nan.npy");
        write_npy_f32(&bad, &values, &[7, 12]).unwrap();
        let err = SampleSet::open(&bad, &y).unwrap_err().to_string();
        assert!(
            err.contains("input sample 3") && err.contains("non-finite"),
            "{err}"
        );
        let short = d.0.join("short.npy");
        write_npy_i64(&short, &[1, 2]).unwrap();
        let err = SampleSet::open(&x, &short).unwrap_err().to_string();
        assert!(err.contains("2 labels for 7 inputs"), "{err}");
        let cut = d.0.join("cut.npy");
        let bytes = std::fs::read(&x).unwrap();
        std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
        let err = SampleSet::open(&cut, &y).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }
}
