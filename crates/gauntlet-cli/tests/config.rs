//! `gauntlet audit --config gauntlet.toml`: the file's settings apply, flags override them, and
//! an unknown key is an error naming it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::Scratch;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("config-{name}"))
}

fn gauntlet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(args)
        .output()
        .unwrap()
}

/// A config auditing 16 digits with PGD-5, requiring 99 % robust accuracy at ε = 0.3 (fails).
fn write_config(dir: &Path, extra: &str) -> String {
    let root = root();
    let text = format!(
        "model = {:?}\ninputs = {:?}\nlabels = {:?}\nnorm = \"linf\"\neps = [0.1, 0.3]\nattacks = [\"pgd\"]\n\
         steps = 5\nsamples = 16\nseed = 3\nout = {:?}\nthresholds = [\"pgd:linf:0.3=0.99\"]\n{extra}",
        root.join("models/mnist_cnn.onnx").display().to_string(),
        root.join("data/mnist-demo/x.npy").display().to_string(),
        root.join("data/mnist-demo/y.npy").display().to_string(),
        dir.join("report").display().to_string(),
    );
    let path = dir.join("gauntlet.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("report/report.json")).unwrap()).unwrap()
}

#[test]
fn config_applies_and_flags_override_it() {
    let dir = scratch("apply");
    let config = write_config(&dir, "");
    let run = gauntlet(&["audit", "--config", &config, "--quiet"]);
    assert_eq!(
        run.status.code(),
        Some(1),
        "the config's threshold fails: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let r = report(&dir);
    assert_eq!(r["samples"], 16);
    assert_eq!(r["seed"], 3);
    assert_eq!(r["manifest"]["attacks"], serde_json::json!(["pgd"]));

    // Flags win: fewer samples, and a threshold that holds replaces the config's.
    let run = gauntlet(&[
        "audit",
        "--config",
        &config,
        "--quiet",
        "--samples",
        "8",
        "--fail-under",
        "pgd:linf:0.3=0",
    ]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let r = report(&dir);
    assert_eq!(r["samples"], 8);
    assert_eq!(
        r["seed"], 3,
        "settings not overridden still come from the file"
    );
}

#[test]
fn unknown_keys_and_missing_settings_exit_2() {
    let dir = scratch("bad");
    let config = write_config(&dir, "epsilon = 0.3\n");
    let run = gauntlet(&["audit", "--config", &config, "--quiet"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("epsilon") && stderr.contains("gauntlet.toml"),
        "{stderr}"
    );
    assert!(!dir.join("report/report.json").exists());

    let empty = dir.join("empty.toml");
    std::fs::write(&empty, "seed = 1\n").unwrap();
    let run = gauntlet(&["audit", "--config", &empty.display().to_string(), "--quiet"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no target") && stderr.contains("--model"),
        "{stderr}"
    );

    let run = gauntlet(&[
        "audit",
        "--config",
        &dir.join("nope.toml").display().to_string(),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("cannot read the config"));
}

#[test]
fn a_config_can_describe_a_black_box_audit() {
    let dir = scratch("blackbox");
    let config = write_config(
        &dir,
        "black_box = true\nmax_queries = 100000\ninput_shape = [1, 28, 28]\nbounds = [0, 1]\nrestarts = 1\n",
    );
    // The config's attack (PGD) needs gradients: the query-only target refuses it up front.
    let run = gauntlet(&["audit", "--config", &config, "--quiet"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("queries only"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // With a black-box attack from the command line it runs, counted and capped.
    let run = gauntlet(&[
        "audit",
        "--config",
        &config,
        "--quiet",
        "--attacks",
        "square",
        "--queries",
        "50",
        "--fail-under",
        "square:linf:0.3=0",
    ]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let r = report(&dir);
    assert!(r["model"]["access"].as_str().unwrap().contains("black-box"));
    let traffic = &r["manifest"]["traffic"];
    let sent = traffic["sent"].as_u64().unwrap();
    assert!(sent > 0);
    assert_eq!(traffic["cache_limit_bytes"].as_u64(), Some(256 << 20));
    let (hits, misses) = (
        traffic["cache_hits"].as_u64().unwrap(),
        traffic["cache_misses"].as_u64().unwrap(),
    );
    let rate = traffic["cache_hit_rate"].as_f64().unwrap();
    assert!(
        (rate - hits as f64 / (hits + misses) as f64).abs() < 1e-9,
        "{traffic}"
    );
    let md = std::fs::read_to_string(dir.join("report/report.md")).unwrap();
    assert!(md.contains("hit"), "the readable report gives the hit rate");

    // Without the cache nothing is answered from it, and the target sees at least as much.
    let run = gauntlet(&[
        "audit",
        "--config",
        &config,
        "--quiet",
        "--attacks",
        "square",
        "--queries",
        "50",
        "--query-cache-mb",
        "0",
        "--fail-under",
        "square:linf:0.3=0",
    ]);
    assert_eq!(run.status.code(), Some(0));
    let r = report(&dir);
    let traffic = &r["manifest"]["traffic"];
    assert_eq!(traffic["cache_limit_bytes"].as_u64(), Some(0));
    assert_eq!(traffic["cache_hits"].as_u64(), Some(0));
    assert!(traffic["sent"].as_u64().unwrap() >= sent);
}
