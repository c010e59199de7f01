//! Shared pieces of the in-guest programs: the FreeBSD ABI of the SIGCAP
//! series (see /work/fbsd/ABI.md and kernel-patches/15.1), raw bindings the
//! `libc` crate lacks, and the result protocol
//! (`SIGCAP-TEST <suite> <case> pass|fail|skip [reason]`).
#![allow(non_camel_case_types)]
use std::ffi::{c_int, c_void, CString};
use std::io::Write;

pub const SIGCAP: c_int = 34;
pub const CAPV_NOTCAPABLE: c_int = 1;
pub const CAPV_INCREASE: c_int = 2;
pub const CAPV_SYSCALL: c_int = 3;
pub const CAPV_SIGNAL: c_int = 4;
pub const CAPV_PROTO: c_int = 5;
pub const CAPV_SOCKADDR: c_int = 6;
pub const CAPV_NAMEI: c_int = 7;
pub const CAPV_CPUSET: c_int = 8;
pub const TRAP_CAP: c_int = 4;
pub const PROC_TRAPCAP_CTL: c_int = 9;
pub const PROC_TRAPCAP_STATUS: c_int = 10;
pub const PROC_TRAPCAP_CTL_ENABLE: c_int = 1;
pub const PROC_TRAPCAP_CTL_DISABLE: c_int = 2;
pub const PROC_TRAPCAP_CTL_ENABLE_SIGCAP: c_int = 3;
pub const P_PID: c_int = 0;
pub const ENOTCAPABLE: c_int = 93;
pub const ECAPMODE: c_int = 94;

pub const SYS_SYSCALL: c_int = 0;
pub const SYS_WRITE: c_int = 4;
pub const SYS_CHDIR: c_int = 12;
pub const SYS_KILL: c_int = 37;
pub const SYS_SOCKET: c_int = 97;
pub const SYS_SENDTO: c_int = 133;
pub const SYS___SYSCALL: c_int = 198;
pub const SYS_CPUSET_SETAFFINITY: c_int = 488;
pub const SYS_OPENAT: c_int = 499;
pub const SYS_CAP_RIGHTS_LIMIT: c_int = 533;

pub const fn capright(idx: u32, bit: u64) -> u64 {
    (1u64 << (57 + idx)) | bit
}
pub const CAP_READ: u64 = capright(0, 0x1);
pub const CAP_WRITE: u64 = capright(0, 0x2);

#[repr(C)]
pub struct cap_rights_t {
    pub cr_rights: [u64; 2],
}

extern "C" {
    pub fn cap_enter() -> c_int;
    pub fn __cap_rights_init(version: c_int, rights: *mut cap_rights_t, ...) -> *mut cap_rights_t;
    pub fn cap_rights_limit(fd: c_int, rights: *const cap_rights_t) -> c_int;
    pub fn procctl(idtype: c_int, id: libc::id_t, cmd: c_int, data: *mut c_void) -> c_int;
    pub fn sysctlbyname(
        name: *const libc::c_char,
        oldp: *mut c_void,
        oldlenp: *mut usize,
        newp: *const c_void,
        newlen: usize,
    ) -> c_int;
    pub fn cpuset_setaffinity(level: c_int, which: c_int, id: libc::id_t, size: usize, mask: *const c_void) -> c_int;
    pub fn syscall(n: c_int, ...) -> c_int;
    pub fn __syscall(n: i64, ...) -> i64;
    pub fn reboot(howto: c_int) -> c_int;
    pub fn nmount(iov: *mut libc::iovec, niov: u32, flags: c_int) -> c_int;
}

/// A rights set holding exactly `rights` (cap_rights_init(3)).
pub fn rights(r: &[u64]) -> cap_rights_t {
    let mut c = cap_rights_t { cr_rights: [0; 2] };
    unsafe {
        match r {
            [a] => __cap_rights_init(0, &mut c, *a, 0u64),
            [a, b] => __cap_rights_init(0, &mut c, *a, *b, 0u64),
            _ => unreachable!(),
        };
    }
    c
}

pub fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

pub fn cstr(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// Print one protocol line and flush (the console is the only channel).
pub fn report(suite: &str, case: &str, result: &str, reason: &str) {
    let mut o = std::io::stdout().lock();
    let reason = reason.replace('\n', " | ");
    if reason.is_empty() {
        let _ = writeln!(o, "SIGCAP-TEST {suite} {case} {result}");
    } else {
        let _ = writeln!(o, "SIGCAP-TEST {suite} {case} {result} {reason}");
    }
    let _ = o.flush();
}

/// `std::process::Command` that starts the program with fork and exec.
///
/// Without a `pre_exec` hook std starts programs with `posix_spawn(3)`, and
/// in our statically linked guest binaries that child dies of SIGSEGV (as
/// pid 1 the spawn never returns). A no-op hook makes std take its fork and
/// exec path, which works.
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut c = std::process::Command::new(program);
    // SAFETY: the hook does nothing, so it is trivially async-signal-safe.
    unsafe {
        c.pre_exec(|| Ok(()));
    }
    c
}
