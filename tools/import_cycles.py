#!/usr/bin/env python3
"""Finds import cycles between the files of each crate (standard library only; run by .ci/run).

A file "imports" another when it names an item through `crate::…`, `super::…` or `self::…`
paths that resolve to the other file's module. Re-exports in a parent (`pub use m::Item;` in
lib.rs or mod.rs) are a facade, not a dependency: a path through one is followed to the
module that defines the item. Declaring a child module (`mod m;`) is not an import either.

Usage: tools/import_cycles.py [CRATES_DIR]   (default: crates/). Exit 1 and one line per cycle
when any file depends on itself through others.
"""

import re
import sys
from pathlib import Path

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP = re.compile(r"\buse\s+(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\};", re.S)
REEXPORT = re.compile(r"\bpub(?:\([a-z]+\))?\s+use\s+([a-z_][A-Za-z0-9_]*)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::(\{[^;]*\}|[A-Za-z_][A-Za-z0-9_]*)\s*;", re.S)


def strip_comments_and_tests(text):
    """The code without comments, string and char literals, and without its unit tests."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            i = n if end < 0 else end + 1 + len(hashes)
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\.[^']*|[^\\'])'", text[i:]):
            i += re.match(r"'(\\.[^']*|[^\\'])'", text[i:]).end()
            out.append("' '")
        else:
            out.append(c)
            i += 1
    code = "".join(out)
    # Unit tests import freely from their parent module by design.
    cut = re.search(r"#\[cfg\(test\)\]\s*mod\s+tests", code)
    return code[: cut.start()] if cut else code


def module_of(src, path):
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("lib", "main", "mod"):
        parts = parts[:-1]
    return tuple(parts)


def analyse(src):
    files = {}
    for path in src.rglob("*.rs"):
        if path.parts[-2:-1] == ("bin",):
            continue
        files[module_of(src, path)] = path
    texts = {m: strip_comments_and_tests(p.read_text()) for m, p in files.items()}

    # Items a module re-exports from a child: (module, item) -> child module.
    reexports = {}
    for module, text in texts.items():
        for head, rest, items in REEXPORT.findall(text):
            if head in ("crate", "super", "self", "std", "core"):
                continue
            child = module + (head,) + tuple(p for p in rest.split("::") if p)
            names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", items)
            for name in names:
                reexports[(module, name)] = deepest(files, child)

    def resolve(module, anchor, rest):
        if anchor == "crate":
            base = ()
        elif anchor == "super":
            base = module[:-1]
        else:
            base = module
        segments = [s for s in rest.split("::") if s]
        while segments and segments[0] == "super":
            base = base[:-1]
            segments = segments[1:]
        target = base
        for s in segments:
            if target + (s,) in files:
                target = target + (s,)
            else:
                if (target, s) in reexports and reexports[(target, s)] is not None:
                    target = reexports[(target, s)]
                break
        return target

    edges = {m: set() for m in files}
    for module, text in texts.items():
        for anchor, rest, items in USE_GROUP.findall(text):
            for name in re.findall(r"[A-Za-z_][A-Za-z0-9_:]*", items):
                if name in ("self",):
                    edges[module].add(resolve(module, anchor, rest))
                else:
                    edges[module].add(resolve(module, anchor, rest + "::" + name))
        plain = REEXPORT.sub("", USE_GROUP.sub("", text))
        for anchor, rest in PATH.findall(plain):
            if rest.startswith("::{"):
                continue
            edges[module].add(resolve(module, anchor, rest))
        # A bare path into a child module (`pgd::Pgd::new` in lib.rs) uses the child too.
        for child in [m[-1] for m in files if m[:-1] == module and len(m) == len(module) + 1]:
            for rest in re.findall(r"(?<![:\w])" + child + r"((?:::[A-Za-z_][A-Za-z0-9_]*)+)", plain):
                edges[module].add(resolve(module, "self", "::" + child + rest))
    for module in edges:
        edges[module].discard(module)
        # A module's own submodules are declared, not imported, by their parent.
        edges[module] = {t for t in edges[module] if t in files}
    return files, edges


def deepest(files, module):
    while module and module not in files:
        module = module[:-1]
    return module if module in files else None


def cycles(edges):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return out


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "crates")
    found = 0
    for src in sorted(root.glob("*/src")):
        files, edges = analyse(src)
        for component in cycles(edges):
            found += 1
            names = sorted(str(files[m].relative_to(root)) for m in component)
            print(f"import cycle in {src.parent.name}: " + " <-> ".join(names))
    if found:
        print(f"{found} import cycle(s); move what both files need into a module of its own")
        return 1
    print("no import cycles between files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
