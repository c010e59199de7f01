//! Latency of the ways to open and stat a file and connect a socket:
//!
//! - native: the system call before confinement;
//! - fast path (Linux): the system call inside the sandbox, caught by the
//!   violation signal and answered in the handler beneath the rule's root
//!   descriptor, without the broker (absolute path);
//! - broker path: the same call caught and sent to the broker (a path
//!   relative to the working directory, which the fast path leaves to
//!   the broker; connect always goes there);
//! - explicit: the same request sent to the broker on purpose, over the
//!   channel the handler uses (`Sandbox::broker_open`/`broker_connect`).
//!
//! All run in one process, one after another, and the report gives
//! ratios of medians against the native baseline of the same run, so a
//! noisy machine shifts all numbers together.
//!
//! ```text
//! cargo bench -p sigcap --bench violation_latency [-- ITERATIONS]
//! ```
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

struct Sample {
    name: &'static str,
    times: Vec<Duration>,
}

impl Sample {
    fn pct(&self, p: f64) -> Duration {
        let mut t = self.times.clone();
        t.sort_unstable();
        t[((t.len() - 1) as f64 * p).round() as usize]
    }
}

fn measure(name: &'static str, n: usize, mut f: impl FnMut()) -> Sample {
    for _ in 0..n / 10 {
        f(); // warm-up
    }
    let times = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    Sample { name, times }
}

fn tcp_socket() -> OwnedFd {
    // SAFETY: a fresh socket we own.
    unsafe { OwnedFd::from_raw_fd(libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0)) }
}

fn raw_connect(s: &OwnedFd, addr: &SocketAddr) -> i32 {
    let SocketAddr::V4(a) = addr else { unreachable!() };
    // SAFETY: a zeroed sockaddr_in filled in.
    unsafe {
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as _;
        sa.sin_port = a.port().to_be();
        sa.sin_addr.s_addr = u32::from(*a.ip()).to_be();
        libc::connect(
            std::os::fd::AsRawFd::as_raw_fd(s),
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        )
    }
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, "x").unwrap();
    let cpath = std::ffi::CString::new(file.as_os_str().as_encoded_bytes()).unwrap();
    let crel = c"f";
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            drop(s);
        }
    });

    let open = |p: &std::ffi::CStr| {
        // SAFETY: open/close of a C string path.
        let fd = unsafe { libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        assert!(fd >= 0, "open failed: {}", std::io::Error::last_os_error());
        unsafe { libc::close(fd) };
    };
    let stat = |p: &std::ffi::CStr| {
        // SAFETY: stat into a zeroed buffer.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::stat(p.as_ptr(), &mut st) }, 0, "stat failed");
    };
    // Sockets are made before timing: only connect itself is measured.
    let connect_with = |socks: &mut Vec<OwnedFd>, how: &dyn Fn(&OwnedFd)| {
        let s = socks.pop().unwrap();
        how(&s);
    };
    let make = |n| (0..n + n / 10).map(|_| tcp_socket()).collect::<Vec<_>>();

    let native_open = measure("open, native", n, || open(&cpath));
    let native_stat = measure("stat, native", n, || stat(&cpath));
    let mut socks = make(n);
    let native_connect = measure("connect, native", n, || {
        connect_with(&mut socks, &|s| assert_eq!(raw_connect(s, &addr), 0))
    });

    // Relative paths are joined to the working directory of enter().
    std::env::set_current_dir(dir.path()).unwrap();
    let sb = sigcap::Sandbox::builder()
        .read_beneath(dir.path())
        .connect(&addr.to_string())
        .enter()
        .expect("enter the sandbox");

    let fast_open = measure("open, fast path (in the handler)", n, || open(&cpath));
    let fast_stat = measure("stat, fast path (in the handler)", n, || stat(&cpath));
    let fast = sb.stats().fast_path;
    let broker_open = measure("open, violation -> broker -> return", n, || open(crel));
    let broker_stat = measure("stat, violation -> broker -> return", n, || stat(crel));
    let explicit_open = measure("open, explicit broker request", n, || {
        drop(sb.broker_open(&file, libc::O_RDONLY, 0).unwrap())
    });
    let mut socks = make(n);
    let explicit_connect = measure("connect, explicit broker request", n, || {
        connect_with(&mut socks, &|s| sb.broker_connect(s.as_fd(), &addr).unwrap())
    });
    let mut socks = make(n);
    let broker_connect = measure("connect, violation -> broker -> return", n, || {
        connect_with(&mut socks, &|s| assert_eq!(raw_connect(s, &addr), 0))
    });
    let st = sb.stats();
    let per = (n + n / 10) as u64;
    let on_linux = sb.backend() == sigcap::BackendKind::LinuxSeccomp;
    if on_linux {
        assert_eq!(fast, 2 * per, "every fast-path call was answered in the handler");
    }
    assert_eq!(st.fast_path, fast, "no broker-path call took the fast path");
    assert_eq!(st.allowed, 5 * per, "every violation was allowed");

    println!(
        "sigcap violation latency ({} backend, {n} iterations each)",
        sb.backend().name()
    );
    println!("{:<42} {:>10} {:>10} {:>10} {:>10}", "", "p50", "p90", "p99", "max");
    for s in [
        &native_open,
        &fast_open,
        &broker_open,
        &explicit_open,
        &native_stat,
        &fast_stat,
        &broker_stat,
        &native_connect,
        &broker_connect,
        &explicit_connect,
    ] {
        println!(
            "{:<42} {:>10.1?} {:>10.1?} {:>10.1?} {:>10.1?}",
            s.name,
            s.pct(0.5),
            s.pct(0.9),
            s.pct(0.99),
            s.pct(1.0)
        );
    }
    let ratio = |a: &Sample, b: &Sample| a.pct(0.5).as_secs_f64() / b.pct(0.5).as_secs_f64();
    println!("ratios of medians (same run):");
    for (what, native, fast, broker) in [
        ("open", &native_open, Some(&fast_open), &broker_open),
        ("stat", &native_stat, Some(&fast_stat), &broker_stat),
        ("connect", &native_connect, None, &broker_connect),
    ] {
        match fast {
            Some(fast) => println!(
                "  {what:<8} fast/native {:>6.2}x   broker/native {:>6.2}x   broker/fast {:>6.2}x",
                ratio(fast, native),
                ratio(broker, native),
                ratio(broker, fast)
            ),
            None => println!(
                "  {what:<8} {:<20} broker/native {:>6.2}x   (sockets: always the broker)",
                "",
                ratio(broker, native)
            ),
        }
    }
    println!(
        "  open     explicit/native {:>6.2}x   broker/explicit {:>5.2}x",
        ratio(&explicit_open, &native_open),
        ratio(&broker_open, &explicit_open)
    );
    println!(
        "  connect  explicit/native {:>6.2}x   broker/explicit {:>5.2}x",
        ratio(&explicit_connect, &native_connect),
        ratio(&broker_connect, &explicit_connect)
    );
}
