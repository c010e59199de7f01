//! The tool itself: where it enters, the documented hook, exit statuses,
//! and its own failures, which must be clear errors before the program
//! starts.
#![cfg(target_os = "linux")]
mod common;
use common::*;
use std::process::Command;

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("sigcap-run-tool.").tempdir().unwrap()
}

#[test]
fn exit_status_is_the_programs() {
    let t = tmp();
    assert_eq!(run(t.path(), &["-q"], &["sh", "-c", "exit 7"]).code(), 7);
    let r = run(t.path(), &["-q"], &["sh", "-c", "kill -TERM $$"]);
    assert_eq!(r.code(), 128 + libc::SIGTERM);
    assert_eq!(r.report.unwrap()["signal"], libc::SIGTERM);
    assert_eq!(run(t.path(), &["-q"], &["ls", "/nonexistent-sigcap"]).code(), 2);
}

#[test]
fn enter_at_a_library_function_skips_start_up() {
    let t = tmp();
    let d = t.path();
    std::fs::create_dir(d.join("dir")).unwrap();
    std::fs::write(d.join("dir/a"), "a").unwrap();
    let early = run(d, &[], &["ls", "-l", "dir"]);
    let late = run(d, &["--enter-at", "opendir"], &["ls", "-l", "dir"]);
    assert_eq!(late.code(), 0);
    assert_eq!(late.report.as_ref().unwrap()["enter_at"], "opendir");
    assert_eq!(late.stdout(), early.stdout());
    let locale = |r: &Run| {
        r.pairs()
            .iter()
            .filter(|(_, p)| p.starts_with("/usr/lib/locale"))
            .count()
    };
    assert!(locale(&early) > 0);
    assert_eq!(locale(&late), 0, "setlocale ran before opendir, unconfined");
    // opendir's own open is the first violation.
    let first = late
        .violations()
        .into_iter()
        .min_by_key(|v| v["first_seq"].as_u64())
        .unwrap();
    assert_eq!(
        (first["syscall"].as_str(), first["args"]["path"].as_str()),
        (Some("openat"), Some("dir"))
    );
    assert!(!late.find("statx", "dir/a").is_empty());

    let bad = run(d, &["--enter-at", "no_such_function_xyz"], &["ls"]);
    assert_eq!(bad.code(), 125);
    assert!(bad.stderr().contains("no such dynamic symbol"), "{}", bad.stderr());
    assert!(bad.stdout().is_empty(), "the program must not have run");
}

#[test]
fn the_documented_hook_enters_where_the_program_says() {
    let t = tmp();
    let d = t.path();
    let src = r#"
        #include <stdio.h>
        #include <fcntl.h>
        #include <unistd.h>
        extern int sigcap_run_enter(void) __attribute__((weak));
        int main(void) {
            int before = open("before.txt", O_RDONLY);
            if (sigcap_run_enter) printf("enter=%d\n", sigcap_run_enter());
            int after = open("after.txt", O_RDONLY);
            printf("before=%d after=%d\n", before >= 0, after >= 0);
            return 0;
        }"#;
    let Some(prog) = cc(d, "hooked", src, &[]) else {
        eprintln!("no C compiler: skipped");
        return;
    };
    std::fs::write(d.join("before.txt"), "b").unwrap();
    std::fs::write(d.join("after.txt"), "a").unwrap();
    let p = prog.to_str().unwrap();
    // Without the shim the weak hook is absent and the program still runs.
    let plain = Command::new(p).current_dir(d).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&plain.stdout), "before=1 after=1\n");
    let r = run(d, &["--enter-at", "hook"], &[p]);
    assert_eq!(r.code(), 0);
    assert_eq!(r.stdout(), "enter=0\nbefore=1 after=1\n");
    assert!(r.find("openat", "before.txt").is_empty());
    assert_eq!(r.find("openat", "after.txt")[0]["decision"], "allowed");
    // Entered at main, the hook reports that it already was.
    let r = run(d, &[], &[p]);
    assert!(r.stdout().starts_with("enter=-1\n"), "{}", r.stdout());
    assert_eq!(r.find("openat", "before.txt").len(), 1);
}

#[test]
fn tool_failures_are_clear_errors_before_the_program_starts() {
    let t = tmp();
    let d = t.path();
    let marker = d.join("ran");
    let touch = ["touch", marker.to_str().unwrap()];

    std::fs::write(d.join("bad.toml"), "[[fs]]\npath = \"relative\"\naccess = [\"read\"]\n").unwrap();
    let r = run(d, &["--policy", "bad.toml"], &touch);
    assert_eq!(r.code(), 125);
    assert!(
        r.stderr().contains("bad policy") && r.stderr().contains("not absolute"),
        "{}",
        r.stderr()
    );

    std::fs::write(
        d.join("gone.toml"),
        "[[fs]]\npath = \"/nonexistent-sigcap-root\"\naccess = [\"read\"]\n",
    )
    .unwrap();
    let r = run(d, &["--policy", "gone.toml"], &touch);
    assert_eq!(r.code(), 125);
    assert!(r.stderr().contains("does not exist"), "{}", r.stderr());

    let out = Command::new(TOOL)
        .args(["--shim", "/nonexistent/libshim.so", "--"])
        .args(touch)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("preload shim /nonexistent/libshim.so not found"));

    std::fs::write(d.join("notashim.so"), "garbage").unwrap();
    let out = Command::new(TOOL)
        .arg("--shim")
        .arg(d.join("notashim.so"))
        .arg("--")
        .args(touch)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be loaded"));

    let r = run(d, &["--backend", "freebsd-sigtrap"], &touch);
    assert_eq!(r.code(), 125);
    assert!(r.stderr().contains("cannot enter capability mode"), "{}", r.stderr());

    let r = run(d, &[], &["no-such-program-sigcap"]);
    assert_eq!(r.code(), 125);
    assert!(r.stderr().contains("not found in PATH"));

    if let Some(st) = cc(d, "static", "int main(void){return 0;}", &["-static"]) {
        let r = run(d, &[], &[st.to_str().unwrap()]);
        assert_eq!(r.code(), 125);
        assert!(r.stderr().contains("statically linked"), "{}", r.stderr());
    }
    assert!(!marker.exists(), "no failure may run the program");
}

#[test]
fn output_paths_are_checked_before_the_program_starts() {
    let t = tmp();
    let d = t.path();
    let marker = d.join("ran");
    let touch = ["touch", marker.to_str().unwrap()];
    let tool = |opts: &[&str]| {
        Command::new(TOOL)
            .current_dir(d)
            .arg("--shim")
            .arg(shim())
            .args(opts)
            .arg("--")
            .args(touch)
            .output()
            .unwrap()
    };
    std::fs::write(d.join("file"), "").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--report", "/nonexistent-sigcap/r.json"],
            "/nonexistent-sigcap is not an existing directory",
        ),
        (
            &["--suggest-policy", "/nonexistent-sigcap/p.toml"],
            "/nonexistent-sigcap is not an existing directory",
        ),
        (&["--report", "file/r.json"], "file is not an existing directory"),
        (&["--report", "."], "it is a directory"),
        // procfs: the directory exists, but nothing can be created in it.
        (
            &["--suggest-policy", "/proc/sigcap-run-p.toml"],
            "cannot create a file in /proc",
        ),
        (
            &["--report", "same", "--suggest-policy", "./same"],
            "name the same file",
        ),
    ];
    for (opts, msg) in cases {
        let out = tool(opts);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{opts:?}: {err}");
        assert!(err.contains(msg), "{opts:?}: {err}");
        assert!(!marker.exists(), "{opts:?}: the program ran");
    }
    // Nothing was left behind by the checks.
    let left: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("file")]);

    // A good run writes both, with the usual permissions, and no temporary file stays.
    let out = tool(&["-q", "--report", "r.json", "--suggest-policy", "p.toml"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(marker.exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.join("r.json")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o644, 0o644, "{mode:o}");
    sigcap::Policy::from_file(d.join("p.toml")).unwrap();
    let hidden: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[test]
fn a_failed_write_at_the_end_keeps_the_status_and_the_summary() {
    // The program removes the directory the outputs were to go to.
    let t = tmp();
    let d = t.path();
    std::fs::create_dir(d.join("out")).unwrap();
    let out = Command::new(TOOL)
        .current_dir(d)
        .arg("--shim")
        .arg(shim())
        .args([
            "--color",
            "never",
            "--report",
            "out/r.json",
            "--suggest-policy",
            "out/p.toml",
            "--",
        ])
        // rm exits 1: it removes out/, then cannot find "missing".
        .args(["rm", "-r", "out", "missing"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!d.join("out").exists());
    assert!(
        err.contains("sigcap-run: rm -r out missing: exit status 1"),
        "summary missing: {err}"
    );
    assert!(
        err.contains("cannot write the report to out/r.json") && err.contains("the report is lost"),
        "{err}"
    );
    assert!(err.contains("the suggested policy is lost"), "{err}");
    assert!(err.contains("exited with status 1"), "{err}");
}

/// Processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<i32> {
    let mut v = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            if String::from_utf8_lossy(&c).split('\0').any(|a| a == needle) {
                v.push(pid);
            }
        }
    }
    v
}

/// Polls `f` every 50 ms for at most `secs` seconds.
fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    f()
}

/// Whether `pid` runs under a seccomp filter (it has entered the sandbox).
fn confined(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| s.contains("Seccomp:\t2"))
}

/// Whether `pid` has a handler for `sig` (its SigCgt mask).
fn catches(pid: i32, sig: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("SigCgt:\t"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .is_some_and(|m| m & (1 << (sig - 1)) != 0)
    })
}

/// Sends `sig` to the sigcap-run `child` and waits, 15 s at most, for it
/// to exit (killed and failed past that).
fn signal_and_wait(child: &mut std::process::Child, sig: i32) -> std::process::ExitStatus {
    // SAFETY: signalling the tool the test started.
    unsafe { libc::kill(child.id() as i32, sig) };
    let mut status = None;
    wait_until(15, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        panic!("sigcap-run did not exit within 15 s of signal {sig}");
    };
    status
}

/// Fails if a process with `marker` in its command line is still there
/// 5 s on; kills those first.
fn assert_none_left(marker: &str) {
    let gone = wait_until(5, || processes_with(marker).is_empty());
    let left = processes_with(marker);
    for p in &left {
        // SAFETY: cleaning up what this test started.
        unsafe { libc::kill(*p, libc::SIGKILL) };
    }
    assert!(gone, "left running: {left:?}");
}

#[test]
fn sigterm_is_passed_on_and_the_report_still_written() {
    let t = tmp();
    let d = t.path();
    // A unique argument marks the program and the broker it forks.
    let marker = format!("30.{}", std::process::id());
    let mut child = Command::new(TOOL)
        .current_dir(d)
        .arg("--shim")
        .arg(shim())
        .args(["--color", "never", "--report", "r.json", "--", "sleep", &marker])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let tool_pid = child.id() as i32;
    let entered = wait_until(20, || {
        processes_with(&marker)
            .into_iter()
            .any(|p| p != tool_pid && confined(p))
    });
    if !entered {
        let _ = child.kill();
        panic!("the program never entered the sandbox");
    }
    let status = signal_and_wait(&mut child, libc::SIGTERM);
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status:?}");
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("killed by SIGTERM (passed on: SIGTERM)"), "{err}");
    let rep: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    assert_eq!(rep["signal"], libc::SIGTERM);
    assert_eq!(rep["exit_status"], 128 + libc::SIGTERM);
    assert_eq!(rep["forwarded_signals"], serde_json::json!(["SIGTERM"]));
    assert_eq!(rep["entered"], true);
    // Neither the program nor its broker is left behind.
    assert_none_left(&marker);
}

#[test]
fn other_signals_are_passed_on_too() {
    let t = tmp();
    let d = t.path();
    let tag = format!("sigcap-usr1-{}", std::process::id());
    // The shell waits in read(2) on a pipe that stays open; the trap exits 3.
    let script = format!("trap 'echo got-usr1; exit 3' USR1; read x; echo {tag}");
    let mut child = Command::new(TOOL)
        .current_dir(d)
        .arg("--shim")
        .arg(shim())
        .args(["-q", "--report", "r.json", "--", "sh", "-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let tool_pid = child.id() as i32;
    // Entered, and past `trap` (else SIGUSR1 would kill the shell before
    // its handler exists, whatever sigcap-run does).
    let entered = wait_until(20, || {
        processes_with(&script)
            .into_iter()
            .any(|p| p != tool_pid && confined(p) && catches(p, libc::SIGUSR1))
    });
    if !entered {
        let _ = child.kill();
        panic!("the program never entered the sandbox with its USR1 trap set");
    }
    let status = signal_and_wait(&mut child, libc::SIGUSR1);
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert_eq!(out, "got-usr1\n");
    assert_eq!(status.code(), Some(3));
    let rep: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    assert_eq!(rep["forwarded_signals"], serde_json::json!(["SIGUSR1"]));
    drop(child.stdin.take());
}

/// A call the Linux filter does not know (keyctl, a number past the
/// table) is refused with ENOSYS, and the report and the summary say
/// which and why, one entry per number.
#[test]
fn calls_not_in_the_allowlist_are_named_by_number_and_reason() {
    let t = tmp();
    let d = t.path();
    let src = "#include <stdio.h>\n#include <unistd.h>\n#include <errno.h>\n#include <sys/syscall.h>\n\
               int main(void) {\n\
                 long a = syscall(SYS_keyctl, 0, -3, 1);\n int ea = errno;\n\
                 long b = syscall(480);\n int eb = errno;\n\
                 long c = syscall(481);\n\
                 printf(\"%ld %d %ld %d %ld\\n\", a, ea, b, eb, c);\n return 0;\n}\n";
    let Some(p) = cc(d, "unknown", src, &[]) else {
        eprintln!("no C compiler: skipped");
        return;
    };
    let r = run(d, &[], &[p.to_str().unwrap()]);
    assert_eq!(r.code(), 0);
    assert_eq!(r.stdout().trim(), format!("-1 {0} -1 {0} -1", libc::ENOSYS));
    let v = r.violations();
    let entry = |name: &str| {
        v.iter()
            .find(|e| e["syscall"] == name)
            .unwrap_or_else(|| panic!("no {name} in {v:?}"))
            .clone()
    };
    for (name, nr) in [("syscall 250", 250), ("syscall 480", 480), ("syscall 481", 481)] {
        let e = entry(name);
        assert_eq!(e["number"], nr);
        assert_eq!(e["errno"], "ENOSYS");
        assert_eq!(e["class"], "syscall");
        assert_eq!(e["decision"], "unsupported");
        assert_eq!(e["reason"], "not in the allowlist");
    }
    assert!(r.stderr().contains("syscall 480"), "{}", r.stderr());
    assert!(r.stderr().contains("not in the allowlist"), "{}", r.stderr());
}

/// The broker the shim starts is the program's own executable, executed
/// anew with the shim preloaded: the crate's constructor, linked into the
/// shim, turns it into the broker before the program's `main`. It is not
/// the program's child.
#[test]
fn the_shims_broker_is_an_exec_of_the_program_with_the_shim() {
    let t = tmp();
    let sleep = t.path().join(format!("sleep-{}", std::process::id()));
    std::fs::copy("/bin/sleep", &sleep).unwrap();
    let mut child = Command::new(TOOL)
        .current_dir(t.path())
        .arg("--shim")
        .arg(shim())
        .args(["-q", "--"])
        .arg(&sleep)
        .arg("2")
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let found = loop {
        let brokers: Vec<(i32, i32)> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|x| x == sleep))
            .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == b"sigcap-broker\0"))
            .filter_map(|pid| {
                let st = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
                let ppid = st.lines().find_map(|l| l.strip_prefix("PPid:"))?.trim().parse().ok()?;
                Some((pid, ppid))
            })
            .collect();
        if !brokers.is_empty() || start.elapsed() > std::time::Duration::from_millis(1500) {
            break brokers;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(found.len(), 1, "brokers running {}: {found:?}", sleep.display());
    let (broker, ppid) = found[0];
    let program_is_parent = std::fs::read_link(format!("/proc/{ppid}/exe")).is_ok_and(|x| x == sleep);
    assert!(!program_is_parent, "the broker {broker} is the program's child");
}

/// A program that blocks every signal (in a worker thread, or around a
/// fork) or sets every handler to its default keeps working in the
/// sandbox: the kernel resets a blocked SIGSYS to its default when a
/// trap raises it, and the process would die at its next trapped call
/// (as CPython's subprocess child did on `cwd=`).
#[test]
fn blocking_or_resetting_every_signal_keeps_the_sandbox_working() {
    let t = tempfile::Builder::new().prefix("sigcap-run-sigsys.").tempdir().unwrap();
    std::fs::write(t.path().join("f.txt"), "x\n").unwrap();
    let script = r#"
import signal, threading
signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
def work():
    print(open("f.txt").read().strip(), flush=True)
w = threading.Thread(target=work)
w.start()
w.join()
signal.signal(signal.SIGSYS, signal.SIG_DFL)
print(open("f.txt").read().strip(), signal.SIGSYS in signal.pthread_sigmask(signal.SIG_BLOCK, []), flush=True)
"#;
    let r = run(t.path(), &[], &["/usr/bin/python3", "-c", script]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout(), "x\nx False\n");
}

/// A program that closes every descriptor it did not open (libcasper's
/// services do, daemons do; FreeBSD's syslogd reads its configuration in
/// one) stays connected to its broker and its log: a loop of close() up
/// to its own highest number, close_range(2) (CPython's closerange) and
/// closefrom(3), then files opened through the broker, and recorded.
/// Before, the process lost both: the opens failed with EPERM, and the
/// report had no record of them.
#[test]
fn closing_every_descriptor_keeps_the_broker_and_the_log() {
    let t = tmp();
    let d = t.path();
    std::fs::write(d.join("one.txt"), "one\n").unwrap();
    std::fs::write(d.join("two.txt"), "two\n").unwrap();
    std::fs::write(d.join("three.txt"), "three\n").unwrap();
    let script = "import os, ctypes\n\
                  for fd in range(3, 100):\n    try: os.close(fd)\n    except OSError: pass\n\
                  print(open('one.txt').read().strip())\n\
                  os.closerange(3, 1 << 20)\n\
                  print(open('two.txt').read().strip())\n\
                  ctypes.CDLL(None).closefrom(3)\n\
                  print(open('three.txt').read().strip())\n";
    let r = run(d, &[], &["/usr/bin/python3", "-c", script]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout(), "one\ntwo\nthree\n");
    for f in ["one.txt", "two.txt", "three.txt"] {
        let v = r.find("openat", f);
        assert_eq!(v.len(), 1, "{f} not recorded: {:#?}", r.violations());
        assert_eq!(v[0]["decision"], "allowed");
    }
}

#[test]
fn what_the_program_leaves_running_is_followed_to_its_end() {
    let t = tmp();
    let d = t.path();
    std::fs::write(d.join("data"), "later").unwrap();
    // The shell exits at once with 3; its background child reads a file
    // a second later. A tool that stopped at the shell's exit would have
    // neither the child's records nor its effect before it returned.
    let r = run(d, &[], &["sh", "-c", "(sleep 1; cat data > out) & exit 3"]);
    assert_eq!(r.code(), 3);
    assert_eq!(std::fs::read_to_string(d.join("out")).unwrap(), "later");
    let rep = r.report.unwrap();
    let cat = rep["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["programs"] == serde_json::json!(["cat"]))
        .unwrap_or_else(|| panic!("no cat in {}", rep["processes"]))
        .clone();
    let read = rep["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["syscall"] == "openat" && v["args"]["path"] == "data")
        .unwrap_or_else(|| panic!("no openat of data in the report"));
    assert!(read["pids"].as_array().unwrap().contains(&cat["pid"]), "{read}");
}

#[test]
fn a_signal_after_the_program_exited_reaches_what_it_left_running() {
    let t = tmp();
    let d = t.path();
    let marker = format!("31.{}", std::process::id());
    let script = format!("sleep {marker} & exit 0");
    let mut child = Command::new(TOOL)
        .current_dir(d)
        .arg("--shim")
        .arg(shim())
        .args(["--color", "never", "--report", "r.json", "--", "sh", "-c", &script])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let tool_pid = child.id() as i32;
    // The shell gone, its sleep confined and adopted by sigcap-run.
    let adopted = wait_until(20, || {
        processes_with(&marker).into_iter().any(|p| {
            confined(p)
                && std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                    s.rsplit(')').next().unwrap_or("").split_whitespace().nth(1) == Some(&tool_pid.to_string())
                })
        })
    });
    if !adopted {
        let _ = child.kill();
        panic!("the background sleep was never adopted by sigcap-run");
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "sigcap-run returned while the sleep ran"
    );
    let status = signal_and_wait(&mut child, libc::SIGTERM);
    // The program's own status, and the signal recorded as passed on.
    assert_eq!(status.code(), Some(0), "{status:?}");
    let rep: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    assert_eq!(rep["forwarded_signals"], serde_json::json!(["SIGTERM"]));
    assert_none_left(&marker);
}
