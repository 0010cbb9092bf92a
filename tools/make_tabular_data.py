"""Split the three tabular data sets into data/tabular/<name>/{train,test}.csv.

    .venv/bin/python tools/make_tabular_data.py [--shared ../shared/data] [--out data/tabular]

Stratified 80/20 split with scikit-learn's `train_test_split(random_state=0)`. Each row is written
with its cells exactly as the source spells them (no float re-formatting), header first, in the
order `train_test_split` returns (shuffled, so the first N test rows mix both classes).

Sources:
  phishing   ../shared/data/tabular/phishing.csv.gz (UCI Website Phishing, from the `river` wheel)
  spambase   ../shared/data/tabular/spambase.csv.gz (UCI Spambase, from Debian r-cran-kernlab)
  breast_cancer  scikit-learn's bundled sklearn/datasets/data/breast_cancer.csv (UCI WDBC), the file
             `load_breast_cancer` reads: columns renamed to identifiers (`mean radius` -> `mean_radius`),
             target 0/1 written as `malignant`/`benign` in the column `diagnosis`.
"""
import argparse
import csv
import gzip
import hashlib
import os

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

SEED = 0


def read_gz_csv(path):
    with gzip.open(path, "rt", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def read_breast_cancer():
    """The bundled CSV's cells as written, with sklearn's own feature names and target names."""
    import sklearn.datasets

    bunch = load_breast_cancer()
    names = [str(n).replace(" ", "_") for n in bunch.feature_names]
    path = os.path.join(os.path.dirname(sklearn.datasets.__file__), "data", "breast_cancer.csv")
    with open(path, newline="") as f:
        raw = list(csv.reader(f))
    n_rows, n_feat = int(raw[0][0]), int(raw[0][1])
    target_names = raw[0][2:]
    assert n_feat == len(names) and list(target_names) == [str(t) for t in bunch.target_names]
    rows = [r[:n_feat] + [target_names[int(r[n_feat])]] for r in raw[1:]]
    assert len(rows) == n_rows
    # The strings must be the numbers load_breast_cancer returns.
    for r, x, y in zip(rows, bunch.data, bunch.target):
        assert [float(v) for v in r[:n_feat]] == list(x) and r[n_feat] == target_names[y]
    return names + ["diagnosis"], rows


def split_and_write(name, header, rows, out_dir):
    labels = [r[-1] for r in rows]
    train_idx, test_idx = train_test_split(
        list(range(len(rows))), test_size=0.2, stratify=labels, random_state=SEED
    )
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    for part, idx in (("train", train_idx), ("test", test_idx)):
        path = os.path.join(d, part + ".csv")
        with open(path, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            for i in idx:
                w.writerow(rows[i])
        counts = {}
        for i in idx:
            counts[rows[i][-1]] = counts.get(rows[i][-1], 0) + 1
        md5 = hashlib.md5(open(path, "rb").read()).hexdigest()
        print(f"{path}: {len(idx)} rows, labels {dict(sorted(counts.items()))}, md5 {md5}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.path.join("..", "shared", "data"))
    ap.add_argument("--out", default=os.path.join("data", "tabular"))
    a = ap.parse_args()
    for name in ("phishing", "spambase"):
        header, rows = read_gz_csv(os.path.join(a.shared, "tabular", name + ".csv.gz"))
        split_and_write(name, header, rows, a.out)
    header, rows = read_breast_cancer()
    split_and_write("breast_cancer", header, rows, a.out)


if __name__ == "__main__":
    main()
