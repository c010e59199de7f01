//! `cargo xtask bindgen`: generate sigcap-rs/src/sys/freebsd_abi.rs from the
//! patched FreeBSD headers with bindgen (libclang), or `--check` that the
//! committed file equals what the headers give.
use crate::freebsd::Ctx;
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::PathBuf;

pub const NAMES: &[&str] = &[
    "SIGCAP",
    "CAPV_NOTCAPABLE",
    "CAPV_INCREASE",
    "CAPV_SYSCALL",
    "CAPV_SIGNAL",
    "CAPV_PROTO",
    "CAPV_SOCKADDR",
    "CAPV_NAMEI",
    "CAPV_CPUSET",
    "TRAP_CAP",
    "PROC_TRAPCAP_CTL",
    "PROC_TRAPCAP_STATUS",
    "PROC_TRAPCAP_CTL_ENABLE",
    "PROC_TRAPCAP_CTL_DISABLE",
    "PROC_TRAPCAP_CTL_ENABLE_SIGCAP",
];

const HEADER: &str = "// FreeBSD constants for the SIGCAP patch series (kernel-patches/15.1/).\n\
// `cargo xtask bindgen` regenerates this file from the patched headers and\n\
// CI checks that it agrees with the series.\n\n";

#[derive(Debug)]
struct IntCb;
impl bindgen::callbacks::ParseCallbacks for IntCb {
    fn int_macro(&self, _name: &str, _value: i64) -> Option<bindgen::callbacks::IntKind> {
        Some(bindgen::callbacks::IntKind::Int)
    }
}

pub fn out_file(ctx: &Ctx) -> PathBuf {
    ctx.root.join("sigcap-rs/src/sys/freebsd_abi.rs")
}

/// Run bindgen on the working copy's (patched) headers; the file text.
pub fn generate(ctx: &Ctx) -> Result<String> {
    let sys = ctx.work().join("sys");
    if !sys.join("sys/signal.h").exists() {
        bail!(
            "bindgen: no patched tree at {} (run `cargo xtask patch`)",
            ctx.work().display()
        );
    }
    // <machine/...> and <x86/...> as an installed /usr/include has them.
    let inc = ctx.cache.join("bindgen-include");
    fs::create_dir_all(&inc)?;
    for (l, t) in [("machine", "amd64/include"), ("x86", "x86/include")] {
        let p = inc.join(l);
        if fs::symlink_metadata(&p).is_err() {
            std::os::unix::fs::symlink(sys.join(t), &p)?;
        }
    }
    let b = bindgen::Builder::default()
        .header_contents(
            "sigcap_abi.h",
            "#include <sys/types.h>\n#include <sys/signal.h>\n#include <sys/procctl.h>\n",
        )
        .clang_args([
            "-target",
            "x86_64-unknown-freebsd15.1",
            "-nostdinc",
            "-D__BSD_VISIBLE=1",
        ])
        .clang_arg(format!("-I{}", inc.display()))
        .clang_arg(format!("-I{}", sys.display()))
        .parse_callbacks(Box::new(IntCb))
        .layout_tests(false);
    let b = NAMES.iter().fold(b, |b, n| b.allowlist_var(n));
    let code = b
        .generate()
        .context("bindgen failed (is libclang installed? Debian: libclang-19-dev)")?
        .to_string();
    // Re-emit in a fixed order and format, independent of bindgen's layout.
    let mut out = String::from(HEADER);
    for n in NAMES {
        let key = format!("pub const {n} :");
        let alt = format!("pub const {n}:");
        let i = code
            .find(&key)
            .or_else(|| code.find(&alt))
            .with_context(|| format!("bindgen: {n} not found in the patched headers"))?;
        let rest = &code[i..];
        let eq = rest.find('=').unwrap();
        let semi = rest.find(';').unwrap();
        let v = rest[eq + 1..semi].trim();
        out += &format!("pub const {n}: ::std::os::raw::c_int = {v};\n");
    }
    Ok(out)
}

pub fn run(ctx: &Ctx, check: bool) -> Result<()> {
    let text = generate(ctx)?;
    let f = out_file(ctx);
    let cur = fs::read_to_string(&f).unwrap_or_default();
    if check {
        if cur != text {
            bail!(
                "bindgen: {} disagrees with the patched headers; run `cargo xtask bindgen`.\nexpected:\n{text}",
                f.display()
            );
        }
        eprintln!(
            "xtask: bindgen: {} agrees with the patched headers ({} constants)",
            f.display(),
            NAMES.len()
        );
    } else if cur != text {
        fs::write(&f, &text)?;
        eprintln!("xtask: bindgen: wrote {}", f.display());
    } else {
        eprintln!("xtask: bindgen: {} already up to date", f.display());
    }
    Ok(())
}
