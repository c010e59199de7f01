//! Helpers shared by the Linux integration tests (each test file is its
//! own crate and uses a subset, hence the allowance).
#![allow(dead_code)]
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

pub fn c(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A raw system call's result: the value, or the errno.
pub fn sys(r: libc::c_long) -> Result<libc::c_long, i32> {
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// Kills this test process with SIGALRM after `secs`: a hang fails the test.
pub fn deadline(secs: u32) {
    // SAFETY: alarm has no preconditions; SIGALRM's default action ends us.
    unsafe {
        libc::signal(libc::SIGALRM, libc::SIG_DFL);
        libc::alarm(secs);
    }
}

/// Everything readable from `fd`, with read(2) (not trapped).
pub fn read_fd(fd: i32) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs `call` (a raw system call that must not run) in a forked child,
/// whose exit code is what `call` returns, and asserts that the kernel
/// killed the child with SIGSYS instead.
pub fn assert_child_killed_by_sigsys(call: impl FnOnce() -> i32) {
    // SAFETY: fork; the child makes the call and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = call();
        // SAFETY: leaving the child without running the test harness.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSYS,
        "status {status:#x}"
    );
}

pub fn read_exact(fd: i32, buf: &mut [u8]) -> bool {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the rest of buf.
        let n = unsafe { libc::read(fd, buf[done..].as_mut_ptr().cast(), buf.len() - done) };
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            return false;
        }
        done += n as usize;
    }
    true
}

pub fn write_all(fd: i32, b: &[u8]) {
    // SAFETY: a live buffer; pipes of ours.
    assert_eq!(unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) }, b.len() as isize);
}

/// An unconfined helper process, forked before entering, that acts on the
/// broker from outside the sandbox (as a terminal, an administrator or
/// another process of the user would) and reads what the sandbox cannot
/// (/proc). When the test process goes, it kills the broker it watches
/// (through a pidfd, so never a reused pid): a test that fails with the
/// broker stopped or stuck leaves nothing behind.
pub struct Outside {
    tx: i32,
    rx: i32,
}

impl Outside {
    pub fn start() -> Outside {
        let (mut to, mut from) = ([0; 2], [0; 2]);
        // SAFETY: pipes and a fork; the helper _exits.
        unsafe {
            assert_eq!(libc::pipe2(to.as_mut_ptr(), libc::O_CLOEXEC), 0);
            assert_eq!(libc::pipe2(from.as_mut_ptr(), libc::O_CLOEXEC), 0);
            if libc::fork() == 0 {
                libc::close(to[1]);
                libc::close(from[0]);
                Self::serve(to[0], from[1]);
            }
            libc::close(to[0]);
            libc::close(from[1]);
        }
        Outside { tx: to[1], rx: from[0] }
    }

    fn serve(rx: i32, tx: i32) -> ! {
        let mut pid = 0;
        let mut pidfd = -1;
        let signal = |pidfd: i32, sig: i32| {
            // SAFETY: pidfd_send_signal on our pidfd.
            unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd, sig, 0usize, 0) };
        };
        loop {
            let mut cmd = [0u8; 5];
            if !read_exact(rx, &mut cmd) {
                if pidfd >= 0 {
                    signal(pidfd, libc::SIGKILL);
                }
                // SAFETY: leaving the helper.
                unsafe { libc::_exit(0) };
            }
            let arg = i32::from_ne_bytes([cmd[1], cmd[2], cmd[3], cmd[4]]);
            let out: Vec<u8> = match cmd[0] {
                b'W' => {
                    pid = arg;
                    // SAFETY: pidfd_open of a live process.
                    pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
                    if pidfd >= 0 {
                        b"ok".to_vec()
                    } else {
                        b"no pidfd".to_vec()
                    }
                }
                b'S' | b'C' => {
                    let stopping = cmd[0] == b'S';
                    signal(pidfd, if stopping { libc::SIGSTOP } else { libc::SIGCONT });
                    let start = Instant::now();
                    while (proc_state(pid) == Some('T')) != stopping {
                        if start.elapsed() > Duration::from_secs(5) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    format!("{:?}", proc_state(pid)).into_bytes()
                }
                b'I' => {
                    // ^C at the terminal: SIGINT to the foreground group.
                    // SAFETY: kill of the group the test named.
                    unsafe { libc::kill(-arg, libc::SIGINT) };
                    b"ok".to_vec()
                }
                b'Q' => {
                    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                    format!("{status}\nstat: {stat}").into_bytes()
                }
                _ => b"?".to_vec(),
            };
            write_all(tx, &(out.len() as u32).to_ne_bytes());
            write_all(tx, &out);
        }
    }

    pub fn ask(&self, cmd: u8, arg: i32) -> String {
        let mut m = vec![cmd];
        m.extend_from_slice(&arg.to_ne_bytes());
        write_all(self.tx, &m);
        let mut len = [0u8; 4];
        assert!(read_exact(self.rx, &mut len), "the helper answers");
        let mut out = vec![0u8; u32::from_ne_bytes(len) as usize];
        assert!(read_exact(self.rx, &mut out));
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Kill `broker` when the test process goes.
    pub fn watch(&self, broker: i32) {
        assert_eq!(self.ask(b'W', broker), "ok", "pidfd_open of {broker}");
    }
    /// SIGSTOP the broker, and wait until it is stopped.
    pub fn stop(&self) {
        assert_eq!(self.ask(b'S', 0), "Some('T')");
    }
    /// SIGCONT the broker.
    pub fn cont(&self) {
        assert_ne!(self.ask(b'C', 0), "Some('T')", "the broker still stopped");
    }
    /// The broker's /proc/PID/status, then "stat: " and its /proc/PID/stat.
    pub fn status(&self) -> String {
        self.ask(b'Q', 0)
    }
}

/// The state letter of /proc/PID/stat.
pub fn proc_state(pid: i32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(") ")?.1.chars().next()
}

/// The child's end of a pipe whose only writer is the test process: it
/// reads end-of-file once the test process is gone.
///
/// Why not PR_SET_PDEATHSIG: once the test has entered the sandbox,
/// Landlock's signal scoping keeps the kernel's parent-death signal from
/// reaching a process made before, so such children outlived their
/// tests (a renaming loop spun on both cores for good, which starved
/// the FreeBSD guest booted afterwards).
pub struct ParentWatch(i32);

impl ParentWatch {
    /// Whether the test process is gone (never blocks).
    pub fn parent_gone(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, no wait.
        unsafe { libc::poll(&mut p, 1, 0) != 0 }
    }

    /// Blocks until the test process is gone, then exits.
    pub fn wait_then_exit(&self) -> ! {
        let mut b = [0u8; 1];
        // SAFETY: a read into a local byte; nobody writes, so it returns
        // at end of file (or an error).
        unsafe {
            libc::read(self.0, b.as_mut_ptr().cast(), 1);
            libc::_exit(0)
        }
    }
}

/// Forks a child that runs `body` and ends (at the latest) with the test
/// process: `body` gets the [`ParentWatch`] to look at. The child leaves
/// with `_exit` if `body` returns. Returns the child's pid.
pub fn child_of_test(body: impl FnOnce(&ParentWatch)) -> libc::pid_t {
    let mut p = [0; 2];
    // SAFETY: a pipe; the write end is close-on-exec, so neither the
    // broker (started by exec) nor other programs keep it open.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fork; the child runs body and _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: our copy of the write end.
        unsafe { libc::close(p[1]) };
        let watch = ParentWatch(p[0]);
        body(&watch);
        // SAFETY: leaving the child without the harness.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: the parent keeps only the write end.
    unsafe { libc::close(p[0]) };
    // The write end stays open (not closed, never written) for the
    // process's life: its closing at exit is the child's signal.
    pid
}

/// Forks a process that does nothing until it is killed or the test
/// process goes: another process of the user, made before entering, for
/// the tests that try to reach one.
pub fn idle_child() -> libc::pid_t {
    child_of_test(|w| w.wait_then_exit())
}
