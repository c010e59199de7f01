//! sigcap-run's own cost against a plain run of the same program, in one
//! run (issue #11): the fixed cost (start-up, the shim, the broker, the
//! report) and the cost of each violation, for an allowed file call under
//! `--policy` (answered on the runtime's fast path), quiet with nothing to
//! report (the allowed calls not recorded) and with `--report` (each one a
//! JSON line with its stack), and in the permissive mode (brokered, one
//! JSON line per violation).
//!
//! The program is a loop of open+close of one file, built here with cc.
//! Each configuration runs `RUNS` times with 0 and with `CALLS` iterations;
//! the medians give: plain start, plain per call, fixed cost (sigcap-run
//! with 0 calls minus plain with 0), per violation ((N calls - 0 calls) /
//! N under sigcap-run). Printed, not asserted: timings on a shared VM
//! swing; the ratios are against the plain run of the same moment.
//!
//! `cargo bench -p sigcap-run --bench overhead` (Linux; needs cc).
#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 7;
const CALLS: u64 = 20_000;
/// The issue's bound for an allowed file call under sigcap-run.
const TARGET_US: f64 = 10.0;

const PROGRAM: &str = r#"
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = argc > 2 ? strtol(argv[2], 0, 10) : 0;
    for (long i = 0; i < n; i++) {
        int fd = open(argv[1], O_RDONLY);
        if (fd < 0)
            return 1;
        close(fd);
    }
    return 0;
}
"#;

/// Median wall time of `RUNS` runs of `cmd` (which must succeed).
fn median(mut cmd: impl FnMut() -> Command) -> Duration {
    let mut v: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let mut c = cmd();
            let t = Instant::now();
            let out = c.output().expect("run");
            let d = t.elapsed();
            assert!(
                out.status.success(),
                "{c:?}: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            d
        })
        .collect();
    v.sort();
    v[RUNS / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    if !cfg!(target_os = "linux") {
        println!("skip: the overhead bench runs on Linux (the guest measures the runtime with violation_latency)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(prog) = common::cc(dir.path(), "open_loop", PROGRAM, &["-O2"]) else {
        println!("skip: no working C compiler (cc) to build the measured program");
        return;
    };
    let file = dir.path().join("data.txt");
    std::fs::write(&file, "x").unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        format!("[[fs]]\npath = \"{}\"\naccess = [\"read\"]\n", file.display()),
    )
    .unwrap();
    let shim = common::shim();
    let n = CALLS.to_string();
    let plain = |calls: &str| {
        let (prog, file, calls) = (prog.clone(), file.clone(), calls.to_owned());
        move || {
            let mut c = Command::new(&prog);
            c.arg(&file).arg(&calls);
            c
        }
    };
    let boxed = |calls: &str, extra: &[&str]| {
        let (prog, file, calls) = (prog.clone(), file.clone(), calls.to_owned());
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        move || {
            let mut c = Command::new(common::TOOL);
            c.arg("--shim").arg(shim).arg("-q").args(&extra).arg("--").arg(&prog);
            c.arg(&file).arg(&calls);
            c
        }
    };
    let t0 = median(plain("0"));
    let t1 = median(plain(&n));
    let per_plain = (us(t1) - us(t0)) / CALLS as f64;
    println!("sigcap-run overhead: open+close of one file, {CALLS} calls, median of {RUNS} runs");
    println!(
        "  plain                          start {:>8.2} ms   per call {:>6.2} us",
        us(t0) / 1e3,
        per_plain
    );
    let pol = policy.to_str().unwrap();
    let report = dir.path().join("r.json");
    let rep = report.to_str().unwrap();
    for (label, extra) in [
        // -q and no report: the allowed calls are not recorded.
        ("--policy -q", vec!["--policy", pol]),
        // The same calls recorded, one JSON line each, with stacks.
        ("--policy --report", vec!["--policy", pol, "--report", rep]),
        ("permissive, --report", vec!["--report", rep]),
    ] {
        let s0 = median(boxed("0", &extra));
        let s1 = median(boxed(&n, &extra));
        let fixed = us(s0) - us(t0);
        let per = (us(s1) - us(s0)) / CALLS as f64;
        let verdict = if per <= TARGET_US { "within" } else { "ABOVE" };
        println!(
            "  sigcap-run {label:<20} fixed {:>8.2} ms   per violation {:>6.2} us = {:>5.2}x the plain call ({verdict} the {TARGET_US} us target)",
            fixed / 1e3,
            per,
            per / per_plain,
        );
    }
}
