//! xtask started from a script's `cmd &` (or a CI agent) inherits SIGINT
//! and SIGQUIT ignored, and bmake's bootstrap self-test then fails inside
//! the world step. This runs the real `world` step with such a start and a
//! stand-in for the tree's tools/build/make.py that records the signal
//! state it was started with.
use nix::sys::signal::{sigaction, sigprocmask, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// The `SigIgn:`/`SigBlk:` mask of a /proc/PID/status text.
fn mask(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line[field.len()..].trim(), 16).unwrap()
}

fn bit(sig: Signal) -> u64 {
    1 << (sig as i32 - 1)
}

#[test]
fn world_step_children_start_with_default_signals() {
    if !Path::new("/proc/self/status").exists() || Command::new("python3").arg("-V").output().is_err() {
        eprintln!("SKIP: needs /proc and python3 (Linux host)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let make_py = cache.join("work/tools/build/make.py");
    std::fs::create_dir_all(make_py.parent().unwrap()).unwrap();
    let out = tmp.path().join("child-status");
    std::fs::write(
        &make_py,
        "import os, sys\n\
         open(os.environ['SIGCAP_TEST_STATUS_OUT'], 'w').write(open('/proc/self/status').read())\n\
         sys.exit(3)\n",
    )
    .unwrap();
    let bindir = tmp.path().join("bin");
    std::fs::create_dir_all(&bindir).unwrap();

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("world")
        .arg("--cache-dir")
        .arg(&cache)
        .env("SIGCAP_CROSS_BINDIR", &bindir)
        .env("SIGCAP_LOG_DIR", tmp.path().join("logs"))
        .env("SIGCAP_TEST_STATUS_OUT", &out)
        .env_remove("SIGCAP_BUILD_LOCK");
    // SAFETY: between fork and exec only sigaction and sigprocmask, both
    // async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let ign = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
            for s in [Signal::SIGINT, Signal::SIGQUIT, Signal::SIGHUP] {
                sigaction(s, &ign)?;
            }
            let mut blocked = SigSet::empty();
            blocked.add(Signal::SIGUSR1);
            sigprocmask(SigmaskHow::SIG_BLOCK, Some(&blocked), None)?;
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    // The stand-in make fails, so the step fails, and says so.
    assert!(!o.status.success(), "{stderr}");
    assert!(stderr.contains("world: bootstrap bmake"), "{stderr}");
    assert!(stderr.contains("started with SIGINT, SIGQUIT ignored"), "{stderr}");
    // And the step table closes the run, the failed step in it.
    assert!(stderr.contains("step times") && stderr.contains("(failed)"), "{stderr}");

    let status = std::fs::read_to_string(&out).expect("the world step did not run make.py");
    let ign = mask(&status, "SigIgn:");
    assert_eq!(ign & (bit(Signal::SIGINT) | bit(Signal::SIGQUIT)), 0, "SigIgn {ign:x}");
    // nohup's SIGHUP is what the user asked for: kept.
    assert_ne!(ign & bit(Signal::SIGHUP), 0, "SigIgn {ign:x}");
    assert_eq!(mask(&status, "SigBlk:"), 0, "the child inherited a blocked mask");
}
