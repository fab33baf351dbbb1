//! The module layers, enforced over `src/` (the README's "Modules and layers" lists the
//! same table). A module may import modules of lower layers; within its own layer only
//! along the edges [`SAME_LAYER`] lists; never a module above it. Sibling modules, at
//! any depth, never import each other in a loop.
//!
//! Imports are read from the source text: every `crate::…` and `super::…` path outside
//! comments and string literals, grouped `{…}` imports included. A dependency that
//! goes through a parent's re-export is seen as one on the parent.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and its layer, lowest first.
const LAYERS: &[(&str, u8)] = &[
    ("config", 1),
    ("device", 1),
    ("grade", 1),
    ("model", 1),
    ("progress", 1),
    ("text", 1),
    ("data", 2),
    ("workspace", 2),
    ("infer", 3),
    ("jobs", 3),
    ("runlog", 3),
    ("telemetry", 3),
    ("eval", 4),
    ("export", 4),
    ("serve", 4),
    ("teacher", 4),
    ("train", 4),
    ("runs", 5),
    ("demo", 6),
    ("tui", 6),
    ("bench", 7),
    ("cli", 7),
];

/// The imports allowed between two modules of one layer (importer, imported).
const SAME_LAYER: &[(&str, &str)] = &[
    ("device", "model"),
    ("progress", "text"),
    ("data", "workspace"),
    ("telemetry", "runlog"),
    ("train", "teacher"),
    ("export", "train"),
    ("cli", "bench"),
];

/// Files at the crate root that belong to no layer: the module declarations, and this
/// test.
const ROOT_FILES: &[&str] = &["lib.rs", "main.rs", "layers.rs"];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Import {
    line: usize,
    /// The importing module's path (inline modules included).
    from: Vec<String>,
    /// The imported path as written, resolved from the crate root.
    to: Vec<String>,
}

/// Comments, string and character literals replaced by spaces (newlines kept), so
/// only code is searched and line numbers still match.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        let end = if rest.starts_with(&['/', '/']) {
            rest.iter().position(|&c| c == '\n').unwrap_or(rest.len())
        } else if rest.starts_with(&['/', '*']) {
            rest.windows(2)
                .position(|w| w == ['*', '/'])
                .map_or(rest.len(), |p| p + 2)
        } else if let Some(len) = raw_string_len(rest, i == 0 || !is_ident(chars[i - 1])) {
            len
        } else if rest[0] == '"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != '"' {
                j += if rest[j] == '\\' { 2 } else { 1 };
            }
            (j + 1).min(rest.len())
        } else if rest[0] == '\'' {
            char_literal_len(rest).unwrap_or(1)
        } else {
            out.push(rest[0]);
            i += 1;
            continue;
        };
        out.extend(rest[..end].iter().copied().map(blank));
        i += end;
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `r"…"`, `r#"…"#`, also after `b`.
fn raw_string_len(rest: &[char], at_word_start: bool) -> Option<usize> {
    if !at_word_start {
        return None;
    }
    let start = usize::from(rest.first() == Some(&'b'));
    if rest.get(start) != Some(&'r') {
        return None;
    }
    let hashes = rest[start + 1..].iter().take_while(|&&c| c == '#').count();
    if rest.get(start + 1 + hashes) != Some(&'"') {
        return None;
    }
    let body = start + 2 + hashes;
    let close: Vec<char> = std::iter::once('"')
        .chain(std::iter::repeat_n('#', hashes))
        .collect();
    let found = rest[body..]
        .windows(close.len())
        .position(|w| w == close.as_slice());
    Some(found.map_or(rest.len(), |p| body + p + close.len()))
}

/// `'x'` or `'\n'`, not a lifetime.
fn char_literal_len(rest: &[char]) -> Option<usize> {
    if rest.get(1) == Some(&'\\') {
        let close = rest[2..].iter().position(|&c| c == '\'')?;
        return Some(close + 3);
    }
    (rest.get(2) == Some(&'\'')).then_some(3)
}

/// The module a file is: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// A path after `crate::`/`super::`: segments, with `{…}` groups expanded.
fn parse_paths(code: &[char], mut at: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    loop {
        while code.get(at).is_some_and(|c| c.is_whitespace()) {
            at += 1;
        }
        if code.get(at) == Some(&'{') {
            let mut depth = 0;
            let mut start = at + 1;
            for (j, &c) in code.iter().enumerate().skip(at) {
                match c {
                    '{' => depth += 1,
                    '}' | ',' if depth == 1 => {
                        parse_paths(code, start, path.clone(), out);
                        start = j + 1;
                        if c == '}' {
                            return;
                        }
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            return;
        }
        let word: String = code[at..].iter().take_while(|&&c| is_ident(c)).collect();
        if word.is_empty() || word == "self" {
            break;
        }
        at += word.chars().count();
        path.push(word);
        let next: String = code[at..].iter().take(2).collect();
        if next != "::" {
            break;
        }
        at += 2;
    }
    if !path.is_empty() {
        out.push(path);
    }
}

/// Every `crate::…` and `super::…` path in `text`, the source of module `module`.
fn imports(text: &str, module: &[String]) -> Vec<Import> {
    let code: Vec<char> = code_only(text).chars().collect();
    let mut found = Vec::new();
    let mut inline: Vec<(String, usize)> = Vec::new();
    let (mut depth, mut line) = (0usize, 1usize);
    let mut i = 0;
    while i < code.len() {
        let c = code[i];
        let word_start = i == 0 || !is_ident(code[i - 1]);
        let head = |w: &str| code[i..].iter().take(w.len()).copied().eq(w.chars());
        if c == '\n' {
            line += 1;
        } else if c == '{' {
            depth += 1;
        } else if c == '}' {
            depth = depth.saturating_sub(1);
            while inline.last().is_some_and(|(_, d)| *d > depth) {
                inline.pop();
            }
        } else if word_start && head("mod ") {
            let name: String = code[i + 4..]
                .iter()
                .skip_while(|c| c.is_whitespace())
                .take_while(|&&c| is_ident(c))
                .collect();
            let after = code[i + 4..]
                .iter()
                .skip_while(|c| c.is_whitespace())
                .skip_while(|&&c| is_ident(c))
                .find(|c| !c.is_whitespace());
            if after == Some(&'{') {
                inline.push((name, depth + 1));
            }
        } else if word_start && (head("crate::") || head("super::")) {
            let mut here: Vec<String> = module.to_vec();
            here.extend(inline.iter().map(|(name, _)| name.clone()));
            let mut at = i;
            let base = if head("crate::") {
                at += "crate::".len();
                Some(Vec::new())
            } else {
                let mut base = Some(here);
                while code[at..].iter().take(7).copied().eq("super::".chars()) {
                    at += "super::".len();
                    base = base.and_then(|mut b| b.pop().map(|_| b));
                }
                base
            };
            let mut paths = Vec::new();
            // A `super` past the crate root is a compile error; nothing to check.
            if let Some(base) = base {
                parse_paths(&code, at, base, &mut paths);
            }
            let from: Vec<String> = module
                .iter()
                .cloned()
                .chain(inline.iter().map(|(n, _)| n.clone()))
                .collect();
            for to in paths {
                found.push(Import {
                    line,
                    from: from.clone(),
                    to,
                });
            }
            i = at;
            continue;
        }
        i += 1;
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// (file relative to the crate, import) for every file of `src/`.
fn all_imports() -> Vec<(String, Import)> {
    let src = src();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut all = Vec::new();
    for file in files {
        let name = file
            .strip_prefix(&src)
            .unwrap_or(&file)
            .display()
            .to_string();
        if ROOT_FILES.contains(&name.as_str()) {
            continue;
        }
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for import in imports(&text, &module_of(&src, &file)) {
            all.push((format!("src/{name}"), import));
        }
    }
    all
}

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

#[test]
fn every_top_level_module_has_a_layer() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let unknown: BTreeSet<String> = files
        .iter()
        .filter_map(|f| module_of(&src(), f).into_iter().next())
        .filter(|m| !ROOT_FILES.contains(&format!("{m}.rs").as_str()))
        .filter(|m| layer(m).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "modules without a layer in src/layers.rs (and the README): {unknown:?}"
    );
}

#[test]
fn no_module_imports_one_above_it() {
    let mut wrong = Vec::new();
    for (file, import) in all_imports() {
        let (Some(from), Some(to)) = (import.from.first(), import.to.first()) else {
            continue;
        };
        if from == to {
            continue;
        }
        let (Some(a), Some(b)) = (layer(from), layer(to)) else {
            continue;
        };
        let allowed = b < a || (b == a && SAME_LAYER.contains(&(from.as_str(), to.as_str())));
        if !allowed {
            wrong.push(format!(
                "{file}:{}: {from} (layer {a}) imports {} (layer {b})",
                import.line,
                import.to.join("::")
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_sibling_modules_import_each_other_in_a_loop() {
    // (parent, child) -> (parent, other child) -> where the first such import is.
    type Node = (Vec<String>, String);
    let mut edges: BTreeMap<Node, BTreeMap<Node, String>> = BTreeMap::new();
    for (file, import) in all_imports() {
        let common = import
            .from
            .iter()
            .zip(&import.to)
            .take_while(|(a, b)| a == b)
            .count();
        let (Some(a), Some(b)) = (import.from.get(common), import.to.get(common)) else {
            continue;
        };
        let parent = import.from[..common].to_vec();
        edges
            .entry((parent.clone(), a.clone()))
            .or_default()
            .entry((parent, b.clone()))
            .or_insert_with(|| format!("{file}:{}", import.line));
    }
    let mut loops = Vec::new();
    for start in edges.keys() {
        if let Some(cycle) = cycle_from(start, &edges) {
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{} -> {} ({})", w[0].1, w[1].1, edges[&w[0]][&w[1]]))
                .collect();
            loops.push(format!("in {:?}: {}", start.0, steps.join(", ")));
        }
    }
    assert!(loops.is_empty(), "import loops:\n{}", loops.join("\n"));
}

/// A path of edges from `start` back to it, if there is one.
fn cycle_from<N: Ord + Clone, V>(start: &N, edges: &BTreeMap<N, BTreeMap<N, V>>) -> Option<Vec<N>> {
    let mut stack = vec![vec![start.clone()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last()?;
        for next in edges.get(last).into_iter().flat_map(BTreeMap::keys) {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn the_reader_finds_paths_in_code_only() {
    let text = r#"//! Not crate::doc::import.
use std::fmt;
use crate::{alpha::one, beta::{two, three::Four}, gamma};
use super::sibling::Thing;
fn f() {
    let s = "crate::in_string";
    let c = '{';
    crate::delta::call(); // crate::in_comment
}
#[cfg(test)]
mod tests {
    use super::super::uncle;
    use super::*;
}
fn g() { crate::epsilon::x(); }
"#;
    let module: Vec<String> = ["top", "file"].map(String::from).to_vec();
    let found: Vec<(usize, String, String)> = imports(text, &module)
        .into_iter()
        .map(|i| (i.line, i.from.join("::"), i.to.join("::")))
        .collect();
    let expect = [
        (3, "top::file", "alpha::one"),
        (3, "top::file", "beta::two"),
        (3, "top::file", "beta::three::Four"),
        (3, "top::file", "gamma"),
        (4, "top::file", "top::sibling::Thing"),
        (8, "top::file", "delta::call"),
        (12, "top::file::tests", "top::uncle"),
        (13, "top::file::tests", "top::file"),
        (15, "top::file", "epsilon::x"),
    ];
    let expect: Vec<(usize, String, String)> = expect
        .iter()
        .map(|(l, a, b)| (*l, a.to_string(), b.to_string()))
        .collect();
    assert_eq!(found, expect);
    assert_eq!(
        module_of(Path::new("/s"), Path::new("/s/train/sft/mod.rs")),
        ["train", "sft"]
    );
}
