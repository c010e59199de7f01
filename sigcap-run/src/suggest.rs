//! The least policy that would have allowed a run.
//!
//! Each brokered (or refused) path operation needs an access mode under
//! some root. Roots must exist when the sandbox is entered, so the root
//! for a path is the path itself if it existed then, else its nearest
//! ancestor that did (creating `out/a/b` needs `create` on `out`).
//! A path "existed at enter" unless the run created it (a successful
//! mkdir or O_CREAT open before any other successful use), and it exists
//! now or the run removed it. Nested rules inherit their ancestors' modes
//! (the policy's longest match wins) and are dropped when that makes them
//! redundant. Network destinations become exact connect/bind rules.
use crate::report::{decode, Op, Resolver, Stream};
use anyhow::Result;
use sigcap::{Access, NetTarget, Policy};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// What an operation needs under its rule (mirrors the broker).
fn open_access(flags: i32) -> Access {
    let mut a = match flags & libc::O_ACCMODE {
        libc::O_RDONLY => Access::READ,
        libc::O_WRONLY => Access::WRITE,
        _ => Access::READ | Access::WRITE,
    };
    if flags & (libc::O_TRUNC | libc::O_APPEND) != 0 {
        a |= Access::WRITE;
    }
    if flags & libc::O_CREAT != 0 {
        a |= Access::CREATE;
    }
    #[cfg(target_os = "linux")]
    {
        if flags & libc::O_TMPFILE == libc::O_TMPFILE {
            a |= Access::CREATE;
        }
        if flags & libc::O_PATH != 0 {
            a = Access::READ;
        }
    }
    a
}

/// The policy, and notes on what it leaves out.
pub fn least_policy(stream: &Stream) -> Result<(Policy, Vec<String>)> {
    let mut notes = Vec::new();
    let mut resolver = Resolver::default();
    let mut created: HashSet<PathBuf> = HashSet::new();
    let mut used: HashSet<PathBuf> = HashSet::new();
    let mut removed: HashSet<PathBuf> = HashSet::new();
    let mut needs: Vec<(PathBuf, Access)> = Vec::new();
    let mut policy = Policy::new();
    for r in &stream.records {
        if r.decision == "unsupported" || r.decision == "allowed-by-descriptor" {
            continue;
        }
        let d = decode(r);
        let op = d.op.unwrap_or(Op::Other);
        match op {
            Op::Connect | Op::Sendto | Op::Bind => {
                if let Some(t) = d.address.as_deref().and_then(|a| NetTarget::parse(a).ok()) {
                    if op == Op::Bind {
                        policy.allow_bind(t);
                    } else {
                        policy.allow_connect(t);
                    }
                }
                continue;
            }
            Op::Signal | Op::Other => continue,
            _ => {}
        }
        // No path, or a descriptor from before enter (its own authority).
        let Some(abs) = resolver.resolve(stream, r, &d) else {
            continue;
        };
        let ok = r.result >= 0;
        let access = match op {
            Op::Open => {
                let f = d.open_flags.unwrap_or(0);
                if ok && f & libc::O_CREAT != 0 && !used.contains(&abs) {
                    created.insert(abs.clone());
                }
                open_access(f)
            }
            Op::Stat | Op::Access | Op::Readlink => Access::READ,
            Op::Mkdir => {
                if ok && !used.contains(&abs) {
                    created.insert(abs.clone());
                }
                Access::CREATE
            }
            Op::Unlink | Op::Rename => {
                if ok {
                    removed.insert(abs.clone());
                }
                Access::WRITE
            }
            _ => continue,
        };
        if ok {
            used.insert(abs.clone());
        }
        // glibc's NSS stats "/" to notice a chroot; allowing it would take a
        // read rule on the whole file system, and NSS works without it.
        if abs == Path::new("/") && matches!(op, Op::Stat | Op::Access) {
            let n = format!("left out: {}(\"/\") would need read on /", r.name);
            if !notes.contains(&n) {
                notes.push(n);
            }
            continue;
        }
        if r.decision == "denied" && r.reason.as_deref() == Some("escape") {
            let n = format!(
                "left out: {} resolves outside its root (absolute symlink?); no rule can allow it",
                abs.display()
            );
            if !notes.contains(&n) {
                notes.push(n);
            }
            continue;
        }
        needs.push((abs, access));
    }
    let existed =
        |p: &Path| -> bool { !created.contains(p) && (std::fs::symlink_metadata(p).is_ok() || removed.contains(p)) };
    let mut roots: BTreeMap<PathBuf, Access> = BTreeMap::new();
    for (abs, access) in needs {
        let mut root = abs.clone();
        while !existed(&root) {
            if !root.pop() {
                break;
            }
        }
        *roots.entry(root).or_insert(Access::NONE) |= access;
    }
    // Longest match wins: a nested rule must carry its ancestors' modes.
    let snapshot = roots.clone();
    for (root, acc) in roots.iter_mut() {
        for (other, oacc) in &snapshot {
            if other != root && root.starts_with(other) {
                *acc |= *oacc;
            }
        }
    }
    let nearest_ancestor = |root: &Path| -> Option<Access> {
        let mut p = root.to_owned();
        while p.pop() {
            if let Some(a) = roots.get(&p) {
                return Some(*a);
            }
        }
        None
    };
    for (root, acc) in &roots {
        if nearest_ancestor(root) == Some(*acc) {
            continue;
        }
        policy.allow_fs(root, *acc)?;
    }
    Ok((policy, notes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::parse_stream;

    fn rec(seq: u64, name: &str, args: [i64; 4], detail: &str, result: i64) -> String {
        serde_json::json!({
            "seq": seq, "pid": 7, "tid": 7, "backend": "linux-seccomp", "syscall": 0, "name": name,
            "args": [args[0] as u64, args[1] as u64, args[2] as u64, args[3] as u64, 0, 0],
            "errno": 1, "class": "namei", "ip": 0, "detail": detail,
            "decision": "allowed", "rule": 0, "result": result, "stack": []
        })
        .to_string()
    }

    #[test]
    fn roots_exist_at_enter_and_nested_rules_inherit() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("in.txt"), "x").unwrap();
        std::fs::create_dir(d.join("ro")).unwrap();
        std::fs::write(d.join("ro/f"), "x").unwrap();
        // The run created out/ and out/new (they exist now, but not at enter).
        std::fs::create_dir_all(d.join("out/new")).unwrap();
        let dd = d.to_str().unwrap();
        let at = libc::AT_FDCWD as i64;
        let creat = (libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL) as i64;
        let lines = [
            format!("{{\"event\":\"enter\",\"pid\":7,\"backend\":\"linux-seccomp\",\"mode\":\"permissive\",\"cwd\":\"{dd}\"}}"),
            rec(1, "openat", [at, 0, 0, 0], "in.txt", 3),
            rec(2, "mkdirat", [at, 0, 0o755, 0], "out", 0),
            rec(3, "openat", [at, 0, libc::O_RDONLY as i64 | libc::O_DIRECTORY as i64, 0], "out", 4),
            rec(4, "mkdirat", [4, 0, 0o755, 0], "new", 0),
            rec(5, "openat", [4, 0, creat, 0o644], "new/file", 5),
            rec(6, "newfstatat", [at, 0, 0, 0], &format!("{dd}/ro/f"), 0),
            rec(7, "newfstatat", [at, 0, 0, 0], &format!("{dd}/ro"), 0),
            rec(8, "newfstatat", [at, 0, 0, 0], "/", 0),
            serde_json::json!({"seq": 9, "pid": 7, "tid": 7, "backend": "linux-seccomp", "syscall": 42,
                "name": "connect", "args": [3, 0, 16, 0, 0, 0], "errno": 1, "class": "sockaddr", "ip": 0,
                "detail": "127.0.0.1:8080", "decision": "allowed", "rule": 0, "result": 0, "stack": []})
            .to_string(),
        ];
        let s = parse_stream(&lines.join("\n"));
        let (p, notes) = least_policy(&s).unwrap();
        let rules: Vec<(String, String)> = p
            .fs_rules()
            .iter()
            .map(|r| (r.root.display().to_string(), r.access.to_string()))
            .collect();
        assert_eq!(
            rules,
            vec![
                // out/ did not exist at enter: creating it needs create on its parent,
                // which also covers everything made beneath it.
                (dd.to_string(), "read+write+create".to_string()),
            ],
            "{rules:?}"
        );
        assert_eq!(p.connect_rules()[0].to_string(), "127.0.0.1:8080");
        assert!(notes.iter().any(|n| n.contains("newfstatat(\"/\")")), "{notes:?}");

        // Without the creations, reads keep their own narrow roots.
        let reads = [lines[0].clone(), lines[1].clone(), lines[6].clone(), lines[7].clone()];
        let (p, _) = least_policy(&parse_stream(&reads.join("\n"))).unwrap();
        let roots: Vec<String> = p.fs_rules().iter().map(|r| r.root.display().to_string()).collect();
        assert_eq!(roots, vec![format!("{dd}/in.txt"), format!("{dd}/ro")]);
    }
}
