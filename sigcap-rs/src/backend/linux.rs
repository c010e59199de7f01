//! Linux: capability mode emulated with seccomp-bpf filters.
//!
//! Four filters, all on every thread (TSYNC); the kernel runs them all
//! and takes the strongest answer (KILL > TRAP > ERRNO > ALLOW):
//!
//! - the allowlist ([`allowlist`]), which fails closed: it lets through
//!   the calls the backend knows ([`allowed`], plus every call the other
//!   filters trap or refuse, so that they decide) and traps every other
//!   number. The handler answers those ENOSYS, as a kernel without the
//!   call would, and records them (class `syscall`, `unsupported`):
//!   SysV IPC, POSIX message queues, keyrings, unshare/setns, bpf,
//!   perf_event_open, userfaultfd, module loading, and every call of
//!   kernels newer than the list. clone3 is answered ENOSYS by the filter
//!   itself, without a signal (glibc then uses clone). i386 calls
//!   (`int 0x80`) kill the process; x32 calls fail with EPERM.
//! - the trap filter ([`rules`]): calls that reach a global namespace
//!   (paths from the working directory or the root, connect, bind,
//!   listen, sendto with an address) and clone with a namespace flag
//!   return SECCOMP_RET_TRAP: the kernel does not run them and sends
//!   SIGSYS with the call number and the registers. The handler then
//!   answers through the broker, so the program sees an ordinary return.
//!   Because the call never ran, "the original error" is EPERM, the
//!   nearest Linux has to ECAPMODE.
//! - the refuse filter ([`refused`]): EPERM without a signal for what no
//!   broker could perform: exec (see [`prepare`]), the new mount API,
//!   io_uring, ptrace and the other calls that reach into a process, and,
//!   by argument, setters aimed at another pid, personality changes and
//!   TIOCSTI.
//! - the broker filter ([`protect_broker`]): signals and pidfds aimed at
//!   the broker.
//!
//! Every trap carries the process's cookie in SECCOMP_RET_DATA, so the
//! handler takes only its own.
//!
//! Known differences from FreeBSD capability mode (Linux has none): the
//! allowlist is coarser than capability mode's (ioctl, prctl, fork,
//! socket of any family are allowed whatever the arguments; queries about
//! other processes, getpriority or sched_getaffinity of another pid, are
//! answered); lookups relative to a directory descriptor are brokered and
//! a descriptor outside every root grants nothing, but a descriptor held
//! from before entering is not confined by the kernel for calls that take
//! no path; sendmsg(2)/sendmmsg(2) with an address are not trapped (issue
//! #10). listen(2) is trapped: on an unbound socket the kernel would bind
//! every address. Beside the filters, Landlock (landlock.rs) bounds the
//! process's own file and TCP access by the policy and refuses signals to
//! other processes and abstract Unix sockets. It is a fallback and
//! debugging aid, not a hardened sandbox.
use super::Trap;
use crate::error::{Error, Result};
use crate::record::{BackendKind, Class};
use seccompiler::{
    SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Cmp, SeccompCondition as Cond, SeccompFilter, SeccompRule,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The errno a trapped call returns when it is not brokered.
pub(crate) const CAPMODE_ERRNO: i32 = libc::EPERM;
const SYS_SECCOMP: i32 = 1;

/// The SECCOMP_RET_DATA of this process's traps (random, 1..=0xffff). The
/// kernel hands it to the handler in `si_errno`; a SIGSYS that does not
/// carry it (another filter's trap, whose data is its own, or one sent by
/// kill(2), tgkill(2) or rt_sigqueueinfo(2)) is not a violation and goes
/// to the previous disposition. The process itself can read the cookie and
/// forge a matching SIGSYS to itself; that only lies to its own handler.
static TRAP_COOKIE: AtomicU32 = AtomicU32::new(0);

fn new_cookie() -> Result<u32> {
    let mut b = [0u8; 2];
    // SAFETY: getrandom into a local buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != 2 {
        return Err(Error::last_os("getrandom"));
    }
    Ok(u16::from_ne_bytes(b).max(1) as u32)
}

/// Gives every SECCOMP_RET_TRAP of `prog` the data `cookie` (seccompiler's
/// Trap action carries none).
fn mark_traps(prog: &mut seccompiler::BpfProgram, cookie: u32) {
    for ins in prog.iter_mut() {
        if ins.code == RET_K && ins.k == libc::SECCOMP_RET_TRAP {
            ins.k = trap_with(cookie);
        }
    }
}

/// The backends this OS can offer, best first.
pub(crate) fn signal_for(_kind: BackendKind) -> libc::c_int {
    libc::SIGSYS
}

/// Prepared confinement, built before the handler is installed so that
/// nothing allocates after.
pub(crate) struct Prepared {
    trap: seccompiler::BpfProgram,
    cookie: u32,
    refuse: seccompiler::BpfProgram,
    /// The allowlist ([`allowlist`]), x32 and i386 included.
    allow: seccompiler::BpfProgram,
    /// Signals and pidfds aimed at the broker ([`protect_broker`]).
    broker: Option<seccompiler::BpfProgram>,
    /// close, dup2 and dup3 aimed at the runtime's descriptors, and the
    /// close_range calls that cover one ([`keep_held`]).
    keep: Vec<seccompiler::BpfProgram>,
}

/// The empty path of the fast path's `readlinkat(fd, "", ...)` and
/// `faccessat2(fd, "", ..., AT_EMPTY_PATH)`: the filter lets those two
/// through only with this very address (and the marker), so that the
/// program's own readlinkat and faccessat2, which name paths, stay
/// trapped. (The kernel has no NULL-path form for them, as it has for
/// fstatat and statx.)
pub(crate) static FAST_EMPTY_PATH: [u8; 1] = [0];

/// Lets the handler's fast path (`fast.rs`) make the calls the trap
/// filter would otherwise catch, and nobody else by accident.
///
/// How the filter tells the handler's calls from the program's: as for
/// every call the handler makes, by the arguments, the only thing a
/// seccomp filter sees besides the number and the instruction pointer.
/// The fast path's `openat2`, `readlinkat` and `faccessat2` carry
/// `marker`, a random 64-bit value, in the sixth argument register (r9),
/// which these calls do not use and the kernel ignores; `openat2` must
/// also start from one of the root descriptor numbers opened at
/// `enter()`, and the other two must name [`FAST_EMPTY_PATH`] (they act
/// on a descriptor the fast path just opened). A C library's calls leave
/// whatever r9 held (a 2^-64 chance of matching) and never use those
/// descriptor numbers, so the program's calls are trapped as before.
///
/// This keeps honest code out, not hostile code: the marker, like the
/// trap cookie, is in the process's memory, and code that reads it (or
/// jumps to the handler's syscall instruction, which an instruction
/// pointer check would have allowed instead) can make these calls with
/// its own arguments: an `openat2` from a root descriptor without
/// `RESOLVE_BENEATH`, a `readlinkat` or `faccessat2` of any path. What
/// it opens that way is still bounded by Landlock, which is why the fast
/// path is only turned on where Landlock is enforced (sandbox.rs); see
/// the README for what Landlock does not bound (O_PATH, metadata, rules
/// nested in wider ones).
pub(crate) fn allow_fast_path(p: &mut Prepared, marker: u64, roots: &[libc::c_int]) -> Result<()> {
    if roots.is_empty() {
        return Ok(());
    }
    let mut m = rules()?;
    let not_marked = || rule(vec![cond(5, Len::Qword, Cmp::Ne, marker)?]);
    // openat2: trapped unless marked and from a root descriptor.
    let mut not_a_root = Vec::new();
    for &fd in roots {
        not_a_root.push(cond(0, Len::Dword, Cmp::Ne, fd as u32 as u64)?);
    }
    m.insert(libc::SYS_openat2, vec![not_marked()?, rule(not_a_root)?]);
    let empty = FAST_EMPTY_PATH.as_ptr() as u64;
    for nr in [libc::SYS_readlinkat, libc::SYS_faccessat2] {
        m.insert(
            nr,
            vec![not_marked()?, rule(vec![cond(1, Len::Qword, Cmp::Ne, empty)?])?],
        );
    }
    let mut trap = compile(m, SeccompAction::Trap)?;
    mark_traps(&mut trap, p.cookie);
    p.trap = trap;
    Ok(())
}

pub(crate) fn prepare(requested: Option<BackendKind>) -> Result<(BackendKind, Prepared)> {
    if let Some(k) = requested {
        if k != BackendKind::LinuxSeccomp {
            return Err(Error::Unsupported(format!("{} is not available on Linux", k.name())));
        }
    }
    refuse_held_rings()?;
    let cookie = new_cookie()?;
    let mut trap = compile(rules()?, SeccompAction::Trap)?;
    mark_traps(&mut trap, cookie);
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() } as u32 as u64;
    let refuse = compile(refused(me)?, SeccompAction::Errno(CAPMODE_ERRNO as u32))?;
    let known = known_set()?;
    for (i, word) in KNOWN.iter().enumerate() {
        let bits = (0..64)
            .filter(|b| known.contains(&(i as i64 * 64 + b)))
            .fold(0u64, |w, b| w | 1 << b);
        word.store(bits, Ordering::Relaxed);
    }
    let allow = allowlist(&known, trap_with(cookie));
    Ok((
        BackendKind::LinuxSeccomp,
        Prepared {
            trap,
            cookie,
            refuse,
            allow,
            broker: None,
            keep: Vec::new(),
        },
    ))
}

/// The filter of an image started for the sandbox by another process
/// (sigcap-run's exec, [`crate::ImageConfinement`]), on from its first
/// instruction: the refuse filter ([`refused`]) without exec, which
/// Landlock's EXECUTE right bounds instead (the image and its linker;
/// `enter()` execs the image again for its broker), and with no pid but
/// 0 for the setters. Nothing traps (the image has no handler yet, and
/// SECCOMP_RET_TRAP is forced, so a trap would kill it), and nothing else
/// is refused: the broker the image starts at `enter()` inherits this
/// filter and must be able to do what the policy allows. So until the
/// image enters, its own start-up code is bounded by Landlock and this
/// filter only (README, "exec (Linux)").
pub(crate) fn image_filters() -> Result<Vec<seccompiler::BpfProgram>> {
    let mut r = refused(0)?;
    r.remove(&libc::SYS_execve);
    r.remove(&libc::SYS_execveat);
    Ok(vec![compile(r, SeccompAction::Errno(CAPMODE_ERRNO as u32))?])
}

/// Refuses, with EPERM and no signal, what would stop, kill or reach into
/// the broker by its pid: kill(2) of the broker, of its process group
/// (the broker leads its own session) and of every process (-1);
/// tkill, tgkill, rt_sigqueueinfo and rt_tgsigqueueinfo of its pid;
/// pidfd_open of it (a pidfd would reach it through pidfd_send_signal);
/// prlimit64 on it (RLIMIT_CPU would kill it, RLIMIT_NOFILE starve it).
/// Landlock's signal scope (ABI 6) refuses the signals already, for
/// every process outside the sandbox; this holds without Landlock too.
/// What it cannot see: the broker's other threads, whose ids kill(2)
/// accepts as well and which are made after the filter (a SIGSTOP to any
/// of them stops the broker); a /proc/PID directory opened as a pidfd,
/// if the policy grants /proc. The handler's bounded wait covers those.
pub(crate) fn protect_broker(p: &mut Prepared, broker: libc::pid_t) -> Result<()> {
    use libc::*;
    let pid = broker as u32 as u64;
    let eq = |v: u64| rule(vec![cond(0, Len::Dword, Cmp::Eq, v)?]);
    let mut m: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    m.insert(
        SYS_kill,
        vec![eq(pid)?, eq(broker.wrapping_neg() as u32 as u64)?, eq(u32::MAX as u64)?],
    );
    for nr in [
        SYS_tkill,
        SYS_tgkill,
        SYS_rt_sigqueueinfo,
        SYS_rt_tgsigqueueinfo,
        SYS_pidfd_open,
        SYS_prlimit64,
    ] {
        m.insert(nr, vec![eq(pid)?]);
    }
    p.broker = Some(compile(m, SeccompAction::Errno(CAPMODE_ERRNO as u32))?);
    Ok(())
}

/// Keeps the runtime's own descriptors (`held`: the broker's socket, the
/// log's copy, the fast path's roots) open and in place, whatever the
/// program closes or duplicates: close(2) of one fails with EBADF, as for
/// a number that is not open, and so do dup2(2) and dup3(2) onto one;
/// close_range(2) over one traps, and the handler closes the range
/// around them ([`transparent`]). So a program that closes every
/// descriptor (libcasper's services, daemons, a closefrom loop) keeps
/// its broker and its log, and a number the runtime holds never comes to
/// hold something else: the handler uses them without checking each
/// time what they refer to. What this does not cover: calls made through
/// the i386 or x32 entry points, which reach the allowlist only (a
/// program that goes there on purpose cuts itself off; Landlock still
/// bounds what it opens).
pub(crate) fn keep_held(p: &mut Prepared, held: &[libc::c_int]) -> Result<()> {
    use libc::*;
    if held.is_empty() {
        return Ok(());
    }
    let on = |arg: u8| -> Result<Vec<SeccompRule>> {
        held.iter()
            .map(|&fd| rule(vec![cond(arg, Len::Dword, Cmp::Eq, fd as u32 as u64)?]))
            .collect()
    };
    let mut refuse: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    refuse.insert(SYS_close, on(0)?);
    refuse.insert(SYS_dup2, on(1)?);
    refuse.insert(SYS_dup3, on(1)?);
    // close_range(first, last, flags) with first <= fd <= last.
    let mut over = Vec::new();
    for &fd in held {
        let fd = fd as u32 as u64;
        over.push(rule(vec![
            cond(0, Len::Dword, Cmp::Le, fd)?,
            cond(1, Len::Dword, Cmp::Ge, fd)?,
        ])?);
    }
    let mut trap = compile(BTreeMap::from([(SYS_close_range, over)]), SeccompAction::Trap)?;
    mark_traps(&mut trap, p.cookie);
    p.keep = vec![compile(refuse, SeccompAction::Errno(EBADF as u32))?, trap];
    Ok(())
}

/// close_range(2) of `first..=last` without the numbers in `held`
/// (ascending): the ranges between them ([`crate::ranges_around`]), each
/// with the program's flags. The first failure is the call's result.
fn close_range_around(first: u32, last: u32, flags: u64, held: &[libc::c_int]) -> i64 {
    for (a, b) in crate::ranges_around(first, last, held) {
        // SAFETY: close_range of numbers; none of them is held, so the
        // filter lets it through.
        if unsafe { libc::syscall(libc::SYS_close_range, a, b, flags) } < 0 {
            return -(crate::sys::errno() as i64);
        }
    }
    0
}

/// Fails if the process holds an io_uring: the filter refuses
/// io_uring_enter, but a ring made with IORING_SETUP_SQPOLL has a kernel
/// thread that takes submissions straight from shared memory, with no
/// system call to refuse.
fn refuse_held_rings() -> Result<()> {
    let dir = std::fs::read_dir("/proc/self/fd").map_err(|source| Error::Sys {
        what: "read /proc/self/fd",
        source,
    })?;
    for e in dir.flatten() {
        if std::fs::read_link(e.path()).is_ok_and(|t| t.as_os_str() == "anon_inode:[io_uring]") {
            return Err(Error::Unsupported(format!(
                "descriptor {} is an io_uring: io_uring bypasses the seccomp filter; close it before entering",
                e.file_name().to_string_lossy()
            )));
        }
    }
    Ok(())
}

// x86_64 numbers the libc crate does not have yet (arch/x86/entry/syscalls/syscall_64.tbl).
/// setxattrat(2) and its siblings (Linux 6.13).
pub(crate) const SYS_SETXATTRAT: i64 = 463;
pub(crate) const SYS_GETXATTRAT: i64 = 464;
pub(crate) const SYS_LISTXATTRAT: i64 = 465;
pub(crate) const SYS_REMOVEXATTRAT: i64 = 466;
/// open_tree_attr(2) (Linux 6.15).
const SYS_OPEN_TREE_ATTR: i64 = 467;
/// file_getattr(2) and file_setattr(2) (Linux 6.17).
pub(crate) const SYS_FILE_GETATTR: i64 = 468;
pub(crate) const SYS_FILE_SETATTR: i64 = 469;

/// Calls refused with EPERM without a signal: nothing could broker them,
/// and each would reach outside the policy if it ran.
/// `me`: the pid the process-directed setters may still name (0 for
/// none but the caller itself, which they name as 0).
fn refused(me: u64) -> Result<BTreeMap<i64, Vec<SeccompRule>>> {
    use libc::*;
    let mut m: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for nr in [
        // exec is refused with an error rather than trapped: the process
        // that execs (a posix_spawn child) has reset its handlers, so a
        // trap would kill it instead of failing the call.
        SYS_execve,
        SYS_execveat,
        // The new mount API: open_tree(2) without OPEN_TREE_CLONE hands
        // out an O_PATH descriptor on any directory by path, and the rest
        // build, reconfigure and attach mounts.
        SYS_open_tree,
        SYS_OPEN_TREE_ATTR,
        SYS_move_mount,
        SYS_fsopen,
        SYS_fsconfig,
        SYS_fsmount,
        SYS_fspick,
        SYS_mount_setattr,
        // io_uring runs openat, connect, statx... inside the kernel
        // without a system call the filter could see.
        SYS_io_uring_setup,
        SYS_io_uring_enter,
        SYS_io_uring_register,
        // Reaching into other processes (the broker above all, which
        // keeps the authority the program lacks): ptrace, copying their
        // descriptors, writing their memory, comparing their resources.
        SYS_ptrace,
        SYS_pidfd_getfd,
        SYS_process_vm_writev,
        SYS_kcmp,
    ] {
        m.insert(nr, vec![]);
    }
    // Setters that act on another process by its pid, refused unless
    // the pid is 0 or this process's: limits (RLIMIT_CPU kills,
    // RLIMIT_NOFILE starves), scheduling, priorities.
    let other = |arg: u8| -> Result<SeccompRule> {
        rule(vec![
            cond(arg, Len::Dword, Cmp::Ne, 0)?,
            cond(arg, Len::Dword, Cmp::Ne, me)?,
        ])
    };
    for nr in [
        SYS_prlimit64,
        SYS_sched_setaffinity,
        SYS_sched_setparam,
        SYS_sched_setscheduler,
        SYS_sched_setattr,
    ] {
        m.insert(nr, vec![other(0)?]);
    }
    // setpriority(which, who, prio) and ioprio_set(which, who, prio):
    // only a process (not a group or a user) and only this one.
    for (nr, process) in [
        (SYS_setpriority, PRIO_PROCESS as u64),
        (SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */),
    ] {
        m.insert(nr, vec![rule(vec![cond(0, Len::Dword, Cmp::Ne, process)?])?, other(1)?]);
    }
    // personality(2): the query form (0xffffffff) only; a persona
    // changes what the next exec maps and how.
    m.insert(
        SYS_personality,
        vec![rule(vec![cond(0, Len::Dword, Cmp::Ne, 0xffff_ffff)?])?],
    );
    // TIOCSTI pushes input into a terminal, which the shell outside the
    // sandbox then reads as typed commands; TIOCLINUX pastes a
    // selection on a virtual console the same way.
    m.insert(
        SYS_ioctl,
        vec![
            rule(vec![cond(1, Len::Dword, Cmp::Eq, TIOCSTI as u32 as u64)?])?,
            rule(vec![cond(1, Len::Dword, Cmp::Eq, TIOCLINUX as u32 as u64)?])?,
        ],
    );
    // process_vm_readv of this process is how the handler reads the
    // program's arguments without faulting (sys::read_user); any other
    // pid is refused. A forked child has another pid and falls back to a
    // copy through a pipe.
    m.insert(
        SYS_process_vm_readv,
        vec![rule(vec![cond(0, Len::Dword, Cmp::Ne, me)?])?],
    );
    Ok(m)
}

/// seccompiler's program for `rules` (ALLOW where none matches), as
/// seccompiler writes it: after the architecture check, one block per
/// number, tried in turn.
fn compile_linear(rules: BTreeMap<i64, Vec<SeccompRule>>, action: SeccompAction) -> Result<seccompiler::BpfProgram> {
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|e| Error::Unsupported(format!("seccomp arch: {e:?}")))?;
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, action, arch)
        .map_err(|e| Error::Unsupported(format!("seccomp filter: {e}")))?;
    filter
        .try_into()
        .map_err(|e| Error::Unsupported(format!("seccomp compile: {e:?}")))
}

/// The same decisions as [`compile_linear`], found faster: seccompiler
/// tries its per-number blocks one after the other, three instructions
/// each, so a number late in a long list (openat2 and process_vm_readv,
/// on the fast path, in the trap filter of 73 numbers) runs through
/// some 200 instructions in every filter it is not cached for. Here the
/// number is looked up by [`search`] and the jump lands on its block,
/// seccompiler's own, unchanged; numbers with no block are allowed at
/// the leaf. The tests check both forms agree on every number.
fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>, action: SeccompAction) -> Result<seccompiler::BpfProgram> {
    const LD_NR: (u16, u32) = (0x20, 0); // BPF_LD | BPF_W | BPF_ABS, seccomp_data.nr
    if rules.is_empty() {
        return compile_linear(rules, action);
    }
    let odd = || Error::Unsupported("seccomp compile: seccompiler's program has an unexpected shape".into());
    let mut prefix = Vec::new();
    let mut blocks: Vec<(u32, seccompiler::BpfProgram)> = Vec::new();
    for (nr, chain) in rules {
        // [architecture check][load nr][the number's block][RET ALLOW]
        let one = compile_linear(BTreeMap::from([(nr, chain)]), action.clone())?;
        let at = one.iter().position(|i| (i.code, i.k) == LD_NR).ok_or_else(odd)?;
        let last = one.last().ok_or_else(odd)?;
        let first = one.get(at + 1).ok_or_else(odd)?;
        if (last.code, last.k) != (RET_K, libc::SECCOMP_RET_ALLOW) || (first.code, first.k) != (JEQ_K, nr as u32) {
            return Err(odd());
        }
        prefix = one[..=at].to_vec();
        blocks.push((nr as u32, one[at + 1..one.len() - 1].to_vec()));
    }
    let mut runs = Vec::new();
    let mut next = 0u32;
    for (i, (nr, _)) in blocks.iter().enumerate() {
        if *nr > next {
            runs.push((next, Leaf::Ret(libc::SECCOMP_RET_ALLOW)));
        }
        runs.push((*nr, Leaf::Goto(i)));
        next = nr + 1;
    }
    runs.push((next, Leaf::Ret(libc::SECCOMP_RET_ALLOW)));
    let mut prog = prefix;
    prog.extend(search(&runs));
    let mut starts = Vec::with_capacity(blocks.len());
    for (_, b) in &blocks {
        starts.push(prog.len());
        prog.extend_from_slice(b);
    }
    // Where a block's number-mismatch path goes (the next block, in
    // seccompiler's layout): never taken here, but every jump must land
    // inside the program for the kernel to load it.
    prog.push(seccompiler::sock_filter {
        code: RET_K,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ALLOW,
    });
    // The leaves' jumps, to their blocks (all forward).
    for (pc, i) in prog.iter_mut().enumerate() {
        if i.code == JA && i.k & GOTO != 0 {
            i.k = (starts[(i.k & !GOTO) as usize] - (pc + 1)) as u32;
        }
    }
    if prog.len() >= 4096 {
        return Err(Error::Unsupported(format!(
            "seccomp compile: {} instructions",
            prog.len()
        )));
    }
    Ok(prog)
}

/// Turns confinement on for every thread of the process.
pub(crate) fn confine(_kind: BackendKind, p: Prepared) -> Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(Error::last_os("prctl(PR_SET_NO_NEW_PRIVS)"));
    }
    // Published before the filter can trap; the handler is installed already.
    TRAP_COOKIE.store(p.cookie, Ordering::Release);
    for prog in [Some(&p.allow), Some(&p.refuse), p.broker.as_ref(), Some(&p.trap)]
        .into_iter()
        .flatten()
        .chain(&p.keep)
    {
        seccompiler::apply_filter_all_threads(prog).map_err(|e| Error::Unsupported(format!("seccomp install: {e}")))?;
    }
    Ok(())
}

fn cond(arg: u8, len: Len, op: Cmp, v: u64) -> Result<Cond> {
    Cond::new(arg, len, op, v).map_err(|e| Error::Unsupported(format!("seccomp rule: {e}")))
}

fn rule(c: Vec<Cond>) -> Result<SeccompRule> {
    SeccompRule::new(c).map_err(|e| Error::Unsupported(format!("seccomp rule: {e}")))
}

/// The trapped calls. An empty rule list traps unconditionally.
fn rules() -> Result<BTreeMap<i64, Vec<SeccompRule>>> {
    use libc::*;
    let mut m: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for nr in [
        SYS_open,
        SYS_creat,
        SYS_openat,
        SYS_openat2,
        SYS_stat,
        SYS_lstat,
        SYS_statfs,
        SYS_access,
        SYS_faccessat,
        SYS_faccessat2,
        SYS_readlink,
        SYS_readlinkat,
        SYS_mkdir,
        SYS_mkdirat,
        SYS_mknod,
        SYS_mknodat,
        SYS_unlink,
        SYS_unlinkat,
        SYS_rmdir,
        SYS_rename,
        SYS_renameat,
        SYS_renameat2,
        SYS_link,
        SYS_linkat,
        SYS_symlink,
        SYS_symlinkat,
        SYS_chmod,
        SYS_fchmodat,
        SYS_chown,
        SYS_lchown,
        SYS_fchownat,
        SYS_truncate,
        SYS_utime,
        SYS_utimes,
        SYS_futimesat,
        SYS_chdir,
        SYS_chroot,
        SYS_connect,
        SYS_bind,
        // listen(2) on an unbound socket binds it to every address and a
        // free port: the broker checks (State::listen).
        SYS_listen,
        SYS_getxattr,
        SYS_lgetxattr,
        SYS_setxattr,
        SYS_lsetxattr,
        SYS_listxattr,
        SYS_llistxattr,
        SYS_removexattr,
        SYS_lremovexattr,
        SYS_inotify_add_watch,
        SYS_fanotify_mark,
        SYS_mount,
        SYS_umount2,
        SYS_pivot_root,
        SYS_acct,
        SYS_swapon,
        SYS_swapoff,
        SYS_name_to_handle_at,
        SYS_open_by_handle_at,
        SYS_uselib,
        SYS_fchmodat2,
        SYS_SETXATTRAT,
        SYS_GETXATTRAT,
        SYS_LISTXATTRAT,
        SYS_REMOVEXATTRAT,
        SYS_FILE_GETATTR,
        SYS_FILE_SETATTR,
    ] {
        m.insert(nr, vec![]);
    }
    let at_fdcwd = AT_FDCWD as u32 as u64;
    let empty = AT_EMPTY_PATH as u64;
    // Only the pure fstat form passes: a real descriptor, AT_EMPTY_PATH
    // and a NULL path (Linux 6.11+; older kernels fail it with EFAULT).
    // With a path, even an empty-looking one, the kernel may look a name
    // up, and a filter cannot read the string: glibc's fstat() (fstatat
    // with "") and std's File::metadata (statx with "") are trapped and
    // answered in the handler by the NULL form ([`transparent`]).
    for (nr, flags_arg) in [(SYS_newfstatat, 3u8), (SYS_statx, 2u8)] {
        m.insert(
            nr,
            vec![
                rule(vec![cond(0, Len::Dword, Cmp::Eq, at_fdcwd)?])?,
                rule(vec![cond(flags_arg, Len::Dword, Cmp::MaskedEq(empty), 0)?])?,
                rule(vec![cond(1, Len::Qword, Cmp::Ne, 0)?])?,
            ],
        );
    }
    // clone(2) making a namespace (a user namespace above all, which
    // gives the process every capability inside it). The flags are the
    // low 32 bits; CLONE_NEWTIME is not among them, as its bit (0x80)
    // is part of the exit signal in clone(2) (unshare and clone3 only).
    let mut new_ns = Vec::new();
    for flag in [
        CLONE_NEWNS,
        CLONE_NEWCGROUP,
        CLONE_NEWUTS,
        CLONE_NEWIPC,
        CLONE_NEWUSER,
        CLONE_NEWPID,
        CLONE_NEWNET,
    ] {
        let f = flag as u32 as u64;
        new_ns.push(rule(vec![cond(0, Len::Dword, Cmp::MaskedEq(f), f)?])?);
    }
    m.insert(SYS_clone, new_ns);
    // futimens() is utimensat(fd, NULL, ...): no lookup.
    m.insert(SYS_utimensat, vec![rule(vec![cond(1, Len::Qword, Cmp::Ne, 0)?])?]);
    // sendto() without an address uses the connected peer.
    m.insert(SYS_sendto, vec![rule(vec![cond(4, Len::Qword, Cmp::Ne, 0)?])?]);
    // TCP Fast Open: sendmsg/sendmmsg with MSG_FASTOPEN and an address
    // connect a TCP socket. The filter cannot read the msghdr, and
    // Landlock's CONNECT_TCP (6.18) is checked in connect(2) only, so
    // this connected anywhere. Trapped on the flag and refused (the
    // broker has no sendmsg); sendto with an address is trapped above.
    let fastopen = MSG_FASTOPEN as u32 as u64;
    for (nr, flags_arg) in [(SYS_sendmsg, 2u8), (SYS_sendmmsg, 3u8)] {
        m.insert(
            nr,
            vec![rule(vec![cond(
                flags_arg,
                Len::Dword,
                Cmp::MaskedEq(fastopen),
                fastopen,
            )?])?],
        );
    }
    Ok(m)
}

// ---------------------------------------------------------------------------
// The allowlist.

/// Calls the allowlist lets through, by purpose. Together with the calls
/// the trap filter traps ([`rules`]) and the refuse filter refuses
/// ([`refused`]), which it lets through too so that those filters decide,
/// they are the calls the filter knows; every other number (SysV IPC,
/// POSIX message queues, keyrings, namespaces, bpf, perf_event_open,
/// userfaultfd, module loading, clock setting, the calls of later
/// kernels...) is trapped and answered ENOSYS with a record.
///
/// Sources: the calls a program on Rust std, glibc and tokio makes; the
/// descriptor, memory, thread, time and signal calls of Chromium's
/// baseline policy (sandbox/linux/seccomp-bpf-helpers/baseline_policy.cc);
/// and FreeBSD capability mode's allowed set (sys/kern/capabilities.conf),
/// which excludes what reaches a global namespace (SysV IPC, message
/// queues by name, keyrings).
mod allowed {
    use libc::*;

    /// I/O and metadata on descriptors already held, polling and event
    /// descriptors, Linux AIO (io_submit does reads, writes and fsyncs
    /// of descriptors, nothing by path).
    pub(super) const DESCRIPTORS: &[i64] = &[
        SYS_read,
        SYS_write,
        SYS_close,
        SYS_fstat,
        SYS_poll,
        SYS_lseek,
        SYS_ioctl,
        SYS_pread64,
        SYS_pwrite64,
        SYS_readv,
        SYS_writev,
        SYS_pipe,
        SYS_pipe2,
        SYS_select,
        SYS_pselect6,
        SYS_ppoll,
        SYS_dup,
        SYS_dup2,
        SYS_dup3,
        SYS_sendfile,
        SYS_fcntl,
        SYS_flock,
        SYS_fsync,
        SYS_fdatasync,
        SYS_sync,
        SYS_syncfs,
        SYS_sync_file_range,
        SYS_ftruncate,
        SYS_fallocate,
        SYS_fadvise64,
        SYS_readahead,
        SYS_getdents,
        SYS_getdents64,
        SYS_fchdir,
        SYS_fchmod,
        SYS_fchown,
        SYS_fstatfs,
        SYS_fgetxattr,
        SYS_fsetxattr,
        SYS_flistxattr,
        SYS_fremovexattr,
        SYS_splice,
        SYS_tee,
        SYS_vmsplice,
        SYS_preadv,
        SYS_pwritev,
        SYS_preadv2,
        SYS_pwritev2,
        SYS_copy_file_range,
        SYS_close_range,
        super::SYS_CACHESTAT,
        SYS_epoll_create,
        SYS_epoll_create1,
        SYS_epoll_ctl,
        SYS_epoll_wait,
        SYS_epoll_pwait,
        SYS_epoll_pwait2,
        SYS_eventfd,
        SYS_eventfd2,
        SYS_signalfd,
        SYS_signalfd4,
        SYS_timerfd_create,
        SYS_timerfd_settime,
        SYS_timerfd_gettime,
        SYS_inotify_init,
        SYS_inotify_init1,
        SYS_inotify_rm_watch,
        SYS_memfd_create,
        SYS_io_setup,
        SYS_io_destroy,
        SYS_io_getevents,
        super::SYS_IO_PGETEVENTS,
        SYS_io_submit,
        SYS_io_cancel,
    ];

    /// Sockets: making them and using them. connect, bind, listen and
    /// sendto/sendmsg with an address are the trap filter's.
    pub(super) const SOCKETS: &[i64] = &[
        SYS_socket,
        SYS_socketpair,
        SYS_accept,
        SYS_accept4,
        SYS_shutdown,
        SYS_getsockname,
        SYS_getpeername,
        SYS_setsockopt,
        SYS_getsockopt,
        SYS_recvfrom,
        SYS_recvmsg,
        SYS_recvmmsg,
    ];

    /// The process's own memory.
    pub(super) const MEMORY: &[i64] = &[
        SYS_brk,
        SYS_mmap,
        SYS_mprotect,
        SYS_munmap,
        SYS_mremap,
        SYS_msync,
        SYS_mincore,
        SYS_madvise,
        SYS_mlock,
        SYS_mlock2,
        SYS_munlock,
        SYS_mlockall,
        SYS_munlockall,
        SYS_remap_file_pages,
        SYS_membarrier,
        SYS_pkey_mprotect,
        SYS_pkey_alloc,
        SYS_pkey_free,
        SYS_mbind,
        SYS_get_mempolicy,
        SYS_set_mempolicy,
        SYS_set_mempolicy_home_node,
        SYS_mseal,
        SYS_memfd_secret,
        super::SYS_MAP_SHADOW_STACK,
    ];

    /// Threads and processes: creating them (clone without namespace
    /// flags, see [`super::rules`]; clone3 is answered ENOSYS by the
    /// filter itself, see [`super::allowlist`]), waiting, futexes, the
    /// process's own scheduling, limits, identity and attributes. The
    /// setters that take a pid are refused for other processes
    /// ([`super::refused`]).
    pub(super) const PROCESSES: &[i64] = &[
        SYS_clone,
        SYS_fork,
        SYS_vfork,
        SYS_exit,
        SYS_exit_group,
        SYS_wait4,
        SYS_waitid,
        SYS_getpid,
        SYS_getppid,
        SYS_gettid,
        SYS_set_tid_address,
        SYS_set_robust_list,
        SYS_rseq,
        SYS_arch_prctl,
        SYS_prctl,
        SYS_personality,
        SYS_futex,
        SYS_futex_waitv,
        super::SYS_FUTEX_WAKE,
        super::SYS_FUTEX_WAIT,
        super::SYS_FUTEX_REQUEUE,
        SYS_sched_yield,
        SYS_sched_getaffinity,
        SYS_sched_setaffinity,
        SYS_sched_getparam,
        SYS_sched_setparam,
        SYS_sched_getscheduler,
        SYS_sched_setscheduler,
        SYS_sched_getattr,
        SYS_sched_setattr,
        SYS_sched_get_priority_max,
        SYS_sched_get_priority_min,
        SYS_sched_rr_get_interval,
        SYS_getpriority,
        SYS_setpriority,
        SYS_ioprio_get,
        SYS_ioprio_set,
        SYS_getcpu,
        SYS_getrlimit,
        SYS_setrlimit,
        SYS_prlimit64,
        SYS_getrusage,
        SYS_uname,
        SYS_sysinfo,
        SYS_getrandom,
        SYS_umask,
        SYS_getcwd,
        SYS_getuid,
        SYS_geteuid,
        SYS_getresuid,
        SYS_getgid,
        SYS_getegid,
        SYS_getresgid,
        SYS_getgroups,
        SYS_setuid,
        SYS_setreuid,
        SYS_setresuid,
        SYS_setfsuid,
        SYS_setgid,
        SYS_setregid,
        SYS_setresgid,
        SYS_setfsgid,
        SYS_setgroups,
        SYS_capget,
        SYS_capset,
        SYS_getpgrp,
        SYS_getpgid,
        SYS_setpgid,
        SYS_getsid,
        SYS_setsid,
        // Only ever narrower: more filters, a Landlock domain inside ours.
        SYS_seccomp,
        SYS_landlock_create_ruleset,
        SYS_landlock_add_rule,
        SYS_landlock_restrict_self,
    ];

    /// Signals (to other processes: Landlock's signal scope, and the
    /// broker filter without it) and time.
    pub(super) const SIGNALS_AND_TIME: &[i64] = &[
        SYS_rt_sigaction,
        SYS_rt_sigprocmask,
        SYS_rt_sigreturn,
        SYS_rt_sigpending,
        SYS_rt_sigtimedwait,
        SYS_rt_sigsuspend,
        SYS_rt_sigqueueinfo,
        SYS_rt_tgsigqueueinfo,
        SYS_sigaltstack,
        SYS_restart_syscall,
        SYS_pause,
        SYS_kill,
        SYS_tkill,
        SYS_tgkill,
        SYS_pidfd_open,
        SYS_pidfd_send_signal,
        SYS_alarm,
        SYS_getitimer,
        SYS_setitimer,
        SYS_nanosleep,
        SYS_clock_nanosleep,
        SYS_clock_gettime,
        SYS_clock_getres,
        SYS_gettimeofday,
        SYS_time,
        SYS_times,
        SYS_timer_create,
        SYS_timer_settime,
        SYS_timer_gettime,
        SYS_timer_getoverrun,
        SYS_timer_delete,
    ];
}

// x86_64 numbers the libc crate does not have yet.
const SYS_IO_PGETEVENTS: i64 = 333;
const SYS_CACHESTAT: i64 = 451;
const SYS_MAP_SHADOW_STACK: i64 = 453;
const SYS_FUTEX_WAKE: i64 = 454;
const SYS_FUTEX_WAIT: i64 = 455;
const SYS_FUTEX_REQUEUE: i64 = 456;

/// Numbers below this are looked up in [`KNOWN`]; the rest are unknown.
const KNOWN_MAX: usize = 1024;

/// The calls the filter knows (allowed, trapped or refused by number or
/// arguments), one bit per number, filled in by [`prepare`] before the
/// handler exists: [`classify`] answers a trap of any other number
/// ENOSYS. Read with plain loads in the handler.
static KNOWN: [AtomicU64; KNOWN_MAX / 64] = [const { AtomicU64::new(0) }; KNOWN_MAX / 64];

fn known(nr: i64) -> bool {
    (0..KNOWN_MAX as i64).contains(&nr) && KNOWN[nr as usize / 64].load(Ordering::Relaxed) & (1 << (nr % 64)) != 0
}

/// The set of known numbers: the allowed groups, the trapped calls and
/// the refused ones.
fn known_set() -> Result<BTreeSet<i64>> {
    let mut s: BTreeSet<i64> = [
        allowed::DESCRIPTORS,
        allowed::SOCKETS,
        allowed::MEMORY,
        allowed::PROCESSES,
        allowed::SIGNALS_AND_TIME,
    ]
    .concat()
    .into_iter()
    .collect();
    s.extend(rules()?.keys());
    s.extend(refused(0)?.keys());
    Ok(s)
}

/// What the allowlist answers for each number: ALLOW for the known
/// calls, ERRNO(ENOSYS) for clone3, `unknown` (TRAP with the cookie) for
/// the rest.
fn allowlist_action(known: &BTreeSet<i64>, nr: i64, unknown: u32) -> u32 {
    if nr == libc::SYS_clone3 {
        // Its flags are behind a pointer no filter can read, so it
        // could make namespaces clone(2) is refused. ENOSYS without a
        // signal: glibc (pthread_create, posix_spawn) then falls back
        // to clone(2), whose flags the trap filter checks; a record for
        // every thread would be noise.
        libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
    } else if known.contains(&nr) {
        libc::SECCOMP_RET_ALLOW
    } else {
        unknown
    }
}

/// The trap answer of this process's filters.
fn trap_with(cookie: u32) -> u32 {
    libc::SECCOMP_RET_TRAP | (cookie & libc::SECCOMP_RET_DATA)
}

/// The allowlist: a filter of its own, written by hand because its
/// default is not ALLOW and because it must be fast.
///
/// 1. An audit architecture other than x86_64 (i386 calls through
///    `int 0x80`) kills the process, as seccompiler's filters do.
/// 2. x32 calls (AUDIT_ARCH_X86_64 with __X32_SYSCALL_BIT in the number,
///    which no rule keyed by number matches) fail with EPERM.
/// 3. Then a binary search over the number's runs (consecutive numbers
///    with the same answer, [`allowlist_action`]): a dozen comparisons,
///    never an argument, so that the kernel's action cache (Linux 5.11+)
///    can remember every ALLOW and skip the filters for those calls.
fn allowlist(known: &BTreeSet<i64>, unknown: u32) -> seccompiler::BpfProgram {
    use seccompiler::sock_filter;
    const LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS (0x20)
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    let st = |code, k| sock_filter { code, jt: 0, jf: 0, k };
    // Runs of numbers with one answer: (first number, answer); the last
    // run goes on to X32_SYSCALL_BIT.
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for nr in 0..=KNOWN_MAX as u32 {
        let a = allowlist_action(known, nr as i64, unknown);
        if runs.last().is_none_or(|&(_, last)| last != a) {
            runs.push((nr, a));
        }
    }
    runs.push((X32_SYSCALL_BIT, libc::SECCOMP_RET_ERRNO | CAPMODE_ERRNO as u32));
    let mut prog = vec![
        st(LD_W_ABS, 4), // seccomp_data.arch
        sock_filter {
            code: JEQ_K,
            jt: 1,
            jf: 0,
            k: AUDIT_ARCH_X86_64,
        },
        st(RET_K, libc::SECCOMP_RET_KILL_PROCESS),
        st(LD_W_ABS, 0), // seccomp_data.nr
    ];
    let runs: Vec<(u32, Leaf)> = runs.into_iter().map(|(nr, a)| (nr, Leaf::Ret(a))).collect();
    prog.extend(search(&runs));
    prog
}

const RET_K: u16 = 0x06; // BPF_RET | BPF_K
const JEQ_K: u16 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
const JA: u16 = 0x05; // BPF_JMP | BPF_JA
/// Marks a leaf's JA whose offset [`compile`] fills in (its k holds the
/// block's index until then; no real offset is that large).
const GOTO: u32 = 0x8000_0000;

/// What a run of numbers comes to at a leaf of [`search`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leaf {
    /// The filter's answer.
    Ret(u32),
    /// On to the block of that index ([`compile`] resolves the jump).
    Goto(usize),
}

/// A binary search of the number (in the accumulator) over `runs`, each
/// run's leaf at its end: `nr >= k` splits the runs in two halves.
fn search(runs: &[(u32, Leaf)]) -> seccompiler::BpfProgram {
    use seccompiler::sock_filter;
    const JGE_K: u16 = 0x05 | 0x30; // BPF_JMP | BPF_JGE | BPF_K
    if let [(_, leaf)] = runs {
        let (code, k) = match *leaf {
            Leaf::Ret(action) => (RET_K, action),
            Leaf::Goto(block) => (JA, GOTO | block as u32),
        };
        return vec![sock_filter { code, jt: 0, jf: 0, k }];
    }
    let mid = runs.len() / 2;
    let (below, above) = (search(&runs[..mid]), search(&runs[mid..]));
    let k = runs[mid].0;
    let mut prog = Vec::with_capacity(below.len() + above.len() + 2);
    match u8::try_from(below.len()) {
        // nr >= k: over the lower half.
        Ok(jt) => prog.push(sock_filter {
            code: JGE_K,
            jt,
            jf: 0,
            k,
        }),
        // Too far for a conditional jump (8 bits): through a long one.
        Err(_) => {
            prog.push(sock_filter {
                code: JGE_K,
                jt: 0,
                jf: 1,
                k,
            });
            prog.push(sock_filter {
                code: JA,
                jt: 0,
                jf: 0,
                k: below.len() as u32,
            });
        }
    }
    prog.extend(below);
    prog.extend(above);
    prog
}

#[repr(C)]
struct SigsysInfo {
    signo: i32,
    errno: i32,
    code: i32,
    _pad: i32,
    call_addr: *mut libc::c_void,
    syscall: i32,
    arch: u32,
}

/// Reads the violation from a SIGSYS frame, or None if this SIGSYS was not
/// raised by this process's own filter (see [`TRAP_COOKIE`]).
///
/// # Safety
/// `info` and `uc` are the handler's arguments.
pub(crate) unsafe fn classify(_kind: BackendKind, info: *const libc::siginfo_t, uc: *mut libc::c_void) -> Option<Trap> {
    let si = &*(info as *const SigsysInfo);
    let cookie = TRAP_COOKIE.load(Ordering::Acquire);
    if si.code != SYS_SECCOMP || cookie == 0 || si.errno as u32 != cookie {
        return None;
    }
    let g = &(*(uc as *const libc::ucontext_t)).uc_mcontext.gregs;
    let args = [
        g[libc::REG_RDI as usize] as u64,
        g[libc::REG_RSI as usize] as u64,
        g[libc::REG_RDX as usize] as u64,
        g[libc::REG_R10 as usize] as u64,
        g[libc::REG_R8 as usize] as u64,
        g[libc::REG_R9 as usize] as u64,
    ];
    let syscall = si.syscall as i64;
    let class = match crate::syscall::decode(syscall, args).map(|c| c.op) {
        Some(op) if op.has_socket() => Class::Sockaddr,
        Some(_) => Class::Namei,
        None => Class::Syscall,
    };
    // A call the filter does not know is answered as a kernel without
    // it would; the known ones that are trapped fail as in capability mode.
    let errno = if known(syscall) { CAPMODE_ERRNO } else { libc::ENOSYS };
    Some(Trap {
        syscall,
        args,
        errno,
        class,
        ip: si.call_addr as u64,
        fp: g[libc::REG_RBP as usize] as u64,
        sp: g[libc::REG_RSP as usize] as u64,
    })
}

/// Makes the interrupted call return `result` (a value or `-errno`).
///
/// # Safety
/// `uc` is the handler's context argument.
pub(crate) unsafe fn set_result(uc: *mut libc::c_void, result: i64) {
    (*(uc as *mut libc::ucontext_t)).uc_mcontext.gregs[libc::REG_RAX as usize] = result;
}

/// The calling thread's kernel id.
pub(crate) fn gettid() -> i64 {
    // SAFETY: no arguments.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// Violations answered without the broker: none here.
pub(crate) fn answer_locally(_trap: &super::Trap) -> Option<i64> {
    None
}

/// Trapped calls that are no violation and are answered in the handler
/// without a record: close_range(2) over a held descriptor
/// ([`keep_held`]: the range is closed around `held`), and fstat in its
/// "" form. The filter traps
/// `newfstatat(fd, path, buf, AT_EMPTY_PATH)` and `statx(fd, path,
/// AT_EMPTY_PATH, ...)` because it cannot see whether `path` is empty;
/// when it is, the call is made again with a NULL path, which the filter
/// lets through and the kernel (6.11+) treats as fstat of `fd` without
/// any lookup. The cost is one signal round trip per fstat (see the
/// README). A non-empty path goes to the broker like any lookup.
pub(crate) fn transparent(t: &Trap, held: &[libc::c_int]) -> Option<i64> {
    if t.syscall == libc::SYS_close_range {
        let (first, last) = (t.args[0] as u32, t.args[1] as u32);
        return (first <= last).then(|| close_range_around(first, last, t.args[2], held));
    }
    let flags_arg = match t.syscall {
        libc::SYS_newfstatat => 3,
        libc::SYS_statx => 2,
        _ => return None,
    };
    if t.args[0] as i32 == libc::AT_FDCWD || t.args[flags_arg] as u32 & libc::AT_EMPTY_PATH as u32 == 0 {
        return None;
    }
    let mut first = [1u8];
    if crate::sys::read_user(&mut first, t.args[1] as usize).is_err() || first[0] != 0 {
        return None;
    }
    let a = t.args;
    // SAFETY: the program's own call with the path replaced by NULL; the
    // kernel checks the result buffer.
    let r = unsafe { libc::syscall(t.syscall, a[0], 0usize, a[2], a[3], a[4], a[5]) };
    if r >= 0 {
        return Some(r);
    }
    let e = crate::sys::errno();
    if e == libc::EFAULT && t.syscall == libc::SYS_newfstatat {
        // A kernel before 6.11 refuses the NULL path: fstat(2) itself.
        // SAFETY: as above.
        let r = unsafe { libc::syscall(libc::SYS_fstat, a[0], a[2]) };
        return Some(if r < 0 { -(crate::sys::errno() as i64) } else { r });
    }
    if e == libc::EFAULT {
        // statx before 6.11: the broker stats the descriptor.
        return None;
    }
    Some(-(e as i64))
}

/// Every trapped call is a namespace call of the emulation: the broker
/// decides them all (see `crate::caprights::should_broker`).
pub(crate) fn should_broker(_: crate::record::BackendKind, _: &super::Trap, _: &crate::syscall::Call) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a classic BPF program of the instructions the filters use on
    /// a seccomp_data with `arch` and `nr` (arguments zero).
    fn run(prog: &[seccompiler::sock_filter], arch: u32, nr: u32) -> u32 {
        run_with(prog, arch, nr, [0; 6])
    }

    /// The instructions seccompiler's conditions use too: loads of the
    /// arguments' 32-bit halves, AND, JGT, JSET.
    fn run_with(prog: &[seccompiler::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        run_counted(prog, arch, nr, args).0
    }

    /// [`run_with`], and how many instructions ran.
    fn run_counted(prog: &[seccompiler::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> (u32, usize) {
        let (mut pc, mut a, mut n) = (0usize, 0u32, 0usize);
        loop {
            let i = &prog[pc];
            pc += 1;
            n += 1;
            match i.code {
                0x20 => {
                    a = match i.k {
                        0 => nr,
                        4 => arch,
                        k @ 16..=63 if k % 4 == 0 => {
                            let v = args[(k as usize - 16) / 8];
                            if k % 8 == 0 {
                                v as u32
                            } else {
                                (v >> 32) as u32
                            }
                        }
                        k => panic!("load of offset {k}"),
                    }
                }
                0x54 => a &= i.k,
                0x15 => pc += if a == i.k { i.jt } else { i.jf } as usize,
                0x25 => pc += if a > i.k { i.jt } else { i.jf } as usize,
                0x35 => pc += if a >= i.k { i.jt } else { i.jf } as usize,
                0x45 => pc += if a & i.k != 0 { i.jt } else { i.jf } as usize,
                0x05 => pc += i.k as usize,
                0x06 => return (i.k, n),
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    /// What the kernel's classic BPF check asks of a seccomp filter's
    /// jumps: every one lands inside the program, which ends in a RET.
    fn assert_loadable(prog: &[seccompiler::sock_filter]) {
        assert!(!prog.is_empty() && prog.len() < 4096);
        assert_eq!(prog.last().unwrap().code, RET_K);
        for (pc, i) in prog.iter().enumerate() {
            let targets = match i.code {
                0x05 => vec![i.k as usize],
                c if c & 0x07 == 0x05 => vec![i.jt as usize, i.jf as usize],
                _ => vec![],
            };
            for t in targets {
                assert!(
                    pc + 1 + t < prog.len(),
                    "jump at {pc} lands at {} of {}",
                    pc + 1 + t,
                    prog.len()
                );
            }
        }
    }

    /// Every filter sigcap compiles, searched, answers as seccompiler's
    /// linear form does: each number up to past the last one, x32 and
    /// i386 numbers, with arguments that meet and miss each condition
    /// (the fast path's marker and roots, held descriptors and ranges
    /// over them, this pid and others, the ioctls and personality).
    #[test]
    fn searched_filters_decide_as_seccompilers_own() {
        let (me, marker, broker) = (4242u64, 0x1234_5678_9abc_def1u64, 777i32);
        let held = [512, 513, 600];
        let mut fast = rules().unwrap();
        let not_marked = rule(vec![cond(5, Len::Qword, Cmp::Ne, marker).unwrap()]).unwrap();
        let not_a_root = rule(vec![
            cond(0, Len::Dword, Cmp::Ne, 512).unwrap(),
            cond(0, Len::Dword, Cmp::Ne, 600).unwrap(),
        ])
        .unwrap();
        fast.insert(libc::SYS_openat2, vec![not_marked, not_a_root]);
        let mut keep = Prepared {
            trap: Vec::new(),
            cookie: 7,
            refuse: Vec::new(),
            allow: Vec::new(),
            broker: None,
            keep: Vec::new(),
        };
        keep_held(&mut keep, &held).unwrap();
        protect_broker(&mut keep, broker).unwrap();
        let mut image = refused(0).unwrap();
        image.remove(&libc::SYS_execve);
        let maps = [
            (rules().unwrap(), SeccompAction::Trap),
            (fast, SeccompAction::Trap),
            (refused(me).unwrap(), SeccompAction::Errno(1)),
            (image, SeccompAction::Errno(1)),
        ];
        let values = [
            0u64,
            1,
            2,
            me,
            me + 1,
            broker as u64,
            (broker as u32).wrapping_neg() as u64,
            u32::MAX as u64,
            u64::MAX,
            marker,
            marker ^ 1,
            511,
            512,
            513,
            514,
            599,
            600,
            601,
            libc::AT_FDCWD as u32 as u64,
            libc::TIOCSTI as u32 as u64,
            libc::TIOCLINUX as u32 as u64,
            libc::PRIO_PROCESS as u64,
            0xffff_ffff,
            FAST_EMPTY_PATH.as_ptr() as u64,
        ];
        let mut checked = 0;
        let mut check = |linear: &[seccompiler::sock_filter], searched: &[seccompiler::sock_filter]| {
            assert_loadable(searched);
            let nrs = (0..=KNOWN_MAX as u32 + 8).chain([0x4000_0000 | 2, 0x4000_0000 | 437, u32::MAX]);
            for nr in nrs {
                for arch in [X86_64, 0x4000_0003] {
                    for (i, &v) in values.iter().enumerate() {
                        // One argument varied at a time, and pairs of
                        // neighbours for ranges (close_range) and
                        // (which, who) pairs.
                        for slot in 0..6 {
                            let mut args = [0u64; 6];
                            args[slot] = v;
                            if slot < 5 {
                                args[slot + 1] = values[(i + 3) % values.len()];
                            }
                            let want = run_with(linear, arch, nr, args);
                            assert_eq!(
                                run_with(searched, arch, nr, args),
                                want,
                                "nr {nr} arch {arch:#x} args {args:x?}"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        };
        for (m, action) in maps {
            check(
                &compile_linear(m.clone(), action.clone()).unwrap(),
                &compile(m, action).unwrap(),
            );
        }
        // keep_held and protect_broker: the searched ones, against the
        // same maps compiled linearly here.
        let eq = |arg: u8, v: u64| rule(vec![cond(arg, Len::Dword, Cmp::Eq, v).unwrap()]).unwrap();
        let on = |arg: u8| held.iter().map(|&fd| eq(arg, fd as u64)).collect::<Vec<_>>();
        let refuse = BTreeMap::from([
            (libc::SYS_close, on(0)),
            (libc::SYS_dup2, on(1)),
            (libc::SYS_dup3, on(1)),
        ]);
        check(
            &compile_linear(refuse, SeccompAction::Errno(libc::EBADF as u32)).unwrap(),
            &keep.keep[0],
        );
        let over: Vec<SeccompRule> = held
            .iter()
            .map(|&fd| {
                rule(vec![
                    cond(0, Len::Dword, Cmp::Le, fd as u64).unwrap(),
                    cond(1, Len::Dword, Cmp::Ge, fd as u64).unwrap(),
                ])
                .unwrap()
            })
            .collect();
        let mut trap = compile_linear(BTreeMap::from([(libc::SYS_close_range, over)]), SeccompAction::Trap).unwrap();
        mark_traps(&mut trap, 7);
        check(&trap, &keep.keep[1]);
        let pid = broker as u32 as u64;
        let mut b = BTreeMap::from([(
            libc::SYS_kill,
            vec![
                eq(0, pid),
                eq(0, (broker as u32).wrapping_neg() as u64),
                eq(0, u32::MAX as u64),
            ],
        )]);
        for nr in [
            libc::SYS_tkill,
            libc::SYS_tgkill,
            libc::SYS_rt_sigqueueinfo,
            libc::SYS_rt_tgsigqueueinfo,
            libc::SYS_pidfd_open,
            libc::SYS_prlimit64,
        ] {
            b.insert(nr, vec![eq(0, pid)]);
        }
        check(
            &compile_linear(b, SeccompAction::Errno(CAPMODE_ERRNO as u32)).unwrap(),
            keep.broker.as_ref().unwrap(),
        );
        assert!(checked > 1_000_000, "{checked}");
    }

    #[test]
    fn a_searched_filter_is_shorter_to_run_for_a_late_number() {
        // Instructions run for openat2 (437) when the trap filter has no
        // rule for it (the fast path off): the point of the search.
        let steps = |prog: &[seccompiler::sock_filter]| run_counted(prog, X86_64, 437, [0; 6]).1;
        let mut m = rules().unwrap();
        m.remove(&libc::SYS_openat2);
        let linear = steps(&compile_linear(m.clone(), SeccompAction::Trap).unwrap());
        let searched = steps(&compile(m, SeccompAction::Trap).unwrap());
        assert!(searched * 8 < linear, "searched {searched}, linear {linear}");
    }

    const X86_64: u32 = 0xc000_003e;

    #[test]
    fn the_allowlist_answers_every_number_as_the_table_says() {
        let known = known_set().unwrap();
        let prog = allowlist(&known, trap_with(0x1234));
        assert!(prog.len() < 4096, "{} instructions", prog.len());
        let trap = libc::SECCOMP_RET_TRAP | 0x1234;
        for nr in 0..2048u32 {
            let want = if nr == libc::SYS_clone3 as u32 {
                libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
            } else if known.contains(&(nr as i64)) {
                libc::SECCOMP_RET_ALLOW
            } else {
                trap
            };
            assert_eq!(run(&prog, X86_64, nr), want, "nr {nr}");
        }
        assert_eq!(run(&prog, X86_64, 0x3fff_ffff), trap);
        // x32: every number with the bit, the known ones included (and
        // the "negative" ones, -1 among them, above it).
        for nr in [
            0x4000_0000,
            0x4000_0000 | libc::SYS_openat as u32,
            0x4000_0000 | 512,
            u32::MAX,
        ] {
            assert_eq!(run(&prog, X86_64, nr), libc::SECCOMP_RET_ERRNO | libc::EPERM as u32);
        }
        // i386 (int 0x80) and anything else.
        for arch in [0x4000_0003, 0, 0xc000_00b7] {
            assert_eq!(run(&prog, arch, 20), libc::SECCOMP_RET_KILL_PROCESS);
        }
    }

    #[test]
    fn the_search_takes_long_jumps_where_short_ones_do_not_reach() {
        // Every other number allowed: 600 runs, a lower half far beyond 255.
        let runs: Vec<(u32, Leaf)> = (0..600).map(|n| (n, Leaf::Ret(n % 2))).collect();
        let load = seccompiler::sock_filter {
            code: 0x20,
            jt: 0,
            jf: 0,
            k: 0,
        };
        let prog = [vec![load], search(&runs)].concat();
        assert!(prog.iter().any(|i| i.code == 0x05));
        for nr in 0..700 {
            assert_eq!(run(&prog, X86_64, nr), nr.min(599) % 2, "nr {nr}");
        }
    }

    /// What the handler, the fast path and sys.rs call (handler.rs's
    /// list), and what a Rust program on glibc calls to start threads,
    /// allocate and wait: none of it may be trapped as unknown.
    #[test]
    fn the_handlers_own_calls_are_known() {
        use libc::*;
        let known = known_set().unwrap();
        let missing: Vec<i64> = [
            SYS_socketpair,
            SYS_sendmsg,
            SYS_recvmsg,
            SYS_sendto,
            SYS_poll,
            SYS_clock_gettime,
            SYS_fstat,
            SYS_newfstatat,
            SYS_statx,
            SYS_close,
            SYS_close_range,
            SYS_write,
            SYS_getpid,
            SYS_gettid,
            SYS_rt_sigprocmask,
            SYS_rt_sigpending,
            SYS_rt_sigtimedwait,
            SYS_rt_sigaction,
            SYS_rt_sigreturn,
            SYS_tgkill,
            SYS_process_vm_readv,
            SYS_pipe2,
            SYS_read,
            SYS_openat2,
            SYS_faccessat2,
            SYS_readlinkat,
            SYS_clone,
            SYS_futex,
            SYS_mmap,
            SYS_munmap,
            SYS_mprotect,
            SYS_madvise,
            SYS_rseq,
            SYS_set_robust_list,
            SYS_sched_getaffinity,
            SYS_exit,
            SYS_exit_group,
        ]
        .into_iter()
        .filter(|nr| !known.contains(nr))
        .collect();
        assert!(missing.is_empty(), "unknown: {missing:?}");
        // And these are not, whatever they were for.
        for nr in [
            SYS_keyctl,
            SYS_add_key,
            SYS_request_key,
            SYS_unshare,
            SYS_setns,
            SYS_shmget,
            SYS_semget,
            SYS_msgget,
            SYS_mq_open,
            SYS_userfaultfd,
            SYS_perf_event_open,
            SYS_bpf,
            SYS_init_module,
            SYS_finit_module,
            SYS_kexec_load,
            SYS_clone3,
            470,
        ] {
            assert!(!known.contains(&nr), "{nr} is known");
        }
    }
}
