//! The broker's own pure decisions: which network rule allows a socket
//! operation, what listen needs, what a handed-out descriptor may carry,
//! how a relative path is joined to its directory, and how a refusal goes
//! on the wire. No system call here: everything is unit-tested without a
//! kernel.
//!
//! The file-policy decision the broker shares with the handler's fast
//! path (which root holds a path, what an operation needs) is
//! [`crate::decide`]. It stays at crate level, below both: the fast path
//! runs in the signal handler and must not depend on the broker module
//! (which forks, allocates and runs threads), and the two must run the
//! same code.
use super::Grant;
use crate::decide::FsDenial;
use crate::policy::{Access, NetTarget, Policy};
use crate::proto::{Op, WireDecision};
use std::ffi::OsStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `base` joined with `rel`, with the `.` and `..` components that lead
/// `rel` folded into `base`. `base` is a real path (getcwd, or the kernel's
/// name of a descriptor), so its lexical parent is its real parent and
/// `../a.tar` from a working directory under one root can match a rule for
/// its sibling. A `..` after a name is left for the kernel to resolve
/// beneath the matched root, where it cannot escape.
pub(super) fn join_leading_parents(base: &Path, rel: &Path) -> PathBuf {
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

/// Who a lookup is for and how it ends: the process and thread the
/// request is made for, as its handler says (`Request::pid`,
/// `Request::tid`), and whether the call follows its path's last name
/// when that is a symlink. The ids are the program's word: they only
/// choose which `/proc/N` path [`for_requester`] names, and that path is
/// decided under the policy like any the program could name itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Asker {
    pub pid: i32,
    pub tid: i32,
    pub follows_last: bool,
}

impl Asker {
    /// For `req`'s first path.
    pub(crate) fn of(req: &crate::proto::Request, op: Op) -> Asker {
        Asker {
            pid: req.pid,
            tid: req.tid,
            follows_last: follows_last(op, req.flags),
        }
    }

    /// For a path whose last name the call acts on itself (a rename's
    /// or link's target).
    pub(crate) fn at_name(self) -> Asker {
        Asker {
            follows_last: false,
            ..self
        }
    }
}

/// Whether `op` with `flags` follows a symlink in its path's last name,
/// as the kernel's call does.
pub(crate) fn follows_last(op: Op, flags: i32) -> bool {
    match op {
        Op::Open => flags & libc::O_NOFOLLOW == 0,
        Op::Readlink | Op::Mkdir | Op::Mknod | Op::Unlink | Op::Rename | Op::Symlink => false,
        Op::Link => flags & libc::AT_SYMLINK_FOLLOW != 0,
        _ => flags & libc::AT_SYMLINK_NOFOLLOW == 0,
    }
}

/// procfs names whoever looks a path up: `/proc/self` (FreeBSD:
/// `/proc/curproc`) and `/proc/thread-self` would name the broker, which
/// looks everything up for the program. `abs` with that name replaced by
/// the asker's own (`/proc/PID`, `/proc/PID/task/TID`) where the lookup
/// goes through it; None where the path has no such name, or ends in it
/// and the call acts on the link itself (lstat: the link, the same for
/// everyone; readlink: [`self_link_text`]). Err: the asker's ids are not
/// ids. Lexical, on the path's components: the program's spelling
/// (`/proc//self/.`) and a symlink's target (`/dev/fd -> /proc/self/fd`)
/// both come here.
pub(crate) fn for_requester(abs: &Path, who: Asker) -> Result<Option<PathBuf>, ()> {
    let Some((thread, rest)) = self_link(abs) else {
        return Ok(None);
    };
    if rest.as_os_str().is_empty() && !who.follows_last {
        return Ok(None);
    }
    let mut out = PathBuf::from("/proc");
    out.push(self_link_target(thread, who)?);
    if !rest.as_os_str().is_empty() {
        out.push(rest);
    }
    Ok(Some(out))
}

/// What readlink of `abs` says for the asker, when `abs` is procfs' self
/// link itself; None otherwise.
pub(crate) fn self_link_text(abs: &Path, who: Asker) -> Option<Result<String, ()>> {
    match self_link(abs) {
        Some((thread, rest)) if rest.as_os_str().is_empty() => Some(self_link_target(thread, who)),
        _ => None,
    }
}

/// `abs` as procfs' self link (whether the thread's) and what follows it.
fn self_link(abs: &Path) -> Option<(bool, PathBuf)> {
    use std::path::Component;
    let mut c = abs.components();
    if c.next() != Some(Component::RootDir) || c.next() != Some(Component::Normal(OsStr::new("proc"))) {
        return None;
    }
    let this = match c.next() {
        Some(Component::Normal(n)) => n.as_bytes(),
        _ => return None,
    };
    let process = if cfg!(target_os = "freebsd") {
        &b"curproc"[..]
    } else {
        &b"self"[..]
    };
    let thread = cfg!(target_os = "linux") && this == b"thread-self";
    (this == process || thread).then(|| (thread, c.collect()))
}

/// The self link's text for the asker: `PID` or `PID/task/TID`.
fn self_link_target(thread: bool, who: Asker) -> Result<String, ()> {
    if who.pid <= 0 || thread && who.tid <= 0 {
        return Err(());
    }
    Ok(if thread {
        format!("{}/task/{}", who.pid, who.tid)
    } else {
        who.pid.to_string()
    })
}

/// The modes both grant.
pub(super) fn intersect(a: Access, b: Access) -> Access {
    [Access::READ, Access::WRITE, Access::CREATE]
        .into_iter()
        .filter(|&m| a.contains(m) && b.contains(m))
        .fold(Access::NONE, |x, m| x | m)
}

/// The access a descriptor for the place at `abs`, which its rule
/// grants `granted`, may carry: the rule's, less what any rule whose root
/// lies beneath it withholds (a directory of W read-write holding W/ro
/// read-only gets read only: the program could otherwise reach W/ro
/// through it without the broker).
pub(crate) fn handed_out_access(policy: &Policy, granted: Access, abs: &Path) -> Access {
    let mut a = granted;
    for r in policy.fs_rules() {
        if r.root.starts_with(abs) {
            a = intersect(a, r.access);
        }
    }
    a
}

/// The broker's answer to a refusal of the shared decision.
pub(super) fn wire_denial(d: FsDenial) -> WireDecision {
    match d {
        FsDenial::NoRule => WireDecision::DeniedNoRule,
        FsDenial::Escape => WireDecision::DeniedEscape,
        FsDenial::Access => WireDecision::DeniedAccess,
        FsDenial::TooLong => WireDecision::DeniedBadRequest,
    }
}

/// The rule that allows `op` (connect, bind or sendto) to the address
/// in `addr`, or the refusal: a malformed address or one of a family the
/// broker does not handle, or no rule.
pub(super) fn net_rule(policy: &Policy, op: Op, addr: &[u8]) -> Result<usize, WireDecision> {
    let Some(target) = parse_sockaddr(addr) else {
        return Err(WireDecision::DeniedBadRequest);
    };
    let rule = match op {
        Op::Bind => policy.match_bind(&target),
        _ => policy.match_connect(&target),
    };
    rule.ok_or(WireDecision::DeniedNoRule)
}

/// The rule that allows reading the sysctl node `name` (the request's
/// bytes, checked by [`crate::policy::sysctl_name_ok`]), or the refusal.
pub(super) fn sysctl_rule(policy: &Policy, name: &[u8]) -> Result<usize, WireDecision> {
    let name = std::str::from_utf8(name).map_err(|_| WireDecision::DeniedBadRequest)?;
    policy.match_sysctl(name).ok_or(WireDecision::DeniedNoRule)
}

/// What allows listen on a socket bound to `bound` (its getsockname
/// bytes): an IP socket without a port would be bound implicitly to
/// every address and a free port, which needs a bind rule covering it;
/// anything else listens on the descriptor's own authority.
pub(super) fn listen_grant(policy: &Policy, bound: &[u8]) -> Result<Grant, WireDecision> {
    Ok(match parse_sockaddr(bound) {
        Some(t @ NetTarget::Inet { port: Some(0), .. }) => match policy.match_bind(&t) {
            Some(rule) => Grant::Rule(rule),
            None => return Err(WireDecision::DeniedNoRule),
        },
        _ => Grant::Descriptor,
    })
}

/// Reads a socket address as the kernel would, or None if malformed or of
/// a family the broker does not handle.
pub(super) fn parse_sockaddr(b: &[u8]) -> Option<NetTarget> {
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
    fn procfs_self_names_the_requester() {
        let who = Asker {
            pid: 42,
            tid: 43,
            follows_last: true,
        };
        let t =
            |p: &str, who: Asker| for_requester(Path::new(p), who).map(|o| o.map(|p| p.to_string_lossy().into_owned()));
        let own = if cfg!(target_os = "freebsd") { "curproc" } else { "self" };
        assert_eq!(t(&format!("/proc/{own}"), who), Ok(Some("/proc/42".into())));
        assert_eq!(t(&format!("/proc//{own}/./fd/"), who), Ok(Some("/proc/42/fd".into())));
        assert_eq!(t(&format!("/proc/{own}/fd/0"), who), Ok(Some("/proc/42/fd/0".into())));
        // The link itself (lstat, readlink, unlink): not followed.
        assert_eq!(t(&format!("/proc/{own}"), who.at_name()), Ok(None));
        assert_eq!(
            t(&format!("/proc/{own}/fd"), who.at_name()),
            Ok(Some("/proc/42/fd".into()))
        );
        assert_eq!(
            self_link_text(Path::new(&format!("/proc/{own}/")), who),
            Some(Ok("42".into()))
        );
        assert_eq!(self_link_text(Path::new(&format!("/proc/{own}/fd")), who), None);
        // Only the name right after /proc, and only whole names.
        for other in [
            "/proc",
            "/proc/1/status",
            "/proc/selfish",
            "/proc/x/self",
            "/tmp/proc/self",
            "/procself",
            "/dev/fd",
        ] {
            assert_eq!(t(other, who), Ok(None), "{other}");
            assert_eq!(self_link_text(Path::new(other), who), None, "{other}");
        }
        if cfg!(target_os = "linux") {
            assert_eq!(
                t("/proc/thread-self/comm", who),
                Ok(Some("/proc/42/task/43/comm".into()))
            );
            assert_eq!(
                self_link_text(Path::new("/proc/thread-self"), who),
                Some(Ok("42/task/43".into()))
            );
        }
        let nobody = Asker {
            pid: 0,
            tid: 0,
            follows_last: true,
        };
        assert_eq!(t(&format!("/proc/{own}/fd"), nobody), Err(()));
        assert_eq!(t("/proc/1", nobody), Ok(None));
    }

    #[test]
    fn which_calls_follow_their_last_name() {
        assert!(follows_last(Op::Open, libc::O_RDONLY));
        assert!(!follows_last(Op::Open, libc::O_PATH | libc::O_NOFOLLOW));
        assert!(follows_last(Op::Stat, 0));
        assert!(!follows_last(Op::Stat, libc::AT_SYMLINK_NOFOLLOW));
        assert!(!follows_last(Op::Readlink, 0));
        assert!(!follows_last(Op::Unlink, 0));
        assert!(!follows_last(Op::Link, 0));
        assert!(follows_last(Op::Link, libc::AT_SYMLINK_FOLLOW));
    }

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

    fn policy() -> Policy {
        let mut p = Policy::new();
        p.allow_fs("/w", Access::ALL).unwrap();
        p.allow_fs("/w/ro", Access::READ).unwrap();
        p.allow_connect(NetTarget::parse("127.0.0.1:8080").unwrap());
        p.allow_bind(NetTarget::parse("0.0.0.0:0").unwrap());
        p
    }

    #[test]
    fn network_rules() {
        let p = policy();
        let (ok, n) = crate::client::sockaddr_bytes(&"127.0.0.1:8080".parse().unwrap());
        let (other, m) = crate::client::sockaddr_bytes(&"127.0.0.1:9".parse().unwrap());
        assert_eq!(net_rule(&p, Op::Connect, &ok[..n]), Ok(0));
        assert_eq!(net_rule(&p, Op::Sendto, &ok[..n]), Ok(0));
        assert_eq!(net_rule(&p, Op::Bind, &ok[..n]), Err(WireDecision::DeniedNoRule));
        assert_eq!(net_rule(&p, Op::Connect, &other[..m]), Err(WireDecision::DeniedNoRule));
        assert_eq!(net_rule(&p, Op::Connect, &ok[..3]), Err(WireDecision::DeniedBadRequest));
        // listen: an unbound IP socket needs the implicit bind allowed.
        let (any, a) = crate::client::sockaddr_bytes(&"0.0.0.0:0".parse().unwrap());
        assert!(matches!(listen_grant(&p, &any[..a]), Ok(Grant::Rule(0))));
        assert!(matches!(
            listen_grant(&Policy::new(), &any[..a]),
            Err(WireDecision::DeniedNoRule)
        ));
        assert!(matches!(listen_grant(&Policy::new(), &ok[..n]), Ok(Grant::Descriptor)));
    }

    #[test]
    fn sysctl_nodes_need_a_rule_by_name() {
        let mut p = policy();
        p.allow_sysctl(crate::policy::SysctlRule::parse("kern.proc.*").unwrap());
        assert_eq!(sysctl_rule(&p, b"kern.proc.pid.1"), Ok(0));
        assert_eq!(sysctl_rule(&p, b"kern.proc"), Err(WireDecision::DeniedNoRule));
        assert_eq!(sysctl_rule(&p, b"kern.pid_max"), Err(WireDecision::DeniedNoRule));
        assert_eq!(
            sysctl_rule(&Policy::new(), b"kern.proc.pid.1"),
            Err(WireDecision::DeniedNoRule)
        );
        assert_eq!(sysctl_rule(&p, b"kern.proc.\xff"), Err(WireDecision::DeniedBadRequest));
    }

    #[test]
    fn handed_out_descriptors_carry_no_more_than_nested_rules() {
        let p = policy();
        assert_eq!(handed_out_access(&p, Access::ALL, Path::new("/w")), Access::READ);
        assert_eq!(handed_out_access(&p, Access::ALL, Path::new("/w/a")), Access::ALL);
        assert_eq!(
            intersect(Access::ALL, Access::READ | Access::CREATE),
            Access::READ | Access::CREATE
        );
    }

    #[test]
    fn leading_parents_fold_into_the_base() {
        let j = |b: &str, r: &str| join_leading_parents(Path::new(b), Path::new(r));
        assert_eq!(j("/w/a", "../b.tar"), PathBuf::from("/w/b.tar"));
        assert_eq!(j("/w/a", "./x/../y"), PathBuf::from("/w/a/x/../y"));
        assert_eq!(wire_denial(FsDenial::Escape), WireDecision::DeniedEscape);
        assert_eq!(wire_denial(FsDenial::TooLong), WireDecision::DeniedBadRequest);
    }
}
