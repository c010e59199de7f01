//! Structured records of violations and broker decisions.
//!
//! A [`Violation`] is a fixed-size `Copy` value so the signal handler can
//! build it on its stack, store it in a lock-free ring and format it
//! as a JSON line into a stack buffer: no allocation anywhere on that path.
use std::cell::UnsafeCell;
use std::fmt::{self, Write as _};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// Which kind of capability violation the kernel reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Insufficient rights on a capability (ENOTCAPABLE).
    NotCapable,
    /// Attempt to increase the rights of a capability.
    Increase,
    /// A system call not allowed in capability mode (ECAPMODE).
    Syscall,
    /// A signal sent to another process.
    Signal,
    /// A disallowed protocol.
    Proto,
    /// A restricted socket address (connect/bind/sendto).
    Sockaddr,
    /// A restricted path lookup (absolute path, `..`, AT_FDCWD).
    Namei,
    /// A restricted CPU set change.
    Cpuset,
    /// The kernel did not say.
    Unknown,
}

impl Class {
    /// The lower-case name used in JSON and reports.
    pub fn name(self) -> &'static str {
        match self {
            Class::NotCapable => "notcapable",
            Class::Increase => "increase",
            Class::Syscall => "syscall",
            Class::Signal => "signal",
            Class::Proto => "proto",
            Class::Sockaddr => "sockaddr",
            Class::Namei => "namei",
            Class::Cpuset => "cpuset",
            Class::Unknown => "unknown",
        }
    }
}

/// Which mechanism caught the violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// FreeBSD with the SIGCAP patch series.
    FreeBsdSigcap,
    /// Stock FreeBSD: SIGTRAP with si_code TRAP_CAP.
    FreeBsdSigtrap,
    /// Linux: seccomp-bpf SECCOMP_RET_TRAP, SIGSYS.
    LinuxSeccomp,
}

impl BackendKind {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::FreeBsdSigcap => "freebsd-sigcap",
            BackendKind::FreeBsdSigtrap => "freebsd-sigtrap",
            BackendKind::LinuxSeccomp => "linux-seccomp",
        }
    }
}

/// Why the broker refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// No policy rule covers the path or address.
    NoRule,
    /// A rule covers it, but not with the access asked for.
    Access,
    /// Resolution left the rule's root (`..`, symlink, absolute link).
    Escape,
    /// The request was malformed (hostile or corrupted).
    BadRequest,
    /// The broker did not answer within the sandbox's broker timeout
    /// ([`crate::Builder::broker_timeout`]): it is stopped, or busy with
    /// calls that block. Decided by the handler, not the broker, which may
    /// still perform the request afterwards. Counted in
    /// [`crate::Stats::broker_unavailable`].
    BrokerTimeout,
}

impl DenyReason {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            DenyReason::NoRule => "no-rule",
            DenyReason::Access => "access",
            DenyReason::Escape => "escape",
            DenyReason::BadRequest => "bad-request",
            DenyReason::BrokerTimeout => "broker-timeout",
        }
    }
}

/// What became of a violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The broker performed the call under policy rule `rule` (the call's
    /// own result, which may still be an error such as ENOENT, is in
    /// [`Violation::result`]).
    Allowed {
        /// Index into the policy's rules of that kind (fs, connect, bind).
        rule: u32,
    },
    /// The broker performed a call relative to a directory descriptor the
    /// program already held, outside every policy root (capability
    /// semantics: the descriptor is the authority).
    AllowedByDescriptor,
    /// The broker refused; the program got the original error.
    Denied(DenyReason),
    /// Report mode: recorded, the original error passed through.
    Reported,
    /// The system call has no brokered equivalent; original error.
    Unsupported,
    /// Not the broker's to decide: the call failed on a descriptor's own
    /// rights (FreeBSD class `notcapable` or `increase`: the program's
    /// `cap_rights_limit`, or the limit on a descriptor the broker handed
    /// out), not on the namespace. Original error.
    NotBrokered,
    /// The broker could not be reached (it died); original error.
    BrokerUnavailable,
    /// The user callback chose the result.
    Callback,
}

impl Decision {
    /// Whether the call was carried out: by a rule, or on a descriptor
    /// the program holds.
    pub fn is_allowed(self) -> bool {
        matches!(self, Decision::Allowed { .. } | Decision::AllowedByDescriptor)
    }

    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Decision::Allowed { .. } => "allowed",
            Decision::AllowedByDescriptor => "allowed-by-descriptor",
            Decision::Denied(_) => "denied",
            Decision::Reported => "reported",
            Decision::Unsupported => "unsupported",
            Decision::NotBrokered => "not-brokered",
            Decision::BrokerUnavailable => "broker-unavailable",
            Decision::Callback => "callback",
        }
    }
}

/// Bytes of path or address text kept in a record.
pub const DETAIL_MAX: usize = 240;

/// The longest JSON line of a record (every path field of control
/// characters, each `\u00XX`): the handler's buffer for it, on the
/// interrupted thread's stack.
pub const JSON_MAX: usize = 8192;
/// `cwd_len` of a working directory longer than [`DETAIL_MAX`] (which
/// fits in a `u8` only because DETAIL_MAX is below 255).
const CWD_TOO_LONG: u8 = u8::MAX;
const _: () = assert!(DETAIL_MAX < CWD_TOO_LONG as usize);

/// Return addresses kept in a record (frame-pointer walk).
pub const STACK_MAX: usize = 12;

/// Candidate return addresses kept in a record (stack scan).
pub const SCAN_MAX: usize = 16;

/// Bytes of the interrupted thread's stack, from its stack pointer up,
/// that the handler scans for candidate return addresses.
pub const SCAN_BYTES: usize = 2048;

/// One decoded capability violation and what was done about it.
#[derive(Clone, Copy, Debug)]
pub struct Violation {
    pub(crate) seq: u64,
    pub(crate) pid: i32,
    pub(crate) tid: i64,
    pub(crate) backend: BackendKind,
    pub(crate) syscall: i64,
    pub(crate) name: &'static str,
    pub(crate) args: [u64; 6],
    pub(crate) errno: i32,
    pub(crate) class: Class,
    pub(crate) ip: u64,
    pub(crate) detail: [u8; DETAIL_MAX],
    pub(crate) detail_len: u8,
    pub(crate) via: [u8; DETAIL_MAX],
    pub(crate) via_len: u8,
    /// The second path (rename's and link's target, where a symlink
    /// points, an extended attribute's name), when the call has one.
    pub(crate) detail2: [u8; DETAIL_MAX],
    pub(crate) detail2_len: u8,
    /// The working directory a relative path was made absolute against
    /// (`cwd_len` 0: none was; [`CWD_TOO_LONG`]: longer than the buffer).
    pub(crate) cwd: [u8; DETAIL_MAX],
    pub(crate) cwd_len: u8,
    pub(crate) decision: Decision,
    pub(crate) result: i64,
    pub(crate) fast_path: bool,
    pub(crate) stack: [u64; STACK_MAX],
    pub(crate) stack_len: u8,
    pub(crate) scan: [u64; SCAN_MAX],
    pub(crate) scan_len: u8,
}

impl Violation {
    pub(crate) fn new(backend: BackendKind, syscall: i64, args: [u64; 6], errno: i32, class: Class, ip: u64) -> Self {
        Violation {
            seq: 0,
            pid: 0,
            tid: 0,
            backend,
            syscall,
            name: crate::syscall::name(syscall),
            args,
            errno,
            class,
            ip,
            detail: [0; DETAIL_MAX],
            detail_len: 0,
            via: [0; DETAIL_MAX],
            via_len: 0,
            detail2: [0; DETAIL_MAX],
            detail2_len: 0,
            cwd: [0; DETAIL_MAX],
            cwd_len: 0,
            decision: Decision::Reported,
            result: -(errno as i64),
            fast_path: false,
            stack: [0; STACK_MAX],
            stack_len: 0,
            scan: [0; SCAN_MAX],
            scan_len: 0,
        }
    }

    /// Sets the path or address text, truncated to [`DETAIL_MAX`].
    pub(crate) fn set_detail(&mut self, b: &[u8]) {
        let n = b.len().min(DETAIL_MAX);
        self.detail[..n].copy_from_slice(&b[..n]);
        self.detail_len = n as u8;
    }

    /// Sets the path the broker used, truncated to [`DETAIL_MAX`].
    pub(crate) fn set_via(&mut self, b: &[u8]) {
        let n = b.len().min(DETAIL_MAX);
        self.via[..n].copy_from_slice(&b[..n]);
        self.via_len = n as u8;
    }

    /// Sets the second path's text, truncated to [`DETAIL_MAX`].
    pub(crate) fn set_detail2(&mut self, b: &[u8]) {
        let n = b.len().min(DETAIL_MAX);
        self.detail2[..n].copy_from_slice(&b[..n]);
        self.detail2_len = n as u8;
    }

    /// Sets the working directory a relative path was made absolute
    /// against. One longer than the record holds is not cut (a prefix of
    /// a directory names another directory): it is marked as too long.
    pub(crate) fn set_cwd(&mut self, b: &[u8]) {
        if b.len() > DETAIL_MAX {
            self.cwd_len = CWD_TOO_LONG;
            return;
        }
        self.cwd[..b.len()].copy_from_slice(b);
        self.cwd_len = b.len() as u8;
    }

    /// Sequence number within the process (1-based, in violation order).
    pub fn seq(&self) -> u64 {
        self.seq
    }
    /// Process id of the violating process.
    pub fn pid(&self) -> i32 {
        self.pid
    }
    /// Kernel thread id of the violating thread.
    pub fn tid(&self) -> i64 {
        self.tid
    }
    /// The mechanism that caught it.
    pub fn backend(&self) -> BackendKind {
        self.backend
    }
    /// System call number.
    pub fn syscall(&self) -> i64 {
        self.syscall
    }
    /// System call name (`"?"` if unknown).
    pub fn syscall_name(&self) -> &'static str {
        self.name
    }
    /// Raw arguments as the program passed them.
    pub fn args(&self) -> [u64; 6] {
        self.args
    }
    /// The error the kernel (or the emulation) returned: ECAPMODE or
    /// ENOTCAPABLE on FreeBSD, EPERM under the Linux emulation.
    pub fn errno(&self) -> i32 {
        self.errno
    }
    /// Violation class.
    pub fn class(&self) -> Class {
        self.class
    }
    /// Address of the system call instruction.
    pub fn ip(&self) -> u64 {
        self.ip
    }
    /// The path or socket address the call named, if any (lossy, possibly
    /// truncated).
    pub fn detail(&self) -> Option<std::borrow::Cow<'_, str>> {
        (self.detail_len > 0).then(|| String::from_utf8_lossy(&self.detail[..self.detail_len as usize]))
    }
    /// The path the broker decided last, when it is not the one the call
    /// named: symlinks led the lookup out of its rule's root, and the
    /// broker followed them by deciding the path they lead to again
    /// (lossy, possibly truncated). None when the path named was the path
    /// used.
    pub fn via(&self) -> Option<std::borrow::Cow<'_, str>> {
        (self.via_len > 0).then(|| String::from_utf8_lossy(&self.via[..self.via_len as usize]))
    }
    /// The call's second path, if it has one: rename's and link's
    /// target, the target a symlink points to (content, not a lookup),
    /// an extended attribute's name (lossy, possibly truncated). In the
    /// JSON form as `"detail2"`, only when present.
    pub fn detail2(&self) -> Option<std::borrow::Cow<'_, str>> {
        (self.detail2_len > 0).then(|| String::from_utf8_lossy(&self.detail2[..self.detail2_len as usize]))
    }
    /// The program's working directory that a relative path (of a call
    /// made with `AT_FDCWD`) was made absolute against, at the time of
    /// the call: `detail()` joined to it is the path the policy decided
    /// on. None when the path was absolute, relative to a descriptor, or
    /// the call named none; `Some("")` when the directory was longer
    /// than a record holds ([`DETAIL_MAX`] bytes).
    pub fn cwd(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self.cwd_len {
            0 => None,
            CWD_TOO_LONG => Some(std::borrow::Cow::Borrowed("")),
            n => Some(String::from_utf8_lossy(&self.cwd[..n as usize])),
        }
    }
    /// What was done.
    pub fn decision(&self) -> Decision {
        self.decision
    }
    /// What the program's call returned: a value (>= 0) or `-errno`.
    pub fn result(&self) -> i64 {
        self.result
    }
    /// Whether the handler answered the call itself, on the fast path
    /// (Linux: an allowed file call resolved beneath the rule's root
    /// descriptor in the process, with the broker's own decision code),
    /// instead of the broker. The decision and result mean the same
    /// either way.
    pub fn fast_path(&self) -> bool {
        self.fast_path
    }
    /// Return addresses of the violating thread, innermost first, from a
    /// frame-pointer walk in the handler (bounded, each read checked). Code
    /// built without frame pointers yields a short or empty chain.
    pub fn stack(&self) -> &[u64] {
        &self.stack[..self.stack_len as usize]
    }

    /// Candidate return addresses, innermost first: words of the
    /// violating thread's stack, read from its stack pointer up (at most
    /// [`SCAN_BYTES`]), that point into executable code loaded at
    /// `enter()`. Unlike [`Violation::stack`] this works without frame
    /// pointers, but a candidate is only a guess: a stale return address
    /// or a function pointer in a local variable looks the same. Check
    /// each one (the instruction before it must be a call, as
    /// sigcap-run does) before trusting it.
    pub fn scan(&self) -> &[u64] {
        &self.scan[..self.scan_len as usize]
    }

    /// Writes the record as one JSON object (no newline). Allocation-free,
    /// so the handler can use it on a stack buffer.
    pub fn write_json(&self, w: &mut impl fmt::Write) -> fmt::Result {
        write!(
            w,
            "{{\"seq\":{},\"pid\":{},\"tid\":{},\"backend\":\"{}\",\"syscall\":{},\"name\":\"{}\",\"args\":[{},{},{},{},{},{}],\"errno\":{},\"class\":\"{}\",\"ip\":{},\"detail\":",
            self.seq,
            self.pid,
            self.tid,
            self.backend.name(),
            self.syscall,
            self.name,
            self.args[0],
            self.args[1],
            self.args[2],
            self.args[3],
            self.args[4],
            self.args[5],
            self.errno,
            self.class.name(),
            self.ip,
        )?;
        if self.detail_len > 0 {
            write_json_str(w, &self.detail[..self.detail_len as usize])?;
        } else {
            w.write_str("null")?;
        }
        w.write_str(",\"via\":")?;
        if self.via_len > 0 {
            write_json_str(w, &self.via[..self.via_len as usize])?;
        } else {
            w.write_str("null")?;
        }
        if self.detail2_len > 0 {
            w.write_str(",\"detail2\":")?;
            write_json_str(w, &self.detail2[..self.detail2_len as usize])?;
        }
        match self.cwd_len {
            0 => {}
            CWD_TOO_LONG => w.write_str(",\"cwd\":\"\"")?,
            n => {
                w.write_str(",\"cwd\":")?;
                write_json_str(w, &self.cwd[..n as usize])?;
            }
        }
        write!(w, ",\"decision\":\"{}\"", self.decision.name())?;
        match self.decision {
            Decision::Allowed { rule } => write!(w, ",\"rule\":{rule}")?,
            Decision::Denied(r) => write!(w, ",\"reason\":\"{}\"", r.name())?,
            _ => {}
        }
        write!(
            w,
            ",\"fast_path\":{},\"result\":{},\"stack\":[",
            self.fast_path, self.result
        )?;
        for (i, a) in self.stack().iter().enumerate() {
            if i > 0 {
                w.write_char(',')?;
            }
            write!(w, "{a}")?;
        }
        w.write_str("],\"scan\":[")?;
        for (i, a) in self.scan().iter().enumerate() {
            if i > 0 {
                w.write_char(',')?;
            }
            write!(w, "{a}")?;
        }
        w.write_str("]}")
    }

    /// The JSON form as a `String` (outside signal handlers).
    pub fn to_json(&self) -> String {
        let mut s = String::new();
        self.write_json(&mut s).expect("String never fails");
        s
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "capability violation: {}(", self.name)?;
        if self.detail_len > 0 {
            let mut d = [0u8; DETAIL_MAX];
            let n = self.detail_len as usize;
            d[..n].copy_from_slice(&self.detail[..n]);
            for chunk in d[..n].utf8_chunks() {
                f.write_str(chunk.valid())?;
                if !chunk.invalid().is_empty() {
                    f.write_char('\u{fffd}')?;
                }
            }
        } else {
            write!(f, "{:#x}, {:#x}, {:#x}", self.args[0], self.args[1], self.args[2])?;
        }
        if self.via_len > 0 {
            f.write_str(" -> ")?;
            for chunk in self.via[..self.via_len as usize].utf8_chunks() {
                f.write_str(chunk.valid())?;
                if !chunk.invalid().is_empty() {
                    f.write_char('\u{fffd}')?;
                }
            }
        }
        write!(
            f,
            ") errno {} class {} at {:#x} [{}]: {}",
            self.errno,
            self.class.name(),
            self.ip,
            self.backend.name(),
            self.decision.name()
        )?;
        if let Decision::Denied(r) = self.decision {
            write!(f, " ({})", r.name())?;
        }
        write!(f, ", returned {}", self.result)
    }
}

/// Writes `b` as a JSON string; invalid UTF-8 becomes U+FFFD.
fn write_json_str(w: &mut impl fmt::Write, b: &[u8]) -> fmt::Result {
    w.write_char('"')?;
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => w.write_str("\\\"")?,
                '\\' => w.write_str("\\\\")?,
                '\n' => w.write_str("\\n")?,
                '\r' => w.write_str("\\r")?,
                '\t' => w.write_str("\\t")?,
                c if (c as u32) < 0x20 => write!(w, "\\u{:04x}", c as u32)?,
                c => w.write_char(c)?,
            }
        }
        if !chunk.invalid().is_empty() {
            w.write_str("\\ufffd")?;
        }
    }
    w.write_char('"')
}

/// A `fmt::Write` over a fixed buffer; fails (never panics) when full.
pub(crate) struct StackWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> StackWriter<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        StackWriter { buf, len: 0 }
    }
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    /// Appends bytes that need not be UTF-8 (a path).
    pub(crate) fn write_bytes(&mut self, b: &[u8]) -> fmt::Result {
        let end = self.len.checked_add(b.len()).ok_or(fmt::Error)?;
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(b);
        self.len = end;
        Ok(())
    }
}

impl fmt::Write for StackWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes())
    }
}

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const READY: u8 = 2;
const READING: u8 = 3;

struct Slot {
    state: AtomicU8,
    v: UnsafeCell<MaybeUninit<Violation>>,
}

/// Bounded, lock-free record store written from signal handlers.
///
/// Writers claim a slot with one compare-and-swap and never wait: if the
/// slot is busy (another writer, or the reader copying it) the record is
/// counted as dropped instead. When the ring is full the oldest record is
/// overwritten. The reader never waits either; it skips busy slots.
pub(crate) struct Ring {
    slots: Box<[Slot]>,
    next: AtomicU64,
    dropped: AtomicU64,
}

// SAFETY: slot contents are only touched by the thread that moved the
// slot's state to WRITING or READING, so there is never shared access.
unsafe impl Sync for Ring {}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Ring {
        let slots = (0..capacity.max(1))
            .map(|_| Slot {
                state: AtomicU8::new(EMPTY),
                v: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            slots,
            next: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Stores `v`, assigning its sequence number, which is returned.
    pub(crate) fn push(&self, mut v: Violation) -> u64 {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        v.seq = i + 1;
        let slot = &self.slots[(i % self.slots.len() as u64) as usize];
        let claimed = [EMPTY, READY].iter().any(|&from| {
            slot.state
                .compare_exchange(from, WRITING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        });
        if !claimed {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return v.seq;
        }
        // SAFETY: we own the slot while it is WRITING.
        unsafe { (*slot.v.get()).write(v) };
        slot.state.store(READY, Ordering::Release);
        v.seq
    }

    /// Takes every stored record, oldest first.
    pub(crate) fn drain(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        for slot in self.slots.iter() {
            if slot
                .state
                .compare_exchange(READY, READING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                // SAFETY: READY means a complete value; we own it while READING.
                out.push(unsafe { (*slot.v.get()).assume_init() });
                slot.state.store(EMPTY, Ordering::Release);
            }
        }
        out.sort_by_key(|v| v.seq);
        out
    }

    /// Records lost because their slot was busy.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Violations seen so far.
    pub(crate) fn total(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: i64) -> Violation {
        let mut v = Violation::new(
            BackendKind::LinuxSeccomp,
            n,
            [1, 2, 3, 4, 5, 6],
            1,
            Class::Syscall,
            0x1000,
        );
        v.set_detail(b"/etc/\"pa\nss\xffwd");
        v.decision = Decision::Denied(DenyReason::NoRule);
        v
    }

    #[test]
    fn json_is_valid_and_escaped() {
        let j = v(2).to_json();
        let parsed: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(parsed["detail"], "/etc/\"pa\nss\u{fffd}wd");
        assert_eq!(parsed["decision"], "denied");
        assert_eq!(parsed["reason"], "no-rule");
        assert_eq!(parsed["args"][5], 6);
        assert_eq!(parsed["stack"], serde_json::json!([]));
        let mut s = v(2);
        s.stack[..2].copy_from_slice(&[0x1234, u64::MAX]);
        s.stack_len = 2;
        let parsed: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(parsed["stack"], serde_json::json!([0x1234, u64::MAX]));
        assert_eq!(parsed["scan"], serde_json::json!([]));
        s.scan[..3].copy_from_slice(&[7, 0x5555_0000_1234, u64::MAX]);
        s.scan_len = 3;
        let parsed: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(parsed["scan"], serde_json::json!([7, 0x5555_0000_1234u64, u64::MAX]));
        assert_eq!(s.scan(), &[7, 0x5555_0000_1234, u64::MAX]);
    }

    #[test]
    fn the_path_used_is_recorded_beside_the_path_asked_for() {
        let mut f = v(2);
        let parsed: serde_json::Value = serde_json::from_str(&f.to_json()).unwrap();
        assert_eq!(parsed["via"], serde_json::Value::Null);
        assert_eq!(f.via(), None);
        f.set_detail(b"/etc/localtime");
        f.set_via(b"/usr/share/zoneinfo/Etc/UTC");
        f.decision = Decision::Allowed { rule: 0 };
        let parsed: serde_json::Value = serde_json::from_str(&f.to_json()).unwrap();
        assert_eq!(parsed["detail"], "/etc/localtime");
        assert_eq!(parsed["via"], "/usr/share/zoneinfo/Etc/UTC");
        assert!(
            f.to_string()
                .contains("(/etc/localtime -> /usr/share/zoneinfo/Etc/UTC)"),
            "{f}"
        );
    }

    #[test]
    fn the_fast_path_is_a_field_of_every_record() {
        let mut f = v(2);
        let parsed: serde_json::Value = serde_json::from_str(&f.to_json()).unwrap();
        assert_eq!(parsed["fast_path"], false);
        f.fast_path = true;
        f.decision = Decision::Allowed { rule: 1 };
        let parsed: serde_json::Value = serde_json::from_str(&f.to_json()).unwrap();
        assert_eq!(parsed["fast_path"], true);
        assert_eq!(parsed["rule"], 1);
    }

    #[test]
    fn a_broker_timeout_is_a_denial_with_its_reason() {
        let mut t = v(2);
        t.decision = Decision::Denied(DenyReason::BrokerTimeout);
        t.result = -1;
        let parsed: serde_json::Value = serde_json::from_str(&t.to_json()).unwrap();
        assert_eq!(parsed["decision"], "denied");
        assert_eq!(parsed["reason"], "broker-timeout");
        assert_eq!(parsed["result"], -1);
        assert!(t.to_string().ends_with(": denied (broker-timeout), returned -1"), "{t}");
        // The handler's stack buffer holds the longest record: every
        // byte of the path and the directory escaped as \u00XX.
        let mut long = t;
        long.set_detail(&[b'\\'; DETAIL_MAX]);
        long.set_via(&[1u8; DETAIL_MAX]);
        long.set_detail2(&[1u8; DETAIL_MAX]);
        long.set_cwd(&[1u8; DETAIL_MAX]);
        long.stack = [u64::MAX; STACK_MAX];
        long.stack_len = STACK_MAX as u8;
        long.scan = [u64::MAX; SCAN_MAX];
        long.scan_len = SCAN_MAX as u8;
        long.args = [u64::MAX; 6];
        let mut buf = [0u8; crate::record::JSON_MAX];
        let mut w = StackWriter::new(&mut buf);
        assert!(long.write_json(&mut w).is_ok());
        eprintln!(
            "longest record: {} bytes of {}",
            w.as_bytes().len(),
            crate::record::JSON_MAX
        );
        long.set_detail(&[1u8; DETAIL_MAX]);
        let mut w = StackWriter::new(&mut buf);
        assert!(long.write_json(&mut w).is_ok(), "control characters in every path");
        let parsed: serde_json::Value = serde_json::from_str(&long.to_json()).unwrap();
        assert_eq!(parsed["cwd"].as_str().unwrap().len(), DETAIL_MAX);
    }

    #[test]
    fn the_working_directory_of_a_relative_path() {
        let mut r = v(2);
        let parsed: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert!(parsed.get("cwd").is_none(), "no directory, no key");
        assert_eq!(r.cwd(), None);
        r.set_cwd(b"/tmp/w");
        let parsed: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(parsed["cwd"], "/tmp/w");
        assert_eq!(r.cwd().as_deref(), Some("/tmp/w"));
        // Too long for the record: marked, never cut to another name.
        r.set_cwd(&[b'a'; DETAIL_MAX + 1]);
        let parsed: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(parsed["cwd"], "");
        assert_eq!(r.cwd().as_deref(), Some(""));
    }

    #[test]
    fn stack_writer_fails_instead_of_overflowing() {
        let mut buf = [0u8; 16];
        let mut w = StackWriter::new(&mut buf);
        assert!(v(2).write_json(&mut w).is_err());
        assert_eq!(w.as_bytes().len(), 16.min(w.as_bytes().len()));
    }

    #[test]
    fn ring_keeps_newest_in_order() {
        let r = Ring::new(4);
        for i in 0..10 {
            r.push(v(i));
        }
        let got: Vec<i64> = r.drain().iter().map(|v| v.syscall).collect();
        assert_eq!(got, vec![6, 7, 8, 9]);
        assert_eq!(r.total(), 10);
        assert!(r.drain().is_empty());
    }

    #[test]
    fn ring_under_concurrent_writers_loses_nothing_it_does_not_count() {
        let r = std::sync::Arc::new(Ring::new(100_000));
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let r = r.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        r.push(v(t * 100_000 + i));
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        let got = r.drain();
        assert_eq!(got.len() as u64 + r.dropped(), 40_000);
        assert!(got.windows(2).all(|w| w[0].seq < w[1].seq));
    }
}
