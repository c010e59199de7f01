//! Passing signals sent to `sigcap-run` on to the program, as timeout(1)
//! and sudo(8) do, so that `kill`, `timeout` or a service manager stopping
//! the tool stop the program too, and the tool stays to write the report.
//!
//! A signal a terminal generates (^C, ^\, hang-up) goes to the whole
//! foreground process group, the program included: it is not forwarded,
//! or the program would get it twice. A signal that was ignored when
//! sigcap-run started (`nohup`, `cmd &` in a non-interactive shell) stays
//! ignored, for us and, through exec, for the program.
use signal_hook::consts::signal::{SIGALRM, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::{Handle, SignalsInfo};
use signal_hook::low_level::siginfo::Cause;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Mutex};

/// What sigcap-run passes on.
pub const FORWARDED: [i32; 7] = [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM];

fn ignored(sig: i32) -> bool {
    // SAFETY: querying the current action only.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Catches the forwarded signals (except those inherited as ignored).
/// Call before starting the program: a signal that arrives in between is
/// queued and passed on once the program runs.
pub fn catch() -> std::io::Result<SignalsInfo<WithOrigin>> {
    let sigs: Vec<i32> = FORWARDED.into_iter().filter(|&s| !ignored(s)).collect();
    SignalsInfo::<WithOrigin>::new(sigs)
}

#[derive(Default)]
struct State {
    /// Set once the program has exited, before it is reaped: its pid is
    /// still ours until then, so a kill cannot reach a recycled pid.
    exited: bool,
    forwarded: Vec<i32>,
}

pub struct Forwarder {
    state: Arc<Mutex<State>>,
    handle: Handle,
    thread: std::thread::JoinHandle<()>,
}

/// Starts passing caught signals on to `pid`.
pub fn forward(mut signals: SignalsInfo<WithOrigin>, pid: i32) -> Forwarder {
    let state = Arc::new(Mutex::new(State::default()));
    let handle = signals.handle();
    let st = state.clone();
    let thread = std::thread::spawn(move || {
        for info in signals.forever() {
            let from_terminal = info.cause == Cause::Kernel && matches!(info.signal, SIGINT | SIGQUIT | SIGHUP);
            let mut s = st.lock().unwrap_or_else(|e| e.into_inner());
            if s.exited {
                // The program is gone; what it left running gets the
                // signal (a terminal's too: a daemon in its own session
                // did not).
                crate::tree::signal_rest(info.signal);
                s.forwarded.push(info.signal);
                continue;
            }
            if from_terminal {
                continue;
            }
            // SAFETY: kill on our own, not yet reaped child.
            unsafe { libc::kill(pid, info.signal) };
            s.forwarded.push(info.signal);
        }
    });
    Forwarder { state, handle, thread }
}

impl Forwarder {
    /// Waits for the program, forwarding signals meanwhile, then for the
    /// processes it left running (tree.rs), passing signals on to those.
    /// Returns the program's status and the signals passed on. Signals
    /// arriving afterwards are still caught (and dropped), so the report
    /// gets written.
    pub fn wait(self, child: &mut Child) -> std::io::Result<(ExitStatus, Vec<i32>)> {
        let pid = child.id() as libc::id_t;
        loop {
            // SAFETY: waitid into a zeroed siginfo; WNOWAIT leaves the child unreaped.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            let r = unsafe { libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT) };
            if r == 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        self.state.lock().unwrap_or_else(|e| e.into_inner()).exited = true;
        let status = child.wait()?;
        crate::tree::wait_rest()?;
        self.handle.close();
        let _ = self.thread.join();
        let forwarded = std::mem::take(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()).forwarded);
        Ok((status, forwarded))
    }
}

/// The status a shell would report: the exit code, or 128+N for a death
/// by signal N.
pub fn shell_status(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        _ => 1,
    }
}
