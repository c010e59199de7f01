//! The FreeBSD steps: source, patch, world, kernel.
use crate::util::{self, hash_bytes, read_stamp, run_logged, write_stamp};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The release the series is for, and where `source` clones it from when no
/// `--src` is given.
pub const RELEASE_GIT: &str = "https://git.freebsd.org/src.git";
pub const RELEASE_REF: &str = "releng/15.1";
pub const SERIES: &str = "kernel-patches/15.1";
/// Our kernel configuration (under vm-images/kernel/).
pub const KERNCONF: &str = "SIGCAPVM";

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum KernelKind {
    /// The kernel with the SIGCAP series applied.
    Patched,
    /// The unpatched release kernel (same config), for the SIGTRAP backend.
    Stock,
}

pub struct Ctx {
    pub root: PathBuf,
    pub cache: PathBuf,
    pub src: Option<PathBuf>,
    pub jobs: usize,
    pub kernel: KernelKind,
}

impl Ctx {
    pub fn series_dir(&self) -> PathBuf {
        self.root.join(SERIES)
    }
    /// The working copy that is patched and built (never the user's tree).
    pub fn work(&self) -> PathBuf {
        self.cache.join("work")
    }
    pub fn objprefix(&self) -> PathBuf {
        self.cache.join("obj")
    }
    /// The working copy's absolute path without its leading `/`: make
    /// names object directories after it, beneath an object prefix.
    fn work_rel(&self) -> PathBuf {
        let w = self.work();
        let w = fs::canonicalize(&w).unwrap_or(w);
        w.strip_prefix("/").unwrap_or(&w).to_owned()
    }
    /// The make.py/buildworld object directory of the working copy.
    pub fn objdir(&self) -> PathBuf {
        self.objprefix().join(self.work_rel()).join("amd64.amd64")
    }
    pub fn sysroot(&self) -> PathBuf {
        self.objdir().join("tmp")
    }
    /// The tree named by `--src` or `SIGCAP_FREEBSD_SRC`, else none (then
    /// `source` clones one into the cache).
    fn given_tree(&self) -> Option<PathBuf> {
        self.src
            .clone()
            .or_else(|| std::env::var_os("SIGCAP_FREEBSD_SRC").map(PathBuf::from))
    }
    /// The pristine tree the stock kernel and its ATF tests are built from:
    /// the user's tree (never the working copy, which always carries the
    /// series).
    pub fn pristine_tree(&self) -> PathBuf {
        let t = self.given_tree().unwrap_or_else(|| self.cache.join("src-clone"));
        fs::canonicalize(&t).unwrap_or(t)
    }
    /// The source directory the chosen kernel is built from, without its
    /// leading `/`: make names the kernel's object directory after it
    /// (beneath `objdir()`) when it is not the working copy.
    fn kernel_src_rel(&self) -> PathBuf {
        match self.kernel {
            KernelKind::Patched => self.work_rel(),
            KernelKind::Stock => {
                let t = self.pristine_tree();
                t.strip_prefix("/").unwrap_or(&t).to_owned()
            }
        }
    }
    /// buildkernel's object directory of the chosen kernel.
    pub fn kernel_objdir(&self) -> PathBuf {
        match self.kernel {
            KernelKind::Patched => self.objdir().join("sys").join(KERNCONF),
            KernelKind::Stock => self.stock_kernel_objdir(&self.pristine_tree()),
        }
    }
    /// buildkernel's object directory of our config built from `tree`
    /// (canonical) with KERNSRCDIR: named after the tree, beneath objdir.
    fn stock_kernel_objdir(&self, tree: &Path) -> PathBuf {
        self.objdir()
            .join(tree.strip_prefix("/").unwrap_or(tree))
            .join("sys")
            .join(KERNCONF)
    }
    pub fn kernel_file(&self) -> PathBuf {
        self.kernel_objdir().join("kernel")
    }
    pub fn userland_dir(&self) -> PathBuf {
        self.cache.join("userland")
    }
    pub fn stand_dir(&self) -> PathBuf {
        self.objdir().join("stand/i386")
    }
    fn log(&self, name: &str) -> PathBuf {
        util::log_dir(&self.root).join(name)
    }
}

// ---------------------------------------------------------------- source

/// `<blob sha1> <path>` lines of the series' base manifest.
pub fn read_manifest(series: &Path) -> Result<Vec<(String, String)>> {
    let mut v = Vec::new();
    for l in util::data_lines(&series.join("base-manifest"))? {
        let (sha, path) = l.split_once(char::is_whitespace).context("bad base-manifest line")?;
        v.push((sha.to_owned(), path.trim().to_owned()));
    }
    Ok(v)
}

/// Git blob ids of `paths` under `dir` (None where the file is absent).
fn blob_ids(dir: &Path, paths: &[String]) -> Result<Vec<Option<String>>> {
    let present: Vec<&String> = paths.iter().filter(|p| dir.join(p).is_file()).collect();
    let mut child = Command::new("git")
        .args(["hash-object", "--no-filters", "--stdin-paths"])
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running git hash-object (is git installed?)")?;
    {
        let mut i = child.stdin.take().unwrap();
        for p in &present {
            writeln!(i, "{p}")?;
        }
    }
    let out = child.wait_with_output()?;
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    if ids.len() != present.len() {
        bail!("git hash-object gave {} ids for {} files", ids.len(), present.len());
    }
    let mut it = ids.into_iter();
    Ok(paths
        .iter()
        .map(|p| if dir.join(p).is_file() { it.next() } else { None })
        .collect())
}

/// Compare a tree with the base manifest; the error names every differing file.
pub fn check_tree(tree: &Path, series: &Path) -> Result<usize> {
    let m = read_manifest(series)?;
    let paths: Vec<String> = m.iter().map(|(_, p)| p.clone()).collect();
    let ids = blob_ids(tree, &paths)?;
    let zero = "0".repeat(40);
    let mut bad = Vec::new();
    for ((want, path), have) in m.iter().zip(ids) {
        match (want == &zero, have) {
            (true, None) => {}
            (true, Some(_)) => bad.push(format!("  {path}: exists, but the series creates it")),
            (false, None) => bad.push(format!("  {path}: missing")),
            (false, Some(h)) if &h != want => bad.push(format!("  {path}: differs (blob {h}, expected {want})")),
            _ => {}
        }
    }
    if !bad.is_empty() {
        bail!(
            "{} is not the FreeBSD tree the series is based on ({}); {} of {} files differ:\n{}",
            tree.display(),
            fs::read_to_string(series.join("base-manifest"))?
                .lines()
                .next()
                .unwrap_or(""),
            bad.len(),
            m.len(),
            bad.join("\n")
        );
    }
    Ok(m.len())
}

/// Resolve the source tree: `--src`, $SIGCAP_FREEBSD_SRC, or a shallow clone
/// of the release branch into the cache. Checks it against the manifest.
pub fn source(ctx: &Ctx) -> Result<PathBuf> {
    let tree = match ctx.given_tree() {
        Some(t) => t,
        None => {
            let clone = ctx.cache.join("src-clone");
            if !clone.join("sys/kern").is_dir() {
                fs::create_dir_all(&ctx.cache)?;
                let mut c = Command::new("git");
                c.args(["clone", "--depth", "1", "--branch", RELEASE_REF, RELEASE_GIT])
                    .arg(&clone);
                run_logged(
                    &format!("source: shallow clone of {RELEASE_REF}"),
                    c,
                    &ctx.log("source-clone.log"),
                )?;
            }
            clone
        }
    };
    if !tree.join("sys/kern").is_dir() || !tree.join("tools/build/make.py").is_file() {
        bail!(
            "{} does not look like a FreeBSD source tree (no sys/kern or tools/build/make.py)",
            tree.display()
        );
    }
    let n = check_tree(&tree, &ctx.series_dir())?;
    eprintln!(
        "xtask: source: {} matches the series' base manifest ({n} files)",
        tree.display()
    );
    Ok(tree)
}

// ---------------------------------------------------------------- patch

/// The files a patch touches (from its `--- a/` and `+++ b/` lines).
pub fn patch_paths(text: &str) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    for l in text.lines() {
        for pre in ["--- a/", "+++ b/"] {
            if let Some(p) = l.strip_prefix(pre) {
                s.insert(p.split('\t').next().unwrap().trim_end().to_owned());
            }
        }
    }
    s
}

/// The series' patches in order. The working copy carries them whatever
/// the kernel: `--kernel stock` builds its kernel and ATF tests from the
/// pristine tree instead (`kernel`, `atf_tests`). Restoring the working
/// copy for it would give the series' headers new times on the way back,
/// and the next patched run's installs would then find the world's objects
/// stale ("tried to rebuild during make install").
pub fn series_patches(ctx: &Ctx) -> Result<Vec<PathBuf>> {
    let d = ctx.series_dir();
    Ok(util::data_lines(&d.join("series"))?
        .into_iter()
        .map(|l| d.join(l))
        .collect())
}

/// Make the working copy equal to tree + series, touching only the files
/// whose content changes (so make rebuilds only what a patch change touches).
pub fn patch(ctx: &Ctx, tree: &Path) -> Result<()> {
    let work = ctx.work();
    let src_stamp = ctx.cache.join("work.source");
    let tree_abs = fs::canonicalize(tree)?;
    if read_stamp(&src_stamp).as_deref() != Some(&tree_abs.display().to_string()) || !work.join("sys/kern").is_dir() {
        if work.exists() {
            fs::remove_dir_all(&work)?;
        }
        fs::create_dir_all(&work)?;
        let sh = format!(
            "tar -C '{}' --exclude=./.git -cf - . | tar -C '{}' -xf -",
            tree_abs.display(),
            work.display()
        );
        let mut c = Command::new("sh");
        c.args(["-c", &sh]);
        run_logged(
            "patch: copy the tree to the working copy",
            c,
            &ctx.log("patch-copy.log"),
        )?;
        let _ = fs::remove_file(ctx.cache.join("work.touched"));
        write_stamp(&src_stamp, &tree_abs.display().to_string())?;
    }
    let patches = series_patches(ctx)?;
    // Every file the previous or the current series touches.
    let mut touched: BTreeSet<String> = read_stamp(&ctx.cache.join("work.touched"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect();
    let mut texts = Vec::new();
    for p in &patches {
        let t = fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        touched.extend(patch_paths(&t));
        texts.push(t);
    }
    touched.remove("/dev/null");
    // Apply to a staging copy of just those files.
    let stage = ctx.cache.join("patch-stage");
    if stage.exists() {
        fs::remove_dir_all(&stage)?;
    }
    for f in &touched {
        let s = tree_abs.join(f);
        if s.is_file() {
            let d = stage.join(f);
            fs::create_dir_all(d.parent().unwrap())?;
            fs::copy(&s, &d)?;
        }
    }
    fs::create_dir_all(&stage)?;
    let log = ctx.log("patch.log");
    let mut logtext = String::new();
    for p in &patches {
        let o = Command::new("patch")
            .args(["-p1", "-N", "-t", "--no-backup-if-mismatch", "-d"])
            .arg(&stage)
            .arg("-i")
            .arg(p)
            .output()
            .context("running patch(1) (Debian: apt-get install patch)")?;
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        logtext.push_str(&format!("=== {}\n{out}", p.display()));
        if !o.status.success() {
            fs::write(&log, &logtext)?;
            bail!(
                "patch: {} does not apply to {} (conflict; the working copy was left unchanged):\n{out}\nfull log: {}",
                p.file_name().unwrap().to_string_lossy(),
                tree.display(),
                log.display()
            );
        }
    }
    fs::write(&log, &logtext)?;
    // Sync the staging copy into the working copy.
    let mut changed = Vec::new();
    for f in &touched {
        let (s, w) = (stage.join(f), work.join(f));
        match (s.is_file(), w.is_file()) {
            (true, _) => {
                let new = fs::read(&s)?;
                if fs::read(&w).ok().as_deref() != Some(&new[..]) {
                    fs::create_dir_all(w.parent().unwrap())?;
                    fs::write(&w, &new)?;
                    changed.push(f.clone());
                }
            }
            (false, true) => {
                fs::remove_file(&w)?;
                changed.push(f.clone());
            }
            _ => {}
        }
    }
    let cur: BTreeSet<String> = texts
        .iter()
        .flat_map(|t| patch_paths(t))
        .filter(|p| p != "/dev/null")
        .collect();
    write_stamp(
        &ctx.cache.join("work.touched"),
        &cur.into_iter().collect::<Vec<_>>().join("\n"),
    )?;
    eprintln!(
        "xtask: patch: {} patch(es) applied to {}; {} file(s) changed since the last run{}",
        patches.len(),
        work.display(),
        changed.len(),
        if changed.is_empty() {
            String::new()
        } else {
            format!(": {}", changed.join(" "))
        }
    );
    sqlite_blob(ctx)?;
    ctype_map(ctx)?;
    Ok(())
}

/// share/ctypedef builds the C.UTF-8 LC_CTYPE table from
/// tools/tools/locale/etc/final-maps/map.UTF-8, a large blob that some
/// copies of the tree lack. Nothing we build or run needs the table, so
/// when the map is absent the directory is built as an empty one (in the
/// working copy only), and the run says so.
fn ctype_map(ctx: &Ctx) -> Result<()> {
    let work = ctx.work();
    if work.join("tools/tools/locale/etc/final-maps/map.UTF-8").is_file() {
        return Ok(());
    }
    let mk = work.join("share/ctypedef/Makefile");
    let empty = "# Written by cargo xtask: tools/tools/locale/etc/final-maps/map.UTF-8\n\
                 # is absent from this tree, so no LC_CTYPE tables are built.\n\
                 .include <bsd.prog.mk>\n";
    if fs::read_to_string(&mk).ok().as_deref() != Some(empty) {
        fs::write(&mk, empty)?;
    }
    eprintln!("xtask: patch: map.UTF-8 is absent from the tree; share/ctypedef is built empty (no C.UTF-8 LC_CTYPE)");
    Ok(())
}

/// contrib/sqlite3/sqlite3.c (a large blob some copies of the tree lack) is
/// needed by buildworld. When it is absent, take the same amalgamation from
/// the crates.io crate libsqlite3-sys (bundled).
fn sqlite_blob(ctx: &Ctx) -> Result<()> {
    let dst = ctx.work().join("contrib/sqlite3");
    if dst.join("sqlite3.c").is_file() {
        return Ok(());
    }
    let m = ctx.cache.join("sqlite-fetch");
    fs::create_dir_all(m.join("src"))?;
    fs::write(
        m.join("Cargo.toml"),
        "[package]\nname = \"sqlite-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n[workspace]\n\
         [dependencies]\nlibsqlite3-sys = { version = \"=0.35.0\", features = [\"bundled\"] }\n",
    )?;
    fs::write(m.join("src/lib.rs"), "")?;
    let mut c = Command::new(env!("CARGO"));
    c.arg("fetch").arg("--manifest-path").arg(m.join("Cargo.toml"));
    run_logged(
        "patch: fetch the sqlite3 amalgamation (libsqlite3-sys 0.35.0)",
        c,
        &ctx.log("sqlite-fetch.log"),
    )?;
    let meta = util::output(
        Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--manifest-path"])
            .arg(m.join("Cargo.toml")),
    )?;
    let key = "libsqlite3-sys-0.35.0/Cargo.toml";
    let i = meta.find(key).context("libsqlite3-sys not found in cargo metadata")?;
    let start = meta[..i].rfind('"').unwrap() + 1;
    let crate_dir = PathBuf::from(&meta[start..i + key.len() - "/Cargo.toml".len()]);
    for f in ["sqlite3.c", "sqlite3.h", "sqlite3ext.h"] {
        let s = crate_dir.join("sqlite3").join(f);
        if !dst.join(f).exists() && s.exists() {
            fs::copy(&s, dst.join(f))?;
        }
    }
    eprintln!(
        "xtask: patch: contrib/sqlite3/sqlite3.c taken from {}",
        crate_dir.display()
    );
    Ok(())
}

// ---------------------------------------------------------------- build

/// What the cross build needs from an LLVM bindir.
const CROSS_TOOLS: [&str; 7] = [
    "clang",
    "ld.lld",
    "llvm-strip",
    "llvm-objcopy",
    "llvm-nm",
    "llvm-size",
    "llvm-strings",
];

/// Find clang/lld for the cross build (Linux and macOS hosts).
pub fn cross_bindir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("SIGCAP_CROSS_BINDIR") {
        return Ok(d.into());
    }
    let mut cands: Vec<PathBuf> = (14..=25)
        .rev()
        .map(|v| PathBuf::from(format!("/usr/lib/llvm-{v}/bin")))
        .collect();
    cands.push("/opt/homebrew/opt/llvm/bin".into());
    cands.push("/usr/local/opt/llvm/bin".into());
    for d in cands {
        // clang and lld compile and link; the LLVM binutils stand in for the
        // ELF Tool Chain the trimmed world does not bootstrap (see make()).
        if CROSS_TOOLS.iter().all(|t| d.join(t).is_file()) {
            return Ok(d);
        }
    }
    bail!(
        "no LLVM toolchain with {} found for cross-building FreeBSD (looked in /usr/lib/llvm-*/bin, Homebrew llvm); \
         install: sudo apt-get install clang-19 lld-19 llvm-19, or set SIGCAP_CROSS_BINDIR",
        CROSS_TOOLS.join(", ")
    )
}

/// A FreeBSD make invocation in the working copy: `make` on FreeBSD, the
/// tree's tools/build/make.py elsewhere.
fn make(ctx: &Ctx, args: &[String]) -> Result<Command> {
    make_with(ctx, args, true)
}

/// `make`, with `-jN` or (for buildenv, which refuses -j) without.
fn make_with(ctx: &Ctx, args: &[String], parallel: bool) -> Result<Command> {
    fs::create_dir_all(ctx.objprefix())?;
    let mut c;
    if cfg!(target_os = "freebsd") {
        c = Command::new("make");
    } else {
        c = Command::new("python3");
        c.arg("tools/build/make.py");
        let bindir = cross_bindir()?;
        c.arg(format!("--cross-bindir={}", bindir.display()));
        c.args(["TARGET=amd64", "TARGET_ARCH=amd64"]);
        // WITHOUT_CROSS_COMPILER also drops the bootstrapped ELF Tool Chain,
        // whose strip, objcopy and nm `install -s`, stand/ and the kernel
        // would otherwise use: take LLVM's from the same bindir.
        for (var, tool) in [
            ("XSTRIPBIN", "llvm-strip"),
            ("XOBJCOPY", "llvm-objcopy"),
            ("XNM", "llvm-nm"),
            ("XSIZE", "llvm-size"),
            ("XSTRINGS", "llvm-strings"),
        ] {
            c.env(var, bindir.join(tool));
        }
    }
    c.current_dir(ctx.work());
    c.env("MAKEOBJDIRPREFIX", ctx.objprefix());
    if parallel {
        c.arg(format!("-j{}", ctx.jobs));
    }
    c.arg(format!("SRCCONF={}", ctx.root.join("vm-images/src.conf").display()));
    c.args(args);
    Ok(util::locked(c))
}

fn file_hash(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap_or_default()
}

/// make.py bootstraps bmake on first use and runs bmake's own unit tests
/// first. Two of them fail when bmake starts with SIGINT ignored (see
/// util::reset_inherited_signals), and cmd-interrupt also fails when the
/// machine is busy: three nice-19 busy loops are enough here, as was our
/// own background compile. So the bootstrap is a step of its own, run
/// before vmtest loads the machine, and retried once when only bmake's
/// self-test failed. Once bmake is bootstrapped this takes a second.
pub fn bootstrap_make(ctx: &Ctx) -> Result<()> {
    // vmtest bootstraps before starting its prebuild, and world() again:
    // once per run is enough.
    static DONE: AtomicBool = AtomicBool::new(false);
    if cfg!(target_os = "freebsd") || DONE.load(Ordering::Relaxed) {
        return Ok(()); // the system's make, or done in this run
    }
    for attempt in 1..=2 {
        let log = ctx.log(&format!("bmake-bootstrap-{attempt}.log"));
        let c = make(ctx, &["-V".into(), "MACHINE".into()])?;
        match run_logged("world: bootstrap bmake (make.py)", c, &log) {
            Ok(_) => {
                DONE.store(true, Ordering::Relaxed);
                return Ok(());
            }
            Err(e) => {
                let text = fs::read_to_string(&log).unwrap_or_default();
                if attempt == 1 && bmake_self_test_failed(&text) {
                    eprintln!(
                        "xtask: world: bmake's own self-test failed ({}); it is timing-sensitive \
                         under load: retrying once",
                        text.lines().find(|l| l.contains("Failed tests:")).unwrap_or("").trim()
                    );
                    continue;
                }
                return Err(e);
            }
        }
    }
    unreachable!("the loop returns")
}

/// Did make.py stop in bmake's bootstrap self-test (and not elsewhere)?
fn bmake_self_test_failed(log: &str) -> bool {
    log.contains("Failed tests:") && log.contains("bootstrap_bmake")
}

/// The directories the trimmed world builds beyond the libraries
/// (vm-images/world-dirs, comments and blank lines left out).
pub fn world_dirs(ctx: &Ctx) -> Result<Vec<String>> {
    let f = ctx.root.join("vm-images/world-dirs");
    let mut v = Vec::new();
    for l in util::data_lines(&f)? {
        if l.contains(char::is_whitespace) || l.starts_with('/') || l.split('/').any(|c| c == "..") {
            bail!(
                "{}: bad line {l:?} (want one directory of the tree, relative)",
                f.display()
            );
        }
        v.push(l);
    }
    Ok(v)
}

/// The release the series is based on: the base manifest's first line
/// (`# FreeBSD 15.1-RELEASE-p1`). The world's cache key uses it rather
/// than the whole manifest, which grows whenever a patch touches one more
/// file without the base tree changing (`source` checks the tree against
/// the manifest before anything is built).
fn base_release(series: &Path) -> Result<String> {
    let f = series.join("base-manifest");
    let text = fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
    match text.lines().next() {
        Some(l) if l.starts_with("# ") => Ok(l.trim().to_owned()),
        _ => bail!(
            "{}: the first line must name the base release (`# FreeBSD ...`)",
            f.display()
        ),
    }
}

/// The series' patches that change a header (`.h`), concatenated: a
/// header change (`__FreeBSD_version` in sys/param.h, sys/signal.h) makes
/// every object built against it stale, and installworld then refuses to
/// install ("tried to rebuild during make install"), so the world is keyed
/// on them. Read from the series itself, not from the kernel choice, so
/// that `--kernel stock` reuses the patched world.
fn series_headers(series: &Path) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    for name in util::data_lines(&series.join("series"))? {
        v.extend_from_slice(header_diffs(&fs::read_to_string(series.join(&name))?).as_bytes());
    }
    Ok(v)
}

/// The per-file sections of a git patch that change a header, so that a
/// commit message or a `.c` file does not count.
fn header_diffs(patch: &str) -> String {
    let mut out = String::new();
    let mut keep = false;
    for l in patch.split_inclusive('\n') {
        if let Some(rest) = l.strip_prefix("diff --git ") {
            keep = rest.trim_end().ends_with(".h");
        } else if l.starts_with("-- \n") || l == "--\n" {
            keep = false;
        }
        if keep {
            out.push_str(l);
        }
    }
    out
}

/// Trimmed world in two steps, each cached on what it depends on:
/// `toolchain` (bootstrap and build tools, headers and every library
/// src.conf allows: the guest programs' sysroot) keyed on the base release
/// (and the series' header changes) and src.conf; then the `everything` stage limited to vm-images/world-dirs
/// (the programs the image runs and stand/'s loader) keyed on those plus
/// the list, so adding a program rebuilds only that step. A patch change
/// rebuilds neither: the programs the series patches are rebuilt on their
/// own (patched_programs), and the ATF tests, which use the patched
/// headers, too (atf_tests).
pub fn world(ctx: &Ctx, force: bool) -> Result<()> {
    bootstrap_make(ctx)?;
    let base = [
        [
            base_release(&ctx.series_dir())?.into_bytes(),
            series_headers(&ctx.series_dir())?,
        ]
        .concat(),
        file_hash(&ctx.root.join("vm-images/src.conf")),
    ];
    let tc_key = hash_bytes(&[&base[0], &base[1]]);
    let dirs = world_dirs(ctx)?;
    let dirs_text = dirs.join(" ");
    let key = hash_bytes(&[&base[0], &base[1], dirs_text.as_bytes()]);
    let tc_stamp = ctx.cache.join("toolchain.stamp");
    let stamp = ctx.cache.join("world.stamp");
    let tc_need = [
        ctx.sysroot().join("usr/lib/libc.a"),
        ctx.sysroot().join("usr/lib/libthr.a"),
        ctx.sysroot().join("usr/lib/libc.so"),
    ];
    let need = [
        ctx.stand_dir().join("cdboot/cdboot"),
        ctx.stand_dir().join("loader_4th/loader_4th"),
    ];
    let fresh = |st: &Path, k: &str, files: &[PathBuf]| {
        !force && read_stamp(st).as_deref() == Some(k) && files.iter().all(|p| p.exists())
    };
    if fresh(&tc_stamp, &tc_key, &tc_need) {
        eprintln!(
            "xtask: world: toolchain and libraries up to date ({})",
            ctx.sysroot().display()
        );
        util::record_step("world: toolchain and libraries", Duration::ZERO, "cached");
    } else {
        // The stamp of the second step goes first: it builds on this one.
        let _ = fs::remove_file(&stamp);
        let c = make(ctx, &["toolchain".into(), "WITHOUT_CLEAN=yes".into()])?;
        run_logged(
            "world: toolchain and libraries (make toolchain)",
            c,
            &ctx.log("world-toolchain.log"),
        )?;
        for p in &tc_need {
            if !p.exists() {
                bail!("world: make toolchain finished but {} is missing", p.display());
            }
        }
        write_stamp(&tc_stamp, &tc_key)?;
    }
    if fresh(&stamp, &key, &need) {
        eprintln!("xtask: world: the programs of vm-images/world-dirs up to date");
        util::record_step("world: programs and loader", Duration::ZERO, "cached");
        return Ok(());
    }
    let c = make(
        ctx,
        &[
            "buildworld".into(),
            "WORLDFAST=yes".into(),
            "NO_LIBS=yes".into(),
            "WITHOUT_CLEAN=yes".into(),
            format!("SUBDIR_OVERRIDE={dirs_text}"),
        ],
    )?;
    run_logged(
        &format!(
            "world: programs and loader ({} directories of vm-images/world-dirs)",
            dirs.len()
        ),
        c,
        &ctx.log("world.log"),
    )?;
    for p in &need {
        if !p.exists() {
            bail!("world: buildworld finished but {} is missing", p.display());
        }
    }
    write_stamp(&stamp, &key)
}

/// The guest's userland: `installworld` (lib/ and vm-images/world-dirs)
/// and `distribution` (-DNO_ROOT) of the trimmed world into the cache, so that the image has /bin/sh, rtld,
/// the shared libraries, /etc (the password database) and the real
/// programs (tar, unzip, ls, kyua) that sigcap-run and the ATF tests run
/// on. Cached with the world's key.
pub fn userland(ctx: &Ctx) -> Result<PathBuf> {
    let dest = ctx.userland_dir();
    let key = fs::read_to_string(ctx.cache.join("world.stamp")).unwrap_or_default();
    let stamp = ctx.cache.join("userland.stamp");
    let need = [
        dest.join("bin/sh"),
        dest.join("libexec/ld-elf.so.1"),
        dest.join("usr/bin/tar"),
        dest.join("etc/pwd.db"),
    ];
    let ready = !key.is_empty() && need.iter().all(|p| p.exists());
    if cached_root("userland", &stamp, key.trim(), ready, &dest) {
        return Ok(dest);
    }
    if dest.exists() {
        fs::remove_dir_all(&dest)?;
    }
    fs::create_dir_all(&dest)?;
    if !cfg!(target_os = "freebsd") {
        // installworld insists on a strip(1) among the world's tools, and the
        // trimmed world (no ELF Tool Chain bootstrap) has none: offer LLVM's.
        let legacy = ctx.sysroot().join("legacy/bin");
        let strip = legacy.join("strip");
        if fs::symlink_metadata(&strip).is_err() {
            fs::create_dir_all(&legacy)?;
            std::os::unix::fs::symlink(cross_bindir()?.join("llvm-strip"), &strip)?;
        }
    }
    // installworld of what the trimmed world built (lib/ and the listed
    // directories), then distribution for /etc: kyua and the tests that
    // need a user look root up in the password database.
    let install_dirs = format!("SUBDIR_OVERRIDE=lib {}", world_dirs(ctx)?.join(" "));
    for (target, log) in [("installworld", "userland.log"), ("distribution", "userland-etc.log")] {
        let mut args = vec![
            target.to_owned(),
            "-DNO_ROOT".into(),
            "-DDB_FROM_SRC".into(),
            format!("DESTDIR={}", dest.display()),
        ];
        if target == "installworld" {
            args.push(install_dirs.clone());
        }
        let c = make(ctx, &args)?;
        run_logged(&format!("userland: {target} into the image root"), c, &ctx.log(log))?;
    }
    for p in &need {
        if !p.exists() {
            bail!(
                "userland: installworld and distribution finished but {} is missing",
                p.display()
            );
        }
    }
    write_stamp(&stamp, key.trim())?;
    Ok(dest)
}

/// `install` arguments for make that install into `root` without root's
/// privileges (`-DNO_ROOT`): owners and modes go to `metalog`, as
/// installworld's, so nothing is chowned on the host.
fn noroot_install(root: &Path, metalog: &Path) -> String {
    format!(
        "install -DNO_ROOT DESTDIR='{r}' METALOG='{m}' INSTALL='install -U -M {m} -D {r}'",
        r = root.display(),
        m = metalog.display()
    )
}

/// Runs `text` as a script in the world's build environment (buildenv:
/// its compiler, sysroot and make; a script keeps the quoting simple),
/// saved as `name` in the cache, logged to `log`.
fn run_in_buildenv(ctx: &Ctx, step: &str, name: &str, text: &str, log: &str) -> Result<()> {
    let script = ctx.cache.join(name);
    fs::write(&script, text)?;
    let c = make_with(
        ctx,
        &["buildenv".into(), format!("BUILDENV_SHELL=sh {}", script.display())],
        false,
    )?;
    run_logged(step, c, &ctx.log(log))?;
    Ok(())
}

/// Whether the cached root `dest` of `step` is up to date (its stamp holds
/// `key` and `ready`); says so and records the step when it is.
fn cached_root(step: &str, stamp: &Path, key: &str, ready: bool, dest: &Path) -> bool {
    let fresh = ready && read_stamp(stamp).as_deref() == Some(key);
    if fresh {
        eprintln!("xtask: {step}: up to date ({})", dest.display());
        util::record_step(step, Duration::ZERO, "cached");
    }
    fresh
}

/// The directory of in-tree ATF tests the image runs under kyua: the
/// series' sigcap_test beside the stock capsicum tests (a regression check
/// of the patched kernel).
pub const ATF_TESTS_DIR: &str = "tests/sys/capsicum";

/// Build the working copy's tests/sys/capsicum in the world's build
/// environment and install it into its own root (usr/tests/sys/capsicum:
/// the programs and the generated Kyuafile), which the image lays over the
/// userland. The world is WITHOUT_TESTS (a full test build would cost more
/// than the rest together) but WITH_TESTS_SUPPORT, so libatf and kyua are
/// there. Cached on the world, the series and that directory's files, so a
/// patch change rebuilds it. The stock kernel gets the pristine tree's
/// directory (no sigcap_test.c), in a root and stamp of its own.
pub fn atf_tests(ctx: &Ctx) -> Result<PathBuf> {
    let (dest, srcdir, stamp) = match ctx.kernel {
        KernelKind::Patched => (ctx.cache.join("atf-root"), ctx.work(), "atf.stamp"),
        KernelKind::Stock => (ctx.cache.join("atf-root-stock"), ctx.pristine_tree(), "atf-stock.stamp"),
    };
    let srcdir = srcdir.join(ATF_TESTS_DIR);
    let mut files: Vec<PathBuf> = fs::read_dir(&srcdir)
        .with_context(|| format!("atf: reading {}", srcdir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    // The world's sysroot links <sys/*.h> to the working copy, so the
    // series' kernel headers reach the tests without a world rebuild; a
    // patch change therefore rebuilds them too.
    let world = fs::read(ctx.cache.join("world.stamp")).unwrap_or_default();
    let mut parts = vec![world];
    for p in series_patches(ctx)? {
        parts.push(fs::read(&p)?);
    }
    for f in &files {
        parts.push(f.file_name().unwrap().as_encoded_bytes().to_vec());
        parts.push(fs::read(f)?);
    }
    let key = hash_bytes(&parts.iter().map(|p| &p[..]).collect::<Vec<_>>());
    let stamp = ctx.cache.join(stamp);
    let kyuafile = dest.join("usr").join(ATF_TESTS_DIR).join("Kyuafile");
    if cached_root("atf", &stamp, &key, kyuafile.is_file(), &dest) {
        return Ok(dest);
    }
    if dest.exists() {
        fs::remove_dir_all(&dest)?;
    }
    fs::create_dir_all(kyuafile.parent().unwrap())?;
    let metalog = dest.join("METALOG");
    // The sysroot's include/ files are the world's copies while its sys/
    // headers link to the working copy: should the world predate a series
    // change, include/signal.h could name a SIGCAP that sys/signal.h no
    // longer defines. The working copy's own versions of the include/
    // files the series touches go first, so both agree.
    let overlay = ctx.cache.join("atf-include");
    if overlay.exists() {
        fs::remove_dir_all(&overlay)?;
    }
    fs::create_dir_all(&overlay)?;
    for (_, path) in read_manifest(&ctx.series_dir())? {
        if let Some(rel) = path.strip_prefix("include/") {
            let to = overlay.join(rel);
            fs::create_dir_all(to.parent().unwrap())?;
            fs::copy(ctx.work().join(&path), &to)?;
        }
    }
    // FreeBSD's capsicum-test (googletest) is part of the directory when
    // MK_GOOGLETEST is on. DESTDIR (the sysroot) makes the private include directory
    // (googletest.test.inc.mk's -I${DESTDIR}/usr/include/private) the sysroot's,
    // not the host's. The world is built without googletest, so its
    // gtest library is built here too: installed into the sysroot to link
    // against and into the test root for the guest to run with.
    let script = format!(
        "set -e\n\
             export CFLAGS='-O2 -pipe -I{overlay}'\n\
             for r in '{sysroot}' '{dest}'; do\n\
             \tmkdir -p \"$r/usr/lib\" \"$r/usr/include/private/gtest/internal/custom\"\n\
             done\n\
             cd '{gtest}'\n\
             make -j{jobs} MK_GOOGLETEST=yes all\n\
             make MK_GOOGLETEST=yes {to_sysroot}\n\
             make MK_GOOGLETEST=yes {to_dest}\n\
             cd '{dir}'\n\
             make -j{jobs} MK_TESTS=yes MK_GOOGLETEST=yes DESTDIR='{sysroot}' all\n\
             make MK_TESTS=yes MK_GOOGLETEST=yes {to_dest}\n",
        gtest = ctx.work().join("lib/googletest/gtest").display(),
        dir = srcdir.display(),
        jobs = ctx.jobs,
        to_sysroot = noroot_install(&ctx.sysroot(), &ctx.cache.join("gtest-sysroot.METALOG")),
        to_dest = noroot_install(&dest, &metalog),
        sysroot = ctx.sysroot().display(),
        dest = dest.display(),
        overlay = overlay.display(),
    );
    run_in_buildenv(
        ctx,
        &format!("atf: build and install {ATF_TESTS_DIR}"),
        "atf-build.sh",
        &script,
        "atf.log",
    )?;
    if !kyuafile.is_file() {
        bail!("atf: the install finished but {} is missing", kyuafile.display());
    }
    write_stamp(&stamp, &key)?;
    Ok(dest)
}

/// The directories of the tree with a program or library the series
/// patches: for each patched file outside sys/, tests/, include/ and the
/// manual pages, the nearest directory holding a Makefile (lib/libc/gen/
/// has only a Makefile.inc, so its files belong to lib/libc). Pure: `has_makefile` says
/// whether a directory of the tree has one.
pub fn program_dirs(patched: &BTreeSet<String>, has_makefile: impl Fn(&str) -> bool) -> Vec<String> {
    let mut dirs = BTreeSet::new();
    for f in patched {
        if ["sys/", "tests/", "include/", "share/man/"]
            .iter()
            .any(|p| f.starts_with(p))
            || f.ends_with(".1")
            || f.ends_with(".2")
            || f.ends_with(".3")
            || f.ends_with(".4")
            || f.ends_with(".8")
        {
            continue;
        }
        let mut d = Path::new(f).parent();
        while let Some(dir) = d {
            let ds = dir.to_string_lossy();
            if ds.is_empty() {
                break;
            }
            if has_makefile(&ds) {
                dirs.insert(ds.into_owned());
                break;
            }
            d = dir.parent();
        }
    }
    dirs.into_iter().collect()
}

/// The programs and libraries the series patches (program_dirs), rebuilt
/// from the working copy in the world's build environment and installed
/// into their own root, which the image lays over the userland. The world
/// itself is cached on the base tree only, so without this a change of a
/// userland patch would not reach the guest; here it does, and only the
/// changed files recompile (same object directory). Cached on the world
/// and the patched files' contents.
pub fn patched_programs(ctx: &Ctx) -> Result<PathBuf> {
    let dest = ctx.cache.join("patched-root");
    let mut patched = BTreeSet::new();
    for p in series_patches(ctx)? {
        patched.extend(patch_paths(&fs::read_to_string(&p)?));
    }
    patched.remove("/dev/null");
    let work = ctx.work();
    let dirs = program_dirs(&patched, |d| work.join(d).join("Makefile").is_file());
    let mut parts = vec![fs::read(ctx.cache.join("world.stamp")).unwrap_or_default()];
    for f in &patched {
        parts.push(f.as_bytes().to_vec());
        parts.push(fs::read(work.join(f)).unwrap_or_default());
    }
    let key = hash_bytes(&parts.iter().map(|p| &p[..]).collect::<Vec<_>>());
    let stamp = ctx.cache.join("patched-programs.stamp");
    if cached_root("patched programs", &stamp, &key, dest.is_dir(), &dest) {
        return Ok(dest);
    }
    if dest.exists() {
        fs::remove_dir_all(&dest)?;
    }
    fs::create_dir_all(&dest)?;
    if dirs.is_empty() {
        write_stamp(&stamp, &key)?;
        return Ok(dest);
    }
    // As for the ATF tests: one script in buildenv, a NO_ROOT install.
    let metalog = dest.join("METALOG");
    // The tree's mtree specifications make the directories install(1)
    // expects (as installworld's hierarchy step does).
    let mut sh = format!(
        "set -e\n\
         mkdir -p '{dest}/usr/include'\n\
         mtree -deUW -f '{w}/etc/mtree/BSD.root.dist' -p '{dest}' >/dev/null\n\
         mtree -deUW -f '{w}/etc/mtree/BSD.usr.dist' -p '{dest}/usr' >/dev/null\n\
         mtree -deUW -f '{w}/etc/mtree/BSD.include.dist' -p '{dest}/usr/include' >/dev/null\n",
        dest = dest.display(),
        w = work.display(),
    );
    for d in &dirs {
        sh.push_str(&format!(
            "echo '>>> {d}'\ncd '{w}/{d}'\nmake -j{jobs} all\nmake {install}\n",
            w = work.display(),
            jobs = ctx.jobs,
            install = noroot_install(&dest, &metalog),
        ));
    }
    run_in_buildenv(
        ctx,
        &format!("patched programs: build and install {}", dirs.join(" ")),
        "patched-programs.sh",
        &sh,
        "patched-programs.log",
    )?;
    write_stamp(&stamp, &key)?;
    Ok(dest)
}

/// The only modules built with the kernels, as (sys/modules directory,
/// module file name): the Linux ABI, which the series touches (patch 5) and
/// the guest exercises, and mqueuefs, which linux64.ko depends on.
pub const KERNEL_MODULES: [(&str, &str); 3] = [
    ("mqueue", "mqueuefs"),
    ("linux_common", "linux_common"),
    ("linux64", "linux64"),
];

/// The modules of the stock kernel: mqueuefs only (capsicum-test needs
/// it). A module's makefile takes its sources from SRCTOP, which share/mk
/// derives from the working copy's location, so with KERNSRCDIR at the
/// pristine tree the Linux ABI modules would compile the series' linux.c
/// against stock headers; linux-abi.sh skips on a stock kernel before it
/// loads them. uipc_mqueue.c is not in the series.
pub const STOCK_KERNEL_MODULES: [(&str, &str); 1] = [("mqueue", "mqueuefs")];

/// The modules the chosen kernel is built with and the image carries.
pub fn kernel_modules(ctx: &Ctx) -> &'static [(&'static str, &'static str)] {
    match ctx.kernel {
        KernelKind::Patched => &KERNEL_MODULES,
        KernelKind::Stock => &STOCK_KERNEL_MODULES,
    }
}

/// Where buildkernel leaves a module of our config (of the chosen kernel).
pub fn module_file(ctx: &Ctx, (dir, kmod): (&str, &str)) -> PathBuf {
    ctx.kernel_objdir()
        .join("modules")
        .join(ctx.kernel_src_rel())
        .join("sys/modules")
        .join(dir)
        .join(format!("{kmod}.ko"))
}

/// buildkernel of our config (and GENERIC on request) with the Linux ABI
/// modules, incremental. The stock kernel comes from the pristine tree
/// (`stock_kernel`); GENERIC only from the working copy.
pub fn kernel(ctx: &Ctx, generic: bool) -> Result<()> {
    if ctx.kernel == KernelKind::Stock {
        if generic {
            bail!("kernel: --generic builds the working copy's GENERIC; not with --kernel stock");
        }
        return stock_kernel(ctx, &ctx.pristine_tree()).map(|_| ());
    }
    let conf = ctx.root.join("vm-images/kernel").join(KERNCONF);
    let dst = ctx.work().join("sys/amd64/conf").join(KERNCONF);
    let text = fs::read(&conf)?;
    if fs::read(&dst).ok().as_deref() != Some(&text[..]) {
        fs::write(&dst, &text)?;
    }
    if !ctx.sysroot().join("usr/lib/libc.a").exists() {
        bail!(
            "kernel: no toolchain/world in {}; run `cargo xtask world` first",
            ctx.objdir().display()
        );
    }
    let kc = if generic {
        format!("KERNCONF={KERNCONF} GENERIC")
    } else {
        format!("KERNCONF={KERNCONF}")
    };
    let c = make(
        ctx,
        &[
            "buildkernel".into(),
            kc,
            "NO_KERNELCLEAN=yes".into(),
            format!("MODULES_OVERRIDE={}", KERNEL_MODULES.map(|(dir, _)| dir).join(" ")),
        ],
    )?;
    run_logged("kernel: buildkernel", c, &ctx.log("kernel.log"))?;
    eprintln!("xtask: kernel: {}", ctx.kernel_file().display());
    Ok(())
}

/// The stock kernel (`--kernel stock`, and the instruction counts): the
/// same vm-images/kernel config built from the unpatched `tree`, with
/// STOCK_KERNEL_MODULES, by the working copy's toolchain. KERNSRCDIR points make at the tree's
/// sys/ (config and the compiler only read it; objects go under the object
/// directory, in a directory named after the tree, apart from the patched
/// kernel's) and KERNCONFDIR at vm-images/kernel, whose `include MINIMAL`
/// then resolves in the tree's own conf/.
pub fn stock_kernel(ctx: &Ctx, tree: &Path) -> Result<PathBuf> {
    let tree = fs::canonicalize(tree)?;
    if !ctx.sysroot().join("usr/lib/libc.a").exists() {
        bail!(
            "stock kernel: no toolchain in {}; run `cargo xtask world` first",
            ctx.objdir().display()
        );
    }
    let c = make(
        ctx,
        &[
            "buildkernel".into(),
            format!("KERNCONF={KERNCONF}"),
            format!("KERNSRCDIR={}", tree.join("sys").display()),
            format!("KERNCONFDIR={}", ctx.root.join("vm-images/kernel").display()),
            "NO_KERNELCLEAN=yes".into(),
            format!(
                "MODULES_OVERRIDE={}",
                STOCK_KERNEL_MODULES.map(|(dir, _)| dir).join(" ")
            ),
        ],
    )?;
    run_logged("stock kernel: buildkernel", c, &ctx.log("kernel-stock.log"))?;
    let k = ctx.stock_kernel_objdir(&tree).join("kernel");
    if !k.is_file() {
        bail!("stock kernel: the build left no {}", k.display());
    }
    eprintln!("xtask: stock kernel: {}", k.display());
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_header_diffs_key_the_world() {
        let p = "From x\nSubject: words\n\nbody\n---\n a | 1 +\n\
                 diff --git a/sys/kern/k.c b/sys/kern/k.c\n--- a/sys/kern/k.c\n+++ b/sys/kern/k.c\n@@ -1 +1 @@\n-a\n+b\n\
                 diff --git a/sys/sys/signal.h b/sys/sys/signal.h\n--- a/sys/sys/signal.h\n+++ b/sys/sys/signal.h\n@@ -1 +1 @@\n-c\n+d\n";
        let h = header_diffs(p);
        assert!(
            h.starts_with("diff --git a/sys/sys/signal.h") && h.ends_with("+d\n"),
            "{h}"
        );
        assert!(!h.contains("k.c") && !h.contains("Subject"), "{h}");
        // Another message, the same header change: the same key.
        assert_eq!(header_diffs(&p.replace("words", "other words")), h);
    }

    #[test]
    fn program_dirs_of_patched_files() {
        let patched: BTreeSet<String> = [
            "bin/pkill/pkill.c",
            "lib/libc/gen/siglist.c",
            "lib/libc/gen/Symbol.map",
            "sys/kern/kern_sig.c",
            "tests/sys/capsicum/sigcap_test.c",
            "include/signal.h",
            "lib/libc/sys/procctl.2",
            "usr.bin/proccontrol/proccontrol.c",
            "usr.bin/proccontrol/proccontrol.1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let with_makefile = [
            "bin/pkill",
            "lib/libc",
            "usr.bin/proccontrol",
            "sys/kern",
            "tests/sys/capsicum",
        ];
        let d = program_dirs(&patched, |d| with_makefile.contains(&d));
        assert_eq!(d, ["bin/pkill", "lib/libc", "usr.bin/proccontrol"]);
    }

    #[test]
    fn paths_of_a_git_patch() {
        let p = "diff --git a/sys/sys/signal.h b/sys/sys/signal.h\n--- a/sys/sys/signal.h\n+++ b/sys/sys/signal.h\n@@ -1 +1 @@\n-x\n+y\n\
                 diff --git a/new b/new\nnew file mode 100644\n--- /dev/null\n+++ b/new\n";
        let s = patch_paths(p);
        assert!(s.contains("sys/sys/signal.h") && s.contains("new") && !s.contains("/dev/null"));
    }

    #[test]
    fn tree_check_names_differing_files() {
        let d = tempfile::tempdir().unwrap();
        let series = d.path().join("series");
        let tree = d.path().join("tree");
        fs::create_dir_all(&series).unwrap();
        fs::create_dir_all(tree.join("a")).unwrap();
        fs::write(tree.join("a/ok"), "hello\n").unwrap();
        fs::write(tree.join("a/bad"), "changed\n").unwrap();
        // git hash-object of "hello\n"
        let ok = "ce013625030ba8dba906f756967f9e9ca394464a";
        fs::write(
            series.join("base-manifest"),
            format!(
                "# test\n{ok} a/ok\n{ok} a/bad\n{ok} a/missing\n{} a/new\n",
                "0".repeat(40)
            ),
        )
        .unwrap();
        let e = check_tree(&tree, &series).unwrap_err().to_string();
        assert!(
            e.contains("a/bad: differs") && e.contains("a/missing: missing") && !e.contains("a/ok"),
            "{e}"
        );
        assert!(!e.contains("a/new"));
    }

    #[test]
    fn only_bmake_self_test_failures_are_retried() {
        let flaky = "Failed tests: cmd-interrupt\n*** Error code 1\nTraceback (most recent call last):\n  \
                     File \"tools/build/make.py\", line 342, in <module>\n    bmake_binary = bootstrap_bmake(source_root, objdir_prefix)\n";
        assert!(bmake_self_test_failed(flaky));
        // A compile error in the world, or a missing tool, is not retried.
        assert!(!bmake_self_test_failed(
            "error: unknown type name 'foo'\n*** Error code 1\n"
        ));
        assert!(!bmake_self_test_failed(
            "Traceback ...\n  bootstrap_bmake(...)\nFileNotFoundError: cc\n"
        ));
    }
}
