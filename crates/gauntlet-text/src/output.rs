//! Writing a report's files — `text-report.json`, `text-report.md`, `text-report.html` — each
//! atomically, so a kill or a full disk never leaves half a report behind.

use std::path::{Path, PathBuf};

use gauntlet_run::fs::write_atomic;

use crate::error::{Error, Result};
use crate::html;
use crate::report::TextAuditReport;

/// The files a report was written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// `text-report.json`: everything, machine-readable (a later run's baseline).
    pub json: PathBuf,
    /// `text-report.md`: the tables, for a terminal or a pull request.
    pub markdown: PathBuf,
    /// `text-report.html`: one self-contained page.
    pub html: PathBuf,
}

/// Writes the report's three files into `dir` (created if missing).
pub fn write_report(dir: &Path, report: &TextAuditReport) -> Result<ReportFiles> {
    let body = serde_json::to_string_pretty(report).map_err(|e| Error::Report {
        path: dir.join("text-report.json"),
        detail: e.to_string(),
    })?;
    write_files(
        dir,
        "text-report",
        &body,
        &report.to_markdown(),
        &html::render(report),
    )
}

/// Writes `STEM.json`, `STEM.md` and `STEM.html` into `dir` (created if missing), each
/// atomically: the three files of every text report.
pub(crate) fn write_files(
    dir: &Path,
    stem: &str,
    json: &str,
    markdown: &str,
    html: &str,
) -> Result<ReportFiles> {
    let err = |path: &Path, e: &dyn std::fmt::Display| Error::Report {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| err(dir, &e))?;
    let files = ReportFiles {
        json: dir.join(format!("{stem}.json")),
        markdown: dir.join(format!("{stem}.md")),
        html: dir.join(format!("{stem}.html")),
    };
    for (path, text) in [
        (&files.json, json),
        (&files.markdown, markdown),
        (&files.html, html),
    ] {
        write_atomic(path, text.as_bytes()).map_err(|e| err(path, &e))?;
    }
    Ok(files)
}
