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
