//! Parsing the shim's JSON stream, decoding arguments, aggregating
//! distinct violations, and the JSON report and terminal summary.
use crate::symbols::{own_frame, Frame, Symbolizer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::Path;

/// One violation as the sigcap handler streams it.
#[derive(Clone, Debug, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub pid: i32,
    #[allow(dead_code)]
    pub backend: String,
    pub syscall: i64,
    pub name: String,
    pub args: [u64; 6],
    pub errno: i32,
    pub class: String,
    pub ip: u64,
    pub detail: Option<String>,
    /// The path the broker used when symlinks led the lookup out of the
    /// root of the one asked for (`detail`): it followed them and decided
    /// this path.
    #[serde(default)]
    pub via: Option<String>,
    /// The second path: rename's and link's target, a symlink's target
    /// text, an extended attribute's name.
    #[serde(default)]
    pub detail2: Option<String>,
    /// The program's working directory a relative path was resolved
    /// against, at the call ("": too long for the record).
    #[serde(default)]
    pub cwd: Option<String>,
    pub decision: String,
    #[serde(default)]
    pub rule: Option<u32>,
    #[serde(default)]
    pub reason: Option<String>,
    pub result: i64,
    #[serde(default)]
    pub stack: Vec<u64>,
    /// The handler's stack scan: candidate return addresses.
    #[serde(default)]
    pub scan: Vec<u64>,
}

/// The shim's `enter` event.
#[derive(Clone, Debug, Deserialize)]
pub struct Enter {
    pub pid: i32,
    pub backend: String,
    /// permissive, enforce, or exec (an image started by a brokered exec
    /// carrying on: FreeBSD).
    pub mode: String,
    pub cwd: String,
    /// argv[0] of the image that entered (or attached).
    #[serde(default)]
    pub program: Option<String>,
    #[serde(default)]
    pub ppid: Option<i32>,
}

#[derive(Default, Debug)]
pub struct Stream {
    pub records: Vec<Record>,
    pub enters: Vec<Enter>,
    pub errors: Vec<String>,
    pub garbled: usize,
}

impl Stream {
    /// The working directory at enter of the process that made `r`.
    pub fn cwd_of(&self, pid: i32) -> Option<&str> {
        self.enters
            .iter()
            .find(|e| e.pid == pid)
            .or(self.enters.first())
            .map(|e| e.cwd.as_str())
    }
}

pub fn parse_stream(text: &str) -> Stream {
    let mut s = Stream::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        // A record (every line but the shim's events) straight into its
        // struct: one parse instead of a Value and then the struct, which
        // was most of the tool's work per recorded call. An `"event":`
        // can only be a key (a string's quotes are escaped).
        if !line.contains("\"event\":") {
            if let Ok(r) = serde_json::from_str::<Record>(line) {
                s.records.push(name_unknown(r));
                continue;
            }
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            s.garbled += 1;
            continue;
        };
        match v.get("event").and_then(|e| e.as_str()) {
            Some("enter") => match serde_json::from_value(v) {
                Ok(e) => s.enters.push(e),
                Err(_) => s.garbled += 1,
            },
            Some("error") => s
                .errors
                .push(v["message"].as_str().unwrap_or("the shim failed").to_string()),
            _ => match serde_json::from_value(v) {
                Ok(r) => s.records.push(name_unknown(r)),
                Err(_) => s.garbled += 1,
            },
        }
    }
    s.records.sort_by_key(|r| (r.pid, r.seq));
    s
}

/// A call the handler has no name for ("?") is named by its number, so
/// that two of them are not taken for one; on Linux, one the seccomp
/// allowlist does not know (trapped and answered ENOSYS) says so.
fn name_unknown(mut r: Record) -> Record {
    if r.name == "?" {
        r.name = format!("syscall {}", r.syscall);
    }
    if r.class == "syscall" && r.decision == "unsupported" && r.errno == libc::ENOSYS && r.reason.is_none() {
        r.reason = Some("not in the allowlist".into());
    }
    r
}

/// What a call does, for policy purposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Open,
    Stat,
    Access,
    Readlink,
    Mkdir,
    Unlink,
    Rename,
    /// link/linkat: the file, and the new name (`path2`).
    Link,
    /// symlink/symlinkat: where the link is made (`path2` is its target).
    Symlink,
    /// mknod/mknodat/mkfifo: a new name.
    Mknod,
    /// chmod, chown, the utimes family, truncate, the xattr calls,
    /// pathconf: the file's metadata, by path.
    Attr,
    /// chdir, and FreeBSD's fchdir: the directory changed into.
    Chdir,
    /// execve (FreeBSD, brokered): the program run.
    Exec,
    Connect,
    Bind,
    Sendto,
    /// A sysctl node read through the broker (FreeBSD; `path` is its name).
    Sysctl,
    Signal,
    Other,
}

/// Arguments decoded from the raw registers, by system call name.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Args {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The path made absolute: against the program's working directory at
    /// the call (the record's `cwd`; the one at enter for records without
    /// it), or the directory a brokered open returned as `dirfd` (None
    /// when the descriptor predates the sandbox).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    /// Where symlinks out of the path's root led: the path the broker
    /// decided and used instead (absolute).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// Rename's and link's target, a symlink's target text, an extended
    /// attribute's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The sysctl node read (its dotted name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sysctl: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirfd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_pid: Option<i64>,
    #[serde(skip)]
    pub op: Option<Op>,
    #[serde(skip)]
    pub dirfd_raw: Option<i32>,
    /// The directory of `path2` when it is a place (rename, link).
    #[serde(skip)]
    pub dirfd2_raw: Option<i32>,
    #[serde(skip)]
    pub open_flags: Option<i32>,
}

fn fd_name(fd: i32) -> String {
    if fd == libc::AT_FDCWD {
        "AT_FDCWD".into()
    } else {
        fd.to_string()
    }
}

pub fn open_flags_str(f: i32) -> String {
    let mut v = vec![match f & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        _ => "O_RDWR",
    }
    .to_string()];
    let named: &[(i32, &str)] = &[
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_EXCL, "O_EXCL"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_APPEND, "O_APPEND"),
        (libc::O_NONBLOCK, "O_NONBLOCK"),
        (libc::O_DIRECTORY, "O_DIRECTORY"),
        (libc::O_NOFOLLOW, "O_NOFOLLOW"),
        (libc::O_CLOEXEC, "O_CLOEXEC"),
        (libc::O_NOCTTY, "O_NOCTTY"),
        #[cfg(target_os = "linux")]
        (libc::O_PATH, "O_PATH"),
        #[cfg(target_os = "linux")]
        (libc::O_NOATIME, "O_NOATIME"),
    ];
    let mut rest = f & !libc::O_ACCMODE;
    for &(bit, name) in named {
        if bit != 0 && rest & bit == bit {
            v.push(name.into());
            rest &= !bit;
        }
    }
    if rest != 0 {
        v.push(format!("{rest:#x}"));
    }
    v.join("|")
}

fn access_mode_str(m: u64) -> String {
    if m == 0 {
        return "F_OK".into();
    }
    let mut v = vec![];
    for (bit, n) in [(libc::R_OK, "R_OK"), (libc::W_OK, "W_OK"), (libc::X_OK, "X_OK")] {
        if m as i32 & bit != 0 {
            v.push(n);
        }
    }
    v.join("|")
}

pub fn signal_name(s: i32) -> String {
    let names: &[(i32, &str)] = &[
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGUSR2, "SIGUSR2"),
        (libc::SIGPIPE, "SIGPIPE"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGCHLD, "SIGCHLD"),
        (libc::SIGCONT, "SIGCONT"),
        (libc::SIGSTOP, "SIGSTOP"),
        (libc::SIGTSTP, "SIGTSTP"),
        (libc::SIGABRT, "SIGABRT"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGTRAP, "SIGTRAP"),
        (libc::SIGSYS, "SIGSYS"),
        (0, "0 (existence check)"),
    ];
    names
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| format!("signal {s}"))
}

pub fn errno_name(e: i32) -> String {
    let names: &[(i32, &str)] = &[
        (libc::EPERM, "EPERM"),
        (libc::ENOENT, "ENOENT"),
        (libc::EACCES, "EACCES"),
        (libc::EEXIST, "EEXIST"),
        (libc::ENOTDIR, "ENOTDIR"),
        (libc::EISDIR, "EISDIR"),
        (libc::EINVAL, "EINVAL"),
        (libc::EBADF, "EBADF"),
        (libc::ELOOP, "ELOOP"),
        (libc::ENAMETOOLONG, "ENAMETOOLONG"),
        (libc::ENOTEMPTY, "ENOTEMPTY"),
        (libc::EXDEV, "EXDEV"),
        (libc::EROFS, "EROFS"),
        (libc::ECONNREFUSED, "ECONNREFUSED"),
        (libc::EADDRINUSE, "EADDRINUSE"),
        (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
        (libc::EAFNOSUPPORT, "EAFNOSUPPORT"),
        (libc::EINPROGRESS, "EINPROGRESS"),
        (libc::ENETUNREACH, "ENETUNREACH"),
        (libc::ENOSYS, "ENOSYS"),
        (libc::EFAULT, "EFAULT"),
        (libc::ESRCH, "ESRCH"),
        #[cfg(target_os = "freebsd")]
        (libc::ENOTCAPABLE, "ENOTCAPABLE"),
        #[cfg(target_os = "freebsd")]
        (libc::ECAPMODE, "ECAPMODE"),
    ];
    names
        .iter()
        .find(|(n, _)| *n == e)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| format!("errno {e}"))
}

/// Decodes a record's arguments from its system call name. The tables
/// follow the calling conventions of both Linux and FreeBSD (their *at
/// calls share argument orders).
pub fn decode(r: &Record) -> Args {
    let a = r.args;
    let fd = |x: u64| x as i32;
    let mut d = Args::default();
    let set_dir = |d: &mut Args, f: i32| {
        d.dirfd_raw = Some(f);
        d.dirfd = Some(fd_name(f));
    };
    let (op, dir, flags, mode): (Op, Option<i32>, Option<i32>, Option<String>) = match r.name.as_str() {
        "open" => (Op::Open, None, Some(a[1] as i32), Some(format!("{:#o}", a[2] & 0o7777))),
        "creat" => (
            Op::Open,
            None,
            Some(libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC),
            Some(format!("{:#o}", a[1] & 0o7777)),
        ),
        "openat" => (
            Op::Open,
            Some(fd(a[0])),
            Some(a[2] as i32),
            Some(format!("{:#o}", a[3] & 0o7777)),
        ),
        "openat2" => (Op::Open, Some(fd(a[0])), None, None),
        "stat" | "lstat" | "statfs" => (Op::Stat, None, None, None),
        "newfstatat" | "fstatat" | "statx" => (Op::Stat, Some(fd(a[0])), None, None),
        "access" | "eaccess" => (Op::Access, None, None, Some(access_mode_str(a[1]))),
        "faccessat" | "faccessat2" => (Op::Access, Some(fd(a[0])), None, Some(access_mode_str(a[2]))),
        "readlink" => (Op::Readlink, None, None, None),
        "readlinkat" => (Op::Readlink, Some(fd(a[0])), None, None),
        "mkdir" => (Op::Mkdir, None, None, Some(format!("{:#o}", a[1] & 0o7777))),
        "mkdirat" => (Op::Mkdir, Some(fd(a[0])), None, Some(format!("{:#o}", a[2] & 0o7777))),
        "unlink" | "rmdir" => (Op::Unlink, None, None, None),
        "unlinkat" => (Op::Unlink, Some(fd(a[0])), None, None),
        "rename" => (Op::Rename, None, None, None),
        "renameat" | "renameat2" => {
            d.dirfd2_raw = Some(fd(a[2]));
            (Op::Rename, Some(fd(a[0])), None, None)
        }
        "link" => (Op::Link, None, None, None),
        "linkat" => {
            d.dirfd2_raw = Some(fd(a[2]));
            (Op::Link, Some(fd(a[0])), None, None)
        }
        "symlink" => (Op::Symlink, None, None, None),
        "symlinkat" => (Op::Symlink, Some(fd(a[1])), None, None),
        "mknod" | "mkfifo" => (Op::Mknod, None, None, Some(format!("{:#o}", a[1] & 0o7777))),
        "mknodat" | "mkfifoat" => (Op::Mknod, Some(fd(a[0])), None, Some(format!("{:#o}", a[2] & 0o7777))),
        "chmod" | "lchmod" => (Op::Attr, None, None, Some(format!("{:#o}", a[1] & 0o7777))),
        "fchmodat" | "fchmodat2" => (Op::Attr, Some(fd(a[0])), None, Some(format!("{:#o}", a[2] & 0o7777))),
        "fchownat" | "utimensat" | "futimesat" => (Op::Attr, Some(fd(a[0])), None, None),
        "chown" | "lchown" | "utime" | "utimes" | "lutimes" | "truncate" | "pathconf" | "lpathconf" | "getxattr"
        | "lgetxattr" | "setxattr" | "lsetxattr" | "listxattr" | "llistxattr" | "removexattr" | "lremovexattr" => {
            (Op::Attr, None, None, None)
        }
        n if n.starts_with("extattr_") && (n.ends_with("_file") || n.ends_with("_link")) => {
            (Op::Attr, None, None, None)
        }
        "chdir" => (Op::Chdir, None, None, None),
        // FreeBSD's, brokered there: the directory, no path.
        "fchdir" => (Op::Chdir, Some(fd(a[0])), None, None),
        "execve" => (Op::Exec, None, None, None),
        "connect" | "connectat" => (Op::Connect, None, None, None),
        // listen on an unbound socket binds it (the detail is 0.0.0.0:0):
        // the policy needs that bind rule.
        "bind" | "bindat" | "listen" => (Op::Bind, None, None, None),
        "sendto" => (Op::Sendto, None, None, None),
        // The shim's sysctl(3) and sysctlbyname(3), brokered (FreeBSD).
        "__sysctlbyname" | "__sysctl" => (Op::Sysctl, None, None, None),
        "kill" => {
            d.target_pid = Some(a[0] as i32 as i64);
            d.signal = Some(signal_name(a[1] as i32));
            (Op::Signal, None, None, None)
        }
        "pdkill" => {
            d.signal = Some(signal_name(a[1] as i32));
            (Op::Signal, None, None, None)
        }
        "name_to_handle_at" | "getxattrat" | "setxattrat" | "listxattrat" | "removexattrat" => {
            (Op::Other, Some(fd(a[0])), None, None)
        }
        _ => (Op::Other, None, None, None),
    };
    d.op = Some(op);
    if let Some(f) = dir {
        set_dir(&mut d, f);
    }
    if let Some(f) = flags {
        d.open_flags = Some(f);
        d.flags = Some(open_flags_str(f));
    }
    d.mode = mode.filter(|_| op != Op::Open || flags.is_some_and(|f| f & libc::O_CREAT != 0));
    match op {
        Op::Connect | Op::Bind | Op::Sendto => d.address = r.detail.clone(),
        Op::Sysctl => d.sysctl = r.detail.clone(),
        _ => {
            d.path = r.detail.clone();
            d.via = r.via.clone();
        }
    }
    d.path2 = r.detail2.clone();
    // The program's own descriptor by its /proc name (glibc's lchmod):
    // the file that descriptor was opened on.
    if let Some(n) = d.path.as_deref().and_then(|p| p.strip_prefix("/proc/self/fd/")) {
        if let Ok(n) = n.parse::<i32>() {
            set_dir(&mut d, n);
            d.path = Some(".".into());
        }
    }
    d
}

/// The second place of a rename or a link (its target), as arguments of
/// their own so that it resolves like a first path.
pub fn second_place(d: &Args) -> Option<Args> {
    if !matches!(d.op, Some(Op::Rename | Op::Link)) {
        return None;
    }
    let mut t = d.clone();
    t.path = Some(d.path2.clone()?);
    t.dirfd_raw = d.dirfd2_raw;
    t.path2 = None;
    Some(t)
}

/// Start-up noise: files the C library (and friends) look at in almost
/// every program, whatever it does. Shown as one line per group in the
/// summary, and as one comment per group among the suggested policy's
/// probes.
pub fn noise_group(path: &str) -> Option<&'static str> {
    let under = |dir: &str| path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'));
    if under("/usr/lib/locale")
        || under("/usr/share/locale")
        || under("/usr/share/i18n")
        || under("/usr/local/share/locale")
    {
        Some("locale")
    } else if path.contains("/gconv/") || path.ends_with("/gconv") {
        Some("gconv")
    } else if under("/var/run/nscd")
        || under("/run/nscd")
        || path.starts_with("unix:/var/run/nscd/")
        || path.starts_with("unix:/run/nscd/")
    {
        Some("nscd")
    } else if path.starts_with("/etc/ld.so.") || path.ends_with("/ld.so.cache") || path.ends_with("/ld-elf.so.hints") {
        Some("ld.so cache")
    } else if path == "/etc/localtime" || under("/usr/share/zoneinfo") || path == "/etc/timezone" {
        Some("timezone")
    } else if matches!(
        path,
        "/etc/nsswitch.conf" | "/etc/host.conf" | "/etc/passwd" | "/etc/group"
    ) {
        Some("nss")
    } else if under("/usr/share/terminfo")
        || under("/etc/terminfo")
        || under("/lib/terminfo")
        || under("/usr/lib/terminfo")
    {
        Some("terminfo")
    } else {
        None
    }
}

/// Turns relative paths into absolute ones, following the descriptors
/// brokered opens handed out (per process), in record order.
///
/// The records show only the calls the sandbox trapped: a descriptor can
/// be closed, and its number taken by dup(2)/fcntl(F_DUPFD) (fts(3), used by
/// find, du, rm -r, does this all the time), without a record. A remembered
/// descriptor can therefore be stale. Two guards keep a stale one from
/// producing a wrong path: an open whose own path cannot be resolved
/// forgets what its result number meant, and a path resolved through a
/// descriptor must agree with the file system after the run (a call that
/// succeeded on it, other than a removal, means it exists, unless the run
/// removed or renamed a file of that name). A disagreement forgets the
/// descriptor and leaves the path unresolved rather than wrong.
pub struct Resolver {
    fds: std::collections::HashMap<(i32, i32), std::path::PathBuf>,
    /// Last components of everything the run removed or renamed away.
    removed: std::collections::HashSet<std::ffi::OsString>,
}

impl Resolver {
    pub fn new(stream: &Stream) -> Resolver {
        let mut removed = std::collections::HashSet::new();
        for r in stream.records.iter().filter(|r| r.result >= 0) {
            if matches!(
                r.name.as_str(),
                "unlink" | "unlinkat" | "rmdir" | "rename" | "renameat" | "renameat2"
            ) {
                if let Some(n) = r.detail.as_deref().and_then(|d| Path::new(d).file_name()) {
                    removed.insert(n.to_owned());
                }
            }
        }
        Resolver {
            fds: Default::default(),
            removed,
        }
    }

    pub fn resolve(&mut self, stream: &Stream, r: &Record, d: &Args) -> Option<std::path::PathBuf> {
        let abs = self.resolve_path(stream, r, d);
        if d.op == Some(Op::Open) && r.result >= 0 {
            let key = (r.pid, r.result as i32);
            match &abs {
                Some(a) => {
                    self.fds.insert(key, a.clone());
                }
                None => {
                    self.fds.remove(&key);
                }
            }
        }
        abs
    }

    fn resolve_path(&mut self, stream: &Stream, r: &Record, d: &Args) -> Option<std::path::PathBuf> {
        let rel = Path::new(d.path.as_deref().filter(|p| !p.is_empty())?);
        let via_fd = match d.dirfd_raw {
            Some(fd) if fd != libc::AT_FDCWD && !rel.is_absolute() => Some(fd),
            _ => None,
        };
        let base = if rel.is_absolute() {
            std::path::PathBuf::from("/")
        } else {
            match via_fd {
                Some(fd) => self.fds.get(&(r.pid, fd))?.clone(),
                // The directory the handler resolved the path against,
                // at the call; "" when it was too long for the record.
                None => match r.cwd.as_deref() {
                    Some("") => return None,
                    Some(c) => std::path::PathBuf::from(c),
                    None => std::path::PathBuf::from(stream.cwd_of(r.pid)?),
                },
            }
        };
        let mut abs = std::path::PathBuf::from("/");
        for c in base.join(rel).components() {
            match c {
                std::path::Component::ParentDir => {
                    abs.pop();
                }
                std::path::Component::Normal(n) => abs.push(n),
                _ => {}
            }
        }
        if let Some(fd) = via_fd {
            let removal = matches!(d.op, Some(Op::Unlink | Op::Rename));
            let named_removed = abs.file_name().is_some_and(|n| self.removed.contains(n));
            if r.result >= 0 && !removal && !named_removed && std::fs::symlink_metadata(&abs).is_err() {
                // The call worked on something that is not there: the
                // descriptor was not what we remembered.
                self.fds.remove(&(r.pid, fd));
                return None;
            }
        }
        Some(abs)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Serialize)]
pub struct Outcome {
    /// The call's return value, when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
    /// The error the program saw, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Limits that keep the report and the summary of a busy run bounded.
pub mod limits {
    /// Distinct paths in one directory (same call, flags, decision and
    /// outcome) from which they become one entry with samples.
    pub const COLLAPSE_MIN_PATHS: usize = 4;
    /// Samples kept in a collapsed entry.
    pub const SAMPLES: usize = 5;
    /// Pids listed per entry.
    pub const PIDS: usize = 16;
    /// Entries in the report; the least frequent beyond this are folded
    /// into one entry per call, decision and outcome.
    pub const ENTRIES: usize = 256;
    /// Entry lines in the terminal summary without --full-summary (noise
    /// groups and section headers come on top).
    pub const SUMMARY_LINES: usize = 30;
}

/// One of the paths a collapsed entry stands for.
#[derive(Clone, Serialize)]
pub struct Sample {
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirfd: Option<String>,
    pub count: u64,
    pub first_seq: u64,
    pub outcome: Outcome,
}

#[derive(Serialize)]
pub struct Entry {
    pub syscall: String,
    pub number: i64,
    pub class: String,
    /// What the sandbox made the call fail with before brokering.
    pub errno: String,
    /// The (first) call's arguments.
    pub args: Args,
    pub decision: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<u32>,
    /// What the program's call returned (the first time).
    pub outcome: Outcome,
    /// Calls this entry stands for.
    pub count: u64,
    /// Distinct paths (or addresses) among them: 1 for a single violation.
    pub paths: u64,
    /// For a collapsed entry: the directory, noise group, or
    /// "descriptor (unresolved)"/"(folded)" the paths share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Start-up noise group (locale, gconv, nscd, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise: Option<&'static str>,
    /// For a collapsed entry: the first few paths, each with its own count.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<Sample>,
    /// At most limits::PIDS.
    pub pids: Vec<i32>,
    pub first_seq: u64,
    /// Innermost first: the system call site, then return addresses from
    /// the frame-pointer walk (cut at the first one outside loaded code)
    /// and those of the stack scan that follow a call (`scanned`), in
    /// stack order.
    pub stack: Vec<Frame>,
    /// Index in `stack` of the program's own frame: the first outside the
    /// C runtime and the shim (the summary shows it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub program_frame: Option<usize>,
}

#[derive(Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub format: u32,
    pub command: Vec<String>,
    pub program: String,
    pub pid: i32,
    pub backend: Option<String>,
    pub mode: String,
    pub policy: Option<String>,
    pub enter_at: String,
    pub entered: bool,
    pub exit_status: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub elapsed_ms: u128,
    /// Signals sigcap-run received and passed on to the program.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forwarded_signals: Vec<String>,
    pub total_violations: usize,
    /// Distinct (call, path, flags, decision, outcome) violations.
    pub distinct_violations: usize,
    pub by_decision: BTreeMap<String, u64>,
    pub garbled_records: usize,
    pub limits: BTreeMap<&'static str, usize>,
    /// Every process of the tree that entered, attached after an exec, or
    /// made a violation (a forked child has no enter of its own).
    pub processes: Vec<Process>,
    pub violations: Vec<Entry>,
}

/// One process of the run's tree, in the per-process view.
#[derive(Debug, Serialize)]
pub struct Process {
    pub pid: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ppid: Option<i32>,
    /// The programs the process ran, in order (several after an exec
    /// without a fork); "(forked)" for a child that ran no other.
    pub programs: Vec<String>,
    pub violations: usize,
}

/// The per-process view: each pid with what it ran and its violations.
pub fn processes(stream: &Stream) -> Vec<Process> {
    let mut out: BTreeMap<i32, Process> = BTreeMap::new();
    for e in &stream.enters {
        let p = out.entry(e.pid).or_insert_with(|| Process {
            pid: e.pid,
            ppid: e.ppid,
            programs: Vec::new(),
            violations: 0,
        });
        p.programs.push(e.program.clone().unwrap_or_default());
    }
    for r in &stream.records {
        out.entry(r.pid)
            .or_insert_with(|| Process {
                pid: r.pid,
                ppid: None,
                programs: vec!["(forked)".into()],
                violations: 0,
            })
            .violations += 1;
    }
    out.into_values().collect()
}

fn outcome(result: i64) -> Outcome {
    if result >= 0 {
        Outcome {
            value: Some(result),
            error: None,
        }
    } else {
        Outcome {
            value: None,
            error: Some(errno_name(-result as i32)),
        }
    }
}

/// One distinct violation, before grouping.
struct Exact {
    rec: usize,
    args: Args,
    out: Outcome,
    count: u64,
    pids: Vec<i32>,
}

impl Exact {
    fn sample(&self, stream: &Stream) -> Sample {
        Sample {
            path: self
                .args
                .path
                .clone()
                .or(self.args.address.clone())
                .or(self.args.sysctl.clone())
                .or(self.args.signal.clone()),
            resolved: self.args.resolved.clone(),
            via: self.args.via.clone(),
            dirfd: self.args.dirfd.clone(),
            count: self.count,
            first_seq: stream.records[self.rec].seq,
            outcome: self.out.clone(),
        }
    }
}

fn add_pids(to: &mut Vec<i32>, from: &[i32]) {
    for p in from {
        if to.len() < limits::PIDS && !to.contains(p) {
            to.push(*p);
        }
    }
}

/// What a collapsed entry's paths share: a noise group, the directory, or
/// the fact that sigcap-run could not follow the descriptor.
fn scope_of(args: &Args) -> (String, Option<&'static str>) {
    let what = args
        .resolved
        .as_deref()
        .or(args.path.as_deref())
        .or(args.address.as_deref())
        .or(args.sysctl.as_deref());
    if let Some(g) = what.and_then(noise_group) {
        return (format!("noise: {g}"), Some(g));
    }
    match (&args.resolved, &args.path) {
        (Some(r), _) => (
            Path::new(r)
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "/".into()),
            None,
        ),
        (None, Some(_)) => ("descriptor (unresolved)".into(), None),
        (None, None) => ("-".into(), None),
    }
}

#[allow(clippy::too_many_arguments)]
pub fn build(
    command: &[OsString],
    prog: &Path,
    stream: &Stream,
    syms: &Symbolizer,
    policy: Option<&Path>,
    enter_at: &str,
    pid: i32,
    exit_status: i32,
    signal: Option<i32>,
    elapsed: std::time::Duration,
) -> Report {
    // 1. Distinct violations.
    let mut exact: Vec<Exact> = Vec::new();
    let mut index: std::collections::HashMap<(String, String, String, String, String, String), usize> =
        Default::default();
    let mut by_decision = BTreeMap::new();
    let mut resolver = Resolver::new(stream);
    for (i, r) in stream.records.iter().enumerate() {
        let mut args = decode(r);
        args.resolved = resolver.resolve(stream, r, &args).map(|p| p.display().to_string());
        let out = outcome(r.result);
        let key = (
            r.name.clone(),
            format!(
                "{}\0{}",
                r.detail.as_deref().unwrap_or_default(),
                r.via.as_deref().unwrap_or_default()
            ),
            args.flags.clone().unwrap_or_default(),
            r.decision.clone(),
            r.reason.clone().unwrap_or_default(),
            out.error.clone().unwrap_or_else(|| "ok".into()),
        );
        *by_decision.entry(r.decision.clone()).or_insert(0u64) += 1;
        if let Some(&j) = index.get(&key) {
            exact[j].count += 1;
            add_pids(&mut exact[j].pids, &[r.pid]);
            continue;
        }
        index.insert(key, exact.len());
        exact.push(Exact {
            rec: i,
            args,
            out,
            count: 1,
            pids: vec![r.pid],
        });
    }
    let distinct = exact.len();

    // 2. Paths under one directory (or one noise group) with the same
    // call, flags, decision and outcome.
    type GroupKey = (String, String, String, String, String, String);
    let mut groups: Vec<(GroupKey, Option<&'static str>, Vec<usize>)> = Vec::new();
    let mut gindex: std::collections::HashMap<GroupKey, usize> = Default::default();
    for (j, e) in exact.iter().enumerate() {
        let r = &stream.records[e.rec];
        let (scope, noise) = scope_of(&e.args);
        let key = (
            r.name.clone(),
            e.args.flags.clone().unwrap_or_default(),
            r.decision.clone(),
            r.reason.clone().unwrap_or_default(),
            e.out.error.clone().unwrap_or_else(|| "ok".into()),
            scope,
        );
        match gindex.get(&key) {
            Some(&g) => groups[g].2.push(j),
            None => {
                gindex.insert(key.clone(), groups.len());
                groups.push((key, noise, vec![j]));
            }
        }
    }
    let entry = |first: &Exact, stack: bool| -> Entry {
        let r = &stream.records[first.rec];
        Entry {
            syscall: r.name.clone(),
            number: r.syscall,
            class: r.class.clone(),
            errno: errno_name(r.errno),
            args: first.args.clone(),
            decision: r.decision.clone(),
            reason: r.reason.clone(),
            rule: r.rule,
            outcome: first.out.clone(),
            count: first.count,
            paths: 1,
            scope: None,
            noise: None,
            samples: Vec::new(),
            pids: first.pids.clone(),
            first_seq: r.seq,
            stack: if stack {
                syms.frames(r.ip, &r.stack, &r.scan)
            } else {
                Vec::new()
            },
            program_frame: None,
        }
    };
    let fold_into = |e: &mut Entry, members: &[usize]| {
        for &j in members {
            let x = &exact[j];
            if e.samples.len() < limits::SAMPLES {
                e.samples.push(x.sample(stream));
            }
        }
        for &j in &members[1..] {
            let x = &exact[j];
            e.count += x.count;
            add_pids(&mut e.pids, &x.pids);
            e.first_seq = e.first_seq.min(stream.records[x.rec].seq);
        }
        e.paths = members.len() as u64;
    };
    // (entry, members) — stacks are symbolized only for what is kept.
    let mut kept: Vec<(Entry, Vec<usize>)> = Vec::new();
    for (key, noise, members) in &groups {
        if members.len() >= limits::COLLAPSE_MIN_PATHS || noise.is_some() && members.len() > 1 {
            let mut e = entry(&exact[members[0]], false);
            fold_into(&mut e, members);
            e.scope = Some(key.5.clone());
            e.noise = *noise;
            kept.push((e, members.clone()));
        } else {
            for &j in members {
                let mut e = entry(&exact[j], false);
                e.noise = *noise;
                kept.push((e, vec![j]));
            }
        }
    }

    // 3. Bounded: the least frequent entries beyond the limit are folded
    // into one per call, decision and outcome.
    // Noise, refusals and failures are kept first (they are few and they
    // matter), then the most frequent.
    if kept.len() > limits::ENTRIES {
        kept.sort_by_key(|(e, _)| {
            let allowed = e.decision.starts_with("allowed") && e.noise.is_none();
            (allowed, std::cmp::Reverse(e.count), e.first_seq)
        });
        let rest = kept.split_off(limits::ENTRIES - 16.min(limits::ENTRIES / 4));
        let mut folded: Vec<(Entry, Vec<usize>)> = Vec::new();
        for (e, members) in rest {
            let same = folded.iter_mut().find(|(f, _)| {
                f.syscall == e.syscall
                    && f.decision == e.decision
                    && f.outcome.error == e.outcome.error
                    && f.reason == e.reason
            });
            match same {
                Some((f, fm)) => {
                    f.count += e.count;
                    f.paths += e.paths;
                    add_pids(&mut f.pids, &e.pids);
                    f.first_seq = f.first_seq.min(e.first_seq);
                    for smp in e
                        .samples
                        .into_iter()
                        .chain((e.paths == 1).then(|| exact[members[0]].sample(stream)))
                    {
                        if f.samples.len() < limits::SAMPLES {
                            f.samples.push(smp);
                        }
                    }
                    fm.push(members[0]);
                }
                None => {
                    let mut f = e;
                    if f.samples.is_empty() {
                        f.samples.push(exact[members[0]].sample(stream));
                    }
                    f.scope = Some("(folded: less frequent entries)".into());
                    f.noise = None;
                    folded.push((f, members));
                }
            }
        }
        kept.extend(folded);
        kept.sort_by_key(|(e, _)| e.first_seq);
    }
    // The object map is the first image's: an image started by exec has
    // other code at those addresses, and its stacks stay unnamed.
    let execed: std::collections::HashSet<i32> = stream
        .enters
        .iter()
        .filter(|e| e.mode == "exec")
        .map(|e| e.pid)
        .collect();
    let entries: Vec<Entry> = kept
        .into_iter()
        .map(|(mut e, members)| {
            let r = &stream.records[exact[members[0]].rec];
            if execed.contains(&r.pid) {
                return e;
            }
            e.stack = syms.frames(r.ip, &r.stack, &r.scan);
            e.program_frame = own_frame(&e.stack);
            e
        })
        .collect();
    let first = stream.enters.iter().find(|e| e.pid == pid).or(stream.enters.first());
    let limits_map = BTreeMap::from([
        ("collapse_min_paths", limits::COLLAPSE_MIN_PATHS),
        ("samples_per_entry", limits::SAMPLES),
        ("pids_per_entry", limits::PIDS),
        ("entries", limits::ENTRIES),
    ]);
    Report {
        tool: "sigcap-run",
        format: 2,
        command: command.iter().map(|a| a.to_string_lossy().into_owned()).collect(),
        program: prog.display().to_string(),
        pid,
        backend: first.map(|e| e.backend.clone()),
        mode: first
            .map(|e| e.mode.clone())
            .unwrap_or_else(|| if policy.is_some() { "enforce" } else { "permissive" }.into()),
        policy: policy.map(|p| p.display().to_string()),
        enter_at: enter_at.to_string(),
        entered: first.is_some(),
        exit_status,
        signal,
        elapsed_ms: elapsed.as_millis(),
        forwarded_signals: Vec::new(),
        total_violations: stream.records.len(),
        distinct_violations: distinct,
        by_decision,
        garbled_records: stream.garbled,
        limits: limits_map,
        processes: processes(stream),
        violations: entries,
    }
}

struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// The readable summary, on stderr (the program owns stdout). At most
/// [`limits::SUMMARY_LINES`] entry lines unless `full`, most frequent first
/// (each decision keeps at least 3); noise groups one line each.
pub fn print_summary(rep: &Report, color: ColorChoice, full: bool) {
    let on = match color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let st = Style { on };
    let _ = std::io::stderr().write_all(summary_text(rep, &st, full).as_bytes());
}

fn summary_text(rep: &Report, st: &Style, full: bool) -> String {
    let mut o = String::new();
    let mut status = match rep.signal {
        Some(s) => format!("killed by {}", signal_name(s)),
        None => format!("exit status {}", rep.exit_status),
    };
    if !rep.forwarded_signals.is_empty() {
        status.push_str(&format!(" (passed on: {})", rep.forwarded_signals.join(", ")));
    }
    o.push_str(&format!(
        "{} {}: {}, {} violation(s), {} distinct [{}, {}{}]\n",
        st.paint("1", "sigcap-run:"),
        rep.command.join(" "),
        status,
        rep.total_violations,
        rep.distinct_violations,
        rep.backend.as_deref().unwrap_or("not entered"),
        rep.mode,
        if rep.enter_at == "main" {
            String::new()
        } else {
            format!(", entered at {}", rep.enter_at)
        },
    ));
    if rep.processes.len() > 1 {
        const SHOWN: usize = 8;
        let list: Vec<String> = rep
            .processes
            .iter()
            .take(SHOWN)
            .map(|p| format!("{} {} ({})", p.pid, p.programs.join(" -> "), p.violations))
            .collect();
        let more = rep.processes.len().saturating_sub(SHOWN);
        o.push_str(&format!(
            "  {} {}{}\n",
            st.paint("1", &format!("{} processes:", rep.processes.len())),
            list.join(", "),
            if more > 0 {
                format!(", and {more} more")
            } else {
                String::new()
            }
        ));
    }
    let groups = [
        "denied",
        "unsupported",
        "not-brokered",
        "broker-unavailable",
        "reported",
        "callback",
        "allowed",
        "allowed-by-descriptor",
    ];
    let sections: Vec<(&str, Vec<&Entry>)> = groups
        .iter()
        .map(|g| {
            let mut es: Vec<&Entry> = rep
                .violations
                .iter()
                .filter(|e| e.decision == *g && e.noise.is_none())
                .collect();
            es.sort_by_key(|e| (std::cmp::Reverse(e.count), e.first_seq));
            (*g, es)
        })
        .filter(|(_, es)| !es.is_empty())
        .collect();
    let mut budget = if full { usize::MAX } else { limits::SUMMARY_LINES };
    for (g, es) in &sections {
        let n: u64 = es.iter().map(|e| e.count).sum();
        let colour = match *g {
            "allowed" | "allowed-by-descriptor" => "32",
            "denied" | "broker-unavailable" => "31",
            _ => "33",
        };
        o.push_str(&format!("  {} ({n})\n", st.paint(&format!("1;{colour}"), g)));
        let show = es.len().min(budget.max(3));
        budget = budget.saturating_sub(show);
        for e in &es[..show] {
            o.push_str(&entry_line(e, st));
        }
        if show < es.len() {
            let rest = &es[show..];
            o.push_str(&format!(
                "      ... and {} more entries ({} violations): --full-summary lists them\n",
                rest.len(),
                rest.iter().map(|e| e.count).sum::<u64>()
            ));
        }
    }
    // Noise: one line per group, whatever the decisions.
    let mut noise: BTreeMap<&str, (u64, u64, BTreeMap<String, u64>)> = BTreeMap::new();
    for e in rep.violations.iter() {
        let Some(g) = e.noise else { continue };
        let n = noise.entry(g).or_default();
        n.0 += e.count;
        n.1 += e.paths;
        let label = match (e.decision.as_str(), &e.outcome.error) {
            ("allowed" | "allowed-by-descriptor", None) => "ok".to_string(),
            ("allowed" | "allowed-by-descriptor", Some(err)) => err.clone(),
            (d, _) => match &e.reason {
                Some(r) => format!("{d} ({r})"),
                None => d.to_string(),
            },
        };
        *n.2.entry(label).or_insert(0) += e.count;
    }
    if !noise.is_empty() {
        let total: u64 = noise.values().map(|n| n.0).sum();
        o.push_str(&format!("  {} ({total})\n", st.paint("1;2", "noise")));
        for (g, (count, paths, outs)) in noise {
            let outs: Vec<String> = outs.iter().map(|(k, v)| format!("{v} {k}")).collect();
            o.push_str(&format!(
                "    {count:>5}x {:<11} {paths} path(s): {}\n",
                g,
                outs.join(", ")
            ));
        }
    }
    o
}

fn entry_line(e: &Entry, st: &Style) -> String {
    let single = e
        .args
        .path
        .as_deref()
        .or(e.args.address.as_deref())
        .or(e.args.sysctl.as_deref())
        .map(str::to_string)
        .or_else(|| e.args.signal.clone())
        .unwrap_or_else(|| "-".into());
    let what = if e.paths > 1 {
        let names: Vec<&str> = e.samples.iter().take(3).filter_map(|s| s.path.as_deref()).collect();
        let more = if e.paths as usize > names.len() { ", ..." } else { "" };
        match e.scope.as_deref() {
            Some(scope) if scope.starts_with('/') => {
                let base: Vec<String> = e
                    .samples
                    .iter()
                    .take(3)
                    .filter_map(|s| s.resolved.as_deref().or(s.path.as_deref()))
                    .map(|p| {
                        Path::new(p)
                            .file_name()
                            .map_or(p.to_string(), |n| n.to_string_lossy().into_owned())
                    })
                    .collect();
                let dir = if scope == "/" { "" } else { scope };
                format!("{dir}/* ({} paths: {}{more})", e.paths, base.join(", "))
            }
            Some(scope) => format!("{} paths, {scope} ({}{more})", e.paths, names.join(", ")),
            None => single,
        }
    } else {
        single
    };
    // The path the broker used, where links led out of the one asked for.
    let what = match e.args.via.as_deref() {
        Some(via) if e.paths == 1 => format!("{what} -> {via}"),
        _ => what,
    };
    let mut extra = vec![];
    if let Some(f) = &e.args.flags {
        extra.push(f.clone());
    }
    if e.paths == 1 {
        if let Some(d) = e.args.dirfd.as_deref().filter(|d| *d != "AT_FDCWD") {
            match &e.args.resolved {
                Some(r) => extra.push(format!("dirfd {d}: {r}")),
                None => extra.push(format!("dirfd {d}")),
            }
        }
    }
    if let Some(r) = &e.reason {
        extra.push(r.clone());
    }
    let res = match (&e.outcome.value, &e.outcome.error) {
        (_, Some(err)) => st.paint("31", &format!("-> {err}")),
        (Some(v), None) if e.paths == 1 => format!("-> {v}"),
        (Some(_), None) => "-> ok".to_string(),
        _ => String::new(),
    };
    // The program's own frame when the stack reaches it, else the call
    // site.
    let site = e
        .program_frame
        .and_then(|i| e.stack.get(i))
        .or(e.stack.first())
        .map(|f| f.short())
        .unwrap_or_default();
    format!(
        "    {:>5}x {:<11} {} {} {}  {}\n",
        e.count,
        e.syscall,
        st.paint("1", &what),
        if extra.is_empty() {
            String::new()
        } else {
            format!("({})", extra.join(", "))
        },
        res,
        st.paint("2", &site),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_view_names_each_image_and_counts_forked_children() {
        let lines = [
            r#"{"event":"enter","pid":10,"backend":"freebsd-sigcap","mode":"permissive","cwd":"/w","program":"sh","ppid":1}"#,
            r#"{"event":"enter","pid":11,"backend":"freebsd-sigcap","mode":"exec","cwd":"/w","program":"ls","ppid":10}"#,
            r#"{"event":"enter","pid":10,"backend":"freebsd-sigcap","mode":"exec","cwd":"/w","program":"wc","ppid":1}"#,
            r#"{"seq":1,"pid":11,"tid":11,"backend":"freebsd-sigcap","syscall":5,"name":"open","args":[0,0,0,0,0,0],"errno":94,"class":"namei","ip":0,"decision":"allowed","result":3}"#,
            r#"{"seq":1,"pid":12,"tid":12,"backend":"freebsd-sigcap","syscall":5,"name":"open","args":[0,0,0,0,0,0],"errno":94,"class":"namei","ip":0,"decision":"allowed","result":3}"#,
        ];
        let s = parse_stream(&lines.join("\n"));
        assert_eq!(s.garbled, 0, "{s:?}");
        let p = processes(&s);
        let view: Vec<(i32, Vec<&str>, usize)> = p
            .iter()
            .map(|p| (p.pid, p.programs.iter().map(String::as_str).collect(), p.violations))
            .collect();
        assert_eq!(
            view,
            [
                (10, vec!["sh", "wc"], 0),
                (11, vec!["ls"], 1),
                (12, vec!["(forked)"], 1)
            ]
        );
        assert_eq!(p[1].ppid, Some(10));
    }

    #[test]
    fn lines_are_told_apart_by_their_keys_not_their_text() {
        let lines = [
            // A record whose path spells an event key: still a record.
            r#"{"seq":1,"pid":11,"tid":11,"backend":"linux-seccomp","syscall":257,"name":"openat","args":[0,0,0,0,0,0],"errno":1,"class":"namei","ip":0,"decision":"allowed","result":3,"detail":"/w/{\"event\":\"enter\"}"}"#,
            r#"{"event":"enter","pid":11,"backend":"linux-seccomp","mode":"permissive","cwd":"/w","program":"sh","ppid":1}"#,
            r#"{"event":"error","message":"the shim could not enter"}"#,
            // Not a record, not an event.
            r#"{"seq":"one"}"#,
            "not json",
        ];
        let s = parse_stream(&lines.join("\n"));
        assert_eq!(s.records.len(), 1, "{s:?}");
        assert_eq!(s.records[0].detail.as_deref(), Some("/w/{\"event\":\"enter\"}"));
        assert_eq!(s.enters.len(), 1);
        assert_eq!(s.errors, ["the shim could not enter"]);
        assert_eq!(s.garbled, 2);
    }
}
