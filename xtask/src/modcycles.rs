//! The module graph of sigcap-rs/src must have no cycle (issue #10 item
//! 4): a `#[test]`, run by `cargo test --workspace` and so by `cargo
//! xtask test`.
//!
//! What counts as a dependency: a module is a top-level file
//! (`handler.rs`) or directory (`backend/`, all of whose files and
//! submodules are that one module); `lib.rs`, which declares them all, is
//! left out. Module A depends on B when any line of A's files, outside a
//! `//` comment, names `crate::B` (in a `use`, a path or a
//! `use crate::{B, ..}` group), test code included. `super::` is never an
//! edge: from a submodule or a `mod tests` it names the same top-level
//! module. Doc links (`[`crate::B`]`) live in comments and do not count.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// The `crate::` modules named in one file's code.
fn deps_of(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                out.extend(group[..end].split(',').filter_map(|s| ident(s.trim())));
            } else {
                out.extend(ident(rest));
            }
        }
    }
    out
}

/// The identifier `s` starts with, if any.
fn ident(s: &str) -> Option<String> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (end > 0).then(|| s[..end].to_owned())
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable source directory") {
        let p = e.expect("directory entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module graph of the crate whose sources are in `src`.
pub fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut g = Graph::new();
    for f in files {
        let rel = f.strip_prefix(src).expect("beneath src");
        let first = rel.components().next().expect("a file name");
        let name = first.as_os_str().to_string_lossy();
        let module = name.strip_suffix(".rs").unwrap_or(&name).to_owned();
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("readable source file");
        let deps = g.entry(module.clone()).or_default();
        deps.extend(deps_of(&text).into_iter().filter(|d| *d != module));
    }
    g
}

/// A cycle of `g`, as the modules along it with the first repeated at
/// the end, or None.
pub fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    // Depth-first; `path` is the current chain, `done` what is known to
    // reach no cycle.
    fn visit(g: &Graph, m: &str, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut c = path[i..].to_vec();
            c.push(m.to_owned());
            return Some(c);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for d in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(g, d, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    g.keys().find_map(|m| visit(g, m, &mut Vec::new(), &mut done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_paths_and_groups_not_comments() {
        let d = deps_of(
            "use crate::proto::Op;\nuse crate::{error::Error, sys};\nlet x = crate::record::STACK_MAX; \
             // crate::handler\n/// [`crate::sandbox`]\nuse super::fast;\n",
        );
        let want: BTreeSet<String> = ["proto", "error", "sys", "record"].map(String::from).into();
        assert_eq!(d, want);
    }

    #[test]
    fn finds_a_cycle() {
        let mut g = Graph::new();
        g.entry("a".into()).or_default().insert("b".into());
        g.entry("b".into()).or_default().insert("c".into());
        g.entry("c".into()).or_default();
        assert_eq!(find_cycle(&g), None);
        g.get_mut("c").unwrap().insert("a".into());
        assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    }

    #[test]
    fn sigcap_modules_have_no_import_cycle() {
        let src = crate::host_test::workspace_root().join("sigcap-rs/src");
        let g = graph(&src);
        assert!(g.contains_key("handler") && g.contains_key("backend"), "{g:?}");
        if let Some(c) = find_cycle(&g) {
            panic!(
                "import cycle among sigcap-rs/src modules: {} (see README.md, Architecture, for the layer order)",
                c.join(" -> ")
            );
        }
    }
}
