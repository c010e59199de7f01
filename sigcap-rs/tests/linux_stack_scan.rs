//! The handler's stack scan (`Violation::scan`): candidate return
//! addresses read from the violating thread's stack pointer up, kept only
//! when they point into code loaded at `enter()`. A real call through the
//! C library (built without frame pointers) leaves its return address
//! there; a hostile stack (garbage words, a stack pointer at the edge of
//! unmapped memory, a frame pointer into nowhere) must neither crash the
//! handler nor put anything but code addresses in the scan. Each test runs
//! in its own process (rusty-fork): entering is irreversible.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use rusty_fork::rusty_fork_test;
use sigcap::{Decision, Sandbox};
use std::arch::asm;

const PAGE: usize = 4096;

/// Calls `f(path, flags)` through an explicit `call` and returns what it
/// returned and the return address that call pushed.
fn call_recording_return(
    f: unsafe extern "C" fn(*const libc::c_char, libc::c_int, ...) -> libc::c_int,
    path: &std::ffi::CStr,
) -> (i64, u64) {
    let (ret, back): (i64, u64);
    // SAFETY: a C call per the System V ABI (the stack is aligned for a
    // call on entry to an asm block); clobber_abi covers what it may change.
    unsafe {
        asm!(
            "lea r12, [rip + 2f]",
            "call {f}",
            "2:",
            f = in(reg) f,
            // r12: callee-saved, so it still holds the address after the call.
            out("r12") back,
            in("rdi") path.as_ptr(),
            in("rsi") libc::O_RDONLY,
            // al: vector registers a variadic call takes (none).
            inlateout("rax") 0i64 => ret,
            clobber_abi("C"),
        );
    }
    ((ret as i32) as i64, back)
}

/// openat(AT_FDCWD, path, O_RDONLY) as a bare `syscall` instruction with
/// rsp and rbp set to `sp` and `fp` (the signal frame and the handler run
/// below `sp`, which must leave room for them).
unsafe fn openat_with_stack(path: &std::ffi::CStr, sp: u64, fp: u64) -> i64 {
    let ret: i64;
    asm!(
        "mov r12, rsp",
        "mov r13, rbp",
        "mov rsp, {sp}",
        "mov rbp, {fp}",
        "syscall",
        "mov rsp, r12",
        "mov rbp, r13",
        sp = in(reg) sp,
        fp = in(reg) fp,
        inlateout("rax") libc::SYS_openat => ret,
        in("rdi") libc::AT_FDCWD,
        in("rsi") path.as_ptr(),
        in("rdx") libc::O_RDONLY,
        out("r12") _,
        out("r13") _,
        lateout("rcx") _,
        lateout("r11") _,
    );
    ret
}

/// `len` bytes of fresh memory followed by an unmapped page.
fn region_before_hole(len: usize) -> *mut u8 {
    // SAFETY: anonymous mappings; the hole is unmapped right away.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len + PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        assert_eq!(libc::munmap(p.cast::<u8>().add(len).cast(), PAGE), 0);
        p.cast()
    }
}

extern "C" fn planted_a() {}
extern "C" fn planted_b() {}

rusty_fork_test! {
    #[test]
    fn the_return_address_into_the_caller_of_libc_is_a_candidate() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("f"), "x").unwrap();
        let path = std::ffi::CString::new(t.path().join("f").to_str().unwrap()).unwrap();
        let sb = Sandbox::builder().read_beneath(t.path()).enter().unwrap();
        let (fd, back) = call_recording_return(libc::open, &path);
        assert!(fd >= 0, "the open was allowed");
        let v = *sb.take_violations().last().unwrap();
        assert_eq!(v.syscall_name(), "openat");
        // glibc's open is built without frame pointers: only the scan sees
        // where it was called from.
        assert!(v.scan().contains(&back), "{back:#x} not in {:x?}", v.scan());
        assert!(v.scan().len() <= 16);
        assert!(v.to_json().contains(&format!("\"scan\":[{}", v.scan()[0])));
    }

    #[test]
    fn a_forked_child_scans_too() {
        // The filter lets process_vm_readv reach only the pid that
        // entered: a child's handler reads its stack through a pipe.
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("f"), "x").unwrap();
        let path = std::ffi::CString::new(t.path().join("f").to_str().unwrap()).unwrap();
        let sb = Sandbox::builder().read_beneath(t.path()).enter().unwrap();
        // SAFETY: the child only makes the call, checks and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let (fd, back) = call_recording_return(libc::open, &path);
            let v = sb.take_violations().last().copied();
            let ok = fd >= 0 && v.is_some_and(|v| v.scan().contains(&back));
            // SAFETY: leaving the child without unwinding.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut st = 0;
        // SAFETY: waiting for our child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0, "status {st:#x}");
    }

    #[test]
    fn the_scan_can_be_turned_off() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("f"), "x").unwrap();
        let path = std::ffi::CString::new(t.path().join("f").to_str().unwrap()).unwrap();
        let sb = Sandbox::builder().read_beneath(t.path()).stack_scan(false).enter().unwrap();
        let (fd, _) = call_recording_return(libc::open, &path);
        assert!(fd >= 0);
        let v = *sb.take_violations().last().unwrap();
        assert_eq!(v.scan(), &[] as &[u64]);
        assert!(v.to_json().contains("\"scan\":[]"));
    }

    #[test]
    fn a_hostile_stack_crashes_nothing_and_yields_only_code_addresses() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("f"), "x").unwrap();
        let path = std::ffi::CString::new(t.path().join("f").to_str().unwrap()).unwrap();
        let denied = std::ffi::CString::new("/etc/passwd").unwrap();
        let sb = Sandbox::builder().read_beneath(t.path()).enter().unwrap();
        // 64 KiB for the signal frame and the handler, then 256 bytes of
        // planted words right below an unmapped page.
        let len = 16 * PAGE;
        let base = region_before_hole(len);
        let top = base as u64 + len as u64;
        let (a, b) = (planted_a as *const () as u64, planted_b as *const () as u64);
        let words: [u64; 32] = [
            0, u64::MAX, 0xdead_beef, a, top - 8, 1 << 47, b + 3, top + 4096,
            0x7fff_ffff_ffff, 8, a, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, top,
        ];
        let sp = top - 256;
        let mut words = words;
        words[16] = sp + 16 * 8; // a frame whose saved rbp is itself
        // SAFETY: sp..top is inside the mapping.
        unsafe { std::ptr::copy_nonoverlapping(words.as_ptr(), sp as *mut u64, 32) };
        // Frame pointers: null, unmapped, into the hole, misaligned, one
        // pointing at the planted garbage, a loop onto itself, kernel space.
        for fp in [0, 8, top, top + 64, sp + 3, sp + 24, sp + 16 * 8, 0xffff_ffff_ffff_fff8] {
            // SAFETY: the stack is ours and mapped below sp.
            let fd = unsafe { openat_with_stack(&path, sp, fp) };
            assert!(fd >= 0, "fp {fp:#x}: {fd}");
            // SAFETY: a descriptor we were handed.
            unsafe { libc::close(fd as i32) };
            let v = *sb.take_violations().last().unwrap();
            assert!(matches!(v.decision(), Decision::Allowed { .. }));
            assert_eq!(v.scan(), &[a, b + 3, a], "fp {fp:#x}");
            let fd = unsafe { openat_with_stack(&denied, sp, fp) };
            assert_eq!(fd, -(libc::EPERM as i64));
            let v = *sb.take_violations().last().unwrap();
            assert_eq!(v.scan(), &[a, b + 3, a], "fp {fp:#x}");
            assert!(v.to_json().contains(&format!("\"scan\":[{a},{},{a}]", b + 3)));
        }
        // A stack pointer in the last word before the hole, and one whose
        // window is all code pointers: at most 16 are kept.
        let fd = unsafe { openat_with_stack(&path, top - 8, 0) };
        assert!(fd >= 0);
        assert_eq!(sb.take_violations().last().unwrap().scan(), &[] as &[u64]);
        let all_code = [b; 32];
        unsafe { std::ptr::copy_nonoverlapping(all_code.as_ptr(), sp as *mut u64, 32) };
        let fd = unsafe { openat_with_stack(&path, sp, sp) };
        assert!(fd >= 0);
        assert_eq!(sb.take_violations().last().unwrap().scan(), &[b; 16]);
    }
}
