//! `sigcap-run`: run an unmodified program in capability mode and report
//! what breaks and what policy would have made it work.
//!
//! The parent (this binary) checks its inputs, starts the program with the
//! preload shim (`libsigcap_run_shim.so`), hands it a descriptor of a
//! temporary file for the JSON violation stream, waits, then aggregates
//! the stream into a report, a terminal summary and, if asked, the least
//! policy that would have allowed the run.
#[cfg(target_os = "linux")]
mod images;
mod report;
mod signals;
mod suggest;
mod symbols;
mod tree;

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::ffi::OsString;
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Exit status for failures of the tool itself (as env(1) and timeout(1)).
const TOOL_FAILURE: i32 = 125;

#[derive(Parser, Debug)]
#[command(
    name = "sigcap-run",
    version,
    about = "Run a program in capability mode; report what breaks and what policy would make it work",
    after_help = "Without --policy every violation is brokered (permissive), so the program runs to completion.\n\
With --policy FILE the policy is enforced and everything else is denied.\n\
The exit status is the program's; 125 means sigcap-run itself failed."
)]
struct Cli {
    /// Write the JSON report here.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Write the least policy that would have allowed this run (TOML).
    #[arg(long, value_name = "FILE")]
    suggest_policy: Option<PathBuf>,
    /// Enforce this policy (TOML) and deny everything else.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Where to enter capability mode: `main` (default: when start-up is
    /// done), `hook` (when the program calls sigcap_run_enter()), or the
    /// name of a dynamic symbol (a library function such as `opendir`).
    #[arg(long, value_name = "SYMBOL", default_value = "main")]
    enter_at: String,
    /// Force a backend: freebsd-sigcap (patched kernel), freebsd-sigtrap
    /// (stock FreeBSD) or linux-seccomp. Default: the best available.
    #[arg(long, value_name = "NAME", value_parser = ["freebsd-sigcap", "freebsd-sigtrap", "linux-seccomp"])]
    backend: Option<String>,
    /// The preload shim (default: libsigcap_run_shim.so next to this
    /// binary, or $SIGCAP_RUN_SHIM).
    #[arg(long, value_name = "PATH")]
    shim: Option<PathBuf>,
    /// Colour in the summary.
    #[arg(long, value_enum, default_value = "auto")]
    color: report::ColorChoice,
    /// No terminal summary.
    #[arg(short, long)]
    quiet: bool,
    /// List every entry in the summary (default: the 30 most frequent,
    /// at least 3 per decision, and a count of the rest).
    #[arg(long)]
    full_summary: bool,
    /// The program and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROGRAM"
    )]
    command: Vec<OsString>,
}

fn main() {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("sigcap-run: error: {e:#}");
            std::process::exit(TOOL_FAILURE);
        }
    }
}

fn find_program(name: &OsString) -> Result<PathBuf> {
    let p = Path::new(name);
    if p.components().count() > 1 || p.is_absolute() {
        if p.is_file() {
            return Ok(p.to_owned());
        }
        bail!("{}: no such program", p.display());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    for dir in std::env::split_paths(&path) {
        let c = dir.join(p);
        if c.is_file() {
            return Ok(c);
        }
    }
    bail!("{}: not found in PATH", p.display())
}

/// The file the shim is preloaded into when `prog` runs: `prog` itself,
/// or the interpreter a `#!` script names, which the kernel runs with the
/// script as its argument (and which enters the sandbox in its `main`,
/// before it reads the script). An interpreter that is itself a script is
/// refused, as a brokered exec refuses it.
fn preload_target(prog: &Path) -> Result<PathBuf> {
    let kind = |p: &Path| -> Result<sigcap::ImageKind> {
        let f = std::fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?;
        sigcap::image_kind(&f).map_err(|e| {
            anyhow::anyhow!(
                "{}: not a program the kernel runs ({})",
                p.display(),
                std::io::Error::from_raw_os_error(e)
            )
        })
    };
    match kind(prog)? {
        sigcap::ImageKind::Elf { .. } => Ok(prog.to_owned()),
        sigcap::ImageKind::Script { interpreter } => {
            match kind(&interpreter).with_context(|| format!("{}: its #! interpreter", prog.display()))? {
                sigcap::ImageKind::Elf { .. } => Ok(interpreter),
                sigcap::ImageKind::Script { .. } => bail!(
                    "{}: its #! interpreter {} is a script itself (name a program in the #! line)",
                    prog.display(),
                    interpreter.display()
                ),
            }
        }
    }
}

/// A program the shim can be preloaded into: a dynamically linked ELF.
fn check_dynamic(prog: &Path) -> Result<()> {
    let data = std::fs::read(prog).with_context(|| format!("cannot read {}", prog.display()))?;
    use object::read::elf::{FileHeader, ProgramHeader};
    let hdr = object::elf::FileHeader64::<object::Endianness>::parse(&*data)
        .map_err(|_| anyhow::anyhow!("{}: not a 64-bit ELF executable", prog.display()))?;
    let endian = hdr.endian().map_err(|e| anyhow::anyhow!("{}: {e}", prog.display()))?;
    let phdrs = hdr
        .program_headers(endian, &*data)
        .map_err(|e| anyhow::anyhow!("{}: {e}", prog.display()))?;
    if !phdrs.iter().any(|ph| ph.p_type(endian) == object::elf::PT_INTERP) {
        bail!(
            "{} is statically linked: the preload shim cannot be loaded into it (link it dynamically, or use the sigcap crate directly)",
            prog.display()
        );
    }
    let meta = std::fs::metadata(prog)?;
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o6000 != 0 {
        bail!(
            "{} is set-uid/set-gid: the dynamic linker ignores LD_PRELOAD for it",
            prog.display()
        );
    }
    Ok(())
}

fn find_shim(cli: &Cli) -> Result<PathBuf> {
    let name = if cfg!(target_os = "macos") {
        "libsigcap_run_shim.dylib"
    } else {
        "libsigcap_run_shim.so"
    };
    let candidate = match (&cli.shim, std::env::var_os("SIGCAP_RUN_SHIM")) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => PathBuf::from(p),
        (None, None) => {
            let exe = std::env::current_exe().context("cannot find sigcap-run's own path")?;
            let dir = exe.parent().unwrap_or(Path::new("."));
            // cargo puts test binaries one level down, in deps/.
            [dir.join(name), dir.join("..").join(name), dir.join("../lib").join(name)]
                .into_iter()
                .find(|p| p.is_file())
                .unwrap_or_else(|| dir.join(name))
        }
    };
    if !candidate.is_file() {
        bail!(
            "preload shim {} not found (build it with `cargo build -p sigcap-run-shim`, or pass --shim)",
            candidate.display()
        );
    }
    let abs = std::fs::canonicalize(&candidate)?;
    // Load it here first: a shim that cannot be loaded is an error before
    // the program starts, not a confusing loader message from inside it.
    let c = std::ffi::CString::new(abs.as_os_str().as_encoded_bytes())?;
    // SAFETY: dlopen/dlsym/dlclose on a path; the shim has no constructors.
    unsafe {
        let h = libc::dlopen(c.as_ptr(), libc::RTLD_LAZY | libc::RTLD_LOCAL);
        if h.is_null() {
            let err = std::ffi::CStr::from_ptr(libc::dlerror()).to_string_lossy().into_owned();
            bail!("preload shim {} cannot be loaded: {err}", abs.display());
        }
        let ok = !libc::dlsym(h, c"sigcap_run_enter".as_ptr()).is_null();
        libc::dlclose(h);
        if !ok {
            bail!("{} is not the sigcap-run shim (no sigcap_run_enter)", abs.display());
        }
    }
    Ok(abs)
}

/// An output file, made before the program starts (a hidden temporary file
/// beside it, so a missing or unwritable directory is an error while
/// nothing has happened yet) and renamed into place at the end.
struct Output {
    what: &'static str,
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
}

impl Output {
    fn prepare(what: &'static str, path: &Path) -> Result<Output> {
        let fail = |why: String| anyhow::anyhow!("cannot write the {what} to {}: {why}", path.display());
        if path.is_dir() {
            return Err(fail("it is a directory".into()));
        }
        let Some(name) = path.file_name() else {
            return Err(fail("not a file name".into()));
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(fail(format!("{} is not an existing directory", dir.display())));
        }
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(".sigcap-run")
            .tempfile_in(dir)
            .map_err(|e| fail(format!("cannot create a file in {}: {e}", dir.display())))?;
        Ok(Output {
            what,
            path: path.to_owned(),
            tmp,
        })
    }

    /// Writes `data` and renames the file into place.
    fn commit(mut self, data: &[u8]) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        self.tmp.write_all(data)?;
        self.tmp.as_file().sync_all()?;
        // A temporary file is 0600; the output gets what a plain create would.
        let mode = 0o666 & !umask();
        self.tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
        self.tmp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

fn umask() -> u32 {
    static MASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    // SAFETY: umask is read (and restored) once, before any other thread exists.
    *MASK.get_or_init(|| unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m as u32
    })
}

fn same_file_name(a: &Path, b: &Path) -> bool {
    match (std::path::absolute(a), std::path::absolute(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn run(cli: Cli) -> Result<i32> {
    umask();
    let prog = find_program(&cli.command[0])?;
    check_dynamic(&preload_target(&prog)?)?;
    let shim = find_shim(&cli)?;
    let policy = match &cli.policy {
        Some(p) => {
            let pol = sigcap::Policy::from_file(p).context("bad policy")?;
            for r in pol.fs_rules() {
                if std::fs::symlink_metadata(&r.root).is_err() {
                    bail!(
                        "bad policy {}: root {} does not exist (roots are opened at enter)",
                        p.display(),
                        r.root.display()
                    );
                }
            }
            Some((std::fs::canonicalize(p)?, pol))
        }
        None => None,
    };
    let enter = match cli.enter_at.as_str() {
        "main" | "hook" => cli.enter_at.clone(),
        s if s.is_empty() || s.contains(char::is_whitespace) => bail!("bad --enter-at {s:?}"),
        s => format!("symbol:{s}"),
    };
    // Every output before the program starts: a tool error after the run
    // would lose what the run did.
    if let (Some(a), Some(b)) = (&cli.report, &cli.suggest_policy) {
        if same_file_name(a, b) {
            bail!("--report and --suggest-policy name the same file {}", a.display());
        }
    }
    let report_out = cli
        .report
        .as_deref()
        .map(|p| Output::prepare("report", p))
        .transpose()?;
    let policy_out = cli
        .suggest_policy
        .as_deref()
        .map(|p| Output::prepare("suggested policy", p))
        .transpose()?;

    let dir = tempfile::Builder::new().prefix("sigcap-run.").tempdir()?;
    let stream_path = dir.path().join("violations.jsonl");
    let stream = std::fs::OpenOptions::new()
        .create_new(true)
        .append(true)
        .read(true)
        .open(&stream_path)
        .context("cannot create the violation stream")?;
    let fd = stream.as_raw_fd();

    let mut preload = shim.as_os_str().to_owned();
    if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        preload.push(":");
        preload.push(old);
    }
    let mut cmd = Command::new(&prog);
    cmd.arg0(&cli.command[0])
        .args(&cli.command[1..])
        .env("LD_PRELOAD", &preload)
        .env("SIGCAP_RUN_LOG_FD", fd.to_string())
        .env("SIGCAP_RUN_DIR", dir.path())
        .env("SIGCAP_RUN_ENTER", &enter);
    match &cli.backend {
        Some(b) => cmd.env("SIGCAP_RUN_BACKEND", b),
        None => cmd.env_remove("SIGCAP_RUN_BACKEND"),
    };
    match &policy {
        Some((p, _)) => cmd.env("SIGCAP_RUN_POLICY", p),
        None => cmd.env_remove("SIGCAP_RUN_POLICY"),
    };
    // Quiet, with no report and no suggested policy: nothing reads the
    // allowed calls' records, so the shim neither formats nor writes them
    // (nor scans stacks for them): an allowed call costs the runtime's
    // fast path alone. Refusals are still streamed.
    if cli.quiet && cli.report.is_none() && cli.suggest_policy.is_none() {
        cmd.env("SIGCAP_RUN_LOG_ALLOWED", "0");
    } else {
        cmd.env_remove("SIGCAP_RUN_LOG_ALLOWED");
    }
    // Linux: the images the program execs are started by sigcap-run
    // (images.rs), over this channel.
    #[cfg(target_os = "linux")]
    let exec_chan = {
        let mut env: Vec<(OsString, OsString)> = vec![
            ("SIGCAP_RUN_DIR".into(), dir.path().into()),
            ("SIGCAP_RUN_ENTER".into(), "main".into()),
        ];
        for k in ["SIGCAP_RUN_BACKEND", "SIGCAP_RUN_LOG_ALLOWED"] {
            if let Some((_, Some(v))) = cmd.get_envs().find(|(n, _)| *n == k) {
                env.push((k.into(), v.to_owned()));
            }
        }
        let chan = images::start(images::Setup {
            policy: policy.clone(),
            shim: shim.clone(),
            preload: preload.clone(),
            log: stream.try_clone().context("exec server log")?,
            env,
        })?;
        cmd.env("SIGCAP_RUN_EXEC_FD", chan.as_raw_fd().to_string());
        chan
    };
    #[cfg(target_os = "linux")]
    let inherited = [fd, exec_chan.as_raw_fd()];
    #[cfg(not(target_os = "linux"))]
    let inherited = [fd];
    // SAFETY: only fcntl between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for fd in inherited {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let caught = signals::catch().context("cannot catch signals to pass them on")?;
    tree::adopt_orphans().context("cannot become the subreaper of the program's process tree")?;
    let started = std::time::Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", prog.display()))?;
    let pid = child.id() as i32;
    let (status, forwarded) = signals::forward(caught, pid).wait(&mut child)?;
    let elapsed = started.elapsed();
    drop(stream);

    let text = std::fs::read_to_string(&stream_path).unwrap_or_default();
    let stream = report::parse_stream(&text);
    if let Some(msg) = stream.errors.first() {
        bail!("{msg}");
    }
    let code = signals::shell_status(status);
    if stream.enters.is_empty() && enter != "hook" {
        if let Some(sig) = status.signal() {
            eprintln!(
                "sigcap-run: note: {} was killed by {} before it reached {}; it never ran confined",
                prog.display(),
                report::signal_name(sig),
                cli.enter_at
            );
        } else if enter == "main" {
            bail!(
                "the shim was not loaded into {} (exit status {code}): is LD_PRELOAD ignored or is it not a glibc/FreeBSD libc program?",
                prog.display()
            );
        } else {
            eprintln!(
                "sigcap-run: note: the program never reached {}; it ran unconfined",
                cli.enter_at
            );
        }
    }
    let syms = symbols::Symbolizer::load(dir.path(), &prog);
    let mut rep = report::build(
        &cli.command,
        &prog,
        &stream,
        &syms,
        policy.as_ref().map(|(p, _)| p.as_path()),
        &cli.enter_at,
        pid,
        code,
        status.signal(),
        elapsed,
    );
    rep.forwarded_signals = forwarded.into_iter().map(report::signal_name).collect();
    let mut lost = Vec::new();
    if let Some(out) = report_out {
        let written = serde_json::to_string_pretty(&rep)
            .map_err(anyhow::Error::from)
            .and_then(|mut s| {
                s.push('\n');
                let path = out.path.clone();
                out.commit(s.as_bytes())
                    .with_context(|| format!("cannot write the report to {}", path.display()))
            });
        if let Err(e) = written {
            lost.push(format!("{e:#}; the report is lost"));
        }
    }
    if let Some(out) = policy_out {
        let written = suggest::least_policy(&stream).and_then(|(p, notes)| {
            let command: Vec<_> = cli.command.iter().map(|a| a.to_string_lossy()).collect();
            let mut text = suggest::comment(&format!("Least policy for: {}", command.join(" ")));
            text.push_str(&suggest::comment(&format!(
                "Written by sigcap-run from {} violation(s); review before use.",
                stream.records.len()
            )));
            for n in &notes {
                text.push_str(&suggest::comment(n));
            }
            text.push_str(&p.to_toml());
            let (what, path) = (out.what, out.path.clone());
            out.commit(text.as_bytes())
                .with_context(|| format!("cannot write the {what} to {}", path.display()))
        });
        if let Err(e) = written {
            lost.push(format!("{e:#}; the suggested policy is lost"));
        }
    }
    if !cli.quiet {
        report::print_summary(&rep, cli.color, cli.full_summary);
    }
    for l in &lost {
        eprintln!("sigcap-run: error: {l}");
    }
    if !lost.is_empty() {
        eprintln!("sigcap-run: the program ran and exited with status {code}; sigcap-run exits with that status");
    }
    Ok(code)
}
