//! `gauntlet bench` prints one row per measurement, each attack of `--attacks` included, with
//! the cores it kept busy.

use std::process::Command;

#[test]
fn bench_measures_each_attack_with_its_cores() {
    let out = Command::new(env!("CARGO_BIN_EXE_gauntlet"))
        .args([
            "bench",
            "--repeats",
            "1",
            "--pgd-steps",
            "1",
            "--train-batch-size",
            "0",
            "--attacks",
            "apgd-ce,square",
            "--attack-samples",
            "4",
            "--attack-steps",
            "2",
            "--attack-queries",
            "20",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for row in [
        "| forward |",
        "| apgd-ce (2 steps, 4 samples",
        "| square (20 queries, 4 samples",
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("no row {row} in:\n{text}"));
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let rate: f64 = cells[2].parse().unwrap();
        assert!(rate > 0.0, "{line}");
        let cores: f64 = cells[3].parse().unwrap();
        assert!(cores > 0.0 && cores < 64.0, "{line}");
    }
}
