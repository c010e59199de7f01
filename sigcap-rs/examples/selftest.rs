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

/// Enters with four live threads opening files in a loop (issue #11):
/// the broker is started by exec, so no lock they hold is copied into it;
/// they keep working through enter(), their opens are answered after it,
/// and wait() never returns the broker (Linux: not our child; FreeBSD:
/// pdfork'ed, which wait(-1) skips).
fn threads_at_enter(_: Option<&str>) -> Case {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let (exe, dir) = exe_dir();
    let stop = Arc::new(AtomicBool::new(false));
    let opens = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let (exe, stop, opens) = (exe.clone(), stop.clone(), opens.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    if std::fs::File::open(&exe)
                        .and_then(|mut f| f.read(&mut [0u8; 64]))
                        .is_err()
                    {
                        return false;
                    }
                    opens.fetch_add(1, Ordering::Relaxed);
                }
                true
            })
        })
        .collect();
    let start = std::time::Instant::now();
    while opens.load(Ordering::Relaxed) < 40 && start.elapsed().as_secs() < 20 {
        std::thread::yield_now();
    }
    let sb = Sandbox::builder().read_beneath(&dir).enter();
    let at_enter = opens.load(Ordering::Relaxed);
    let mut more = false;
    while sb.is_ok() && start.elapsed().as_secs() < 40 {
        if opens.load(Ordering::Relaxed) >= at_enter + 200 {
            more = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    stop.store(true, Ordering::Release);
    let ok = hs.into_iter().all(|h| h.join().unwrap_or(false));
    let sb = sb.map_err(|e| e.to_string())?;
    check(ok, || "a thread's open failed across enter()".into())?;
    check(more, || format!("the threads stopped after enter(): {:?}", sb.stats()))?;
    check(sb.stats().allowed >= 200, || format!("{:?}", sb.stats()))?;
    // No child at all: a blocking wait(-1) fails at once with ECHILD.
    // SAFETY: waitpid for any child.
    let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) };
    let e = std::io::Error::last_os_error().raw_os_error();
    check(r != sb.broker_pid(), || "wait() returned the broker".into())?;
    check((r, e) == (-1, Some(libc::ECHILD)), || format!("wait(-1) = {r}, {e:?}"))?;
    // And the broker still answers.
    check(std::fs::File::open(&exe).is_ok(), || "open after wait() failed".into())
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

/// A fresh directory for a case, outside the executable's directory.
fn scratch(tag: &str) -> Result<PathBuf, String> {
    let d = std::env::temp_dir().join(format!("sigcap-selftest-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).map_err(|e| format!("SKIP cannot create {}: {e}", d.display()))?;
    Ok(d)
}

/// Runs `f` (which enters) in a child, so that the caller can clean up
/// outside capability mode; returns its result.
fn confined(f: impl FnOnce() -> Case) -> Case {
    let (st, msg) = forked(|w| {
        let msg = match f() {
            Ok(()) => "ok".to_string(),
            Err(m) => m,
        };
        // SAFETY: writing our own buffer.
        unsafe { libc::write(w, msg.as_ptr().cast(), msg.len()) };
    });
    match msg.as_str() {
        "ok" => Ok(()),
        "" => Err(format!("confined child died (status {st:#x})")),
        _ => Err(msg),
    }
}

fn cpath(p: &std::path::Path) -> std::ffi::CString {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap()
}

/// errno of the last call, and whether it failed with ENOTCAPABLE.
#[cfg(target_os = "freebsd")]
fn notcapable(r: libc::c_int, what: &str) -> Case {
    let e = std::io::Error::last_os_error();
    check(r == -1 && e.raw_os_error() == Some(libc::ENOTCAPABLE), || {
        format!("{what}: returned {r}, {e} (expected ENOTCAPABLE)")
    })
}

/// Every violation since the last take: left failing, not brokered.
#[cfg(target_os = "freebsd")]
fn none_brokered(sb: &Sandbox, allowed_before: u64, what: &str) -> Case {
    for v in sb.take_violations() {
        check(
            matches!(v.decision(), Decision::NotBrokered | Decision::Unsupported),
            || format!("{what}: {} was {:?}", v.syscall_name(), v.decision()),
        )?;
        if v.decision() == Decision::NotBrokered {
            check(v.class() == sigcap::Class::NotCapable, || {
                format!("{what}: {} class {:?}", v.syscall_name(), v.class())
            })?;
        }
    }
    check(sb.stats().allowed == allowed_before, || {
        format!("{what}: the broker allowed something: {:?}", sb.stats())
    })
}

/// Issue #10, finding 1: a descriptor the broker hands out under a read
/// rule refuses write, create, unlink, link and fchmod in the kernel
/// (ENOTCAPABLE), and none of it is brokered.
fn read_rule_descriptor_is_limited(_: Option<&str>) -> Case {
    #[cfg(not(target_os = "freebsd"))]
    return Err("SKIP Capsicum rights are FreeBSD's (Linux: Landlock, tests/linux_attacks.rs)".into());
    #[cfg(target_os = "freebsd")]
    {
        let d = scratch("rd")?;
        std::fs::write(d.join("f"), "keep").map_err(|e| e.to_string())?;
        let r = confined(|| {
            let sb = Sandbox::builder().read_beneath(&d).enter().map_err(|e| e.to_string())?;
            // SAFETY: plain calls on C strings and descriptors we own.
            unsafe {
                let dfd = libc::open(cpath(&d).as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
                check(dfd >= 0, || {
                    format!("brokered open of the root: {}", std::io::Error::last_os_error())
                })?;
                let ffd = libc::open(cpath(&d.join("f")).as_ptr(), libc::O_RDONLY);
                check(ffd >= 0, || "brokered open of f".into())?;
                sb.take_violations();
                let allowed = sb.stats().allowed;
                notcapable(
                    libc::openat(dfd, c"new".as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o600),
                    "openat(O_WRONLY|O_CREAT)",
                )?;
                notcapable(libc::openat(dfd, c"f".as_ptr(), libc::O_RDWR), "openat(f, O_RDWR)")?;
                notcapable(libc::unlinkat(dfd, c"f".as_ptr(), 0), "unlinkat")?;
                notcapable(libc::linkat(dfd, c"f".as_ptr(), dfd, c"g".as_ptr(), 0), "linkat")?;
                notcapable(libc::mkdirat(dfd, c"sub".as_ptr(), 0o700), "mkdirat")?;
                notcapable(libc::fchmod(ffd, 0o777), "fchmod")?;
                notcapable(libc::fchmodat(dfd, c"f".as_ptr(), 0o777, 0), "fchmodat")?;
                notcapable(libc::ftruncate(ffd, 0), "ftruncate")?;
                // What a read rule allows works in the kernel, without a trap.
                let g = libc::openat(dfd, c"f".as_ptr(), libc::O_RDONLY);
                check(g >= 0, || {
                    format!("openat(f, O_RDONLY): {}", std::io::Error::last_os_error())
                })?;
                let mut b = [0u8; 8];
                let n = libc::read(g, b.as_mut_ptr().cast(), b.len());
                check(n == 4 && &b[..4] == b"keep", || format!("read {n} bytes"))?;
                none_brokered(&sb, allowed, "read rule")
            }
        });
        let untouched = std::fs::read(d.join("f")).ok().as_deref() == Some(&b"keep"[..])
            && !d.join("new").exists()
            && !d.join("g").exists()
            && !d.join("sub").exists();
        let _ = std::fs::remove_dir_all(&d);
        r?;
        check(untouched, || "the read-only root was changed".into())
    }
}

/// Issue #10, finding 2: a descriptor the program limited itself stays
/// limited under a rule that would allow more; the failure is recorded as
/// not brokered (class notcapable).
fn own_limit_stays(_: Option<&str>) -> Case {
    #[cfg(not(target_os = "freebsd"))]
    return Err("SKIP cap_rights_limit is FreeBSD's".into());
    #[cfg(target_os = "freebsd")]
    {
        let d = scratch("own")?;
        std::fs::write(d.join("f"), "keep").map_err(|e| e.to_string())?;
        let r = confined(|| {
            let sb = Sandbox::builder()
                .write_beneath(&d)
                .enter()
                .map_err(|e| e.to_string())?;
            // SAFETY: plain calls; cap_rights_t built by the C library.
            unsafe {
                let dfd = libc::open(cpath(&d).as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
                let ffd = libc::open(cpath(&d.join("f")).as_ptr(), libc::O_RDWR);
                check(dfd >= 0 && ffd >= 0, || "brokered opens under a write rule".into())?;
                let mut rights: libc::cap_rights_t = std::mem::zeroed();
                libc::__cap_rights_init(
                    0,
                    &mut rights,
                    libc::CAP_READ | libc::CAP_LOOKUP | libc::CAP_FSTAT,
                    0u64,
                );
                check(libc::cap_rights_limit(dfd, &rights) == 0, || {
                    "cap_rights_limit(dir)".into()
                })?;
                check(libc::cap_rights_limit(ffd, &rights) == 0, || {
                    "cap_rights_limit(file)".into()
                })?;
                sb.take_violations();
                let allowed = sb.stats().allowed;
                notcapable(
                    libc::openat(dfd, c"f".as_ptr(), libc::O_WRONLY),
                    "openat(own read-only dir, O_WRONLY)",
                )?;
                let v = last(&sb)?;
                check(v.decision() == Decision::NotBrokered, || {
                    format!("openat decision {:?}", v.decision())
                })?;
                check(v.class() == sigcap::Class::NotCapable, || {
                    format!("openat class {:?}", v.class())
                })?;
                notcapable(
                    libc::openat(dfd, c"new".as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o600),
                    "openat(own read-only dir, O_CREAT)",
                )?;
                notcapable(libc::unlinkat(dfd, c"f".as_ptr(), 0), "unlinkat(own read-only dir)")?;
                notcapable(
                    libc::write(ffd, b"x".as_ptr().cast(), 1) as libc::c_int,
                    "write(own read-only file)",
                )?;
                none_brokered(&sb, allowed, "own limit")
            }
        });
        let untouched = std::fs::read(d.join("f")).ok().as_deref() == Some(&b"keep"[..]) && !d.join("new").exists();
        let _ = std::fs::remove_dir_all(&d);
        r?;
        check(untouched, || "the file was changed through the broker".into())
    }
}

/// Issue #10, finding 3: `..` from a policy root that is the root of a
/// mount (a tmpfs) does not leave it, through the broker (by path, by a
/// symlink) or through a descriptor for the root, on the stock kernel
/// (whose own check fails there) as on the patched one.
fn mount_root_dotdot(_: Option<&str>) -> Case {
    #[cfg(not(target_os = "freebsd"))]
    return Err("SKIP the mount-root '..' bug is FreeBSD's".into());
    #[cfg(target_os = "freebsd")]
    {
        // SAFETY: no arguments.
        if unsafe { libc::geteuid() } != 0 {
            return Err("SKIP mounting a tmpfs needs root".into());
        }
        let base = scratch("mnt")?;
        let m = base.join("m");
        std::fs::create_dir(&m).map_err(|e| e.to_string())?;
        std::fs::write(base.join("secret"), "secret").map_err(|e| e.to_string())?;
        let kv: Vec<std::ffi::CString> = [("fstype", "tmpfs"), ("fspath", m.to_str().unwrap())]
            .iter()
            .flat_map(|(k, v)| [std::ffi::CString::new(*k).unwrap(), std::ffi::CString::new(*v).unwrap()])
            .collect();
        let mut iov: Vec<libc::iovec> = kv
            .iter()
            .map(|s| libc::iovec {
                iov_base: s.as_ptr() as *mut libc::c_void,
                iov_len: s.as_bytes_with_nul().len(),
            })
            .collect();
        // SAFETY: iovecs of NUL-terminated strings that outlive the call.
        if unsafe { libc::nmount(iov.as_mut_ptr(), iov.len() as u32, 0) } != 0 {
            let e = std::io::Error::last_os_error();
            let _ = std::fs::remove_dir_all(&base);
            return Err(format!("SKIP cannot mount a tmpfs: {e}"));
        }
        let setup = std::fs::write(m.join("x"), "inside")
            .and_then(|_| std::os::unix::fs::symlink("../secret", m.join("up")))
            .map_err(|e| e.to_string());
        let r = setup.and_then(|_| {
            confined(|| {
                let sb = Sandbox::builder().read_beneath(&m).enter().map_err(|e| e.to_string())?;
                let inside = std::fs::read(m.join("x")).map_err(|e| format!("brokered read inside: {e}"))?;
                check(inside == b"inside", || "read inside the mount".into())?;
                let up = m.join("..").join("secret");
                check(std::fs::read(&up).is_err(), || format!("{} was read", up.display()))?;
                let v = last(&sb)?;
                check(v.decision() == Decision::Denied(DenyReason::Escape), || {
                    format!("root/../secret: decision {:?}", v.decision())
                })?;
                check(std::fs::read(m.join("up")).is_err(), || {
                    "root/up -> ../secret was read".into()
                })?;
                // A link out of its root is decided again where it leads
                // (issue #11): the mount root's parent, under no rule.
                let v = last(&sb)?;
                check(v.decision() == Decision::Denied(DenyReason::NoRule), || {
                    format!("root/up: decision {:?}", v.decision())
                })?;
                // A descriptor for the root, used in capability mode.
                // SAFETY: plain calls on C strings and our descriptors.
                unsafe {
                    let dfd = libc::open(cpath(&m).as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
                    check(dfd >= 0, || "brokered open of the mount root".into())?;
                    let s = libc::openat(dfd, c"../secret".as_ptr(), libc::O_RDONLY);
                    check(s < 0, || "openat(root fd, \"../secret\") escaped the mount root".into())?;
                    let s = libc::openat(dfd, c"up".as_ptr(), libc::O_RDONLY);
                    check(s < 0, || "openat(root fd, \"up\") escaped the mount root".into())?;
                }
                Ok(())
            })
        });
        // SAFETY: a C string.
        unsafe { libc::unmount(cpath(&m).as_ptr(), libc::MNT_FORCE) };
        let _ = std::fs::remove_dir_all(&base);
        r
    }
}

/// The descriptor of this process that refers to `dir` (found the way
/// hostile code would: by trying every number), or -1.
#[cfg(target_os = "freebsd")]
fn held_descriptor_of(dir: &std::path::Path) -> i32 {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(dir) else { return -1 };
    // The runtime holds its descriptors at 512 and above.
    for fd in 3..1024 {
        // SAFETY: fstat into a zeroed buffer.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } == 0 && st.st_dev == m.dev() && st.st_ino == m.ino() {
            return fd;
        }
    }
    -1
}

/// Issue #11 item 4: a symlink out of its rule's root, absolute or
/// climbing above it, is followed when its target is allowed (decided
/// again there, for the call's access) and refused otherwise; the record
/// names both paths. On FreeBSD with SIGCAP the fast path's lookup stops
/// at such a link (ENOTCAPABLE in capability mode) and the broker walks
/// it; a descriptor opened through it carries its target's rule.
fn symlinks_out_of_roots(_: Option<&str>) -> Case {
    let d = scratch("links")?;
    let (a, w, out) = (d.join("a"), d.join("w"), d.join("outside"));
    let setup = std::fs::create_dir_all(&a)
        .and_then(|_| std::fs::create_dir_all(&w))
        .and_then(|_| std::fs::create_dir_all(&out))
        .and_then(|_| std::fs::write(a.join("f"), "read-only"))
        .and_then(|_| std::fs::write(w.join("f"), "writable"))
        .and_then(|_| std::fs::write(out.join("secret"), "SECRET"))
        .and_then(|_| std::os::unix::fs::symlink(w.join("f"), a.join("to-w")))
        .and_then(|_| std::os::unix::fs::symlink("../w/f", a.join("up-to-w")))
        .and_then(|_| std::os::unix::fs::symlink(out.join("secret"), a.join("out")))
        .and_then(|_| std::os::unix::fs::symlink("../outside/secret", a.join("up-out")))
        .and_then(|_| std::os::unix::fs::symlink("/etc/passwd", a.join("etc")))
        .and_then(|_| std::os::unix::fs::symlink(a.join("f"), w.join("to-a")))
        .and_then(|_| std::os::unix::fs::symlink(&a, w.join("dir-a")))
        .map_err(|e| e.to_string());
    let res = setup.and_then(|_| {
        confined(|| {
            let sb = Sandbox::builder()
                .read_beneath(&a)
                .write_beneath(&w)
                .enter()
                .map_err(|e| e.to_string())?;
            let via = |v: &sigcap::Violation| v.via().map(|s| s.into_owned()).unwrap_or_default();
            let wf = w.join("f").display().to_string();
            // Followed to an allowed target: read, then written through
            // the read-only rule's link, decided on the writable target.
            for l in ["to-w", "up-to-w"] {
                let got = std::fs::read(a.join(l)).map_err(|e| format!("read a/{l}: {e}"))?;
                check(got == b"writable", || format!("a/{l} read {got:?}"))?;
                let v = last(&sb)?;
                check(
                    v.decision() == Decision::Allowed { rule: 1 } && !v.fast_path() && via(&v) == wf,
                    || format!("a/{l}: {v}"),
                )?;
            }
            {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(a.join("to-w"))
                    .map_err(|e| format!("open a/to-w for writing: {e}"))?;
                f.write_all(b"through a")
                    .map_err(|e| format!("write through a/to-w: {e}"))?;
            }
            let got = std::fs::read(w.join("f")).map_err(|e| format!("read w/f: {e}"))?;
            check(got == b"through a", || format!("w/f holds {got:?}"))?;
            let dir_a = std::fs::read(w.join("dir-a/f")).map_err(|e| format!("read w/dir-a/f: {e}"))?;
            check(dir_a == b"read-only", || format!("w/dir-a/f read {dir_a:?}"))?;
            // Refused: targets under no rule, and writes into the
            // read-only rule through the writable one.
            for (l, why) in [
                ("a/out", DenyReason::NoRule),
                ("a/up-out", DenyReason::NoRule),
                ("a/etc", DenyReason::NoRule),
            ] {
                let e = std::fs::read(d.join(l)).err().ok_or_else(|| format!("{l} was read"))?;
                check(e.raw_os_error() == Some(refused()), || format!("{l}: {e}"))?;
                let v = last(&sb)?;
                check(v.decision() == Decision::Denied(why) && !via(&v).is_empty(), || {
                    format!("{l}: {v}")
                })?;
            }
            for l in ["w/to-a", "w/dir-a/f"] {
                let e = std::fs::OpenOptions::new()
                    .write(true)
                    .open(d.join(l))
                    .err()
                    .ok_or_else(|| format!("{l} opened for writing"))?;
                check(e.raw_os_error() == Some(refused()), || format!("{l}: {e}"))?;
                let v = last(&sb)?;
                check(v.decision() == Decision::Denied(DenyReason::Access), || {
                    format!("{l}: {v}")
                })?;
            }
            let made = std::fs::write(w.join("dir-a/new"), "x");
            check(made.is_err(), || "created w/dir-a/new in the read-only rule".into())?;
            // FreeBSD: a descriptor opened through a link carries the
            // rights of its target's rule, not the link's: fchmod (a
            // `write` right) fails through w/to-a, into the read rule, and
            // works through a/to-w, into the writable one.
            #[cfg(target_os = "freebsd")]
            {
                use std::os::fd::AsRawFd;
                let ro = std::fs::File::open(w.join("to-a")).map_err(|e| format!("open w/to-a: {e}"))?;
                let rw = std::fs::File::open(a.join("to-w")).map_err(|e| format!("open a/to-w: {e}"))?;
                // SAFETY: fstat into a zeroed buffer; fchmod of our
                // descriptors to the mode they have.
                unsafe {
                    let mode = |fd: i32| {
                        let mut st: libc::stat = std::mem::zeroed();
                        libc::fstat(fd, &mut st);
                        st.st_mode & 0o7777
                    };
                    notcapable(
                        libc::fchmod(ro.as_raw_fd(), mode(ro.as_raw_fd())),
                        "fchmod through w/to-a",
                    )?;
                    check(libc::fchmod(rw.as_raw_fd(), mode(rw.as_raw_fd())) == 0, || {
                        format!("fchmod through a/to-w: {}", std::io::Error::last_os_error())
                    })?;
                }
            }
            Ok(())
        })
    });
    let _ = std::fs::remove_dir_all(&d);
    res
}

/// Issue #10 items 1 and 2 on FreeBSD: with SIGCAP, an allowed open, stat,
/// access and readlink by absolute path are answered in the handler
/// (fast path) beneath the root the process holds; that root, found and
/// used by hostile code in the process, refuses in the kernel what its
/// rule does not grant, and a wider root holding a narrower rule gets no
/// more than the narrower one. An escaping symlink falls back to the
/// broker, which refuses it. On stock FreeBSD nothing takes the fast path.
fn fast_path_freebsd(_: Option<&str>) -> Case {
    #[cfg(not(target_os = "freebsd"))]
    return Err("SKIP this is FreeBSD's fast path (Linux: tests/linux_fast_path.rs)".into());
    #[cfg(target_os = "freebsd")]
    {
        use sigcap::Access;
        let d = scratch("fast")?;
        let (r, w) = (d.join("r"), d.join("w"));
        let setup = std::fs::create_dir_all(w.join("ro"))
            .and_then(|_| std::fs::create_dir(&r))
            .and_then(|_| std::fs::write(r.join("f"), "keep"))
            .and_then(|_| std::fs::write(w.join("ro/f"), "keep"))
            .and_then(|_| std::os::unix::fs::symlink("f", r.join("l")))
            .and_then(|_| std::os::unix::fs::symlink("/etc", r.join("esc")))
            .and_then(|_| std::fs::write(d.join("one"), "single"))
            .map_err(|e| e.to_string());
        let res = setup.and_then(|_| {
            confined(|| {
                let sb = Sandbox::builder()
                    .read_beneath(&r)
                    .allow(&w, Access::READ | Access::WRITE | Access::CREATE)
                    .read_beneath(w.join("ro"))
                    .allow(d.join("one"), Access::READ)
                    .enter()
                    .map_err(|e| e.to_string())?;
                let sigcap = sb.backend() == sigcap::BackendKind::FreeBsdSigcap;
                let fast0 = sb.stats().fast_path;
                // SAFETY: plain calls on C strings, buffers and descriptors we own.
                let fd = unsafe {
                    let fd = libc::open(cpath(&r.join("f")).as_ptr(), libc::O_RDONLY);
                    check(fd >= 0, || format!("open of r/f: {}", std::io::Error::last_os_error()))?;
                    let mut b = [0u8; 8];
                    check(libc::read(fd, b.as_mut_ptr().cast(), 8) == 4, || "read r/f".into())?;
                    let mut st: libc::stat = std::mem::zeroed();
                    check(
                        libc::stat(cpath(&r.join("f")).as_ptr(), &mut st) == 0 && st.st_size == 4,
                        || "stat of r/f".into(),
                    )?;
                    check(libc::access(cpath(&r.join("f")).as_ptr(), libc::R_OK) == 0, || {
                        "access".into()
                    })?;
                    let mut l = [0u8; 16];
                    let n = libc::readlink(cpath(&r.join("l")).as_ptr(), l.as_mut_ptr().cast(), l.len());
                    check(n == 1 && l[0] == b'f', || format!("readlink of r/l: {n}"))?;
                    let missing = libc::open(cpath(&r.join("none")).as_ptr(), libc::O_RDONLY);
                    let e = std::io::Error::last_os_error().raw_os_error();
                    check(missing == -1 && e == Some(libc::ENOENT), || {
                        format!("open of r/none: {e:?}")
                    })?;
                    fd
                };
                let fast = sb.stats().fast_path - fast0;
                let vs = sb.take_violations();
                if sigcap {
                    check(fast == 5, || format!("{fast} of 5 calls took the fast path: {vs:?}"))?;
                    check(
                        vs.iter()
                            .all(|v| v.fast_path() && matches!(v.decision(), Decision::Allowed { .. })),
                        || format!("fast-path records: {vs:?}"),
                    )?;
                } else {
                    check(fast == 0, || format!("{fast} calls took a fast path on stock FreeBSD"))?;
                }
                // A descriptor opened under a read rule cannot write.
                // SAFETY: writing from our buffer to our descriptor.
                notcapable(
                    unsafe { libc::write(fd, c"x".as_ptr().cast(), 1) } as i32,
                    "write to r/f",
                )?;
                // A single-file rule: the broker's (its parent, held with
                // no rights, would reach the file's siblings).
                let one = std::fs::read(d.join("one")).map_err(|e| format!("read of the single file: {e}"))?;
                check(one == b"single", || "the single file's content".into())?;
                check(!last(&sb)?.fast_path(), || {
                    "a single-file rule took the fast path".into()
                })?;
                // An absolute symlink out of the root: the broker decides
                // its target (issue #11), under no rule here, and refuses.
                check(std::fs::read(r.join("esc/passwd")).is_err(), || {
                    "r/esc/passwd was read".into()
                })?;
                let v = last(&sb)?;
                check(!v.fast_path() && matches!(v.decision(), Decision::Denied(_)), || {
                    format!("r/esc/passwd: {:?}, fast path {}", v.decision(), v.fast_path())
                })?;
                // Writing beneath the narrower rule through the wider root:
                // refused by the decision, then by the kernel on the held root.
                let ro = std::fs::OpenOptions::new().write(true).open(w.join("ro/f"));
                check(ro.is_err(), || "w/ro/f opened for writing".into())?;
                std::fs::write(w.join("new"), "made").map_err(|e| format!("create under w: {e}"))?;
                if sigcap {
                    let rfd = held_descriptor_of(&r);
                    let wfd = held_descriptor_of(&w);
                    check(rfd >= 0 && wfd >= 0, || format!("held roots: r {rfd}, w {wfd}"))?;
                    sb.take_violations();
                    let allowed = sb.stats().allowed;
                    // SAFETY: as above.
                    unsafe {
                        notcapable(
                            libc::openat(rfd, c"x".as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o600),
                            "held r root: openat(O_CREAT)",
                        )?;
                        notcapable(
                            libc::openat(rfd, c"f".as_ptr(), libc::O_RDWR),
                            "held r root: openat(f, O_RDWR)",
                        )?;
                        notcapable(libc::unlinkat(rfd, c"f".as_ptr(), 0), "held r root: unlinkat")?;
                        notcapable(
                            libc::openat(wfd, c"ro/f".as_ptr(), libc::O_WRONLY | libc::O_TRUNC),
                            "held w root: openat(ro/f, O_WRONLY)",
                        )?;
                        notcapable(libc::unlinkat(wfd, c"ro/f".as_ptr(), 0), "held w root: unlinkat(ro/f)")?;
                        notcapable(
                            libc::renameat(wfd, c"ro".as_ptr(), wfd, c"moved".as_ptr()),
                            "held w root: renameat(ro)",
                        )?;
                    }
                    none_brokered(&sb, allowed, "held roots")?;
                }
                Ok(())
            })
        });
        let untouched = std::fs::read(r.join("f")).ok().as_deref() == Some(&b"keep"[..])
            && std::fs::read(w.join("ro/f")).ok().as_deref() == Some(&b"keep"[..])
            && !r.join("x").exists()
            && !w.join("moved").exists();
        let made = std::fs::read(w.join("new")).ok().as_deref() == Some(&b"made"[..]);
        let _ = std::fs::remove_dir_all(&d);
        res?;
        check(untouched, || "a file under a read rule was changed".into())?;
        check(made, || "the write rule's file was not created".into())
    }
}

/// The handler's stack scan (`Violation::scan`): the return address of a
/// call into the C library is a candidate (FreeBSD 15's libc reaches the
/// kernel through libsys), and a hostile stack (rsp 256 bytes below an
/// unmapped page, garbage words, rbp in the hole) crashes nothing and
/// yields exactly the planted code addresses.
fn stack_scan(_: Option<&str>) -> Case {
    #[cfg(not(target_arch = "x86_64"))]
    return Err("SKIP the scan test's assembly is x86_64's".into());
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::asm;
        let (exe, dir) = exe_dir();
        let path = std::ffi::CString::new(exe.to_str().ok_or("path")?).map_err(|e| e.to_string())?;
        let sb = Sandbox::builder()
            .read_beneath(&dir)
            .enter()
            .map_err(|e| e.to_string())?;
        let f: unsafe extern "C" fn(*const libc::c_char, libc::c_int, ...) -> libc::c_int = libc::open;
        let (fd, back): (i64, u64);
        // SAFETY: a C call through an explicit call (the stack is aligned
        // for one on entry to an asm block); r12 is callee-saved.
        unsafe {
            asm!(
                "lea r12, [rip + 2f]",
                "call {f}",
                "2:",
                f = in(reg) f,
                out("r12") back,
                in("rdi") path.as_ptr(),
                in("rsi") libc::O_RDONLY,
                inlateout("rax") 0i64 => fd,
                clobber_abi("C"),
            );
        }
        check(fd as i32 >= 0, || format!("open returned {fd}"))?;
        let v = last(&sb)?;
        check(v.scan().contains(&back), || {
            format!("return address {back:#x} not in the scan {:x?}", v.scan())
        })?;

        // The hostile stack.
        const PAGE: usize = 4096;
        let len = 16 * PAGE;
        // SAFETY: an anonymous mapping whose last page is unmapped again.
        let base = unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                len + PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANON,
                -1,
                0,
            );
            if p == libc::MAP_FAILED || libc::munmap(p.cast::<u8>().add(len).cast(), PAGE) != 0 {
                return Err("mmap".into());
            }
            p as u64
        };
        let top = base + len as u64;
        let sp = top - 256;
        let code = stack_scan as *const () as u64;
        let mut words = [0u64; 32];
        words[..8].copy_from_slice(&[u64::MAX, 0xdead_beef, code, top, 1 << 47, code + 3, top + 4096, 8]);
        // SAFETY: sp..top is mapped.
        unsafe { std::ptr::copy_nonoverlapping(words.as_ptr(), sp as *mut u64, 32) };
        #[cfg(target_os = "freebsd")]
        let nr: i64 = 499; // SYS_openat
        #[cfg(not(target_os = "freebsd"))]
        let nr: i64 = libc::SYS_openat;
        let ret: i64;
        // SAFETY: openat(AT_FDCWD, path, O_RDONLY) with rsp and rbp
        // replaced for the call (the signal frame and the handler run
        // below sp, inside the mapping) and restored after it.
        unsafe {
            asm!(
                "mov r12, rsp",
                "mov r13, rbp",
                "mov rsp, {sp}",
                "mov rbp, {fp}",
                "syscall",
                "mov rsp, r12",
                "mov rbp, r13",
                sp = in(reg) sp,
                fp = in(reg) top + 8,
                inlateout("rax") nr => ret,
                in("rdi") libc::AT_FDCWD as i64,
                in("rsi") path.as_ptr(),
                inlateout("rdx") libc::O_RDONLY as i64 => _,
                out("r12") _,
                out("r13") _,
                lateout("rcx") _,
                lateout("r11") _,
            );
        }
        let v = last(&sb)?;
        check(
            v.result() >= 0 && matches!(v.decision(), Decision::Allowed { .. }),
            || format!("hostile-stack open: {v}"),
        )?;
        // SAFETY: the descriptor the allowed open returned.
        unsafe { libc::close(ret as i32) };
        check(v.scan() == [code, code + 3], || {
            format!("scan {:x?}, expected [{code:#x}, {:#x}]", v.scan(), code + 3)
        })
    }
}

/// Issue #11: the working directory, the same on both systems as far as
/// the program can tell. chdir (brokered) then relative open and create;
/// fchdir into a directory the broker handed out, then a relative open;
/// fchdir back to "." as fts(3) does; chdir to a directory outside every
/// rule refused; fchdir to one (a descriptor held from before entering)
/// refused on FreeBSD (on Linux a plain call), and the relative lookup
/// from wherever the program then is refused on both; getcwd(3) and
/// `sigcap::current_dir()` follow. On FreeBSD the directory is emulated
/// (capability mode refuses chdir and fchdir; the handler answers both,
/// and `__getcwd`).
fn working_directory(_: Option<&str>) -> Case {
    let d = scratch("cwd")?.canonicalize().map_err(|e| e.to_string())?;
    let (w, out) = (d.join("w"), d.join("out"));
    let setup = std::fs::create_dir_all(w.join("sub"))
        .and_then(|_| std::fs::create_dir(&out))
        .and_then(|_| std::fs::write(w.join("sub/f"), "keep"))
        .and_then(|_| std::fs::write(out.join("secret"), "secret"))
        .map_err(|e| e.to_string());
    let here = |want: &std::path::Path, what: &str| -> Case {
        let got = std::env::current_dir().map_err(|e| format!("{what}: getcwd: {e}"))?;
        check(got == want, || format!("{what}: getcwd says {}", got.display()))?;
        let got = sigcap::current_dir().map_err(|e| format!("{what}: current_dir: {e}"))?;
        check(got == want, || {
            format!("{what}: sigcap::current_dir says {}", got.display())
        })
    };
    let errno = || std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let res = setup.and_then(|_| {
        confined(|| {
            // SAFETY: open before entering; kept for the attack below.
            let held = unsafe { libc::open(cpath(&out).as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
            check(held >= 0, || "open of out/ before entering".into())?;
            let _sb = Sandbox::builder()
                .write_beneath(&w)
                .enter()
                .map_err(|e| e.to_string())?;
            std::env::set_current_dir(w.join("sub")).map_err(|e| format!("chdir w/sub: {e}"))?;
            here(&w.join("sub"), "after chdir")?;
            std::fs::write("made", "new").map_err(|e| format!("relative create: {e}"))?;
            let f = std::fs::read_to_string("f").map_err(|e| format!("relative read: {e}"))?;
            check(f == "keep", || format!("relative read got {f:?}"))?;
            let e = std::env::set_current_dir(&out).err().and_then(|e| e.raw_os_error());
            check(e == Some(refused()), || format!("chdir outside every rule: {e:?}"))?;
            here(&w.join("sub"), "after a refused chdir")?;
            // SAFETY: plain calls on C strings and descriptors we own.
            unsafe {
                let wfd = libc::open(cpath(&w).as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
                check(wfd >= 0, || format!("open of w: {}", errno()))?;
                check(libc::fchdir(wfd) == 0, || format!("fchdir into w: errno {}", errno()))?;
                here(&w, "after fchdir")?;
                let m = std::fs::read_to_string("sub/made").map_err(|e| format!("sub/made: {e}"))?;
                check(m == "new", || format!("sub/made has {m:?}"))?;
                // fts(3): open ".", go elsewhere, come back with fchdir.
                let dot = libc::open(c".".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
                check(dot >= 0, || format!("open of \".\": {}", errno()))?;
                std::env::set_current_dir("sub").map_err(|e| format!("chdir sub: {e}"))?;
                check(libc::fchdir(dot) == 0, || {
                    format!("fchdir back to \".\": errno {}", errno())
                })?;
                here(&w, "after fchdir back")?;
                let r = libc::fchdir(held);
                #[cfg(target_os = "freebsd")]
                {
                    let e = errno();
                    check(r == -1 && e == refused(), || {
                        format!("fchdir outside every rule: {r}, errno {e}")
                    })?;
                    here(&w, "after a refused fchdir")?;
                }
                #[cfg(not(target_os = "freebsd"))]
                check(r == 0, || "fchdir is a plain call on Linux".into())?;
                let s = libc::open(c"../out/secret".as_ptr(), libc::O_RDONLY);
                let e = errno();
                check(s == -1 && e == refused(), || {
                    format!("relative open outside every rule: {s}, errno {e}")
                })
            }
        })
    });
    let made = std::fs::read_to_string(w.join("sub/made")).ok();
    let _ = std::fs::remove_dir_all(&d);
    res?;
    check(made.as_deref() == Some("new"), || format!("w/sub/made: {made:?}"))
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

/// Issue #11 item 5: symlink, link, rename, chmod, chown, utimes,
/// truncate, mkfifo, pathconf and extended attributes by path are
/// brokered under the modes they need (capability mode fails them with
/// ECAPMODE: by path, or from AT_FDCWD), a read-only rule's file can be
/// neither linked into a writable one nor changed, and what was done is
/// checked on disk after the confined child is gone.
fn file_calls_brokered(_: Option<&str>) -> Case {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    let d = std::env::temp_dir().join(format!("sigcap-selftest-calls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let (rw, ro) = (d.join("rw"), d.join("ro"));
    for x in [&rw, &ro] {
        std::fs::create_dir_all(x).map_err(|e| format!("SKIP cannot create {}: {e}", x.display()))?;
        std::fs::write(x.join("f"), "content").map_err(|e| e.to_string())?;
        std::fs::set_permissions(x.join("f"), std::fs::Permissions::from_mode(0o644)).map_err(|e| e.to_string())?;
    }
    let c = |p: &std::path::Path| std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    let (st, msg) = forked(|w| {
        let r = (|| -> Case {
            let sb = Sandbox::builder()
                .write_beneath(&rw)
                .read_beneath(&ro)
                .enter()
                .map_err(|e| e.to_string())?;
            let ok = |r: libc::c_int, what: &str| -> Case {
                let e = std::io::Error::last_os_error();
                check(r == 0, || format!("{what}: {r}, {e}"))
            };
            let no = |r: libc::c_int, what: &str| -> Case {
                let e = std::io::Error::last_os_error();
                check(r == -1 && e.raw_os_error() == Some(refused()), || {
                    format!("{what}: {r}, {e} (expected the sandbox's error)")
                })
            };
            let (f, rof) = (c(&rw.join("f")), c(&ro.join("f")));
            // SAFETY (every call below): C strings that outlive the call.
            unsafe {
                // A fourth argument (openat's mode) reaches the broker as
                // the program passed it (FreeBSD keeps it in the frame's
                // rcx slot, not r10).
                libc::umask(0o022);
                let m = libc::openat(
                    libc::AT_FDCWD,
                    c(&rw.join("moded")).as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
                    0o640 as libc::c_uint,
                );
                check(m >= 0, || {
                    format!("openat(O_CREAT, 0640): {}", std::io::Error::last_os_error())
                })?;
                let mut sbuf: libc::stat = std::mem::zeroed();
                check(libc::fstat(m, &mut sbuf) == 0 && sbuf.st_mode & 0o777 == 0o640, || {
                    format!("openat(O_CREAT, 0640) made mode {:o}", sbuf.st_mode & 0o7777)
                })?;
                libc::close(m);
                ok(libc::symlink(c"f".as_ptr(), c(&rw.join("l")).as_ptr()), "symlink")?;
                check(matches!(last(&sb)?.decision(), Decision::Allowed { .. }), || {
                    "symlink not allowed".into()
                })?;
                ok(libc::link(f.as_ptr(), c(&rw.join("h")).as_ptr()), "link")?;
                no(
                    libc::link(rof.as_ptr(), c(&rw.join("h2")).as_ptr()),
                    "link of a read-only file",
                )?;
                check(last(&sb)?.decision() == Decision::Denied(DenyReason::Access), || {
                    "link: not access".into()
                })?;
                ok(
                    libc::rename(c(&rw.join("h")).as_ptr(), c(&rw.join("h3")).as_ptr()),
                    "rename",
                )?;
                ok(libc::chmod(f.as_ptr(), 0o600), "chmod")?;
                no(libc::chmod(rof.as_ptr(), 0o600), "chmod of a read-only file")?;
                no(libc::chmod(f.as_ptr(), 0o4755), "chmod to set-user-ID")?;
                ok(libc::chown(f.as_ptr(), libc::getuid(), libc::getgid()), "chown")?;
                ok(
                    libc::lchown(c(&rw.join("l")).as_ptr(), libc::getuid(), libc::getgid()),
                    "lchown",
                )?;
                ok(libc::truncate(f.as_ptr(), 2), "truncate")?;
                no(libc::truncate(rof.as_ptr(), 0), "truncate of a read-only file")?;
                let tv = [libc::timeval {
                    tv_sec: 1_000_000_000,
                    tv_usec: 0,
                }; 2];
                ok(libc::utimes(f.as_ptr(), tv.as_ptr()), "utimes")?;
                no(libc::utimes(rof.as_ptr(), tv.as_ptr()), "utimes of a read-only file")?;
                ok(libc::mkfifo(c(&rw.join("p")).as_ptr(), 0o600), "mkfifo")?;
                #[cfg(target_os = "freebsd")]
                {
                    let n = libc::pathconf(f.as_ptr(), libc::_PC_NAME_MAX);
                    check(n > 0, || format!("pathconf: {n}, {}", std::io::Error::last_os_error()))?;
                    // lpathconf(2), system call 513 (the libc crate has no binding).
                    let n = libc::syscall(513, c(&rw.join("l")).as_ptr(), libc::_PC_NAME_MAX);
                    check(n > 0, || format!("lpathconf: {n}, {}", std::io::Error::last_os_error()))?;
                    // Extended attributes: allowed (tmpfs may not keep
                    // them: EOPNOTSUPP is the file system's answer).
                    let r = libc::extattr_set_file(f.as_ptr(), 1, c"sigcap".as_ptr(), b"v".as_ptr().cast(), 1);
                    let e = std::io::Error::last_os_error().raw_os_error();
                    check(r == 1 || e == Some(libc::EOPNOTSUPP), || {
                        let v = sb.take_violations().last().map(|v| v.to_string());
                        format!("extattr_set_file: {r} {e:?}; last record: {v:?}")
                    })?;
                    check(matches!(last(&sb)?.decision(), Decision::Allowed { .. }), || {
                        "extattr not allowed".into()
                    })?;
                    let r = libc::extattr_set_file(rof.as_ptr(), 1, c"sigcap".as_ptr(), b"v".as_ptr().cast(), 1);
                    check(r == -1, || "extattr_set_file on a read-only file".into())?;
                }
            }
            Ok(())
        })();
        let msg = match r {
            Ok(()) => "ok".to_string(),
            Err(m) => m,
        };
        // SAFETY: writing our own buffer.
        unsafe { libc::write(w, msg.as_ptr().cast(), msg.len()) };
    });
    let after = (|| -> Case {
        match msg.as_str() {
            "ok" => {}
            "" => return Err(format!("confined child died (status {st:#x})")),
            m => return Err(m.to_string()),
        }
        let m = |p: &str| std::fs::symlink_metadata(d.join(p)).map_err(|e| format!("{p}: {e}"));
        check(
            std::fs::read_link(d.join("rw/l")).ok() == Some(PathBuf::from("f")),
            || "no symlink".into(),
        )?;
        check(m("rw/h3")?.ino() == m("rw/f")?.ino(), || {
            "link then rename: not the same file".into()
        })?;
        check(m("ro/f")?.nlink() == 1 && m("rw/h2").is_err(), || {
            "the read-only file was linked".into()
        })?;
        check(m("rw/f")?.mode() & 0o7777 == 0o600, || {
            format!("mode {:o}", m("rw/f").unwrap().mode())
        })?;
        check(m("ro/f")?.mode() & 0o7777 == 0o644, || {
            "read-only file's mode changed".into()
        })?;
        check(m("rw/f")?.len() == 2 && m("ro/f")?.len() == 7, || "truncate".into())?;
        check(m("rw/f")?.mtime() == 1_000_000_000, || {
            format!("mtime {}", m("rw/f").unwrap().mtime())
        })?;
        check(m("rw/p")?.file_type().is_fifo(), || "no FIFO".into())
    })();
    let _ = std::fs::remove_dir_all(&d);
    after
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
    let cases: [(&str, CaseFn); 18] = [
        ("fallback_file", fallback_file),
        ("denied_and_escape", denied_and_escape),
        ("connect", connect),
        ("report_mode", report_mode),
        ("abort_mode", abort_mode),
        ("threads", threads),
        ("threads_at_enter", threads_at_enter),
        ("fork_child", fork_child),
        ("unsupported_call_is_recorded", unsupported_call_is_recorded),
        ("breakpoint_passes_through", breakpoint_passes_through),
        ("read_rule_descriptor_is_limited", read_rule_descriptor_is_limited),
        ("own_limit_stays", own_limit_stays),
        ("mount_root_dotdot", mount_root_dotdot),
        ("fast_path_freebsd", fast_path_freebsd),
        ("symlinks_out_of_roots", symlinks_out_of_roots),
        ("file_calls_brokered", file_calls_brokered),
        ("working_directory", working_directory),
        ("stack_scan", stack_scan),
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
