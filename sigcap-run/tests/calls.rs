//! Programs that manage files (issue #11 item 5): mv (renameat2), ln -s
//! (symlinkat), chmod (fchmodat), touch -d (utimensat by path), cp -p and
//! GNU tar extracting as root with owners, modes and times (fchownat,
//! fchmodat, utimensat, symlinkat) run permissively to completion, then
//! again under the policy they suggest. Compared: exit status, output,
//! and the files left with their kind, content, link target, mode,
//! owner and modification time.
#![cfg(target_os = "linux")]
mod common;
use common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

/// What a user would look at: every entry under `dir` (but the archive),
/// its kind and content or target, mode, owner, and the modification
/// time of what is not a directory (a directory's changes with every
/// entry made in it).
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let what = if m.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else if m.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(&p).unwrap().display())
            } else {
                format!(
                    "file {:?} mtime {}",
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap()),
                    m.mtime()
                )
            };
            let mode = if m.file_type().is_symlink() {
                0
            } else {
                m.mode() & 0o7777
            };
            out.insert(rel, format!("{what} mode {mode:o} owner {}:{}", m.uid(), m.gid()));
        }
    }
    out
}

fn set_mtime(p: &Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

fn root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// work/: f.txt (0640, an old time) and, as root, a.tar holding a
/// directory, a file owned by 1234:4321 with mode 0750 and a time of
/// 2001, and a relative symlink.
fn fixture(work: &Path, with_tar: bool) {
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work).unwrap();
    std::fs::write(work.join("f.txt"), "hello sigcap\n").unwrap();
    std::fs::set_permissions(work.join("f.txt"), std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    set_mtime(&work.join("f.txt"), 1_000_000_000);
    if with_tar {
        let stage = work.with_extension("stage");
        let _ = std::fs::remove_dir_all(&stage);
        std::fs::create_dir_all(stage.join("x/d")).unwrap();
        std::fs::write(stage.join("x/d/owned"), "owned\n").unwrap();
        std::fs::set_permissions(
            stage.join("x/d/owned"),
            std::os::unix::fs::PermissionsExt::from_mode(0o750),
        )
        .unwrap();
        std::os::unix::fs::chown(stage.join("x/d/owned"), Some(1234), Some(4321)).unwrap();
        set_mtime(&stage.join("x/d/owned"), 981_173_106);
        std::os::unix::fs::symlink("d/owned", stage.join("x/link")).unwrap();
        let st = Command::new("tar")
            .current_dir(&stage)
            .args(["cf", work.join("a.tar").to_str().unwrap(), "x"])
            .status()
            .unwrap();
        assert!(st.success());
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    files: BTreeMap<String, String>,
}

fn run(base: &Path, opts: &[&str], cmd: &[&str], with_tar: bool) -> Run {
    let work = base.join("work");
    fixture(&work, with_tar);
    let out = output_within(tool_in(&work, opts, cmd).env("TZ", "UTC"), 60);
    let mut files = snapshot(&work);
    files.remove("a.tar");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        files,
    }
}

/// The same command unconfined, for what it should leave.
fn plain(base: &Path, cmd: &[&str], with_tar: bool) -> Run {
    let work = base.join("work");
    fixture(&work, with_tar);
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .current_dir(&work)
        .env("LC_ALL", "C.UTF-8")
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let mut files = snapshot(&work);
    files.remove("a.tar");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        files,
    }
}

#[test]
fn file_managing_programs_run_permissively_and_replay_their_policy() {
    let mut cases: Vec<(&str, Vec<&str>, bool)> = vec![
        ("mv", vec!["mv", "f.txt", "moved.txt"], false),
        ("ln -s", vec!["ln", "-s", "f.txt", "link"], false),
        ("chmod", vec!["chmod", "600", "f.txt"], false),
        ("touch -d", vec!["touch", "-d", "2001-02-03T04:05:06", "f.txt"], false),
        ("cp -p", vec!["cp", "-p", "f.txt", "copy.txt"], false),
    ];
    if root() {
        // GNU tar as root restores owners, modes and times by default.
        cases.push(("tar x (root)", vec!["tar", "xf", "a.tar"], true));
    } else {
        eprintln!("SKIPPED tar x as root: not running as root");
    }
    for (name, cmd, with_tar) in cases {
        let t = tempfile::Builder::new().prefix("sigcap-run-calls.").tempdir().unwrap();
        let base = t.path();
        let want = plain(base, &cmd, with_tar);
        assert_eq!(want.code, Some(0), "{name} fails unconfined: {}", want.stderr);
        let pol = base.join("p.toml");
        let rep = base.join("r.json");
        let first = run(
            base,
            &[
                "--suggest-policy",
                pol.to_str().unwrap(),
                "--report",
                rep.to_str().unwrap(),
            ],
            &cmd,
            with_tar,
        );
        let report = std::fs::read_to_string(&rep).unwrap();
        assert_eq!(
            first.code,
            Some(0),
            "{name}: permissive run: {}\n{report}",
            first.stderr
        );
        assert_eq!(first.files, want.files, "{name}: permissive run left other files");
        assert_eq!(first.stdout, want.stdout, "{name}: output");
        assert!(
            !report.contains("\"unsupported\""),
            "{name}: calls left unsupported:\n{report}"
        );
        let policy = std::fs::read_to_string(&pol).unwrap();
        eprintln!("--- {name}: suggested policy\n{policy}");
        let again = run(base, &["--policy", pol.to_str().unwrap()], &cmd, with_tar);
        assert_eq!(again.code, Some(0), "{name}: replay: {}\n{policy}", again.stderr);
        assert_eq!(again.files, want.files, "{name}: replay left other files\n{policy}");
        assert_eq!(again.stdout, want.stdout, "{name}: replay output");
        // Nothing broader than the working directory.
        let p = sigcap::Policy::from_toml(&policy).unwrap();
        let work = base.join("work");
        for r in p.fs_rules() {
            assert!(
                r.root.starts_with(&work) || !r.access.contains(sigcap::Access::WRITE),
                "{name}: writable rule outside the work directory: {}\n{policy}",
                r.root.display()
            );
        }
    }
}

#[test]
fn a_narrower_policy_still_refuses_the_change() {
    // chmod under a read-only rule for the file: refused, file unchanged.
    let t = tempfile::Builder::new().prefix("sigcap-run-calls.").tempdir().unwrap();
    let base = t.path();
    let pol = base.join("ro.toml");
    let work = base.join("work");
    std::fs::write(
        &pol,
        format!(
            "[[fs]]\npath = \"{}\"\naccess = [\"read\"]\n",
            work.join("f.txt").display()
        ),
    )
    .unwrap();
    let r = run(
        base,
        &["--policy", pol.to_str().unwrap()],
        &["chmod", "600", "f.txt"],
        false,
    );
    assert_ne!(r.code, Some(0), "chmod under a read rule succeeded");
    assert!(r.files["f.txt"].contains("mode 640"), "{:?}", r.files);
}

/// procfs' `self` names whoever looks it up, and under sigcap-run the
/// broker looks up every path the program names: `/proc/self` used to be
/// the broker's (its pid, its descriptors, its status), silently. Now the
/// program sees itself, by name and through `/dev/fd`, in permissive
/// mode and under a policy granting `/proc` and `/dev`; `/proc/self`
/// itself is still a symlink, readlink says the program's pid, and a
/// thread's `/proc/thread-self` is its own. Without a rule for `/proc`,
/// `/dev/fd` (a link into it) is refused, not answered by the broker.
#[test]
fn procfs_self_is_the_program_not_the_broker() {
    let t = tempfile::Builder::new().prefix("sigcap-run-proc.").tempdir().unwrap();
    let d = t.path();
    let script = r#"
import os, stat, threading, json
pid = os.getpid()
f = open("marker", "w")
out = {
    "readlink": os.readlink("/proc/self") == str(pid),
    "is_link": stat.S_ISLNK(os.lstat("/proc/self").st_mode),
    "status": f"Pid:\t{pid}\n" in open("/proc/self/status").read(),
    "fds": sorted(os.listdir("/proc/self/fd")) == sorted(os.listdir(f"/proc/{pid}/fd")),
    "marker_fd": str(f.fileno()) in os.listdir("/proc/self/fd"),
    "dev_fd": sorted(os.listdir("/dev/fd")) == sorted(os.listdir(f"/proc/{pid}/fd")),
}
# open(2) gives the lowest free number, through the broker too (a link
# out of the root goes there): daemons redirect stdin so.
if os.path.lexists("link"):
    os.unlink("link")
os.symlink(os.path.abspath("marker"), "link")
os.close(0)
fd = os.open("link", os.O_RDONLY)
out["lowest"] = fd == 0

def thread():
    tid = threading.get_native_id()
    out["thread_link"] = os.readlink("/proc/thread-self") == f"{pid}/task/{tid}"
    out["thread_status"] = f"Pid:\t{tid}\n" in open("/proc/thread-self/status").read()
th = threading.Thread(target=thread)
th.start()
th.join()
print(json.dumps(out, sort_keys=True))
"#;
    let all_true = r#"{"dev_fd": true, "fds": true, "is_link": true, "lowest": true, "marker_fd": true, "readlink": true, "status": true, "thread_link": true, "thread_status": true}"#;
    let cmd = ["/usr/bin/python3", "-c", script];
    let r = common::run(d, &[], &cmd);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout().trim(), all_true);

    let pol = d.join("p.toml");
    let dir = d.to_str().unwrap();
    std::fs::write(
        &pol,
        format!(
            "[[fs]]\npath = \"/\"\naccess = [\"read\"]\n\n[[fs]]\npath = \"{dir}\"\naccess = [\"read\", \"write\", \"create\"]\n"
        ),
    )
    .unwrap();
    let r = common::run(d, &["--policy", pol.to_str().unwrap()], &cmd);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout().trim(), all_true);

    // /dev and the program's directory, no /proc: the link into /proc is
    // refused where it leads.
    std::fs::write(
        &pol,
        "[[fs]]\npath = \"/dev\"\naccess = [\"read\"]\n\n[[fs]]\npath = \"/usr\"\naccess = [\"read\"]\n\n[[fs]]\npath = \"/etc\"\naccess = [\"read\"]\n",
    )
    .unwrap();
    let r = common::run(
        d,
        &["--policy", pol.to_str().unwrap()],
        &[
            "/usr/bin/python3",
            "-c",
            "import os\ntry:\n    os.listdir('/dev/fd'); print('listed')\nexcept OSError as e:\n    print(e.errno)",
        ],
    );
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout().trim(), libc::EPERM.to_string(), "{}", r.stderr());
    let v = r.find("openat", "/dev/fd");
    assert_eq!(v[0]["decision"], "denied", "{v:#?}");
    assert_eq!(v[0]["args"]["via"], "/proc/self/fd", "{v:#?}");
}
