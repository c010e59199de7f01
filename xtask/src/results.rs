//! Parse the guest's console (the protocol of /work/fbsd/ABI.md) and write
//! the summary, JUnit XML and TAP.
#[derive(Debug, Default)]
pub struct Case {
    pub suite: String,
    pub name: String,
    pub result: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Results {
    pub cases: Vec<Case>,
    pub began: bool,
    pub end: Option<usize>,
    pub panic: Option<String>,
    pub timed_out: bool,
    /// Listed programs without a `runner` line.
    pub missing: Vec<String>,
}

impl Results {
    pub fn failed(&self) -> Vec<&Case> {
        self.cases.iter().filter(|c| c.result == "fail").collect()
    }
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Some(x) = &self.panic {
            p.push(format!("kernel panic: {x}"));
        }
        if self.timed_out {
            p.push("timeout".into());
        }
        if !self.began {
            p.push("the guest init never started (no SIGCAP-GUEST-BEGIN)".into());
        } else if self.end.is_none() {
            p.push("no SIGCAP-GUEST-END".into());
        }
        for m in &self.missing {
            p.push(format!("no result from {m}"));
        }
        let f = self.failed();
        if !f.is_empty() {
            p.push(format!(
                "{} failed: {}",
                f.len(),
                f.iter()
                    .map(|c| format!("{}/{}", c.suite, c.name))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        if self.cases.is_empty() {
            p.push("no test results".into());
        }
        p
    }
    pub fn ok(&self) -> bool {
        self.problems().is_empty()
    }
}

pub fn parse(console: &str, programs: &[String], timed_out: bool) -> Results {
    let mut r = Results {
        timed_out,
        ..Default::default()
    };
    for line in console.lines() {
        let line = line.trim_end_matches('\r').trim();
        if line == "SIGCAP-GUEST-BEGIN" {
            r.began = true;
        } else if let Some(n) = line.strip_prefix("SIGCAP-GUEST-END") {
            r.end = n.trim().parse().ok().or(Some(0));
        } else if let Some(rest) = line.strip_prefix("SIGCAP-TEST ") {
            let mut w = rest.splitn(4, ' ');
            let (suite, name, result) = (w.next(), w.next(), w.next());
            if let (Some(s), Some(n), Some(res)) = (suite, name, result) {
                let res = if ["pass", "fail", "skip"].contains(&res) {
                    res
                } else {
                    "fail"
                };
                r.cases.push(Case {
                    suite: s.into(),
                    name: n.into(),
                    result: res.into(),
                    reason: w.next().unwrap_or("").into(),
                });
            }
        } else if r.panic.is_none() && (line.starts_with("panic:") || line.starts_with("Fatal trap")) {
            r.panic = Some(line.to_owned());
        }
    }
    for p in programs {
        if !r.cases.iter().any(|c| c.suite == "runner" && &c.name == p) {
            r.missing.push(p.clone());
        }
    }
    r
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn junit(r: &Results) -> String {
    let mut suites: Vec<&str> = r.cases.iter().map(|c| c.suite.as_str()).collect();
    suites.dedup();
    suites.sort();
    suites.dedup();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for s in suites {
        let cs: Vec<&Case> = r.cases.iter().filter(|c| c.suite == s).collect();
        let f = cs.iter().filter(|c| c.result == "fail").count();
        let sk = cs.iter().filter(|c| c.result == "skip").count();
        x += &format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\" skipped=\"{sk}\">\n",
            esc(s),
            cs.len()
        );
        for c in cs {
            x += &format!("    <testcase classname=\"{}\" name=\"{}\"", esc(s), esc(&c.name));
            match c.result.as_str() {
                "fail" => x += &format!("><failure message=\"{}\"/></testcase>\n", esc(&c.reason)),
                "skip" => x += &format!("><skipped message=\"{}\"/></testcase>\n", esc(&c.reason)),
                _ => x += "/>\n",
            }
        }
        x += "  </testsuite>\n";
    }
    let probs: Vec<String> = r.problems().into_iter().filter(|p| !p.contains(" failed: ")).collect();
    if !probs.is_empty() {
        x += "  <testsuite name=\"vm\" tests=\"1\" failures=\"1\">\n    <testcase classname=\"vm\" name=\"boot\">";
        x += &format!(
            "<failure message=\"{}\"/></testcase>\n  </testsuite>\n",
            esc(&probs.join("; "))
        );
    }
    x + "</testsuites>\n"
}

pub fn tap(r: &Results) -> String {
    let mut t = format!("TAP version 13\n1..{}\n", r.cases.len() + 1);
    for (i, c) in r.cases.iter().enumerate() {
        let ok = if c.result == "fail" { "not ok" } else { "ok" };
        let dir = match c.result.as_str() {
            "skip" => format!(" # SKIP {}", c.reason),
            "fail" if !c.reason.is_empty() => format!(" # {}", c.reason),
            _ => String::new(),
        };
        t += &format!("{ok} {} - {}/{}{dir}\n", i + 1, c.suite, c.name);
    }
    let probs: Vec<String> = r.problems().into_iter().filter(|p| !p.contains(" failed: ")).collect();
    let n = r.cases.len() + 1;
    if probs.is_empty() {
        t += &format!("ok {n} - vm/boot\n");
    } else {
        t += &format!("not ok {n} - vm/boot # {}\n", probs.join("; "));
    }
    t
}

pub fn summary(r: &Results) -> String {
    let n = |k: &str| r.cases.iter().filter(|c| c.result == k).count();
    let mut s = String::new();
    for c in &r.cases {
        if c.result != "pass" {
            s += &format!("  {:4} {}/{} {}\n", c.result.to_uppercase(), c.suite, c.name, c.reason);
        }
    }
    s += &format!(
        "xtask: results: {} passed, {} failed, {} skipped",
        n("pass"),
        n("fail"),
        n("skip")
    );
    let probs: Vec<String> = r.problems().into_iter().filter(|p| !p.contains(" failed: ")).collect();
    if !probs.is_empty() {
        s += &format!("; {}", probs.join("; "));
    }
    s + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    const OK: &str =
        "boot...\r\nSIGCAP-GUEST-BEGIN\r\nSIGCAP-TEST kconf a pass\r\nSIGCAP-TEST kconf b skip no tree\r\n\
                      SIGCAP-TEST runner prog pass exit 0\r\nSIGCAP-GUEST-END 1\r\n";

    #[test]
    fn green_run() {
        let r = parse(OK, &["prog".into()], false);
        assert!(r.ok(), "{:?}", r.problems());
        assert_eq!(r.cases.len(), 3);
        assert!(tap(&r).contains("ok 2 - kconf/b # SKIP no tree"));
        assert!(junit(&r).contains("<skipped message=\"no tree\"/>"));
    }

    #[test]
    fn failures_panic_missing_timeout() {
        let c = OK.replace("kconf a pass", "kconf a fail si_code 3 <x>") + "panic: page fault\n";
        let r = parse(&c, &["prog".into(), "other".into()], true);
        let p = r.problems().join("\n");
        assert!(
            p.contains("kernel panic: panic: page fault")
                && p.contains("timeout")
                && p.contains("no result from other")
        );
        assert!(p.contains("kconf/a"));
        assert!(junit(&r).contains("si_code 3 &lt;x&gt;"));
        assert!(tap(&r).contains("not ok 1 - kconf/a # si_code 3 <x>"));
    }

    #[test]
    fn nothing_at_all() {
        let r = parse("", &["prog".into()], false);
        assert!(!r.ok());
        assert!(r.problems().iter().any(|p| p.contains("never started")));
    }
}
