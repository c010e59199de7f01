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

/// `<name> <result>` lines of one suite's cases, saved per kernel so that a
/// later run on the other kernel can compare with it.
pub fn suite_lines(r: &Results, suite: &str) -> String {
    r.cases
        .iter()
        .filter(|c| c.suite == suite)
        .map(|c| format!("{} {}\n", c.name, c.result))
        .collect()
}

/// The cases that pass on the stock kernel and do not pass on the patched
/// one, from two suite_lines() texts: what the series must never break.
pub fn regressions(patched: &str, stock: &str) -> Vec<String> {
    let parse = |t: &str| -> std::collections::BTreeMap<String, String> {
        t.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(n, r)| (n.to_owned(), r.trim().to_owned()))
            .collect()
    };
    let (p, s) = (parse(patched), parse(stock));
    s.iter()
        .filter(|(_, r)| r.as_str() == "pass")
        .filter(|(n, _)| p.get(*n).map(String::as_str) != Some("pass"))
        .map(|(n, _)| n.clone())
        .collect()
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

    /// Run tests/guest/atf-capsicum.sh against a stand-in kyua printing
    /// `out` for `kyua test` and exiting `rc`; (exit status, parsed cases).
    fn atf_script(out: &str, rc: i32) -> (bool, String, Results) {
        atf_script_with(out, rc, None)
    }

    /// The same, with `sysctl` replaced by a script (its body).
    fn atf_script_with(out: &str, rc: i32, sysctl: Option<&str>) -> (bool, String, Results) {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let atf = d.path().join("capsicum");
        std::fs::create_dir(&atf).unwrap();
        std::fs::write(atf.join("Kyuafile"), "syntax(2)\n").unwrap();
        let exe = |p: &std::path::Path, text: &str| {
            std::fs::write(p, text).unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        exe(&atf.join("sigcap_test"), "#!/bin/sh\n");
        let kyua = d.path().join("kyua");
        std::fs::write(d.path().join("test.out"), out).unwrap();
        exe(
            &kyua,
            &format!(
                "#!/bin/sh\ncase \" $* \" in *\" test \"*) echo \"$*\" >> '{args}'; cat '{}'; exit {rc};; esac\necho REPORT \"$@\"\n",
                d.path().join("test.out").display(),
                args = d.path().join("kyua.args").display(),
            ),
        );
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/guest/atf-capsicum.sh");
        let mut c = std::process::Command::new("sh");
        c.arg(script).env("KYUA", &kyua).env("ATF_DIR", &atf);
        if let Some(body) = sysctl {
            let bin = d.path().join("bin");
            std::fs::create_dir(&bin).unwrap();
            exe(
                &bin.join("sysctl"),
                &format!("#!/bin/sh\ncd '{}'\n{body}", d.path().display()),
            );
            let path = std::env::var("PATH").unwrap_or_default();
            c.env("PATH", format!("{}:{path}", bin.display()));
        }
        let o = c.output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let console = format!("SIGCAP-GUEST-BEGIN\n{text}SIGCAP-GUEST-END 0\n");
        let args = std::fs::read_to_string(d.path().join("kyua.args")).unwrap_or_default();
        let text = format!("{text}KYUA-ARGS: {args}");
        (o.status.success(), text, parse(&console, &[], false))
    }

    #[test]
    fn atf_script_names_kyuas_unprivileged_user() {
        let (_, text, _) = atf_script("sigcap_test:a  ->  passed  [0.010s]\n", 0);
        assert!(
            text.contains("KYUA-ARGS: -v unprivileged_user=tests test -k "),
            "{text}"
        );
    }

    /// tests/guest/capsicum-test.sh against a stand-in capsicum-test
    /// printing `out` and exiting `rc` (kldstat and id stand-ins on PATH).
    fn gtest_script(out: &str, rc: i32) -> (bool, String, Results) {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let exe = |p: &std::path::Path, text: &str| {
            std::fs::write(p, text).unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        std::fs::write(d.path().join("gtest.out"), out).unwrap();
        let bin = d.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        exe(&bin.join("kldstat"), "#!/bin/sh\nexit 0\n");
        exe(&bin.join("id"), "#!/bin/sh\necho 977\n");
        let fake = d.path().join("capsicum-test");
        exe(
            &fake,
            &format!(
                "#!/bin/sh\n[ \"$1 $2\" = \"-u 977\" ] || {{ echo bad args \"$@\"; exit 9; }}\ncat '{}'\nexit {rc}\n",
                d.path().join("gtest.out").display()
            ),
        );
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/guest/capsicum-test.sh");
        let path = std::env::var("PATH").unwrap_or_default();
        let o = std::process::Command::new("sh")
            .arg(script)
            .env("CAPSICUM_TEST", &fake)
            .env("PATH", format!("{}:{path}", bin.display()))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let console = format!("SIGCAP-GUEST-BEGIN\n{text}SIGCAP-GUEST-END 0\n");
        (o.status.success(), text, parse(&console, &[], false))
    }

    #[test]
    fn capsicum_test_script_reports_each_gtest_case() {
        let out = "[==========] Running 3 tests from 2 test suites.\n\
                   [ RUN      ] Capability.CapNew\n\
                   [       OK ] Capability.CapNew (3 ms)\n\
                   [ RUN      ] Capmode.Syscalls\n\
                   capmode.cc:42: Failure\n\
                   [  FAILED  ] Capmode.Syscalls (12 ms)\n\
                   [ RUN      ] Sctp.Socket\n\
                   sctp.cc:65: Skipped\n\
                   socket(..., IPPROTO_SCTP) -> EPROTONOSUPPORT\n\
                   \n\
                   [  SKIPPED ] Sctp.Socket (0 ms)\n\
                   [==========] 3 tests from 2 test suites ran. (15 ms total)\n\
                   [  PASSED  ] 1 test.\n\
                   [  FAILED  ] 1 test, listed below:\n\
                   [  FAILED  ] Capmode.Syscalls\n";
        let (ok, text, r) = gtest_script(out, 1);
        assert!(!ok, "a failed case fails the script:\n{text}");
        let got: Vec<(&str, &str)> = r.cases.iter().map(|c| (c.name.as_str(), c.result.as_str())).collect();
        assert_eq!(
            got,
            [
                ("Capability.CapNew", "pass"),
                ("Capmode.Syscalls", "fail"),
                ("Sctp.Socket", "skip")
            ],
            "{text}"
        );
        assert!(r.cases.iter().all(|c| c.suite == "capsicum-test"));
        assert_eq!(
            r.cases[2].reason, "socket(..., IPPROTO_SCTP) -> EPROTONOSUPPORT",
            "{text}"
        );
        assert!(
            text.contains("capmode.cc:42: Failure"),
            "the output follows a failure:\n{text}"
        );
        let green = "[       OK ] Capability.CapNew (3 ms)\n[  PASSED  ] 1 test.\n";
        let (ok, text, r) = gtest_script(green, 0);
        assert!(ok && r.ok() && r.cases.len() == 1 && !text.contains("---"), "{text}");
        // A crash before any case is never green.
        let (ok, text, r) = gtest_script("Segmentation fault\n", 139);
        assert!(
            !ok && !r.ok() && text.contains("no test case reported (exit 139)"),
            "{text}"
        );
    }

    #[test]
    fn regressions_are_stock_passes_that_do_not_pass_patched() {
        let stock = "A.a pass\nA.b pass\nA.c fail\nA.d pass\nA.e skip\n";
        let patched = "A.a pass\nA.b fail\nA.c fail\nA.e fail\n";
        // b fails, d is missing; c and e did not pass on stock.
        assert_eq!(regressions(patched, stock), ["A.b", "A.d"]);
        assert!(regressions(stock, stock).is_empty());
    }

    #[test]
    fn atf_script_maps_every_kyua_result() {
        let out = "sigcap_test:a  ->  passed  [0.010s]\n\
                   sigcap_test:b  ->  failed: si_code 3 != 7: x  [0.020s]\n\
                   sigcap_test:c  ->  skipped: Requires root privileges  [0.000s]\n\
                   ioctls_test:d  ->  expected_failure: known bug  [0.001s]\n\
                   sigcap_test:e  ->  broken: Premature exit; test case received signal 34  [0.100s]\n\
                   \nResults file id is usr_tests.20261123\nCommitted action 1\n";
        let (ok, text, r) = atf_script(out, 1);
        assert!(!ok, "a failed case must fail the script:\n{text}");
        let got: Vec<(String, String, String)> = r
            .cases
            .iter()
            .map(|c| (c.name.clone(), c.result.clone(), c.reason.clone()))
            .collect();
        let want = [
            ("sigcap_test:a", "pass", "kyua: passed"),
            ("sigcap_test:b", "fail", "failed: si_code 3 != 7: x"),
            ("sigcap_test:c", "skip", "Requires root privileges"),
            ("ioctls_test:d", "pass", "expected failure: known bug"),
            (
                "sigcap_test:e",
                "fail",
                "broken: Premature exit; test case received signal 34",
            ),
        ];
        let want: Vec<(String, String, String)> = want
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        assert_eq!(got[..5], want[..], "{text}");
        assert_eq!(
            (got[5].0.as_str(), got[5].1.as_str()),
            ("sysctls_restored", "pass"),
            "{text}"
        );
        assert!(r.cases.iter().all(|c| c.suite == "atf"));
        // What did not pass is shown with kyua's own verbose report.
        assert!(
            text.contains("REPORT report -r") && text.contains("--results-filter=broken,failed"),
            "{text}"
        );
    }

    #[test]
    fn atf_script_green_and_empty() {
        let (ok, text, r) = atf_script("sigcap_test:a  ->  passed  [0.010s]\n", 0);
        assert!(ok && r.ok() && r.cases.len() == 2, "{text}");
        assert!(!text.contains("REPORT"), "{text}");
        // kyua ran nothing (a broken Kyuafile, a crash): never green.
        let (ok, text, r) = atf_script("kyua: E: Load of 'Kyuafile' failed\n", 1);
        assert!(!ok && !r.ok(), "{text}");
        assert!(text.contains("kyua reported no test case (exit 1)"), "{text}");
    }

    #[test]
    fn atf_script_sysctl_left_changed_fails() {
        // A stock kernel (no kern.trap_enotcap_signal alone) whose knobs read
        // 1 34 before the run and 1 5 after it.
        let fake = "case \"$*\" in\n\
                    '-n kern.trap_enotcap kern.trap_enotcap_signal')\n\
                    if [ -e after ]; then echo 1; echo 5; else touch after; echo 1; echo 34; fi ;;\n\
                    *) exit 1 ;;\nesac\n";
        let (ok, text, r) = atf_script_with("sigcap_test:a  ->  passed  [0.010s]\n", 0, Some(fake));
        assert!(!ok, "{text}");
        let c = r
            .cases
            .iter()
            .find(|c| c.name == "sysctls_restored")
            .expect("a sysctls_restored case");
        assert_eq!(c.result, "fail", "{text}");
        assert!(c.reason.contains("were 1 34 , now 1 5"), "{text}");
    }

    #[test]
    fn atf_script_reruns_with_sigcap_selected_and_restores() {
        // A patched kernel: the global signal is 5 and can be set.
        let fake = "v=$(cat sig 2>/dev/null || echo 5)\n\
                    case \"$*\" in\n\
                    '-n kern.trap_enotcap_signal') echo $v ;;\n\
                    '-n kern.trap_enotcap kern.trap_enotcap_signal') echo 0; echo $v ;;\n\
                    kern.trap_enotcap_signal=*) echo \"${1#*=}\" > sig ;;\n\
                    *) exit 1 ;;\nesac\n";
        let (ok, text, r) = atf_script_with("sigcap_test:a  ->  passed  [0.010s]\n", 0, Some(fake));
        assert!(ok && r.ok(), "{text}");
        let names: Vec<&str> = r.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "sigcap_test:a",
                "sysctls_restored",
                "global_sigcap/sigcap_test:a",
                "global_sigcap/sysctls_restored"
            ],
            "{text}"
        );
        assert!(
            text.contains(": 0 34 as before"),
            "the second run sees SIGCAP selected:\n{text}"
        );
    }

    #[test]
    fn nothing_at_all() {
        let r = parse("", &["prog".into()], false);
        assert!(!r.ok());
        assert!(r.problems().iter().any(|p| p.contains("never started")));
    }
}
