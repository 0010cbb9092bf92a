#!/usr/bin/env python3
"""Runs `gauntlet tabular-audit` on every shipped tabular model (models/tabular) against its
data set's test split and schema, attacking each correctly classified row of the class a real
attacker wants to hide (phishing -> legitimate, spam -> nonspam, malignant -> benign), and
prints one Markdown table: per model and attack, rows evaded, features changed, change size,
and how many of the unconstrained twin's fooling rows break the schema. Standard library only.

    python3 tools/tabular_table.py [--gauntlet target/debug/gauntlet] [--out /tmp/tabular-table]
"""
import argparse
import json
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIRECTIONS = {"phishing": "1:0", "spambase": "spam:nonspam", "breast_cancer": "malignant:benign"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gauntlet", default=str(ROOT / "target/debug/gauntlet"))
    parser.add_argument("--out", default="/tmp/tabular-table")
    args = parser.parse_args()
    index = json.loads((ROOT / "fixtures/tabular/expected.json").read_text())
    print("| data | model | attack | attacked | evaded (rules kept) | features changed, mean | change size, median | unconstrained: fooling rows that break the schema | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for entry in index["models"]:
        dataset, model = entry["dataset"], entry["model"]
        out = Path(args.out) / f"{dataset}_{model}"
        started = time.time()
        subprocess.run(
            [args.gauntlet, "tabular-audit", "--model", entry["file"],
             "--data", f"data/tabular/{dataset}/test.csv",
             "--schema", f"data/tabular/{dataset}/schema.toml",
             "--direction", DIRECTIONS[dataset], "--out", str(out), "--fresh", "--quiet"],
            cwd=ROOT, check=True)
        wall = time.time() - started
        report = json.loads((out / "report.json").read_text())
        loose = {a["attack"]: a for a in report["attacks"] if not a["constrained"]}
        for a in report["attacks"]:
            if not a["constrained"]:
                continue
            u = loose.get(a["attack"])
            broken = f"{u['violating']} of {u['fooled']} ({100 * u['violation_share']:.1f} %)" if u else "–"
            l0 = f"{a['l0']['mean']:.2f}" if a["l0"] else "–"
            size = f"{a['distance']['median']:.4f}" if a["distance"] else "–"
            print(f"| {dataset} | {model} | {a['attack']} | {a['attacked']} | {a['evaded']} | {l0} | {size} | {broken} | {a['seconds']:.1f} |")
        print(f"| {dataset} | {model} | (whole audit) | | | | | | {wall:.1f} wall |", flush=True)


if __name__ == "__main__":
    main()
