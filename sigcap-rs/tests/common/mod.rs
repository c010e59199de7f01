//! Helpers shared by the Linux integration tests (each test file is its
//! own crate and uses a subset, hence the allowance).
#![allow(dead_code)]
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

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
