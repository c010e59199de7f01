//! The wire format between the handler and the broker.
//!
//! One request is one SOCK_SEQPACKET message on the control socket: a
//! fixed-size [`Request`] (paths and the socket address copied in), then,
//! for sendto, the payload. Descriptors travel as SCM_RIGHTS: first the
//! private reply socket, then those named by `fd_roles`, in role order.
//! The broker answers on the reply socket with a [`Reply`] followed by
//! result bytes (a stat buffer, a link target) and maybe one descriptor.
//!
//! The broker treats every field as hostile: [`Request::validate`] checks
//! them all before anything is looked at.

/// "SGCP" in ASCII.
pub const MAGIC: u32 = 0x5347_4350;
/// Bumped on any layout change.
pub const VERSION: u16 = 2;
/// Longest path carried (Linux PATH_MAX; FreeBSD's is smaller).
pub const PATH_MAX: usize = 4096;
/// Largest socket address carried (sockaddr_storage is 128 bytes).
pub const ADDR_MAX: usize = 128;
/// Largest sendto payload brokered (a UDP datagram).
pub const DATA_MAX: usize = 65536;
/// Largest result payload (readlink target, stat buffers).
pub const OUT_MAX: usize = PATH_MAX;
/// Largest extended attribute value or list carried either way (Linux's
/// XATTR_SIZE_MAX); a set's value travels as the payload, a get's or a
/// list's result as the reply's.
pub const XATTR_MAX: usize = 65536;
/// Largest sysctl value brokered (a node's bytes in the reply): enough
/// for a process's `kinfo_proc`, the file system list, a few hundred
/// processes' worth of `kern.proc.pid`; a larger node gets ENOMEM, as a
/// short buffer would.
pub const SYSCTL_OUT_MAX: usize = 65536;
/// Longest extended attribute name (Linux's XATTR_NAME_MAX; FreeBSD's
/// EXTATTR_MAXNAMELEN is the same).
pub const XATTR_NAME_MAX: usize = 255;
/// `flags` bit of [`Op::Rename`]: fail if the target exists (Linux
/// RENAME_NOREPLACE, FreeBSD AT_RENAME_NOREPLACE: both 1).
pub const RENAME_NOREPLACE: i32 = 1;
/// `flags` bit of [`Op::Rename`]: swap source and target (Linux only).
pub const RENAME_EXCHANGE: i32 = 2;
/// `aux` of [`Op::Utimes`]: `addr` holds two `timespec`s (the broker's
/// form; the handler converts utime's and utimes' forms into it).
pub const TIMES_LEN: usize = 2 * 16;

/// Operations the broker performs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Op {
    /// open/openat: returns a descriptor.
    #[default]
    Open = 1,
    /// stat family: returns the kernel's `struct stat`.
    Stat = 2,
    /// Linux statx: returns `struct statx`.
    Statx = 3,
    /// access/faccessat/eaccess.
    Access = 4,
    /// readlink/readlinkat: returns the target bytes.
    Readlink = 5,
    /// mkdir/mkdirat.
    Mkdir = 6,
    /// unlink/rmdir/unlinkat.
    Unlink = 7,
    /// rename/renameat.
    Rename = 8,
    /// connect on the program's socket.
    Connect = 9,
    /// bind the program's socket.
    Bind = 10,
    /// sendto with an address, on the program's socket.
    Sendto = 11,
    /// listen on the program's socket (Linux: an unbound socket would be
    /// bound to every address by the kernel).
    Listen = 12,
    /// symlink/symlinkat: `path` is where the link is made, `path2` its
    /// target, which is content and never resolved by the broker.
    Symlink = 13,
    /// link/linkat: `path` the existing file, `path2` the new name;
    /// `flags` AT_SYMLINK_FOLLOW.
    Link = 14,
    /// chmod/fchmodat/fchmodat2/lchmod: `mode`; `flags` AT_SYMLINK_NOFOLLOW.
    Chmod = 15,
    /// chown/lchown/fchownat: `aux` = uid | gid << 32 (each u32, -1 for
    /// unchanged); `flags` AT_SYMLINK_NOFOLLOW.
    Chown = 16,
    /// utime/utimes/futimesat/utimensat/lutimes by path: `addr` two
    /// timespecs ([`TIMES_LEN`] bytes) or nothing for "now"; `flags`
    /// AT_SYMLINK_NOFOLLOW.
    Utimes = 17,
    /// truncate: `aux` the length.
    Truncate = 18,
    /// getxattr/lgetxattr, FreeBSD extattr_get_file/_link: `path2` the
    /// name, `mode` the FreeBSD namespace, `out_len` the buffer's size (0:
    /// only the size); the value comes back as the reply's payload.
    GetXattr = 19,
    /// setxattr/lsetxattr, extattr_set_*: `path2` the name, the value as
    /// the payload, `mode` XATTR_CREATE/XATTR_REPLACE (Linux) or the
    /// namespace (FreeBSD).
    SetXattr = 20,
    /// listxattr/llistxattr, extattr_list_*: like GetXattr without a name.
    ListXattr = 21,
    /// removexattr/lremovexattr, extattr_delete_*: `path2` the name.
    RemoveXattr = 22,
    /// FreeBSD pathconf/lpathconf: `mode` the name; the value in the reply.
    Pathconf = 23,
    /// mknod/mknodat/mkfifo/mkfifoat of a FIFO or a regular file only:
    /// `mode` type and permissions.
    Mknod = 24,
    /// chdir (the path, absolute) or FreeBSD's fchdir (an empty path and
    /// the directory): the broker answers with the directory's real path
    /// (and, on Linux, an O_PATH descriptor the handler fchdir()s to).
    Chdir = 25,
    /// FreeBSD execve: `path` the program (absolute). The broker answers
    /// with the image to run and, for a dynamically linked one, its
    /// run-time linker (two descriptors); for a `#!` script, those of
    /// its interpreter, with the payload [`ExecScript`]'s bytes.
    Exec = 26,
    /// statfs(path, buf): the file system's `struct statfs` in the
    /// payload, from `fstatfs` on the place resolved beneath its rule.
    Statfs = 27,
    /// A sysctl node read by name (FreeBSD): `path` is the dotted name,
    /// `out_len` the program's buffer (0: the size only); the node's
    /// bytes travel as the payload and `value` is the size the kernel
    /// reported. No place, no descriptor; writes have no form.
    Sysctl = 28,
}

impl Op {
    /// Parses the wire value.
    pub fn from_u16(v: u16) -> Option<Op> {
        Some(match v {
            1 => Op::Open,
            2 => Op::Stat,
            3 => Op::Statx,
            4 => Op::Access,
            5 => Op::Readlink,
            6 => Op::Mkdir,
            7 => Op::Unlink,
            8 => Op::Rename,
            9 => Op::Connect,
            10 => Op::Bind,
            11 => Op::Sendto,
            12 => Op::Listen,
            13 => Op::Symlink,
            14 => Op::Link,
            15 => Op::Chmod,
            16 => Op::Chown,
            17 => Op::Utimes,
            18 => Op::Truncate,
            19 => Op::GetXattr,
            20 => Op::SetXattr,
            21 => Op::ListXattr,
            22 => Op::RemoveXattr,
            23 => Op::Pathconf,
            24 => Op::Mknod,
            25 => Op::Chdir,
            26 => Op::Exec,
            27 => Op::Statfs,
            28 => Op::Sysctl,
            _ => return None,
        })
    }
    /// Whether the op names a path (and so may carry a directory).
    pub fn has_path(self) -> bool {
        !self.has_socket() && self != Op::Sysctl
    }
    /// Whether the op acts on the program's socket.
    pub fn has_socket(self) -> bool {
        matches!(self, Op::Connect | Op::Bind | Op::Sendto | Op::Listen)
    }
    /// Whether `path2` is a second place looked up (with its own
    /// directory, `FD_DIR2`): rename's and link's targets.
    pub fn has_place2(self) -> bool {
        matches!(self, Op::Rename | Op::Link)
    }
    /// Whether `path2` carries bytes that are not looked up: a symlink's
    /// target, an extended attribute's name.
    pub fn has_text2(self) -> bool {
        matches!(self, Op::Symlink | Op::GetXattr | Op::SetXattr | Op::RemoveXattr)
    }
    /// The extended attribute operations.
    pub fn is_xattr(self) -> bool {
        matches!(self, Op::GetXattr | Op::SetXattr | Op::ListXattr | Op::RemoveXattr)
    }
    /// Whether the result travels as the reply's payload into the
    /// program's buffer (`out`, `out_len`).
    pub fn has_out(self) -> bool {
        matches!(
            self,
            Op::Stat | Op::Statx | Op::Statfs | Op::Readlink | Op::GetXattr | Op::ListXattr | Op::Sysctl
        )
    }
}

/// `fd_roles` bit: a directory descriptor for `path` follows.
pub const FD_DIR: u32 = 1;
/// `fd_roles` bit: a directory descriptor for `path2` follows.
pub const FD_DIR2: u32 = 2;
/// `fd_roles` bit: the program's socket follows.
pub const FD_SOCK: u32 = 4;

/// A request header. Every field is an integer or bytes, so any bit pattern
/// is a value; validity is checked by [`Request::validate`].
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Request {
    pub magic: u32,
    pub version: u16,
    pub op: u16,
    pub fd_roles: u32,
    pub flags: i32,
    pub mode: u32,
    pub path_len: u32,
    pub path2_len: u32,
    pub addr_len: u32,
    pub data_len: u32,
    pub out_len: u32,
    /// The process and thread the request is made for (procfs' `self`,
    /// broker/decide.rs `for_requester`).
    pub pid: i32,
    pub tid: i32,
    pub aux: u64,
    pub path: [u8; PATH_MAX],
    pub path2: [u8; PATH_MAX],
    pub addr: [u8; ADDR_MAX],
}

impl Request {
    /// A zeroed request for `op`.
    pub fn new(op: Op) -> Request {
        Request {
            magic: MAGIC,
            version: VERSION,
            op: op as u16,
            fd_roles: 0,
            flags: 0,
            mode: 0,
            path_len: 0,
            path2_len: 0,
            addr_len: 0,
            data_len: 0,
            out_len: 0,
            pid: 0,
            tid: 0,
            aux: 0,
            path: [0; PATH_MAX],
            path2: [0; PATH_MAX],
            addr: [0; ADDR_MAX],
        }
    }

    /// The header's bytes, for an iovec.
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: repr(C) with no padding (layout_has_no_padding): every
        // byte is a field's, so any byte view is valid to read.
        unsafe { std::slice::from_raw_parts((self as *const Request).cast(), std::mem::size_of::<Request>()) }
    }

    /// Checks a received request: `len` bytes arrived in the header buffer
    /// plus `data_len_received` payload bytes, with `nfds` descriptors
    /// after the reply socket. Returns the op on success.
    pub fn validate(
        &self,
        header_len: usize,
        data_received: usize,
        nfds_after_reply: usize,
    ) -> Result<Op, &'static str> {
        if header_len != std::mem::size_of::<Request>() {
            return Err("short header");
        }
        if self.magic != MAGIC || self.version != VERSION {
            return Err("bad magic or version");
        }
        let op = Op::from_u16(self.op).ok_or("unknown op")?;
        if self.fd_roles & !(FD_DIR | FD_DIR2 | FD_SOCK) != 0 {
            return Err("unknown descriptor role");
        }
        if self.fd_roles.count_ones() as usize != nfds_after_reply {
            return Err("descriptor count does not match roles");
        }
        let path_ok = |len: u32, buf: &[u8]| {
            let len = len as usize;
            len <= buf.len() && !buf[..len].contains(&0)
        };
        if !path_ok(self.path_len, &self.path) || !path_ok(self.path2_len, &self.path2) {
            return Err("bad path length or embedded NUL");
        }
        let out_max = if op.is_xattr() {
            XATTR_MAX
        } else if op == Op::Sysctl {
            SYSCTL_OUT_MAX
        } else {
            OUT_MAX.max(crate::sys::STATX_SIZE)
        };
        if self.addr_len as usize > ADDR_MAX || self.out_len as usize > out_max {
            return Err("bad address or result length");
        }
        if self.data_len as usize != data_received || self.data_len as usize > DATA_MAX {
            return Err("payload length mismatch");
        }
        if let Some(why) = self.check_call_fields(op) {
            return Err(why);
        }
        match op {
            Op::Sysctl => {
                let name = self.path();
                if self.fd_roles != 0
                    || self.path2_len != 0
                    || self.data_len != 0
                    || self.addr_len != 0
                    || self.flags != 0
                    || self.mode != 0
                {
                    return Err("sysctl carries a name only");
                }
                if !crate::policy::sysctl_name_ok(name) {
                    return Err("bad sysctl name");
                }
            }
            Op::Listen => {
                if self.fd_roles != FD_SOCK
                    || self.path_len != 0
                    || self.path2_len != 0
                    || self.data_len != 0
                    || self.addr_len != 0
                {
                    return Err("listen carries exactly a socket");
                }
            }
            Op::Connect | Op::Bind | Op::Sendto => {
                if self.fd_roles != FD_SOCK || self.path_len != 0 || self.path2_len != 0 {
                    return Err("socket op needs exactly a socket");
                }
                if op != Op::Sendto && self.data_len != 0 {
                    return Err("payload only for sendto");
                }
                if self.addr_len < 2 {
                    return Err("socket op without an address");
                }
            }
            Op::Rename | Op::Link => {
                if self.fd_roles & FD_SOCK != 0 || self.data_len != 0 || self.addr_len != 0 {
                    return Err("rename and link carry paths only");
                }
                if self.path2_len == 0 {
                    return Err("rename and link need a second path");
                }
            }
            Op::Symlink | Op::GetXattr | Op::SetXattr | Op::ListXattr | Op::RemoveXattr | Op::Utimes => {
                if self.fd_roles & (FD_SOCK | FD_DIR2) != 0 {
                    return Err("path op carries one path and at most one directory");
                }
                if op != Op::SetXattr && self.data_len != 0 {
                    return Err("payload only for setxattr");
                }
                if op != Op::Utimes && self.addr_len != 0 {
                    return Err("address only for utimes");
                }
                let text2 = self.path2_len as usize;
                match op {
                    Op::Symlink if text2 == 0 => return Err("symlink without a target"),
                    Op::ListXattr | Op::Utimes if text2 != 0 => return Err("no second path"),
                    Op::GetXattr | Op::SetXattr | Op::RemoveXattr if text2 == 0 || text2 > XATTR_NAME_MAX => {
                        return Err("bad attribute name length")
                    }
                    _ => {}
                }
            }
            _ => {
                if self.fd_roles & (FD_SOCK | FD_DIR2) != 0
                    || self.path2_len != 0
                    || self.data_len != 0
                    || self.addr_len != 0
                {
                    return Err("path op carries one path and at most one directory");
                }
            }
        }
        Ok(op)
    }

    /// The flag, mode and value fields of the file operations, each
    /// limited to what the call can mean: unknown bits are refused, not
    /// passed on to a kernel that might give them a meaning later.
    // mode_t is u32 on Linux, u16 on FreeBSD: the casts are needed there.
    #[allow(clippy::unnecessary_cast)]
    fn check_call_fields(&self, op: Op) -> Option<&'static str> {
        let nofollow = libc::AT_SYMLINK_NOFOLLOW;
        let bad = match op {
            Op::Rename => {
                let known = if cfg!(target_os = "linux") {
                    RENAME_NOREPLACE | RENAME_EXCHANGE
                } else {
                    RENAME_NOREPLACE
                };
                // RENAME_WHITEOUT (4) and anything newer are refused.
                self.flags & !known != 0 || self.flags == RENAME_NOREPLACE | RENAME_EXCHANGE || self.mode != 0
            }
            // AT_EMPTY_PATH would make the program's own descriptor the
            // source: a file no rule was checked for.
            Op::Link => self.flags & !libc::AT_SYMLINK_FOLLOW != 0 || self.mode != 0,
            Op::Symlink | Op::Truncate | Op::Statfs => self.flags != 0 || self.mode != 0,
            Op::Chmod => self.flags & !nofollow != 0 || self.mode & !0o7777 != 0,
            Op::Chown | Op::Pathconf => self.flags & !nofollow != 0 || (op == Op::Chown && self.mode != 0),
            Op::Utimes => {
                self.flags & !nofollow != 0
                    || self.mode != 0
                    || !(self.addr_len == 0 || self.addr_len as usize == TIMES_LEN)
            }
            Op::GetXattr | Op::ListXattr | Op::RemoveXattr | Op::SetXattr => {
                let ns_or_flags_ok = if cfg!(target_os = "freebsd") {
                    // EXTATTR_NAMESPACE_USER, EXTATTR_NAMESPACE_SYSTEM.
                    matches!(self.mode, 1 | 2)
                } else if op == Op::SetXattr {
                    // XATTR_CREATE, XATTR_REPLACE.
                    self.mode & !3 == 0
                } else {
                    self.mode == 0
                };
                self.flags & !nofollow != 0 || !ns_or_flags_ok || self.data_len as usize > XATTR_MAX
            }
            Op::Mknod => {
                let kind = self.mode & libc::S_IFMT as u32;
                self.flags != 0
                    || self.mode & !(libc::S_IFMT as u32 | 0o7777) != 0
                    || !(kind == 0 || kind == libc::S_IFIFO as u32 || kind == libc::S_IFREG as u32)
            }
            _ => false,
        };
        bad.then_some("unknown flag or mode bits for the call")
    }

    /// The operation, if the wire value names one.
    #[cfg(test)]
    pub fn op(&self) -> Op {
        Op::from_u16(self.op).unwrap_or_default()
    }

    pub fn path(&self) -> &[u8] {
        &self.path[..self.path_len as usize]
    }
    pub fn path2(&self) -> &[u8] {
        &self.path2[..self.path2_len as usize]
    }
    pub fn addr(&self) -> &[u8] {
        &self.addr[..self.addr_len as usize]
    }
}

/// How the broker decided, on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum WireDecision {
    Allowed = 0,
    AllowedByDescriptor = 1,
    DeniedNoRule = 2,
    DeniedAccess = 3,
    DeniedEscape = 4,
    DeniedBadRequest = 5,
}

/// Bytes of the path the broker used in a [`Reply`] (the record keeps
/// as much of it).
pub const VIA_MAX: usize = 240;

/// The broker's answer header.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    pub magic: u32,
    pub decision: u32,
    pub rule: u32,
    /// 0, or the errno the program's call returns.
    pub status: i32,
    /// The call's value on success (0 for most; bytes for readlink).
    pub value: i64,
    /// Result bytes following the header.
    pub data_len: u32,
    /// How many descriptors are attached: 1 (open, chdir), 2 (exec:
    /// the image and its run-time linker).
    pub has_fd: u32,
    /// Bytes of `via` in use: 0, or the path the broker decided last
    /// when symlinks led the lookup out of the root of the path asked
    /// for (truncated to [`VIA_MAX`]). A fixed field, so that the handler
    /// receives it on its stack before the result bytes.
    pub via_len: u32,
    pub reserved: u32,
    pub via: [u8; VIA_MAX],
}

impl Default for Reply {
    fn default() -> Reply {
        Reply {
            magic: 0,
            decision: 0,
            rule: 0,
            status: 0,
            value: 0,
            data_len: 0,
            has_fd: 0,
            via_len: 0,
            reserved: 0,
            via: [0; VIA_MAX],
        }
    }
}

impl Reply {
    /// Sets `via` (truncated to [`VIA_MAX`]).
    pub fn set_via(&mut self, path: &[u8]) {
        let n = path.len().min(VIA_MAX);
        self.via[..n].copy_from_slice(&path[..n]);
        self.via_len = n as u32;
    }
    /// The path in `via`, if any (bounded whatever `via_len` says).
    pub fn via(&self) -> &[u8] {
        &self.via[..(self.via_len as usize).min(VIA_MAX)]
    }

    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: plain integers and bytes, repr(C), no padding
        // (4*4 + 8 + 4*4 + VIA_MAX, a multiple of 8).
        unsafe { std::slice::from_raw_parts((self as *const Reply).cast(), std::mem::size_of::<Reply>()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_has_no_padding() {
        assert_eq!(std::mem::size_of::<Request>(), 56 + 2 * PATH_MAX + ADDR_MAX);
        assert_eq!(std::mem::size_of::<Reply>(), 40 + VIA_MAX);
    }

    #[test]
    fn validation_rejects_hostile_fields() {
        let hdr = std::mem::size_of::<Request>();
        let mut r = Request::new(Op::Open);
        r.path_len = 4;
        r.path[..4].copy_from_slice(b"/etc");
        assert_eq!(r.validate(hdr, 0, 0), Ok(Op::Open));
        assert!(r.validate(hdr - 1, 0, 0).is_err());
        assert!(r.validate(hdr, 1, 0).is_err(), "payload on open");
        assert!(r.validate(hdr, 0, 1).is_err(), "fd without role");
        let mut bad = r;
        bad.path_len = PATH_MAX as u32 + 1;
        assert!(bad.validate(hdr, 0, 0).is_err());
        let mut bad = r;
        bad.path[1] = 0;
        assert!(bad.validate(hdr, 0, 0).is_err(), "embedded NUL");
        let mut bad = r;
        bad.op = 99;
        assert!(bad.validate(hdr, 0, 0).is_err());
        let mut bad = r;
        bad.magic = 0;
        assert!(bad.validate(hdr, 0, 0).is_err());
        let mut bad = r;
        bad.fd_roles = FD_SOCK;
        assert!(bad.validate(hdr, 0, 1).is_err(), "socket on a path op");
        let mut c = Request::new(Op::Connect);
        c.fd_roles = FD_SOCK;
        c.addr_len = 16;
        assert_eq!(c.validate(hdr, 0, 1), Ok(Op::Connect));
        c.path_len = 1;
        assert!(c.validate(hdr, 0, 1).is_err());
    }

    /// A well-formed request of each new operation, then each one broken
    /// field by field: lengths past the buffers, unknown flag and mode
    /// bits, fields the operation does not carry.
    #[test]
    #[allow(clippy::unnecessary_cast)] // mode_t is u16 on FreeBSD
    fn the_new_operations_are_validated_field_by_field() {
        let hdr = std::mem::size_of::<Request>();
        let with = |op: Op, path2: &[u8]| {
            let mut r = Request::new(op);
            r.path_len = 2;
            r.path[..2].copy_from_slice(b"/f");
            r.path2_len = path2.len() as u32;
            r.path2[..path2.len()].copy_from_slice(path2);
            r
        };
        let ok = |r: &Request, data: usize| r.validate(hdr, data, r.fd_roles.count_ones() as usize);
        let xattr_mode = if cfg!(target_os = "freebsd") { 1 } else { 0 };
        let mut good = vec![
            with(Op::Symlink, b"target"),
            with(Op::Link, b"/g"),
            with(Op::Rename, b"/g"),
            with(Op::Chmod, b""),
            with(Op::Chown, b""),
            with(Op::Utimes, b""),
            with(Op::Truncate, b""),
            with(Op::GetXattr, b"user.x"),
            with(Op::SetXattr, b"user.x"),
            with(Op::ListXattr, b""),
            with(Op::RemoveXattr, b"user.x"),
            with(Op::Pathconf, b""),
            with(Op::Mknod, b""),
            with(Op::Statfs, b""),
        ];
        for r in good.iter_mut() {
            if r.op().is_xattr() {
                r.mode = xattr_mode;
            }
        }
        good[3].mode = 0o4755; // validate passes it; the broker refuses set-id
        good[12].mode = libc::S_IFIFO as u32 | 0o644;
        for r in &good {
            assert_eq!(ok(r, 0).map(|o| o as u16), Ok(r.op), "op {}", r.op);
        }
        let mut link = with(Op::Link, b"/g");
        link.fd_roles = FD_DIR | FD_DIR2;
        assert_eq!(ok(&link, 0), Ok(Op::Link));
        let mut bad = Vec::new();
        for r in &good {
            // A second path past its buffer, and a first one.
            let mut b = *r;
            b.path2_len = PATH_MAX as u32 + 1;
            bad.push((b, 0, "path2 past the end"));
            let mut b = *r;
            b.path_len = u32::MAX;
            bad.push((b, 0, "path past the end"));
            // A payload that did not arrive, or too long a result.
            let mut b = *r;
            b.data_len = 8;
            bad.push((b, 0, "payload length mismatch"));
            let mut b = *r;
            b.out_len = XATTR_MAX as u32 + 1;
            bad.push((b, 0, "result past the largest"));
            // A socket among the descriptors.
            let mut b = *r;
            b.fd_roles = FD_SOCK;
            bad.push((b, 0, "a socket"));
            if r.op() != Op::Utimes {
                let mut b = *r;
                b.addr_len = 16;
                bad.push((b, 0, "an address"));
            }
        }
        // Unknown flag bits, per operation.
        for (op, p2, flags, mode, why) in [
            (Op::Rename, &b"/g"[..], 4, 0, "RENAME_WHITEOUT"),
            (Op::Rename, b"/g", RENAME_NOREPLACE | RENAME_EXCHANGE, 0, "both"),
            (Op::Rename, b"/g", 0x100, 0, "unknown rename flag"),
            (Op::Link, b"/g", libc::AT_EMPTY_PATH, 0, "AT_EMPTY_PATH"),
            (Op::Link, b"/g", libc::AT_SYMLINK_NOFOLLOW, 0, "unknown link flag"),
            (Op::Symlink, b"t", libc::AT_SYMLINK_NOFOLLOW, 0, "symlink flag"),
            (Op::Symlink, b"", 0, 0, "symlink without a target"),
            (Op::Chmod, b"", libc::AT_EMPTY_PATH, 0o644, "chmod AT_EMPTY_PATH"),
            (Op::Chmod, b"", 0, 0o10644, "chmod type bits"),
            (Op::Chown, b"", libc::AT_EMPTY_PATH, 0, "chown AT_EMPTY_PATH"),
            (Op::Chown, b"", 0, 1, "chown mode"),
            (Op::Utimes, b"", libc::AT_EMPTY_PATH, 0, "utimes AT_EMPTY_PATH"),
            (Op::Truncate, b"", 1, 0, "truncate flag"),
            (Op::GetXattr, b"", 0, xattr_mode, "empty attribute name"),
            (
                Op::GetXattr,
                &[b'n'; XATTR_NAME_MAX + 1],
                0,
                xattr_mode,
                "long attribute name",
            ),
            (Op::SetXattr, b"user.x", 0, 8, "unknown setxattr flag"),
            (Op::ListXattr, b"user.x", 0, xattr_mode, "a name on a list"),
            (Op::RemoveXattr, b"user.x", 0x8000, xattr_mode, "unknown xattr flag"),
            (Op::Pathconf, b"", 0x8000, 0, "unknown pathconf flag"),
            (Op::Statfs, b"", libc::AT_SYMLINK_NOFOLLOW, 0, "statfs has no flags"),
            (Op::Mknod, b"", 0, libc::S_IFCHR as u32 | 0o600, "a device"),
            (Op::Mknod, b"", 0, libc::S_IFBLK as u32 | 0o600, "a block device"),
            (Op::Mknod, b"", 0, libc::S_IFSOCK as u32 | 0o600, "a socket"),
        ] {
            let mut b = with(op, p2);
            b.flags = flags;
            b.mode = mode;
            bad.push((b, 0, why));
        }
        let mut t = with(Op::Utimes, b"");
        t.addr_len = TIMES_LEN as u32 - 1;
        bad.push((t, 0, "short times"));
        let mut s = with(Op::Symlink, b"t");
        s.fd_roles = FD_DIR2;
        bad.push((s, 0, "a second directory for a symlink"));
        for (b, data, why) in bad {
            assert!(
                b.validate(hdr, data, b.fd_roles.count_ones() as usize).is_err(),
                "{why}: {}",
                b.op
            );
        }
        // setxattr carries its value; nothing else does.
        let mut sx = with(Op::SetXattr, b"user.x");
        sx.mode = xattr_mode;
        sx.data_len = 5;
        assert_eq!(ok(&sx, 5), Ok(Op::SetXattr));
        sx.data_len = XATTR_MAX as u32 + 1;
        assert!(sx.validate(hdr, XATTR_MAX + 1, 0).is_err());
    }
}
