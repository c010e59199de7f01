//! The program's whole process tree: sigcap-run follows it to its end,
//! as `strace -f` does, so that one report covers every process the
//! program started, those it left running when it exited included (a
//! daemon that forks and returns, `sh -c 'cmd &'`, tftpd's child).
//!
//! sigcap-run becomes the tree's subreaper (Linux
//! PR_SET_CHILD_SUBREAPER, FreeBSD PROC_REAP_ACQUIRE): a process of the
//! tree whose parent exits becomes sigcap-run's child instead of init's.
//! Once the program itself has exited, sigcap-run waits until it has no
//! children left, reaping those orphans, and signals sent to it go to
//! them. The exit status stays the program's. A descendant that never
//! exits keeps sigcap-run waiting, as it would keep `strace -f`; SIGTERM
//! to sigcap-run then ends it.
//!
//! Linux: the images sigcap-run starts for the program's exec calls
//! (images.rs) are its children too, each waited for by its own thread;
//! they are started and released through here, under one lock, so the
//! loop that reaps orphans never takes one of their statuses.
use std::sync::Mutex;
use std::time::Duration;

/// Children sigcap-run started that another thread waits for.
static IMAGES: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn images() -> std::sync::MutexGuard<'static, Vec<i32>> {
    IMAGES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes this process the subreaper of the tree it is about to start.
pub fn adopt_orphans() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    return nix::sys::prctl::set_child_subreaper(true).map_err(std::io::Error::from);
    #[cfg(target_os = "freebsd")]
    // SAFETY: procctl on this process; PROC_REAP_ACQUIRE takes no data.
    return match unsafe {
        libc::procctl(
            libc::P_PID,
            libc::getpid() as libc::id_t,
            libc::PROC_REAP_ACQUIRE,
            std::ptr::null_mut(),
        )
    } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    };
    #[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
    Ok(())
}

/// Starts a child that the calling thread waits for itself (`start`
/// returns it and its pid): the orphan reaper leaves it alone until
/// [`release`].
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn start_owned<T>(start: impl FnOnce() -> std::io::Result<(T, i32)>) -> std::io::Result<T> {
    let mut owned = images();
    let (child, pid) = start()?;
    owned.push(pid);
    Ok(child)
}

/// The child `pid` of [`start_owned`] has been reaped by its owner.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn release(pid: i32) {
    images().retain(|&p| p != pid);
}

/// Waits until this process has no children left, reaping every one
/// that is not another thread's to wait for (those are waited for until
/// their owner has reaped them).
pub fn wait_rest() -> std::io::Result<()> {
    loop {
        // SAFETY: waitid into a zeroed siginfo; WNOWAIT leaves it unreaped.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        if unsafe { libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOWAIT) } != 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ECHILD) => return Ok(()),
                _ => return Err(e),
            }
        }
        // SAFETY: waitid filled in a child's status.
        let pid = unsafe { info.si_pid() };
        let owned = images();
        if owned.contains(&pid) {
            drop(owned);
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        // SAFETY: reaps the exited child waitid named, under the lock
        // signal_rest takes: its pid cannot be reused while signalled.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
    }
}

/// Sends `sig` to the processes of the tree that are left once the
/// program has exited (its orphans, adopted by this process).
pub fn signal_rest(sig: i32) {
    let owned = images();
    #[cfg(target_os = "linux")]
    for pid in children() {
        if !owned.contains(&pid) {
            // SAFETY: kill of our own child, not reaped while the lock
            // is held (wait_rest reaps under it).
            unsafe { libc::kill(pid, sig) };
        }
    }
    #[cfg(target_os = "freebsd")]
    // SAFETY: procctl on this process with a filled-in reaper_kill.
    unsafe {
        let mut rk: ReaperKill = std::mem::zeroed();
        rk.sig = sig;
        libc::procctl(
            libc::P_PID,
            libc::getpid() as libc::id_t,
            libc::PROC_REAP_KILL,
            (&mut rk as *mut ReaperKill).cast(),
        );
    }
    drop(owned);
}

/// FreeBSD's `struct procctl_reaper_kill` (<sys/procctl.h>; not in the
/// libc crate): every descendant, no flags.
#[cfg(target_os = "freebsd")]
#[repr(C)]
struct ReaperKill {
    sig: libc::c_int,
    flags: libc::c_uint,
    subtree: libc::pid_t,
    killed: libc::c_uint,
    fpid: libc::pid_t,
    pad0: [libc::c_uint; 15],
}

/// This process's children, from every thread's `children` file (an
/// orphan is adopted by one of the reaper's threads).
#[cfg(target_os = "linux")]
fn children() -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}
