//! Benchmark of the series' claim that successful system calls pay nothing:
//! nanoseconds per successful getppid(2) in a plain process, in capability
//! mode, and in capability mode with trapping on (SIGCAP selected; on a
//! kernel without the series, the stock SIGTRAP trapping). Each variant runs
//! in its own child (capability mode cannot be left), the variants
//! interleaved round by round so that drift of a noisy machine hits them
//! alike; the medians are printed with their ratios to the plain run, on a
//! `SIGCAP-BENCH` line. Nothing is asserted: timing under emulation is for
//! reading, not for failing a run. Exit status 1 only if a variant could
//! not be set up.
use sigcap_guest::*;
use std::ffi::{c_int, c_void};
use std::io::Read;
use std::os::fd::FromRawFd;
use std::time::Instant;

const CALLS: u32 = 100_000;
const ROUNDS: usize = 9;

#[derive(Clone, Copy)]
enum Variant {
    Plain,
    CapMode,
    CapModeTrapping(c_int),
}

/// In a child: set the variant up, time CALLS getppid(2), write ns/call
/// (f64 bits) to `fd`; exit 2 if the setup failed.
fn child(v: Variant, fd: c_int) -> ! {
    let ok = unsafe {
        match v {
            Variant::Plain => true,
            Variant::CapMode => cap_enter() == 0,
            Variant::CapModeTrapping(mode) => {
                let mut m = mode;
                procctl(P_PID, 0, PROC_TRAPCAP_CTL, &mut m as *mut _ as *mut c_void) == 0 && cap_enter() == 0
            }
        }
    };
    if !ok {
        unsafe { libc::_exit(2) };
    }
    // Instant reads CLOCK_MONOTONIC, which capability mode allows.
    let t0 = Instant::now();
    for _ in 0..CALLS {
        unsafe { libc::getppid() };
    }
    let per = t0.elapsed().as_nanos() as f64 / CALLS as f64;
    let b = per.to_bits().to_ne_bytes();
    unsafe {
        libc::write(fd, b.as_ptr() as *const c_void, b.len());
        libc::_exit(0)
    }
}

/// One timed run of a variant in a fresh child.
fn run(v: Variant) -> Result<f64, String> {
    let mut fds = [0 as c_int; 2];
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(format!("pipe: errno {}", errno()));
    }
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: errno {}", errno()));
    }
    if pid == 0 {
        unsafe { libc::close(fds[0]) };
        child(v, fds[1]);
    }
    unsafe { libc::close(fds[1]) };
    let mut f = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    let mut b = [0u8; 8];
    let got = f.read_exact(&mut b);
    let mut st = 0;
    unsafe { libc::waitpid(pid, &mut st, 0) };
    match got {
        Ok(()) => Ok(f64::from_bits(u64::from_ne_bytes(b))),
        Err(_) => Err(format!("the child could not set the variant up (wait status {st:#x})")),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    // SIGCAP where the kernel has the series, the stock SIGTRAP otherwise.
    let (mode, what) = match run(Variant::CapModeTrapping(PROC_TRAPCAP_CTL_ENABLE_SIGCAP)) {
        Ok(_) => (PROC_TRAPCAP_CTL_ENABLE_SIGCAP, "SIGCAP"),
        Err(_) => (PROC_TRAPCAP_CTL_ENABLE, "SIGTRAP (no SIGCAP series)"),
    };
    let variants = [Variant::Plain, Variant::CapMode, Variant::CapModeTrapping(mode)];
    let mut times: [Vec<f64>; 3] = Default::default();
    for _ in 0..ROUNDS {
        for (i, v) in variants.iter().enumerate() {
            match run(*v) {
                Ok(t) => times[i].push(t),
                Err(e) => {
                    println!("sigcap-kbench: variant {i}: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
    let m: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    println!(
        "SIGCAP-BENCH success_path getppid: plain {:.0} ns/call; capability mode {:.0} (x{:.2}); \
         capability mode + {what} trapping {:.0} (x{:.2}); median of {ROUNDS} interleaved runs of {CALLS} calls",
        m[0],
        m[1],
        m[1] / m[0],
        m[2],
        m[2] / m[0],
    );
}
