//! `cargo xtask test`: everything that runs on a Linux host.
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::guest::{deb_cargo, DEB_CARGO, DEB_PACKAGES, DEB_RUSTC, DEB_RUST_SRC, TARGET};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

fn run(what: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: {what}");
    let st = cmd.status().with_context(|| format!("starting {what}"))?;
    if !st.success() {
        bail!("{what} failed ({st})");
    }
    Ok(())
}

/// The FreeBSD type-check of the crates that target FreeBSD.
pub fn freebsd_check(root: &Path) -> Result<()> {
    for p in [DEB_RUSTC, DEB_CARGO, DEB_RUST_SRC] {
        if !Path::new(p).exists() {
            bail!(
                "{p} is missing: the FreeBSD type-check needs Debian's Rust with std sources.\n  \
                 Debian/Ubuntu: sudo apt-get install {DEB_PACKAGES}"
            );
        }
    }
    // The runtime, sigcap-run and its shim, and the in-guest suites: every
    // crate that is built for the guest.
    let checks: [(&str, &[&str]); 3] = [
        ("sigcap", &["-p", "sigcap", "--lib", "--examples", "--benches"]),
        (
            "sigcap-run and its shim",
            &["-p", "sigcap-run", "-p", "sigcap-run-shim"],
        ),
        (
            "the in-guest suites (tests/guest)",
            &["--manifest-path", "tests/guest/Cargo.toml", "--bins"],
        ),
    ];
    for (what, args) in checks {
        run(
            &format!("type-check {what} for {TARGET}"),
            deb_cargo("check")
                .current_dir(root)
                .args(args)
                .arg("--target-dir")
                .arg(root.join("target/freebsd-check")),
        )?;
    }
    Ok(())
}

/// Whether `cargo <tool>` (a rustup component: rustfmt, clippy) is there.
fn cargo_has(tool: &str) -> bool {
    Command::new(env!("CARGO"))
        .args([tool, "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Formatting and lints: `cargo fmt --check` of the workspace and of
/// tests/guest, and clippy on every target with warnings as errors. A
/// toolchain without the component (Debian's packaged cargo has neither)
/// gets a SKIP line naming it.
fn style_checks(root: &Path) -> Result<()> {
    if cargo_has("fmt") {
        run(
            "cargo fmt --check (workspace)",
            Command::new(env!("CARGO"))
                .current_dir(root)
                .args(["fmt", "--all", "--check"]),
        )?;
        run(
            "cargo fmt --check (tests/guest)",
            Command::new(env!("CARGO"))
                .current_dir(root.join("tests/guest"))
                .args(["fmt", "--check"]),
        )?;
    } else {
        println!("SKIP cargo fmt --check: this toolchain has no rustfmt (rustup component add rustfmt)");
    }
    if cargo_has("clippy") {
        run(
            "cargo clippy --workspace --all-targets -D warnings",
            Command::new(env!("CARGO")).current_dir(root).args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
        )?;
    } else {
        println!("SKIP cargo clippy: this toolchain has no clippy (rustup component add clippy)");
    }
    Ok(())
}

pub fn run_all(src: Option<PathBuf>) -> Result<()> {
    let root = workspace_root();
    style_checks(&root)?;
    run(
        "cargo test --workspace",
        Command::new(env!("CARGO"))
            .current_dir(&root)
            .args(["test", "--workspace"]),
    )?;
    let n = crate::abi::check(
        &root.join("kernel-patches/15.1"),
        &root.join("sigcap-rs/src/sys/freebsd_abi.rs"),
    )?;
    eprintln!("xtask: FreeBSD ABI constants agree with the patch series ({n} checked)");
    freebsd_check(&root)?;
    match src.or_else(|| std::env::var_os("SIGCAP_FREEBSD_SRC").map(PathBuf::from)) {
        Some(src) => run(
            "check the FreeBSD tree against the series' base manifest",
            Command::new("sh")
                .arg(root.join("kernel-patches/check-series.sh"))
                .arg(&src),
        )
        .and_then(|()| bindgen_check(&root, &src))?,
        None => println!(
            "SKIP freebsd-tree checks: no FreeBSD 15.1 tree given (--src DIR or SIGCAP_FREEBSD_SRC); \
             the base-manifest, apply and bindgen-on-patched-headers checks need one"
        ),
    }
    Ok(())
}

/// Real bindgen on the patched headers of the given tree, compared with the
/// committed sigcap-rs/src/sys/freebsd_abi.rs.
fn bindgen_check(root: &Path, src: &Path) -> Result<()> {
    let cache = std::env::var_os("SIGCAP_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or(root.join("target/freebsd"));
    std::fs::create_dir_all(&cache)?;
    let ctx = crate::freebsd::Ctx {
        root: root.to_owned(),
        cache: std::fs::canonicalize(cache)?,
        src: Some(src.to_owned()),
        jobs: 1,
        kernel: crate::freebsd::KernelKind::Patched,
    };
    let t = crate::freebsd::source(&ctx)?;
    crate::freebsd::patch(&ctx, &t)?;
    crate::bindgen_abi::run(&ctx, true)
}
