//! Issue #11 item 4: a symlink that leads out of its rule's root (an
//! absolute target, or a relative one climbing above the root) is
//! followed when the path it leads to is itself allowed, decided again
//! from scratch, and refused otherwise. These are the attacks on that:
//! links to files outside every rule, from a read-only rule into a
//! writable one and back, loops, long chains, a link swapped while the
//! program opens through it, directory links in the middle of a path,
//! and what the records say. Each test runs in its own process
//! (rusty-fork), against the real kernel and a real broker.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use common::{c, deadline, errno, read_fd};
use rusty_fork::rusty_fork_test;
use sigcap::{Access, Decision, DenyReason, Sandbox, Violation};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// t/A (the read-only rule) with A/file.txt; t/W (read-write-create)
/// with W/f; t/outside/secret.txt under no rule. Links are added by each
/// test.
struct Tree {
    t: tempfile::TempDir,
    a: PathBuf,
    w: PathBuf,
    secret: PathBuf,
}

fn tree() -> Tree {
    let t = tempfile::tempdir().unwrap();
    let (a, w, out) = (t.path().join("A"), t.path().join("W"), t.path().join("outside"));
    for d in [&a, &w, &out] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(a.join("file.txt"), "read-only file").unwrap();
    std::fs::write(w.join("f"), "writable file").unwrap();
    std::fs::write(out.join("secret.txt"), "SECRET").unwrap();
    let secret = out.join("secret.txt");
    Tree { t, a, w, secret }
}

impl Tree {
    /// Read on A, read-write-create on W, nothing else.
    fn enter(&self) -> Sandbox {
        Sandbox::builder()
            .read_beneath(&self.a)
            .write_beneath(&self.w)
            .enter()
            .unwrap()
    }
}

/// A raw openat(AT_FDCWD, p, flags, 0600): the descriptor or the errno
/// (the C library's own calls, not std's retries, so what the program
/// sees is the broker's answer).
fn open(p: &Path, flags: i32) -> Result<i32, i32> {
    let cp = c(p);
    // SAFETY: a C string; the flags are the test's.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            cp.as_ptr(),
            flags | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(fd as i32)
    }
}

fn read(p: &Path) -> Result<String, i32> {
    open(p, libc::O_RDONLY).map(|fd| {
        let s = read_fd(fd);
        // SAFETY: our descriptor.
        unsafe { libc::close(fd) };
        s
    })
}

fn write(p: &Path, flags: i32, what: &str) -> Result<(), i32> {
    let fd = open(p, flags)?;
    // SAFETY: our descriptor and a live buffer (write(2) is not trapped).
    let n = unsafe { libc::write(fd, what.as_ptr().cast(), what.len()) };
    // SAFETY: our descriptor.
    unsafe { libc::close(fd) };
    assert_eq!(n, what.len() as isize);
    Ok(())
}

fn last(sb: &Sandbox) -> Violation {
    *sb.take_violations().last().expect("a violation was recorded")
}

fn via(v: &Violation) -> Option<String> {
    v.via().map(|s| s.into_owned())
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

rusty_fork_test! {
    #[test]
    fn links_to_files_outside_every_rule_are_refused() {
        deadline(60);
        let t = tree();
        symlink("/etc/shadow", t.a.join("shadow")).unwrap();
        symlink(&t.secret, t.a.join("abs")).unwrap();
        symlink("../outside/secret.txt", t.a.join("up")).unwrap();
        symlink("../../../../../../../../../../etc/passwd", t.a.join("far-up")).unwrap();
        let sb = t.enter();
        for (link, target) in [
            ("shadow", PathBuf::from("/etc/shadow")),
            ("abs", t.secret.clone()),
            ("up", t.secret.clone()),
            ("far-up", PathBuf::from("/etc/passwd")),
        ] {
            let p = t.a.join(link);
            assert_eq!(read(&p), Err(libc::EPERM), "{link}");
            let v = last(&sb);
            assert_eq!(v.decision(), Decision::Denied(DenyReason::NoRule), "{link}: {v}");
            assert_eq!(v.detail().unwrap(), s(&p));
            assert_eq!(via(&v), Some(s(&target)), "{link}: the target decided");
            // stat and access follow the link too; lstat and readlink do not.
            assert_eq!(std::fs::metadata(&p).unwrap_err().raw_os_error(), Some(libc::EPERM), "{link}");
            assert!(std::fs::symlink_metadata(&p).unwrap().file_type().is_symlink(), "{link}");
            assert!(std::fs::read_link(&p).is_ok(), "{link}");
        }
        // The link's own rule cannot be used to reach through it for writing either.
        assert_eq!(open(&t.a.join("abs"), libc::O_WRONLY), Err(libc::EPERM));
        assert_eq!(last(&sb).decision(), Decision::Denied(DenyReason::NoRule));
    }

    #[test]
    fn a_link_is_decided_on_its_target_both_ways() {
        deadline(60);
        let t = tree();
        // From the read-only rule into the writable one: allowed there.
        symlink(t.w.join("f"), t.a.join("to-w")).unwrap();
        symlink("../W/f", t.a.join("up-to-w")).unwrap();
        // From the writable rule into the read-only one: refused for
        // every write, allowed for reading.
        symlink(t.a.join("file.txt"), t.w.join("to-a")).unwrap();
        symlink(t.a.join("new"), t.w.join("dangling-to-a")).unwrap();
        let sb = t.enter();
        write(&t.a.join("to-w"), libc::O_WRONLY | libc::O_TRUNC, "via A").unwrap();
        let v = last(&sb);
        assert_eq!(v.decision(), Decision::Allowed { rule: 1 }, "{v}");
        assert_eq!((v.detail().unwrap().into_owned(), via(&v)), (s(&t.a.join("to-w")), Some(s(&t.w.join("f")))));
        write(&t.a.join("up-to-w"), libc::O_WRONLY | libc::O_APPEND, ", again").unwrap();
        assert_eq!(via(&last(&sb)), Some(s(&t.w.join("f"))));
        assert_eq!(std::fs::read_to_string(t.w.join("f")).unwrap(), "via A, again");

        for flags in [
            libc::O_WRONLY,
            libc::O_RDWR,
            libc::O_WRONLY | libc::O_TRUNC,
            libc::O_RDONLY | libc::O_TRUNC,
            libc::O_WRONLY | libc::O_APPEND,
            libc::O_WRONLY | libc::O_CREAT,
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
        ] {
            assert_eq!(open(&t.w.join("to-a"), flags), Err(libc::EPERM), "flags {flags:#x}");
            let v = last(&sb);
            assert_eq!(v.decision(), Decision::Denied(DenyReason::Access), "flags {flags:#x}: {v}");
            assert_eq!(via(&v), Some(s(&t.a.join("file.txt"))));
        }
        assert_eq!(std::fs::read_to_string(t.a.join("file.txt")).unwrap(), "read-only file");
        assert_eq!(read(&t.w.join("to-a")).unwrap(), "read-only file");
        assert_eq!(last(&sb).decision(), Decision::Allowed { rule: 0 });
        // O_CREAT through a dangling link is a creation at its target.
        assert_eq!(open(&t.w.join("dangling-to-a"), libc::O_WRONLY | libc::O_CREAT), Err(libc::EPERM));
        assert_eq!(last(&sb).decision(), Decision::Denied(DenyReason::Access));
        assert!(!t.a.join("new").exists());
    }

    #[test]
    fn a_dangling_link_creates_its_target_where_that_is_allowed() {
        deadline(60);
        let t = tree();
        symlink(t.w.join("made"), t.w.join("dangling")).unwrap();
        symlink(t.w.join("made-excl"), t.w.join("dangling-excl")).unwrap();
        let sb = t.enter();
        write(&t.w.join("dangling"), libc::O_WRONLY | libc::O_CREAT, "created").unwrap();
        let v = last(&sb);
        assert_eq!((v.decision(), via(&v)), (Decision::Allowed { rule: 1 }, Some(s(&t.w.join("made")))));
        assert_eq!(std::fs::read_to_string(t.w.join("made")).unwrap(), "created");
        // O_EXCL never goes through a link, as the kernel says.
        assert_eq!(open(&t.w.join("dangling-excl"), libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL), Err(libc::EEXIST));
        assert!(!t.w.join("made-excl").exists());
    }

    #[test]
    fn a_directory_link_in_the_middle_of_a_path() {
        deadline(60);
        let t = tree();
        symlink(&t.a, t.w.join("dir-a")).unwrap();
        symlink("../A", t.w.join("rel-dir-a")).unwrap();
        symlink(&t.w, t.a.join("dir-w")).unwrap();
        let sb = t.enter();
        for d in ["dir-a", "rel-dir-a"] {
            assert_eq!(read(&t.w.join(d).join("file.txt")).unwrap(), "read-only file", "{d}");
            let v = last(&sb);
            assert_eq!((v.decision(), via(&v)), (Decision::Allowed { rule: 0 }, Some(s(&t.a.join("file.txt")))), "{d}");
            assert_eq!(open(&t.w.join(d).join("file.txt"), libc::O_WRONLY), Err(libc::EPERM), "{d}");
            assert_eq!(open(&t.w.join(d).join("new"), libc::O_WRONLY | libc::O_CREAT), Err(libc::EPERM), "{d}");
            assert_eq!(last(&sb).decision(), Decision::Denied(DenyReason::Access), "{d}");
            let e = std::fs::remove_file(t.w.join(d).join("file.txt")).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{d}: unlink");
            assert_eq!(last(&sb).decision(), Decision::Denied(DenyReason::Access), "{d}: unlink");
            let e = std::fs::create_dir(t.w.join(d).join("sub")).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{d}: mkdir");
            let e = std::fs::rename(t.w.join("f"), t.w.join(d).join("moved")).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{d}: rename into");
            assert!(std::fs::metadata(t.w.join(d).join("file.txt")).is_ok(), "{d}: stat");
        }
        assert!(t.a.join("file.txt").exists() && !t.a.join("new").exists() && !t.a.join("sub").exists());
        // The other way: from the read-only rule into the writable one.
        std::fs::create_dir(t.a.join("dir-w/made")).unwrap();
        assert_eq!(via(&last(&sb)), Some(s(&t.w.join("made"))));
        std::fs::rename(t.a.join("dir-w/f"), t.a.join("dir-w/g")).unwrap();
        std::fs::remove_file(t.a.join("dir-w/g")).unwrap();
        assert!(t.w.join("made").is_dir() && !t.w.join("f").exists());
    }

    #[test]
    fn loops_and_chains_end_with_eloop() {
        deadline(60);
        let t = tree();
        symlink(t.a.join("loop2"), t.a.join("loop1")).unwrap();
        symlink(t.a.join("loop1"), t.a.join("loop2")).unwrap();
        symlink("../A/self", t.a.join("self")).unwrap();
        // l0 -> l1 -> ... -> l40 -> file.txt: 41 links from l0, 40 from l1.
        for i in 0..=40 {
            let next = if i == 40 { t.a.join("file.txt") } else { t.a.join(format!("l{}", i + 1)) };
            symlink(next, t.a.join(format!("l{i}"))).unwrap();
        }
        let sb = t.enter();
        for p in ["loop1", "self", "l0"] {
            let start = std::time::Instant::now();
            assert_eq!(read(&t.a.join(p)), Err(libc::ELOOP), "{p}");
            assert!(start.elapsed() < std::time::Duration::from_secs(5), "{p}");
        }
        assert_eq!(read(&t.a.join("l1")).unwrap(), "read-only file", "40 links are followed");
        assert_eq!(via(&last(&sb)), Some(s(&t.a.join("file.txt"))));
        assert_eq!(read(&t.a.join("l0")), Err(libc::ELOOP), "41 are not");
    }

    #[test]
    fn nofollow_calls_do_not_follow_the_last_name() {
        deadline(60);
        let t = tree();
        symlink(t.w.join("f"), t.a.join("to-w")).unwrap();
        let sb = t.enter();
        assert_eq!(open(&t.a.join("to-w"), libc::O_RDONLY | libc::O_NOFOLLOW), Err(libc::ELOOP));
        assert_eq!(open(&t.a.join("to-w"), libc::O_WRONLY | libc::O_NOFOLLOW), Err(libc::EPERM));
        assert_eq!(last(&sb).decision(), Decision::Denied(DenyReason::Access));
        assert!(std::fs::symlink_metadata(t.a.join("to-w")).unwrap().file_type().is_symlink());
        assert_eq!(via(&last(&sb)), None, "the link itself: no other path used");
        assert_eq!(std::fs::metadata(t.a.join("to-w")).unwrap().len(), "writable file".len() as u64);
        assert_eq!(via(&last(&sb)), Some(s(&t.w.join("f"))));
    }

    #[test]
    fn beneath_a_root_holding_a_narrower_rule_no_link_is_followed() {
        deadline(60);
        let t = tree();
        std::fs::create_dir(t.w.join("ro")).unwrap();
        std::fs::write(t.w.join("ro/g"), "nested read-only").unwrap();
        symlink(t.a.join("file.txt"), t.w.join("abs")).unwrap();
        symlink(t.w.join("ro/g"), t.a.join("to-ro")).unwrap();
        let _sb = Sandbox::builder()
            .read_beneath(&t.a)
            .write_beneath(&t.w)
            .read_beneath(t.w.join("ro"))
            .enter()
            .unwrap();
        assert_eq!(read(&t.w.join("abs")), Err(libc::ELOOP));
        // Reached from elsewhere, the nested rule is decided as its own.
        assert_eq!(read(&t.a.join("to-ro")).unwrap(), "nested read-only");
        assert_eq!(open(&t.a.join("to-ro"), libc::O_WRONLY), Err(libc::EPERM));
        assert_eq!(std::fs::read_to_string(t.w.join("ro/g")).unwrap(), "nested read-only");
    }

    #[test]
    fn a_link_swapped_while_the_program_opens_through_it_never_yields_the_forbidden_file() {
        deadline(120);
        let t = tree();
        let link = t.a.join("race");
        symlink(t.w.join("f"), &link).unwrap();
        // The flipper is a process forked before entering (the program
        // itself can make no symlink): it renames ready-made links over
        // A/race, allowed and forbidden targets in turn, until the pipe
        // closes.
        let mut p = [0; 2];
        // SAFETY: a pipe into a local array.
        assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: fork; the child only makes file system calls and _exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: closing the write end in the child.
            unsafe { libc::close(p[1]) };
            let targets = [t.w.join("f"), t.secret.clone(), PathBuf::from("file.txt"), PathBuf::from("/etc/shadow"), PathBuf::from("../outside/secret.txt")];
            let tmp = t.a.join(".race-tmp");
            for i in 0usize.. {
                let mut pfd = libc::pollfd { fd: p[0], events: libc::POLLIN, revents: 0 };
                // SAFETY: one pollfd.
                if unsafe { libc::poll(&mut pfd, 1, 0) } != 0 {
                    break;
                }
                let _ = std::fs::remove_file(&tmp);
                symlink(&targets[i % targets.len()], &tmp).unwrap();
                std::fs::rename(&tmp, &link).unwrap();
            }
            // SAFETY: leave without running the test harness's code.
            unsafe { libc::_exit(0) };
        }
        // SAFETY: closing the read end in the parent.
        unsafe { libc::close(p[0]) };
        let _sb = Sandbox::builder().read_beneath(&t.a).write_beneath(&t.w).record_capacity(16).enter().unwrap();
        let (mut allowed, mut refused) = (0, 0);
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_secs(4) {
            match read(&link) {
                Ok(s) => {
                    assert!(!s.contains("SECRET"), "read the forbidden file: {s:?}");
                    assert!(s == "writable file" || s == "read-only file", "{s:?}");
                    allowed += 1;
                }
                Err(e) => {
                    assert!(matches!(e, libc::EPERM | libc::ENOENT), "{e}");
                    refused += 1;
                }
            }
        }
        // SAFETY: closing the pipe stops the flipper; reaping our child.
        unsafe {
            libc::close(p[1]);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        eprintln!("race: {allowed} opens allowed, {refused} refused");
        assert!(allowed > 0 && refused > 0, "the race was not exercised: {allowed} allowed, {refused} refused");
    }

    #[test]
    fn permissive_mode_records_the_path_asked_for_and_the_one_used() {
        deadline(60);
        let t = tree();
        symlink(&t.secret, t.a.join("abs")).unwrap();
        symlink("../outside", t.a.join("up-dir")).unwrap();
        // sigcap-run's permissive policy: everything under /, without Landlock.
        let sb = Sandbox::builder().allow("/", Access::ALL).without_landlock().enter().unwrap();
        assert_eq!(read(&t.a.join("abs")).unwrap(), "SECRET");
        let v = last(&sb);
        assert_eq!(v.decision(), Decision::Allowed { rule: 0 });
        assert_eq!(v.detail().unwrap(), s(&t.a.join("abs")));
        assert_eq!(via(&v), Some(s(&t.secret)));
        let j: serde_json::Value = serde_json::from_str(&v.to_json()).unwrap();
        assert_eq!((j["detail"].as_str(), j["via"].as_str()), (Some(&*s(&t.a.join("abs"))), Some(&*s(&t.secret))));
        assert!(v.to_string().contains(&format!("{} -> {}", s(&t.a.join("abs")), s(&t.secret))), "{v}");
        // A relative link stays beneath the root `/`: resolved there, as
        // before, nothing decided again.
        assert_eq!(read(&t.a.join("up-dir/secret.txt")).unwrap(), "SECRET");
        assert_eq!(via(&last(&sb)), None);
        // A magic link's text names the broker's own file (its stdin is
        // /dev/null): not followed, as RESOLVE_NO_MAGICLINKS.
        assert_eq!(read(Path::new("/dev/stdin")), Err(libc::ELOOP));
        assert_eq!(read(Path::new("/proc/self/fd/0")), Err(libc::ELOOP));
        assert_eq!(read(Path::new("/proc/self/cwd/Cargo.toml")), Err(libc::ELOOP));
        // procfs's plain links are followed: /proc/self is the broker.
        assert!(read(Path::new("/proc/self/status")).is_ok_and(|s| s.contains("Pid:")));
        // A path with no link in it says nothing more.
        assert_eq!(read(&t.a.join("file.txt")).unwrap(), "read-only file");
        let j: serde_json::Value = serde_json::from_str(&last(&sb).to_json()).unwrap();
        assert_eq!(j["via"], serde_json::Value::Null);
        drop(t.t);
    }
}
