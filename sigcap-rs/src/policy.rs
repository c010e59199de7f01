//! The sandbox policy: deny by default, allow filesystem subtrees with
//! access modes, and network destinations for connect/sendto and bind.
//!
//! A policy is pure data. The broker enforces it; nothing here touches the
//! system, so every matching rule is unit-tested on plain paths.
//!
//! File form (TOML):
//! ```toml
//! [[fs]]
//! path = "/etc/ssl"
//! access = ["read"]            # any of "read", "write", "create", "exec"
//!
//! [net]
//! connect = ["127.0.0.1:8080", "[::1]:*", "unix:/var/run/app.sock"]   # "*" = any
//! bind = ["127.0.0.1:0"]
//!
//! [sysctl]                     # FreeBSD: read-only sysctl nodes
//! read = ["kern.pid_max", "vfs.conflist", "kern.proc.pid.*"]   # "*" = any
//! ```
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};

/// Access modes a filesystem rule grants beneath its root.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Access(u8);

impl Access {
    /// No access.
    pub const NONE: Access = Access(0);
    /// Open for reading, list directories, stat, access, readlink.
    pub const READ: Access = Access(1);
    /// Open existing files for writing (truncate, append), unlink, rmdir,
    /// rename away.
    pub const WRITE: Access = Access(2);
    /// Create files (O_CREAT), directories, rename into.
    pub const CREATE: Access = Access(4);
    /// Run files as programs (execve): brokered on FreeBSD, where the
    /// broker hands the handler the image to `fexecve` (README "exec").
    /// Not implied by [`Access::ALL`]: running code is asked for by name.
    pub const EXEC: Access = Access(8);
    /// Read, write and create: everything but [`Access::EXEC`].
    pub const ALL: Access = Access(7);

    /// Whether every mode in `other` is granted by `self`.
    pub fn contains(self, other: Access) -> bool {
        self.0 & other.0 == other.0
    }
    /// Whether no mode is granted.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    fn names(self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (bit, name) in [
            (Self::READ, "read"),
            (Self::WRITE, "write"),
            (Self::CREATE, "create"),
            (Self::EXEC, "exec"),
        ] {
            if self.contains(bit) {
                v.push(name);
            }
        }
        v
    }
}

impl std::ops::BitOr for Access {
    type Output = Access;
    fn bitor(self, rhs: Access) -> Access {
        Access(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for Access {
    fn bitor_assign(&mut self, rhs: Access) {
        self.0 |= rhs.0;
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&self.names().join("+"))
    }
}

/// A filesystem subtree and what may be done beneath it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsRule {
    /// Absolute, normalised root directory (or file).
    pub root: PathBuf,
    /// Modes granted beneath `root`.
    pub access: Access,
}

/// A network endpoint in a connect or bind rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NetTarget {
    /// An IP address with a port, or any port (`None`, written `*`).
    Inet {
        /// The address.
        ip: IpAddr,
        /// The port, `None` for any.
        port: Option<u16>,
    },
    /// A Unix-domain socket path (`unix:/path`).
    Unix(PathBuf),
    /// Every address (written `*`): for permissive, record-everything runs
    /// such as `sigcap-run` without `--policy`.
    Any,
}

impl NetTarget {
    /// Parses `1.2.3.4:80`, `[::1]:*`, `unix:/path`, and `*` (any address).
    pub fn parse(s: &str) -> Result<NetTarget> {
        if s == "*" {
            return Ok(NetTarget::Any);
        }
        if let Some(p) = s.strip_prefix("unix:") {
            let path = PathBuf::from(p);
            if !path.is_absolute() {
                return Err(Error::Policy(format!("unix socket path must be absolute: {s:?}")));
            }
            return Ok(NetTarget::Unix(path));
        }
        if let Some(host) = s.strip_suffix(":*") {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let ip: IpAddr = host.parse().map_err(|_| {
                Error::Policy(format!(
                    "bad address {s:?}: expected IP:PORT, IP:*, [IPv6]:PORT or unix:/path"
                ))
            })?;
            return Ok(NetTarget::Inet { ip, port: None });
        }
        let sa: SocketAddr = s.parse().map_err(|_| {
            Error::Policy(format!(
                "bad address {s:?}: expected IP:PORT, IP:*, [IPv6]:PORT or unix:/path"
            ))
        })?;
        Ok(NetTarget::Inet {
            ip: sa.ip(),
            port: Some(sa.port()),
        })
    }

    /// Whether this rule covers the concrete endpoint `other`.
    pub fn covers(&self, other: &NetTarget) -> bool {
        match (self, other) {
            (NetTarget::Inet { ip, port }, NetTarget::Inet { ip: oip, port: oport }) => {
                ip == oip && (port.is_none() || port == oport)
            }
            (NetTarget::Unix(a), NetTarget::Unix(b)) => a == b,
            (NetTarget::Any, _) => true,
            _ => false,
        }
    }
}

impl fmt::Display for NetTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetTarget::Inet {
                ip: IpAddr::V4(ip),
                port,
            } => match port {
                Some(p) => write!(f, "{ip}:{p}"),
                None => write!(f, "{ip}:*"),
            },
            NetTarget::Inet {
                ip: IpAddr::V6(ip),
                port,
            } => match port {
                Some(p) => write!(f, "[{ip}]:{p}"),
                None => write!(f, "[{ip}]:*"),
            },
            NetTarget::Unix(p) => write!(f, "unix:{}", p.display()),
            NetTarget::Any => f.write_str("*"),
        }
    }
}

/// Deny-by-default sandbox policy.
///
/// ```
/// use sigcap::{Access, NetTarget, Policy};
/// use std::path::Path;
///
/// let p = Policy::from_toml(r#"
///     [[fs]]
///     path = "/etc/ssl"
///     access = ["read"]
///     [net]
///     connect = ["127.0.0.1:8080"]
/// "#).unwrap();
/// let m = p.match_path(Path::new("/etc/ssl/certs/ca.pem")).unwrap();
/// assert_eq!(p.fs_rules()[m.rule].access, Access::READ);
/// assert!(p.match_path(Path::new("/etc/passwd")).is_none());
/// assert!(p.match_connect(&NetTarget::parse("127.0.0.1:8080").unwrap()).is_some());
/// assert!(Policy::from_toml("[[fs]]\npath = \"etc\"\naccess = [\"read\"]").is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    fs: Vec<FsRule>,
    connect: Vec<NetTarget>,
    bind: Vec<NetTarget>,
    sysctl: Vec<SysctlRule>,
}

/// A sysctl node, or a subtree, the program may read (FreeBSD, where
/// capability mode refuses every node not marked CTLFLAG_CAPRD with
/// EPERM). Written as the dotted name: `kern.pid_max` is that node only,
/// `kern.proc.*` every node beneath `kern.proc`, `*` every node. Writes
/// are never brokered.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SysctlRule(String);

impl SysctlRule {
    /// Parses a rule: dot-separated components of letters, digits, `_`,
    /// `-` and `%` (the characters the kernel's node names use), with an
    /// optional last component `*`.
    pub fn parse(s: &str) -> Result<SysctlRule> {
        let bad = |why: &str| Error::Policy(format!("sysctl rule {s:?}: {why}"));
        if s == "*" {
            return Ok(SysctlRule(s.to_owned()));
        }
        let body = s.strip_suffix(".*").unwrap_or(s);
        if s.len() > SYSCTL_NAME_MAX || !sysctl_name_ok(body.as_bytes()) {
            return Err(bad(
                "expected a node name such as kern.pid_max, NAME.* or *: components of letters, digits, '_', '-' or '%', separated by single dots",
            ));
        }
        Ok(SysctlRule(s.to_owned()))
    }

    /// The rule a read of the node `name` needs to hold on the next run:
    /// the node, or for one read with numbers after its name (a pid:
    /// `kern.proc.pid.1234`) every node beneath its named part.
    pub fn for_node(name: &str) -> Result<SysctlRule> {
        let parts: Vec<&str> = name.split('.').collect();
        match sysctl_node_args(&parts) {
            0 => SysctlRule::parse(name),
            n => SysctlRule::parse(&format!("{}.*", parts[..parts.len() - n].join("."))),
        }
    }

    /// Whether the rule covers the node `name` (a dotted name as
    /// sysctlbyname(3) takes it), comparing whole components.
    pub fn covers(&self, name: &str) -> bool {
        if self.0 == "*" {
            return true;
        }
        match self.0.strip_suffix(".*") {
            Some(prefix) => name
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.') && rest.len() > 1),
            None => self.0 == name,
        }
    }

    /// The rule as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SysctlRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest sysctl name a rule or a request carries (the kernel's
/// MAXPATHLEN-sized limit on names is far above any real node).
pub const SYSCTL_NAME_MAX: usize = 256;

/// Whether `name` is a dotted sysctl node name: components of letters,
/// digits, `_`, `-` and `%` (the characters the kernel's node names and
/// a node's numeric arguments use) separated by single dots, at most
/// [`SYSCTL_NAME_MAX`] bytes.
pub fn sysctl_name_ok(name: &[u8]) -> bool {
    let byte_ok = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'%');
    !name.is_empty()
        && name.len() <= SYSCTL_NAME_MAX
        && name
            .split(|&b| b == b'.')
            .all(|c| !c.is_empty() && c.iter().all(byte_ok))
}

/// How many of a node name's last components (`parts`) are numbers the
/// node takes after its name (`kern.proc.pid.1`: one), leaving at least
/// one name. Numbers are C ints, as a MIB's components are.
pub fn sysctl_node_args(parts: &[&str]) -> usize {
    let n = parts.iter().rev().take_while(|p| p.parse::<i32>().is_ok()).count();
    n.min(parts.len().saturating_sub(1))
}

/// Where a path falls under a policy.
#[derive(Debug, PartialEq, Eq)]
pub struct PathMatch {
    /// Index of the rule (into [`Policy::fs_rules`]).
    pub rule: usize,
    /// The path relative to the rule's root (`.` for the root itself). It
    /// may still contain `..` or symlinks: the broker resolves it strictly
    /// beneath the root, so such components cannot escape.
    pub rel: PathBuf,
}

impl Policy {
    /// An empty policy: everything is denied.
    pub fn new() -> Policy {
        Policy::default()
    }

    /// Adds (or widens) a filesystem rule. `root` must be absolute and must
    /// not contain `..`.
    pub fn allow_fs(&mut self, root: impl AsRef<Path>, access: Access) -> Result<&mut Self> {
        let root = normalize_root(root.as_ref())?;
        if access.is_empty() {
            return Err(Error::Policy(format!("rule for {} grants no access", root.display())));
        }
        match self.fs.iter_mut().find(|r| r.root == root) {
            Some(r) => r.access |= access,
            None => self.fs.push(FsRule { root, access }),
        }
        Ok(self)
    }

    /// Allows connect(2) and sendto(2) to `target`.
    pub fn allow_connect(&mut self, target: NetTarget) -> &mut Self {
        if !self.connect.contains(&target) {
            self.connect.push(target);
        }
        self
    }

    /// Allows bind(2) to `target`.
    pub fn allow_bind(&mut self, target: NetTarget) -> &mut Self {
        if !self.bind.contains(&target) {
            self.bind.push(target);
        }
        self
    }

    /// Allows reading the sysctl node or subtree `rule` (FreeBSD).
    pub fn allow_sysctl(&mut self, rule: SysctlRule) -> &mut Self {
        if !self.sysctl.contains(&rule) {
            self.sysctl.push(rule);
        }
        self
    }

    /// The sysctl read rules.
    pub fn sysctl_rules(&self) -> &[SysctlRule] {
        &self.sysctl
    }

    /// The first sysctl rule covering the node `name`.
    pub fn match_sysctl(&self, name: &str) -> Option<usize> {
        self.sysctl.iter().position(|r| r.covers(name))
    }

    /// The filesystem rules, in the order they were added.
    pub fn fs_rules(&self) -> &[FsRule] {
        &self.fs
    }
    /// The connect/sendto destinations.
    pub fn connect_rules(&self) -> &[NetTarget] {
        &self.connect
    }
    /// The bind addresses.
    pub fn bind_rules(&self) -> &[NetTarget] {
        &self.bind
    }

    /// Finds the most specific rule whose root contains `abs`, comparing
    /// whole components. `abs` must be absolute; `.` components are
    /// dropped, `..` is kept for the broker's beneath resolution.
    pub fn match_path(&self, abs: &Path) -> Option<PathMatch> {
        if !abs.is_absolute() {
            return None;
        }
        let mut best: Option<(usize, usize)> = None;
        for (i, r) in self.fs.iter().enumerate() {
            if abs.starts_with(&r.root) {
                let depth = r.root.components().count();
                if best.is_none_or(|(_, d)| depth > d) {
                    best = Some((i, depth));
                }
            }
        }
        let (rule, _) = best?;
        let rel: PathBuf = abs
            .strip_prefix(&self.fs[rule].root)
            .ok()?
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect();
        let rel = if rel.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            rel
        };
        Some(PathMatch { rule, rel })
    }

    /// The first connect rule covering `target`.
    pub fn match_connect(&self, target: &NetTarget) -> Option<usize> {
        self.connect.iter().position(|r| r.covers(target))
    }

    /// The first bind rule covering `target`.
    pub fn match_bind(&self, target: &NetTarget) -> Option<usize> {
        self.bind.iter().position(|r| r.covers(target))
    }

    /// Parses the TOML form. Unknown keys, relative roots, `..` in roots,
    /// unknown access names and unparsable addresses are errors.
    pub fn from_toml(text: &str) -> Result<Policy> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| Error::Policy(e.to_string()))?;
        let mut p = Policy::new();
        for rule in file.fs {
            let mut access = Access::NONE;
            for a in &rule.access {
                access |= match a.as_str() {
                    "read" => Access::READ,
                    "write" => Access::WRITE,
                    "create" => Access::CREATE,
                    "exec" => Access::EXEC,
                    other => {
                        return Err(Error::Policy(format!(
                            "fs rule {:?}: unknown access {other:?} (expected read, write, create, exec)",
                            rule.path
                        )))
                    }
                };
            }
            p.allow_fs(&rule.path, access)?;
        }
        for c in file.net.connect {
            p.allow_connect(NetTarget::parse(&c)?);
        }
        for b in file.net.bind {
            p.allow_bind(NetTarget::parse(&b)?);
        }
        for s in file.sysctl.read {
            p.allow_sysctl(SysctlRule::parse(&s)?);
        }
        Ok(p)
    }

    /// Reads and parses a policy file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Policy> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::PolicyFile {
            path: path.to_owned(),
            source,
        })?;
        Policy::from_toml(&text).map_err(|e| match e {
            Error::Policy(m) => Error::Policy(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// The TOML form, which [`Policy::from_toml`] reads back unchanged.
    pub fn to_toml(&self) -> String {
        let file = PolicyFile {
            fs: self
                .fs
                .iter()
                .map(|r| FsRuleFile {
                    path: r.root.to_string_lossy().into_owned(),
                    access: r.access.names().into_iter().map(String::from).collect(),
                })
                .collect(),
            net: NetFile {
                connect: self.connect.iter().map(|t| t.to_string()).collect(),
                bind: self.bind.iter().map(|t| t.to_string()).collect(),
            },
            sysctl: SysctlFile {
                read: self.sysctl.iter().map(|r| r.to_string()).collect(),
            },
        };
        toml::to_string(&file).expect("policy serialises")
    }
}

fn normalize_root(root: &Path) -> Result<PathBuf> {
    if !root.is_absolute() {
        return Err(Error::Policy(format!("root {} is not absolute", root.display())));
    }
    let mut out = PathBuf::new();
    for c in root.components() {
        match c {
            Component::RootDir => out.push("/"),
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err(Error::Policy(format!("root {} contains '..'", root.display()))),
            Component::Prefix(_) => return Err(Error::Policy(format!("root {} has a prefix", root.display()))),
        }
    }
    Ok(out)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    fs: Vec<FsRuleFile>,
    #[serde(default)]
    net: NetFile,
    #[serde(default, skip_serializing_if = "SysctlFile::is_empty")]
    sysctl: SysctlFile,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SysctlFile {
    #[serde(default)]
    read: Vec<String>,
}

impl SysctlFile {
    fn is_empty(&self) -> bool {
        self.read.is_empty()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FsRuleFile {
    path: String,
    access: Vec<String>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NetFile {
    #[serde(default)]
    connect: Vec<String>,
    #[serde(default)]
    bind: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        let mut p = Policy::new();
        p.allow_fs("/etc/ssl", Access::READ).unwrap();
        p.allow_fs("/var/tmp/app/", Access::ALL).unwrap();
        p.allow_fs("/var/tmp/app/ro", Access::READ).unwrap();
        p
    }

    #[test]
    fn longest_root_wins_and_rel_is_beneath() {
        let p = policy();
        let m = p.match_path(Path::new("/var/tmp/app/ro/x")).unwrap();
        assert_eq!(p.fs_rules()[m.rule].root, Path::new("/var/tmp/app/ro"));
        assert_eq!(m.rel, Path::new("x"));
        let m = p.match_path(Path::new("/var/tmp/app/./a/b")).unwrap();
        assert_eq!(p.fs_rules()[m.rule].access, Access::ALL);
        assert_eq!(m.rel, Path::new("a/b"));
        let m = p.match_path(Path::new("/etc/ssl")).unwrap();
        assert_eq!(m.rel, Path::new("."));
    }

    #[test]
    fn component_prefix_not_string_prefix() {
        let p = policy();
        assert!(p.match_path(Path::new("/etc/sslx/key")).is_none());
        assert!(p.match_path(Path::new("/etc/passwd")).is_none());
        assert!(p.match_path(Path::new("relative/etc/ssl")).is_none());
    }

    #[test]
    fn dotdot_is_kept_for_beneath_resolution() {
        let p = policy();
        let m = p.match_path(Path::new("/etc/ssl/../passwd")).unwrap();
        assert_eq!(m.rel, Path::new("../passwd"));
    }

    #[test]
    fn roots_are_validated() {
        let mut p = Policy::new();
        assert!(p.allow_fs("etc", Access::READ).is_err());
        assert!(p.allow_fs("/etc/../root", Access::READ).is_err());
        assert!(p.allow_fs("/etc", Access::NONE).is_err());
        p.allow_fs("/etc", Access::READ).unwrap();
        p.allow_fs("/etc/", Access::WRITE).unwrap();
        assert_eq!(p.fs_rules().len(), 1);
        assert_eq!(p.fs_rules()[0].access, Access::READ | Access::WRITE);
    }

    #[test]
    fn net_targets() {
        let any = NetTarget::parse("127.0.0.1:*").unwrap();
        let one = NetTarget::parse("127.0.0.1:8080").unwrap();
        assert!(any.covers(&one));
        assert!(!one.covers(&NetTarget::parse("127.0.0.1:8081").unwrap()));
        assert!(NetTarget::parse("[::1]:53")
            .unwrap()
            .covers(&NetTarget::parse("[::1]:53").unwrap()));
        assert!(NetTarget::parse("localhost:80").is_err());
        assert!(NetTarget::parse("unix:rel").is_err());
        assert!(NetTarget::parse("1.2.3.4").is_err());
        let all = NetTarget::parse("*").unwrap();
        assert!(all.covers(&one) && all.covers(&NetTarget::parse("unix:/run/x").unwrap()));
        assert!(!one.covers(&all));
        assert_eq!(all.to_string(), "*");
    }

    #[test]
    fn sysctl_rules_match_whole_components() {
        let node = SysctlRule::parse("kern.pid_max").unwrap();
        assert!(node.covers("kern.pid_max"));
        assert!(!node.covers("kern.pid_max2") && !node.covers("kern.pid_max.x") && !node.covers("kern"));
        let tree = SysctlRule::parse("kern.proc.*").unwrap();
        assert!(tree.covers("kern.proc.pid.1"));
        assert!(!tree.covers("kern.proc") && !tree.covers("kern.procx.a") && !tree.covers("kern.proc."));
        assert!(SysctlRule::parse("*").unwrap().covers("hw.availpages"));
        for bad in [
            "", ".", "kern.", ".kern", "kern..x", "kern.*.x", "kern*", "kern x", "kern.p\0", "**",
        ] {
            assert!(SysctlRule::parse(bad).is_err(), "{bad:?}");
        }
        assert!(SysctlRule::parse(&"a.".repeat(200)).is_err(), "too long");
        let needed = |s: &str| SysctlRule::for_node(s).unwrap().to_string();
        assert_eq!(needed("kern.pid_max"), "kern.pid_max");
        assert_eq!(needed("kern.proc.pid.1234"), "kern.proc.pid.*");
        assert_eq!(needed("kern.proc.args.12.3"), "kern.proc.args.*");
        assert!(SysctlRule::for_node("../etc").is_err());
        let mut p = Policy::new();
        p.allow_sysctl(tree).allow_sysctl(node.clone()).allow_sysctl(node);
        assert_eq!(p.sysctl_rules().len(), 2);
        assert_eq!(p.match_sysctl("kern.pid_max"), Some(1));
        assert_eq!(p.match_sysctl("kern.proc.all"), Some(0));
        assert_eq!(p.match_sysctl("hw.physmem"), None);
    }

    #[test]
    fn numbers_after_a_name_are_a_nodes_arguments() {
        let n = |s: &str| sysctl_node_args(&s.split('.').collect::<Vec<_>>());
        assert_eq!(n("kern.proc.pid.1"), 1);
        assert_eq!(n("kern.proc.pgrp.-1"), 1);
        assert_eq!(n("kern.proc.args.12.3"), 2);
        assert_eq!(n("kern.pid_max"), 0);
        assert_eq!(n("0.1.2"), 2, "at least one component stays a name");
        assert_eq!(n("kern.proc.99999999999"), 0, "not an int");
    }

    #[test]
    fn toml_round_trip() {
        let text = r#"
            [[fs]]
            path = "/etc/ssl"
            access = ["read"]
            [[fs]]
            path = "/var/tmp/app"
            access = ["read", "write", "create"]
            [[fs]]
            path = "/bin/sh"
            access = ["exec"]
            [net]
            connect = ["127.0.0.1:8080", "[::1]:*", "unix:/run/x.sock"]
            bind = ["127.0.0.1:0"]
            [sysctl]
            read = ["kern.pid_max", "kern.proc.pid.*"]
        "#;
        let p = Policy::from_toml(text).unwrap();
        assert_eq!(p.sysctl_rules().len(), 2);
        assert_eq!(p.fs_rules().len(), 3);
        // exec is its own mode, not part of ALL.
        assert_eq!(p.fs_rules()[2].access, Access::EXEC);
        assert!(!Access::ALL.contains(Access::EXEC));
        assert_eq!(p.connect_rules().len(), 3);
        assert_eq!(Policy::from_toml(&p.to_toml()).unwrap(), p);
    }

    #[test]
    fn malformed_toml_is_a_clear_error() {
        for (text, needle) in [
            ("[[fs]]\npath = \"/x\"\naccess = [\"execute\"]", "unknown access"),
            ("[[fs]]\npath = \"x\"\naccess = [\"read\"]", "not absolute"),
            ("[[fs]]\npath = \"/x\"\nacess = [\"read\"]", "unknown field"),
            ("[net]\nconnect = [\"nope\"]", "bad address"),
            ("[[fs]]\npath = \"/x\"", "missing field"),
            ("fs = 3", "invalid type"),
            ("[sysctl]\nread = [\"kern..x\"]", "sysctl rule"),
            ("[sysctl]\nread = [\"kern.*.x\"]", "sysctl rule"),
            ("[sysctl]\nread = [\"\"]", "sysctl rule"),
            ("[sysctl]\nwrite = [\"kern.x\"]", "unknown field"),
        ] {
            let e = Policy::from_toml(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?} gave {e:?}");
        }
    }
}
