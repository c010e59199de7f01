//! exec on Linux (issue #11): the image is started by sigcap-run.
//!
//! In the sandbox the kernel's execve cannot carry the sandbox over: the
//! seccomp filter survives exec, the handler does not, and the first
//! trapped call of the run-time linker would kill the new image. So
//! after the program entered, `execve`, `execv`, `execvp`, `execvpe`
//! and `system` are answered here: the request (program, arguments,
//! environment, working directory, signal mask and ignored signals, and
//! every descriptor without close-on-exec) goes to sigcap-run over the
//! inherited channel (`SIGCAP_RUN_EXEC_FD`). sigcap-run decides it under
//! the policy's `exec` rules, starts the image confined from its first
//! instruction (`sigcap::ImageConfinement`) in this process's group,
//! and records it. This process then stands in for the image, as its
//! proxy: it closes every other descriptor (so pipes see their end),
//! passes on the signals sent to it (those a terminal sends reach the
//! image through the group already), and exits as the image exits.
//!
//! The caller keeps its pid for its parent, which waits on the proxy;
//! the image has a pid of its own, and sigcap-run as its parent. vfork()
//! is fork() here, so that no parent is held while its child stands in
//! for an image; dup2 and dup3 keep the channel out of the way, and
//! close_range and closefrom keep it open (keep.rs). glibc's execl family calls its
//! internal execve, so `execl`, `execle` and `execlp` are answered here
//! too (their variadic bodies are C, `execl_linux.c`); posix_spawn and
//! popen are in spawn_linux.rs. `fexecve` and `execveat` still reach the
//! kernel and fail with EPERM, unrecorded.
//!
//! No allocation on the way (a vfork child shares the parent's heap): the
//! request is built in an anonymous mapping, the rest on the stack.
use sigcap::answer;
use std::ffi::{c_char, c_int, CStr};
use std::sync::atomic::{AtomicI32, Ordering};

extern "C" {
    static environ: *const *const c_char;
}

/// The channel to sigcap-run, close-on-exec, -1 without one.
pub(crate) static CHANNEL: AtomicI32 = AtomicI32::new(-1);
/// The proxy's reply socket, for the signal handler.
static PROXY: AtomicI32 = AtomicI32::new(-1);
/// How long sigcap-run may take to start an image.
const START_TIMEOUT_MS: c_int = 30_000;
/// Highest descriptor number looked at for inheritance.
const FD_SCAN_MAX: c_int = 4096;
/// Signals the proxy passes on to the image.
const FORWARDED: [c_int; 12] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGWINCH,
    libc::SIGCONT,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

/// Takes the channel from the environment (at enter); it stays open in
/// forks, never in an image the kernel execs.
pub(crate) fn init() {
    let Some(fd) = std::env::var("SIGCAP_RUN_EXEC_FD")
        .ok()
        .and_then(|v| v.parse::<c_int>().ok())
    else {
        return;
    };
    // Moved high, out of the way of the numbers programs pick themselves
    // (a shell's `exec 3>file`); where the limit is lower it stays.
    // SAFETY: fcntl and close on the inherited number; a closed one fails.
    unsafe {
        let high = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, CHANNEL_FLOOR);
        if high >= 0 {
            libc::close(fd);
            CHANNEL.store(high, Ordering::Release);
        } else if libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) == 0 {
            CHANNEL.store(fd, Ordering::Release);
        }
    }
}

/// Where [`init`] moves the channel to.
const CHANNEL_FLOOR: c_int = 512;

// The channel outlives the program's bulk descriptor calls: a child that
// closes every descriptor before it execs (CPython's subprocess closes
// with close_range, others with closefrom) would otherwise have no way
// left to ask for its image, and a dup2 onto its number would send the
// next request to the program's own file. Raw system calls: these run in
// vfork children, where nothing may be resolved or locked, and none of
// them is a cancellation point. A plain close() of the channel's number
// is not answered here: nothing closes a number it never opened.

/// Moves the channel off `target` before a call takes that number.
pub(crate) unsafe fn keep_channel_off(target: c_int) -> Result<(), c_int> {
    let ch = CHANNEL.load(Ordering::Acquire);
    if ch < 0 || ch != target {
        return Ok(());
    }
    let moved = libc::fcntl(ch, libc::F_DUPFD_CLOEXEC, target + 1);
    if moved < 0 {
        return Err(*libc::__errno_location());
    }
    libc::close(ch);
    CHANNEL.store(moved, Ordering::Release);
    Ok(())
}

/// dup2(2), moving the channel off `new` first.
#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    if old != new {
        if let Err(e) = keep_channel_off(new) {
            return set_errno(e);
        }
    }
    libc::syscall(libc::SYS_dup2, old, new) as c_int
}

/// dup3(2), moving the channel off `new` first.
#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    if old != new {
        if let Err(e) = keep_channel_off(new) {
            return set_errno(e);
        }
    }
    libc::syscall(libc::SYS_dup3, old, new, flags) as c_int
}

pub(crate) fn active() -> bool {
    crate::entered() && CHANNEL.load(Ordering::Acquire) >= 0
}

type ExecveFn = unsafe extern "C" fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
type ExecvpeFn = ExecveFn;
type SystemFn = unsafe extern "C" fn(*const c_char) -> c_int;

pub(crate) unsafe fn next<T>(name: &CStr) -> Option<T> {
    let p = libc::dlsym(libc::RTLD_NEXT, name.as_ptr());
    (!p.is_null()).then(|| std::mem::transmute_copy(&p))
}

pub(crate) unsafe fn set_errno(e: c_int) -> c_int {
    *libc::__errno_location() = e;
    -1
}

/// execve(2), answered by sigcap-run once the program entered.
#[no_mangle]
pub unsafe extern "C" fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    if !active() {
        return match next::<ExecveFn>(c"execve") {
            Some(f) => f(path, argv, envp),
            None => set_errno(libc::ENOSYS),
        };
    }
    if path.is_null() {
        return set_errno(libc::EFAULT);
    }
    set_errno(run_image(CStr::from_ptr(path).to_bytes(), argv, envp))
}

/// execv(3).
#[no_mangle]
pub unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    execve(path, argv, environ)
}

/// execvp(3).
#[no_mangle]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    execvpe(file, argv, environ)
}

/// execvpe(3): the search of PATH as glibc makes it (an empty entry is
/// the working directory; EACCES remembered, the search goes on past
/// files that are missing or not allowed).
#[no_mangle]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    if !active() {
        return match next::<ExecvpeFn>(c"execvpe") {
            Some(f) => f(file, argv, envp),
            None => set_errno(libc::ENOSYS),
        };
    }
    if file.is_null() {
        return set_errno(libc::EFAULT);
    }
    set_errno(run_found(CStr::from_ptr(file).to_bytes(), argv, envp))
}

/// [`run_image`] of the first program `name` names on PATH (a name with
/// a slash is a path); returns only if none was started, with the errno.
pub(crate) unsafe fn run_found(name: &[u8], argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    if name.is_empty() {
        return libc::ENOENT;
    }
    if name.contains(&b'/') {
        return run_image(name, argv, envp);
    }
    let path = libc::getenv(c"PATH".as_ptr());
    let path = if path.is_null() {
        &b"/bin:/usr/bin"[..]
    } else {
        CStr::from_ptr(path).to_bytes()
    };
    let mut seen_eacces = false;
    let mut buf = [0u8; 4096];
    for dir in path.split(|&c| c == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let n = dir.len() + 1 + name.len();
        if n > buf.len() {
            continue;
        }
        buf[..dir.len()].copy_from_slice(dir);
        buf[dir.len()] = b'/';
        buf[dir.len() + 1..n].copy_from_slice(name);
        match run_image(&buf[..n], argv, envp) {
            libc::EACCES => seen_eacces = true,
            libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
            e => return e,
        }
    }
    if seen_eacces {
        libc::EACCES
    } else {
        libc::ENOENT
    }
}

// execl(3), execle(3), execlp(3): C variadics, which Rust cannot define
// on stable. Their bodies are C (execl_linux.c, built by build.rs), and a
// cdylib exports no C symbol, so each exported name is a naked jump to
// its body, which finds the arguments where the caller left them.
extern "C" {
    fn sigcap_run_execl();
    fn sigcap_run_execle();
    fn sigcap_run_execlp();
}

macro_rules! variadic_entry {
    ($name:ident, $body:ident) => {
        #[unsafe(naked)]
        #[no_mangle]
        pub unsafe extern "C" fn $name() {
            #[cfg(target_arch = "x86_64")]
            core::arch::naked_asm!("jmp {}", sym $body);
            #[cfg(target_arch = "aarch64")]
            core::arch::naked_asm!("b {}", sym $body);
        }
    };
}
variadic_entry!(execl, sigcap_run_execl);
variadic_entry!(execle, sigcap_run_execle);
variadic_entry!(execlp, sigcap_run_execlp);

/// vfork(2) is fork(2) here. A vfork child that execs stands in for its
/// image rather than exec, so its parent would stay suspended until the
/// image ends; an image writing more than a pipe holds to a parent that
/// reads only once the call returned (CPython's subprocess) would wait
/// for ever. POSIX lets vfork be fork; what the child writes to memory is
/// then not seen by its parent (undefined behaviour anyway). A wrapper
/// cannot call the real vfork (its child would return through this frame
/// before the parent does), so it is fork before enter as well.
#[no_mangle]
pub unsafe extern "C" fn vfork() -> libc::pid_t {
    libc::fork()
}

/// system(3): glibc's runs the shell with its internal posix_spawn,
/// which the sandbox refuses; this one forks and execs through
/// [`execve`], with POSIX's signal handling (SIGINT and SIGQUIT ignored
/// and SIGCHLD blocked while it waits).
#[no_mangle]
pub unsafe extern "C" fn system(cmd: *const c_char) -> c_int {
    if !active() {
        return match next::<SystemFn>(c"system") {
            Some(f) => f(cmd),
            None => set_errno(libc::ENOSYS),
        };
    }
    if cmd.is_null() {
        return 1;
    }
    let mut ign: libc::sigaction = std::mem::zeroed();
    ign.sa_sigaction = libc::SIG_IGN;
    let (mut old_int, mut old_quit): (libc::sigaction, libc::sigaction) = (std::mem::zeroed(), std::mem::zeroed());
    libc::sigaction(libc::SIGINT, &ign, &mut old_int);
    libc::sigaction(libc::SIGQUIT, &ign, &mut old_quit);
    let mut chld: libc::sigset_t = std::mem::zeroed();
    let mut old_mask: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut chld);
    libc::sigaddset(&mut chld, libc::SIGCHLD);
    libc::sigprocmask(libc::SIG_BLOCK, &chld, &mut old_mask);
    let restore = |old_int: &libc::sigaction, old_quit: &libc::sigaction, old_mask: &libc::sigset_t| {
        libc::sigaction(libc::SIGINT, old_int, std::ptr::null_mut());
        libc::sigaction(libc::SIGQUIT, old_quit, std::ptr::null_mut());
        libc::sigprocmask(libc::SIG_SETMASK, old_mask, std::ptr::null_mut());
    };
    let pid = libc::fork();
    if pid == 0 {
        restore(&old_int, &old_quit, &old_mask);
        let argv = [c"sh".as_ptr(), c"-c".as_ptr(), cmd, std::ptr::null()];
        execve(c"/bin/sh".as_ptr(), argv.as_ptr(), environ);
        libc::_exit(127);
    }
    let mut status = -1;
    if pid > 0 {
        while libc::waitpid(pid, &mut status, 0) < 0 && *libc::__errno_location() == libc::EINTR {}
    }
    restore(&old_int, &old_quit, &old_mask);
    status
}

/// C strings of a NULL-ended vector.
unsafe fn strings<'a>(v: *const *const c_char) -> impl Iterator<Item = &'a [u8]> {
    let mut i = 0;
    std::iter::from_fn(move || {
        if v.is_null() {
            return None;
        }
        let p = *v.add(i);
        if p.is_null() {
            return None;
        }
        i += 1;
        Some(CStr::from_ptr(p).to_bytes())
    })
}

/// Asks sigcap-run for the image; returns only if it was not started,
/// with the errno the exec fails with.
pub(crate) unsafe fn run_image(path: &[u8], argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    let chan = CHANNEL.load(Ordering::Acquire);
    let mut pair = [-1; 2];
    if libc::socketpair(
        libc::AF_UNIX,
        libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
        0,
        pair.as_mut_ptr(),
    ) != 0
    {
        return *libc::__errno_location();
    }
    let [mine, theirs] = pair;
    let fail = |e: c_int| {
        libc::close(mine);
        libc::close(theirs);
        e
    };
    // The descriptors the image inherits: those without close-on-exec.
    let mut fds = [0 as c_int; sigcap::IMAGE_FDS_MAX + 1];
    fds[0] = theirs;
    let mut nfds = 0;
    for fd in 0..FD_SCAN_MAX {
        if fd == mine || fd == theirs || fd == chan {
            continue;
        }
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags < 0 || flags & libc::FD_CLOEXEC != 0 {
            continue;
        }
        if nfds == sigcap::IMAGE_FDS_MAX {
            return fail(libc::EMFILE);
        }
        nfds += 1;
        fds[nfds] = fd;
    }
    let mut cwd = [0u8; 4096];
    if libc::getcwd(cwd.as_mut_ptr().cast(), cwd.len()).is_null() {
        return fail(*libc::__errno_location());
    }
    let cwd_len = cwd.iter().position(|&c| c == 0).unwrap_or(0);
    let mut mask: libc::sigset_t = std::mem::zeroed();
    libc::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
    let mut sig = SigState { mask: 0, ignored: 0 };
    for s in 1..64 {
        if libc::sigismember(&mask, s) == 1 {
            sig.mask |= 1 << s;
        }
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(s, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN {
            sig.ignored |= 1 << s;
        }
    }
    let buf = libc::mmap(
        std::ptr::null_mut(),
        sigcap::IMAGE_REQUEST_MAX,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
        0,
    );
    if buf == libc::MAP_FAILED {
        return fail(libc::ENOMEM);
    }
    let slice = std::slice::from_raw_parts_mut(buf as *mut u8, sigcap::IMAGE_REQUEST_MAX);
    let encoded = sigcap::encode_request(
        slice,
        libc::getpgrp(),
        sig.mask,
        sig.ignored,
        &fds[1..=nfds],
        path,
        &cwd[..cwd_len],
        strings(argv),
        strings(envp),
    );
    let sent = match encoded {
        Ok(n) => send_with_fds(chan, &slice[..n], &fds[..=nfds]),
        Err(e) => Err(e),
    };
    libc::munmap(buf, sigcap::IMAGE_REQUEST_MAX);
    libc::close(theirs);
    if let Err(e) = sent {
        libc::close(mine);
        return e;
    }
    match recv_answer(mine, START_TIMEOUT_MS) {
        Some((answer::STARTED, _)) => proxy(mine),
        Some((answer::REFUSED, e)) if e > 0 => {
            libc::close(mine);
            e
        }
        _ => {
            libc::close(mine);
            libc::EIO
        }
    }
}

struct SigState {
    mask: u64,
    ignored: u64,
}

unsafe fn send_with_fds(sock: c_int, bytes: &[u8], fds: &[c_int]) -> Result<(), c_int> {
    const SPACE: usize = (sigcap::IMAGE_FDS_MAX + 1) * 4 + 64;
    #[repr(C, align(8))]
    struct Cmsg([u8; SPACE]);
    let mut cbuf = Cmsg([0; SPACE]);
    let data_len = std::mem::size_of_val(fds) as u32;
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut _,
        iov_len: bytes.len(),
    };
    let mut msg: libc::msghdr = std::mem::zeroed();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = libc::CMSG_SPACE(data_len) as usize;
    let c = libc::CMSG_FIRSTHDR(&msg);
    (*c).cmsg_level = libc::SOL_SOCKET;
    (*c).cmsg_type = libc::SCM_RIGHTS;
    (*c).cmsg_len = libc::CMSG_LEN(data_len) as usize;
    std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(c) as *mut c_int, fds.len());
    if libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) < 0 {
        return Err(*libc::__errno_location());
    }
    Ok(())
}

/// One answer (tag, value), waiting at most `ms` (-1: as long as the
/// image runs; EINTR from a passed-on signal goes on waiting).
unsafe fn recv_answer(sock: c_int, ms: c_int) -> Option<(u8, i32)> {
    loop {
        let mut p = libc::pollfd {
            fd: sock,
            events: libc::POLLIN,
            revents: 0,
        };
        let r = libc::poll(&mut p, 1, ms);
        if r < 0 && *libc::__errno_location() == libc::EINTR {
            continue;
        }
        if r <= 0 {
            return None;
        }
        let mut b = [0u8; 5];
        let n = libc::recv(sock, b.as_mut_ptr().cast(), b.len(), 0);
        if n < 0 && *libc::__errno_location() == libc::EINTR {
            continue;
        }
        if n != 5 {
            return None;
        }
        return Some((b[0], i32::from_ne_bytes([b[1], b[2], b[3], b[4]])));
    }
}

extern "C" fn pass_on(sig: c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // A terminal's signals (si_code SI_KERNEL) went to the whole group,
    // the image included.
    // SAFETY: the kernel's siginfo.
    if unsafe { (*info).si_code } == libc::SI_KERNEL {
        return;
    }
    let mut m = [answer::SIGNAL, 0, 0, 0, 0];
    m[1..].copy_from_slice(&sig.to_ne_bytes());
    // SAFETY: send of a stack buffer; never blocks.
    unsafe {
        libc::send(
            PROXY.load(Ordering::Relaxed),
            m.as_ptr().cast(),
            m.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
}

/// Stands in for the image until it ends, then ends the same way.
unsafe fn proxy(sock: c_int) -> ! {
    PROXY.store(sock, Ordering::Release);
    let mut act: libc::sigaction = std::mem::zeroed();
    act.sa_sigaction = pass_on as *const () as usize;
    act.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    libc::sigfillset(&mut act.sa_mask);
    let mut set: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut set);
    for s in FORWARDED {
        libc::sigaction(s, &act, std::ptr::null_mut());
        libc::sigaddset(&mut set, s);
    }
    libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    // Every other descriptor goes: a pipe's reader sees the end when the
    // image closes its copy.
    if sock > 0 {
        libc::syscall(libc::SYS_close_range, 0u32, (sock - 1) as u32, 0u32);
    }
    libc::syscall(libc::SYS_close_range, (sock + 1) as u32, u32::MAX, 0u32);
    loop {
        match recv_answer(sock, -1) {
            Some((answer::EXITED, code)) => libc::_exit(code),
            Some((answer::KILLED, sig)) => {
                let none = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &none);
                libc::signal(sig, libc::SIG_DFL);
                let mut one: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut one);
                libc::sigaddset(&mut one, sig);
                libc::sigprocmask(libc::SIG_UNBLOCK, &one, std::ptr::null_mut());
                libc::kill(libc::getpid(), sig);
                libc::_exit(128 + sig);
            }
            Some(_) => {}
            // sigcap-run is gone.
            None => libc::_exit(127),
        }
    }
}
