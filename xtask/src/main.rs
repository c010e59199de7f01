//! `cargo xtask`: the project's build and test driver.
mod abi;
mod bindgen_abi;
mod deps;
mod freebsd;
mod guest;
mod host_test;
mod icount;
#[cfg(test)]
mod modcycles;
mod results;
mod survey;
mod util;
mod vm;
mod vmm;

use anyhow::Result;
use clap::{Args, Parser};
use freebsd::{Ctx, KernelKind};
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "sigcap build, image and test driver")]
enum Cmd {
    /// Run everything that runs on this host (what CI runs): the workspace
    /// tests, the FreeBSD ABI check against the patch series, the FreeBSD
    /// type-check, and, given a tree, the series' base and apply check.
    Test {
        /// A FreeBSD 15.1 source tree (default: $SIGCAP_FREEBSD_SRC).
        #[arg(long)]
        src: Option<PathBuf>,
    },
    /// Check a FreeBSD tree against the series' base manifest (or clone one).
    Source(Common),
    /// Apply the series to the cached working copy of the tree.
    Patch(Common),
    /// Trimmed buildworld: the guest sysroot and the loader.
    World {
        #[command(flatten)]
        c: Common,
        /// Rebuild even if the cached world is up to date.
        #[arg(long)]
        force: bool,
    },
    /// Build the test kernel (vm-images/kernel/SIGCAPVM), optionally GENERIC too.
    Kernel {
        #[command(flatten)]
        c: Common,
        #[arg(long)]
        generic: bool,
    },
    /// Build the in-guest programs (tests/guest) for x86_64-unknown-freebsd.
    Guest(Common),
    /// Build the bootable ISO from vm-images/.
    Image(Common),
    /// Boot the ISO (QEMU, or bhyve on FreeBSD), capture the console, parse the results.
    Boot(BootArgs),
    /// All steps: source, patch, world, kernel, guest, image, boot, results,
    /// then the instruction counts (icount) unless --no-icount.
    Vmtest {
        #[command(flatten)]
        b: BootArgs,
        /// Skip the instruction-count boots of the patched and stock kernels.
        #[arg(long)]
        no_icount: bool,
    },
    /// Instructions per system call and per violation on the patched and
    /// the stock kernel (QEMU -icount shift=0), with their ratios. Needs
    /// the image (`cargo xtask image`).
    Icount(BootArgs),
    /// Generate sigcap-rs/src/sys/freebsd_abi.rs from the patched headers
    /// with bindgen (--check: fail if the committed file differs).
    Bindgen {
        #[command(flatten)]
        c: Common,
        #[arg(long)]
        check: bool,
    },
    /// Write docs/capsicumization-survey.md from the survey rows the last
    /// boot saved (target/xtask-results/survey.tsv).
    SurveyDoc {
        /// The rows (default: target/xtask-results/survey.tsv).
        #[arg(long)]
        tsv: Option<PathBuf>,
        /// Where to write the document (default: docs/capsicumization-survey.md).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check the host prerequisites (and install them with --install-deps).
    Deps {
        #[arg(long)]
        install_deps: bool,
    },
}

#[derive(Args, Clone)]
struct Common {
    /// A FreeBSD 15.1 source tree (default: $SIGCAP_FREEBSD_SRC, else a
    /// shallow clone of the release into the cache).
    #[arg(long)]
    src: Option<PathBuf>,
    /// Cache for the working copy, objects and image (default target/freebsd).
    #[arg(long, env = "SIGCAP_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Parallel make jobs (default: number of CPUs).
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Which kernel: the patched one or the stock release kernel.
    #[arg(long, value_enum, default_value = "patched")]
    kernel: KernelKind,
    /// Install missing host prerequisites first (needs root).
    #[arg(long)]
    install_deps: bool,
}

#[derive(Args, Clone)]
struct BootArgs {
    #[command(flatten)]
    c: Common,
    /// Hard timeout for the guest, in seconds (a run takes about 10
    /// minutes under QEMU's TCG with the survey).
    #[arg(long, default_value_t = 900)]
    timeout: u64,
    /// Hypervisor: auto = bhyve on a FreeBSD host where vmm.ko is usable
    /// (as root), QEMU elsewhere.
    #[arg(long, value_enum, default_value = "auto")]
    vmm: vmm::Requested,
}

impl Common {
    fn ctx(&self) -> Result<Ctx> {
        if self.install_deps {
            deps::ensure("the main job", &deps::vmtest_reqs(), true)?;
        }
        let root = host_test::workspace_root();
        let cache = self.cache_dir.clone().unwrap_or_else(|| root.join("target/freebsd"));
        std::fs::create_dir_all(&cache)?;
        Ok(Ctx {
            root,
            cache: std::fs::canonicalize(cache)?,
            src: self.src.clone(),
            jobs: self
                .jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)),
            kernel: self.kernel,
        })
    }
}

fn main() -> Result<()> {
    // Before anything starts a thread or a child: see the function's comment.
    let reset = util::reset_inherited_signals();
    util::mark_start();
    let cmd = Cmd::parse();
    if !reset.is_empty() {
        let names: Vec<&str> = reset.iter().map(|s| s.as_str()).collect();
        eprintln!(
            "xtask: started with {} ignored; children get the default",
            names.join(", ")
        );
    }
    let r = run(cmd);
    // Every run ends with its step times, the failed ones too.
    eprint!("{}", util::step_table());
    r
}

fn run(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Test { src } => {
            // On a fresh machine, as root, the test command installs what
            // it needs itself, like the main job.
            util::timed("deps: host prerequisites", || {
                deps::ensure("the test command", &deps::test_reqs(), deps::is_root())
            })?;
            host_test::run_all(src)
        }
        Cmd::Source(c) => freebsd::source(&c.ctx()?).map(|_| ()),
        Cmd::Patch(c) => {
            let ctx = c.ctx()?;
            let t = freebsd::source(&ctx)?;
            freebsd::patch(&ctx, &t)
        }
        Cmd::World { c, force } => freebsd::world(&c.ctx()?, force),
        Cmd::Kernel { c, generic } => freebsd::kernel(&c.ctx()?, generic),
        Cmd::Guest(c) => guest::build(&c.ctx()?).map(|_| ()),
        Cmd::Image(c) => vm::image(&c.ctx()?).map(|_| ()),
        Cmd::Boot(b) => {
            let ctx = b.c.ctx()?;
            util::timed("boot and results", || vm::boot_and_report(&ctx, b.timeout, &b.vmm))
        }
        Cmd::Icount(b) => {
            let ctx = b.c.ctx()?;
            let tree = freebsd::source(&ctx)?;
            icount::run(&ctx, &tree, b.timeout)
        }
        Cmd::Vmtest { b, no_icount } => {
            let ctx = b.c.ctx()?;
            let t0 = std::time::Instant::now();
            // The main command on a fresh machine: install what is missing
            // when we are root, else one message naming the command.
            util::timed("deps: host prerequisites", || {
                deps::ensure("the main job", &deps::vmtest_reqs(), deps::is_root())
            })?;
            let tree = util::timed("source: check the tree", || freebsd::source(&ctx))?;
            util::timed("patch", || freebsd::patch(&ctx, &tree))?;
            // bmake's bootstrap self-test fails on a busy machine: bootstrap
            // first. Then the guest programs' dependencies compile in the CPU
            // time the world and kernel builds leave idle.
            freebsd::bootstrap_make(&ctx)?;
            let prebuild = guest::prebuild_in_background(&ctx)?;
            freebsd::world(&ctx, false)?;
            freebsd::kernel(&ctx, false)?;
            util::timed("guest: wait for the prebuild", || prebuild.wait())?;
            vm::image(&ctx)?; // builds the guest programs first
            let mut r = util::timed("boot and results", || vm::boot_and_report(&ctx, b.timeout, &b.vmm));
            // The counts compare kernels, so only with the patched one; they
            // are printed, not asserted (see icount.rs).
            if r.is_ok() && !no_icount && ctx.kernel == KernelKind::Patched {
                r = icount::run(&ctx, &tree, b.timeout);
            }
            eprintln!("xtask: vmtest took {}s", t0.elapsed().as_secs());
            r
        }
        Cmd::Bindgen { c, check } => {
            let ctx = c.ctx()?;
            let t = freebsd::source(&ctx)?;
            freebsd::patch(&ctx, &t)?;
            bindgen_abi::run(&ctx, check)
        }
        Cmd::SurveyDoc { tsv, out } => {
            let root = host_test::workspace_root();
            let tsv = tsv.unwrap_or_else(|| root.join("target/xtask-results/survey.tsv"));
            let out = out.unwrap_or_else(|| root.join("docs/capsicumization-survey.md"));
            survey::write_doc(&tsv, &out)
        }
        Cmd::Deps { install_deps } => deps::ensure("vmtest and test", &deps::all_reqs(), install_deps),
    }
}
