//! Shared helpers: the signal state children start with, running long
//! commands with a time-stamped log and progress lines, the run's step
//! times, the optional build lock, stamps.
use anyhow::{bail, Context, Result};
use nix::sys::signal::{sigaction, sigprocmask, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Where the full logs of every step go: target/xtask-logs, or
/// $SIGCAP_LOG_DIR (the tests point it elsewhere so a real run's logs stay).
pub fn log_dir(root: &Path) -> PathBuf {
    let d = match std::env::var_os("SIGCAP_LOG_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => root.join("target/xtask-logs"),
    };
    let _ = fs::create_dir_all(&d);
    d
}

/// Start every child with default signal dispositions and an empty signal
/// mask, whatever this process inherited. A script's `cmd &` (and many CI
/// agents) start us with SIGINT and SIGQUIT ignored; ignored dispositions
/// survive exec, and bmake's bootstrap self-test then fails
/// (`cmd-interrupt ... unexpected-ok`). Called first thing in main, before
/// any thread, so every child (make.py, make, cargo, QEMU) inherits it.
///
/// SIGHUP stays ignored if it was: that is what `nohup` asks for, and a
/// build the user protected from hang-up should not die when they log out.
/// SIGPIPE is left to the Rust runtime, which ignores it here and restores
/// the default in every child it spawns. Handlers (Rust's own for SIGSEGV
/// and SIGBUS) are kept. Returns the signals that were reset.
pub fn reset_inherited_signals() -> Vec<Signal> {
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    let mut reset = Vec::new();
    for sig in Signal::iterator() {
        if matches!(
            sig,
            Signal::SIGKILL | Signal::SIGSTOP | Signal::SIGHUP | Signal::SIGPIPE
        ) {
            continue;
        }
        // SAFETY: single-threaded start of main; installs only SIG_DFL, and
        // puts back whatever was not SIG_IGN.
        unsafe {
            match sigaction(sig, &dfl) {
                Ok(old) if matches!(old.handler(), SigHandler::SigIgn) => reset.push(sig),
                Ok(old) => {
                    let _ = sigaction(sig, &old);
                }
                Err(_) => {}
            }
        }
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    reset
}

/// When this run started (set by the first recorded step at the latest).
static START: OnceLock<Instant> = OnceLock::new();

/// Note the start of the run, for the table's total.
pub fn mark_start() {
    START.get_or_init(Instant::now);
}

/// The time each step took in this run, for the table every run ends with.
static STEPS: Mutex<Vec<(String, Duration, &'static str)>> = Mutex::new(Vec::new());

/// Record a step's time (`how`: "ran", "cached", "failed") for step_table().
pub fn record_step(step: &str, took: Duration, how: &'static str) {
    mark_start();
    if let Ok(mut v) = STEPS.lock() {
        v.push((step.to_owned(), took, how));
    }
}

/// Run `f` as a step of the table (for steps that are not one command).
pub fn timed<T>(step: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let t0 = Instant::now();
    let r = f();
    record_step(step, t0.elapsed(), if r.is_ok() { "ran" } else { "failed" });
    r
}

/// The steps of this run with their times, one per line, and the run's
/// wall-clock total (steps may nest, so it is not their sum); empty if no
/// step was recorded.
pub fn step_table() -> String {
    let v = STEPS.lock().map(|v| v.clone()).unwrap_or_default();
    let total = START.get().map(|t| t.elapsed()).unwrap_or_default();
    format_step_table(&v, total)
}

fn format_step_table(v: &[(String, Duration, &str)], total: Duration) -> String {
    if v.is_empty() {
        return String::new();
    }
    let w = v.iter().map(|(s, _, _)| s.len()).max().unwrap_or(0).max(18);
    let mut out = format!(
        "xtask: step times
  {:<w$}  {:>8}
",
        "step", "time"
    );
    for (s, d, how) in v {
        let note = if *how == "ran" {
            String::new()
        } else {
            format!("  ({how})")
        };
        out.push_str(&format!("  {s:<w$}  {:>8}{note}\n", mmss(*d)));
    }
    out.push_str(&format!("  {:<w$}  {:>8}\n", "total (wall clock)", mmss(total)));
    out
}

/// `m:ss` (or `h:mm:ss`) for step times.
pub fn mmss(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Wrap a build command in `flock $SIGCAP_BUILD_LOCK` when that variable is
/// set, so that several users of one small machine serialize FreeBSD builds.
pub fn locked(cmd: Command) -> Command {
    match std::env::var_os("SIGCAP_BUILD_LOCK") {
        Some(lock) if !lock.is_empty() => wrap_in("flock", &[lock.as_os_str()], &cmd),
        _ => cmd,
    }
}

/// `program args... <cmd>`: `cmd` run through a wrapper (flock, nice), with
/// its arguments, working directory and environment changes.
pub fn wrap_in(program: &str, args: &[&OsStr], cmd: &Command) -> Command {
    let mut c = Command::new(program);
    c.args(args).arg(cmd.get_program()).args(cmd.get_args());
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c
}

/// Run `cmd` with stdout and stderr, each line stamped with the time since
/// the start (`[mm:ss] `, so the log shows where the time went), written to
/// `log`; print a progress line every 30 s (elapsed time and the last line).
/// Fails naming the log and showing its tail. The step's time goes into the
/// run's step table.
pub fn run_logged(step: &str, mut cmd: Command, log: &Path) -> Result<Duration> {
    let mut f = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    eprintln!("xtask: {step} (log: {})", log.display());
    let t0 = Instant::now();
    // One pipe for both streams keeps their lines in order.
    let (rd, wr) = nix::unistd::pipe().context("pipe for the step's output")?;
    let wr2 = wr.try_clone()?;
    let spawned = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(wr))
        .stderr(Stdio::from(wr2))
        .spawn();
    // Our copies of the write end are closed with `cmd`'s Stdio when it is
    // dropped below, so the reader sees EOF once the child tree exits.
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            record_step(step, t0.elapsed(), "failed");
            return Err(e).with_context(|| format!("starting {step}: {:?}", cmd.get_program()));
        }
    };
    drop(cmd);
    let last = Arc::new(Mutex::new(String::new()));
    let last2 = last.clone();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(fs::File::from(rd));
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let el = t0.elapsed().as_secs();
                    let _ = write!(f, "[{:02}:{:02}] ", el / 60, el % 60);
                    let _ = f.write_all(&line);
                    if !line.ends_with(b"\n") {
                        let _ = f.write_all(b"\n");
                    }
                    if let Ok(mut l) = last2.lock() {
                        *l = String::from_utf8_lossy(&line).trim().chars().take(100).collect();
                    }
                }
            }
        }
    });
    let done = Arc::new(AtomicBool::new(false));
    let (d2, step2) = (done.clone(), step.to_owned());
    let ticker = std::thread::spawn(move || {
        let mut n = 0u64;
        while !d2.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(500));
            n += 1;
            // Not u64::is_multiple_of: it is newer than our rust-version (1.85).
            #[allow(clippy::manual_is_multiple_of)]
            if n % 60 == 0 {
                let l = last.lock().map(|l| l.clone()).unwrap_or_default();
                eprintln!("xtask:   {step2}: {}s ... {l}", n / 2);
            }
        }
    });
    let st = child.wait()?;
    done.store(true, Ordering::Relaxed);
    let _ = ticker.join();
    // A grandchild that outlives the step (a daemon) could hold the pipe
    // open: wait for the reader a bounded time, then leave it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !reader.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if reader.is_finished() {
        let _ = reader.join();
    }
    let el = t0.elapsed();
    if !st.success() {
        record_step(step, el, "failed");
        let tail = tail_lines(log, 25).unwrap_or_default();
        bail!(
            "{step} failed ({st}) after {}s; last lines of {}:\n{tail}",
            el.as_secs(),
            log.display()
        );
    }
    record_step(step, el, "ran");
    eprintln!("xtask: {step}: done in {}s", el.as_secs());
    Ok(el)
}

pub fn tail_lines(p: &Path, n: usize) -> Option<String> {
    let f = fs::File::open(p).ok()?;
    let len = f.metadata().ok()?.len();
    use std::io::{Read, Seek, SeekFrom};
    let mut f = f;
    let start = len.saturating_sub(16384);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    let s = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = s.lines().collect();
    Some(lines[lines.len().saturating_sub(n)..].join("\n"))
}

/// Run a short command, capture stdout, fail with its stderr.
pub fn output(cmd: &mut Command) -> Result<String> {
    let o = cmd
        .output()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    if !o.status.success() {
        bail!("{:?} failed: {}", cmd, String::from_utf8_lossy(&o.stderr));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

pub fn read_stamp(p: &Path) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_owned())
}

pub fn write_stamp(p: &Path, v: &str) -> Result<()> {
    fs::write(p, format!("{v}\n")).with_context(|| format!("writing {}", p.display()))
}

/// A short content hash (FNV-1a 64) for cache keys.
pub fn hash_bytes(parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for p in parts {
        for b in p.iter().chain(&[0xffu8]) {
            h ^= *b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    format!("{h:016x}")
}

/// The lines of a data file (series, base-manifest, world-dirs,
/// guest-programs), trimmed, without blank lines and `#` comments.
pub fn data_lines(p: &Path) -> Result<Vec<String>> {
    Ok(lines_of(p)?
        .into_iter()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect())
}

pub fn lines_of(p: &Path) -> Result<Vec<String>> {
    let f = fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
    Ok(BufReader::new(f).lines().collect::<std::io::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_table_lists_steps_and_the_wall_clock_total() {
        let v = vec![
            ("world: toolchain".to_owned(), Duration::from_secs(605), "ran"),
            ("atf".to_owned(), Duration::ZERO, "cached"),
        ];
        let t = format_step_table(&v, Duration::from_secs(3725));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5, "{t}");
        assert!(
            lines[2].contains("world: toolchain") && lines[2].ends_with("10:05"),
            "{t}"
        );
        assert!(lines[3].ends_with("0:00  (cached)"), "{t}");
        assert!(
            lines[4].contains("total (wall clock)") && lines[4].ends_with("1:02:05"),
            "{t}"
        );
        assert_eq!(format_step_table(&[], Duration::ZERO), "");
    }

    #[test]
    fn run_logged_stamps_lines_in_order_and_names_the_log_on_failure() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("x.log");
        let mut c = Command::new("sh");
        c.args(["-c", "echo out; echo err >&2; printf tail"]);
        run_logged("test step", c, &log).unwrap();
        let text = fs::read_to_string(&log).unwrap();
        assert_eq!(text, "[00:00] out\n[00:00] err\n[00:00] tail\n");

        let mut c = Command::new("sh");
        c.args(["-c", "echo boom; exit 4"]);
        let e = run_logged("failing step", c, &log).unwrap_err().to_string();
        assert!(
            e.contains("failing step failed") && e.contains("boom") && e.contains("x.log"),
            "{e}"
        );
    }
}
