//! Host prerequisites: what the main job (vmtest) and the test command
//! need on the host, checked before they start; as root, the missing
//! packages are installed (`apt-get update` first), else one message names
//! the command to run.
use crate::{freebsd::cross_bindir, guest};
use anyhow::{bail, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Req {
    what: &'static str,
    ok: fn() -> bool,
    deb: &'static str,
    fbsd: &'static str,
}

fn on_path(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn debian_rust() -> bool {
    [guest::DEB_RUSTC, guest::DEB_CARGO, guest::DEB_RUST_SRC]
        .iter()
        .all(|p| Path::new(p).exists())
}

// Prerequisites both commands have.
fn rust_req() -> Req {
    Req {
        what: "Rust with FreeBSD-buildable std sources (/usr/bin/cargo, /usr/lib/rustlib/src)",
        ok: debian_rust,
        deb: guest::DEB_PACKAGES,
        fbsd: "rust",
    }
}

fn libclang_req() -> Req {
    Req {
        what: "libclang (bindgen)",
        ok: || !glob_libclang().is_empty(),
        deb: "libclang-19-dev",
        fbsd: "llvm19",
    }
}

fn git_req() -> Req {
    Req {
        what: "git",
        ok: || on_path("git"),
        deb: "git",
        fbsd: "git",
    }
}

fn python3_req() -> Req {
    Req {
        what: "python3",
        ok: || on_path("python3"),
        deb: "python3",
        fbsd: "python3",
    }
}

/// A C compiler and static libc: the guest's Linux-ABI test program and
/// sigcap-run's tests build static C programs.
fn cc_req() -> Req {
    Req {
        what: "cc and a static libc",
        ok: || !cfg!(target_os = "linux") || (on_path("cc") && Path::new("/usr/lib/x86_64-linux-gnu/libc.a").exists()),
        deb: "gcc libc6-dev",
        fbsd: "",
    }
}

/// What `cargo xtask vmtest` needs: the cross build, the guest programs,
/// the image and QEMU.
pub fn vmtest_reqs() -> Vec<Req> {
    vec![
        git_req(),
        Req {
            what: "patch",
            ok: || on_path("patch"),
            deb: "patch",
            fbsd: "",
        },
        python3_req(),
        Req {
            what: "flock",
            ok: || on_path("flock"),
            deb: "util-linux",
            fbsd: "",
        },
        Req {
            what: "clang + lld",
            ok: || cfg!(target_os = "freebsd") || cross_bindir().is_ok(),
            deb: "clang-19 lld-19 llvm-19",
            fbsd: "",
        },
        Req {
            what: "libarchive headers",
            ok: || cfg!(target_os = "freebsd") || Path::new("/usr/include/archive.h").exists(),
            deb: "libarchive-dev",
            fbsd: "",
        },
        Req {
            what: "libbz2 headers",
            ok: || cfg!(target_os = "freebsd") || Path::new("/usr/include/bzlib.h").exists(),
            deb: "libbz2-dev",
            fbsd: "",
        },
        Req {
            what: "flex",
            ok: || on_path("flex"),
            deb: "flex",
            fbsd: "",
        },
        Req {
            what: "bison",
            ok: || on_path("bison") || cfg!(target_os = "freebsd"),
            deb: "bison",
            fbsd: "",
        },
        cc_req(),
        Req {
            what: "qemu-system-x86_64",
            ok: || on_path("qemu-system-x86_64"),
            deb: "qemu-system-x86",
            fbsd: "qemu-nox11",
        },
        Req {
            what: "xorriso",
            ok: || on_path("xorriso"),
            deb: "xorriso",
            fbsd: "xorriso",
        },
        rust_req(),
        libclang_req(),
    ]
}

/// What `cargo xtask test` needs beyond a Rust toolchain: the FreeBSD
/// type-check (Debian's Rust with std sources), bindgen (libclang), and
/// the programs sigcap-run's and xtask's tests run (strace, curl, tar, a C
/// compiler with static libc, ip for network namespaces, python3, git).
pub fn test_reqs() -> Vec<Req> {
    vec![
        rust_req(),
        libclang_req(),
        git_req(),
        Req {
            what: "strace (sigcap-run's tests compare with it)",
            ok: || !cfg!(target_os = "linux") || on_path("strace"),
            deb: "strace",
            fbsd: "",
        },
        Req {
            what: "curl and tar (programs sigcap-run's tests run)",
            ok: || on_path("curl") && on_path("tar"),
            deb: "curl tar",
            fbsd: "curl",
        },
        Req {
            what: "jq, sqlite3 and file (programs sigcap-run's replay test runs)",
            ok: || on_path("jq") && on_path("sqlite3") && on_path("file"),
            deb: "jq sqlite3 file",
            fbsd: "jq sqlite3",
        },
        cc_req(),
        Req {
            what: "ip (network namespaces for the resolver test)",
            ok: || !cfg!(target_os = "linux") || on_path("ip"),
            deb: "iproute2",
            fbsd: "",
        },
        python3_req(),
    ]
}

/// `cargo xtask deps`: both lists, each package once.
pub fn all_reqs() -> Vec<Req> {
    let mut v = vmtest_reqs();
    for r in test_reqs() {
        if !v.iter().any(|x| x.what == r.what) {
            v.push(r);
        }
    }
    v
}

/// Check `reqs`; print what is missing with the install command for
/// Debian/Ubuntu and FreeBSD; with `install` (and as root) install it.
pub fn ensure(what_for: &str, reqs: &[Req], install: bool) -> Result<()> {
    let missing: Vec<&Req> = reqs.iter().filter(|r| !(r.ok)()).collect();
    if missing.is_empty() {
        eprintln!("xtask: deps: all host prerequisites of {what_for} present");
        return Ok(());
    }
    let deb: Vec<&str> = missing.iter().map(|r| r.deb).filter(|s| !s.is_empty()).collect();
    let fb: Vec<&str> = missing.iter().map(|r| r.fbsd).filter(|s| !s.is_empty()).collect();
    eprintln!(
        "xtask: deps: missing for {what_for}: {}",
        missing.iter().map(|r| r.what).collect::<Vec<_>>().join(", ")
    );
    let debcmd = format!("apt-get install -y {}", deb.join(" "));
    eprintln!("  Debian/Ubuntu: sudo {debcmd}");
    if !fb.is_empty() {
        eprintln!("  FreeBSD:       sudo pkg install -y {}", fb.join(" "));
    }
    if !install {
        bail!(
            "host prerequisites of {what_for} missing (see above); as root, `cargo xtask vmtest`, \
             `cargo xtask test` and `cargo xtask deps --install-deps` install them"
        );
    }
    if !is_root() {
        bail!("host prerequisites missing and not running as root: run the install command above, then again");
    }
    // A fresh Debian has no package lists yet: update first.
    let cmd = if cfg!(target_os = "freebsd") {
        format!("pkg install -y {}", fb.join(" "))
    } else {
        format!(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {}",
            deb.join(" ")
        )
    };
    eprintln!("xtask: deps: installing: {cmd}");
    let st = Command::new("sh").args(["-c", &cmd]).status()?;
    if !st.success() {
        bail!("deps: `{cmd}` failed ({st})");
    }
    let still: Vec<&str> = reqs.iter().filter(|r| !(r.ok)()).map(|r| r.what).collect();
    if !still.is_empty() {
        bail!("deps: still missing after the install: {}", still.join(", "));
    }
    eprintln!("xtask: deps: installed");
    Ok(())
}

/// Are we root (so that installing packages can work)?
pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

fn glob_libclang() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for d in ["/usr/lib", "/usr/local/lib"] {
        if let Ok(rd) = fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path().join("lib");
                if e.file_name().to_string_lossy().starts_with("llvm") {
                    if let Ok(r2) = fs::read_dir(&p) {
                        if r2
                            .flatten()
                            .any(|f| f.file_name().to_string_lossy().starts_with("libclang"))
                        {
                            v.push(p);
                        }
                    }
                }
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(what: &'static str, ok: fn() -> bool, deb: &'static str) -> Req {
        Req {
            what,
            ok,
            deb,
            fbsd: "",
        }
    }

    #[test]
    fn present_prerequisites_pass_and_missing_ones_are_an_error_without_install() {
        assert!(ensure("x", &[req("sh", || true, "dash")], false).is_ok());
        let e = ensure(
            "the test command",
            &[req("sh", || true, "dash"), req("nothing", || false, "no-such-pkg")],
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("the test command") && e.contains("--install-deps"), "{e}");
    }

    #[test]
    fn deps_lists_every_prerequisite_once_and_covers_both_commands() {
        let all = all_reqs();
        for (i, r) in all.iter().enumerate() {
            assert!(!all[..i].iter().any(|x| x.what == r.what), "{} twice", r.what);
        }
        for r in vmtest_reqs().iter().chain(test_reqs().iter()) {
            assert!(all.iter().any(|x| x.what == r.what), "{} missing from `deps`", r.what);
        }
        // The test command's packages are the ones .ci/run installs.
        let ci = std::fs::read_to_string(crate::host_test::workspace_root().join(".ci/run")).unwrap();
        for r in test_reqs() {
            for pkg in r.deb.split_whitespace() {
                assert!(ci.contains(pkg), ".ci/run does not install {pkg} ({})", r.what);
            }
        }
    }
}
