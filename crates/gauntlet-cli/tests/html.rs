//! `report.html` after a real audit: self-contained (no remote resources), with the inline SVG
//! plot, the embedded image grid, and balanced markup.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::Scratch;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Elements that never have a closing tag.
const VOID: [&str; 6] = ["meta", "img", "br", "hr", "input", "link"];

/// Checks that every opened element is closed in order (a tag stack); returns the first
/// problem. Self-closing SVG elements (`<line …/>`) and void elements are skipped.
fn check_balanced(html: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>').ok_or("a '<' is never closed by '>'")?;
        let tag = &after[..end];
        rest = &after[end + 1..];
        if tag.starts_with('!') || tag.ends_with('/') {
            continue;
        }
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            return Err(format!("stray '<' before '{}'", &tag[..tag.len().min(20)]));
        }
        if tag.starts_with('/') {
            match stack.pop() {
                Some(open) if open == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        } else if !VOID.contains(&name.as_str()) {
            stack.push(name);
        }
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err(format!("never closed: {stack:?}"))
    }
}

#[test]
fn balance_checker_catches_broken_markup() {
    assert!(check_balanced("<html><body><p>x</p><img src=\"a\"><line/></body></html>").is_ok());
    assert!(check_balanced("<html><body><p>x</body></html>").is_err());
    assert!(check_balanced("<html><body>").is_err());
    assert!(check_balanced("<html><body>1 < 2</body></html>").is_err());
}

#[test]
fn audit_writes_a_self_contained_html_report() {
    let scratch = Scratch::new("html");
    let out = scratch.join("report");
    let run = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args(["audit", "--model"])
        .arg(root().join("models/mnist_cnn.onnx"))
        .arg("--inputs")
        .arg(root().join("data/mnist-demo/x.npy"))
        .arg("--labels")
        .arg(root().join("data/mnist-demo/y.npy"))
        .args([
            "--eps",
            "0.1,0.3",
            "--attacks",
            "fgsm,pgd",
            "--steps",
            "5",
            "--samples",
            "16",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    let html_path = out.join("report.html");
    assert!(
        stdout.contains(&html_path.display().to_string()),
        "the CLI does not print the HTML path: {stdout}"
    );
    let html = std::fs::read_to_string(&html_path).expect("report.html is written");

    assert!(html.contains("<svg"), "no inline SVG plot");
    assert_eq!(
        html.matches("<polyline").count(),
        3,
        "one line per attack (fgsm, pgd) plus the worst case"
    );
    assert!(
        html.contains("src=\"data:image/png;base64,iVBORw0KGgo"),
        "no embedded PNG grid"
    );
    for remote in [
        "src=\"http",
        "href=\"http",
        "src='http",
        "href='http",
        "url(http",
        "@import",
    ] {
        assert!(
            !html.to_ascii_lowercase().contains(remote),
            "remote resource reference: {remote}"
        );
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page mentions a remote URL"
    );
    check_balanced(&html).unwrap();
    assert_eq!(html.matches("<html").count(), 1);
    assert_eq!(html.matches("<body").count(), 1);
    for section in [
        "id=\"summary\"",
        "id=\"curves\"",
        "id=\"classes\"",
        "id=\"examples\"",
        "id=\"diagnostics\"",
        "id=\"reproduce\"",
    ] {
        assert!(html.contains(section), "missing section {section}");
    }
    // The manifest's hashes are on the page.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert!(html.contains(report["model"]["sha256"].as_str().unwrap()));
    assert!(html.contains(report["data"]["sha256"].as_str().unwrap()));
}
