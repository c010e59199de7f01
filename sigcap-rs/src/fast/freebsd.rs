//! The fast path on FreeBSD with SIGCAP (the patched kernel): an allowed
//! open, stat, access or readlink by absolute path answered in the
//! handler by the `*at` call relative to the rule's root descriptor.
//!
//! Capability mode itself is the wall here: the root descriptors were
//! opened at `enter()` and limited with cap_rights_limit to what their
//! rule grants (less what any rule nested beneath withholds, exactly as
//! the broker limits the directories it hands out), and a lookup relative
//! to a descriptor in capability mode stays beneath it (the kernel's
//! strict-relative lookup; with patch 1 of the series `..` cannot leave
//! a mount root either). A descriptor opened beneath a root inherits the
//! root's rights. So the handler needs no filter exception and no marker:
//! the program could make these calls on the root descriptors itself,
//! and gets no more than its policy that way either.
//!
//! A lookup that leaves the root (an absolute or escaping symlink) or
//! needs a right the root lacks fails with ENOTCAPABLE. SIGCAP is blocked
//! around the call: the patched kernel then drops the signal instead of
//! raising it inside the handler, and the call falls back to the broker,
//! which decides and records as before. Only with SIGCAP: on the stock
//! kernel a blocked SIGTRAP from a trap kills the process, so there is
//! no fast path there (every allowed call goes to the broker).
use super::{Answer, Call, Decision, FastPath, Op, Violation, PATH_MAX};
use crate::decide;
use crate::policy::Policy;
use std::os::fd::{AsRawFd, RawFd};

const ENOTCAPABLE: i32 = crate::caprights::FREEBSD_ENOTCAPABLE;
const ECAPMODE: i32 = crate::caprights::FREEBSD_ECAPMODE;

/// SIGCAP blocked in this thread until dropped.
struct SigcapBlocked(libc::sigset_t);

impl SigcapBlocked {
    fn new() -> Self {
        // SAFETY: sigset operations on local sets; pthread_sigmask is
        // async-signal-safe.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, crate::sys::freebsd_abi::SIGCAP);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            SigcapBlocked(old)
        }
    }
}

impl Drop for SigcapBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in new().
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}

/// A call's own result, or None where the broker must answer: the
/// lookup left the root or the root lacks a right (capability mode's
/// errors), or a bad pointer (the broker's record of it).
fn own(r: libc::c_long) -> Option<i64> {
    if r >= 0 {
        return Some(r as i64);
    }
    match crate::sys::errno() {
        ENOTCAPABLE | ECAPMODE | libc::EFAULT => None,
        e => Some(-(e as i64)),
    }
}

pub(super) fn answer(
    fp: &FastPath,
    policy: &Policy,
    call: &Call,
    v: &mut Violation,
    head: &super::Head,
) -> Option<Answer> {
    if !matches!(call.op, Op::Open | Op::Stat | Op::Access | Op::Readlink) || head.addr != call.path {
        return None;
    }
    let (mut path, mut rel) = ([0u8; PATH_MAX], [0u8; PATH_MAX + 1]);
    let m = super::lookup(policy, call, v, head, &mut path, &mut rel)?;
    let root = fp.roots.get(m.rule)?;
    // A single-file rule's root is its parent, limited to no rights (it
    // would reach the file's siblings): the broker answers.
    if root.name.is_some() {
        return None;
    }
    let base: RawFd = root.fd.as_raw_fd();
    if !root.id.is(base) {
        return None;
    }
    let rel = rel.as_ptr().cast::<libc::c_char>();
    let _blocked = SigcapBlocked::new();
    // SAFETY (each call): `rel` is NUL-terminated on our stack; the
    // program's buffers are checked by the kernel (EFAULT goes to the
    // broker).
    let result = match call.op {
        Op::Open => {
            let mut flags = decide::check_open_flags(call.flags).ok()?;
            if call.flags & libc::O_CLOEXEC == 0 {
                flags &= !libc::O_CLOEXEC;
            }
            loop {
                let r = unsafe { libc::openat(base, rel, flags, call.mode as libc::c_uint) };
                // A FIFO waiting for its other end, interrupted: waited
                // for again, as SA_RESTART would.
                if r >= 0 || crate::sys::errno() != libc::EINTR {
                    break own(r as libc::c_long)?;
                }
            }
        }
        Op::Stat => {
            let flags = call.flags & libc::AT_SYMLINK_NOFOLLOW;
            own(unsafe { libc::fstatat(base, rel, call.out as *mut libc::stat, flags) } as libc::c_long)?
        }
        Op::Access => {
            let flags = call.flags & (libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW);
            own(unsafe { libc::faccessat(base, rel, call.mode as libc::c_int, flags) } as libc::c_long)?
        }
        Op::Readlink => {
            let cap = call.out_len.min(crate::proto::OUT_MAX);
            own(unsafe { libc::readlinkat(base, rel, call.out as *mut libc::c_char, cap) } as libc::c_long)?
        }
        _ => return None,
    };
    Some(Answer {
        decision: Decision::Allowed { rule: m.rule as u32 },
        result,
    })
}
