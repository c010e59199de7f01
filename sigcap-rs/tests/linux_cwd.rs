//! The working directory inside the sandbox (issue #11 item 2): chdir is
//! brokered, fchdir is a plain call, and a relative path of a trapped
//! call is resolved against the program's directory at the time of the
//! call — on the fast path and through the broker alike — and decided
//! on as the absolute path it then names. Each test runs in its own
//! process (rusty-fork): entering is irreversible.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use common::{c, deadline, errno, read_fd, sys};
use rusty_fork::rusty_fork_test;
use sigcap::{Decision, DenyReason, Sandbox};
use std::path::{Path, PathBuf};

/// t/root (the policy root) with root/sub and root/file.txt, and
/// t/outside/secret.txt beside it. Canonical paths: getcwd reports them so.
fn tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().canonicalize().unwrap();
    let root = base.join("root");
    let outside = base.join("outside");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(root.join("file.txt"), "inside").unwrap();
    std::fs::write(outside.join("secret.txt"), "outside secret").unwrap();
    (t, root, outside)
}

fn raw_openat(dir: i32, path: &str, flags: i32) -> Result<i32, i32> {
    let p = std::ffi::CString::new(path).unwrap();
    // SAFETY: plain system call with a valid C string.
    sys(unsafe { libc::syscall(libc::SYS_openat, dir, p.as_ptr(), flags, 0o600) }).map(|fd| fd as i32)
}

fn raw_chdir(path: &Path) -> Result<(), i32> {
    let p = c(path);
    // SAFETY: chdir of a C string.
    sys(unsafe { libc::syscall(libc::SYS_chdir, p.as_ptr()) }).map(|_| ())
}

fn raw_fchdir(fd: i32) -> Result<(), i32> {
    // SAFETY: fchdir of a descriptor number.
    sys(unsafe { libc::syscall(libc::SYS_fchdir, fd) }).map(|_| ())
}

/// chdir into root/sub, then relative open (read, write, create), stat,
/// mkdir, rename and unlink all act in root/sub, and each record names
/// the directory the path was resolved against.
fn relative_calls_after_chdir(fast_path: bool) {
    let (_t, root, _outside) = tree();
    let sb = Sandbox::builder()
        .write_beneath(&root)
        .fast_path(fast_path)
        .enter()
        .unwrap();
    let sub = root.join("sub");
    std::env::set_current_dir(&sub).unwrap();
    assert_eq!(std::env::current_dir().unwrap(), sub);
    assert_eq!(sigcap::current_dir().unwrap(), sub);
    let v = sb.take_violations();
    let cd = v
        .iter()
        .find(|v| v.syscall_name() == "chdir")
        .expect("chdir is trapped");
    assert!(matches!(cd.decision(), Decision::Allowed { rule: 0 }), "{cd}");

    std::fs::write("new.txt", "made in sub").unwrap();
    assert_eq!(std::fs::read_to_string("new.txt").unwrap(), "made in sub");
    assert!(std::fs::metadata("new.txt").unwrap().is_file());
    std::fs::create_dir("d").unwrap();
    std::fs::rename("new.txt", "d/moved.txt").unwrap();
    assert_eq!(std::fs::read_to_string("../file.txt").unwrap(), "inside");
    // Where it all happened, by absolute paths: in sub, not where the
    // sandbox was entered.
    assert_eq!(std::fs::read_to_string(sub.join("d/moved.txt")).unwrap(), "made in sub");
    std::fs::remove_file("d/moved.txt").unwrap();
    std::fs::remove_dir("d").unwrap();
    assert!(!sub.join("d").exists());
    let v = sb.take_violations();
    let made = v
        .iter()
        .find(|v| v.detail().as_deref() == Some("new.txt"))
        .expect("a record of new.txt");
    assert_eq!(made.cwd().as_deref(), sub.to_str(), "{made}");
    assert!(matches!(made.decision(), Decision::Allowed { rule: 0 }), "{made}");
    if fast_path {
        assert!(v.iter().any(|v| v.fast_path()), "relative opens take the fast path");
    } else {
        assert!(v.iter().all(|v| !v.fast_path()));
    }
    // Absolute paths carry no directory.
    assert!(v
        .iter()
        .filter(|v| v.detail().is_some_and(|d| d.starts_with('/')))
        .all(|v| v.cwd().is_none()));
}

rusty_fork_test! {
    #[test]
    fn chdir_then_relative_calls_act_in_the_new_directory_fast_path() {
        deadline(30);
        relative_calls_after_chdir(true);
    }

    #[test]
    fn chdir_then_relative_calls_act_in_the_new_directory_broker() {
        deadline(30);
        relative_calls_after_chdir(false);
    }

    /// chdir needs read on the directory; a directory outside every rule
    /// is refused and the working directory stays.
    #[test]
    fn chdir_to_a_forbidden_directory_is_refused() {
        deadline(30);
        let (_t, root, outside) = tree();
        let sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        raw_chdir(&root).unwrap();
        assert_eq!(raw_chdir(&outside), Err(libc::EPERM));
        let v = sb.take_violations();
        assert_eq!(v.last().unwrap().decision(), Decision::Denied(DenyReason::NoRule));
        assert_eq!(std::env::current_dir().unwrap(), root);
        // Relative: "../outside" from root is outside too.
        assert_eq!(raw_chdir(Path::new("../outside")), Err(libc::EPERM));
        assert_eq!(std::env::current_dir().unwrap(), root);
        // Not a directory: the kernel's answer.
        assert_eq!(raw_chdir(Path::new("file.txt")), Err(libc::ENOTDIR));
    }

    /// chdir to a directory on the way to a rule's root is allowed (as a
    /// stat of it is), and grants nothing: every lookup from there is
    /// made absolute and decided on by the policy.
    #[test]
    fn a_working_directory_above_the_root_grants_nothing() {
        deadline(30);
        let (t, root, _outside) = tree();
        let base = t.path().canonicalize().unwrap();
        let _sb = Sandbox::builder().read_beneath(&root).enter().unwrap();
        raw_chdir(&base).unwrap();
        assert_eq!(std::env::current_dir().unwrap(), base);
        raw_chdir(Path::new("/")).unwrap();
        raw_chdir(&base).unwrap();
        // Lookups from it: inside the root allowed, the rest refused.
        assert_eq!(std::fs::read_to_string("root/file.txt").unwrap(), "inside");
        for p in ["outside/secret.txt", "outside", "."] {
            assert_eq!(raw_openat(libc::AT_FDCWD, p, libc::O_RDONLY), Err(libc::EPERM), "{p}");
        }
        assert_eq!(raw_openat(libc::AT_FDCWD, "made", libc::O_CREAT | libc::O_WRONLY), Err(libc::EPERM));
        assert!(!base.join("made").exists());
        assert_eq!(std::fs::create_dir("dir").unwrap_err().raw_os_error(), Some(libc::EPERM));
        // Its metadata only, as a stat of an ancestor.
        assert!(std::fs::metadata(".").unwrap().is_dir());
        // And a read rule gives no more from inside the root either.
        raw_chdir(&root).unwrap();
        assert_eq!(raw_openat(libc::AT_FDCWD, "x", libc::O_CREAT | libc::O_WRONLY), Err(libc::EPERM));
    }

    /// `..` from the working directory cannot climb out of the rule: a
    /// path from root/sub that leaves root is refused, one that stays
    /// inside works.
    #[test]
    fn dotdot_from_the_working_directory_cannot_escape() {
        deadline(30);
        let (_t, root, _outside) = tree();
        let sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        raw_chdir(&root.join("sub")).unwrap();
        for p in ["../../outside/secret.txt", "../../../../../../../outside/secret.txt", "../../root/../outside/secret.txt"] {
            assert_eq!(raw_openat(libc::AT_FDCWD, p, libc::O_RDONLY), Err(libc::EPERM), "{p}");
        }
        // `..` after a name goes to the kernel beneath the root, which
        // refuses the escape.
        assert_eq!(raw_openat(libc::AT_FDCWD, "../sub/../../outside/secret.txt", libc::O_RDONLY), Err(libc::EPERM));
        let v = sb.take_violations();
        assert!(v.iter().filter(|v| v.syscall_name() == "openat").all(|v| matches!(v.decision(), Decision::Denied(_))), "{v:?}");
        let fd = raw_openat(libc::AT_FDCWD, "../file.txt", libc::O_RDONLY).unwrap();
        assert_eq!(read_fd(fd), "inside");
        assert_eq!(raw_chdir(Path::new("../../outside")), Err(libc::EPERM));
        // Up to the root's parent: a directory on the way to the root.
        raw_chdir(Path::new("../..")).unwrap();
        assert_eq!(std::env::current_dir().unwrap(), root.parent().unwrap());
    }

    /// Each call resolves against the process's directory when it is
    /// made, whichever thread makes it: one thread changes directory
    /// while others open relative paths.
    #[test]
    fn threads_resolve_against_the_directory_at_their_call() {
        deadline(60);
        let (_t, root, _outside) = tree();
        for d in ["a", "b"] {
            std::fs::create_dir(root.join(d)).unwrap();
            std::fs::write(root.join(d).join("which"), d).unwrap();
        }
        let _sb = Sandbox::builder().read_beneath(&root).enter().unwrap();
        // In order first: a thread started after a chdir sees it, and
        // sees the next one too.
        raw_chdir(&root.join("a")).unwrap();
        let (to_t, from_main) = std::sync::mpsc::channel::<()>();
        let (to_main, from_t) = std::sync::mpsc::channel::<String>();
        let t = std::thread::spawn(move || {
            for _ in 0..2 {
                from_main.recv().unwrap();
                to_main.send(std::fs::read_to_string("which").unwrap()).unwrap();
            }
        });
        to_t.send(()).unwrap();
        assert_eq!(from_t.recv().unwrap(), "a");
        raw_chdir(&root.join("b")).unwrap();
        to_t.send(()).unwrap();
        assert_eq!(from_t.recv().unwrap(), "b");
        t.join().unwrap();
        // At once: every read finds one of the two, never a failure (as
        // against the directory the sandbox was entered in).
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for k in 0..400 {
                    let d = if k % 2 == 0 { "a" } else { "b" };
                    raw_chdir(&root.join(d)).unwrap();
                }
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            for _ in 0..2 {
                s.spawn(|| {
                    let mut n = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) || n == 0 {
                        let got = std::fs::read_to_string("which").unwrap();
                        assert!(got == "a" || got == "b", "{got}");
                        n += 1;
                    }
                });
            }
        });
    }

    /// The working directory and the relative path together longer than
    /// PATH_MAX: ENAMETOOLONG, never a truncated path (which would name
    /// another file). The kernel itself would look the path up from the
    /// directory; the sandbox needs the whole absolute path.
    #[test]
    fn a_joined_path_longer_than_path_max_is_enametoolong() {
        deadline(60);
        let (_t, root, _outside) = tree();
        // A working directory of about 3,900 bytes beneath the root.
        std::env::set_current_dir(&root).unwrap();
        let comp = "d".repeat(250);
        let mut deep = root.clone();
        while deep.as_os_str().len() < 3900 {
            std::fs::create_dir(&comp).unwrap();
            std::env::set_current_dir(&comp).unwrap();
            deep.push(&comp);
        }
        std::fs::write("f", "deep").unwrap();
        let name = "n".repeat(250);
        std::fs::write(&name, "long").unwrap();
        let _sb = Sandbox::builder().read_beneath(&root).enter().unwrap();
        assert_eq!(std::fs::read_to_string("f").unwrap(), "deep");
        assert!(deep.as_os_str().len() + 1 + name.len() >= 4096);
        assert_eq!(raw_openat(libc::AT_FDCWD, &name, libc::O_RDONLY), Err(libc::ENAMETOOLONG));
        assert_eq!(std::fs::metadata(&name).unwrap_err().raw_os_error(), Some(libc::ENAMETOOLONG));
        // chdir to a relative directory there: the same.
        assert_eq!(raw_chdir(Path::new(&name)), Err(libc::ENAMETOOLONG));
        assert_eq!(std::env::current_dir().unwrap(), deep);
    }

    /// Calls with no brokered form still record the directory a relative
    /// path names; a symlink's place is made absolute, never its text.
    #[test]
    fn unsupported_and_reported_calls_record_the_directory() {
        deadline(30);
        let (_t, root, _outside) = tree();
        let sub = root.join("sub");
        let sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        raw_chdir(&sub).unwrap();
        let x = c(Path::new("x"));
        // SAFETY: chroot of a C string (no brokered form: unsupported,
        // refused before the kernel sees it).
        assert_eq!(unsafe { libc::chroot(x.as_ptr()) }, -1);
        let v = *sb.take_violations().last().unwrap();
        assert_eq!((v.syscall_name(), v.decision()), ("chroot", Decision::Unsupported));
        assert_eq!(v.cwd().as_deref(), sub.to_str());
        let t = c(Path::new("target"));
        // SAFETY: symlink of C strings: its first argument is the link's
        // text, no directory; the second, the place, is made absolute.
        assert_eq!(unsafe { libc::symlink(t.as_ptr(), x.as_ptr()) }, 0);
        let v = *sb.take_violations().last().unwrap();
        assert_eq!(v.syscall_name(), "symlink");
        assert_eq!(v.cwd().as_deref(), sub.to_str(), "{v}");
        assert_eq!(std::fs::read_link(sub.join("x")).unwrap(), Path::new("target"));
    }

    #[test]
    fn report_mode_records_the_directory() {
        deadline(30);
        let (_t, root, _outside) = tree();
        std::env::set_current_dir(&root).unwrap();
        let sb = Sandbox::builder().write_beneath(&root).mode(sigcap::Mode::Report).enter().unwrap();
        assert!(std::fs::read("file.txt").is_err());
        let v = *sb.take_violations().last().unwrap();
        assert_eq!((v.detail().as_deref(), v.cwd().as_deref()), (Some("file.txt"), root.to_str()));
    }

    /// Hostile: a descriptor of a directory outside every rule, held from
    /// before entering, and fchdir() (a plain call on Linux) into it. Every
    /// lookup from there names a path outside every rule and is refused
    /// by the policy; and Landlock, enforced, is the second wall for
    /// whatever the filter might miss.
    #[test]
    fn fchdir_into_a_held_directory_outside_every_rule_grants_nothing() {
        deadline(30);
        let (_t, root, outside) = tree();
        let p = c(&outside);
        // SAFETY: open before entering.
        let held = unsafe { libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        assert!(held >= 0);
        let sb = Sandbox::builder().write_beneath(&root).enter().unwrap();
        assert!(matches!(sb.landlock(), sigcap::LandlockStatus::Enforced { .. }), "{:?}", sb.landlock());
        raw_fchdir(held).unwrap();
        assert_eq!(std::env::current_dir().unwrap(), outside);
        let mut loot = Vec::new();
        if let Ok(fd) = raw_openat(libc::AT_FDCWD, "secret.txt", libc::O_RDONLY) {
            loot.push(format!("read secret.txt: {}", read_fd(fd)));
        }
        if raw_openat(libc::AT_FDCWD, "created", libc::O_CREAT | libc::O_WRONLY).is_ok() {
            loot.push("created outside/created".into());
        }
        let name = c(Path::new("made-dir"));
        // SAFETY: plain system calls with valid C strings.
        if unsafe { libc::syscall(libc::SYS_mkdir, name.as_ptr(), 0o700) } == 0 {
            loot.push("mkdir outside/made-dir".into());
        }
        let secret = c(Path::new("secret.txt"));
        if unsafe { libc::syscall(libc::SYS_unlink, secret.as_ptr()) } == 0 {
            loot.push("unlinked outside/secret.txt".into());
        }
        let mut st = [0u8; 256];
        if unsafe { libc::syscall(libc::SYS_newfstatat, libc::AT_FDCWD, secret.as_ptr(), st.as_mut_ptr(), 0) } == 0 {
            loot.push("stat of outside/secret.txt".into());
        }
        let e = errno();
        assert!(loot.is_empty(), "escaped the policy: {loot:?}");
        assert_eq!(e, libc::EPERM);
        let v = sb.take_violations();
        let open = v.iter().find(|v| v.detail().as_deref() == Some("secret.txt")).unwrap();
        assert_eq!(open.decision(), Decision::Denied(DenyReason::NoRule));
        assert_eq!(open.cwd().as_deref(), outside.to_str());
        assert_eq!(std::fs::read_to_string(outside.join("secret.txt")).unwrap_err().raw_os_error(), Some(libc::EPERM));
        // And a way back in through chdir by path.
        raw_chdir(&root).unwrap();
        assert_eq!(std::fs::read_to_string("file.txt").unwrap(), "inside");
    }
}
