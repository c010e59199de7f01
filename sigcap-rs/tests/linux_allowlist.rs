//! The seccomp filter as an allowlist (issue #10): calls nobody listed
//! used to run. Each test is an attack with a call the old denylist did
//! not name, kept as a regression test, and says how it is refused now:
//! ENOSYS with a record (`class syscall`, `unsupported`) for a call the
//! filter does not know, EPERM for the families it refuses by name or by
//! argument. Each test runs in its own process (rusty-fork): entering is
//! irreversible. The machine these were written on runs them as root,
//! where every one of these calls would succeed unconfined.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use common::{assert_child_killed_by_sigsys, errno, idle_child, sys};
use rusty_fork::rusty_fork_test;
use sigcap::{Class, Decision, Sandbox};

/// The record of `nr`: a trap of a call the filter does not know,
/// refused with ENOSYS.
fn assert_unknown_recorded(sb: &Sandbox, nr: i64) {
    let v = sb.take_violations();
    let r = v
        .iter()
        .find(|v| v.syscall() == nr)
        .unwrap_or_else(|| panic!("no record of {nr}: {v:?}"));
    assert_eq!(
        (r.class(), r.decision(), r.errno(), r.result()),
        (
            Class::Syscall,
            Decision::Unsupported,
            libc::ENOSYS,
            -(libc::ENOSYS as i64)
        ),
        "{r}"
    );
}

/// `r` is ENOSYS and the filter recorded `nr` as unknown.
fn assert_not_in_the_allowlist(sb: &Sandbox, nr: i64, r: Result<libc::c_long, i32>) {
    assert_eq!(r, Err(libc::ENOSYS), "syscall {nr}");
    assert_unknown_recorded(sb, nr);
}

fn raw(nr: i64, a: [u64; 6]) -> Result<libc::c_long, i32> {
    // SAFETY: the calls below pass valid pointers or none; a refused call does nothing.
    sys(unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) })
}

rusty_fork_test! {
    /// Keyrings are global: add_key puts a key where other processes of
    /// the user (or the session) find it, keyctl reads theirs.
    #[test]
    fn keyrings_are_not_in_the_allowlist() {
        let sb = Sandbox::builder().enter().unwrap();
        let (ty, desc, payload) = (c"user", c"sigcap-attack", b"secret");
        const KEY_SPEC_SESSION_KEYRING: i32 = -3;
        const KEYCTL_GET_KEYRING_ID: u64 = 0;
        let r = raw(libc::SYS_add_key, [ty.as_ptr() as u64, desc.as_ptr() as u64, payload.as_ptr() as u64, 6, KEY_SPEC_SESSION_KEYRING as u64, 0]);
        assert_not_in_the_allowlist(&sb, libc::SYS_add_key, r);
        let r = raw(libc::SYS_keyctl, [KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING as u64, 1, 0, 0, 0]);
        assert_not_in_the_allowlist(&sb, libc::SYS_keyctl, r);
        let r = raw(libc::SYS_request_key, [ty.as_ptr() as u64, desc.as_ptr() as u64, 0, 0, 0, 0]);
        assert_not_in_the_allowlist(&sb, libc::SYS_request_key, r);
    }

    /// A user namespace gives the process every capability inside it
    /// (mount, chroot, raw sockets, ...), the way out of most sandboxes.
    #[test]
    fn unshare_and_setns_are_not_in_the_allowlist() {
        let sb = Sandbox::builder().enter().unwrap();
        let r = raw(libc::SYS_unshare, [(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) as u64, 0, 0, 0, 0, 0]);
        assert_not_in_the_allowlist(&sb, libc::SYS_unshare, r);
        let r = raw(libc::SYS_setns, [0, libc::CLONE_NEWNS as u64, 0, 0, 0, 0]);
        assert_not_in_the_allowlist(&sb, libc::SYS_setns, r);
    }

    /// clone(2) is allowed (threads, fork), but not with a namespace flag:
    /// trapped on the flags, refused with EPERM and recorded. If the call
    /// ran, the child exits at once and the parent sees a pid.
    #[test]
    fn clone_with_a_new_namespace_is_refused() {
        let sb = Sandbox::builder().enter().unwrap();
        for flag in [libc::CLONE_NEWUSER, libc::CLONE_NEWNS, libc::CLONE_NEWNET, libc::CLONE_NEWPID, libc::CLONE_NEWIPC, libc::CLONE_NEWUTS, libc::CLONE_NEWCGROUP] {
            // SAFETY: a fork-like clone (no CLONE_VM, no new stack); a child exits at once.
            let r = unsafe { libc::syscall(libc::SYS_clone, (flag | libc::SIGCHLD) as u64, 0u64, 0u64, 0u64, 0u64) };
            if r == 0 {
                unsafe { libc::_exit(0) };
            }
            assert_eq!(sys(r), Err(libc::EPERM), "clone with {flag:#x}");
            let v = sb.take_violations();
            let rec = v.iter().find(|v| v.syscall() == libc::SYS_clone).expect("recorded");
            assert_eq!((rec.class(), rec.decision(), rec.errno()), (Class::Syscall, Decision::Unsupported, libc::EPERM));
        }
        // Without one: a plain fork through clone still works.
        // SAFETY: as above.
        let r = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD as u64, 0u64, 0u64, 0u64, 0u64) };
        if r == 0 {
            unsafe { libc::_exit(7) };
        }
        assert!(r > 0, "clone: {}", errno());
        let mut status = 0;
        unsafe { libc::waitpid(r as i32, &mut status, 0) };
        assert_eq!(libc::WEXITSTATUS(status), 7);
    }

    /// clone3 takes its flags behind a pointer no filter can read: it
    /// would make a user namespace. Answered ENOSYS by the filter without
    /// a signal or a record (C libraries then fall back to clone(2)); and
    /// threads, which glibc starts with clone3 first, still start.
    #[test]
    fn clone3_is_enosys_and_threads_still_start() {
        let sb = Sandbox::builder().enter().unwrap();
        #[repr(C)]
        #[derive(Default)]
        struct CloneArgs { flags: u64, pidfd: u64, child_tid: u64, parent_tid: u64, exit_signal: u64, stack: u64, stack_size: u64, tls: u64 }
        let args = CloneArgs { flags: libc::CLONE_NEWUSER as u64, exit_signal: libc::SIGCHLD as u64, ..Default::default() };
        // SAFETY: a fork-like clone3; a child exits at once.
        let r = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, std::mem::size_of::<CloneArgs>()) };
        if r == 0 {
            unsafe { libc::_exit(0) };
        }
        assert_eq!(sys(r), Err(libc::ENOSYS));
        let (tx, rx) = std::sync::mpsc::channel();
        let threads: Vec<_> = (0..8u64).map(|i| {
            let tx = tx.clone();
            std::thread::spawn(move || tx.send(i * i).unwrap())
        }).collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(tx);
        assert_eq!(rx.iter().sum::<u64>(), (0..8).map(|i| i * i).sum());
        // posix_spawn goes through clone3 too, then clone; the exec is refused.
        let e = std::process::Command::new("/bin/true").status().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
        let v = sb.take_violations();
        assert!(v.iter().all(|v| v.syscall() != libc::SYS_clone3 && v.syscall() != libc::SYS_clone), "{v:?}");
    }

    /// SysV IPC lives in a namespace of its own, shared by every process
    /// of the IPC namespace: a segment, semaphore set or queue made with
    /// a key another process knows (or IPC_PRIVATE, then its id) is how
    /// data leaves or enters the sandbox.
    #[test]
    fn sysv_ipc_is_not_in_the_allowlist() {
        let sb = Sandbox::builder().enter().unwrap();
        let create = (libc::IPC_CREAT | 0o600) as u64;
        let r = raw(libc::SYS_shmget, [libc::IPC_PRIVATE as u64, 4096, create, 0, 0, 0]);
        assert_not_in_the_allowlist(&sb, libc::SYS_shmget, r);
        let r = raw(libc::SYS_semget, [libc::IPC_PRIVATE as u64, 1, create, 0, 0, 0]);
        assert_not_in_the_allowlist(&sb, libc::SYS_semget, r);
        let r = raw(libc::SYS_msgget, [libc::IPC_PRIVATE as u64, create, 0, 0, 0, 0]);
        assert_not_in_the_allowlist(&sb, libc::SYS_msgget, r);
        // An existing id is no better: shmat and shmctl are as unknown.
        let r = raw(libc::SYS_shmat, [0, 0, 0, 0, 0, 0]);
        assert_not_in_the_allowlist(&sb, libc::SYS_shmat, r);
        let r = raw(libc::SYS_shmctl, [0, libc::IPC_STAT as u64, 0, 0, 0, 0]);
        assert_not_in_the_allowlist(&sb, libc::SYS_shmctl, r);
    }

    /// POSIX message queues are opened by a global name (mqueue fs).
    #[test]
    fn mq_open_is_not_in_the_allowlist() {
        let sb = Sandbox::builder().enter().unwrap();
        let name = c"sigcap-attack";
        let r = raw(libc::SYS_mq_open, [name.as_ptr() as u64, (libc::O_CREAT | libc::O_RDWR) as u64, 0o600, 0, 0, 0]);
        assert_not_in_the_allowlist(&sb, libc::SYS_mq_open, r);
        let r = raw(libc::SYS_mq_unlink, [name.as_ptr() as u64, 0, 0, 0, 0, 0]);
        assert_not_in_the_allowlist(&sb, libc::SYS_mq_unlink, r);
    }

    /// Kernel attack surface a sandboxed program has no use for:
    /// userfaultfd (stalls the kernel mid-copy, a classic exploit aid),
    /// perf_event_open, bpf.
    #[test]
    fn userfaultfd_perf_event_open_and_bpf_are_not_in_the_allowlist() {
        let sb = Sandbox::builder().enter().unwrap();
        let r = raw(libc::SYS_userfaultfd, [libc::O_CLOEXEC as u64, 0, 0, 0, 0, 0]);
        assert_not_in_the_allowlist(&sb, libc::SYS_userfaultfd, r);
        // A software clock counting this process on any CPU.
        let mut attr = [0u8; 128];
        attr[0..4].copy_from_slice(&1u32.to_ne_bytes()); // PERF_TYPE_SOFTWARE
        attr[4..8].copy_from_slice(&128u32.to_ne_bytes()); // size
        let r = raw(libc::SYS_perf_event_open, [attr.as_ptr() as u64, 0, u64::MAX, u64::MAX, 0, 0]);
        assert_not_in_the_allowlist(&sb, libc::SYS_perf_event_open, r);
        // BPF_MAP_CREATE of an array map: 1 entry of 4 bytes.
        let mut bpf_attr = [0u32; 16];
        bpf_attr[..4].copy_from_slice(&[2, 4, 4, 1]);
        let r = raw(libc::SYS_bpf, [0, bpf_attr.as_ptr() as u64, 64, 0, 0, 0]);
        assert_not_in_the_allowlist(&sb, libc::SYS_bpf, r);
    }

    /// Calls of kernels newer than the filter (470 and on, numbers the
    /// running kernel may not have yet) are unknown too: each one trapped
    /// and recorded, where the denylist let every one of them run.
    #[test]
    fn numbers_past_the_table_are_not_in_the_allowlist() {
        let sb = Sandbox::builder().enter().unwrap();
        for nr in 470..=500 {
            assert_eq!(raw(nr, [0; 6]), Err(libc::ENOSYS), "syscall {nr}");
        }
        // And the gap between the old and the new numbering (335..424).
        assert_eq!(raw(400, [0; 6]), Err(libc::ENOSYS));
        let v = sb.take_violations();
        let mut seen: Vec<i64> = v.iter().filter(|v| v.class() == Class::Syscall && v.errno() == libc::ENOSYS).map(|v| v.syscall()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (470..=500).chain([400]).collect::<std::collections::BTreeSet<_>>().into_iter().collect::<Vec<_>>());
        assert_eq!(v[0].syscall_name(), "?");
    }

    /// The families refused by name keep EPERM without a signal or a
    /// record (they are known, and no broker could perform them):
    /// io_uring, ptrace, pidfd_getfd, process_vm_writev, the new mount API.
    #[test]
    fn refused_families_are_eperm_without_a_record() {
        let sb = Sandbox::builder().enter().unwrap();
        let broker = sb.broker_pid() as u64;
        let mut params = [0u8; 120];
        let buf = [0u8; 8];
        let iov = libc::iovec { iov_base: buf.as_ptr() as *mut _, iov_len: 8 };
        let iovp = &iov as *const libc::iovec as u64;
        let calls = [
            ("io_uring_setup", raw(libc::SYS_io_uring_setup, [4, params.as_mut_ptr() as u64, 0, 0, 0, 0])),
            ("ptrace(PTRACE_TRACEME)", raw(libc::SYS_ptrace, [libc::PTRACE_TRACEME as u64, 0, 0, 0, 0, 0])),
            ("ptrace(PTRACE_ATTACH)", raw(libc::SYS_ptrace, [libc::PTRACE_ATTACH as u64, broker, 0, 0, 0, 0])),
            ("pidfd_getfd", raw(libc::SYS_pidfd_getfd, [0, 0, 0, 0, 0, 0])),
            ("process_vm_writev", raw(libc::SYS_process_vm_writev, [broker, iovp, 1, iovp, 1, 0])),
            ("process_vm_readv", raw(libc::SYS_process_vm_readv, [broker, iovp, 1, iovp, 1, 0])),
            ("open_tree", raw(libc::SYS_open_tree, [libc::AT_FDCWD as u64, c"/".as_ptr() as u64, 0, 0, 0, 0])),
            ("fsopen", raw(libc::SYS_fsopen, [c"tmpfs".as_ptr() as u64, 0, 0, 0, 0, 0])),
            ("kcmp", raw(libc::SYS_kcmp, [broker, broker, 0, 0, 0, 0])),
            ("execve", raw(libc::SYS_execve, [c"/bin/true".as_ptr() as u64, 0, 0, 0, 0, 0])),
        ];
        let not_refused: Vec<_> = calls.iter().filter(|(_, r)| *r != Err(libc::EPERM)).collect();
        assert!(not_refused.is_empty(), "{not_refused:?}");
        assert!(sb.take_violations().is_empty());
    }

    /// Setters that take a pid reach other processes of the user: an
    /// RLIMIT_CPU of 0 kills one, a priority starves it. Refused unless
    /// the pid is 0 or the process's own; the forms on itself work.
    #[test]
    fn setters_on_another_process_are_refused() {
        let other = idle_child();
        let sb = Sandbox::builder().enter().unwrap();
        let lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        let limp = &lim as *const libc::rlimit as u64;
        let mut cpus = [0u64; 16];
        let cpusp = cpus.as_mut_ptr() as u64;
        let param = 0i32;
        let paramp = &param as *const i32 as u64;
        let o = other as u64;
        let calls = [
            ("prlimit64", raw(libc::SYS_prlimit64, [o, libc::RLIMIT_CPU as u64, limp, 0, 0, 0])),
            ("sched_setaffinity", raw(libc::SYS_sched_setaffinity, [o, 128, cpusp, 0, 0, 0])),
            ("sched_setscheduler", raw(libc::SYS_sched_setscheduler, [o, libc::SCHED_OTHER as u64, paramp, 0, 0, 0])),
            ("sched_setparam", raw(libc::SYS_sched_setparam, [o, paramp, 0, 0, 0, 0])),
            ("setpriority(PRIO_PROCESS)", raw(libc::SYS_setpriority, [libc::PRIO_PROCESS as u64, o, 19, 0, 0, 0])),
            ("setpriority(PRIO_USER)", raw(libc::SYS_setpriority, [libc::PRIO_USER as u64, 0, 19, 0, 0, 0])),
            ("ioprio_set", raw(libc::SYS_ioprio_set, [1, o, 7, 0, 0, 0])),
            ("personality(PER_LINUX32)", raw(libc::SYS_personality, [0x0008, 0, 0, 0, 0, 0])),
        ];
        let not_refused: Vec<_> = calls.iter().filter(|(_, r)| *r != Err(libc::EPERM)).collect();
        assert!(not_refused.is_empty(), "{not_refused:?}");
        // The other process lives on.
        assert_eq!(unsafe { libc::waitpid(other, std::ptr::null_mut(), libc::WNOHANG) }, 0);
        // On itself: allowed.
        let mut cur = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        let me = unsafe { libc::getpid() } as u64;
        assert!(raw(libc::SYS_prlimit64, [0, libc::RLIMIT_NOFILE as u64, 0, &mut cur as *mut libc::rlimit as u64, 0, 0]).is_ok());
        assert!(raw(libc::SYS_prlimit64, [me, libc::RLIMIT_NOFILE as u64, 0, &mut cur as *mut libc::rlimit as u64, 0, 0]).is_ok());
        assert!(raw(libc::SYS_sched_getaffinity, [0, 128, cpusp, 0, 0, 0]).is_ok());
        assert!(raw(libc::SYS_sched_setaffinity, [0, 128, cpusp, 0, 0, 0]).is_ok());
        assert!(raw(libc::SYS_setpriority, [libc::PRIO_PROCESS as u64, 0, 1, 0, 0, 0]).is_ok());
        assert_eq!(raw(libc::SYS_personality, [0xffff_ffff, 0, 0, 0, 0, 0]), Ok(0));
        assert!(sb.take_violations().is_empty());
    }

    /// TIOCSTI pushes bytes into a terminal's input: the shell that
    /// started the sandboxed program reads them as typed commands when
    /// it exits. Refused on any descriptor.
    #[test]
    fn tiocsti_is_refused() {
        // A pseudo-terminal made before entering (opening /dev/ptmx after
        // is the broker's, and no rule grants it).
        let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY) };
        assert!(master >= 0);
        let _sb = Sandbox::builder().enter().unwrap();
        let c = b'x';
        let r = sys(unsafe { libc::ioctl(master, libc::TIOCSTI, &c as *const u8) } as libc::c_long);
        assert_eq!(r, Err(libc::EPERM));
        let r = sys(unsafe { libc::ioctl(master, libc::TIOCLINUX, &c as *const u8) } as libc::c_long);
        assert_eq!(r, Err(libc::EPERM));
        // Other terminal ioctls still work.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        assert_eq!(sys(unsafe { libc::ioctl(master, libc::TIOCGWINSZ, &mut ws) } as libc::c_long), Ok(0));
    }

    /// x32 (the x86_64 audit architecture, 0x40000000 in the number):
    /// refused with EPERM by the allowlist, the calls it knows included.
    #[test]
    fn x32_getpid_is_refused() {
        let _sb = Sandbox::builder().enter().unwrap();
        let r: i64;
        // SAFETY: a raw x32 getpid.
        unsafe {
            std::arch::asm!("syscall", inlateout("rax") 0x4000_0000i64 | libc::SYS_getpid => r,
                out("rcx") _, out("r11") _);
        }
        assert_eq!(r, -(libc::EPERM as i64));
    }

    /// The i386 entry (int 0x80) is another numbering (20 is getpid
    /// there): the allowlist kills the process rather than look the
    /// number up in the wrong table.
    #[test]
    fn i386_int80_getpid_is_killed() {
        let _sb = Sandbox::builder().enter().unwrap();
        assert_child_killed_by_sigsys(|| {
            let r: i32;
            // SAFETY: a raw i386 getpid.
            unsafe { std::arch::asm!("int 0x80", inlateout("eax") 20i32 => r) };
            if r > 0 {
                0
            } else {
                1
            }
        });
    }
}

rusty_fork_test! {
    /// What a normal program does, inside the sandbox: threads, channels,
    /// a mutex and condvar, sleeping, time, random numbers, files in a
    /// root, a TCP server and client on loopback through the broker. None
    /// of it may hit a call the filter does not know.
    #[test]
    fn a_normal_workload_needs_no_unknown_call() {
        use std::io::{Read, Write};
        use std::sync::{Arc, Condvar, Mutex};
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().to_path_buf();
        let sb = Sandbox::builder()
            .write_beneath(&dir)
            .bind("127.0.0.1:*")
            .connect("127.0.0.1:*")
            .enter()
            .unwrap();
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        assert!(n >= 1);
        let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
        let workers: Vec<_> = (0..4).map(|i| {
            let pair = pair.clone();
            let dir = dir.clone();
            std::thread::Builder::new().name(format!("worker-{i}")).spawn(move || {
                let f = dir.join(format!("f{i}"));
                std::fs::write(&f, format!("{i}")).unwrap();
                assert_eq!(std::fs::read_to_string(&f).unwrap(), format!("{i}"));
                std::thread::sleep(std::time::Duration::from_millis(5));
                let (m, cv) = &*pair;
                *m.lock().unwrap() += 1;
                cv.notify_all();
            }).unwrap()
        }).collect();
        {
            let (m, cv) = &*pair;
            let g = cv.wait_while(m.lock().unwrap(), |c| *c < 4).unwrap();
            assert_eq!(*g, 4);
        }
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 4);
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 4];
            s.read_exact(&mut b).unwrap();
            s.write_all(&b).unwrap();
        });
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        c.write_all(b"ping").unwrap();
        let mut b = [0u8; 4];
        c.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"ping");
        server.join().unwrap();
        let _ = std::collections::HashMap::<u32, u32>::new(); // getrandom for the hasher
        let _ = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        let unknown: Vec<_> = sb.take_violations().into_iter().filter(|v| v.errno() == libc::ENOSYS || v.class() == Class::Syscall).collect();
        assert!(unknown.is_empty(), "{unknown:?}");
    }
}
