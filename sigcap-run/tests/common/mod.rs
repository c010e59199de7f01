//! Helpers: build the shim, run sigcap-run, read reports, and trace the
//! same program with strace(1) to learn what it actually did.
#![allow(dead_code)]
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const TOOL: &str = env!("CARGO_BIN_EXE_sigcap-run");

/// The shim, built once with the same profile and target directory as
/// this test (cargo does not build a cdylib member for a binary's tests).
pub fn shim() -> &'static Path {
    static SHIM: OnceLock<PathBuf> = OnceLock::new();
    SHIM.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_owned(); // target/<profile>
        let target = profile_dir.parent().unwrap();
        let release = profile_dir.file_name().unwrap() == "release";
        let mut c = Command::new(env!("CARGO"));
        c.args(["build", "-q", "-p", "sigcap-run-shim", "--target-dir"])
            .arg(target);
        if release {
            c.arg("--release");
        }
        let st = c.status().expect("cargo build of the shim");
        assert!(st.success(), "building the shim failed");
        let p = profile_dir.join("libsigcap_run_shim.so");
        assert!(p.is_file(), "{} missing", p.display());
        p
    })
}

pub struct Run {
    pub out: Output,
    pub report: Option<Value>,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    pub fn violations(&self) -> Vec<Value> {
        self.report
            .as_ref()
            .map(|r| r["violations"].as_array().unwrap().clone())
            .unwrap_or_default()
    }
    /// (syscall, path or address) of every violation the report names:
    /// each entry's own, and the samples of collapsed entries.
    pub fn pairs(&self) -> BTreeSet<(String, String)> {
        let mut set = BTreeSet::new();
        for v in self.violations() {
            let name = v["syscall"].as_str().unwrap().to_string();
            let a = &v["args"];
            set.insert((
                name.clone(),
                a["path"].as_str().or(a["address"].as_str()).unwrap_or("").to_string(),
            ));
            for s in v["samples"].as_array().into_iter().flatten() {
                set.insert((name.clone(), s["path"].as_str().unwrap_or("").to_string()));
            }
        }
        set
    }
    /// Violations naming `what` exactly (as the entry's path or address, or
    /// one of its samples).
    pub fn find(&self, syscall: &str, what: &str) -> Vec<Value> {
        self.violations()
            .into_iter()
            .filter(|v| {
                v["syscall"] == syscall
                    && (v["args"]["path"] == what
                        || v["args"]["address"] == what
                        || v["samples"]
                            .as_array()
                            .is_some_and(|s| s.iter().any(|s| s["path"] == what)))
            })
            .collect()
    }
}

const RUN_BOUND: u64 = 300;

/// Runs `sigcap-run [opts] -- cmd...` in `dir`, with a report; a run
/// that hangs is killed after RUN_BOUND seconds, and the test fails.
pub fn run(dir: &Path, opts: &[&str], cmd: &[&str]) -> Run {
    let report = dir.join(format!("report-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&report);
    let out = output_within(
        Command::new(TOOL)
            .current_dir(dir)
            .arg("--shim")
            .arg(shim())
            .arg("--report")
            .arg(&report)
            .args(["--color", "never"])
            .args(opts)
            .arg("--")
            .args(cmd)
            .env("LC_ALL", "C.UTF-8"),
        RUN_BOUND,
    );
    let report = std::fs::read_to_string(&report)
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap());
    eprintln!(
        "--- sigcap-run {opts:?} -- {cmd:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Run { out, report }
}

/// The (syscall, path-or-address) pairs the program made, unconfined, as
/// strace(1) saw them: the ground truth the report is compared with.
pub fn strace(dir: &Path, cmd: &[&str]) -> BTreeSet<(String, String)> {
    let log = dir.join("strace.log");
    let st = Command::new("strace")
        .current_dir(dir)
        .args(["-f", "-qq", "-s", "4096", "-e", "trace=%file,connect,bind", "-o"])
        .arg(&log)
        .args(cmd)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("strace (apt-get install strace)");
    assert!(st.status.code().is_some());
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    let mut set = BTreeSet::new();
    for line in text.lines() {
        // "PID name(args) = ret"
        let line = line.split_once(' ').map_or(line, |(_, r)| r).trim_start();
        let Some((name, rest)) = line.split_once('(') else {
            continue;
        };
        if let Some(i) = rest.find("sin_port=htons(") {
            let port: String = rest[i + 15..].chars().take_while(|c| c.is_ascii_digit()).collect();
            if let Some(j) = rest.find("inet_addr(\"") {
                let ip: String = rest[j + 11..].chars().take_while(|&c| c != '"').collect();
                set.insert((name.to_string(), format!("{ip}:{port}")));
            }
            continue;
        }
        if let Some(i) = rest.find("sun_path=\"") {
            let p: String = rest[i + 10..].chars().take_while(|&c| c != '"').collect();
            set.insert((name.to_string(), format!("unix:{p}")));
            continue;
        }
        if let Some(i) = rest.find('"') {
            let p: String = rest[i + 1..].chars().take_while(|&c| c != '"').collect();
            set.insert((name.to_string(), p));
        }
    }
    set
}

/// Every reported violation was a call the program really makes.
pub fn assert_reported_calls_are_real(run: &Run, truth: &BTreeSet<(String, String)>) {
    for (name, what) in run.pairs() {
        // Printing an error the sandbox caused (EPERM from a call with no
        // brokered form) looks up message catalogs the unconfined run
        // never needs.
        if what.starts_with("/usr/share/locale/") {
            continue;
        }
        // A call without a decoded path is matched by name.
        let seen = if what.is_empty() {
            truth.iter().any(|(n, _)| *n == name)
        } else {
            truth.contains(&(name.clone(), what.clone()))
        };
        assert!(
            seen,
            "reported {name}({what}) but strace did not see the program make it; strace saw {truth:#?}"
        );
    }
}

/// Every call the program made on paths containing `needle` was reported.
pub fn assert_nothing_missed(run: &Run, truth: &BTreeSet<(String, String)>, needle: &str) {
    let got = run.pairs();
    // Extended-attribute calls have no brokered form: the first one fails
    // with EPERM and the program (ls) skips the rest, so only the first
    // kind can be expected.
    let want: Vec<_> = truth
        .iter()
        .filter(|(n, w)| w.contains(needle) && (n == "lgetxattr" || !n.contains("xattr")))
        .collect();
    assert!(!want.is_empty(), "strace saw nothing with {needle:?}: {truth:#?}");
    for p in want {
        assert!(
            got.contains(p),
            "the program made {p:?} but the report does not list it: {got:#?}"
        );
    }
}

/// A policy file without the rules whose root or address contains `needle`.
pub fn narrowed(policy: &Path, needle: &str, out: &Path) {
    let p = sigcap::Policy::from_file(policy).unwrap();
    let mut n = sigcap::Policy::new();
    for r in p.fs_rules() {
        if !r.root.to_string_lossy().contains(needle) {
            n.allow_fs(&r.root, r.access).unwrap();
        }
    }
    for t in p.connect_rules() {
        if !t.to_string().contains(needle) {
            n.allow_connect(t.clone());
        }
    }
    for t in p.bind_rules() {
        n.allow_bind(t.clone());
    }
    std::fs::write(out, n.to_toml()).unwrap();
}

/// Runs `cmd` in its own process group with stdout/stderr captured; kills
/// the group and panics if it has not finished within `secs` seconds.
pub fn output_within(cmd: &mut Command, secs: u64) -> Output {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let mut child = cmd
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut v = vec![];
        let _ = so.read_to_end(&mut v);
        v
    });
    let t2 = std::thread::spawn(move || {
        let mut v = vec![];
        let _ = se.read_to_end(&mut v);
        v
    });
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > end {
            // SAFETY: killing the process group this helper created.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t1.join().unwrap(),
        stderr: t2.join().unwrap(),
    }
}

/// sigcap-run with the shim, without colour, quiet, `opts`, then `cmd`, in
/// `dir`, with `LC_ALL=C.UTF-8`: how the tests run a program under it.
pub fn tool_in(dir: &Path, opts: &[&str], cmd: &[&str]) -> Command {
    let mut c = Command::new(TOOL);
    c.current_dir(dir)
        .arg("--shim")
        .arg(shim())
        .args(["--color", "never", "-q"])
        .args(opts)
        .arg("--")
        .args(cmd)
        .env("LC_ALL", "C.UTF-8");
    c
}

/// Builds the C program `src` as `dir/name` (the source `dir/name.c`)
/// with cc and `extra` flags; None where no working cc is installed.
pub fn cc(dir: &Path, name: &str, src: &str, extra: &[&str]) -> Option<PathBuf> {
    cc_named(dir, &format!("{name}.c"), name, src, extra)
}

/// [`cc`] with the source file's name chosen (debug info records it).
pub fn cc_named(dir: &Path, source: &str, name: &str, src: &str, extra: &[&str]) -> Option<PathBuf> {
    let c = dir.join(source);
    std::fs::write(&c, src).unwrap();
    let out = dir.join(name);
    let ok = Command::new("cc")
        .arg(&c)
        .arg("-o")
        .arg(&out)
        .args(extra)
        .status()
        .ok()?
        .success();
    ok.then_some(out)
}
