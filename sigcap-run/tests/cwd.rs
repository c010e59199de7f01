//! The working directory under sigcap-run (issue #11 item 2): programs
//! that change directory (`mkdir -p` opens each new directory and
//! fchdir()s into it, git chdir()s to its work tree) act where they are,
//! not where they started; the report resolves their relative paths
//! against the directory of each call, and the suggested policy follows.
//! Programs that are not installed are skipped, saying so.
#![cfg(target_os = "linux")]
mod common;
use common::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("sigcap-run-cwd.").tempdir().unwrap()
}

/// Every path under `dir`, relative, as find(1) prints them.
fn tree(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.insert(p.strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

/// `cmd` run plainly in `dir`: (exit status, stdout).
fn plain(dir: &Path, cmd: &[&str]) -> (Option<i32>, String) {
    let out = output_within(Command::new(cmd[0]).current_dir(dir).args(&cmd[1..]), 60);
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `cmd` run under sigcap-run in `dir` with `opts`: (exit status, stdout).
fn boxed(dir: &Path, opts: &[&str], cmd: &[&str]) -> (Option<i32>, String) {
    let out = output_within(&mut tool_in(dir, opts, cmd), 60);
    eprintln!("--- {cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn sorted(s: &str) -> Vec<&str> {
    let mut l: Vec<&str> = s.lines().collect();
    l.sort();
    l
}

fn installed(p: &str) -> bool {
    Path::new(p).is_file()
        || std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(p).is_file()))
}

/// The case: `mkdir -p x/y/z; find .` printed `. ./x ./y ./z`.
#[test]
fn mkdir_p_then_find_makes_the_tree_a_plain_run_makes_and_the_policy_replays() {
    let t = tmp();
    let base = t.path().canonicalize().unwrap();
    let (p, b) = (base.join("plain"), base.join("boxed"));
    std::fs::create_dir_all(&p).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    assert_eq!(plain(&p, &["mkdir", "-p", "x/y/z"]).0, Some(0));
    let (_, want) = plain(&p, &["find", "."]);
    let pol = base.join("p.toml");
    let rep = base.join("r.json");
    let (code, _) = boxed(
        &b,
        &[
            "--suggest-policy",
            pol.to_str().unwrap(),
            "--report",
            rep.to_str().unwrap(),
        ],
        &["mkdir", "-p", "x/y/z"],
    );
    assert_eq!(code, Some(0));
    assert_eq!(tree(&b), tree(&p), "the directories mkdir -p left");
    let (code, got) = boxed(&b, &[], &["find", "."]);
    assert_eq!(code, Some(0));
    assert_eq!(sorted(&got), sorted(&want), "find . under sigcap-run");
    // The report resolves each mkdir against the directory it was made in.
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&rep).unwrap()).unwrap();
    let mkdirs: BTreeSet<String> = r["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["syscall"] == "mkdir")
        .map(|v| v["args"]["resolved"].as_str().unwrap_or("").to_string())
        .collect();
    let expect: BTreeSet<String> = ["x", "x/y", "x/y/z"]
        .iter()
        .map(|s| b.join(s).display().to_string())
        .collect();
    assert_eq!(mkdirs, expect, "{:#}", r["violations"]);
    // The suggested policy replays on a fresh directory.
    let text = std::fs::read_to_string(&pol).unwrap();
    eprintln!("{text}");
    std::fs::remove_dir_all(b.join("x")).unwrap();
    let (code, _) = boxed(&b, &["--policy", pol.to_str().unwrap()], &["mkdir", "-p", "x/y/z"]);
    assert_eq!(code, Some(0));
    assert_eq!(tree(&b), tree(&p), "the directories mkdir -p left under the policy");
}

/// Python's os.fchdir, then open("f", "w"): the file lands in the
/// directory fchdir() went to.
#[test]
fn python_fchdir_then_open_writes_where_the_program_is() {
    let py = "/usr/bin/python3";
    if !Path::new(py).is_file() {
        eprintln!("SKIPPED: {py} is not installed");
        return;
    }
    let t = tmp();
    let d = t.path().canonicalize().unwrap();
    std::fs::create_dir(d.join("sub")).unwrap();
    let script =
        "import os\nfd = os.open('sub', os.O_RDONLY)\nos.fchdir(fd)\nopen('f', 'w').write('hi')\nprint(os.getcwd())";
    let (code, out) = boxed(&d, &[], &[py, "-c", script]);
    assert_eq!(code, Some(0));
    assert_eq!(out.trim(), d.join("sub").display().to_string());
    assert_eq!(std::fs::read_to_string(d.join("sub/f")).unwrap(), "hi");
    assert!(!d.join("f").exists(), "written where the program started");
}

/// git run from a subdirectory chdir()s to the top of its work tree.
#[test]
fn git_status_in_a_subdirectory_works() {
    if !installed("git") {
        eprintln!("SKIPPED: git is not installed");
        return;
    }
    let t = tmp();
    let repo = t.path().canonicalize().unwrap().join("repo");
    let git = |dir: &Path, args: &[&str]| {
        let st = Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "git {args:?}");
    };
    std::fs::create_dir_all(repo.join("sub")).unwrap();
    git(&repo, &["init", "-q"]);
    std::fs::write(repo.join("a"), "a\n").unwrap();
    git(&repo, &["add", "a"]);
    git(&repo, &["commit", "-qm", "first"]);
    std::fs::write(repo.join("a"), "changed\n").unwrap();
    std::fs::write(repo.join("sub/new"), "new\n").unwrap();
    let sub = repo.join("sub");
    let want = plain(&sub, &["git", "status", "--short"]);
    assert_eq!(want.0, Some(0));
    let got = boxed(&sub, &[], &["git", "status", "--short"]);
    assert_eq!(got, want, "git status under sigcap-run");
}
