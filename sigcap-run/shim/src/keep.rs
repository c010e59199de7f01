//! The descriptors the sandbox lives on, kept open through the program's
//! bulk closes: the runtime's broker socket and log copy
//! (`Sandbox::held_descriptors`) and, on Linux, the exec channel.
//!
//! Programs close every descriptor they did not open themselves:
//! libcasper's services before they serve (syslogd's config and log
//! files are opened in one), daemons, CPython's subprocess before an
//! exec. Without this the process is cut off its broker and its log:
//! every violation then fails with its original error, unrecorded. The
//! runtime puts its descriptors at 512 or above, out of the way of a
//! loop of close() up to the program's own highest; closefrom(3) and
//! close_range(2) are answered here, around them. On Linux the
//! runtime's filter keeps its own numbers in place whatever the program
//! calls (`backend::keep_held`), so this is what keeps the exec channel;
//! on FreeBSD a close() or dup2() aimed at one of those numbers on
//! purpose is not kept (the runtime checks a descriptor is still its own
//! before each use, so nothing is sent or written elsewhere).
//!
//! Raw system calls only: these run in vfork children too, where nothing
//! may be resolved or locked.
use std::ffi::c_int;
use std::sync::atomic::{AtomicI32, Ordering};

/// The runtime's held descriptors, -1 for none (set once, at enter).
static HELD: [AtomicI32; 2] = [AtomicI32::new(-1), AtomicI32::new(-1)];

/// FreeBSD's close_range(2) (syscalls.master: 575; not in the libc crate).
#[cfg(target_os = "freebsd")]
const SYS_CLOSE_RANGE: c_int = 575;
#[cfg(target_os = "linux")]
const SYS_CLOSE_RANGE: libc::c_long = libc::SYS_close_range;

/// Records the runtime's descriptors (after enter or attach).
pub(crate) fn init(fds: &[c_int]) {
    for (slot, &fd) in HELD.iter().zip(fds) {
        slot.store(fd, Ordering::Release);
    }
}

/// The numbers to go around, ascending, -1 padded at the end.
fn kept() -> [c_int; 3] {
    #[cfg(target_os = "linux")]
    let channel = crate::exec_linux::CHANNEL.load(Ordering::Acquire);
    #[cfg(not(target_os = "linux"))]
    let channel = -1;
    let mut k = [
        HELD[0].load(Ordering::Acquire),
        HELD[1].load(Ordering::Acquire),
        channel,
    ];
    // Three elements: sort by hand, no allocation, negatives last.
    let key = |x: c_int| if x < 0 { c_int::MAX } else { x };
    for i in 0..k.len() {
        for j in i + 1..k.len() {
            if key(k[j]) < key(k[i]) {
                k.swap(i, j);
            }
        }
    }
    k
}

/// close_range(2) of `first..=last`, around the kept descriptors
/// (`sigcap::ranges_around`: one system call per range between them).
#[no_mangle]
pub unsafe extern "C" fn close_range(first: libc::c_uint, last: libc::c_uint, flags: c_int) -> c_int {
    if first > last {
        // The kernel's EINVAL.
        return libc::syscall(SYS_CLOSE_RANGE, first, last, flags) as c_int;
    }
    for (a, b) in sigcap::ranges_around(first, last, &kept()) {
        let r = libc::syscall(SYS_CLOSE_RANGE, a, b, flags) as c_int;
        if r != 0 {
            return r;
        }
    }
    0
}

/// closefrom(3), around the kept descriptors.
#[no_mangle]
pub unsafe extern "C" fn closefrom(low: c_int) {
    close_range(low.max(0) as libc::c_uint, libc::c_uint::MAX, 0);
}
