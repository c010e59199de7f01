//! exec on Linux (issue #11): the programs a confined program runs are
//! started by sigcap-run, confined from their first instruction, and
//! reported; output, exit status and effects match a plain run.
#![cfg(target_os = "linux")]
mod common;
use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
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

/// Python that finds the exec channel: the shim moved it to the first
/// free number from 512 up, beside the runtime's broker socket (`channels`:
/// the sockets there whose peer is sigcap-run, this process's parent).
const CHANNELS: &str = r#"
import os, stat, socket, struct
def to_tool(n):
    try:
        if not stat.S_ISSOCK(os.fstat(n).st_mode):
            return False
        s = socket.socket(fileno=os.dup(n))
        pid = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
        s.close()
        return pid == os.getppid()
    except OSError:
        return False
channels = [n for n in range(512, 1024) if to_tool(n)]
"#;

/// Hostile bytes on the exec channel: malformed requests, requests
/// without a reply socket, descriptors that do not match; the server
/// keeps answering, and an exec afterwards works.
#[test]
fn hostile_requests_on_the_exec_channel_are_dropped_and_the_server_survives() {
    let t = tmp();
    let d = t.path();
    let script = format!(
        "{CHANNELS}{}",
        r#"
import socket, array
fd = channels[0]
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
"#
    );
    let r = run(d, &[], &["/usr/bin/python3", "-c", &script]);
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

/// posix_spawn(p) with file actions and attributes, popen/pclose (CPython
/// through ctypes, so glibc's entry points), mawk's pipes (execl) and
/// make's recipes (posix_spawn): glibc reaches the kernel's execve
/// inside libc for all of them, so the shim answers them itself.
const SPAWN_PY: &str = r#"
import ctypes, os, signal
signal.alarm(30)  # a popen child that kept another stream's pipe would hang pclose
def out(*a): print(*a, flush=True)
def wait(pid): return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
fd = os.open("in.txt", os.O_RDONLY)
try:
    pid = os.posix_spawnp("tr", ["tr", "a-z", "A-Z"], os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, fd, 0), (os.POSIX_SPAWN_CLOSE, fd),
        (os.POSIX_SPAWN_OPEN, 1, "out.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)])
    out("tr", wait(pid), open("out.txt").read().strip())
except OSError as e:
    out("tr refused", e.errno)
os.close(fd)
probe = "import os, signal; print(os.getpgrp(), signal.SIGUSR1 in signal.pthread_sigmask(signal.SIG_BLOCK, [])); raise SystemExit(4)"
pid = os.posix_spawn("/usr/bin/python3", ["python3", "-c", probe], os.environ, setpgroup=0,
    setsigmask=[signal.SIGUSR1], file_actions=[(os.POSIX_SPAWN_OPEN, 1, "pg.txt", os.O_WRONLY | os.O_CREAT, 0o644)])
status = wait(pid)
group, blocked = open("pg.txt").read().split()
out("attributes", status, int(group) == pid, blocked)
try:
    os.posix_spawn("/nonexistent/prog", ["prog"], os.environ)
except OSError as e:
    out("missing", e.errno)
libc = ctypes.CDLL(None, use_errno=True)
libc.popen.restype = ctypes.c_void_p
libc.popen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.pclose.argtypes = [ctypes.c_void_p]
libc.fputs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
libc.fgets.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p]
f = libc.popen(b"echo read end; exit 5", b"r")
buf = ctypes.create_string_buffer(64)
libc.fgets(buf, 64, f)
out("popen r", buf.value.decode().strip(), os.waitstatus_to_exitcode(libc.pclose(f)))
f1 = libc.popen(b"cat > one.txt", b"w")
f2 = libc.popen(b"cat > two.txt", b"we")
libc.fputs(b"one\n", f1)
libc.fputs(b"two\n", f2)
out("pclose 1", libc.pclose(f1), open("one.txt").read().strip())
out("pclose 2", libc.pclose(f2), open("two.txt").read().strip())
out("bad mode", libc.popen(b"true", b"x"), ctypes.get_errno())
"#;

/// execle and execlp through ctypes: the environment after the NULL,
/// and the search of PATH.
const EXECLE: &str = r#"import ctypes; ctypes.CDLL(None).execle(b"/bin/sh", b"sh", b"-c", b"echo le $A; exit 6", None, (ctypes.c_char_p * 2)(b"A=1", None))"#;
const EXECLP: &str = r#"import ctypes; ctypes.CDLL(None).execlp(b"sh", b"sh", b"-c", b"echo lp", None)"#;

const MAWK: &str = r#"BEGIN { "echo hi from getline" | getline x; print x; print system("exit 2");
                   print "b\na" | "sort"; close("sort") }"#;

const MAKEFILE: &str = "all: one two\none:\n\t@echo one; sh -c 'exit 0'\ntwo:\n\techo two\nfail:\n\t@exit 3\n";

#[test]
fn posix_spawn_popen_and_the_execl_family_run_as_plainly_and_replay() {
    let t = tmp();
    let d = t.path();
    std::fs::write(d.join("spawn.py"), SPAWN_PY).unwrap();
    std::fs::write(d.join("in.txt"), "quiet\n").unwrap();
    std::fs::write(d.join("mk"), MAKEFILE).unwrap();
    let script = format!(
        "/usr/bin/python3 spawn.py; /usr/bin/python3 -c '{EXECLE}'; /usr/bin/python3 -c '{EXECLP}'; \
         mawk '{MAWK}'; make -s -f mk; make -s -f mk fail 2>/dev/null; echo make $?"
    );
    let cmd = ["sh", "-c", script.as_str()];
    let want = plain(d, &cmd);
    let want = String::from_utf8_lossy(&want.stdout).into_owned();
    // What a plain run prints, so that a broken plain run is not compared.
    assert!(
        want.starts_with("tr 0 QUIET\nattributes 4 True True\nmissing 2\npopen r read end 5\n"),
        "{want}"
    );
    assert!(
        want.contains(
            "pclose 1 0 one\npclose 2 0 two\nbad mode None 22\nle 1\nlp\nhi from getline\n2\na\nb\none\ntwo\nmake 2\n"
        ),
        "{want}"
    );
    let pol = s(&d.join("p.toml"));
    let r = run(d, &["--suggest-policy", &pol], &cmd);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout(), want);
    // Each image is a process of the report (the execs of one directory
    // are grouped into one entry, with samples), and every exec allowed.
    let rep = r.report.as_ref().unwrap();
    let images: BTreeSet<&str> = rep["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["programs"][0].as_str())
        .collect();
    for name in ["tr", "python3", "cat", "sort", "mawk", "make", "echo"] {
        assert!(images.contains(name), "no {name} image: {images:?}");
    }
    let execs: Vec<_> = r
        .violations()
        .into_iter()
        .filter(|v| v["syscall"] == "execve")
        .collect();
    assert!(!execs.is_empty());
    assert!(execs.iter().all(|v| v["decision"] == "allowed"), "{execs:#?}");

    // Enforced, a program outside every exec rule is refused before the
    // file system is asked (EACCES, not ENOENT: no oracle of existence).
    let want = want.replace("missing 2\n", "missing 13\n");
    let again = run(d, &["--policy", &pol], &cmd);
    assert_eq!(again.code(), 0, "{}", again.stderr());
    assert_eq!(again.stdout(), want);

    // The suggested policy with tr readable and not executable: the
    // spawn fails with the errno execve would give, and the report names
    // the denial.
    let suggested = sigcap::Policy::from_file(&pol).unwrap();
    let mut n = sigcap::Policy::new();
    for rule in suggested.fs_rules().iter().filter(|r| r.root != Path::new("/usr/bin")) {
        n.allow_fs(&rule.root, rule.access).unwrap();
    }
    n.allow_fs("/usr/bin", sigcap::Access::READ).unwrap();
    // Each program this run starts, by the name it is started by (mawk
    // and make name /bin/sh) and by the file that name resolves to.
    let run_ = sigcap::Access::READ | sigcap::Access::EXEC;
    let names = ["python3", "sh", "cat", "sort", "mawk", "make", "echo"];
    let named = names
        .iter()
        .map(|p| Path::new("/usr/bin").join(p))
        .chain([PathBuf::from("/bin/sh")]);
    let programs: BTreeSet<PathBuf> = named.flat_map(|p| [std::fs::canonicalize(&p).unwrap(), p]).collect();
    for p in &programs {
        n.allow_fs(p, run_).unwrap();
    }
    let narrow = d.join("narrow.toml");
    std::fs::write(&narrow, n.to_toml()).unwrap();
    let refused = run(d, &["--policy", &s(&narrow)], &cmd);
    assert_eq!(refused.code(), 0, "{}", refused.stderr());
    assert_eq!(refused.stdout(), want.replace("tr 0 QUIET", "tr refused 13"));
    let v = refused.find("execve", "/usr/bin/tr");
    assert_eq!(v[0]["decision"], "denied", "{v:#?}");
    assert_eq!(v[0]["reason"], "no-rule");
}

/// CPython's subprocess vforks, closes every descriptor past those it
/// passes (close_range) and execs; its parent reads the output only
/// once the call returned. The channel to sigcap-run outlives the
/// close_range, and the parent is not held while the image runs (seq
/// writes more than a pipe holds).
#[test]
fn cpython_subprocess_runs_and_reads_more_than_a_pipe_holds() {
    let t = tmp();
    let d = t.path();
    let script = r#"
import os, subprocess
r = subprocess.run(["seq", "100000"], capture_output=True)
print(r.returncode, len(r.stdout), r.stdout.splitlines()[-1].decode(), flush=True)
print(subprocess.run("exit 4", shell=True).returncode, flush=True)
rfd, wfd = os.pipe()
p = subprocess.Popen(["sh", "-c", "echo via $0 >&" + str(wfd), "pass_fds"], pass_fds=[wfd])
os.close(wfd)
print(p.wait(), os.read(rfd, 100).decode().strip(), flush=True)
print(subprocess.check_output(["pwd"], cwd="/usr").decode().strip(), flush=True)
try:
    subprocess.run(["/nonexistent/prog"])
except FileNotFoundError as e:
    print("missing", e.errno, flush=True)
"#;
    let cmd = ["/usr/bin/python3", "-c", script];
    let want = plain(d, &cmd);
    let want = String::from_utf8_lossy(&want.stdout).into_owned();
    assert_eq!(want, "0 588895 100000\n4\n0 via pass_fds\n/usr\nmissing 2\n");
    let r = run(d, &[], &cmd);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout(), want);
    assert_eq!(r.find("execve", "/usr/bin/seq")[0]["decision"], "allowed");
}

/// A shell that takes the channel's number for a file of its own (`exec
/// N>file`, a dup2) and closes it: the shim moved the channel first, so
/// the file gets the writes and the next exec still reaches sigcap-run.
#[test]
fn a_program_taking_the_channels_number_keeps_both() {
    let t = tmp();
    let d = t.path();
    let script = format!(
        "{CHANNELS}{}",
        r#"
import subprocess
ch = channels
print(len(ch), flush=True)
fd = os.open("f.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.dup2(fd, ch[0])
os.write(ch[0], b"mine\n")
os.closerange(3, 1000)
print(subprocess.run(["cat", "f.txt"], capture_output=True).stdout.decode().strip(), flush=True)
"#
    );
    let r = run(d, &[], &["/usr/bin/python3", "-c", &script]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout(), "1\nmine\n");
}

/// A `#!` script named as the program (as `gunzip`, `which` or a pyenv
/// shim are) runs through its interpreter, which the shim is loaded into;
/// `#!/usr/bin/env sh` reaches its interpreter by a brokered exec. Output
/// and status match a plain run, and the suggested policy replays. An
/// interpreter that is a script, or static, is refused before anything
/// runs.
#[test]
fn a_script_named_as_the_program_runs_through_its_interpreter() {
    use std::os::unix::fs::PermissionsExt;
    let t = tmp();
    let d = t.path();
    let script = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        s(&p)
    };
    std::fs::write(d.join("in.txt"), "data\n").unwrap();
    let direct = script(
        "direct",
        "#!/bin/sh\necho \"$0 $#: $*\"; cat in.txt; echo out > out.txt; exit 3\n",
    );
    let via_env = script("via-env", "#!/usr/bin/env sh\necho via env \"$@\"; cat in.txt\n");
    for (prog, args) in [(&direct, vec!["a", "b c"]), (&via_env, vec!["x"])] {
        let mut cmd = vec![prog.as_str()];
        cmd.extend(args);
        let want = plain(d, &cmd);
        let _ = std::fs::remove_file(d.join("out.txt"));
        let pol = s(&d.join("p.toml"));
        let r = run(d, &["--suggest-policy", &pol], &cmd);
        assert_eq!(r.code(), want.status.code().unwrap(), "{}", r.stderr());
        assert_eq!(r.stdout(), String::from_utf8_lossy(&want.stdout));
        // The interpreter is confined: it read the script and the file
        // through the sandbox.
        assert!(!r.find("openat", prog).is_empty(), "{:#?}", r.violations());
        assert!(!r.find("openat", "in.txt").is_empty(), "{:#?}", r.violations());
        let wrote = |r: &Run| {
            let made = std::fs::read_to_string(d.join("out.txt")).ok();
            let _ = std::fs::remove_file(d.join("out.txt"));
            assert_eq!(made.as_deref(), (prog == &direct).then_some("out\n"), "{}", r.stderr());
        };
        wrote(&r);
        let replay = run(d, &["--policy", &pol], &cmd);
        assert_eq!(replay.code(), want.status.code().unwrap(), "{}", replay.stderr());
        assert_eq!(replay.stdout(), r.stdout());
        wrote(&replay);
    }

    let nested = script("nested", &format!("#!{direct}\n"));
    let r = run(d, &[], &[&nested]);
    assert_eq!(r.code(), 125);
    assert!(r.stderr().contains("is a script itself"), "{}", r.stderr());
    if let Some(st) = cc(d, "static", "int main(void){return 0;}", &["-static"]) {
        let on_static = script("on-static", &format!("#!{}\n", s(&st)));
        let r = run(d, &[], &[&on_static]);
        assert_eq!(r.code(), 125);
        assert!(r.stderr().contains("statically linked"), "{}", r.stderr());
    }
    let missing = script("missing", "#!/nonexistent/sigcap-interp\n");
    let r = run(d, &[], &[&missing]);
    assert_eq!(r.code(), 125);
    assert!(r.stderr().contains("/nonexistent/sigcap-interp"), "{}", r.stderr());
}
