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
//!
//! `--icount` counts instructions instead: under QEMU with `-icount
//! shift=0` the guest TSC advances by one per guest instruction, so the
//! cost of a call is exact and repeats across boots. It prints one
//! `SIGCAP-ICOUNT <case> <instructions per call>` line per case, which
//! `cargo xtask icount` collects from a patched and a stock boot.
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

/// In a child: set variant `v` up (capability mode, trapping), or exit
/// with status 2, which the parent reports as a setup failure.
fn enter_or_exit(v: Variant) {
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
}

/// In a child: set the variant up, time CALLS getppid(2), write ns/call
/// (f64 bits) to `fd`; exit 2 if the setup failed.
fn child(v: Variant, fd: c_int) -> ! {
    enter_or_exit(v);
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

/// Runs `body` in a fresh child (capability mode cannot be left) and
/// returns the N bytes it writes to the pipe it is given.
fn in_child<const N: usize>(body: impl FnOnce(c_int) -> std::convert::Infallible) -> Result<[u8; N], String> {
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
        match body(fds[1]) {}
    }
    unsafe { libc::close(fds[1]) };
    let mut f = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    let mut b = [0u8; N];
    let got = f.read_exact(&mut b);
    let mut st = 0;
    unsafe { libc::waitpid(pid, &mut st, 0) };
    got.map(|()| b)
        .map_err(|_| format!("the child could not set the case up (wait status {st:#x})"))
}

/// One timed run of a variant in a fresh child.
fn run(v: Variant) -> Result<f64, String> {
    in_child::<8>(|fd| child(v, fd)).map(|b| f64::from_bits(u64::from_ne_bytes(b)))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The guest's time stamp counter: instructions, under `-icount shift=0`.
fn tsc() -> u64 {
    // SAFETY: rdtsc has no preconditions (FreeBSD does not trap it).
    unsafe { std::arch::x86_64::_rdtsc() }
}

/// Calls per timed window: short enough (a few hundred thousand
/// instructions at most) that most windows see no timer interrupt.
const ICOUNT_CALLS: u64 = 100;
/// Windows per case; the cheapest is the undisturbed one.
const ICOUNT_WINDOWS: usize = 40;

/// Instructions per call of `f`: the fewest over ICOUNT_WINDOWS windows of
/// ICOUNT_CALLS calls (a window with an interrupt or a page fault only
/// ever counts more), the loop and the two TSC reads included.
fn icount(mut f: impl FnMut()) -> f64 {
    let mut best = u64::MAX;
    for _ in 0..ICOUNT_WINDOWS {
        let t0 = tsc();
        for _ in 0..ICOUNT_CALLS {
            f();
        }
        best = best.min(tsc() - t0);
    }
    best as f64 / ICOUNT_CALLS as f64
}

#[inline(never)]
extern "C" fn nothing() {
    std::hint::black_box(());
}

extern "C" fn on_trap(_: c_int, _: *mut libc::siginfo_t, _: *mut c_void) {}

/// In a child set up as `v` (trapping with a handler for `trap_sig`
/// when `trap_sig` is non-zero): instructions per getppid(2), and, in
/// capability mode, per chdir(2), which capability mode refuses at system
/// call entry (the cheapest violation).
fn icount_child(v: Variant, trap_sig: c_int, fd: c_int) -> ! {
    if trap_sig != 0 {
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = on_trap as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        unsafe { libc::sigaction(trap_sig, &sa, std::ptr::null_mut()) };
    }
    enter_or_exit(v);
    let mut out = [0f64; 2];
    out[0] = icount(|| unsafe {
        libc::getppid();
    });
    if !matches!(v, Variant::Plain) {
        let root = cstr("/");
        out[1] = icount(|| unsafe {
            libc::chdir(root.as_ptr());
        });
    }
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&out[0].to_bits().to_ne_bytes());
    b[8..].copy_from_slice(&out[1].to_bits().to_ne_bytes());
    unsafe {
        libc::write(fd, b.as_ptr() as *const c_void, b.len());
        libc::_exit(0)
    }
}

/// Runs icount_child in a fresh child; its two figures.
fn icount_run(v: Variant, trap_sig: c_int) -> Result<[f64; 2], String> {
    in_child::<16>(|fd| icount_child(v, trap_sig, fd)).map(|b| {
        [
            f64::from_bits(u64::from_ne_bytes(b[..8].try_into().unwrap())),
            f64::from_bits(u64::from_ne_bytes(b[8..].try_into().unwrap())),
        ]
    })
}

fn icount_main() {
    // Kernel messages can land in the middle of a console line, so every
    // line is printed again at the end; the xtask takes any intact copy.
    let mut lines = Vec::new();
    let mut print = |case: &str, n: f64| {
        let l = format!("SIGCAP-ICOUNT {case} {n:.2}");
        println!("{l}");
        lines.push(l);
    };
    print("empty_loop", icount(|| nothing()));
    let sigcap = icount_run(Variant::CapModeTrapping(PROC_TRAPCAP_CTL_ENABLE_SIGCAP), SIGCAP).is_ok();
    let mut cases = vec![
        ("plain", Variant::Plain, 0),
        ("capmode", Variant::CapMode, 0),
        // The global signal, SIGTRAP unless kern.trap_enotcap_signal says
        // otherwise (the init leaves it at its default).
        (
            "trap_sigtrap",
            Variant::CapModeTrapping(PROC_TRAPCAP_CTL_ENABLE),
            libc::SIGTRAP,
        ),
    ];
    if sigcap {
        cases.push((
            "trap_sigcap",
            Variant::CapModeTrapping(PROC_TRAPCAP_CTL_ENABLE_SIGCAP),
            SIGCAP,
        ));
    }
    let mut failed = false;
    for (name, v, sig) in cases {
        match icount_run(v, sig) {
            Ok([getppid, chdir]) => {
                print(&format!("getppid.{name}"), getppid);
                if !matches!(v, Variant::Plain) {
                    print(&format!("violation.{name}"), chdir);
                }
            }
            Err(e) => {
                println!("sigcap-kbench: {name}: {e}");
                failed = true;
            }
        }
    }
    for l in lines {
        println!("{l}");
    }
    std::process::exit(failed as i32);
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--icount") {
        icount_main();
    }
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
