//! The `sigcap-run` preload shim.
//!
//! Loaded with `LD_PRELOAD` into an unmodified, dynamically linked program.
//! It interposes the C library's start-up entry (`__libc_start_main` on
//! glibc, `__libc_start1` on FreeBSD 14+) to wrap `main`, and enters the
//! sandbox at one of three points, chosen by `SIGCAP_RUN_ENTER`:
//!
//! - `main` (default): just before `main` runs, once the dynamic linker,
//!   the C library and every constructor are done;
//! - `symbol:NAME`: when the program first calls the dynamic symbol `NAME`
//!   (found with `dlsym(RTLD_DEFAULT)`), using a one-shot breakpoint at
//!   its first instruction; the call itself then runs confined;
//! - `hook`: only when the program calls [`sigcap_run_enter`].
//!
//! Instructions come from the `sigcap-run` parent through the environment:
//! `SIGCAP_RUN_LOG_FD` (an inherited descriptor for the JSON violation
//! stream), `SIGCAP_RUN_DIR` (where the shim writes the loaded-object map
//! used to symbolize stacks), `SIGCAP_RUN_POLICY` (a policy file to
//! enforce; without it the run is permissive: everything is brokered and
//! recorded), `SIGCAP_RUN_BACKEND` (force `freebsd-sigcap`,
//! `freebsd-sigtrap` or `linux-seccomp`; default: the best available).
//! The shim writes one `{"event":"enter",...}` line to the
//! stream when it has entered, or `{"event":"error",...}` and exits with
//! status 125 when it cannot.
#![allow(clippy::missing_safety_doc, clippy::unnecessary_cast)] // casts: ELF field types differ between OSes

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io::Write as _;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};

#[cfg(target_os = "linux")]
mod exec_linux;
mod keep;
#[cfg(target_os = "linux")]
mod sigsys_linux;
#[cfg(target_os = "linux")]
mod spawn_linux;
#[cfg(target_os = "freebsd")]
mod sysctl;

type MainFn = unsafe extern "C" fn(c_int, *mut *mut c_char, *mut *mut c_char) -> c_int;

static REAL_MAIN: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static ENTERED: AtomicBool = AtomicBool::new(false);

/// Whether the program entered (or began to).
#[cfg(target_os = "linux")]
pub(crate) fn entered() -> bool {
    ENTERED.load(Ordering::Acquire)
}

/// The proxy's pid when sigcap-run started this image for an exec of
/// the program (Linux): the process that stands in for it in the tree.
fn spawned_for() -> Option<i32> {
    std::env::var("SIGCAP_RUN_SPAWNED").ok()?.parse().ok()
}

/// Exit status of the program when the shim cannot do its job.
const SHIM_FAILURE: c_int = 125;

/// What a brokered exec passed on (FreeBSD): this image carries on with
/// the sandbox of the program that ran it.
fn attach_state() -> Option<sigcap::Attach> {
    use std::os::unix::ffi::OsStrExt as _;
    sigcap::Attach::parse(std::env::var_os(sigcap::ATTACH_VAR)?.as_bytes())
}

/// Whether sigcap-run reads the allowed calls' records (it does not when
/// quiet, with no report and no suggested policy).
fn log_allowed() -> bool {
    std::env::var_os("SIGCAP_RUN_LOG_ALLOWED").is_none_or(|v| v != "0")
}

fn log_fd() -> Option<RawFd> {
    if std::env::var_os(sigcap::ATTACH_VAR).is_some() {
        // The first image closed SIGCAP_RUN_LOG_FD's number after enter.
        return attach_state()?.log;
    }
    std::env::var("SIGCAP_RUN_LOG_FD").ok()?.parse().ok()
}

/// `"program":…,"ppid":…` for the enter events: which process of the
/// tree this is.
fn who(argv0: &str) -> String {
    // SAFETY: getppid has no preconditions.
    let ppid = spawned_for().unwrap_or_else(|| unsafe { libc::getppid() });
    format!("\"program\":{},\"ppid\":{ppid}", json_str(argv0))
}

static ARGV0: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The `enter` event sigcap-run reads: who entered (or attached after an
/// exec), with which backend, how, and from where.
fn enter_event(fd: RawFd, sb: &sigcap::Sandbox, mode: &str, cwd: &str) {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    write_line(
        fd,
        &format!(
            "{{\"event\":\"enter\",\"pid\":{pid},\"backend\":\"{}\",\"mode\":\"{mode}\",\"cwd\":{},{}}}",
            sb.backend().name(),
            json_str(cwd),
            who(ARGV0.get().map_or("", String::as_str)),
        ),
    );
}

/// This library, opened for `LD_PRELOAD_FDS` in the images the program
/// execs (FreeBSD: capability mode cannot open LD_PRELOAD's path).
fn own_library() -> Option<std::os::fd::OwnedFd> {
    if !cfg!(target_os = "freebsd") {
        return None;
    }
    // SAFETY: dladdr on one of our own functions; dli_fname is a C string.
    let path = unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(sigcap_run_enter as *const c_void, &mut info) == 0 || info.dli_fname.is_null() {
            return None;
        }
        CStr::from_ptr(info.dli_fname).to_owned()
    };
    use std::os::unix::ffi::OsStrExt as _;
    std::fs::File::open(std::ffi::OsStr::from_bytes(path.to_bytes()))
        .ok()
        .map(Into::into)
}

/// Attaches an image started by a brokered exec. Exits with status 125
/// when it cannot.
fn attach_now() {
    ENTERED.store(true, Ordering::Release);
    let Some(state) = attach_state() else {
        fail("SIGCAP_ATTACH is malformed");
    };
    let builder = sigcap::Sandbox::builder()
        .mode(sigcap::Mode::Fallback)
        .log_allowed(log_allowed());
    match builder.attach() {
        Ok(sb) => {
            keep::init(&sb.held_descriptors());
            if let Some(fd) = state.log {
                enter_event(fd, &sb, "exec", &String::from_utf8_lossy(&state.cwd));
            }
        }
        Err(e) => fail(&format!("cannot carry the sandbox over exec: {e}")),
    }
}

fn write_line(fd: RawFd, s: &str) {
    let mut line = s.as_bytes().to_vec();
    line.push(b'\n');
    let mut b = &line[..];
    while !b.is_empty() {
        // SAFETY: b is a live buffer.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if n <= 0 {
            return;
        }
        b = &b[n as usize..];
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn fail(msg: &str) -> ! {
    match log_fd() {
        // The parent prints it.
        Some(fd) => {
            // SAFETY: getpid has no preconditions.
            let pid = unsafe { libc::getpid() };
            write_line(
                fd,
                &format!("{{\"event\":\"error\",\"pid\":{pid},\"message\":{}}}", json_str(msg)),
            );
        }
        None => {
            let _ = writeln!(std::io::stderr(), "sigcap-run shim: {msg}");
        }
    }
    // SAFETY: leaving before main; nothing to flush that matters.
    unsafe { libc::_exit(SHIM_FAILURE) }
}

/// Writes the loaded objects and their segments (`dl_iterate_phdr`), so the
/// parent can map stack addresses to files and symbols after the run.
fn write_object_map(dir: &str) {
    unsafe extern "C" fn each(info: *mut libc::dl_phdr_info, _size: libc::size_t, data: *mut c_void) -> c_int {
        let out = &mut *(data as *mut String);
        let info = &*info;
        let name = if info.dlpi_name.is_null() {
            String::new()
        } else {
            CStr::from_ptr(info.dlpi_name).to_string_lossy().into_owned()
        };
        out.push_str(&format!("obj {:#x} {}\n", info.dlpi_addr as u64, name));
        for i in 0..info.dlpi_phnum as usize {
            let ph = &*info.dlpi_phdr.add(i);
            if ph.p_type == libc::PT_LOAD && ph.p_flags & PF_X != 0 {
                let start = info.dlpi_addr as u64 + ph.p_vaddr as u64;
                out.push_str(&format!("seg {:#x} {:#x}\n", start, start + ph.p_memsz as u64));
            }
        }
        0
    }
    let mut out = String::new();
    // SAFETY: the callback only reads the info it is given.
    unsafe { libc::dl_iterate_phdr(Some(each), (&mut out as *mut String).cast()) };
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let _ = std::fs::write(format!("{dir}/objects.{pid}"), out);
}

/// Builds the sandbox from the environment and enters it. Returns 0, or
/// -1 if already entered; exits with status 125 on failure.
fn enter_now() -> c_int {
    if ENTERED.swap(true, Ordering::AcqRel) {
        return -1;
    }
    let Some(fd) = log_fd() else {
        fail("SIGCAP_RUN_LOG_FD is not set: start programs with sigcap-run");
    };
    if let Ok(dir) = std::env::var("SIGCAP_RUN_DIR") {
        write_object_map(&dir);
    }
    let cwd = std::env::current_dir()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    // SAFETY: the parent handed us this descriptor open.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    // Stacks are for the records; with no allowed records read, the scan
    // would serve the refusals alone.
    let recorded = log_allowed();
    let mut b = sigcap::Sandbox::builder()
        .mode(sigcap::Mode::Fallback)
        .log_json(borrowed)
        .log_allowed(recorded)
        .stack_scan(recorded);
    if spawned_for().is_some() {
        // ImageConfinement's filter refuses process_vm_readv, which the
        // fast path would make on every call.
        b = b.fast_path(false);
    }
    if let Some(lib) = own_library() {
        b = b.exec_preload(lib);
    }
    if let Ok(name) = std::env::var("SIGCAP_RUN_BACKEND") {
        let kind = [
            sigcap::BackendKind::LinuxSeccomp,
            sigcap::BackendKind::FreeBsdSigcap,
            sigcap::BackendKind::FreeBsdSigtrap,
        ]
        .into_iter()
        .find(|k| k.name() == name);
        match kind {
            Some(k) => b = b.backend(k),
            None => fail(&format!("unknown backend {name:?}")),
        }
    }
    let enforcing = match std::env::var_os("SIGCAP_RUN_POLICY") {
        Some(p) => {
            b = b.policy_file(p);
            true
        }
        None => {
            // Permissive: the broker performs everything, and records it.
            let mut p = sigcap::Policy::new();
            if let Err(e) = p.allow_fs("/", sigcap::Access::ALL | sigcap::Access::EXEC) {
                fail(&format!("permissive policy: {e}"));
            }
            p.allow_connect(sigcap::NetTarget::Any);
            p.allow_bind(sigcap::NetTarget::Any);
            p.allow_sysctl(sigcap::SysctlRule::parse("*").expect("the any rule parses"));
            // Landlock would refuse, without a record, what the filter
            // does not trap (signals to other processes, abstract Unix
            // sockets): a permissive run records, it does not refuse.
            b = b.policy(&p).without_landlock();
            false
        }
    };
    match b.enter() {
        Ok(sb) => {
            let mode = match (spawned_for(), enforcing) {
                (Some(_), _) => "exec",
                (None, true) => "enforce",
                (None, false) => "permissive",
            };
            enter_event(fd, &sb, mode, &cwd);
            keep::init(&sb.held_descriptors());
            #[cfg(target_os = "linux")]
            {
                sigsys_linux::init();
                exec_linux::init();
                spawn_linux::init();
            }
            // The runtime holds its own (close-on-exec) copy.
            // SAFETY: closing the inherited descriptor we were handed.
            unsafe { libc::close(fd) };
            0
        }
        Err(e) => fail(&format!("cannot enter capability mode: {e}")),
    }
}

/// The documented hook: a program (or a debugger) calls this to enter the
/// sandbox at a point of its choosing. Declare it weak so the program
/// still links and runs without the shim:
///
/// ```c
/// extern int sigcap_run_enter(void) __attribute__((weak));
/// if (sigcap_run_enter) sigcap_run_enter();
/// ```
///
/// Returns 0 when it entered, -1 when the sandbox was already entered.
#[no_mangle]
pub extern "C" fn sigcap_run_enter() -> c_int {
    enter_now()
}

// ---- --enter-at SYMBOL: a one-shot breakpoint ----

static BP_ADDR: AtomicUsize = AtomicUsize::new(0);
static BP_BYTE: AtomicU8 = AtomicU8::new(0);

const PAGE: usize = 4096;
/// ELF segment flag: executable (not in the libc crate on every OS).
const PF_X: u32 = 1;

unsafe fn set_prot(addr: usize, prot: c_int) -> bool {
    let start = addr & !(PAGE - 1);
    libc::mprotect(start as *mut c_void, 2 * PAGE, prot) == 0
}

#[cfg(target_os = "linux")]
unsafe fn frame_ip(uc: *mut c_void) -> *mut u64 {
    let g = &mut (*(uc as *mut libc::ucontext_t)).uc_mcontext.gregs;
    (&mut g[libc::REG_RIP as usize]) as *mut i64 as *mut u64
}

#[cfg(target_os = "freebsd")]
unsafe fn frame_ip(uc: *mut c_void) -> *mut u64 {
    (&mut (*(uc as *mut libc::ucontext_t)).uc_mcontext.mc_rip) as *mut i64 as *mut u64
}

extern "C" fn on_breakpoint(sig: c_int, _info: *mut libc::siginfo_t, uc: *mut c_void) {
    let addr = BP_ADDR.load(Ordering::Acquire);
    // SAFETY: uc is the kernel's frame; after int3 the pc is one past it.
    let ip = unsafe { frame_ip(uc) };
    if addr == 0 || unsafe { *ip } != addr as u64 + 1 {
        // Not ours: behave as if we were not there.
        // SAFETY: restoring the default action and re-raising.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
        return;
    }
    // SAFETY: restore the instruction byte and rerun it. The breakpoint sits
    // on a function's first instruction, reached by an ordinary call from
    // the program, so no C library lock is held by this thread here:
    // entering (which allocates, and starts the broker by exec of this
    // program's image, where sigcap's constructor runs it) is as safe as
    // from main.
    unsafe {
        if set_prot(addr, libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) {
            *(addr as *mut u8) = BP_BYTE.load(Ordering::Acquire);
            set_prot(addr, libc::PROT_READ | libc::PROT_EXEC);
        }
        *ip = addr as u64;
    }
    BP_ADDR.store(0, Ordering::Release);
    enter_now();
}

fn arm_breakpoint(name: &str) {
    let Ok(c) = CString::new(name) else {
        fail(&format!("bad --enter-at symbol {name:?}"));
    };
    // SAFETY: dlsym with a valid C string.
    let addr = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c.as_ptr()) } as usize;
    if addr == 0 {
        fail(&format!(
            "--enter-at {name}: no such dynamic symbol in the program or its libraries (static functions cannot be used; export them or call sigcap_run_enter())"
        ));
    }
    // SAFETY: installing a handler; patching one byte of text we made writable.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_breakpoint as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGTRAP, &sa, std::ptr::null_mut()) != 0 {
            fail("--enter-at: sigaction(SIGTRAP) failed");
        }
        if !set_prot(addr, libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) {
            fail(&format!("--enter-at {name}: cannot make its code writable"));
        }
        BP_BYTE.store(*(addr as *const u8), Ordering::Release);
        BP_ADDR.store(addr, Ordering::Release);
        *(addr as *mut u8) = 0xcc; // int3
        set_prot(addr, libc::PROT_READ | libc::PROT_EXEC);
    }
}

/// Runs in place of the program's `main`.
unsafe extern "C" fn wrapped_main(argc: c_int, argv: *mut *mut c_char, envp: *mut *mut c_char) -> c_int {
    if argc > 0 && !(*argv).is_null() {
        let _ = ARGV0.set(CStr::from_ptr(*argv).to_string_lossy().into_owned());
    }
    if std::env::var_os(sigcap::ATTACH_VAR).is_some() {
        // Started by a brokered exec: already confined; carry on now,
        // whatever SIGCAP_RUN_ENTER says (violations until here failed
        // quietly, with the violation signal blocked).
        attach_now();
        let real: MainFn = std::mem::transmute(REAL_MAIN.load(Ordering::Acquire));
        return real(argc, argv, envp);
    }
    let how = std::env::var("SIGCAP_RUN_ENTER").unwrap_or_else(|_| "main".into());
    if how == "main" {
        enter_now();
    } else if let Some(sym) = how.strip_prefix("symbol:") {
        arm_breakpoint(sym);
    } else if how != "hook" {
        fail(&format!("bad SIGCAP_RUN_ENTER {how:?}"));
    }
    let real: MainFn = std::mem::transmute(REAL_MAIN.load(Ordering::Acquire));
    real(argc, argv, envp)
}

/// The C library's `name` (the definition after the shim's); exits with
/// status 125 if there is none.
fn next_symbol(name: &CStr) -> *mut c_void {
    // SAFETY: dlsym with a valid C string.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    if p.is_null() {
        fail(&format!("cannot find the C library's {}", name.to_string_lossy()));
    }
    p
}

/// The C library's `name`, looked up once and kept in `slot` (the shim's
/// wrappers of calls made often, or in forked children, where dlsym's
/// lock must not be taken); null if there is none.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn next_cached(slot: &AtomicPtr<c_void>, name: &CStr) -> *mut c_void {
    let mut p = slot.load(Ordering::Acquire);
    if p.is_null() {
        // SAFETY: dlsym with a valid C string.
        p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
        slot.store(p, Ordering::Release);
    }
    p
}

/// glibc's start-up entry, called by the program's `_start`.
#[cfg(target_os = "linux")]
#[no_mangle]
pub unsafe extern "C" fn __libc_start_main(
    main: MainFn,
    argc: c_int,
    argv: *mut *mut c_char,
    init: *mut c_void,
    fini: *mut c_void,
    rtld_fini: *mut c_void,
    stack_end: *mut c_void,
) -> c_int {
    type Real = unsafe extern "C" fn(
        MainFn,
        c_int,
        *mut *mut c_char,
        *mut c_void,
        *mut c_void,
        *mut c_void,
        *mut c_void,
    ) -> c_int;
    let real: Real = std::mem::transmute(next_symbol(c"__libc_start_main"));
    REAL_MAIN.store(main as *mut c_void, Ordering::Release);
    real(wrapped_main, argc, argv, init, fini, rtld_fini, stack_end)
}

/// FreeBSD 14+ libc's start-up entry, called by crt1's `_start`.
#[cfg(target_os = "freebsd")]
#[no_mangle]
pub unsafe extern "C" fn __libc_start1(
    argc: c_int,
    argv: *mut *mut c_char,
    env: *mut *mut c_char,
    cleanup: *mut c_void,
    main: MainFn,
) -> c_int {
    type Real = unsafe extern "C" fn(c_int, *mut *mut c_char, *mut *mut c_char, *mut c_void, MainFn) -> c_int;
    let real: Real = std::mem::transmute(next_symbol(c"__libc_start1"));
    REAL_MAIN.store(main as *mut c_void, Ordering::Release);
    real(argc, argv, env, cleanup, wrapped_main)
}
