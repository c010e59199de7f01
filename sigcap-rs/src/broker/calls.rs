//! The broker's forms of rename (with renameat2's flags), link, symlink,
//! mknod of a FIFO, and the calls on a file's mode, owner, times, size,
//! extended attributes and pathconf values.
//!
//! The access each needs is decided before this ([`crate::decide`]:
//! `required_access` on the first place, `required_access2` on the
//! second). Every place is resolved beneath its rule's root first
//! (`openat2(RESOLVE_BENEATH)` / the beneath walk), and the call then acts
//! on what was resolved: the `*at` call relative to the resolved parent
//! directory for what makes or moves a name (the final name is never
//! followed by those calls), and on the resolved descriptor itself for
//! what changes a file (`fchownat`/`utimensat` with `AT_EMPTY_PATH`; on
//! Linux the descriptor's `/proc/self/fd` name for chmod, the xattr calls
//! and a following link, which `O_PATH` descriptors need; FreeBSD's
//! `fchmodat`, `extattr_*_fd` and `fpathconf` take `O_PATH` descriptors).
//! A path is never handed to the kernel whole.
use super::fs::{Place, Reach};
use super::{cvt, errno, Outcome, State};
use crate::decide::{chmod_allowed, rename_may_replace, required_access2};
use crate::policy::Access;
use crate::proto::{Op, Request, WireDecision, RENAME_EXCHANGE, RENAME_NOREPLACE, TIMES_LEN, XATTR_MAX};
use std::ffi::CString;
use std::os::fd::{AsRawFd, RawFd};

type Answer = std::result::Result<Outcome, Outcome>;

/// `O_NOFOLLOW` when the call does not follow a final symlink.
fn nofollow(req: &Request) -> i32 {
    if req.flags & libc::AT_SYMLINK_NOFOLLOW != 0 {
        libc::O_NOFOLLOW
    } else {
        0
    }
}

/// The flags of a call on the resolved descriptor itself: AT_EMPTY_PATH,
/// and AT_SYMLINK_NOFOLLOW where the program's call does not follow a
/// final symlink. The descriptor then holds the link itself (O_PATH with
/// O_NOFOLLOW), and FreeBSD's namei would otherwise follow it from there
/// (a dangling link: ENOENT, as bsdtar's times on a symlink got).
fn empty_path(req: &Request) -> i32 {
    libc::AT_EMPTY_PATH | (req.flags & libc::AT_SYMLINK_NOFOLLOW)
}

/// What a call that makes or moves a name resolves: the directory.
const PARENT_FLAGS: i32 = libc::O_PATH | libc::O_DIRECTORY;

/// The name under which the broker's own `/proc` reaches `fd` (Linux):
/// for the calls that have no form taking an `O_PATH` descriptor. The
/// kernel follows that name to the very file `fd` holds, a symlink
/// included, without looking anything up by name.
#[cfg(target_os = "linux")]
fn fd_name(fd: RawFd) -> CString {
    CString::new(format!("/proc/self/fd/{fd}")).expect("no NUL in a number")
}

impl State {
    /// rename, link, symlink, mknod and the metadata calls on `place`,
    /// which needs `need` there. Each place is looked up with
    /// [`State::resolve`], so symlinks that lead out of a root are
    /// decided again where they lead.
    pub(super) fn call_op(
        &self,
        op: Op,
        req: &Request,
        place: Place<'_>,
        need: Access,
        dir2: Option<RawFd>,
        data: &[u8],
    ) -> Answer {
        match op {
            Op::Rename => self.rename(req, place, need, dir2),
            Op::Link => self.link(req, place, need, dir2),
            Op::Symlink => {
                let target = CString::new(req.path2()).map_err(|_| Outcome::deny(WireDecision::DeniedBadRequest))?;
                let at = self.resolve(place, need, Reach::Parent, PARENT_FLAGS, 0)?;
                // SAFETY: C strings and a descriptor we hold.
                Ok(at.outcome().with_result(cvt(unsafe {
                    libc::symlinkat(target.as_ptr(), at.fd.as_raw_fd(), at.name.as_ptr())
                })))
            }
            Op::Mknod => {
                if !chmod_allowed(req.mode) {
                    return Err(Outcome::deny(WireDecision::DeniedAccess));
                }
                let at = self.resolve(place, need, Reach::Parent, PARENT_FLAGS, 0)?;
                Ok(at.outcome().with_result(mknod(at.fd.as_raw_fd(), &at.name, req.mode)))
            }
            Op::Chmod => {
                if !chmod_allowed(req.mode) {
                    return Err(Outcome::deny(WireDecision::DeniedAccess));
                }
                let f = self.resolve(place, need, Reach::Whole, libc::O_PATH | nofollow(req), 0)?;
                Ok(f.outcome()
                    .with_result(chmod_fd(f.fd.as_raw_fd(), req.mode, nofollow(req) != 0)))
            }
            Op::Chown => {
                let (uid, gid) = (req.aux as u32, (req.aux >> 32) as u32);
                let f = self.resolve(place, need, Reach::Whole, libc::O_PATH | nofollow(req), 0)?;
                // SAFETY: a descriptor we hold and an empty C string.
                Ok(f.outcome().with_result(cvt(unsafe {
                    libc::fchownat(f.fd.as_raw_fd(), c"".as_ptr(), uid, gid, empty_path(req))
                })))
            }
            Op::Utimes => {
                let times = times_of(req);
                let tp = times.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
                let f = self.resolve(place, need, Reach::Whole, libc::O_PATH | nofollow(req), 0)?;
                // SAFETY: two timespecs or NULL; a descriptor we hold.
                Ok(f.outcome().with_result(cvt(unsafe {
                    libc::utimensat(f.fd.as_raw_fd(), c"".as_ptr(), tp, empty_path(req))
                })))
            }
            Op::Truncate => {
                // Opened for writing (what truncate(2) checks too), never
                // blocking on a FIFO and never becoming a terminal's
                // controller; only a regular file is then truncated.
                let flags = libc::O_WRONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
                let f = self.resolve(place, need, Reach::Whole, flags, 0)?;
                Ok(f.outcome().with_result(truncate_fd(f.fd.as_raw_fd(), req.aux as i64)))
            }
            Op::GetXattr | Op::SetXattr | Op::ListXattr | Op::RemoveXattr => {
                let f = self.resolve(place, need, Reach::Whole, libc::O_PATH | nofollow(req), 0)?;
                Ok(xattr(op, req, f.fd.as_raw_fd(), data, f.outcome()))
            }
            Op::Pathconf => {
                let f = self.resolve(place, need, Reach::Whole, libc::O_PATH | nofollow(req), 0)?;
                Ok(f.outcome().with_result(pathconf_fd(f.fd.as_raw_fd(), req.mode as i32)))
            }
            Op::Statfs => {
                // statfs(2) follows a final symlink (there is no lstatfs).
                let f = self.resolve(place, need, Reach::Whole, libc::O_PATH, 0)?;
                Ok(statfs_fd(f.fd.as_raw_fd(), f.outcome()))
            }
            _ => Err(Outcome::deny(WireDecision::DeniedBadRequest)),
        }
    }

    /// Whether a root, or a directory holding one, is at `abs`: moving it
    /// would change which rule governs what is inside it.
    fn holds_a_root(&self, abs: &std::path::Path) -> bool {
        self.policy.fs_rules().iter().any(|r| r.root.starts_with(abs))
    }

    /// rename/renameat/renameat2: write on the source, create on the
    /// target (an exchange: both on both). Replacing what is at the target
    /// also takes write there: without it the rename is made with
    /// RENAME_NOREPLACE and fails with EEXIST. Checked on the places
    /// asked for and again on those symlinks led to.
    fn rename(&self, req: &Request, place: Place<'_>, need: Access, dir2: Option<RawFd>) -> Answer {
        let to = self.locate(dir2, req.path2(), place.who.at_name())?;
        let exchange = req.flags & RENAME_EXCHANGE != 0;
        let moves_root =
            |from: &Place<'_>, to: &Place<'_>| self.holds_a_root(&from.abs) || (exchange && self.holds_a_root(&to.abs));
        if moves_root(&place, &to) {
            return Err(Outcome::deny(WireDecision::DeniedAccess));
        }
        let from = self.resolve(place, need, Reach::Parent, PARENT_FLAGS, 0)?;
        let to = self.resolve(
            to,
            required_access2(Op::Rename, req.flags),
            Reach::Parent,
            PARENT_FLAGS,
            0,
        )?;
        if moves_root(&from.place, &to.place) {
            return Err(Outcome::deny(WireDecision::DeniedAccess));
        }
        let mut flags = req.flags;
        if !exchange && !rename_may_replace(to.place.granted) {
            flags |= RENAME_NOREPLACE;
        }
        // The record names the source's place; the target's is the
        // program's second path.
        Ok(from.outcome().with_result(renameat2(
            from.fd.as_raw_fd(),
            &from.name,
            to.fd.as_raw_fd(),
            &to.name,
            flags,
        )))
    }

    /// link/linkat: read and write on the existing file, create on the
    /// new name. With AT_SYMLINK_FOLLOW the source is resolved beneath
    /// its root first, so a symlink cannot make the kernel link a file
    /// outside it.
    fn link(&self, req: &Request, place: Place<'_>, need: Access, dir2: Option<RawFd>) -> Answer {
        let to = self.locate(dir2, req.path2(), place.who.at_name())?;
        let to = self.resolve(
            to,
            required_access2(Op::Link, req.flags),
            Reach::Parent,
            PARENT_FLAGS,
            0,
        )?;
        let (tp, tname) = (to.fd.as_raw_fd(), &to.name);
        if req.flags & libc::AT_SYMLINK_FOLLOW != 0 {
            return self.link_following(place, need, tp, tname);
        }
        let src = self.resolve(place, need, Reach::Parent, PARENT_FLAGS, 0)?;
        // SAFETY: descriptors we hold and C strings; flags 0 links the
        // final name itself, a symlink as a symlink.
        Ok(src.outcome().with_result(cvt(unsafe {
            libc::linkat(src.fd.as_raw_fd(), src.name.as_ptr(), tp, tname.as_ptr(), 0)
        })))
    }

    /// Links the file `place` names, its final symlink followed, as
    /// `tname` in `tp`. Linux: the file resolved beneath its root, linked
    /// through the descriptor's `/proc` name, which the kernel follows to
    /// the file itself.
    #[cfg(target_os = "linux")]
    fn link_following(&self, place: Place<'_>, need: Access, tp: RawFd, tname: &CString) -> Answer {
        let src = self.resolve(place, need, Reach::Whole, libc::O_PATH, 0)?;
        let from = fd_name(src.fd.as_raw_fd());
        // SAFETY: C strings and a descriptor we hold.
        Ok(src.outcome().with_result(cvt(unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                tp,
                tname.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        })))
    }

    /// FreeBSD: `linkat(fd, "", AT_EMPTY_PATH)` needs privilege
    /// (PRIV_VFS_FHOPEN), so the final name is linked as it is when it is
    /// no symlink (if it is swapped for one meanwhile, the symlink itself
    /// is linked, which reaches nothing new); a final symlink is followed
    /// only where the broker has that privilege.
    #[cfg(target_os = "freebsd")]
    fn link_following(&self, place: Place<'_>, need: Access, tp: RawFd, tname: &CString) -> Answer {
        let whole = place.clone();
        let src = self.resolve(place, need, Reach::Parent, PARENT_FLAGS, 0)?;
        // SAFETY: a zeroed stat buffer, descriptors we hold, C strings.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstatat(
                src.fd.as_raw_fd(),
                src.name.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            ) != 0
            {
                return Ok(src.outcome().with_result(Err(errno())));
            }
            if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
                return Ok(src.outcome().with_result(cvt(libc::linkat(
                    src.fd.as_raw_fd(),
                    src.name.as_ptr(),
                    tp,
                    tname.as_ptr(),
                    0,
                ))));
            }
        }
        let f = self.resolve(whole, need, Reach::Whole, libc::O_PATH, 0)?;
        // SAFETY: as above.
        Ok(f.outcome().with_result(cvt(unsafe {
            libc::linkat(f.fd.as_raw_fd(), c"".as_ptr(), tp, tname.as_ptr(), libc::AT_EMPTY_PATH)
        })))
    }
}

/// renameat2 with `flags` (0 is renameat).
fn renameat2(fp: RawFd, from: &CString, tp: RawFd, to: &CString, flags: i32) -> std::result::Result<i64, i32> {
    #[cfg(target_os = "linux")]
    // SAFETY: descriptors we hold and C strings.
    let r = unsafe { libc::syscall(libc::SYS_renameat2, fp, from.as_ptr(), tp, to.as_ptr(), flags) };
    #[cfg(target_os = "freebsd")]
    // SAFETY: as above; renameat2 is FreeBSD 15's system call 602.
    let r = unsafe {
        if flags == 0 {
            libc::renameat(fp, from.as_ptr(), tp, to.as_ptr()) as libc::c_long
        } else {
            libc::syscall(602, fp, from.as_ptr(), tp, to.as_ptr(), flags) as libc::c_long
        }
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(0)
    }
}

/// mknodat of a FIFO or an empty regular file (the only kinds
/// `Request::validate` lets through).
// mode_t is u32 on Linux, u16 on FreeBSD: the casts are needed there.
#[allow(clippy::unnecessary_cast)]
fn mknod(parent: RawFd, name: &CString, mode: u32) -> std::result::Result<i64, i32> {
    let perm = (mode & 0o7777) as libc::mode_t;
    if mode & libc::S_IFMT as u32 == libc::S_IFIFO as u32 {
        // SAFETY: a descriptor we hold and a C string.
        return cvt(unsafe { libc::mkfifoat(parent, name.as_ptr(), perm) });
    }
    // A regular file: created, not opened for the program.
    // SAFETY: as above; the new descriptor is closed at once.
    let fd = unsafe {
        libc::openat(
            parent,
            name.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            perm as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(errno());
    }
    crate::sys::close(fd);
    Ok(0)
}

/// chmod of the resolved file. A symlink (the call did not follow it)
/// has no mode of its own on Linux: EOPNOTSUPP, as fchmodat2 says.
#[cfg(target_os = "linux")]
fn chmod_fd(fd: RawFd, mode: u32, nofollow: bool) -> std::result::Result<i64, i32> {
    if nofollow && is_symlink(fd) {
        return Err(libc::EOPNOTSUPP);
    }
    let name = fd_name(fd);
    // SAFETY: a C string.
    cvt(unsafe { libc::chmod(name.as_ptr(), mode as libc::mode_t) })
}

#[cfg(target_os = "freebsd")]
fn chmod_fd(fd: RawFd, mode: u32, nofollow: bool) -> std::result::Result<i64, i32> {
    let flags = libc::AT_EMPTY_PATH | if nofollow { libc::AT_SYMLINK_NOFOLLOW } else { 0 };
    // SAFETY: a descriptor we hold and an empty C string.
    cvt(unsafe { libc::fchmodat(fd, c"".as_ptr(), mode as libc::mode_t, flags) })
}

#[cfg(target_os = "linux")]
fn is_symlink(fd: RawFd) -> bool {
    // SAFETY: a zeroed stat buffer; fstat works on O_PATH descriptors.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFLNK
    }
}

/// The two times of a utimes request, or None for "now".
fn times_of(req: &Request) -> Option<[libc::timespec; 2]> {
    if req.addr_len as usize != TIMES_LEN {
        return None;
    }
    let w = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&req.addr[i * 8..i * 8 + 8]);
        i64::from_ne_bytes(b)
    };
    // SAFETY: timespec is plain integers.
    let mut ts: [libc::timespec; 2] = unsafe { std::mem::zeroed() };
    for (i, t) in ts.iter_mut().enumerate() {
        t.tv_sec = w(2 * i) as libc::time_t;
        t.tv_nsec = w(2 * i + 1) as _;
    }
    Some(ts)
}

fn truncate_fd(fd: RawFd, len: i64) -> std::result::Result<i64, i32> {
    // SAFETY: a zeroed stat buffer and a descriptor we hold.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            return Err(errno());
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(libc::EINVAL);
        }
        cvt(libc::ftruncate(fd, len as libc::off_t))
    }
}

/// An extended attribute call on the resolved file; get and list put the
/// value in the reply's payload.
fn xattr(op: Op, req: &Request, fd: RawFd, data: &[u8], out: Outcome) -> Outcome {
    let name = match CString::new(req.path2()) {
        Ok(n) => n,
        Err(_) => return Outcome::deny(WireDecision::DeniedBadRequest),
    };
    let cap = (req.out_len as usize).min(XATTR_MAX);
    let mut buf = vec![
        0u8;
        if matches!(op, Op::GetXattr | Op::ListXattr) {
            cap
        } else {
            0
        }
    ];
    let r = xattr_sys(op, fd, req.mode as i32, &name, &mut buf, data);
    match r {
        Ok(n) if matches!(op, Op::GetXattr | Op::ListXattr) => {
            if cap > 0 {
                buf.truncate((n as usize).min(cap));
            }
            Outcome { data: buf, ..out }.with_result(Ok(n))
        }
        r => out.with_result(r),
    }
}

#[cfg(target_os = "linux")]
fn xattr_sys(
    op: Op,
    fd: RawFd,
    mode: i32,
    name: &CString,
    buf: &mut [u8],
    data: &[u8],
) -> std::result::Result<i64, i32> {
    let path = fd_name(fd);
    let p = path.as_ptr();
    let bp: *mut libc::c_void = if buf.is_empty() {
        std::ptr::null_mut()
    } else {
        buf.as_mut_ptr().cast()
    };
    // SAFETY: C strings and buffers of the lengths passed.
    let r = unsafe {
        match op {
            Op::GetXattr => libc::getxattr(p, name.as_ptr(), bp, buf.len()),
            Op::ListXattr => libc::listxattr(p, bp.cast(), buf.len()),
            Op::SetXattr => libc::setxattr(p, name.as_ptr(), data.as_ptr().cast(), data.len(), mode) as isize,
            _ => libc::removexattr(p, name.as_ptr()) as isize,
        }
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r as i64)
    }
}

#[cfg(target_os = "freebsd")]
fn xattr_sys(op: Op, fd: RawFd, ns: i32, name: &CString, buf: &mut [u8], data: &[u8]) -> std::result::Result<i64, i32> {
    let bp: *mut libc::c_void = if buf.is_empty() {
        std::ptr::null_mut()
    } else {
        buf.as_mut_ptr().cast()
    };
    // SAFETY: C strings and buffers of the lengths passed; extattr_*_fd
    // take O_PATH descriptors (getvnode_path).
    let r = unsafe {
        match op {
            Op::GetXattr => libc::extattr_get_fd(fd, ns, name.as_ptr(), bp, buf.len()),
            Op::ListXattr => libc::extattr_list_fd(fd, ns, bp, buf.len()),
            Op::SetXattr => libc::extattr_set_fd(fd, ns, name.as_ptr(), data.as_ptr().cast(), data.len()),
            _ => libc::extattr_delete_fd(fd, ns, name.as_ptr()) as isize,
        }
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r as i64)
    }
}

/// fstatfs of the resolved place (both kernels take O_PATH descriptors):
/// the kernel's `struct statfs`, whole, as the payload.
fn statfs_fd(fd: RawFd, out: Outcome) -> Outcome {
    let mut buf = vec![0u8; crate::sys::STATFS_SIZE];
    // SAFETY: buf holds one struct statfs; fd is a descriptor we hold.
    let r = unsafe { libc::fstatfs(fd, buf.as_mut_ptr().cast()) };
    if r < 0 {
        out.with_result(Err(errno()))
    } else {
        Outcome { data: buf, ..out }
    }
}

/// FreeBSD's fpathconf of the resolved file (O_PATH descriptors are
/// accepted); Linux has no pathconf system call.
#[cfg(target_os = "freebsd")]
fn pathconf_fd(fd: RawFd, name: i32) -> std::result::Result<i64, i32> {
    // fpathconf returns -1 both for "no limit" (errno untouched) and for
    // an error: errno is cleared first to tell them apart. (A "no limit"
    // -1 cannot be handed back through the trapped call, whose negative
    // results are errors: the program would see EPERM. No file system
    // of the guest answers so for the names ls asks.)
    crate::sys::set_errno(0);
    // SAFETY: a descriptor we hold.
    let r = unsafe { libc::fpathconf(fd, name) };
    match crate::sys::errno() {
        e if r == -1 && e != 0 => Err(e),
        _ => Ok(r as i64),
    }
}

#[cfg(not(target_os = "freebsd"))]
fn pathconf_fd(_fd: RawFd, _name: i32) -> std::result::Result<i64, i32> {
    Err(libc::ENOSYS)
}
