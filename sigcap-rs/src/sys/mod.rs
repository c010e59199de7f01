//! Thin, async-signal-safe wrappers over the system calls the handler and
//! the broker share.
//!
//! Why hand-rolled rather than `nix`: nix's `sendmsg`/`recvmsg` build their
//! control-message buffers in a `Vec`, which allocates, and the handler may
//! not allocate. Everything here works on caller-provided fixed buffers and
//! returns raw errno values.
use std::os::fd::RawFd;

#[cfg(target_os = "freebsd")]
#[allow(dead_code)] // generated: every constant of the ABI, used or not
pub mod freebsd_abi;

/// Most descriptors one message carries: reply socket, subject socket or
/// directory, second directory (renameat).
pub const MAX_FDS: usize = 3;

/// Size of the kernel's `struct stat` as the stat system calls write it.
#[cfg(target_os = "linux")]
pub const STAT_SIZE: usize = 144;
/// Size of the kernel's `struct stat` as the stat system calls write it.
#[cfg(target_os = "freebsd")]
pub const STAT_SIZE: usize = 224;
/// Size of the kernel's `struct statfs` as statfs(2) writes it (Linux
/// x86_64: the 64-bit form libc names `statfs`; FreeBSD 12+'s).
pub const STATFS_SIZE: usize = std::mem::size_of::<libc::statfs>();
// The libc crate's FreeBSD 12 layout (MNAMELEN 1024), which 15.1 keeps.
#[cfg(target_os = "freebsd")]
const _: () = assert!(STATFS_SIZE == 2344);
/// FreeBSD 15's close-on-fork open flag and descriptor flag (not in the
/// libc crate yet); its tzcode opens zone files with it.
#[cfg(target_os = "freebsd")]
pub const O_CLOFORK: i32 = 0x0800_0000;
#[cfg(target_os = "freebsd")]
pub const FD_CLOFORK: i32 = 4;
/// Size of Linux's `struct statx`.
pub const STATX_SIZE: usize = 256;

/// The errno the interrupted code will see, saved around the handler.
pub fn errno() -> i32 {
    // SAFETY: the errno location is thread-local and always valid.
    unsafe { *errno_location() }
}

/// Restores errno.
pub fn set_errno(e: i32) {
    // SAFETY: as above.
    unsafe { *errno_location() = e }
}

#[cfg(target_os = "linux")]
unsafe fn errno_location() -> *mut libc::c_int {
    libc::__errno_location()
}

#[cfg(target_os = "freebsd")]
unsafe fn errno_location() -> *mut libc::c_int {
    libc::__error()
}

fn last_errno() -> i32 {
    errno()
}

#[repr(C)]
union CmsgBuf {
    _align: libc::cmsghdr,
    buf: [u8; 64],
}

/// Sends `iov` as one message with `fds` attached (SCM_RIGHTS), with
/// `flags` (MSG_DONTWAIT: fail with EAGAIN instead of waiting for room).
/// Never raises SIGPIPE. Returns the bytes sent or an errno.
pub fn send_with_fds(sock: RawFd, iov: &[libc::iovec], fds: &[RawFd], flags: i32) -> Result<usize, i32> {
    debug_assert!(fds.len() <= MAX_FDS);
    let mut cbuf = CmsgBuf { buf: [0; 64] };
    // SAFETY: msghdr is plain data; all pointers reference live buffers.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = iov.len() as _;
        if !fds.is_empty() {
            let len = std::mem::size_of_val(fds) as u32;
            msg.msg_control = cbuf.buf.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(len) as _;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(len) as _;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(c).cast::<RawFd>(), fds.len());
        }
        loop {
            let n = libc::sendmsg(sock, &msg, flags | libc::MSG_NOSIGNAL);
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = last_errno();
            if e != libc::EINTR {
                return Err(e);
            }
        }
    }
}

/// What one `recv_with_fds` call received.
#[derive(Debug, Default)]
pub struct Received {
    /// Bytes of data.
    pub len: usize,
    /// Descriptors received, `-1` past `nfds`.
    pub fds: [RawFd; MAX_FDS],
    /// How many descriptors arrived.
    pub nfds: usize,
    /// The data or the control part did not fit: the message must be
    /// rejected (the kernel closes descriptors that did not fit).
    pub truncated: bool,
}

/// Receives one message into `iov`, collecting up to [`MAX_FDS`]
/// descriptors (close-on-exec). `len == 0` with no descriptors means the
/// peer closed.
pub fn recv_with_fds(sock: RawFd, iov: &mut [libc::iovec]) -> Result<Received, i32> {
    let mut cbuf = CmsgBuf { buf: [0; 64] };
    let mut out = Received {
        fds: [-1; MAX_FDS],
        ..Default::default()
    };
    // SAFETY: as in send_with_fds; we only read control data the kernel wrote.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len() as _;
        msg.msg_control = cbuf.buf.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE((MAX_FDS * 4) as u32) as _;
        let n = loop {
            let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n >= 0 {
                break n as usize;
            }
            let e = last_errno();
            if e != libc::EINTR {
                return Err(e);
            }
        };
        out.len = n;
        out.truncated = msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c).cast::<RawFd>();
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
                for i in 0..count {
                    let fd = std::ptr::read_unaligned(data.add(i));
                    if out.nfds < MAX_FDS {
                        out.fds[out.nfds] = fd;
                        out.nfds += 1;
                    } else {
                        // More than any request carries: hostile; close it.
                        libc::close(fd);
                        out.truncated = true;
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(out)
}

/// Closes the descriptors in `r`.
pub fn close_received(r: &Received) {
    for &fd in &r.fds[..r.nfds] {
        close(fd);
    }
}

/// close(2), ignoring errors.
/// The `open_how` of an `openat2` beneath its directory: never leaving
/// it, never through /proc magic links, and with `strict` through no
/// symlink at all; `mode` only where the flags create. Shared by the
/// broker and the fast path, which must resolve alike.
#[cfg(target_os = "linux")]
pub fn open_how_beneath(flags: i32, mode: u32, strict: bool) -> libc::open_how {
    // SAFETY: open_how is plain integers; all-zero is valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.mode = if flags & (libc::O_CREAT | libc::O_TMPFILE) != 0 {
        (mode & 0o7777) as u64
    } else {
        0
    };
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    if strict {
        how.resolve |= libc::RESOLVE_NO_SYMLINKS;
    }
    how
}

/// How many times [`openat2`] tries again after EAGAIN.
#[cfg(target_os = "linux")]
const OPENAT2_TRIES: usize = 64;

/// openat2(2) of `rel` (NUL-terminated) beneath `base` with `how`, the
/// descriptor or the errno. With RESOLVE_BENEATH the kernel answers
/// EAGAIN when a rename anywhere on the system raced a `..` step of the
/// lookup (it cannot tell the step stayed beneath), and the call may be
/// made again: it is, a bounded number of times, so that another
/// process's renames do not fail the program's open. `marker` is the
/// sixth argument, which the seccomp filter reads (0 for the broker).
/// Signal-safe.
#[cfg(target_os = "linux")]
pub fn openat2(base: RawFd, rel: *const libc::c_char, how: &libc::open_how, marker: usize) -> Result<RawFd, i32> {
    let mut tries = 0;
    loop {
        // SAFETY: how is a valid open_how and rel a C string (the
        // caller's); the fifth argument is unused by the kernel.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                base,
                rel,
                how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
                0usize,
                marker,
            )
        };
        if r >= 0 {
            return Ok(r as RawFd);
        }
        let e = errno();
        tries += 1;
        if e != libc::EAGAIN || tries >= OPENAT2_TRIES {
            return Err(e);
        }
    }
}

pub fn close(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: closing a descriptor we own.
        unsafe { libc::close(fd) };
    }
}

/// fstat(2) as a raw system call. On Linux glibc's fstat() is
/// fstatat(fd, "", AT_EMPTY_PATH), which the seccomp filter traps; the
/// handler must not trap itself.
pub fn fstat(fd: RawFd) -> Result<libc::stat, i32> {
    // SAFETY: a zeroed stat buffer of the kernel's layout.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        #[cfg(target_os = "linux")]
        let r = libc::syscall(libc::SYS_fstat, fd, &mut st as *mut libc::stat) as i32;
        #[cfg(not(target_os = "linux"))]
        let r = libc::fstat(fd, &mut st);
        if r == 0 {
            Ok(st)
        } else {
            Err(last_errno())
        }
    }
}

/// What a descriptor refers to: the (device, inode) of its file. Sockets
/// and pipes have inodes of their own too, unique while they exist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    /// The identity of what `fd` refers to now.
    pub fn of(fd: RawFd) -> Option<FileId> {
        fstat(fd).ok().map(|st| FileId::from_stat(&st))
    }

    /// The identity in a stat buffer.
    // dev_t and ino_t are u64 on Linux and FreeBSD, not on every target.
    #[allow(clippy::unnecessary_cast)]
    pub fn from_stat(st: &libc::stat) -> FileId {
        FileId {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
        }
    }

    /// Whether `fd` still refers to this file: a number the program
    /// closed, or closed and reused for something else, does not.
    pub fn is(&self, fd: RawFd) -> bool {
        FileId::of(fd) == Some(*self)
    }

    /// [`FileId::is`] for a descriptor the runtime holds (the broker's
    /// socket, the log). On Linux true without asking: the filter keeps
    /// those numbers from being closed or replaced
    /// (`backend::keep_held`), and the fstat per violation is saved.
    pub fn still_held(&self, fd: RawFd) -> bool {
        cfg!(target_os = "linux") || self.is(fd)
    }
}

/// Milliseconds on the monotonic clock (clock_gettime is
/// async-signal-safe).
pub fn monotonic_ms() -> i64 {
    // SAFETY: clock_gettime into a zeroed timespec.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        ts.tv_sec as i64 * 1000 + ts.tv_nsec as i64 / 1_000_000
    }
}

/// Waits until `fd` is ready for `events` (POLLIN, POLLOUT; a hang-up
/// counts as ready, the next call reports it), or until the monotonic
/// clock reaches `deadline_ms`: then ETIMEDOUT. Signals that interrupt
/// the wait do not extend it.
pub fn wait_fd(fd: RawFd, events: libc::c_short, deadline_ms: i64) -> Result<(), i32> {
    loop {
        let left = (deadline_ms - monotonic_ms()).clamp(0, i32::MAX as i64) as i32;
        let mut p = libc::pollfd { fd, events, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, left) };
        if n > 0 {
            return if p.revents & libc::POLLNVAL != 0 {
                Err(libc::EBADF)
            } else {
                Ok(())
            };
        }
        if n == 0 {
            if left == 0 {
                return Err(libc::ETIMEDOUT);
            }
            continue;
        }
        let e = last_errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// Whether `fd` is an AF_UNIX SOCK_SEQPACKET socket, the only kind the
/// protocol answers on.
pub fn is_unix_seqpacket(fd: RawFd) -> bool {
    let mut ty: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt into an int; getsockname into a sockaddr_storage.
    unsafe {
        if libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut ty as *mut libc::c_int).cast(),
            &mut len,
        ) != 0
            || ty != libc::SOCK_SEQPACKET
        {
            return false;
        }
        let mut ss: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        libc::getsockname(fd, (&mut ss as *mut libc::sockaddr_storage).cast(), &mut len) == 0
            && ss.ss_family as i32 == libc::AF_UNIX
    }
}

/// A connected SOCK_SEQPACKET pair, close-on-exec.
pub fn seqpacket_pair() -> Result<[RawFd; 2], i32> {
    let mut fds = [-1; 2];
    // SAFETY: fds is a valid two-element array.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r == 0 {
        Ok(fds)
    } else {
        Err(last_errno())
    }
}

/// The lowest number the runtime's own descriptors (the broker's socket,
/// the log) are put at or above: a program that closes every descriptor
/// from 3 upwards in a loop up to its own highest (libcasper's services
/// do, before closefrom) leaves them be, and sigcap-run's shim takes them
/// out of closefrom(3) and close_range(2) (`Sandbox::held_descriptors`).
pub const HELD_FLOOR: RawFd = 512;

/// A close-on-exec duplicate of `fd` at [`HELD_FLOOR`] or above (at 3 or
/// above where the descriptor limit is lower).
pub fn dup_high(fd: RawFd) -> Result<RawFd, i32> {
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor number; failure is checked.
    let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, HELD_FLOOR) };
    if high >= 0 {
        return Ok(high);
    }
    // SAFETY: as above.
    match unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) } {
        low if low >= 0 => Ok(low),
        _ => Err(last_errno()),
    }
}

/// `fd` moved to [`dup_high`]'s number (the old one closed); `fd` itself
/// where it cannot be.
pub fn move_high(fd: RawFd) -> RawFd {
    match dup_high(fd) {
        Ok(high) => {
            close(fd);
            high
        }
        Err(_) => fd,
    }
}

/// The page [`own_pid`] keeps this process's id in (null until
/// [`cache_pid`]).
static PID_PAGE: std::sync::atomic::AtomicPtr<std::sync::atomic::AtomicI32> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

/// Sets up [`own_pid`]'s cache: a page the kernel hands a forked child
/// zeroed (Linux MADV_WIPEONFORK, FreeBSD INHERIT_ZERO), so the child
/// asks again instead of using its parent's id. Without it (an older
/// kernel), every call asks.
pub fn cache_pid() {
    if !PID_PAGE.load(std::sync::atomic::Ordering::Acquire).is_null() {
        return;
    }
    const PAGE: usize = 4096;
    // SAFETY: a fresh anonymous private page; unmapped again on failure.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return;
        }
        #[cfg(target_os = "linux")]
        let wiped = libc::madvise(p, PAGE, libc::MADV_WIPEONFORK) == 0;
        #[cfg(target_os = "freebsd")]
        let wiped = libc::minherit(p, PAGE, libc::INHERIT_ZERO) == 0;
        #[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
        let wiped = false;
        if !wiped {
            libc::munmap(p, PAGE);
            return;
        }
        PID_PAGE.store(p.cast(), std::sync::atomic::Ordering::Release);
    }
}

/// getpid(), without the system call after the first in each process
/// ([`cache_pid`]). A child made with a shared address space and no
/// fork (vfork, posix_spawn, clone with CLONE_VM) sees its parent's id
/// until it execs; it shares its parent's memory too, so what the
/// handler copies from "its" memory by that id is still its own.
pub fn own_pid() -> libc::pid_t {
    use std::sync::atomic::Ordering;
    let page = PID_PAGE.load(Ordering::Acquire);
    // SAFETY: getpid has no preconditions.
    let ask = || unsafe { libc::getpid() };
    if page.is_null() {
        return ask();
    }
    // SAFETY: the page is mapped for the process's life once published.
    let slot = unsafe { &*page };
    match slot.load(Ordering::Relaxed) {
        0 => {
            let pid = ask();
            slot.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

/// Copies `dst.len()` bytes from the interrupted program's address `src`.
///
/// On Linux the seccomp filter stops the call before the kernel looked at
/// any argument, so the pointer may be bad: `process_vm_readv` on our own
/// pid copies with the kernel's checks and returns EFAULT instead of
/// faulting inside the handler. On FreeBSD the call already ran and the
/// kernel copied its arguments in before it failed with ECAPMODE, so the
/// memory is known to be readable.
pub fn read_user(dst: &mut [u8], src: usize) -> Result<(), i32> {
    #[cfg(target_os = "linux")]
    let pid = own_pid();
    #[cfg(not(target_os = "linux"))]
    let pid = 0;
    read_user_in(pid, dst, src)
}

/// [`read_user`] with this process's id already known (`pid` must be
/// getpid() of the calling process: the handler reads it once per
/// violation instead of once per copy).
pub fn read_user_in(pid: libc::pid_t, dst: &mut [u8], src: usize) -> Result<(), i32> {
    #[cfg(not(target_os = "linux"))]
    let _ = pid;
    if dst.is_empty() {
        return Ok(());
    }
    if src == 0 {
        return Err(libc::EFAULT);
    }
    #[cfg(target_os = "linux")]
    {
        let local = libc::iovec {
            iov_base: dst.as_mut_ptr().cast(),
            iov_len: dst.len(),
        };
        let remote = libc::iovec {
            iov_base: src as *mut libc::c_void,
            iov_len: dst.len(),
        };
        // SAFETY: both iovecs describe valid lengths; the kernel checks `remote`.
        let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
        if n == dst.len() as isize {
            Ok(())
        } else if n < 0 && last_errno() == libc::EPERM {
            // The seccomp filter allows process_vm_readv only on the pid
            // that entered; a forked child copies through a pipe.
            read_user_via_pipe(dst, src)
        } else if n < 0 {
            Err(last_errno())
        } else {
            Err(libc::EFAULT)
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: see the function comment.
        unsafe { std::ptr::copy_nonoverlapping(src as *const u8, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }
}

/// Copies as much of `dst.len()` (at most two pages' worth) bytes from
/// the program's address `src` as is readable, page by page from the
/// start, in one process_vm_readv: the stack walk reads a stretch of
/// frames at once. Returns how many bytes were copied (0: none).
#[cfg(target_os = "linux")]
pub fn read_user_upto(pid: libc::pid_t, dst: &mut [u8], src: usize) -> usize {
    const PAGE: usize = 4096;
    let len = dst.len().min(2 * PAGE);
    if len == 0 || src == 0 {
        return 0;
    }
    let (remote, nr, first) = page_elements(src, len);
    let local = libc::iovec {
        iov_base: dst.as_mut_ptr().cast(),
        iov_len: len,
    };
    // SAFETY: local describes dst; the kernel checks the remote ranges.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, remote.as_ptr(), nr as libc::c_ulong, 0) };
    if n > 0 {
        return n as usize;
    }
    if n < 0 && last_errno() == libc::EPERM {
        // A forked child (see read_user): page by page through a pipe.
        if read_user_via_pipe(&mut dst[..first], src).is_err() {
            return 0;
        }
        return if len > first && read_user_via_pipe(&mut dst[first..len], src + first).is_ok() {
            len
        } else {
            first
        };
    }
    0
}

/// The remote elements of `len` bytes at `src` for process_vm_readv, one
/// per page (at most two): the kernel copies whole elements, so an
/// unmapped second page still leaves the first one's bytes. Returns them,
/// how many are used, and the first one's length.
#[cfg(target_os = "linux")]
fn page_elements(src: usize, len: usize) -> ([libc::iovec; 2], usize, usize) {
    const PAGE: usize = 4096;
    let first = (PAGE - src % PAGE).min(len);
    let elements = [
        libc::iovec {
            iov_base: src as *mut libc::c_void,
            iov_len: first,
        },
        libc::iovec {
            iov_base: src.wrapping_add(first) as *mut libc::c_void,
            iov_len: len - first,
        },
    ];
    (elements, if len > first { 2 } else { 1 }, first)
}

/// [`read_user_upto`], and in the same process_vm_readv the start of a
/// string: `head` gets the bytes at `head_src` up to the end of their
/// page (at most `head.len()`). One copy instead of two for the fast
/// path, whose path is read with the stack. Returns how many bytes of
/// the head were read (None: none, unreadable or not asked for; the
/// caller reads it on its own) and how many of the stretch at `src`.
#[cfg(target_os = "linux")]
pub fn read_user_upto_with(
    pid: libc::pid_t,
    dst: &mut [u8],
    src: usize,
    head: &mut [u8],
    head_src: usize,
) -> (Option<usize>, usize) {
    const PAGE: usize = 4096;
    let len = dst.len().min(2 * PAGE);
    let hl = (PAGE - head_src % PAGE).min(head.len());
    if len == 0 || src == 0 || hl == 0 || head_src == 0 {
        return (None, read_user_upto(pid, dst, src));
    }
    // The head first: the kernel copies remote elements in order and
    // stops at the first it cannot read, so an unreadable head leaves
    // the stack unread too (read again below), never the reverse.
    let (stack, nr, _) = page_elements(src, len);
    let remote = [
        libc::iovec {
            iov_base: head_src as *mut libc::c_void,
            iov_len: hl,
        },
        stack[0],
        stack[1],
    ];
    let local = [
        libc::iovec {
            iov_base: head.as_mut_ptr().cast(),
            iov_len: hl,
        },
        libc::iovec {
            iov_base: dst.as_mut_ptr().cast(),
            iov_len: len,
        },
    ];
    // SAFETY: local describes head and dst; the kernel checks the remote ranges.
    let n = unsafe { libc::process_vm_readv(pid, local.as_ptr(), 2, remote.as_ptr(), 1 + nr as libc::c_ulong, 0) };
    if n >= hl as isize {
        return (Some(hl), n as usize - hl);
    }
    (None, read_user_upto(pid, dst, src))
}

/// Up to three stretches of the program's memory in one
/// process_vm_readv: each `(dst, src)` part gets the readable bytes at
/// `src` (at most two pages' worth, split per page like
/// [`read_user_upto`]); an empty `dst` or a null `src` is skipped. The
/// kernel copies in order and stops at the first page it cannot read, so
/// the parts after it get nothing: their callers read those on their own.
/// Returns how many bytes each part got. The handler reads the path's
/// head, the stack scan's stretch at rsp and the frame walk's at rbp with
/// one system call.
#[cfg(target_os = "linux")]
pub fn read_user_parts(pid: libc::pid_t, parts: [(&mut [u8], usize); 3]) -> [usize; 3] {
    const PAGE: usize = 4096;
    let mut remote = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; 6];
    let mut local = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; 3];
    let (mut nr, mut nl) = (0, 0);
    let mut lens = [0usize; 3];
    for (i, (dst, src)) in parts.into_iter().enumerate() {
        let len = dst.len().min(2 * PAGE);
        if len == 0 || src == 0 {
            continue;
        }
        let (el, n, _) = page_elements(src, len);
        remote[nr..nr + n].copy_from_slice(&el[..n]);
        nr += n;
        local[nl] = libc::iovec {
            iov_base: dst.as_mut_ptr().cast(),
            iov_len: len,
        };
        nl += 1;
        lens[i] = len;
    }
    let mut got = [0usize; 3];
    if nl == 0 {
        return got;
    }
    // SAFETY: local describes the parts' buffers; the kernel checks the
    // remote ranges.
    let n = unsafe {
        libc::process_vm_readv(
            pid,
            local.as_ptr(),
            nl as libc::c_ulong,
            remote.as_ptr(),
            nr as libc::c_ulong,
            0,
        )
    };
    let mut left = n.max(0) as usize;
    for (g, len) in got.iter_mut().zip(lens) {
        *g = left.min(len);
        left -= *g;
    }
    got
}

/// `read_user` without process_vm_readv: write(2) into a fresh pipe
/// copies from the program's memory with the kernel's checks (EFAULT, or
/// a short count, for unmapped memory), then read(2) brings the bytes
/// back. Chunks of one page fit any pipe, however small its buffer.
#[cfg(target_os = "linux")]
fn read_user_via_pipe(dst: &mut [u8], src: usize) -> Result<(), i32> {
    const CHUNK: usize = 4096;
    let mut p = [-1; 2];
    // SAFETY: p is a two-element array.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(last_errno());
    }
    let mut done = 0;
    let mut r = Ok(());
    while done < dst.len() {
        let n = (dst.len() - done).min(CHUNK);
        // SAFETY: the kernel checks the source; dst has n bytes at done.
        let w = unsafe { libc::write(p[1], (src + done) as *const libc::c_void, n) };
        if w != n as isize {
            r = Err(if w < 0 { last_errno() } else { libc::EFAULT });
            break;
        }
        let got = unsafe { libc::read(p[0], dst[done..].as_mut_ptr().cast(), n) };
        if got != n as isize {
            r = Err(libc::EFAULT);
            break;
        }
        done += n;
    }
    close(p[0]);
    close(p[1]);
    r
}

/// Copies `src` into the program's memory at `dst`, with the kernel's
/// checks: written into a fresh pipe, then read(2) from it into `dst`,
/// so a bad address is EFAULT rather than a fault in the handler. (A
/// call refused in capability mode did not check its output buffer.)
#[cfg(target_os = "freebsd")]
pub fn write_user(dst: usize, src: &[u8]) -> Result<(), i32> {
    const CHUNK: usize = 4096;
    if dst == 0 {
        return Err(libc::EFAULT);
    }
    let mut p = [-1; 2];
    // SAFETY: p is a two-element array.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(last_errno());
    }
    let mut r = Ok(());
    for (i, chunk) in src.chunks(CHUNK).enumerate() {
        // SAFETY: chunk is our buffer; the kernel checks the destination.
        let w = unsafe { libc::write(p[1], chunk.as_ptr().cast(), chunk.len()) };
        let got = unsafe { libc::read(p[0], (dst + i * CHUNK) as *mut libc::c_void, chunk.len()) };
        if w != chunk.len() as isize || got != chunk.len() as isize {
            r = Err(if got < 0 { last_errno() } else { libc::EFAULT });
            break;
        }
    }
    close(p[0]);
    close(p[1]);
    r
}

/// Copies a NUL-terminated string from the program's memory into `dst`
/// (without the NUL) and returns its length. ENAMETOOLONG if it does not
/// fit, EFAULT if unreadable.
pub fn read_user_cstr(dst: &mut [u8], src: usize) -> Result<usize, i32> {
    #[cfg(target_os = "linux")]
    let pid = own_pid();
    #[cfg(not(target_os = "linux"))]
    let pid = 0;
    read_user_cstr_in(pid, dst, src)
}

/// [`read_user_cstr`] with this process's id already known.
pub fn read_user_cstr_in(pid: libc::pid_t, dst: &mut [u8], src: usize) -> Result<usize, i32> {
    const PAGE: usize = 4096;
    let mut done = 0;
    while done < dst.len() {
        let addr = src.checked_add(done).ok_or(libc::EFAULT)?;
        // Never read past the page the string may end in.
        let chunk = (PAGE - addr % PAGE).min(dst.len() - done);
        read_user_in(pid, &mut dst[done..done + chunk], addr)?;
        if let Some(nul) = dst[done..done + chunk].iter().position(|&b| b == 0) {
            return Ok(done + nul);
        }
        done += chunk;
    }
    Err(libc::ENAMETOOLONG)
}

/// Closes every descriptor >= 3 that is not in `keep` (the broker must not
/// hold the program's pipes, sockets or files).
pub fn close_fds_except(keep: &[RawFd]) {
    for (lo, hi) in ranges_except(keep) {
        close_range(lo, hi);
    }
}

/// The ranges of descriptor numbers >= 3 not in `keep`, for
/// [`close_range`]: computed before a fork, so that the child between fork
/// and exec only makes system calls.
pub fn ranges_except(keep: &[RawFd]) -> Vec<(u32, u32)> {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|&fd| fd >= 3).collect();
    keep.sort_unstable();
    let mut out = Vec::with_capacity(keep.len() + 1);
    let mut lo: u32 = 3;
    for fd in keep {
        let fd = fd as u32;
        if fd > lo {
            out.push((lo, fd - 1));
        }
        lo = lo.max(fd + 1);
    }
    out.push((lo, u32::MAX));
    out
}

/// Closes the descriptors `lo..=hi` (async-signal-safe).
pub fn close_range(lo: u32, hi: u32) {
    // SAFETY: close_range only closes descriptors.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::syscall(libc::SYS_close_range, lo, hi, 0);
    }
    #[cfg(target_os = "freebsd")]
    unsafe {
        libc::close_range(lo, hi, 0);
    }
}
