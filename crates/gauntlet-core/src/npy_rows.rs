//! [`NpyRows`]: a float32 `.npy` file written row by row at any sample offset, so a long run
//! holds only the rows in hand and the file is complete when the run is. The file is the same,
//! byte for byte, as [`crate::data::write_npy_f32`] writes for the final values.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::data::write_npy_iter;
use crate::{Error, Result};

/// A float32 `.npy` file of shape `[rows, …]`, open for reading and writing single rows.
#[derive(Debug)]
pub struct NpyRows {
    file: File,
    path: PathBuf,
    /// Where the values start (after the header).
    data_start: u64,
    rows: usize,
    row_len: usize,
}

impl NpyRows {
    /// Creates `path` holding `initial` (every value of every row, in order) with `shape`
    /// (`shape[0]` rows); rows are then overwritten with [`NpyRows::write_row`].
    pub fn create(
        path: &Path,
        shape: &[usize],
        initial: impl Iterator<Item = f32>,
    ) -> Result<NpyRows> {
        let rows = shape.first().copied().unwrap_or(0);
        let row_len: usize = shape.iter().skip(1).product();
        write_npy_iter(path, shape, initial)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let data = (rows * row_len * std::mem::size_of::<f32>()) as u64;
        let Some(data_start) = len.checked_sub(data) else {
            return Err(Error::Data(format!(
                "'{}' holds {len} bytes, fewer than its {rows} rows of {row_len} values; the \
                 initial values did not fill the shape",
                path.display()
            )));
        };
        Ok(NpyRows {
            file,
            path: path.to_path_buf(),
            data_start,
            rows,
            row_len,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Values per row.
    pub fn row_len(&self) -> usize {
        self.row_len
    }

    fn seek_row(&mut self, i: usize, len: usize) -> Result<()> {
        if i >= self.rows || len != self.row_len {
            return Err(Error::Data(format!(
                "row {i} of {len} values does not fit '{}' ({} rows of {} values)",
                self.path.display(),
                self.rows,
                self.row_len
            )));
        }
        let offset = self.data_start + (i * self.row_len * std::mem::size_of::<f32>()) as u64;
        self.file
            .seek(SeekFrom::Start(offset))
            .map(|_| ())
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Overwrites row `i` with `row`.
    pub fn write_row(&mut self, i: usize, row: &[f32]) -> Result<()> {
        self.seek_row(i, row.len())?;
        let bytes: Vec<u8> = row.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.file
            .write_all(&bytes)
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Reads row `i` back.
    pub fn read_row(&mut self, i: usize) -> Result<Vec<f32>> {
        self.seek_row(i, self.row_len)?;
        let mut bytes = vec![0u8; self.row_len * std::mem::size_of::<f32>()];
        self.file
            .read_exact(&mut bytes)
            .map_err(|e| Error::io(&self.path, e))?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// Flushes the file to disk and moves it to `to` (the same file system), where it stays.
    pub fn persist(&mut self, to: &Path) -> Result<()> {
        self.file.sync_all().map_err(|e| Error::io(&self.path, e))?;
        std::fs::rename(&self.path, to).map_err(|e| Error::io(to, e))?;
        self.path = to.to_path_buf();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::write_npy_f32;

    #[test]
    fn rows_written_out_of_order_give_the_file_written_at_once() {
        let dir = std::env::temp_dir().join(format!("gauntlet-npy-rows-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shape = [5, 2, 3];
        let last: Vec<f32> = (0..30).map(|v| v as f32 * 0.25 - 3.0).collect();
        let whole = dir.join("whole.npy");
        write_npy_f32(&whole, &last, &shape).unwrap();

        let streamed = dir.join("streamed.npy");
        let mut rows = NpyRows::create(&streamed, &shape, std::iter::repeat_n(0.5, 30)).unwrap();
        for i in [3, 0, 4, 1, 2, 3] {
            rows.write_row(i, &last[i * 6..(i + 1) * 6]).unwrap();
        }
        assert_eq!(rows.read_row(4).unwrap(), &last[24..30]);
        let kept = dir.join("kept.npy");
        rows.persist(&kept).unwrap();
        assert!(!streamed.exists());
        assert_eq!(
            std::fs::read(&kept).unwrap(),
            std::fs::read(&whole).unwrap()
        );
        // A row of the wrong size or past the end is refused, not written.
        assert!(rows.write_row(5, &last[..6]).is_err());
        assert!(rows.write_row(0, &last[..5]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
