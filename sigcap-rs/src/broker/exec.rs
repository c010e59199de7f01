//! Starting the broker by exec (issue #11 item 1).
//!
//! `enter()` may run while other threads hold the C library's or the
//! allocator's locks; a forked copy of such a process that went on to run
//! Rust code could wait on them forever. So nothing of ours runs between
//! fork and exec: the child only clears close-on-exec on three
//! descriptors, closes the rest (`close_range`) and executes an image
//! (`execveat(fd, "", AT_EMPTY_PATH)` on Linux, `fexecve` on FreeBSD),
//! with every signal blocked so that no handler of the program runs in it
//! either. The image is the program's own executable, opened before the
//! fork (a file replaced on disk meanwhile is not run), or the one given
//! to [`crate::Builder::broker_program`].
//!
//! In the new image the constructor [`BROKER_ENTRY`] (an `.init_array`
//! entry, run by the dynamic linker or the C runtime before `main`) finds
//! the marker `SIGCAP_BROKER=<config>:<control>:<ready>` in the
//! environment, runs the broker and `_exit`s; in every other process it
//! reads one environment variable and returns. The marker names the only
//! descriptors the broker keeps: a memfd with the [`Config`] (the policy in
//! its TOML form, the working directory, the identity of the program's end
//! of the control socket), the broker's end of the control socket, and
//! the ready pipe. The broker opens the policy's roots itself, with the
//! same ambient authority the program had.
//!
//! Not the program's child: on Linux the exec'd broker forks once more (a
//! fresh single-threaded process, so that fork is safe) and the
//! intermediate exits at once; `enter()` reaps the intermediate through a
//! pidfd (`CLONE_PIDFD`), so a recycled pid is never signalled. A thread
//! of the program that calls `wait()` meanwhile may collect the
//! intermediate instead (then `enter()` finds it gone, which is fine);
//! the broker itself is never the program's child. On FreeBSD the broker
//! is `pdfork`ed, which `wait()` does not return and whose exit sends no
//! SIGCHLD (see [`spawn_image`]).
//!
//! A set-user-ID or set-group-ID image (`AT_SECURE` on Linux,
//! `issetugid()` on FreeBSD) never becomes a broker: whoever executes it
//! chooses the environment and the descriptors, hence the policy, and
//! would get the image's privileges served over the control socket.
use super::{become_broker, open_root, serve, Pool, State};
use crate::error::{Error, Result};
use crate::policy::Policy;
use crate::sys;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The environment variable that makes an image run as the broker.
pub const MARKER: &str = "SIGCAP_BROKER";

/// Exit status of an image that found a marker it will not act on.
const BAD_MARKER: i32 = 127;

/// What the broker needs from the program, carried in a memfd.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Config {
    pub policy: Policy,
    /// The program's end of the control socket (see [`State::ctl_peer`]).
    pub ctl_peer: Option<sys::FileId>,
}

const CONFIG_MAGIC: &[u8; 4] = b"SCB1";

impl Config {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = CONFIG_MAGIC.to_vec();
        let id = self.ctl_peer.unwrap_or(sys::FileId { dev: 0, ino: 0 });
        b.push(self.ctl_peer.is_some() as u8);
        b.extend_from_slice(&id.dev.to_le_bytes());
        b.extend_from_slice(&id.ino.to_le_bytes());
        let toml = self.policy.to_toml();
        b.extend_from_slice(&(toml.len() as u32).to_le_bytes());
        b.extend_from_slice(toml.as_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8]) -> std::result::Result<Config, String> {
        fn take<'a>(b: &mut &'a [u8], n: usize) -> std::result::Result<&'a [u8], String> {
            if b.len() < n {
                return Err("truncated broker configuration".into());
            }
            let (h, t) = b.split_at(n);
            *b = t;
            Ok(h)
        }
        let u64_of = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("8 bytes"));
        let mut b = b;
        if take(&mut b, 4)? != CONFIG_MAGIC {
            return Err("not a broker configuration".into());
        }
        let has_peer = take(&mut b, 1)?[0] != 0;
        let dev = u64_of(take(&mut b, 8)?);
        let ino = u64_of(take(&mut b, 8)?);
        let mut part = || -> std::result::Result<&[u8], String> {
            let n = u32::from_le_bytes(take(&mut b, 4)?.try_into().expect("4 bytes")) as usize;
            take(&mut b, n)
        };
        let toml = std::str::from_utf8(part()?).map_err(|_| "policy is not UTF-8".to_string())?;
        let policy = Policy::from_toml(toml).map_err(|e| e.to_string())?;
        if !b.is_empty() {
            return Err("trailing bytes in the broker configuration".into());
        }
        Ok(Config {
            policy,
            ctl_peer: has_peer.then_some(sys::FileId { dev, ino }),
        })
    }
}

/// The program's own executable, opened to be executed by descriptor.
pub(crate) fn open_image(program: Option<&Path>) -> Result<OwnedFd> {
    let path: PathBuf = match program {
        Some(p) => p.to_owned(),
        None => own_executable()?,
    };
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Sys {
        what: "broker image path",
        source: std::io::Error::from_raw_os_error(libc::EINVAL),
    })?;
    #[cfg(target_os = "linux")]
    let flags = libc::O_PATH | libc::O_CLOEXEC;
    #[cfg(not(target_os = "linux"))]
    let flags = libc::O_EXEC | libc::O_CLOEXEC;
    // SAFETY: a valid C string; the descriptor is ours.
    let fd = unsafe { libc::open(c.as_ptr(), flags) };
    if fd < 0 {
        return Err(Error::Sys {
            what: "open the broker's image",
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(target_os = "linux")]
fn own_executable() -> Result<PathBuf> {
    // The magic link is followed at open: the descriptor is the very file
    // this process runs, even if its name was since replaced.
    Ok(PathBuf::from("/proc/self/exe"))
}

#[cfg(not(target_os = "linux"))]
fn own_executable() -> Result<PathBuf> {
    let mut buf = [0u8; libc::PATH_MAX as usize];
    // SAFETY: elf_aux_info writes at most buf.len() bytes.
    let r = unsafe { libc::elf_aux_info(libc::AT_EXECPATH, buf.as_mut_ptr().cast(), buf.len() as libc::c_int) };
    if r != 0 {
        return Err(Error::Sys {
            what: "elf_aux_info(AT_EXECPATH)",
            source: std::io::Error::from_raw_os_error(r),
        });
    }
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(&buf[..n])))
}

/// A memfd holding `bytes`, read from offset 0 by the broker.
pub(crate) fn config_memfd(bytes: &[u8]) -> Result<OwnedFd> {
    // SAFETY: a valid C string.
    let fd = unsafe { libc::memfd_create(c"sigcap-broker-config".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::last_os("memfd_create for the broker's configuration"));
    }
    // SAFETY: fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut done = 0;
    while done < bytes.len() {
        // SAFETY: writing from a live slice.
        let n = unsafe { libc::write(fd.as_raw_fd(), bytes[done..].as_ptr().cast(), bytes.len() - done) };
        if n <= 0 {
            return Err(Error::last_os("write the broker's configuration"));
        }
        done += n as usize;
    }
    Ok(fd)
}

/// The started child: on Linux the intermediate (with its pidfd), on
/// FreeBSD the broker itself (with its process descriptor).
pub(crate) struct Child {
    /// Checked against the broker's own word on FreeBSD.
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    pub pid: libc::pid_t,
    /// Linux: a pidfd of the intermediate; FreeBSD: the process descriptor.
    pub fd: RawFd,
}

/// Forks and executes `image` with `argv[0] = "sigcap-broker"`, the
/// program's environment without any `SIGCAP_BROKER`, and a marker naming
/// `keep` (config, control, ready). Between fork and exec only system
/// calls run, on data prepared here.
///
/// FreeBSD: `pdfork(PD_DAEMON | PD_CLOEXEC)`. A process with a process
/// descriptor is skipped by `wait(-1)` (`proc_to_reap`, P_ALL: "if
/// (p->p_procdesc == NULL || ...)", sys/kern/kern_exit.c) and its exit
/// signals the parent only once the descriptor is closed (`exit1` asks
/// `procdesc_exit`, sys/kern/kern_exit.c and sys_procdesc.c, which returns
/// 1, "so that init will get SIGCHLD", only for a closed descriptor). With
/// PD_DAEMON, closing the descriptor (the program's `closefrom`, its exit
/// while forked children still use the broker) does not SIGKILL the
/// broker: `procdesc_close` reparents it to its reaper and sends SIGKILL
/// only without PDF_DAEMON (sys/kern/sys_procdesc.c).
pub(crate) fn spawn_image(image: RawFd, keep: [RawFd; 3]) -> Result<Child> {
    let marker = format!("{MARKER}={}:{}:{}", keep[0], keep[1], keep[2]);
    let mut env: Vec<CString> = Vec::new();
    for (k, v) in std::env::vars_os() {
        if k.as_bytes() == MARKER.as_bytes() {
            continue;
        }
        let mut kv = k.into_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        if let Ok(c) = CString::new(kv) {
            env.push(c);
        }
    }
    env.push(CString::new(marker).expect("no NUL"));
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    let argv: [*const libc::c_char; 2] = [c"sigcap-broker".as_ptr(), std::ptr::null()];
    let ranges = sys::ranges_except(&[image, keep[0], keep[1], keep[2]]);

    // SAFETY: sigset operations on local sets.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    let (pid, fd) = fork_raw();
    if pid == 0 {
        // SAFETY: the child of a raw fork: system calls only, on the data
        // prepared above, then exec or _exit.
        unsafe { exec_child(image, &keep, &ranges, &argv, &envp) }
    }
    // SAFETY: restoring the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    if pid < 0 {
        return Err(Error::last_os("fork for the broker"));
    }
    Ok(Child { pid, fd })
}

/// fork without the C library's atfork handlers (which are the program's
/// code): Linux `clone(CLONE_PIDFD | SIGCHLD)`; FreeBSD `pdfork`.
#[cfg(target_os = "linux")]
fn fork_raw() -> (libc::pid_t, RawFd) {
    let mut pidfd: libc::c_int = -1;
    // SAFETY: x86-64 clone(flags, stack, parent_tid, child_tid, tls): no
    // new stack (the child runs on a copy of this one, like fork), the
    // pidfd stored through parent_tid.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PIDFD | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            &mut pidfd as *mut libc::c_int,
            0usize,
            0usize,
        )
    };
    (pid as libc::pid_t, pidfd)
}

/// FreeBSD system call numbers (sys/kern/syscalls.master), for calls made
/// through syscall(2): libthr's pdfork() runs the atfork handlers and
/// takes malloc's locks (lib/libthr/thread/thr_fork.c), and its fcntl()
/// is a cancellation point that touches the thread's state.
#[cfg(not(target_os = "linux"))]
mod nr {
    pub const FCNTL: libc::c_int = 92;
    pub const FEXECVE: libc::c_int = 492;
    pub const PDFORK: libc::c_int = 518;
}

#[cfg(not(target_os = "linux"))]
fn fork_raw() -> (libc::pid_t, RawFd) {
    let mut pd: libc::c_int = -1;
    // SAFETY: the pdfork system call itself; the child returns 0 (amd64
    // x86_set_fork_retval); the descriptor is ours.
    let pid = unsafe {
        libc::syscall(
            nr::PDFORK,
            &mut pd as *mut libc::c_int,
            libc::PD_DAEMON | libc::PD_CLOEXEC,
        )
    };
    (pid as libc::pid_t, pd)
}

/// The child between fork and exec: async-signal-safe calls only.
unsafe fn exec_child(
    image: RawFd,
    keep: &[RawFd; 3],
    ranges: &[(u32, u32)],
    argv: &[*const libc::c_char; 2],
    envp: &[*const libc::c_char],
) -> ! {
    for &fd in keep {
        #[cfg(target_os = "linux")]
        libc::syscall(libc::SYS_fcntl, fd, libc::F_SETFD, 0);
        #[cfg(not(target_os = "linux"))]
        libc::syscall(nr::FCNTL, fd, libc::F_SETFD, 0);
    }
    for &(lo, hi) in ranges {
        sys::close_range(lo, hi);
    }
    #[cfg(target_os = "linux")]
    libc::syscall(
        libc::SYS_execveat,
        image,
        c"".as_ptr(),
        argv.as_ptr(),
        envp.as_ptr(),
        libc::AT_EMPTY_PATH,
    );
    #[cfg(not(target_os = "linux"))]
    libc::syscall(nr::FEXECVE, image, argv.as_ptr(), envp.as_ptr());
    libc::_exit(BAD_MARKER)
}

/// Linux: waits for the intermediate to exit (it does at once), through
/// its pidfd; ECHILD (another thread's `wait()` took it) is fine.
/// FreeBSD: nothing (the broker is the child, and stays).
pub(crate) fn reap_intermediate(c: &Child) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: waitid on our pidfd into a local siginfo; then close it.
        unsafe {
            let mut si: libc::siginfo_t = std::mem::zeroed();
            while libc::waitid(libc::P_PIDFD, c.fd as libc::id_t, &mut si, libc::WEXITED) < 0
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
            {}
            libc::close(c.fd);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = c;
}

/// Kills a child that did not start, and reaps it.
pub(crate) fn kill_child(c: &Child) {
    #[cfg(target_os = "linux")]
    // SAFETY: a signal through our own pidfd (no pid reuse possible).
    unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, c.fd, libc::SIGKILL, 0usize, 0u32);
    }
    #[cfg(not(target_os = "linux"))]
    // SAFETY: a signal through our own process descriptor.
    unsafe {
        libc::pdkill(c.fd, libc::SIGKILL);
    }
    reap_intermediate(c);
    #[cfg(not(target_os = "linux"))]
    sys::close(c.fd);
}

/// What the broker writes on the ready pipe: `r` and its pid, or `e`, an
/// errno and the index of the root it could not open (-1: another reason).
pub(crate) const READY_LEN: usize = 9;

fn ready_msg(tag: u8, a: i32, b: i32) -> [u8; READY_LEN] {
    let mut m = [0u8; READY_LEN];
    m[0] = tag;
    m[1..5].copy_from_slice(&a.to_ne_bytes());
    m[5..9].copy_from_slice(&b.to_ne_bytes());
    m
}

/// The parent's reading of a ready message.
pub(crate) enum Ready {
    Up(libc::pid_t),
    Failed { errno: i32, root: i32 },
}

pub(crate) fn parse_ready(m: &[u8]) -> Option<Ready> {
    if m.len() != READY_LEN {
        return None;
    }
    let a = i32::from_ne_bytes(m[1..5].try_into().ok()?);
    let b = i32::from_ne_bytes(m[5..9].try_into().ok()?);
    match m[0] {
        b'r' if a > 0 => Some(Ready::Up(a)),
        b'e' => Some(Ready::Failed { errno: a, root: b }),
        _ => None,
    }
}

/// Runs before `main` in every image that links this crate (and keeps
/// this static: `broker::spawn` refers to it, so the linker cannot leave
/// out the object that holds it, in a program or in a cdylib such as
/// sigcap-run's shim). A hand-made `.init_array` entry rather than the
/// `ctor` crate's macro for that reason: the static must be nameable.
#[used]
#[cfg_attr(any(target_os = "linux", target_os = "freebsd"), link_section = ".init_array")]
pub(crate) static BROKER_ENTRY: extern "C" fn() = broker_entry;

extern "C" fn broker_entry() {
    // SAFETY: getenv in a constructor; the pointer is read at once.
    let v = unsafe { libc::getenv(c"SIGCAP_BROKER".as_ptr()) };
    if v.is_null() {
        return;
    }
    // SAFETY: getenv returned a C string.
    let marker = unsafe { CStr::from_ptr(v) }.to_bytes().to_vec();
    // Nothing started from here inherits it.
    // SAFETY: a valid C string; constructors run on one thread.
    unsafe { libc::unsetenv(c"SIGCAP_BROKER".as_ptr()) };
    let code = std::panic::catch_unwind(|| run(&marker)).unwrap_or(1);
    // SAFETY: the broker never returns to the program's start-up.
    unsafe { libc::_exit(code) };
}

fn say(msg: &str) {
    let line = format!("sigcap broker: {msg}\n");
    // SAFETY: a write of a live buffer to stderr.
    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
}

/// Whether this image was executed with changed credentials.
fn secure_exec() -> bool {
    #[cfg(target_os = "linux")]
    // SAFETY: getauxval has no preconditions.
    return unsafe { libc::getauxval(libc::AT_SECURE) } != 0;
    #[cfg(not(target_os = "linux"))]
    // SAFETY: issetugid has no preconditions.
    return unsafe { libc::issetugid() } != 0;
}

/// The marker's three descriptors, if they are what they claim to be: a
/// regular file (the memfd), an AF_UNIX SOCK_SEQPACKET socket and a pipe.
pub(crate) fn parse_marker(m: &[u8]) -> Option<[RawFd; 3]> {
    let s = std::str::from_utf8(m).ok()?;
    let mut it = s.split(':').map(|x| x.parse::<RawFd>().ok().filter(|&fd| fd > 2));
    let fds = [it.next()??, it.next()??, it.next()??];
    if it.next().is_some() {
        return None;
    }
    let mode = |fd| sys::fstat(fd).ok().map(|st| st.st_mode & libc::S_IFMT);
    (mode(fds[0]) == Some(libc::S_IFREG) && sys::is_unix_seqpacket(fds[1]) && mode(fds[2]) == Some(libc::S_IFIFO))
        .then_some(fds)
}

/// The broker's life in the exec'd image; returns the exit status.
fn run(marker: &[u8]) -> i32 {
    if secure_exec() {
        say("refusing SIGCAP_BROKER in a set-user-ID or set-group-ID image");
        return BAD_MARKER;
    }
    let Some([cfg, ctl, ready]) = parse_marker(marker) else {
        say("SIGCAP_BROKER is set but does not name a broker's descriptors; not started by sigcap");
        return BAD_MARKER;
    };
    become_broker();
    #[cfg(target_os = "linux")]
    {
        // Out of the program's children: the intermediate exits now, and
        // the broker is reparented to the nearest subreaper or init.
        // SAFETY: fork of this single-threaded process.
        match unsafe { libc::fork() } {
            0 => {}
            p if p > 0 => return 0,
            _ => {
                write_ready(ready, ready_msg(b'e', super::errno(), -1));
                return 1;
            }
        }
    }
    sys::close_fds_except(&[cfg, ctl, ready]);
    let config = read_all(cfg)
        .map_err(|e| e.to_string())
        .and_then(|b| Config::decode(&b));
    sys::close(cfg);
    let config = match config {
        Ok(c) => c,
        Err(why) => {
            say(&why);
            write_ready(ready, ready_msg(b'e', libc::EINVAL, -1));
            return 1;
        }
    };
    let mut roots = Vec::new();
    for (i, rule) in config.policy.fs_rules().iter().enumerate() {
        match open_root(&rule.root) {
            Ok(r) => roots.push(r),
            Err(Error::Root { source, .. }) => {
                write_ready(
                    ready,
                    ready_msg(b'e', source.raw_os_error().unwrap_or(libc::EIO), i as i32),
                );
                return 1;
            }
            Err(_) => {
                write_ready(ready, ready_msg(b'e', libc::EIO, i as i32));
                return 1;
            }
        }
    }
    let state = State {
        policy: config.policy,
        roots,
        pool: Arc::new(Pool::default()),
        ctl_peer: config.ctl_peer,
        #[cfg(target_os = "freebsd")]
        dotdot_fixed: super::fs::dotdot_fixed(),
    };
    // SAFETY: plain libc calls in the broker.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            if null > 2 {
                libc::close(null);
            }
        }
    }
    // SAFETY: getpid has no preconditions.
    write_ready(ready, ready_msg(b'r', unsafe { libc::getpid() }, 0));
    sys::close(ready);
    serve::serve(&Arc::new(state), ctl);
    0
}

fn write_ready(fd: RawFd, m: [u8; READY_LEN]) {
    // SAFETY: one write of a local buffer (atomic on a pipe).
    unsafe { libc::write(fd, m.as_ptr().cast(), m.len()) };
}

fn read_all(fd: RawFd) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: pread into a local buffer.
        let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), out.len() as libc::off_t) };
        match n {
            0 => return Ok(out),
            n if n > 0 => out.extend_from_slice(&buf[..n as usize]),
            _ if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => {}
            _ => return Err(std::io::Error::last_os_error()),
        }
        if out.len() > 64 << 20 {
            return Err(std::io::Error::from_raw_os_error(libc::EFBIG));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Access, NetTarget};

    #[test]
    fn the_config_travels_unchanged_and_garbage_is_refused() {
        let mut p = Policy::new();
        p.allow_fs("/etc/ssl", Access::READ).unwrap();
        p.allow_fs("/var/tmp/app", Access::ALL).unwrap();
        p.allow_connect(NetTarget::parse("127.0.0.1:*").unwrap());
        let c = Config {
            policy: p,
            ctl_peer: Some(sys::FileId { dev: 7, ino: 9 }),
        };
        let b = c.encode();
        assert_eq!(Config::decode(&b).unwrap(), c);
        for cut in 0..b.len() {
            assert!(Config::decode(&b[..cut]).is_err(), "{cut}");
        }
        let mut extra = b.clone();
        extra.push(0);
        assert!(Config::decode(&extra).is_err());
        let mut other = b;
        other[0] = b'X';
        assert!(Config::decode(&other).is_err());
    }

    #[test]
    fn a_marker_must_name_a_memfd_a_seqpacket_socket_and_a_pipe() {
        let m = config_memfd(b"x").unwrap();
        let [s, t] = sys::seqpacket_pair().unwrap();
        let mut p = [-1; 2];
        // SAFETY: pipe into a local array.
        assert_eq!(unsafe { libc::pipe(p.as_mut_ptr()) }, 0);
        let good = format!("{}:{}:{}", m.as_raw_fd(), s, p[1]);
        assert_eq!(parse_marker(good.as_bytes()), Some([m.as_raw_fd(), s, p[1]]));
        for bad in [
            format!("{}:{}:{}", s, m.as_raw_fd(), p[1]),
            format!("{}:{}:{}", m.as_raw_fd(), p[0], s),
            format!("{}:{}", m.as_raw_fd(), s),
            format!("{good}:{}", p[0]),
            format!("0:{}:{}", s, p[1]),
            "9999:9998:9997".to_string(),
            "a:b:c".to_string(),
        ] {
            assert_eq!(parse_marker(bad.as_bytes()), None, "{bad}");
        }
        for fd in [s, t, p[0], p[1]] {
            sys::close(fd);
        }
    }
}
