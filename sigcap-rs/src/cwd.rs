//! The program's working directory, for relative paths (issue #11).
//!
//! A call trapped with `AT_FDCWD` and a relative path is made absolute
//! in the handler, by the thread that made it, before anything decides
//! on it: the broker and the fast path only ever see absolute paths, and
//! the policy decides on the directory the program is in at the time of
//! the call, not the one it entered in.
//!
//! Where the directory comes from:
//! - Linux: the kernel's, with the `getcwd` system call (allowed by the
//!   filter). chdir(2) is brokered and the handler fchdir()s to the
//!   descriptor the broker returns; fchdir(2) is a plain allowed call.
//!   Why getcwd and not a descriptor of ".": opening "." would itself be
//!   trapped, and the broker decides on paths anyway (for a descriptor
//!   it would read the path back from /proc).
//! - FreeBSD: capability mode refuses chdir and fchdir, so the working
//!   directory is emulated: an absolute path in [`EMULATED`], set at
//!   `enter()` and by the chdir and fchdir the handler answers.
//!
//! Everything here is async-signal-safe: stack buffers, atomics, raw
//! system calls, no lock.
#[cfg(any(target_os = "freebsd", test))]
use crate::proto::PATH_MAX;
use crate::record::Violation;
use crate::syscall::Call;
use std::os::fd::RawFd;
#[cfg(any(target_os = "freebsd", test))]
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};

/// Makes `buf[..n]`, the relative path of a call made with `AT_FDCWD`,
/// absolute against the program's current directory, in place, and
/// records that directory in `v`. Returns the new length. ENAMETOOLONG
/// when the directory and the path together do not fit `buf` (less one
/// byte: PATH_MAX counts the NUL), never a truncated path; ENOENT when
/// the directory has no name (deleted, or outside the process's root:
/// Linux's getcwd then says "(unreachable)...").
pub(crate) fn absolute(buf: &mut [u8], n: usize, v: &mut Violation) -> Result<usize, i32> {
    let (d, _) = current_into(&mut buf[n..])?;
    v.set_cwd(&buf[n..n + d]);
    // dir after path -> dir before path, without a second buffer.
    buf[..n + d].rotate_left(n);
    join(buf, d, n)
}

/// `buf[..d]` is an absolute directory, `buf[d..d + n]` a relative path:
/// joins them in place, with the path's leading `.` and `..` folded into
/// the directory (a real path, so its lexical parent is its real parent,
/// as the kernel's lookup of `..` from it would find: `../x` from a
/// directory under one rule can match a rule on its sibling). A `..`
/// after a name is left for resolution beneath the rule's root, where it
/// cannot escape. Returns the length; ENAMETOOLONG if the result (with
/// a NUL) would not fit `buf`.
pub(crate) fn join(buf: &mut [u8], d: usize, n: usize) -> Result<usize, i32> {
    let end = d + n;
    let mut dlen = d;
    let mut i = d;
    loop {
        while i < end && buf[i] == b'/' {
            i += 1;
        }
        let c_end = buf[i..end].iter().position(|&b| b == b'/').map_or(end, |p| i + p);
        match &buf[i..c_end] {
            b"." => {}
            b".." => {
                // The parent: cut after the last '/', keeping "/".
                dlen = buf[..dlen].iter().rposition(|&b| b == b'/').unwrap_or(0).max(1);
            }
            _ => break,
        }
        i = c_end;
    }
    if i == end {
        return Ok(dlen);
    }
    let sep = usize::from(dlen > 1 || buf[0] != b'/');
    let total = dlen + sep + (end - i);
    if total >= buf.len() {
        return Err(libc::ENAMETOOLONG);
    }
    buf.copy_within(i..end, dlen + sep);
    if sep == 1 {
        buf[dlen] = b'/';
    }
    Ok(total)
}

/// The program's current directory into `out` (no NUL), and its
/// identity where known (FreeBSD's emulated one).
#[cfg(target_os = "linux")]
fn current_into(out: &mut [u8]) -> Result<(usize, Option<(u64, u64)>), i32> {
    // SAFETY: getcwd writes at most out.len() bytes into out.
    let r = unsafe { libc::syscall(libc::SYS_getcwd, out.as_mut_ptr(), out.len()) };
    if r < 0 {
        return Err(match crate::sys::errno() {
            libc::ERANGE => libc::ENAMETOOLONG,
            e => e,
        });
    }
    // r counts the NUL.
    let len = (r as usize).saturating_sub(1);
    if len == 0 || out[0] != b'/' {
        return Err(libc::ENOENT);
    }
    Ok((len, None))
}

#[cfg(target_os = "freebsd")]
fn current_into(out: &mut [u8]) -> Result<(usize, Option<(u64, u64)>), i32> {
    EMULATED.get(out)
}

#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
fn current_into(_out: &mut [u8]) -> Result<(usize, Option<(u64, u64)>), i32> {
    Err(libc::ENOSYS)
}

/// Moves the program into the directory the broker allowed for a chdir
/// (or FreeBSD fchdir) `call`: `fd` is the broker's descriptor of it (-1
/// if none), `real` its real path. Linux: fchdir(2) to the descriptor,
/// which the kernel then keeps (and getcwd reports); FreeBSD, where
/// capability mode refuses fchdir: the emulated directory becomes `real`.
/// The descriptor is closed either way.
#[cfg(target_os = "linux")]
pub(crate) fn change(fd: RawFd, _real: &[u8], _call: &Call) -> Result<(), i32> {
    if fd < 0 {
        return Err(libc::EIO);
    }
    // SAFETY: fchdir and close of the descriptor the broker handed us.
    let r = unsafe { libc::syscall(libc::SYS_fchdir, fd) };
    let e = crate::sys::errno();
    crate::sys::close(fd);
    if r < 0 {
        Err(e)
    } else {
        Ok(())
    }
}

#[cfg(target_os = "freebsd")]
pub(crate) fn change(fd: RawFd, real: &[u8], call: &Call) -> Result<(), i32> {
    crate::sys::close(fd);
    // fchdir's descriptor says which directory this is, for a later
    // fchdir to it (fts(3) comes back to "." that way).
    let id = if call.path == 0 {
        crate::sys::FileId::of(call.dirfd).map(|f| (f.dev, f.ino))
    } else {
        None
    };
    EMULATED.set(real, id)
}

#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
pub(crate) fn change(fd: RawFd, _real: &[u8], _call: &Call) -> Result<(), i32> {
    crate::sys::close(fd);
    Err(libc::ENOSYS)
}

/// The program's current directory as the sandbox sees it, into `out`
/// (no NUL): Linux's own, FreeBSD's emulated one.
pub(crate) fn current(out: &mut [u8]) -> Result<usize, i32> {
    current_into(out).map(|(n, _)| n)
}

/// FreeBSD: the emulated working directory. Capability mode keeps the
/// real one where `enter()` found it; this is where the program is as
/// far as the sandbox is concerned.
#[cfg(target_os = "freebsd")]
pub(crate) static EMULATED: CwdCell = CwdCell::new();

/// The identity (device, inode) of the emulated working directory when
/// known, to answer fchdir() to it without the broker.
#[cfg(target_os = "freebsd")]
pub(crate) fn emulated_id() -> Option<(u64, u64)> {
    let mut b = [0u8; PATH_MAX];
    EMULATED.get(&mut b).ok().and_then(|(_, id)| id)
}

/// Slots of a [`CwdCell`]: a writer takes one that is not current, so
/// readers of the current one are not disturbed by one chdir; four leave
/// room for chdirs of several threads at once.
#[cfg(any(target_os = "freebsd", test))]
const SLOTS: usize = 4;
#[cfg(any(target_os = "freebsd", test))]
const WORDS: usize = PATH_MAX / 8;

#[cfg(any(target_os = "freebsd", test))]
struct Slot {
    /// Even: stable; odd: being written (a seqlock).
    seq: AtomicU64,
    len: AtomicUsize,
    dev: AtomicU64,
    /// u64::MAX with `dev`: identity not known.
    ino: AtomicU64,
    words: [AtomicU64; WORDS],
}

/// An absolute path readable and writable from a signal handler without
/// a lock: slots, each a seqlock of atomic words, and the index of the
/// current one. A reader copies the current slot and retries if a writer
/// touched it meanwhile; a writer claims another slot, fills it and
/// makes it current. Writers never wait for each other (two chdirs at
/// once: the last to publish wins, as one of the two orders of a real
/// kernel would have it, except that a relative chdir computed from the
/// older directory can be lost).
#[cfg(any(target_os = "freebsd", test))]
pub(crate) struct CwdCell {
    slots: [Slot; SLOTS],
    /// Index of the current slot; SLOTS: none yet.
    current: AtomicUsize,
    next: AtomicUsize,
}

#[cfg(any(target_os = "freebsd", test))]
impl CwdCell {
    pub(crate) const fn new() -> CwdCell {
        CwdCell {
            slots: [const {
                Slot {
                    seq: AtomicU64::new(0),
                    len: AtomicUsize::new(0),
                    dev: AtomicU64::new(u64::MAX),
                    ino: AtomicU64::new(u64::MAX),
                    words: [const { AtomicU64::new(0) }; WORDS],
                }
            }; SLOTS],
            current: AtomicUsize::new(SLOTS),
            next: AtomicUsize::new(0),
        }
    }

    /// Makes `path` (absolute) the current directory, with its identity
    /// if known. EBUSY if no slot could be claimed (every other slot
    /// being written at once), ENAMETOOLONG if it does not fit.
    pub(crate) fn set(&self, path: &[u8], id: Option<(u64, u64)>) -> Result<(), i32> {
        if path.len() >= PATH_MAX {
            return Err(libc::ENAMETOOLONG);
        }
        if path.first() != Some(&b'/') {
            return Err(libc::EINVAL);
        }
        let (i, s) = (0..SLOTS * 8)
            .find_map(|_| {
                let i = self.next.fetch_add(1, Ordering::Relaxed) % SLOTS;
                if i == self.current.load(Ordering::Acquire) {
                    return None;
                }
                let seq = &self.slots[i].seq;
                let s = seq.load(Ordering::Relaxed);
                (s & 1 == 0
                    && seq
                        .compare_exchange(s, s + 1, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok())
                .then_some((i, s))
            })
            .ok_or(libc::EBUSY)?;
        let slot = &self.slots[i];
        // The odd sequence is visible before any of the new words.
        fence(Ordering::Release);
        slot.len.store(path.len(), Ordering::Relaxed);
        let (dev, ino) = id.unwrap_or((u64::MAX, u64::MAX));
        slot.dev.store(dev, Ordering::Relaxed);
        slot.ino.store(ino, Ordering::Relaxed);
        for (w, chunk) in path.chunks(8).enumerate() {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            slot.words[w].store(u64::from_ne_bytes(b), Ordering::Relaxed);
        }
        slot.seq.store(s + 2, Ordering::Release);
        self.current.store(i, Ordering::Release);
        Ok(())
    }

    /// Copies the current directory into `out` (no NUL) and returns its
    /// length and identity. ENOENT before the first `set`, ENAMETOOLONG
    /// if `out` cannot hold it with a NUL, EAGAIN if writers kept
    /// changing it under 64 reads.
    pub(crate) fn get(&self, out: &mut [u8]) -> Result<(usize, Option<(u64, u64)>), i32> {
        for _ in 0..64 {
            let i = self.current.load(Ordering::Acquire);
            let Some(slot) = self.slots.get(i) else {
                return Err(libc::ENOENT);
            };
            let s1 = slot.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let len = slot.len.load(Ordering::Relaxed).min(PATH_MAX);
            let dev = slot.dev.load(Ordering::Relaxed);
            let ino = slot.ino.load(Ordering::Relaxed);
            let fits = len < out.len();
            if fits {
                for w in 0..len.div_ceil(8) {
                    let b = slot.words[w].load(Ordering::Relaxed).to_ne_bytes();
                    let k = (len - w * 8).min(8);
                    out[w * 8..w * 8 + k].copy_from_slice(&b[..k]);
                }
            }
            fence(Ordering::Acquire);
            if slot.seq.load(Ordering::Relaxed) != s1 {
                continue;
            }
            if !fits {
                return Err(libc::ENAMETOOLONG);
            }
            let id = (dev != u64::MAX || ino != u64::MAX).then_some((dev, ino));
            return Ok((len, id));
        }
        Err(libc::EAGAIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(dir: &str, rel: &str, cap: usize) -> Result<String, i32> {
        let mut buf = vec![0u8; cap];
        buf[..dir.len()].copy_from_slice(dir.as_bytes());
        buf[dir.len()..dir.len() + rel.len()].copy_from_slice(rel.as_bytes());
        let n = join(&mut buf, dir.len(), rel.len())?;
        Ok(String::from_utf8(buf[..n].to_vec()).unwrap())
    }

    #[test]
    fn joins_fold_only_the_leading_dots() {
        let ok = |d: &str, r: &str| j(d, r, 64).unwrap();
        assert_eq!(ok("/w/a", "f"), "/w/a/f");
        assert_eq!(ok("/w/a", "x/y/"), "/w/a/x/y/");
        assert_eq!(ok("/w/a", "../b.tar"), "/w/b.tar");
        assert_eq!(ok("/w/a", "./x/../y"), "/w/a/x/../y");
        assert_eq!(ok("/w/a", ".//.././/c"), "/w/c");
        assert_eq!(ok("/w/a", "."), "/w/a");
        assert_eq!(ok("/w/a", ".."), "/w");
        assert_eq!(ok("/w/a", "../../../../etc"), "/etc");
        assert_eq!(ok("/", "f"), "/f");
        assert_eq!(ok("/", ".."), "/");
        assert_eq!(ok("/w", "../x"), "/x");
    }

    #[test]
    fn a_join_that_does_not_fit_is_an_error_not_a_cut() {
        // "/w/a" + "/" + "abcd" = 9 bytes, plus the NUL.
        assert_eq!(j("/w/a", "abcd", 10).unwrap(), "/w/a/abcd");
        assert_eq!(j("/w/a", "abcd", 9), Err(libc::ENAMETOOLONG));
        // Folding makes room: "/w/abcd" is 7 bytes.
        assert_eq!(j("/w/a", "../abcd", 11).unwrap(), "/w/abcd");
    }

    #[test]
    fn absolute_uses_the_current_directory_of_the_process() {
        let here = std::env::current_dir().unwrap();
        let mut buf = [0u8; PATH_MAX];
        buf[..3].copy_from_slice(b"a/b");
        let mut v = crate::record::Violation::new(
            crate::record::BackendKind::LinuxSeccomp,
            0,
            [0; 6],
            1,
            crate::record::Class::Namei,
            0,
        );
        let n = absolute(&mut buf, 3, &mut v).unwrap();
        assert_eq!(
            std::path::Path::new(std::str::from_utf8(&buf[..n]).unwrap()),
            here.join("a/b")
        );
        assert_eq!(v.cwd().unwrap(), here.to_str().unwrap());
    }

    #[test]
    fn the_cell_keeps_the_last_directory_set() {
        let c = CwdCell::new();
        let mut out = [0u8; PATH_MAX];
        assert_eq!(c.get(&mut out), Err(libc::ENOENT));
        c.set(b"/tmp/a", Some((1, 2))).unwrap();
        assert_eq!(c.get(&mut out), Ok((6, Some((1, 2)))));
        assert_eq!(&out[..6], b"/tmp/a");
        let long = [b'/'; PATH_MAX - 1];
        c.set(&long, None).unwrap();
        assert_eq!(c.get(&mut out), Ok((PATH_MAX - 1, None)));
        assert_eq!(c.get(&mut out[..PATH_MAX - 1]), Err(libc::ENAMETOOLONG));
        assert_eq!(c.set(&[b'/'; PATH_MAX], None), Err(libc::ENAMETOOLONG));
        assert_eq!(c.set(b"rel", None), Err(libc::EINVAL));
    }

    #[test]
    fn readers_never_see_a_torn_directory() {
        static C: CwdCell = CwdCell::new();
        // Two directories of different lengths and bytes: a torn read
        // would mix them.
        let a = [b"/".as_slice(), &[b'a'; 300]].concat();
        let b = [b"/".as_slice(), &[b'b'; 1000]].concat();
        C.set(&a, None).unwrap();
        std::thread::scope(|s| {
            for t in 0..2 {
                let (a, b) = (a.clone(), b.clone());
                s.spawn(move || {
                    for k in 0..20_000 {
                        let p = if (k + t) % 2 == 0 { &a } else { &b };
                        let _ = C.set(p, None);
                    }
                });
            }
            for _ in 0..2 {
                let (a, b) = (a.clone(), b.clone());
                s.spawn(move || {
                    let mut out = [0u8; PATH_MAX];
                    for _ in 0..20_000 {
                        if let Ok((n, _)) = C.get(&mut out) {
                            assert!(out[..n] == a[..] || out[..n] == b[..], "torn read of {n} bytes");
                        }
                    }
                });
            }
        });
    }
}
