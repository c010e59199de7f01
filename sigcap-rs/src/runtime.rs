//! The state the violation handler reads, and the choices it acts on.
//!
//! `enter()` (sandbox.rs, the public API) builds a [`Runtime`], leaks it
//! and publishes it in [`RUNTIME`] before the handler is installed; the
//! handler (handler.rs) and the fast path read it from there. Kept apart
//! from both so that the handler, the fast path and the public API do not
//! depend on one another for it: this module sits below the handler and
//! above the backend, the client and the fast path whose state it holds.
use crate::backend::LandlockStatus;
use crate::error::{Error, Result};
use crate::policy::Policy;
use crate::record::{BackendKind, Decision, Ring, Violation};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// What happens when the program violates capability mode.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Ask the broker: allowed calls succeed as if unconfined, the rest
    /// fail with the original error. Every violation is recorded.
    Fallback,
    /// Record the violation and let the original error through.
    Report,
    /// Print the decoded violation to stderr and abort with a core dump.
    Abort,
    /// Call a function, from the signal handler, to decide. It must be
    /// async-signal-safe: no allocation, no locks, no `println!`.
    Callback(fn(&Violation) -> Action),
}

/// A callback's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Ask the broker, as [`Mode::Fallback`] does.
    Fallback,
    /// Fail with the original error.
    Deny,
    /// Fail with this errno instead.
    Errno(i32),
    /// Print and abort, as [`Mode::Abort`] does.
    Abort,
}

/// Counters since `enter()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Violations caught.
    pub violations: u64,
    /// Violations the broker performed.
    pub allowed: u64,
    /// Violations refused (by policy, callback, report mode or because the
    /// call has no brokered form).
    pub refused: u64,
    /// Violations that failed because the broker was gone, or did not
    /// answer in time ([`crate::DenyReason::BrokerTimeout`]).
    pub broker_unavailable: u64,
    /// Records lost from the in-memory store (the JSON stream has all).
    pub records_dropped: u64,
    /// Of `allowed`, the calls the handler answered itself, on the fast
    /// path (Linux; see [`crate::Builder::fast_path`]).
    pub fast_path: u64,
}

/// State the handler reads. Leaked at `enter()`: it lives as long as the
/// process, as capability mode does.
pub(crate) struct Runtime {
    pub backend: BackendKind,
    pub mode: Mode,
    /// The way to the broker (None in modes without one).
    pub ctl: Option<crate::client::Channel>,
    /// The JSON-lines log.
    pub log: Option<LogSink>,
    pub previous: libc::sigaction,
    pub ring: Ring,
    pub broker_pid: libc::pid_t,
    pub policy: Policy,
    pub landlock: LandlockStatus,
    /// The fast path's root descriptors and marker (None: off).
    pub fast: Option<crate::fast::FastPath>,
    /// What [`Runtime::count`] counts; read by [`Runtime::stats`].
    pub counters: Counters,
    /// Executable code loaded at `enter()`, for the handler's stack scan.
    pub code: crate::codemap::CodeMap,
    /// What a brokered exec passes on to the new image (exec.rs); None:
    /// exec is refused.
    pub exec: Option<crate::exec::ExecEnv>,
    /// The descriptors above (broker socket, log, fast-path roots),
    /// ascending: what the Linux filter keeps in place
    /// (`backend::keep_held`).
    pub held: Vec<RawFd>,
}

/// The runtime's counters. Their fields are private to this module:
/// only [`Runtime::count`] adds to them.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    allowed: AtomicU64,
    fast_path: AtomicU64,
    refused: AtomicU64,
    unavailable: AtomicU64,
}

/// Where the handler writes JSON lines, and how.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogSink {
    pub fd: RawFd,
    /// What `fd` referred to at `enter()`: lines go nowhere else.
    pub id: crate::sys::FileId,
    pub kind: LogKind,
    /// Whether allowed calls are written too ([`crate::Builder::log_allowed`]).
    pub allowed: bool,
}

/// How a log write avoids SIGPIPE in the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogKind {
    /// send(2) with MSG_NOSIGNAL.
    Socket,
    /// A pipe or FIFO: write(2) with SIGPIPE blocked around it.
    Pipe,
    /// A file or device: write(2) cannot raise SIGPIPE.
    Other,
}

impl LogSink {
    pub(crate) fn new(fd: RawFd, allowed: bool) -> Result<LogSink> {
        let st = crate::sys::fstat(fd).map_err(|e| Error::Sys {
            what: "fstat of the log descriptor",
            source: std::io::Error::from_raw_os_error(e),
        })?;
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFSOCK => LogKind::Socket,
            libc::S_IFIFO => LogKind::Pipe,
            _ => LogKind::Other,
        };
        Ok(LogSink {
            fd,
            id: crate::sys::FileId::from_stat(&st),
            kind,
            allowed,
        })
    }
}

impl Runtime {
    pub(crate) fn count(&self, v: &Violation) {
        let n = &self.counters;
        let c = match v.decision {
            d if d.is_allowed() => &n.allowed,
            Decision::BrokerUnavailable | Decision::Denied(crate::record::DenyReason::BrokerTimeout) => &n.unavailable,
            _ => &n.refused,
        };
        c.fetch_add(1, Ordering::Relaxed);
        if v.fast_path {
            n.fast_path.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counters since `enter()` (`Sandbox::stats`).
    pub(crate) fn stats(&self) -> Stats {
        let n = &self.counters;
        Stats {
            violations: self.ring.total(),
            allowed: n.allowed.load(Ordering::Relaxed),
            refused: n.refused.load(Ordering::Relaxed),
            broker_unavailable: n.unavailable.load(Ordering::Relaxed),
            records_dropped: self.ring.dropped(),
            fast_path: n.fast_path.load(Ordering::Relaxed),
        }
    }
}

/// The process's runtime, set once by `enter()` before the handler exists.
pub(crate) static RUNTIME: AtomicPtr<Runtime> = AtomicPtr::new(std::ptr::null_mut());

pub(crate) fn runtime() -> Option<&'static Runtime> {
    // SAFETY: the pointer is either null or a leaked Box that is never freed.
    unsafe { RUNTIME.load(Ordering::Acquire).as_ref() }
}
