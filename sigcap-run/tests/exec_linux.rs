//! exec on Linux (issue #11): the programs a confined program runs are
//! started by sigcap-run, confined from their first instruction, and
//! reported; output, exit status and effects match a plain run.
#![cfg(target_os = "linux")]
mod common;
use common::*;
use std::path::Path;
use std::process::Command;

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("sigcap-run-exec.").tempdir().unwrap()
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn plain(dir: &Path, cmd: &[&str]) -> std::process::Output {
    Command::new(cmd[0])
        .args(&cmd[1..])
        .current_dir(dir)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap()
}

const PIPELINE: &str = "cat a.txt | tr a-z A-Z | wc -c; find . -name '*.txt' -exec cat {} + | sort; \
                        sh -c 'exit 7'; echo status $?; mkdir -p x/y; ls -d x/y";

#[test]
fn pipelines_find_exec_and_statuses_work_and_replay_their_policy() {
    let t = tmp();
    let d = t.path();
    std::fs::write(d.join("a.txt"), "hello\n").unwrap();
    std::fs::write(d.join("b.txt"), "world\n").unwrap();
    let cmd = ["sh", "-c", PIPELINE];
    let want = plain(d, &cmd);
    std::fs::remove_dir_all(d.join("x")).unwrap();
    let pol = s(&d.join("p.toml"));
    let r = run(d, &["--suggest-policy", &pol], &cmd);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout(), String::from_utf8_lossy(&want.stdout));
    assert!(r.stdout().contains("status 7\n"), "{}", r.stdout());
    // One report for the tree: each exec recorded, allowed, with the pid
    // of the process that asked; each image a process of its own whose
    // parent is that process.
    let rep = r.report.as_ref().unwrap();
    for prog in [
        "/usr/bin/cat",
        "/usr/bin/tr",
        "/usr/bin/wc",
        "/usr/bin/find",
        "/usr/bin/sort",
    ] {
        let e = r.find("execve", prog);
        assert!(!e.is_empty(), "{prog} not reported: {:#?}", r.violations());
        assert_eq!(e[0]["decision"], "allowed");
        // Entries of one directory are grouped: their askers together.
        let askers = e[0]["pids"].as_array().unwrap();
        let name = Path::new(prog).file_name().unwrap().to_str().unwrap();
        let procs = rep["processes"].as_array().unwrap();
        assert!(
            procs
                .iter()
                .any(|p| askers.contains(&p["ppid"]) && p["programs"][0] == name),
            "no {name} image under {askers:?}: {procs:#?}"
        );
    }

    // The suggested policy grants exec on the programs (one rule for
    // /usr/bin: the run used many of its entries), and is enough.
    let text = std::fs::read_to_string(&pol).unwrap();
    assert!(
        text.contains("path = \"/usr/bin\"\naccess = [\"read\", \"exec\"]"),
        "{text}"
    );
    std::fs::remove_dir_all(d.join("x")).unwrap();
    let again = run(d, &["--policy", &pol], &cmd);
    assert_eq!(again.code(), 0, "{}", again.stderr());
    assert_eq!(again.stdout(), String::from_utf8_lossy(&want.stdout));
    assert!(d.join("x/y").is_dir());

    // The same with each program on its own rule, but tr readable and
    // not executable: tr cannot run, and the report says why.
    let narrow = d.join("narrow.toml");
    let suggested = sigcap::Policy::from_file(&pol).unwrap();
    let mut n = sigcap::Policy::new();
    for r in suggested.fs_rules().iter().filter(|r| r.root != Path::new("/usr/bin")) {
        n.allow_fs(&r.root, r.access).unwrap();
    }
    let run_ = sigcap::Access::READ | sigcap::Access::EXEC;
    for p in ["cat", "wc", "find", "sort", "mkdir", "ls", "sh", "dash"] {
        n.allow_fs(Path::new("/usr/bin").join(p), run_).unwrap();
    }
    n.allow_fs("/usr/bin/tr", sigcap::Access::READ).unwrap();
    std::fs::write(&narrow, n.to_toml()).unwrap();
    std::fs::remove_dir_all(d.join("x")).unwrap();
    let refused = run(d, &["--policy", &s(&narrow)], &cmd);
    assert!(
        refused.stderr().contains("tr: Permission denied"),
        "{}",
        refused.stderr()
    );
    assert!(!refused.stdout().contains("HELLO"));
    let v = refused.find("execve", "/usr/bin/tr");
    assert_eq!(v[0]["decision"], "denied", "{v:#?}");
    assert_eq!(v[0]["reason"], "no-rule");
}

/// `sh -c script` under sigcap-run (permissive), in a directory of its own.
fn sh_c(script: &str) -> Run {
    let t = tmp();
    run(t.path(), &[], &["sh", "-c", script])
}

#[test]
fn an_image_dies_of_the_signal_that_killed_its_program_and_system_works() {
    let r = sh_c(
        "sh -c 'kill -TERM $$'; echo killed $?; /usr/bin/python3 -c 'import os; print(os.system(\"exit 3\") >> 8)'",
    );
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout(), "killed 143\n3\n");
}

/// What the sandboxed process puts in the environment cannot load code
/// into the image before it is confined again, nor speak for sigcap-run.
#[test]
fn the_image_gets_no_loader_variables_from_the_sandbox() {
    let r = sh_c("LD_LIBRARY_PATH=/tmp LD_AUDIT=/tmp/x.so SIGCAP_RUN_POLICY=/nonexistent env");
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let out = r.stdout();
    assert!(!out.contains("LD_LIBRARY_PATH") && !out.contains("LD_AUDIT"), "{out}");
    assert!(!out.contains("SIGCAP_RUN_POLICY"), "{out}");
    let preload: Vec<&str> = out.lines().filter(|l| l.starts_with("LD_PRELOAD=")).collect();
    assert_eq!(preload.len(), 1, "{out}");
    assert!(preload[0].contains("sigcap_run_shim"), "{out}");
}

/// Hostile bytes on the exec channel: malformed requests, requests
/// without a reply socket, descriptors that do not match; the server
/// keeps answering, and an exec afterwards works.
#[test]
fn hostile_requests_on_the_exec_channel_are_dropped_and_the_server_survives() {
    let t = tmp();
    let d = t.path();
    let script = r#"
import os, socket, array
fd = int(os.environ["SIGCAP_RUN_EXEC_FD"])
ch = socket.socket(fileno=os.dup(fd))
def ask(data, fds):
    try:
        ch.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else [])
    except OSError as e:
        print("send", e.errno)
mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
ask(b"garbage", [theirs.fileno()])
mine.settimeout(10)
print("garbage ->", mine.recv(5)[:1])
ask(b"SCI1" + b"\xff" * 64, [theirs.fileno()])
print("lengths ->", mine.recv(5)[:1])
ask(b"no reply socket", [])
r, w = os.pipe()
ask(b"SCI1", [r])
print(os.system("echo after") >> 8)
"#;
    let r = run(d, &[], &["/usr/bin/python3", "-c", script]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout(), "garbage -> b'E'\nlengths -> b'E'\nafter\n0\n");
}

/// A FIFO under an exec rule (permissive: every path) is not run, and
/// asking for it does not hold the caller: sigcap-run opens the file
/// without blocking and refuses what is not a regular file, as execve
/// does (EACCES). A blocking open would wait for a writer that never
/// comes, and the caller would give up after its 30 s bound with EIO.
#[test]
fn exec_of_a_fifo_is_refused_at_once() {
    let t = tmp();
    let d = t.path();
    let started = std::time::Instant::now();
    let r = run(d, &[], &["sh", "-c", "mkfifo f; ./f; echo $?"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the exec waited"
    );
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout(), "126\n");
    assert!(r.stderr().contains("f: Permission denied"), "{}", r.stderr());
}
