//! The FreeBSD constants the runtime compiles in
//! (`sigcap-rs/src/sys/freebsd_abi.rs`) must agree with the patch series.
//!
//! This check needs no FreeBSD tree: it reads the `#define`s the patches
//! add and compares every one the runtime also defines. Constants the
//! series does not add (stock ones such as TRAP_CAP) are not checked here.
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// `#define NAME VALUE` lines added by the patches in `series` order.
pub fn series_defines(series_dir: &Path) -> Result<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    for name in crate::util::data_lines(&series_dir.join("series"))? {
        let text = std::fs::read_to_string(series_dir.join(&name)).with_context(|| format!("reading patch {name}"))?;
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("+#define") else {
                continue;
            };
            let mut it = rest.split_whitespace();
            let (Some(k), Some(v)) = (it.next(), it.next()) else {
                continue;
            };
            if let Some(v) = parse_int(v) {
                out.insert(k.to_string(), v);
            }
        }
    }
    Ok(out)
}

/// `pub const NAME: ... = VALUE;` items of the generated Rust file.
pub fn rust_consts(file: &Path) -> Result<BTreeMap<String, i64>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("pub const ") else {
            continue;
        };
        let Some((name, rhs)) = rest.split_once(':') else {
            continue;
        };
        let Some((_, value)) = rhs.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_end_matches(';').trim();
        if let Some(v) = parse_int(value) {
            out.insert(name.trim().to_string(), v);
        }
    }
    Ok(out)
}

fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim_end_matches(['u', 'U', 'l', 'L']);
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => i64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Compares the two; returns how many constants were checked.
pub fn check(series_dir: &Path, rust_file: &Path) -> Result<usize> {
    let series = series_defines(series_dir)?;
    let rust = rust_consts(rust_file)?;
    let mut problems = Vec::new();
    let mut checked = 0;
    for (name, v) in &rust {
        if let Some(sv) = series.get(name) {
            checked += 1;
            if sv != v {
                problems.push(format!(
                    "{name}: the series defines {sv}, {} has {v}",
                    rust_file.display()
                ));
            }
        }
    }
    // Everything the series adds for userland signals must reach the runtime.
    for name in series
        .keys()
        .filter(|n| *n == "SIGCAP" || n.starts_with("CAPV_") || n.starts_with("PROC_TRAPCAP"))
    {
        if !rust.contains_key(name) {
            problems.push(format!(
                "{name} is defined by the series but missing from {}",
                rust_file.display()
            ));
        }
    }
    if checked == 0 {
        problems.push("no constant of the runtime is defined by the series".into());
    }
    if !problems.is_empty() {
        bail!(
            "FreeBSD ABI constants disagree with the patch series:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn agreement_and_each_kind_of_disagreement() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "series", "0001-a.patch\n");
        write(
            d.path(),
            "0001-a.patch",
            "+#define\tSIGCAP\t\t34\t/* x */\n+#define CAPV_NAMEI 7\n #define SIGTRAP 5\n",
        );
        let rs = d.path().join("abi.rs");
        write(
            d.path(),
            "abi.rs",
            "pub const SIGCAP: c_int = 34;\npub const CAPV_NAMEI: c_int = 7;\npub const TRAP_CAP: c_int = 4;\n",
        );
        assert_eq!(check(d.path(), &rs).unwrap(), 2);
        write(
            d.path(),
            "abi.rs",
            "pub const SIGCAP: c_int = 35;\npub const CAPV_NAMEI: c_int = 7;\n",
        );
        assert!(check(d.path(), &rs)
            .unwrap_err()
            .to_string()
            .contains("SIGCAP: the series defines 34"));
        write(d.path(), "abi.rs", "pub const SIGCAP: c_int = 34;\n");
        assert!(check(d.path(), &rs)
            .unwrap_err()
            .to_string()
            .contains("CAPV_NAMEI is defined by the series but missing"));
    }

    #[test]
    fn the_committed_file_agrees_with_the_committed_series() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let n = check(
            &root.join("kernel-patches/15.1"),
            &root.join("sigcap-rs/src/sys/freebsd_abi.rs"),
        )
        .unwrap();
        assert!(n >= 10, "only {n} constants checked");
    }
}
