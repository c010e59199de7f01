//! The broker's socket operations: connect, bind, sendto and listen on
//! the program's own socket, to addresses the policy allows (the decision
//! is [`super::decide::net_rule`] and [`super::decide::listen_grant`]).
use super::decide::{listen_grant, net_rule};
use super::{cvt, errno, Grant, Outcome, State};
use crate::proto::{Op, Request, WireDecision};
use std::os::fd::RawFd;

impl State {
    /// listen on the program's socket. On an unbound IP socket the kernel
    /// would first bind it to every address and a free port, a bind the
    /// program never asked for: it needs a bind rule covering that
    /// (`0.0.0.0:0`, `[::]:0`, or a wider one). A socket already bound
    /// (by a brokered bind, or before entering) listens on its own
    /// authority; other families do not bind implicitly.
    pub(super) fn listen(&self, req: &Request, sock: RawFd) -> Outcome {
        if !is_socket(sock) {
            return Outcome::deny(WireDecision::DeniedBadRequest);
        }
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: getsockname into a sockaddr_storage of `len` bytes.
        if unsafe { libc::getsockname(sock, (&mut ss as *mut libc::sockaddr_storage).cast(), &mut len) } < 0 {
            return Outcome::allowed(Grant::Descriptor).with_result(Err(errno()));
        }
        // SAFETY: the kernel wrote `len` bytes of the structure.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&ss as *const libc::sockaddr_storage).cast::<u8>(),
                (len as usize).min(std::mem::size_of_val(&ss)),
            )
        };
        let grant = match listen_grant(&self.policy, bytes) {
            Ok(g) => g,
            Err(d) => return Outcome::deny(d),
        };
        // SAFETY: a socket we hold.
        Outcome::allowed(grant).with_result(cvt(unsafe { libc::listen(sock, req.flags) }))
    }

    /// connect, bind, sendto on the program's socket.
    pub(super) fn net(&self, op: Op, req: &Request, sock: RawFd, data: &[u8]) -> Outcome {
        if !is_socket(sock) {
            return Outcome::deny(WireDecision::DeniedBadRequest);
        }
        let addr = req.addr();
        let rule = match net_rule(&self.policy, op, addr) {
            Ok(rule) => rule,
            Err(d) => return Outcome::deny(d),
        };
        let out = Outcome::allowed(Grant::Rule(rule));
        let sa = addr.as_ptr().cast::<libc::sockaddr>();
        let len = addr.len() as libc::socklen_t;
        // SAFETY: sa/len describe the validated address bytes; sock is a socket we hold.
        let r = unsafe {
            match op {
                Op::Connect => libc::connect(sock, sa, len) as isize,
                Op::Bind => libc::bind(sock, sa, len) as isize,
                _ => {
                    let allowed = libc::MSG_DONTWAIT | libc::MSG_EOR | libc::MSG_OOB | libc::MSG_DONTROUTE;
                    let flags = (req.flags & allowed) | libc::MSG_NOSIGNAL;
                    libc::sendto(sock, data.as_ptr().cast(), data.len(), flags, sa, len)
                }
            }
        };
        out.with_result(if r < 0 { Err(errno()) } else { Ok(r as i64) })
    }
}

fn is_socket(fd: RawFd) -> bool {
    // SAFETY: plain fstat into a zeroed struct.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFSOCK
    }
}
