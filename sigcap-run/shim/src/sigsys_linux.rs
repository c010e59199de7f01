//! The sandbox's SIGSYS handler stays in place once the program entered
//! (Linux). Every call the filter traps is answered by it; a program
//! that sets SIGSYS to its default would die at its next trapped call.
//! CPython's subprocess does exactly that in its child, resetting every
//! handler before it execs (its child then dies on `cwd=`'s chdir).
//! `sigaction` and `signal` therefore leave SIGSYS alone after enter and
//! report the handler in place; a program with a SIGSYS handler of its
//! own (seccomp users) cannot install it inside the sandbox.
//!
//! Nor can SIGSYS be blocked: the kernel delivers a trap's SIGSYS even
//! when it is blocked, but resets the handler to the default first, and
//! the process dies. Programs block every signal around a fork (CPython
//! before its subprocess child, which then calls chdir) or in worker
//! threads; `sigprocmask` and `pthread_sigmask` take SIGSYS out of the
//! set they block. The C library's own are resolved when the shim is
//! loaded, since a forked child of a threaded program must not take the
//! loader's lock in dlsym.
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

type SigactionFn = unsafe extern "C" fn(c_int, *const libc::sigaction, *mut libc::sigaction) -> c_int;
type SignalFn = unsafe extern "C" fn(c_int, libc::sighandler_t) -> libc::sighandler_t;
type MaskFn = unsafe extern "C" fn(c_int, *const libc::sigset_t, *mut libc::sigset_t) -> c_int;

static REAL_SIGACTION: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static REAL_SIGNAL: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static REAL_SIGPROCMASK: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static REAL_PTHREAD_SIGMASK: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
/// Set once the sandbox's handler is installed (the runtime installs it
/// through this same `sigaction`).
static KEPT: AtomicBool = AtomicBool::new(false);

/// After enter: from now on SIGSYS stays.
pub(crate) fn init() {
    KEPT.store(true, Ordering::Release);
}

extern "C" fn resolve_all() {
    crate::next_cached(&REAL_SIGACTION, c"sigaction");
    crate::next_cached(&REAL_SIGNAL, c"signal");
    crate::next_cached(&REAL_SIGPROCMASK, c"sigprocmask");
    crate::next_cached(&REAL_PTHREAD_SIGMASK, c"pthread_sigmask");
}

/// Run when the shim is loaded, before any code of the program.
#[used]
#[link_section = ".init_array"]
static RESOLVE_AT_LOAD: extern "C" fn() = resolve_all;

fn kept(sig: c_int) -> bool {
    sig == libc::SIGSYS && KEPT.load(Ordering::Acquire)
}

/// sigaction(2): SIGSYS is only read once the program entered.
#[no_mangle]
pub unsafe extern "C" fn sigaction(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    let real = crate::next_cached(&REAL_SIGACTION, c"sigaction");
    if real.is_null() {
        *libc::__errno_location() = libc::ENOSYS;
        return -1;
    }
    let real: SigactionFn = std::mem::transmute(real);
    if kept(sig) {
        return real(sig, std::ptr::null(), old);
    }
    real(sig, act, old)
}

/// signal(3): the same for SIGSYS; the handler in place is returned.
#[no_mangle]
pub unsafe extern "C" fn signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    if kept(sig) {
        let mut old: libc::sigaction = std::mem::zeroed();
        return match sigaction(sig, std::ptr::null(), &mut old) {
            0 => old.sa_sigaction,
            _ => libc::SIG_ERR,
        };
    }
    let real = crate::next_cached(&REAL_SIGNAL, c"signal");
    if real.is_null() {
        *libc::__errno_location() = libc::ENOSYS;
        return libc::SIG_ERR;
    }
    let real: SignalFn = std::mem::transmute(real);
    real(sig, handler)
}

/// `set` without SIGSYS once the program entered, when `how` blocks.
unsafe fn without_sigsys(how: c_int, set: *const libc::sigset_t, copy: &mut libc::sigset_t) -> *const libc::sigset_t {
    if set.is_null() || how == libc::SIG_UNBLOCK || !kept(libc::SIGSYS) || libc::sigismember(set, libc::SIGSYS) != 1 {
        return set;
    }
    *copy = *set;
    libc::sigdelset(copy, libc::SIGSYS);
    copy
}

/// sigprocmask(2): SIGSYS is never blocked once the program entered.
#[no_mangle]
pub unsafe extern "C" fn sigprocmask(how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t) -> c_int {
    let real = crate::next_cached(&REAL_SIGPROCMASK, c"sigprocmask");
    if real.is_null() {
        *libc::__errno_location() = libc::ENOSYS;
        return -1;
    }
    let real: MaskFn = std::mem::transmute(real);
    let mut copy: libc::sigset_t = std::mem::zeroed();
    real(how, without_sigsys(how, set, &mut copy), old)
}

/// pthread_sigmask(3): the same for one thread.
#[no_mangle]
pub unsafe extern "C" fn pthread_sigmask(how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t) -> c_int {
    let real = crate::next_cached(&REAL_PTHREAD_SIGMASK, c"pthread_sigmask");
    if real.is_null() {
        return libc::ENOSYS;
    }
    let real: MaskFn = std::mem::transmute(real);
    let mut copy: libc::sigset_t = std::mem::zeroed();
    real(how, without_sigsys(how, set, &mut copy), old)
}
