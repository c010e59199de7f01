//! Latency of the ways to open and stat a file and connect a socket:
//!
//! - native: the system call before confinement;
//! - fast path (Linux): the system call inside the sandbox, caught by the
//!   violation signal and answered in the handler beneath the rule's root
//!   descriptor, without the broker (absolute path);
//! - broker path: the same call caught and sent to the broker (a call
//!   the fast path leaves to it: on Linux a lookup from a directory
//!   descriptor, on FreeBSD a file under a single-file rule; connect
//!   always goes there);
//! - explicit: the same request sent to the broker on purpose, over the
//!   channel the handler uses (`Sandbox::broker_open`/`broker_connect`).
//!
//! - floor (Linux, x86_64): what no fast path can go below, in a child
//!   forked before entering, with Landlock on the same directory and a
//!   one-call seccomp filter of its own: the call trapped, SIGSYS
//!   delivered and returned from with nothing done in the handler, and
//!   the same with the bare `openat2(root, "f", RESOLVE_BENEATH)` in the
//!   handler, without reading the path, deciding or recording.
//!
//! All run one after another (the floor in its child first), and the
//! report gives ratios of medians against the native baseline of the
//! same run, so a noisy machine shifts all numbers together.
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

/// The floor of a trapped call answered in the handler (see the module
/// comment): a child of its own, so that its filter and handler do not
/// touch the sandbox measured after.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod floor {
    use super::{measure, Sample};
    use std::sync::atomic::{AtomicI32, Ordering};

    /// The root's descriptor; -1: the handler does nothing.
    static ROOT: AtomicI32 = AtomicI32::new(-1);

    extern "C" fn on_sigsys(_: libc::c_int, _: *mut libc::siginfo_t, uc: *mut libc::c_void) {
        let root = ROOT.load(Ordering::Relaxed);
        let r = if root < 0 {
            0
        } else {
            // SAFETY: open_how is plain integers; the path is static.
            unsafe {
                let mut how: libc::open_how = std::mem::zeroed();
                how.flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
                how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
                libc::syscall(
                    libc::SYS_openat2,
                    root,
                    c"f".as_ptr(),
                    &how as *const libc::open_how,
                    std::mem::size_of::<libc::open_how>(),
                )
            }
        };
        // SAFETY: the interrupted call's frame.
        unsafe { (*(uc as *mut libc::ucontext_t)).uc_mcontext.gregs[libc::REG_RAX as usize] = r };
    }

    /// In the child: Landlock (read beneath `dir`), a filter that traps
    /// open(2) (which the C library never uses: it opens with openat),
    /// then both rows.
    fn run(n: usize, dir: &std::path::Path, path: &std::ffi::CStr) -> [Vec<u64>; 2] {
        use landlock::{Access, AccessFs, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr, ABI};
        let abi = ABI::V1;
        Ruleset::default()
            .handle_access(AccessFs::from_all(abi))
            .unwrap()
            .create()
            .unwrap()
            .add_rule(PathBeneath::new(PathFd::new(dir).unwrap(), AccessFs::from_read(abi)))
            .unwrap()
            .restrict_self()
            .unwrap();
        let cdir = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: plain system calls on local data.
        unsafe {
            let root = libc::open(cdir.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC);
            assert!(root >= 0);
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigsys as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_RESTART;
            assert_eq!(libc::sigaction(libc::SIGSYS, &sa, std::ptr::null_mut()), 0);
            let st = |code, k| libc::sock_filter { code, jt: 0, jf: 0, k };
            let prog = [
                st(0x20, 0), // ld seccomp_data.nr
                libc::sock_filter {
                    code: 0x15, // jeq
                    jt: 0,
                    jf: 1,
                    k: libc::SYS_open as u32,
                },
                st(0x06, libc::SECCOMP_RET_TRAP),
                st(0x06, libc::SECCOMP_RET_ALLOW),
            ];
            let fprog = libc::sock_fprog {
                len: prog.len() as u16,
                filter: prog.as_ptr() as *mut libc::sock_filter,
            };
            assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
            assert_eq!(
                libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &fprog),
                0
            );
            let open = || libc::syscall(libc::SYS_open, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) as i32;
            let bare = measure("", n, || assert_eq!(open(), 0));
            ROOT.store(root, Ordering::Relaxed);
            let beneath = measure("", n, || {
                let fd = open();
                assert!(fd >= 0, "openat2 in the handler failed");
                libc::close(fd);
            });
            let ns = |s: Sample| s.times.iter().map(|t| t.as_nanos() as u64).collect();
            [ns(bare), ns(beneath)]
        }
    }

    /// Both rows, measured in a child forked now (before any thread).
    pub fn measure_in_child(n: usize, dir: &std::path::Path, path: &std::ffi::CStr) -> [Sample; 2] {
        let mut p = [-1; 2];
        // SAFETY: a pipe and a fork; the child only writes and _exits.
        unsafe {
            assert_eq!(libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC), 0);
            let pid = libc::fork();
            assert!(pid >= 0);
            if pid == 0 {
                libc::close(p[0]);
                let rows = run(n, dir, path);
                let bytes: Vec<u8> = rows.iter().flatten().flat_map(|t| t.to_ne_bytes()).collect();
                let mut done = 0;
                while done < bytes.len() {
                    let w = libc::write(p[1], bytes[done..].as_ptr().cast(), bytes.len() - done);
                    if w <= 0 {
                        libc::_exit(1);
                    }
                    done += w as usize;
                }
                libc::_exit(0);
            }
            libc::close(p[1]);
            let mut f = <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(p[0]);
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut bytes).unwrap();
            let mut status = 0;
            assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "the floor's child failed"
            );
            let t: Vec<std::time::Duration> = bytes
                .chunks_exact(8)
                .map(|c| std::time::Duration::from_nanos(u64::from_ne_bytes(c.try_into().unwrap())))
                .collect();
            assert_eq!(t.len(), 2 * n);
            [
                Sample {
                    name: "open, floor: trap + sigreturn, empty handler",
                    times: t[..n].to_vec(),
                },
                Sample {
                    name: "open, floor: trap + openat2 beneath + close",
                    times: t[n..].to_vec(),
                },
            ]
        }
    }
}

pub fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, "x").unwrap();
    let cpath = std::ffi::CString::new(file.as_os_str().as_encoded_bytes()).unwrap();
    // The broker rows need a call the fast path leaves to the broker
    // (relative paths from the working directory are the fast path's
    // too): Linux, a lookup from a directory descriptor; FreeBSD, where
    // that is no violation, a file under a single-file rule (the fast
    // path holds such a rule's parent with no rights).
    let other = dir.path().join("g");
    std::fs::write(&other, "x").unwrap();
    #[cfg(target_os = "linux")]
    // SAFETY: open of a C string path; kept for the whole run.
    let dfd = unsafe {
        libc::open(
            std::ffi::CString::new(dir.path().as_os_str().as_encoded_bytes())
                .unwrap()
                .as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    #[cfg(not(target_os = "linux"))]
    let dfd = libc::AT_FDCWD;
    let crel = if cfg!(target_os = "linux") {
        std::ffi::CString::from(c"g")
    } else {
        std::ffi::CString::new(other.as_os_str().as_encoded_bytes()).unwrap()
    };
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    let floor = Some(floor::measure_in_child(n, dir.path(), &cpath));
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    let floor: Option<[Sample; 2]> = None;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            drop(s);
        }
    });

    let open_at = |d: libc::c_int, p: &std::ffi::CStr| {
        // SAFETY: openat/close of a C string path.
        let fd = unsafe { libc::openat(d, p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        assert!(fd >= 0, "open failed: {}", std::io::Error::last_os_error());
        unsafe { libc::close(fd) };
    };
    let stat_at = |d: libc::c_int, p: &std::ffi::CStr| {
        // SAFETY: fstatat into a zeroed buffer.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::fstatat(d, p.as_ptr(), &mut st, 0) }, 0, "stat failed");
    };
    let open = |p: &std::ffi::CStr| open_at(libc::AT_FDCWD, p);
    let stat = |p: &std::ffi::CStr| stat_at(libc::AT_FDCWD, p);
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

    let sb = sigcap::Sandbox::builder()
        .read_beneath(dir.path())
        .read_beneath(&other)
        .connect(&addr.to_string())
        .enter()
        .expect("enter the sandbox");

    let fast_open = measure("open, fast path (in the handler)", n, || open(&cpath));
    let fast_stat = measure("stat, fast path (in the handler)", n, || stat(&cpath));
    let fast = sb.stats().fast_path;
    let broker_open = measure("open, violation -> broker -> return", n, || open_at(dfd, &crel));
    let broker_stat = measure("stat, violation -> broker -> return", n, || stat_at(dfd, &crel));
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
    // Linux (under Landlock, which the bench expects) and FreeBSD with
    // SIGCAP have a fast path; stock FreeBSD has none.
    let has_fast = matches!(
        sb.backend(),
        sigcap::BackendKind::LinuxSeccomp | sigcap::BackendKind::FreeBsdSigcap
    );
    if has_fast {
        assert_eq!(fast, 2 * per, "every fast-path call was answered in the handler");
    }
    assert_eq!(st.fast_path, fast, "no broker-path call took the fast path");
    assert_eq!(st.allowed, 5 * per, "every violation was allowed");

    println!(
        "sigcap violation latency ({} backend, {n} iterations each)",
        sb.backend().name()
    );
    println!("{:<42} {:>10} {:>10} {:>10} {:>10}", "", "p50", "p90", "p99", "max");
    let floor_rows = floor.iter().flatten();
    for s in [&native_open].into_iter().chain(floor_rows).chain([
        &fast_open,
        &broker_open,
        &explicit_open,
        &native_stat,
        &fast_stat,
        &broker_stat,
        &native_connect,
        &broker_connect,
        &explicit_connect,
    ]) {
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
    if let Some([bare, beneath]) = &floor {
        println!(
            "  open     floor/native  {:>6.2}x   (bare trap {:>5.2}x)   fast/floor {:>6.2}x",
            ratio(beneath, &native_open),
            ratio(bare, &native_open),
            ratio(&fast_open, beneath)
        );
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
