//! Adversarial rows streamed into `.npy` files as batches finish (`run_audit_to` with a store):
//! the files hold exactly the rows an in-memory run keeps, byte for byte as the report writes
//! those, also after an interrupted run is resumed from its checkpoint; rows reach the file
//! while the run goes on, not at its end; a run that stops leaves no partial file.

mod common;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use common::{open_to_square, plan, stop_in_square_after, Fake, Script, Spec, TempDir};
use gauntlet_core::data::write_npy_f32;
use gauntlet_core::layout::Layout;
use gauntlet_eval::adversarial::file_stem;
use gauntlet_eval::{run_audit, run_audit_to, AdversarialStore, Checkpoint, Evaluation, Silent};

const EPS: [f32; 3] = [0.01, 0.02, 0.03];

fn features(ev: &Evaluation) -> usize {
    ev.features
}

/// The values of a float32 `.npy` file (version 1 header).
fn npy_values(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let header = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + header..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn streamed_files_equal_the_rows_kept_in_memory_also_after_a_resume() {
    let specs = open_to_square();
    let plan = plan(&["fgsm", "square"], &EPS, true, 1);
    let model = Fake::new(specs.clone());
    let data = model.data(&[0; 6]);
    let memory = run_audit(&model, &data, &plan, &Silent).unwrap();

    let dir = TempDir::new("streamed");
    let adversarial = dir.path().join("adversarial");
    std::fs::create_dir_all(&adversarial).unwrap();
    let store = AdversarialStore::new(&adversarial, Layout::Nchw, &data.sample_shape);
    let checkpoint_dir = dir.path().join("checkpoint");
    let checkpoint = Checkpoint::open(&checkpoint_dir, "fake run", true).unwrap();
    let progress = stop_in_square_after(2);
    let interrupted = run_audit_to(
        &Fake::new(specs.clone()),
        &data,
        &plan,
        &progress,
        Some(&checkpoint),
        Some(&store),
    )
    .unwrap();
    assert!(interrupted.errors.iter().any(|e| e.contains("interrupted")));
    drop(interrupted);
    assert!(
        files_in(&adversarial).is_empty(),
        "a run that is not reported leaves no partial file: {:?}",
        files_in(&adversarial)
    );

    let checkpoint = Checkpoint::open(&checkpoint_dir, "fake run", false).unwrap();
    let resumed = run_audit_to(
        &Fake::new(specs.clone()),
        &data,
        &plan,
        &Silent,
        Some(&checkpoint),
        Some(&store),
    )
    .unwrap();
    assert!(resumed.resumed_batches > 0);
    assert_eq!(resumed.results.len(), memory.results.len());
    let (n, f) = (memory.samples, features(&memory));
    let expected_dir = dir.path().join("expected");
    std::fs::create_dir_all(&expected_dir).unwrap();
    for (streamed, kept) in resumed.results.iter().zip(&memory.results) {
        assert_eq!((&streamed.attack, streamed.eps), (&kept.attack, kept.eps));
        let rows = kept.adversarial.to_vec(n, f).unwrap();
        assert_eq!(streamed.adversarial.to_vec(n, f).unwrap(), rows);
        // Moved in place, the file is the one the report writes from memory.
        let stem = file_stem(&kept.attack, kept.norm, kept.eps);
        let kept_path = adversarial.join(format!("{stem}.npy"));
        assert!(streamed.adversarial.persist(&kept_path).unwrap());
        let expected = expected_dir.join(format!("{stem}.npy"));
        write_npy_f32(&expected, &rows, &[n, f]).unwrap();
        assert_eq!(
            std::fs::read(&kept_path).unwrap(),
            std::fs::read(&expected).unwrap()
        );
    }
    drop(resumed);
    assert_eq!(
        files_in(&adversarial).len(),
        memory.results.len(),
        "kept files stay"
    );
}

#[test]
fn rows_reach_their_file_while_the_run_goes_on() {
    let specs = vec![Spec::honest(0.005); 5];
    let plan = plan(&["fgsm"], &EPS, false, 1);
    let model = Fake::new(specs.clone());
    let data = model.data(&[0; 5]);
    let memory = run_audit(&model, &data, &plan, &Silent).unwrap();
    let (n, f) = (memory.samples, features(&memory));
    let last = memory.results.last().unwrap();
    let fin = last.adversarial.to_vec(n, f).unwrap();
    let clean = &data.inputs;

    let dir = TempDir::new("incremental");
    std::fs::create_dir_all(dir.path()).unwrap();
    let store = AdversarialStore::new(dir.path(), Layout::Nchw, &data.sample_shape);
    let partial = dir.path().join(format!(
        "{}.npy.partial",
        file_stem("fgsm", last.norm, last.eps)
    ));
    // Asked before every batch: what the file holds then.
    let seen: RefCell<Vec<Vec<f32>>> = RefCell::new(Vec::new());
    let progress = Script::new(|_, _| {
        if partial.exists() {
            seen.borrow_mut().push(npy_values(&partial));
        }
        false
    });
    run_audit_to(&model, &data, &plan, &progress, None, Some(&store)).unwrap();
    let seen = seen.take();
    assert!(seen.len() >= n, "a look before each of the {n} batches");
    let row = |values: &[f32], i: usize| values[i * f..(i + 1) * f].to_vec();
    let moved: Vec<usize> = (0..n).filter(|&i| row(&fin, i) != row(clean, i)).collect();
    assert!(moved.len() >= 2, "FGSM moves the rows");
    // Some look found a finished sample's row in place while a later one was still clean.
    let midway = seen.iter().any(|values| {
        moved.iter().any(|&i| row(values, i) == row(&fin, i))
            && moved.iter().any(|&i| row(values, i) == row(clean, i))
    });
    assert!(midway, "rows were written as batches finished");
    assert_eq!(seen.first().map(|v| v.as_slice()), Some(clean.as_slice()));
}
