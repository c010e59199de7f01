//! Stacks reach the program's own frame (issue #11): through the C
//! library, which is built without frame pointers, to the function that
//! made the call, with file:line where the program has debug info, its
//! symbol where it only has a symbol table, and at least its object where
//! it has neither; and a hostile stack crashes nothing and adds no frame
//! that does not follow a call.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod common;
use common::*;
use serde_json::Value;
use std::process::Command;

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("sigcap-run-stacks.").tempdir().unwrap()
}

/// read_config() opens its file through fopen; -O2 without frame
/// pointers, so only the stack scan can see it.
const PROG: &str = r#"#include <stdio.h>
#include <string.h>

__attribute__((noinline)) int read_config(const char *path) {
    FILE *f = fopen(path, "r"); /* the call */
    if (!f)
        return -1;
    char line[128];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += (int)strlen(line);
    fclose(f);
    return n;
}

int main(int argc, char **argv) {
    int n = read_config(argc > 1 ? argv[1] : "app.conf");
    printf("%d\n", n);
    return n < 0;
}
"#;

fn line_of(src: &str, needle: &str) -> u64 {
    src.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1
}

/// The report's entry for the program's open of app.conf, and the
/// summary line naming it.
fn open_of_app_conf(r: &Run) -> (Value, String) {
    let v = r.find("openat", "app.conf");
    assert_eq!(v.len(), 1, "{:#?}", r.violations());
    let line = r
        .stderr()
        .lines()
        .find(|l| l.contains("openat") && l.contains("app.conf"))
        .unwrap_or_else(|| panic!("no summary line: {}", r.stderr()))
        .to_string();
    (v[0].clone(), line)
}

/// The frame the summary shows (`program_frame`), which must exist.
fn program_frame(v: &Value) -> &Value {
    let i = v["program_frame"]
        .as_u64()
        .unwrap_or_else(|| panic!("no program frame: {v:#}"));
    &v["stack"][i as usize]
}

#[test]
fn with_debug_info_the_programs_function_file_and_line_are_shown() {
    let t = tmp();
    let d = t.path();
    let Some(prog) = cc_named(d, "prog.c", "withdebug", PROG, &["-g", "-O2", "-fomit-frame-pointer"]) else {
        eprintln!("SKIP: no C compiler (cc)");
        return;
    };
    std::fs::write(d.join("app.conf"), "a = 1\n").unwrap();
    let r = run(d, &[], &[prog.to_str().unwrap()]);
    assert_eq!(r.code(), 0);
    assert_eq!(r.stdout(), "6\n");
    let (v, summary) = open_of_app_conf(&r);
    // The call site is inside the C library, the frame-pointer walk finds
    // nothing more: read_config comes from the scan.
    assert!(v["stack"][0]["object"].as_str().unwrap().contains("libc.so"), "{v:#}");
    let f = program_frame(&v);
    assert_eq!(f["function"], "read_config", "{v:#}");
    assert!(f["file"].as_str().unwrap().ends_with("/prog.c"), "{f}");
    assert_eq!(f["line"].as_u64(), Some(line_of(PROG, "fopen(")), "{f}");
    assert_eq!(f["scanned"], true);
    assert!(f["object"].as_str().unwrap().ends_with("/withdebug"), "{f}");
    let want = format!("read_config (prog.c:{})", line_of(PROG, "fopen("));
    assert!(summary.contains(&want), "{summary:?} lacks {want:?}");
    // main's call of read_config is found too, after it.
    let stack = v["stack"].as_array().unwrap();
    let main = stack
        .iter()
        .position(|f| f["function"] == "main")
        .expect("main's frame");
    assert!(main > v["program_frame"].as_u64().unwrap() as usize);
    assert_eq!(
        stack[main]["line"].as_u64(),
        Some(line_of(PROG, "int n = read_config("))
    );
}

#[test]
fn without_debug_info_the_symbol_or_at_least_the_object_is_shown() {
    let t = tmp();
    let d = t.path();
    std::fs::write(d.join("app.conf"), "a = 1\n").unwrap();
    let Some(prog) = cc_named(d, "prog.c", "symtab", PROG, &["-g0", "-O2", "-fomit-frame-pointer"]) else {
        eprintln!("SKIP: no C compiler (cc)");
        return;
    };
    let r = run(d, &[], &[prog.to_str().unwrap()]);
    assert_eq!(r.code(), 0);
    let (v, summary) = open_of_app_conf(&r);
    let f = program_frame(&v);
    assert!(f["symbol"].as_str().unwrap().starts_with("read_config+0x"), "{f}");
    assert!(f.get("line").is_none(), "no DWARF, no line: {f}");
    assert!(
        summary.contains("read_config+0x") && summary.contains("(symtab)"),
        "{summary:?}"
    );

    // Stripped: read_config is in neither .symtab nor .dynsym; the frame
    // is still the program's, by object and offset.
    let stripped = d.join("stripped");
    std::fs::copy(&prog, &stripped).unwrap();
    let st = Command::new("strip").arg(&stripped).status();
    if !st.is_ok_and(|s| s.success()) {
        eprintln!("SKIP (stripped half): no strip(1)");
        return;
    }
    let r = run(d, &[], &[stripped.to_str().unwrap()]);
    assert_eq!(r.code(), 0);
    let (v, summary) = open_of_app_conf(&r);
    let f = program_frame(&v);
    assert!(f["object"].as_str().unwrap().ends_with("/stripped"), "{f}");
    assert!(f["offset"].as_str().unwrap().starts_with("0x"), "{f}");
    assert!(summary.contains("(stripped)"), "{summary:?}");
}

#[test]
fn debians_cat_gets_a_frame_in_cat() {
    let t = tmp();
    let d = t.path();
    std::fs::write(d.join("app.conf"), "a = 1\n").unwrap();
    let r = run(d, &[], &["cat", "app.conf"]);
    assert_eq!(r.code(), 0);
    let (v, summary) = open_of_app_conf(&r);
    assert!(v["stack"][0]["object"].as_str().unwrap().contains("libc.so"), "{v:#}");
    let f = program_frame(&v);
    let obj = f["object"].as_str().unwrap();
    assert!(obj.ends_with("/cat"), "{v:#}");
    assert!(summary.contains("(cat)"), "{summary:?}");
    // Summary lines stay one line each.
    assert!(summary.len() < 200, "{summary:?}");
}

/// A stack of garbage: the violating syscall runs with rsp 256 bytes
/// below an unmapped page, over words that are zero, all ones, addresses
/// in the hole, a label right after a `call` (a real-looking return
/// address), one right after nops and one after a `ret` (code, but not
/// after a call), and rbp pointing into the hole.
const HOSTILE: &str = r#"#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

extern char not_after_call[], after_call[];
__asm__(".text\n"
        "nop\nnop\nnop\nnop\nnop\nnop\nnop\nnop\n"
        "not_after_call: nop\n"
        "call not_after_call\n"
        "after_call: ret\n");

int main(void) {
    size_t len = 16 * 4096;
    char *m = mmap(0, len + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || munmap(m + len, 4096) != 0)
        return 3;
    uint64_t *top = (uint64_t *)(m + len);
    uint64_t *sp = top - 32;
    uint64_t w[32] = {0, ~0ull, 0xdeadbeef, (uint64_t)not_after_call, (uint64_t)top,
                      (uint64_t)after_call, 1ull << 47, (uint64_t)after_call + 1, (uint64_t)(top + 512)};
    memcpy(sp, w, sizeof w);
    long ret;
    __asm__ volatile("mov %%rsp, %%r12\n\t"
                     "mov %%rbp, %%r13\n\t"
                     "mov %[sp], %%rsp\n\t"
                     "mov %[fp], %%rbp\n\t"
                     "syscall\n\t"
                     "mov %%r12, %%rsp\n\t"
                     "mov %%r13, %%rbp"
                     : "=a"(ret)
                     : "a"((long)SYS_openat), "D"((long)AT_FDCWD), "S"("app.conf"), "d"((long)O_RDONLY),
                       [sp] "r"(sp), [fp] "r"(top + 8)
                     : "rcx", "r11", "r12", "r13", "memory");
    printf("%d %#lx %#lx %#lx\n", ret >= 0, (unsigned long)not_after_call, (unsigned long)after_call,
           (unsigned long)after_call + 1);
    return 0;
}
"#;

#[test]
fn a_hostile_stack_crashes_neither_the_handler_nor_the_report() {
    let t = tmp();
    let d = t.path();
    std::fs::write(d.join("app.conf"), "a = 1\n").unwrap();
    let Some(prog) = cc(d, "hostile", HOSTILE, &["-O2"]) else {
        eprintln!("SKIP: no C compiler (cc)");
        return;
    };
    let r = run(d, &[], &[prog.to_str().unwrap()]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let out = r.stdout();
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(f.len(), 4, "{out:?}");
    assert_eq!(f[0], "1", "the open was brokered and allowed");
    let (not_after_call, after_call, after_ret) = (f[1], f[2], f[3]);
    let (v, _) = open_of_app_conf(&r);
    let addrs: Vec<&str> = v["stack"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["addr"].as_str().unwrap())
        .collect();
    // The site is the program's own syscall; the one planted word that
    // follows a call is kept, as a scanned frame; code that does not
    // follow a call, and the garbage, are not.
    assert_eq!(v["program_frame"], 0, "{v:#}");
    assert!(addrs.contains(&after_call), "{addrs:?} lacks {after_call}");
    let kept = v["stack"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["addr"] == after_call)
        .unwrap();
    assert_eq!(kept["scanned"], true);
    assert!(!addrs.contains(&not_after_call), "{addrs:?}");
    assert!(!addrs.contains(&after_ret), "{addrs:?}");
    assert_eq!(addrs.len(), 2, "the site and the one return address: {addrs:?}");
}
