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
pub const VERSION: u16 = 1;
/// Longest path carried (Linux PATH_MAX; FreeBSD's is smaller).
pub const PATH_MAX: usize = 4096;
/// Largest socket address carried (sockaddr_storage is 128 bytes).
pub const ADDR_MAX: usize = 128;
/// Largest sendto payload brokered (a UDP datagram).
pub const DATA_MAX: usize = 65536;
/// Largest result payload (readlink target, stat buffers).
pub const OUT_MAX: usize = PATH_MAX;

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
    /// chdir (the path, absolute) or FreeBSD's fchdir (an empty path and
    /// the directory): the broker answers with the directory's real path
    /// (and, on Linux, an O_PATH descriptor the handler fchdir()s to).
    Chdir = 13,
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
            13 => Op::Chdir,
            _ => return None,
        })
    }
    /// Whether the op names a path (and so may carry a directory).
    pub fn has_path(self) -> bool {
        !self.has_socket()
    }
    /// Whether the op acts on the program's socket.
    pub fn has_socket(self) -> bool {
        matches!(self, Op::Connect | Op::Bind | Op::Sendto | Op::Listen)
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
            aux: 0,
            path: [0; PATH_MAX],
            path2: [0; PATH_MAX],
            addr: [0; ADDR_MAX],
        }
    }

    /// The header's bytes, for an iovec.
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: repr(C), no padding between integer fields of these sizes
        // except none; any byte view of plain data is valid to read.
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
        if self.addr_len as usize > ADDR_MAX || self.out_len as usize > OUT_MAX.max(crate::sys::STATX_SIZE) {
            return Err("bad address or result length");
        }
        if self.data_len as usize != data_received || self.data_len as usize > DATA_MAX {
            return Err("payload length mismatch");
        }
        match op {
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
            Op::Rename => {
                if self.fd_roles & FD_SOCK != 0 || self.data_len != 0 || self.addr_len != 0 {
                    return Err("rename carries paths only");
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

/// The broker's answer header.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
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
    /// 1 if a descriptor is attached (open).
    pub has_fd: u32,
}

impl Reply {
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: plain integers, repr(C), no padding (4*4 + 8 + 4*2).
        unsafe { std::slice::from_raw_parts((self as *const Reply).cast(), std::mem::size_of::<Reply>()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_has_no_padding() {
        assert_eq!(std::mem::size_of::<Request>(), 48 + 2 * PATH_MAX + ADDR_MAX);
        assert_eq!(std::mem::size_of::<Reply>(), 32);
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
}
