//! Black-box audits of a live target: `gauntlet serve` on 127.0.0.1 attacked over HTTP (and
//! through an external command) gives exactly the results of the same attacks on the ONNX file;
//! a flaky target is retried; a target that dies mid-run costs only its own samples.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

mod common;
use common::Scratch;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("remote-cli-{name}"))
}

/// A `gauntlet serve` child, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
            .args([
                "serve",
                "--model",
                root().join("models/mnist_cnn.onnx").to_str().unwrap(),
                "--port",
                "0",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .strip_prefix("listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line from serve: {line:?}"))
            .to_string();
        Server {
            child,
            url: format!("{address}/predict"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const DATA: [&str; 2] = ["data/mnist-demo/x.npy", "data/mnist-demo/y.npy"];

fn audit(target: &[&str], attacks: &str, eps: &str, out: &Path, extra: &[&str]) -> Output {
    let root = root();
    Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .arg("audit")
        .args(target)
        .args([
            "--inputs",
            root.join(DATA[0]).to_str().unwrap(),
            "--labels",
            root.join(DATA[1]).to_str().unwrap(),
        ])
        .args([
            "--samples",
            "12",
            "--batch-size",
            "6",
            "--eps",
            eps,
            "--attacks",
            attacks,
            "--seed",
            "3",
        ])
        .args([
            "--input-shape",
            "1,28,28",
            "--no-diagnostics",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .unwrap()
}

fn samples(out: &Path) -> String {
    std::fs::read_to_string(out.join("samples.jsonl")).unwrap()
}

fn report(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

fn ok(output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn local_model() -> Vec<String> {
    vec![
        "--model".into(),
        root().join("models/mnist_cnn.onnx").display().to_string(),
        "--black-box".into(),
    ]
}

#[test]
fn square_and_hopskipjump_over_http_equal_the_onnx_file() {
    let server = Server::start(&[]);
    // Square and HopSkipJump, short budgets; everything else equal.
    let settings = ["--queries", "300"];
    let direct = scratch("direct");
    let local: Vec<String> = local_model();
    let local: Vec<&str> = local.iter().map(String::as_str).collect();
    ok(&audit(&local, "square,hsj", "0.15,0.3", &direct, &settings));
    let remote = scratch("http");
    let target = [
        "--target",
        server.url.as_str(),
        "--num-classes",
        "10",
        "--rows-per-request",
        "100000",
    ];
    ok(&audit(
        &target,
        "square,hsj",
        "0.15,0.3",
        &remote,
        &settings,
    ));
    assert_eq!(
        samples(&remote),
        samples(&direct),
        "per-sample results differ over HTTP"
    );
    let r = report(&remote);
    assert!(r["model"]["access"].as_str().unwrap().contains("HTTP"));
    let broken = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["attack_success_rate"].as_f64().unwrap() > 0.0)
        .count();
    assert!(
        broken > 0,
        "nothing was broken: the comparison would be vacuous"
    );
    // Every query is accounted for: the target saw what the attacks sent, less the cache's share.
    let sent = r["manifest"]["traffic"]["sent"].as_u64().unwrap();
    assert!(sent > 100, "only {sent} queries reached the server");
    assert!(!r["query_efficiency"].as_array().unwrap().is_empty());
}

#[test]
fn a_label_only_endpoint_serves_decision_attacks_and_refuses_score_attacks() {
    let server = Server::start(&["--labels-only"]);
    let target = [
        "--target",
        server.url.as_str(),
        "--num-classes",
        "10",
        "--answer",
        "label",
        "--rows-per-request",
        "100000",
    ];
    let remote = scratch("labels");
    ok(&audit(
        &target,
        "hsj",
        "2",
        &remote,
        &["--norm", "l2", "--queries", "300"],
    ));
    let direct = scratch("labels-direct");
    let local: Vec<String> = local_model();
    let local: Vec<&str> = local.iter().map(String::as_str).collect();
    ok(&audit(
        &local,
        "hsj",
        "2",
        &direct,
        &["--norm", "l2", "--queries", "300"],
    ));
    assert_eq!(samples(&remote), samples(&direct));
    let refused = audit(&target, "square", "0.3", &scratch("labels-square"), &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("labels only"));
}

/// A pure-Python JSON Lines target that forwards to the server and misbehaves on purpose:
/// `crash_every` kills the process on every k-th request (a flaky target, retried), and after
/// `die_after` requests it fails for good (a target that goes down mid-run).
fn proxy_script(dir: &Path, url: &str, crash_every: u32, die_after: u32) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let count = dir.join("count");
    let script = dir.join("proxy.py");
    std::fs::write(
        &script,
        format!(
            r#"import sys, urllib.request
path = {count:?}
for line in sys.stdin:
    try:
        n = int(open(path).read())
    except OSError:
        n = 0
    open(path, "w").write(str(n + 1))
    if n + 1 > {die_after}:
        sys.stderr.write("model backend unavailable\n"); sys.exit(3)
    if {crash_every} and (n + 1) % {crash_every} == 0:
        sys.stderr.write("simulated crash\n"); sys.exit(1)
    req = urllib.request.Request({url:?}, data=line.encode(), headers={{"Content-Type": "application/json"}})
    print(urllib.request.urlopen(req).read().decode().replace("\n", " "), flush=True)
"#
        ),
    )
    .unwrap();
    format!("python3 {}", script.display())
}

#[test]
fn a_flaky_external_command_is_retried_and_gives_the_same_results() {
    let server = Server::start(&[]);
    let dir = scratch("flaky");
    let cmd = proxy_script(&dir, &server.url, 4, u32::MAX);
    let target = [
        "--target-cmd",
        cmd.as_str(),
        "--num-classes",
        "10",
        "--rows-per-request",
        "100000",
    ];
    let remote = dir.join("out");
    ok(&audit(
        &target,
        "square",
        "0.3",
        &remote,
        &["--queries", "100"],
    ));
    let direct = scratch("flaky-direct");
    let local: Vec<String> = local_model();
    let local: Vec<&str> = local.iter().map(String::as_str).collect();
    ok(&audit(
        &local,
        "square",
        "0.3",
        &direct,
        &["--queries", "100"],
    ));
    assert_eq!(samples(&remote), samples(&direct));
    let requests: u32 = std::fs::read_to_string(dir.join("count"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        requests >= 8,
        "the crashes were not exercised ({requests} requests)"
    );
}

#[test]
fn a_target_that_dies_mid_run_costs_only_its_samples() {
    let server = Server::start(&[]);
    let dir = scratch("dies");
    // The probe, clean predictions (2 batches) and a few attack requests succeed; then it is gone.
    let cmd = proxy_script(&dir, &server.url, 0, 12);
    let target = [
        "--target-cmd",
        cmd.as_str(),
        "--num-classes",
        "10",
        "--retries",
        "1",
        "--rows-per-request",
        "100000",
    ];
    let out = dir.join("out");
    let output = audit(&target, "square", "0.3", &out, &["--queries", "200"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "a run with failed samples is incomplete"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("model backend unavailable"),
        "the error should quote the target: {stderr}"
    );
    let r = report(&out);
    assert_eq!(r["status"], "incomplete");
    let errors: Vec<&str> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("failed on") && e.contains("samples")),
        "{errors:?}"
    );
    // The run went on and wrote what it had: every sample has its line.
    assert_eq!(samples(&out).lines().count(), 12);
}

#[test]
fn an_unreachable_endpoint_is_a_clear_error_before_any_work() {
    let out = scratch("unreachable");
    let target = [
        "--target",
        "http://127.0.0.1:9/predict",
        "--num-classes",
        "10",
        "--retries",
        "0",
        "--timeout",
        "2",
    ];
    let output = audit(&target, "square", "0.3", &out, &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("127.0.0.1:9"), "{stderr}");
    assert!(!out.join("report.json").exists());
}

#[test]
fn the_total_query_budget_is_never_exceeded() {
    let out = scratch("budget");
    let local: Vec<String> = local_model();
    let mut target: Vec<&str> = local.iter().map(String::as_str).collect();
    target.extend(["--max-queries", "150"]);
    let output = audit(&target, "square", "0.05", &out, &["--queries", "1000"]);
    assert_eq!(output.status.code(), Some(2));
    let r = report(&out);
    assert!(r["manifest"]["traffic"]["sent"].as_u64().unwrap() <= 150);
    let errors = r["errors"].to_string();
    assert!(errors.contains("total query budget of 150"), "{errors}");
}
