//! The violation signal handler.
//!
//! Async-signal-safe by construction: it reads a `'static` runtime
//! published before the handler was installed, works on stack buffers, and
//! makes only raw system calls (socketpair, sendmsg, recvmsg, poll,
//! clock_gettime, fstat, close, close_range, write, getpid, sigprocmask, sigpending,
//! sigtimedwait; on the Linux fast path, fast.rs, openat2, newfstatat,
//! statx, faccessat2 and readlinkat; on Linux every one of them is in the
//! seccomp allowlist, backend/linux.rs, whose tests check the list). It
//! takes no lock and never allocates. Every wait for
//! the broker is bounded ([`client::Channel::timeout_ms`]), and nothing is
//! written to a descriptor number that no longer holds what `enter()`
//! stored there. It saves and
//! restores errno. A panic cannot unwind out of it: `extern "C"` functions
//! abort on unwind, and nothing on this path panics by design (buffer
//! writers return errors instead).
use crate::backend;
use crate::client::{self, Answer};
use crate::codemap::CodeMap;
use crate::fast::Head;
use crate::record::{Decision, StackWriter, Violation};
use crate::runtime::{runtime, Action, LogKind, LogSink, Mode, Runtime};
use crate::sys;
use crate::syscall::Call;
use std::fmt::Write as _;

/// Installs `on_signal` for `sig`, returning the previous action so that
/// signals that are not violations can be passed on.
pub(crate) fn install(sig: libc::c_int) -> std::io::Result<libc::sigaction> {
    // SAFETY: sigaction with fully initialised structures.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        // SA_NODEFER: another signal handler that interrupts ours may itself
        // violate, and a blocked synchronous trap signal would kill us.
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, &sa, &mut old) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // The signal must not stay blocked in threads that block it.
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        Ok(old)
    }
}

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    let saved_errno = sys::errno();
    match runtime() {
        // SAFETY: kernel-provided frame pointers.
        Some(rt) => match unsafe { backend::classify(rt.backend, info, uc) } {
            Some(trap) => violation(rt, trap, uc),
            None => unsafe { pass_on(&rt.previous, sig, info, uc) },
        },
        None => unsafe { reraise_default(sig) },
    }
    sys::set_errno(saved_errno);
}

/// One violation, after `backend::classify` found it: decide what the
/// call returns, make it return that, record it. Async-signal-safe like
/// everything here.
fn violation(rt: &Runtime, trap: backend::Trap, uc: *mut libc::c_void) {
    if let Some(result) = backend::transparent(&trap, &rt.held) {
        // Not a violation (fstat in a form the filter cannot tell apart,
        // close_range over the runtime's descriptors): answered as the
        // kernel would, without a record.
        // SAFETY: uc is the frame of the interrupted call.
        unsafe { backend::set_result(uc, result) };
        return;
    }
    let call = crate::syscall::decode(trap.syscall, trap.args);
    // The path of a call the fast path may answer, read with the stack.
    let mut head = Head::new(rt.fast.is_some(), &call);
    let mut v = new_record(rt, &trap, &mut head);
    let mut img = crate::exec::Image::default();
    let mut answer = decide(rt, &trap, &call, &head, &mut v, &mut img);
    if img.program >= 0 {
        answer.result = exec(rt, &img, &call, &mut v, answer);
    }
    v.decision = answer.decision;
    v.result = answer.result;
    // SAFETY: uc is the frame of the interrupted call.
    unsafe { backend::set_result(uc, answer.result) };
    record(rt, &mut v);
}

/// An exec the broker allowed (exec.rs): recorded first, as done, since
/// a successful exec does not come back. Returns only on failure, with
/// the error the call returns (recorded then too).
fn exec(rt: &Runtime, img: &crate::exec::Image, call: &Option<Call>, v: &mut Violation, answer: Answer) -> i64 {
    let ready = match (&rt.exec, &rt.ctl, call) {
        (Some(env), Some(ch), Some(c)) => {
            let log = rt.log.as_ref().map(|l| (l.fd, &l.id));
            crate::exec::prepare(env, img, c, (ch.fd, &ch.id), log)
        }
        _ => Err(libc::ENOEXEC),
    };
    let e = match ready {
        Ok(r) => {
            v.decision = answer.decision;
            v.result = 0;
            // A script: its interpreter was decided and opened too; the
            // record names it (detail2), so a policy built from the
            // report grants exec on it as well.
            if let Some(interp) = img.interpreter() {
                v.set_detail2(interp);
            }
            record(rt, v);
            r.run(backend::signal_for(rt.backend))
        }
        Err(e) => e,
    };
    img.close();
    -(e as i64)
}

/// The record of `trap`: the call, who made it and from where.
fn new_record(rt: &Runtime, trap: &backend::Trap, head: &mut Head) -> Violation {
    let mut v = Violation::new(rt.backend, trap.syscall, trap.args, trap.errno, trap.class, trap.ip);
    v.pid = sys::own_pid();
    v.tid = backend::gettid();
    // No code map (Builder::stack_scan(false)): no scan, and no read at
    // the stack pointer.
    let sp = if rt.code.is_empty() { 0 } else { trap.sp };
    walk_stack(trap.fp, sp, &rt.code, &mut v, head);
    v
}

/// What the call returns, as the mode (or the callback) says: the
/// broker's answer (or the fast path's, or the backend's own), or a
/// refusal. Abort mode does not return.
fn decide(
    rt: &Runtime,
    trap: &backend::Trap,
    call: &Option<Call>,
    head: &Head,
    v: &mut Violation,
    img: &mut crate::exec::Image,
) -> Answer {
    match rt.mode {
        Mode::Fallback => ask_broker(rt, trap, call, head, v, img),
        Mode::Report => {
            describe(call, trap, v);
            refuse(trap, Decision::Reported)
        }
        Mode::Abort => {
            describe(call, trap, v);
            v.decision = Decision::Reported;
            die(v)
        }
        Mode::Callback(f) => {
            describe(call, trap, v);
            match f(v) {
                Action::Fallback => ask_broker(rt, trap, call, head, v, img),
                Action::Deny => refuse(trap, Decision::Callback),
                Action::Errno(e) => Answer {
                    decision: Decision::Callback,
                    result: -(e.abs() as i64),
                },
                Action::Abort => die(v),
            }
        }
    }
}

/// The call fails with its original error, for `decision`.
fn refuse(trap: &backend::Trap, decision: Decision) -> Answer {
    Answer {
        decision,
        result: -(trap.errno as i64),
    }
}

/// Fallback: the backend answers what it can by itself, an allowed file
/// call the fast path can (fast.rs), the broker the rest; a call with no
/// brokered form, or no broker, is refused.
fn ask_broker(
    rt: &Runtime,
    trap: &backend::Trap,
    call: &Option<Call>,
    head: &Head,
    v: &mut Violation,
    img: &mut crate::exec::Image,
) -> Answer {
    if let Some(result) = backend::answer_locally(trap) {
        describe_raw(trap, v);
        return Answer {
            decision: Decision::AllowedByDescriptor,
            result,
        };
    }
    match call {
        Some(c) if !backend::should_broker(rt.backend, trap, c) => {
            describe(call, trap, v);
            refuse(trap, Decision::NotBrokered)
        }
        Some(c) => match &rt.ctl {
            // An allowed file call the handler can answer itself
            // (fast.rs), else the broker.
            Some(ch) => match crate::fast::answer(rt.fast.as_ref(), &rt.policy, c, v, head) {
                Some(a) => a,
                None => client::perform_into(ch, c, trap.errno, v, Some(img)),
            },
            None => refuse(trap, Decision::BrokerUnavailable),
        },
        None => {
            describe_raw(trap, v);
            refuse(trap, Decision::Unsupported)
        }
    }
}

/// Keeps the decided record: in the ring, in the counters, and as one
/// JSON line in the log.
pub(crate) fn record(rt: &Runtime, v: &mut Violation) {
    v.seq = rt.ring.push(*v);
    rt.count(v);
    if let Some(log) = rt.log.as_ref().filter(|l| l.allowed || !v.decision.is_allowed()) {
        let mut buf = [0u8; crate::record::JSON_MAX];
        let mut w = StackWriter::new(&mut buf);
        if v.write_json(&mut w).is_ok() && w.write_char('\n').is_ok() {
            write_log(log, w.as_bytes());
        }
    }
}

/// Writes one JSON line to the log, if its descriptor still is the log
/// (on FreeBSD the program may have closed the number and reused it for
/// an unrelated file; `FileId::still_held`), without raising SIGPIPE in
/// the program when the reader is gone.
fn write_log(log: &LogSink, line: &[u8]) {
    if !log.id.still_held(log.fd) {
        return;
    }
    match log.kind {
        LogKind::Socket => {
            let _ = send_all(log.fd, line);
        }
        LogKind::Pipe => without_sigpipe(|| write_all(log.fd, line)),
        LogKind::Other => {
            let _ = write_all(log.fd, line);
        }
    }
}

/// Runs `write` (to a pipe or FIFO, which has no MSG_NOSIGNAL) with
/// SIGPIPE blocked in this thread, and takes back the SIGPIPE it raised.
///
/// A write to a pipe without reader fails with EPIPE and queues SIGPIPE
/// to the writing thread; blocked, it stays pending. If SIGPIPE was not
/// pending before, the pending one is ours and sigtimedwait with a zero
/// timeout removes it; if it was (the program's own, blocked), ours
/// merged into it or the program gets one more, and nothing of the
/// program's is taken. Then the mask is restored. All of these are
/// plain system calls, safe in a signal handler. (The alternatives:
/// ignoring SIGPIPE process-wide changes the program; turning the
/// program's pipe into a socket is not ours to do.)
fn without_sigpipe(write: impl FnOnce() -> Result<(), i32>) {
    // SAFETY: signal-set operations on local sets; this thread's mask.
    unsafe {
        let mut pipe: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pipe);
        libc::sigaddset(&mut pipe, libc::SIGPIPE);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old);
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut pending);
        let was_pending = libc::sigismember(&pending, libc::SIGPIPE) == 1;
        if write() == Err(libc::EPIPE) && !was_pending {
            let zero: libc::timespec = std::mem::zeroed();
            libc::sigtimedwait(&pipe, std::ptr::null_mut(), &zero);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}

/// send(2) of all of `b` with MSG_NOSIGNAL.
fn send_all(fd: i32, b: &[u8]) -> Result<(), i32> {
    // SAFETY: each piece is a live buffer.
    put_all(b, |p| unsafe {
        libc::send(fd, p.as_ptr().cast(), p.len(), libc::MSG_NOSIGNAL)
    })
}

/// Hands all of `b` to `put` (a send or write returning bytes taken),
/// again after EINTR and for the rest after a short count.
fn put_all(mut b: &[u8], put: impl Fn(&[u8]) -> isize) -> Result<(), i32> {
    while !b.is_empty() {
        let n = put(b);
        if n <= 0 {
            if n < 0 && sys::errno() == libc::EINTR {
                continue;
            }
            return Err(if n < 0 { sys::errno() } else { libc::EIO });
        }
        b = &b[n as usize..];
    }
    Ok(())
}

/// Follows the frame-pointer chain from `fp`, storing return addresses.
/// Bounded (STACK_MAX frames, frames must move up the stack by less than
/// 1 MiB) and every read is checked, so a garbage rbp (code built without
/// frame pointers) ends the walk instead of faulting. Linux reads a
/// stretch of the stack at once and walks the frames inside it (one
/// process_vm_readv for most chains, instead of one per frame: a
/// violation answered on the fast path costs little more than the call).
/// The first copy also reads the start of `head`'s path, if it has one.
///
/// Before the walk, the stretch from the stack pointer up (SCAN_BYTES) is
/// scanned for candidate return addresses (`scan_words`). The path's
/// head, that stretch and the walk's first stretch at rbp come in one
/// process_vm_readv (one stretch when rbp lies inside the scanned one),
/// so the scan adds no system call.
#[cfg(target_os = "linux")]
fn walk_stack(mut fp: u64, sp: u64, code: &CodeMap, v: &mut Violation, head: &mut Head) {
    const PAGE: usize = 4096;
    let mut buf = [0u8; 4096];
    let mut scan = [0u8; crate::record::SCAN_BYTES];
    // buf holds the stack's bytes at [base, base + got).
    let (mut base, mut got) = (0u64, 0usize);
    let pid = v.pid;
    let sp = sp & !7;
    let walkable = fp != 0 && fp & 7 == 0;
    // rbp inside the scanned stretch: reading from sp serves both.
    let within = walkable && fp >= sp && fp - sp <= (buf.len() - 16) as u64;
    if sp != 0 {
        let hl = if head.addr != 0 {
            (PAGE - head.addr % PAGE).min(head.buf.len())
        } else {
            0
        };
        // The head first: an unreadable head leaves what follows unread
        // (read again below), never the reverse.
        let (h, s) = if within {
            let [h, s, _] = sys::read_user_parts(
                pid,
                [(&mut head.buf[..hl], head.addr), (&mut buf, sp as usize), (&mut [], 0)],
            );
            (h, s)
        } else {
            let at = if walkable { fp as usize } else { 0 };
            let [h, s, f] = sys::read_user_parts(
                pid,
                [
                    (&mut head.buf[..hl], head.addr),
                    (&mut scan, sp as usize),
                    (&mut buf, at),
                ],
            );
            (base, got) = (fp, f);
            (h, s)
        };
        if hl > 0 && h == hl {
            head.got = Some(hl);
        }
        // Nothing at rsp: the head failed, or this is a forked child that
        // process_vm_readv refuses (read_user_upto copies through a pipe),
        // or rsp is unreadable (this fails again, cheaply).
        let stretch: &mut [u8] = if within { &mut buf } else { &mut scan };
        let s = if s == 0 {
            sys::read_user_upto(pid, stretch, sp as usize)
        } else {
            s
        };
        scan_words(&stretch[..s.min(crate::record::SCAN_BYTES)], code, v);
        if within {
            (base, got) = (sp, s);
        }
    }
    // Without a stack pointer the head is read with the walk's first copy.
    let mut with_head = head.addr != 0 && sp == 0;
    let mut read = |buf: &mut [u8], at: u64| {
        if std::mem::take(&mut with_head) {
            let (h, g) = sys::read_user_upto_with(pid, buf, at as usize, &mut head.buf, head.addr);
            head.got = h;
            g
        } else {
            sys::read_user_upto(pid, buf, at as usize)
        }
    };
    let mut n = 0;
    while n < crate::record::STACK_MAX && fp != 0 && fp & 7 == 0 {
        let inside = fp >= base && fp - base <= (got as u64).saturating_sub(16);
        if !inside || got < 16 {
            got = read(&mut buf, fp);
            base = fp;
            if got < 16 {
                break;
            }
        }
        let off = (fp - base) as usize;
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[i..i + 8]);
            u64::from_ne_bytes(b)
        };
        match next_frame(fp, word(off), word(off + 8), v, &mut n) {
            Some(next) => fp = next,
            None => break,
        }
    }
    v.stack_len = n as u8;
}

/// Keeps, innermost first, the first SCAN_MAX words of `stack` (a copy of
/// the stack from the stack pointer up) that point into code loaded at
/// enter(): candidate return addresses for code built without frame
/// pointers. Only a lookup in a fixed table per word; no validation here
/// (reading the code before each one would cost system calls on the
/// violation's path): sigcap-run checks that each follows a call.
fn scan_words(stack: &[u8], code: &CodeMap, v: &mut Violation) {
    let mut n = 0;
    for w in stack.chunks_exact(8) {
        if n == crate::record::SCAN_MAX {
            break;
        }
        let a = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        if code.contains(a) {
            v.scan[n] = a;
            n += 1;
        }
    }
    v.scan_len = n as u8;
}

/// One frame of a walk at `fp` whose saved frame pointer and return
/// address are `next` and `ret`: records `ret` (as frame `n`) and returns
/// where to go on, or None where the chain ends (no return address, or a
/// next frame that does not move up the stack by less than 1 MiB).
fn next_frame(fp: u64, next: u64, ret: u64, v: &mut Violation, n: &mut usize) -> Option<u64> {
    if ret == 0 {
        return None;
    }
    v.stack[*n] = ret;
    *n += 1;
    (next > fp && next - fp <= (1 << 20)).then_some(next)
}

/// Follows the frame-pointer chain from `fp`, storing return addresses.
/// Bounded (STACK_MAX frames, frames must move up the stack by less than
/// 1 MiB) and every read is checked, so a garbage rbp (code built without
/// frame pointers) ends the walk instead of faulting.
///
/// First the stretch from the stack pointer up is scanned for candidate
/// return addresses (`scan_words`): SCAN_BYTES if mapped, else up to the
/// end of the stack pointer's page.
#[cfg(not(target_os = "linux"))]
fn walk_stack(mut fp: u64, sp: u64, code: &CodeMap, v: &mut Violation, _head: &mut Head) {
    const PAGE: usize = 4096;
    let mut buf = [0u8; crate::record::SCAN_BYTES];
    let sp = (sp & !7) as usize;
    if sp != 0 {
        let in_page = PAGE - sp % PAGE;
        let got = if read_checked(&mut buf, sp) {
            buf.len()
        } else if read_checked(&mut buf[..in_page], sp) {
            in_page
        } else {
            0
        };
        scan_words(&buf[..got], code, v);
    }
    let mut n = 0;
    while n < crate::record::STACK_MAX && fp != 0 && fp & 7 == 0 {
        let mut w = [0u8; 16];
        if !read_checked(&mut w, fp as usize) {
            break;
        }
        let next = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let ret = u64::from_ne_bytes([w[8], w[9], w[10], w[11], w[12], w[13], w[14], w[15]]);
        match next_frame(fp, next, ret, v, &mut n) {
            Some(next) => fp = next,
            None => break,
        }
    }
    v.stack_len = n as u8;
}

/// Reads `dst.len()` bytes at `src` only if they are mapped.
#[cfg(not(target_os = "linux"))]
fn read_checked(dst: &mut [u8], src: usize) -> bool {
    // mincore(2) fails with ENOMEM on unmapped pages and is permitted in
    // capability mode; only then is the plain copy safe.
    let page = 4096usize;
    let start = src & !(page - 1);
    let len = (src + dst.len()).div_ceil(page) * page - start;
    let mut vec = [0 as libc::c_char; 2];
    // SAFETY: vec holds one byte per page of the (at most two-page) range.
    if unsafe { libc::mincore(start as *const libc::c_void, len, vec.as_mut_ptr().cast()) } != 0 {
        return false;
    }
    sys::read_user(dst, src).is_ok()
}

/// Fills in the path or address without asking the broker (report,
/// abort and callback modes).
fn describe(call: &Option<Call>, trap: &backend::Trap, v: &mut Violation) {
    let Some(c) = call else {
        describe_raw(trap, v);
        return;
    };
    if c.op.has_path() {
        path_detail(c.path, v);
        note_cwd(v, c.dirfd);
    } else if c.addr_len >= 2 && c.addr_len <= crate::proto::ADDR_MAX {
        let mut a = [0u8; crate::proto::ADDR_MAX];
        if sys::read_user(&mut a[..c.addr_len], c.addr).is_ok() {
            client::describe_addr(&a[..c.addr_len], v);
        }
    }
}

/// The path a call the broker cannot perform names, if the table knows
/// which argument holds it.
fn describe_raw(trap: &backend::Trap, v: &mut Violation) {
    if let Some(i) = crate::syscall::path_arg(trap.syscall) {
        path_detail(trap.args[i] as usize, v);
        // The *at calls take their directory just before the path
        // (symlinkat's target comes first); the others use the working
        // directory.
        // symlink(target, path) and inotify_add_watch(fd, path) have no
        // directory argument.
        let dirfd = match i {
            0 => libc::AT_FDCWD,
            _ if matches!(v.name, "symlink" | "inotify_add_watch") => libc::AT_FDCWD,
            _ => trap.args[i - 1] as i32,
        };
        note_cwd(v, dirfd);
    }
}

/// For a call nothing makes absolute (no brokered form, or a mode that
/// only reports): the working directory a relative path from `dirfd`
/// names, in the record, so that a report can still place it.
fn note_cwd(v: &mut Violation, dirfd: i32) {
    if dirfd != libc::AT_FDCWD || v.detail_len == 0 || v.detail[0] == b'/' {
        return;
    }
    let mut dir = [0u8; crate::proto::PATH_MAX];
    match crate::cwd::current(&mut dir) {
        Ok(n) => v.set_cwd(&dir[..n]),
        Err(libc::ENAMETOOLONG) => v.set_cwd(&dir),
        Err(_) => {}
    }
}

fn path_detail(addr: usize, v: &mut Violation) {
    let mut buf = [0u8; crate::record::DETAIL_MAX];
    match sys::read_user_cstr(&mut buf, addr) {
        Ok(n) => v.set_detail(&buf[..n]),
        Err(libc::ENAMETOOLONG) => v.set_detail(&buf),
        Err(_) => {}
    }
}

/// Abort mode: print the decoded violation and dump core.
fn die(v: &Violation) -> ! {
    let mut buf = [0u8; 1024];
    let mut w = StackWriter::new(&mut buf);
    let _ = writeln!(w, "sigcap: {v}; aborting");
    let _ = write_all(2, w.as_bytes());
    // SAFETY: abort is async-signal-safe.
    unsafe { libc::abort() }
}

fn write_all(fd: i32, b: &[u8]) -> Result<(), i32> {
    // SAFETY: each piece is a live buffer.
    put_all(b, |p| unsafe { libc::write(fd, p.as_ptr().cast(), p.len()) })
}

/// A signal of ours that is not a violation: hand it to whoever had the
/// signal before, exactly as if we were not there.
unsafe fn pass_on(prev: &libc::sigaction, sig: libc::c_int, info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    let h = prev.sa_sigaction;
    if h == libc::SIG_IGN {
        return;
    }
    if h == libc::SIG_DFL {
        reraise_default(sig);
        return;
    }
    if prev.sa_flags & libc::SA_SIGINFO != 0 {
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = std::mem::transmute(h);
        f(sig, info, uc);
    } else {
        let f: extern "C" fn(libc::c_int) = std::mem::transmute(h);
        f(sig);
    }
}

/// Restores the default action and raises the signal again, so the
/// default (terminate with core) happens with the right signal.
unsafe fn reraise_default(sig: libc::c_int) {
    libc::signal(sig, libc::SIG_DFL);
    let mut set: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut set);
    libc::sigaddset(&mut set, sig);
    libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    libc::raise(sig);
}
