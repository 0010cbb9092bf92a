//! Loading evaluation data: inputs from `.npy` or MNIST IDX, labels from `.npy` or IDX.
//!
//! Inputs end up as `f32` in input space (uint8 data is scaled to [0, 1]); every problem —
//! a missing file, a truncated array, NaN values, mismatched lengths — is an [`Error::Data`]
//! that says how to fix it.

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;
use npyz::{DType, NpyFile, TypeChar, WriterBuilder};

use crate::hash::sha256_hex_parts;
use crate::{Error, Result};

/// An in-memory evaluation set of flat samples.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Row-major `[len, features]` values in input space.
    pub inputs: Vec<f32>,
    /// Shape of one sample (e.g. `[1, 28, 28]`).
    pub sample_shape: Vec<usize>,
    /// One class index per sample.
    pub labels: Vec<i64>,
    /// SHA-256 over the raw bytes of the input and label files.
    pub sha256: String,
}

impl Dataset {
    /// Loads and validates inputs and labels from files.
    pub fn load(inputs: &Path, labels: &Path) -> Result<Self> {
        let input_bytes = read_maybe_gz(inputs)?;
        let label_bytes = read_maybe_gz(labels)?;
        let (values, shape) = parse_inputs(&input_bytes, inputs)?;
        let labels_vec = parse_labels(&label_bytes, labels)?;
        let sha256 = sha256_hex_parts(&[&input_bytes, &label_bytes]);
        Dataset::from_parts(values, shape, labels_vec, sha256)
    }

    /// Validates already-parsed arrays. `shape[0]` is the number of samples.
    pub fn from_parts(
        inputs: Vec<f32>,
        shape: Vec<usize>,
        labels: Vec<i64>,
        sha256: String,
    ) -> Result<Self> {
        if inputs.is_empty() {
            return Err(no_samples());
        }
        check_shape_and_labels(&shape, &labels)?;
        if let Some(pos) = inputs.iter().position(|v| !v.is_finite()) {
            let features: usize = shape[1..].iter().product();
            return Err(non_finite(pos / features.max(1), inputs[pos]));
        }
        Ok(Dataset {
            inputs,
            sample_shape: shape[1..].to_vec(),
            labels,
            sha256,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the set holds no sample (never after [`Dataset::from_parts`], which refuses
    /// an empty set, but possible after [`Dataset::truncate`]`(0)`).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of values per sample.
    pub fn features(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// Keeps only the first `n` samples.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            let f = self.features();
            self.inputs.truncate(n * f);
            self.labels.truncate(n);
        }
    }

    /// Reads channels-last samples (`[H, W, C]`, a Keras/TensorFlow model's layout) as
    /// channels first, the layout gauntlet works in; other sets are returned unchanged.
    pub fn into_channels_first(mut self, layout: crate::layout::Layout) -> Self {
        if let (crate::layout::Layout::Nhwc, &[h, w, c]) = (layout, self.sample_shape.as_slice()) {
            self.inputs = crate::layout::hwc_to_chw(&self.inputs, self.len(), [h, w, c]);
            self.sample_shape = vec![c, h, w];
        }
        self
    }

    /// Smallest and largest input value.
    pub fn value_range(&self) -> (f32, f32) {
        self.inputs
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            })
    }

    /// The samples at `indices`, in that order, as a data set of their own (a shard's part of
    /// a run). The content hash stays the whole file's: it identifies the data, not the part.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        Dataset {
            inputs: self.rows(indices),
            sample_shape: self.sample_shape.clone(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            sha256: self.sha256.clone(),
        }
    }

    /// Flat rows of the samples at `indices`, in that order.
    pub fn rows(&self, indices: &[usize]) -> Vec<f32> {
        let f = self.features();
        let mut out = Vec::with_capacity(indices.len() * f);
        for &i in indices {
            out.extend_from_slice(&self.inputs[i * f..(i + 1) * f]);
        }
        out
    }
}

fn no_samples() -> Error {
    Error::Data(
        "the input file holds no samples; give an array of shape N×C×H×W or N×D with N ≥ 1".into(),
    )
}

/// The checks of an input array's shape and its labels, wherever its values are held: at
/// least one sample of at least one value, two or more dimensions, one non-negative label per
/// sample.
pub(crate) fn check_shape_and_labels(shape: &[usize], labels: &[i64]) -> Result<()> {
    if shape.is_empty() || shape.iter().product::<usize>() == 0 {
        return Err(no_samples());
    }
    if shape.len() < 2 {
        return Err(Error::Data(format!(
            "inputs have shape {shape:?}, but a batch needs at least two dimensions \
             (N×D or N×C×H×W); reshape the array before saving it"
        )));
    }
    let n = shape[0];
    if labels.len() != n {
        return Err(Error::Data(format!(
            "{} labels for {n} inputs; the label array must have exactly one entry per sample",
            labels.len()
        )));
    }
    if let Some(pos) = labels.iter().position(|&l| l < 0) {
        return Err(Error::Data(format!(
            "label {} of sample {pos} is negative; labels must be class indices 0, 1, 2, …",
            labels[pos]
        )));
    }
    Ok(())
}

/// The error for a NaN or infinite input `value` in `sample`.
pub(crate) fn non_finite(sample: usize, value: f32) -> Error {
    Error::Data(format!(
        "input sample {sample} holds a non-finite value ({value}); remove or repair NaN/Inf \
         entries before auditing"
    ))
}

/// Reads a file, transparently gunzipping it when it starts with the gzip magic bytes.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| {
                Error::Data(format!(
                    "'{}' looks gzip-compressed but cannot be decompressed ({e}); the file is \
                 probably truncated or corrupt — download or export it again",
                    path.display()
                ))
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn is_npy(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x93NUMPY")
}

fn is_idx(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && bytes[0] == 0 && bytes[1] == 0 && bytes[2] == 0x08 && bytes[3] >= 1
}

/// Parses inputs (`.npy` float32/float64/uint8, or IDX uint8) into values and shape.
pub fn parse_inputs(bytes: &[u8], path: &Path) -> Result<(Vec<f32>, Vec<usize>)> {
    if is_npy(bytes) {
        let (values, shape) = read_npy_f32(bytes, path)?;
        // IDX-style image stacks N×H×W get an explicit channel axis.
        Ok((values, shape))
    } else if is_idx(bytes) {
        let (data, dims) = parse_idx_u8(bytes, path)?;
        let values = data.iter().map(|&b| b as f32 / 255.0).collect();
        let shape = match dims.len() {
            3 => vec![dims[0], 1, dims[1], dims[2]],
            _ => dims,
        };
        Ok((values, shape))
    } else {
        Err(Error::Data(format!(
            "'{}' is neither a NumPy .npy file nor an IDX file; save inputs with numpy.save \
             (float32 N×C×H×W or N×D, or uint8 0–255)",
            path.display()
        )))
    }
}

/// Parses labels (`.npy` integer array, or IDX uint8).
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<i64>> {
    if is_npy(bytes) {
        let npy = NpyFile::new(bytes).map_err(|e| npy_error(path, e))?;
        let dtype = npy.dtype();
        let shape = npy.shape().to_vec();
        if shape.len() > 1 && shape[1..].iter().any(|&d| d != 1) {
            return Err(Error::Data(format!(
                "labels in '{}' have shape {shape:?}; give one class index per sample \
                 (shape N), not one-hot vectors (use y.argmax(1))",
                path.display()
            )));
        }
        let (kind, size) = type_of(&dtype, path)?;
        let labels: Vec<i64> = match (kind, size) {
            (TypeChar::Int, 8) => npy.into_vec::<i64>().map_err(|e| npy_error(path, e))?,
            (TypeChar::Int, 4) => convert(npy.into_vec::<i32>(), path)?,
            (TypeChar::Int, 2) => convert(npy.into_vec::<i16>(), path)?,
            (TypeChar::Int, 1) => convert(npy.into_vec::<i8>(), path)?,
            (TypeChar::Uint, 1) => convert(npy.into_vec::<u8>(), path)?,
            (TypeChar::Uint, 2) => convert(npy.into_vec::<u16>(), path)?,
            (TypeChar::Uint, 4) => convert(npy.into_vec::<u32>(), path)?,
            _ => {
                return Err(Error::Data(format!(
                    "labels in '{}' have dtype {}; save them as an integer array \
                     (y.astype('int64'))",
                    path.display(),
                    dtype.descr()
                )))
            }
        };
        Ok(labels)
    } else if is_idx(bytes) {
        let (data, dims) = parse_idx_u8(bytes, path)?;
        if dims.len() != 1 {
            return Err(Error::Data(format!(
                "'{}' is an IDX file of rank {}, but labels need rank 1",
                path.display(),
                dims.len()
            )));
        }
        Ok(data.iter().map(|&b| b as i64).collect())
    } else {
        Err(Error::Data(format!(
            "'{}' is neither a NumPy .npy file nor an IDX file; save labels with \
             numpy.save(y.astype('int64'))",
            path.display()
        )))
    }
}

fn convert<T: Into<i64>>(v: std::io::Result<Vec<T>>, path: &Path) -> Result<Vec<i64>> {
    Ok(v.map_err(|e| npy_error(path, e))?
        .into_iter()
        .map(Into::into)
        .collect())
}

fn npy_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Data(format!(
        "cannot read NumPy array '{}': {e}; the file is probably truncated or not a valid \
         .npy file — save it again with numpy.save",
        path.display()
    ))
}

fn type_of(dtype: &DType, path: &Path) -> Result<(TypeChar, u64)> {
    match dtype {
        DType::Plain(ts) => Ok((ts.type_char(), ts.size_field())),
        _ => Err(Error::Data(format!(
            "'{}' holds a structured or array dtype; save a plain numeric array",
            path.display()
        ))),
    }
}

/// Reads a numeric `.npy` array as `f32`, scaling uint8 to [0, 1].
pub fn read_npy_f32(bytes: &[u8], path: &Path) -> Result<(Vec<f32>, Vec<usize>)> {
    let npy = NpyFile::new(bytes).map_err(|e| npy_error(path, e))?;
    if npy.order() != npyz::Order::C {
        return Err(Error::Data(format!(
            "'{}' is stored in Fortran order; save it with numpy.save(np.ascontiguousarray(x))",
            path.display()
        )));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let (kind, size) = type_of(&npy.dtype(), path)?;
    let values: Vec<f32> = match (kind, size) {
        (TypeChar::Float, 4) => npy.into_vec::<f32>().map_err(|e| npy_error(path, e))?,
        (TypeChar::Float, 8) => npy
            .into_vec::<f64>()
            .map_err(|e| npy_error(path, e))?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        (TypeChar::Uint, 1) => npy
            .into_vec::<u8>()
            .map_err(|e| npy_error(path, e))?
            .into_iter()
            .map(|v| v as f32 / 255.0)
            .collect(),
        _ => {
            return Err(Error::Data(format!(
                "inputs in '{}' have an unsupported dtype; save float32 values in the model's \
                 input range, or uint8 pixels 0–255 (x.astype('float32'))",
                path.display()
            )))
        }
    };
    Ok((values, shape))
}

/// Parses an IDX file of unsigned bytes (MNIST format): returns data and dimensions.
pub fn parse_idx_u8(bytes: &[u8], path: &Path) -> Result<(Vec<u8>, Vec<usize>)> {
    let bad = |what: &str| {
        Error::Data(format!(
            "IDX file '{}' {what}; download or decompress it again",
            path.display()
        ))
    };
    if bytes.len() < 4 || bytes[2] != 0x08 {
        return Err(bad("does not hold unsigned bytes (type code 0x08)"));
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(bad("has a truncated header"));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let expected: usize = dims.iter().product();
    let body = &bytes[header..];
    if body.len() != expected {
        return Err(bad(&format!(
            "should hold {expected} values for dimensions {dims:?} but holds {} (truncated?)",
            body.len()
        )));
    }
    Ok((body.to_vec(), dims))
}

/// Writes a float32 `.npy` array.
pub fn write_npy_f32(path: &Path, values: &[f32], shape: &[usize]) -> Result<()> {
    write_npy(path, values, shape)
}

/// Writes an int64 `.npy` vector.
pub fn write_npy_i64(path: &Path, values: &[i64]) -> Result<()> {
    write_npy(path, values, &[values.len()])
}

fn write_npy<T: npyz::AutoSerialize + Copy>(
    path: &Path,
    values: &[T],
    shape: &[usize],
) -> Result<()> {
    write_npy_iter(path, shape, values.iter().copied())
}

/// Writes a `.npy` array of `shape` from values produced in order (so a large array need not
/// be in memory at once).
pub(crate) fn write_npy_iter<T: npyz::AutoSerialize>(
    path: &Path,
    shape: &[usize],
    values: impl Iterator<Item = T>,
) -> Result<()> {
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(std::io::BufWriter::new(file))
        .begin_nd()
        .map_err(|e| Error::io(path, e))?;
    writer.extend(values).map_err(|e| Error::io(path, e))?;
    writer.finish().map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn idx_images_get_a_channel_axis_and_scale() {
        let bytes = idx(&[2, 2, 2], &[0, 255, 0, 0, 51, 0, 0, 0]);
        let (v, shape) = parse_inputs(&bytes, Path::new("x")).unwrap();
        assert_eq!(shape, vec![2, 1, 2, 2]);
        assert_eq!(v[1], 1.0);
        assert!((v[4] - 0.2).abs() < 1e-6);
    }

    #[test]
    fn truncated_idx_is_an_error() {
        let bytes = idx(&[2, 2, 2], &[0, 255, 0]);
        let err = parse_inputs(&bytes, Path::new("x"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn nan_inputs_and_length_mismatch_are_rejected() {
        let err = Dataset::from_parts(vec![0.0, f32::NAN], vec![2, 1], vec![0, 1], String::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("sample 1") && err.contains("NaN"), "{err}");
        let err = Dataset::from_parts(vec![0.0, 1.0], vec![2, 1], vec![0], String::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("1 labels for 2 inputs"), "{err}");
    }

    #[test]
    fn npy_roundtrip() {
        let dir = tempfile::Builder::new()
            .prefix("gauntlet-npy-")
            .tempdir()
            .unwrap();
        let p = dir.path().join("a.npy");
        write_npy_f32(&p, &[0.0, 0.5, 1.0, 0.25], &[2, 2]).unwrap();
        let (v, s) = read_npy_f32(&std::fs::read(&p).unwrap(), &p).unwrap();
        assert_eq!(s, vec![2, 2]);
        assert_eq!(v, vec![0.0, 0.5, 1.0, 0.25]);
        let q = dir.path().join("y.npy");
        write_npy_i64(&q, &[3, 1]).unwrap();
        assert_eq!(
            parse_labels(&std::fs::read(&q).unwrap(), &q).unwrap(),
            vec![3, 1]
        );
    }
}
