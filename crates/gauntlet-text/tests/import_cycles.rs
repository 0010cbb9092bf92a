//! No import cycles between the files of gauntlet-text and gauntlet-run: a file that uses
//! another's items never has that file (or anything it uses, transitively) use it back. The
//! test reads the sources, resolves every `use` and every `crate::`/`super::`/`self::` path to
//! the file that defines the module it names, and looks for a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`["attacks", "greedy"]`) of every source file under `src`.
fn module_files(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<Vec<String>, PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut p = prefix.to_vec();
                p.push(path.file_name().unwrap().to_string_lossy().into_owned());
                walk(&path, &p, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut p = prefix.to_vec();
                if !(name == "mod" || (prefix.is_empty() && (name == "lib" || name == "main"))) {
                    p.push(name);
                }
                out.insert(p, path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, &[], &mut out);
    out
}

/// The code of a file without comments, string contents and its `#[cfg(test)]` tail (where
/// `super` means the file itself).
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let chars: Vec<char> = line.chars().collect();
        let (mut i, mut in_string) = (0, false);
        while i < chars.len() {
            let c = chars[i];
            if in_string {
                if c == '\\' {
                    i += 2;
                    continue;
                }
                if c == '"' {
                    in_string = false;
                    out.push('"');
                }
            } else if c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
                i += 3; // a char literal such as '"'
                continue;
            } else if c == '\'' && chars.get(i + 1) == Some(&'\\') {
                // An escaped char literal such as '\'' or '\u{200B}': skip to its closing quote.
                i = (i + 3..chars.len())
                    .find(|&j| chars[j] == '\'')
                    .map_or(chars.len(), |j| j + 1);
                continue;
            } else {
                if c == '"' {
                    in_string = true;
                }
                out.push(c);
            }
            i += 1;
        }
        out.push('\n');
    }
    out
}

/// Expands a use tree (`a::{b, c::{d, *}}`) into its paths.
fn expand(tree: &str) -> Vec<Vec<String>> {
    fn segments(t: &str) -> Vec<String> {
        t.split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
    fn go(t: &str) -> Vec<Vec<String>> {
        let Some(open) = t.find('{') else {
            // `a::b as c` names `a::b`.
            return vec![segments(t.split(" as ").next().unwrap())];
        };
        let prefix = segments(&t[..open]);
        let inner = &t[open + 1..t.rfind('}').unwrap()];
        let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&inner[start..]);
        parts
            .into_iter()
            .filter(|p| !p.is_empty())
            .flat_map(go)
            .map(|rest| prefix.iter().cloned().chain(rest).collect())
            .collect()
    }
    go(tree)
}

/// Every path the code names: `use` trees and inline `crate::`, `super::`, `self::` paths.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    let mut outside_use = String::new();
    while let Some(at) = rest.find("use ") {
        let before = &rest[..at];
        let word_start = before
            .chars()
            .last()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        outside_use.push_str(before);
        let after = &rest[at + 4..];
        if word_start {
            let end = after.find(';').unwrap_or(after.len());
            out.extend(expand(&after[..end]));
            rest = &after[end..];
        } else {
            outside_use.push_str("use ");
            rest = after;
        }
    }
    outside_use.push_str(rest);
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = outside_use[from..].find(start) {
            let at = from + i;
            let boundary = outside_use[..at]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            let path: String = outside_use[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            if boundary {
                out.push(
                    path.split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                );
            }
            from = at + start.len();
        }
    }
    out
}

/// The module a path resolves to, from module `here`; `None` for other crates.
fn resolve(
    path: &[String],
    here: &[String],
    modules: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<Vec<String>> {
    let mut segs = path.iter().peekable();
    let mut base: Vec<String> = match segs.peek()?.as_str() {
        "crate" => {
            segs.next();
            Vec::new()
        }
        "self" => {
            segs.next();
            here.to_vec()
        }
        "super" => {
            let mut b = here.to_vec();
            while segs.peek().is_some_and(|s| *s == "super") {
                segs.next();
                b.pop();
            }
            b
        }
        first => {
            // A 2018-edition relative path: a child module of `here`, or another crate.
            let mut child = here.to_vec();
            child.push(first.to_string());
            if !modules.contains_key(&child) {
                return None;
            }
            here.to_vec()
        }
    };
    for seg in segs {
        let mut next = base.clone();
        next.push(seg.clone());
        if modules.contains_key(&next) {
            base = next;
        } else {
            break;
        }
    }
    Some(base)
}

/// Every cycle of the import graph of the crate at `src`, as file lists.
fn cycles(src: &Path) -> Vec<Vec<String>> {
    let modules = module_files(src);
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, file) in &modules {
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let deps = graph.entry(module.clone()).or_default();
        for p in paths(&code) {
            if let Some(target) = resolve(&p, module, &modules) {
                if &target != module {
                    deps.insert(target);
                }
            }
        }
    }
    let name = |m: &Vec<String>| modules[m].strip_prefix(src).unwrap().display().to_string();
    let mut found = Vec::new();
    // Depth-first search from every module; a back edge closes a cycle.
    fn dfs(
        m: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
        found: &mut Vec<Vec<Vec<String>>>,
    ) {
        stack.push(m.clone());
        for d in graph.get(m).into_iter().flatten() {
            if let Some(pos) = stack.iter().position(|s| s == d) {
                found.push(stack[pos..].to_vec());
            } else if !done.contains(d) {
                dfs(d, graph, stack, done, found);
            }
        }
        stack.pop();
        done.insert(m.clone());
    }
    let (mut done, mut raw) = (BTreeSet::new(), Vec::new());
    for m in graph.keys() {
        if !done.contains(m) {
            dfs(m, &graph, &mut Vec::new(), &mut done, &mut raw);
        }
    }
    for c in raw {
        found.push(c.iter().map(name).collect());
    }
    found
}

#[test]
fn the_checker_finds_a_planted_cycle() {
    let dir = std::env::temp_dir().join(format!("gauntlet-text-cycles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("attacks")).unwrap();
    std::fs::write(dir.join("lib.rs"), "pub mod attacks;\npub mod report;\n").unwrap();
    std::fs::write(
        dir.join("attacks/mod.rs"),
        "pub mod greedy;\npub use greedy::Greedy;\npub struct Kind;\n",
    )
    .unwrap();
    // The child uses an item of its parent file, which re-exports the child: a cycle.
    std::fs::write(
        dir.join("attacks/greedy.rs"),
        "use super::Kind;\n// use crate::report::X;\npub struct Greedy;\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("report.rs"),
        "pub fn f() -> crate::attacks::Kind { let _ = \"crate::report\"; todo!() }\n",
    )
    .unwrap();
    let found = cycles(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        found,
        vec![vec![
            "attacks/mod.rs".to_string(),
            "attacks/greedy.rs".to_string()
        ]]
    );
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for src in [root.join("src"), root.join("../gauntlet-run/src")] {
        let found = cycles(&src);
        assert!(
            found.is_empty(),
            "import cycles in {}: {found:?}",
            src.display()
        );
    }
}
