//! Issue #10, item 3: a broker that cannot be turned against the program
//! and never blocks. Each test is one finding of the security review,
//! written as the attack against the real kernel and kept as a regression
//! test.
//!
//! Every wait is bounded: each test arms alarm(2) first, so a broker that
//! hangs makes the test die of SIGALRM instead of hanging the suite, and a
//! broker a failing test leaves stopped or stuck is killed by the
//! unconfined helper ([`Outside`]) when the test process goes. Each test
//! runs in its own process (rusty-fork): entering is irreversible.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use common::{c, deadline, read_exact, sys, write_all, Outside};
use rusty_fork::rusty_fork_test;
use sigcap::{Decision, DenyReason, Sandbox};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The broker wait the tests that stop the broker ask for.
const SHORT: Duration = Duration::from_millis(400);

/// root/ with file.txt.
fn tree() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("file.txt"), "inside").unwrap();
    (t, root)
}

/// The control socket, found the way an attacker would: the one
/// SOCK_SEQPACKET socket the process holds.
fn find_ctl() -> i32 {
    let found: Vec<i32> = (3..1024)
        .filter(|&fd| sock_type(fd) == Some(libc::SOCK_SEQPACKET))
        .collect();
    assert_eq!(found.len(), 1, "seqpacket sockets: {found:?}");
    found[0]
}

fn sock_type(fd: i32) -> Option<i32> {
    let mut t = 0i32;
    let mut len = 4 as libc::socklen_t;
    // SAFETY: getsockopt into an int.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut t as *mut i32).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(t)
}

/// A request as the wire format lays it out (proto.rs: a 48-byte header,
/// then path, path2 and the address), built by hand as a hostile program
/// would: op 1 is open.
fn open_request(path: &[u8], fd_roles: u32) -> Vec<u8> {
    const PATH_MAX: usize = 4096;
    let mut b = vec![0u8; 48 + 2 * PATH_MAX + 128];
    b[0..4].copy_from_slice(&0x5347_4350u32.to_ne_bytes()); // magic
    b[4..6].copy_from_slice(&1u16.to_ne_bytes()); // version
    b[6..8].copy_from_slice(&1u16.to_ne_bytes()); // op: open
    b[8..12].copy_from_slice(&fd_roles.to_ne_bytes());
    b[20..24].copy_from_slice(&(path.len() as u32).to_ne_bytes());
    b[48..48 + path.len()].copy_from_slice(path);
    b
}

/// sendmsg of `bytes` with `fds` attached.
fn send_fds(sock: i32, bytes: &[u8], fds: &[i32]) -> Result<libc::c_long, i32> {
    send_fds_flags(sock, bytes, fds, 0)
}

fn send_fds_flags(sock: i32, bytes: &[u8], fds: &[i32], flags: i32) -> Result<libc::c_long, i32> {
    let mut cbuf = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut _,
        iov_len: bytes.len(),
    };
    // SAFETY: a msghdr over live buffers; the control buffer holds 3 fds.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            let len = std::mem::size_of_val(fds) as u32;
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(len) as usize;
            let cm = libc::CMSG_FIRSTHDR(&msg);
            (*cm).cmsg_level = libc::SOL_SOCKET;
            (*cm).cmsg_type = libc::SCM_RIGHTS;
            (*cm).cmsg_len = libc::CMSG_LEN(len) as usize;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cm).cast::<i32>(), fds.len());
        }
        sys(libc::sendmsg(sock, &msg, flags | libc::MSG_NOSIGNAL) as libc::c_long)
    }
}

fn pair(kind: i32) -> (i32, i32) {
    let mut p = [0; 2];
    // SAFETY: socketpair into a local array.
    assert_eq!(
        unsafe { libc::socketpair(libc::AF_UNIX, kind | libc::SOCK_CLOEXEC, 0, p.as_mut_ptr()) },
        0
    );
    (p[0], p[1])
}

/// A stream socket pair whose first end cannot send another byte: its
/// peer never reads. The first end is left blocking.
fn full_stream_pair() -> (i32, i32) {
    let (x, y) = pair(libc::SOCK_STREAM);
    let chunk = [0u8; 65536];
    // SAFETY: writes to our own socket.
    unsafe { while libc::send(x, chunk.as_ptr().cast(), chunk.len(), libc::MSG_DONTWAIT) > 0 {} }
    (x, y)
}

/// A seqpacket pair whose first end's peer queue is full.
fn full_seqpacket_pair() -> (i32, i32) {
    let (x, y) = pair(libc::SOCK_SEQPACKET);
    // SAFETY: writes to our own socket.
    unsafe { while libc::send(x, b"x".as_ptr().cast(), 1, libc::MSG_DONTWAIT) > 0 {} }
    (x, y)
}

/// An ordinary violation from another thread and from a forked child:
/// both must be answered (the deadline bounds the wait).
fn others_are_answered(root: &Path) {
    let f = root.join("file.txt");
    let f2 = f.clone();
    let t = std::thread::spawn(move || std::fs::read_to_string(f2).ok());
    // SAFETY: fork; the child reads and _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // Alarms are not inherited: the child needs its own.
        deadline(10);
        let ok = std::fs::read_to_string(&f).is_ok_and(|s| s == "inside");
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    assert_eq!(t.join().unwrap().as_deref(), Some("inside"), "another thread");
    let mut status = 0;
    // SAFETY: reaping our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "a forked child: {status:#x}"
    );
}

rusty_fork_test! {
    /// A full, blocking stream socket passed as the reply socket: the
    /// broker's main loop blocked writing the answer, and every thread and
    /// forked child then waited for good.
    #[test]
    fn a_full_stream_socket_as_reply_socket_blocks_the_broker() {
        deadline(20);
        let (_t, root) = tree();
        let out = Outside::start();
        let sb = Sandbox::builder().read_beneath(&root).enter().unwrap();
        out.watch(sb.broker_pid());
        let ctl = find_ctl();
        let (x, _y) = full_stream_pair();
        let req = open_request(root.join("file.txt").as_os_str().as_bytes(), 0);
        assert!(send_fds(ctl, &req, &[x]).is_ok());
        std::thread::sleep(Duration::from_millis(200));
        others_are_answered(&root);
    }

    /// The same with a SOCK_SEQPACKET reply socket, the right type, whose
    /// peer never reads: the broker must not wait for room either.
    #[test]
    fn a_reply_socket_nobody_reads_blocks_the_broker() {
        deadline(20);
        let (_t, root) = tree();
        let out = Outside::start();
        let sb = Sandbox::builder().read_beneath(&root).enter().unwrap();
        out.watch(sb.broker_pid());
        let ctl = find_ctl();
        let (x, _y) = full_seqpacket_pair();
        let req = open_request(root.join("file.txt").as_os_str().as_bytes(), 0);
        assert!(send_fds(ctl, &req, &[x]).is_ok());
        std::thread::sleep(Duration::from_millis(200));
        others_are_answered(&root);
    }

    /// The full stream socket again, its peer kept alive in flight inside
    /// the reply socket itself, and the control socket's own client end
    /// passed as the directory: the broker then holds its own peer, never
    /// sees the program go, and stays alive holding its roots.
    #[test]
    fn a_blocked_broker_holding_its_own_peer_outlives_the_program() {
        deadline(20);
        let (_t, root) = tree();
        // The broker is the child's child: become its reaper, to see it go.
        // SAFETY: prctl with integer arguments; pipe into a local array.
        let mut p = [0; 2];
        unsafe {
            assert_eq!(libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
            assert_eq!(libc::pipe(p.as_mut_ptr()), 0);
        }
        let child = unsafe { libc::fork() };
        if child == 0 {
            let sb = Sandbox::builder().read_beneath(&root).enter().unwrap();
            write_all(p[1], &sb.broker_pid().to_ne_bytes());
            let ctl = find_ctl();
            let (x, y) = full_stream_pair();
            // y travels inside x's receive queue: nothing but x holds it.
            assert!(send_fds(y, b"y", &[y]).is_ok());
            unsafe { libc::close(y) };
            let req = open_request(b"file.txt", 1); // FD_DIR: the control socket
            let sent = send_fds(ctl, &req, &[x, ctl]).is_ok();
            unsafe { libc::_exit(if sent { 0 } else { 1 }) };
        }
        let mut b = [0u8; 4];
        assert!(read_exact(p[0], &mut b));
        let broker = i32::from_ne_bytes(b);
        let mut status = 0;
        unsafe { libc::waitpid(child, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "attacker: {status:#x}");
        let start = Instant::now();
        let gone = loop {
            // SAFETY: the broker is our child now (subreaper): its pid is ours until reaped.
            if unsafe { libc::waitpid(broker, &mut status, libc::WNOHANG) } == broker {
                break true;
            }
            if start.elapsed() > Duration::from_secs(5) {
                unsafe {
                    libc::kill(broker, libc::SIGKILL);
                    libc::waitpid(broker, &mut status, 0);
                }
                break false;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(gone, "the broker was still alive 5 s after its program exited");
    }

    /// A FIFO opened for reading without a writer blocks in open(2): the
    /// broker did it in its main loop, and every other violation waited.
    #[test]
    fn a_fifo_open_stalls_every_other_violation() {
        deadline(20);
        let (_t, root) = tree();
        let fifo = root.join("fifo");
        // SAFETY: mkfifo with a valid path, before entering.
        assert_eq!(unsafe { libc::mkfifo(c(&fifo).as_ptr(), 0o600) }, 0);
        let out = Outside::start();
        // The broker's path: the fast path would open the FIFO in the
        // program's own thread, which then waits as a native open does.
        let sb = Sandbox::builder()
            .write_beneath(&root)
            .broker_timeout(SHORT)
            .fast_path(false)
            .enter()
            .unwrap();
        out.watch(sb.broker_pid());
        let opener = std::thread::spawn(move || {
            let start = Instant::now();
            let r = std::fs::File::open(&fifo).map(|_| ()).map_err(|e| e.raw_os_error());
            (r, start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(300));
        let start = Instant::now();
        assert_eq!(std::fs::read_to_string(root.join("file.txt")).unwrap(), "inside");
        assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
        others_are_answered(&root);
        // The open itself gives up after the timeout, with its reason.
        let (r, took) = opener.join().unwrap();
        assert_eq!(r, Err(Some(libc::EPERM)));
        assert!(took >= SHORT && took < SHORT + Duration::from_secs(2), "{took:?}");
        let v = sb.take_violations();
        let fifo = v.iter().find(|v| v.detail().is_some_and(|d| d.ends_with("/fifo"))).expect("the FIFO's record");
        assert_eq!(fifo.decision(), Decision::Denied(DenyReason::BrokerTimeout));
    }

    /// Without Landlock's signal scope (opted out, or a kernel before
    /// Linux 6.12) nothing stopped the program from SIGSTOPping the
    /// broker; the next violation then waited for good.
    #[test]
    fn the_program_cannot_stop_the_broker() {
        deadline(20);
        let (_t, root) = tree();
        let out = Outside::start();
        let sb = Sandbox::builder().read_beneath(&root).without_landlock().enter().unwrap();
        let b = sb.broker_pid();
        out.watch(b);
        let stop = libc::SIGSTOP;
        // SAFETY: a zeroed siginfo, as sigqueue would fill it.
        let mut si = [0i32; 32];
        si[0] = stop;
        si[2] = -1; // SI_QUEUE
        // SAFETY: signals to the broker; the helper kills it if one lands.
        let tries: Vec<(&str, Result<libc::c_long, i32>)> = unsafe {
            vec![
                ("kill", sys(libc::syscall(libc::SYS_kill, b, stop))),
                ("kill group", sys(libc::syscall(libc::SYS_kill, -b, stop))),
                ("tgkill", sys(libc::syscall(libc::SYS_tgkill, b, b, stop))),
                ("tkill", sys(libc::syscall(libc::SYS_tkill, b, stop))),
                ("rt_sigqueueinfo", sys(libc::syscall(libc::SYS_rt_sigqueueinfo, b, stop, si.as_ptr()))),
                ("rt_tgsigqueueinfo", sys(libc::syscall(libc::SYS_rt_tgsigqueueinfo, b, b, stop, si.as_ptr()))),
                ("pidfd_open", sys(libc::syscall(libc::SYS_pidfd_open, b, 0)).map(|fd| {
                    libc::syscall(libc::SYS_pidfd_send_signal, fd, stop, 0usize, 0)
                })),
                // Signal 0: only the permission check, harmless if it passes.
                ("kill -1", sys(libc::syscall(libc::SYS_kill, -1, 0))),
            ]
        };
        let reached: Vec<_> = tries.iter().filter(|(_, r)| *r != Err(libc::EPERM)).collect();
        assert!(reached.is_empty(), "not refused: {reached:?}");
        assert_eq!(std::fs::read_to_string(root.join("file.txt")).unwrap(), "inside");
    }

    /// With Landlock (the default) the kernel's signal scope refuses the
    /// same signals.
    #[test]
    fn the_program_cannot_stop_the_broker_under_landlock() {
        deadline(20);
        let (_t, root) = tree();
        let out = Outside::start();
        let sb = Sandbox::builder().read_beneath(&root).enter().unwrap();
        let b = sb.broker_pid();
        out.watch(b);
        // SAFETY: signals to the broker; the helper kills it if one lands.
        let r = unsafe {
            [
                sys(libc::syscall(libc::SYS_kill, b, libc::SIGSTOP)),
                sys(libc::syscall(libc::SYS_tgkill, b, b, libc::SIGSTOP)),
            ]
        };
        assert_eq!(r, [Err(libc::EPERM), Err(libc::EPERM)]);
        assert_eq!(std::fs::read_to_string(root.join("file.txt")).unwrap(), "inside");
    }

    /// A broker stopped by someone else (or through a thread id the filter
    /// cannot know): the next violations used to wait for good.
    #[test]
    fn violations_return_in_time_while_the_broker_is_stopped() {
        deadline(30);
        let (_t, root) = tree();
        let out = Outside::start();
        let mut lp = [0; 2];
        // SAFETY: a pipe for the JSON log.
        unsafe { assert_eq!(libc::pipe2(lp.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK), 0) };
        let log = unsafe { std::os::fd::BorrowedFd::borrow_raw(lp[1]) };
        // The broker's path (the fast path answers these opens without
        // it: tests/linux_fast_path.rs).
        let sb = Sandbox::builder()
            .read_beneath(&root)
            .log_json(log)
            .broker_timeout(SHORT)
            .fast_path(false)
            .enter()
            .unwrap();
        out.watch(sb.broker_pid());
        out.stop();
        sb.take_violations();
        // More requests than the control socket queues (net.unix.max_dgram_qlen).
        for i in 0..12 {
            let start = Instant::now();
            let e = std::fs::read(root.join("file.txt")).unwrap_err();
            let took = start.elapsed();
            assert_eq!(e.raw_os_error(), Some(libc::EPERM), "#{i}");
            assert!(took < SHORT + Duration::from_millis(1500), "#{i} took {took:?}");
        }
        let v = sb.take_violations();
        assert_eq!(v.len(), 12);
        assert!(v.iter().all(|v| v.decision() == Decision::Denied(DenyReason::BrokerTimeout)), "{v:?}");
        assert_eq!(sb.stats().broker_unavailable, 12);
        let mut buf = vec![0u8; 65536];
        let n = unsafe { libc::read(lp[0], buf.as_mut_ptr().cast(), buf.len()) };
        let text = String::from_utf8_lossy(&buf[..n.max(0) as usize]).into_owned();
        assert_eq!(text.lines().count(), 12, "{text}");
        assert!(text.lines().all(|l| l.contains(r#""decision":"denied","reason":"broker-timeout""#)), "{text}");
        // Requests fill the control socket until a send would block: the
        // next violation must not wait for room for longer either.
        let ctl = find_ctl();
        let (reply, _peer) = pair(libc::SOCK_SEQPACKET);
        let req = open_request(root.join("file.txt").as_os_str().as_bytes(), 0);
        let mut queued = 0;
        while send_fds_flags(ctl, &req, &[reply], libc::MSG_DONTWAIT).is_ok() {
            queued += 1;
        }
        assert!(queued > 0);
        let start = Instant::now();
        let e = std::fs::read(root.join("file.txt")).unwrap_err();
        let took = start.elapsed();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM));
        assert!(took >= SHORT && took < SHORT + Duration::from_millis(1500), "full queue: {took:?}");
        assert_eq!(sb.take_violations()[0].decision(), Decision::Denied(DenyReason::BrokerTimeout));
        out.cont();
        assert_eq!(std::fs::read_to_string(root.join("file.txt")).unwrap(), "inside");
    }

    /// The broker kept the program's signal handlers (and ignored
    /// signals), its mask and its process group: ^C at the terminal ran
    /// the program's handler inside the broker, or killed it.
    #[test]
    fn the_broker_keeps_neither_the_programs_signals_nor_its_group() {
        deadline(20);
        static INTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        extern "C" fn on_int(_: libc::c_int) {
            INTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        let (_t, root) = tree();
        // The helper stays in the harness's group; this process leads its
        // own, as a shell's foreground job does.
        let out = Outside::start();
        // SAFETY: setpgid, sigaction and sigprocmask on this process.
        unsafe {
            assert_eq!(libc::setpgid(0, 0), 0);
            libc::signal(libc::SIGINT, on_int as *const () as libc::sighandler_t);
            libc::signal(libc::SIGHUP, on_int as *const () as libc::sighandler_t);
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR1);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
        let sb = Sandbox::builder().read_beneath(&root).enter().unwrap();
        let b = sb.broker_pid();
        out.watch(b);
        let st = out.status();
        let field = |name: &str| {
            let line = st.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in {st}"));
            u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
        };
        let stat = st.split("stat: ").nth(1).unwrap();
        let after_comm: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split_whitespace().collect();
        let (pgrp, session): (i32, i32) = (after_comm[2].parse().unwrap(), after_comm[3].parse().unwrap());
        // Signals 32 to SIGRTMIN-1 are the C library's own (glibc's
        // SIGCANCEL and SIGSETXID), which sigaction does not let anyone change.
        let libc_own: u64 = (32..libc::SIGRTMIN()).map(|s| 1u64 << (s - 1)).sum();
        let f = |name: &str| field(name) & !libc_own;
        // The broker's session is its own (its leader, the exec'd
        // intermediate, exited; the broker cannot take a terminal), and
        // so is its group: neither is this process's.
        // SAFETY: getsid and getpgrp of this process.
        let (our_sid, our_pgrp) = unsafe { (libc::getsid(0), libc::getpgrp()) };
        let got = (
            f("SigCgt:"),
            f("SigBlk:"),
            f("SigIgn:"),
            pgrp == session,
            session != our_sid && pgrp != our_pgrp && session != b,
        );
        let want = (0, 0, 1 << (libc::SIGPIPE - 1), true, true);
        assert_eq!(
            got, want,
            "(caught, blocked, ignored, group = session, not ours) of the broker {b}: group {pgrp}, session {session}"
        );
        out.ask(b'I', unsafe { libc::getpid() });
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(INTS.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(std::fs::read_to_string(root.join("file.txt")).unwrap(), "inside");
    }
}

/// Counts SIGPIPEs (Rust programs start with SIGPIPE ignored, which would
/// hide it).
static PIPES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
extern "C" fn on_pipe(_: libc::c_int) {
    PIPES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

fn count_sigpipe() {
    // SAFETY: installing a handler that only counts.
    unsafe { libc::signal(libc::SIGPIPE, on_pipe as *const () as libc::sighandler_t) };
}

fn sigpipe_pending() -> bool {
    // SAFETY: sigpending into a zeroed set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut set);
        libc::sigismember(&set, libc::SIGPIPE) == 1
    }
}

fn block_sigpipe(block: bool) {
    // SAFETY: pthread_sigmask on this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        let how = if block { libc::SIG_BLOCK } else { libc::SIG_UNBLOCK };
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}

rusty_fork_test! {
    /// The JSON log is a pipe whose reader is gone: each line written from
    /// the handler raised SIGPIPE in the program.
    #[test]
    fn a_log_pipe_without_reader_raises_no_sigpipe() {
        deadline(20);
        let (_t, root) = tree();
        count_sigpipe();
        let mut p = [0; 2];
        unsafe { assert_eq!(libc::pipe(p.as_mut_ptr()), 0) };
        let sb = Sandbox::builder()
            .read_beneath(&root)
            .log_json(unsafe { std::os::fd::BorrowedFd::borrow_raw(p[1]) })
            .enter()
            .unwrap();
        unsafe {
            libc::close(p[0]);
            libc::close(p[1]);
        }
        assert!(std::fs::read("/etc/passwd").is_err());
        assert_eq!(PIPES.load(std::sync::atomic::Ordering::SeqCst), 0, "SIGPIPE delivered");
        // Blocked by the program: not left pending either.
        block_sigpipe(true);
        assert!(std::fs::read("/etc/passwd").is_err());
        assert!(!sigpipe_pending(), "SIGPIPE left pending");
        // One the program had pending already stays, exactly once.
        // SAFETY: raise on this thread, with SIGPIPE blocked.
        unsafe { libc::raise(libc::SIGPIPE) };
        assert!(std::fs::read("/etc/passwd").is_err());
        assert!(sigpipe_pending(), "the program's own SIGPIPE was taken");
        block_sigpipe(false);
        assert_eq!(PIPES.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(sb.take_violations().len(), 3);
    }

    /// The same with a socket whose peer is gone.
    #[test]
    fn a_log_socket_without_peer_raises_no_sigpipe() {
        deadline(20);
        let (_t, root) = tree();
        count_sigpipe();
        let (a, b) = pair(libc::SOCK_STREAM);
        let _sb = Sandbox::builder()
            .read_beneath(&root)
            .log_json(unsafe { std::os::fd::BorrowedFd::borrow_raw(a) })
            .enter()
            .unwrap();
        unsafe {
            libc::close(a);
            libc::close(b);
        }
        assert!(std::fs::read("/etc/passwd").is_err());
        assert_eq!(PIPES.load(std::sync::atomic::Ordering::SeqCst), 0, "SIGPIPE delivered");
    }

    /// closefrom(3), then unrelated sockets and files dup2'd over every
    /// number: once the numbers of the control socket and of the log
    /// belonged to whatever came next, and requests and log lines went
    /// into unrelated files and sockets. Now the filter keeps them: the
    /// range is closed around them, dup2 onto them fails, and requests
    /// and lines go where they went.
    #[test]
    fn closed_or_reused_descriptor_numbers_do_not_redirect_requests_or_log_lines() {
        deadline(20);
        let (t, root) = tree();
        let unrelated = t.path().join("unrelated");
        let hi = |fd: i32, at: i32| unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, at) };
        // SAFETY: an open and a pipe before entering, kept at high numbers.
        let f = unsafe { libc::open(c(&unrelated).as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_CLOEXEC, 0o600) };
        let (file, (u, upeer)) = (hi(f, 900), pair(libc::SOCK_SEQPACKET));
        let (u, upeer) = (hi(u, 901), hi(upeer, 902));
        let mut lp = [0; 2];
        unsafe { assert_eq!(libc::pipe2(lp.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK), 0) };
        let log_r = hi(lp[0], 903);
        let sb = Sandbox::builder()
            .read_beneath(&root)
            .log_json(unsafe { std::os::fd::BorrowedFd::borrow_raw(lp[1]) })
            .enter()
            .unwrap();
        let held = sb.held_descriptors();
        assert_eq!(held.len(), 2, "{held:?}");
        // closefrom(3), below the descriptors kept for the test.
        unsafe { assert_eq!(libc::syscall(libc::SYS_close_range, 3u32, 899u32, 0u32), 0) };
        assert!(unsafe { libc::fcntl(lp[1], libc::F_GETFD) } < 0, "the program's own log end is closed");
        // An unrelated socket onto every low number and onto the held ones.
        for n in (3..64).chain(held.iter().copied()) {
            let r = unsafe { libc::dup2(u, n) };
            assert_eq!(r < 0, held.contains(&n), "dup2 onto {n}: {r}");
        }
        assert_eq!(std::fs::read_to_string(root.join("file.txt")).unwrap(), "inside");
        let mut buf = [0u8; 16384];
        let got = unsafe { libc::recv(upeer, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        assert!(got < 0, "{got} bytes reached the unrelated socket: {:?}", String::from_utf8_lossy(&buf[..got.max(0) as usize]));
        // An unrelated file onto every low number and a close of the held.
        for n in 3..64 {
            unsafe { libc::dup2(file, n) };
        }
        for &n in &held {
            assert_eq!(unsafe { libc::close(n) }, -1, "close {n}");
        }
        assert_eq!(std::fs::read("/etc/passwd").unwrap_err().raw_os_error(), Some(libc::EPERM));
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        unsafe { libc::syscall(libc::SYS_fstat, file, &mut st) };
        assert_eq!(st.st_size, 0, "lines written into the unrelated file");
        let n = unsafe { libc::read(log_r, buf.as_mut_ptr().cast(), buf.len()) };
        let text = String::from_utf8_lossy(&buf[..n.max(0) as usize]).into_owned();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("/etc/passwd") && text.contains("file.txt"), "{text}");
        let v = sb.take_violations();
        let d: Vec<Decision> = v.iter().map(|v| v.decision()).collect();
        assert!(d.len() == 2 && d[0].is_allowed() && !d[1].is_allowed(), "{v:?}");
        assert_ne!(d[1], Decision::BrokerUnavailable);
    }
}
