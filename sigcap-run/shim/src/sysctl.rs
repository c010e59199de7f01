//! sysctl(3) and sysctlbyname(3) through the broker (FreeBSD).
//!
//! Capability mode refuses every sysctl node not marked CTLFLAG_CAPRD
//! with EPERM, and sends no signal: nothing traps, so the runtime never
//! sees these calls (tar's getvfsbyname reads `vfs.conflist`, ps
//! `kern.pid_max`, sort's sysconf `hw.availpages`). The shim wraps both
//! entry points of the C library: a read the kernel refused in
//! capability mode is asked of the broker ([`sigcap::Sandbox::broker_sysctl`]),
//! which decides by the policy's `[sysctl]` rules and records the call.
//! Writes, and every other outcome, are the kernel's. Calls that do not
//! go through these two symbols (a static program, a library's own
//! `__sysctl` system call) stay refused.
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::atomic::AtomicPtr;

type ByName = unsafe extern "C" fn(*const c_char, *mut c_void, *mut libc::size_t, *const c_void, libc::size_t) -> c_int;
type ByMib =
    unsafe extern "C" fn(*const c_int, c_uint, *mut c_void, *mut libc::size_t, *const c_void, libc::size_t) -> c_int;

static REAL_BYNAME: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static REAL_BYMIB: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

fn real(slot: &AtomicPtr<c_void>, name: &CStr) -> *mut c_void {
    match crate::next_cached(slot, name) {
        // Missing: the shim cannot stand in for it, and says so.
        p if p.is_null() => crate::next_symbol(name),
        p => p,
    }
}

/// The kernel's limit on a MIB's length (sys/sysctl.h).
const CTL_MAXNAME: usize = 24;

#[no_mangle]
pub unsafe extern "C" fn sysctlbyname(
    name: *const c_char,
    oldp: *mut c_void,
    oldlenp: *mut libc::size_t,
    newp: *const c_void,
    newlen: libc::size_t,
) -> c_int {
    let f: ByName = std::mem::transmute(real(&REAL_BYNAME, c"sysctlbyname"));
    let r = f(name, oldp, oldlenp, newp, newlen);
    if r == 0 || name.is_null() || !refused_read(newp, newlen) {
        return r;
    }
    match CStr::from_ptr(name).to_str() {
        Ok(n) => brokered(n, oldp, oldlenp).unwrap_or(r),
        Err(_) => r,
    }
}

#[no_mangle]
pub unsafe extern "C" fn sysctl(
    mib: *const c_int,
    miblen: c_uint,
    oldp: *mut c_void,
    oldlenp: *mut libc::size_t,
    newp: *const c_void,
    newlen: libc::size_t,
) -> c_int {
    let f: ByMib = std::mem::transmute(real(&REAL_BYMIB, c"sysctl"));
    let r = f(mib, miblen, oldp, oldlenp, newp, newlen);
    let n = miblen as usize;
    if r == 0 || mib.is_null() || n == 0 || n > CTL_MAXNAME - 2 || !refused_read(newp, newlen) {
        return r;
    }
    // The node's dotted name from sysctl.name (0.1), which capability
    // mode allows; numbers a node takes after its name come back as
    // components ("kern.proc.pid.1").
    let mut q = [0 as c_int; CTL_MAXNAME];
    q[1] = 1;
    q[2..2 + n].copy_from_slice(std::slice::from_raw_parts(mib, n));
    let mut buf = [0u8; 256];
    let mut len = buf.len();
    if f(
        q.as_ptr(),
        (n + 2) as c_uint,
        buf.as_mut_ptr().cast(),
        &mut len,
        std::ptr::null(),
        0,
    ) != 0
    {
        set_errno(libc::EPERM);
        return r;
    }
    match CStr::from_bytes_until_nul(&buf[..len.min(buf.len())]).map(|c| c.to_str()) {
        Ok(Ok(name)) => brokered(name, oldp, oldlenp).unwrap_or(r),
        _ => {
            set_errno(libc::EPERM);
            r
        }
    }
}

/// Whether the call that just failed was a read capability mode refused.
fn refused_read(newp: *const c_void, newlen: libc::size_t) -> bool {
    if errno() != libc::EPERM || !newp.is_null() || newlen != 0 {
        return false;
    }
    let mut mode: c_uint = 0;
    // SAFETY: cap_getmode writes one u_int.
    let in_capmode = unsafe { libc::cap_getmode(&mut mode) } == 0 && mode != 0;
    set_errno(libc::EPERM);
    in_capmode
}

/// Asks the broker; None (the kernel's EPERM stands) without a sandbox.
unsafe fn brokered(name: &str, oldp: *mut c_void, oldlenp: *mut libc::size_t) -> Option<c_int> {
    let sb = sigcap::Sandbox::current()?;
    if oldlenp.is_null() {
        // No size to report: nothing a read could return.
        return None;
    }
    let given = *oldlenp;
    let buf = if oldp.is_null() {
        None
    } else {
        // The broker's answer is received straight into it by the kernel
        // (a bad buffer is the program's EFAULT).
        Some(std::slice::from_raw_parts_mut(oldp.cast::<u8>(), given))
    };
    let reading = buf.is_some();
    match sb.broker_sysctl(name, buf) {
        Ok(size) => {
            *oldlenp = size;
            Some(0)
        }
        Err(e) => {
            let e = e.raw_os_error().unwrap_or(libc::EPERM);
            if e == libc::ENOMEM && reading {
                // sysctl(3): a short buffer holds what fitted.
                *oldlenp = given.min(sigcap::SYSCTL_OUT_MAX);
            }
            set_errno(e);
            Some(-1)
        }
    }
}

fn errno() -> c_int {
    // SAFETY: the thread's errno.
    unsafe { *libc::__error() }
}

fn set_errno(e: c_int) {
    // SAFETY: the thread's errno.
    unsafe { *libc::__error() = e };
}
