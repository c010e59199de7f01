//! Shared helpers: running long commands with a log file and progress lines,
//! the optional build lock, stamps.
use anyhow::{bail, Context, Result};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the full logs of every step go.
pub fn log_dir(root: &Path) -> PathBuf {
    let d = root.join("target/xtask-logs");
    let _ = fs::create_dir_all(&d);
    d
}

/// Wrap a build command in `flock $SIGCAP_BUILD_LOCK` when that variable is
/// set, so that several users of one small machine serialize FreeBSD builds.
pub fn locked(cmd: Command) -> Command {
    match std::env::var_os("SIGCAP_BUILD_LOCK") {
        Some(lock) if !lock.is_empty() => {
            let mut c = Command::new("flock");
            c.arg(lock).arg(cmd.get_program()).args(cmd.get_args());
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
        _ => cmd,
    }
}

/// Run `cmd` with stdout and stderr appended to `log`, printing a progress
/// line every 30 s (elapsed time and the log's last line). Fails naming the
/// log and showing its tail.
pub fn run_logged(step: &str, mut cmd: Command, log: &Path) -> Result<Duration> {
    let f = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    eprintln!("xtask: {step} (log: {})", log.display());
    let t0 = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(f.try_clone()?)
        .stderr(f)
        .spawn()
        .with_context(|| format!("starting {step}: {:?}", cmd.get_program()))?;
    let done = Arc::new(AtomicBool::new(false));
    let (d2, log2, step2) = (done.clone(), log.to_owned(), step.to_owned());
    let ticker = std::thread::spawn(move || {
        let mut n = 0u64;
        while !d2.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(500));
            n += 1;
            // Not u64::is_multiple_of: it is newer than our rust-version (1.85).
            #[allow(clippy::manual_is_multiple_of)]
            if n % 60 == 0 {
                let last = last_line(&log2).unwrap_or_default();
                let last: String = last.chars().take(100).collect();
                eprintln!("xtask:   {step2}: {}s ... {last}", n / 2);
            }
        }
    });
    let st = child.wait()?;
    done.store(true, Ordering::Relaxed);
    let _ = ticker.join();
    let el = t0.elapsed();
    if !st.success() {
        let tail = tail_lines(log, 25).unwrap_or_default();
        bail!(
            "{step} failed ({st}) after {}s; last lines of {}:\n{tail}",
            el.as_secs(),
            log.display()
        );
    }
    eprintln!("xtask: {step}: done in {}s", el.as_secs());
    Ok(el)
}

fn last_line(p: &Path) -> Option<String> {
    tail_lines(p, 1).map(|s| s.trim().to_owned())
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

pub fn lines_of(p: &Path) -> Result<Vec<String>> {
    let f = fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
    Ok(BufReader::new(f).lines().collect::<std::io::Result<_>>()?)
}
