//! Guest programs: built for x86_64-unknown-freebsd with Debian's Rust
//! (build-std, since rustup has no FreeBSD std), linked by clang/lld against
//! the sysroot of the FreeBSD world, dynamically like the system's own
//! programs (the image carries the installed world's rtld and libraries),
//! so that std is built once for all of them. The list is data:
//! vm-images/guest-programs.
use crate::freebsd::{cross_bindir, Ctx};
use crate::util::{self, run_logged};
use anyhow::{bail, Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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
    /// A freestanding 32-bit (i386) FreeBSD program (path: its one C
    /// source, no libc: the image has no lib32), built by the cross clang;
    /// the init runs it on the kernel's COMPAT_FREEBSD32 layer.
    I386,
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
            "i386" => Kind::I386,
            _ => return None,
        })
    }
    pub fn runs(self) -> bool {
        matches!(self, Kind::Bin | Kind::Example | Kind::Script | Kind::I386)
    }
}

pub fn programs(ctx: &Ctx) -> Result<Vec<Program>> {
    let f = ctx.root.join("vm-images/guest-programs");
    let mut v = Vec::new();
    for l in util::data_lines(&f)? {
        let w: Vec<&str> = l.split_whitespace().collect();
        let Some(kind) = w.get(2).and_then(|k| Kind::parse(k)) else {
            bail!(
                "{}: bad line {l:?} (want: <name> <manifest|script|source> bin|example|script|tool|cdylib|linux|i386 [args...])",
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

/// The init (always built) and the programs of vm-images/guest-programs.
fn all_programs(ctx: &Ctx) -> Result<Vec<Program>> {
    let mut all = vec![Program {
        name: "sigcap-init".into(),
        manifest: ctx.root.join("tests/guest/Cargo.toml"),
        kind: Kind::Bin,
        args: vec![],
    }];
    all.extend(programs(ctx)?);
    Ok(all)
}

/// The cargo build of one Rust guest program. Every program is dynamic:
/// one set of flags, one target directory, one std build (a static and a
/// dynamic set built std twice, the longest part of this step), and a
/// cdylib (the preload shim) cannot be static anyway. The flags name the
/// sysroot, which need not exist yet: only the final link reads it.
fn cargo_build(ctx: &Ctx, p: &Program) -> Result<Command> {
    let bindir = if cfg!(target_os = "freebsd") {
        PathBuf::from("/usr/bin")
    } else {
        cross_bindir()?
    };
    let flags = format!(
        "-C link-arg=--target={TARGET}15.1 -C link-arg=--sysroot={} -C link-arg=-fuse-ld=lld",
        ctx.sysroot().display()
    );
    // Crates with C parts (signal-hook's siginfo helper) compile them with
    // the cross clang against the same sysroot.
    let cflags = format!("--target={TARGET}15.1 --sysroot={}", ctx.sysroot().display());
    let mut c = deb_cargo("build");
    c.env_remove("RUSTFLAGS")
        .env("CARGO_TARGET_X86_64_UNKNOWN_FREEBSD_LINKER", bindir.join("clang"))
        .env("CARGO_TARGET_X86_64_UNKNOWN_FREEBSD_RUSTFLAGS", &flags)
        .env("CC_x86_64_unknown_freebsd", bindir.join("clang"))
        .env("CFLAGS_x86_64_unknown_freebsd", &cflags)
        .env(
            "AR_x86_64_unknown_freebsd",
            bindir.join(if cfg!(target_os = "freebsd") { "ar" } else { "llvm-ar" }),
        )
        .args(["--release", "--manifest-path"])
        .arg(&p.manifest);
    match p.kind {
        Kind::Example => c.arg("--example").arg(&p.name),
        Kind::Cdylib => c.arg("--lib"),
        _ => c.arg("--bin").arg(&p.name),
    };
    c.arg("--target-dir").arg(guest_target_dir(ctx));
    Ok(c)
}

fn guest_target_dir(ctx: &Ctx) -> PathBuf {
    ctx.cache.join("guest-target")
}

fn is_cargo(k: Kind) -> bool {
    !matches!(k, Kind::Script | Kind::Linux | Kind::I386)
}

/// Compile the guest programs' std and dependencies while the world and
/// the kernel build, at the lowest priority so that it takes only the CPU
/// time make leaves idle (the libraries stage keeps two cores ~85% busy).
/// The same cargo commands as build(), with --keep-going: everything but
/// the final links (which need the sysroot) is compiled, and build() then
/// mostly links. Its failures are not errors: build() reports the real ones.
pub fn prebuild_in_background(ctx: &Ctx) -> Result<Prebuild> {
    let mut cmds = Vec::new();
    for p in all_programs(ctx)?.iter().filter(|p| is_cargo(p.kind)) {
        let mut c = cargo_build(ctx, p)?;
        c.arg("--keep-going");
        let mut n = util::wrap_in("nice", &["-n".as_ref(), "19".as_ref()], &c);
        // Its own process group, so that stopping it stops cargo's rustc
        // children too.
        n.process_group(0);
        cmds.push((p.name.clone(), n));
    }
    Prebuild::start(cmds, &util::log_dir(&ctx.root).join("guest-prebuild.log"))
}

impl Prebuild {
    /// Run `cmds` one after the other in a thread, output to `log`.
    fn start(cmds: Vec<(String, Command)>, log: &std::path::Path) -> Result<Prebuild> {
        let mut f = std::fs::File::create(log)?;
        let stop = Arc::new(AtomicBool::new(false));
        let running = Arc::new(Mutex::new(None::<i32>));
        let (stop2, running2) = (stop.clone(), running.clone());
        let thread = std::thread::spawn(move || {
            let t0 = std::time::Instant::now();
            for (name, mut c) in cmds {
                let child = {
                    // Checked under the lock Drop takes: no child starts after
                    // a stop.
                    let mut r = running2.lock().unwrap_or_else(|e| e.into_inner());
                    if stop2.load(Ordering::SeqCst) {
                        return;
                    }
                    let (Ok(o), Ok(e)) = (f.try_clone(), f.try_clone()) else {
                        return;
                    };
                    match c.stdin(Stdio::null()).stdout(o).stderr(e).spawn() {
                        Ok(ch) => {
                            *r = Some(ch.id() as i32);
                            ch
                        }
                        Err(e) => {
                            let _ = writeln!(f, "xtask: prebuild: not started: {e}");
                            return;
                        }
                    }
                };
                let mut child = child;
                let st = child.wait();
                *running2.lock().unwrap_or_else(|e| e.into_inner()) = None;
                match st {
                    Ok(st) => writeln!(f, "xtask: prebuild of {name}: {st}"),
                    Err(e) => writeln!(f, "xtask: prebuild of {name}: {e}"),
                }
                .ok();
            }
            util::record_step("guest: prebuild (background, nice 19)", t0.elapsed(), "overlapped");
        });
        Ok(Prebuild {
            thread: Some(thread),
            stop,
            running,
        })
    }
}

/// The background prebuild: wait() for it, or drop it to stop it (an
/// earlier step failed) without leaving cargo running after we exit.
pub struct Prebuild {
    thread: Option<std::thread::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    running: Arc<Mutex<Option<i32>>>,
}

impl Prebuild {
    pub fn wait(mut self) -> Result<()> {
        if let Some(t) = self.thread.take() {
            t.join()
                .map_err(|_| anyhow::anyhow!("the guest prebuild thread panicked"))?;
        }
        Ok(())
    }
}

impl Drop for Prebuild {
    fn drop(&mut self) {
        let Some(t) = self.thread.take() else { return };
        {
            let r = self.running.lock().unwrap_or_else(|e| e.into_inner());
            self.stop.store(true, Ordering::SeqCst);
            if let Some(pg) = *r {
                // SIGKILL: nothing in the group can ignore it, so the join
                // below cannot wait forever; cargo's locks are flocks.
                let _ = killpg(Pid::from_raw(pg), Signal::SIGKILL);
            }
        }
        let _ = t.join();
    }
}

/// Build every listed program plus the init; returns (name, binary) pairs
/// with the init first.
pub fn build(ctx: &Ctx) -> Result<Vec<(String, PathBuf)>> {
    let sysroot = ctx.sysroot();
    if !sysroot.join("usr/lib/libc.a").exists() {
        bail!("guest: no sysroot at {} (run `cargo xtask world`)", sysroot.display());
    }
    let tdir = guest_target_dir(ctx);
    let mut out = Vec::new();
    for p in &all_programs(ctx)? {
        if p.kind == Kind::Script {
            if !p.manifest.is_file() {
                bail!("guest: script {} not found", p.manifest.display());
            }
            out.push((p.name.clone(), p.manifest.clone()));
            continue;
        }
        if p.kind == Kind::I386 {
            out.push((p.name.clone(), build_i386(ctx, p)?));
            continue;
        }
        if p.kind == Kind::Linux {
            if cfg!(target_os = "linux") {
                out.push((p.name.clone(), build_linux(ctx, p)?));
            } else {
                eprintln!(
                    "xtask: guest: {} left out: Linux programs are built on Linux hosts only",
                    p.name
                );
            }
            continue;
        }
        run_logged(
            &format!("guest: build {}", p.name),
            cargo_build(ctx, p)?,
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

/// A static, freestanding i386 FreeBSD program from one C file, with the
/// cross clang and lld (no sysroot: it uses no headers or libraries).
fn build_i386(ctx: &Ctx, p: &Program) -> Result<PathBuf> {
    let dir = ctx.cache.join("guest-i386");
    std::fs::create_dir_all(&dir)?;
    let bin = dir.join(&p.name);
    let clang = if cfg!(target_os = "freebsd") {
        PathBuf::from("/usr/bin/clang")
    } else {
        cross_bindir()?.join("clang")
    };
    let mut c = Command::new(clang);
    c.args([
        "-target",
        "i386-unknown-freebsd15.1",
        "-ffreestanding",
        "-nostdlib",
        "-static",
        "-fno-pic",
        "-fno-stack-protector",
        "-O2",
        "-Wall",
        "-Werror",
        "-fuse-ld=lld",
        "-Wl,-e,_start",
        "-o",
    ])
    .arg(&bin)
    .arg(&p.manifest);
    run_logged(
        &format!("guest: build {} (i386, freestanding)", p.name),
        c,
        &util::log_dir(&ctx.root).join(format!("guest-{}.log", p.name)),
    )?;
    Ok(bin)
}

/// A static Linux program from one C file, with the host's cc (the guest
/// runs it under linux64.ko, with no Linux libraries to link against).
fn build_linux(ctx: &Ctx, p: &Program) -> Result<PathBuf> {
    let dir = ctx.cache.join("guest-linux");
    std::fs::create_dir_all(&dir)?;
    let bin = dir.join(&p.name);
    let mut c = Command::new("cc");
    c.args(["-static", "-O2", "-Wall", "-Werror", "-o"])
        .arg(&bin)
        .arg(&p.manifest);
    run_logged(
        &format!("guest: build {} (Linux, static)", p.name),
        c,
        &util::log_dir(&ctx.root).join(format!("guest-{}.log", p.name)),
    )
    .context(
        "building a Linux guest program needs a C compiler and static libc (Debian: apt-get install gcc libc6-dev)",
    )?;
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// The 32-bit guest program builds with the cross clang into a static
    /// i386 executable branded FreeBSD (the kernel's image activator picks
    /// the ABI by that brand: no libc, so no crt note).
    #[test]
    fn sigcap32_builds_as_a_freebsd_i386_executable() {
        if cross_bindir().is_err() {
            println!("SKIP sigcap32 build: no cross clang (install clang-19 lld-19)");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let root = crate::host_test::workspace_root();
        // The temporary root takes the build log; the source is the real one.
        let ctx = Ctx {
            root: d.path().to_owned(),
            cache: d.path().to_owned(),
            src: None,
            jobs: 1,
            kernel: crate::freebsd::KernelKind::Patched,
        };
        let p = Program {
            name: "sigcap32".into(),
            manifest: root.join("tests/guest/sigcap32.c"),
            kind: Kind::I386,
            args: vec![],
        };
        let bin = build_i386(&ctx, &p).unwrap();
        let h = std::fs::read(&bin).unwrap();
        assert_eq!(&h[..4], b"\x7fELF");
        assert_eq!(h[4], 1, "ELFCLASS32");
        assert_eq!(h[7], 9, "ELFOSABI_FREEBSD");
        assert_eq!(u16::from_le_bytes([h[18], h[19]]), 3, "EM_386");
    }

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]).process_group(0);
        c
    }

    #[test]
    fn prebuild_runs_its_commands_in_order_and_waits() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let o = out.display().to_string();
        let p = Prebuild::start(
            vec![
                ("a".into(), sh(&format!("echo a >> {o}"))),
                ("b".into(), sh(&format!("echo b >> {o}; exit 1"))),
                ("c".into(), sh(&format!("echo c >> {o}"))),
            ],
            &d.path().join("log"),
        )
        .unwrap();
        p.wait().unwrap();
        // A failing command does not stop the rest: build() reports failures.
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "a\nb\nc\n");
        let log = std::fs::read_to_string(d.path().join("log")).unwrap();
        assert!(log.contains("prebuild of b") && log.contains("exit status: 1"), "{log}");
    }

    #[test]
    fn dropping_the_prebuild_stops_its_process_group_and_starts_nothing_more() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("pid");
        let later = d.path().join("later");
        // The command's own child (as cargo's rustc would be) must die too.
        let p = Prebuild::start(
            vec![
                (
                    "slow".into(),
                    sh(&format!("sleep 60 & echo $! > {}; wait", pidfile.display())),
                ),
                ("later".into(), sh(&format!("touch {}", later.display()))),
            ],
            &d.path().join("log"),
        )
        .unwrap();
        let t0 = Instant::now();
        while !pidfile.exists() || std::fs::read_to_string(&pidfile).unwrap().trim().is_empty() {
            assert!(t0.elapsed() < Duration::from_secs(10), "the command did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let grandchild: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        drop(p);
        assert!(t0.elapsed() < Duration::from_secs(10), "drop waited for the command");
        assert!(!later.exists(), "a command started after the stop");
        // The grandchild was signalled; it is reaped by init, so poll.
        let gone = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            let st = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
            st.is_empty() || st.split(' ').nth(2) == Some("Z")
        });
        assert!(gone, "the command's child outlived the stop");
    }
}
