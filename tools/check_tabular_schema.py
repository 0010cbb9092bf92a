"""Check CSV rows against a gauntlet tabular schema (schema.toml): kinds, bounds, one-hot groups,
labels and rules. The reference implementation of the schema contract (docs: the schema format) in
Python's standard library only (3.11+: tomllib), so that any machine with python3 can run it.

    python3 tools/check_tabular_schema.py                        # every data/tabular/*/schema.toml
    python3 tools/check_tabular_schema.py SCHEMA CSV [CSV ...] [--label-column NAME] [--json OUT]
    python3 tools/check_tabular_schema.py --self-test            # the rule language's own cases

Exit status: 0 every row satisfies the schema, 1 some row violates it (each violation is printed),
2 the schema or a CSV is malformed (the message says what and where).

Interpretation of the contract where it leaves room (the Rust side should match):
- Comparisons (all six operators) use tol = 1e-6 * max(1, |lhs|, |rhs|):
  a <= b  iff a <= b + tol;   a >= b iff a >= b - tol;   a == b iff |a - b| <= tol;
  a <  b  iff a <  b - tol;   a >  b iff a >  b + tol;   a != b iff |a - b| >  tol
  (so `<` is exactly "not >=", and `!=` exactly "not ==").
- A ratio whose denominator is exactly 0 counts as 0 when its numerator is exactly 0; otherwise the
  whole rule is false (also when the ratio sits in the `if` part of an implication).
- `if A then B` holds when A is false or B is true.
- Numbers: 12, 1.5, .5, 1e-3 (no sign: `a - 2*b` is written with the binary minus; there is no unary minus).
- sum(glob): `*` matches any run of characters (also none) in a schema feature name; a glob that
  matches no feature is an error. A bare name must be a schema feature.
- Kinds and bounds are checked exactly (no tolerance): binary in {0, 1}; integer a whole number;
  categorical one of `values`; continuous any finite number; min <= x <= max.
- Unknown keys in the schema are errors (a typo such as `immutible` must not pass silently).
- A rule's `name` is optional (reports then show the rule text). `if` and `then` are keywords.
"""
import argparse
import csv
import fnmatch
import glob
import json
import math
import os
import re
import sys
import tomllib

KINDS = ("continuous", "integer", "binary", "categorical")
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")
GLOB_RE = re.compile(r"[A-Za-z0-9_.*]+\Z")
OPS = ("<=", ">=", "==", "!=", "<", ">")
TOL = 1e-6


class SchemaError(Exception):
    """The schema (or a CSV's header) is malformed; the message says what to fix."""


# ---------------------------------------------------------------- the rule language


def tokenize(text):
    """Tokens as (kind, value): num, name, glob (the inside of sum(...)), op, sym (+ - * / ( )), kw."""
    toks, i, n = [], 0, len(text)
    num_re = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
    name_re = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        m = num_re.match(text, i)
        if m:
            toks.append(("num", float(m.group(0))))
            i = m.end()
            continue
        m = name_re.match(text, i)
        if m:
            word = m.group(0)
            j = m.end()
            k = j
            while k < n and text[k].isspace():
                k += 1
            if word == "sum" and k < n and text[k] == "(":
                close = text.find(")", k)
                if close < 0:
                    raise SchemaError(f"rule {text!r}: `sum(` without a closing `)`")
                pattern = text[k + 1 : close].strip()
                if not GLOB_RE.match(pattern) or not re.match(r"[A-Za-z_*]", pattern):
                    raise SchemaError(
                        f"rule {text!r}: sum({pattern}) needs a feature name with * wildcards, e.g. sum(word_freq_*)"
                    )
                toks.append(("glob", pattern))
                i = close + 1
                continue
            toks.append(("kw", word) if word in ("if", "then") else ("name", word))
            i = j
            continue
        two = text[i : i + 2]
        if two in OPS:
            toks.append(("op", two))
            i += 2
            continue
        if c in "<>":
            toks.append(("op", c))
            i += 1
            continue
        if c in "+-*/":
            toks.append(("sym", c))
            i += 1
            continue
        raise SchemaError(f"rule {text!r}: unexpected character {c!r} at position {i}")
    return toks


class _Parser:
    """Recursive descent over the grammar of the contract. An expression becomes a list of
    (sign, term); a term is ("const", c) | ("lin", coef, names) | ("ratio", num_names, den_names),
    where names is the list of features an atom sums (one for a bare name)."""

    def __init__(self, text, features):
        self.text, self.features = text, features
        self.toks, self.pos = tokenize(text), 0

    def peek(self):
        return self.toks[self.pos] if self.pos < len(self.toks) else (None, None)

    def take(self):
        t = self.peek()
        self.pos += 1
        return t

    def fail(self, what):
        kind, value = self.peek()
        got = "the end of the rule" if kind is None else repr(value)
        raise SchemaError(f"rule {self.text!r}: expected {what}, found {got}")

    def rule(self):
        if self.peek() == ("kw", "if"):
            self.take()
            cond = self.cond()
            if self.peek() != ("kw", "then"):
                self.fail("`then`")
            self.take()
            then = self.cond()
            out = ("if", cond, then)
        else:
            out = ("cond", self.cond())
        if self.peek()[0] is not None:
            self.fail("the end of the rule")
        return out

    def cond(self):
        lhs = self.expr()
        kind, op = self.peek()
        if kind != "op":
            self.fail("a comparison (<=, <, >=, >, ==, !=)")
        self.take()
        return (lhs, op, self.expr())

    def expr(self):
        terms = [(1.0, self.term())]
        while self.peek() in (("sym", "+"), ("sym", "-")):
            sign = 1.0 if self.take()[1] == "+" else -1.0
            terms.append((sign, self.term()))
        return terms

    def term(self):
        kind, value = self.peek()
        if kind == "num":
            self.take()
            if self.peek() == ("sym", "*"):
                self.take()
                return ("lin", value, self.atom())
            return ("const", value)
        names = self.atom()
        if self.peek() == ("sym", "/"):
            self.take()
            return ("ratio", names, self.atom())
        return ("lin", 1.0, names)

    def atom(self):
        kind, value = self.peek()
        if kind == "name":
            self.take()
            if value not in self.features:
                raise SchemaError(f"rule {self.text!r}: {value!r} is not a feature of the schema")
            return [value]
        if kind == "glob":
            self.take()
            matched = [f for f in self.features if fnmatch.fnmatchcase(f, value)]
            if not matched:
                raise SchemaError(f"rule {self.text!r}: sum({value}) matches no feature of the schema")
            return matched
        self.fail("a feature name, sum(glob) or a number")


def parse_rule(text, features):
    """Parse one rule against the schema's feature names (in order); raises SchemaError."""
    return _Parser(text, list(features)).rule()


def _eval_expr(terms, row):
    """Value of an expression, or None when a ratio divides a nonzero number by zero."""
    total = 0.0
    for sign, term in terms:
        if term[0] == "const":
            v = term[1]
        elif term[0] == "lin":
            v = term[1] * sum(row[f] for f in term[2])
        else:
            num = sum(row[f] for f in term[1])
            den = sum(row[f] for f in term[2])
            if den == 0.0:
                if num != 0.0:
                    return None
                v = 0.0
            else:
                v = num / den
        total += sign * v
    return total


def compare(lhs, op, rhs):
    """The contract's comparison with tolerance 1e-6 * max(1, |lhs|, |rhs|)."""
    tol = TOL * max(1.0, abs(lhs), abs(rhs))
    if op == "<=":
        return lhs <= rhs + tol
    if op == ">=":
        return lhs >= rhs - tol
    if op == "<":
        return lhs < rhs - tol
    if op == ">":
        return lhs > rhs + tol
    if op == "==":
        return abs(lhs - rhs) <= tol
    return abs(lhs - rhs) > tol


def _eval_cond(cond, row):
    lhs, op, rhs = cond
    a, b = _eval_expr(lhs, row), _eval_expr(rhs, row)
    if a is None or b is None:
        return None
    return compare(a, op, b)


def rule_holds(parsed, row):
    """True when the row (feature name -> float) satisfies the parsed rule."""
    if parsed[0] == "cond":
        return _eval_cond(parsed[1], row) is True
    first = _eval_cond(parsed[1], row)
    second = _eval_cond(parsed[2], row)
    if first is None or second is None:
        return False
    return (not first) or second


# ---------------------------------------------------------------- the schema


def _number(v, where):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise SchemaError(f"{where}: expected a finite number, found {v!r}")
    return float(v)


def _keys(table, allowed, where):
    extra = sorted(set(table) - set(allowed))
    if extra:
        raise SchemaError(f"{where}: unknown key(s) {', '.join(extra)} (allowed: {', '.join(allowed)})")


def load_schema(path):
    """Read and validate schema.toml; returns a dict with features, onehot groups and parsed rules."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise SchemaError(f"{path}: not valid TOML: {e}") from e
    _keys(doc, ("label", "classes", "feature", "onehot", "rule"), path)
    label = doc.get("label")
    if label is not None and not isinstance(label, str):
        raise SchemaError(f"{path}: `label` must be a string (the CSV column holding the class)")
    classes = doc.get("classes")
    if classes is not None:
        if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
            raise SchemaError(f'{path}: `classes` must be a non-empty list of strings, e.g. ["0", "1"]')
        if len(set(classes)) != len(classes):
            raise SchemaError(f"{path}: `classes` lists a label twice: {classes}")
    raw_features = doc.get("feature")
    if not isinstance(raw_features, list) or not raw_features:
        raise SchemaError(f"{path}: the schema needs at least one [[feature]]")
    features = []
    for i, ft in enumerate(raw_features):
        where = f"{path}: [[feature]] #{i + 1}"
        _keys(ft, ("name", "kind", "immutable", "cost", "why", "values", "min", "max"), where)
        name = ft.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise SchemaError(
                f"{where}: `name` {name!r} must start with a letter or _ and hold only letters, digits, _ and ."
            )
        where = f"{path}: feature {name!r}"
        if any(f["name"] == name for f in features):
            raise SchemaError(f"{where}: declared twice")
        kind = ft.get("kind")
        if kind not in KINDS:
            raise SchemaError(f"{where}: `kind` must be one of {', '.join(KINDS)}, found {kind!r}")
        immutable = ft.get("immutable", False)
        if not isinstance(immutable, bool):
            raise SchemaError(f"{where}: `immutable` must be true or false")
        cost = _number(ft.get("cost", 1.0), f"{where}: `cost`")
        if cost < 0:
            raise SchemaError(f"{where}: `cost` must be >= 0, found {cost}")
        if "why" in ft and not isinstance(ft["why"], str):
            raise SchemaError(f"{where}: `why` must be a string")
        lo = hi = values = None
        if kind in ("continuous", "integer"):
            if "values" in ft:
                raise SchemaError(f"{where}: `values` belongs to categorical features, not {kind}")
            lo = _number(ft["min"], f"{where}: `min`") if "min" in ft else None
            hi = _number(ft["max"], f"{where}: `max`") if "max" in ft else None
            if lo is not None and hi is not None and lo > hi:
                raise SchemaError(f"{where}: min {lo} > max {hi}")
        else:
            for key in ("min", "max"):
                if key in ft:
                    raise SchemaError(f"{where}: `{key}` belongs to continuous and integer features, not {kind}")
            if kind == "categorical":
                vals = ft.get("values")
                if not isinstance(vals, list) or not vals:
                    raise SchemaError(f"{where}: a categorical feature needs `values = [..]` (its allowed numbers)")
                values = [_number(v, f"{where}: `values`") for v in vals]
                if len(set(values)) != len(values):
                    raise SchemaError(f"{where}: `values` lists a number twice: {values}")
            elif "values" in ft:
                raise SchemaError(f"{where}: a binary feature takes 0 and 1; drop `values`")
        features.append(dict(name=name, kind=kind, immutable=immutable, cost=cost, min=lo, max=hi, values=values))
    by_name = {f["name"]: f for f in features}
    onehots = []
    for i, g in enumerate(doc.get("onehot", [])):
        where = f"{path}: [[onehot]] #{i + 1}"
        _keys(g, ("name", "features"), where)
        members = g.get("features")
        if not isinstance(members, list) or len(members) < 2:
            raise SchemaError(f"{where}: `features` must list at least two binary features")
        for m in members:
            if m not in by_name:
                raise SchemaError(f"{where}: {m!r} is not a feature of the schema")
            if by_name[m]["kind"] != "binary":
                raise SchemaError(f"{where}: {m!r} is {by_name[m]['kind']}; one-hot members must be binary")
            if any(m in o["features"] for o in onehots) or members.count(m) > 1:
                raise SchemaError(f"{where}: {m!r} is in a one-hot group twice")
        onehots.append(dict(name=g.get("name", "+".join(members)), features=list(members)))
    rules = []
    for i, r in enumerate(doc.get("rule", [])):
        where = f"{path}: [[rule]] #{i + 1}"
        _keys(r, ("name", "rule", "why"), where)
        text = r.get("rule")
        if not isinstance(text, str):
            raise SchemaError(f'{where}: needs `rule = "..."`')
        try:
            parsed = parse_rule(text, by_name)
        except SchemaError as e:
            raise SchemaError(f"{where}: {e}") from e
        rules.append(dict(name=r.get("name", text), text=text, parsed=parsed))
    return dict(path=path, label=label, classes=classes, features=features, onehot=onehots, rules=rules)


# ---------------------------------------------------------------- rows


def row_violations(schema, values):
    """Violations (strings) of one row given as feature name -> float."""
    out = []
    for f in schema["features"]:
        x = values[f["name"]]
        n = f["name"]
        if not math.isfinite(x):
            out.append(f"{n} = {x} is not a finite number")
            continue
        k = f["kind"]
        if k == "binary" and x not in (0.0, 1.0):
            out.append(f"{n} = {x} is not binary (0 or 1)")
        elif k == "integer" and x != math.floor(x):
            out.append(f"{n} = {x} is not an integer")
        elif k == "categorical" and x not in f["values"]:
            out.append(f"{n} = {x} is not one of {f['values']}")
        if f["min"] is not None and x < f["min"]:
            out.append(f"{n} = {x} < min {f['min']}")
        if f["max"] is not None and x > f["max"]:
            out.append(f"{n} = {x} > max {f['max']}")
    for g in schema["onehot"]:
        ones = sum(1 for m in g["features"] if values[m] == 1.0)
        if ones != 1:
            out.append(f"one-hot group {g['name']}: {ones} members are 1 (exactly one must be)")
    if any(not math.isfinite(values[f["name"]]) for f in schema["features"]):
        return out
    for r in schema["rules"]:
        if not rule_holds(r["parsed"], values):
            out.append(f"rule {r['name']!r} fails: {r['text']}")
    return out


def check_csv(schema, csv_path, label_column=None):
    """Check every row of one CSV; returns (n_rows, [(line, [violations])], label counts)."""
    label = label_column or schema["label"]
    if label is None:
        raise SchemaError(f"{schema['path']}: no `label` in the schema; pass --label-column")
    with open(csv_path, newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise SchemaError(f"{csv_path}: empty file (expected a header row)") from None
        col = {h: i for i, h in enumerate(header)}
        missing = [f["name"] for f in schema["features"] if f["name"] not in col]
        if missing:
            raise SchemaError(f"{csv_path}: the schema's feature column(s) {', '.join(missing)} are not in the CSV header")
        if label not in col:
            raise SchemaError(f"{csv_path}: the label column {label!r} is not in the CSV header")
        bad, n, counts = [], 0, {}
        for line, cells in enumerate(reader, start=2):
            n += 1
            problems = []
            if len(cells) != len(header):
                bad.append((line, [f"{len(cells)} cells, the header has {len(header)}"]))
                continue
            values = {}
            for ft in schema["features"]:
                cell = cells[col[ft["name"]]]
                try:
                    values[ft["name"]] = float(cell)
                except ValueError:
                    values[ft["name"]] = math.nan
                    problems.append(f"{ft['name']} = {cell!r} is not a number")
            y = cells[col[label]]
            counts[y] = counts.get(y, 0) + 1
            if schema["classes"] is not None:
                if y not in schema["classes"]:
                    problems.append(f"label {y!r} is not one of classes {schema['classes']}")
            elif not re.fullmatch(r"\d+", y):
                problems.append(f"label {y!r} is not a class index 0..K-1 (the schema has no `classes`)")
            unparsable = set(n for n, v in values.items() if math.isnan(v))
            # A cell that is not a number was reported above; its kind/bound messages would repeat it.
            problems += [p for p in row_violations(schema, values) if p.split(" = ")[0] not in unparsable]
            if problems:
                bad.append((line, problems))
    return n, bad, counts


# ---------------------------------------------------------------- self test

# (rule, row, expected) — also the cases the Rust parser is compared with.
SELF_TEST_FEATURES = ["a", "b", "c", "w_x", "w_y", "v.1"]
SELF_TEST = [
    ("a <= b", dict(a=1, b=2), True),
    ("a <= b", dict(a=2, b=1), False),
    ("a <= b", dict(a=1 + 5e-7, b=1), True),
    ("a < b", dict(a=1, b=1), False),
    ("a < b", dict(a=1, b=1 + 5e-7), False),
    ("a < b", dict(a=1, b=1.01), True),
    ("a == b", dict(a=1e6, b=1e6 + 0.5), True),
    ("a == b", dict(a=1e6, b=1e6 + 2), False),
    ("a != b", dict(a=1, b=1 + 1e-7), False),
    ("a >= 2*b + 1", dict(a=5, b=2), True),
    ("a >= 2*b + 1", dict(a=4.9, b=2), False),
    ("a - b - c > 0", dict(a=3, b=1, c=1), True),
    ("a - b - c > 0", dict(a=2, b=1, c=1), False),
    ("sum(w_*) <= 100", dict(w_x=60, w_y=40), True),
    ("sum(w_*) <= 100", dict(w_x=60, w_y=41), False),
    ("2 * sum(w_*) <= a", dict(w_x=1, w_y=2, a=6), True),
    ("a / b <= 0.5", dict(a=1, b=2), True),
    ("a / b <= 0.5", dict(a=2, b=2), False),
    ("a / b <= 0.5", dict(a=0, b=0), True),
    ("a / b >= 0", dict(a=1, b=0), False),
    ("if a / b > 1 then c >= 1", dict(a=1, b=0, c=5), False),
    ("if a > 0 then b >= 1", dict(a=0, b=0), True),
    ("if a > 0 then b >= 1", dict(a=1, b=0), False),
    ("if a > 0 then b >= 1", dict(a=1, b=1), True),
    ("v.1 + .5 <= 1e1", dict(**{"v.1": 9.5}), True),
    ("sum(w_*) / a <= 1", dict(w_x=1, w_y=1, a=2), True),
]
SELF_TEST_ERRORS = ["a <= zz", "a + b", "a <= sum(q_*)", "if a > 0 b > 0", "-a <= b", "a <= b c", "a * b <= 1", "a <= b <= c"]


def self_test():
    failed = 0
    for text, row, expected in SELF_TEST:
        full = {f: 0.0 for f in SELF_TEST_FEATURES}
        full.update({k: float(v) for k, v in row.items()})
        got = rule_holds(parse_rule(text, SELF_TEST_FEATURES), full)
        if got != expected:
            failed += 1
            print(f"FAIL {text!r} on {row}: got {got}, expected {expected}")
    for text in SELF_TEST_ERRORS:
        try:
            parse_rule(text, SELF_TEST_FEATURES)
            failed += 1
            print(f"FAIL {text!r} parsed but must be rejected")
        except SchemaError:
            pass
    print(f"self-test: {len(SELF_TEST) + len(SELF_TEST_ERRORS) - failed}/{len(SELF_TEST) + len(SELF_TEST_ERRORS)} cases pass")
    return failed == 0


# ---------------------------------------------------------------- CLI


def check(schema_path, csv_paths, label_column=None, max_print=20):
    schema = load_schema(schema_path)
    feats = schema["features"]
    kinds = ", ".join(f"{sum(f['kind'] == k for f in feats)} {k}" for k in KINDS)
    n_imm = sum(f["immutable"] for f in feats)
    print(
        f"{schema_path}: {len(feats)} features ({kinds}; {n_imm} immutable), "
        f"{len(schema['onehot'])} one-hot groups, {len(schema['rules'])} rules"
    )
    results = []
    for p in csv_paths:
        n, bad, counts = check_csv(schema, p, label_column)
        print(f"  {p}: {n} rows, labels {dict(sorted(counts.items()))}: {n - len(bad)} satisfy every kind, bound and rule; {len(bad)} violate")
        for line, problems in bad[:max_print]:
            print(f"    line {line}: " + "; ".join(problems))
        if len(bad) > max_print:
            print(f"    ... and {len(bad) - max_print} more rows")
        results.append(dict(csv=p, rows=n, violating_rows=[dict(line=l, problems=pr) for l, pr in bad]))
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("schema", nargs="?", help="schema.toml (default: every data/tabular/*/schema.toml with its train/test CSVs)")
    ap.add_argument("csv", nargs="*", help="CSV files to check")
    ap.add_argument("--label-column", help="overrides the schema's `label`")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--self-test", action="store_true", help="run the rule language's test cases")
    a = ap.parse_args()
    if a.self_test:
        return 0 if self_test() else 1
    try:
        if a.schema:
            if not a.csv:
                ap.error("give at least one CSV to check against the schema")
            jobs = [(a.schema, a.csv)]
        else:
            root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "tabular")
            schemas = sorted(glob.glob(os.path.join(root, "*", "schema.toml")))
            if not schemas:
                raise SchemaError(f"no {root}/*/schema.toml found; pass SCHEMA CSV...")
            jobs = [(s, [os.path.join(os.path.dirname(s), p) for p in ("train.csv", "test.csv")]) for s in schemas]
            jobs = [(os.path.relpath(s), [os.path.relpath(c) for c in cs]) for s, cs in jobs]
        results = {s: check(s, cs, a.label_column) for s, cs in jobs}
    except (SchemaError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    violating = sum(len(r["violating_rows"]) for rs in results.values() for r in rs)
    print(f"{'OK' if violating == 0 else 'VIOLATIONS'}: {violating} violating rows")
    return 0 if violating == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
