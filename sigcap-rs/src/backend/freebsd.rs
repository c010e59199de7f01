//! FreeBSD: real capability mode (cap_enter) with violations delivered as a
//! signal instead of a silent error.
//!
//! - Patched kernels (kernel-patches/): `procctl(PROC_TRAPCAP_CTL,
//!   PROC_TRAPCAP_CTL_ENABLE_SIGCAP)` makes violations raise SIGCAP with
//!   the violation class in si_code, the system call number as made in
//!   si_syscall (SYS_syscall/SYS___syscall for an indirect call, as for
//!   TRAP_CAP) and the number of the call that ran in si_realsyscall.
//! - Stock kernels refuse that value with EINVAL; then PROC_TRAPCAP_CTL_ENABLE
//!   gives SIGTRAP with si_code TRAP_CAP, whose si_syscall is the code
//!   as trapped (0 or 198 for an indirect call). Any other SIGTRAP (a
//!   breakpoint) is passed on untouched.
//!
//! The call has already run and failed when the signal arrives: the frame
//! holds the error (rax = errno, carry set), and the handler overwrites it.
use super::Trap;
use crate::error::{Error, Result};
use crate::record::{BackendKind, Class};
use crate::sys::freebsd_abi::*;
use crate::syscall::{SYS_FCHDIR, SYS_SYSCALL, SYS___GETCWD, SYS___SYSCALL};

/// The errno reported when a call is refused (the kernel's own is used
/// whenever one is known; this is for calls that never reached it).
pub(crate) const CAPMODE_ERRNO: i32 = libc::ECAPMODE;
const PSL_C: i64 = 0x1;
// Offsets in FreeBSD's siginfo_t of _reason._capsicum._syscall and the
// patch series' _reason._capsicum._realsyscall.
const SI_SYSCALL_OFF: usize = 40;
const SI_REALSYSCALL_OFF: usize = 44;

pub(crate) fn signal_for(kind: BackendKind) -> libc::c_int {
    match kind {
        BackendKind::FreeBsdSigcap => SIGCAP,
        _ => libc::SIGTRAP,
    }
}

pub(crate) struct Prepared;

fn trapcap(arg: libc::c_int) -> std::result::Result<(), i32> {
    let mut a = arg;
    // SAFETY: procctl on our own pid with an int argument.
    let r = unsafe {
        libc::procctl(
            libc::P_PID,
            libc::getpid() as libc::id_t,
            PROC_TRAPCAP_CTL,
            (&mut a as *mut libc::c_int).cast(),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

/// The signal kern.trap_enotcap_signal selects for PROC_TRAPCAP_CTL_ENABLE;
/// None on kernels without the SIGCAP series (no such sysctl).
fn global_trap_signal() -> Option<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>();
    // SAFETY: a NUL-terminated name, an int-sized output buffer and its
    // length; nothing is written.
    let r = unsafe {
        libc::sysctlbyname(
            c"kern.trap_enotcap_signal".as_ptr(),
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
            std::ptr::null(),
            0,
        )
    };
    (r == 0 && len == std::mem::size_of::<libc::c_int>()).then_some(v)
}

/// Enables trapping and reports which signal the kernel will send.
/// Trapping only acts in capability mode, which starts in [`confine`].
pub(crate) fn prepare(requested: Option<BackendKind>) -> Result<(BackendKind, Prepared)> {
    match requested {
        Some(BackendKind::LinuxSeccomp) => {
            return Err(Error::Unsupported("linux-seccomp is not available on FreeBSD".into()))
        }
        Some(BackendKind::FreeBsdSigtrap) => {
            trapcap(PROC_TRAPCAP_CTL_ENABLE).map_err(|e| sys_err("procctl(PROC_TRAPCAP_CTL)", e))?;
            // PROC_TRAPCAP_STATUS reports the process' own choice
            // (ENABLE), not the signal the sysctl selects for it.
            if global_trap_signal() == Some(SIGCAP) {
                return Err(Error::Unsupported(
                    "kern.trap_enotcap_signal selects SIGCAP; the SIGTRAP backend cannot be used".into(),
                ));
            }
            return Ok((BackendKind::FreeBsdSigtrap, Prepared));
        }
        _ => {}
    }
    match trapcap(PROC_TRAPCAP_CTL_ENABLE_SIGCAP) {
        Ok(()) => Ok((BackendKind::FreeBsdSigcap, Prepared)),
        Err(libc::EINVAL) if requested.is_none() => {
            trapcap(PROC_TRAPCAP_CTL_ENABLE).map_err(|e| sys_err("procctl(PROC_TRAPCAP_CTL)", e))?;
            Ok((BackendKind::FreeBsdSigtrap, Prepared))
        }
        Err(libc::EINVAL) => Err(Error::Unsupported(
            "this kernel has no SIGCAP (PROC_TRAPCAP_CTL_ENABLE_SIGCAP refused)".into(),
        )),
        Err(e) => Err(sys_err("procctl(PROC_TRAPCAP_CTL)", e)),
    }
}

fn sys_err(what: &'static str, e: i32) -> Error {
    Error::Sys {
        what,
        source: std::io::Error::from_raw_os_error(e),
    }
}

/// Nothing to add: capability mode refuses kill(2) of any process but
/// the caller itself (ECAPMODE), and procctl and pdkill need a process
/// descriptor the program does not hold for the broker.
pub(crate) fn protect_broker(_p: &mut Prepared, _broker: libc::pid_t) -> Result<()> {
    Ok(())
}

/// Enters capability mode, where the working directory can no longer
/// change: from here on the program's is emulated (crate::cwd), starting
/// from the real one.
pub(crate) fn confine(_kind: BackendKind, _p: Prepared) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    // A directory without a name (deleted) is not an error: relative
    // paths then fail with ENOENT until a chdir by absolute path.
    if let Ok(here) = std::env::current_dir() {
        // SAFETY: a NUL-terminated path and a stat buffer of the right type.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let id = (unsafe { libc::stat(c".".as_ptr(), &mut st) } == 0).then_some((st.st_dev as u64, st.st_ino as u64));
        let _ = crate::cwd::EMULATED.set(here.as_os_str().as_bytes(), id);
    }
    // SAFETY: no arguments.
    if unsafe { libc::cap_enter() } != 0 {
        return Err(Error::last_os("cap_enter"));
    }
    Ok(())
}

fn class_of_code(code: i32, errno: i32) -> Class {
    match code {
        CAPV_NOTCAPABLE => Class::NotCapable,
        CAPV_INCREASE => Class::Increase,
        CAPV_SYSCALL => Class::Syscall,
        CAPV_SIGNAL => Class::Signal,
        CAPV_PROTO => Class::Proto,
        CAPV_SOCKADDR => Class::Sockaddr,
        CAPV_NAMEI => Class::Namei,
        CAPV_CPUSET => Class::Cpuset,
        _ => class_of_errno(errno),
    }
}

fn class_of_errno(errno: i32) -> Class {
    match errno {
        libc::ENOTCAPABLE => Class::NotCapable,
        libc::ECAPMODE => Class::Syscall,
        _ => Class::Unknown,
    }
}

/// Reads the violation from the frame, or None when the signal is not a
/// capability violation (a breakpoint SIGTRAP, a SIGCAP sent by kill(2)).
///
/// # Safety
/// `info` and `uc` are the handler's arguments.
pub(crate) unsafe fn classify(kind: BackendKind, info: *const libc::siginfo_t, uc: *mut libc::c_void) -> Option<Trap> {
    let si = &*info;
    let raw = info as *const u8;
    let si_syscall = std::ptr::read_unaligned(raw.add(SI_SYSCALL_OFF) as *const i32) as i64;
    let m = &(*(uc as *const libc::ucontext_t)).uc_mcontext;
    // The fourth argument travels in %r10 (the syscall instruction takes
    // %rcx), but the kernel's fast_syscall entry stores it in the frame's
    // tf_rcx slot (sys/amd64/amd64/exception.S: `movq %r10,TF_RCX(%rsp)
    // /* arg 4 */`; cpu_fetch_syscall_args reads rdi, rsi, rdx, rcx, r8,
    // r9), and %r10 is not saved at all: mc_r10 is stale. So arg 4 is
    // mc_rcx. (Reading mc_r10 gave bsdtar's and touch's utimensat flags,
    // openat's mode and extattr_set_file's data pointer as garbage.)
    let regs = [m.mc_rdi, m.mc_rsi, m.mc_rdx, m.mc_rcx, m.mc_r8, m.mc_r9].map(|r| r as u64);
    let (syscall, indirect, class) = match kind {
        BackendKind::FreeBsdSigcap => {
            if si.si_code < CAPV_NOTCAPABLE || si.si_code > CAPV_CPUSET {
                return None;
            }
            let real = std::ptr::read_unaligned(raw.add(SI_REALSYSCALL_OFF) as *const i32) as i64;
            (
                real,
                si_syscall == SYS_SYSCALL || si_syscall == SYS___SYSCALL,
                class_of_code(si.si_code, si.si_errno),
            )
        }
        _ => {
            if si.si_code != TRAP_CAP {
                return None;
            }
            let indirect = si_syscall == SYS_SYSCALL || si_syscall == SYS___SYSCALL;
            let nr = if indirect { regs[0] as i64 } else { si_syscall };
            (nr, indirect, class_of_errno(si.si_errno))
        }
    };
    // An indirect call's arguments start one register later; the sixth
    // would be on the stack and is not needed by any brokered call.
    let args = if indirect {
        [regs[1], regs[2], regs[3], regs[4], regs[5], 0]
    } else {
        regs
    };
    Some(Trap {
        syscall,
        args,
        errno: si.si_errno,
        class,
        // Stock kernels leave si_addr empty for TRAP_CAP; the frame's pc is
        // the instruction after the syscall either way.
        ip: if si.si_addr.is_null() {
            m.mc_rip as u64
        } else {
            si.si_addr as u64
        },
        fp: m.mc_rbp as u64,
        sp: m.mc_rsp as u64,
    })
}

/// Makes the interrupted call return `result` (a value or `-errno`),
/// following the amd64 convention: errno in rax with the carry flag set.
///
/// # Safety
/// `uc` is the handler's context argument.
pub(crate) unsafe fn set_result(uc: *mut libc::c_void, result: i64) {
    let m = &mut (*(uc as *mut libc::ucontext_t)).uc_mcontext;
    if result < 0 {
        m.mc_rax = -result;
        m.mc_rflags |= PSL_C;
    } else {
        m.mc_rax = result;
        m.mc_rdx = 0;
        m.mc_rflags &= !PSL_C;
    }
}

/// The calling thread's kernel id.
pub(crate) fn gettid() -> i64 {
    let mut id: libc::c_long = 0;
    // SAFETY: thr_self writes one long.
    unsafe { libc::thr_self(&mut id) };
    id as i64
}

/// Violations the handler answers without the broker, from the emulated
/// working directory (crate::cwd), signal-safe:
/// - `fchdir(fd)` to the directory that already is the (emulated)
///   working directory is a no-op, so it succeeds: fts(3) (ls, find,
///   rm -r) opens "." and fchdir()s back to it. Only fstat, which
///   capability mode allows. Any other fchdir is the broker's (it names
///   the directory and the policy decides).
/// - `__getcwd(buf, size)`, which capability mode refuses (so getcwd(3)
///   fails there on a stock system): the emulated directory, copied into
///   the program's buffer by the kernel (EFAULT for a bad one), ERANGE
///   if it does not fit.
pub(crate) fn answer_locally(trap: &Trap) -> Option<i64> {
    match trap.syscall {
        SYS_FCHDIR => {
            let id = crate::sys::FileId::of(trap.args[0] as i32)?;
            let st = crate::sys::fstat(trap.args[0] as i32).ok()?;
            let same =
                (st.st_mode & libc::S_IFMT) == libc::S_IFDIR && crate::cwd::emulated_id() == Some((id.dev, id.ino));
            same.then_some(0)
        }
        SYS___GETCWD => {
            let mut dir = [0u8; crate::proto::PATH_MAX];
            let n = match crate::cwd::current(&mut dir) {
                Ok(n) => n,
                Err(e) => return Some(-(e as i64)),
            };
            let size = trap.args[1] as usize;
            if size == 0 {
                return Some(-(libc::EINVAL as i64));
            }
            if n + 1 > size {
                return Some(-(libc::ERANGE as i64));
            }
            dir[n] = 0;
            Some(match crate::sys::write_user(trap.args[0] as usize, &dir[..=n]) {
                Ok(()) => 0,
                Err(e) => -(e as i64),
            })
        }
        _ => None,
    }
}

/// Whether the broker may decide this violation: only namespace
/// violations ([`crate::caprights::should_broker`]). A call that failed
/// on a descriptor's own rights (the program's cap_rights_limit, or the
/// broker's limit on a descriptor it handed out) keeps its error.
/// Signal-safe: reads the path's first byte and `cap_rights_get`.
pub(crate) fn should_broker(kind: BackendKind, trap: &Trap, call: &crate::syscall::Call) -> bool {
    use crate::caprights::{needed_for, rights_of, should_broker, FdUse, Rights};
    use crate::proto::Op;
    // exec needs the violation signal blocked across it, which only
    // SIGCAP's kernel allows (a blocked SIGTRAP from a trap kills).
    if call.op == Op::Exec && kind != BackendKind::FreeBsdSigcap {
        return false;
    }
    let fd = if kind == BackendKind::FreeBsdSigtrap && trap.errno == libc::ENOTCAPABLE {
        let fd = match call.op {
            Op::Connect | Op::Bind | Op::Sendto | Op::Listen => Some(call.sock),
            _ if call.dirfd == libc::AT_FDCWD => None,
            _ => {
                let mut first = [0u8; 2];
                // Relative, or empty (AT_EMPTY_PATH: the descriptor
                // itself): the lookup starts at the descriptor.
                let absolute = match crate::sys::read_user_cstr(&mut first, call.path) {
                    Ok(n) => n > 0 && first[0] == b'/',
                    Err(libc::ENAMETOOLONG) => first[0] == b'/',
                    Err(_) => true,
                };
                (!absolute).then_some(call.dirfd)
            }
        };
        FdUse {
            uses_fd: fd.is_some(),
            held: fd.and_then(rights_of),
            needed: needed_for(call.op, call.flags),
        }
    } else {
        FdUse {
            uses_fd: false,
            held: None,
            needed: Rights::NONE,
        }
    };
    should_broker(kind, trap.class, trap.errno, fd)
}

/// clock_nanosleep(2) (FreeBSD's number).
const SYS_CLOCK_NANOSLEEP: i64 = 244;
/// nanosleep(2).
const SYS_NANOSLEEP: libc::c_int = 240;

/// Trapped calls that are no violation, answered as the kernel would,
/// without a record: `clock_nanosleep(2)`, which 15.1's capability mode
/// refuses (its syscalls.master entry lacks CAPENABLED, unlike
/// nanosleep's and clock_gettime's), although it reaches no global
/// namespace. Rust's `std::thread::sleep`, tokio's timers and libc's
/// `sleep(3)` use it, so without this every sleep in capability mode
/// fails (std panics).
pub(crate) fn transparent(trap: &super::Trap, _held: &[libc::c_int]) -> Option<i64> {
    (trap.syscall == SYS_CLOCK_NANOSLEEP && trap.errno == libc::ECAPMODE).then(|| clock_nanosleep(trap.args))
}

/// clock_nanosleep(clock, flags, rqtp, rmtp) with nanosleep(2), which
/// capability mode allows: an absolute time (TIMER_ABSTIME) becomes the
/// interval from now on the same clock (clock_gettime, allowed too). The
/// result is clock_nanosleep's: 0 or the error number itself, never -1
/// (the kernel returns it as a value, kern_posix_error). The wall clock
/// (CLOCK_REALTIME and its variants) behind an absolute sleep is read
/// once: a clock step during the sleep is not followed, as nanosleep
/// does not follow one. Clocks other than the real-time, monotonic and
/// uptime families (a CPU-time clock) keep the refusal.
/// Signal-safe: raw system calls, the program's memory read and written
/// with the checked copies.
fn clock_nanosleep(args: [u64; 6]) -> i64 {
    let clock = args[0] as libc::clockid_t;
    let (flags, rqtp, rmtp) = (args[1] as i32, args[2] as usize, args[3] as usize);
    let known = [
        libc::CLOCK_REALTIME,
        libc::CLOCK_REALTIME_PRECISE,
        libc::CLOCK_REALTIME_FAST,
        libc::CLOCK_MONOTONIC,
        libc::CLOCK_MONOTONIC_PRECISE,
        libc::CLOCK_MONOTONIC_FAST,
        libc::CLOCK_UPTIME,
        libc::CLOCK_UPTIME_PRECISE,
        libc::CLOCK_UPTIME_FAST,
    ];
    if !known.contains(&clock) {
        return -(libc::ECAPMODE as i64);
    }
    if flags & !libc::TIMER_ABSTIME != 0 {
        return libc::EINVAL as i64;
    }
    let mut b = [0u8; 16];
    if crate::sys::read_user(&mut b, rqtp).is_err() {
        return libc::EFAULT as i64;
    }
    let word = |i: usize| i64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    let (mut sec, mut nsec) = (word(0), word(1));
    if !(0..1_000_000_000).contains(&nsec) {
        return libc::EINVAL as i64;
    }
    let abs = flags & libc::TIMER_ABSTIME != 0;
    if abs {
        // SAFETY: a zeroed timespec for clock_gettime.
        let mut now: libc::timespec = unsafe { std::mem::zeroed() };
        // SAFETY: clock_gettime writes one timespec.
        if unsafe { libc::clock_gettime(clock, &mut now) } != 0 {
            return libc::EINVAL as i64;
        }
        sec -= now.tv_sec;
        nsec -= now.tv_nsec;
        if nsec < 0 {
            nsec += 1_000_000_000;
            sec -= 1;
        }
        if sec < 0 {
            return 0;
        }
    }
    let req = libc::timespec {
        tv_sec: sec as libc::time_t,
        tv_nsec: nsec as libc::c_long,
    };
    // SAFETY: a zeroed timespec for what remains.
    let mut rem: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: nanosleep reads req and writes rem, both on this stack; the
    // raw call, not libthr's wrapper (a cancellation point).
    let r = unsafe { libc::syscall(SYS_NANOSLEEP, &req, &mut rem) };
    if r == 0 {
        return 0;
    }
    let e = crate::sys::errno();
    if e == libc::EINTR && !abs && rmtp != 0 {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&(rem.tv_sec as i64).to_ne_bytes());
        out[8..].copy_from_slice(&(rem.tv_nsec as i64).to_ne_bytes());
        if crate::sys::write_user(rmtp, &out).is_err() {
            return libc::EFAULT as i64;
        }
    }
    e as i64
}
