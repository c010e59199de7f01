//! The broker's file operations: a path located under the policy, then
//! resolved and acted on strictly beneath the matching root's descriptor.
use super::decide::{for_requester, handed_out_access, join_leading_parents, self_link_text, wire_denial, Asker};
use super::{cvt, errno, Grant, Outcome, RootFd, State};
use crate::beneath::Walked;
use crate::decide::{self, check_open_flags, required_access};
use crate::policy::Access;
use crate::proto::{Op, Request, WireDecision, FD_DIR, FD_DIR2, OUT_MAX};
use crate::sys;
use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// A resolved place to operate: a base directory and a path beneath it.
#[derive(Clone)]
pub(super) struct Place<'a> {
    pub(super) base: RawFd,
    pub(super) rel: CString,
    /// The path as the policy saw it (absolute, leading `..` folded).
    pub(super) abs: PathBuf,
    /// Other roots lie beneath this one: follow no symlink (see
    /// [`State::locate`]).
    pub(super) strict: bool,
    pub(super) granted: Access,
    pub(super) grant: Grant,
    /// Whom the lookup is for: a symlink's target is placed for them too.
    pub(super) who: Asker,
    _root: Option<&'a RootFd>,
}

/// Errno values that mean "resolution tried to leave the base".
pub(super) fn is_escape(e: i32) -> bool {
    #[cfg(target_os = "linux")]
    {
        e == libc::EXDEV
    }
    #[cfg(target_os = "freebsd")]
    {
        e == libc::ENOTCAPABLE
    }
}

/// How much of a place's path a call looks up.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Reach {
    /// All of it (open, stat, access).
    Whole,
    /// Its directory: the call acts on the last name itself (readlink,
    /// mkdir, unlink, rename), which is never followed.
    Parent,
}

/// Where a lookup ended ([`State::resolve`]).
pub(super) struct Found<'a> {
    /// What was opened: the place itself, or its directory
    /// ([`Reach::Parent`]).
    pub(super) fd: OwnedFd,
    /// [`Reach::Parent`]: the last name, in `fd`.
    pub(super) name: CString,
    /// The place finally decided and used: the one asked for, or where
    /// the symlinks that led out of roots took the lookup.
    pub(super) place: Place<'a>,
    /// Whether a symlink led out of a root (then `place` is not the path
    /// the program asked for, and the record says which it was).
    pub(super) followed: bool,
}

impl Found<'_> {
    /// The answer's start: allowed under the final place's rule, with the
    /// path used when it is not the one asked for.
    pub(super) fn outcome(&self) -> Outcome {
        let out = Outcome::allowed(self.place.grant);
        if self.followed {
            out.with_via(&self.place.abs)
        } else {
            out
        }
    }
}

impl State {
    /// Finds where `path` (absolute, or relative to `dir`) falls under
    /// the policy. A relative path without a directory is malformed: the
    /// handler makes a path from the working directory absolute against
    /// the program's current one (cwd.rs), which only it knows.
    pub(super) fn locate(
        &self,
        dir: Option<RawFd>,
        path: &[u8],
        who: Asker,
    ) -> std::result::Result<Place<'_>, Outcome> {
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
        self.place_for(abs, who)
    }

    /// Where the absolute path `abs` falls under the policy: a path the
    /// program named, or one a symlink led to, decided the same way.
    pub(super) fn place_for(&self, abs: PathBuf, who: Asker) -> std::result::Result<Place<'_>, Outcome> {
        // procfs' self is the requester's, not the broker's (every lookup
        // here is the broker's own); the path it names is decided below
        // like any other.
        let abs = match for_requester(&abs, who) {
            Ok(Some(own)) => own,
            Ok(None) => abs,
            Err(()) => return Err(Outcome::deny(WireDecision::DeniedBadRequest)),
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
            who,
            _root: Some(root),
        })
    }

    /// Looks `place` up for a call that needs `need` there (its
    /// directory, with [`Reach::Parent`]) and opens it with `flags` and
    /// `mode`, beneath its rule's root.
    ///
    /// A symlink that leads out of the root (an absolute target, or a
    /// relative one climbing above the root) is followed by deciding the
    /// path it leads to again, from scratch: the link's own place (the
    /// root's real path and the names walked), then its target, then the
    /// rest of the path. The rule is chosen anew, must grant `need`, and
    /// the lookup goes on beneath that rule's root; at most
    /// [`crate::beneath::MAX_LINKS`] symlinks in all (ELOOP). Following a
    /// link out of a root reads it, which that root's rule must grant
    /// (read), and never happens beneath a root holding a narrower rule
    /// (no symlink is followed there at all). So a place whose rule does
    /// not grant `need` is still looked up (`O_PATH`) if its rule grants
    /// read: a link there may lead where `need` is granted; otherwise the
    /// refusal stands. Nothing is ever opened outside a root's handle, and
    /// a path reached through links gets no more than asking for it by
    /// name would.
    pub(super) fn resolve<'s>(
        &'s self,
        mut place: Place<'s>,
        need: Access,
        reach: Reach,
        flags: i32,
        mode: u32,
    ) -> std::result::Result<Found<'s>, Outcome> {
        let mut links = 0usize;
        let mut followed = false;
        loop {
            let at = |o: Outcome, p: &Place<'_>| if followed { o.with_via(&p.abs) } else { o };
            let granted = place.granted.contains(need);
            let may_follow = !place.strict && place.granted.contains(Access::READ);
            if !granted && !may_follow {
                return Err(at(Outcome::deny(WireDecision::DeniedAccess), &place));
            }
            // A lookup on behalf of a call its rule refuses acts on
            // nothing: O_PATH, the last name followed as the call would.
            let (flags, mode) = if granted {
                (flags, mode)
            } else {
                (probe_flags(flags, reach), 0)
            };
            let failed = |e: i32, p: &Place<'_>| {
                if is_escape(e) {
                    at(Outcome::deny(WireDecision::DeniedEscape), p)
                } else if granted {
                    at(Outcome::allowed(p.grant).with_result(Err(e)), p)
                } else {
                    at(Outcome::deny(WireDecision::DeniedAccess), p)
                }
            };
            let (rel, name) = match reach {
                Reach::Whole => (place.rel.clone(), CString::default()),
                Reach::Parent => split_last(&place.rel).map_err(|e| failed(e, &place))?,
            };
            match lookup(place.base, &rel, flags, mode, place.strict, !followed, &mut links) {
                Ok(Walked::Opened(fd)) if granted => {
                    return Ok(Found {
                        fd,
                        name,
                        place,
                        followed,
                    })
                }
                Ok(Walked::Opened(_)) => return Err(at(Outcome::deny(WireDecision::DeniedAccess), &place)),
                Ok(Walked::Left(to)) => {
                    if !place.granted.contains(Access::READ) {
                        return Err(failed(crate::beneath::ESCAPE, &place));
                    }
                    let mut abs = if to.first() == Some(&b'/') {
                        PathBuf::from(OsStr::from_bytes(&to))
                    } else {
                        // `..` above the root: from the root's real path.
                        match fd_path(place.base) {
                            Some(base) => join_leading_parents(&base, Path::new(OsStr::from_bytes(&to))),
                            None => return Err(failed(crate::beneath::ESCAPE, &place)),
                        }
                    };
                    if reach == Reach::Parent {
                        abs.push(OsStr::from_bytes(name.as_bytes()));
                    }
                    followed = true;
                    place = self.place_for(abs.clone(), place.who).map_err(|o| o.with_via(&abs))?;
                }
                Err(e) => return Err(failed(e, &place)),
            }
        }
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

    pub(super) fn handle(&self, op: Op, req: &Request, fds: &[RawFd], data: &[u8]) -> Outcome {
        let mut fds = fds.iter().copied();
        let dir = if req.fd_roles & FD_DIR != 0 { fds.next() } else { None };
        let dir2 = if req.fd_roles & FD_DIR2 != 0 { fds.next() } else { None };
        match self.path_op(op, req, dir, dir2, data) {
            Ok(o) | Err(o) => o,
        }
    }

    fn path_op(
        &self,
        op: Op,
        req: &Request,
        dir: Option<RawFd>,
        dir2: Option<RawFd>,
        data: &[u8],
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
        if op == Op::Exec {
            return self.exec(req);
        }
        let place = self.locate(dir, req.path(), Asker::of(req, op))?;
        let need = required_access(op, req.flags);
        let nofollow = if req.flags & libc::AT_SYMLINK_NOFOLLOW != 0 {
            libc::O_NOFOLLOW
        } else {
            0
        };
        Ok(match op {
            Op::Open => {
                let flags = match check_open_flags(req.flags) {
                    Ok(f) => f,
                    Err(e) if place.granted.contains(need) => return Ok(Outcome::allowed_err(0, e)),
                    Err(_) => return Err(Outcome::deny(WireDecision::DeniedAccess)),
                };
                let found = self.resolve(place, need, Reach::Whole, flags, req.mode)?;
                let out = found.outcome();
                match self.limit_handed_out(&found.place, &found.fd) {
                    Ok(()) => Outcome {
                        fd: Some(found.fd),
                        ..out
                    },
                    Err(e) => out.with_result(Err(e)),
                }
            }
            Op::Stat | Op::Statx => {
                let found = self.resolve(place, need, Reach::Whole, libc::O_PATH | nofollow, 0)?;
                found.outcome().with_stat(op, found.fd.as_raw_fd(), req)
            }
            Op::Access => {
                let found = self.resolve(place, need, Reach::Whole, libc::O_PATH | nofollow, 0)?;
                found
                    .outcome()
                    .with_result(access_fd(found.fd.as_raw_fd(), req.mode as i32, req.flags))
            }
            Op::Readlink | Op::Mkdir | Op::Unlink => {
                // The rule's root itself: a directory that exists, is no
                // symlink, and is held (removing it is refused).
                if place.rel.as_bytes() == b"." {
                    if !place.granted.contains(need) {
                        return Err(Outcome::deny(WireDecision::DeniedAccess));
                    }
                    let e = match op {
                        Op::Readlink => libc::EINVAL,
                        Op::Mkdir => libc::EEXIST,
                        _ if req.flags & libc::AT_REMOVEDIR != 0 => libc::EBUSY,
                        // unlink(2) of a directory.
                        _ if cfg!(target_os = "linux") => libc::EISDIR,
                        _ => libc::EPERM,
                    };
                    return Ok(Outcome::allowed(place.grant).with_result(Err(e)));
                }
                let found = self.resolve(place, need, Reach::Parent, libc::O_PATH | libc::O_DIRECTORY, 0)?;
                // procfs' self link says who asks, not the broker.
                if op == Op::Readlink {
                    if let Some(text) = self_link_text(&found.place.abs, found.place.who) {
                        let Ok(text) = text else {
                            return Err(Outcome::deny(WireDecision::DeniedBadRequest));
                        };
                        let mut data = text.into_bytes();
                        data.truncate((req.out_len as usize).min(OUT_MAX));
                        let n = data.len() as i64;
                        return Ok(Outcome {
                            data,
                            ..found.outcome()
                        }
                        .with_result(Ok(n)));
                    }
                }
                let out = found.outcome();
                let (p, name) = (found.fd.as_raw_fd(), &found.name);
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
            // rename, link and the calls on a file's metadata and
            // attributes: broker/calls.rs.
            Op::Rename
            | Op::Link
            | Op::Symlink
            | Op::Chmod
            | Op::Chown
            | Op::Utimes
            | Op::Truncate
            | Op::GetXattr
            | Op::SetXattr
            | Op::ListXattr
            | Op::RemoveXattr
            | Op::Pathconf
            | Op::Statfs
            | Op::Mknod => return self.call_op(op, req, place, need, dir2, data),
            Op::Connect | Op::Bind | Op::Sendto | Op::Listen | Op::Sysctl => {
                unreachable!("socket and sysctl ops are not path ops")
            }
            Op::Chdir | Op::Exec => unreachable!("chdir and exec are answered above"),
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
                // chdir follows every name of its path.
                let who = Asker {
                    follows_last: true,
                    ..Asker::of(req, Op::Chdir)
                };
                let place = self.locate(dir_for_lookup, &path, who)?;
                // Looked up as every other path is: a symlink out of the
                // root is decided again where it leads (a file rule's
                // file fails with ENOTDIR there).
                let found = self.resolve(place, required_access(Op::Chdir, 0), Reach::Whole, flags, 0)?;
                (found.outcome(), found.fd)
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

/// `rel` split into its directory (`.` for none) and its last name.
fn split_last(rel: &CString) -> std::result::Result<(CString, CString), i32> {
    let rel = Path::new(OsStr::from_bytes(rel.as_bytes()));
    let name = match rel.file_name() {
        Some(n) => n.as_bytes(),
        // The root itself: it exists (a name made there fails as on
        // any existing file).
        None if rel == Path::new(".") => return Err(libc::EEXIST),
        // "..", "/": no final component to act on.
        None => return Err(libc::EINVAL),
    };
    let parent = rel
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let parent = CString::new(parent.as_os_str().as_bytes()).map_err(|_| libc::EINVAL)?;
    Ok((parent, CString::new(name).map_err(|_| libc::EINVAL)?))
}

/// The flags of a lookup that acts on nothing ([`State::resolve`] where
/// the rule refuses the call): `O_PATH`, the last name not followed where
/// the call would not follow it (`O_NOFOLLOW`, or `O_CREAT|O_EXCL`).
fn probe_flags(flags: i32, reach: Reach) -> i32 {
    if reach == Reach::Parent {
        return libc::O_PATH | libc::O_DIRECTORY;
    }
    let excl = libc::O_CREAT | libc::O_EXCL;
    let nofollow = flags & libc::O_NOFOLLOW != 0 || flags & excl == excl;
    libc::O_PATH | if nofollow { libc::O_NOFOLLOW } else { 0 }
}

/// Looks `rel` up beneath `base` and opens it with `flags` and `mode`
/// ([`crate::beneath::walk`]'s answers). Linux: `openat2(RESOLVE_BENEATH)`
/// first, the common case, in one call; only when it reports that the
/// lookup left `base` (EXDEV: `..` or a symlink) is the path walked name
/// by name, to refuse the one and find where the other leads; and every
/// later round (`first` false) is walked, so that the rounds together
/// follow at most MAX_LINKS symlinks (`links`). FreeBSD: always walked,
/// so that no `..` reaches the kernel. With `strict`, no symlink is
/// followed (ELOOP).
fn lookup(
    base: RawFd,
    rel: &CString,
    flags: i32,
    mode: u32,
    strict: bool,
    first: bool,
    links: &mut usize,
) -> std::result::Result<Walked, i32> {
    #[cfg(target_os = "linux")]
    if first {
        match open_beneath(base, rel, flags, mode, strict) {
            Err(libc::EXDEV) => {}
            r => return r.map(Walked::Opened),
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = first;
    crate::beneath::walk(base, rel.as_bytes(), flags, mode, strict, links)
}

/// Opens `rel` strictly beneath `base` in one `openat2`; with `strict`,
/// following no symlink on the way (Linux).
#[cfg(target_os = "linux")]
pub(super) fn open_beneath(
    base: RawFd,
    rel: &CString,
    flags: i32,
    mode: u32,
    strict: bool,
) -> std::result::Result<OwnedFd, i32> {
    let how = sys::open_how_beneath(flags | libc::O_CLOEXEC, mode, strict);
    let fd = sys::openat2(base, rel.as_ptr(), &how, 0)?;
    // SAFETY: a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
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
