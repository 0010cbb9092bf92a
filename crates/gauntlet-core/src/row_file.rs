//! [`RowFile`]: an input file left on disk and read a few rows at a time — a `.npy` array
//! (float32, float64 or uint8, little-endian, C order) or an MNIST IDX file of bytes, neither
//! compressed. Values come back as `f32` in input space, exactly as [`crate::data::parse_inputs`]
//! gives them (uint8 scaled to [0, 1]), so a set read this way equals the set loaded whole.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use npyz::{DType, Endianness, NpyHeader, Order, TypeChar};

use crate::hash::PartsHasher;
use crate::{Error, Result};

/// How one stored value becomes an `f32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    F32,
    F64,
    /// A byte 0–255, scaled to [0, 1].
    U8,
}

impl Element {
    fn size(self) -> usize {
        match self {
            Element::F32 => 4,
            Element::F64 => 8,
            Element::U8 => 1,
        }
    }

    fn decode(self, bytes: &[u8], out: &mut Vec<f32>) {
        match self {
            Element::F32 => out.extend(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            ),
            Element::F64 => out.extend(bytes.chunks_exact(8).map(|b| {
                f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            })),
            Element::U8 => out.extend(bytes.iter().map(|&b| b as f32 / 255.0)),
        }
    }
}

/// An uncompressed input file whose rows are read on demand.
#[derive(Debug)]
pub struct RowFile {
    path: PathBuf,
    file: Mutex<File>,
    element: Element,
    /// Where the values start (after the header).
    data_start: u64,
    /// The array's shape as [`crate::data::parse_inputs`] reports it (`N×…`; an IDX stack of
    /// N×H×W gains a channel axis).
    shape: Vec<usize>,
}

impl RowFile {
    /// Opens `path` for reading rows, or `None` when its values cannot be read in place (a
    /// compressed file, another dtype or byte order, Fortran order, or not an array file at
    /// all): such a file is loaded whole, and that loader explains what is wrong with it.
    pub fn open(path: &Path) -> Result<Option<RowFile>> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut reader = BufReader::new(file);
        let mut magic = [0u8; 6];
        if reader.read_exact(&mut magic).is_err() {
            return Ok(None);
        }
        reader
            .seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(path, e))?;
        let found = if magic.starts_with(b"\x93NUMPY") {
            npy_layout(&mut reader)
        } else if magic[..3] == [0, 0, 0x08] && magic[3] >= 1 {
            idx_layout(&mut reader, magic[3] as usize)
        } else {
            None
        };
        let Some((element, shape)) = found else {
            return Ok(None);
        };
        let data_start = reader.stream_position().map_err(|e| Error::io(path, e))?;
        let file = reader.into_inner();
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let values: usize = shape.iter().product();
        let needed = data_start + (values * element.size()) as u64;
        if len < needed {
            return Err(Error::Data(format!(
                "'{}' declares shape {shape:?} ({values} values, {needed} bytes with its header) \
                 but holds {len} bytes; the file is truncated — export it again",
                path.display()
            )));
        }
        Ok(Some(RowFile {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            element,
            data_start,
            shape,
        }))
    }

    /// The array's shape (`shape[0]` rows).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Values per row.
    pub fn row_len(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// The values of `rows` (stored row numbers), flat, in that order. Runs of consecutive
    /// rows are read with one read each.
    pub fn read(&self, rows: &[usize]) -> Result<Vec<f32>> {
        let row_len = self.row_len();
        let row_bytes = row_len * self.element.size();
        let mut out = Vec::with_capacity(rows.len() * row_len);
        let mut bytes = Vec::new();
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let mut k = 0;
        while k < rows.len() {
            let first = rows[k];
            let mut run = 1;
            while k + run < rows.len() && rows[k + run] == first + run {
                run += 1;
            }
            if first + run > self.rows() {
                return Err(Error::Data(format!(
                    "row {} is past the end of '{}' ({} rows)",
                    first + run - 1,
                    self.path.display(),
                    self.rows()
                )));
            }
            bytes.resize(run * row_bytes, 0);
            file.seek(SeekFrom::Start(
                self.data_start + (first * row_bytes) as u64,
            ))
            .and_then(|_| file.read_exact(&mut bytes))
            .map_err(|e| Error::io(&self.path, e))?;
            self.element.decode(&bytes, &mut out);
            k += run;
        }
        Ok(out)
    }

    /// Reads the whole file once, in chunks of whole rows: feeds its bytes to `hasher` (as one
    /// part, the file's length first — the same digest as hashing the bytes read whole) and
    /// each chunk's values, with the row number of its first row, to `visit`.
    pub fn scan(
        &self,
        hasher: &mut PartsHasher,
        mut visit: impl FnMut(usize, &[f32]) -> Result<()>,
    ) -> Result<()> {
        const CHUNK_BYTES: usize = 8 << 20;
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let len = file.metadata().map_err(|e| Error::io(&self.path, e))?.len();
        hasher.begin_part(len);
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(&self.path, e))?;
        let mut header = vec![0u8; self.data_start as usize];
        file.read_exact(&mut header)
            .map_err(|e| Error::io(&self.path, e))?;
        hasher.update(&header);
        let row_bytes = (self.row_len() * self.element.size()).max(1);
        let rows_per_chunk = (CHUNK_BYTES / row_bytes).max(1);
        let mut bytes = Vec::new();
        let mut values = Vec::new();
        let mut row = 0;
        while row < self.rows() {
            let take = rows_per_chunk.min(self.rows() - row);
            bytes.resize(take * row_bytes, 0);
            file.read_exact(&mut bytes)
                .map_err(|e| Error::io(&self.path, e))?;
            hasher.update(&bytes);
            values.clear();
            self.element.decode(&bytes, &mut values);
            visit(row, &values)?;
            row += take;
        }
        // Bytes after the array (none in a file numpy wrote) still belong to the file's hash.
        let mut rest = Vec::new();
        file.read_to_end(&mut rest)
            .map_err(|e| Error::io(&self.path, e))?;
        hasher.update(&rest);
        Ok(())
    }
}

/// The element type and shape of a `.npy` whose values can be read in place; the reader is
/// left at the first value.
fn npy_layout(reader: &mut BufReader<File>) -> Option<(Element, Vec<usize>)> {
    let header = NpyHeader::from_reader(&mut *reader).ok()?;
    let file = npyz::NpyFile::with_header(header, std::io::empty());
    if file.order() != Order::C {
        return None;
    }
    let DType::Plain(ts) = file.dtype() else {
        return None;
    };
    let element = match (ts.type_char(), ts.size_field(), ts.endianness()) {
        (TypeChar::Float, 4, Endianness::Little) => Element::F32,
        (TypeChar::Float, 8, Endianness::Little) => Element::F64,
        (TypeChar::Uint, 1, _) => Element::U8,
        _ => return None,
    };
    let shape: Vec<usize> = file.shape().iter().map(|&d| d as usize).collect();
    Some((element, shape))
}

/// The shape of an IDX byte array (a stack N×H×W gains a channel axis, as
/// [`crate::data::parse_inputs`] does); the reader is left at the first value.
fn idx_layout(reader: &mut BufReader<File>, rank: usize) -> Option<(Element, Vec<usize>)> {
    let mut header = vec![0u8; 4 + 4 * rank];
    reader.read_exact(&mut header).ok()?;
    let dims: Vec<usize> = header[4..]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let shape = match dims.as_slice() {
        &[n, h, w] => vec![n, 1, h, w],
        _ => dims,
    };
    Some((Element::U8, shape))
}
