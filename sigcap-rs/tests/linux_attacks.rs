//! Attacks on the Linux backend from the security review (issue #10), each
//! written against the real kernel and kept as a regression test.
//!
//! Every test enters a sandbox whose policy covers `root/` of a scratch
//! tree and then tries to reach `outside/` (a sibling directory no rule
//! names) with raw system calls, so that no libc wrapper hides or changes
//! the call. The machine these were written on runs them as root, so none
//! relies on permission bits to fail. Each test runs in its own process
//! (rusty-fork): entering is irreversible.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use common::{assert_child_killed_by_sigsys, c, errno, idle_child, read_fd, sys};
use rusty_fork::rusty_fork_test;
use sigcap::Sandbox;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// root/ (the policy root, with a file) and outside/secret.txt beside it.
fn tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let outside = t.path().join("outside");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(root.join("file.txt"), "inside").unwrap();
    std::fs::write(outside.join("secret.txt"), "outside secret").unwrap();
    (t, root, outside)
}

/// Every call of `calls` (name, result taken with its errno right after
/// the call) was refused with EPERM by the filter; the error names those
/// that reached the kernel.
fn assert_all_refused(calls: &[(&str, Result<libc::c_long, i32>)]) {
    let not_refused: Vec<_> = calls.iter().filter(|&&(_, r)| r != Err(libc::EPERM)).collect();
    assert!(not_refused.is_empty(), "reached the kernel: {not_refused:?}");
}

fn raw_openat(dir: i32, path: &str, flags: i32, mode: u32) -> Result<i32, i32> {
    let p = CString::new(path).unwrap();
    // SAFETY: plain system call with a valid C string.
    sys(unsafe { libc::syscall(libc::SYS_openat, dir, p.as_ptr(), flags, mode) }).map(|fd| fd as i32)
}

/// What an attacker got out of a directory descriptor on `outside/`:
/// the secret's content and whether a new file could be created.
fn loot_through(dirfd: i32) -> Vec<String> {
    let mut loot = Vec::new();
    if let Ok(fd) = raw_openat(dirfd, "secret.txt", libc::O_RDONLY, 0) {
        loot.push(format!("read secret.txt: {:?}", read_fd(fd)));
    }
    if raw_openat(dirfd, "created", libc::O_CREAT | libc::O_WRONLY, 0o600).is_ok() {
        loot.push("created outside/created".into());
    }
    loot
}

/// A minimal io_uring, by hand: the structures of <linux/io_uring.h>.
mod uring {
    #[repr(C)]
    #[derive(Default)]
    pub struct SqOffsets {
        pub head: u32,
        pub tail: u32,
        pub ring_mask: u32,
        pub ring_entries: u32,
        pub flags: u32,
        pub dropped: u32,
        pub array: u32,
        pub resv1: u32,
        pub user_addr: u64,
    }
    #[repr(C)]
    #[derive(Default)]
    pub struct CqOffsets {
        pub head: u32,
        pub tail: u32,
        pub ring_mask: u32,
        pub ring_entries: u32,
        pub overflow: u32,
        pub cqes: u32,
        pub flags: u32,
        pub resv1: u32,
        pub user_addr: u64,
    }
    #[repr(C)]
    #[derive(Default)]
    pub struct Params {
        pub sq_entries: u32,
        pub cq_entries: u32,
        pub flags: u32,
        pub sq_thread_cpu: u32,
        pub sq_thread_idle: u32,
        pub features: u32,
        pub wq_fd: u32,
        pub resv: [u32; 3],
        pub sq_off: SqOffsets,
        pub cq_off: CqOffsets,
    }
    const OFF_SQ_RING: i64 = 0;
    const OFF_CQ_RING: i64 = 0x800_0000;
    const OFF_SQES: i64 = 0x1000_0000;
    const OP_OPENAT: u8 = 18;
    const ENTER_GETEVENTS: u32 = 1;

    /// A ring of 4 entries, or the errno of io_uring_setup.
    pub struct Ring {
        pub fd: i32,
        p: Params,
        sq: *mut u8,
        cq: *mut u8,
        sqes: *mut u8,
    }

    fn map(fd: i32, len: usize, off: i64) -> *mut u8 {
        // SAFETY: mapping the ring's regions as the io_uring ABI describes.
        let m = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                off,
            )
        };
        assert_ne!(m, libc::MAP_FAILED);
        m.cast()
    }

    pub fn setup() -> Result<Ring, i32> {
        let mut p = Params::default();
        // SAFETY: p is a valid io_uring_params.
        let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, &mut p as *mut Params) };
        if fd < 0 {
            return Err(super::errno());
        }
        let fd = fd as i32;
        let sq_len = (p.sq_off.array + p.sq_entries * 4) as usize;
        let cq_len = (p.cq_off.cqes + p.cq_entries * 16) as usize;
        let sq = map(fd, sq_len, OFF_SQ_RING);
        let cq = map(fd, cq_len, OFF_CQ_RING);
        let sqes = map(fd, p.sq_entries as usize * 64, OFF_SQES);
        Ok(Ring { fd, p, sq, cq, sqes })
    }

    impl Ring {
        /// Submits openat(AT_FDCWD, path, O_RDONLY) and waits for its
        /// completion: the descriptor, or the errno (of io_uring_enter
        /// itself, or of the operation).
        pub fn openat(&self, path: &std::ffi::CStr) -> Result<i32, i32> {
            // SAFETY: offsets come from the kernel; entry 0 is ours alone.
            unsafe {
                let sqe = self.sqes;
                std::ptr::write_bytes(sqe, 0, 64);
                *sqe = OP_OPENAT;
                *(sqe.add(4) as *mut i32) = libc::AT_FDCWD;
                *(sqe.add(16) as *mut u64) = path.as_ptr() as u64;
                *(sqe.add(28) as *mut u32) = libc::O_RDONLY as u32;
                *(sqe.add(32) as *mut u64) = 0x5ec;
                let tail = self.sq.add(self.p.sq_off.tail as usize) as *mut u32;
                let mask = *(self.sq.add(self.p.sq_off.ring_mask as usize) as *const u32);
                let t = std::ptr::read_volatile(tail);
                *(self.sq.add(self.p.sq_off.array as usize) as *mut u32).add((t & mask) as usize) = 0;
                std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
                std::ptr::write_volatile(tail, t.wrapping_add(1));
                let r = libc::syscall(
                    libc::SYS_io_uring_enter,
                    self.fd,
                    1u32,
                    1u32,
                    ENTER_GETEVENTS,
                    0usize,
                    0usize,
                );
                if r < 0 {
                    return Err(super::errno());
                }
                let head = std::ptr::read_volatile(self.cq.add(self.p.cq_off.head as usize) as *const u32);
                let cmask = *(self.cq.add(self.p.cq_off.ring_mask as usize) as *const u32);
                let cqe = self.cq.add(self.p.cq_off.cqes as usize + (head & cmask) as usize * 16);
                let res = *(cqe.add(8) as *const i32);
                if res < 0 {
                    Err(-res)
                } else {
                    Ok(res)
                }
            }
        }
    }
}

rusty_fork_test! {
    /// open_tree(2) hands out an O_PATH descriptor on any directory; an
    /// openat(2) relative to it used to be granted "by descriptor".
    #[test]
    fn open_tree_then_openat_reaches_outside_the_roots() {
        let (_t, root, outside) = tree();
        let _sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        let dir = c(&outside);
        // SAFETY: open_tree with a valid path; no clone, so no mount is made.
        let r = sys(unsafe {
            libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, dir.as_ptr(), libc::O_CLOEXEC as libc::c_uint)
        });
        let loot = match r {
            Ok(fd) => loot_through(fd as i32),
            Err(_) => Vec::new(),
        };
        assert!(loot.is_empty(), "escaped the policy: {loot:?}");
        assert_eq!(r, Err(libc::EPERM), "open_tree must be refused");
    }

    /// The broker's other half of the same hole: a directory descriptor
    /// the program holds (here opened before entering) whose real path
    /// matches no rule is no authority for anything beneath it.
    #[test]
    fn directory_descriptor_outside_every_root_grants_nothing() {
        let (_t, root, outside) = tree();
        let dir = c(&outside);
        // SAFETY: plain open before entering.
        let dirfd = unsafe { libc::open(dir.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        assert!(dirfd >= 0);
        let _sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        let mut loot = loot_through(dirfd);
        let name = c(Path::new("made-dir"));
        // SAFETY: plain system calls with valid C strings.
        if unsafe { libc::syscall(libc::SYS_mkdirat, dirfd, name.as_ptr(), 0o700) } == 0 {
            loot.push("mkdir outside/made-dir".into());
        }
        let secret = c(Path::new("secret.txt"));
        if unsafe { libc::syscall(libc::SYS_unlinkat, dirfd, secret.as_ptr(), 0) } == 0 {
            loot.push("unlinked outside/secret.txt".into());
        }
        assert!(loot.is_empty(), "escaped the policy: {loot:?}");
        // Inside the roots, descriptors keep working as before.
        let rootfd = raw_openat(libc::AT_FDCWD, root.to_str().unwrap(), libc::O_DIRECTORY | libc::O_RDONLY, 0).unwrap();
        let fd = raw_openat(rootfd, "file.txt", libc::O_RDONLY, 0).unwrap();
        assert_eq!(read_fd(fd), "inside");
    }

    /// The rest of the new mount API: fsopen/fspick/fsconfig/fsmount/
    /// move_mount/mount_setattr/open_tree_attr are refused with EPERM
    /// before the kernel sees them (as root they would otherwise build and
    /// attach mounts; with bad descriptors they would say EBADF).
    #[test]
    fn new_mount_api_is_refused() {
        let (_t, root, outside) = tree();
        let _sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        let dir = c(&outside);
        const SYS_OPEN_TREE_ATTR: libc::c_long = 467;
        // SAFETY: each call either fails or returns a descriptor we never use.
        let calls: [(&str, Result<libc::c_long, i32>); 7] = unsafe {
            [
                ("fsopen", sys(libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), 0))),
                ("fspick", sys(libc::syscall(libc::SYS_fspick, libc::AT_FDCWD, dir.as_ptr(), 0))),
                ("fsconfig", sys(libc::syscall(libc::SYS_fsconfig, -1, 0, 0, 0, 0))),
                ("fsmount", sys(libc::syscall(libc::SYS_fsmount, -1, 0, 0))),
                ("move_mount", sys(libc::syscall(libc::SYS_move_mount, -1, c"".as_ptr(), -1, c"".as_ptr(), 0))),
                ("mount_setattr", sys(libc::syscall(libc::SYS_mount_setattr, -1, c"".as_ptr(), 0, 0, 0))),
                ("open_tree_attr", sys(libc::syscall(SYS_OPEN_TREE_ATTR, libc::AT_FDCWD, dir.as_ptr(), 0, 0, 0))),
            ]
        };
        assert_all_refused(&calls);
    }

    /// IORING_OP_OPENAT runs in the kernel without a system call the
    /// filter sees: the ring itself must be refused.
    #[test]
    fn io_uring_openat_reads_outside_the_roots() {
        let (_t, root, outside) = tree();
        let _sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        let ring = uring::setup();
        if let Ok(ring) = &ring {
            let got = ring.openat(&c(&outside.join("secret.txt"))).map(read_fd);
            panic!("io_uring opened outside the roots: {got:?}");
        }
        assert_eq!(ring.err(), Some(libc::EPERM));
    }

    /// A ring set up before entering (a runtime started early) would keep
    /// working inside, and with SQPOLL a kernel thread consumes its
    /// submissions without any system call: entering is refused while the
    /// process holds one.
    #[test]
    fn io_uring_ring_made_before_entering_blocks_entering() {
        let (_t, root, outside) = tree();
        let ring = uring::setup().expect("io_uring available before entering");
        let entered = Sandbox::builder().write_beneath(&root).enter();
        let err = match entered {
            Ok(_) => panic!("entered holding a ring: {:?}", ring.openat(&c(&outside.join("secret.txt"))).map(read_fd)),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("io_uring"), "{err}");
    }

    /// io_uring_enter and io_uring_register on any descriptor (one passed
    /// in later, say) are refused before the kernel looks at it.
    #[test]
    fn io_uring_enter_and_register_are_refused() {
        let (_t, root, _outside) = tree();
        let _sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        // SAFETY: calls on a descriptor that is not open; nothing is touched.
        let (e, r) = unsafe {
            (
                sys(libc::syscall(libc::SYS_io_uring_enter, 1000, 0u32, 0u32, 0u32, 0usize, 0usize)),
                sys(libc::syscall(libc::SYS_io_uring_register, 1000, 1u32, 0usize, 0u32)),
            )
        };
        assert_eq!((e, r), (Err(libc::EPERM), Err(libc::EPERM)));
    }

    /// pidfd_getfd(2) copies any descriptor of a process the caller may
    /// ptrace: the broker's control socket, its handles on the roots.
    /// pidfd_open of the broker is refused too now (issue #10 item 3), so
    /// pidfd_getfd is tried with the pidfd of a process the program may
    /// open one for, itself: the filter refuses it whatever the target.
    #[test]
    fn pidfd_getfd_steals_the_brokers_descriptors() {
        let (_t, root, _outside) = tree();
        let root_ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&root).unwrap());
        let sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        // SAFETY: pidfd_open on the broker's pid, then on our own.
        let broker = sys(unsafe { libc::syscall(libc::SYS_pidfd_open, sb.broker_pid(), 0) });
        assert_eq!(broker, Err(libc::EPERM), "pidfd_open of the broker");
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
        assert!(pidfd >= 0, "pidfd_open: {}", errno());
        let mut stolen = Vec::new();
        let mut last_err = 0;
        for target in 0..64 {
            // SAFETY: pidfd_getfd with a live pidfd.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, target, 0) };
            if fd < 0 {
                last_err = errno();
                continue;
            }
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: fstat into a zeroed struct (SYS_fstat: no path).
            unsafe { libc::syscall(libc::SYS_fstat, fd, &mut st) };
            stolen.push(if st.st_ino == root_ino { format!("{target} (the root's handle)") } else { target.to_string() });
        }
        assert!(stolen.is_empty(), "took the broker's descriptors {stolen:?}");
        assert_eq!(last_err, libc::EPERM);
    }

    /// As root, PR_SET_DUMPABLE 0 does not stop ptrace (CAP_SYS_PTRACE):
    /// the filter must refuse it.
    #[test]
    fn ptrace_attach_to_the_broker() {
        let (_t, root, _outside) = tree();
        let sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        let pid = sb.broker_pid();
        let mut got = Vec::new();
        for (name, req) in [("PTRACE_ATTACH", libc::PTRACE_ATTACH), ("PTRACE_SEIZE", libc::PTRACE_SEIZE)] {
            // SAFETY: ptrace requests on our own child; undone below.
            let r = unsafe { libc::ptrace(req, pid, 0, 0) };
            if r == 0 {
                got.push(name);
                unsafe {
                    libc::kill(pid, libc::SIGSTOP);
                    libc::waitpid(pid, std::ptr::null_mut(), libc::__WALL);
                    libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0);
                    libc::kill(pid, libc::SIGCONT);
                }
            } else {
                assert_eq!(errno(), libc::EPERM, "{name}");
            }
        }
        assert!(got.is_empty(), "attached to the broker with {got:?}");
    }

    /// process_vm_readv/writev read and write another process's memory
    /// under the same ptrace check.
    #[test]
    fn process_vm_readv_and_writev_on_the_broker() {
        static MARKER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0x5167_ca95);
        let (_t, root, _outside) = tree();
        let sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        let mut word = 0u64;
        let local = libc::iovec { iov_base: (&mut word as *mut u64).cast(), iov_len: 8 };
        let remote = libc::iovec { iov_base: MARKER.as_ptr().cast(), iov_len: 8 };
        // SAFETY: the broker is forked from us, so MARKER is at the same
        // address there; writing its own value back changes nothing.
        let (r, w) = unsafe {
            (
                sys(libc::process_vm_readv(sb.broker_pid(), &local, 1, &remote, 1, 0) as libc::c_long),
                sys(libc::process_vm_writev(sb.broker_pid(), &local, 1, &remote, 1, 0) as libc::c_long),
            )
        };
        assert_eq!((r, w), (Err(libc::EPERM), Err(libc::EPERM)), "read {word:#x}");
        // Our own memory stays readable (the handler relies on it).
        let r = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
        assert_eq!((r, word), (8, 0x5167_ca95));
    }

    /// kcmp(2) compares the broker's descriptors and memory with ours.
    #[test]
    fn kcmp_on_the_broker() {
        let (_t, root, _outside) = tree();
        let sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        const KCMP_FILE: i32 = 0;
        // SAFETY: kcmp only compares.
        let r = sys(unsafe { libc::syscall(libc::SYS_kcmp, libc::getpid(), sb.broker_pid(), KCMP_FILE, 0, 0) });
        assert_eq!(r, Err(libc::EPERM));
    }

    /// The broker is not dumpable: a process of the same user with the same
    /// capabilities, outside the sandbox, cannot inspect it. (Without
    /// CAP_SYS_PTRACE: a root process that has it passes the dumpable
    /// check; so the test drops it before the broker is forked, and the
    /// helper has exactly the broker's capabilities.)
    #[test]
    fn broker_is_not_dumpable() {
        let (_t, root, _outside) = tree();
        let mut to_helper = [0; 2];
        let mut from_helper = [0; 2];
        // SAFETY: capset, pipes and a fork before entering; the helper
        // makes only raw calls and _exits.
        unsafe {
            // Drop CAP_SYS_PTRACE (19) from the effective and permitted sets.
            let mut hdr = [0x2008_0522u32, 0];
            let mut data = [0u32; 6];
            assert_eq!(libc::syscall(libc::SYS_capget, hdr.as_mut_ptr(), data.as_mut_ptr()), 0);
            data[0] &= !(1 << 19);
            data[1] &= !(1 << 19);
            assert_eq!(libc::syscall(libc::SYS_capset, hdr.as_mut_ptr(), data.as_ptr()), 0);
            assert_eq!(libc::pipe(to_helper.as_mut_ptr()), 0);
            assert_eq!(libc::pipe(from_helper.as_mut_ptr()), 0);
        }
        let helper = unsafe { libc::fork() };
        if helper == 0 {
            unsafe {
                let mut pid: libc::pid_t = 0;
                libc::read(to_helper[0], (&mut pid as *mut libc::pid_t).cast(), 4);
                const KCMP_VM: i32 = 1;
                let r = libc::syscall(libc::SYS_kcmp, libc::getpid(), pid, KCMP_VM, 0, 0);
                let res = if r < 0 { errno() } else { 0 };
                libc::write(from_helper[1], (&res as *const i32).cast(), 4);
                libc::_exit(0);
            }
        }
        let sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        let pid = sb.broker_pid();
        let mut res = -2i32;
        // SAFETY: read/write on our pipes; reaping the helper.
        unsafe {
            libc::write(to_helper[1], (&pid as *const libc::pid_t).cast(), 4);
            libc::read(from_helper[0], (&mut res as *mut i32).cast(), 4);
            libc::waitpid(helper, std::ptr::null_mut(), 0);
        }
        assert_eq!(res, libc::EPERM, "kcmp on the broker from an unprivileged process of the same user");
    }

    /// fchmodat2(2) (Linux 6.6) was not trapped: chmod 04777 outside.
    #[test]
    fn fchmodat2_chmods_outside_the_roots() {
        let (_t, root, outside) = tree();
        let f = std::fs::File::open(outside.join("secret.txt")).unwrap();
        let _sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        let p = c(&outside.join("secret.txt"));
        // SAFETY: plain system call with a valid C string.
        let r = sys(unsafe { libc::syscall(libc::SYS_fchmodat2, libc::AT_FDCWD, p.as_ptr(), 0o4777, 0) });
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        unsafe { libc::syscall(libc::SYS_fstat, std::os::fd::AsRawFd::as_raw_fd(&f), &mut st) };
        assert_ne!(st.st_mode & 0o7777, 0o4777, "chmod reached outside");
        assert_eq!(r, Err(libc::EPERM));
    }

    /// The *xattrat family (Linux 6.13) and file_getattr/file_setattr
    /// (6.17) look names up by path and were not trapped.
    #[test]
    fn xattrat_and_file_attr_calls_reach_outside_the_roots() {
        let (_t, root, outside) = tree();
        let file = outside.join("secret.txt");
        let p = c(&file);
        // SAFETY: setting a user xattr before entering.
        let pre = unsafe { libc::setxattr(p.as_ptr(), c"user.k".as_ptr(), b"v".as_ptr().cast(), 1, 0) };
        assert_eq!(pre, 0, "user xattrs on the scratch file system: {}", errno());
        let _sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        #[repr(C)]
        struct XattrArgs {
            value: u64,
            size: u32,
            flags: u32,
        }
        let mut buf = [0u8; 64];
        let mut args = XattrArgs { value: buf.as_mut_ptr() as u64, size: buf.len() as u32, flags: 0 };
        let mut fattr = [0u8; 24];
        let (fd, at) = (libc::AT_FDCWD, p.as_ptr());
        // SAFETY: every pointer is valid for the size passed.
        let calls: [(&str, Result<libc::c_long, i32>); 6] = unsafe {
            [
                ("getxattrat", sys(libc::syscall(464, fd, at, 0, c"user.k".as_ptr(), &mut args as *mut XattrArgs, 16))),
                ("listxattrat", sys(libc::syscall(465, fd, at, 0, buf.as_mut_ptr(), buf.len()))),
                ("setxattrat", sys(libc::syscall(463, fd, at, 0, c"user.n".as_ptr(), &args as *const XattrArgs, 16))),
                ("removexattrat", sys(libc::syscall(466, fd, at, 0, c"user.k".as_ptr()))),
                ("file_getattr", sys(libc::syscall(468, fd, at, fattr.as_mut_ptr(), fattr.len(), 0))),
                ("file_setattr", sys(libc::syscall(469, fd, at, fattr.as_ptr(), fattr.len(), 0))),
            ]
        };
        assert_all_refused(&calls);
    }

    /// A directory on the way to a root can be stat()ed (rm -r lstat()s
    /// "/" first), and nothing else outside the roots: not a sibling, not
    /// a file beside the root, not an ancestor spelled with `..`, and an
    /// ancestor only for stat, never for open.
    #[test]
    fn only_a_roots_ancestors_can_be_stat_ed() {
        let (t, root, outside) = tree();
        let _sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        let stat = |p: &Path| -> Result<libc::stat, i32> {
            let p = c(p);
            // SAFETY: a zeroed struct stat and a C string.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            sys(unsafe { libc::syscall(libc::SYS_newfstatat, libc::AT_FDCWD, p.as_ptr(), &mut st, 0) }).map(|_| st)
        };
        let slash = stat(Path::new("/")).expect("stat of / (an ancestor of the root)");
        assert_eq!(slash.st_mode & libc::S_IFMT, libc::S_IFDIR);
        stat(t.path()).expect("stat of the root's parent");
        assert_eq!(stat(&outside).err(), Some(libc::EPERM), "a sibling of the root");
        assert_eq!(stat(&outside.join("secret.txt")).err(), Some(libc::EPERM));
        assert_eq!(stat(&root.join("..").join("outside")).err(), Some(libc::EPERM));
        assert!(stat(&root.join("../..")).is_err(), "an ancestor spelled with ..");
        assert!(
            raw_openat(libc::AT_FDCWD, "/", libc::O_RDONLY | libc::O_DIRECTORY, 0).is_err(),
            "an ancestor opened"
        );
    }

    /// newfstatat/statx with AT_EMPTY_PATH and a non-empty path look the
    /// path up; the filter used to let every AT_EMPTY_PATH call through.
    #[test]
    fn stat_with_at_empty_path_and_a_path_looks_outside() {
        let (_t, root, outside) = tree();
        let dir = c(&outside);
        // SAFETY: plain opens before entering.
        let outfd = unsafe { libc::open(dir.as_ptr(), libc::O_PATH | libc::O_DIRECTORY) };
        let f = std::fs::File::open(outside.join("secret.txt")).unwrap();
        let sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        let abs = c(&outside.join("secret.txt"));
        let mut st = [0u8; 256];
        let e = libc::AT_EMPTY_PATH;
        // SAFETY: buffers are large enough for struct stat and struct statx.
        let calls: [(&str, Result<libc::c_long, i32>); 4] = unsafe {
            [
                ("newfstatat abs", sys(libc::syscall(libc::SYS_newfstatat, outfd, abs.as_ptr(), st.as_mut_ptr(), e))),
                ("statx abs", sys(libc::syscall(libc::SYS_statx, outfd, abs.as_ptr(), e, 0x7ff, st.as_mut_ptr()))),
                ("newfstatat rel", sys(libc::syscall(libc::SYS_newfstatat, outfd, c"secret.txt".as_ptr(), st.as_mut_ptr(), e))),
                ("statx rel", sys(libc::syscall(libc::SYS_statx, outfd, c"secret.txt".as_ptr(), e, 0x7ff, st.as_mut_ptr()))),
            ]
        };
        let looked_up: Vec<_> = calls.iter().filter(|&&(_, r)| r != Err(libc::EPERM)).collect();
        assert!(looked_up.is_empty(), "looked up outside: {looked_up:?}");
        // fstat of a held descriptor stays an fstat, and is no violation.
        sb.take_violations();
        let md = f.metadata().unwrap(); // statx(fd, "", AT_EMPTY_PATH)
        assert_eq!(md.len(), "outside secret".len() as u64);
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::fstat(std::os::fd::AsRawFd::as_raw_fd(&f), &mut st) }, 0);
        assert_eq!(st.st_size, md.len() as i64);
        // The NULL-path form (Linux 6.11) is not trapped at all.
        let r = unsafe { libc::syscall(libc::SYS_statx, outfd, std::ptr::null::<u8>(), e, 0x7ff, st_buf().as_mut_ptr()) };
        assert_eq!(r, 0);
        assert!(sb.take_violations().is_empty(), "fstat recorded as a violation");
    }
}

/// A copy of `s` (NUL-terminated) in memory below 4 GiB, where a 32-bit
/// system call can point.
fn low_cstr(s: &Path) -> *const u8 {
    // SAFETY: a fresh anonymous mapping, written before use.
    unsafe {
        let m = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
            -1,
            0,
        );
        assert_ne!(m, libc::MAP_FAILED);
        let b = s.as_os_str().as_bytes();
        std::ptr::copy_nonoverlapping(b.as_ptr(), m.cast::<u8>(), b.len());
        m.cast()
    }
}

fn st_buf() -> [u8; 256] {
    [0; 256]
}

rusty_fork_test! {
    /// x32 system calls carry the x86_64 audit architecture with
    /// 0x40000000 added to the number: openat as x32 (257 | 0x40000000)
    /// matched no rule of the denylist. Refused now with EPERM; a kernel
    /// built without x32 says ENOSYS, which is why EPERM is the proof.
    #[test]
    fn x32_openat_passes_the_denylist() {
        let (_t, root, outside) = tree();
        let path = c(&outside.join("secret.txt"));
        let _sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        let r: i64;
        // SAFETY: a raw x32 openat; it fails or returns a descriptor.
        unsafe {
            std::arch::asm!("syscall", inlateout("rax") 0x4000_0000i64 | libc::SYS_openat => r,
                in("rdi") libc::AT_FDCWD as i64, in("rsi") path.as_ptr(), in("rdx") 0i64,
                out("rcx") _, out("r11") _);
        }
        let got = if r >= 0 { Ok(read_fd(r as i32)) } else { Err(-r as i32) };
        assert_eq!(got, Err(libc::EPERM));
    }

    /// The i386 entry (int 0x80, AUDIT_ARCH_I386) is killed by the
    /// filter's architecture check: open(2) as i386 of a file outside.
    #[test]
    fn i386_int80_open_is_killed() {
        let (_t, root, outside) = tree();
        let path = low_cstr(&outside.join("secret.txt"));
        let _sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        assert_child_killed_by_sigsys(|| {
            let r: i32;
            // SAFETY: a raw i386 open of a C string.
            unsafe {
                // rbx belongs to LLVM: swap the path in and out around the call.
                std::arch::asm!("xchg {p:r}, rbx", "int 0x80", "xchg {p:r}, rbx",
                    p = inout(reg) path as u64 => _, inlateout("eax") 5i32 => r, in("ecx") 0u32);
            }
            if r >= 0 {
                0
            } else {
                1
            }
        });
    }
}

rusty_fork_test! {
    /// Signals to other processes are not trapped by the filter: the
    /// program could kill or stop any process of its user (the broker
    /// among them). Landlock's signal scope now refuses them.
    #[test]
    fn signals_to_a_process_outside_the_sandbox_are_refused_by_the_kernel() {
        let other = idle_child();
        let sb = Sandbox::builder().enter().unwrap();
        assert!(matches!(sb.landlock(), sigcap::LandlockStatus::Enforced { .. }), "{:?}", sb.landlock());
        // SAFETY: plain kill.
        let r = sys(unsafe { libc::kill(other, libc::SIGKILL) } as libc::c_long);
        // Signal 0: the same permission check, without harm if it passes.
        let b = sys(unsafe { libc::kill(sb.broker_pid(), 0) } as libc::c_long);
        assert_eq!((r, b), (Err(libc::EPERM), Err(libc::EPERM)));
    }

    /// sendmsg(2) with an address is not trapped: a datagram reached any
    /// abstract Unix socket (D-Bus, X11 and others listen on them).
    /// Landlock's abstract-socket scope now refuses it.
    #[test]
    fn sendmsg_to_an_abstract_socket_outside_is_refused_by_the_kernel() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("sigcap-attack-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = std::os::unix::net::UnixDatagram::bind_addr(&addr).unwrap();
        server.set_nonblocking(true).unwrap();
        let client = std::os::unix::net::UnixDatagram::unbound().unwrap();
        let _sb = Sandbox::builder().enter().unwrap();
        // sockaddr_un with the abstract name: a NUL, then the name.
        let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        sun.sun_family = libc::AF_UNIX as u16;
        for (i, b) in name.bytes().enumerate() {
            sun.sun_path[1 + i] = b as libc::c_char;
        }
        let mut data = *b"x";
        let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: 1 };
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut sun as *mut libc::sockaddr_un).cast();
        msg.msg_namelen = (std::mem::size_of::<libc::sa_family_t>() + 1 + name.len()) as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        // SAFETY: a valid msghdr on live buffers.
        let r = sys(unsafe {
            libc::syscall(libc::SYS_sendmsg, std::os::fd::AsRawFd::as_raw_fd(&client), &msg as *const libc::msghdr, 0)
        });
        let mut buf = [0u8; 4];
        assert_eq!(r, Err(libc::EPERM));
        assert!(server.recv(&mut buf).is_err(), "the datagram arrived");
    }
}

/// W/ (read-write-create) with W/sub/ro/ (read-only) nested inside it,
/// W/x/ beside it and W/l, a symlink to sub/ro, made before entering.
fn nested_tree() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let w = t.path().join("W");
    std::fs::create_dir_all(w.join("sub/ro")).unwrap();
    std::fs::create_dir_all(w.join("x")).unwrap();
    std::fs::write(w.join("sub/ro/f"), "read-only").unwrap();
    std::fs::write(w.join("f"), "writable").unwrap();
    std::os::unix::fs::symlink("sub/ro", w.join("l")).unwrap();
    (t, w)
}

rusty_fork_test! {
    /// The policy gives W/sub/ro/ its own, read-only rule inside the
    /// read-write W/. The broker chose the rule on the spelled path and
    /// resolved beneath W: `W/x/../sub/ro/f` and `W/l/f` matched W and
    /// landed in the read-only directory, and the directory (or one
    /// holding it) could be renamed away from its rule.
    #[test]
    fn a_nested_read_only_rule_is_not_bypassed_by_dotdot_symlinks_or_renames() {
        let (_t, w) = nested_tree();
        let sb = Sandbox::builder()
            .write_beneath(&w)
            .read_beneath(w.join("sub/ro"))
            .enter()
            .unwrap();
        let wr = |p: &str| std::fs::OpenOptions::new().write(true).open(w.join(p)).map(|_| ()).map_err(|e| e.raw_os_error());
        let mv = |a: &str, b: &str| std::fs::rename(w.join(a), w.join(b)).map_err(|e| e.raw_os_error());
        let reached: Vec<(&str, bool)> = vec![
            ("write x/../sub/ro/f", wr("x/../sub/ro/f").is_ok()),
            ("write l/f", wr("l/f").is_ok()),
            ("write sub/ro/f", wr("sub/ro/f").is_ok()),
            ("rename x/../sub/ro", mv("x/../sub/ro", "ro-moved").is_ok()),
            ("rename l/f", mv("l/f", "stolen").is_ok()),
            ("rename sub (holds ro)", mv("sub", "sub-moved").is_ok()),
        ];
        let bad: Vec<_> = reached.iter().filter(|(_, r)| *r).collect();
        assert!(bad.is_empty(), "bypassed the read-only rule: {bad:?}");
        assert_eq!(std::fs::read_to_string(w.join("sub/ro/f")).unwrap(), "read-only");
        // What the rules grant still works.
        assert_eq!(wr("f"), Ok(()));
        assert_eq!(mv("f", "g"), Ok(()));
        assert_eq!(std::fs::read_to_string(w.join("l/f")).map_err(|e| e.raw_os_error()), Err(Some(libc::ELOOP)),
            "beneath a root holding other roots no symlink is followed");
        assert!(!sb.take_violations().is_empty());
    }
}

/// The SIGSYS handler the program had before entering: records what it
/// was given and makes the interrupted call return 4242.
static FOREIGN: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
extern "C" fn foreign_handler(_: libc::c_int, info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    // SAFETY: kernel-provided frame; si_errno is the trap's data.
    unsafe {
        FOREIGN.store(
            ((*info).si_code as i64) << 32 | (*info).si_errno as i64,
            std::sync::atomic::Ordering::SeqCst,
        );
        (*(uc as *mut libc::ucontext_t)).uc_mcontext.gregs[libc::REG_RAX as usize] = 4242;
    }
}

fn install_foreign_handler() {
    // SAFETY: sigaction with a zeroed, filled-in structure.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = foreign_handler as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        assert_eq!(libc::sigaction(libc::SIGSYS, &sa, std::ptr::null_mut()), 0);
    }
}

rusty_fork_test! {
    /// A SIGSYS another seccomp filter traps with its own data (here one
    /// the program installs after entering, for getppid) belongs to the
    /// handler the program had: it used to be taken for a violation,
    /// refused with EPERM and recorded.
    #[test]
    fn another_filters_trap_goes_to_the_previous_handler() {
        install_foreign_handler();
        let sb = Sandbox::builder().enter().unwrap();
        let filter = [
            libc::sock_filter { code: 0x20, jt: 0, jf: 0, k: 0 }, // ld nr
            libc::sock_filter { code: 0x15, jt: 0, jf: 1, k: libc::SYS_getppid as u32 }, // jeq
            libc::sock_filter { code: 0x06, jt: 0, jf: 0, k: libc::SECCOMP_RET_TRAP | 0x42 },
            libc::sock_filter { code: 0x06, jt: 0, jf: 0, k: libc::SECCOMP_RET_ALLOW },
        ];
        let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr() as *mut _ };
        // SAFETY: a valid program; no_new_privs is set by enter().
        let r = unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &prog as *const libc::sock_fprog) };
        assert_eq!(r, 0, "seccomp: {}", errno());
        // SAFETY: no arguments.
        let r = unsafe { libc::syscall(libc::SYS_getppid) };
        assert_eq!(r, 4242, "the previous handler answered");
        assert_eq!(FOREIGN.load(std::sync::atomic::Ordering::SeqCst), 1 << 32 | 0x42);
        assert!(sb.take_violations().is_empty(), "taken for a violation");
    }

    /// A SIGSYS the process queues to itself with si_code SYS_SECCOMP (the
    /// one si_code a user may forge for its own process) is no violation:
    /// it used to be decoded from the registers of rt_tgsigqueueinfo, sent
    /// to the broker, and the call made to return the answer.
    #[test]
    fn a_forged_seccomp_sigsys_is_not_a_violation() {
        install_foreign_handler();
        let sb = Sandbox::builder().write_beneath("/tmp").enter().unwrap();
        // SAFETY: a zeroed siginfo with the fields of a seccomp trap filled in.
        let r = unsafe {
            let mut si: [u32; 32] = [0; 32];
            si[0] = libc::SIGSYS as u32;
            si[1] = 0; // si_errno: the data of a trap with none
            si[2] = 1; // si_code: SYS_SECCOMP
            si[6] = libc::SYS_openat as u32; // si_syscall
            si[7] = 0xc000_003e; // si_arch: x86_64
            libc::syscall(libc::SYS_rt_tgsigqueueinfo, libc::getpid(), libc::gettid(), libc::SIGSYS, si.as_ptr())
        };
        assert_eq!(FOREIGN.load(std::sync::atomic::Ordering::SeqCst), 1 << 32);
        assert_eq!(r, 4242, "the previous handler answered");
        assert!(sb.take_violations().is_empty(), "taken for a violation");
    }
}

fn tcp_socket(family: i32) -> i32 {
    // SAFETY: plain socket(2).
    let s = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(s >= 0);
    s
}

/// The port getsockname shows (0: unbound).
fn local_port(s: i32) -> u16 {
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getsockname into a sockaddr_storage.
    assert_eq!(
        unsafe { libc::getsockname(s, (&mut ss as *mut libc::sockaddr_storage).cast(), &mut len) },
        0
    );
    // sin_port and sin6_port sit at the same offset.
    let sin = unsafe { &*(&ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
    u16::from_be(sin.sin_port)
}

rusty_fork_test! {
    /// listen(2) on a socket never bound makes the kernel bind it to
    /// 0.0.0.0 (or ::) and a free port: a listening socket on every
    /// address with no bind rule. It was not trapped.
    #[test]
    fn listen_on_an_unbound_socket_binds_every_address() {
        let before = tcp_socket(libc::AF_INET);
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        // SAFETY: plain bind of a socket made before entering.
        let addr = l.local_addr().unwrap();
        drop(l);
        let sa = libc::sockaddr_in { sin_family: libc::AF_INET as u16, sin_port: addr.port().to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes([127, 0, 0, 1]) }, sin_zero: [0; 8] };
        assert_eq!(unsafe { libc::bind(before, (&sa as *const libc::sockaddr_in).cast(), 16) }, 0);
        let sb = Sandbox::builder().connect("127.0.0.1:*").enter().unwrap();
        let (v4, v6) = (tcp_socket(libc::AF_INET), tcp_socket(libc::AF_INET6));
        // SAFETY: plain listen.
        let r = [v4, v6].map(|s| sys(unsafe { libc::syscall(libc::SYS_listen, s, 8) }));
        assert_eq!(r, [Err(libc::EPERM), Err(libc::EPERM)]);
        assert_eq!((local_port(v4), local_port(v6)), (0, 0), "still unbound");
        let v = sb.take_violations();
        assert_eq!(v.last().unwrap().detail().as_deref(), Some("[::]:0"), "{v:?}");
        assert_eq!(v.last().unwrap().syscall_name(), "listen");
        // A socket bound before entering listens on its own address.
        assert_eq!(sys(unsafe { libc::syscall(libc::SYS_listen, before, 8) }), Ok(0));
        assert_eq!(sb.take_violations().last().unwrap().decision(), sigcap::Decision::AllowedByDescriptor);
    }

    /// With a bind rule for the address the kernel would pick, the same
    /// listen is brokered.
    #[test]
    fn listen_on_an_unbound_socket_follows_the_bind_rules() {
        let _sb = Sandbox::builder().bind("0.0.0.0:0").enter().unwrap();
        let s = tcp_socket(libc::AF_INET);
        // SAFETY: plain listen.
        assert_eq!(sys(unsafe { libc::syscall(libc::SYS_listen, s, 8) }), Ok(0));
        assert_ne!(local_port(s), 0);
        let s6 = tcp_socket(libc::AF_INET6);
        assert_eq!(sys(unsafe { libc::syscall(libc::SYS_listen, s6, 8) }), Err(libc::EPERM));
    }
}

rusty_fork_test! {
    /// sendmsg(2) is not trapped (the filter cannot read its msghdr):
    /// with MSG_FASTOPEN and an address it connects a TCP socket, and
    /// Landlock's CONNECT_TCP does not see that connect either.
    #[test]
    fn tcp_fast_open_through_sendmsg_connects_anywhere() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let _sb = Sandbox::builder().connect("127.0.0.1:1").enter().unwrap();
        let s = tcp_socket(libc::AF_INET);
        let mut sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes([127, 0, 0, 1]) },
            sin_zero: [0; 8],
        };
        let mut data = *b"x";
        let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: 1 };
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut sa as *mut libc::sockaddr_in).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        // SAFETY: a valid msghdr on live buffers.
        let r = sys(unsafe { libc::syscall(libc::SYS_sendmsg, s, &msg as *const libc::msghdr, libc::MSG_FASTOPEN) });
        std::thread::sleep(std::time::Duration::from_millis(100));
        let accepted = l.accept().is_ok();
        assert_eq!((r, accepted), (Err(libc::EPERM), false));
    }
}

rusty_fork_test! {
    /// Nested rules that grant as much as the one around them need no
    /// strict lookup: symlinks beneath /etc-like roots keep working.
    #[test]
    fn a_nested_rule_granting_as_much_keeps_symlinks_working() {
        let (_t, w) = nested_tree();
        let _sb = Sandbox::builder().read_beneath(&w).read_beneath(w.join("sub/ro")).enter().unwrap();
        assert_eq!(std::fs::read_to_string(w.join("l/f")).unwrap(), "read-only");
        assert!(std::fs::OpenOptions::new().write(true).open(w.join("l/f")).is_err());
    }
}
