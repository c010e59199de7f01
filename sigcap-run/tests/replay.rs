//! The suggested policy, replayed, lets the same program do the same
//! thing: each program runs permissively with --suggest-policy, then again
//! on a fresh copy of the same files with --policy on the suggestion; the
//! output, the exit status and the files left behind must match.
//! Programs that are not installed are skipped, saying so.
#![cfg(target_os = "linux")]
mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Files (with contents) and directories under `dir`.
fn snapshot(dir: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                out.insert(rel, None);
                stack.push(p);
            } else {
                out.insert(rel, Some(std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out
}

fn fixture(work: &Path) {
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work.join("d/sub/deeper")).unwrap();
    std::fs::write(work.join("f.txt"), "hello sigcap\n").unwrap();
    std::fs::write(work.join("lines.txt"), "pear\napple\nfig\n").unwrap();
    std::fs::write(work.join("data.json"), "{\"a\": [1, 2], \"b\": \"x\"}\n").unwrap();
    std::fs::write(work.join("d/a"), "a\n").unwrap();
    std::fs::write(work.join("d/sub/b"), "b\n").unwrap();
    std::fs::write(work.join("d/sub/deeper/c"), "c\n").unwrap();
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    files: BTreeMap<String, Option<Vec<u8>>>,
}

fn run_in(base: &Path, opts: &[&str], cmd: &[&str], sort_output: bool) -> Outcome {
    let work = base.join("work");
    fixture(&work);
    let out = output_within(&mut tool_in(&work, opts, cmd), 60);
    let mut stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if sort_output {
        let mut l: Vec<&str> = stdout.lines().collect();
        l.sort();
        stdout = l.join("\n");
    }
    Outcome {
        code: out.status.code(),
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        files: snapshot(&work),
    }
}

fn installed(prog: &str) -> Option<PathBuf> {
    let p = Path::new(prog);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_owned());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(prog))
        .find(|c| c.is_file())
}

/// Runs `cmd` permissively, then under its suggested policy. Returns the
/// replayed outcome and the policy text, or None when skipped.
fn replay(name: &str, cmd: &[&str], sort_output: bool) -> Option<(Outcome, Outcome, String, tempfile::TempDir)> {
    if installed(cmd[0]).is_none() {
        eprintln!("SKIPPED {name}: {} is not installed", cmd[0]);
        return None;
    }
    let t = tempfile::Builder::new().prefix("sigcap-run-replay.").tempdir().unwrap();
    let base = t.path();
    let pol = base.join("suggested.toml");
    let first = run_in(base, &["--suggest-policy", pol.to_str().unwrap()], cmd, sort_output);
    let text = std::fs::read_to_string(&pol).unwrap();
    eprintln!("--- {name}: suggested policy\n{text}");
    let rep = base.join("replay.json");
    let again = run_in(
        base,
        &["--policy", pol.to_str().unwrap(), "--report", rep.to_str().unwrap()],
        cmd,
        sort_output,
    );
    if again.code != first.code || again.stdout != first.stdout || again.files != first.files {
        let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&rep).unwrap()).unwrap();
        let denied: Vec<String> = r["violations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["decision"] == "denied")
            .map(|v| format!("{} {}", v["syscall"], v["args"]["resolved"]))
            .collect();
        eprintln!(
            "--- {name}: replay differs; denied under the policy: {denied:#?}\nstderr: {}",
            again.stderr
        );
    }
    Some((first, again, text, t))
}

fn assert_same(name: &str, first: &Outcome, again: &Outcome) {
    assert_eq!(
        first.code, again.code,
        "{name}: exit status; replay stderr: {}",
        again.stderr
    );
    assert_eq!(first.stdout, again.stdout, "{name}: output");
    assert_eq!(first.files, again.files, "{name}: files left behind");
}

/// No suggested rule is `/`, or a home directory.
fn assert_not_broad(name: &str, policy: &str) {
    let p = sigcap::Policy::from_toml(policy).unwrap();
    for r in p.fs_rules() {
        let root = r.root.display().to_string();
        assert!(
            root != "/" && root != "/root" && root != "/home",
            "{name}: suggested {root}:\n{policy}"
        );
        assert!(!root.starts_with("/root/.ssh"), "{name}: suggested {root}:\n{policy}");
    }
}

#[test]
fn suggested_policies_replay_everyday_programs() {
    let cases: &[(&str, &[&str], bool)] = &[
        ("cat", &["cat", "f.txt"], false),
        ("sort", &["sort", "lines.txt"], false),
        ("ls -l", &["ls", "-l", "--time-style=+", "d", "d/sub"], false),
        ("find", &["find", "d"], true),
        ("du", &["du", "-a", "d"], true),
        ("cp", &["cp", "f.txt", "copy.txt"], false),
        ("jq", &["jq", "-c", ".a", "data.json"], false),
        ("file", &["file", "f.txt"], false),
        (
            "sqlite3",
            &[
                "sqlite3",
                "db.sqlite",
                "create table t(x); insert into t values (42); select x from t;",
            ],
            false,
        ),
        (
            "python3",
            &[
                "/usr/bin/python3",
                "-c",
                "import json; print(json.load(open('data.json'))['a'])",
            ],
            false,
        ),
    ];
    let mut ran = vec![];
    for (name, cmd, sort) in cases {
        let Some((first, again, policy, _t)) = replay(name, cmd, *sort) else {
            continue;
        };
        assert!(
            first.code == Some(0),
            "{name}: the permissive run failed: {}",
            first.stderr
        );
        assert_same(name, &first, &again);
        assert_not_broad(name, &policy);
        ran.push(*name);
    }
    eprintln!("replayed: {ran:?}");
    assert!(ran.len() >= 4, "too few programs installed to mean anything: {ran:?}");
}

#[test]
fn probes_of_missing_dotfiles_grant_nothing() {
    // curl looks for ~/.curlrc, jq for ~/.jq, sqlite3 for ~/.sqliterc, file
    // for ~/.magic and /etc/magic.mgc: missing files, which used to make the
    // whole home directory (or /etc) a root.
    let home = tempfile::Builder::new().prefix("sigcap-run-home.").tempdir().unwrap();
    // sqlite3 takes its home from the password database, not $HOME.
    let cases: &[(&str, &[&str], &str)] = &[
        ("jq", &["jq", "-n", "1"], "/.jq "),
        ("sqlite3", &["sqlite3", ":memory:", "select 1;"], "/.sqliterc "),
        ("file", &["file", "f.txt"], "/.magic.mgc "),
        (
            "curl",
            &["curl", "-s", "--max-time", "5", "file:///dev/null"],
            "/.curlrc ",
        ),
    ];
    for (name, cmd, dotfile) in cases {
        if installed(cmd[0]).is_none() {
            eprintln!("SKIPPED {name}: not installed");
            continue;
        }
        let t = tempfile::Builder::new().prefix("sigcap-run-probe.").tempdir().unwrap();
        let work = t.path().join("work");
        fixture(&work);
        let pol = t.path().join("p.toml");
        let out = output_within(
            Command::new(TOOL)
                .current_dir(&work)
                .arg("--shim")
                .arg(shim())
                .args(["-q", "--suggest-policy", pol.to_str().unwrap(), "--"])
                .args(*cmd)
                .env("HOME", home.path())
                .env("LC_ALL", "C.UTF-8"),
            60,
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&pol).unwrap();
        let p = sigcap::Policy::from_toml(&text).unwrap();
        for h in [home.path().display().to_string(), "/root".to_string()] {
            for r in p.fs_rules() {
                let root = r.root.display().to_string();
                assert!(
                    !h.starts_with(&root) && !root.starts_with(&h),
                    "{name}: rule {root} covers {h}:\n{text}"
                );
                assert!(
                    root != "/etc" && root != "/" && root != "/tmp",
                    "{name}: rule {root}:\n{text}"
                );
            }
        }
        assert!(
            text.lines().any(|l| l.starts_with("# probe: ") && l.contains(dotfile)),
            "{name}: the probe of {dotfile} is not listed:\n{text}"
        );
    }
}

#[test]
fn rm_r_replays_its_suggested_policy() {
    // rm -r (--preserve-root, the default) lstat()s "/" and stops if that
    // fails. No rule on "/" is ever suggested; the runtime answers a stat
    // of a directory on the way to a rule's root without one, so the
    // suggested policy is enough.
    let Some((first, again, policy, _t)) = replay("rm -r", &["rm", "-r", "d"], false) else {
        return;
    };
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(!first.files.contains_key("d"));
    assert!(
        policy.contains("left out: newfstatat(\"/\") would need read on all of /"),
        "{policy}"
    );
    assert_not_broad("rm -r", &policy);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(again.files, first.files);
}

#[test]
fn find_over_a_system_tree_suggests_that_tree_not_slash() {
    // find's fts duplicates directory descriptors (no record), so numbers
    // the report remembers go stale; they used to resolve entries to "/".
    let tree = "/usr/share/doc";
    if !Path::new(tree).is_dir() {
        eprintln!("SKIPPED: no {tree}");
        return;
    }
    let Some((first, again, policy, t)) = replay("find", &["find", tree], true) else {
        return;
    };
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert_same("find", &first, &again);
    let work = t.path().join("work");
    let p = sigcap::Policy::from_toml(&policy).unwrap();
    for r in p.fs_rules() {
        // locale.alias is read through Debian's absolute link
        // /usr/share/locale/locale.alias -> /etc/locale.alias: both.
        let ok = r.root.starts_with(tree)
            || r.root.starts_with("/usr/lib/locale")
            || r.root.ends_with("locale.alias")
            || r.root.to_string_lossy().contains("/gconv/")
            || r.root == work;
        assert!(ok, "unexpected rule {}:\n{policy}", r.root.display());
    }
}

/// Issue #11 item 4: `date` reads its zone through absolute symlinks
/// (Debian's /etc/localtime -> /usr/share/zoneinfo/..., a TZ naming a
/// link). sigcap-run's broker follows them to their targets, permissively
/// and under the suggested policy, which names the link and its target:
/// `date` prints what a plain run prints, not UTC as a fallback.
#[test]
fn date_reads_its_zone_through_absolute_symlinks() {
    let zone = Path::new("/usr/share/zoneinfo/Japan");
    if installed("date").is_none() || !zone.exists() {
        eprintln!("SKIPPED: no date(1) or no {}", zone.display());
        return;
    }
    let t = tempfile::Builder::new().prefix("sigcap-run-tz.").tempdir().unwrap();
    let link = t.path().join("tz");
    std::os::unix::fs::symlink(zone, &link).unwrap();
    let localtime_is_link = std::fs::symlink_metadata("/etc/localtime").is_ok_and(|m| m.file_type().is_symlink());
    let tz_link = format!(":{}", link.display());
    let mut cases: Vec<(&str, Option<&str>, PathBuf)> = vec![("TZ=:link", Some(&tz_link), link.clone())];
    if localtime_is_link {
        cases.push(("TZ unset", None, "/etc/localtime".into()));
        cases.push(("TZ=:/etc/localtime", Some(":/etc/localtime"), "/etc/localtime".into()));
    } else {
        eprintln!("SKIPPED the /etc/localtime cases: it is not a symlink here");
    }
    let date = |opts: &[&str], tz: Option<&str>| {
        let mut c = Command::new(TOOL);
        c.current_dir(t.path())
            .arg("--shim")
            .arg(shim())
            .args(["--color", "never", "-q"])
            .args(opts)
            .args(["--", "date", "-d", "@86399", "+%Z %z %H:%M"])
            .env("LC_ALL", "C.UTF-8");
        match tz {
            Some(z) => c.env("TZ", z),
            None => c.env_remove("TZ"),
        };
        let out = output_within(&mut c, 60);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{opts:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for (name, tz, path) in cases {
        let mut plain = Command::new("date");
        plain.args(["-d", "@86399", "+%Z %z %H:%M"]).env("LC_ALL", "C.UTF-8");
        match tz {
            Some(z) => plain.env("TZ", z),
            None => plain.env_remove("TZ"),
        };
        let plain = String::from_utf8_lossy(&output_within(&mut plain, 30).stdout).into_owned();
        if name == "TZ=:link" {
            assert_eq!(plain.trim(), "JST +0900 08:59", "the zone behind the link");
        }
        let (pol, rep) = (t.path().join("p.toml"), t.path().join("r.json"));
        let permissive = date(
            &[
                "--suggest-policy",
                pol.to_str().unwrap(),
                "--report",
                rep.to_str().unwrap(),
            ],
            tz,
        );
        assert_eq!(permissive, plain, "{name}: permissive");
        // The report names the link and the path the broker used.
        let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&rep).unwrap()).unwrap();
        let entries = r["violations"].as_array().unwrap();
        let e = entries
            .iter()
            .find(|v| v["args"]["path"] == path.to_str().unwrap() && v["syscall"] == "openat")
            .unwrap_or_else(|| panic!("{name}: no open of {}: {r:#}", path.display()));
        let target = std::fs::canonicalize(&path).unwrap();
        assert_eq!(e["decision"], "allowed", "{name}: {e:#}");
        let via = e["args"]["via"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no via: {e:#}"));
        assert_eq!(std::fs::canonicalize(via).unwrap(), target, "{name}: {e:#}");
        let policy = std::fs::read_to_string(&pol).unwrap();
        eprintln!("--- date, {name}: suggested policy\n{policy}");
        assert!(!policy.contains("resolves outside"), "{name}:\n{policy}");
        let p = sigcap::Policy::from_toml(&policy).unwrap();
        assert!(
            p.fs_rules().iter().any(|r| r.root == path),
            "{name}: no rule for the link:\n{policy}"
        );
        assert!(
            p.fs_rules().iter().any(|r| Path::new(via).starts_with(&r.root)),
            "{name}: no rule for {via}:\n{policy}"
        );
        assert_eq!(
            date(&["--policy", pol.to_str().unwrap()], tz),
            plain,
            "{name}: under the suggested policy"
        );
    }
}

/// The suggested policy is written for a person to review and replay,
/// with the command line and the probes of missing files as comments. A
/// sandboxed program chooses both: a newline in a file name it probes,
/// or in an argument, must not end the comment and add a rule.
#[test]
fn names_with_newlines_cannot_add_rules_to_the_suggested_policy() {
    let t = tempfile::Builder::new().prefix("sigcap-run-inject.").tempdir().unwrap();
    let pol = t.path().join("p.toml");
    let rule = "\n[[fs]]\npath = \"/\"\naccess = [\"read\", \"write\", \"create\"]\n#";
    let script = "cat \"$1\" 2>/dev/null; echo done";
    let probe = format!("{}/missing{rule}", t.path().display());
    let out = output_within(
        Command::new(TOOL)
            .current_dir(t.path())
            .arg("--shim")
            .arg(shim())
            .args(["-q", "--suggest-policy", pol.to_str().unwrap(), "--"])
            .args(["sh", "-c", script, &format!("argument{rule}"), &probe]),
        60,
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&pol).unwrap();
    let p = sigcap::Policy::from_toml(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    for r in p.fs_rules() {
        assert_ne!(r.root, Path::new("/"), "a rule came from a comment:\n{text}");
    }
    // Both are still there for the reader, escaped.
    assert!(text.contains("argument\\n[[fs]]"), "{text}");
    assert!(text.contains("missing\\n[[fs]]"), "{text}");
}
