//! The public entry point: build a policy, choose a mode, enter.
use crate::backend::{self, LandlockChoice, LandlockStatus};
use crate::broker::{self, BrokerHandle};
use crate::error::{Error, Result};
use crate::handler;
use crate::policy::{Access, NetTarget, Policy};
use crate::record::{BackendKind, Ring, Violation};
use crate::runtime::{self, Counters, LogSink, Mode, Runtime, Stats};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long a violation waits for the broker by default (see
/// [`Builder::broker_timeout`]).
pub const DEFAULT_BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds and enters a sandbox. See the crate documentation.
#[derive(Debug)]
#[must_use = "a builder does nothing until enter() is called"]
pub struct Builder {
    policy: Policy,
    mode: Mode,
    log_fd: Option<RawFd>,
    backend: Option<BackendKind>,
    ring_capacity: usize,
    landlock: LandlockChoice,
    broker_timeout: Duration,
    fast_path: bool,
    stack_scan: bool,
    log_allowed: bool,
    broker_program: Option<std::path::PathBuf>,
    exec_preload: Option<OwnedFd>,
    errors: Vec<Error>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            policy: Policy::new(),
            mode: Mode::Fallback,
            log_fd: None,
            backend: None,
            ring_capacity: 4096,
            landlock: LandlockChoice::Required,
            broker_timeout: DEFAULT_BROKER_TIMEOUT,
            fast_path: true,
            stack_scan: true,
            log_allowed: true,
            broker_program: None,
            exec_preload: None,
            errors: Vec::new(),
        }
    }
}

impl Builder {
    fn push<T>(&mut self, r: Result<T>) {
        if let Err(e) = r {
            self.errors.push(e);
        }
    }

    /// Allows reading beneath `root`.
    pub fn read_beneath(self, root: impl AsRef<Path>) -> Self {
        self.allow(root, Access::READ)
    }

    /// Allows reading, writing and creating beneath `root`.
    pub fn write_beneath(self, root: impl AsRef<Path>) -> Self {
        self.allow(root, Access::ALL)
    }

    /// Allows `access` beneath `root`.
    pub fn allow(mut self, root: impl AsRef<Path>, access: Access) -> Self {
        let r = self.policy.allow_fs(root, access).map(|_| ());
        self.push(r);
        self
    }

    /// Allows connect(2)/sendto(2) to `target` (`"127.0.0.1:8080"`,
    /// `"[::1]:*"`, `"unix:/path"`).
    pub fn connect(mut self, target: &str) -> Self {
        let r = NetTarget::parse(target).map(|t| {
            self.policy.allow_connect(t);
        });
        self.push(r);
        self
    }

    /// Allows bind(2) to `target`.
    pub fn bind(mut self, target: &str) -> Self {
        let r = NetTarget::parse(target).map(|t| {
            self.policy.allow_bind(t);
        });
        self.push(r);
        self
    }

    /// Allows reading the sysctl node or subtree `rule` (`"kern.pid_max"`,
    /// `"kern.proc.*"`; FreeBSD) through [`Sandbox::broker_sysctl`].
    pub fn read_sysctl(mut self, rule: &str) -> Self {
        let r = crate::policy::SysctlRule::parse(rule).map(|r| {
            self.policy.allow_sysctl(r);
        });
        self.push(r);
        self
    }

    /// Adds every rule of `policy`.
    pub fn policy(mut self, policy: &Policy) -> Self {
        for r in policy.fs_rules() {
            let res = self.policy.allow_fs(&r.root, r.access).map(|_| ());
            self.push(res);
        }
        for t in policy.connect_rules() {
            self.policy.allow_connect(t.clone());
        }
        for t in policy.bind_rules() {
            self.policy.allow_bind(t.clone());
        }
        for r in policy.sysctl_rules() {
            self.policy.allow_sysctl(r.clone());
        }
        self
    }

    /// Adds the rules of a TOML policy file (see [`Policy`]).
    pub fn policy_file(mut self, path: impl AsRef<Path>) -> Self {
        match Policy::from_file(path) {
            Ok(p) => self.policy(&p),
            Err(e) => {
                self.errors.push(e);
                self
            }
        }
    }

    /// What to do on a violation (default [`Mode::Fallback`]).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Streams every violation, with its decision, as one JSON line to
    /// `fd` (duplicated now; the caller may close its copy).
    pub fn log_json(mut self, fd: BorrowedFd<'_>) -> Self {
        // The runtime's own copy, high (sys::HELD_FLOOR).
        match crate::sys::dup_high(fd.as_raw_fd()) {
            Ok(dup) => self.log_fd = Some(dup),
            Err(e) => self.errors.push(Error::Sys {
                what: "dup log descriptor",
                source: std::io::Error::from_raw_os_error(e),
            }),
        }
        self
    }

    /// Whether the JSON log ([`Builder::log_json`]) gets the allowed
    /// calls too (default on). Off, it gets the refused, unsupported and
    /// unbrokered ones only: an allowed call then costs no formatting and
    /// no write (it is still in the ring, [`Sandbox::take_violations`]).
    /// For a reader that only needs to know what failed.
    pub fn log_allowed(mut self, on: bool) -> Self {
        self.log_allowed = on;
        self
    }

    /// The most a violation waits for the broker (default
    /// [`DEFAULT_BROKER_TIMEOUT`], 10 s; at least 1 ms): sending the
    /// request and receiving the answer, together. After it the call
    /// fails with its original error and the record says
    /// [`crate::DenyReason::BrokerTimeout`]: the broker is stopped, or
    /// busy with calls that block (a FIFO without a writer, a blocking
    /// connect to a slow host). The request is not withdrawn; the broker
    /// may still perform it, and the program is not told.
    pub fn broker_timeout(mut self, t: Duration) -> Self {
        self.broker_timeout = t;
        self
    }

    /// Whether the handler scans the violating thread's stack for
    /// candidate return addresses ([`Violation::scan`], default on): the
    /// callers of code built without frame pointers, which the
    /// frame-pointer walk ([`Violation::stack`]) cannot see. It reads
    /// 2 KiB above the stack pointer (on Linux in the copy the handler
    /// makes anyway) and checks each word against the executable
    /// segments loaded at `enter()`: about 1–2 µs per violation on the
    /// development machine. Off, records have an empty scan.
    pub fn stack_scan(mut self, on: bool) -> Self {
        self.stack_scan = on;
        self
    }

    /// Whether allowed file calls (open, the stat family, access,
    /// readlink with an absolute path) may be answered in the handler,
    /// beneath the rule's root descriptor, without a broker round trip
    /// (default on). The decision is the broker's own code and the
    /// record the same, with [`Violation::fast_path`] set.
    ///
    /// Linux: used only where Landlock is enforced
    /// ([`LandlockStatus::Enforced`]): the filter then lets a few calls
    /// with a marker through, and code in the process that finds the
    /// marker can make them too, bounded by Landlock only (see the
    /// README's fast-path section).
    ///
    /// FreeBSD with SIGCAP: the process holds each directory rule's root,
    /// limited with cap_rights_limit to what the broker would hand out
    /// for it, and the handler makes the `*at` call beneath it; the
    /// program can use those descriptors too, for no more than its
    /// policy. Not on stock FreeBSD (SIGTRAP).
    ///
    /// Turn it off to keep every lookup the broker's.
    pub fn fast_path(mut self, on: bool) -> Self {
        self.fast_path = on;
        self
    }

    /// The image executed as the broker (default: this program's own
    /// executable, `/proc/self/exe` on Linux, `AT_EXECPATH` on FreeBSD).
    /// It must link this crate, whose constructor turns it into the broker
    /// before its `main` (a program whose `main` is only
    /// `fn main() {}` and that uses [`Builder::enter`] somewhere, or
    /// names `sigcap::Sandbox::builder`, will do). Opened at `enter()`
    /// and executed by descriptor.
    pub fn broker_program(mut self, path: impl AsRef<Path>) -> Self {
        self.broker_program = Some(path.as_ref().to_owned());
        self
    }

    /// FreeBSD: a shared library to preload into every image the program
    /// execs (`LD_PRELOAD_FDS`; capability mode cannot open
    /// `LD_PRELOAD`'s paths, which the handler drops). `sigcap-run`
    /// passes its shim, which attaches the new image
    /// ([`Builder::attach`]). The descriptor is held by the runtime.
    pub fn exec_preload(mut self, lib: OwnedFd) -> Self {
        self.exec_preload = Some(lib);
        self
    }

    /// Forces a backend instead of choosing the best available one.
    pub fn backend(mut self, kind: BackendKind) -> Self {
        self.backend = Some(kind);
        self
    }

    /// How many violation records to keep in memory (oldest overwritten).
    pub fn record_capacity(mut self, n: usize) -> Self {
        self.ring_capacity = n.max(1);
        self
    }

    /// Linux: enter even where the kernel has no Landlock, or one older
    /// than ABI 6 (Linux 6.12), using whatever part it has. Without this,
    /// `enter()` fails there with [`Error::Landlock`]: the kernel would not
    /// enforce the policy, and the seccomp emulation with the broker would
    /// be the only wall. [`Sandbox::landlock`] tells what was applied. No
    /// effect on FreeBSD.
    pub fn allow_without_landlock(mut self) -> Self {
        if self.landlock == LandlockChoice::Required {
            self.landlock = LandlockChoice::IfAvailable;
        }
        self
    }

    /// Linux: do not restrict the process with Landlock at all, even where
    /// the kernel has it; the seccomp filter and the broker are then the
    /// only walls. For permissive, record-everything runs (`sigcap-run`
    /// without a policy), where Landlock would refuse, without a record,
    /// what the filter does not trap: signals to other processes and
    /// abstract Unix sockets. No effect on FreeBSD.
    pub fn without_landlock(mut self) -> Self {
        self.landlock = LandlockChoice::Off;
        self
    }

    /// The policy built so far.
    pub fn current_policy(&self) -> &Policy {
        &self.policy
    }

    /// Starts the broker, installs the handler, enables trapping and
    /// enters capability mode (or the seccomp emulation). Irreversible for
    /// this process.
    ///
    /// Other threads may be running: the broker is a fresh exec of this
    /// program's image (or [`Builder::broker_program`]), started with
    /// nothing but system calls between fork and exec, so no lock another
    /// thread holds is copied into it. It is not a child of this process
    /// (`wait()` never returns it) and exits when the last process holding
    /// its control socket (this one and its forks) is gone.
    ///
    /// On Linux the process is also restricted with Landlock (see
    /// [`Sandbox::landlock`]), every thread of it, the running ones
    /// included; a thread that cannot be restricted (one that blocks every
    /// signal, or does not run within a second) makes `enter()` fail. A
    /// kernel without Landlock ABI 6 is an error unless
    /// [`Builder::allow_without_landlock`] was called.
    pub fn enter(self) -> Result<Sandbox> {
        self.enter_probed(backend::landlock::probe_abi)
    }

    /// [`Builder::enter`] with the kernel's Landlock ABI read by `landlock_abi`
    /// (tests simulate older kernels with it).
    pub(crate) fn enter_probed(mut self, landlock_abi: fn() -> i32) -> Result<Sandbox> {
        if let Some(e) = self.errors.drain(..).next() {
            return Err(e);
        }
        if runtime::runtime().is_some() {
            return Err(Error::AlreadyEntered);
        }
        let (kind, mut prepared) = backend::prepare(self.backend)?;
        // Compiled before the broker exists, applied after it is started:
        // the broker keeps its authority.
        let landlock = backend::landlock::prepare(&self.policy, landlock_abi(), self.landlock)?;
        let needs_broker = !matches!(self.mode, Mode::Report | Mode::Abort);
        let mut broker = if needs_broker {
            Some(broker::spawn(&self.policy, self.broker_program.as_deref())?)
        } else {
            None
        };
        let fail = |b: &Option<BrokerHandle>, e: Error| {
            if let Some(b) = b {
                b.abandon();
            }
            e
        };
        if let Some(b) = &broker {
            backend::protect_broker(&mut prepared, b.pid).map_err(|e| fail(&broker, e))?;
        }
        // The fast path's own handles on the roots, opened like the
        // broker's, before Landlock (O_PATH opens are not Landlock's
        // anyway).
        let fast = if self.fast_path && broker.is_some() && fast_path_backend(kind) {
            Some(open_fast_roots(&self.policy).map_err(|e| fail(&broker, e))?)
        } else {
            None
        };
        // After the fork: the broker stays outside the Landlock domain.
        let landlock = backend::landlock::restrict(landlock).map_err(|e| fail(&broker, e))?;
        // Linux: only with Landlock enforced: what the filter lets through
        // for the fast path is bounded by it (backend::allow_fast_path).
        // FreeBSD: capability mode and the roots' rights bound it.
        let fast =
            fast.filter(|_| kind != BackendKind::LinuxSeccomp || matches!(landlock, LandlockStatus::Enforced { .. }));
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        if let Some(f) = &fast {
            backend::allow_fast_path(&mut prepared, f.marker, &f.root_fds()).map_err(|e| fail(&broker, e))?;
        }
        let log = match self.log_fd {
            Some(fd) => Some(LogSink::new(fd, self.log_allowed).map_err(|e| fail(&broker, e))?),
            None => None,
        };
        let timeout_ms = self.timeout_ms();
        // The broker's socket, high (sys::HELD_FLOOR).
        if let Some(b) = &mut broker {
            b.ctl = crate::sys::move_high(b.ctl);
        }
        let ctl = match &broker {
            Some(b) => Some(crate::client::Channel {
                fd: b.ctl,
                id: crate::sys::FileId::of(b.ctl).ok_or_else(|| {
                    fail(
                        &broker,
                        Error::Sys {
                            what: "fstat of the broker's socket",
                            source: std::io::Error::last_os_error(),
                        },
                    )
                })?,
                timeout_ms,
            }),
            None => None,
        };
        // exec (FreeBSD, SIGCAP): only where a rule grants it.
        let exec_rules = self.policy.fs_rules().iter().any(|r| r.access.contains(Access::EXEC));
        let exec = if kind == BackendKind::FreeBsdSigcap && broker.is_some() && exec_rules {
            Some(prepare_exec(&self.policy, self.exec_preload.take()).map_err(|e| fail(&broker, e))?)
        } else {
            None
        };
        let held = held_numbers(&ctl, &log, &fast);
        #[cfg(target_os = "linux")]
        backend::keep_held(&mut prepared, &held).map_err(|e| fail(&broker, e))?;
        let rt = Box::new(Runtime {
            backend: kind,
            mode: self.mode,
            ctl,
            log,
            // SAFETY: replaced by the real previous action before use.
            previous: unsafe { std::mem::zeroed() },
            ring: Ring::new(self.ring_capacity),
            broker_pid: broker.as_ref().map_or(0, |b| b.pid),
            policy: self.policy.clone(),
            landlock,
            fast,
            counters: Counters::default(),
            code: self.code_map(),
            exec,
            held,
        });
        publish_and_install(rt, kind).map_err(|e| fail(&broker, e))?;
        backend::confine(kind, prepared).map_err(|e| fail(&broker, e))?;
        Ok(Sandbox {
            rt: runtime::runtime().expect("published above"),
        })
    }
}

impl Builder {
    /// The broker timeout as the client's milliseconds.
    fn timeout_ms(&self) -> i32 {
        self.broker_timeout.as_millis().clamp(1, i32::MAX as u128) as i32
    }

    /// The code loaded now, for the handler's stack scan (empty: no scan).
    fn code_map(&self) -> crate::codemap::CodeMap {
        if self.stack_scan {
            crate::codemap::CodeMap::loaded()
        } else {
            crate::codemap::CodeMap::default()
        }
    }

    /// Carries on, in an image started by a brokered exec (FreeBSD with
    /// SIGCAP; README "exec"), with the sandbox of the program that ran
    /// it: the same broker and policy, the log (unless
    /// [`Builder::log_json`] gives another), the working directory. The
    /// process is already in capability mode; this installs the handler
    /// and unblocks the violation signal, which was blocked across the
    /// exec. Only the builder's mode, log, timeout, stack scan and record
    /// capacity apply; the policy is the one the broker enforces, and the
    /// new image has no fast path. Fails with [`Error::Attach`] when
    /// `SIGCAP_ATTACH` is not set, is malformed, names descriptors that
    /// are not what it says, or the process is not in capability mode.
    pub fn attach(mut self) -> Result<Sandbox> {
        if let Some(e) = self.errors.drain(..).next() {
            return Err(e);
        }
        if runtime::runtime().is_some() {
            return Err(Error::AlreadyEntered);
        }
        let bad = |why: &str| Error::Attach(why.to_string());
        let var = std::env::var_os(crate::exec::ATTACH_VAR).ok_or_else(|| bad("SIGCAP_ATTACH is not set"))?;
        let a = crate::exec::Attach::parse(std::os::unix::ffi::OsStrExt::as_bytes(var.as_os_str()))
            .ok_or_else(|| bad("SIGCAP_ATTACH is malformed"))?;
        if !cfg!(target_os = "freebsd") {
            return Err(bad("exec is brokered on FreeBSD only"));
        }
        #[cfg(target_os = "freebsd")]
        {
            let mut mode: libc::c_uint = 0;
            // SAFETY: cap_getmode writes one integer.
            if unsafe { libc::cap_getmode(&mut mode) } != 0 || mode == 0 {
                return Err(bad("SIGCAP_ATTACH is set, but the process is not in capability mode"));
            }
        }
        if !crate::sys::is_unix_seqpacket(a.ctl) {
            return Err(bad("SIGCAP_ATTACH's ctl is not the broker's socket"));
        }
        let held = |fd: RawFd, what: &str| -> Result<(RawFd, crate::sys::FileId)> {
            // The runtime's copies, as at enter(), do not leak further.
            // SAFETY: fcntl on a descriptor number; failure is checked.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
                return Err(bad(&format!("SIGCAP_ATTACH's {what} descriptor is not open")));
            }
            let id = crate::sys::FileId::of(fd).ok_or_else(|| bad(&format!("fstat of SIGCAP_ATTACH's {what}")))?;
            Ok((fd, id))
        };
        let ctl = held(a.ctl, "ctl")?;
        let ctl = (crate::sys::move_high(ctl.0), ctl.1);
        let state = held(a.state, "state")?;
        let policy = read_state(state.0).map_err(|e| bad(&format!("the policy it names: {e}")))?;
        let log = match (self.log_fd, a.log) {
            (Some(fd), _) => Some(LogSink::new(fd, self.log_allowed)?),
            (None, Some(fd)) => {
                held(fd, "log")?;
                Some(LogSink::new(fd, self.log_allowed)?)
            }
            (None, None) => None,
        };
        let mut libs = [(-1, crate::sys::FileId::default()); crate::exec::LIBS_MAX];
        for (slot, &fd) in libs.iter_mut().zip(&a.libs) {
            *slot = held(fd, "library directory")?;
        }
        let preload = match self.exec_preload.take() {
            Some(fd) => {
                let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
                Some(held(raw, "preload")?)
            }
            None => a.preload.map(|fd| held(fd, "preload")).transpose()?,
        };
        #[cfg(target_os = "freebsd")]
        crate::cwd::EMULATED
            .set(&a.cwd, None)
            .map_err(|e| bad(&format!("working directory: errno {e}")))?;
        let kind = BackendKind::FreeBsdSigcap;
        let rt = Box::new(Runtime {
            backend: kind,
            mode: self.mode,
            ctl: Some(crate::client::Channel {
                fd: ctl.0,
                id: ctl.1,
                timeout_ms: self.timeout_ms(),
            }),
            log,
            // SAFETY: replaced by the real previous action before use.
            previous: unsafe { std::mem::zeroed() },
            ring: Ring::new(self.ring_capacity),
            broker_pid: 0,
            policy,
            landlock: LandlockStatus::NotUsed,
            fast: None,
            counters: Counters::default(),
            code: self.code_map(),
            exec: Some(crate::exec::ExecEnv {
                libs,
                nlibs: a.libs.len(),
                state,
                preload,
            }),
            // Only the Linux filter uses it (no attach there).
            held: Vec::new(),
        });
        publish_and_install(rt, kind)?;
        Ok(Sandbox {
            rt: runtime::runtime().expect("published above"),
        })
    }
}

/// Publishes `rt` and installs the handler for `kind`'s signal. The
/// previous action must be known before the handler can run: read it,
/// then publish, then install.
fn publish_and_install(rt: Box<Runtime>, kind: BackendKind) -> Result<()> {
    let sig = backend::signal_for(kind);
    crate::sys::cache_pid();
    let rt: &'static mut Runtime = Box::leak(rt);
    // SAFETY: querying the current action.
    unsafe { libc::sigaction(sig, std::ptr::null(), &mut rt.previous) };
    if runtime::RUNTIME
        .compare_exchange(std::ptr::null_mut(), rt, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err(Error::AlreadyEntered);
    }
    handler::install(sig).map_err(|source| Error::Sys {
        what: "sigaction",
        source,
    })?;
    Ok(())
}

/// The policy in the state descriptor an exec passed on (its TOML).
fn read_state(fd: RawFd) -> std::result::Result<Policy, String> {
    let st = crate::sys::fstat(fd).map_err(|e| format!("fstat: errno {e}"))?;
    let len = usize::try_from(st.st_size).map_err(|_| "bad size".to_string())?;
    if len > 16 << 20 {
        return Err("larger than 16 MiB".into());
    }
    let mut b = vec![0u8; len];
    // SAFETY: b has len bytes.
    let n = unsafe { libc::pread(fd, b.as_mut_ptr().cast(), len, 0) };
    if n != len as isize {
        return Err("short read".into());
    }
    let text = String::from_utf8(b).map_err(|_| "not UTF-8".to_string())?;
    Policy::from_toml(&text).map_err(|e| e.to_string())
}

/// Library directories a brokered exec's run-time linker searches
/// (`LD_LIBRARY_PATH_FDS`, FreeBSD): rtld's own defaults, and the ports'.
/// Each is held only where the policy lets the program read all of it.
pub const EXEC_LIBRARY_DIRS: [&str; 3] = ["/lib", "/usr/lib", "/usr/local/lib"];

/// What exec needs from `enter()` (exec.rs): the library directories the
/// policy lets the program read (wholly: no nested rule withholds read),
/// each limited to lookup, read and map; the policy's TOML in a
/// read-only memory object; the preload library.
fn prepare_exec(policy: &Policy, preload: Option<OwnedFd>) -> Result<crate::exec::ExecEnv> {
    let mut libs = [(-1, crate::sys::FileId::default()); crate::exec::LIBS_MAX];
    let mut nlibs = 0;
    for dir in EXEC_LIBRARY_DIRS {
        let readable = policy.match_path(Path::new(dir)).is_some_and(|m| {
            let granted = policy.fs_rules()[m.rule].access;
            broker::handed_out_access(policy, granted, Path::new(dir)).contains(Access::READ)
        });
        if !readable {
            continue;
        }
        let c = std::ffi::CString::new(dir).expect("no NUL");
        // SAFETY: a C string; the descriptor is kept for the process's life.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            continue;
        }
        #[cfg(target_os = "freebsd")]
        {
            use crate::caprights::*;
            let r = Rights::of(&[
                CAP_LOOKUP,
                CAP_FSTAT,
                CAP_FSTATAT,
                CAP_MMAP_R,
                CAP_MMAP_X,
                CAP_FCNTL,
                CAP_IOCTL,
            ]);
            limit(fd, r).map_err(|e| Error::Sys {
                what: "cap_rights_limit of a library directory",
                source: std::io::Error::from_raw_os_error(e),
            })?;
        }
        let id = crate::sys::FileId::of(fd).ok_or_else(|| Error::last_os("fstat of a library directory"))?;
        libs[nlibs] = (fd, id);
        nlibs += 1;
    }
    let state = broker::config_memfd(policy.to_toml().as_bytes())?;
    #[cfg(target_os = "freebsd")]
    {
        use crate::caprights::*;
        limit(
            state.as_raw_fd(),
            Rights::of(&[CAP_READ, CAP_SEEK, CAP_FSTAT, CAP_FCNTL, CAP_IOCTL]),
        )
        .map_err(|e| Error::Sys {
            what: "cap_rights_limit of the exec state",
            source: std::io::Error::from_raw_os_error(e),
        })?;
    }
    let state = std::os::fd::IntoRawFd::into_raw_fd(state);
    let state_id = crate::sys::FileId::of(state).ok_or_else(|| Error::last_os("fstat of the exec state"))?;
    let preload = match preload {
        Some(fd) => {
            let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
            let id = crate::sys::FileId::of(raw).ok_or_else(|| Error::last_os("fstat of the preload library"))?;
            Some((raw, id))
        }
        None => None,
    };
    Ok(crate::exec::ExecEnv {
        libs,
        nlibs,
        state: (state, state_id),
        preload,
    })
}

/// Whether backend `kind` has a fast path: Linux (x86-64, and then only
/// under Landlock), and FreeBSD with SIGCAP, whose kernel drops a
/// blocked violation signal (fast/freebsd.rs); not stock FreeBSD.
fn fast_path_backend(kind: BackendKind) -> bool {
    match kind {
        BackendKind::LinuxSeccomp => cfg!(all(target_os = "linux", target_arch = "x86_64")),
        BackendKind::FreeBsdSigcap => true,
        BackendKind::FreeBsdSigtrap => false,
    }
}

/// Opens every file rule's root for the fast path, with a fresh marker.
///
/// FreeBSD: each root is limited to the rights the broker would give a
/// descriptor for it (its modes, less what nested rules withhold), since
/// in capability mode the program can use these descriptors itself; a
/// single-file rule's parent gets no rights at all (it would reach the
/// file's siblings), and the fast path leaves that rule to the broker.
fn open_fast_roots(policy: &Policy) -> Result<crate::fast::FastPath> {
    #[cfg(target_os = "freebsd")]
    let dotdot_fixed = broker::dotdot_fixed();
    let mut roots = Vec::new();
    for rule in policy.fs_rules() {
        let (fd, name) = match broker::open_root(&rule.root)? {
            broker::RootFd::Dir(fd) => (fd, None),
            broker::RootFd::File { parent, name } => (parent, Some(name)),
        };
        let id = crate::sys::FileId::of(fd.as_raw_fd()).ok_or_else(|| Error::last_os("fstat of a root"))?;
        // After the fstat: a single-file rule's parent keeps no CAP_FSTAT.
        #[cfg(target_os = "freebsd")]
        {
            let limited = match name {
                None => broker::limit_for_program(policy, rule.access, &rule.root, fd.as_raw_fd(), dotdot_fixed),
                Some(_) => crate::caprights::limit_to_nothing(fd.as_raw_fd()),
            };
            limited.map_err(|e| Error::Sys {
                what: "cap_rights_limit of a root",
                source: std::io::Error::from_raw_os_error(e),
            })?;
        }
        // High, out of the program's way, like the broker's socket: on
        // Linux the filter keeps the number from being closed or
        // replaced (backend::keep_held).
        // SAFETY: move_high hands back an open descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(crate::sys::move_high(fd.into_raw_fd())) };
        roots.push(crate::fast::FastRoot { fd, id, name });
    }
    let mut b = [0u8; 8];
    // SAFETY: getrandom into a local buffer.
    if unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) } != 8 {
        return Err(Error::last_os("getrandom"));
    }
    Ok(crate::fast::FastPath {
        marker: u64::from_ne_bytes(b) | 1,
        roots,
    })
}

/// The broker's socket and the log's copy, those there are
/// ([`Sandbox::held_descriptors`]).
fn ctl_and_log(ctl: &Option<crate::client::Channel>, log: &Option<LogSink>) -> Vec<RawFd> {
    ctl.iter().map(|c| c.fd).chain(log.iter().map(|l| l.fd)).collect()
}

/// The runtime's own descriptors, ascending ([`Runtime::held`]): the
/// broker's socket, the log's copy and the fast path's roots.
fn held_numbers(
    ctl: &Option<crate::client::Channel>,
    log: &Option<LogSink>,
    fast: &Option<crate::fast::FastPath>,
) -> Vec<RawFd> {
    let mut held = ctl_and_log(ctl, log);
    if let Some(f) = fast {
        held.extend(f.root_fds());
    }
    held.sort_unstable();
    held
}

/// The program's working directory as the sandbox sees it: the directory
/// relative paths of trapped calls are resolved against.
///
/// Linux: the process's own (chdir is brokered, fchdir allowed, and the
/// kernel keeps track), the same as [`std::env::current_dir`]. FreeBSD,
/// after `enter()`: the emulated one (capability mode refuses chdir and
/// fchdir, so the kernel's stays where `enter()` found it; the handler
/// answers the program's chdir and fchdir by changing this one, and its
/// `__getcwd`, hence getcwd(3), with it too). Before `enter()`, or
/// without a sandbox: [`std::env::current_dir`].
pub fn current_dir() -> std::io::Result<std::path::PathBuf> {
    #[cfg(target_os = "freebsd")]
    if runtime::runtime().is_some() {
        use std::os::unix::ffi::OsStrExt;
        let mut b = vec![0u8; crate::proto::PATH_MAX];
        let n = crate::cwd::current(&mut b).map_err(std::io::Error::from_raw_os_error)?;
        return Ok(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&b[..n])));
    }
    std::env::current_dir()
}

/// A handle on the entered sandbox. Capability mode cannot be left, so
/// dropping it changes nothing.
#[derive(Clone, Copy)]
pub struct Sandbox {
    rt: &'static Runtime,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("backend", &self.rt.backend)
            .field("mode", &self.rt.mode)
            .field("broker_pid", &self.rt.broker_pid)
            .finish()
    }
}

impl Sandbox {
    /// Starts building a sandbox.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The sandbox this process entered, if any.
    pub fn current() -> Option<Sandbox> {
        runtime::runtime().map(|rt| Sandbox { rt })
    }

    /// The mechanism in use.
    pub fn backend(&self) -> BackendKind {
        self.rt.backend
    }

    /// The policy the broker enforces.
    pub fn policy(&self) -> &Policy {
        &self.rt.policy
    }

    /// What Landlock enforces for this process (Linux): when
    /// [`LandlockStatus::Enforced`], on every thread, the ones running at
    /// `enter()` included.
    pub fn landlock(&self) -> LandlockStatus {
        self.rt.landlock
    }

    /// The runtime's own descriptors that must stay open for it to work:
    /// the broker's socket and the log's copy, at descriptor 512 or above
    /// (where the limit allows). On Linux the filter keeps them (and the
    /// fast path's roots) open and in place whatever the program closes.
    /// On FreeBSD a program that closes every descriptor (`closefrom(3)`,
    /// `close_range(2)`) cuts the sandboxed process off its broker and
    /// its log (violations then fail with their original error,
    /// unrecorded): it must go around these. sigcap-run's shim does so
    /// for the programs it runs.
    pub fn held_descriptors(&self) -> Vec<RawFd> {
        ctl_and_log(&self.rt.ctl, &self.rt.log)
    }

    /// The broker's process id (0 in modes without a broker).
    pub fn broker_pid(&self) -> libc::pid_t {
        self.rt.broker_pid
    }

    /// Takes the violations recorded since the last call, oldest first.
    pub fn take_violations(&self) -> Vec<Violation> {
        self.rt.ring.drain()
    }

    /// Counters since `enter()`.
    pub fn stats(&self) -> Stats {
        self.rt.stats()
    }

    /// Asks the broker to open `path` directly, without a violation (the
    /// same channel and checks the handler uses).
    pub fn broker_open(&self, path: impl AsRef<Path>, flags: i32, mode: u32) -> std::io::Result<OwnedFd> {
        let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_ref().as_os_str()))
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
        let call = crate::syscall::Call {
            op: crate::proto::Op::Open,
            dirfd: libc::AT_FDCWD,
            path: c.as_ptr() as usize,
            flags,
            mode,
            ..Default::default()
        };
        let r = self.explicit(&call)?;
        // SAFETY: the broker handed us a fresh descriptor.
        Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
    }

    /// Asks the broker to connect `sock` to `addr` directly.
    pub fn broker_connect(&self, sock: BorrowedFd<'_>, addr: &std::net::SocketAddr) -> std::io::Result<()> {
        let (bytes, len) = crate::client::sockaddr_bytes(addr);
        let call = crate::syscall::Call {
            op: crate::proto::Op::Connect,
            sock: sock.as_raw_fd(),
            addr: bytes.as_ptr() as usize,
            addr_len: len,
            ..Default::default()
        };
        self.explicit(&call).map(|_| ())
    }

    /// Reads the sysctl node `name` (dotted, as sysctlbyname(3) takes it)
    /// through the broker, under the policy's sysctl rules. FreeBSD's
    /// capability mode refuses every node not marked readable there with
    /// EPERM and no signal, so there is no violation to catch: the
    /// program asks (sigcap-run's shim does it for sysctl(3) and
    /// sysctlbyname(3)). `buf` None asks the size only.
    ///
    /// Returns the node's size; ENOMEM when it does not fit in `buf`
    /// (nor in [`SYSCTL_OUT_MAX`](crate::SYSCTL_OUT_MAX) bytes), EPERM,
    /// the call's own error, when no rule allows it or the broker does
    /// not answer; ENOSYS on Linux, which has no sysctl(2) (its nodes are
    /// files under /proc/sys). Recorded like a trapped call, as
    /// `__sysctlbyname` of class syscall with the name as detail.
    pub fn broker_sysctl(&self, name: &str, buf: Option<&mut [u8]>) -> std::io::Result<usize> {
        let c = std::ffi::CString::new(name).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
        let (out, out_len) = match buf {
            Some(b) => (b.as_mut_ptr() as usize, b.len()),
            None => (0, 0),
        };
        let call = crate::syscall::Call {
            op: crate::proto::Op::Sysctl,
            path: c.as_ptr() as usize,
            out,
            out_len,
            ..Default::default()
        };
        let Some(ch) = &self.rt.ctl else {
            return Err(std::io::Error::from_raw_os_error(libc::EPERM));
        };
        let mut v = self.callers_record(
            crate::syscall::SYSCTL_NR,
            [c.as_ptr() as u64, out as u64, out_len as u64, 0, 0, 0],
            libc::EPERM,
            crate::record::Class::Syscall,
        );
        v.name = "__sysctlbyname";
        let a = crate::client::perform(ch, &call, libc::EPERM, &mut v);
        v.decision = a.decision;
        v.result = a.result;
        handler::record(self.rt, &mut v);
        if a.result < 0 {
            Err(std::io::Error::from_raw_os_error(-a.result as i32))
        } else {
            Ok(a.result as usize)
        }
    }

    /// A record of a request this thread makes itself (no trap): its
    /// pid and tid are the asker's the broker reads procfs' self as.
    fn callers_record(&self, syscall: i64, args: [u64; 6], errno: i32, class: crate::record::Class) -> Violation {
        let mut v = Violation::new(self.rt.backend, syscall, args, errno, class, 0);
        // SAFETY: getpid has no preconditions.
        v.pid = unsafe { libc::getpid() };
        v.tid = backend::gettid();
        v
    }

    fn explicit(&self, call: &crate::syscall::Call) -> std::io::Result<i64> {
        let Some(ch) = &self.rt.ctl else {
            return Err(std::io::Error::from_raw_os_error(libc::ENOTCONN));
        };
        let mut v = self.callers_record(-1, [0; 6], backend::CAPMODE_ERRNO, crate::record::Class::Unknown);
        let a = crate::client::perform(ch, call, backend::CAPMODE_ERRNO, &mut v);
        if a.result < 0 {
            Err(std::io::Error::from_raw_os_error(-a.result as i32))
        } else {
            Ok(a.result)
        }
    }
}

#[cfg(all(test, target_os = "linux", target_arch = "x86_64"))]
mod tests {
    use super::*;
    use rusty_fork::rusty_fork_test;

    rusty_fork_test! {
        /// A kernel without Landlock (simulated by the probe): entering
        /// fails with a clear error before anything is confined.
        #[test]
        fn entering_without_landlock_is_refused_unless_allowed() {
            let probes: [(i32, fn() -> i32); 2] = [(0, || 0), (5, || 5)];
            for (abi, probe) in probes {
                let e = Sandbox::builder().enter_probed(probe).unwrap_err();
                assert!(matches!(e, Error::Landlock { abi: a, needed: 6 } if a == abi), "{e}");
                assert!(e.to_string().contains("allow_without_landlock()"), "{e}");
                assert!(Sandbox::current().is_none());
            }
            // Still unconfined.
            assert!(std::fs::metadata("/etc/passwd").is_ok());
            let sb = Sandbox::builder().allow_without_landlock().enter_probed(|| 0).unwrap();
            assert_eq!(sb.landlock(), LandlockStatus::NotEnforced { abi: 0 });
        }

        #[test]
        fn an_older_landlock_is_used_in_part_when_allowed() {
            let sb = Sandbox::builder().allow_without_landlock().enter_probed(|| 5).unwrap();
            assert_eq!(sb.landlock(), LandlockStatus::Partial { abi: 5 });
        }

        #[test]
        fn without_landlock_nothing_is_applied() {
            let sb = Sandbox::builder().without_landlock().enter().unwrap();
            assert_eq!(sb.landlock(), LandlockStatus::NotUsed);
        }
    }
}
