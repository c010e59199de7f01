//! Instruction counts of the system call paths the series touches, on the
//! patched and the stock kernel (`cargo xtask icount`, and the last step
//! of vmtest).
//!
//! QEMU's TCG with `-icount shift=0` advances the guest clock by one per
//! guest instruction, so `sigcap-kbench --icount` reads exact costs off
//! the TSC: they repeat to the instruction across boots, where time-based
//! figures under emulation swing by tens of percent. The same image boots
//! twice, once per kernel; only the kernel differs.
use crate::freebsd::{self, Ctx, KernelKind};
use crate::{util, vm, vmm};
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

/// Instructions per call, by case, as one boot printed them.
pub type Counts = BTreeMap<String, f64>;

/// The `SIGCAP-ICOUNT <case> <instructions>` lines of a console log.
pub fn parse(console: &str) -> Counts {
    console
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("SIGCAP-ICOUNT ")?;
            let (case, n) = rest.split_once(' ')?;
            Some((case.to_owned(), n.trim().parse().ok()?))
        })
        .collect()
}

/// The targets of the series: successful calls cost what they cost on the
/// stock kernel, and SIGCAP delivery at most 0.5 % more than SIGTRAP's.
const SUCCESS_TARGET: f64 = 1.0;
const DELIVERY_TARGET: f64 = 1.005;

fn verdict(ratio: f64, target: f64) -> &'static str {
    // Counts are printed with two decimals; compare at that precision.
    if ratio <= target + 0.0005 {
        "meets target"
    } else {
        "MISSES target"
    }
}

/// The report: every case on both kernels with patched/stock, then
/// SIGCAP delivery against SIGTRAP delivery on the patched kernel.
pub fn table(stock: &Counts, patched: &Counts) -> String {
    let mut s = String::from(
        "instructions per call (QEMU TCG -icount shift=0: guest TSC = instructions; \
         fewest of 40 windows of 100 calls, loop included)\n",
    );
    let _ = writeln!(
        s,
        "  {:<24} {:>10} {:>10} {:>14}",
        "case", "stock", "patched", "patched/stock"
    );
    let mut cases: Vec<&String> = stock.keys().chain(patched.keys()).collect();
    cases.sort();
    cases.dedup();
    let fmt = |v: Option<&f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
    for c in cases {
        let (a, b) = (stock.get(c), patched.get(c));
        let ratio = match (a, b) {
            (Some(a), Some(b)) if *a > 0.0 => {
                let r = b / a;
                if c.starts_with("getppid.") {
                    format!("{r:.3}  {}", verdict(r, SUCCESS_TARGET))
                } else {
                    format!("{r:.3}")
                }
            }
            _ => "-".to_owned(),
        };
        let _ = writeln!(s, "  {:<24} {:>10} {:>10} {:>14}", c, fmt(a), fmt(b), ratio);
    }
    if let (Some(cap), Some(trap)) = (
        patched.get("violation.trap_sigcap"),
        patched.get("violation.trap_sigtrap"),
    ) {
        let r = cap / trap;
        let _ = writeln!(
            s,
            "  a violation delivered as SIGCAP / as SIGTRAP (patched kernel, handler in both): {r:.4}  {} (<= {DELIVERY_TARGET})",
            verdict(r, DELIVERY_TARGET)
        );
    }
    // The same against what users have today: SIGTRAP on the stock kernel.
    if let (Some(cap), Some(trap)) = (
        patched.get("violation.trap_sigcap"),
        stock.get("violation.trap_sigtrap"),
    ) {
        let _ = writeln!(
            s,
            "  a violation delivered as SIGCAP (patched) / as SIGTRAP (stock kernel): {:.4}",
            cap / trap
        );
    }
    s
}

/// Builds the stock kernel, boots the image with each kernel under
/// instruction counting and prints (and saves) the table.
pub fn run(ctx: &Ctx, tree: &Path, timeout: u64) -> Result<()> {
    if ctx.kernel != KernelKind::Patched {
        bail!("icount compares the patched kernel with the stock one; run it without --kernel stock");
    }
    let stock = util::timed("icount: stock kernel", || freebsd::stock_kernel(ctx, tree))?;
    let mut counts = Vec::new();
    for (name, kernel) in [("stock", stock), ("patched", ctx.kernel_file())] {
        let c = util::timed(&format!("icount: boot the {name} kernel"), || {
            let iso = vm::icount_image(ctx, name, &kernel)?;
            let log = util::log_dir(&ctx.root).join(format!("console-icount-{name}.log"));
            let _ = fs::remove_file(&log);
            let timed_out = vmm::run_icount(&iso, &log, timeout)?;
            let c = parse(&fs::read_to_string(&log).unwrap_or_default());
            if timed_out || c.is_empty() {
                bail!(
                    "icount: the {name} boot {} (console: {})",
                    if timed_out { "timed out" } else { "printed no counts" },
                    log.display()
                );
            }
            Ok(c)
        })?;
        counts.push(c);
    }
    let t = table(&counts[0], &counts[1]);
    eprint!("{t}");
    let out = ctx.root.join("target/xtask-results");
    fs::create_dir_all(&out)?;
    fs::write(out.join("icount.txt"), &t)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_count_lines() {
        let c = parse(
            "boot noise\nSIGCAP-ICOUNT getppid.plain 261.00\n  guest: x\nSIGCAP-ICOUNT violation.trap_sigcap 4021.5\n\
             SIGCAP-ICOUNT broken\nSIGCAP-ICOUNT bad nan-ish\n",
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c["getppid.plain"], 261.0);
        assert_eq!(c["violation.trap_sigcap"], 4021.5);
    }

    #[test]
    fn table_gives_ratios_and_verdicts() {
        let stock = parse("SIGCAP-ICOUNT getppid.plain 261.00\nSIGCAP-ICOUNT violation.trap_sigtrap 4000.00\n");
        let patched = parse(
            "SIGCAP-ICOUNT getppid.plain 264.00\nSIGCAP-ICOUNT violation.trap_sigtrap 4000.00\n\
             SIGCAP-ICOUNT violation.trap_sigcap 4030.00\n",
        );
        let t = table(&stock, &patched);
        assert!(t.contains("1.011  MISSES target"), "{t}");
        assert!(t.contains("1.0075  MISSES target"), "{t}");
        assert!(
            t.contains("SIGCAP (patched) / as SIGTRAP (stock kernel): 1.0075"),
            "{t}"
        );
        let patched = parse(
            "SIGCAP-ICOUNT getppid.plain 261.00\nSIGCAP-ICOUNT violation.trap_sigtrap 4000.00\n\
             SIGCAP-ICOUNT violation.trap_sigcap 4010.00\n",
        );
        let t = table(&stock, &patched);
        assert!(t.contains("1.000  meets target"), "{t}");
        assert!(t.contains("1.0025  meets target"), "{t}");
        // A case only one kernel has shows "-" rather than a ratio.
        assert!(
            t.lines()
                .any(|l| l.contains("violation.trap_sigcap") && l.contains(" - ")),
            "{t}"
        );
    }
}
