//! The broker: a process forked before confinement that keeps ambient
//! authority and performs allowed requests for the sandboxed program.
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
use crate::decide::{self, check_open_flags, required_access, FsDenial};
use crate::error::{Error, Result};
use crate::policy::{Access, NetTarget, Policy};
use crate::proto::{Op, Reply, Request, WireDecision, DATA_MAX, FD_DIR, FD_DIR2, MAGIC, OUT_MAX};
use crate::sys;
use std::collections::VecDeque;
use std::ffi::{CString, OsStr};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

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
    cwd: PathBuf,
    pool: Arc<Pool>,
    /// The program's end of the control socket. A request that hands it
    /// back is refused at once: held by a job that blocks, it would keep
    /// the broker from ever seeing the program go.
    ctl_peer: Option<sys::FileId>,
    /// FreeBSD: whether the kernel keeps `..` from leaving a mount root
    /// (patch 1 of kernel-patches/; probed at start, [`dotdot_fixed`]).
    #[cfg(target_os = "freebsd")]
    dotdot_fixed: bool,
}

/// The client's view of a running broker.
#[derive(Debug)]
pub(crate) struct BrokerHandle {
    pub pid: libc::pid_t,
    pub ctl: RawFd,
}

/// Most threads serving requests at once.
const MAX_WORKERS: usize = 64;
/// Most requests waiting for a thread; beyond, a request is answered
/// EAGAIN at once.
const MAX_QUEUED: usize = 1024;

type Job = Box<dyn FnOnce() + Send>;

/// Threads for the requests, every one of which may block (connect,
/// sendto, and every path operation: opening a FIFO waits for its other
/// end, FreeBSD's O_EXLOCK for the lock, a lookup on a slow file system
/// for the disk or the network), kept and reused so that a request does
/// not pay for a thread start. Grows to MAX_WORKERS only when every
/// thread is busy. A call that never returns holds its thread for good:
/// MAX_WORKERS of them leave the queue, then EAGAIN, to the program's
/// other requests, and the broker's main loop is never among them.
#[derive(Default)]
struct Pool {
    queue: Mutex<VecDeque<Job>>,
    ready: Condvar,
    idle: AtomicUsize,
    threads: AtomicUsize,
}

impl Pool {
    fn submit(self: &Arc<Self>, job: Job) -> std::result::Result<(), Job> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= MAX_QUEUED {
            return Err(job);
        }
        q.push_back(job);
        let waiting = q.len();
        drop(q);
        if self.idle.load(Ordering::Acquire) < waiting && self.threads.load(Ordering::Acquire) < MAX_WORKERS {
            self.threads.fetch_add(1, Ordering::AcqRel);
            let pool = Arc::clone(self);
            if std::thread::Builder::new().spawn(move || pool.work()).is_err() {
                self.threads.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.ready.notify_one();
        Ok(())
    }

    fn work(&self) {
        loop {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            let job = loop {
                if let Some(j) = q.pop_front() {
                    break j;
                }
                self.idle.fetch_add(1, Ordering::AcqRel);
                q = self.ready.wait(q).unwrap_or_else(|e| e.into_inner());
                self.idle.fetch_sub(1, Ordering::AcqRel);
            };
            drop(q);
            job();
        }
    }
}

/// Opens the policy's roots and forks the broker. Returns the control
/// socket's client end.
pub(crate) fn spawn(policy: &Policy) -> Result<BrokerHandle> {
    let mut roots = Vec::new();
    for rule in policy.fs_rules() {
        roots.push(open_root(&rule.root)?);
    }
    let cwd = std::env::current_dir().map_err(|source| Error::Sys { what: "getcwd", source })?;
    let [client, server] = sys::seqpacket_pair().map_err(|e| Error::Sys {
        what: "socketpair",
        source: std::io::Error::from_raw_os_error(e),
    })?;
    let state = State {
        policy: policy.clone(),
        roots,
        cwd,
        pool: Arc::new(Pool::default()),
        ctl_peer: sys::FileId::of(client),
        #[cfg(target_os = "freebsd")]
        dotdot_fixed: dotdot_fixed(),
    };
    // The broker says when it is set up (not dumpable, descriptors
    // closed): enter() must not return while another process of the same
    // user could still attach to it or take its descriptors.
    let mut ready = [-1; 2];
    // SAFETY: pipe2 fills the two descriptors.
    if unsafe { libc::pipe2(ready.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        sys::close(client);
        sys::close(server);
        return Err(Error::last_os("pipe for the broker's start"));
    }
    // SAFETY: fork. The child only uses the state built above, libc calls
    // and the allocator, which glibc and FreeBSD's libc make fork-safe; it
    // never touches std's global locks (stdio, env).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = Error::last_os("fork broker");
        for fd in [client, server, ready[0], ready[1]] {
            sys::close(fd);
        }
        return Err(e);
    }
    if pid == 0 {
        become_broker();
        sys::close(client);
        let mut keep = vec![server, 2, ready[1]];
        for r in &state.roots {
            match r {
                RootFd::Dir(fd) => keep.push(fd.as_raw_fd()),
                RootFd::File { parent, .. } => keep.push(parent.as_raw_fd()),
            }
        }
        sys::close_fds_except(&keep);
        // SAFETY: plain libc calls in the new process.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if null >= 0 {
                libc::dup2(null, 0);
                libc::dup2(null, 1);
                if null > 2 {
                    libc::close(null);
                }
            }
            libc::write(ready[1], b"r".as_ptr().cast(), 1);
        }
        sys::close(ready[1]);
        let state = Arc::new(state);
        serve(&state, server);
        // SAFETY: leave without running the program's atexit handlers.
        unsafe { libc::_exit(0) };
    }
    sys::close(server);
    sys::close(ready[1]);
    drop(state);
    let started = wait_ready(ready[0], BROKER_START_TIMEOUT_MS);
    sys::close(ready[0]);
    if let Err(why) = started {
        sys::close(client);
        // SAFETY: our own child; reaped so that it does not linger.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        return Err(Error::Sys {
            what: "starting the broker",
            source: std::io::Error::new(std::io::ErrorKind::TimedOut, why),
        });
    }
    Ok(BrokerHandle { pid, ctl: client })
}

/// The forked broker's own process state, set before anything else.
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

/// Wait, at most `ms`, for the broker's one-byte "set up" on `fd`.
fn wait_ready(fd: RawFd, ms: i32) -> std::result::Result<(), &'static str> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if n <= 0 {
            return Err("the broker did not report ready in time");
        }
        let mut b = [0u8; 1];
        // SAFETY: one byte into a local buffer.
        return match unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) } {
            1 => Ok(()),
            _ => Err("the broker exited before it was ready"),
        };
    }
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

fn serve(state: &Arc<State>, ctl: RawFd) {
    let mut req = Box::new(Request::new(Op::Open));
    let mut data = vec![0u8; DATA_MAX];
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
            Err(_why) => {
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

/// What goes back to the handler.
struct Outcome {
    decision: WireDecision,
    rule: u32,
    status: i32,
    value: i64,
    data: Vec<u8>,
    fd: Option<OwnedFd>,
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
        }
    }
    fn allowed_err(rule: u32, errno: i32) -> Outcome {
        Outcome {
            status: errno,
            ..Outcome::allowed(Grant::Rule(rule as usize))
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

fn reply(fd: RawFd, out: Outcome) {
    let hdr = Reply {
        magic: MAGIC,
        decision: out.decision as u32,
        rule: out.rule,
        status: out.status,
        value: out.value,
        data_len: out.data.len() as u32,
        has_fd: out.fd.is_some() as u32,
    };
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
    let fds: Vec<RawFd> = out.fd.iter().map(|f| f.as_raw_fd()).collect();
    // Never waits: a client that is gone, or does not read, loses its
    // answer (the handler gave up on it, or never wanted it).
    let _ = sys::send_with_fds(fd, &iov, &fds, libc::MSG_DONTWAIT);
}

/// Why an operation was permitted.
#[derive(Clone, Copy)]
enum Grant {
    Rule(usize),
    Descriptor,
}

/// A resolved place to operate: a base directory and a path beneath it.
struct Place<'a> {
    base: RawFd,
    rel: CString,
    /// The path as the policy saw it (absolute, leading `..` folded).
    abs: PathBuf,
    /// Other roots lie beneath this one: follow no symlink (see
    /// [`State::locate`]).
    strict: bool,
    granted: Access,
    grant: Grant,
    _root: Option<&'a RootFd>,
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

/// `base` joined with `rel`, with the `.` and `..` components that lead
/// `rel` folded into `base`. `base` is a real path (getcwd, or the kernel's
/// name of a descriptor), so its lexical parent is its real parent and
/// `../a.tar` from a working directory under one root can match a rule for
/// its sibling. A `..` after a name is left for the kernel to resolve
/// beneath the matched root, where it cannot escape.
fn join_leading_parents(base: &Path, rel: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = base.to_owned();
    let mut rest = rel.components().peekable();
    while let Some(c) = rest.peek() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            _ => break,
        }
        rest.next();
    }
    out.extend(rest);
    out
}

/// The modes both grant.
fn intersect(a: Access, b: Access) -> Access {
    [Access::READ, Access::WRITE, Access::CREATE]
        .into_iter()
        .filter(|&m| a.contains(m) && b.contains(m))
        .fold(Access::NONE, |x, m| x | m)
}

/// Errno values that mean "resolution tried to leave the base".
fn is_escape(e: i32) -> bool {
    #[cfg(target_os = "linux")]
    {
        e == libc::EXDEV
    }
    #[cfg(target_os = "freebsd")]
    {
        e == libc::ENOTCAPABLE
    }
}

/// The broker's answer to a refusal of the shared decision.
fn wire_denial(d: FsDenial) -> WireDecision {
    match d {
        FsDenial::NoRule => WireDecision::DeniedNoRule,
        FsDenial::Escape => WireDecision::DeniedEscape,
        FsDenial::Access => WireDecision::DeniedAccess,
        FsDenial::TooLong => WireDecision::DeniedBadRequest,
    }
}

impl State {
    /// Performs one validated request (in a pool thread).
    fn perform(&self, op: Op, req: &Request, fds: &[RawFd], data: &[u8]) -> Outcome {
        match op {
            Op::Connect | Op::Sendto => self.net(op, req, fds[0], data),
            Op::Bind => self.net(op, req, fds[0], &[]),
            Op::Listen => self.listen(req, fds[0]),
            _ => self.handle(op, req, fds),
        }
    }

    /// Whether `fd` is the program's end of the control socket.
    fn is_ctl_peer(&self, fd: RawFd) -> bool {
        self.ctl_peer.is_some_and(|id| id.is(fd))
    }

    /// Finds where `path` (relative to `dir`, or the start-up working
    /// directory when `dir` is None) falls under the policy.
    fn locate(&self, dir: Option<RawFd>, path: &[u8]) -> std::result::Result<Place<'_>, Outcome> {
        if path.is_empty() {
            return Err(Outcome::allowed_err(0, libc::ENOENT));
        }
        let p = Path::new(OsStr::from_bytes(path));
        let abs = if p.is_absolute() {
            p.to_owned()
        } else {
            match dir {
                None => join_leading_parents(&self.cwd, p),
                // The descriptor only says where the lookup starts; the
                // policy decides, and resolution happens beneath the
                // matching root's own handle, never the program's
                // descriptor. A directory outside every root (one held
                // from before entering, or made by a call the filter
                // missed) is no authority: capability mode would honour
                // it, but on Linux nothing confines what the program
                // holds, so honouring it would reach anything.
                Some(fd) => match fd_path(fd) {
                    Some(d) => join_leading_parents(&d, p),
                    None => return Err(Outcome::deny(WireDecision::DeniedNoRule)),
                },
            }
        };
        // The decision the handler's fast path makes too (decide.rs):
        // the longest root wins, and beneath a root holding a narrower
        // rule `..` after a name is refused and no symlink is followed
        // (RESOLVE_NO_SYMLINKS; FreeBSD has no such flag, see
        // open_beneath). Elsewhere resolution beneath the root is enough.
        let abs_bytes = abs.as_os_str().as_bytes();
        let mut rel = vec![0u8; abs_bytes.len() + 1];
        let m = decide::match_fs(&self.policy, abs_bytes, &mut rel).map_err(|d| Outcome::deny(wire_denial(d)))?;
        rel.truncate(m.rel_len);
        let strict = m.strict;
        let granted = m.granted;
        // FreeBSD: `..` that climbs above the root is refused here, before
        // anything is opened; the kernel's own check fails from a mount
        // root (see crate::beneath), and open_beneath walks the rest.
        #[cfg(target_os = "freebsd")]
        if crate::beneath::climbs_above(Path::new(std::ffi::OsStr::from_bytes(&rel))) {
            return Err(Outcome::deny(WireDecision::DeniedEscape));
        }
        let root = &self.roots[m.rule];
        let (base, rel) = match root {
            RootFd::Dir(fd) => (fd.as_raw_fd(), rel),
            RootFd::File { parent, name } => {
                if rel != b"." {
                    return Err(Outcome::allowed_err(m.rule as u32, libc::ENOTDIR));
                }
                (parent.as_raw_fd(), name.as_bytes().to_vec())
            }
        };
        Ok(Place {
            base,
            rel: CString::new(rel).map_err(|_| Outcome::deny(WireDecision::DeniedBadRequest))?,
            abs,
            strict,
            granted,
            grant: Grant::Rule(m.rule),
            _root: Some(root),
        })
    }

    /// The access a descriptor for `place` may carry: its rule's, less
    /// what any rule whose root lies beneath it withholds (a directory of
    /// W read-write holding W/ro read-only gets read only: the program
    /// could otherwise reach W/ro through it without the broker).
    fn handed_out_access(&self, place: &Place<'_>) -> Access {
        let mut a = place.granted;
        for r in self.policy.fs_rules() {
            if r.root.starts_with(&place.abs) {
                a = intersect(a, r.access);
            }
        }
        a
    }

    /// FreeBSD: limits a descriptor about to be handed to the program to
    /// the rights its rule's modes imply ([`crate::caprights::for_access`]);
    /// a directory that is the root of a mount gets no lookup rights at all
    /// when the kernel lets `..` leave it. Fails closed: a descriptor that
    /// cannot be limited is not handed out. Elsewhere nothing to do.
    #[cfg(target_os = "freebsd")]
    fn limit_handed_out(&self, place: &Place<'_>, fd: &OwnedFd) -> std::result::Result<(), i32> {
        let mut rights = crate::caprights::for_access(self.handed_out_access(place));
        if !self.dotdot_fixed && is_mount_root(fd.as_raw_fd()) {
            rights = rights.without_lookup();
        }
        crate::caprights::limit(fd.as_raw_fd(), rights)
    }

    #[cfg(not(target_os = "freebsd"))]
    fn limit_handed_out(&self, place: &Place<'_>, _fd: &OwnedFd) -> std::result::Result<(), i32> {
        let _ = self.handed_out_access(place);
        Ok(())
    }

    fn handle(&self, op: Op, req: &Request, fds: &[RawFd]) -> Outcome {
        let mut fds = fds.iter().copied();
        let dir = if req.fd_roles & FD_DIR != 0 { fds.next() } else { None };
        let dir2 = if req.fd_roles & FD_DIR2 != 0 { fds.next() } else { None };
        match self.path_op(op, req, dir, dir2) {
            Ok(o) | Err(o) => o,
        }
    }

    fn path_op(
        &self,
        op: Op,
        req: &Request,
        dir: Option<RawFd>,
        dir2: Option<RawFd>,
    ) -> std::result::Result<Outcome, Outcome> {
        // stat/statx of the directory descriptor itself (AT_EMPTY_PATH):
        // no name is looked up, so no policy applies.
        if matches!(op, Op::Stat | Op::Statx) && req.path_len == 0 && req.flags & libc::AT_EMPTY_PATH != 0 {
            let fd = dir.ok_or_else(|| Outcome::deny(WireDecision::DeniedBadRequest))?;
            return Ok(Outcome::allowed(Grant::Descriptor).with_stat(op, fd, req));
        }
        // stat of a directory on the way to a rule's root ("/", "/home"
        // for a root /home/u/p): programs check their ancestors (rm -r
        // lstat()s "/" first). Only their metadata, and only for stat:
        // no descriptor reaches the program.
        if matches!(op, Op::Stat | Op::Statx) && dir.is_none() {
            if let Some(rule) = decide::ancestor_of_root(&self.policy, req.path()) {
                return Ok(stat_ancestor(op, req, rule));
            }
        }
        let place = self.locate(dir, req.path())?;
        let need = required_access(op, req.flags);
        if !place.granted.contains(need) {
            return Err(Outcome::deny(WireDecision::DeniedAccess));
        }
        let out = Outcome::allowed(place.grant);
        Ok(match op {
            Op::Open => {
                let flags = check_open_flags(req.flags).map_err(|e| Outcome::allowed_err(0, e))?;
                match open_beneath(place.base, &place.rel, flags, req.mode, place.strict) {
                    Ok(fd) => match self.limit_handed_out(&place, &fd) {
                        Ok(()) => Outcome { fd: Some(fd), ..out },
                        Err(e) => out.with_result(Err(e)),
                    },
                    Err(e) if is_escape(e) => return Err(Outcome::deny(WireDecision::DeniedEscape)),
                    Err(e) => out.with_result(Err(e)),
                }
            }
            Op::Stat | Op::Statx => {
                let nofollow = if req.flags & libc::AT_SYMLINK_NOFOLLOW != 0 {
                    libc::O_NOFOLLOW
                } else {
                    0
                };
                match open_beneath(place.base, &place.rel, libc::O_PATH | nofollow, 0, place.strict) {
                    Ok(fd) => out.with_stat(op, fd.as_raw_fd(), req),
                    Err(e) if is_escape(e) => return Err(Outcome::deny(WireDecision::DeniedEscape)),
                    Err(e) => out.with_result(Err(e)),
                }
            }
            Op::Access => {
                let nofollow = if req.flags & libc::AT_SYMLINK_NOFOLLOW != 0 {
                    libc::O_NOFOLLOW
                } else {
                    0
                };
                match open_beneath(place.base, &place.rel, libc::O_PATH | nofollow, 0, place.strict) {
                    Ok(fd) => out.with_result(access_fd(fd.as_raw_fd(), req.mode as i32, req.flags)),
                    Err(e) if is_escape(e) => return Err(Outcome::deny(WireDecision::DeniedEscape)),
                    Err(e) => out.with_result(Err(e)),
                }
            }
            Op::Readlink | Op::Mkdir | Op::Unlink => {
                let (parent, name) = match parent_of(&place) {
                    Ok(x) => x,
                    Err(e) if is_escape(e) => return Err(Outcome::deny(WireDecision::DeniedEscape)),
                    Err(e) => return Ok(out.with_result(Err(e))),
                };
                let p = parent.as_raw_fd();
                match op {
                    Op::Readlink => {
                        let mut buf = vec![0u8; OUT_MAX];
                        let cap = (req.out_len as usize).min(OUT_MAX);
                        // SAFETY: buf has cap bytes.
                        let n = unsafe { libc::readlinkat(p, name.as_ptr(), buf.as_mut_ptr().cast(), cap) };
                        if n < 0 {
                            out.with_result(Err(errno()))
                        } else {
                            buf.truncate(n as usize);
                            Outcome { data: buf, ..out }.with_result(Ok(n as i64))
                        }
                    }
                    // SAFETY: valid descriptor and C string.
                    Op::Mkdir => out.with_result(cvt(unsafe {
                        libc::mkdirat(p, name.as_ptr(), req.mode as libc::mode_t)
                    })),
                    _ => {
                        if req.flags & !libc::AT_REMOVEDIR != 0 {
                            return Ok(out.with_result(Err(libc::EINVAL)));
                        }
                        // SAFETY: as above.
                        out.with_result(cvt(unsafe {
                            libc::unlinkat(p, name.as_ptr(), req.flags & libc::AT_REMOVEDIR)
                        }))
                    }
                }
            }
            Op::Rename => {
                let to = self.locate(dir2, req.path2())?;
                if !to.granted.contains(Access::CREATE) {
                    return Err(Outcome::deny(WireDecision::DeniedAccess));
                }
                // Moving a root, or a directory holding one, would change
                // which rule governs what is inside it.
                if self.policy.fs_rules().iter().any(|r| r.root.starts_with(&place.abs)) {
                    return Err(Outcome::deny(WireDecision::DeniedAccess));
                }
                let from_parent = parent_of(&place);
                let to_parent = parent_of(&to);
                match (from_parent, to_parent) {
                    (Ok((fp, fname)), Ok((tp, tname))) => out.with_result(cvt(
                        // SAFETY: valid descriptors and C strings.
                        unsafe { libc::renameat(fp.as_raw_fd(), fname.as_ptr(), tp.as_raw_fd(), tname.as_ptr()) },
                    )),
                    (Err(e), _) | (_, Err(e)) if is_escape(e) => return Err(Outcome::deny(WireDecision::DeniedEscape)),
                    (Err(e), _) | (_, Err(e)) => out.with_result(Err(e)),
                }
            }
            Op::Connect | Op::Bind | Op::Sendto | Op::Listen => unreachable!("socket ops are not path ops"),
        })
    }

    /// listen on the program's socket. On an unbound IP socket the kernel
    /// would first bind it to every address and a free port, a bind the
    /// program never asked for: it needs a bind rule covering that
    /// (`0.0.0.0:0`, `[::]:0`, or a wider one). A socket already bound
    /// (by a brokered bind, or before entering) listens on its own
    /// authority; other families do not bind implicitly.
    fn listen(&self, req: &Request, sock: RawFd) -> Outcome {
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
        let grant = match parse_sockaddr(bytes) {
            Some(t @ NetTarget::Inet { port: Some(0), .. }) => match self.policy.match_bind(&t) {
                Some(rule) => Grant::Rule(rule),
                None => return Outcome::deny(WireDecision::DeniedNoRule),
            },
            _ => Grant::Descriptor,
        };
        // SAFETY: a socket we hold.
        Outcome::allowed(grant).with_result(cvt(unsafe { libc::listen(sock, req.flags) }))
    }

    /// connect, bind, sendto on the program's socket.
    fn net(&self, op: Op, req: &Request, sock: RawFd, data: &[u8]) -> Outcome {
        if !is_socket(sock) {
            return Outcome::deny(WireDecision::DeniedBadRequest);
        }
        let addr = req.addr();
        let Some(target) = parse_sockaddr(addr) else {
            return Outcome::deny(WireDecision::DeniedBadRequest);
        };
        let rule = match op {
            Op::Bind => self.policy.match_bind(&target),
            _ => self.policy.match_connect(&target),
        };
        let Some(rule) = rule else {
            return Outcome::deny(WireDecision::DeniedNoRule);
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

impl Outcome {
    /// Fills in a stat or statx buffer for `fd`, exactly as the kernel
    /// lays it out for the system call the program made.
    fn with_stat(self, op: Op, fd: RawFd, req: &Request) -> Outcome {
        let size = if op == Op::Statx {
            sys::STATX_SIZE
        } else {
            sys::STAT_SIZE
        };
        let mut buf = vec![0u8; size];
        let r = raw_stat(op, fd, req, &mut buf);
        match r {
            Ok(()) => Outcome { data: buf, ..self },
            Err(e) => self.with_result(Err(e)),
        }
    }
}

/// The stat of a directory on the way to rule `rule`'s root, by its
/// absolute path (decide::ancestor_of_root vetted it: no `..`).
fn stat_ancestor(op: Op, req: &Request, rule: usize) -> Outcome {
    let out = Outcome::allowed(Grant::Rule(rule));
    let Ok(path) = CString::new(req.path()) else {
        return Outcome::deny(WireDecision::DeniedBadRequest);
    };
    let nofollow = if req.flags & libc::AT_SYMLINK_NOFOLLOW != 0 {
        libc::O_NOFOLLOW
    } else {
        0
    };
    // SAFETY: a C string; the descriptor is closed when `fd` drops.
    let raw = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC | nofollow) };
    if raw < 0 {
        return out.with_result(Err(errno()));
    }
    // SAFETY: open returned a new descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    out.with_stat(op, fd.as_raw_fd(), req)
}

#[cfg(target_os = "linux")]
fn raw_stat(op: Op, fd: RawFd, req: &Request, buf: &mut [u8]) -> std::result::Result<(), i32> {
    // SAFETY: buf is large enough for the kernel structure.
    let r = unsafe {
        if op == Op::Statx {
            let sync = req.flags & libc::AT_STATX_SYNC_TYPE;
            libc::syscall(
                libc::SYS_statx,
                fd,
                c"".as_ptr(),
                libc::AT_EMPTY_PATH | sync,
                req.aux as u32,
                buf.as_mut_ptr(),
            )
        } else {
            libc::syscall(
                libc::SYS_newfstatat,
                fd,
                c"".as_ptr(),
                buf.as_mut_ptr(),
                libc::AT_EMPTY_PATH,
            )
        }
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

#[cfg(target_os = "freebsd")]
fn raw_stat(op: Op, fd: RawFd, _req: &Request, buf: &mut [u8]) -> std::result::Result<(), i32> {
    if op == Op::Statx {
        return Err(libc::ENOSYS);
    }
    const SYS_FSTATAT: libc::c_int = 552;
    // SAFETY: buf holds a FreeBSD 12+ struct stat.
    let r = unsafe { libc::syscall(SYS_FSTATAT, fd, c"".as_ptr(), buf.as_mut_ptr(), libc::AT_EMPTY_PATH) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn access_fd(fd: RawFd, mode: i32, flags: i32) -> std::result::Result<i64, i32> {
    let f = libc::AT_EMPTY_PATH | (flags & libc::AT_EACCESS);
    // SAFETY: fd is an O_PATH descriptor; empty path with AT_EMPTY_PATH.
    let r = unsafe { libc::syscall(libc::SYS_faccessat2, fd, c"".as_ptr(), mode, f) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(0)
    }
}

#[cfg(target_os = "freebsd")]
fn access_fd(fd: RawFd, mode: i32, flags: i32) -> std::result::Result<i64, i32> {
    let f = libc::AT_EMPTY_PATH | (flags & libc::AT_EACCESS);
    // SAFETY: as above.
    cvt(unsafe { libc::faccessat(fd, c"".as_ptr(), mode, f) })
}

/// The directory containing `place` (resolved beneath its base) and the
/// final component's name.
fn parent_of(place: &Place<'_>) -> std::result::Result<(OwnedFd, CString), i32> {
    let rel = Path::new(OsStr::from_bytes(place.rel.as_bytes()));
    let name = match rel.file_name() {
        Some(n) => n.as_bytes(),
        // ".", "..", "/": no final component to act on.
        None => return Err(libc::EINVAL),
    };
    let parent = rel
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let parent = CString::new(parent.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)?;
    let pfd = open_beneath(place.base, &parent, libc::O_PATH | libc::O_DIRECTORY, 0, place.strict)?;
    Ok((pfd, CString::new(name).map_err(|_| libc::EINVAL)?))
}

/// Opens `rel` strictly beneath `base`; with `strict`, following no
/// symlink on the way (Linux).
#[cfg(target_os = "linux")]
fn open_beneath(base: RawFd, rel: &CString, flags: i32, mode: u32, strict: bool) -> std::result::Result<OwnedFd, i32> {
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.mode = if flags & (libc::O_CREAT | libc::O_TMPFILE) != 0 {
        (mode & 0o7777) as u64
    } else {
        0
    };
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    if strict {
        how.resolve |= libc::RESOLVE_NO_SYMLINKS;
    }
    // SAFETY: how is a valid open_how; rel is a C string.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            base,
            rel.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        Err(errno())
    } else {
        // SAFETY: fresh descriptor.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }
}

/// FreeBSD: walked one name at a time ([`crate::beneath::open_beneath`]),
/// so that no `..` reaches the kernel, whose check fails from the root of
/// a mount on stock 15.1; with `strict`, no symlink is followed (ELOOP),
/// as RESOLVE_NO_SYMLINKS does on Linux.
#[cfg(target_os = "freebsd")]
fn open_beneath(base: RawFd, rel: &CString, flags: i32, mode: u32, strict: bool) -> std::result::Result<OwnedFd, i32> {
    crate::beneath::open_beneath(base, rel.as_bytes(), flags, mode, strict)
}

/// Whether the directory `fd` is the root of a mounted file system (its
/// `..` is on another device). Not `/`, whose `..` is itself.
#[cfg(target_os = "freebsd")]
fn is_mount_root(fd: RawFd) -> bool {
    // SAFETY: zeroed stat buffers and a C string.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        let mut up: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0
            && st.st_mode & libc::S_IFMT == libc::S_IFDIR
            && libc::fstatat(fd, c"..".as_ptr(), &mut up, 0) == 0
            && up.st_dev != st.st_dev
    }
}

/// Whether this kernel refuses `..` from a mount root under
/// O_RESOLVE_BENEATH (patch 1 of kernel-patches/): probed on /dev, a devfs
/// mount. Anything inconclusive counts as not fixed.
#[cfg(target_os = "freebsd")]
fn dotdot_fixed() -> bool {
    // SAFETY: C strings; the descriptors are closed by OwnedFd.
    unsafe {
        let dev = libc::open(c"/dev".as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC);
        if dev < 0 {
            return false;
        }
        let dev = OwnedFd::from_raw_fd(dev);
        if !is_mount_root(dev.as_raw_fd()) {
            return false;
        }
        let up = libc::openat(
            dev.as_raw_fd(),
            c"..".as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_RESOLVE_BENEATH,
        );
        if up >= 0 {
            libc::close(up);
            return false;
        }
        errno() == libc::ENOTCAPABLE
    }
}

/// Where a directory descriptor the program passed points.
#[cfg(target_os = "linux")]
fn fd_path(fd: RawFd) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .ok()
        .filter(|p| p.is_absolute())
}

#[cfg(target_os = "freebsd")]
fn fd_path(fd: RawFd) -> Option<PathBuf> {
    // SAFETY: kinfo_file is plain data; kf_structsize must be set for F_KINFO.
    unsafe {
        let mut kf: libc::kinfo_file = std::mem::zeroed();
        kf.kf_structsize = std::mem::size_of::<libc::kinfo_file>() as i32;
        if libc::fcntl(fd, libc::F_KINFO, &mut kf) < 0 {
            return None;
        }
        let p = std::ffi::CStr::from_ptr(kf.kf_path.as_ptr());
        let p = PathBuf::from(OsStr::from_bytes(p.to_bytes()));
        p.is_absolute().then_some(p)
    }
}

fn is_socket(fd: RawFd) -> bool {
    // SAFETY: plain fstat into a zeroed struct.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFSOCK
    }
}

/// Reads a socket address as the kernel would, or None if malformed or of
/// a family the broker does not handle.
pub(crate) fn parse_sockaddr(b: &[u8]) -> Option<NetTarget> {
    if b.len() < 2 {
        return None;
    }
    #[cfg(target_os = "linux")]
    let family = u16::from_ne_bytes([b[0], b[1]]) as i32;
    #[cfg(target_os = "freebsd")]
    let family = b[1] as i32;
    // SAFETY (all reads): lengths are checked against the structure sizes
    // and read_unaligned copes with the byte buffer's alignment.
    match family {
        libc::AF_INET if b.len() >= std::mem::size_of::<libc::sockaddr_in>() => {
            let sa: libc::sockaddr_in = unsafe { std::ptr::read_unaligned(b.as_ptr().cast()) };
            Some(NetTarget::Inet {
                ip: IpAddr::V4(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr))),
                port: Some(u16::from_be(sa.sin_port)),
            })
        }
        libc::AF_INET6 if b.len() >= std::mem::size_of::<libc::sockaddr_in6>() => {
            let sa: libc::sockaddr_in6 = unsafe { std::ptr::read_unaligned(b.as_ptr().cast()) };
            Some(NetTarget::Inet {
                ip: IpAddr::V6(Ipv6Addr::from(sa.sin6_addr.s6_addr)),
                port: Some(u16::from_be(sa.sin6_port)),
            })
        }
        libc::AF_UNIX => {
            let off = std::mem::offset_of!(libc::sockaddr_un, sun_path);
            let path = b.get(off..)?;
            let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
            let path = &path[..end];
            // Abstract (Linux) and unnamed sockets have no path to allow.
            if path.first() != Some(&b'/') {
                return None;
            }
            Some(NetTarget::Unix(PathBuf::from(OsStr::from_bytes(path))))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_parsing() {
        let sa: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let (bytes, _) = crate::client::sockaddr_bytes(&sa);
        assert_eq!(
            parse_sockaddr(&bytes).unwrap(),
            NetTarget::parse("127.0.0.1:8080").unwrap()
        );
        let sa: std::net::SocketAddr = "[::1]:53".parse().unwrap();
        let (bytes, _) = crate::client::sockaddr_bytes(&sa);
        assert_eq!(parse_sockaddr(&bytes).unwrap(), NetTarget::parse("[::1]:53").unwrap());
        assert!(parse_sockaddr(&bytes[..10]).is_none(), "short in6");
        assert!(parse_sockaddr(&[0xff, 0xff, 0, 0]).is_none(), "unknown family");
    }

    /// Hostile requests written straight to the broker's socket.
    mod hostile {
        use super::super::*;
        use crate::proto::{FD_SOCK, PATH_MAX};

        struct Fixture {
            _dir: tempfile::TempDir,
            root: PathBuf,
            b: BrokerHandle,
        }

        impl Drop for Fixture {
            fn drop(&mut self) {
                sys::close(self.b.ctl);
                // SAFETY: reaping the broker we forked.
                unsafe { libc::waitpid(self.b.pid, std::ptr::null_mut(), 0) };
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
            let b = spawn(&p).unwrap();
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
            // Nothing of it is kept: the broker goes with its last client.
            let pid = f.b.pid;
            sys::close(f.b.ctl);
            std::mem::forget(f);
            let start = std::time::Instant::now();
            let mut status = 0;
            // SAFETY: waiting for our own child, without blocking.
            while unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } != pid {
                if start.elapsed() > std::time::Duration::from_secs(5) {
                    // SAFETY: our own child.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                        libc::waitpid(pid, &mut status, 0);
                    }
                    panic!("the broker outlived its last client");
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }

        #[test]
        fn broker_exits_when_the_last_client_is_gone() {
            let f = fixture();
            let pid = f.b.pid;
            drop(f);
            // SAFETY: probing a reaped pid.
            assert_eq!(unsafe { libc::kill(pid, 0) }, -1);
        }
    }
}
