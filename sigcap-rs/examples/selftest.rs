//! In-guest self-test of the sigcap runtime, also runnable on Linux.
//!
//! Each case runs in a forked child (entering is irreversible) and prints
//! one line in the guest protocol the xtask parses:
//! `SIGCAP-TEST sigcap <case> pass|fail|skip [reason]`.
//!
//! ```text
//! selftest [--expect-backend freebsd-sigcap|freebsd-sigtrap|linux-seccomp|by-kernel]
//! ```
//!
//! `by-kernel` expects `freebsd-sigcap` when the running kernel has the
//! SIGCAP series (the `kern.trap_enotcap_signal` sysctl exists) and
//! `freebsd-sigtrap` otherwise, so one guest image line serves the patched
//! and the stock kernel.
use sigcap::{Decision, DenyReason, Mode, Sandbox};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;

type Case = Result<(), String>;

fn check(cond: bool, what: impl FnOnce() -> String) -> Case {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

/// The errno a refused call returns on this system.
fn refused() -> i32 {
    #[cfg(target_os = "freebsd")]
    return libc::ECAPMODE;
    #[cfg(not(target_os = "freebsd"))]
    return libc::EPERM;
}

fn exe_dir() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().expect("parent").to_owned();
    (exe, dir)
}

fn last(sb: &Sandbox) -> Result<sigcap::Violation, String> {
    sb.take_violations()
        .last()
        .copied()
        .ok_or_else(|| "no violation recorded".to_string())
}

fn fallback_file(expect: Option<&str>) -> Case {
    let (exe, dir) = exe_dir();
    let before = std::fs::read(&exe).map_err(|e| e.to_string())?;
    let sb = Sandbox::builder()
        .read_beneath(&dir)
        .enter()
        .map_err(|e| e.to_string())?;
    if let Some(k) = expect {
        check(sb.backend().name() == k, || {
            format!("backend {} != {k}", sb.backend().name())
        })?;
    }
    let after = std::fs::read(&exe).map_err(|e| format!("brokered read: {e}"))?;
    check(after == before, || "brokered read returned other bytes".into())?;
    let v = last(&sb)?;
    check(matches!(v.decision(), Decision::Allowed { .. }), || {
        format!("decision {:?}", v.decision())
    })?;
    let m = std::fs::metadata(&exe).map_err(|e| format!("brokered stat: {e}"))?;
    check(m.len() == before.len() as u64, || "stat size differs".into())?;
    let n = std::fs::read_dir(&dir)
        .map_err(|e| format!("brokered opendir: {e}"))?
        .count();
    check(n >= 1, || "empty directory listing".into())
}

fn denied_and_escape(_: Option<&str>) -> Case {
    let (exe, dir) = exe_dir();
    let sb = Sandbox::builder()
        .read_beneath(&dir)
        .enter()
        .map_err(|e| e.to_string())?;
    let e = std::fs::read("/etc/passwd").err().ok_or("outside read succeeded")?;
    check(e.raw_os_error() == Some(refused()), || format!("errno {e}"))?;
    let v = last(&sb)?;
    check(v.decision() == Decision::Denied(DenyReason::NoRule), || {
        format!("decision {:?}", v.decision())
    })?;
    check(v.errno() == refused(), || format!("recorded errno {}", v.errno()))?;
    let name = exe.file_name().unwrap().to_string_lossy().into_owned();
    let up = dir
        .join("..")
        .join(
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        )
        .join(&name);
    let e = std::fs::read(&up).err().ok_or("'..' escape succeeded")?;
    check(e.raw_os_error() == Some(refused()), || format!("escape errno {e}"))?;
    let v = last(&sb)?;
    check(v.decision() == Decision::Denied(DenyReason::Escape), || {
        format!("escape decision {:?}", v.decision())
    })
}

fn connect(_: Option<&str>) -> Case {
    let l = match TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => return Err(format!("SKIP no loopback: {e}")),
    };
    let addr = l.local_addr().unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    // Enter first, then start the server thread: enter() forks the broker,
    // and a fork taken while another thread holds a libc lock can leave the
    // broker stuck on it (seen once in the guest).
    let sb = Sandbox::builder()
        .connect(&addr.to_string())
        .enter()
        .map_err(|e| e.to_string())?;
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.write_all(b"pong").unwrap();
    });
    let mut s = String::new();
    TcpStream::connect(addr)
        .and_then(|mut c| c.read_to_string(&mut s))
        .map_err(|e| format!("brokered connect: {e}"))?;
    t.join().unwrap();
    check(s == "pong", || format!("read {s:?}"))?;
    let e = TcpStream::connect(other)
        .err()
        .ok_or("connect to other port succeeded")?;
    check(e.raw_os_error() == Some(refused()), || format!("errno {e}"))?;
    check(last(&sb)?.decision() == Decision::Denied(DenyReason::NoRule), || {
        "decision".into()
    })
}

fn report_mode(_: Option<&str>) -> Case {
    let (exe, dir) = exe_dir();
    let sb = Sandbox::builder()
        .read_beneath(&dir)
        .mode(Mode::Report)
        .enter()
        .map_err(|e| e.to_string())?;
    let e = std::fs::read(&exe).err().ok_or("report mode brokered")?;
    check(e.raw_os_error() == Some(refused()), || format!("errno {e}"))?;
    let v = last(&sb)?;
    check(v.decision() == Decision::Reported, || {
        format!("decision {:?}", v.decision())
    })?;
    check(
        v.detail()
            .is_some_and(|d| d.ends_with(&*exe.file_name().unwrap().to_string_lossy())),
        || "detail".into(),
    )
}

fn threads(_: Option<&str>) -> Case {
    let (exe, dir) = exe_dir();
    let sb = Sandbox::builder()
        .read_beneath(&dir)
        .enter()
        .map_err(|e| e.to_string())?;
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let exe = exe.clone();
            std::thread::spawn(move || (0..50).all(|_| std::fs::File::open(&exe).is_ok()))
        })
        .collect();
    let ok = hs.into_iter().all(|h| h.join().unwrap_or(false));
    check(ok, || "a brokered open failed under concurrency".into())?;
    check(sb.stats().allowed >= 200, || format!("{:?}", sb.stats()))
}

fn fork_child(_: Option<&str>) -> Case {
    let (exe, dir) = exe_dir();
    let _sb = Sandbox::builder()
        .read_beneath(&dir)
        .enter()
        .map_err(|e| e.to_string())?;
    // SAFETY: fork; the child opens a file and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let ok = std::fs::File::open(&exe).is_ok();
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut st = 0;
    unsafe { libc::waitpid(pid, &mut st, 0) };
    check(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0, || {
        format!("child status {st:#x}")
    })
}

fn abort_mode(_: Option<&str>) -> Case {
    let (status, out) = in_grandchild(|| {
        let _ = Sandbox::builder().mode(Mode::Abort).enter();
        let _ = std::fs::read("/etc/passwd");
    });
    check(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGABRT,
        || format!("status {status:#x}"),
    )?;
    check(
        out.contains("capability violation") && out.contains("/etc/passwd"),
        || format!("stderr {out:?}"),
    )
}

fn unsupported_call_is_recorded(_: Option<&str>) -> Case {
    if !cfg!(target_os = "freebsd") {
        return Err("SKIP signals to other processes are not trapped by the Linux emulation".into());
    }
    let sb = Sandbox::builder().enter().map_err(|e| e.to_string())?;
    // SAFETY: kill(2) of pid 1 with signal 0 only checks permission.
    let r = unsafe { libc::kill(1, 0) };
    check(r == -1, || "kill(1) allowed in capability mode".into())?;
    let v = last(&sb)?;
    check(v.decision() == Decision::Unsupported, || {
        format!("decision {:?}", v.decision())
    })?;
    check(v.syscall_name() == "kill", || format!("syscall {}", v.syscall_name()))?;
    if sb.backend() == sigcap::BackendKind::FreeBsdSigcap {
        check(v.class() == sigcap::Class::Signal, || format!("class {:?}", v.class()))?;
    }
    Ok(())
}

fn breakpoint_passes_through(_: Option<&str>) -> Case {
    if !cfg!(all(target_os = "freebsd", target_arch = "x86_64")) {
        return Err("SKIP only the FreeBSD SIGTRAP backend shares its signal with breakpoints".into());
    }
    let (status, _) = in_grandchild(|| {
        let _ = Sandbox::builder().enter();
        // SAFETY: a breakpoint trap; the default SIGTRAP action must run.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            std::arch::asm!("int3")
        };
    });
    let sb_kind_is_trap = libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGTRAP;
    check(sb_kind_is_trap, || {
        format!("breakpoint status {status:#x} (expected death by SIGTRAP)")
    })
}

/// Runs `f` in a forked child, handing it the write end of a pipe;
/// returns the child's wait status and what it wrote there.
fn forked(f: impl FnOnce(i32)) -> (i32, String) {
    let mut fds = [0; 2];
    // SAFETY: pipe into a two-element array.
    unsafe { libc::pipe(fds.as_mut_ptr()) };
    let _ = std::io::stdout().flush();
    // SAFETY: fork; the child runs f and exits without unwinding into ours.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe { libc::close(fds[0]) };
        f(fds[1]);
        unsafe { libc::_exit(0) };
    }
    unsafe { libc::close(fds[1]) };
    let mut out = String::new();
    // SAFETY: we own the read end.
    let mut r = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
    let _ = r.read_to_string(&mut out);
    let mut st = 0;
    unsafe { libc::waitpid(pid, &mut st, 0) };
    (st, out)
}

/// Runs `f` in a child with stderr captured and core dumps off.
fn in_grandchild(f: impl FnOnce()) -> (i32, String) {
    forked(|w| {
        // SAFETY: plain descriptor and rlimit calls in the child.
        unsafe {
            libc::dup2(w, 2);
            let rl = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &rl);
        }
        f();
    })
}

/// The backend this kernel should give: SIGCAP when the series is in.
fn backend_of_kernel() -> String {
    #[cfg(target_os = "freebsd")]
    {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>();
        // SAFETY: a NUL-terminated name and an int-sized output buffer.
        let r = unsafe {
            libc::sysctlbyname(
                c"kern.trap_enotcap_signal".as_ptr(),
                (&raw mut v).cast(),
                &mut len,
                std::ptr::null(),
                0,
            )
        };
        if r == 0 {
            "freebsd-sigcap".into()
        } else {
            "freebsd-sigtrap".into()
        }
    }
    #[cfg(not(target_os = "freebsd"))]
    "linux-seccomp".into()
}

/// A self-test case: given the expected backend, its outcome.
type CaseFn = fn(Option<&str>) -> Case;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let expect = args
        .iter()
        .position(|a| a == "--expect-backend")
        .and_then(|i| args.get(i + 1))
        .map(|k| {
            if k == "by-kernel" {
                backend_of_kernel()
            } else {
                k.clone()
            }
        });
    if let Some(k) = &expect {
        println!("selftest: expecting backend {k}");
    }
    let cases: [(&str, CaseFn); 9] = [
        ("fallback_file", fallback_file),
        ("denied_and_escape", denied_and_escape),
        ("connect", connect),
        ("report_mode", report_mode),
        ("abort_mode", abort_mode),
        ("threads", threads),
        ("fork_child", fork_child),
        ("unsupported_call_is_recorded", unsupported_call_is_recorded),
        ("breakpoint_passes_through", breakpoint_passes_through),
    ];
    let mut failed = 0;
    for (name, case) in cases {
        let (st, mut msg) = forked(|w| {
            let msg = match case(expect.as_deref()) {
                Ok(()) => "pass".to_string(),
                Err(m) if m.starts_with("SKIP ") => format!("skip {}", &m[5..]),
                Err(m) => format!("fail {m}"),
            };
            // SAFETY: writing our own buffer.
            unsafe { libc::write(w, msg.as_ptr().cast(), msg.len()) };
        });
        if msg.is_empty() {
            msg = format!("fail case process died (status {st:#x})");
        }
        if msg.starts_with("fail") {
            failed += 1;
        }
        println!("SIGCAP-TEST sigcap {name} {msg}");
    }
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
