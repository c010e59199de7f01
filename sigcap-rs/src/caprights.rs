//! Capsicum rights as data, and which violations are the broker's to
//! decide (issue #10, FreeBSD).
//!
//! Pure: the rights are bit masks laid out as FreeBSD's `cap_rights_t`
//! (`<sys/capsicum.h>`, version 00: two 64-bit words, bit 57 + index
//! marking the word), so the mapping from a rule's modes to rights and the
//! brokering decision are unit-tested on any host. Only [`limit`] touches
//! the system, and only on FreeBSD.
//!
//! - [`for_access`]: the rights a descriptor handed out under a rule gets.
//!   A read rule never yields a descriptor that can write, create,
//!   unlink, link, rename, chmod, chown, set times, flags, ACLs or
//!   extended attributes, nor look up such operations beneath a directory.
//! - [`should_broker`]: only namespace violations go to the broker; a
//!   descriptor the program (or the broker) limited stays limited.
// The header's rights are listed whole; some are named only by tests.
#![allow(dead_code)]
use crate::policy::Access;
use crate::record::{BackendKind, Class};

/// FreeBSD's ENOTCAPABLE and ECAPMODE (libc has them only there).
pub(crate) const FREEBSD_ENOTCAPABLE: i32 = 93;
pub(crate) const FREEBSD_ECAPMODE: i32 = 94;

/// A `cap_rights_t`, version 00: `[index 0 word, index 1 word]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Rights(pub [u64; 2]);

const fn right(idx: u32, bit: u64) -> u64 {
    (1u64 << (57 + idx)) | bit
}

// Index 0 (values of <sys/capsicum.h>, FreeBSD 15.1).
pub(crate) const CAP_READ: u64 = right(0, 0x1);
pub(crate) const CAP_WRITE: u64 = right(0, 0x2);
pub(crate) const CAP_SEEK_TELL: u64 = right(0, 0x4);
pub(crate) const CAP_SEEK: u64 = CAP_SEEK_TELL | 0x8;
pub(crate) const CAP_MMAP: u64 = right(0, 0x10);
pub(crate) const CAP_MMAP_R: u64 = CAP_MMAP | CAP_SEEK | CAP_READ;
pub(crate) const CAP_MMAP_W: u64 = CAP_MMAP | CAP_SEEK | CAP_WRITE;
pub(crate) const CAP_MMAP_X: u64 = CAP_MMAP | CAP_SEEK | 0x20;
pub(crate) const CAP_CREATE: u64 = right(0, 0x40);
pub(crate) const CAP_FEXECVE: u64 = right(0, 0x80);
pub(crate) const CAP_FSYNC: u64 = right(0, 0x100);
pub(crate) const CAP_FTRUNCATE: u64 = right(0, 0x200);
pub(crate) const CAP_LOOKUP: u64 = right(0, 0x400);
pub(crate) const CAP_FCHDIR: u64 = right(0, 0x800);
pub(crate) const CAP_FCHFLAGS: u64 = right(0, 0x1000);
pub(crate) const CAP_FCHMOD: u64 = right(0, 0x2000);
pub(crate) const CAP_FCHOWN: u64 = right(0, 0x4000);
pub(crate) const CAP_FCNTL: u64 = right(0, 0x8000);
pub(crate) const CAP_FLOCK: u64 = right(0, 0x10000);
pub(crate) const CAP_FPATHCONF: u64 = right(0, 0x20000);
pub(crate) const CAP_FSTAT: u64 = right(0, 0x80000);
pub(crate) const CAP_FSTATAT: u64 = CAP_FSTAT | CAP_LOOKUP;
pub(crate) const CAP_FSTATFS: u64 = right(0, 0x100000);
pub(crate) const CAP_FUTIMES: u64 = right(0, 0x200000);
pub(crate) const CAP_LINKAT_TARGET: u64 = CAP_LOOKUP | 0x400000;
pub(crate) const CAP_MKDIRAT: u64 = CAP_LOOKUP | 0x800000;
pub(crate) const CAP_MKFIFOAT: u64 = CAP_LOOKUP | 0x1000000;
pub(crate) const CAP_MKNODAT: u64 = CAP_LOOKUP | 0x2000000;
pub(crate) const CAP_RENAMEAT_SOURCE: u64 = CAP_LOOKUP | 0x4000000;
pub(crate) const CAP_SYMLINKAT: u64 = CAP_LOOKUP | 0x8000000;
pub(crate) const CAP_UNLINKAT: u64 = CAP_LOOKUP | 0x10000000;
pub(crate) const CAP_BIND: u64 = right(0, 0x40000000);
pub(crate) const CAP_CONNECT: u64 = right(0, 0x80000000);
pub(crate) const CAP_LISTEN: u64 = right(0, 0x800000000);
pub(crate) const CAP_BINDAT: u64 = CAP_LOOKUP | 0x8000000000;
pub(crate) const CAP_CONNECTAT: u64 = CAP_LOOKUP | 0x10000000000;
pub(crate) const CAP_LINKAT_SOURCE: u64 = CAP_LOOKUP | 0x20000000000;
pub(crate) const CAP_RENAMEAT_TARGET: u64 = CAP_LOOKUP | 0x40000000000;
pub(crate) const CAP_FCHROOT: u64 = right(0, 0x80000000000);
// Index 1.
pub(crate) const CAP_MAC_GET: u64 = right(1, 0x1);
pub(crate) const CAP_MAC_SET: u64 = right(1, 0x2);
pub(crate) const CAP_EVENT: u64 = right(1, 0x20);
pub(crate) const CAP_IOCTL: u64 = right(1, 0x80);
pub(crate) const CAP_EXTATTR_DELETE: u64 = right(1, 0x1000);
pub(crate) const CAP_EXTATTR_GET: u64 = right(1, 0x2000);
pub(crate) const CAP_EXTATTR_LIST: u64 = right(1, 0x4000);
pub(crate) const CAP_EXTATTR_SET: u64 = right(1, 0x8000);
pub(crate) const CAP_ACL_CHECK: u64 = right(1, 0x10000);
pub(crate) const CAP_ACL_DELETE: u64 = right(1, 0x20000);
pub(crate) const CAP_ACL_GET: u64 = right(1, 0x40000);
pub(crate) const CAP_ACL_SET: u64 = right(1, 0x80000);

/// The lookup-derived rights of index 0 (each includes CAP_LOOKUP).
const LOOKUP_BITS: u64 = (CAP_LOOKUP
    | CAP_LINKAT_TARGET
    | CAP_MKDIRAT
    | CAP_MKFIFOAT
    | CAP_MKNODAT
    | CAP_RENAMEAT_SOURCE
    | CAP_SYMLINKAT
    | CAP_UNLINKAT
    | CAP_BINDAT
    | CAP_CONNECTAT
    | CAP_LINKAT_SOURCE
    | CAP_RENAMEAT_TARGET)
    & !right(0, 0);

/// fcntl(2) commands a handed-out descriptor keeps (CAP_FCNTL_GETFL,
/// CAP_FCNTL_SETFL: `1 << F_GETFL`, `1 << F_SETFL`); not F_SETOWN.
pub(crate) const FCNTLS: u32 = (1 << 3) | (1 << 4);

impl Rights {
    /// No rights at all.
    pub(crate) const NONE: Rights = Rights([right(0, 0), right(1, 0)]);

    /// The union of `rights` (constants of either index).
    pub(crate) const fn of(rights: &[u64]) -> Rights {
        let mut r = Rights::NONE;
        let mut i = 0;
        while i < rights.len() {
            let v = rights[i];
            if v & (1 << 58) != 0 {
                r.0[1] |= v;
            } else {
                r.0[0] |= v;
            }
            i += 1;
        }
        r
    }

    pub(crate) const fn union(self, o: Rights) -> Rights {
        Rights([self.0[0] | o.0[0], self.0[1] | o.0[1]])
    }

    /// Whether every right of `need` is held.
    pub(crate) fn contains(self, need: Rights) -> bool {
        self.0[0] & need.0[0] == need.0[0] && self.0[1] & need.0[1] == need.0[1]
    }

    /// Whether `right` (one constant) is held.
    pub(crate) fn has(self, right: u64) -> bool {
        self.contains(Rights::of(&[right]))
    }

    /// The same rights without lookups beneath the descriptor: no
    /// CAP_LOOKUP and none of the `*at` rights built on it (CAP_FSTATAT
    /// leaves CAP_FSTAT).
    pub(crate) fn without_lookup(self) -> Rights {
        Rights([self.0[0] & !LOOKUP_BITS, self.0[1]])
    }
}

/// What every handed-out descriptor may do, whatever the rule: read
/// metadata, poll, the two benign fcntls and ioctls.
const BASE: &[u64] = &[
    CAP_FSTAT,
    CAP_FSTATFS,
    CAP_FPATHCONF,
    CAP_EVENT,
    CAP_FCNTL,
    CAP_IOCTL,
    CAP_SEEK,
];

/// `read`: read, map (also for execution: the dynamic linker maps
/// libraries it read), list, look up beneath a directory, stat, access,
/// readlink, lock, metadata, ACLs and extended attributes read.
const READ: &[u64] = &[
    CAP_READ,
    CAP_MMAP_R,
    CAP_MMAP_X,
    CAP_LOOKUP,
    CAP_FSTATAT,
    CAP_FLOCK,
    CAP_EXTATTR_GET,
    CAP_EXTATTR_LIST,
    CAP_ACL_GET,
    CAP_ACL_CHECK,
    CAP_MAC_GET,
];

/// `write`: write, truncate, sync, unlink and rename away beneath a
/// directory, change mode, owner and times, set and delete extended
/// attributes. The owner because the broker changes it by path under
/// `write` (chown, lchown, fchownat): fchown on a descriptor of the same
/// file may do no less.
const WRITE: &[u64] = &[
    CAP_WRITE,
    CAP_MMAP_W,
    CAP_FTRUNCATE,
    CAP_FSYNC,
    CAP_LOOKUP,
    CAP_UNLINKAT,
    CAP_RENAMEAT_SOURCE,
    CAP_FCHMOD,
    CAP_FCHOWN,
    CAP_FUTIMES,
    CAP_EXTATTR_SET,
    CAP_EXTATTR_DELETE,
    CAP_FLOCK,
];

/// `create`: O_CREAT, mkdir and rename into, beneath a directory.
const CREATE: &[u64] = &[CAP_CREATE, CAP_LOOKUP, CAP_MKDIRAT, CAP_RENAMEAT_TARGET];

/// The rights a descriptor opened under a rule granting `a` gets.
///
/// Never granted, whatever the modes: CAP_FEXECVE, CAP_FCHDIR (capability
/// mode refuses fchdir anyway), CAP_FCHFLAGS, CAP_FCHROOT,
/// ACL and MAC changes, hard links (CAP_LINKAT_*: Landlock's REFER is not
/// granted on Linux either), symlinks, FIFOs and device nodes
/// (CAP_SYMLINKAT, CAP_MKFIFOAT, CAP_MKNODAT: a relative `*at` call of
/// these from a handed-out directory fails with ENOTCAPABLE and is not
/// brokered; by path, or from AT_FDCWD, capability mode fails it with
/// ECAPMODE and the broker decides), and Unix-socket binds and
/// connects beneath a directory (CAP_BINDAT, CAP_CONNECTAT: the net rules
/// govern those).
pub(crate) fn for_access(a: Access) -> Rights {
    let mut r = Rights::of(BASE);
    if a.contains(Access::READ) {
        r = r.union(Rights::of(READ));
    }
    if a.contains(Access::WRITE) {
        r = r.union(Rights::of(WRITE));
    }
    if a.contains(Access::CREATE) {
        r = r.union(Rights::of(CREATE));
    }
    r
}

/// What the kernel checks on the descriptor argument of a trapped call
/// (the directory of a `*at` lookup, or the socket), to tell "this
/// descriptor lacks the right" from "this lookup left its directory" on
/// the stock kernel, which reports both as ENOTCAPABLE.
pub(crate) fn needed_for(op: crate::proto::Op, flags: i32) -> Rights {
    use crate::proto::Op;
    const O_ACCMODE: i32 = 3;
    const O_WRONLY: i32 = 1;
    const O_RDWR: i32 = 2;
    // FreeBSD's values (the test host may be Linux).
    const O_CREAT: i32 = 0x0200;
    const O_TRUNC: i32 = 0x0400;
    const O_PATH: i32 = 0x0040_0000;
    const AT_EMPTY_PATH: i32 = 0x4000;
    // No allocation: this runs in the signal handler.
    match op {
        Op::Open if flags & O_PATH != 0 => Rights::of(&[CAP_LOOKUP]),
        Op::Open => {
            let mut r = Rights::of(&[CAP_LOOKUP]);
            r = r.union(match flags & O_ACCMODE {
                O_WRONLY => Rights::of(&[CAP_WRITE]),
                O_RDWR => Rights::of(&[CAP_READ, CAP_WRITE]),
                _ => Rights::of(&[CAP_READ]),
            });
            if flags & O_CREAT != 0 {
                r = r.union(Rights::of(&[CAP_CREATE]));
            }
            if flags & O_TRUNC != 0 {
                r = r.union(Rights::of(&[CAP_FTRUNCATE]));
            }
            r
        }
        Op::Stat | Op::Statx if flags & AT_EMPTY_PATH != 0 => Rights::of(&[CAP_FSTAT]),
        Op::Stat | Op::Statx | Op::Access | Op::Readlink => Rights::of(&[CAP_FSTATAT]),
        // fchdir (chdir is by path, never from a descriptor).
        Op::Chdir => Rights::of(&[CAP_FCHDIR]),
        // execve is by path only (fexecve is capability mode's own).
        Op::Exec => Rights::of(&[CAP_LOOKUP, CAP_FEXECVE]),
        Op::Mkdir => Rights::of(&[CAP_MKDIRAT]),
        Op::Unlink => Rights::of(&[CAP_UNLINKAT]),
        Op::Rename => Rights::of(&[CAP_RENAMEAT_SOURCE]),
        Op::Symlink => Rights::of(&[CAP_SYMLINKAT]),
        Op::Link => Rights::of(&[CAP_LINKAT_SOURCE]),
        Op::Chmod => Rights::of(&[CAP_LOOKUP, CAP_FCHMOD]),
        Op::Chown => Rights::of(&[CAP_LOOKUP, CAP_FCHOWN]),
        Op::Utimes => Rights::of(&[CAP_LOOKUP, CAP_FUTIMES]),
        Op::Truncate => Rights::of(&[CAP_LOOKUP, CAP_FTRUNCATE]),
        Op::GetXattr => Rights::of(&[CAP_LOOKUP, CAP_EXTATTR_GET]),
        Op::SetXattr => Rights::of(&[CAP_LOOKUP, CAP_EXTATTR_SET]),
        Op::ListXattr => Rights::of(&[CAP_LOOKUP, CAP_EXTATTR_LIST]),
        Op::RemoveXattr => Rights::of(&[CAP_LOOKUP, CAP_EXTATTR_DELETE]),
        Op::Pathconf => Rights::of(&[CAP_LOOKUP, CAP_FPATHCONF]),
        Op::Statfs => Rights::of(&[CAP_LOOKUP, CAP_FSTATFS]),
        Op::Mknod => Rights::of(&[CAP_MKFIFOAT]),
        Op::Connect => Rights::of(&[CAP_CONNECT]),
        Op::Bind => Rights::of(&[CAP_BIND]),
        Op::Sendto => Rights::of(&[CAP_WRITE, CAP_CONNECT]),
        Op::Listen => Rights::of(&[CAP_LISTEN]),
        // No descriptor: a sysctl is decided by its name alone.
        Op::Sysctl => Rights::NONE,
    }
}

/// What the handler knows of a trapped call's descriptor argument, for
/// [`should_broker`] on the stock kernel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FdUse {
    /// The call acts on or looks up relative to a descriptor (a `*at`
    /// call with a directory descriptor, not AT_FDCWD, and a relative
    /// path; a socket call). False for an absolute path or AT_FDCWD.
    pub uses_fd: bool,
    /// That descriptor's rights (`cap_rights_get`), None if unknown.
    pub held: Option<Rights>,
    /// The rights the call needs on it ([`needed_for`]).
    pub needed: Rights,
}

/// Whether a trapped violation is the broker's to decide.
///
/// Only namespace violations are: a lookup or call capability mode
/// forbids (absolute paths, AT_FDCWD, `..` above the directory, open,
/// connect and bind by address). A descriptor that lacks a right (the
/// program's own `cap_rights_limit`, or the limit the broker put on a
/// descriptor it handed out) keeps lacking it: the call fails with its
/// error and the record says so, instead of the broker re-running it by
/// path under the policy.
///
/// - SIGCAP (patched kernel): by class. CAPV_NAMEI, CAPV_SYSCALL and
///   CAPV_SOCKADDR are brokered; CAPV_NOTCAPABLE, CAPV_INCREASE and the
///   rest are not.
/// - SIGTRAP/TRAP_CAP (stock kernel): no class, so a heuristic. ECAPMODE
///   is always a namespace violation. ENOTCAPABLE comes both from a
///   descriptor's rights and from a lookup that left its directory (`..`,
///   an absolute symlink); it is brokered when the call uses no
///   descriptor (an absolute path), or when the descriptor holds every
///   right the call needs (so the lookup must have failed). When the
///   descriptor lacks one, or its rights cannot be read, it is the
///   program's own limit and left failing, except for a descriptor with
///   no lookup right at all (what the broker hands out for a mount root
///   on a stock kernel), whose lookups go to the broker by path if its
///   other rights cover the call. Limits: a program's own removal of
///   CAP_LOOKUP alone is therefore not kept (the broker still decides on
///   the policy and limits what it returns); a call that both
///   lacks a right and escapes is left failing (the stricter answer), and
///   only the first descriptor of a call (the source of a rename) is
///   examined.
/// - Linux: every trapped call is a namespace call of the emulation.
pub(crate) fn should_broker(kind: BackendKind, class: Class, errno: i32, fd: FdUse) -> bool {
    match kind {
        BackendKind::FreeBsdSigcap => matches!(class, Class::Namei | Class::Syscall | Class::Sockaddr),
        BackendKind::FreeBsdSigtrap => {
            if errno != FREEBSD_ENOTCAPABLE {
                return true;
            }
            if !fd.uses_fd {
                return true;
            }
            // A directory without any lookup right is what the broker
            // hands out for a mount root on a stock kernel: a lookup
            // beneath it is asked of the broker, by path, under the
            // policy (its other rights must still cover the call).
            fd.held.is_some_and(|h| {
                h.contains(fd.needed) || (!h.has(CAP_LOOKUP) && h.contains(fd.needed.without_lookup()))
            })
        }
        BackendKind::LinuxSeccomp => true,
    }
}

/// The ioctls a handed-out descriptor keeps: those that change nothing
/// but the descriptor (FIOCLEX, FIONCLEX, FIONBIO, FIONREAD) or read what
/// it is (TIOCGETA, which isatty asks; TIOCGWINSZ; FIODTYPE), a superset
/// of what libcapsicum's `caph_limit_stream` keeps, so that a
/// Capsicumized program limiting a descriptor it got from the broker
/// (echo and hexdump on their standard streams) does not fail as asking
/// for more. With write, also MTIOCTOP, which dd keeps on its output (a
/// tape operation: writing, on a tape device; nothing elsewhere).
#[cfg(target_os = "freebsd")]
fn ioctls_for(rights: Rights) -> ([libc::c_ulong; 8], usize) {
    let mut cmds: [libc::c_ulong; 8] = [
        libc::FIOCLEX,
        libc::FIONCLEX,
        libc::FIONBIO,
        libc::FIONREAD,
        libc::TIOCGETA,
        libc::TIOCGWINSZ,
        libc::FIODTYPE,
        0x8008_6d01, // MTIOCTOP, _IOW('m', 1, struct mtop): not in libc
    ];
    let n = if rights.has(CAP_WRITE) { 8 } else { 7 };
    cmds[n..].fill(0);
    (cmds, n)
}

/// Limits `fd` to `rights`, its fcntls to [`FCNTLS`] and its ioctls to
/// [`ioctls_for`]'s. An error means the descriptor must not be handed out.
#[cfg(target_os = "freebsd")]
pub(crate) fn limit(fd: std::os::fd::RawFd, rights: Rights) -> Result<(), i32> {
    let (ioctls, n) = ioctls_for(rights);
    let err = || std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
    // SAFETY: Rights is laid out as cap_rights_t (two u64, repr(C)).
    if unsafe { libc::cap_rights_limit(fd, (&rights as *const Rights).cast()) } != 0 {
        return Err(err());
    }
    // SAFETY: plain calls on a descriptor we hold.
    if unsafe { libc::cap_fcntls_limit(fd, FCNTLS) } != 0 {
        return Err(err());
    }
    // SAFETY: an array of at least n commands.
    if unsafe { libc::cap_ioctls_limit(fd, ioctls.as_ptr(), n) } != 0 {
        return Err(err());
    }
    Ok(())
}

/// Takes every right from `fd`: it can then only be closed. (No fcntl or
/// ioctl limits after that: the kernel refuses to set them on a
/// descriptor without CAP_FCNTL and CAP_IOCTL, and they would allow
/// nothing anyway.)
#[cfg(target_os = "freebsd")]
pub(crate) fn limit_to_nothing(fd: std::os::fd::RawFd) -> Result<(), i32> {
    // SAFETY: Rights is laid out as cap_rights_t (two u64, repr(C)).
    if unsafe { libc::cap_rights_limit(fd, (&Rights::NONE as *const Rights).cast()) } != 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
    }
    Ok(())
}

/// The rights `fd` holds (`cap_rights_get`), async-signal-safe.
#[cfg(target_os = "freebsd")]
pub(crate) fn rights_of(fd: std::os::fd::RawFd) -> Option<Rights> {
    let mut r = Rights::NONE;
    // SAFETY: Rights is laid out as cap_rights_t; version 0.
    (unsafe { libc::__cap_rights_get(0, fd, (&mut r as *mut Rights).cast()) } == 0).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Op;

    #[cfg(target_os = "freebsd")]
    #[test]
    fn handed_out_ioctls_cover_caph_limit_stream_and_tapes_only_with_write() {
        let (r, n) = ioctls_for(for_access(Access::READ));
        let read = &r[..n];
        for c in [libc::TIOCGETA, libc::TIOCGWINSZ, libc::FIODTYPE] {
            assert!(read.contains(&c), "{c:#x}");
        }
        assert!(!read.contains(&0x8008_6d01));
        let (w, n) = ioctls_for(for_access(Access::READ | Access::WRITE));
        assert!(w[..n].contains(&0x8008_6d01));
    }

    const NEVER: &[u64] = &[
        CAP_FEXECVE,
        CAP_FCHDIR,
        CAP_FCHFLAGS,
        CAP_FCHROOT,
        CAP_LINKAT_SOURCE,
        CAP_LINKAT_TARGET,
        CAP_SYMLINKAT,
        CAP_MKFIFOAT,
        CAP_MKNODAT,
        CAP_BINDAT,
        CAP_CONNECTAT,
        CAP_ACL_SET,
        CAP_ACL_DELETE,
        CAP_MAC_SET,
    ];

    #[test]
    fn constants_match_the_header() {
        // Spot checks against <sys/capsicum.h> (FreeBSD 15.1).
        assert_eq!(CAP_READ, 0x0200_0000_0000_0001);
        assert_eq!(CAP_LOOKUP, 0x0200_0000_0000_0400);
        assert_eq!(CAP_UNLINKAT, 0x0200_0000_1000_0400);
        assert_eq!(CAP_RENAMEAT_TARGET, 0x0200_0400_0000_0400);
        assert_eq!(CAP_IOCTL, 0x0400_0000_0000_0080);
        assert_eq!(CAP_EXTATTR_SET, 0x0400_0000_0000_8000);
        assert_eq!(Rights::NONE.0, [1 << 57, 1 << 58]);
    }

    #[test]
    fn a_read_rule_never_yields_a_writable_descriptor() {
        let r = for_access(Access::READ);
        for ok in [
            CAP_READ,
            CAP_SEEK,
            CAP_FSTAT,
            CAP_LOOKUP,
            CAP_FSTATAT,
            CAP_MMAP_R,
            CAP_EVENT,
        ] {
            assert!(r.has(ok), "{ok:#x}");
        }
        for no in [
            CAP_WRITE,
            CAP_CREATE,
            CAP_FTRUNCATE,
            CAP_UNLINKAT,
            CAP_MKDIRAT,
            CAP_RENAMEAT_SOURCE,
            CAP_RENAMEAT_TARGET,
            CAP_FCHMOD,
            CAP_FCHOWN,
            CAP_FUTIMES,
            CAP_FSYNC,
            CAP_MMAP_W,
            CAP_EXTATTR_SET,
            CAP_EXTATTR_DELETE,
        ]
        .iter()
        .chain(NEVER)
        {
            assert!(!r.has(*no), "read rule grants {no:#x}");
        }
    }

    #[test]
    fn write_and_create_add_exactly_their_rights() {
        let w = for_access(Access::READ | Access::WRITE);
        for ok in [
            CAP_WRITE,
            CAP_FTRUNCATE,
            CAP_UNLINKAT,
            CAP_RENAMEAT_SOURCE,
            CAP_FCHMOD,
            CAP_FCHOWN,
            CAP_FUTIMES,
        ] {
            assert!(w.has(ok), "{ok:#x}");
        }
        for no in [CAP_CREATE, CAP_MKDIRAT, CAP_RENAMEAT_TARGET] {
            assert!(!w.has(no), "write grants {no:#x}");
        }
        let c = for_access(Access::READ | Access::CREATE);
        for ok in [CAP_CREATE, CAP_MKDIRAT, CAP_RENAMEAT_TARGET] {
            assert!(c.has(ok), "{ok:#x}");
        }
        for no in [CAP_WRITE, CAP_UNLINKAT, CAP_FTRUNCATE] {
            assert!(!c.has(no), "create grants {no:#x}");
        }
        let all = for_access(Access::ALL);
        for no in NEVER {
            assert!(!all.has(*no), "all grants {no:#x}");
        }
        // Write-only: no reading.
        assert!(!for_access(Access::WRITE).has(CAP_READ));
    }

    #[test]
    fn opening_for_writing_through_a_read_descriptor_is_not_covered() {
        let r = for_access(Access::READ);
        assert!(r.contains(needed_for(Op::Open, 0)));
        assert!(!r.contains(needed_for(Op::Open, 1 | 0x200)), "O_WRONLY|O_CREAT");
        assert!(!r.contains(needed_for(Op::Unlink, 0)));
        assert!(!r.contains(needed_for(Op::Rename, 0)));
        assert!(!r.contains(needed_for(Op::Mkdir, 0)));
        assert!(r.contains(needed_for(Op::Stat, 0)));
        let rwc = for_access(Access::ALL);
        assert!(rwc.contains(needed_for(Op::Open, 2 | 0x200 | 0x400)));
    }

    #[test]
    fn without_lookup_keeps_fstat() {
        let r = for_access(Access::ALL).without_lookup();
        assert!(!r.has(CAP_LOOKUP));
        assert!(!r.has(CAP_FSTATAT) && r.has(CAP_FSTAT) && r.has(CAP_READ));
        assert_eq!(r.0[0] & (1 << 57), 1 << 57, "index bit kept");
        assert!(!r.contains(needed_for(Op::Open, 0)));
    }

    #[test]
    fn only_namespace_violations_are_brokered() {
        let any = FdUse {
            uses_fd: true,
            held: None,
            needed: Rights::NONE,
        };
        for (class, want) in [
            (Class::Namei, true),
            (Class::Syscall, true),
            (Class::Sockaddr, true),
            (Class::NotCapable, false),
            (Class::Increase, false),
            (Class::Signal, false),
            (Class::Proto, false),
            (Class::Cpuset, false),
            (Class::Unknown, false),
        ] {
            assert_eq!(
                should_broker(BackendKind::FreeBsdSigcap, class, FREEBSD_ENOTCAPABLE, any),
                want,
                "{class:?}"
            );
        }
        assert!(should_broker(BackendKind::LinuxSeccomp, Class::NotCapable, 1, any));
    }

    #[test]
    fn stock_kernel_heuristic() {
        let k = BackendKind::FreeBsdSigtrap;
        let c = Class::NotCapable;
        let wr = needed_for(Op::Open, 1);
        let read = for_access(Access::READ);
        let fd = |uses_fd, held| FdUse {
            uses_fd,
            held,
            needed: wr,
        };
        // ECAPMODE: open() by path, connect by address.
        assert!(should_broker(k, Class::Syscall, FREEBSD_ECAPMODE, fd(false, None)));
        // ENOTCAPABLE with an absolute path (or AT_FDCWD): a lookup.
        assert!(should_broker(k, c, FREEBSD_ENOTCAPABLE, fd(false, None)));
        // openat(read-only dirfd, "x", O_WRONLY): the descriptor's limit.
        assert!(!should_broker(k, c, FREEBSD_ENOTCAPABLE, fd(true, Some(read))));
        // Rights unknown: left failing.
        assert!(!should_broker(k, c, FREEBSD_ENOTCAPABLE, fd(true, None)));
        // The descriptor holds them all: the lookup itself failed ("..").
        let full = for_access(Access::ALL);
        assert!(should_broker(k, c, FREEBSD_ENOTCAPABLE, fd(true, Some(full))));
        // A lookup-less directory (a mount root on a stock kernel):
        // its lookups go to the broker, but not a write through read rights.
        let nolookup = FdUse {
            uses_fd: true,
            held: Some(read.without_lookup()),
            needed: needed_for(Op::Open, 0),
        };
        assert!(should_broker(k, c, FREEBSD_ENOTCAPABLE, nolookup));
        assert!(!should_broker(
            k,
            c,
            FREEBSD_ENOTCAPABLE,
            fd(true, Some(read.without_lookup()))
        ));
        // A socket without CAP_CONNECT.
        let s = FdUse {
            uses_fd: true,
            held: Some(Rights::of(&[CAP_READ, CAP_WRITE])),
            needed: needed_for(Op::Connect, 0),
        };
        assert!(!should_broker(k, c, FREEBSD_ENOTCAPABLE, s));
    }
}
