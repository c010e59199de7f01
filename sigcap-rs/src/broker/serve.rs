//! The broker's request loop: receive, check the reply socket and the
//! request, hand the work to the pool, and answer on the request's own
//! reply socket without ever waiting on the program.
use super::{Outcome, State};
use crate::proto::{Op, Reply, Request, WireDecision, DATA_MAX, MAGIC};
use crate::sys;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

/// How many malformed requests the broker names on its standard error
/// (the program's): enough to debug a client, too few for a hostile
/// program to flood the terminal with.
const REFUSALS_SHOWN: u32 = 8;

/// Says why a request was refused as malformed (the record only says
/// `bad-request`), for the first [`REFUSALS_SHOWN`].
fn refused(count: &mut u32, why: &str, op: u16) {
    *count += 1;
    if *count <= REFUSALS_SHOWN {
        eprintln!("sigcap broker: refused a malformed request (op {op}): {why}");
    }
}

pub(super) fn serve(state: &Arc<State>, ctl: RawFd) {
    let mut req = Box::new(Request::new(Op::Open));
    let mut data = vec![0u8; DATA_MAX];
    let mut refusals = 0u32;
    loop {
        let mut iov = [
            libc::iovec {
                iov_base: (&mut *req as *mut Request).cast(),
                iov_len: std::mem::size_of::<Request>(),
            },
            libc::iovec {
                iov_base: data.as_mut_ptr().cast(),
                iov_len: data.len(),
            },
        ];
        let r = match sys::recv_with_fds(ctl, &mut iov) {
            Ok(r) => r,
            Err(_) => return,
        };
        if r.len == 0 && r.nfds == 0 && peer_gone(ctl) {
            return;
        }
        if r.nfds == 0 {
            // No reply socket: nobody to answer. Drop it.
            continue;
        }
        let reply_fd = r.fds[0];
        let rest: Vec<RawFd> = r.fds[1..r.nfds].to_vec();
        // Only an AF_UNIX SOCK_SEQPACKET socket is answered on: anything
        // else (a stream socket whose buffer is full, a pipe, a file) is
        // closed without a byte written. Nor is the program's end of the
        // control socket, which a job would hold.
        if !sys::is_unix_seqpacket(reply_fd) || state.is_ctl_peer(reply_fd) {
            close_all(reply_fd, &rest);
            continue;
        }
        let header_len = r.len.min(std::mem::size_of::<Request>());
        let data_len = r.len - header_len;
        let op = if r.truncated {
            Err("truncated message")
        } else if rest.iter().any(|&fd| state.is_ctl_peer(fd)) {
            Err("the control socket passed back")
        } else {
            req.validate(header_len, data_len, rest.len())
        };
        let op = match op {
            Ok(op) => op,
            Err(why) => {
                refused(&mut refusals, why, req.op);
                reply(reply_fd, Outcome::deny(WireDecision::DeniedBadRequest));
                close_all(reply_fd, &rest);
                continue;
            }
        };
        // Every operation may block: none runs in this loop.
        let st = Arc::clone(state);
        let rq = *req;
        let payload = data[..data_len].to_vec();
        let fds = rest.clone();
        let job = Box::new(move || {
            let out = st.perform(op, &rq, &fds, &payload);
            reply(reply_fd, out);
            close_all(reply_fd, &fds);
        });
        if let Err(job) = state.pool.submit(job) {
            // Too much in flight: refuse this one, as a busy kernel would.
            drop(job);
            reply(reply_fd, Outcome::allowed_err(0, libc::EAGAIN));
            close_all(reply_fd, &rest);
        }
    }
}

fn peer_gone(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, 0) };
    p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

fn close_all(reply_fd: RawFd, rest: &[RawFd]) {
    sys::close(reply_fd);
    rest.iter().for_each(|&fd| sys::close(fd));
}

fn reply(fd: RawFd, out: Outcome) {
    let mut hdr = Reply {
        magic: MAGIC,
        decision: out.decision as u32,
        rule: out.rule,
        status: out.status,
        value: out.value,
        data_len: out.data.len() as u32,
        has_fd: out.fd.iter().chain(&out.fd2).count() as u32,
        ..Reply::default()
    };
    hdr.set_via(&out.via);
    let iov = [
        libc::iovec {
            iov_base: hdr.as_bytes().as_ptr() as *mut _,
            iov_len: hdr.as_bytes().len(),
        },
        libc::iovec {
            iov_base: out.data.as_ptr() as *mut _,
            iov_len: out.data.len(),
        },
    ];
    let fds: Vec<RawFd> = out.fd.iter().chain(&out.fd2).map(|f| f.as_raw_fd()).collect();
    // Never waits: a client that is gone, or does not read, loses its
    // answer (the handler gave up on it, or never wanted it).
    let _ = sys::send_with_fds(fd, &iov, &fds, libc::MSG_DONTWAIT);
}

impl State {
    /// Performs one validated request (in a pool thread).
    fn perform(&self, op: Op, req: &Request, fds: &[RawFd], data: &[u8]) -> Outcome {
        match op {
            Op::Connect | Op::Sendto => self.net(op, req, fds[0], data),
            Op::Bind => self.net(op, req, fds[0], &[]),
            Op::Listen => self.listen(req, fds[0]),
            Op::Sysctl => self.sysctl(req),
            _ => self.handle(op, req, fds, data),
        }
    }

    /// Whether `fd` is the program's end of the control socket.
    fn is_ctl_peer(&self, fd: RawFd) -> bool {
        self.ctl_peer.is_some_and(|id| id.is(fd))
    }
}
