//! The fast path (issue #10 item 2): an allowed file call answered
//! in the handler, beneath the rule's root descriptor, without a broker
//! round trip. This file: Linux (openat2 under Landlock); FreeBSD with
//! SIGCAP, capability mode and rights-limited roots: [`freebsd`].
//!
//! What it answers: open/openat/creat (reading, and writing or creating
//! under roots that grant it), the stat family (stat, lstat, newfstatat,
//! statx), access/faccessat/faccessat2 and readlink/readlinkat, when the
//! path is absolute and the decision the broker would make
//! ([`crate::decide`], the same code) allows it.
//!
//! What it never answers, leaving it to the broker exactly as before:
//! relative paths (the broker's working-directory and directory-descriptor
//! semantics), every refusal of the decision (no rule, access, `..` beneath
//! a root holding a narrower rule), unknown open flags and O_TMPFILE,
//! paths beneath a single-file rule other than the file itself, a lookup
//! the kernel reports leaving the root (EXDEV: `..` above it, which the
//! broker refuses, or a symlink out of it, which the broker follows by
//! deciding its target), anything Landlock refuses (EACCES: the
//! broker is not under Landlock and answers as it always did), a bad
//! buffer or path pointer (EFAULT), mkdir, unlink, rename, and every
//! socket call. Falling back is always safe: the broker decides again.
//!
//! How it resolves: `openat2(root, rel, RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS)`, plus RESOLVE_NO_SYMLINKS beneath a root that
//! holds a narrower rule, exactly the broker's `open_beneath`; `root` is
//! the rule's own descriptor, opened at `enter()` and kept at its number
//! by the filter (`backend::keep_held`: the program can neither close
//! it nor put another directory there). The stat
//! family and access then act on the O_PATH descriptor: `newfstatat` and
//! `statx` with a NULL path, which the filter lets through for everyone,
//! and `faccessat2`/`readlinkat` on an empty path, which it lets through
//! with the marker only (backend/linux.rs, `allow_fast_path`).
//!
//! Async-signal-safe like the rest of the handler: raw system calls,
//! stack buffers (about 8 KiB), no allocation, no lock.
use crate::client::Answer;
use crate::policy::Policy;
use crate::proto::{Op, PATH_MAX};
use crate::record::{Decision, Violation};
use crate::syscall::Call;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// A rule's root as the sandboxed process holds it.
#[derive(Debug)]
pub(crate) struct FastRoot {
    /// A directory rule's root, or a single-file rule's parent (O_PATH).
    pub fd: OwnedFd,
    /// What `fd` referred to at `enter()` (FreeBSD checks it before each
    /// use; on Linux the filter keeps the number in place).
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    pub id: crate::sys::FileId,
    /// A single-file rule: the file's name in `fd`.
    pub name: Option<CString>,
}

/// The fast path's state, in the runtime (None: turned off).
#[derive(Debug)]
pub(crate) struct FastPath {
    /// The value the filter looks for in the sixth argument (Linux).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub marker: u64,
    /// One per file rule, in the policy's order.
    pub roots: Vec<FastRoot>,
}

impl FastPath {
    /// The root descriptors' numbers.
    pub(crate) fn root_fds(&self) -> Vec<RawFd> {
        self.roots.iter().map(|r| r.fd.as_raw_fd()).collect()
    }
}

/// The first bytes of the path of a call the fast path may answer: the
/// handler reads them with the stack, in the same copy
/// (`sys::read_user_upto_with`), and the fast path reads the rest, if
/// the NUL was not among them. Small, so that a brokered call's stack
/// does not grow by a path buffer.
pub(crate) struct Head {
    /// The program's path pointer (0: no call the fast path answers).
    pub addr: usize,
    /// `buf[..got]` holds the bytes at `addr` (None: not read).
    pub got: Option<usize>,
    pub buf: [u8; HEAD_MAX],
}

/// Bytes of the path read with the stack: most paths fit.
const HEAD_MAX: usize = 512;

impl Head {
    /// `fast_on`: the runtime has a fast path.
    pub(crate) fn new(fast_on: bool, call: &Option<Call>) -> Head {
        let addr = match call {
            Some(c) if fast_on && FAST_OPS.contains(&c.op) => c.path,
            _ => 0,
        };
        Head {
            addr,
            got: None,
            buf: [0; HEAD_MAX],
        }
    }
}

/// The path of `call` into `path` (its length, without the NUL): the
/// bytes `head` read with the stack, then the rest up to the NUL. None:
/// not readable (the broker records the EFAULT).
fn read_path(head: &Head, call: &Call, pid: libc::pid_t, path: &mut [u8; PATH_MAX]) -> Option<usize> {
    let done = head.got.unwrap_or(0).min(HEAD_MAX);
    path[..done].copy_from_slice(&head.buf[..done]);
    Some(match path[..done].iter().position(|&b| b == 0) {
        Some(n) => n,
        None => done + crate::sys::read_user_cstr_in(pid, &mut path[done..], call.path.wrapping_add(done)).ok()?,
    })
}

/// How both fast paths start: the program's path, into `v`'s detail as
/// spelled, made absolute if it is relative to the working directory
/// (cwd.rs; relative to a descriptor: the broker's), and the broker's
/// decision on it, with the path relative to the rule's root in `rel`,
/// NUL-terminated. None: not the fast path's to answer.
fn lookup(
    policy: &Policy,
    call: &Call,
    v: &mut Violation,
    head: &Head,
    path: &mut [u8; PATH_MAX],
    rel: &mut [u8; PATH_MAX + 1],
) -> Option<crate::decide::FsMatch> {
    let mut n = read_path(head, call, v.pid, path)?;
    v.set_detail(&path[..n]);
    if path[..n].first() != Some(&b'/') {
        if call.dirfd != libc::AT_FDCWD || n == 0 {
            return None;
        }
        n = crate::cwd::absolute(path, n, v).ok()?;
    }
    let m = crate::decide::decide_fs(policy, call.op, call.flags, &path[..n], &mut rel[..PATH_MAX]).ok()?;
    rel[m.rel_len] = 0;
    Some(m)
}

/// The calls the fast path answers.
const FAST_OPS: [Op; 5] = [Op::Open, Op::Stat, Op::Statx, Op::Access, Op::Readlink];

/// Answers `call` in the process if it is an allowed file call the fast
/// path handles; None sends it to the broker. `fast` and `policy` are the
/// runtime's (taken apart so that this module need not know the runtime,
/// which holds a [`FastPath`]).
pub(crate) fn answer(
    fast: Option<&FastPath>,
    policy: &Policy,
    call: &Call,
    v: &mut Violation,
    head: &Head,
) -> Option<Answer> {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    let a = linux::answer(fast?, policy, call, v, head)?;
    #[cfg(target_os = "freebsd")]
    let a = freebsd::answer(fast?, policy, call, v, head)?;
    #[cfg(not(any(all(target_os = "linux", target_arch = "x86_64"), target_os = "freebsd")))]
    let a = {
        let _ = (fast, policy, call, head);
        return None;
    };
    v.fast_path = true;
    Some(a)
}

#[cfg(target_os = "freebsd")]
mod freebsd;

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod linux {
    use super::*;
    use crate::backend::FAST_EMPTY_PATH;
    use crate::decide;

    /// A raw system call's result: the value or the errno.
    fn ret(r: libc::c_long) -> Result<i64, i32> {
        if r < 0 {
            Err(crate::sys::errno())
        } else {
            Ok(r)
        }
    }

    /// The broker's `open_beneath`, in the process: `rel` (NUL-terminated)
    /// beneath `base`, never leaving it, never through /proc magic links,
    /// and with `strict` through no symlink at all.
    fn open_beneath(fp: &FastPath, base: RawFd, rel: &[u8], flags: i32, mode: u32, strict: bool) -> Result<RawFd, i32> {
        let how = crate::sys::open_how_beneath(flags, mode, strict);
        loop {
            let r = crate::sys::openat2(base, rel.as_ptr().cast(), &how, fp.marker as usize);
            // A FIFO's open waiting for its other end, interrupted by a
            // signal: waited for again, as SA_RESTART would.
            if r != Err(libc::EINTR) {
                return r;
            }
        }
    }

    /// What the broker's decision and resolution would have left to the
    /// call itself: its value, or its own errno as the result. None: an
    /// error the fast path does not answer (the broker does).
    fn own(r: Result<i64, i32>) -> Option<i64> {
        match r {
            Ok(v) => Some(v),
            // An escape beneath the root: the broker records it as one.
            // Landlock's refusal: the broker, outside Landlock, answers as
            // it always did. A bad pointer: the broker's record of it.
            Err(libc::EXDEV | libc::EACCES | libc::EFAULT) => None,
            Err(e) => Some(-(e as i64)),
        }
    }

    pub(super) fn answer(
        fp: &FastPath,
        policy: &Policy,
        call: &Call,
        v: &mut Violation,
        head: &Head,
    ) -> Option<Answer> {
        if !FAST_OPS.contains(&call.op) || head.addr != call.path {
            return None;
        }
        let (mut path, mut rel) = ([0u8; PATH_MAX], [0u8; PATH_MAX + 1]);
        let m = lookup(policy, call, v, head, &mut path, &mut rel)?;
        let root = fp.roots.get(m.rule)?;
        let rel: &[u8] = match &root.name {
            None => &rel[..=m.rel_len],
            // A single-file rule: the file itself, through its parent;
            // beneath it (ENOTDIR) is the broker's to say.
            Some(name) if &rel[..m.rel_len] == b"." => name.as_bytes_with_nul(),
            Some(_) => return None,
        };
        // The number is still the root opened at enter(): the filter
        // keeps the program from closing or replacing it
        // (backend::keep_held).
        let base = root.fd.as_raw_fd();
        let nofollow = if call.flags & libc::AT_SYMLINK_NOFOLLOW != 0 {
            libc::O_NOFOLLOW
        } else {
            0
        };
        let opath = |extra: i32| open_beneath(fp, base, rel, libc::O_PATH | libc::O_CLOEXEC | extra, 0, m.strict);
        let result = match call.op {
            Op::Open => {
                if call.flags & libc::O_TMPFILE == libc::O_TMPFILE {
                    return None;
                }
                let mut flags = decide::check_open_flags(call.flags).ok()?;
                if call.flags & libc::O_CLOEXEC == 0 {
                    // The broker's descriptor has FD_CLOEXEC cleared as
                    // the program asked; this one is opened without it.
                    flags &= !libc::O_CLOEXEC;
                }
                own(open_beneath(fp, base, rel, flags, call.mode, m.strict).map(i64::from))?
            }
            Op::Stat | Op::Statx => match opath(nofollow) {
                Err(e) => own(Err(e))?,
                Ok(fd) => {
                    // SAFETY: NULL-path fstatat/statx of our descriptor
                    // into the program's buffer; the kernel checks it.
                    let r = ret(unsafe {
                        if call.op == Op::Statx {
                            let sync = call.flags & libc::AT_STATX_SYNC_TYPE;
                            libc::syscall(
                                libc::SYS_statx,
                                fd,
                                0usize,
                                libc::AT_EMPTY_PATH | sync,
                                call.aux as u32,
                                call.out,
                            )
                        } else {
                            libc::syscall(libc::SYS_newfstatat, fd, 0usize, call.out, libc::AT_EMPTY_PATH)
                        }
                    });
                    crate::sys::close(fd);
                    // EFAULT here is a bad buffer or a kernel before
                    // 6.11 (no NULL path): the broker's to answer.
                    own(r)?
                }
            },
            Op::Access => match opath(nofollow) {
                Err(e) => own(Err(e))?,
                Ok(fd) => {
                    let flags = libc::AT_EMPTY_PATH | (call.flags & libc::AT_EACCESS);
                    // SAFETY: faccessat2 on our descriptor with the
                    // filter's empty path and marker.
                    let r = ret(unsafe {
                        libc::syscall(
                            libc::SYS_faccessat2,
                            fd,
                            FAST_EMPTY_PATH.as_ptr(),
                            call.mode as libc::c_int,
                            flags,
                            0usize,
                            fp.marker,
                        )
                    });
                    crate::sys::close(fd);
                    own(r)?
                }
            },
            Op::Readlink => {
                // The broker reads the link through its parent and needs
                // a final name: not the root itself, not "..".
                let name = rel[..rel.len() - 1].rsplit(|&b| b == b'/').next().unwrap_or(b"");
                if matches!(name, b"" | b"." | b"..") {
                    return None;
                }
                match opath(libc::O_NOFOLLOW) {
                    Err(e) => own(Err(e))?,
                    Ok(fd) => {
                        let cap = call.out_len.min(crate::proto::OUT_MAX);
                        // SAFETY: readlinkat of our O_PATH descriptor into
                        // the program's buffer; the kernel checks it.
                        let r = ret(unsafe {
                            libc::syscall(
                                libc::SYS_readlinkat,
                                fd,
                                FAST_EMPTY_PATH.as_ptr(),
                                call.out,
                                cap,
                                0usize,
                                fp.marker,
                            )
                        });
                        crate::sys::close(fd);
                        // The empty-path form says ENOENT for a file that
                        // is no symlink; readlinkat by name, EINVAL.
                        own(r.map_err(|e| if e == libc::ENOENT { libc::EINVAL } else { e }))?
                    }
                }
            }
            _ => return None,
        };
        Some(Answer {
            decision: Decision::Allowed { rule: m.rule as u32 },
            result,
        })
    }
}
