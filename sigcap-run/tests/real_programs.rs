//! sigcap-run on real programs nobody wrote for it: Debian's coreutils
//! `cat` and `ls -l`, GNU `tar` extracting an archive, and `curl` fetching
//! from a loopback server. Each report is compared with what strace(1)
//! saw the same program do; each suggested policy is enforced on a second
//! run, and a narrower one must be refused where it should be.
#![cfg(target_os = "linux")]
mod common;
use common::*;
use std::io::{Read, Write};
use std::path::Path;

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("sigcap-run-test.").tempdir().unwrap()
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

#[test]
fn cat_report_matches_strace_and_the_suggested_policy_is_enough() {
    let t = tmp();
    let d = t.path();
    std::fs::write(d.join("f.txt"), "hello sigcap\n").unwrap();
    let pol = s(&d.join("cat.toml"));
    let r = run(d, &["--suggest-policy", &pol], &["cat", "f.txt"]);
    assert_eq!(r.code(), 0);
    assert_eq!(r.stdout(), "hello sigcap\n");
    let rep = r.report.as_ref().unwrap();
    assert_eq!(rep["backend"], "linux-seccomp");
    assert_eq!(rep["mode"], "permissive");
    assert_eq!(rep["entered"], true);
    let open = r.find("openat", "f.txt");
    assert_eq!(open.len(), 1, "{:#?}", r.violations());
    assert_eq!(open[0]["decision"], "allowed");
    assert_eq!(open[0]["errno"], "EPERM");
    assert_eq!(open[0]["args"]["flags"], "O_RDONLY");
    assert_eq!(open[0]["count"], 1);
    assert!(open[0]["outcome"]["value"].as_i64().unwrap() >= 0);
    // The call site is symbolized inside the C library.
    let f0 = &open[0]["stack"][0];
    assert!(f0["object"].as_str().unwrap().contains("libc.so"), "{f0}");
    assert!(f0["symbol"].as_str().unwrap().contains("open"), "{f0}");

    let truth = strace(d, &["cat", "f.txt"]);
    assert_reported_calls_are_real(&r, &truth);
    assert_nothing_missed(&r, &truth, "f.txt");

    let text = std::fs::read_to_string(&pol).unwrap();
    assert!(text.contains(&format!("path = \"{}\"", s(&d.join("f.txt")))), "{text}");
    let again = run(d, &["--policy", &pol], &["cat", "f.txt"]);
    assert_eq!(again.code(), 0, "{}", again.stderr());
    assert_eq!(again.stdout(), "hello sigcap\n");
    assert_eq!(again.report.as_ref().unwrap()["mode"], "enforce");
    assert!(again.find("openat", "f.txt")[0]["decision"] == "allowed");

    let narrow = d.join("narrow.toml");
    narrowed(Path::new(&pol), "f.txt", &narrow);
    let refused = run(d, &["--policy", &s(&narrow)], &["cat", "f.txt"]);
    assert_eq!(refused.code(), 1, "cat must fail without its file");
    assert!(refused.stderr().contains("f.txt: Operation not permitted"));
    let v = refused.find("openat", "f.txt");
    assert_eq!(v[0]["decision"], "denied");
    assert_eq!(v[0]["reason"], "no-rule");
    assert_eq!(v[0]["outcome"]["error"], "EPERM");
}

#[test]
fn ls_l_report_matches_strace_and_the_suggested_policy_is_enough() {
    let t = tmp();
    let d = t.path();
    std::fs::create_dir_all(d.join("dir/sub")).unwrap();
    std::fs::write(d.join("dir/a"), "a").unwrap();
    std::os::unix::fs::symlink("a", d.join("dir/link")).unwrap();
    let pol = s(&d.join("ls.toml"));
    let r = run(d, &["--suggest-policy", &pol], &["ls", "-l", "dir"]);
    assert_eq!(r.code(), 0);
    let out = r.stdout();
    assert!(
        out.contains(" a\n") && out.contains("link -> a") && out.contains(" sub\n"),
        "{out}"
    );
    for p in ["dir/a", "dir/link", "dir/sub"] {
        assert!(!r.find("statx", p).is_empty(), "no statx of {p}: {:#?}", r.pairs());
    }
    assert_eq!(r.find("readlink", "dir/link")[0]["outcome"]["value"], 1);
    // Extended attributes (ls asks for ACLs and SELinux labels) are
    // brokered under read: answered, not refused, and no error printed.
    let xattrs: Vec<_> = r
        .violations()
        .into_iter()
        .filter(|v| v["syscall"] == "lgetxattr")
        .collect();
    assert!(!xattrs.is_empty(), "{:#?}", r.pairs());
    assert!(xattrs.iter().all(|v| v["decision"] == "allowed"), "{xattrs:#?}");
    assert!(!r.stderr().contains("Operation not permitted"), "{}", r.stderr());

    let truth = strace(d, &["ls", "-l", "dir"]);
    assert_reported_calls_are_real(&r, &truth);
    assert_nothing_missed(&r, &truth, "dir");

    let again = run(d, &["--policy", &pol], &["ls", "-l", "dir"]);
    assert_eq!(again.code(), 0);
    assert_eq!(again.stdout(), out);

    let narrow = d.join("narrow.toml");
    narrowed(Path::new(&pol), &s(&d.join("dir")), &narrow);
    let refused = run(d, &["--policy", &s(&narrow)], &["ls", "-l", "dir"]);
    assert_eq!(refused.code(), 2);
    assert!(refused
        .stderr()
        .contains("cannot access 'dir': Operation not permitted"));
    assert_eq!(refused.find("statx", "dir")[0]["decision"], "denied");
}

fn make_tree(src: &Path) {
    std::fs::create_dir_all(src.join("docs/deep")).unwrap();
    std::fs::write(src.join("README"), "readme\n").unwrap();
    std::fs::write(src.join("docs/guide.txt"), "guide\n").unwrap();
    std::fs::write(src.join("docs/deep/notes.txt"), "notes\n").unwrap();
}

const TAR_X: &[&str] = &[
    "tar",
    "xf",
    "a.tar",
    "-C",
    "out",
    "--no-same-owner",
    "--no-same-permissions",
    "-m",
];

#[test]
fn tar_extract_report_matches_strace_and_the_suggested_policy_is_enough() {
    let t = tmp();
    let d = t.path();
    make_tree(&d.join("proj"));
    let st = std::process::Command::new("tar")
        .current_dir(d)
        .args(["cf", "a.tar", "proj"])
        .status()
        .unwrap();
    assert!(st.success());
    let fresh = || {
        let _ = std::fs::remove_dir_all(d.join("out"));
        std::fs::create_dir(d.join("out")).unwrap();
    };
    fresh();
    let pol = s(&d.join("tar.toml"));
    let r = run(d, &["--suggest-policy", &pol], TAR_X);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(
        std::fs::read_to_string(d.join("out/proj/docs/deep/notes.txt")).unwrap(),
        "notes\n"
    );
    for dir in ["proj", "proj/docs", "proj/docs/deep"] {
        assert_eq!(r.find("mkdirat", dir)[0]["decision"], "allowed", "{:#?}", r.pairs());
    }
    let create = r.find("openat", "proj/docs/guide.txt");
    assert!(create[0]["args"]["flags"].as_str().unwrap().contains("O_CREAT|O_EXCL"));
    assert_eq!(r.find("openat", "a.tar")[0]["args"]["flags"], "O_RDONLY");

    fresh();
    let truth = strace(d, TAR_X);
    assert_reported_calls_are_real(&r, &truth);
    assert_nothing_missed(&r, &truth, "proj");

    let text = std::fs::read_to_string(&pol).unwrap();
    assert!(
        text.contains(&format!(
            "path = \"{}\"\naccess = [\"read\", \"write\", \"create\"]",
            s(&d.join("out"))
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("path = \"{}\"\naccess = [\"read\"]", s(&d.join("a.tar")))),
        "{text}"
    );
    fresh();
    let again = run(d, &["--policy", &pol], TAR_X);
    assert_eq!(again.code(), 0, "{}", again.stderr());
    assert_eq!(std::fs::read_to_string(d.join("out/proj/README")).unwrap(), "readme\n");

    // Read-only on the destination: every creation is refused.
    let mut p = sigcap::Policy::from_file(&pol).unwrap();
    let mut ro = sigcap::Policy::new();
    for r in p.fs_rules() {
        let acc = if r.root == d.join("out") {
            sigcap::Access::READ
        } else {
            r.access
        };
        ro.allow_fs(&r.root, acc).unwrap();
    }
    p = ro;
    let narrow = d.join("narrow.toml");
    std::fs::write(&narrow, p.to_toml()).unwrap();
    fresh();
    let refused = run(d, &["--policy", &s(&narrow)], TAR_X);
    assert_eq!(refused.code(), 2);
    assert!(
        refused.stderr().contains("Cannot mkdir: Operation not permitted"),
        "{}",
        refused.stderr()
    );
    let v = refused.find("mkdirat", "proj");
    assert_eq!(
        (v[0]["decision"].as_str(), v[0]["reason"].as_str()),
        (Some("denied"), Some("access"))
    );
    assert!(!d.join("out/proj").exists());
}

#[test]
fn tar_default_extraction_restores_symlinks_modes_and_times() {
    // GNU tar restores symlinks, modes and times (and owners as root):
    // symlinkat, fchmodat, utimensat and fchownat by path, all brokered.
    let t = tmp();
    let d = t.path();
    make_tree(&d.join("proj"));
    std::os::unix::fs::symlink("README", d.join("proj/link")).unwrap();
    assert!(std::process::Command::new("tar")
        .current_dir(d)
        .args(["cf", "a.tar", "proj"])
        .status()
        .unwrap()
        .success());
    std::fs::create_dir(d.join("out")).unwrap();
    let r = run(d, &[], &["tar", "xf", "a.tar", "-C", "out"]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let unsupported: Vec<_> = r
        .violations()
        .into_iter()
        .filter(|v| v["decision"] == "unsupported")
        .collect();
    assert!(unsupported.is_empty(), "{unsupported:#?}");
    for call in ["symlinkat", "utimensat"] {
        assert!(
            r.violations()
                .iter()
                .any(|v| v["syscall"] == call && v["decision"] == "allowed"),
            "no {call} brokered: {:#?}",
            r.pairs()
        );
    }
    assert_eq!(
        std::fs::read_link(d.join("out/proj/link")).unwrap(),
        std::path::Path::new("README")
    );
    // The archive keeps whole seconds.
    let secs = |p: &std::path::Path| {
        let m = std::fs::metadata(p).unwrap().modified().unwrap();
        m.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    };
    assert_eq!(
        secs(&d.join("out/proj/README")),
        secs(&d.join("proj/README")),
        "times restored"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("out/proj/docs/guide.txt")).unwrap(),
        "guide\n"
    );
}

/// A one-shot HTTP server on loopback.
fn serve_once(body: &'static str) -> (u16, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        l.set_nonblocking(false).unwrap();
        // Serve until the test drops the listener (each run connects once).
        for _ in 0..4 {
            let Ok((mut c, _)) = l.accept() else { return };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = write!(
                c,
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, h)
}

#[test]
fn curl_fetch_from_loopback_report_matches_strace_and_policy() {
    let t = tmp();
    let d = t.path();
    let (port, _h) = serve_once("payload over loopback\n");
    let url = format!("http://127.0.0.1:{port}/x");
    let addr = format!("127.0.0.1:{port}");
    let cmd = ["curl", "-q", "-sS", "-o", "got.txt", url.as_str()];
    let pol = s(&d.join("curl.toml"));
    let r = run(d, &["--suggest-policy", &pol], &cmd);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(
        std::fs::read_to_string(d.join("got.txt")).unwrap(),
        "payload over loopback\n"
    );
    let c = r.find("connect", &addr);
    assert_eq!(c[0]["decision"], "allowed");
    assert_eq!(c[0]["class"], "sockaddr");
    assert_eq!(
        r.find("openat", "got.txt")[0]["args"]["flags"],
        "O_WRONLY|O_CREAT|O_TRUNC"
    );

    let truth = strace(d, &cmd);
    assert_reported_calls_are_real(&r, &truth);
    assert_nothing_missed(&r, &truth, &addr);

    let text = std::fs::read_to_string(&pol).unwrap();
    assert!(text.contains(&format!("\"{addr}\"")), "{text}");
    std::fs::remove_file(d.join("got.txt")).unwrap();
    let again = run(d, &["--policy", &pol], &cmd);
    assert_eq!(again.code(), 0, "{}", again.stderr());
    assert_eq!(
        std::fs::read_to_string(d.join("got.txt")).unwrap(),
        "payload over loopback\n"
    );

    let narrow = d.join("narrow.toml");
    narrowed(Path::new(&pol), &addr, &narrow);
    let refused = run(d, &["--policy", &s(&narrow)], &cmd);
    assert_eq!(refused.code(), 7, "curl: couldn't connect");
    let c = refused.find("connect", &addr);
    assert_eq!(
        (c[0]["decision"].as_str(), c[0]["reason"].as_str()),
        (Some("denied"), Some("no-rule"))
    );
}
