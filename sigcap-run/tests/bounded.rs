//! Busy programs: the summary and the JSON report stay bounded, start-up
//! noise is one line per group, and paths under one directory collapse.
#![cfg(target_os = "linux")]
mod common;
use common::*;
use std::path::Path;
use std::process::Command;

/// Documented limits (README): at most 30 entry lines plus, per decision,
/// a header, up to 3 more entries and a "... and K more" line, plus the
/// noise groups: never more than 70 lines.
const SUMMARY_MAX_LINES: usize = 70;
/// At most 256 entries (plus a few folded ones) of at most 5 samples.
const REPORT_MAX_ENTRIES: usize = 300;
const REPORT_MAX_BYTES: u64 = 2 << 20;

fn tool(dir: &Path, opts: &[&str], cmd: &[&str]) -> (std::process::Output, serde_json::Value, u64) {
    let rep = dir.join("r.json");
    let out = output_within(
        Command::new(TOOL)
            .current_dir(dir)
            .arg("--shim")
            .arg(shim())
            .args(["--color", "never", "--report", rep.to_str().unwrap()])
            .args(opts)
            .arg("--")
            .args(cmd)
            .env("LC_ALL", "C.UTF-8"),
        300,
    );
    let size = std::fs::metadata(&rep).unwrap().len();
    let v = serde_json::from_str(&std::fs::read_to_string(&rep).unwrap()).unwrap();
    (out, v, size)
}

fn summary_lines(err: &str) -> Vec<&str> {
    // The summary starts at "sigcap-run: "; the program's own errors come before it.
    let start = err.find("sigcap-run: ").unwrap_or(0);
    err[start..].lines().collect()
}

#[test]
fn du_of_usr_share_is_summarised_in_bounded_space() {
    if !Path::new("/usr/share").is_dir() {
        eprintln!("SKIPPED: no /usr/share");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (out, rep, size) = tool(t.path(), &[], &["du", "-s", "/usr/share"]);
    assert_eq!(out.status.code(), Some(0));
    let plain = Command::new("du").args(["-s", "/usr/share"]).output().unwrap();
    assert_eq!(out.stdout, plain.stdout, "du's answer changed under the sandbox");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines = summary_lines(&err);
    eprintln!(
        "{} summary lines, {} bytes of JSON:\n{}",
        lines.len(),
        size,
        lines.join("\n")
    );
    let total = rep["total_violations"].as_u64().unwrap();
    assert!(
        total > 10_000,
        "du -s /usr/share made only {total} violations: not a busy run"
    );
    assert!(lines.len() <= SUMMARY_MAX_LINES, "{} lines", lines.len());
    assert!(size <= REPORT_MAX_BYTES, "{size} bytes of JSON");
    let entries = rep["violations"].as_array().unwrap();
    assert!(entries.len() <= REPORT_MAX_ENTRIES, "{} entries", entries.len());
    // Nothing is lost in the aggregation: the counts add up.
    assert_eq!(entries.iter().map(|e| e["count"].as_u64().unwrap()).sum::<u64>(), total);
    for e in entries {
        assert!(e["samples"].as_array().map_or(0, |s| s.len()) <= 5);
    }
    // Locale probes: one line.
    assert_eq!(lines.iter().filter(|l| l.contains(" locale ")).count(), 1, "{err}");
}

#[test]
fn many_directories_collapse_and_the_entry_count_is_capped() {
    // ls -l of hundreds of directories: one group per directory and call,
    // more than the report keeps.
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    for i in 0..300 {
        let sub = d.join(format!("dir{i:03}"));
        std::fs::create_dir(&sub).unwrap();
        for f in ["a", "b", "c", "d", "e"] {
            std::fs::write(sub.join(f), f).unwrap();
        }
    }
    let mut cmd = vec!["ls".to_string(), "-l".to_string()];
    cmd.extend((0..300).map(|i| format!("dir{i:03}")));
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let (out, rep, size) = tool(d, &[], &cmd);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines = summary_lines(&err);
    assert!(
        lines.len() <= SUMMARY_MAX_LINES,
        "{} lines:\n{}",
        lines.len(),
        lines.join("\n")
    );
    assert!(size <= REPORT_MAX_BYTES, "{size}");
    let entries = rep["violations"].as_array().unwrap();
    assert!(entries.len() <= REPORT_MAX_ENTRIES, "{} entries", entries.len());
    let total = rep["total_violations"].as_u64().unwrap();
    assert_eq!(entries.iter().map(|e| e["count"].as_u64().unwrap()).sum::<u64>(), total);
    // The calls on one directory's five files are one entry (lgetxattr, kept
    // before the allowed statx calls, which are folded beyond the limit).
    let one = entries
        .iter()
        .find(|e| e["scope"] == d.join("dir000").to_str().unwrap())
        .expect("dir000's entries collapsed");
    assert_eq!(one["paths"], 5);
    assert_eq!(one["samples"].as_array().unwrap().len(), 5);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("more entries") && l.contains("--full-summary")),
        "{err}"
    );

    // --full-summary lists everything.
    let (out, _, _) = tool(d, &["--full-summary"], &cmd);
    let err = String::from_utf8_lossy(&out.stderr);
    let full = summary_lines(&err);
    assert!(
        full.len() > lines.len() && !err.contains("more entries"),
        "{} lines",
        full.len()
    );
}
