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

fn c(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A raw system call's result: the value, or the errno.
fn sys(r: libc::c_long) -> Result<libc::c_long, i32> {
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

fn raw_openat(dir: i32, path: &str, flags: i32, mode: u32) -> Result<i32, i32> {
    let p = CString::new(path).unwrap();
    // SAFETY: plain system call with a valid C string.
    sys(unsafe { libc::syscall(libc::SYS_openat, dir, p.as_ptr(), flags, mode) }).map(|fd| fd as i32)
}

/// Everything readable from `fd`, with read(2) (not trapped).
fn read_fd(fd: i32) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    String::from_utf8_lossy(&out).into_owned()
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
        let calls: [(&str, libc::c_long); 7] = unsafe {
            [
                ("fsopen", libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), 0)),
                ("fspick", libc::syscall(libc::SYS_fspick, libc::AT_FDCWD, dir.as_ptr(), 0)),
                ("fsconfig", libc::syscall(libc::SYS_fsconfig, -1, 0, 0, 0, 0)),
                ("fsmount", libc::syscall(libc::SYS_fsmount, -1, 0, 0)),
                ("move_mount", libc::syscall(libc::SYS_move_mount, -1, c"".as_ptr(), -1, c"".as_ptr(), 0)),
                ("mount_setattr", libc::syscall(libc::SYS_mount_setattr, -1, c"".as_ptr(), 0, 0, 0)),
                ("open_tree_attr", libc::syscall(SYS_OPEN_TREE_ATTR, libc::AT_FDCWD, dir.as_ptr(), 0, 0, 0)),
            ]
        };
        let not_refused: Vec<_> = calls
            .iter()
            .map(|&(n, r)| (n, sys(r)))
            .filter(|&(_, r)| r != Err(libc::EPERM))
            .collect();
        assert!(not_refused.is_empty(), "reached the kernel: {not_refused:?}");
    }
}
