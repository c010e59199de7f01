//! The file-policy decision, shared by the broker and the Linux handler's
//! fast path.
//!
//! Pure and allocation-free: it reads the policy and a path as borrowed
//! bytes and writes the path relative to the chosen root into a buffer
//! the caller provides, so the signal handler runs exactly the code the
//! broker runs, and the two cannot drift apart. Nothing here touches the
//! system; resolution beneath the root's descriptor (where `..` and
//! symlinks are checked by the kernel) is the caller's.
use crate::policy::{Access, Policy};
use crate::proto::Op;
use std::os::unix::ffi::OsStrExt;

/// Where an absolute path falls under the policy's file rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FsMatch {
    /// Index into [`Policy::fs_rules`]: the most specific root holding the path.
    pub rule: usize,
    /// What that rule grants.
    pub granted: Access,
    /// A rule granting less lies beneath this one's root: resolution must
    /// follow no symlink (and `..` after a name was refused already).
    pub strict: bool,
    /// Bytes of the relative path written to the caller's buffer (`.`
    /// for the root itself).
    pub rel_len: usize,
}

/// Why a path is refused before anything is looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FsDenial {
    /// No rule's root holds the path (or it is not absolute).
    NoRule,
    /// `..` after a name beneath a root that holds a narrower rule.
    Escape,
    /// The rule does not grant what the operation needs.
    Access,
    /// The relative path does not fit the caller's buffer.
    TooLong,
}

/// The components of `p` after its root, as `std::path::Path::components`
/// yields them for an absolute Unix path: empty ones and `.` dropped,
/// `..` kept.
fn components(p: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    p.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".")
}

/// How many components `root` has if it is a component-wise prefix of
/// `abs` (`Path::starts_with`), else None.
fn depth_if_beneath(abs: &[u8], root: &[u8]) -> Option<usize> {
    let mut a = components(abs);
    let mut depth = 0;
    for r in components(root) {
        if a.next() != Some(r) {
            return None;
        }
        depth += 1;
    }
    Some(depth)
}

/// The first rule whose root lies strictly beneath the absolute path
/// `abs` (whole components, no `..`): `abs` is then a directory on the way
/// to that root ("/" or "/home" for a root /home/u/p). Programs stat such
/// ancestors (rm -r lstat()s "/" first); the broker answers that stat, and
/// only that, without a rule of its own.
pub(crate) fn ancestor_of_root(policy: &Policy, abs: &[u8]) -> Option<usize> {
    if abs.first() != Some(&b'/') || components(abs).any(|c| c == b"..") {
        return None;
    }
    let n = components(abs).count();
    policy.fs_rules().iter().position(|r| {
        let root = r.root.as_os_str().as_bytes();
        components(root).count() > n && depth_if_beneath(root, abs).is_some()
    })
}

/// Whether the root of a rule that grants less than rule `i` lies beneath
/// rule `i`'s (nested rules that grant as much or more cannot be bypassed
/// by reaching them under rule `i`).
pub(crate) fn nested_narrower(policy: &Policy, i: usize) -> bool {
    let rules = policy.fs_rules();
    let outer = rules[i].root.as_os_str().as_bytes();
    rules.iter().enumerate().any(|(j, r)| {
        j != i
            && depth_if_beneath(r.root.as_os_str().as_bytes(), outer).is_some()
            && !r.access.contains(rules[i].access)
    })
}

/// Finds the most specific rule whose root holds the absolute path `abs`
/// (whole components; the longest root wins, as
/// [`Policy::match_path`]) and writes the rest of the path, relative to
/// that root, into `rel`.
///
/// The rule is chosen on the path as spelled: W read-write with W/ro
/// read-only inside it makes W/ro/f read-only. Resolution beneath W would
/// not keep that promise if the spelling were not the real path
/// (`W/x/../ro/f` and a symlink `W/l -> ro` both match W but land in
/// W/ro), so beneath a root with a narrower one inside it `..` after a
/// name is refused here, and [`FsMatch::strict`] tells the caller to
/// follow no symlink. Elsewhere resolution beneath the root is enough.
pub(crate) fn match_fs(policy: &Policy, abs: &[u8], rel: &mut [u8]) -> Result<FsMatch, FsDenial> {
    if abs.first() != Some(&b'/') {
        return Err(FsDenial::NoRule);
    }
    let mut best: Option<(usize, usize)> = None;
    for (i, r) in policy.fs_rules().iter().enumerate() {
        if let Some(depth) = depth_if_beneath(abs, r.root.as_os_str().as_bytes()) {
            if best.is_none_or(|(_, d)| depth > d) {
                best = Some((i, depth));
            }
        }
    }
    let (rule, depth) = best.ok_or(FsDenial::NoRule)?;
    let mut n = 0;
    let mut dotdot = false;
    for c in components(abs).skip(depth) {
        dotdot |= c == b"..";
        let sep = usize::from(n > 0);
        if n + sep + c.len() > rel.len() {
            return Err(FsDenial::TooLong);
        }
        if sep == 1 {
            rel[n] = b'/';
        }
        rel[n + sep..n + sep + c.len()].copy_from_slice(c);
        n += sep + c.len();
    }
    if n == 0 {
        *rel.first_mut().ok_or(FsDenial::TooLong)? = b'.';
        n = 1;
    }
    let strict = nested_narrower(policy, rule);
    if strict && dotdot {
        return Err(FsDenial::Escape);
    }
    Ok(FsMatch {
        rule,
        granted: policy.fs_rules()[rule].access,
        strict,
        rel_len: n,
    })
}

/// [`match_fs`], then whether the rule grants what `op` with `flags`
/// needs ([`required_access`]).
pub(crate) fn decide_fs(policy: &Policy, op: Op, flags: i32, abs: &[u8], rel: &mut [u8]) -> Result<FsMatch, FsDenial> {
    let m = match_fs(policy, abs, rel)?;
    if !m.granted.contains(required_access(op, flags)) {
        return Err(FsDenial::Access);
    }
    Ok(m)
}

/// open(2) flags a request may carry; anything else is refused with
/// EINVAL. The result adds O_CLOEXEC and O_NOCTTY.
pub(crate) fn check_open_flags(flags: i32) -> Result<i32, i32> {
    let mut allowed = libc::O_ACCMODE
        | libc::O_CREAT
        | libc::O_EXCL
        | libc::O_NOCTTY
        | libc::O_TRUNC
        | libc::O_APPEND
        | libc::O_NONBLOCK
        | libc::O_SYNC
        | libc::O_DSYNC
        | libc::O_DIRECTORY
        | libc::O_NOFOLLOW
        | libc::O_CLOEXEC
        | libc::O_PATH
        | libc::O_DIRECT;
    #[cfg(target_os = "linux")]
    {
        allowed |= libc::O_LARGEFILE | libc::O_NOATIME | libc::O_TMPFILE;
    }
    #[cfg(target_os = "freebsd")]
    {
        allowed |= libc::O_EXLOCK | libc::O_SHLOCK | libc::O_FSYNC | libc::O_VERIFY | crate::sys::O_CLOFORK;
        // O_SEARCH (FreeBSD's O_EXEC) on a directory: a descriptor for
        // lookups beneath it (cp -R opens its target so), read-only like
        // any directory open. O_EXEC on a file (for fexecve) stays
        // refused: a program is run through execve's brokered form.
        if flags & libc::O_SEARCH != 0 {
            if flags & libc::O_DIRECTORY == 0 || flags & libc::O_ACCMODE != libc::O_RDONLY {
                return Err(libc::EINVAL);
            }
            allowed |= libc::O_SEARCH;
        }
    }
    if flags & !allowed != 0 {
        return Err(libc::EINVAL);
    }
    // With O_PATH open(2) ignores every flag but these, and openat2(2),
    // which the broker and the fast path resolve with, refuses the rest
    // (O_NOCTTY, O_RDWR...) with EINVAL: glibc's lchmod emulation opens
    // with O_PATH and a mode register it never cleared.
    #[cfg(target_os = "linux")]
    if flags & libc::O_PATH != 0 {
        return Ok((flags | libc::O_CLOEXEC) & (libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC));
    }
    Ok(flags | libc::O_CLOEXEC | libc::O_NOCTTY)
}

/// Which access an operation needs under a rule.
pub(crate) fn required_access(op: Op, flags: i32) -> Access {
    match op {
        Op::Open => {
            let mut a = Access::NONE;
            #[cfg(target_os = "linux")]
            let tmpfile = flags & libc::O_TMPFILE == libc::O_TMPFILE;
            #[cfg(not(target_os = "linux"))]
            let tmpfile = false;
            match flags & libc::O_ACCMODE {
                libc::O_RDONLY => a |= Access::READ,
                libc::O_WRONLY => a |= Access::WRITE,
                _ => a |= Access::READ | Access::WRITE,
            }
            if flags & (libc::O_TRUNC | libc::O_APPEND) != 0 {
                a |= Access::WRITE;
            }
            if flags & libc::O_CREAT != 0 || tmpfile {
                a |= Access::CREATE;
            }
            if flags & libc::O_PATH != 0 {
                a = Access::READ;
            }
            a
        }
        // chdir looks the directory up, as stat does; the working
        // directory grants nothing by itself: every lookup from it is
        // decided again, by path.
        Op::Stat | Op::Statx | Op::Access | Op::Readlink | Op::Chdir => Access::READ,
        Op::GetXattr | Op::ListXattr | Op::Pathconf | Op::Statfs => Access::READ,
        Op::Mkdir | Op::Mknod => Access::CREATE,
        // A script's interpreter is decided again, as a program of its own.
        Op::Exec => Access::EXEC,
        // The symlink's target is content, never looked up here: only
        // the place where the link is made counts.
        Op::Symlink => Access::CREATE,
        Op::Unlink => Access::WRITE,
        // An exchange moves the target onto the source's name too.
        Op::Rename if flags & crate::proto::RENAME_EXCHANGE != 0 => Access::WRITE | Access::CREATE,
        Op::Rename => Access::WRITE,
        // A hard link is a second name with the file's own access: only
        // a file the program may already read and write gets one, so a
        // link into a writable tree cannot make a read-only file writable.
        Op::Link => Access::READ | Access::WRITE,
        Op::Chmod | Op::Chown | Op::Utimes | Op::Truncate | Op::SetXattr | Op::RemoveXattr => Access::WRITE,
        Op::Connect | Op::Bind | Op::Sendto | Op::Listen | Op::Sysctl => Access::NONE,
    }
}

/// Which access the second place of `op` (rename's and link's target,
/// `path2`) needs under its own rule: create, and for an exchange also
/// write (what was there moves away).
pub(crate) fn required_access2(op: Op, flags: i32) -> Access {
    match op {
        Op::Rename if flags & crate::proto::RENAME_EXCHANGE != 0 => Access::WRITE | Access::CREATE,
        Op::Rename | Op::Link => Access::CREATE,
        _ => Access::NONE,
    }
}

/// The access a trapped system call (number and raw arguments, as a
/// record has them) needs under the rule of each place it names: the
/// first path, and the second one of a rename or a link (`NONE` when the
/// call has none; a symlink's target is content, not a place). None for a
/// call the broker has no form for, or one that names no path. The same
/// table the broker decides by, for tools that read records
/// (sigcap-run's suggested policy).
pub fn access_for_call(syscall: i64, args: [u64; 6]) -> Option<(Access, Access)> {
    let c = crate::syscall::decode(syscall, args)?;
    if !c.op.has_path() {
        return None;
    }
    Some((required_access(c.op, c.flags), required_access2(c.op, c.flags)))
}

/// Whether a rename may replace what is at its target, whose rule grants
/// `target`: replacing destroys a file, which takes write there (as
/// Landlock's REMOVE_FILE does); without it the broker renames with
/// RENAME_NOREPLACE and the program gets EEXIST.
pub(crate) fn rename_may_replace(target: Access) -> bool {
    target.contains(Access::WRITE)
}

/// The mode bits a brokered chmod (or mknod) may set: not set-user-ID or
/// set-group-ID. A set-id file made in the sandbox would carry the
/// broker's identity (root, for `tar` as root) to whoever runs it
/// outside; the sticky bit and the permissions are the program's.
// mode_t is u32 on Linux, u16 on FreeBSD: the casts are needed there.
#[allow(clippy::unnecessary_cast)]
pub(crate) fn chmod_allowed(mode: u32) -> bool {
    mode & (libc::S_ISUID as u32 | libc::S_ISGID as u32) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn policy() -> Policy {
        let mut p = Policy::new();
        p.allow_fs("/etc/ssl", Access::READ).unwrap();
        p.allow_fs("/var/tmp/app/", Access::ALL).unwrap();
        p.allow_fs("/var/tmp/app/ro", Access::READ).unwrap();
        p.allow_fs("/srv", Access::READ | Access::WRITE).unwrap();
        p.allow_fs("/srv/more", Access::ALL).unwrap();
        p
    }

    fn m(p: &Policy, abs: &str) -> Result<(usize, String, bool), FsDenial> {
        let mut rel = [0u8; 256];
        let m = match_fs(p, abs.as_bytes(), &mut rel)?;
        Ok((m.rule, String::from_utf8(rel[..m.rel_len].to_vec()).unwrap(), m.strict))
    }

    #[test]
    fn ancestors_of_roots_only_strict_and_without_dotdot() {
        let p = policy();
        // rule 0 is /etc/ssl, rule 1 /var/tmp/app, rule 3 /srv.
        assert_eq!(ancestor_of_root(&p, b"/"), Some(0));
        assert_eq!(ancestor_of_root(&p, b"/etc"), Some(0));
        assert_eq!(ancestor_of_root(&p, b"//etc/./"), Some(0));
        assert_eq!(ancestor_of_root(&p, b"/var/tmp"), Some(1));
        // A root itself, or anything beneath it, is the rule's to decide.
        assert_eq!(ancestor_of_root(&p, b"/etc/ssl"), None);
        assert_eq!(ancestor_of_root(&p, b"/srv/x"), None);
        // Not on the way to a root; spelled with `..`; relative.
        assert_eq!(ancestor_of_root(&p, b"/usr"), None);
        assert_eq!(ancestor_of_root(&p, b"/etcx"), None);
        assert_eq!(ancestor_of_root(&p, b"/var/tmp/../../etc"), None);
        assert_eq!(ancestor_of_root(&p, b"/etc/.."), None);
        assert_eq!(ancestor_of_root(&p, b"etc"), None);
    }

    #[test]
    fn agrees_with_the_policys_own_matching() {
        let p = policy();
        for abs in [
            "/etc/ssl",
            "/etc/ssl/",
            "/etc/ssl/./certs//ca.pem",
            "/etc/ssl/../passwd",
            "//etc/ssl/x/.",
            "/etc/sslx/key",
            "/etc/passwd",
            "/var/tmp/app/ro/x",
            "/var/tmp/app/./a/b",
            "/var/tmp/app/rox",
            "/srv/more/../x",
            "/srv/a/../../etc",
            "/",
        ] {
            let want = p.match_path(Path::new(abs));
            match (m(&p, abs), want) {
                (Ok((rule, rel, _)), Some(w)) => {
                    assert_eq!((rule, Path::new(&rel)), (w.rule, w.rel.as_path()), "{abs}");
                    assert_eq!(rel, w.rel.to_str().unwrap(), "{abs}: same bytes");
                }
                (Err(FsDenial::NoRule), None) => {}
                (Err(FsDenial::Escape), Some(w)) => assert!(nested_narrower(&p, w.rule), "{abs}"),
                (got, want) => panic!("{abs}: {got:?} vs {want:?}"),
            }
        }
        assert_eq!(m(&p, "relative/etc/ssl"), Err(FsDenial::NoRule));
    }

    #[test]
    fn narrower_nested_roots_make_the_outer_strict() {
        let p = policy();
        assert!(m(&p, "/var/tmp/app/x").unwrap().2);
        assert_eq!(m(&p, "/var/tmp/app/x/../ro/f"), Err(FsDenial::Escape));
        assert!(!m(&p, "/var/tmp/app/ro/f").unwrap().2);
        // /srv/more grants more than /srv: nothing to protect beneath /srv.
        assert_eq!(m(&p, "/srv/x/../y").unwrap(), (3, "x/../y".into(), false));
        assert_eq!(m(&p, "/etc/ssl/../../x").unwrap().1, "../../x");
    }

    #[test]
    fn access_and_buffer() {
        let p = policy();
        let mut rel = [0u8; 8];
        assert_eq!(
            decide_fs(&p, Op::Open, libc::O_WRONLY, b"/etc/ssl/f", &mut rel),
            Err(FsDenial::Access)
        );
        assert_eq!(
            decide_fs(&p, Op::Open, libc::O_RDONLY | libc::O_CREAT, b"/etc/ssl/f", &mut rel),
            Err(FsDenial::Access)
        );
        assert!(decide_fs(&p, Op::Stat, 0, b"/etc/ssl/f", &mut rel).is_ok());
        assert_eq!(
            decide_fs(&p, Op::Stat, 0, b"/etc/ssl/a-long-name", &mut rel),
            Err(FsDenial::TooLong)
        );
        assert_eq!(match_fs(&p, b"/etc/ssl", &mut []), Err(FsDenial::TooLong));
    }

    #[test]
    fn access_needed_by_the_brokered_calls() {
        use crate::proto::{RENAME_EXCHANGE, RENAME_NOREPLACE};
        let rw = Access::READ | Access::WRITE;
        let wc = Access::WRITE | Access::CREATE;
        for (op, flags, first, second) in [
            (Op::Rename, 0, Access::WRITE, Access::CREATE),
            (Op::Rename, RENAME_NOREPLACE, Access::WRITE, Access::CREATE),
            (Op::Rename, RENAME_EXCHANGE, wc, wc),
            (Op::Link, 0, rw, Access::CREATE),
            (Op::Link, libc::AT_SYMLINK_FOLLOW, rw, Access::CREATE),
            (Op::Symlink, 0, Access::CREATE, Access::NONE),
            (Op::Mknod, 0, Access::CREATE, Access::NONE),
            (Op::Chmod, 0, Access::WRITE, Access::NONE),
            (Op::Chown, 0, Access::WRITE, Access::NONE),
            (Op::Utimes, 0, Access::WRITE, Access::NONE),
            (Op::Truncate, 0, Access::WRITE, Access::NONE),
            (Op::SetXattr, 0, Access::WRITE, Access::NONE),
            (Op::RemoveXattr, 0, Access::WRITE, Access::NONE),
            (Op::GetXattr, 0, Access::READ, Access::NONE),
            (Op::ListXattr, 0, Access::READ, Access::NONE),
            (Op::Pathconf, 0, Access::READ, Access::NONE),
            (Op::Statfs, 0, Access::READ, Access::NONE),
        ] {
            assert_eq!(required_access(op, flags), first, "{op:?} {flags}");
            assert_eq!(required_access2(op, flags), second, "{op:?} {flags}");
        }
        // A read-only rule's file cannot be linked, renamed or changed.
        let p = policy();
        let mut rel = [0u8; 64];
        for op in [
            Op::Link,
            Op::Rename,
            Op::Chmod,
            Op::Chown,
            Op::Utimes,
            Op::Truncate,
            Op::SetXattr,
        ] {
            assert_eq!(
                decide_fs(&p, op, 0, b"/var/tmp/app/ro/f", &mut rel),
                Err(FsDenial::Access),
                "{op:?}"
            );
        }
        assert!(decide_fs(&p, Op::GetXattr, 0, b"/var/tmp/app/ro/f", &mut rel).is_ok());
        assert!(!rename_may_replace(Access::READ | Access::CREATE));
        assert!(rename_may_replace(Access::ALL));
        assert!(chmod_allowed(0o1777) && !chmod_allowed(0o4755) && !chmod_allowed(0o2755));
    }

    #[test]
    fn access_needed_by_open_flags() {
        use libc::*;
        assert_eq!(required_access(Op::Open, O_RDONLY), Access::READ);
        assert_eq!(
            required_access(Op::Open, O_WRONLY | O_CREAT | O_TRUNC),
            Access::WRITE | Access::CREATE
        );
        assert_eq!(required_access(Op::Open, O_RDWR), Access::READ | Access::WRITE);
        assert_eq!(
            required_access(Op::Open, O_RDONLY | O_APPEND),
            Access::READ | Access::WRITE
        );
        assert!(check_open_flags(0x4000_0000).is_err());
        #[cfg(target_os = "linux")]
        assert_eq!(
            check_open_flags(O_PATH | O_NOFOLLOW | O_RDWR | O_NOCTTY),
            Ok(O_PATH | O_NOFOLLOW | O_CLOEXEC),
            "openat2 refuses O_PATH with other flags"
        );
        // cp -R's target directory: O_SEARCH on a directory needs read;
        // O_EXEC on a file, or searching for writing, is refused.
        #[cfg(target_os = "freebsd")]
        {
            assert_eq!(
                check_open_flags(O_DIRECTORY | O_SEARCH),
                Ok(O_DIRECTORY | O_SEARCH | O_CLOEXEC | O_NOCTTY)
            );
            assert_eq!(required_access(Op::Open, O_DIRECTORY | O_SEARCH), Access::READ);
            assert_eq!(check_open_flags(O_EXEC), Err(EINVAL));
            // tzcode's zone file open (FreeBSD 15): O_CLOFORK passes.
            let clofork = crate::sys::O_CLOFORK;
            assert_eq!(
                check_open_flags(O_RDONLY | O_CLOEXEC | clofork),
                Ok(O_CLOEXEC | clofork | O_NOCTTY)
            );
            assert_eq!(check_open_flags(O_DIRECTORY | O_SEARCH | O_RDWR), Err(EINVAL));
        }
    }
}
