#!/usr/bin/env python3
"""Build data/spam-demo/spam-demo.jsonl.gz, the small SpamAssassin subset shipped
with gauntlet-text (stdlib only).

Selection is deterministic: messages are ordered by SHA-256 of "demo:" + `id`
(salted so the subset is independent of gauntlet-text's train/test split, which
hashes the bare id), those
whose `text` is longer than MAX_CHARS are skipped (keeps the file small), and the
first N_HAM ham and N_SPAM spam messages are kept. Only `id`, `label`, `text` and
`group` are written: `headers` can leak the label and are not used.

    python3 crates/gauntlet-text/scripts/make_spam_demo.py \
        --src ../shared/data/spamassassin/spamassassin.jsonl.gz \
        --out data/spam-demo/spam-demo.jsonl.gz
"""
import argparse
import gzip
import hashlib
import json

N_HAM = 360
N_SPAM = 240
MAX_CHARS = 5000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with gzip.open(args.src, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rows.sort(key=lambda r: hashlib.sha256(("demo:" + r["id"]).encode()).hexdigest())
    keep, counts = [], {"ham": 0, "spam": 0}
    quota = {"ham": N_HAM, "spam": N_SPAM}
    for r in rows:
        if len(r["text"]) > MAX_CHARS or counts[r["label"]] >= quota[r["label"]]:
            continue
        counts[r["label"]] += 1
        keep.append({"id": r["id"], "label": r["label"], "group": r["group"], "text": r["text"]})
    # mtime=0 so the gzip bytes are reproducible.
    with open(args.out, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            for r in keep:
                gz.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))
    print(f"wrote {len(keep)} messages ({counts}) to {args.out}")


if __name__ == "__main__":
    main()
