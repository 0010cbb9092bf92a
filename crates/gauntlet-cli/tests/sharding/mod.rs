//! Helpers shared by the sharded text and tabular audit tests: run `gauntlet`, merge shard
//! folders, compare reports without their times.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (the demo data's paths are relative to it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `gauntlet ARGS`, run in the repository root.
pub fn gauntlet(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap()
}

/// `gauntlet COMMAND… --quiet --seed SEED --out OUT [--shard SHARD]`.
pub fn audit(command: &[&str], seed: &str, out: &Path, shard: Option<&str>) -> Output {
    let mut args: Vec<String> = command.iter().map(|s| s.to_string()).collect();
    args.extend(["--quiet", "--seed", seed, "--out"].map(String::from));
    args.push(out.display().to_string());
    if let Some(shard) = shard {
        args.extend(["--shard".into(), shard.into()]);
    }
    gauntlet(&args)
}

/// `gauntlet merge DIRS --quiet --out OUT`.
pub fn merge(dirs: &[&Path], out: &Path) -> Output {
    let mut args = vec!["merge".to_string()];
    args.extend(dirs.iter().map(|d| d.display().to_string()));
    args.extend(["--quiet".into(), "--out".into(), out.display().to_string()]);
    gauntlet(&args)
}

/// Asserts the command exited with `code`.
pub fn exits(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Asserts a merge was refused (exit code 2) with a message holding every one of `words`.
pub fn refused(output: &Output, words: &[&str]) {
    exits(output, 2);
    let err = String::from_utf8_lossy(&output.stderr);
    for word in words {
        assert!(err.contains(word), "'{word}' not in: {err}");
    }
}

/// A pretty-printed JSON report without the lines that differ between any two runs (times),
/// compared as text so that every other number must match to the last digit.
pub fn without_times(path: &Path) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|line| {
            let key = line.trim_start();
            !(key.starts_with("\"seconds\":") || key.contains("_seconds\":"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names of the files in `dir`, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
