//! The broker: a process started before confinement, by exec of the
//! program's image ([`exec`]), that keeps ambient authority and performs
//! allowed requests for the sandboxed program.
//!
//! It trusts nothing it receives. Every request is validated
//! ([`Request::validate`]), every path is matched against the policy and
//! then resolved strictly beneath the matching root's descriptor
//! (`openat2(RESOLVE_BENEATH)` on Linux, `O_RESOLVE_BENEATH` and
//! `AT_RESOLVE_BENEATH` on FreeBSD), and every socket operation checks that
//! the descriptor is a socket and the address is in the policy. It serves
//! until the last holder of the control socket is gone, then exits.
//!
//! It never waits on the program: the main loop only receives requests
//! and hands each to a bounded pool of threads ([`Pool`]), so a call that
//! blocks (a FIFO without a writer, a lock, a slow lookup or connect)
//! holds one thread, never the loop; answers go out with MSG_DONTWAIT on
//! reply sockets checked to be AF_UNIX SOCK_SEQPACKET, so a peer that
//! never reads costs one dropped answer. It lives in its own session with
//! default signal dispositions ([`become_broker`]): nothing the program
//! installed runs in it, and the terminal's signals do not reach it.
//!
//! Laid out as: this file (spawning the broker, its handle and the state
//! and answer types the others share), `exec.rs` (the fork and exec, and
//! the constructor that runs the broker in the new image), `serve.rs` (the request loop and
//! the reply sockets), `pool.rs` (the bounded worker pool), `fs.rs` (file
//! operations beneath the roots), `net.rs` (socket operations) and
//! `decide.rs` (the broker's own pure decisions, unit-tested without a
//! kernel; the file-policy decision shared with the fast path is
//! [`crate::decide`]).
use crate::error::{Error, Result};
use crate::policy::Policy;
use crate::proto::WireDecision;
use crate::sys;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

mod calls;
mod decide;
mod exec;
mod fs;
mod net;
mod pool;
pub(crate) mod program;
mod serve;
mod sysctl;

use pool::Pool;

pub(crate) use decide::handed_out_access;
pub(crate) use exec::config_memfd;
#[cfg(target_os = "freebsd")]
pub(crate) use fs::{dotdot_fixed, limit_for_program};

/// A policy root, opened once at start.
pub(crate) enum RootFd {
    /// A directory: requests resolve beneath it.
    Dir(OwnedFd),
    /// A single file: only the file itself, through its parent directory.
    File { parent: OwnedFd, name: CString },
}

struct State {
    policy: Policy,
    roots: Vec<RootFd>,
    pool: Arc<Pool>,
    /// The program's end of the control socket. A request that hands it
    /// back is refused at once: held by a job that blocks, it would keep
    /// the broker from ever seeing the program go.
    ctl_peer: Option<sys::FileId>,
    /// FreeBSD: whether the kernel keeps `..` from leaving a mount root
    /// (patch 1 of kernel-patches/; probed at start, [`fs::dotdot_fixed`]).
    #[cfg(target_os = "freebsd")]
    dotdot_fixed: bool,
}

/// The client's view of a running broker.
#[derive(Debug)]
pub(crate) struct BrokerHandle {
    pub pid: libc::pid_t,
    pub ctl: RawFd,
    /// FreeBSD: the broker's process descriptor (PD_DAEMON), kept open so
    /// that the broker stays out of `wait()` (see [`exec::spawn_image`]).
    #[cfg(not(target_os = "linux"))]
    pub procdesc: RawFd,
}

impl BrokerHandle {
    /// Lets go of a broker that will not be used: it exits once it sees
    /// the control socket's last holder go.
    pub(crate) fn abandon(&self) {
        sys::close(self.ctl);
        #[cfg(not(target_os = "linux"))]
        sys::close(self.procdesc);
    }
}

/// Starts the broker for `policy`: by exec of `image` (default: this
/// program's own executable; see [`exec`]), which the constructor in this
/// crate turns into the broker before its `main`. Returns once the broker
/// has opened the roots and is set up, with the control socket's client
/// end.
pub(crate) fn spawn(policy: &Policy, image: Option<&Path>) -> Result<BrokerHandle> {
    // The image must hold the constructor: naming it keeps its object in
    // every link that uses spawn.
    std::hint::black_box(&exec::BROKER_ENTRY);
    // Opened here as well, for the error (the broker reports only an
    // errno and the rule's index).
    for rule in policy.fs_rules() {
        open_root(&rule.root)?;
    }
    if Policy::from_toml(&policy.to_toml()).as_ref().ok() != Some(policy) {
        return Err(Error::Policy(
            "the policy does not survive its TOML form (a root that is not UTF-8?), which carries it to the broker"
                .into(),
        ));
    }
    let image = exec::open_image(image)?;
    let [client, server] = sys::seqpacket_pair().map_err(|e| Error::Sys {
        what: "socketpair",
        source: std::io::Error::from_raw_os_error(e),
    })?;
    // SAFETY: socketpair returned two fresh descriptors.
    let (client, server) = unsafe { (OwnedFd::from_raw_fd(client), OwnedFd::from_raw_fd(server)) };
    let config = exec::Config {
        policy: policy.clone(),
        ctl_peer: sys::FileId::of(client.as_raw_fd()),
    };
    let config = exec::config_memfd(&config.encode())?;
    // The broker says when it is set up (not dumpable, descriptors
    // closed, roots open): enter() must not return while another process
    // of the same user could still attach to it or take its descriptors.
    let mut ready = [-1; 2];
    // SAFETY: pipe2 fills the two descriptors.
    if unsafe { libc::pipe2(ready.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::last_os("pipe for the broker's start"));
    }
    // SAFETY: fresh descriptors.
    let (ready_r, ready_w) = unsafe { (OwnedFd::from_raw_fd(ready[0]), OwnedFd::from_raw_fd(ready[1])) };
    let child = exec::spawn_image(
        image.as_raw_fd(),
        [config.as_raw_fd(), server.as_raw_fd(), ready_w.as_raw_fd()],
    )?;
    drop((server, ready_w, config, image));
    let started = wait_ready(ready_r.as_raw_fd(), BROKER_START_TIMEOUT_MS);
    drop(ready_r);
    let pid = match started {
        Ok(exec::Ready::Up(pid)) => pid,
        Ok(exec::Ready::Failed { errno, root }) => {
            exec::kill_child(&child);
            let source = std::io::Error::from_raw_os_error(errno);
            return Err(match policy.fs_rules().get(root as usize) {
                Some(rule) if root >= 0 => Error::Root {
                    path: rule.root.clone(),
                    source,
                },
                _ => Error::Sys {
                    what: "starting the broker",
                    source,
                },
            });
        }
        Err(why) => {
            exec::kill_child(&child);
            return Err(Error::Sys {
                what: "starting the broker",
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, why),
            });
        }
    };
    exec::reap_intermediate(&child);
    #[cfg(not(target_os = "linux"))]
    if pid != child.pid {
        sys::close(child.fd);
        return Err(Error::Sys {
            what: "starting the broker",
            source: std::io::Error::other("the broker reported another pid than pdfork's"),
        });
    }
    Ok(BrokerHandle {
        pid,
        ctl: std::os::fd::IntoRawFd::into_raw_fd(client),
        #[cfg(not(target_os = "linux"))]
        procdesc: child.fd,
    })
}

/// The exec'd broker's own process state, set before anything else.
///
/// - Not dumpable (Linux) / not traceable (FreeBSD), first: a process of
///   the same user (the program itself, were its filter to miss
///   something) may then neither ptrace this one nor read its memory or
///   take its descriptors (pidfd_getfd) without CAP_SYS_PTRACE. Root has
///   that capability; the Linux filter refuses those calls to the
///   program outright.
/// - Its own session (setsid): no controlling terminal, and out of the
///   program's process group, so ^C, ^Z and a hang-up at the terminal,
///   or kill(0, ...) by the program, do not reach it.
/// - Default dispositions for every signal and an empty mask: the
///   program's handlers (inherited across fork) would otherwise run here
///   on the broker's signals, and signals it ignored or blocked would stay
///   so. Then SIGPIPE alone is ignored, the broker's own choice (its sends
///   use MSG_NOSIGNAL anyway).
fn become_broker() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with integer arguments.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0)
    };
    #[cfg(target_os = "freebsd")]
    // SAFETY: procctl on this process with an int argument.
    unsafe {
        let mut off = libc::PROC_TRACE_CTL_DISABLE;
        libc::procctl(
            libc::P_PID,
            libc::getpid() as libc::id_t,
            libc::PROC_TRACE_CTL,
            (&mut off as *mut libc::c_int).cast(),
        )
    };
    // Fails only for a process group leader, which a fresh child is not.
    let _ = nix::unistd::setsid();
    #[cfg(target_os = "linux")]
    let last = libc::SIGRTMAX();
    #[cfg(target_os = "freebsd")]
    let last: libc::c_int = 126; // SIGRTMAX of <sys/signal.h>
    #[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
    let last: libc::c_int = 31;
    // Raw sigaction: nix's Signal has no real-time signals. The C
    // library's own (glibc's 32 and 33, libthr's SIGTHR) are refused with
    // EINVAL and stay as they are.
    for sig in 1..=last {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: a zeroed sigaction with SIG_DFL and an empty mask.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = if sig == libc::SIGPIPE {
                libc::SIG_IGN
            } else {
                libc::SIG_DFL
            };
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
}

/// How long enter() waits for the broker to be set up.
const BROKER_START_TIMEOUT_MS: i32 = 5000;

/// Wait, at most `ms`, for the broker's ready message on `fd`.
fn wait_ready(fd: RawFd, ms: i32) -> std::result::Result<exec::Ready, &'static str> {
    let deadline = sys::monotonic_ms() + ms as i64;
    let mut m = [0u8; exec::READY_LEN];
    let mut got = 0;
    while got < m.len() {
        if sys::wait_fd(fd, libc::POLLIN, deadline).is_err() {
            return Err("the broker did not report ready in time");
        }
        // SAFETY: reading into the rest of a local buffer.
        match unsafe { libc::read(fd, m[got..].as_mut_ptr().cast(), m.len() - got) } {
            n if n > 0 => got += n as usize,
            n if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => {}
            _ => return Err("the broker exited before it was ready"),
        }
    }
    exec::parse_ready(&m).ok_or("the broker sent a malformed ready message")
}

pub(crate) fn open_root(root: &Path) -> Result<RootFd> {
    let err = |source| Error::Root {
        path: root.to_owned(),
        source,
    };
    let real = std::fs::canonicalize(root).map_err(err)?;
    let meta = std::fs::metadata(&real).map_err(err)?;
    if meta.is_dir() {
        return Ok(RootFd::Dir(open_path(&real, libc::O_DIRECTORY).map_err(err)?));
    }
    let parent = real.parent().unwrap_or(Path::new("/"));
    let name = real.file_name().map(|n| n.as_bytes()).unwrap_or(b".");
    Ok(RootFd::File {
        parent: open_path(parent, libc::O_DIRECTORY).map_err(err)?,
        name: CString::new(name).expect("path component has no NUL"),
    })
}

fn open_path(p: &Path, extra: i32) -> std::io::Result<OwnedFd> {
    let c = CString::new(p.as_os_str().as_bytes())?;
    // SAFETY: valid C string; we own the returned descriptor.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC | extra) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// What goes back to the handler.
struct Outcome {
    decision: WireDecision,
    rule: u32,
    status: i32,
    value: i64,
    data: Vec<u8>,
    fd: Option<OwnedFd>,
    /// A second descriptor, after `fd`: exec's run-time linker.
    fd2: Option<OwnedFd>,
    /// The path the broker decided last, when symlinks led the lookup
    /// out of the root of the path asked for (empty otherwise).
    via: Vec<u8>,
}

impl Outcome {
    fn deny(decision: WireDecision) -> Outcome {
        Outcome {
            decision,
            rule: 0,
            status: 0,
            value: 0,
            data: Vec::new(),
            fd: None,
            fd2: None,
            via: Vec::new(),
        }
    }
    fn allowed(rule: Grant) -> Outcome {
        let (decision, rule) = match rule {
            Grant::Rule(i) => (WireDecision::Allowed, i as u32),
            Grant::Descriptor => (WireDecision::AllowedByDescriptor, 0),
        };
        Outcome {
            decision,
            rule,
            status: 0,
            value: 0,
            data: Vec::new(),
            fd: None,
            fd2: None,
            via: Vec::new(),
        }
    }
    fn allowed_err(rule: u32, errno: i32) -> Outcome {
        Outcome {
            status: errno,
            ..Outcome::allowed(Grant::Rule(rule as usize))
        }
    }
    fn with_via(self, path: &Path) -> Outcome {
        Outcome {
            via: path.as_os_str().as_bytes().to_vec(),
            ..self
        }
    }
    fn with_result(mut self, r: std::result::Result<i64, i32>) -> Outcome {
        match r {
            Ok(v) => self.value = v,
            Err(e) => self.status = e,
        }
        self
    }
}

/// Why an operation was permitted.
#[derive(Clone, Copy)]
enum Grant {
    Rule(usize),
    Descriptor,
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

fn cvt(r: libc::c_int) -> std::result::Result<i64, i32> {
    if r < 0 {
        Err(errno())
    } else {
        Ok(r as i64)
    }
}

#[cfg(test)]
mod tests {
    /// Hostile requests written straight to the broker's socket.
    mod hostile {
        use super::super::*;
        use super::gone_within;
        use crate::policy::{Access, NetTarget};
        use crate::proto::{Op, Reply, Request, FD_DIR, FD_SOCK, PATH_MAX};
        use std::path::PathBuf;

        struct Fixture {
            _dir: tempfile::TempDir,
            root: PathBuf,
            b: BrokerHandle,
        }

        impl Drop for Fixture {
            fn drop(&mut self) {
                self.b.abandon();
                let gone = gone_within(self.b.pid, 5000);
                if !std::thread::panicking() {
                    assert!(gone, "the broker outlived its last client");
                }
            }
        }

        fn fixture() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("root");
            std::fs::create_dir(&root).unwrap();
            std::fs::write(root.join("f"), "data").unwrap();
            let mut p = Policy::new();
            p.allow_fs(&root, Access::READ).unwrap();
            p.allow_connect(NetTarget::parse("127.0.0.1:*").unwrap());
            let b = spawn(&p, None).unwrap();
            Fixture { _dir: dir, root, b }
        }

        /// Sends raw bytes with a reply socket and `extra` descriptors;
        /// returns the reply header and any descriptor, or None if the
        /// broker did not answer (within 5 s).
        fn ask(ctl: RawFd, bytes: &[u8], extra: &[RawFd]) -> Option<(Reply, RawFd)> {
            let [mine, theirs] = sys::seqpacket_pair().unwrap();
            let mut fds = vec![theirs];
            fds.extend_from_slice(extra);
            let iov = [libc::iovec {
                iov_base: bytes.as_ptr() as *mut _,
                iov_len: bytes.len(),
            }];
            sys::send_with_fds(ctl, &iov, &fds, 0).unwrap();
            sys::close(theirs);
            let mut p = libc::pollfd {
                fd: mine,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd.
            if unsafe { libc::poll(&mut p, 1, 5000) } != 1 {
                sys::close(mine);
                return None;
            }
            let mut hdr = Reply::default();
            let mut iov = [libc::iovec {
                iov_base: (&mut hdr as *mut Reply).cast(),
                iov_len: std::mem::size_of::<Reply>(),
            }];
            let r = sys::recv_with_fds(mine, &mut iov).unwrap();
            sys::close(mine);
            (r.len >= std::mem::size_of::<Reply>()).then_some((hdr, if r.nfds > 0 { r.fds[0] } else { -1 }))
        }

        fn open_req(path: &[u8]) -> Request {
            let mut r = Request::new(Op::Open);
            r.path[..path.len()].copy_from_slice(path);
            r.path_len = path.len() as u32;
            r
        }

        fn assert_alive(f: &Fixture) {
            let p = f.root.join("f");
            let (h, fd) = ask(f.b.ctl, open_req(p.as_os_str().as_bytes()).as_bytes(), &[]).expect("broker answers");
            assert_eq!(h.decision, WireDecision::Allowed as u32);
            assert_eq!(h.status, 0);
            assert!(fd >= 0);
            sys::close(fd);
        }

        #[test]
        fn garbage_and_malformed_headers_are_refused_and_the_broker_survives() {
            let f = fixture();
            let (h, fd) = ask(f.b.ctl, &[0xa5; 100], &[]).unwrap();
            assert_eq!(h.decision, WireDecision::DeniedBadRequest as u32);
            assert_eq!(fd, -1);
            let mut r = open_req(b"/x");
            r.path_len = PATH_MAX as u32 + 7;
            assert_eq!(
                ask(f.b.ctl, r.as_bytes(), &[]).unwrap().0.decision,
                WireDecision::DeniedBadRequest as u32
            );
            let mut r = open_req(b"/x");
            r.op = 0xffff;
            assert_eq!(
                ask(f.b.ctl, r.as_bytes(), &[]).unwrap().0.decision,
                WireDecision::DeniedBadRequest as u32
            );
            let mut r = open_req(b"/x");
            r.version = 999;
            assert_eq!(
                ask(f.b.ctl, r.as_bytes(), &[]).unwrap().0.decision,
                WireDecision::DeniedBadRequest as u32
            );
            // Header plus trailing bytes that claim to be no payload.
            let mut long = open_req(b"/x").as_bytes().to_vec();
            long.extend_from_slice(&[1, 2, 3]);
            assert_eq!(
                ask(f.b.ctl, &long, &[]).unwrap().0.decision,
                WireDecision::DeniedBadRequest as u32
            );
            assert_alive(&f);
        }

        /// Exec is the FreeBSD handler's alone: a Linux broker asked for
        /// it hands out nothing, even for a file under a rule granting
        /// exec, and relative or directory-relative forms are refused.
        #[test]
        #[cfg(target_os = "linux")]
        fn exec_requests_hand_out_no_descriptor_on_linux() {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("prog"), "#!/bin/sh\n").unwrap();
            let mut p = Policy::new();
            p.allow_fs(dir.path(), Access::READ | Access::EXEC).unwrap();
            let b = spawn(&p, None).unwrap();
            let prog = dir.path().join("prog");
            for path in [prog.as_os_str().as_bytes(), b"prog", b"/bin/sh"] {
                let mut r = open_req(path);
                r.op = Op::Exec as u16;
                let (h, fd) = ask(b.ctl, r.as_bytes(), &[]).expect("broker answers");
                assert_eq!(fd, -1, "{}", String::from_utf8_lossy(path));
                assert_eq!(h.has_fd, 0);
                assert_ne!(h.decision, WireDecision::Allowed as u32);
            }
            b.abandon();
        }

        #[test]
        fn messages_without_a_reply_socket_or_with_too_many_descriptors() {
            let f = fixture();
            // No descriptors at all: nothing to answer on; ignored.
            let r = open_req(b"/x");
            let iov = [libc::iovec {
                iov_base: r.as_bytes().as_ptr() as *mut _,
                iov_len: r.as_bytes().len(),
            }];
            sys::send_with_fds(f.b.ctl, &iov, &[], 0).unwrap();
            // An empty message is not end-of-stream.
            sys::send_with_fds(f.b.ctl, &[], &[], 0).unwrap();
            // More descriptors than any request carries.
            let fds: Vec<RawFd> = (0..2).map(|_| unsafe { libc::dup(0) }).collect();
            let (h, _) = ask(f.b.ctl, open_req(b"/x").as_bytes(), &fds).unwrap();
            assert_eq!(h.decision, WireDecision::DeniedBadRequest as u32);
            fds.iter().for_each(|&fd| sys::close(fd));
            assert_alive(&f);
        }

        #[test]
        fn socket_ops_check_the_descriptor_and_the_address() {
            let f = fixture();
            let file = std::fs::File::open(f.root.join("f")).unwrap();
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let (addr, len) = crate::client::sockaddr_bytes(&l.local_addr().unwrap());
            let mut r = Request::new(Op::Connect);
            r.fd_roles = FD_SOCK;
            r.addr[..len].copy_from_slice(&addr[..len]);
            r.addr_len = len as u32;
            // A file is not a socket.
            let (h, _) = ask(f.b.ctl, r.as_bytes(), &[file.as_raw_fd()]).unwrap();
            assert_eq!(h.decision, WireDecision::DeniedBadRequest as u32);
            // A truncated address is malformed.
            let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
            let mut short = r;
            short.addr_len = 6;
            assert_eq!(
                ask(f.b.ctl, short.as_bytes(), &[s]).unwrap().0.decision,
                WireDecision::DeniedBadRequest as u32
            );
            // An address outside the policy is refused.
            let (other, olen) = crate::client::sockaddr_bytes(&"10.0.0.1:80".parse().unwrap());
            let mut r2 = r;
            r2.addr[..olen].copy_from_slice(&other[..olen]);
            assert_eq!(
                ask(f.b.ctl, r2.as_bytes(), &[s]).unwrap().0.decision,
                WireDecision::DeniedNoRule as u32
            );
            // The allowed one connects the very socket we passed.
            let (h, _) = ask(f.b.ctl, r.as_bytes(), &[s]).unwrap();
            assert_eq!((h.decision, h.status), (WireDecision::Allowed as u32, 0));
            let mut peer: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            let mut plen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            assert_eq!(
                unsafe { libc::getpeername(s, (&mut peer as *mut libc::sockaddr_in).cast(), &mut plen) },
                0
            );
            sys::close(s);
            assert_alive(&f);
        }

        #[test]
        fn path_requests_cannot_escape_or_smuggle_flags() {
            let f = fixture();
            let up = format!("{}/../root/../../etc/passwd", f.root.display());
            let (h, fd) = ask(f.b.ctl, open_req(up.as_bytes()).as_bytes(), &[]).unwrap();
            assert_eq!(h.decision, WireDecision::DeniedEscape as u32);
            assert_eq!(fd, -1);
            let (h, _) = ask(f.b.ctl, open_req(b"/etc/passwd").as_bytes(), &[]).unwrap();
            assert_eq!(h.decision, WireDecision::DeniedNoRule as u32);
            let p = f.root.join("f");
            let mut r = open_req(p.as_os_str().as_bytes());
            r.flags = libc::O_RDWR;
            assert_eq!(
                ask(f.b.ctl, r.as_bytes(), &[]).unwrap().0.decision,
                WireDecision::DeniedAccess as u32
            );
            r.flags = 0x4000_0000;
            let (h, _) = ask(f.b.ctl, r.as_bytes(), &[]).unwrap();
            assert_eq!((h.decision, h.status), (WireDecision::Allowed as u32, libc::EINVAL));
            // A directory descriptor that is really a socket.
            let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
            let mut r = open_req(b"f");
            r.fd_roles = FD_DIR;
            let (h, fd) = ask(f.b.ctl, r.as_bytes(), &[s]).unwrap();
            assert!(h.status != 0 || h.decision != WireDecision::Allowed as u32, "{h:?}");
            assert_eq!(fd, -1);
            sys::close(s);
            assert_alive(&f);
        }

        #[test]
        fn sysctl_requests_carry_a_well_formed_name_under_a_rule_and_nothing_else() {
            let f = fixture();
            let sysctl = |name: &[u8]| {
                let mut r = Request::new(Op::Sysctl);
                r.path[..name.len()].copy_from_slice(name);
                r.path_len = name.len() as u32;
                r
            };
            // No rule in the fixture's policy.
            let (h, _) = ask(f.b.ctl, sysctl(b"kern.pid_max").as_bytes(), &[]).unwrap();
            assert_eq!(h.decision, WireDecision::DeniedNoRule as u32);
            // Names that are not node names, and fields a sysctl read has
            // no use for: refused before any rule is looked at.
            let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
            let mut with_fd = sysctl(b"kern.pid_max");
            with_fd.fd_roles = FD_SOCK;
            let mut with_flags = sysctl(b"kern.pid_max");
            with_flags.flags = 1;
            let mut with_mode = sysctl(b"kern.pid_max");
            with_mode.mode = 0o600;
            let mut too_big = sysctl(b"kern.pid_max");
            too_big.out_len = crate::proto::SYSCTL_OUT_MAX as u32 + 1;
            let mut with_addr = sysctl(b"kern.pid_max");
            with_addr.addr_len = 2;
            for (r, extra, what) in [
                (sysctl(b""), &[][..], "empty"),
                (sysctl(b"../etc/passwd"), &[], "a path"),
                (sysctl(b"kern..pid_max"), &[], "an empty component"),
                (sysctl(b"kern.pid_max\n"), &[], "a newline"),
                (sysctl(b"kern.pid_max.*"), &[], "a pattern"),
                (with_fd, &[s][..], "a descriptor"),
                (with_flags, &[], "flags"),
                (with_mode, &[], "a mode"),
                (too_big, &[], "a buffer past the limit"),
                (with_addr, &[], "an address"),
            ] {
                let (h, fd) = ask(f.b.ctl, r.as_bytes(), extra).expect(what);
                assert_eq!(h.decision, WireDecision::DeniedBadRequest as u32, "{what}");
                assert_eq!((fd, h.data_len), (-1, 0), "{what}");
            }
            sys::close(s);
            assert_alive(&f);
        }

        #[test]
        fn chdir_requests_name_a_directory_the_policy_allows() {
            let f = fixture();
            let chdir = |path: &[u8], extra: &[RawFd]| {
                let mut r = open_req(path);
                r.op = Op::Chdir as u16;
                if !extra.is_empty() {
                    r.fd_roles = FD_DIR;
                }
                let (h, fd) = ask(f.b.ctl, r.as_bytes(), extra).expect("broker answers");
                sys::close(fd);
                (h.decision, h.status, fd >= 0)
            };
            let root = f.root.as_os_str().as_bytes();
            // Relative without a directory, or nothing at all: malformed
            // (the handler makes paths absolute; the broker has no cwd).
            assert_eq!(chdir(b"sub", &[]).0, WireDecision::DeniedBadRequest as u32);
            assert_eq!(chdir(b"", &[]).0, WireDecision::DeniedBadRequest as u32);
            // Outside every rule, and out through `..`.
            assert_eq!(chdir(b"/etc", &[]).0, WireDecision::DeniedNoRule as u32);
            let up = [root, b"/../root/../.."].concat();
            assert_eq!(chdir(&up, &[]).0, WireDecision::DeniedEscape as u32);
            // The root: allowed, with a descriptor on Linux; a file in it:
            // the kernel's ENOTDIR.
            let (d, st, fd) = chdir(root, &[]);
            assert_eq!((d, st), (WireDecision::Allowed as u32, 0));
            assert_eq!(fd, cfg!(target_os = "linux"));
            let file = [root, b"/f"].concat();
            assert_eq!(chdir(&file, &[]).1, libc::ENOTDIR);
            // On the way to the root: allowed (a working directory there
            // grants nothing).
            let parent = f.root.parent().unwrap().as_os_str().as_bytes().to_vec();
            assert_eq!(chdir(&parent, &[]).0, WireDecision::Allowed as u32);
            // fchdir's form: the directory is the descriptor's, whatever
            // path the request would claim; a socket names none.
            let etc = std::fs::File::open("/etc").unwrap();
            assert_eq!(chdir(b"", &[etc.as_raw_fd()]).0, WireDecision::DeniedNoRule as u32);
            let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
            assert_eq!(chdir(b"", &[s]).0, WireDecision::DeniedNoRule as u32);
            sys::close(s);
            let rootdir = std::fs::File::open(&f.root).unwrap();
            assert_eq!(chdir(b"", &[rootdir.as_raw_fd()]).0, WireDecision::Allowed as u32);
            assert_alive(&f);
        }

        /// Sends `bytes` with `reply` as the reply socket and `extra`
        /// after it, and does not wait for anything.
        fn send_only(ctl: RawFd, bytes: &[u8], reply: RawFd, extra: &[RawFd]) {
            let mut fds = vec![reply];
            fds.extend_from_slice(extra);
            let iov = [libc::iovec {
                iov_base: bytes.as_ptr() as *mut _,
                iov_len: bytes.len(),
            }];
            sys::send_with_fds(ctl, &iov, &fds, 0).unwrap();
        }

        /// Reads `fd` (waiting at most 5 s): the bytes before end-of-file,
        /// or None if it neither ended nor had data by then.
        fn until_eof(fd: RawFd) -> Option<usize> {
            let mut total = 0;
            loop {
                if sys::wait_fd(fd, libc::POLLIN, sys::monotonic_ms() + 5000).is_err() {
                    return None;
                }
                let mut b = [0u8; 4096];
                // SAFETY: a local buffer.
                match unsafe { libc::read(fd, b.as_mut_ptr().cast(), b.len()) } {
                    n if n > 0 => total += n as usize,
                    _ => return Some(total),
                }
            }
        }

        #[test]
        fn reply_descriptors_of_another_kind_are_closed_unwritten() {
            let f = fixture();
            let p = f.root.join("f");
            let req = open_req(p.as_os_str().as_bytes());
            // A stream socket (which could be full and blocking) and a
            // pipe: the broker's copy is closed without a byte written.
            let [x, y] = {
                let mut s = [-1; 2];
                // SAFETY: socketpair into a local array.
                assert_eq!(
                    unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, s.as_mut_ptr()) },
                    0
                );
                s
            };
            send_only(f.b.ctl, req.as_bytes(), x, &[]);
            sys::close(x);
            assert_eq!(
                until_eof(y),
                Some(0),
                "the stream reply socket got an answer or was kept"
            );
            sys::close(y);
            let mut pp = [-1; 2];
            // SAFETY: pipe into a local array.
            assert_eq!(unsafe { libc::pipe(pp.as_mut_ptr()) }, 0);
            send_only(f.b.ctl, req.as_bytes(), pp[1], &[]);
            sys::close(pp[1]);
            assert_eq!(until_eof(pp[0]), Some(0), "the pipe got an answer or was kept");
            sys::close(pp[0]);
            // A datagram socket: nothing arrives.
            let [d, e] = {
                let mut s = [-1; 2];
                // SAFETY: as above.
                assert_eq!(
                    unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0, s.as_mut_ptr()) },
                    0
                );
                s
            };
            send_only(f.b.ctl, req.as_bytes(), d, &[]);
            assert_alive(&f);
            let mut b = [0u8; 64];
            // SAFETY: a local buffer.
            assert!(unsafe { libc::recv(e, b.as_mut_ptr().cast(), b.len(), libc::MSG_DONTWAIT) } < 0);
            sys::close(d);
            sys::close(e);
        }

        #[test]
        fn a_reply_socket_nobody_reads_costs_its_answer_only() {
            let f = fixture();
            let [x, y] = sys::seqpacket_pair().unwrap();
            // Fill y's queue: the broker's answer to x finds no room.
            // SAFETY: sends on our own socket.
            while unsafe { libc::send(x, b"z".as_ptr().cast(), 1, libc::MSG_DONTWAIT) } > 0 {}
            let p = f.root.join("f");
            send_only(f.b.ctl, open_req(p.as_os_str().as_bytes()).as_bytes(), x, &[]);
            assert_alive(&f);
            sys::close(x);
            sys::close(y);
        }

        #[test]
        fn a_blocking_call_holds_a_pool_thread_not_the_loop() {
            let f = fixture();
            let fifo = f.root.join("fifo");
            let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
            // SAFETY: mkfifo with a C string.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            // Opening it for reading waits for a writer that never comes.
            let [mine, theirs] = sys::seqpacket_pair().unwrap();
            send_only(f.b.ctl, open_req(fifo.as_os_str().as_bytes()).as_bytes(), theirs, &[]);
            sys::close(theirs);
            assert_alive(&f);
            sys::close(mine);
        }

        #[test]
        fn requests_handing_back_the_control_socket_are_refused() {
            let f = fixture();
            // As the directory: refused, and not held.
            let mut r = open_req(b"f");
            r.fd_roles = FD_DIR;
            let (h, fd) = ask(f.b.ctl, r.as_bytes(), &[f.b.ctl]).unwrap();
            assert_eq!((h.decision, fd), (WireDecision::DeniedBadRequest as u32, -1));
            // As the reply socket: dropped without an answer (which would
            // come back to the broker as a request).
            let p = f.root.join("f");
            send_only(f.b.ctl, open_req(p.as_os_str().as_bytes()).as_bytes(), f.b.ctl, &[]);
            assert_alive(&f);
            // Nothing of it is kept: the broker goes with its last client
            // (the fixture's drop checks it).
            drop(f);
        }

        #[test]
        fn broker_exits_when_the_last_client_is_gone() {
            let f = fixture();
            let pid = f.b.pid;
            // The broker is not this process's child: no wait() returns it.
            // SAFETY: a non-blocking wait for any child.
            assert_ne!(unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) }, pid);
            drop(f);
        }

        /// A test that executes its own binary as the broker runs the
        /// crate's constructor: an image without the marker is untouched
        /// (this test binary ran its tests), one with it became a broker
        /// (the fixtures above).
        #[cfg(target_os = "linux")]
        #[test]
        fn the_broker_is_an_exec_of_this_image_and_no_child_of_ours() {
            let f = fixture();
            let exe = std::fs::read_link("/proc/self/exe").unwrap();
            let broker_exe = std::fs::read_link(format!("/proc/{}/exe", f.b.pid)).unwrap();
            assert_eq!(broker_exe, exe);
            let status = std::fs::read_to_string(format!("/proc/{}/status", f.b.pid)).unwrap();
            let ppid: i32 = status
                .lines()
                .find_map(|l| l.strip_prefix("PPid:"))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            // SAFETY: getpid has no preconditions.
            assert_ne!(ppid, unsafe { libc::getpid() }, "the broker is our child");
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", f.b.pid)).unwrap();
            assert_eq!(cmdline, b"sigcap-broker\0");
            // The marker went to the broker's environment only.
            assert!(std::env::var_os("SIGCAP_BROKER").is_none());
        }
    }

    /// Waits at most `ms` for `pid` to exit (a pidfd: the broker is
    /// nobody's child here that we could wait for).
    #[cfg(target_os = "linux")]
    fn gone_within(pid: libc::pid_t, ms: i64) -> bool {
        use crate::sys;
        use std::os::fd::RawFd;
        // SAFETY: pidfd_open of a pid; ESRCH means it is gone already.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
        if fd < 0 {
            return true;
        }
        let r = sys::wait_fd(fd, libc::POLLIN, sys::monotonic_ms() + ms);
        sys::close(fd);
        r.is_ok()
    }

    /// FreeBSD: the abandoned broker is reparented to init, which reaps it.
    #[cfg(not(target_os = "linux"))]
    fn gone_within(pid: libc::pid_t, ms: i64) -> bool {
        let end = crate::sys::monotonic_ms() + ms;
        // SAFETY: probing a pid with signal 0.
        while unsafe { libc::kill(pid, 0) } == 0 {
            if crate::sys::monotonic_ms() > end {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        true
    }
}
