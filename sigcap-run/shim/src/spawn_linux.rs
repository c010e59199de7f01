//! posix_spawn(3), posix_spawnp(3), popen(3) and pclose(3) on Linux
//! under sigcap-run (issue #11).
//!
//! glibc's posix_spawn and popen reach the kernel's execve from inside
//! libc, where the shim's execve cannot answer, and fail with EPERM. Here
//! they are the fork-then-exec they stand for: a child applies the
//! attributes and the file actions, then asks sigcap-run for the image
//! as exec_linux's execve does, and stays as the image's proxy, so the
//! pid the caller gets is the one that ends as the image ends. A pipe
//! with close-on-exec tells the caller whether the image started: end of
//! file (the proxy closed it) or the errno the spawn failed with.
//!
//! glibc has no call that reads a file-actions object back, so its
//! layout (spawn_int.h: an array of 32-byte tagged actions, tags only
//! appended since 2.29) is read here, and checked against glibc's own
//! `posix_spawn_file_actions_add*` when the program enters. On a glibc
//! that lays them out otherwise, posix_spawn fails with ENOTSUP rather
//! than run with misread actions.
//!
//! Not carried: POSIX_SPAWN_SETSID (the image cannot join a session its
//! proxy made) and the scheduling attributes (the image is sigcap-run's
//! child) fail with ENOTSUP; POSIX_SPAWN_RESETIDS holds anyway, since
//! the image runs with sigcap-run's real ids.
use crate::exec_linux::{active, keep_channel_off, next, run_found, run_image, set_errno, CHANNEL};
use std::ffi::{c_char, c_int, c_short, CStr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

extern "C" {
    static environ: *const *const c_char;
}

/// Whether glibc's file actions are laid out as [`Action::decode`] reads
/// them (checked by [`init`]).
static LAYOUT_OK: AtomicBool = AtomicBool::new(false);

/// The streams [`popen`] made and not yet [`pclose`]d: the FILE, the
/// proxy's pid, and the descriptor (closed in later popen children, as
/// POSIX asks).
static STREAMS: Mutex<Vec<(usize, libc::pid_t, c_int)>> = Mutex::new(Vec::new());

/// One file action, in the order the child applies it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Action<'a> {
    Close(c_int),
    Dup2(c_int, c_int),
    Open {
        fd: c_int,
        path: &'a CStr,
        oflag: c_int,
        mode: libc::mode_t,
    },
    Chdir(&'a CStr),
    Fchdir(c_int),
    Closefrom(c_int),
    Tcsetpgrp(c_int),
}

/// `posix_spawn_file_actions_t` as glibc's spawn.h declares it (the
/// libc crate keeps the fields private).
#[repr(C)]
struct GlibcFileActions {
    allocated: c_int,
    used: c_int,
    actions: *const GlibcAction,
    pad: [c_int; 16],
}

const _: () =
    assert!(std::mem::size_of::<GlibcFileActions>() == std::mem::size_of::<libc::posix_spawn_file_actions_t>());

/// The number of actions in `fa`.
unsafe fn used(fa: *const libc::posix_spawn_file_actions_t) -> usize {
    (*fa.cast::<GlibcFileActions>()).used.max(0) as usize
}

/// glibc's `struct __spawn_action` (spawn_int.h): a tag and a union of
/// the actions' arguments.
#[repr(C)]
struct GlibcAction {
    tag: c_int,
    arg: GlibcArgs,
}

#[repr(C)]
union GlibcArgs {
    /// close, fchdir, closefrom, tcsetpgrp: one descriptor; dup2: two.
    fds: [c_int; 2],
    open: GlibcOpen,
    /// chdir.
    path: *const c_char,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct GlibcOpen {
    fd: c_int,
    path: *const c_char,
    oflag: c_int,
    mode: libc::mode_t,
}

impl<'a> Action<'a> {
    /// The `i`th action of a glibc file-actions object; ENOTSUP for a tag
    /// this code does not know.
    unsafe fn decode(fa: *const libc::posix_spawn_file_actions_t, i: usize) -> Result<Action<'a>, c_int> {
        let raw = &*(*fa.cast::<GlibcFileActions>()).actions.add(i);
        let [fd, other] = raw.arg.fds;
        Ok(match raw.tag {
            0 => Action::Close(fd),
            1 => Action::Dup2(fd, other),
            2 => {
                let o = raw.arg.open;
                Action::Open {
                    fd: o.fd,
                    path: CStr::from_ptr(o.path),
                    oflag: o.oflag,
                    mode: o.mode,
                }
            }
            3 => Action::Chdir(CStr::from_ptr(raw.arg.path)),
            4 => Action::Fchdir(fd),
            5 => Action::Closefrom(fd),
            6 => Action::Tcsetpgrp(fd),
            _ => return Err(libc::ENOTSUP),
        })
    }
}

const _: () = assert!(std::mem::size_of::<GlibcAction>() == 32);

type AddFn = unsafe extern "C" fn(*mut libc::posix_spawn_file_actions_t, c_int) -> c_int;
type AddPathFn = unsafe extern "C" fn(*mut libc::posix_spawn_file_actions_t, *const c_char) -> c_int;

/// Checks that [`Action::decode`] reads back what glibc's own calls
/// wrote (each `_np` call only where this glibc has it).
pub(crate) fn init() {
    // SAFETY: a file-actions object made, filled and destroyed by glibc;
    // decode reads only the `__used` entries.
    let ok = unsafe {
        let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        if libc::posix_spawn_file_actions_init(&mut fa) != 0 {
            return;
        }
        let mut want = vec![Action::Close(7), Action::Dup2(8, 9)];
        libc::posix_spawn_file_actions_addclose(&mut fa, 7);
        libc::posix_spawn_file_actions_adddup2(&mut fa, 8, 9);
        libc::posix_spawn_file_actions_addopen(&mut fa, 10, c"/x".as_ptr(), libc::O_WRONLY | libc::O_APPEND, 0o640);
        want.push(Action::Open {
            fd: 10,
            path: c"/x",
            oflag: libc::O_WRONLY | libc::O_APPEND,
            mode: 0o640,
        });
        if let Some(f) = next::<AddPathFn>(c"posix_spawn_file_actions_addchdir_np") {
            f(&mut fa, c"/y".as_ptr());
            want.push(Action::Chdir(c"/y"));
        }
        for (name, make) in [
            (
                c"posix_spawn_file_actions_addfchdir_np",
                Action::Fchdir as fn(c_int) -> Action<'static>,
            ),
            (c"posix_spawn_file_actions_addclosefrom_np", Action::Closefrom),
            (c"posix_spawn_file_actions_addtcsetpgrp_np", Action::Tcsetpgrp),
        ] {
            if let Some(f) = next::<AddFn>(name) {
                f(&mut fa, 11);
                want.push(make(11));
            }
        }
        let got: Vec<_> = (0..used(&fa)).map(|i| Action::decode(&fa, i)).collect();
        // Compared before destroy: glibc owns the copies of the paths.
        let same = got.len() == want.len() && got.iter().zip(&want).all(|(g, w)| g.as_ref() == Ok(w));
        libc::posix_spawn_file_actions_destroy(&mut fa);
        same
    };
    LAYOUT_OK.store(ok, Ordering::Release);
}

type SpawnFn = unsafe extern "C" fn(
    *mut libc::pid_t,
    *const c_char,
    *const libc::posix_spawn_file_actions_t,
    *const libc::posix_spawnattr_t,
    *const *mut c_char,
    *const *mut c_char,
) -> c_int;

/// posix_spawn(3), answered by sigcap-run once the program entered.
#[no_mangle]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut libc::pid_t,
    path: *const c_char,
    fa: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    spawn_glibc(c"posix_spawn", false, pid, path, fa, attr, argv, envp)
}

/// posix_spawnp(3): the program is looked up on PATH as execvp does.
#[no_mangle]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut libc::pid_t,
    file: *const c_char,
    fa: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    spawn_glibc(c"posix_spawnp", true, pid, file, fa, attr, argv, envp)
}

/// What the child does before it asks for the image.
struct Setup<'a> {
    actions: Actions<'a>,
    flags: c_short,
    pgroup: libc::pid_t,
    sigdefault: libc::sigset_t,
    /// The mask the image starts with.
    mask: libc::sigset_t,
}

enum Actions<'a> {
    Glibc(*const libc::posix_spawn_file_actions_t),
    List(&'a [Action<'a>]),
}

impl Actions<'_> {
    fn len(&self) -> usize {
        match self {
            // SAFETY: a file-actions object the caller passed us.
            Actions::Glibc(fa) if !fa.is_null() => unsafe { used(*fa) },
            Actions::Glibc(_) => 0,
            Actions::List(l) => l.len(),
        }
    }

    unsafe fn get(&self, i: usize) -> Result<Action<'_>, c_int> {
        match self {
            Actions::Glibc(fa) => Action::decode(*fa, i),
            Actions::List(l) => Ok(l[i]),
        }
    }
}

const NOT_CARRIED: c_short = libc::POSIX_SPAWN_SETSID as c_short
    | libc::POSIX_SPAWN_SETSCHEDPARAM as c_short
    | libc::POSIX_SPAWN_SETSCHEDULER as c_short;

/// The C library's `name` before enter (ENOSYS without one); after, the
/// spawn with glibc's attributes and file actions, answered here.
#[allow(clippy::too_many_arguments)] // posix_spawn's own, and which one
unsafe fn spawn_glibc(
    name: &CStr,
    search: bool,
    pid: *mut libc::pid_t,
    path: *const c_char,
    fa: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    if !active() {
        return match next::<SpawnFn>(name) {
            Some(f) => f(pid, path, fa, attr, argv, envp),
            None => libc::ENOSYS,
        };
    }
    if path.is_null() {
        return libc::EFAULT;
    }
    let mut setup = Setup {
        actions: Actions::Glibc(fa),
        flags: 0,
        pgroup: 0,
        sigdefault: std::mem::zeroed(),
        mask: std::mem::zeroed(),
    };
    if !attr.is_null() {
        libc::posix_spawnattr_getflags(attr, &mut setup.flags);
        libc::posix_spawnattr_getpgroup(attr, &mut setup.pgroup);
        libc::posix_spawnattr_getsigdefault(attr, &mut setup.sigdefault);
        libc::posix_spawnattr_getsigmask(attr, &mut setup.mask);
    }
    if setup.flags & NOT_CARRIED != 0 {
        return libc::ENOTSUP;
    }
    if setup.actions.len() > 0 {
        if !LAYOUT_OK.load(Ordering::Acquire) {
            return libc::ENOTSUP;
        }
        for i in 0..setup.actions.len() {
            if let Err(e) = setup.actions.get(i) {
                return e;
            }
        }
    }
    let argv = argv as *const *const c_char;
    let envp = envp as *const *const c_char;
    match spawn(CStr::from_ptr(path).to_bytes(), search, argv, envp, &mut setup) {
        Ok(child) => {
            if !pid.is_null() {
                *pid = child;
            }
            0
        }
        Err(e) => e,
    }
}

/// Forks the child that becomes the image's proxy; returns its pid once
/// the image started, or the errno the start failed with (the child
/// reaped).
unsafe fn spawn(
    path: &[u8],
    search: bool,
    argv: *const *const c_char,
    envp: *const *const c_char,
    setup: &mut Setup<'_>,
) -> Result<libc::pid_t, c_int> {
    let mut p = [-1; 2];
    if libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
        return Err(*libc::__errno_location());
    }
    // No handler of the program runs in the child before the image's
    // mask is set. SIGSYS stays open (the shim's sigprocmask never
    // blocks it: a blocked one would kill the child at its first trapped
    // call).
    let mut all: libc::sigset_t = std::mem::zeroed();
    let mut old: libc::sigset_t = std::mem::zeroed();
    libc::sigfillset(&mut all);
    libc::sigprocmask(libc::SIG_BLOCK, &all, &mut old);
    if setup.flags & libc::POSIX_SPAWN_SETSIGMASK as c_short == 0 {
        setup.mask = old;
    }
    let child = libc::fork();
    if child == 0 {
        libc::close(p[0]);
        let mut notify = p[1];
        let e = run_child(path, search, argv, envp, setup, &mut notify);
        libc::write(notify, (&e as *const c_int).cast(), 4);
        libc::_exit(127);
    }
    let fork_errno = *libc::__errno_location();
    libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    libc::close(p[1]);
    if child < 0 {
        libc::close(p[0]);
        return Err(fork_errno);
    }
    // The child's wait for sigcap-run is bounded (exec_linux's start
    // timeout), and so is each file action the sandbox brokers.
    let mut e: c_int = 0;
    let n = loop {
        let n = libc::read(p[0], (&mut e as *mut c_int).cast(), 4);
        if n >= 0 || *libc::__errno_location() != libc::EINTR {
            break n;
        }
    };
    libc::close(p[0]);
    if n == 4 {
        let mut status = 0;
        while libc::waitpid(child, &mut status, 0) < 0 && *libc::__errno_location() == libc::EINTR {}
        return Err(e);
    }
    Ok(child)
}

/// In the child: the attributes, the file actions, then the image. Only
/// async-signal-safe calls (the caller may have threads).
unsafe fn run_child(
    path: &[u8],
    search: bool,
    argv: *const *const c_char,
    envp: *const *const c_char,
    setup: &Setup<'_>,
    notify: &mut c_int,
) -> c_int {
    if setup.flags & libc::POSIX_SPAWN_SETSIGDEF as c_short != 0 {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        // The shim's sigaction leaves SIGSYS, the sandbox's, alone.
        for s in 1..=libc::SIGRTMAX() {
            if libc::sigismember(&setup.sigdefault, s) == 1 {
                libc::sigaction(s, &dfl, std::ptr::null_mut());
            }
        }
    }
    if setup.flags & libc::POSIX_SPAWN_SETPGROUP as c_short != 0 && libc::setpgid(0, setup.pgroup) != 0 {
        return *libc::__errno_location();
    }
    for i in 0..setup.actions.len() {
        let Ok(a) = setup.actions.get(i) else {
            return libc::ENOTSUP;
        };
        if let Err(e) = apply(a, notify) {
            return e;
        }
    }
    libc::sigprocmask(libc::SIG_SETMASK, &setup.mask, std::ptr::null_mut());
    if search {
        run_found(path, argv, envp)
    } else {
        run_image(path, argv, envp)
    }
}

/// Moves the child's own descriptors (the start pipe, the channel) off a
/// number an action is about to take.
unsafe fn clear(target: c_int, notify: &mut c_int) -> Result<(), c_int> {
    if *notify == target {
        let moved = libc::fcntl(target, libc::F_DUPFD_CLOEXEC, target + 1);
        if moved < 0 {
            return Err(*libc::__errno_location());
        }
        libc::close(target);
        *notify = moved;
    }
    keep_channel_off(target)
}

fn own(fd: c_int, notify: c_int) -> bool {
    fd == notify || fd == CHANNEL.load(Ordering::Acquire)
}

fn errno_if(failed: bool) -> Result<(), c_int> {
    if failed {
        // SAFETY: reading this thread's errno.
        Err(unsafe { *libc::__errno_location() })
    } else {
        Ok(())
    }
}

/// One file action as glibc's child applies it (2.36), keeping the
/// child's own descriptors.
unsafe fn apply(a: Action<'_>, notify: &mut c_int) -> Result<(), c_int> {
    match a {
        // glibc reports only a number out of range.
        Action::Close(fd) if fd < 0 => Err(libc::EBADF),
        Action::Close(fd) if own(fd, *notify) => Ok(()),
        Action::Close(fd) => {
            libc::close(fd);
            Ok(())
        }
        Action::Dup2(fd, new) if fd == new => {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            errno_if(flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0)
        }
        Action::Dup2(fd, new) => {
            clear(new, notify)?;
            errno_if(libc::dup2(fd, new) < 0)
        }
        Action::Open { fd, path, oflag, mode } => {
            clear(fd, notify)?;
            libc::close(fd);
            let got = libc::open(path.as_ptr(), oflag, mode as libc::c_uint);
            errno_if(got < 0)?;
            if got != fd {
                let r = libc::dup2(got, fd);
                let e = *libc::__errno_location();
                libc::close(got);
                if r < 0 {
                    return Err(e);
                }
            }
            Ok(())
        }
        Action::Chdir(path) => errno_if(libc::chdir(path.as_ptr()) != 0),
        Action::Fchdir(fd) => errno_if(libc::fchdir(fd) != 0),
        // Only what the image would inherit is closed: a close-on-exec
        // descriptor never reaches it, and the sandbox's own are such.
        Action::Closefrom(from) => {
            for fd in from.max(0)..4096 {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags >= 0 && flags & libc::FD_CLOEXEC == 0 && !own(fd, *notify) {
                    libc::close(fd);
                }
            }
            Ok(())
        }
        Action::Tcsetpgrp(fd) => errno_if(libc::tcsetpgrp(fd, libc::getpgrp()) != 0),
    }
}

type PopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE;
type PcloseFn = unsafe extern "C" fn(*mut libc::FILE) -> c_int;

/// popen(3): `sh -c cmd` with one end of a pipe as its standard input or
/// output.
#[no_mangle]
pub unsafe extern "C" fn popen(cmd: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    if !active() {
        return match next::<PopenFn>(c"popen") {
            Some(f) => f(cmd, mode),
            None => {
                set_errno(libc::ENOSYS);
                std::ptr::null_mut()
            }
        };
    }
    // glibc's modes: "r" or "w", and "e" for close-on-exec.
    let (mut read, mut write, mut cloexec, mut other) = (false, false, false, false);
    if !mode.is_null() {
        for &c in CStr::from_ptr(mode).to_bytes() {
            match c {
                b'r' => read = true,
                b'w' => write = true,
                b'e' => cloexec = true,
                _ => other = true,
            }
        }
    }
    if read == write || other || cmd.is_null() {
        set_errno(libc::EINVAL);
        return std::ptr::null_mut();
    }
    let mut p = [-1; 2];
    if libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
        return std::ptr::null_mut();
    }
    let (mine, theirs, target) = if read { (p[0], p[1], 1) } else { (p[1], p[0], 0) };
    // Held across the fork, so that the child's copy is whole.
    let mut streams = STREAMS.lock().unwrap_or_else(|e| e.into_inner());
    let mut list = vec![Action::Dup2(theirs, target)];
    list.extend(streams.iter().map(|&(_, _, fd)| Action::Close(fd)));
    let mut setup = Setup {
        actions: Actions::List(&list),
        flags: 0,
        pgroup: 0,
        sigdefault: std::mem::zeroed(),
        mask: std::mem::zeroed(),
    };
    let argv = [c"sh".as_ptr(), c"-c".as_ptr(), cmd, std::ptr::null()];
    let started = spawn(b"/bin/sh", false, argv.as_ptr(), environ, &mut setup);
    libc::close(theirs);
    let child = match started {
        Ok(child) => child,
        Err(e) => {
            libc::close(mine);
            set_errno(e);
            return std::ptr::null_mut();
        }
    };
    if !cloexec {
        libc::fcntl(mine, libc::F_SETFD, 0);
    }
    let fp = libc::fdopen(mine, if read { c"r".as_ptr() } else { c"w".as_ptr() });
    if fp.is_null() {
        let e = *libc::__errno_location();
        libc::close(mine);
        let mut status = 0;
        while libc::waitpid(child, &mut status, 0) < 0 && *libc::__errno_location() == libc::EINTR {}
        set_errno(e);
        return std::ptr::null_mut();
    }
    streams.push((fp as usize, child, mine));
    fp
}

/// pclose(3): closes a stream [`popen`] made and waits for its command.
#[no_mangle]
pub unsafe extern "C" fn pclose(fp: *mut libc::FILE) -> c_int {
    let entry = {
        let mut streams = STREAMS.lock().unwrap_or_else(|e| e.into_inner());
        let at = streams.iter().position(|&(f, _, _)| f == fp as usize);
        at.map(|i| streams.swap_remove(i))
    };
    let Some((_, child, _)) = entry else {
        return match next::<PcloseFn>(c"pclose") {
            Some(f) => f(fp),
            None => set_errno(libc::ENOSYS),
        };
    };
    libc::fclose(fp);
    let mut status = 0;
    loop {
        if libc::waitpid(child, &mut status, 0) >= 0 {
            return status;
        }
        if *libc::__errno_location() != libc::EINTR {
            return -1;
        }
    }
}
