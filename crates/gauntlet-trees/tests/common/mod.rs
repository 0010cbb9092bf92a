//! Reading the fixtures of `fixtures/trees/` (written by tools/export_tree_fixtures.py).

#![allow(dead_code)] // each test file uses part of it

use std::path::PathBuf;

/// `fixtures/trees/` of the repository.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/trees")
}

/// The fixture names (each `NAME.onnx` with its `.x.npy` and `.expected.npy`).
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .expect("fixtures/trees exists")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".onnx").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// A float32 `.npy` file: values and shape.
pub fn read_npy(path: &std::path::Path) -> (Vec<f32>, Vec<usize>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).expect("a .npy file");
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let data: Vec<f32> = npy.into_vec().expect("float32 data");
    (data, shape)
}

/// One fixture: the model bytes, the rows, onnxruntime's output and labels.
pub struct Fixture {
    pub name: String,
    pub model: Vec<u8>,
    pub x: Vec<f32>,
    pub n_rows: usize,
    pub expected: Vec<f32>,
    pub labels: Option<Vec<String>>,
}

pub fn load(name: &str) -> Fixture {
    let dir = fixture_dir();
    let model = std::fs::read(dir.join(format!("{name}.onnx"))).expect("model");
    let (x, shape) = read_npy(&dir.join(format!("{name}.x.npy")));
    let (expected, _) = read_npy(&dir.join(format!("{name}.expected.npy")));
    let labels = std::fs::read_to_string(dir.join(format!("{name}.labels.txt")))
        .ok()
        .map(|t| t.lines().map(str::to_string).collect());
    Fixture {
        name: name.to_string(),
        model,
        x,
        n_rows: shape[0],
        expected,
        labels,
    }
}
