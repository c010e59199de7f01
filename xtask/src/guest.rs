//! Guest programs: built for x86_64-unknown-freebsd with Debian's Rust
//! (build-std, since rustup has no FreeBSD std), linked by clang/lld against
//! the sysroot of the FreeBSD world, dynamically like the system's own
//! programs (the image carries the installed world's rtld and libraries),
//! so that std is built once for all of them. The list is data:
//! vm-images/guest-programs.
use crate::freebsd::{cross_bindir, Ctx};
use crate::util::{self, run_logged};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// Debian's Rust (rustc-web, cargo-web) with its std sources
/// (rust-web-src): rustup has no FreeBSD std, so FreeBSD builds and checks
/// build std from source with -Zbuild-std.
pub const DEB_RUSTC: &str = "/usr/bin/rustc";
pub const DEB_CARGO: &str = "/usr/bin/cargo";
pub const DEB_RUST_SRC: &str = "/usr/lib/rustlib/src/rust/library";
pub const DEB_PACKAGES: &str = "rustc-web cargo-web rust-web-src";
pub const TARGET: &str = "x86_64-unknown-freebsd";

/// `cargo <sub> -Zbuild-std=std,panic_abort --target x86_64-unknown-freebsd`
/// with Debian's cargo and rustc, whatever toolchain runs the xtask.
pub fn deb_cargo(sub: &str) -> Command {
    let mut c = Command::new(DEB_CARGO);
    c.env("RUSTC", DEB_RUSTC)
        .env("RUSTC_BOOTSTRAP", "1")
        .env_remove("RUSTUP_TOOLCHAIN")
        .args([sub, "-Zbuild-std=std,panic_abort", "--target", TARGET]);
    c
}

pub struct Program {
    pub name: String,
    /// The cargo manifest, or for a script the script itself.
    pub manifest: PathBuf,
    pub kind: Kind,
    pub args: Vec<String>,
}

/// How a vm-images/guest-programs entry is built and whether the init runs it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// A cargo binary target; run.
    Bin,
    /// A cargo example; run.
    Example,
    /// A shell script, copied; run (by its #! line).
    Script,
    /// A cargo binary target installed for the scripts, not run.
    Tool,
    /// A cargo cdylib (e.g. a preload shim); installed, not run.
    Cdylib,
    /// A C program for Linux (path: its source), built static by the host's
    /// cc for the guest's Linux ABI; installed for the scripts, not run.
    Linux,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "bin" => Kind::Bin,
            "example" => Kind::Example,
            "script" => Kind::Script,
            "tool" => Kind::Tool,
            "cdylib" => Kind::Cdylib,
            "linux" => Kind::Linux,
            _ => return None,
        })
    }
    pub fn runs(self) -> bool {
        matches!(self, Kind::Bin | Kind::Example | Kind::Script)
    }
}

pub fn programs(ctx: &Ctx) -> Result<Vec<Program>> {
    let f = ctx.root.join("vm-images/guest-programs");
    let mut v = Vec::new();
    for l in util::lines_of(&f)? {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let w: Vec<&str> = l.split_whitespace().collect();
        let Some(kind) = w.get(2).and_then(|k| Kind::parse(k)) else {
            bail!(
                "{}: bad line {l:?} (want: <name> <manifest|script|source> bin|example|script|tool|cdylib|linux [args...])",
                f.display()
            );
        };
        v.push(Program {
            name: w[0].into(),
            manifest: ctx.root.join(w[1]),
            kind,
            args: w[3..].iter().map(|s| s.to_string()).collect(),
        });
    }
    Ok(v)
}

/// Build every listed program plus the init; returns (name, binary) pairs
/// with the init first.
pub fn build(ctx: &Ctx) -> Result<Vec<(String, PathBuf)>> {
    let sysroot = ctx.sysroot();
    if !sysroot.join("usr/lib/libc.a").exists() {
        bail!("guest: no sysroot at {} (run `cargo xtask world`)", sysroot.display());
    }
    let bindir = if cfg!(target_os = "freebsd") {
        PathBuf::from("/usr/bin")
    } else {
        cross_bindir()?
    };
    // Link with clang/lld against the world's sysroot. Every program is
    // dynamic: one set of flags, one target directory, one std build (a
    // static and a dynamic set built std twice, the longest part of this
    // step), and a cdylib (the preload shim) cannot be static anyway.
    let flags = format!(
        "-C link-arg=--target={TARGET}15.1 -C link-arg=--sysroot={} -C link-arg=-fuse-ld=lld",
        sysroot.display()
    );
    let tdir = ctx.cache.join("guest-target");
    let mut all = vec![Program {
        name: "sigcap-init".into(),
        manifest: ctx.root.join("tests/guest/Cargo.toml"),
        kind: Kind::Bin,
        args: vec![],
    }];
    all.extend(programs(ctx)?);
    let mut out = Vec::new();
    for p in &all {
        if p.kind == Kind::Script {
            if !p.manifest.is_file() {
                bail!("guest: script {} not found", p.manifest.display());
            }
            out.push((p.name.clone(), p.manifest.clone()));
            continue;
        }
        if p.kind == Kind::Linux {
            if cfg!(target_os = "linux") {
                out.push((p.name.clone(), build_linux(ctx, p)?));
            } else {
                eprintln!("xtask: guest: {} left out: Linux programs are built on Linux hosts only", p.name);
            }
            continue;
        }
        let mut c = deb_cargo("build");
        c.env_remove("RUSTFLAGS")
            .env("CARGO_TARGET_X86_64_UNKNOWN_FREEBSD_LINKER", bindir.join("clang"))
            .env("CARGO_TARGET_X86_64_UNKNOWN_FREEBSD_RUSTFLAGS", &flags)
            .args(["--release", "--manifest-path"])
            .arg(&p.manifest);
        match p.kind {
            Kind::Example => c.arg("--example").arg(&p.name),
            Kind::Cdylib => c.arg("--lib"),
            _ => c.arg("--bin").arg(&p.name),
        };
        c.arg("--target-dir").arg(&tdir);
        run_logged(
            &format!("guest: build {}", p.name),
            c,
            &util::log_dir(&ctx.root).join(format!("guest-{}.log", p.name)),
        )?;
        let mut bin = tdir.join(TARGET).join("release");
        if p.kind == Kind::Example {
            bin = bin.join("examples");
        }
        let bin = bin.join(&p.name);
        if !bin.is_file() {
            bail!("guest: {} was built but {} is missing", p.name, bin.display());
        }
        out.push((p.name.clone(), bin));
    }
    Ok(out)
}

/// A static Linux program from one C file, with the host's cc (the guest
/// runs it under linux64.ko, with no Linux libraries to link against).
fn build_linux(ctx: &Ctx, p: &Program) -> Result<PathBuf> {
    let dir = ctx.cache.join("guest-linux");
    std::fs::create_dir_all(&dir)?;
    let bin = dir.join(&p.name);
    let mut c = Command::new("cc");
    c.args(["-static", "-O2", "-Wall", "-Werror", "-o"]).arg(&bin).arg(&p.manifest);
    run_logged(
        &format!("guest: build {} (Linux, static)", p.name),
        c,
        &util::log_dir(&ctx.root).join(format!("guest-{}.log", p.name)),
    )
    .context("building a Linux guest program needs a C compiler and static libc (Debian: apt-get install gcc libc6-dev)")?;
    Ok(bin)
}
