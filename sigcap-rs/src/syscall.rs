//! Decoding a trapped system call into a brokerable operation.
//!
//! Each OS gets one table: syscall number -> name and, for the calls the
//! broker can perform, how the raw arguments map onto an [`Call`].
use crate::proto::Op;

/// A trapped call, decoded from its raw arguments. Pointers are addresses
/// in the program's memory, not yet read.
#[derive(Clone, Copy, Debug, Default)]
pub struct Call {
    pub op: Op,
    /// Directory the path is relative to (`AT_FDCWD` or a descriptor).
    pub dirfd: i32,
    pub path: usize,
    /// Second directory and path (rename).
    pub dirfd2: i32,
    pub path2: usize,
    /// open(2) flags, *at(2) flags, unlinkat flags, sendto flags.
    pub flags: i32,
    /// Creation mode, access(2) mode.
    pub mode: u32,
    /// Where results go in the program (stat buffer, readlink buffer).
    pub out: usize,
    pub out_len: usize,
    /// Socket the call acts on, its address and length.
    pub sock: i32,
    pub addr: usize,
    pub addr_len: usize,
    /// sendto payload.
    pub data: usize,
    pub data_len: usize,
    /// statx mask; chown's uid | gid << 32; truncate's length; the
    /// form of utimes' times ([`TIMES_TIMESPEC`], ...).
    pub aux: u64,
}

/// `Call::aux` of [`Op::Utimes`]: `addr` points to two `timespec`s
/// (utimensat), two `timeval`s (utimes, futimesat, lutimes) or a
/// `utimbuf` (utime); 0 for none ("now"). The handler converts them to
/// timespecs for the wire.
pub const TIMES_TIMESPEC: u64 = 0;
pub const TIMES_TIMEVAL: u64 = 1;
pub const TIMES_UTIMBUF: u64 = 2;

use libc::AT_FDCWD;

impl Call {
    fn with_op(self, op: Op) -> Call {
        Call { op, ..self }
    }
}

fn fd(x: u64) -> i32 {
    x as i32
}

/// One constructor per argument shape, shared by the OS tables.
mod shape {
    use super::*;

    pub fn path(op: Op, dirfd: i32, path: u64) -> Call {
        Call {
            op,
            dirfd,
            path: path as usize,
            ..Call::default()
        }
    }

    pub fn open(dirfd: i32, p: u64, flags: u64, mode: u64) -> Call {
        Call {
            flags: flags as i32,
            mode: mode as u32,
            ..path(Op::Open, dirfd, p)
        }
    }

    /// A stat call writing `crate::sys::STAT_SIZE` (or statx) bytes to `out`.
    pub fn stat(op: Op, dirfd: i32, p: u64, out: u64, flags: u64) -> Call {
        let out_len = if op == Op::Statx {
            crate::sys::STATX_SIZE
        } else {
            crate::sys::STAT_SIZE
        };
        Call {
            flags: flags as i32,
            out: out as usize,
            out_len,
            ..path(op, dirfd, p)
        }
    }

    pub fn access(dirfd: i32, p: u64, mode: u64, flags: u64) -> Call {
        Call {
            mode: mode as u32,
            flags: flags as i32,
            ..path(Op::Access, dirfd, p)
        }
    }

    pub fn readlink(dirfd: i32, p: u64, out: u64, len: u64) -> Call {
        Call {
            out: out as usize,
            out_len: len as usize,
            ..path(Op::Readlink, dirfd, p)
        }
    }

    pub fn mkdir(dirfd: i32, p: u64, mode: u64) -> Call {
        Call {
            mode: mode as u32,
            ..path(Op::Mkdir, dirfd, p)
        }
    }

    pub fn unlink(dirfd: i32, p: u64, flags: u64) -> Call {
        Call {
            flags: flags as i32,
            ..path(Op::Unlink, dirfd, p)
        }
    }

    pub fn rename(d1: i32, p1: u64, d2: i32, p2: u64) -> Call {
        Call {
            dirfd2: d2,
            path2: p2 as usize,
            ..path(Op::Rename, d1, p1)
        }
    }

    /// symlink(target, dirfd + link): the link is the place, the target
    /// its content.
    pub fn symlink(target: u64, dirfd: i32, link: u64) -> Call {
        Call {
            path2: target as usize,
            dirfd2: AT_FDCWD,
            ..path(Op::Symlink, dirfd, link)
        }
    }

    pub fn link(d1: i32, p1: u64, d2: i32, p2: u64, flags: u64) -> Call {
        Call {
            flags: flags as i32,
            ..rename(d1, p1, d2, p2)
        }
        .with_op(Op::Link)
    }

    /// The kernel keeps only the permission bits of chmod's mode (FreeBSD
    /// `& ALLPERMS`, Linux `& S_IALLUGO`); FreeBSD's chmod(1) passes the
    /// file type bits too (getmode(3) of st_mode), so the rest is dropped
    /// here, not refused by the broker.
    pub fn chmod(dirfd: i32, p: u64, mode: u64, flags: i32) -> Call {
        Call {
            mode: (mode & 0o7777) as u32,
            flags,
            ..path(Op::Chmod, dirfd, p)
        }
    }

    pub fn chown(dirfd: i32, p: u64, uid: u64, gid: u64, flags: i32) -> Call {
        Call {
            aux: (uid & 0xffff_ffff) | (gid & 0xffff_ffff) << 32,
            flags,
            ..path(Op::Chown, dirfd, p)
        }
    }

    /// Times at `times` in the form `kind`, two of them (or none, NULL).
    pub fn utimes(dirfd: i32, p: u64, times: u64, kind: u64, flags: i32) -> Call {
        Call {
            addr: times as usize,
            aux: kind,
            flags,
            ..path(Op::Utimes, dirfd, p)
        }
    }

    /// statfs(path, buf): the kernel's struct statfs into `buf`.
    pub fn statfs(p: u64, buf: u64) -> Call {
        Call {
            out: buf as usize,
            out_len: crate::sys::STATFS_SIZE,
            ..path(Op::Statfs, AT_FDCWD, p)
        }
    }

    pub fn truncate(p: u64, len: u64) -> Call {
        Call {
            aux: len,
            ..path(Op::Truncate, AT_FDCWD, p)
        }
    }

    /// An extended attribute call by path: `name` (0 for a list), the
    /// buffer (`out` for get and list, `data` for set), its size, and
    /// `mode` (Linux: setxattr's flags; FreeBSD: the namespace).
    pub fn xattr(op: Op, p: u64, name: u64, buf: u64, size: u64, mode: u64, nofollow: bool) -> Call {
        let mut c = Call {
            path2: name as usize,
            dirfd2: AT_FDCWD,
            mode: mode as u32,
            flags: if nofollow { libc::AT_SYMLINK_NOFOLLOW } else { 0 },
            ..path(op, AT_FDCWD, p)
        };
        if op == Op::SetXattr {
            c.data = buf as usize;
            c.data_len = size as usize;
        } else {
            c.out = buf as usize;
            c.out_len = size as usize;
        }
        c
    }

    pub fn mknod(dirfd: i32, p: u64, mode: u64) -> Call {
        Call {
            mode: mode as u32,
            ..path(Op::Mknod, dirfd, p)
        }
    }

    /// connect(s, addr, len) and bind(s, addr, len).
    pub fn socket(op: Op, a: [u64; 6]) -> Call {
        Call {
            op,
            sock: fd(a[0]),
            addr: a[1] as usize,
            addr_len: a[2] as usize,
            ..Call::default()
        }
    }

    /// sendto(s, buf, len, flags, to, tolen).
    pub fn sendto(a: [u64; 6]) -> Call {
        Call {
            op: Op::Sendto,
            sock: fd(a[0]),
            data: a[1] as usize,
            data_len: a[2] as usize,
            flags: a[3] as i32,
            addr: a[4] as usize,
            addr_len: a[5] as usize,
            ..Call::default()
        }
    }
}

#[cfg(target_os = "linux")]
#[allow(non_upper_case_globals)]
mod table {
    use super::*;
    use libc::*;

    /// x86_64 numbers the libc crate does not name yet.
    mod xattrat {
        pub const SET: i64 = 463;
        pub const GET: i64 = 464;
        pub const LIST: i64 = 465;
        pub const REMOVE: i64 = 466;
        pub const FILE_GET: i64 = 468;
        pub const FILE_SET: i64 = 469;
    }

    pub fn decode(nr: i64, a: [u64; 6]) -> Option<Call> {
        Some(match nr {
            SYS_open => shape::open(AT_FDCWD, a[0], a[1], a[2]),
            SYS_creat => Call {
                flags: O_CREAT | O_WRONLY | O_TRUNC,
                mode: a[1] as u32,
                ..shape::path(Op::Open, AT_FDCWD, a[0])
            },
            SYS_openat => shape::open(fd(a[0]), a[1], a[2], a[3]),
            SYS_stat => shape::stat(Op::Stat, AT_FDCWD, a[0], a[1], 0),
            SYS_lstat => shape::stat(Op::Stat, AT_FDCWD, a[0], a[1], AT_SYMLINK_NOFOLLOW as u64),
            SYS_newfstatat => shape::stat(Op::Stat, fd(a[0]), a[1], a[2], a[3]),
            SYS_statx => Call {
                aux: a[3] & 0xffff_ffff,
                ..shape::stat(Op::Statx, fd(a[0]), a[1], a[4], a[2])
            },
            SYS_access => shape::access(AT_FDCWD, a[0], a[1], 0),
            SYS_faccessat => shape::access(fd(a[0]), a[1], a[2], 0),
            SYS_faccessat2 => shape::access(fd(a[0]), a[1], a[2], a[3]),
            SYS_readlink => shape::readlink(AT_FDCWD, a[0], a[1], a[2]),
            SYS_readlinkat => shape::readlink(fd(a[0]), a[1], a[2], a[3]),
            SYS_mkdir => shape::mkdir(AT_FDCWD, a[0], a[1]),
            SYS_mkdirat => shape::mkdir(fd(a[0]), a[1], a[2]),
            SYS_unlink => shape::unlink(AT_FDCWD, a[0], 0),
            SYS_rmdir => shape::unlink(AT_FDCWD, a[0], AT_REMOVEDIR as u64),
            SYS_unlinkat => shape::unlink(fd(a[0]), a[1], a[2]),
            SYS_rename => shape::rename(AT_FDCWD, a[0], AT_FDCWD, a[1]),
            SYS_renameat => shape::rename(fd(a[0]), a[1], fd(a[2]), a[3]),
            // The flags are checked by the broker (proto::Request::validate):
            // RENAME_NOREPLACE and RENAME_EXCHANGE, never RENAME_WHITEOUT.
            SYS_renameat2 => Call {
                flags: a[4] as i32,
                ..shape::rename(fd(a[0]), a[1], fd(a[2]), a[3])
            },
            SYS_symlink => shape::symlink(a[0], AT_FDCWD, a[1]),
            SYS_symlinkat => shape::symlink(a[0], fd(a[1]), a[2]),
            SYS_link => shape::link(AT_FDCWD, a[0], AT_FDCWD, a[1], 0),
            SYS_linkat => shape::link(fd(a[0]), a[1], fd(a[2]), a[3], a[4]),
            SYS_chmod => shape::chmod(AT_FDCWD, a[0], a[1], 0),
            // fchmodat(2) has no flags argument; fchmodat2 (6.6) has.
            SYS_fchmodat => shape::chmod(fd(a[0]), a[1], a[2], 0),
            SYS_fchmodat2 => shape::chmod(fd(a[0]), a[1], a[2], a[3] as i32),
            SYS_chown => shape::chown(AT_FDCWD, a[0], a[1], a[2], 0),
            SYS_lchown => shape::chown(AT_FDCWD, a[0], a[1], a[2], AT_SYMLINK_NOFOLLOW),
            SYS_fchownat => shape::chown(fd(a[0]), a[1], a[2], a[3], a[4] as i32),
            SYS_utime => shape::utimes(AT_FDCWD, a[0], a[1], TIMES_UTIMBUF, 0),
            SYS_utimes => shape::utimes(AT_FDCWD, a[0], a[1], TIMES_TIMEVAL, 0),
            SYS_futimesat => shape::utimes(fd(a[0]), a[1], a[2], TIMES_TIMEVAL, 0),
            // Trapped only with a path (the NULL form is futimens).
            SYS_utimensat => shape::utimes(fd(a[0]), a[1], a[2], TIMES_TIMESPEC, a[3] as i32),
            SYS_truncate => shape::truncate(a[0], a[1]),
            SYS_statfs => shape::statfs(a[0], a[1]),
            SYS_mknod => shape::mknod(AT_FDCWD, a[0], a[1]),
            SYS_mknodat => shape::mknod(fd(a[0]), a[1], a[2]),
            SYS_getxattr => shape::xattr(Op::GetXattr, a[0], a[1], a[2], a[3], 0, false),
            SYS_lgetxattr => shape::xattr(Op::GetXattr, a[0], a[1], a[2], a[3], 0, true),
            SYS_setxattr => shape::xattr(Op::SetXattr, a[0], a[1], a[2], a[3], a[4], false),
            SYS_lsetxattr => shape::xattr(Op::SetXattr, a[0], a[1], a[2], a[3], a[4], true),
            SYS_listxattr => shape::xattr(Op::ListXattr, a[0], 0, a[1], a[2], 0, false),
            SYS_llistxattr => shape::xattr(Op::ListXattr, a[0], 0, a[1], a[2], 0, true),
            SYS_removexattr => shape::xattr(Op::RemoveXattr, a[0], a[1], 0, 0, 0, false),
            SYS_lremovexattr => shape::xattr(Op::RemoveXattr, a[0], a[1], 0, 0, 0, true),
            SYS_chdir => shape::path(Op::Chdir, AT_FDCWD, a[0]),
            SYS_connect => shape::socket(Op::Connect, a),
            SYS_bind => shape::socket(Op::Bind, a),
            SYS_sendto => shape::sendto(a),
            SYS_listen => Call {
                op: Op::Listen,
                sock: fd(a[0]),
                flags: a[1] as i32,
                ..Call::default()
            },
            _ => return None,
        })
    }

    /// Which argument names a path, for calls the broker cannot perform.
    pub fn path_arg(nr: i64) -> Option<usize> {
        Some(match nr {
            SYS_link | SYS_chmod | SYS_chown | SYS_lchown | SYS_truncate | SYS_utime | SYS_utimes | SYS_chroot
            | SYS_mknod | SYS_statfs | SYS_getxattr | SYS_lgetxattr | SYS_setxattr | SYS_lsetxattr | SYS_listxattr
            | SYS_llistxattr | SYS_removexattr | SYS_lremovexattr | SYS_acct | SYS_uselib => 0,
            SYS_symlink
            | SYS_fchmodat
            | SYS_fchownat
            | SYS_linkat
            | SYS_utimensat
            | SYS_futimesat
            | SYS_mknodat
            | SYS_openat2
            | SYS_renameat2
            | SYS_inotify_add_watch
            | SYS_name_to_handle_at
            | SYS_fchmodat2
            | xattrat::SET
            | xattrat::GET
            | xattrat::LIST
            | xattrat::REMOVE
            | xattrat::FILE_GET
            | xattrat::FILE_SET => 1,
            SYS_symlinkat => 2,
            _ => return None,
        })
    }

    pub fn name(nr: i64) -> &'static str {
        match nr {
            SYS_open => "open",
            SYS_creat => "creat",
            SYS_openat => "openat",
            SYS_openat2 => "openat2",
            SYS_stat => "stat",
            SYS_lstat => "lstat",
            SYS_newfstatat => "newfstatat",
            SYS_statx => "statx",
            SYS_statfs => "statfs",
            SYS_access => "access",
            SYS_faccessat => "faccessat",
            SYS_faccessat2 => "faccessat2",
            SYS_readlink => "readlink",
            SYS_readlinkat => "readlinkat",
            SYS_mkdir => "mkdir",
            SYS_mkdirat => "mkdirat",
            SYS_mknod => "mknod",
            SYS_mknodat => "mknodat",
            SYS_unlink => "unlink",
            SYS_unlinkat => "unlinkat",
            SYS_rmdir => "rmdir",
            SYS_rename => "rename",
            SYS_renameat => "renameat",
            SYS_renameat2 => "renameat2",
            SYS_link => "link",
            SYS_linkat => "linkat",
            SYS_symlink => "symlink",
            SYS_symlinkat => "symlinkat",
            SYS_chmod => "chmod",
            SYS_fchmodat => "fchmodat",
            SYS_fchmodat2 => "fchmodat2",
            xattrat::SET => "setxattrat",
            xattrat::GET => "getxattrat",
            xattrat::LIST => "listxattrat",
            xattrat::REMOVE => "removexattrat",
            xattrat::FILE_GET => "file_getattr",
            xattrat::FILE_SET => "file_setattr",
            SYS_open_tree => "open_tree",
            SYS_io_uring_setup => "io_uring_setup",
            SYS_io_uring_enter => "io_uring_enter",
            SYS_ptrace => "ptrace",
            SYS_pidfd_getfd => "pidfd_getfd",
            SYS_chown => "chown",
            SYS_lchown => "lchown",
            SYS_fchownat => "fchownat",
            SYS_truncate => "truncate",
            SYS_utimes => "utimes",
            SYS_utime => "utime",
            SYS_utimensat => "utimensat",
            SYS_futimesat => "futimesat",
            SYS_chdir => "chdir",
            SYS_chroot => "chroot",
            SYS_execve => "execve",
            SYS_execveat => "execveat",
            SYS_connect => "connect",
            SYS_bind => "bind",
            SYS_listen => "listen",
            SYS_sendmsg => "sendmsg",
            SYS_sendmmsg => "sendmmsg",
            SYS_sendto => "sendto",
            SYS_getxattr => "getxattr",
            SYS_lgetxattr => "lgetxattr",
            SYS_setxattr => "setxattr",
            SYS_lsetxattr => "lsetxattr",
            SYS_listxattr => "listxattr",
            SYS_llistxattr => "llistxattr",
            SYS_removexattr => "removexattr",
            SYS_lremovexattr => "lremovexattr",
            SYS_inotify_add_watch => "inotify_add_watch",
            SYS_mount => "mount",
            SYS_umount2 => "umount2",
            SYS_pivot_root => "pivot_root",
            SYS_acct => "acct",
            SYS_swapon => "swapon",
            SYS_swapoff => "swapoff",
            _ => "?",
        }
    }
}

#[cfg(target_os = "freebsd")]
mod table {
    use super::*;
    use libc::{AT_EACCESS, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW};

    // System call numbers from FreeBSD's sys/sys/syscall.h (amd64, stable ABI).
    pub const SYS_SYSCALL: i64 = 0;
    pub const SYS___SYSCALL: i64 = 198;
    const SYS_OPEN: i64 = 5;
    const SYS_LINK: i64 = 9;
    const SYS_UNLINK: i64 = 10;
    const SYS_CHDIR: i64 = 12;
    pub const SYS_FCHDIR: i64 = 13;
    const SYS_CHMOD: i64 = 15;
    const SYS_CHOWN: i64 = 16;
    const SYS_ACCESS: i64 = 33;
    const SYS_CHFLAGS: i64 = 34;
    const SYS_KILL: i64 = 37;
    const SYS_SYMLINK: i64 = 57;
    const SYS_READLINK: i64 = 58;
    const SYS_EXECVE: i64 = 59;
    const SYS_CHROOT: i64 = 61;
    const SYS_CONNECT: i64 = 98;
    const SYS_BIND: i64 = 104;
    const SYS_RENAME: i64 = 128;
    const SYS_MKFIFO: i64 = 132;
    const SYS_SENDTO: i64 = 133;
    const SYS_MKDIR: i64 = 136;
    const SYS_RMDIR: i64 = 137;
    const SYS_UTIMES: i64 = 138;
    const SYS_LCHOWN: i64 = 254;
    pub const SYS___GETCWD: i64 = 326;
    const SYS_EACCESS: i64 = 376;
    const SYS_TRUNCATE: i64 = 479;
    const SYS_CPUSET_SETAFFINITY: i64 = 488;
    const SYS_FACCESSAT: i64 = 489;
    const SYS_FCHMODAT: i64 = 490;
    const SYS_FCHOWNAT: i64 = 491;
    const SYS_LINKAT: i64 = 495;
    const SYS_MKDIRAT: i64 = 496;
    const SYS_OPENAT: i64 = 499;
    const SYS_READLINKAT: i64 = 500;
    const SYS_RENAMEAT: i64 = 501;
    const SYS_SYMLINKAT: i64 = 502;
    const SYS_UNLINKAT: i64 = 503;
    const SYS_PDKILL: i64 = 519;
    const SYS_BINDAT: i64 = 538;
    const SYS_CONNECTAT: i64 = 539;
    const SYS_UTIMENSAT: i64 = 547;
    const SYS_FSTATAT: i64 = 552;
    const SYS_STATFS: i64 = 555;
    const SYS_MKNODAT: i64 = 559;
    const SYS_PATHCONF: i64 = 191;
    const SYS_LCHMOD: i64 = 274;
    const SYS_LUTIMES: i64 = 276;
    const SYS_EXTATTR_SET_FILE: i64 = 356;
    const SYS_EXTATTR_GET_FILE: i64 = 357;
    const SYS_EXTATTR_DELETE_FILE: i64 = 358;
    const SYS_EXTATTR_SET_LINK: i64 = 412;
    const SYS_EXTATTR_GET_LINK: i64 = 413;
    const SYS_EXTATTR_DELETE_LINK: i64 = 414;
    const SYS_EXTATTR_LIST_FILE: i64 = 438;
    const SYS_EXTATTR_LIST_LINK: i64 = 439;
    const SYS_FUTIMESAT: i64 = 494;
    const SYS_MKFIFOAT: i64 = 497;
    const SYS_LPATHCONF: i64 = 513;
    const SYS_RENAMEAT2: i64 = 602;

    pub fn decode(nr: i64, a: [u64; 6]) -> Option<Call> {
        Some(match nr {
            SYS_OPEN => shape::open(AT_FDCWD, a[0], a[1], a[2]),
            SYS_OPENAT => shape::open(fd(a[0]), a[1], a[2], a[3]),
            SYS_FSTATAT => shape::stat(Op::Stat, fd(a[0]), a[1], a[2], a[3]),
            SYS_ACCESS => shape::access(AT_FDCWD, a[0], a[1], 0),
            SYS_EACCESS => shape::access(AT_FDCWD, a[0], a[1], AT_EACCESS as u64),
            SYS_FACCESSAT => shape::access(fd(a[0]), a[1], a[2], a[3]),
            SYS_READLINK => shape::readlink(AT_FDCWD, a[0], a[1], a[2]),
            SYS_READLINKAT => shape::readlink(fd(a[0]), a[1], a[2], a[3]),
            SYS_MKDIR => shape::mkdir(AT_FDCWD, a[0], a[1]),
            SYS_MKDIRAT => shape::mkdir(fd(a[0]), a[1], a[2]),
            SYS_UNLINK => shape::unlink(AT_FDCWD, a[0], 0),
            SYS_RMDIR => shape::unlink(AT_FDCWD, a[0], AT_REMOVEDIR as u64),
            SYS_UNLINKAT => shape::unlink(fd(a[0]), a[1], a[2]),
            SYS_RENAME => shape::rename(AT_FDCWD, a[0], AT_FDCWD, a[1]),
            SYS_RENAMEAT => shape::rename(fd(a[0]), a[1], fd(a[2]), a[3]),
            SYS_RENAMEAT2 => Call {
                flags: a[4] as i32,
                ..shape::rename(fd(a[0]), a[1], fd(a[2]), a[3])
            },
            SYS_SYMLINK => shape::symlink(a[0], AT_FDCWD, a[1]),
            SYS_SYMLINKAT => shape::symlink(a[0], fd(a[1]), a[2]),
            SYS_LINK => shape::link(AT_FDCWD, a[0], AT_FDCWD, a[1], libc::AT_SYMLINK_FOLLOW as u64),
            SYS_LINKAT => shape::link(fd(a[0]), a[1], fd(a[2]), a[3], a[4]),
            SYS_CHMOD => shape::chmod(AT_FDCWD, a[0], a[1], 0),
            SYS_LCHMOD => shape::chmod(AT_FDCWD, a[0], a[1], AT_SYMLINK_NOFOLLOW),
            SYS_FCHMODAT => shape::chmod(fd(a[0]), a[1], a[2], a[3] as i32),
            SYS_CHOWN => shape::chown(AT_FDCWD, a[0], a[1], a[2], 0),
            SYS_LCHOWN => shape::chown(AT_FDCWD, a[0], a[1], a[2], AT_SYMLINK_NOFOLLOW),
            SYS_FCHOWNAT => shape::chown(fd(a[0]), a[1], a[2], a[3], a[4] as i32),
            SYS_UTIMES => shape::utimes(AT_FDCWD, a[0], a[1], TIMES_TIMEVAL, 0),
            SYS_LUTIMES => shape::utimes(AT_FDCWD, a[0], a[1], TIMES_TIMEVAL, AT_SYMLINK_NOFOLLOW),
            SYS_FUTIMESAT => shape::utimes(fd(a[0]), a[1], a[2], TIMES_TIMEVAL, 0),
            SYS_UTIMENSAT => shape::utimes(fd(a[0]), a[1], a[2], TIMES_TIMESPEC, a[3] as i32),
            SYS_TRUNCATE => shape::truncate(a[0], a[1]),
            SYS_STATFS => shape::statfs(a[0], a[1]),
            SYS_MKFIFO => shape::mknod(AT_FDCWD, a[0], a[1] | libc::S_IFIFO as u64),
            SYS_MKFIFOAT => shape::mknod(fd(a[0]), a[1], a[2] | libc::S_IFIFO as u64),
            SYS_MKNODAT => shape::mknod(fd(a[0]), a[1], a[2]),
            SYS_PATHCONF => Call {
                mode: a[1] as u32,
                ..shape::path(Op::Pathconf, AT_FDCWD, a[0])
            },
            SYS_LPATHCONF => Call {
                mode: a[1] as u32,
                flags: AT_SYMLINK_NOFOLLOW,
                ..shape::path(Op::Pathconf, AT_FDCWD, a[0])
            },
            // extattr_*_file(path, namespace, name, data, nbytes) and
            // the _link forms, which do not follow a final symlink.
            SYS_EXTATTR_GET_FILE | SYS_EXTATTR_GET_LINK => {
                shape::xattr(Op::GetXattr, a[0], a[2], a[3], a[4], a[1], nr == SYS_EXTATTR_GET_LINK)
            }
            SYS_EXTATTR_SET_FILE | SYS_EXTATTR_SET_LINK => {
                shape::xattr(Op::SetXattr, a[0], a[2], a[3], a[4], a[1], nr == SYS_EXTATTR_SET_LINK)
            }
            SYS_EXTATTR_DELETE_FILE | SYS_EXTATTR_DELETE_LINK => {
                shape::xattr(Op::RemoveXattr, a[0], a[2], 0, 0, a[1], nr == SYS_EXTATTR_DELETE_LINK)
            }
            SYS_EXTATTR_LIST_FILE | SYS_EXTATTR_LIST_LINK => {
                shape::xattr(Op::ListXattr, a[0], 0, a[2], a[3], a[1], nr == SYS_EXTATTR_LIST_LINK)
            }
            SYS_CHDIR => shape::path(Op::Chdir, AT_FDCWD, a[0]),
            // fchdir(fd): the directory and no path (the broker names it).
            SYS_FCHDIR => shape::path(Op::Chdir, fd(a[0]), 0),
            // execve(path, argv, envp): the vectors ride in `addr` and
            // `data` (exec.rs builds the new image's from them).
            SYS_EXECVE => Call {
                addr: a[1] as usize,
                data: a[2] as usize,
                ..shape::path(Op::Exec, AT_FDCWD, a[0])
            },
            SYS_CONNECT => shape::socket(Op::Connect, a),
            SYS_BIND => shape::socket(Op::Bind, a),
            SYS_SENDTO => shape::sendto(a),
            _ => return None,
        })
    }

    /// Which argument names a path, for calls the broker cannot perform.
    pub fn path_arg(nr: i64) -> Option<usize> {
        Some(match nr {
            SYS_LINK | SYS_CHMOD | SYS_CHOWN | SYS_CHFLAGS | SYS_CHROOT | SYS_MKFIFO | SYS_UTIMES | SYS_LCHOWN
            | SYS_TRUNCATE | SYS_STATFS => 0,
            SYS_SYMLINK | SYS_FCHMODAT | SYS_FCHOWNAT | SYS_LINKAT | SYS_UTIMENSAT | SYS_MKNODAT => 1,
            SYS_SYMLINKAT => 2,
            _ => return None,
        })
    }

    pub fn name(nr: i64) -> &'static str {
        match nr {
            SYS_SYSCALL => "syscall",
            SYS___SYSCALL => "__syscall",
            SYS_OPEN => "open",
            SYS_LINK => "link",
            SYS_UNLINK => "unlink",
            SYS_CHDIR => "chdir",
            SYS_FCHDIR => "fchdir",
            SYS_CHMOD => "chmod",
            SYS_CHOWN => "chown",
            SYS_ACCESS => "access",
            SYS_CHFLAGS => "chflags",
            SYS_KILL => "kill",
            SYS_SYMLINK => "symlink",
            SYS_READLINK => "readlink",
            SYS_EXECVE => "execve",
            SYS_CHROOT => "chroot",
            SYS_CONNECT => "connect",
            SYS_BIND => "bind",
            SYS_RENAME => "rename",
            SYS_MKFIFO => "mkfifo",
            SYS_SENDTO => "sendto",
            SYS_MKDIR => "mkdir",
            SYS_RMDIR => "rmdir",
            SYS_UTIMES => "utimes",
            SYS_LCHOWN => "lchown",
            SYS___GETCWD => "__getcwd",
            SYS_EACCESS => "eaccess",
            SYS_TRUNCATE => "truncate",
            SYS_CPUSET_SETAFFINITY => "cpuset_setaffinity",
            SYS_FACCESSAT => "faccessat",
            SYS_FCHMODAT => "fchmodat",
            SYS_FCHOWNAT => "fchownat",
            SYS_LINKAT => "linkat",
            SYS_MKDIRAT => "mkdirat",
            SYS_OPENAT => "openat",
            SYS_READLINKAT => "readlinkat",
            SYS_RENAMEAT => "renameat",
            SYS_SYMLINKAT => "symlinkat",
            SYS_UNLINKAT => "unlinkat",
            SYS_PDKILL => "pdkill",
            SYS_BINDAT => "bindat",
            SYS_CONNECTAT => "connectat",
            SYS_UTIMENSAT => "utimensat",
            SYS_FSTATAT => "fstatat",
            SYS_STATFS => "statfs",
            SYS_MKNODAT => "mknodat",
            SYS_PATHCONF => "pathconf",
            SYS_LCHMOD => "lchmod",
            SYS_LUTIMES => "lutimes",
            SYS_EXTATTR_SET_FILE => "extattr_set_file",
            SYS_EXTATTR_GET_FILE => "extattr_get_file",
            SYS_EXTATTR_DELETE_FILE => "extattr_delete_file",
            SYS_EXTATTR_SET_LINK => "extattr_set_link",
            SYS_EXTATTR_GET_LINK => "extattr_get_link",
            SYS_EXTATTR_DELETE_LINK => "extattr_delete_link",
            SYS_EXTATTR_LIST_FILE => "extattr_list_file",
            SYS_EXTATTR_LIST_LINK => "extattr_list_link",
            SYS_FUTIMESAT => "futimesat",
            SYS_MKFIFOAT => "mkfifoat",
            SYS_LPATHCONF => "lpathconf",
            SYS_RENAMEAT2 => "renameat2",
            202 => "__sysctl",
            570 => "__sysctlbyname",
            _ => "?",
        }
    }
}

#[cfg(target_os = "freebsd")]
pub(crate) use table::{SYS_FCHDIR, SYS_SYSCALL, SYS___GETCWD, SYS___SYSCALL};

/// The number records of a brokered sysctl read carry: FreeBSD's
/// `__sysctlbyname` (570); Linux has no such call (-1).
#[cfg(target_os = "freebsd")]
pub(crate) const SYSCTL_NR: i64 = 570;
#[cfg(not(target_os = "freebsd"))]
pub(crate) const SYSCTL_NR: i64 = -1;

/// Decodes a trapped call the broker can perform, or `None`.
pub fn decode(nr: i64, args: [u64; 6]) -> Option<Call> {
    table::decode(nr, args)
}

/// For a call the broker cannot perform: the argument holding the path
/// it names, so that records still show it.
pub fn path_arg(nr: i64) -> Option<usize> {
    table::path_arg(nr)
}

/// The system call's name, `"?"` when unknown.
pub fn name(nr: i64) -> &'static str {
    table::name(nr)
}
