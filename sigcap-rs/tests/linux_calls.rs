//! The brokered forms of rename with flags, link, symlink, mknod, chmod,
//! chown, the utimes family, truncate and the xattr calls (issue #11
//! item 5): each allowed under the mode it needs and refused without it,
//! and the attacks on them. Raw system calls, so that no libc wrapper
//! changes the call. Each test forks: the child enters and makes the
//! calls, the parent (unconfined) checks what is left on disk.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use common::{c, sys};
use rusty_fork::rusty_fork_test;
use sigcap::{Access, Decision, DenyReason, Sandbox};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// ro/ (read), w/ (read, write), c/ (read, create), free/ (all),
/// rwc/ (all) holding rwc/nested/ (read: a narrower rule), and outside/
/// with no rule. Each has a file `f`.
struct Tree {
    _t: tempfile::TempDir,
    top: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        let t = tempfile::tempdir().unwrap();
        let top = t.path().to_owned();
        for d in ["ro", "w", "c", "free", "rwc/nested", "rwc/sub", "outside"] {
            std::fs::create_dir_all(top.join(d)).unwrap();
        }
        for d in ["ro", "w", "c", "free", "rwc", "rwc/nested", "outside"] {
            std::fs::write(top.join(d).join("f"), format!("{d} file")).unwrap();
            std::fs::set_permissions(top.join(d).join("f"), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        Tree { _t: t, top }
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.top.join(rel)
    }
    fn sandbox(&self) -> Sandbox {
        Sandbox::builder()
            .read_beneath(self.p("ro"))
            .allow(self.p("w"), Access::READ | Access::WRITE)
            .allow(self.p("c"), Access::READ | Access::CREATE)
            .write_beneath(self.p("free"))
            .write_beneath(self.p("rwc"))
            .read_beneath(self.p("rwc/nested"))
            .enter()
            .unwrap()
    }
    /// Runs `body` in a forked child that enters the sandbox first; fails
    /// if the child did not exit 0.
    fn confined(&self, body: impl FnOnce(&Sandbox)) {
        self.confined_in(|| self.sandbox(), body)
    }
    /// [`Tree::confined`], in the sandbox `enter` makes.
    fn confined_in(&self, enter: impl FnOnce() -> Sandbox, body: impl FnOnce(&Sandbox)) {
        // SAFETY: fork; the child runs the body and leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let sb = enter();
                body(&sb);
            }));
            // SAFETY: leaving the child without the harness.
            unsafe { libc::_exit(if r.is_ok() { 0 } else { 101 }) };
        }
        let mut status = 0;
        // SAFETY: our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "confined part failed: {status:#x}"
        );
    }
}

fn last(sb: &Sandbox) -> sigcap::Violation {
    *sb.take_violations().last().expect("a violation was recorded")
}

fn at(path: &Path) -> std::ffi::CString {
    c(path)
}

fn symlink(target: &str, link: &Path) -> Result<libc::c_long, i32> {
    let t = std::ffi::CString::new(target).unwrap();
    // SAFETY: C strings.
    sys(unsafe { libc::syscall(libc::SYS_symlinkat, t.as_ptr(), libc::AT_FDCWD, at(link).as_ptr()) })
}

fn linkat(from: &Path, to: &Path, flags: i32) -> Result<libc::c_long, i32> {
    // SAFETY: C strings.
    sys(unsafe {
        libc::syscall(
            libc::SYS_linkat,
            libc::AT_FDCWD,
            at(from).as_ptr(),
            libc::AT_FDCWD,
            at(to).as_ptr(),
            flags,
        )
    })
}

fn renameat2(from: &Path, to: &Path, flags: u32) -> Result<libc::c_long, i32> {
    // SAFETY: C strings.
    sys(unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            at(from).as_ptr(),
            libc::AT_FDCWD,
            at(to).as_ptr(),
            flags,
        )
    })
}

fn chmod(p: &Path, mode: u32) -> Result<libc::c_long, i32> {
    // SAFETY: a C string.
    sys(unsafe { libc::syscall(libc::SYS_chmod, at(p).as_ptr(), mode) })
}

fn chown(p: &Path, uid: u32, gid: u32, flags: i32) -> Result<libc::c_long, i32> {
    // SAFETY: a C string.
    sys(unsafe { libc::syscall(libc::SYS_fchownat, libc::AT_FDCWD, at(p).as_ptr(), uid, gid, flags) })
}

fn utimensat(p: &Path, times: Option<[libc::timespec; 2]>, flags: i32) -> Result<libc::c_long, i32> {
    let tp = times.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
    // SAFETY: a C string and two timespecs or NULL.
    sys(unsafe { libc::syscall(libc::SYS_utimensat, libc::AT_FDCWD, at(p).as_ptr(), tp, flags) })
}

fn ts(sec: i64, nsec: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    }
}

fn truncate(p: &Path, len: i64) -> Result<libc::c_long, i32> {
    // SAFETY: a C string.
    sys(unsafe { libc::syscall(libc::SYS_truncate, at(p).as_ptr(), len) })
}

fn statfs(p: &Path, buf: *mut libc::statfs) -> Result<libc::c_long, i32> {
    // SAFETY: a C string; buf is the caller's (possibly bad) pointer.
    sys(unsafe { libc::syscall(libc::SYS_statfs, at(p).as_ptr(), buf) })
}

fn setxattr(p: &Path, name: &str, v: &[u8]) -> Result<libc::c_long, i32> {
    let n = std::ffi::CString::new(name).unwrap();
    // SAFETY: C strings and a buffer of its length.
    sys(unsafe { libc::syscall(libc::SYS_setxattr, at(p).as_ptr(), n.as_ptr(), v.as_ptr(), v.len(), 0) })
}

fn getxattr(p: &Path, name: &str, buf: &mut [u8]) -> Result<libc::c_long, i32> {
    let n = std::ffi::CString::new(name).unwrap();
    let bp = if buf.is_empty() {
        std::ptr::null_mut()
    } else {
        buf.as_mut_ptr()
    };
    // SAFETY: C strings and a buffer of its length (or NULL, 0).
    sys(unsafe { libc::syscall(libc::SYS_getxattr, at(p).as_ptr(), n.as_ptr(), bp, buf.len()) })
}

fn listxattr(p: &Path, buf: &mut [u8]) -> Result<libc::c_long, i32> {
    // SAFETY: a C string and a buffer of its length.
    sys(unsafe { libc::syscall(libc::SYS_listxattr, at(p).as_ptr(), buf.as_mut_ptr(), buf.len()) })
}

fn removexattr(p: &Path, name: &str) -> Result<libc::c_long, i32> {
    let n = std::ffi::CString::new(name).unwrap();
    // SAFETY: C strings.
    sys(unsafe { libc::syscall(libc::SYS_removexattr, at(p).as_ptr(), n.as_ptr()) })
}

fn mknod(p: &Path, mode: u32, dev: u64) -> Result<libc::c_long, i32> {
    // SAFETY: a C string.
    sys(unsafe { libc::syscall(libc::SYS_mknodat, libc::AT_FDCWD, at(p).as_ptr(), mode, dev) })
}

fn open(p: &Path, flags: i32) -> Result<libc::c_long, i32> {
    // SAFETY: a C string.
    sys(unsafe { libc::syscall(libc::SYS_openat, libc::AT_FDCWD, at(p).as_ptr(), flags, 0o600) })
}

const EPERM: Result<libc::c_long, i32> = Err(libc::EPERM);

/// Whether the scratch file system keeps user extended attributes.
fn user_xattrs_supported(dir: &Path) -> bool {
    let probe = dir.join(".xattr-probe");
    std::fs::write(&probe, "").unwrap();
    let ok = setxattr(&probe, "user.probe", b"1").is_ok();
    std::fs::remove_file(&probe).unwrap();
    ok
}

rusty_fork_test! {
    #[test]
    fn each_call_works_under_the_mode_it_needs_and_is_refused_without_it() {
        let t = Tree::new();
        let xattrs = user_xattrs_supported(&t.top);
        if !xattrs {
            eprintln!("SKIP xattr part: the scratch file system has no user extended attributes");
        }
        std::fs::write(t.p("free/a"), "A").unwrap();
        std::fs::write(t.p("free/b"), "B").unwrap();
        std::fs::write(t.p("free/x"), "X").unwrap();
        std::fs::write(t.p("free/y"), "Y").unwrap();
        // SAFETY: getuid has no preconditions.
        let (uid, gid) = if unsafe { libc::getuid() } == 0 { (1234, 4321) } else { unsafe { (libc::getuid(), libc::getgid()) } };
        t.confined(|sb| {
            // symlink: create where the link is made.
            assert_eq!(symlink("some target", &t.p("free/l")), Ok(0));
            let v = last(sb);
            assert_eq!((v.syscall_name(), v.detail2().as_deref()), ("symlinkat", Some("some target")));
            assert!(matches!(v.decision(), Decision::Allowed { .. }));
            assert_eq!(std::fs::read_link(t.p("free/l")).unwrap(), Path::new("some target"));
            assert_eq!(symlink("x", &t.p("w/l")), EPERM);
            assert_eq!(last(sb).decision(), Decision::Denied(DenyReason::Access));
            assert_eq!(symlink("x", &t.p("ro/l")), EPERM);
            assert_eq!(symlink("x", &t.p("c/l")), Ok(0));
            // link: read+write on the file, create for the new name.
            assert_eq!(linkat(&t.p("free/f"), &t.p("free/h"), 0), Ok(0));
            assert_eq!(linkat(&t.p("w/f"), &t.p("w/h"), 0), EPERM, "no create in w");
            assert_eq!(linkat(&t.p("c/f"), &t.p("c/h"), 0), EPERM, "no write on c/f");
            assert_eq!(linkat(&t.p("w/f"), &t.p("free/hw"), 0), Ok(0));
            // chmod, chown, times, truncate: write.
            assert_eq!(chmod(&t.p("free/f"), 0o640), Ok(0));
            assert_eq!(chmod(&t.p("w/f"), 0o600), Ok(0));
            assert_eq!(chmod(&t.p("ro/f"), 0o600), EPERM);
            assert_eq!(chmod(&t.p("c/f"), 0o600), EPERM);
            assert_eq!(chown(&t.p("free/f"), uid, gid, 0), Ok(0));
            assert_eq!(chown(&t.p("ro/f"), uid, gid, 0), EPERM);
            assert_eq!(chown(&t.p("free/l"), uid, gid, libc::AT_SYMLINK_NOFOLLOW), Ok(0));
            assert_eq!(utimensat(&t.p("free/f"), Some([ts(1_000_000_000, 5), ts(1_200_000_000, 7)]), 0), Ok(0));
            assert_eq!(utimensat(&t.p("ro/f"), None, 0), EPERM);
            let tv = [libc::timeval { tv_sec: 1_100_000_000, tv_usec: 3 }; 2];
            // SAFETY: a C string and two timevals.
            assert_eq!(sys(unsafe { libc::syscall(libc::SYS_utimes, at(&t.p("w/f")).as_ptr(), tv.as_ptr()) }), Ok(0));
            let ub = libc::utimbuf { actime: 1_300_000_000, modtime: 1_300_000_001 };
            // SAFETY: a C string and a utimbuf.
            assert_eq!(sys(unsafe { libc::syscall(libc::SYS_utime, at(&t.p("free/a")).as_ptr(), &ub) }), Ok(0));
            assert_eq!(truncate(&t.p("free/x"), 0), Ok(0));
            assert_eq!(truncate(&t.p("ro/f"), 0), EPERM);
            assert_eq!(truncate(&t.p("c/f"), 0), EPERM);
            assert_eq!(truncate(&t.p("free"), 0), Err(libc::EISDIR));
            // mknod: FIFOs (and plain files) under create; devices never.
            assert_eq!(mknod(&t.p("free/fifo"), libc::S_IFIFO | 0o600, 0), Ok(0));
            assert_eq!(mknod(&t.p("c/fifo"), libc::S_IFIFO | 0o600, 0), Ok(0));
            assert_eq!(mknod(&t.p("w/fifo"), libc::S_IFIFO | 0o600, 0), EPERM);
            assert_eq!(mknod(&t.p("free/null"), libc::S_IFCHR | 0o666, libc::makedev(1, 3)), EPERM);
            assert_eq!(last(sb).decision(), Decision::Denied(DenyReason::BadRequest));
            // renameat2: NOREPLACE, EXCHANGE; WHITEOUT refused.
            assert_eq!(renameat2(&t.p("free/a"), &t.p("free/b"), libc::RENAME_NOREPLACE), Err(libc::EEXIST));
            assert_eq!(renameat2(&t.p("free/a"), &t.p("free/b"), libc::RENAME_EXCHANGE), Ok(0));
            assert_eq!(renameat2(&t.p("free/a"), &t.p("free/b"), libc::RENAME_WHITEOUT), EPERM);
            // Into a create-only rule: a new name, never a replacement.
            assert_eq!(renameat2(&t.p("free/x"), &t.p("c/x"), 0), Ok(0));
            assert_eq!(renameat2(&t.p("free/y"), &t.p("c/f"), 0), Err(libc::EEXIST));
            assert_eq!(renameat2(&t.p("free/y"), &t.p("c/f"), libc::RENAME_EXCHANGE), EPERM);
            if xattrs {
                assert_eq!(setxattr(&t.p("free/f"), "user.sigcap", b"v1"), Ok(0));
                assert_eq!(last(sb).detail2().as_deref(), Some("user.sigcap"));
                assert_eq!(getxattr(&t.p("free/f"), "user.sigcap", &mut []), Ok(2), "size query");
                let mut b = [0u8; 16];
                assert_eq!(getxattr(&t.p("free/f"), "user.sigcap", &mut b), Ok(2));
                assert_eq!(&b[..2], b"v1");
                assert_eq!(getxattr(&t.p("free/f"), "user.sigcap", &mut b[..1]), Err(libc::ERANGE));
                let mut l = [0u8; 256];
                let n = listxattr(&t.p("free/f"), &mut l).unwrap() as usize;
                assert!(l[..n].split(|&c| c == 0).any(|x| x == b"user.sigcap"));
                assert_eq!(setxattr(&t.p("ro/f"), "user.sigcap", b"v"), EPERM);
                assert_eq!(getxattr(&t.p("ro/f"), "user.sigcap", &mut b), Err(libc::ENODATA), "read is enough");
                assert_eq!(setxattr(&t.p("free/b"), "user.gone", b"1"), Ok(0));
                assert_eq!(removexattr(&t.p("free/b"), "user.gone"), Ok(0));
                assert_eq!(removexattr(&t.p("ro/f"), "user.x"), EPERM);
            }
        });
        let m = |p: &str| std::fs::symlink_metadata(t.p(p)).unwrap();
        assert_eq!(m("free/h").ino(), m("free/f").ino());
        assert_eq!(m("w/f").nlink(), 2, "w/f linked as free/hw");
        assert!(std::fs::symlink_metadata(t.p("w/h")).is_err() && std::fs::symlink_metadata(t.p("w/l")).is_err());
        assert_eq!(std::fs::read_link(t.p("c/l")).unwrap(), Path::new("x"));
        assert_eq!(m("free/f").mode() & 0o7777, 0o640);
        assert_eq!(m("w/f").mode() & 0o7777, 0o600);
        assert_eq!(m("ro/f").mode() & 0o7777, 0o644);
        assert_eq!((m("free/f").uid(), m("free/f").gid()), (uid, gid));
        assert_eq!((m("free/l").uid(), m("free/l").gid()), (uid, gid), "lchown of the link itself");
        assert_eq!((m("free/f").mtime(), m("free/f").mtime_nsec()), (1_200_000_000, 7));
        assert_eq!((m("free/f").atime(), m("free/f").atime_nsec()), (1_000_000_000, 5));
        assert_eq!((m("w/f").mtime(), m("w/f").mtime_nsec()), (1_100_000_000, 3000));
        assert_eq!(m("free/b").mtime(), 1_300_000_001, "utime, then exchanged onto b");
        assert_eq!(std::fs::read_to_string(t.p("free/a")).unwrap(), "B");
        assert_eq!(std::fs::read_to_string(t.p("free/b")).unwrap(), "A");
        assert_eq!(std::fs::read_to_string(t.p("ro/f")).unwrap(), "ro file");
        assert_eq!(m("c/x").len(), 0);
        assert_eq!(std::fs::read_to_string(t.p("c/f")).unwrap(), "c file");
        assert_eq!(std::fs::read_to_string(t.p("free/y")).unwrap(), "Y");
        assert!(m("free/fifo").file_type().is_fifo() && m("c/fifo").file_type().is_fifo());
        assert!(std::fs::symlink_metadata(t.p("free/null")).is_err());
    }

    #[test]
    fn a_hard_link_never_makes_a_read_only_file_writable() {
        let t = Tree::new();
        let ro_abs = t.p("ro/f");
        t.confined(|sb| {
            // The read-only rule's file into a writable rule.
            assert_eq!(linkat(&t.p("ro/f"), &t.p("free/h1"), 0), EPERM);
            assert_eq!(last(sb).decision(), Decision::Denied(DenyReason::Access));
            assert_eq!(linkat(&t.p("ro/f"), &t.p("free/h1"), libc::AT_SYMLINK_FOLLOW), EPERM);
            // A narrower rule nested in the writable one.
            assert_eq!(linkat(&t.p("rwc/nested/f"), &t.p("rwc/h2"), 0), EPERM);
            assert_eq!(last(sb).decision(), Decision::Denied(DenyReason::Access));
            let sneaky = t.p("rwc/sub/../nested/f");
            assert_eq!(linkat(&sneaky, &t.p("rwc/h3"), 0), EPERM);
            assert_eq!(last(sb).decision(), Decision::Denied(DenyReason::Escape));
            // Symlinks the program made, followed by the link.
            assert_eq!(symlink("../ro/f", &t.p("free/up")), Ok(0));
            // Followed out of its root (issue #11's symlink rule): decided
            // on the read-only file it leads to, which cannot be linked.
            assert_eq!(linkat(&t.p("free/up"), &t.p("free/h4"), libc::AT_SYMLINK_FOLLOW), EPERM);
            assert_eq!(last(sb).decision(), Decision::Denied(DenyReason::Access));
            assert_eq!(symlink(ro_abs.to_str().unwrap(), &t.p("free/abs")), Ok(0));
            assert_eq!(linkat(&t.p("free/abs"), &t.p("free/h5"), libc::AT_SYMLINK_FOLLOW), EPERM);
            assert_eq!(symlink("nested/f", &t.p("rwc/in")), Ok(0));
            assert_eq!(linkat(&t.p("rwc/in"), &t.p("rwc/h6"), libc::AT_SYMLINK_FOLLOW), Err(libc::ELOOP));
            // Without following, the symlink itself is linked: no file.
            assert_eq!(linkat(&t.p("free/abs"), &t.p("free/h7"), 0), Ok(0));
            // A descriptor of the read-only file, as the source.
            let fd = open(&t.p("ro/f"), libc::O_RDONLY).unwrap();
            let e = std::ffi::CString::new("").unwrap();
            // SAFETY: C strings.
            let r = sys(unsafe {
                libc::syscall(libc::SYS_linkat, fd, e.as_ptr(), libc::AT_FDCWD, at(&t.p("free/h8")).as_ptr(), libc::AT_EMPTY_PATH)
            });
            assert!(r.is_err(), "{r:?}");
        });
        let ro = std::fs::metadata(t.p("ro/f")).unwrap();
        assert_eq!(ro.nlink(), 1, "the read-only file got a second name");
        assert_eq!(std::fs::metadata(t.p("rwc/nested/f")).unwrap().nlink(), 1);
        assert!(std::fs::symlink_metadata(t.p("free/h7")).unwrap().file_type().is_symlink());
        for h in ["free/h1", "rwc/h2", "rwc/h3", "free/h4", "free/h5", "rwc/h6", "free/h8"] {
            assert!(std::fs::symlink_metadata(t.p(h)).is_err(), "{h} exists");
        }
    }

    #[test]
    fn renames_cannot_move_roots_or_swap_a_read_only_file_out() {
        let t = Tree::new();
        t.confined(|sb| {
            // A directory holding a narrower rule, and a root itself.
            assert_eq!(renameat2(&t.p("rwc/nested"), &t.p("rwc/moved"), 0), EPERM);
            assert_eq!(renameat2(&t.p("rwc/nested"), &t.p("rwc/moved"), libc::RENAME_NOREPLACE), EPERM);
            assert_eq!(renameat2(&t.p("free"), &t.p("free2"), 0), EPERM);
            // An exchange moves the target too.
            assert_eq!(renameat2(&t.p("rwc/sub"), &t.p("rwc/nested"), libc::RENAME_EXCHANGE), EPERM);
            assert_eq!(last(sb).decision(), Decision::Denied(DenyReason::Access));
            // Swapping a read-only file with a writable one, both ways.
            assert_eq!(renameat2(&t.p("rwc/nested/f"), &t.p("rwc/f"), libc::RENAME_EXCHANGE), EPERM);
            assert_eq!(renameat2(&t.p("rwc/f"), &t.p("rwc/nested/f"), libc::RENAME_EXCHANGE), EPERM);
            assert_eq!(renameat2(&t.p("free/f"), &t.p("ro/f"), libc::RENAME_EXCHANGE), EPERM);
            assert_eq!(renameat2(&t.p("ro/f"), &t.p("free/f"), libc::RENAME_EXCHANGE), EPERM);
            // A writable rule without create takes nothing in.
            assert_eq!(renameat2(&t.p("free/f"), &t.p("w/f"), libc::RENAME_EXCHANGE), EPERM);
        });
        assert!(t.p("rwc/nested/f").exists() && t.p("free").is_dir());
        assert_eq!(std::fs::read_to_string(t.p("rwc/nested/f")).unwrap(), "rwc/nested file");
        assert_eq!(std::fs::read_to_string(t.p("rwc/f")).unwrap(), "rwc file");
        assert_eq!(std::fs::read_to_string(t.p("ro/f")).unwrap(), "ro file");
        assert_eq!(std::fs::read_to_string(t.p("free/f")).unwrap(), "free file");
        assert_eq!(std::fs::read_to_string(t.p("w/f")).unwrap(), "w file");
    }

    /// A name made or removed at a rule's root itself (cpio -id and tar
    /// make the directories an archive names, which a policy may have
    /// as roots): the root exists, so making it fails with EEXIST as it
    /// does natively, removing it is refused (EBUSY: the sandbox holds
    /// it; EISDIR for unlink), and readlink says it is no link. All of
    /// these used to fail with EINVAL, and bsdcpio said "Can't create".
    #[test]
    fn names_made_or_removed_at_a_root_itself_fail_as_on_an_existing_directory() {
        let t = Tree::new();
        t.confined(|_| {
            // SAFETY (each): raw calls on C strings and a local buffer.
            let mkdir = |p: &Path| sys(unsafe { libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, at(p).as_ptr(), 0o755) });
            let unlink = |p: &Path, f: i32| sys(unsafe { libc::syscall(libc::SYS_unlinkat, libc::AT_FDCWD, at(p).as_ptr(), f) });
            let readlink = |p: &Path| {
                let mut b = [0u8; 64];
                sys(unsafe { libc::syscall(libc::SYS_readlinkat, libc::AT_FDCWD, at(p).as_ptr(), b.as_mut_ptr(), b.len()) })
            };
            for root in ["free", "c", "free/", "free/."] {
                assert_eq!(mkdir(&t.p(root)), Err(libc::EEXIST), "mkdir {root}");
            }
            assert_eq!(symlink("x", &t.p("free")), Err(libc::EEXIST));
            assert_eq!(mknod(&t.p("free"), libc::S_IFREG | 0o644, 0), Err(libc::EEXIST));
            assert_eq!(unlink(&t.p("free"), libc::AT_REMOVEDIR), Err(libc::EBUSY));
            assert_eq!(unlink(&t.p("free"), 0), Err(libc::EISDIR));
            assert_eq!(readlink(&t.p("free")), Err(libc::EINVAL));
            // Without the mode the call needs, still refused.
            assert_eq!(mkdir(&t.p("ro")), EPERM);
            assert_eq!(unlink(&t.p("ro"), libc::AT_REMOVEDIR), EPERM);
            // Beneath the root, as before.
            assert_eq!(mkdir(&t.p("free/d")), Ok(0));
        });
        assert!(t.p("free/f").is_file() && t.p("free/d").is_dir() && t.p("c").is_dir() && t.p("ro").is_dir());
    }

    #[test]
    fn a_symlink_made_in_the_sandbox_does_not_lead_out_of_it() {
        let t = Tree::new();
        let secret = t.p("outside/f");
        t.confined(|sb| {
            assert_eq!(symlink(secret.to_str().unwrap(), &t.p("free/out")), Ok(0));
            assert_eq!(symlink("../outside/f", &t.p("free/up")), Ok(0));
            for l in ["free/out", "free/up"] {
                let l = t.p(l);
                // Followed and decided where it leads: outside every rule.
                assert_eq!(open(&l, libc::O_RDONLY), EPERM);
                assert_eq!(last(sb).decision(), Decision::Denied(DenyReason::NoRule));
                assert_eq!(open(&l, libc::O_WRONLY | libc::O_TRUNC), EPERM);
                assert_eq!(chmod(&l, 0o666), EPERM);
                assert_eq!(chown(&l, 0, 0, 0), EPERM);
                assert_eq!(utimensat(&l, None, 0), EPERM);
                assert_eq!(truncate(&l, 0), EPERM);
                assert_eq!(setxattr(&l, "user.x", b"1"), EPERM);
                assert_eq!(linkat(&l, &t.p("free/copy"), libc::AT_SYMLINK_FOLLOW), EPERM);
            }
            // Beneath a root holding a narrower rule no symlink is
            // followed: a link to the read-only part gives no write.
            assert_eq!(symlink("nested/f", &t.p("rwc/in")), Ok(0));
            assert_eq!(open(&t.p("rwc/in"), libc::O_WRONLY), Err(libc::ELOOP));
            assert_eq!(chmod(&t.p("rwc/in"), 0o666), Err(libc::ELOOP));
            assert_eq!(truncate(&t.p("rwc/in"), 0), Err(libc::ELOOP));
        });
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "outside file");
        assert_eq!(std::fs::metadata(&secret).unwrap().mode() & 0o7777, 0o644);
        assert_eq!(std::fs::read_to_string(t.p("rwc/nested/f")).unwrap(), "rwc/nested file");
        assert_eq!(std::fs::metadata(t.p("rwc/nested/f")).unwrap().mode() & 0o7777, 0o644);
    }

    #[test]
    fn set_id_bits_and_calls_outside_every_root_are_refused() {
        let t = Tree::new();
        let secret = t.p("outside/f");
        t.confined(|sb| {
            assert_eq!(chmod(&secret, 0o4777), EPERM);
            assert_eq!(last(sb).decision(), Decision::Denied(DenyReason::NoRule));
            assert_eq!(chmod(&t.p("free/f"), 0o4755), EPERM);
            assert_eq!(last(sb).decision(), Decision::Denied(DenyReason::Access));
            assert_eq!(chmod(&t.p("free/f"), 0o2755), EPERM);
            assert_eq!(mknod(&t.p("free/p"), libc::S_IFIFO | 0o4600, 0), EPERM);
            assert_eq!(chmod(&t.p("free/f"), 0o1755), Ok(0), "the sticky bit is the program's");
            let mut b = [0u8; 64];
            assert_eq!(setxattr(&secret, "user.x", b"1"), EPERM);
            assert_eq!(getxattr(&secret, "user.x", &mut b), EPERM);
            assert_eq!(listxattr(&secret, &mut b), EPERM);
            assert_eq!(removexattr(&secret, "user.x"), EPERM);
            assert_eq!(last(sb).decision(), Decision::Denied(DenyReason::NoRule));
            assert_eq!(chown(&secret, 0, 0, libc::AT_SYMLINK_NOFOLLOW), EPERM);
            assert_eq!(utimensat(&secret, None, 0), EPERM);
            assert_eq!(truncate(&secret, 0), EPERM);
            assert_eq!(linkat(&secret, &t.p("free/s"), 0), EPERM);
            assert_eq!(symlink("x", &t.p("outside/l")), EPERM);
            assert_eq!(renameat2(&secret, &t.p("free/s"), 0), EPERM);
            // The *xattrat calls (6.13) have no brokered form: still closed.
            let n = std::ffi::CString::new("user.x").unwrap();
            // SAFETY: C strings; the filter refuses before any pointer is read.
            let r = sys(unsafe { libc::syscall(464, libc::AT_FDCWD, at(&secret).as_ptr(), 0, n.as_ptr(), 8usize, 16usize) });
            assert_eq!(r, EPERM);
            assert_eq!(last(sb).decision(), Decision::Unsupported);
        });
        let m = std::fs::metadata(&secret).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o644);
        assert_eq!(m.len(), "outside file".len() as u64);
        assert_eq!(std::fs::metadata(t.p("free/f")).unwrap().mode() & 0o7777, 0o1755);
        assert!(!t.p("free/p").exists() && !t.p("free/s").exists() && !t.p("outside/l").exists());
        assert_eq!(getxattr(&secret, "user.x", &mut [0u8; 8]).unwrap_err(), libc::ENODATA);
    }

    #[test]
    fn statfs_answers_under_read_and_nowhere_else() {
        // find's fts asks statfs of each directory it enters (issue #11).
        let t = Tree::new();
        // SAFETY: zeroed plain data, filled by the kernel.
        let mut want: libc::statfs = unsafe { std::mem::zeroed() };
        assert_eq!(statfs(&t.p("ro"), &mut want), Ok(0));
        let secret = t.p("outside/f");
        t.confined(|sb| {
            // SAFETY: as above.
            let mut got: libc::statfs = unsafe { std::mem::zeroed() };
            assert_eq!(statfs(&t.p("ro/f"), &mut got), Ok(0));
            assert!(matches!(last(sb).decision(), Decision::Allowed { .. }));
            assert_eq!((got.f_type, got.f_blocks, got.f_bsize), (want.f_type, want.f_blocks, want.f_bsize));
            assert_eq!(statfs(&secret, &mut got), EPERM);
            assert_eq!(last(sb).decision(), Decision::Denied(DenyReason::NoRule));
            // Through a symlink out of the root, and by `..`: decided
            // where they lead.
            assert_eq!(symlink(secret.to_str().unwrap(), &t.p("free/out")), Ok(0));
            assert_eq!(statfs(&t.p("free/out"), &mut got), EPERM);
            assert_eq!(statfs(&t.p("ro/../outside/f"), &mut got), EPERM);
            // A bad buffer is the program's EFAULT, not the broker's crash.
            assert_eq!(statfs(&t.p("ro/f"), 4096 as *mut libc::statfs), Err(libc::EFAULT));
            assert_eq!(statfs(&t.p("ro/f"), &mut got), Ok(0), "the broker still answers");
        });
    }

    #[test]
    fn sysctl_reads_are_decided_by_name_and_recorded() {
        // FreeBSD's capability mode refuses most sysctl nodes with EPERM
        // and no signal; the program (or sigcap-run's shim) asks the
        // broker. Linux has no sysctl(2): an allowed read gets ENOSYS,
        // which shows the rule matched; the decisions are the same code.
        let t = Tree::new();
        let file = t.p("policy.toml");
        std::fs::write(&file, "[sysctl]\nread = [\"kern.proc.*\"]\n").unwrap();
        let errno = |r: std::io::Result<usize>| r.unwrap_err().raw_os_error();
        t.confined_in(
            || Sandbox::builder().read_sysctl("kern.pid_max").policy_file(&file).enter().unwrap(),
            |sb| {
                assert_eq!(errno(sb.broker_sysctl("kern.pid_max", None)), Some(libc::ENOSYS));
                let v = last(sb);
                assert!(matches!(v.decision(), Decision::Allowed { rule: 0 }), "{v}");
                assert_eq!((v.syscall_name(), v.class()), ("__sysctlbyname", sigcap::Class::Syscall));
                assert_eq!(v.detail().as_deref(), Some("kern.pid_max"));
                assert_eq!(v.result(), -(libc::ENOSYS as i64));
                // The policy file's rule reached the sandbox.
                let mut buf = [0u8; 64];
                assert_eq!(errno(sb.broker_sysctl("kern.proc.pid.1", Some(&mut buf))), Some(libc::ENOSYS));
                assert!(matches!(last(sb).decision(), Decision::Allowed { rule: 1 }));
                // Outside every rule, and a subtree's own node: the call's EPERM.
                for name in ["hw.physmem", "kern.proc", "kern.pid_maxx"] {
                    assert_eq!(errno(sb.broker_sysctl(name, None)), Some(libc::EPERM), "{name}");
                    assert_eq!(last(sb).decision(), Decision::Denied(DenyReason::NoRule), "{name}");
                }
                // Not a node name: refused as malformed, still recorded.
                assert_eq!(errno(sb.broker_sysctl("../../etc/passwd", None)), Some(libc::EPERM));
                let v = last(sb);
                assert_eq!(v.decision(), Decision::Denied(DenyReason::BadRequest));
                assert_eq!(v.detail().as_deref(), Some("../../etc/passwd"));
                assert_eq!(errno(sb.broker_sysctl("kern\0x", None)), Some(libc::EINVAL));
                assert!(sb.take_violations().is_empty(), "a name with a NUL never leaves the process");
            },
        );
    }
}
