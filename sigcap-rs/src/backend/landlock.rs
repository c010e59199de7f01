//! Linux: the policy compiled into a Landlock ruleset, so that the kernel
//! itself bounds what the sandboxed process can reach, whatever the
//! seccomp filter misses.
//!
//! Who is restricted: every thread of the process, those already running
//! at `enter()` included, and every thread and process they start
//! afterwards. On Landlock ABI 8 and later
//! (`LANDLOCK_RESTRICT_SELF_TSYNC`) all at once, as the seccomp filter is
//! (TSYNC); before ABI 8 (this machine: 6.18, ABI 7) each running thread
//! restricts itself in a signal handler ([`threads`]), and `enter()` fails
//! if one cannot. The broker is started before and keeps its authority:
//! it performs every brokered call in its own, unrestricted domain, so the
//! program's ruleset never affects a brokered call, and the descriptors it
//! hands back carry the rights they were opened with (Landlock decides
//! truncate and device ioctls at open time).
//!
//! What the rules grant, per policy mode, beneath each root (Landlock
//! rights are inherited by everything beneath the directory they are put
//! on, and the rights of nested rules add up: see "nested rules" below):
//!
//! | policy | Landlock rights |
//! | --- | --- |
//! | read | READ_FILE, READ_DIR |
//! | write | WRITE_FILE, TRUNCATE, REMOVE_FILE, REMOVE_DIR |
//! | create | MAKE_REG, MAKE_DIR |
//! | read or write | IOCTL_DEV (the policy has no ioctl control; a brokered device descriptor allows every ioctl) |
//!
//! Never granted: EXECUTE (exec is refused by the filter), MAKE_SYM,
//! MAKE_FIFO, MAKE_SOCK, MAKE_CHAR, MAKE_BLOCK (the broker makes none of
//! these; a Unix socket is bound by the broker under a network rule), and
//! REFER: without it the kernel refuses every link or rename into another
//! directory by the program itself, so a file can never be moved to where
//! a broader rule would apply (the broker renames in its own domain, after
//! its own checks).
//!
//! Nested rules: the policy gives a path the rule of its longest root
//! (`W` read-write with `W/ro` read-only makes `W/ro/f` read-only);
//! Landlock cannot take rights away beneath a directory, so for `W/ro/f`
//! it allows the union, read-write. The narrower rule is then enforced by
//! the broker alone (on the real location it reached, see broker/fs.rs).
//!
//! Network: a connect rule with a TCP port allows CONNECT_TCP to that port
//! (on every address: Landlock rules name ports only; the broker checks
//! the address); a bind rule likewise for BIND_TCP (port 0: an ephemeral
//! port). A rule with port `*`, or `*` itself, cannot be written per port:
//! then that right is not handled at all. Unix-socket rules need no
//! Landlock rule (the broker connects and binds). Abstract Unix sockets
//! and signals are scoped (ABI 6): the process can neither reach an
//! abstract socket nor signal a process created outside its domain (the
//! broker included; its own children, forked after `enter()`, are inside).
//! No policy rule allows either: the broker refuses abstract addresses.
use super::{LandlockChoice, LandlockStatus};
use crate::error::{Error, Result};
use crate::policy::{Access, NetTarget, Policy};
use ::landlock::{
    Access as _, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    RestrictSelfAttr, Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

/// The ABI whose rights every policy needs: TRUNCATE (3), TCP ports (4),
/// IOCTL_DEV (5) and the scopes (6).
pub(crate) const NEEDED_ABI: i32 = 6;
/// The newest ABI whose rights this module handles (written and tested on
/// ABI 7, Linux 6.18). Rights of later ABIs are not handled yet.
const KNOWN_ABI: i32 = 7;
/// The ABI that restricts every thread at once.
const TSYNC_ABI: i32 = 8;

/// The ruleset, built before anything is confined.
pub(crate) struct Prepared {
    ruleset: Option<RulesetCreated>,
    abi: i32,
    /// Off: nothing to apply, by choice.
    off: bool,
}

/// The running kernel's Landlock ABI, 0 if it has none (or it is disabled).
pub(crate) fn probe_abi() -> i32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_ulong = 1;
    // SAFETY: the version query takes no attribute structure.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    r.max(0) as i32
}

/// The Landlock filesystem rights a policy mode grants.
pub(crate) fn fs_rights(a: Access) -> BitFlags<AccessFs> {
    let mut r = BitFlags::EMPTY;
    if a.contains(Access::READ) {
        r |= AccessFs::ReadFile | AccessFs::ReadDir;
    }
    if a.contains(Access::WRITE) {
        r |= AccessFs::WriteFile | AccessFs::Truncate | AccessFs::RemoveFile | AccessFs::RemoveDir;
    }
    if a.contains(Access::CREATE) {
        r |= AccessFs::MakeReg | AccessFs::MakeDir;
    }
    if a.contains(Access::READ) || a.contains(Access::WRITE) {
        r |= AccessFs::IoctlDev;
    }
    r
}

/// The TCP ports `rules` allow, or None if some rule covers every port
/// (which Landlock cannot express: the right is then not handled).
fn tcp_ports(rules: &[NetTarget]) -> Option<Vec<u16>> {
    let mut ports = Vec::new();
    for r in rules {
        match r {
            NetTarget::Inet { port: Some(p), .. } => ports.push(*p),
            NetTarget::Inet { port: None, .. } | NetTarget::Any => return None,
            NetTarget::Unix(_) => {}
        }
    }
    Some(ports)
}

fn err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Unsupported(format!("Landlock {what}: {e}"))
}

/// Compiles `policy` for a kernel of Landlock ABI `abi`. Refuses an ABI
/// below [`NEEDED_ABI`] unless `choice` allows entering without.
pub(crate) fn prepare(policy: &Policy, abi: i32, choice: LandlockChoice) -> Result<Prepared> {
    let none = Prepared {
        ruleset: None,
        abi,
        off: choice == LandlockChoice::Off,
    };
    match choice {
        LandlockChoice::Off => return Ok(none),
        LandlockChoice::Required if abi < NEEDED_ABI => {
            return Err(Error::Landlock {
                abi,
                needed: NEEDED_ABI,
            })
        }
        _ if abi <= 0 => return Ok(none),
        _ => {}
    }
    let v = ABI::from(abi.min(KNOWN_ABI));
    // At or above the needed ABI every right must be enforced; below it
    // (allowed by the caller), whatever the kernel has.
    let level = if abi >= NEEDED_ABI {
        CompatLevel::HardRequirement
    } else {
        CompatLevel::BestEffort
    };
    let all_fs = AccessFs::from_all(v);
    let mut rs = Ruleset::default()
        .set_compatibility(level)
        .handle_access(all_fs)
        .map_err(|e| err("filesystem rights", e))?;
    let connect = tcp_ports(policy.connect_rules());
    let bind = tcp_ports(policy.bind_rules());
    if abi >= 4 {
        if connect.is_some() {
            rs = rs.handle_access(AccessNet::ConnectTcp).map_err(|e| err("connect", e))?;
        }
        if bind.is_some() {
            rs = rs.handle_access(AccessNet::BindTcp).map_err(|e| err("bind", e))?;
        }
    }
    if abi >= 6 {
        rs = rs
            .scope(Scope::AbstractUnixSocket | Scope::Signal)
            .map_err(|e| err("scopes", e))?;
    }
    let mut created = rs.create().map_err(|e| err("ruleset", e))?;
    for rule in policy.fs_rules() {
        let fd = match PathFd::new(&rule.root) {
            Ok(fd) => fd,
            // Nothing there to grant; the broker refuses a missing root
            // itself in the modes that have one.
            Err(_) if !rule.root.exists() => continue,
            Err(e) => {
                return Err(Error::Root {
                    path: rule.root.clone(),
                    source: std::io::Error::other(e.to_string()),
                })
            }
        };
        let is_dir = std::fs::metadata(&rule.root).is_ok_and(|m| m.is_dir());
        let mut access = fs_rights(rule.access) & all_fs;
        if !is_dir {
            access &= AccessFs::from_file(v);
        }
        if access.is_empty() {
            continue;
        }
        created = created
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|e| err("path rule", e))?;
    }
    if abi >= 4 {
        for (ports, right) in [(connect, AccessNet::ConnectTcp), (bind, AccessNet::BindTcp)] {
            for p in ports.unwrap_or_default() {
                created = created
                    .add_rule(NetPort::new(p, right))
                    .map_err(|e| err("port rule", e))?;
            }
        }
    }
    Ok(Prepared {
        ruleset: Some(created),
        abi,
        off: false,
    })
}

/// The ruleset of an image started for the sandbox by another process
/// ([`crate::ImageConfinement`]): the policy's, Landlock required, plus
/// EXECUTE and read on each of `exec` (the files the kernel opens to
/// run the image: a script, its interpreter, the run-time linker; this
/// module grants EXECUTE nowhere else) and read on each of `read`.
/// Returned as the descriptor the new process passes to
/// landlock_restrict_self(2) itself, after fork.
pub(crate) fn image_ruleset(
    policy: &Policy,
    exec: &[&std::path::Path],
    read: &[&std::path::Path],
) -> Result<std::os::fd::OwnedFd> {
    let p = prepare(policy, probe_abi(), LandlockChoice::Required)?;
    let Some(mut created) = p.ruleset else {
        return Err(Error::Landlock {
            abi: p.abi,
            needed: NEEDED_ABI,
        });
    };
    let file_read: BitFlags<AccessFs> = AccessFs::ReadFile.into();
    for (files, access) in [(exec, file_read | AccessFs::Execute), (read, file_read)] {
        for f in files {
            let fd = PathFd::new(f).map_err(|e| Error::Root {
                path: f.to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            })?;
            created = created
                .add_rule(PathBeneath::new(fd, access))
                .map_err(|e| err("image rule", e))?;
        }
    }
    let fd: Option<std::os::fd::OwnedFd> = created.into();
    fd.ok_or(Error::Landlock {
        abi: p.abi,
        needed: NEEDED_ABI,
    })
}

/// Restricts every thread of the process and what they start from now
/// on: at once with `LANDLOCK_RESTRICT_SELF_TSYNC` (ABI 8+), otherwise
/// thread by thread ([`threads::restrict_all`]).
pub(crate) fn restrict(p: Prepared) -> Result<LandlockStatus> {
    let Some(ruleset) = p.ruleset else {
        return Ok(if p.off {
            LandlockStatus::NotUsed
        } else {
            LandlockStatus::NotEnforced { abi: p.abi }
        });
    };
    if p.abi >= TSYNC_ABI {
        let ruleset = ruleset
            .set_compatibility(CompatLevel::BestEffort)
            .all_threads(true)
            .map_err(|e| err("all threads", e))?;
        let status = ruleset.restrict_self().map_err(|e| err("restrict_self", e))?;
        return Ok(match status.ruleset {
            RulesetStatus::NotEnforced => LandlockStatus::NotEnforced { abi: p.abi },
            RulesetStatus::FullyEnforced => LandlockStatus::Enforced {
                abi: p.abi,
                all_threads: true,
            },
            _ => LandlockStatus::Partial { abi: p.abi },
        });
    }
    // Before ABI 8 landlock_restrict_self(2) restricts the calling thread
    // only: every other thread makes the same call itself, in a signal
    // handler, on the same ruleset descriptor.
    let fd: Option<std::os::fd::OwnedFd> = ruleset.into();
    let Some(fd) = fd else {
        return Ok(LandlockStatus::NotEnforced { abi: p.abi });
    };
    threads::restrict_all(std::os::fd::AsRawFd::as_raw_fd(&fd))?;
    // prepare() asked for every right as a hard requirement at or above
    // the needed ABI, and best effort below it.
    Ok(if p.abi >= NEEDED_ABI {
        LandlockStatus::Enforced {
            abi: p.abi,
            all_threads: true,
        }
    } else {
        LandlockStatus::Partial { abi: p.abi }
    })
}

/// Landlock for every thread of the process before ABI 8: each thread
/// restricts itself, in the handler of a real-time signal sent to it.
///
/// The entering thread lists `/proc/self/task`, refuses to start if a
/// thread blocks the signal for more than 200 ms (it would never run the
/// handler; glibc blocks every signal for a moment while it creates a
/// thread), sends the
/// signal to each other thread once (`tgkill`), and waits (at most
/// [`THREAD_WAIT_MS`] per round) until each one has reported success,
/// failed, or exited; then lists again, since a thread not yet restricted
/// may have started another, until a listing finds no thread it has not
/// handled; then restricts itself. A thread started by a restricted
/// thread inherits its domain. Each handler call is
/// `prctl(PR_SET_NO_NEW_PRIVS)` and `landlock_restrict_self(fd, 0)`, raw
/// system calls, and a store in a static array: async-signal-safe.
///
/// Side effects: every other thread is interrupted once (a `poll`,
/// `epoll_wait` or `nanosleep` in progress may return EINTR, as with any
/// signal; other calls restart, SA_RESTART). The signal is the highest
/// real-time signal whose disposition is the default; its previous
/// disposition is restored after (ignored first, which drops a late one).
/// Each thread gets a domain of its own (same rules, sibling domains):
/// Linux lets threads of one process signal each other whatever their
/// domains, but a process forked by one thread cannot signal one forked by
/// another (the signal scope), nor reach its abstract Unix sockets.
pub(crate) mod threads {
    use crate::error::{Error, Result};
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

    /// How long one round waits for the signalled threads.
    pub(crate) const THREAD_WAIT_MS: u64 = 2000;
    /// How long a thread may block the signal before it counts as
    /// blocking it for good.
    const BLOCK_GRACE_MS: u64 = 200;
    /// The most threads this can restrict.
    const MAX_THREADS: usize = 4096;

    static BUSY: AtomicBool = AtomicBool::new(false);
    static RULESET: AtomicI32 = AtomicI32::new(-1);
    /// Thread ids that restricted themselves, in order.
    static DONE: [AtomicI32; MAX_THREADS] = [const { AtomicI32::new(0) }; MAX_THREADS];
    static NDONE: AtomicUsize = AtomicUsize::new(0);
    /// The errno of the first thread that failed (0: none), and its id.
    static FAILED: AtomicI32 = AtomicI32::new(0);
    static FAILED_TID: AtomicI32 = AtomicI32::new(0);

    extern "C" fn on_signal(_sig: libc::c_int) {
        // SAFETY: errno location, raw system calls, atomics: no allocation,
        // no lock.
        unsafe {
            let errno = *libc::__errno_location();
            let fd = RULESET.load(Ordering::Acquire);
            if fd >= 0 {
                let tid = libc::syscall(libc::SYS_gettid) as i32;
                let r = if libc::syscall(libc::SYS_prctl, libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    -1
                } else {
                    libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32)
                };
                if r == 0 {
                    let i = NDONE.fetch_add(1, Ordering::AcqRel);
                    if i < MAX_THREADS {
                        DONE[i].store(tid, Ordering::Release);
                    }
                } else if FAILED
                    .compare_exchange(0, *libc::__errno_location(), Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    FAILED_TID.store(tid, Ordering::Release);
                }
            }
            *libc::__errno_location() = errno;
        }
    }

    fn tids() -> Result<Vec<i32>> {
        let dir = std::fs::read_dir("/proc/self/task").map_err(|source| Error::Sys {
            what: "read /proc/self/task",
            source,
        })?;
        Ok(dir
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect())
    }

    fn done(tid: i32) -> bool {
        let n = NDONE.load(Ordering::Acquire).min(MAX_THREADS);
        DONE[..n].iter().any(|d| d.load(Ordering::Acquire) == tid)
    }

    /// Whether thread `tid` blocks `sig` (its SigBlk line); a thread that
    /// is gone blocks nothing.
    fn blocks(tid: i32, sig: i32) -> bool {
        let Ok(st) = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")) else {
            return false;
        };
        st.lines()
            .find_map(|l| l.strip_prefix("SigBlk:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .is_some_and(|m| m & (1u64 << (sig - 1)) != 0)
    }

    /// Whether `tid` still blocks `sig` after [`BLOCK_GRACE_MS`].
    fn blocks_for_good(tid: i32, sig: i32) -> bool {
        let start = std::time::Instant::now();
        while blocks(tid, sig) {
            if start.elapsed() > std::time::Duration::from_millis(BLOCK_GRACE_MS) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        false
    }

    fn thread_name(tid: i32) -> String {
        std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }

    /// The highest real-time signal nobody handles or ignores.
    fn free_signal() -> Option<i32> {
        (libc::SIGRTMIN()..=libc::SIGRTMAX()).rev().find(|&sig| {
            // SAFETY: querying a disposition into a local.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            let r = unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) };
            r == 0 && old.sa_sigaction == libc::SIG_DFL
        })
    }

    fn fail(msg: String) -> Error {
        Error::Sys {
            what: "Landlock on every thread",
            source: std::io::Error::other(msg),
        }
    }

    /// Restricts every thread of the process, the caller last, with the
    /// ruleset `fd`.
    pub(crate) fn restrict_all(fd: libc::c_int) -> Result<()> {
        if BUSY.swap(true, Ordering::AcqRel) {
            return Err(fail("another thread is entering".into()));
        }
        let r = restrict_all_locked(fd);
        BUSY.store(false, Ordering::Release);
        r
    }

    fn restrict_all_locked(fd: libc::c_int) -> Result<()> {
        // SAFETY: getpid and gettid have no preconditions.
        let (pid, me) = unsafe { (libc::getpid(), libc::syscall(libc::SYS_gettid) as i32) };
        NDONE.store(0, Ordering::Release);
        FAILED.store(0, Ordering::Release);
        let others: Vec<i32> = tids()?.into_iter().filter(|&t| t != me).collect();
        if !others.is_empty() {
            let sig = free_signal().ok_or_else(|| fail("no real-time signal is free for it".into()))?;
            // Before anything is restricted: a thread blocking the signal
            // would never answer. (glibc blocks every signal for a moment
            // in pthread_create, in the creating and the new thread: only
            // a block that lasts counts.)
            if let Some(&t) = others.iter().find(|&&t| blocks_for_good(t, sig)) {
                return Err(fail(format!(
                    "thread {t} ({}) blocks signal {sig}, which restricts it; unblock it, or enter before starting that thread",
                    thread_name(t)
                )));
            }
            // SAFETY: installing a handler that only makes system calls;
            // the previous action is restored below.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as *const () as usize;
                sa.sa_flags = libc::SA_RESTART;
                libc::sigfillset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, &mut old);
            }
            RULESET.store(fd, Ordering::Release);
            let r = signal_rounds(pid, me, sig);
            RULESET.store(-1, Ordering::Release);
            // SAFETY: ignoring drops a signal still pending; then the
            // previous action.
            unsafe {
                let mut ign: libc::sigaction = std::mem::zeroed();
                ign.sa_sigaction = libc::SIG_IGN;
                libc::sigaction(sig, &ign, std::ptr::null_mut());
                libc::sigaction(sig, &old, std::ptr::null_mut());
            }
            r?;
        }
        // SAFETY: prctl and landlock_restrict_self on the calling thread.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(Error::last_os("prctl(PR_SET_NO_NEW_PRIVS)"));
            }
            if libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) != 0 {
                return Err(Error::last_os("landlock_restrict_self"));
            }
        }
        Ok(())
    }

    fn signal_rounds(pid: i32, me: i32, sig: i32) -> Result<()> {
        let mut sent: BTreeSet<i32> = BTreeSet::new();
        loop {
            let now: Vec<i32> = tids()?.into_iter().filter(|&t| t != me && !sent.contains(&t)).collect();
            if now.is_empty() {
                return Ok(());
            }
            if sent.len() + now.len() > MAX_THREADS {
                return Err(fail(format!("more than {MAX_THREADS} threads")));
            }
            for &t in &now {
                // SAFETY: a signal to a thread of this process.
                let r = unsafe { libc::syscall(libc::SYS_tgkill, pid, t, sig) };
                let e = std::io::Error::last_os_error().raw_os_error();
                if r != 0 && e != Some(libc::ESRCH) {
                    return Err(fail(format!(
                        "tgkill of thread {t}: {}",
                        std::io::Error::last_os_error()
                    )));
                }
                sent.insert(t);
            }
            let start = std::time::Instant::now();
            loop {
                let e = FAILED.load(Ordering::Acquire);
                if e != 0 {
                    return Err(fail(format!(
                        "thread {} could not restrict itself: {}; enter() fails, and the threads restricted so far stay so",
                        FAILED_TID.load(Ordering::Acquire),
                        std::io::Error::from_raw_os_error(e)
                    )));
                }
                let alive: BTreeSet<i32> = tids()?.into_iter().collect();
                let waiting: Vec<i32> = now
                    .iter()
                    .copied()
                    .filter(|&t| alive.contains(&t) && !done(t))
                    .collect();
                if waiting.is_empty() {
                    break;
                }
                if start.elapsed() > std::time::Duration::from_millis(THREAD_WAIT_MS) {
                    return Err(fail(format!(
                        "threads {waiting:?} did not restrict themselves within {THREAD_WAIT_MS} ms (stopped?); enter() fails, and the threads restricted so far stay so"
                    )));
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The ruleset alone, without the seccomp filter or a broker: every
    //! call below goes straight to the kernel, which is what a call the
    //! filter missed would do. Each test restricts its own process.
    use super::*;
    use rusty_fork::rusty_fork_test;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};

    /// R/ (read-only), W/ (read-write-create) with W/ro/ (read-only) nested
    /// inside, and outside/ that no rule names.
    struct Tree {
        _t: tempfile::TempDir,
        r: PathBuf,
        w: PathBuf,
        outside: PathBuf,
    }

    fn tree() -> Tree {
        let t = tempfile::tempdir().unwrap();
        let (r, w, outside) = (t.path().join("R"), t.path().join("W"), t.path().join("outside"));
        for d in [&r, &w.join("ro"), &w.join("x"), &outside] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(r.join("f"), "r").unwrap();
        std::fs::write(w.join("ro/f"), "ro").unwrap();
        std::fs::write(w.join("f"), "w").unwrap();
        std::fs::write(outside.join("secret"), "secret").unwrap();
        Tree { _t: t, r, w, outside }
    }

    fn policy(t: &Tree) -> Policy {
        let mut p = Policy::new();
        p.allow_fs(&t.r, Access::READ).unwrap();
        p.allow_fs(&t.w, Access::ALL).unwrap();
        p.allow_fs(t.w.join("ro"), Access::READ).unwrap();
        p
    }

    fn enforce(p: &Policy) -> LandlockStatus {
        let prepared = prepare(p, probe_abi(), LandlockChoice::Required).unwrap();
        restrict(prepared).unwrap()
    }

    fn c(p: &Path) -> CString {
        CString::new(p.as_os_str().as_bytes()).unwrap()
    }

    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap()
    }

    /// A raw open: the value or the errno.
    fn open(p: &Path, flags: i32) -> std::result::Result<i32, i32> {
        // SAFETY: valid C string.
        let fd = unsafe { libc::open(c(p).as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
        if fd < 0 {
            Err(errno())
        } else {
            Ok(fd)
        }
    }

    fn ret(r: libc::c_int) -> std::result::Result<(), i32> {
        if r < 0 {
            Err(errno())
        } else {
            Ok(())
        }
    }

    rusty_fork_test! {
        #[test]
        fn reads_outside_every_root_are_refused_by_the_kernel() {
            let t = tree();
            // A directory descriptor held from before: Landlock checks the
            // file reached, not the descriptor the lookup starts from.
            let held = open(&t.outside, libc::O_RDONLY | libc::O_DIRECTORY).unwrap();
            assert!(matches!(enforce(&policy(&t)), LandlockStatus::Enforced { .. }));
            assert_eq!(open(&t.outside.join("secret"), libc::O_RDONLY), Err(libc::EACCES));
            // SAFETY: valid descriptor and C string.
            let r = unsafe { libc::openat(held, c"secret".as_ptr(), libc::O_RDONLY) };
            assert_eq!((r, errno()), (-1, libc::EACCES));
            assert_eq!(open(Path::new("/etc/passwd"), libc::O_RDONLY), Err(libc::EACCES));
            // Inside the roots, reading works.
            assert!(open(&t.r.join("f"), libc::O_RDONLY).is_ok());
            assert!(open(&t.w.join("f"), libc::O_RDWR).is_ok());
        }

        /// Threads already running (before ABI 8: each restricts itself
        /// in a signal handler) are under the ruleset too, while they do
        /// file I/O in a loop.
        #[test]
        fn threads_running_before_are_restricted_too() {
            use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
            use std::sync::Arc;
            let t = tree();
            let go = Arc::new(AtomicBool::new(false));
            let reads = Arc::new(AtomicUsize::new(0));
            let started = Arc::new(AtomicUsize::new(0));
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    let (go, reads, started) = (go.clone(), reads.clone(), started.clone());
                    let (f, secret) = (t.r.join("f"), t.outside.join("secret"));
                    std::thread::spawn(move || {
                        assert!(open(&secret, libc::O_RDONLY).is_ok(), "not yet restricted");
                        started.fetch_add(1, Ordering::AcqRel);
                        while !go.load(Ordering::Acquire) {
                            let fd = open(&f, libc::O_RDONLY).expect("reads keep working");
                            let mut b = [0u8; 8];
                            // SAFETY: reading into a local buffer, closing our descriptor.
                            unsafe {
                                libc::read(fd, b.as_mut_ptr().cast(), b.len());
                                libc::close(fd);
                            }
                            reads.fetch_add(1, Ordering::Relaxed);
                        }
                        (open(&secret, libc::O_RDONLY), open(&f, libc::O_RDONLY).is_ok())
                    })
                })
                .collect();
            while reads.load(Ordering::Relaxed) < 64 || started.load(Ordering::Acquire) < 8 {
                std::thread::yield_now();
            }
            let status = enforce(&policy(&t));
            assert_eq!(status, LandlockStatus::Enforced { abi: probe_abi(), all_threads: true });
            let before = reads.load(Ordering::Relaxed);
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(reads.load(Ordering::Relaxed) > before, "the workers stopped");
            go.store(true, Ordering::Release);
            for w in workers {
                let (secret, inside) = w.join().unwrap();
                assert_eq!(secret.map(|_| ()), Err(libc::EACCES), "a running thread escaped Landlock");
                assert!(inside);
            }
            assert_eq!(open(&t.outside.join("secret"), libc::O_RDONLY), Err(libc::EACCES));
        }

        /// A thread that blocks every signal cannot be asked to restrict
        /// itself: refused before anything is restricted, naming it.
        #[test]
        fn a_thread_blocking_the_signal_is_refused_before_anything_is_restricted() {
            if probe_abi() >= TSYNC_ABI {
                eprintln!("SKIP: Landlock ABI {} restricts every thread at once (TSYNC)", probe_abi());
                return;
            }
            let t = tree();
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
            let blocker = std::thread::Builder::new()
                .name("blocks-all".into())
                .spawn(move || {
                    // SAFETY: blocking every signal in this thread.
                    unsafe {
                        let mut all: libc::sigset_t = std::mem::zeroed();
                        libc::sigfillset(&mut all);
                        libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
                    }
                    ready_tx.send(()).unwrap();
                    rx.recv().unwrap();
                })
                .unwrap();
            ready_rx.recv().unwrap();
            let prepared = prepare(&policy(&t), probe_abi(), LandlockChoice::Required).unwrap();
            let e = restrict(prepared).unwrap_err().to_string();
            assert!(e.contains("blocks-all") && e.contains("blocks signal"), "{e}");
            assert!(open(&t.outside.join("secret"), libc::O_RDONLY).is_ok(), "restricted anyway");
            tx.send(()).unwrap();
            blocker.join().unwrap();
        }

        #[test]
        fn a_read_only_root_refuses_write_truncate_create_and_remove() {
            let t = tree();
            enforce(&policy(&t));
            let f = t.r.join("f");
            assert_eq!(open(&f, libc::O_WRONLY), Err(libc::EACCES));
            assert_eq!(open(&f, libc::O_RDONLY | libc::O_TRUNC), Err(libc::EACCES));
            // SAFETY: valid C strings.
            unsafe {
                assert_eq!(ret(libc::truncate(c(&f).as_ptr(), 0)), Err(libc::EACCES));
                assert_eq!(ret(libc::unlink(c(&f).as_ptr())), Err(libc::EACCES));
                assert_eq!(ret(libc::mkdir(c(&t.r.join("d")).as_ptr(), 0o700)), Err(libc::EACCES));
            }
            assert_eq!(open(&t.r.join("new"), libc::O_WRONLY | libc::O_CREAT), Err(libc::EACCES));
            assert_eq!(std::fs::read_to_string(&f).unwrap(), "r");
        }

        #[test]
        fn no_rename_or_link_moves_a_file_under_another_rule() {
            let t = tree();
            enforce(&policy(&t));
            let (from, to) = (c(&t.r.join("f")), c(&t.w.join("moved")));
            // SAFETY: valid C strings.
            unsafe {
                // Out of the read-only root into the writable one: the
                // source may not be removed (EACCES), and a link needs
                // REFER, which is never granted (EXDEV).
                assert_eq!(ret(libc::rename(from.as_ptr(), to.as_ptr())), Err(libc::EACCES));
                assert_eq!(ret(libc::link(from.as_ptr(), to.as_ptr())), Err(libc::EXDEV));
                // Within the writable root, from one directory to another.
                let (a, b) = (c(&t.w.join("f")), c(&t.w.join("x/f")));
                assert_eq!(ret(libc::rename(a.as_ptr(), b.as_ptr())), Err(libc::EXDEV));
                // From outside into a root.
                let s = c(&t.outside.join("secret"));
                assert_eq!(ret(libc::link(s.as_ptr(), to.as_ptr())), Err(libc::EXDEV));
            }
            assert!(t.r.join("f").exists() && t.w.join("f").exists());
        }

        #[test]
        fn nested_read_only_rules_are_not_narrower_for_landlock() {
            // Documents the limit: Landlock adds rights up the tree, so a
            // read-only rule inside a read-write one grants the union; the
            // broker alone enforces the narrower rule.
            let t = tree();
            enforce(&policy(&t));
            assert!(open(&t.w.join("ro/f"), libc::O_WRONLY).is_ok());
            // Renaming W/ro within W needs only REMOVE_DIR and MAKE_DIR on
            // W, which W grants: the review's rename(W/x/../ro, W/ro-moved)
            // is the broker's to refuse.
            let (ro, away) = (c(&t.w.join("x/../ro")), c(&t.w.join("ro-moved")));
            // SAFETY: valid C strings.
            assert_eq!(ret(unsafe { libc::rename(ro.as_ptr(), away.as_ptr()) }), Ok(()));
        }

        #[test]
        fn a_single_file_root_grants_that_file_only() {
            let t = tree();
            let mut p = Policy::new();
            p.allow_fs(t.r.join("f"), Access::READ | Access::WRITE).unwrap();
            enforce(&p);
            assert!(open(&t.r.join("f"), libc::O_RDWR).is_ok());
            assert_eq!(open(&t.r, libc::O_RDONLY | libc::O_DIRECTORY), Err(libc::EACCES));
        }

        #[test]
        fn tcp_ports_follow_the_rules_and_a_wildcard_leaves_connect_unhandled() {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            let mut p = Policy::new();
            p.allow_connect(NetTarget::parse(&format!("10.0.0.1:{port}")).unwrap());
            p.allow_bind(NetTarget::parse("127.0.0.1:0").unwrap());
            enforce(&p);
            // The port is what Landlock sees; the address is the broker's.
            assert!(std::net::TcpStream::connect(l.local_addr().unwrap()).is_ok());
            let e = std::net::TcpStream::connect(("127.0.0.1", if port == 1 { 2 } else { port - 1 })).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}");
            assert!(std::net::TcpListener::bind("127.0.0.1:0").is_ok());
            let e = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}");
        }

        #[test]
        fn any_port_rules_are_not_handled() {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let mut p = Policy::new();
            p.allow_connect(NetTarget::parse("127.0.0.1:*").unwrap());
            p.allow_bind(NetTarget::Any);
            enforce(&p);
            assert!(std::net::TcpStream::connect(l.local_addr().unwrap()).is_ok());
            assert!(std::net::TcpListener::bind("127.0.0.1:0").is_ok());
        }

        #[test]
        fn signals_and_abstract_sockets_outside_the_domain_are_scoped() {
            // A process and an abstract socket made before restricting.
            // The process waits for the end of a pipe whose writer is this
            // one: the scoping about to be tested keeps this process from
            // killing it (and the kernel's parent-death signal too).
            let mut p = [0; 2];
            // SAFETY: a pipe, then fork; the child only reads and exits.
            assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
            let child = unsafe { libc::fork() };
            if child == 0 {
                let mut b = [0u8; 1];
                unsafe {
                    libc::close(p[1]);
                    libc::read(p[0], b.as_mut_ptr().cast(), 1);
                    libc::_exit(0)
                };
            }
            // SAFETY: the read end is the child's; the write end stays
            // open for this (forked test) process's life.
            unsafe { libc::close(p[0]) };
            let name = format!("sigcap-ll-test-{}", std::process::id());
            let addr = <std::os::unix::net::SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(name.as_bytes()).unwrap();
            let _server = std::os::unix::net::UnixDatagram::bind_addr(&addr).unwrap();
            enforce(&Policy::new());
            // SAFETY: probing with signal 0.
            assert_eq!(ret(unsafe { libc::kill(child, 0) }), Err(libc::EPERM));
            let s = std::os::unix::net::UnixDatagram::unbound().unwrap();
            let e = s.send_to_addr(b"x", &addr).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
            // This process and its new children are inside.
            // SAFETY: as above.
            assert_eq!(ret(unsafe { libc::kill(libc::getpid(), 0) }), Ok(()));
        }
    }

    #[test]
    fn refused_below_the_needed_abi_unless_allowed() {
        let p = Policy::new();
        for abi in [0, 1, 5] {
            let e = prepare(&p, abi, LandlockChoice::Required).err().expect("refused");
            assert!(matches!(e, Error::Landlock { abi: a, needed: 6 } if a == abi), "{e}");
            assert!(e.to_string().contains("allow_without_landlock"), "{e}");
        }
        assert!(prepare(&p, 0, LandlockChoice::IfAvailable).unwrap().ruleset.is_none());
        assert!(prepare(&p, probe_abi(), LandlockChoice::Off).unwrap().ruleset.is_none());
    }

    #[test]
    fn mode_mapping() {
        assert_eq!(
            fs_rights(Access::READ),
            AccessFs::ReadFile | AccessFs::ReadDir | AccessFs::IoctlDev
        );
        assert!(!fs_rights(Access::ALL).contains(AccessFs::Refer));
        assert!(!fs_rights(Access::ALL).contains(AccessFs::Execute));
        assert!(!fs_rights(Access::ALL).contains(AccessFs::MakeSym));
        assert_eq!(fs_rights(Access::CREATE), AccessFs::MakeReg | AccessFs::MakeDir);
        assert_eq!(tcp_ports(&[NetTarget::parse("1.2.3.4:80").unwrap()]), Some(vec![80]));
        assert_eq!(tcp_ports(&[NetTarget::parse("[::1]:*").unwrap()]), None);
        assert_eq!(tcp_ports(&[NetTarget::Any]), None);
        assert_eq!(tcp_ports(&[NetTarget::parse("unix:/x").unwrap()]), Some(vec![]));
    }
}
