//! Resolving a path beneath a root without trusting the kernel's `..`
//! check (FreeBSD; issue #10).
//!
//! In stock FreeBSD 15.1, `..` from a directory descriptor that is the
//! root of a mounted file system leaves it, in capability mode and under
//! `O_RESOLVE_BENEATH` alike (kernel-patches/README.md, *Security note*;
//! patch 1 fixes it). A policy root that is a mount point (a tmpfs, a
//! nullfs, /dev) would then be left with `root/../x`, or with a symlink
//! `root/l -> ../x`. So on FreeBSD the broker never hands the kernel a
//! `..`:
//!
//! - [`climbs_above`], before anything is opened: a path relative to its
//!   rule's root whose `..` lexically climb above that root is refused.
//! - [`walk`]: the path is walked one name at a time from the root,
//!   each `openat` given a single name with `O_NOFOLLOW`. `..` pops the
//!   directory the walk came from, and a relative symlink's target is
//!   spliced into the rest of the path; with `no_symlinks` every symlink
//!   is refused with ELOOP. What is popped is a directory the walk
//!   itself opened, never a symlink, so the result is the POSIX one,
//!   except under concurrent renames, where it stays beneath the root.
//!   A symlink that leads out of the root (an absolute target, or `..`
//!   above the root that only a symlink can cause once [`climbs_above`]
//!   passed) ends the walk with [`Walked::Left`]: the path to go on
//!   with, which the broker decides again from scratch under the policy
//!   and walks beneath that rule's root (issue #11). Nothing outside the
//!   root is ever opened here.
//!
//! Plain POSIX calls. The broker walks with it on FreeBSD always, and
//! on Linux when `openat2(RESOLVE_BENEATH)` (which has no `..` bug)
//! reports that a lookup left the root (EXDEV).
use std::collections::VecDeque;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

/// The errno of a walk that tried to leave its root (what the broker's
/// `is_escape` recognises).
#[cfg(target_os = "freebsd")]
pub(crate) const ESCAPE: i32 = libc::ENOTCAPABLE;
#[cfg(not(target_os = "freebsd"))]
pub(crate) const ESCAPE: i32 = libc::EXDEV;

/// Most symlinks one lookup follows, all the broker's rounds together:
/// the kernel's own bound (FreeBSD's MAXSYMLINKS, Linux's 40), beyond
/// which the call fails with ELOOP.
#[cfg(target_os = "freebsd")]
pub(crate) const MAX_LINKS: usize = 32;
#[cfg(not(target_os = "freebsd"))]
pub(crate) const MAX_LINKS: usize = 40;

/// Where a [`walk`] ended.
#[derive(Debug)]
pub(crate) enum Walked {
    /// The last name, opened with the caller's flags.
    Opened(OwnedFd),
    /// A symlink led out of the root: the path to go on with. Absolute
    /// (an absolute target, then the names after the link), or relative
    /// to the root and starting with `..` (a relative target that climbed
    /// above it, from where it did so). The caller decides it again.
    Left(Vec<u8>),
}

/// Whether the `..` of `rel` (relative to a rule's root) lexically climb
/// above the root: `../x`, `a/../../x`. Pure; `.` is ignored.
pub(crate) fn climbs_above(rel: &Path) -> bool {
    let mut depth = 0usize;
    for c in rel.components() {
        match c {
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return true,
            },
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            // An absolute rel is not beneath anything.
            Component::RootDir | Component::Prefix(_) => return true,
        }
    }
    false
}

/// The names of `p` in order, without empty ones and `.`, plus a final
/// `.` when `p` is `.` or ends in `/`, `/.` or `..` (the walk must then
/// open the directory itself).
fn names(p: &[u8]) -> VecDeque<Vec<u8>> {
    let mut q: VecDeque<Vec<u8>> = p
        .split(|&b| b == b'/')
        .filter(|n| !n.is_empty() && *n != b".")
        .map(<[u8]>::to_vec)
        .collect();
    let last = p.rsplit(|&b| b == b'/').next().unwrap_or(b"");
    if q.is_empty() || last.is_empty() || last == b"." {
        q.push_back(b".".to_vec());
    }
    q
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

#[cfg(target_os = "freebsd")]
const BENEATH: i32 = libc::O_RESOLVE_BENEATH;
#[cfg(not(target_os = "freebsd"))]
const BENEATH: i32 = 0;

fn openat(dir: RawFd, name: &CString, flags: i32, mode: u32) -> Result<OwnedFd, i32> {
    // SAFETY: a C string; we own the returned descriptor.
    let fd = unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            flags | libc::O_CLOEXEC | BENEATH,
            mode as libc::c_int,
        )
    };
    if fd < 0 {
        Err(errno())
    } else {
        // SAFETY: fresh descriptor.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

fn is_link_at(dir: RawFd, name: &CString) -> bool {
    // SAFETY: a zeroed stat buffer and a C string.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) == 0
            && st.st_mode & libc::S_IFMT == libc::S_IFLNK
    }
}

fn is_link_fd(fd: RawFd) -> bool {
    // SAFETY: as above.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFLNK
    }
}

/// Whether a symlink with an absolute target in `dir` is a magic link
/// (Linux: `/proc/<pid>/fd/N`, `cwd`, `root`, `exe`). Its text names a file
/// of the process walking, the broker: `/dev/stdin` would be the broker's
/// stdin. Refused with ELOOP, as `RESOLVE_NO_MAGICLINKS` does; procfs's
/// plain links (`self`, `mounts`, `net`) are relative and followed.
#[cfg(target_os = "linux")]
fn magic(dir: RawFd) -> bool {
    // SAFETY: a zeroed statfs buffer.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::fstatfs(dir, &mut st) == 0 && st.f_type == libc::PROC_SUPER_MAGIC
    }
}

#[cfg(not(target_os = "linux"))]
fn magic(_dir: RawFd) -> bool {
    false
}

/// Errors `O_NOFOLLOW` gives for a symlink (FreeBSD EMLINK, Linux ELOOP;
/// ENOTDIR with O_DIRECTORY).
fn maybe_link(e: i32) -> bool {
    e == libc::ELOOP || e == libc::EMLINK || e == libc::ENOTDIR
}

/// Opens `rel` beneath `root` with `flags` and `mode`, leaving it
/// nowhere: [`walk`], with a symlink that leads out of the root refused
/// with [`ESCAPE`] (the walk as it was before links were followed out
/// of roots; the unit tests' view of it).
#[cfg(test)]
pub(crate) fn open_beneath(root: RawFd, rel: &[u8], flags: i32, mode: u32, no_symlinks: bool) -> Result<OwnedFd, i32> {
    match walk(root, rel, flags, mode, no_symlinks, &mut 0)? {
        Walked::Opened(fd) => Ok(fd),
        Walked::Left(_) => Err(ESCAPE),
    }
}

/// `rest` (names, as [`names`] left them) after `head`, `/`-separated.
fn joined(head: &[u8], rest: &VecDeque<Vec<u8>>) -> Vec<u8> {
    let mut p = head.to_vec();
    for n in rest {
        if p.last() != Some(&b'/') {
            p.push(b'/');
        }
        p.extend_from_slice(n);
    }
    p
}

/// Walks `rel` beneath `root` and opens its last name with `flags` and
/// `mode` (see the module documentation): never a `..` or a multi-name
/// path to the kernel. `..` of `rel` itself above `root` fails with
/// [`ESCAPE`]; a symlink that leads out of `root` ends the walk with
/// [`Walked::Left`]; with `no_symlinks` any symlink fails with ELOOP.
/// `*links` counts the symlinks followed (the caller's rounds share it);
/// beyond [`MAX_LINKS`], ELOOP. `O_NOFOLLOW` in `flags` keeps its meaning
/// for the last name, and so does `O_CREAT`: through a dangling symlink
/// the target is created (or, outside the root, decided by the caller).
pub(crate) fn walk(
    root: RawFd,
    rel: &[u8],
    flags: i32,
    mode: u32,
    no_symlinks: bool,
    links: &mut usize,
) -> Result<Walked, i32> {
    if rel.is_empty() {
        return Err(libc::ENOENT);
    }
    if rel.first() == Some(&b'/') || climbs_above(Path::new(std::ffi::OsStr::from_bytes(rel))) {
        return Err(ESCAPE);
    }
    let follow_last = flags & libc::O_NOFOLLOW == 0;
    let mut q = names(rel);
    let mut stack: Vec<OwnedFd> = Vec::new();
    // Whether a symlink was spliced in: only then can `..` reach above
    // the root (climbs_above refused the path's own).
    let mut spliced = false;
    while let Some(n) = q.pop_front() {
        let last = q.is_empty();
        if n == b".." {
            if stack.is_empty() {
                if !spliced {
                    return Err(ESCAPE);
                }
                return Ok(Walked::Left(joined(b"..", &q)));
            }
            stack.pop();
            if last {
                q.push_back(b".".to_vec());
            }
            continue;
        }
        if n == b"." && !last {
            continue;
        }
        let dir = stack.last().map_or(root, |f| f.as_raw_fd());
        let name = CString::new(n).map_err(|_| libc::EINVAL)?;
        let r = if last {
            let nofollow = if name.as_bytes() == b"." { 0 } else { libc::O_NOFOLLOW };
            openat(dir, &name, flags | nofollow, mode)
        } else {
            openat(dir, &name, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)
        };
        let link = match &r {
            // O_PATH|O_NOFOLLOW may open the link itself.
            Ok(fd) => (!last || follow_last) && is_link_fd(fd.as_raw_fd()),
            Err(e) => (!last || follow_last) && maybe_link(*e) && is_link_at(dir, &name),
        };
        if !link {
            let fd = r?;
            if last {
                return Ok(Walked::Opened(fd));
            }
            stack.push(fd);
            continue;
        }
        drop(r);
        if no_symlinks {
            return Err(libc::ELOOP);
        }
        *links += 1;
        if *links > MAX_LINKS {
            return Err(libc::ELOOP);
        }
        let mut buf = [0u8; libc::PATH_MAX as usize];
        // SAFETY: buf has buf.len() bytes.
        let len = unsafe { libc::readlinkat(dir, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if len < 0 {
            return Err(errno());
        }
        let target = &buf[..len as usize];
        if target.is_empty() {
            return Err(libc::ENOENT);
        }
        if target[0] == b'/' {
            if magic(dir) {
                return Err(libc::ELOOP);
            }
            return Ok(Walked::Left(joined(target, &q)));
        }
        spliced = true;
        for t in names(target).into_iter().rev() {
            q.push_front(t);
        }
    }
    Err(libc::ENOENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn lexical_climb() {
        for (p, up) in [
            ("x", false),
            (".", false),
            ("a/../b", false),
            ("a/b/../../c", false),
            ("..", true),
            ("../x", true),
            ("a/../../x", true),
            ("./a/./../..", true),
            ("a/b/../../../secret", true),
        ] {
            assert_eq!(climbs_above(Path::new(p)), up, "{p}");
        }
    }

    #[test]
    fn names_keep_a_final_directory() {
        let v = |p: &str| {
            names(p.as_bytes())
                .into_iter()
                .map(|n| String::from_utf8(n).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(v("a//b/./c"), ["a", "b", "c"]);
        assert_eq!(v("a/"), ["a", "."]);
        assert_eq!(v("."), ["."]);
        assert_eq!(v("a/.."), ["a", ".."]);
        assert_eq!(v("a/."), ["a", "."]);
    }

    struct Tree {
        _dir: tempfile::TempDir,
        root: OwnedFd,
        path: std::path::PathBuf,
    }

    /// root/{f, d/g, up -> ../secret, abs -> /etc, ok -> d/g, dl -> d,
    /// loop -> loop}, and secret beside root.
    fn tree() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::write(root.join("f"), "f").unwrap();
        std::fs::write(root.join("d/g"), "g").unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        for (l, t) in [
            ("up", "../secret"),
            ("abs", "/etc"),
            ("ok", "d/g"),
            ("dl", "d"),
            ("loop", "loop"),
            ("dup", "d/../../secret"),
        ] {
            std::os::unix::fs::symlink(t, root.join(l)).unwrap();
        }
        let c = CString::new(root.as_os_str().as_bytes()).unwrap();
        // SAFETY: a C string.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        assert!(fd >= 0);
        Tree {
            _dir: dir,
            // SAFETY: fresh descriptor.
            root: unsafe { OwnedFd::from_raw_fd(fd) },
            path: root,
        }
    }

    fn read(t: &Tree, p: &str) -> Result<String, i32> {
        let fd = open_beneath(t.root.as_raw_fd(), p.as_bytes(), libc::O_RDONLY, 0, false)?;
        let mut s = String::new();
        use std::io::Read;
        std::fs::File::from(fd)
            .read_to_string(&mut s)
            .map_err(|e| e.raw_os_error().unwrap())?;
        Ok(s)
    }

    #[test]
    fn walks_names_dotdot_and_symlinks_beneath_the_root() {
        let t = tree();
        assert_eq!(read(&t, "f").unwrap(), "f");
        assert_eq!(read(&t, "d/g").unwrap(), "g");
        assert_eq!(read(&t, "d/../f").unwrap(), "f");
        assert_eq!(read(&t, "./d/./g").unwrap(), "g");
        assert_eq!(read(&t, "ok").unwrap(), "g");
        assert_eq!(read(&t, "dl/g").unwrap(), "g");
        assert_eq!(
            read(&t, "dl/../f").unwrap(),
            "f",
            "'..' after a symlink is the target's parent"
        );
        assert_eq!(read(&t, "nope"), Err(libc::ENOENT));
        assert_eq!(read(&t, "f/x"), Err(libc::ENOTDIR));
    }

    #[test]
    fn nothing_leaves_the_root() {
        let t = tree();
        for p in [
            "../secret",
            "d/../../secret",
            "up",
            "dup",
            "dl/../../secret",
            "abs",
            "abs/passwd",
            "/etc/passwd",
        ] {
            assert_eq!(read(&t, p), Err(ESCAPE), "{p}");
        }
        assert_eq!(read(&t, "loop"), Err(libc::ELOOP));
        assert_eq!(
            open_beneath(t.root.as_raw_fd(), b"ok", libc::O_RDONLY, 0, true).err(),
            Some(libc::ELOOP),
            "no_symlinks"
        );
    }

    fn walked(t: &Tree, p: &str, flags: i32, links: &mut usize) -> Result<Result<String, String>, i32> {
        Ok(match walk(t.root.as_raw_fd(), p.as_bytes(), flags, 0, false, links)? {
            Walked::Opened(fd) => {
                let mut s = String::new();
                use std::io::Read;
                std::fs::File::from(fd).read_to_string(&mut s).unwrap();
                Ok(s)
            }
            Walked::Left(to) => Err(String::from_utf8(to).unwrap()),
        })
    }

    #[test]
    fn links_out_of_the_root_end_the_walk_with_where_they_lead() {
        let t = tree();
        let left = |p: &str| walked(&t, p, libc::O_RDONLY, &mut 0);
        assert_eq!(left("abs"), Ok(Err("/etc".into())));
        assert_eq!(left("abs/passwd"), Ok(Err("/etc/passwd".into())));
        assert_eq!(left("dl/../abs/./x/"), Ok(Err("/etc/x/.".into())));
        // Relative to the root, from where the link climbed above it.
        assert_eq!(left("up"), Ok(Err("../secret".into())));
        assert_eq!(left("dup"), Ok(Err("../secret".into())));
        assert_eq!(left("d/../up/x"), Ok(Err("../secret/x".into())));
        // The path's own `..` above the root is no link's doing: refused.
        assert_eq!(left("../secret"), Err(ESCAPE));
        assert_eq!(left("dl/../../secret"), Err(ESCAPE));
        // O_NOFOLLOW: the last name is not followed.
        assert_eq!(
            walked(&t, "abs", libc::O_RDONLY | libc::O_NOFOLLOW, &mut 0),
            Err(libc::ELOOP)
        );
        // The count goes on across the caller's rounds.
        let mut links = MAX_LINKS - 1;
        assert_eq!(walked(&t, "ok", libc::O_RDONLY, &mut links), Ok(Ok("g".into())));
        assert_eq!(links, MAX_LINKS);
        assert_eq!(walked(&t, "ok", libc::O_RDONLY, &mut links), Err(libc::ELOOP));
        assert_eq!(
            walk(t.root.as_raw_fd(), b"abs", libc::O_RDONLY, 0, true, &mut 0).err(),
            Some(libc::ELOOP),
            "no_symlinks follows none"
        );
    }

    #[test]
    fn last_name_flags_keep_their_meaning() {
        let t = tree();
        let r = t.root.as_raw_fd();
        // O_NOFOLLOW on a symlink fails as the kernel says.
        assert!(open_beneath(r, b"ok", libc::O_RDONLY | libc::O_NOFOLLOW, 0, false).is_err());
        // The directory itself, and one named with a trailing slash.
        assert!(open_beneath(r, b".", libc::O_RDONLY | libc::O_DIRECTORY, 0, false).is_ok());
        assert!(open_beneath(r, b"d/", libc::O_RDONLY | libc::O_DIRECTORY, 0, false).is_ok());
        assert!(open_beneath(r, b"d/..", libc::O_RDONLY | libc::O_DIRECTORY, 0, false).is_ok());
        assert_eq!(
            open_beneath(r, b"f/", libc::O_RDONLY, 0, false).err(),
            Some(libc::ENOTDIR)
        );
        // Creating through the walk, and O_EXCL on a symlink.
        let fd = open_beneath(
            r,
            b"d/../new",
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
            0o600,
            false,
        )
        .unwrap();
        drop(fd);
        assert!(t.path.join("new").exists());
        assert_eq!(
            open_beneath(r, b"ok", libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o600, false).err(),
            Some(libc::EEXIST)
        );
        // O_PATH stat-style opens follow the link unless asked not to.
        let fd = open_beneath(r, b"ok", libc::O_PATH, 0, false).unwrap();
        assert!(!is_link_fd(fd.as_raw_fd()));
    }
}
