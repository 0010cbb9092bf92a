//! Files that are either the old version or the new one, never half of either.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temporary files of concurrent writers in one process.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically: into a temporary file in the same directory, flushed to
/// disk (fsync), then renamed over `path`, and the directory entry flushed too. A reader (or a
/// run killed midway) sees the old file or the new one, never a torn one.
///
/// The directory must exist. Errors name the file and the step that failed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let context = |step: &str, e: io::Error| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot write '{}' ({step}): {e}; check that its directory exists and is writable",
                path.display()
            ),
        )
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("'{}' names no file", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| context("create a temporary file", e))?;
        file.write_all(bytes).map_err(|e| context("write", e))?;
        file.sync_all().map_err(|e| context("flush to disk", e))?;
        std::fs::rename(&temp, path).map_err(|e| context("rename the temporary file into place", e))
    })();
    if written.is_err() {
        // Best effort: a leftover temporary file is harmless but untidy.
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    sync_dir(&dir).map_err(|e| context("flush the directory", e))
}

/// Flushes a directory's entries (a rename or a new file in it) to disk. A no-op where
/// directories cannot be opened (Windows).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    if cfg!(unix) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gauntlet-run-fs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = scratch("replace");
        let path = dir.join("report.json");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new contents").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new contents");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["report.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let dir = scratch("missing");
        let path = dir.join("no/such/dir/report.json");
        let err = write_atomic(&path, b"x").unwrap_err().to_string();
        assert!(
            err.contains("report.json") && err.contains("directory exists"),
            "{err}"
        );
        assert!(write_atomic(Path::new("/"), b"x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_rename_leaves_the_old_file_and_no_temporary() {
        let dir = scratch("rename");
        // A directory in the way: the rename fails after the temporary file was written.
        let path = dir.join("busy");
        std::fs::create_dir_all(path.join("inside")).unwrap();
        let err = write_atomic(&path, b"x").unwrap_err().to_string();
        assert!(err.contains("rename"), "{err}");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["busy"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
