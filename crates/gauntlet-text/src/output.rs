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
    let err = |path: &Path, e: &dyn std::fmt::Display| Error::Report {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| err(dir, &e))?;
    let files = ReportFiles {
        json: dir.join("text-report.json"),
        markdown: dir.join("text-report.md"),
        html: dir.join("text-report.html"),
    };
    let body = serde_json::to_string_pretty(report).map_err(|e| err(&files.json, &e))?;
    write_atomic(&files.json, body.as_bytes()).map_err(|e| err(&files.json, &e))?;
    write_atomic(&files.markdown, report.to_markdown().as_bytes())
        .map_err(|e| err(&files.markdown, &e))?;
    write_atomic(&files.html, html::render(report).as_bytes()).map_err(|e| err(&files.html, &e))?;
    Ok(files)
}
