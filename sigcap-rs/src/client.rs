//! The handler's side of a broker transaction.
//!
//! [`perform`] turns a decoded [`Call`] into a request, sends it with a
//! fresh private reply socket, and waits for the answer. Everything runs
//! on the stack with raw system calls, so it is safe inside a signal
//! handler; it is also what the explicit request API uses, so benchmarks
//! compare the same channel.
//!
//! A private reply socket per request (instead of one shared channel)
//! means concurrent threads, nested handlers and forked children never
//! read each other's answers, and no lock is needed.
//!
//! Every wait is bounded by the channel's timeout (poll on the control
//! socket for room, then on the reply socket for the answer; one deadline
//! for both): a broker that is stopped, or busy on a call that blocks,
//! makes the call fail with its original error and the record say
//! [`DenyReason::BrokerTimeout`]. The request is not withdrawn: the
//! broker may still perform it afterwards (a file created, a socket
//! connected), with its answer going nowhere.
use crate::proto::{
    Op, Reply, Request, ADDR_MAX, DATA_MAX, FD_DIR, FD_DIR2, FD_SOCK, MAGIC, PATH_MAX, TIMES_LEN, XATTR_MAX,
    XATTR_NAME_MAX,
};
use crate::record::{Decision, DenyReason, StackWriter, Violation};
use crate::sys;
use crate::syscall::{Call, TIMES_TIMEVAL, TIMES_UTIMBUF};
use std::fmt::Write as _;
use std::os::fd::RawFd;

/// The handler's way to the broker.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Channel {
    /// The control socket.
    pub fd: RawFd,
    /// What `fd` referred to at `enter()`. A number the program closed
    /// (closefrom) and reused for an unrelated file or socket no longer
    /// is it: nothing is sent there.
    pub id: sys::FileId,
    /// The most one request waits for the broker, in milliseconds.
    pub timeout_ms: i32,
}

/// What the program's call returns, and why.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answer {
    pub decision: Decision,
    /// A value (>= 0) or `-errno`.
    pub result: i64,
}

/// The record's decision for the [`crate::proto::WireDecision`] the
/// broker sent. Here rather than in proto.rs, so that the wire format
/// does not depend on the record (proto sits below syscall and record).
fn to_decision(v: u32, rule: u32) -> Decision {
    match v {
        0 => Decision::Allowed { rule },
        1 => Decision::AllowedByDescriptor,
        2 => Decision::Denied(DenyReason::NoRule),
        3 => Decision::Denied(DenyReason::Access),
        4 => Decision::Denied(DenyReason::Escape),
        _ => Decision::Denied(DenyReason::BadRequest),
    }
}

fn bad(errno: i32) -> Answer {
    Answer {
        decision: Decision::Denied(DenyReason::BadRequest),
        result: -(errno as i64),
    }
}

/// Runs `call` through the broker on `ch`. `orig_errno` is what the
/// program gets when the broker refuses, is gone or does not answer in
/// time. The path or address is written into `v`'s detail.
pub(crate) fn perform(ch: &Channel, call: &Call, orig_errno: i32, v: &mut Violation) -> Answer {
    perform_into(ch, call, orig_errno, v, None)
}

/// [`perform`], with what an allowed exec runs landing in `img` (the
/// handler runs it, exec.rs, after recording).
pub(crate) fn perform_into(
    ch: &Channel,
    call: &Call,
    orig_errno: i32,
    v: &mut Violation,
    img: Option<&mut crate::exec::Image>,
) -> Answer {
    let deadline = sys::monotonic_ms() + i64::from(ch.timeout_ms.max(0));
    let ctl = ch.fd;
    let denied = |decision| Answer {
        decision,
        result: -(orig_errno as i64),
    };
    let timed_out = || denied(Decision::Denied(DenyReason::BrokerTimeout));
    let mut req = Request::new(call.op);
    let mut fds: [RawFd; sys::MAX_FDS + 1] = [-1; sys::MAX_FDS + 1];
    let mut nfds = 1; // slot 0: the reply socket
    let mut data_iov = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
    req.pid = v.pid;
    req.tid = v.tid as i32;
    req.flags = call.flags;
    req.mode = call.mode;
    req.aux = call.aux;
    req.out_len = call.out_len.min(u32::MAX as usize) as u32;
    if call.op.has_path() {
        // FreeBSD's fchdir: a directory and no path; the broker names it.
        let fchdir = call.op == Op::Chdir && call.path == 0 && call.dirfd != libc::AT_FDCWD;
        if !fchdir {
            match sys::read_user_cstr(&mut req.path, call.path) {
                Ok(n) => req.path_len = n as u32,
                Err(e) => return bad(e),
            }
            v.set_detail(req.path());
        }
        let empty_ok =
            matches!(call.op, Op::Stat | Op::Statx) && req.path_len == 0 && call.flags & libc::AT_EMPTY_PATH != 0;
        if req.path_len == 0 && !empty_ok && !fchdir {
            // The kernel's own answer to an empty path.
            return bad(libc::ENOENT);
        }
        // A path from the working directory is made absolute against the
        // program's current one, now, by this thread (cwd.rs): the broker
        // decides on that. (An empty one with AT_EMPTY_PATH names the
        // directory itself.)
        if call.dirfd == libc::AT_FDCWD && req.path.first() != Some(&b'/') && !fchdir {
            match crate::cwd::absolute(&mut req.path, req.path_len as usize, v) {
                Ok(n) => req.path_len = n as u32,
                Err(e) => return bad(e),
            }
        }
        if let Some(fd) = own_fd_name(call.op, req.path()) {
            // The program's own descriptor by its /proc name (glibc's
            // lchmod, fchmodat(AT_SYMLINK_NOFOLLOW), reaches the file of
            // an O_PATH descriptor so): the broker's /proc is its own, so
            // the descriptor goes along and the broker decides on the
            // path it names, "." beneath it.
            req.path[0] = b'.';
            req.path_len = 1;
            req.fd_roles |= FD_DIR;
            fds[nfds] = fd;
            nfds += 1;
        } else if call.dirfd != libc::AT_FDCWD && (req.path.first() != Some(&b'/') || empty_ok || fchdir) {
            req.fd_roles |= FD_DIR;
            fds[nfds] = call.dirfd;
            nfds += 1;
        }
        if call.op.has_place2() || (call.op.has_text2() && call.path2 != 0) {
            match sys::read_user_cstr(&mut req.path2, call.path2) {
                Ok(n) => req.path2_len = n as u32,
                Err(e) => return bad(e),
            }
            v.set_detail2(req.path2());
            // A second place (not a symlink's text or an xattr's name)
            // from the working directory: made absolute as the first.
            let relative2 = req.path2.first() != Some(&b'/') && req.path2_len > 0;
            if call.op.has_place2() && call.dirfd2 == libc::AT_FDCWD && relative2 {
                match crate::cwd::absolute(&mut req.path2, req.path2_len as usize, v) {
                    Ok(n) => req.path2_len = n as u32,
                    Err(e) => return bad(e),
                }
            }
            if call.op.has_place2() && call.dirfd2 != libc::AT_FDCWD && req.path2.first() != Some(&b'/') {
                req.fd_roles |= FD_DIR2;
                fds[nfds] = call.dirfd2;
                nfds += 1;
            }
        }
        if let Err(e) = extra_fields(call, &mut req, &mut data_iov) {
            return bad(e);
        }
    } else if call.op == Op::Sysctl {
        // A node's name; the broker checks its bytes and its rule.
        match sys::read_user_cstr(&mut req.path, call.path) {
            Ok(n) => req.path_len = n as u32,
            Err(e) => return bad(e),
        }
        v.set_detail(req.path());
        // A larger buffer is fine; a larger node gets ENOMEM.
        req.out_len = req.out_len.min(crate::proto::SYSCTL_OUT_MAX as u32);
    } else if call.op == Op::Listen {
        // No address: the socket's own, as the record's detail (an
        // unbound one shows 0.0.0.0:0, what the kernel would bind).
        let mut a = [0u8; ADDR_MAX];
        let mut len = ADDR_MAX as libc::socklen_t;
        // SAFETY: getsockname into a stack buffer of `len` bytes.
        if unsafe { libc::getsockname(call.sock, a.as_mut_ptr().cast(), &mut len) } == 0 && len >= 2 {
            describe_addr(&a[..(len as usize).min(ADDR_MAX)], v);
        }
        req.fd_roles = FD_SOCK;
        fds[nfds] = call.sock;
        nfds += 1;
    } else {
        if call.addr_len > ADDR_MAX || call.addr_len < 2 {
            return bad(libc::EINVAL);
        }
        if let Err(e) = sys::read_user(&mut req.addr[..call.addr_len], call.addr) {
            return bad(e);
        }
        req.addr_len = call.addr_len as u32;
        describe_addr(req.addr(), v);
        req.fd_roles = FD_SOCK;
        fds[nfds] = call.sock;
        nfds += 1;
        if call.op == Op::Sendto {
            if call.data_len > DATA_MAX {
                return bad(libc::EMSGSIZE);
            }
            // The kernel copies the payload straight from the program's
            // buffer and reports EFAULT if it is bad.
            data_iov = libc::iovec {
                iov_base: call.data as *mut libc::c_void,
                iov_len: call.data_len,
            };
            req.data_len = call.data_len as u32;
        }
    }

    if !ch.id.still_held(ctl) {
        // Closed, or now an unrelated file or socket.
        return denied(Decision::BrokerUnavailable);
    }
    let [mine, theirs] = match sys::seqpacket_pair() {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    fds[0] = theirs;
    let iov = [
        libc::iovec {
            iov_base: req.as_bytes().as_ptr() as *mut libc::c_void,
            iov_len: req.as_bytes().len(),
        },
        data_iov,
    ];
    let iov = &iov[..if data_iov.iov_len > 0 { 2 } else { 1 }];
    // The control socket's queue is full while the broker does not read
    // (stopped, or its loop busy): wait for room, until the deadline.
    let sent = loop {
        match sys::send_with_fds(ctl, iov, &fds[..nfds], libc::MSG_DONTWAIT) {
            Err(libc::EAGAIN) => {
                if let Err(e) = sys::wait_fd(ctl, libc::POLLOUT, deadline) {
                    break Err(e);
                }
            }
            r => break r,
        }
    };
    sys::close(theirs);
    match sent {
        Ok(_) => {}
        Err(libc::ETIMEDOUT) => {
            sys::close(mine);
            return timed_out();
        }
        // A descriptor argument was not open: the call's own error.
        Err(e @ (libc::EBADF | libc::EFAULT)) => {
            sys::close(mine);
            return bad(e);
        }
        Err(_) => {
            sys::close(mine);
            return denied(Decision::BrokerUnavailable);
        }
    }

    let mut hdr = Reply::default();
    // chdir's answer, the directory's real path, lands in the request's
    // path buffer, which is no longer needed (no second 4 KiB of stack);
    // exec's `#!` words in the second path's.
    let dir_out = req.path.as_mut_ptr();
    let words_out = req.path2.as_mut_ptr();
    let mut iov = [
        libc::iovec {
            iov_base: (&mut hdr as *mut Reply).cast(),
            iov_len: std::mem::size_of::<Reply>(),
        },
        // Results land directly in the program's buffer; the kernel
        // checks it and fails with EFAULT instead of us faulting.
        match call.op {
            Op::Chdir => libc::iovec {
                iov_base: dir_out.cast(),
                iov_len: PATH_MAX,
            },
            Op::Exec => libc::iovec {
                iov_base: words_out.cast(),
                iov_len: PATH_MAX,
            },
            _ => libc::iovec {
                iov_base: call.out as *mut libc::c_void,
                iov_len: if call.op.has_out() && call.out != 0 {
                    call.out_len
                } else {
                    0
                },
            },
        },
    ];
    let got = match sys::wait_fd(mine, libc::POLLIN, deadline) {
        // Ready: an answer, or the broker closed its end (gone).
        Ok(()) => sys::recv_with_fds(mine, &mut iov),
        Err(libc::ETIMEDOUT) => {
            sys::close(mine);
            return timed_out();
        }
        Err(e) => Err(e),
    };
    sys::close(mine);
    let r = match got {
        Ok(r) => r,
        Err(e @ libc::EFAULT) => return bad(e),
        Err(_) => return denied(Decision::BrokerUnavailable),
    };
    // Exec's answer is two descriptors (the image and its linker) or
    // one (a static image); every other one at most one.
    let expected = match call.op {
        Op::Exec if hdr.has_fd == 2 && r.nfds == 2 => 2,
        _ if hdr.has_fd == 1 && r.nfds == 1 => 1,
        _ => 0,
    };
    let fd = if expected >= 1 { r.fds[0] } else { -1 };
    let fd2 = if expected == 2 { r.fds[1] } else { -1 };
    if r.len < std::mem::size_of::<Reply>() || hdr.magic != MAGIC {
        sys::close_received(&r);
        return denied(Decision::BrokerUnavailable);
    }
    if r.nfds > expected {
        // Descriptors we did not ask for.
        sys::close_received(&r);
        return denied(Decision::BrokerUnavailable);
    }
    // Symlinks led the lookup out of its root: the path the broker
    // decided in the end, beside the one asked for.
    v.set_via(hdr.via());
    let decision = to_decision(hdr.decision, hdr.rule);
    if !decision.is_allowed() {
        sys::close_received(&r);
        return denied(decision);
    }
    if hdr.status != 0 {
        sys::close_received(&r);
        return Answer {
            decision,
            result: -(hdr.status as i64),
        };
    }
    let result = match call.op {
        Op::Open => {
            if fd < 0 {
                return denied(Decision::BrokerUnavailable);
            }
            // open(2) returns the lowest free number (`close(0);
            // open("/dev/null")` redirects stdin), but the reply socket
            // held one while the descriptor arrived: move it down.
            // SAFETY: fd is ours; F_DUPFD_CLOEXEC makes a new one.
            let low = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
            let fd = if low >= 0 && low < fd {
                sys::close(fd);
                low
            } else {
                if low >= 0 {
                    sys::close(low);
                }
                fd
            };
            // The descriptor arrives close-on-exec (MSG_CMSG_CLOEXEC);
            // its flags become what the program's open asked for.
            let want = fd_flags(call.flags);
            if want != libc::FD_CLOEXEC {
                // SAFETY: fd is ours.
                unsafe { libc::fcntl(fd, libc::F_SETFD, want) };
            }
            fd as i64
        }
        Op::Stat | Op::Statx | Op::Statfs => {
            if hdr.data_len as usize != call.out_len || r.len != std::mem::size_of::<Reply>() + call.out_len {
                return Answer {
                    decision,
                    result: -(libc::EIO as i64),
                };
            }
            0
        }
        // A value read into the program's buffer (a sysctl's size query
        // too, which must bring no bytes): the bytes that arrived must be
        // the value's, all of them.
        Op::GetXattr | Op::ListXattr | Op::Sysctl if req.out_len > 0 || call.op == Op::Sysctl => {
            let got = r.len - std::mem::size_of::<Reply>();
            if hdr.value < 0 || got != hdr.data_len as usize || (req.out_len > 0 && hdr.data_len as i64 != hdr.value) {
                return Answer {
                    decision,
                    result: -(libc::EIO as i64),
                };
            }
            hdr.value
        }
        Op::Exec => {
            let n = hdr.data_len as usize;
            let fits = n <= crate::exec::SCRIPT_MAX && r.len == std::mem::size_of::<Reply>() + n;
            match img {
                Some(img) if fd >= 0 && fits => {
                    img.program = fd;
                    img.linker = fd2;
                    // SAFETY: n bytes were received at words_out, the
                    // request's second path buffer of PATH_MAX bytes.
                    let words = unsafe { std::slice::from_raw_parts(words_out.cast_const(), n) };
                    img.script[..n].copy_from_slice(words);
                    img.script_len = n;
                    0
                }
                _ => {
                    sys::close_received(&r);
                    return Answer {
                        decision,
                        result: -(if fits { libc::ENOEXEC } else { libc::E2BIG } as i64),
                    };
                }
            }
        }
        Op::Chdir => {
            let n = hdr.data_len as usize;
            if n >= PATH_MAX || r.len != std::mem::size_of::<Reply>() + n {
                sys::close(fd);
                return denied(Decision::BrokerUnavailable);
            }
            // SAFETY: the broker's n bytes were received at dir_out, the
            // request's path buffer of PATH_MAX bytes.
            let real = unsafe { std::slice::from_raw_parts(dir_out.cast_const(), n) };
            match crate::cwd::change(fd, real, call) {
                Ok(()) => 0,
                Err(e) => -(e as i64),
            }
        }
        _ => hdr.value,
    };
    Answer { decision, result }
}

/// The fields of the file operations beyond paths, read from the
/// program's memory on the stack: utimes' times as two timespecs, an
/// extended attribute's value (sent from the program's buffer, as
/// sendto's payload) and the size of its result buffer.
fn extra_fields(call: &Call, req: &mut Request, data_iov: &mut libc::iovec) -> Result<(), i32> {
    match call.op {
        Op::Utimes if call.addr != 0 => {
            let ts = read_times(call.addr, call.aux)?;
            let mut i = 0;
            for t in ts {
                for w in t {
                    req.addr[i..i + 8].copy_from_slice(&w.to_ne_bytes());
                    i += 8;
                }
            }
            req.addr_len = TIMES_LEN as u32;
        }
        Op::GetXattr | Op::SetXattr | Op::RemoveXattr => {
            if req.path2_len == 0 {
                // No name pointer (EFAULT) or an empty name (ERANGE).
                return Err(if call.path2 == 0 { libc::EFAULT } else { libc::ERANGE });
            }
            if req.path2_len as usize > XATTR_NAME_MAX {
                return Err(libc::ERANGE);
            }
        }
        _ => {}
    }
    match call.op {
        Op::SetXattr => {
            if call.data_len > XATTR_MAX {
                return Err(libc::E2BIG);
            }
            *data_iov = libc::iovec {
                iov_base: call.data as *mut libc::c_void,
                iov_len: call.data_len,
            };
            req.data_len = call.data_len as u32;
        }
        // A larger buffer than the largest value is as good as that one.
        Op::GetXattr | Op::ListXattr => {
            req.out_len = if call.out == 0 {
                0
            } else {
                call.out_len.min(XATTR_MAX) as u32
            };
        }
        _ => {}
    }
    Ok(())
}

/// The descriptor number in `/proc/self/fd/N` (or `/proc/thread-self/
/// fd/N`) for the calls on a file's metadata and link's source (Linux);
/// None for any other path or call.
fn own_fd_name(op: Op, path: &[u8]) -> Option<RawFd> {
    if !cfg!(target_os = "linux")
        || !matches!(
            op,
            Op::Chmod
                | Op::Chown
                | Op::Utimes
                | Op::Truncate
                | Op::GetXattr
                | Op::SetXattr
                | Op::ListXattr
                | Op::RemoveXattr
                | Op::Link
        )
    {
        return None;
    }
    let n = path
        .strip_prefix(b"/proc/self/fd/")
        .or_else(|| path.strip_prefix(b"/proc/thread-self/fd/"))?;
    if n.is_empty() || n.len() > 9 || !n.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(n.iter().fold(0, |v, d| v * 10 + RawFd::from(d - b'0')))
}

/// Two times at `addr` in the form `kind`, as (seconds, nanoseconds).
fn read_times(addr: usize, kind: u64) -> Result<[[i64; 2]; 2], i32> {
    let mut b = [0u8; 32];
    let word = |b: &[u8; 32], i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i * 8..i * 8 + 8]);
        i64::from_ne_bytes(w)
    };
    Ok(match kind {
        TIMES_UTIMBUF => {
            sys::read_user(&mut b[..16], addr)?;
            [[word(&b, 0), 0], [word(&b, 1), 0]]
        }
        TIMES_TIMEVAL => {
            sys::read_user(&mut b, addr)?;
            let us = |x: i64| {
                // The kernel refuses microseconds out of range; so does
                // the conversion, rather than carry them into seconds.
                if (0..1_000_000).contains(&x) {
                    Ok(x * 1000)
                } else {
                    Err(libc::EINVAL)
                }
            };
            [[word(&b, 0), us(word(&b, 1))?], [word(&b, 2), us(word(&b, 3))?]]
        }
        _ => {
            sys::read_user(&mut b, addr)?;
            [[word(&b, 0), word(&b, 1)], [word(&b, 2), word(&b, 3)]]
        }
    })
}

/// Writes a readable form of a socket address into the record, without
/// allocating.
pub(crate) fn describe_addr(b: &[u8], v: &mut Violation) {
    let mut buf = [0u8; crate::record::DETAIL_MAX];
    let mut w = StackWriter::new(&mut buf);
    #[cfg(target_os = "linux")]
    let family = u16::from_ne_bytes([b[0], b[1]]) as i32;
    #[cfg(target_os = "freebsd")]
    let family = b[1] as i32;
    let _ = match family {
        libc::AF_INET if b.len() >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: length checked; unaligned read of plain data.
            let sa: libc::sockaddr_in = unsafe { std::ptr::read_unaligned(b.as_ptr().cast()) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr));
            write!(w, "{}:{}", ip, u16::from_be(sa.sin_port))
        }
        libc::AF_INET6 if b.len() >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above.
            let sa: libc::sockaddr_in6 = unsafe { std::ptr::read_unaligned(b.as_ptr().cast()) };
            let ip = std::net::Ipv6Addr::from(sa.sin6_addr.s6_addr);
            write!(w, "[{}]:{}", ip, u16::from_be(sa.sin6_port))
        }
        libc::AF_UNIX => {
            let off = std::mem::offset_of!(libc::sockaddr_un, sun_path);
            let path = b.get(off..).unwrap_or(&[]);
            let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
            let _ = w.write_str("unix:");
            match std::str::from_utf8(&path[..end]) {
                Ok(s) => w.write_str(s),
                Err(_) => w.write_str("?"),
            }
        }
        f => write!(w, "family {f}"),
    };
    let n = w.as_bytes().len();
    v.set_detail(&buf[..n]);
}

/// The kernel form of a socket address, for explicit requests and tests.
pub(crate) fn sockaddr_bytes(sa: &std::net::SocketAddr) -> ([u8; ADDR_MAX], usize) {
    let mut out = [0u8; ADDR_MAX];
    // SAFETY: zeroed sockaddr structs filled field by field, then copied as bytes.
    unsafe {
        match sa {
            std::net::SocketAddr::V4(a) => {
                let mut s: libc::sockaddr_in = std::mem::zeroed();
                #[cfg(target_os = "freebsd")]
                {
                    s.sin_len = std::mem::size_of::<libc::sockaddr_in>() as u8;
                }
                s.sin_family = libc::AF_INET as _;
                s.sin_port = a.port().to_be();
                s.sin_addr.s_addr = u32::from(*a.ip()).to_be();
                let n = std::mem::size_of_val(&s);
                std::ptr::copy_nonoverlapping((&s as *const libc::sockaddr_in).cast::<u8>(), out.as_mut_ptr(), n);
                (out, n)
            }
            std::net::SocketAddr::V6(a) => {
                let mut s: libc::sockaddr_in6 = std::mem::zeroed();
                #[cfg(target_os = "freebsd")]
                {
                    s.sin6_len = std::mem::size_of::<libc::sockaddr_in6>() as u8;
                }
                s.sin6_family = libc::AF_INET6 as _;
                s.sin6_port = a.port().to_be();
                s.sin6_addr.s6_addr = a.ip().octets();
                s.sin6_scope_id = a.scope_id();
                let n = std::mem::size_of_val(&s);
                std::ptr::copy_nonoverlapping((&s as *const libc::sockaddr_in6).cast::<u8>(), out.as_mut_ptr(), n);
                (out, n)
            }
        }
    }
}

/// The descriptor flags an open(2) with `flags` gives: FD_CLOEXEC for
/// O_CLOEXEC and, on FreeBSD 15, FD_CLOFORK for O_CLOFORK.
fn fd_flags(flags: i32) -> i32 {
    let mut f = 0;
    if flags & libc::O_CLOEXEC != 0 {
        f |= libc::FD_CLOEXEC;
    }
    #[cfg(target_os = "freebsd")]
    if flags & sys::O_CLOFORK != 0 {
        f |= sys::FD_CLOFORK;
    }
    f
}
