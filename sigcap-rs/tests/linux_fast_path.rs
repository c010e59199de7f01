//! Issue #10, item 2: the fast path. An allowed file call is answered in
//! the handler, beneath the rule's root descriptor, without the broker;
//! nothing else is, and nothing is granted that the broker would refuse.
//!
//! The proof that the broker was not asked: it is SIGSTOPped (by an
//! unconfined helper forked before entering: Landlock's signal scope
//! keeps the program from signalling it), so every call it would have to
//! answer fails with `broker-timeout` after the short timeout, while the
//! fast path's calls succeed at once. Every wait is bounded: each test
//! arms alarm(2) first, and the helper kills the broker when the test
//! process goes. Each test runs in its own process (rusty-fork).
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use common::{c, deadline, errno, read_fd, Outside};
use rusty_fork::rusty_fork_test;
use sigcap::{Decision, DenyReason, Sandbox, Violation};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The broker wait these tests ask for: a call the broker must answer
/// while it is stopped takes this long, a fast one far less.
const TIMEOUT: Duration = Duration::from_millis(1500);
/// The most a fast-path call may take (a loaded 2-core machine included).
const FAST: Duration = Duration::from_millis(500);

/// root/ (file.txt, sub/deep.txt, a relative link, links leaving the
/// root), other/ (a second root with its own file.txt), outside/ (no
/// rule) with secret.txt and its own file.txt.
struct Tree {
    _t: tempfile::TempDir,
    root: PathBuf,
    other: PathBuf,
    outside: PathBuf,
}

fn tree() -> Tree {
    let t = tempfile::tempdir().unwrap();
    let (root, other, outside) = (t.path().join("root"), t.path().join("other"), t.path().join("outside"));
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(root.join("file.txt"), "inside").unwrap();
    std::fs::write(root.join("sub/deep.txt"), "deep").unwrap();
    std::fs::write(other.join("file.txt"), "other root").unwrap();
    std::fs::write(outside.join("secret.txt"), "outside secret").unwrap();
    std::fs::write(outside.join("file.txt"), "outside file").unwrap();
    symlink("file.txt", root.join("ok-link")).unwrap();
    symlink("../outside/secret.txt", root.join("up-link")).unwrap();
    symlink(outside.join("secret.txt"), root.join("abs-link")).unwrap();
    symlink("../outside", root.join("up-dir")).unwrap();
    Tree {
        _t: t,
        root,
        other,
        outside,
    }
}

/// A raw openat(AT_FDCWD, path, flags, 0600) and how long it took: the
/// descriptor or the errno.
fn open(p: &Path, flags: i32) -> (Result<i32, i32>, Duration) {
    let cp = c(p);
    let start = Instant::now();
    // SAFETY: a C string; flags are the test's.
    let fd = unsafe { libc::syscall(libc::SYS_openat, libc::AT_FDCWD, cp.as_ptr(), flags, 0o600) } as i32;
    let took = start.elapsed();
    (if fd < 0 { Err(errno()) } else { Ok(fd) }, took)
}

/// Everything readable from `fd` (read(2) is not trapped), then close it.
fn read_close(fd: i32) -> String {
    let out = read_fd(fd);
    // SAFETY: our descriptor.
    unsafe { libc::close(fd) };
    out
}

fn read_all(p: &Path) -> Result<String, i32> {
    open(p, libc::O_RDONLY | libc::O_CLOEXEC).0.map(read_close)
}

/// A non-blocking pipe for a JSON log: (read end, write end).
fn log_pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two numbers.
    unsafe { assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK), 0) };
    (fds[0], fds[1])
}

/// What the log pipe holds: its text and each line parsed.
fn log_lines(fd: i32) -> (String, Vec<serde_json::Value>) {
    let mut buf = vec![0u8; 65536];
    // SAFETY: a local buffer.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    let text = String::from_utf8_lossy(&buf[..n.max(0) as usize]).into_owned();
    let lines = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (text, lines)
}

fn last(sb: &Sandbox) -> Violation {
    *sb.take_violations().last().expect("a violation was recorded")
}

/// Every record in `v` allowed under `rule` on the fast path.
fn all_fast(v: &[Violation], rule: u32) {
    assert!(!v.is_empty());
    for r in v {
        assert_eq!(r.decision(), Decision::Allowed { rule }, "{r}");
        assert!(r.fast_path(), "not on the fast path: {r}");
    }
}

rusty_fork_test! {
    /// openat2's RESOLVE_BENEATH gives EAGAIN when any rename on the
    /// system races a `..` step of the lookup (the kernel cannot tell the
    /// step stayed beneath); the call may be retried. A process outside
    /// renames in a loop while the program opens through a link whose
    /// target climbs with `..` (and stays beneath the root): no open may
    /// fail on the fast path...
    #[test]
    fn a_rename_elsewhere_does_not_fail_a_fast_lookup_with_dotdot() {
        opens_beside_renames(true);
    }

    /// ... nor through the broker.
    #[test]
    fn a_rename_elsewhere_does_not_fail_a_brokered_lookup_with_dotdot() {
        opens_beside_renames(false);
    }

    #[test]
    fn allowed_open_stat_access_readlink_are_answered_without_the_broker() {
        deadline(30);
        let t = tree();
        let out = Outside::start();
        let sb = Sandbox::builder().read_beneath(&t.root).broker_timeout(TIMEOUT).enter().unwrap();
        out.watch(sb.broker_pid());
        out.stop();
        sb.take_violations();
        let f = t.root.join("file.txt");

        let (fd, took) = open(&f, libc::O_RDONLY | libc::O_CLOEXEC);
        assert!(took < FAST, "open took {took:?}");
        assert_eq!(read_close(fd.unwrap()), "inside");
        assert_eq!(std::fs::read_to_string(t.root.join("sub/deep.txt")).unwrap(), "deep");
        // Through a relative link that stays beneath, as the broker allows.
        assert_eq!(read_all(&t.root.join("ok-link")).unwrap(), "inside");
        // Not FD_CLOEXEC unless asked, as the broker's descriptor.
        let fd = open(&f, libc::O_RDONLY).0.unwrap();
        // SAFETY: F_GETFD on our descriptor.
        assert_eq!(unsafe { libc::fcntl(fd, libc::F_GETFD) } & libc::FD_CLOEXEC, 0);
        read_close(fd);

        let start = Instant::now();
        // stat (glibc: newfstatat), statx (std's metadata), lstat.
        let cf = c(&f);
        // SAFETY: stat into a zeroed buffer.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::stat(cf.as_ptr(), &mut st) }, 0);
        assert_eq!(st.st_size, 6);
        let m = std::fs::metadata(&f).unwrap();
        assert_eq!((m.len(), m.is_file()), (6, true));
        assert!(std::fs::symlink_metadata(t.root.join("ok-link")).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::metadata(t.root.join("missing")).unwrap_err().raw_os_error(), Some(libc::ENOENT));
        // access and faccessat2.
        // SAFETY: access with a C string.
        assert_eq!(unsafe { libc::access(cf.as_ptr(), libc::R_OK) }, 0);
        let missing = c(&t.root.join("missing"));
        assert_eq!((unsafe { libc::access(missing.as_ptr(), libc::F_OK) }, errno()), (-1, libc::ENOENT));
        assert_eq!(
            unsafe { libc::syscall(libc::SYS_faccessat2, libc::AT_FDCWD, cf.as_ptr(), libc::R_OK, libc::AT_EACCESS) },
            0
        );
        // readlink, also of what leaves the root (the link itself is inside).
        assert_eq!(std::fs::read_link(t.root.join("ok-link")).unwrap(), Path::new("file.txt"));
        assert_eq!(std::fs::read_link(t.root.join("up-link")).unwrap(), Path::new("../outside/secret.txt"));
        assert_eq!(std::fs::read_link(&f).unwrap_err().raw_os_error(), Some(libc::EINVAL));
        let took = start.elapsed();
        assert!(took < FAST * 4, "twelve calls took {took:?}");

        let v = sb.take_violations();
        assert!(v.len() >= 14, "{}", v.len());
        all_fast(&v, 0);
        assert!(v.iter().all(|v| v.detail().is_some_and(|d| d.starts_with(t.root.to_str().unwrap()))));
        let st = sb.stats();
        assert_eq!((st.broker_unavailable, st.fast_path), (0, st.allowed));
        out.cont();
    }

    #[test]
    fn write_side_opens_under_a_write_root_are_fast_and_under_a_read_rule_refused() {
        deadline(30);
        let t = tree();
        let rw = t.root.parent().unwrap().join("rw");
        std::fs::create_dir(&rw).unwrap();
        let out = Outside::start();
        let sb = Sandbox::builder()
            .read_beneath(&t.root)
            .write_beneath(&rw)
            .broker_timeout(TIMEOUT)
            .enter()
            .unwrap();
        out.watch(sb.broker_pid());
        out.stop();
        sb.take_violations();
        let (fd, took) = open(&rw.join("new"), libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC);
        assert!(took < FAST, "{took:?}");
        let fd = fd.unwrap();
        // SAFETY: write(2) to our descriptor.
        assert_eq!(unsafe { libc::write(fd, b"made".as_ptr().cast(), 4) }, 4);
        read_close(fd);
        assert_eq!(read_all(&rw.join("new")).unwrap(), "made");
        let fd = open(&rw.join("new"), libc::O_RDWR | libc::O_TRUNC | libc::O_CLOEXEC).0.unwrap();
        read_close(fd);
        assert_eq!(std::fs::metadata(rw.join("new")).unwrap().len(), 0);
        all_fast(&sb.take_violations(), 1);

        // Under the read rule: never the fast path's; with the broker
        // stopped they time out, and nothing was written or created.
        for (p, flags) in [
            (t.root.join("file.txt"), libc::O_WRONLY),
            (t.root.join("file.txt"), libc::O_RDONLY | libc::O_TRUNC),
            (t.root.join("file.txt"), libc::O_RDONLY | libc::O_APPEND),
            (t.root.join("created"), libc::O_WRONLY | libc::O_CREAT),
            (t.root.join("created"), libc::O_RDONLY | libc::O_CREAT),
        ] {
            let (r, took) = open(&p, flags | libc::O_CLOEXEC);
            assert_eq!(r, Err(libc::EPERM), "{p:?} {flags:#x}");
            assert!(took >= TIMEOUT, "{p:?} {flags:#x} answered without the broker in {took:?}");
            let v = last(&sb);
            assert_eq!(v.decision(), Decision::Denied(DenyReason::BrokerTimeout), "{v}");
            assert!(!v.fast_path());
        }
        out.cont();
        assert_eq!(read_all(&t.root.join("file.txt")).unwrap(), "inside");
        assert!(!t.root.join("created").exists());
        // With the broker running, the broker's own reasons.
        let (r, _) = open(&t.root.join("file.txt"), libc::O_WRONLY | libc::O_CLOEXEC);
        assert_eq!(r, Err(libc::EPERM));
        assert_eq!(last(&sb).decision(), Decision::Denied(DenyReason::Access));
        let (r, _) = open(&t.root.join("created"), libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC);
        assert_eq!(r, Err(libc::EPERM));
        assert_eq!(last(&sb).decision(), Decision::Denied(DenyReason::Access));
        // Unknown open flags are the broker's to refuse, too.
        let (r, _) = open(&rw.join("new"), libc::O_RDONLY | 0x4000_0000);
        assert_eq!(r, Err(libc::EINVAL));
        assert!(!last(&sb).fast_path());
    }

    #[test]
    fn denied_calls_are_still_denied_by_the_broker() {
        deadline(30);
        let t = tree();
        let sb = Sandbox::builder().read_beneath(&t.root).enter().unwrap();
        for p in [t.outside.join("secret.txt"), PathBuf::from("/etc/passwd"), t.other.join("file.txt")] {
            assert_eq!(read_all(&p), Err(libc::EPERM), "{p:?}");
            let v = last(&sb);
            assert_eq!(v.decision(), Decision::Denied(DenyReason::NoRule), "{v}");
            assert!(!v.fast_path());
            assert_eq!(std::fs::metadata(&p).unwrap_err().raw_os_error(), Some(libc::EPERM));
            assert_eq!(std::fs::read_link(&p).unwrap_err().raw_os_error(), Some(libc::EPERM));
        }
    }

    #[test]
    fn dotdot_and_symlink_escapes_are_refused() {
        deadline(60);
        let t = tree();
        let out = Outside::start();
        let sb = Sandbox::builder().read_beneath(&t.root).broker_timeout(TIMEOUT).enter().unwrap();
        let r = t.root.display().to_string();
        let escapes = [
            (format!("{r}/../outside/secret.txt"), DenyReason::Escape),
            (format!("{r}/sub/../../outside/secret.txt"), DenyReason::Escape),
            // Links out of the root: their targets decided, under no rule.
            (format!("{r}/up-link"), DenyReason::NoRule),
            (format!("{r}/abs-link"), DenyReason::NoRule),
            (format!("{r}/up-dir/secret.txt"), DenyReason::NoRule),
            (format!("{r}/sub/../up-dir/file.txt"), DenyReason::NoRule),
        ];
        // The broker running: refused.
        for (p, why) in &escapes {
            assert_eq!(read_all(Path::new(p)), Err(libc::EPERM), "{p}");
            assert_eq!(last(&sb).decision(), Decision::Denied(*why), "{p}");
            assert_eq!(std::fs::metadata(p).unwrap_err().raw_os_error(), Some(libc::EPERM), "{p}");
            assert_eq!(last(&sb).decision(), Decision::Denied(*why), "stat {p}");
        }
        let escapes = escapes.map(|(p, _)| p);
        // The broker stopped: the fast path does not answer them either.
        out.watch(sb.broker_pid());
        out.stop();
        for p in &escapes {
            let (r, took) = open(Path::new(p), libc::O_RDONLY | libc::O_CLOEXEC);
            assert_eq!(r, Err(libc::EPERM), "{p}");
            assert!(took >= TIMEOUT, "{p}: answered in {took:?}");
        }
        let v = sb.take_violations();
        assert!(v.iter().all(|v| v.decision() == Decision::Denied(DenyReason::BrokerTimeout) && !v.fast_path()));
        out.cont();
    }

    /// Issue #11: an absolute link, or one climbing above the root, to a
    /// file another rule allows. The fast path's openat2 stops at the
    /// link (EXDEV) and leaves the call to the broker, which follows it by
    /// deciding the target: the right file, the broker's record.
    #[test]
    fn a_link_out_of_the_root_is_the_brokers_to_follow() {
        deadline(60);
        let t = tree();
        symlink(t.other.join("file.txt"), t.root.join("abs-other")).unwrap();
        symlink("../other/file.txt", t.root.join("up-other")).unwrap();
        let out = Outside::start();
        let sb = Sandbox::builder()
            .read_beneath(&t.root)
            .read_beneath(&t.other)
            .broker_timeout(TIMEOUT)
            .enter()
            .unwrap();
        for l in ["abs-other", "up-other"] {
            let p = t.root.join(l);
            assert_eq!(read_all(&p).unwrap(), "other root", "{l}");
            let v = last(&sb);
            assert_eq!((v.decision(), v.fast_path()), (Decision::Allowed { rule: 1 }, false), "{l}: {v}");
            assert_eq!(v.via().unwrap(), t.other.join("file.txt").to_str().unwrap(), "{l}");
            assert_eq!(std::fs::metadata(&p).unwrap().len(), "other root".len() as u64, "{l}");
        }
        // With the broker stopped, the fast path still answers what stays
        // beneath the root, and leaves the links out of it waiting.
        out.watch(sb.broker_pid());
        out.stop();
        assert_eq!(read_all(&t.root.join("ok-link")).unwrap(), "inside");
        assert!(last(&sb).fast_path());
        let (r, took) = open(&t.root.join("abs-other"), libc::O_RDONLY | libc::O_CLOEXEC);
        assert_eq!(r, Err(libc::EPERM));
        assert!(took >= TIMEOUT, "answered in {took:?}, not by the broker");
        assert_eq!(last(&sb).decision(), Decision::Denied(DenyReason::BrokerTimeout));
        out.cont();
    }

    #[test]
    fn nested_narrower_roots_are_not_reached_through_the_wider_one() {
        deadline(60);
        let t = tree();
        let w = t.root.parent().unwrap().join("w");
        std::fs::create_dir_all(w.join("ro")).unwrap();
        std::fs::create_dir_all(w.join("x")).unwrap();
        std::fs::write(w.join("ro/f"), "read-only").unwrap();
        std::fs::write(w.join("f"), "writable").unwrap();
        symlink("ro", w.join("l")).unwrap();
        let out = Outside::start();
        let sb = Sandbox::builder()
            .write_beneath(&w)
            .read_beneath(w.join("ro"))
            .broker_timeout(TIMEOUT)
            .enter()
            .unwrap();
        // The broker's answers first.
        let wr = libc::O_WRONLY | libc::O_CLOEXEC;
        let cases = [
            (w.join("ro/f"), Some(DenyReason::Access)),
            (w.join("x/../ro/f"), Some(DenyReason::Escape)),
            (w.join("l/f"), None), // ELOOP: no symlink beneath W
        ];
        for (p, why) in &cases {
            let (r, _) = open(p, wr);
            match why {
                Some(why) => {
                    assert_eq!(r, Err(libc::EPERM), "{p:?}");
                    assert_eq!(last(&sb).decision(), Decision::Denied(*why), "{p:?}");
                }
                None => assert_eq!(r, Err(libc::ELOOP), "{p:?}"),
            }
        }
        let broker_loop = last_or(&sb);
        out.watch(sb.broker_pid());
        out.stop();
        // Allowed under each rule, on the fast path.
        let fd = open(&w.join("f"), libc::O_RDWR | libc::O_CLOEXEC).0.unwrap();
        assert_eq!(read_close(fd), "writable");
        assert_eq!(last(&sb).decision(), Decision::Allowed { rule: 0 });
        assert_eq!(read_all(&w.join("ro/f")).unwrap(), "read-only");
        let v = last(&sb);
        assert_eq!((v.decision(), v.fast_path()), (Decision::Allowed { rule: 1 }, true));
        // The symlink beneath W: refused by the kernel on the fast path
        // too (RESOLVE_NO_SYMLINKS), the same record as the broker's.
        let (r, took) = open(&w.join("l/f"), wr);
        assert_eq!(r, Err(libc::ELOOP));
        assert!(took < FAST);
        let fast_loop = last(&sb);
        assert!(fast_loop.fast_path());
        assert_eq!((fast_loop.decision(), fast_loop.result()), (broker_loop.decision(), broker_loop.result()));
        assert_eq!(std::fs::metadata(w.join("l/f")).unwrap_err().raw_os_error(), Some(libc::ELOOP));
        // The denials are not the fast path's: they wait for the broker.
        for (p, _) in cases.iter().filter(|(_, why)| why.is_some()) {
            let (r, took) = open(p, wr);
            assert_eq!(r, Err(libc::EPERM), "{p:?}");
            assert!(took >= TIMEOUT, "{p:?} answered in {took:?}");
        }
        out.cont();
        assert_eq!(std::fs::read_to_string(w.join("ro/f")).unwrap(), "read-only");
    }

    #[test]
    fn the_runtimes_descriptors_cannot_be_swapped_closed_or_closed_by_range() {
        deadline(60);
        let t = tree();
        let out = Outside::start();
        // A directory no rule covers, held from before entering.
        let held = open(&t.outside, libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC).0.unwrap();
        let (log_r, log_w) = log_pipe();
        // SAFETY: log_w stays open for the test's life.
        let log = unsafe { std::os::fd::BorrowedFd::borrow_raw(log_w) };
        let sb = Sandbox::builder()
            .read_beneath(&t.root)
            .read_beneath(&t.other)
            .broker_timeout(TIMEOUT)
            .log_json(log)
            .enter()
            .unwrap();
        assert_eq!(read_all(&t.root.join("file.txt")).unwrap(), "inside");
        assert!(last(&sb).fast_path());
        // The root descriptors, found as an attacker would: the O_PATH
        // directories the process holds.
        let roots: Vec<i32> = (3..1024)
            .filter(|&fd| {
                // SAFETY: fcntl on a number that may not be open.
                let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
                fd != held && fl >= 0 && fl & libc::O_PATH != 0
            })
            .collect();
        assert_eq!(roots.len(), 2, "{roots:?}");
        assert!(roots.iter().all(|&fd| fd >= 512), "held high: {roots:?}");
        let mut ours = sb.held_descriptors();
        ours.extend(&roots);
        // Swap the roots (a fast path that trusted swapped numbers would
        // read other/file.txt for root/file.txt, both readable, Landlock
        // would not mind), put outside/ on them, close them, and the
        // broker's socket and the log's copy likewise.
        let (a, b) = (roots[0], roots[1]);
        // SAFETY: descriptor calls on numbers; the filter answers.
        unsafe {
            assert_eq!((libc::dup2(b, a), errno()), (-1, libc::EBADF));
            assert_eq!((libc::dup3(held, b, 0), errno()), (-1, libc::EBADF));
            for &fd in &ours {
                assert_eq!((libc::dup2(held, fd), errno()), (-1, libc::EBADF), "dup2 onto {fd}");
                assert_eq!((libc::close(fd), errno()), (-1, libc::EBADF), "close {fd}");
                assert!(libc::fcntl(fd, libc::F_GETFD) >= 0, "{fd} closed");
            }
        }
        // The fast path reads the right files, the broker stopped: it
        // was not asked.
        out.watch(sb.broker_pid());
        out.stop();
        for (p, want) in [(t.root.join("file.txt"), "inside"), (t.other.join("file.txt"), "other root")] {
            let (r, took) = open(&p, libc::O_RDONLY | libc::O_CLOEXEC);
            assert_eq!(r.map(read_close).as_deref(), Ok(want), "{p:?}");
            assert!(took < FAST, "{took:?}");
            assert!(last(&sb).fast_path());
        }
        out.cont();
        // A raw close_range over everything (glibc's closefrom, CPython's
        // closerange): the program's own descriptors go, ours stay.
        let mine = open(&t.root, libc::O_PATH | libc::O_CLOEXEC).0.unwrap();
        let cloexec = open(&t.root, libc::O_PATH).0.unwrap();
        // SAFETY: close_range of every number from `mine` up.
        unsafe {
            assert_eq!(
                libc::syscall(libc::SYS_close_range, cloexec, cloexec, libc::CLOSE_RANGE_CLOEXEC),
                0
            );
            assert_eq!(libc::fcntl(cloexec, libc::F_GETFD), libc::FD_CLOEXEC);
            assert_eq!(libc::syscall(libc::SYS_close_range, mine, u32::MAX, 0), 0);
            for fd in [mine, cloexec] {
                assert!(libc::fcntl(fd, libc::F_GETFD) < 0, "{fd} still open");
            }
            for &fd in &ours {
                assert!(libc::fcntl(fd, libc::F_GETFD) >= 0, "{fd} closed by close_range");
            }
        }
        // Both ways still work: the fast path, and the broker (a refusal
        // it decides).
        assert_eq!(read_all(&t.root.join("file.txt")).unwrap(), "inside");
        assert!(last(&sb).fast_path());
        assert_eq!(read_all(&t.outside.join("secret.txt")), Err(libc::EPERM));
        assert_eq!(last(&sb).decision(), Decision::Denied(DenyReason::NoRule));
        // And the log still gets every record, the last one that refusal.
        let (text, lines) = log_lines(log_r);
        let l = lines.last().unwrap_or_else(|| panic!("no log lines: {text}"));
        assert_eq!(l["decision"], "denied", "{text}");
        assert!(l["detail"].as_str().unwrap().ends_with("secret.txt"), "{text}");
    }

    #[test]
    fn a_fast_record_has_the_shape_of_a_brokered_one() {
        deadline(30);
        let t = tree();
        let (log_r, log_w) = log_pipe();
        // SAFETY: log_w stays open for the test's life.
        let log = unsafe { std::os::fd::BorrowedFd::borrow_raw(log_w) };
        let sb = Sandbox::builder().read_beneath(&t.root).log_json(log).enter().unwrap();
        let f = t.root.join("file.txt");
        // The same open, answered fast, then by the broker (from a
        // directory descriptor, which the fast path leaves to it).
        let fast = read_all(&f).unwrap();
        let dir = std::fs::File::open(&t.root).unwrap();
        // SAFETY: openat of a C string from a directory we hold.
        let fd = unsafe { libc::openat(std::os::fd::AsRawFd::as_raw_fd(&dir), c"file.txt".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        let brokered = if fd >= 0 { Ok(read_close(fd)) } else { Err(errno()) };
        assert_eq!(brokered.as_deref(), Ok("inside"));
        let v = sb.take_violations();
        let (_, lines) = log_lines(log_r);
        assert_eq!(fast, "inside");
        assert_eq!(v.len(), lines.len());
        let fast_rec = v.iter().position(|v| v.fast_path()).expect("a fast record");
        assert_eq!(v[fast_rec].decision(), Decision::Allowed { rule: 0 });
        assert_eq!(v[fast_rec].detail().unwrap(), f.to_str().unwrap());
        assert_eq!(v[fast_rec].syscall_name(), "openat");
        assert!(v[fast_rec].result() >= 3);
        let j = &lines[fast_rec];
        assert_eq!((&j["decision"], &j["rule"], &j["fast_path"]), (&"allowed".into(), &0.into(), &true.into()));
        // The brokered one, with exactly the same keys.
        let slow = v.iter().position(|v| !v.fast_path()).expect("a brokered record");
        let keys = |j: &serde_json::Value| j.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        let mut want = keys(&lines[fast_rec]);
        if brokered.is_err() {
            // A denial says why instead of which rule.
            want.retain(|k| k != "rule");
            want.push("reason".into());
            want.sort();
        }
        assert_eq!(keys(&lines[slow]), want);
        assert_eq!(lines[slow]["fast_path"], false);
        for (r, j) in v.iter().zip(&lines) {
            assert_eq!(j["seq"], r.seq());
            assert_eq!(j["fast_path"], r.fast_path());
        }
    }

    #[test]
    fn without_allowed_records_the_log_gets_the_refusals_only() {
        // Builder::log_allowed(false) (sigcap-run -q with nothing to
        // report): allowed calls are kept in the ring, not written.
        deadline(30);
        let t = tree();
        let (log_r, log_w) = log_pipe();
        // SAFETY: log_w stays open for the test's life.
        let log = unsafe { std::os::fd::BorrowedFd::borrow_raw(log_w) };
        let sb = Sandbox::builder().read_beneath(&t.root).log_json(log).log_allowed(false).enter().unwrap();
        assert_eq!(read_all(&t.root.join("file.txt")).as_deref(), Ok("inside"));
        assert_eq!(read_all(&t.outside.join("secret.txt")), Err(libc::EPERM));
        let v = sb.take_violations();
        assert_eq!(v.len(), 2, "both calls are in the ring");
        let (text, lines) = log_lines(log_r);
        assert_eq!(lines.len(), 1, "{text}");
        assert_eq!(lines[0]["decision"], "denied");
        assert_eq!(lines[0]["seq"], v[1].seq());
    }

    #[test]
    fn paths_across_pages_and_bad_pointers() {
        // The handler reads the start of the path with the stack, up to
        // the end of its page, and the fast path the rest: a path across
        // a page boundary is read whole, and an unreadable one never
        // faults the handler (the broker answers EFAULT, as the kernel).
        deadline(60);
        let t = tree();
        // Longer than what is read with the stack (512 bytes).
        let long = t.root.join("d".repeat(200)).join("e".repeat(200)).join("f".repeat(200));
        std::fs::create_dir_all(&long).unwrap();
        std::fs::write(long.join("file.txt"), "long").unwrap();
        let out = Outside::start();
        let sb = Sandbox::builder().read_beneath(&t.root).broker_timeout(TIMEOUT).enter().unwrap();
        const PAGE: usize = 4096;
        // SAFETY: three fresh pages, the last made unreadable.
        let m = unsafe {
            let m = libc::mmap(
                std::ptr::null_mut(),
                3 * PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(m, libc::MAP_FAILED);
            assert_eq!(libc::mprotect(m.cast::<u8>().add(2 * PAGE).cast(), PAGE, libc::PROT_NONE), 0);
            m.cast::<u8>()
        };
        let f = c(&t.root.join("file.txt"));
        let bytes = f.as_bytes_with_nul();
        let at = |off: usize| {
            // SAFETY: off + the path stays within the first two pages.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), m.add(off), bytes.len());
                m.add(off)
            }
        };
        let raw_open = |p: *const u8| {
            // SAFETY: the pointer is the test's, good or bad.
            let fd = unsafe { libc::syscall(libc::SYS_openat, libc::AT_FDCWD, p, libc::O_RDONLY | libc::O_CLOEXEC) };
            if fd < 0 { Err(errno()) } else { Ok(fd as i32) }
        };
        out.watch(sb.broker_pid());
        out.stop();
        assert_eq!(read_all(&long.join("file.txt")).unwrap(), "long");
        assert!(last(&sb).fast_path());
        // Across the boundary (a few bytes in the first page, or one),
        // from the start of a page, and ending at a page's last byte.
        for off in [PAGE - 7, PAGE - 1, PAGE, 2 * PAGE - bytes.len()] {
            let start = Instant::now();
            let r = raw_open(at(off));
            assert!(start.elapsed() < FAST, "{off}: {:?}", start.elapsed());
            assert_eq!(read_close(r.unwrap()), "inside", "{off}");
            assert!(last(&sb).fast_path(), "{off}");
        }
        out.cont();
        // No NUL before the unreadable page; NULL; an unmapped address.
        // SAFETY: the second page is ours.
        unsafe { std::ptr::write_bytes(m.add(PAGE), b'a', PAGE) };
        // SAFETY: as above.
        let tail = unsafe { m.add(2 * PAGE - 3) };
        for p in [tail, std::ptr::null(), 8 as *const u8, unsafe { m.add(2 * PAGE) }] {
            assert_eq!(raw_open(p), Err(libc::EFAULT), "{p:?}");
            assert!(!last(&sb).fast_path(), "{p:?}");
        }
        // And the program is still fine on the fast path.
        assert_eq!(read_all(&t.root.join("file.txt")).unwrap(), "inside");
        assert!(last(&sb).fast_path());
    }

    #[test]
    fn no_fast_path_without_landlock_or_when_turned_off() {
        deadline(30);
        let t = tree();
        let sb = Sandbox::builder().read_beneath(&t.root).without_landlock().enter().unwrap();
        assert_eq!(read_all(&t.root.join("file.txt")).unwrap(), "inside");
        let v = last(&sb);
        assert!(matches!(v.decision(), Decision::Allowed { .. }) && !v.fast_path(), "{v}");
        assert_eq!(sb.stats().fast_path, 0);
    }

    #[test]
    fn turned_off_every_call_is_brokered() {
        deadline(30);
        let t = tree();
        let sb = Sandbox::builder().read_beneath(&t.root).fast_path(false).enter().unwrap();
        assert_eq!(read_all(&t.root.join("file.txt")).unwrap(), "inside");
        assert!(std::fs::metadata(t.root.join("file.txt")).is_ok());
        assert!(sb.take_violations().iter().all(|v| !v.fast_path()));
        assert_eq!(sb.stats().fast_path, 0);
    }

    #[test]
    fn the_programs_own_openat2_readlinkat_and_faccessat2_are_still_trapped() {
        deadline(30);
        let t = tree();
        let sb = Sandbox::builder().read_beneath(&t.root).enter().unwrap();
        assert_eq!(read_all(&t.root.join("file.txt")).unwrap(), "inside");
        let roots: Vec<i32> = (3..1024)
            .filter(|&fd| {
                // SAFETY: fcntl on a number that may not be open.
                let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
                fl >= 0 && fl & libc::O_PATH != 0
            })
            .collect();
        assert!(!roots.is_empty());
        sb.take_violations();
        // openat2 from the root descriptor without RESOLVE_BENEATH, as a
        // C library would issue it (no marker): trapped, and refused (the
        // broker has no openat2).
        // SAFETY: a zeroed open_how; raw calls with valid pointers.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
        let up = c(Path::new("../outside/secret.txt"));
        let r = unsafe { libc::syscall(libc::SYS_openat2, roots[0], up.as_ptr(), &how, std::mem::size_of_val(&how)) };
        assert_eq!((r, errno()), (-1, libc::EPERM));
        let mut buf = [0u8; 64];
        let link = c(&t.root.join("up-link"));
        let r = unsafe { libc::syscall(libc::SYS_readlinkat, libc::AT_FDCWD, link.as_ptr(), buf.as_mut_ptr(), 64) };
        assert_eq!(r, 21, "brokered: allowed");
        let secret = c(&t.outside.join("secret.txt"));
        let r = unsafe { libc::syscall(libc::SYS_readlinkat, libc::AT_FDCWD, secret.as_ptr(), buf.as_mut_ptr(), 64) };
        assert_eq!((r, errno()), (-1, libc::EPERM));
        let r = unsafe { libc::syscall(libc::SYS_faccessat2, libc::AT_FDCWD, secret.as_ptr(), libc::F_OK, 0) };
        assert_eq!((r, errno()), (-1, libc::EPERM));
        let v = sb.take_violations();
        assert_eq!(v.len(), 4, "{v:?}");
        assert_eq!(v[0].decision(), Decision::Unsupported);
        assert_eq!(v[2].decision(), Decision::Denied(DenyReason::NoRule));
        assert_eq!(v[3].decision(), Decision::Denied(DenyReason::NoRule));
    }
}

fn last_or(sb: &Sandbox) -> Violation {
    last(sb)
}

/// 5000 opens through a link whose target climbs with `..` beneath the
/// root, while a process outside renames a file back and forth: every
/// one must succeed (see the tests that call it).
fn opens_beside_renames(fast: bool) {
    deadline(120);
    let t = tree();
    symlink("sub/../file.txt", t.root.join("climbing")).unwrap();
    let spin = t.outside.join("spin");
    std::fs::create_dir(&spin).unwrap();
    let (a, b) = (c(&spin.join("a")), c(&spin.join("b")));
    std::fs::write(spin.join("a"), "x").unwrap();
    // A child renames until the test process goes (looked at every 64
    // rounds: a poll is dearer than a rename; Landlock keeps the
    // sandboxed test from signalling it).
    common::child_of_test(|w| {
        for i in 0u64.. {
            // SAFETY: renames of C strings.
            unsafe {
                libc::rename(a.as_ptr(), b.as_ptr());
                libc::rename(b.as_ptr(), a.as_ptr());
            }
            if i % 64 == 0 && w.parent_gone() {
                return;
            }
        }
    });
    let link = t.root.join("climbing");
    let _sb = Sandbox::builder()
        .read_beneath(&t.root)
        .fast_path(fast)
        .enter()
        .unwrap();
    let mut failed = Vec::new();
    for _ in 0..5000 {
        match open(&link, libc::O_RDONLY | libc::O_CLOEXEC).0 {
            Ok(fd) => assert_eq!(read_close(fd), "inside"),
            Err(e) => failed.push(e),
        }
    }
    assert!(
        failed.is_empty(),
        "fast path {fast}: {} opens failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
}
