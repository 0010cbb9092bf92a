//! Records the versions of burn and onnx-ir this build links, for the reports' manifests:
//! read from the workspace's Cargo.lock, so they can never disagree with what was compiled.

use std::path::Path;

fn locked_version(lock: &str, package: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{package}\"") {
            let version = lines
                .next()?
                .trim()
                .strip_prefix("version = \"")?
                .strip_suffix('"')?;
            return Some(version.to_string());
        }
    }
    None
}

fn main() {
    let lock_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock_path.display());
    let lock = std::fs::read_to_string(&lock_path).unwrap_or_default();
    for (package, key) in [
        ("burn", "GAUNTLET_BURN_VERSION"),
        ("onnx-ir", "GAUNTLET_ONNX_IR_VERSION"),
    ] {
        // Outside the workspace (a packaged crate) the lock file is not there: say so.
        let version =
            locked_version(&lock, package).unwrap_or_else(|| "unknown (no Cargo.lock)".into());
        println!("cargo:rustc-env={key}={version}");
    }
}
