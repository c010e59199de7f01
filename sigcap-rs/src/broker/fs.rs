//! The broker's file operations: a path located under the policy, then
//! resolved and acted on strictly beneath the matching root's descriptor.
use super::decide::{handed_out_access, join_leading_parents, wire_denial};
use super::{cvt, errno, Grant, Outcome, RootFd, State};
use crate::decide::{self, check_open_flags, required_access};
use crate::policy::Access;
use crate::proto::{Op, Request, WireDecision, FD_DIR, FD_DIR2, OUT_MAX};
use crate::sys;
use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

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

impl State {
    /// Finds where `path` (absolute, or relative to `dir`) falls under
    /// the policy. A relative path without a directory is malformed: the
    /// handler makes a path from the working directory absolute against
    /// the program's current one (cwd.rs), which only it knows.
    fn locate(&self, dir: Option<RawFd>, path: &[u8]) -> std::result::Result<Place<'_>, Outcome> {
        if path.is_empty() {
            return Err(Outcome::allowed_err(0, libc::ENOENT));
        }
        let p = Path::new(OsStr::from_bytes(path));
        let abs = if p.is_absolute() {
            p.to_owned()
        } else {
            match dir {
                None => return Err(Outcome::deny(WireDecision::DeniedBadRequest)),
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

    /// FreeBSD: limits a descriptor about to be handed to the program to
    /// the rights its rule's modes imply ([`crate::caprights::for_access`]);
    /// a directory that is the root of a mount gets no lookup rights at all
    /// when the kernel lets `..` leave it. Fails closed: a descriptor that
    /// cannot be limited is not handed out. Elsewhere nothing to do.
    #[cfg(target_os = "freebsd")]
    fn limit_handed_out(&self, place: &Place<'_>, fd: &OwnedFd) -> std::result::Result<(), i32> {
        limit_for_program(
            &self.policy,
            place.granted,
            &place.abs,
            fd.as_raw_fd(),
            self.dotdot_fixed,
        )
    }

    #[cfg(not(target_os = "freebsd"))]
    fn limit_handed_out(&self, place: &Place<'_>, _fd: &OwnedFd) -> std::result::Result<(), i32> {
        let _ = handed_out_access(&self.policy, place.granted, &place.abs);
        Ok(())
    }

    pub(super) fn handle(&self, op: Op, req: &Request, fds: &[RawFd]) -> Outcome {
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
        if op == Op::Chdir {
            return self.chdir(req, dir);
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
            Op::Chdir => unreachable!("chdir is answered above"),
        })
    }

    /// chdir to the absolute `req.path()`, or (FreeBSD's fchdir: an empty
    /// path) to the directory `dir`, whose real path the broker reads.
    /// Allowed where the directory is beneath a rule granting read (as a
    /// stat would be), or on the way to a rule's root (decide.rs,
    /// `ancestor_of_root`): a working directory grants nothing by itself,
    /// every lookup from it is made absolute and decided again. Answers
    /// with the directory's real path, and on Linux an O_PATH descriptor
    /// of it for the handler's fchdir (FreeBSD's handler only needs the
    /// path: capability mode refuses fchdir).
    fn chdir(&self, req: &Request, dir: Option<RawFd>) -> std::result::Result<Outcome, Outcome> {
        let fchdir = req.path_len == 0;
        let path: Vec<u8> = if fchdir {
            let fd = dir.ok_or_else(|| Outcome::deny(WireDecision::DeniedBadRequest))?;
            let p = fd_path(fd).ok_or_else(|| Outcome::deny(WireDecision::DeniedNoRule))?;
            p.into_os_string().into_vec()
        } else {
            req.path().to_vec()
        };
        let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
        let (out, fd) = match decide::ancestor_of_root(&self.policy, &path) {
            Some(rule) => {
                let c = CString::new(path.clone()).map_err(|_| Outcome::deny(WireDecision::DeniedBadRequest))?;
                // SAFETY: a C string; the descriptor is owned below.
                let raw = unsafe { libc::open(c.as_ptr(), flags) };
                let out = Outcome::allowed(Grant::Rule(rule));
                if raw < 0 {
                    return Ok(out.with_result(Err(errno())));
                }
                // SAFETY: open returned a new descriptor we own.
                (out, unsafe { OwnedFd::from_raw_fd(raw) })
            }
            _ => {
                let dir_for_lookup = if fchdir { None } else { dir };
                let place = self.locate(dir_for_lookup, &path)?;
                if !place.granted.contains(required_access(Op::Chdir, 0)) {
                    return Err(Outcome::deny(WireDecision::DeniedAccess));
                }
                let out = Outcome::allowed(place.grant);
                if matches!(place._root, Some(RootFd::File { .. })) {
                    return Ok(out.with_result(Err(libc::ENOTDIR)));
                }
                match open_beneath(place.base, &place.rel, flags, 0, place.strict) {
                    Ok(fd) => (out, fd),
                    Err(e) if is_escape(e) => return Err(Outcome::deny(WireDecision::DeniedEscape)),
                    Err(e) => return Ok(out.with_result(Err(e))),
                }
            }
        };
        // fchdir: the descriptor's path must still name that directory
        // (it may have been renamed or replaced since).
        if let (true, Some(d)) = (fchdir, dir) {
            if sys::FileId::of(d) != sys::FileId::of(fd.as_raw_fd()) {
                return Err(Outcome::deny(WireDecision::DeniedNoRule));
            }
        }
        let Some(real) = fd_path(fd.as_raw_fd()) else {
            return Ok(out.with_result(Err(libc::ENOENT)));
        };
        let real = real.into_os_string().into_vec();
        if real.len() >= crate::proto::PATH_MAX {
            return Ok(out.with_result(Err(libc::ENAMETOOLONG)));
        }
        #[cfg(target_os = "linux")]
        let fd = Some(fd);
        #[cfg(not(target_os = "linux"))]
        let fd: Option<OwnedFd> = None;
        Ok(Outcome { data: real, fd, ..out })
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
    let how = sys::open_how_beneath(flags | libc::O_CLOEXEC, mode, strict);
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

/// FreeBSD: limits `fd`, the place `abs` that its rule grants `granted`,
/// to the rights the program may hold on it: the rule's modes less what
/// rules nested beneath withhold ([`handed_out_access`]), and no lookup
/// at all from a mount root when the kernel lets `..` leave one. Used for
/// the descriptors the broker hands out and for the roots the fast path
/// holds in the process (sandbox.rs).
#[cfg(target_os = "freebsd")]
pub(crate) fn limit_for_program(
    policy: &crate::policy::Policy,
    granted: Access,
    abs: &Path,
    fd: RawFd,
    dotdot_fixed: bool,
) -> std::result::Result<(), i32> {
    let mut rights = crate::caprights::for_access(handed_out_access(policy, granted, abs));
    if !dotdot_fixed && is_mount_root(fd) {
        rights = rights.without_lookup();
    }
    crate::caprights::limit(fd, rights)
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
pub(crate) fn dotdot_fixed() -> bool {
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
