//! Linux: capability mode emulated with a seccomp-bpf filter.
//!
//! Calls that reach a global namespace (paths from the working directory or
//! the root, connect, bind, sendto with an address) return
//! SECCOMP_RET_TRAP: the kernel does not run them and sends SIGSYS with the
//! call number and the registers. The handler then answers through the
//! broker, so the program sees an ordinary return. Because the call never
//! ran, "the original error" is EPERM, the nearest Linux has to ECAPMODE.
//! execve/execveat fail with EPERM directly (see [`prepare`]).
//!
//! Known differences from FreeBSD capability mode (Linux has none): the
//! filter is a denylist (calls it does not name, including those of newer
//! kernels, run); lookups relative to a directory descriptor are brokered
//! and a descriptor outside every root grants nothing, but a descriptor
//! held from before entering is not confined by the kernel for calls that
//! take no path; sendmsg(2)/sendmmsg(2) with an address are not trapped
//! (issue #10). listen(2) is trapped: on an unbound socket the kernel
//! would bind every address. Beside the filter, Landlock (landlock.rs)
//! bounds the process's own file and TCP access by the policy and refuses
//! signals to other processes and abstract Unix sockets. It is a fallback
//! and debugging aid, not a hardened sandbox.
use super::Trap;
use crate::error::{Error, Result};
use crate::record::{BackendKind, Class};
use seccompiler::{
    SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Cmp, SeccompCondition as Cond, SeccompFilter, SeccompRule,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

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
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    for ins in prog.iter_mut() {
        if ins.code == RET_K && ins.k == libc::SECCOMP_RET_TRAP {
            ins.k = libc::SECCOMP_RET_TRAP | (cookie & libc::SECCOMP_RET_DATA);
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
    x32: seccompiler::BpfProgram,
    /// Signals and pidfds aimed at the broker ([`protect_broker`]).
    broker: Option<seccompiler::BpfProgram>,
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
    let refuse = compile(refused()?, SeccompAction::Errno(CAPMODE_ERRNO as u32))?;
    Ok((
        BackendKind::LinuxSeccomp,
        Prepared {
            trap,
            cookie,
            refuse,
            x32: refuse_x32(),
            broker: None,
        },
    ))
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

/// A filter of its own for the x32 ABI. seccompiler's programs begin by
/// killing the process on any other audit architecture (so i386 system
/// calls through `int 0x80` die), but x32 calls carry AUDIT_ARCH_X86_64
/// with __X32_SYSCALL_BIT set in the number, which no rule keyed by number
/// matches: every x32 call would pass the denylist. seccompiler has no
/// range comparison on the number, hence these five instructions by hand
/// (as in the kernel's samples/seccomp and Documentation/userspace-api/
/// seccomp_filter.rst).
fn refuse_x32() -> seccompiler::BpfProgram {
    use seccompiler::sock_filter;
    const LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS (0x20)
    const JGE_K: u16 = 0x05 | 0x30; // BPF_JMP | BPF_JGE | BPF_K
    const JEQ_K: u16 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    let st = |code, k| sock_filter { code, jt: 0, jf: 0, k };
    vec![
        st(LD_W_ABS, 4), // seccomp_data.arch
        sock_filter {
            code: JEQ_K,
            jt: 1,
            jf: 0,
            k: AUDIT_ARCH_X86_64,
        },
        st(RET_K, libc::SECCOMP_RET_KILL_PROCESS),
        st(LD_W_ABS, 0), // seccomp_data.nr
        sock_filter {
            code: JGE_K,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        st(RET_K, libc::SECCOMP_RET_ERRNO | CAPMODE_ERRNO as u32),
        st(RET_K, libc::SECCOMP_RET_ALLOW),
    ]
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
fn refused() -> Result<BTreeMap<i64, Vec<SeccompRule>>> {
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
    // process_vm_readv of this process is how the handler reads the
    // program's arguments without faulting (sys::read_user); any other
    // pid is refused. A forked child has another pid and falls back to a
    // copy through a pipe.
    // SAFETY: getpid has no preconditions.
    let me = unsafe { getpid() } as u32 as u64;
    m.insert(
        SYS_process_vm_readv,
        vec![rule(vec![cond(0, Len::Dword, Cmp::Ne, me)?])?],
    );
    Ok(m)
}

fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>, action: SeccompAction) -> Result<seccompiler::BpfProgram> {
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|e| Error::Unsupported(format!("seccomp arch: {e:?}")))?;
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, action, arch)
        .map_err(|e| Error::Unsupported(format!("seccomp filter: {e}")))?;
    filter
        .try_into()
        .map_err(|e| Error::Unsupported(format!("seccomp compile: {e:?}")))
}

/// Turns confinement on for every thread of the process.
pub(crate) fn confine(_kind: BackendKind, p: Prepared) -> Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(Error::last_os("prctl(PR_SET_NO_NEW_PRIVS)"));
    }
    // Published before the filter can trap; the handler is installed already.
    TRAP_COOKIE.store(p.cookie, Ordering::Release);
    for prog in [Some(&p.x32), Some(&p.refuse), p.broker.as_ref(), Some(&p.trap)]
        .into_iter()
        .flatten()
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
    Some(Trap {
        syscall,
        args,
        errno: CAPMODE_ERRNO,
        class,
        ip: si.call_addr as u64,
        fp: g[libc::REG_RBP as usize] as u64,
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
/// without a record: fstat in its "" form. The filter traps
/// `newfstatat(fd, path, buf, AT_EMPTY_PATH)` and `statx(fd, path,
/// AT_EMPTY_PATH, ...)` because it cannot see whether `path` is empty;
/// when it is, the call is made again with a NULL path, which the filter
/// lets through and the kernel (6.11+) treats as fstat of `fd` without
/// any lookup. The cost is one signal round trip per fstat (see the
/// README). A non-empty path goes to the broker like any lookup.
pub(crate) fn transparent(t: &Trap) -> Option<i64> {
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
