//! enter() with live threads (issue #11 item 1): the broker is an exec of
//! this image, not a fork that runs Rust code, and every thread running at
//! enter() is put under Landlock. Also: the broker is nobody's child a
//! program could collect, it goes with the last process holding its
//! socket, and a marker the program sets itself starts nothing.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use common::{deadline, errno, idle_child, sys};
use rusty_fork::rusty_fork_test;
use sigcap::{Decision, DenyReason, LandlockStatus, Sandbox};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn tree() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("file.txt"), "inside").unwrap();
    std::fs::write(t.path().join("secret.txt"), "outside").unwrap();
    (t, root)
}

fn gettid() -> i64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// Made before enter(), outside the sandbox: a process and an abstract
/// Unix socket. Reaching either passes the seccomp filter (kill(2) of a
/// pid that is not the broker's, sendmsg(2) with an address are allowed)
/// and is refused by Landlock's scopes only: the probe of whether a
/// thread is under Landlock.
struct Outside {
    pid: libc::pid_t,
    name: String,
    _server: std::os::unix::net::UnixDatagram,
}

impl Outside {
    fn new() -> Outside {
        use std::os::linux::net::SocketAddrExt;
        let pid = idle_child();
        let name = format!("sigcap-threads-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = std::os::unix::net::UnixDatagram::bind_addr(&addr).unwrap();
        Outside {
            pid,
            name,
            _server: server,
        }
    }

    /// (signal 0 to the outside process, a datagram to the outside
    /// abstract socket), from the calling thread.
    fn probe(&self) -> (Result<libc::c_long, i32>, Result<libc::c_long, i32>) {
        // SAFETY: signal 0 only checks permission.
        let k = sys(unsafe { libc::kill(self.pid, 0) } as libc::c_long);
        // SAFETY: a socket, a sockaddr_un and a msghdr on local buffers.
        let s = unsafe {
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
            let mut sun: libc::sockaddr_un = std::mem::zeroed();
            sun.sun_family = libc::AF_UNIX as u16;
            for (i, b) in self.name.bytes().enumerate() {
                sun.sun_path[1 + i] = b as libc::c_char;
            }
            let mut data = *b"x";
            let mut iov = libc::iovec {
                iov_base: data.as_mut_ptr().cast(),
                iov_len: 1,
            };
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_name = (&mut sun as *mut libc::sockaddr_un).cast();
            msg.msg_namelen = (std::mem::size_of::<libc::sa_family_t>() + 1 + self.name.len()) as u32;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            let r = sys(libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT) as libc::c_long);
            libc::close(fd);
            r
        };
        (k, s)
    }
}

const REFUSED: (Result<libc::c_long, i32>, Result<libc::c_long, i32>) = (Err(libc::EPERM), Err(libc::EPERM));

/// Waits at most `ms` for `pid` to exit, on a pidfd (the broker is not
/// our child); true if it did. Must be called unconfined.
fn exits_within(pidfd: i32, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd: pidfd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd.
    unsafe { libc::poll(&mut p, 1, ms) == 1 }
}

rusty_fork_test! {
    /// Eight threads read a file in a loop, before, during and after
    /// enter(): none stops, their reads are brokered after it, and each
    /// of them is under Landlock (the scopes refuse it what the filter
    /// lets through), though it ran before enter().
    #[test]
    fn eight_threads_doing_file_io_during_enter_keep_working_each_under_landlock() {
        deadline(60);
        let (t, root) = tree();
        let outside = Arc::new(Outside::new());
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (stop, reads, started) = (stop.clone(), reads.clone(), started.clone());
                let (outside, file) = (outside.clone(), root.join("file.txt"));
                std::thread::spawn(move || {
                    let before = outside.probe();
                    started.fetch_add(1, Ordering::AcqRel);
                    while !stop.load(Ordering::Acquire) {
                        assert_eq!(std::fs::read_to_string(&file).expect("a read failed"), "inside");
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                    // One more read from this thread, surely after enter().
                    assert_eq!(std::fs::read_to_string(&file).expect("a read failed"), "inside");
                    (gettid(), before, outside.probe())
                })
            })
            .collect();
        while reads.load(Ordering::Relaxed) < 200 || started.load(Ordering::Acquire) < 8 {
            std::thread::yield_now();
        }
        // The broker, not the fast path, answers: the reads are brokered.
        let sb = Sandbox::builder()
            .read_beneath(&root)
            .fast_path(false)
            .record_capacity(1 << 16)
            .enter()
            .unwrap();
        assert!(matches!(sb.landlock(), LandlockStatus::Enforced { all_threads: true, .. }), "{:?}", sb.landlock());
        let at_enter = reads.load(Ordering::Relaxed);
        let start = Instant::now();
        while reads.load(Ordering::Relaxed) < at_enter + 200 {
            assert!(start.elapsed() < Duration::from_secs(20), "the threads stopped reading after enter()");
            std::thread::yield_now();
        }
        stop.store(true, Ordering::Release);
        let mut tids = Vec::new();
        for w in workers {
            let (tid, before, after) = w.join().unwrap();
            assert_eq!((before.0.is_ok(), before.1.is_ok()), (true, true), "the probe fails even outside Landlock");
            assert_eq!(after, REFUSED, "thread {tid}, running before enter(), is not under Landlock");
            tids.push(tid);
        }
        let brokered: std::collections::BTreeSet<i64> = sb
            .take_violations()
            .iter()
            .filter(|v| matches!(v.decision(), Decision::Allowed { .. }) && !v.fast_path())
            .map(|v| v.tid())
            .collect();
        for tid in &tids {
            assert!(brokered.contains(tid), "no brokered read from thread {tid}");
        }
        // And what the policy does not grant stays refused, by the broker.
        assert!(std::fs::read(t.path().join("secret.txt")).is_err());
        let v = *sb.take_violations().last().unwrap();
        assert_eq!(v.decision(), Decision::Denied(DenyReason::NoRule));
    }

    /// enter() from a running multi-threaded tokio runtime whose workers
    /// do file I/O: the tasks keep working, their violations are brokered,
    /// and every worker (all started before enter()) is under Landlock.
    #[test]
    fn enter_inside_a_running_tokio_runtime() {
        deadline(60);
        let (_t, root) = tree();
        let outside = Arc::new(Outside::new());
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
        let workers: Vec<i64> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect();
        rt.block_on(async {
            let stop = Arc::new(AtomicBool::new(false));
            let tasks: Vec<_> = (0..32)
                .map(|_| {
                    let (stop, outside, file) = (stop.clone(), outside.clone(), root.join("file.txt"));
                    tokio::spawn(async move {
                        let mut n = 0u64;
                        while !stop.load(Ordering::Acquire) {
                            assert_eq!(std::fs::read_to_string(&file).expect("a read failed"), "inside");
                            n += 1;
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        (gettid(), outside.probe(), n)
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(100)).await;
            let sb = Sandbox::builder().read_beneath(&root).fast_path(false).enter().unwrap();
            assert!(matches!(sb.landlock(), LandlockStatus::Enforced { all_threads: true, .. }));
            let before = sb.stats().allowed;
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(sb.stats().allowed > before + 32, "tasks stopped: {:?}", sb.stats());
            stop.store(true, Ordering::Release);
            for t in tasks {
                let (tid, probe, n) = t.await.unwrap();
                assert!(n > 0);
                assert!(workers.contains(&tid), "task ran on thread {tid}, not a worker started before enter()");
                assert_eq!(probe, REFUSED, "worker {tid} is not under Landlock");
            }
            // The runtime's blocking pool still works (its threads start
            // after enter(), from a restricted one).
            let r = tokio::task::spawn_blocking(move || std::fs::read_to_string(root.join("file.txt")).unwrap())
                .await
                .unwrap();
            assert_eq!(r, "inside");
        });
    }

    /// A program that collects every child with wait() (a reaper thread
    /// looping on waitpid(-1)) runs through enter() and never gets the
    /// broker: the broker is not its child (on Linux it is the exec'd
    /// child's own child; the exec'd child, which exits at once, may be
    /// collected by the reaper, which enter() copes with).
    #[test]
    fn a_program_reaping_every_child_never_gets_the_broker() {
        deadline(30);
        let (_t, root) = tree();
        let stop = Arc::new(AtomicBool::new(false));
        let reaped = Arc::new(std::sync::Mutex::new(Vec::new()));
        let reaper = {
            let (stop, reaped) = (stop.clone(), reaped.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    // SAFETY: waiting for any child without blocking.
                    let pid = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
                    if pid > 0 {
                        reaped.lock().unwrap().push(pid);
                    } else {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            })
        };
        let sb = Sandbox::builder().read_beneath(&root).fast_path(false).enter().unwrap();
        // A child of our own, which the reaper must collect (the reaper works).
        // SAFETY: fork; the child exits at once.
        let own = unsafe { libc::fork() };
        if own == 0 {
            unsafe { libc::_exit(0) };
        }
        assert_eq!(std::fs::read_to_string(root.join("file.txt")).unwrap(), "inside");
        let start = Instant::now();
        while !reaped.lock().unwrap().contains(&own) {
            assert!(start.elapsed() < Duration::from_secs(5), "the reaper does not work");
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Release);
        reaper.join().unwrap();
        assert!(!reaped.lock().unwrap().contains(&sb.broker_pid()), "wait() returned the broker");
        // SAFETY: a blocking wait for any child: there is none left.
        assert_eq!((unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) }, errno()), (-1, libc::ECHILD));
        // The broker is still there, serving.
        assert_eq!(std::fs::read_to_string(root.join("file.txt")).unwrap(), "inside");
    }

    /// The broker lives as long as the program or one of its forks holds
    /// the control socket, and exits when the last of them is gone.
    #[test]
    fn the_broker_exits_when_the_program_and_its_forks_exit() {
        deadline(30);
        let (_t, root) = tree();
        let mut p = [0; 2];
        let mut q = [0; 2];
        // SAFETY: pipes into local arrays.
        unsafe {
            assert_eq!(libc::pipe(p.as_mut_ptr()), 0);
            assert_eq!(libc::pipe(q.as_mut_ptr()), 0);
        }
        // SAFETY: fork; the child enters, forks a grandchild that keeps the
        // sandbox until told to go, reports the broker's pid and exits.
        let program = unsafe { libc::fork() };
        if program == 0 {
            let sb = Sandbox::builder().read_beneath(&root).enter().unwrap();
            let fork = unsafe { libc::fork() };
            if fork == 0 {
                let mut b = [0u8; 1];
                unsafe { libc::read(q[0], b.as_mut_ptr().cast(), 1) };
                let ok = std::fs::read_to_string(root.join("file.txt")).is_ok_and(|s| s == "inside");
                unsafe { libc::_exit(if ok { 0 } else { 3 }) };
            }
            let b = sb.broker_pid().to_ne_bytes();
            unsafe {
                libc::write(p[1], b.as_ptr().cast(), 4);
                libc::_exit(0);
            }
        }
        let mut b = [0u8; 4];
        // SAFETY: reading the pid into a local buffer.
        assert_eq!(unsafe { libc::read(p[0], b.as_mut_ptr().cast(), 4) }, 4);
        let broker = i32::from_ne_bytes(b);
        // SAFETY: a pidfd of the broker; reaping the program.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, broker, 0) } as i32;
        assert!(pidfd >= 0, "pidfd_open: {}", errno());
        let mut status = 0;
        unsafe { libc::waitpid(program, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{status:#x}");
        assert!(!exits_within(pidfd, 300), "the broker left while a fork of the program still used it");
        // SAFETY: telling the grandchild to finish.
        unsafe { libc::write(q[1], b"g".as_ptr().cast(), 1) };
        assert!(exits_within(pidfd, 5000), "the broker outlived the program and its forks");
    }

    /// A program may set SIGCAP_BROKER itself, naming descriptors of its
    /// own with a policy of its own, before enter() (or have it set by
    /// whoever started it): enter() starts the broker with its own
    /// marker only, and the broker enforces the builder's policy. After
    /// enter() the program cannot start an image with a marker at all:
    /// exec is refused (and anything it started would be confined).
    #[test]
    fn a_marker_set_by_the_program_starts_no_broker_of_its_policy() {
        deadline(30);
        let (t, root) = tree();
        // The forged broker: a permissive policy, a control socket and a
        // ready pipe of the program's own.
        let permissive = "[[fs]]\npath = \"/\"\naccess = [\"read\", \"write\", \"create\"]\n";
        // SAFETY: memfd_create, write, socketpair and pipe into locals.
        let (memfd, sock, ready) = unsafe {
            let m = libc::memfd_create(c"forged".as_ptr(), 0);
            assert_eq!(libc::write(m, permissive.as_ptr().cast(), permissive.len()), permissive.len() as isize);
            let mut s = [0; 2];
            assert_eq!(libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0, s.as_mut_ptr()), 0);
            let mut r = [0; 2];
            assert_eq!(libc::pipe(r.as_mut_ptr()), 0);
            (m, s, r)
        };
        let forged = format!("{}:{}:{}", memfd, sock[1], ready[1]);
        let exe = std::ffi::CString::new(std::fs::read_link("/proc/self/exe").unwrap().into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: a C string; the descriptor is ours.
        let image = unsafe { libc::open(c"/proc/self/exe".as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        assert!(image >= 0);
        std::env::set_var("SIGCAP_BROKER", &forged);
        let sb = Sandbox::builder().read_beneath(&root).fast_path(false).enter().unwrap();
        assert_eq!(std::fs::read_to_string(root.join("file.txt")).unwrap(), "inside");
        let e = std::fs::read(t.path().join("secret.txt")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM));
        assert_eq!(sb.take_violations().last().unwrap().decision(), Decision::Denied(DenyReason::NoRule));
        // Nothing answered on the forged ready pipe: no broker of the
        // forged policy started.
        let mut pfd = libc::pollfd { fd: ready[0], events: libc::POLLIN, revents: 0 };
        // SAFETY: one pollfd.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 200) }, 0, "something answered on the forged ready pipe");
        // After enter(): executing this image with the forged marker, by
        // path or by a descriptor held from before, is refused.
        let marker = std::ffi::CString::new(format!("SIGCAP_BROKER={forged}")).unwrap();
        let argv = [c"sigcap-broker".as_ptr(), std::ptr::null()];
        let envp = [marker.as_ptr(), std::ptr::null()];
        // SAFETY: fork; the child tries to exec and reports the errno.
        let child = unsafe { libc::fork() };
        if child == 0 {
            unsafe {
                libc::execve(exe.as_ptr(), argv.as_ptr(), envp.as_ptr());
                let e1 = errno();
                libc::syscall(libc::SYS_execveat, image, c"".as_ptr(), argv.as_ptr(), envp.as_ptr(), libc::AT_EMPTY_PATH);
                let e2 = errno();
                libc::_exit(if e1 == libc::EPERM && e2 == libc::EPERM { 0 } else { 1 });
            }
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(child, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "an exec was not refused: {status:#x}");
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 100) }, 0);
    }
}

/// An image started with a marker that names no broker's descriptors
/// (inherited by accident, or forged) does not run as a broker, nor its
/// own `main`: it says why and exits with 127.
#[test]
fn an_image_with_a_bogus_marker_refuses_to_start() {
    let exe = std::env::current_exe().unwrap();
    for marker in ["3:4:5", "garbage", "0:1:2", ""] {
        let out = std::process::Command::new(&exe)
            .arg("--list")
            .env("SIGCAP_BROKER", marker)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(127), "{marker:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("SIGCAP_BROKER"), "{marker:?}: {err}");
        assert!(out.stdout.is_empty(), "{marker:?}: main ran: {out:?}");
    }
}

rusty_fork_test! {
    /// The exec'd broker makes itself not dumpable before it says it is
    /// ready: another process of the same user, unconfined and without
    /// CAP_SYS_PTRACE, can neither attach to it nor read its memory or
    /// environment. (Run as an unprivileged user: root's CAP_SYS_PTRACE
    /// passes over dumpability.)
    #[test]
    fn the_exec_d_broker_is_not_dumpable_for_its_user() {
        deadline(30);
        let (t, root) = tree();
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            // SAFETY: dropping every privilege in this (forked) test process.
            unsafe {
                assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
                assert_eq!(libc::setresgid(65534, 65534, 65534), 0);
                assert_eq!(libc::setresuid(65534, 65534, 65534), 0);
                // A change of credentials left this process not dumpable;
                // the control below needs it as an ordinary one.
                assert_eq!(libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0), 0);
            }
        }
        let mut p = [0; 2];
        let mut q = [0; 2];
        // SAFETY: pipes into local arrays.
        unsafe {
            assert_eq!(libc::pipe(p.as_mut_ptr()), 0);
            assert_eq!(libc::pipe(q.as_mut_ptr()), 0);
        }
        // SAFETY: fork; the helper, unconfined, attacks the pid it is sent.
        let helper = unsafe { libc::fork() };
        if helper == 0 {
            let mut b = [0u8; 8];
            unsafe { libc::read(p[0], b.as_mut_ptr().cast(), 8) };
            let broker = i32::from_ne_bytes(b[..4].try_into().unwrap());
            let program = i32::from_ne_bytes(b[4..].try_into().unwrap());
            let attach = unsafe { libc::ptrace(libc::PTRACE_ATTACH, broker, 0, 0) } == 0;
            let environ = std::fs::read(format!("/proc/{broker}/environ")).is_ok();
            let mem = std::fs::File::open(format!("/proc/{broker}/mem")).is_ok();
            // The control: the program itself (dumpable) can be read.
            let control = std::fs::read(format!("/proc/{program}/environ")).is_ok();
            let r = [attach as u8, environ as u8, mem as u8, control as u8];
            unsafe {
                libc::write(q[1], r.as_ptr().cast(), 4);
                libc::_exit(0);
            }
        }
        let sb = Sandbox::builder().read_beneath(&root).enter().unwrap();
        let mut b = sb.broker_pid().to_ne_bytes().to_vec();
        b.extend_from_slice(&std::process::id().to_ne_bytes());
        let mut r = [9u8; 4];
        // SAFETY: pipe I/O on local buffers; reaping the helper.
        unsafe {
            libc::write(p[1], b.as_ptr().cast(), 8);
            assert_eq!(libc::read(q[0], r.as_mut_ptr().cast(), 4), 4);
            libc::waitpid(helper, std::ptr::null_mut(), 0);
        }
        assert_eq!(r, [0, 0, 0, 1], "(attached, read environ, opened mem, control read) of the broker");
    }
}

rusty_fork_test! {
    /// The tests' helper processes end with a test process that entered:
    /// Landlock's signal scoping blocks PR_SET_PDEATHSIG there, and
    /// helpers that relied on it outlived their tests (a renaming loop
    /// spun on the host's cores for good).
    #[test]
    fn a_helper_process_ends_with_the_sandboxed_test_that_made_it() {
        deadline(30);
        let mut p = [0; 2];
        // SAFETY: a pipe for the helper's pid.
        assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: fork; the child makes a helper, enters and exits.
        let test = unsafe { libc::fork() };
        if test == 0 {
            let helper = idle_child();
            common::write_all(p[1], &helper.to_ne_bytes());
            let _sb = Sandbox::builder().enter().unwrap();
            // SAFETY: leaving the child.
            unsafe { libc::_exit(0) };
        }
        // SAFETY: closing our copy of the write end.
        unsafe { libc::close(p[1]) };
        let mut b = [0u8; 4];
        assert!(common::read_exact(p[0], &mut b));
        let helper = libc::pid_t::from_ne_bytes(b);
        let mut status = 0;
        // SAFETY: our child.
        assert_eq!(unsafe { libc::waitpid(test, &mut status, 0) }, test);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{status:#x}");
        let start = Instant::now();
        while !matches!(common::proc_state(helper), None | Some('Z')) {
            assert!(start.elapsed() < Duration::from_secs(5), "helper {helper} outlived its test");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Builder::broker_program: another image that links the crate serves
    /// as the broker; one that does not (/bin/true runs its main and
    /// exits) makes enter() fail at once, before anything is confined.
    #[test]
    fn a_broker_program_must_link_the_crate() {
        deadline(30);
        let (_t, root) = tree();
        let start = Instant::now();
        let e = Sandbox::builder().read_beneath(&root).broker_program("/bin/true").enter().unwrap_err();
        assert!(e.to_string().contains("before it was ready"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(4), "waited for the timeout");
        assert!(Sandbox::current().is_none());
        let other = tempfile::tempdir().unwrap();
        let copy = other.path().join("broker-image");
        std::fs::copy(std::env::current_exe().unwrap(), &copy).unwrap();
        let sb = Sandbox::builder()
            .read_beneath(&root)
            .read_beneath("/proc")
            .fast_path(false)
            .broker_program(&copy)
            .enter()
            .unwrap();
        assert_eq!(std::fs::read_to_string(root.join("file.txt")).unwrap(), "inside");
        assert!(matches!(sb.take_violations().last().unwrap().decision(), Decision::Allowed { .. }));
        // The broker answers the readlink itself: its own executable.
        let exe = std::fs::read_link(format!("/proc/{}/exe", sb.broker_pid())).unwrap();
        assert_eq!(exe, copy);
    }
}

/// A set-user-ID image never acts on a marker: whoever executes it would
/// choose the policy and the descriptors and be served with the image's
/// privileges. (Needs root, to make a set-user-ID copy of this binary
/// owned by another user.)
#[test]
fn a_set_user_id_image_refuses_the_marker() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP: making a set-user-ID image needs root");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join("setuid-image");
    std::fs::copy(std::env::current_exe().unwrap(), &copy).unwrap();
    std::os::unix::fs::chown(&copy, Some(65534), None).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755)).unwrap();
    // The same image with a bogus marker, not set-user-ID: the other message.
    let plain = std::process::Command::new(std::env::current_exe().unwrap())
        .env("SIGCAP_BROKER", "3:4:5")
        .output()
        .unwrap();
    let out = std::process::Command::new(&copy)
        .arg("--list")
        .env("SIGCAP_BROKER", "3:4:5")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(err.contains("set-user-ID"), "{err}");
    assert!(!String::from_utf8_lossy(&plain.stderr).contains("set-user-ID"));
}
