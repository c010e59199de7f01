//! The least policy that would have allowed a run.
//!
//! Each brokered (or refused) path operation needs an access mode under
//! some root. Roots must exist when the sandbox is entered, so:
//!
//! - a path that existed at enter is its own root: one rule per file the
//!   program touched, one per directory it opened or looked at itself;
//! - a path the run created needs `create` on its nearest ancestor that
//!   existed (creating `out/a/b` needs `create` on `out`);
//! - a failed probe (ENOENT, ENOTDIR: a missing `~/.curlrc`) grants
//!   nothing: it is listed as a comment; under the policy the program gets
//!   EPERM instead of ENOENT there;
//! - a directory rule replaces the rules of its entries only where the
//!   program used at least [`DIR_RULE_MIN_ENTRIES`] distinct entries of it,
//!   and never for `/`, a top-level directory (`/etc`, `/usr`, ...),
//!   `/home` or a home directory;
//! - `/`, `/home` and home directories are never roots: what needs one is
//!   left out, with a comment saying what will then fail;
//! - what the run removed or renamed away cannot be a root (the broker
//!   works beneath a root, not on it): its rule moves to its parent;
//! - a path whose symlinks led out of its root (the record's `via`, the
//!   path the broker used): the link needs read on its own path (the
//!   broker reads it to follow it), the path it led to the call's access
//!   (decided there). A link to a target the run created gets read on its
//!   directory instead (a rule on a dangling link could not be opened at
//!   enter).
//!
//! A path "existed at enter" unless the run created it (a successful
//! mkdir or O_CREAT open before any other successful use), and it exists
//! now or the run removed it. A path that worked during the run but is
//! gone, not removed by the run, cannot be placed (a descriptor sigcap-run
//! could not follow): it is left out with a comment. Nested rules inherit
//! their ancestors' modes (the policy's longest match wins) and are
//! dropped when that makes them redundant. Network destinations become
//! exact connect/bind rules.
use crate::report::{decode, Op, Resolver, Stream};
use anyhow::Result;
use sigcap::{Access, NetTarget, Policy, SysctlRule};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// What an open needs under its rule, for the forms the broker's table
/// does not decode (openat2: its flags are behind a pointer); the rest
/// come from [`sigcap::access_for_call`].
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

/// A directory rule stands in for its entries' rules when the program used
/// at least this many distinct entries of the directory.
pub const DIR_RULE_MIN_ENTRIES: usize = 4;

/// At most this many probes are listed one by one (noise groups count one).
pub const PROBES_LISTED: usize = 32;

/// Home directories (and `/home`): never suggested wholesale.
fn is_home(p: &Path) -> bool {
    p == Path::new("/root")
        || p == Path::new("/home")
        || p == Path::new("/usr/home")
        || p.parent() == Some(Path::new("/home"))
        || p.parent() == Some(Path::new("/usr/home"))
        || std::env::var_os("HOME").is_some_and(|h| !h.is_empty() && Path::new(&h) == p)
}

/// Roots too wide to suggest from what one program did.
fn never_root(p: &Path) -> bool {
    p.parent().is_none() || is_home(p)
}

/// `text` as one TOML comment line. The program chooses what comments
/// carry (its arguments, the names it probes): a control character, a
/// newline above all, is written escaped, so that nothing can end the
/// comment and add a rule to a policy someone replays.
pub fn comment(text: &str) -> String {
    let mut line = String::from("# ");
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line.push('\n');
    line
}

fn note(notes: &mut Vec<String>, n: String) {
    if !notes.contains(&n) {
        notes.push(n);
    }
}

/// The policy, and comment lines: what it leaves out, and the probes.
pub fn least_policy(stream: &Stream) -> Result<(Policy, Vec<String>)> {
    let mut notes = Vec::new();
    let mut resolver = Resolver::new(stream);
    let mut created: HashSet<PathBuf> = HashSet::new();
    let mut used: HashSet<PathBuf> = HashSet::new();
    let mut removed: HashSet<PathBuf> = HashSet::new();
    let mut needs: Vec<(PathBuf, Access, String)> = Vec::new();
    // Failed looks at a path, kept in case the run creates it later.
    let mut looked_before_made: Vec<(PathBuf, Access, String)> = Vec::new();
    // path -> the error of its (first) failed probe
    let mut probes: BTreeMap<PathBuf, String> = BTreeMap::new();
    // (link, the path it led to, call): read on the link.
    let mut links: Vec<(PathBuf, PathBuf, String)> = Vec::new();
    // Directories the program changed into (after the rules: one on the
    // way to a root needs none).
    let mut chdirs: Vec<PathBuf> = Vec::new();
    // Directories opened as such on FreeBSD (a descriptor the program
    // then works beneath in the kernel, unrecorded).
    let mut dir_handles: Vec<PathBuf> = Vec::new();
    // Whether a program was run (a brokered exec, FreeBSD).
    let mut execs = false;
    let mut policy = Policy::new();
    for r in &stream.records {
        if r.decision == "unsupported" || r.decision == "not-brokered" || r.decision == "allowed-by-descriptor" {
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
                // A Unix socket bound to a path makes that file.
                let unix_path = d.address.as_deref().and_then(|a| a.strip_prefix("unix:"));
                if let (Op::Bind, Some(p), true) = (op, unix_path, r.result >= 0) {
                    if p.starts_with('/') {
                        created.insert(PathBuf::from(p));
                    }
                }
                continue;
            }
            Op::Sysctl => {
                if r.reason.as_deref() != Some("bad-request") {
                    if let Some(rule) = d.sysctl.as_deref().and_then(|n| SysctlRule::for_node(n).ok()) {
                        policy.allow_sysctl(rule);
                    }
                }
                continue;
            }
            Op::Signal | Op::Other => continue,
            _ => {}
        }
        let ok = r.result >= 0;
        // What each place needs: the broker's own table
        // (sigcap::access_for_call), the first path's and a rename's or
        // link's target's. Calls sigcap cannot decode here (openat2)
        // fall back to the record's flags.
        let (first, second) = sigcap::access_for_call(r.syscall, r.args)
            .unwrap_or_else(|| (open_access(d.open_flags.unwrap_or(0)), Access::NONE));
        let exchange = r.name == "renameat2" && r.args[4] as i32 & libc::RENAME_EXCHANGE as i32 != 0;
        // The target of a rename or a link: created by the run (unless
        // swapped in by an exchange), reached from its own rule.
        if let Some(t) = crate::report::second_place(&d) {
            if let Some(abs2) = resolver.resolve(stream, r, &t) {
                if ok && !exchange && !used.contains(&abs2) {
                    created.insert(abs2.clone());
                }
                if ok {
                    used.insert(abs2.clone());
                }
                if r.result != -(libc::ENOENT as i64) && r.result != -(libc::ENOTDIR as i64) {
                    // A rename may have replaced a file there, which takes
                    // write too (the broker otherwise refuses with EEXIST).
                    let replace = if op == Op::Rename { Access::WRITE } else { Access::NONE };
                    needs.push((abs2, second | replace, r.name.clone()));
                }
            }
        }
        // No path, or a descriptor sigcap-run cannot follow.
        let Some(asked) = resolver.resolve(stream, r, &d) else {
            continue;
        };
        // Symlinks led out of the path's root: the call acted on the path
        // the broker used, and the link was read on the way.
        let link = d.via.as_ref().map(|_| asked.clone());
        let abs = d.via.as_deref().map(PathBuf::from).unwrap_or(asked);
        let access = match op {
            Op::Open => {
                let f = d.open_flags.unwrap_or(0);
                if ok && f & libc::O_CREAT != 0 && !used.contains(&abs) {
                    created.insert(abs.clone());
                }
                if ok && f & libc::O_DIRECTORY != 0 && r.backend.starts_with("freebsd") {
                    dir_handles.push(abs.clone());
                }
                first
            }
            Op::Mkdir | Op::Mknod | Op::Symlink => {
                if ok && !used.contains(&abs) {
                    created.insert(abs.clone());
                }
                first
            }
            Op::Unlink | Op::Rename => {
                if ok && !exchange {
                    removed.insert(abs.clone());
                }
                first
            }
            Op::Chdir => {
                if ok || r.decision == "denied" && r.reason.as_deref() != Some("escape") {
                    chdirs.push(abs);
                }
                continue;
            }
            Op::Stat | Op::Access | Op::Readlink | Op::Link | Op::Attr => first,
            Op::Exec => {
                if ok {
                    execs = true;
                    // The program, and a script's interpreter (the
                    // record's detail2), decided as a program of its own;
                    // each needs exec on the path named and on the file
                    // it resolves to (/usr/bin/sh -> dash), as a symlink
                    // is followed only to a target that is allowed too.
                    let interp = d.path2.as_deref().filter(|p| p.starts_with('/')).map(PathBuf::from);
                    for named in std::iter::once(link.clone().unwrap_or_else(|| abs.clone())).chain(interp) {
                        let real = std::fs::canonicalize(&named).ok().filter(|c| *c != named);
                        for p in std::iter::once(named).chain(real) {
                            used.insert(p.clone());
                            needs.push((p, Access::EXEC, r.name.clone()));
                        }
                    }
                    continue;
                }
                // Linux's execve is no call the runtime brokers (its
                // table has no access for it): sigcap-run decides it.
                Access::EXEC
            }
            _ => continue,
        };
        if ok {
            used.insert(abs.clone());
        }
        // A failed probe: the program looked for something that is not
        // there. It widens nothing.
        if r.result == -(libc::ENOENT as i64) || r.result == -(libc::ENOTDIR as i64) {
            // Unless the run made it afterwards (cp looks for its target
            // before creating it): then the look needs its access too, or
            // under the policy it fails with EPERM instead of ENOENT.
            looked_before_made.push((abs.clone(), access, r.name.clone()));
            probes
                .entry(abs)
                .or_insert_with(|| crate::report::errno_name(-r.result as i32));
            continue;
        }
        if r.decision == "denied" && r.reason.as_deref() == Some("escape") {
            note(
                &mut notes,
                format!(
                    "left out: {} climbs out of its root with `..`; no rule can allow it",
                    abs.display()
                ),
            );
            continue;
        }
        if let Some(link) = link {
            links.push((link, abs.clone(), r.name.clone()));
        }
        needs.push((abs, access, r.name.clone()));
    }
    // On FreeBSD a directory descriptor the broker hands out carries the
    // rights its rule grants, and what the program then does beneath it
    // (cp -R's openat(dir, name, O_WRONLY|O_CREAT|O_TRUNC), fchmodat)
    // runs in the kernel with no record: the report cannot say what it
    // needed. For a directory the run made itself, whose contents are
    // the run's own, the policy grants what the permissive run's
    // descriptor carried (read, write, create), and says so.
    // A directory the run opened as a descriptor and made things in (the
    // directory itself, or entries by path: syslogd binds its sockets
    // there, then makes its pid file and removes the sockets through the
    // descriptor).
    for dir in dir_handles {
        let made_in = created.iter().any(|c| c.parent() == Some(dir.as_path()));
        if created.contains(&dir) || made_in {
            let what = if made_in { "made entries in it" } else { "made it" };
            note(
                &mut notes,
                format!(
                    "{}: read, write and create, as the run {what} and worked beneath it through a directory descriptor (FreeBSD runs those calls in the kernel, unrecorded)",
                    dir.display()
                ),
            );
            needs.push((dir, Access::ALL, "open".into()));
        }
    }
    for (abs, access, call) in looked_before_made {
        if created.contains(&abs) {
            probes.remove(&abs);
            needs.push((abs, access, call));
        }
    }
    let existed =
        |p: &Path| -> bool { !created.contains(p) && (std::fs::symlink_metadata(p).is_ok() || removed.contains(p)) };
    for (link, target, call) in links {
        let need = if created.contains(&target) {
            link.parent().map(Path::to_path_buf).unwrap_or(link)
        } else {
            link
        };
        needs.push((need, Access::READ, call));
    }
    // Each need's own root.
    let mut roots: BTreeMap<PathBuf, Access> = BTreeMap::new();
    for (abs, access, call) in needs {
        let mut root = abs.clone();
        if !existed(&root) {
            if !created.contains(&root) {
                note(
                    &mut notes,
                    format!(
                        "left out: {call}({}) worked but the path is gone and the run did not remove it (a descriptor sigcap-run could not follow?)",
                        abs.display()
                    ),
                );
                continue;
            }
            while !existed(&root) {
                if !root.pop() {
                    break;
                }
            }
        }
        if never_root(&root) {
            let what = if root == abs {
                format!("{call}(\"{}\")", abs.display())
            } else {
                format!("{call}(\"{}\"), created by the run,", abs.display())
            };
            // The runtime answers a stat of a directory on the way to a
            // rule's root without a rule of its own.
            let hint = if call.contains("stat") && root == abs {
                "a stat of a directory above a suggested root is answered without one"
            } else {
                "add it yourself if the program needs it"
            };
            note(
                &mut notes,
                format!(
                    "left out: {what} would need {access} on all of {}; not suggested ({hint})",
                    root.display()
                ),
            );
            continue;
        }
        *roots.entry(root).or_insert(Access::NONE) |= access;
    }
    // A root cannot be removed or renamed away through itself (the broker
    // works beneath it): what the run removed is reached from its parent.
    while let Some(gone) = roots.keys().find(|r| removed.contains(*r)).cloned() {
        let acc = roots.remove(&gone).unwrap_or(Access::NONE);
        let Some(parent) = gone.parent().map(Path::to_path_buf) else {
            continue;
        };
        if never_root(&parent) {
            note(
                &mut notes,
                format!(
                    "left out: removing {} needs {} on all of {}; not suggested",
                    gone.display(),
                    acc | Access::WRITE,
                    parent.display()
                ),
            );
            continue;
        }
        *roots.entry(parent).or_insert(Access::NONE) |= acc | Access::WRITE;
    }
    // The run-time linker of a program run by exec finds its libraries
    // in the directories the runtime holds, which it opens only where
    // the policy lets the program read them wholly.
    if execs {
        for dir in sigcap::EXEC_LIBRARY_DIRS.iter().map(Path::new).filter(|d| d.is_dir()) {
            roots.retain(|r, a| !r.starts_with(dir) || r.as_path() == dir || !Access::READ.contains(*a));
            *roots.entry(dir.to_path_buf()).or_insert(Access::NONE) |= Access::READ;
        }
        note(
            &mut notes,
            format!(
                "read on {} for the libraries of the programs run by exec",
                sigcap::EXEC_LIBRARY_DIRS.join(", ")
            ),
        );
    }
    collapse(&mut roots, &mut notes);
    // chdir reads its directory (the broker's rule): read on the root
    // holding it, or on itself; none where it lies on the way to a root
    // (answered without a rule, as a stat of it is).
    for dir in chdirs {
        if roots.keys().any(|r| r != &dir && r.starts_with(&dir)) {
            continue;
        }
        if let Some(holder) = roots
            .keys()
            .filter(|r| dir.starts_with(r))
            .max_by_key(|r| r.components().count())
        {
            let holder = holder.clone();
            *roots.entry(holder).or_insert(Access::NONE) |= Access::READ;
        } else if never_root(&dir) {
            note(
                &mut notes,
                format!(
                    "left out: chdir(\"{}\") would need read on all of it; not suggested",
                    dir.display()
                ),
            );
        } else if dir.is_dir() {
            roots.insert(dir, Access::READ);
        }
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
    probe_notes(&probes, &roots, &mut notes);
    Ok((policy, notes))
}

/// Replaces the rules of a directory's entries by one rule on the
/// directory where the program used enough of them, deepest first (a
/// collapsed directory then counts as one entry of its parent).
fn collapse(roots: &mut BTreeMap<PathBuf, Access>, notes: &mut Vec<String>) {
    loop {
        // Entries used, per directory (a rule anywhere beneath an entry counts for it).
        let mut by_dir: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
        for root in roots.keys() {
            let mut p = root.clone();
            while let Some(parent) = p.parent().map(Path::to_path_buf) {
                by_dir.entry(parent.clone()).or_default().insert(p.clone());
                p = parent;
            }
        }
        let candidate = by_dir
            .iter()
            .filter(|(dir, entries)| {
                entries.len() >= DIR_RULE_MIN_ENTRIES
                    && !roots.contains_key(*dir)
                    && dir.components().count() > 2 // not / nor /etc, /usr, ...
                    && !never_root(dir)
                    && dir.is_dir()
            })
            .max_by_key(|(dir, _)| dir.components().count());
        let Some((dir, entries)) = candidate else { return };
        let dir = dir.clone();
        let n = entries.len();
        let mut acc = Access::NONE;
        roots.retain(|r, a| {
            if r.starts_with(&dir) {
                acc |= *a;
                false
            } else {
                true
            }
        });
        roots.insert(dir.clone(), acc);
        notes.push(format!(
            "{}: one rule for {n} entries the program used (at least {DIR_RULE_MIN_ENTRIES} make a directory rule)",
            dir.display()
        ));
    }
}

/// The failed probes, as comments: noise groups one line each, then the
/// rest, at most [`PROBES_LISTED`] lines. Probes under a suggested rule
/// are left out (the rule already lets the program look).
fn probe_notes(probes: &BTreeMap<PathBuf, String>, roots: &BTreeMap<PathBuf, Access>, notes: &mut Vec<String>) {
    let covered = |p: &Path| roots.keys().any(|r| p.starts_with(r));
    let mut groups: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut rest = Vec::new();
    for (p, err) in probes {
        if covered(p) {
            continue;
        }
        match crate::report::noise_group(&p.to_string_lossy()) {
            Some(g) => *groups.entry(g).or_insert(0) += 1,
            None => rest.push(format!(
                "probe: {} ({err}): no rule; under this policy it fails with EPERM",
                p.display()
            )),
        }
    }
    for (g, n) in groups {
        notes.push(format!("probes: {n} missing {g} file(s): no rule"));
    }
    let more = rest.len().saturating_sub(PROBES_LISTED);
    notes.extend(rest.into_iter().take(PROBES_LISTED));
    if more > 0 {
        notes.push(format!("... and {more} more probe(s) of missing files (see --report)"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::parse_stream;

    #[test]
    fn a_comment_is_one_line_whatever_it_carries() {
        let c = comment("a\n[[fs]]\rpath = \"/\"\u{7f}\u{85}\tend");
        assert_eq!(c, "# a\\n[[fs]]\\rpath = \"/\"\\u{7f}\\u{85}\tend\n");
        assert_eq!(c.lines().count(), 1);
        // A policy reads it as a comment and nothing else.
        let parsed = sigcap::Policy::from_toml(&c).unwrap();
        assert!(parsed.fs_rules().is_empty());
    }

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
        // The run created out/, out/new and out/new/file (they exist now, but not at enter).
        std::fs::create_dir_all(d.join("out/new")).unwrap();
        std::fs::write(d.join("out/new/file"), "").unwrap();
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
        assert!(
            notes
                .iter()
                .any(|n| n.contains("newfstatat(\"/\") would need read on all of /")),
            "{notes:?}"
        );

        // Without the creations, reads keep their own narrow roots.
        let reads = [lines[0].clone(), lines[1].clone(), lines[6].clone(), lines[7].clone()];
        let (p, _) = least_policy(&parse_stream(&reads.join("\n"))).unwrap();
        let roots: Vec<String> = p.fs_rules().iter().map(|r| r.root.display().to_string()).collect();
        assert_eq!(roots, vec![format!("{dd}/in.txt"), format!("{dd}/ro")]);
    }

    fn enter(dir: &str) -> String {
        format!(
            "{{\"event\":\"enter\",\"pid\":7,\"backend\":\"linux-seccomp\",\"mode\":\"permissive\",\"cwd\":\"{dir}\"}}"
        )
    }

    fn rules(lines: &[String]) -> (Vec<(String, String)>, Vec<String>) {
        let (p, notes) = least_policy(&parse_stream(&lines.join("\n"))).unwrap();
        let r = p
            .fs_rules()
            .iter()
            .map(|r| (r.root.display().to_string(), r.access.to_string()))
            .collect();
        (r, notes)
    }

    /// A record with the directory its relative path was resolved in.
    fn rec_in(seq: u64, name: &str, args: [i64; 4], detail: &str, cwd: &str, result: i64) -> String {
        let mut v: serde_json::Value = serde_json::from_str(&rec(seq, name, args, detail, result)).unwrap();
        v["cwd"] = cwd.into();
        v.to_string()
    }

    #[test]
    fn relative_paths_follow_the_directory_of_each_call_and_chdir_reads() {
        let t = tempfile::tempdir().unwrap();
        let dd = t.path().to_str().unwrap().to_string();
        std::fs::create_dir_all(t.path().join("w/a")).unwrap();
        std::fs::write(t.path().join("w/a/f"), "x").unwrap();
        std::fs::write(t.path().join("g"), "x").unwrap();
        let at = libc::AT_FDCWD as i64;
        let wa = format!("{dd}/w/a");
        // Entered in dd, then chdir into w/a: "f" is w/a/f, not dd/f.
        let lines = [
            enter(&dd),
            rec_in(1, "chdir", [0; 4], "w/a", &dd, 0),
            rec_in(2, "openat", [at, 0, 0, 0], "f", &wa, 3),
        ];
        let (r, _) = rules(&lines);
        // chdir to w/a needs no rule: it is on the way to w/a/f's.
        assert_eq!(r, vec![(format!("{dd}/w/a/f"), "read".to_string())]);
        // With nothing used beneath it, the directory is read itself.
        let lines = [
            enter(&dd),
            rec_in(1, "chdir", [0; 4], "w/a", &dd, 0),
            rec(2, "openat", [at, 0, 0, 0], &format!("{dd}/g"), 3),
        ];
        let (r, _) = rules(&lines);
        assert_eq!(
            r,
            vec![
                (format!("{dd}/g"), "read".to_string()),
                (wa.clone(), "read".to_string())
            ]
        );
        // Relative to the directory above: the same.
        let lines = [
            enter(&dd),
            rec_in(1, "chdir", [0; 4], "..", &wa, 0),
            rec_in(2, "openat", [at, 0, 0, 0], "a/f", &format!("{dd}/w"), 3),
        ];
        let (r, _) = rules(&lines);
        assert_eq!(r, vec![(format!("{dd}/w/a/f"), "read".to_string())]);
        // A directory too long for the record: unresolved, no rule.
        let lines = [enter(&dd), rec_in(1, "openat", [at, 0, 0, 0], "g", "", 3)];
        assert_eq!(rules(&lines).0, vec![]);
    }

    #[test]
    fn a_link_out_of_its_root_needs_read_and_its_target_the_calls_access() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        for x in ["a", "w", "z"] {
            std::fs::create_dir(d.join(x)).unwrap();
        }
        std::fs::write(d.join("w/f"), "x").unwrap();
        std::fs::write(d.join("z/zone"), "x").unwrap();
        std::os::unix::fs::symlink(d.join("w/f"), d.join("a/to-w")).unwrap();
        std::os::unix::fs::symlink(d.join("z/zone"), d.join("a/tz")).unwrap();
        // The run created w/made through the dangling link a/mk.
        std::os::unix::fs::symlink(d.join("w/made"), d.join("a/mk")).unwrap();
        std::fs::write(d.join("w/made"), "").unwrap();
        let dd = d.to_str().unwrap();
        let at = libc::AT_FDCWD as i64;
        let via = |mut r: serde_json::Value, via: String| {
            r["via"] = via.into();
            r.to_string()
        };
        let rec_v = |seq, flags: i32, path: &str, result| {
            serde_json::from_str::<serde_json::Value>(&rec(seq, "openat", [at, 0, flags as i64, 0o644], path, result))
                .unwrap()
        };
        let lines = [
            enter(dd),
            via(
                rec_v(1, libc::O_WRONLY | libc::O_TRUNC, "a/to-w", 3),
                format!("{dd}/w/f"),
            ),
            via(rec_v(2, libc::O_RDONLY, "a/tz", 4), format!("{dd}/z/zone")),
            via(
                rec_v(3, libc::O_WRONLY | libc::O_CREAT, "a/mk", 5),
                format!("{dd}/w/made"),
            ),
        ];
        let (r, _) = rules(&lines);
        assert_eq!(
            r,
            vec![
                // a/mk's target was created: read on the link's directory,
                // which then covers a/to-w and a/tz too.
                (format!("{dd}/a"), "read".to_string()),
                // w/f written, w/made created (w/ existed at enter).
                (format!("{dd}/w"), "write+create".to_string()),
                (format!("{dd}/z/zone"), "read".to_string()),
            ],
            "{r:?}"
        );
        // Without the creation: read on each link itself.
        let (r, _) = rules(&lines[..3]);
        assert_eq!(
            r,
            vec![
                (format!("{dd}/a/to-w"), "read".to_string()),
                (format!("{dd}/a/tz"), "read".to_string()),
                (format!("{dd}/w/f"), "write".to_string()),
                (format!("{dd}/z/zone"), "read".to_string()),
            ],
            "{r:?}"
        );
        // The report keeps both paths.
        let s = parse_stream(&lines.join("\n"));
        assert_eq!(decode(&s.records[0]).via.as_deref(), Some(&*format!("{dd}/w/f")));
    }

    #[test]
    fn failed_probes_widen_nothing() {
        let t = tempfile::tempdir().unwrap();
        let dd = t.path().to_str().unwrap().to_string();
        std::fs::write(t.path().join("in.txt"), "x").unwrap();
        let at = libc::AT_FDCWD as i64;
        let enoent = -(libc::ENOENT as i64);
        let lines = [
            enter(&dd),
            rec(1, "openat", [at, 0, 0, 0], &format!("{dd}/.curlrc"), enoent),
            rec(2, "newfstatat", [at, 0, 0, 0], &format!("{dd}/missing/deeper"), enoent),
            rec(3, "openat", [at, 0, 0, 0], "/usr/lib/locale/xx_XX/LC_CTYPE", enoent),
            rec(
                4,
                "openat",
                [at, 0, 0, 0],
                &format!("{dd}/in.txt/sub"),
                -(libc::ENOTDIR as i64),
            ),
            rec(5, "openat", [at, 0, 0, 0], "in.txt", 3),
        ];
        let (r, notes) = rules(&lines);
        assert_eq!(r, vec![(format!("{dd}/in.txt"), "read".to_string())]);
        assert!(
            notes
                .iter()
                .any(|n| n.contains(&format!("probe: {dd}/.curlrc (ENOENT)"))),
            "{notes:?}"
        );
        assert!(
            notes.iter().any(|n| n == "probes: 1 missing locale file(s): no rule"),
            "{notes:?}"
        );
        // Covered by the rule for in.txt: not listed.
        assert!(!notes.iter().any(|n| n.contains("in.txt/sub")), "{notes:?}");
    }

    #[test]
    fn no_root_or_home_from_one_access_and_directories_need_several_entries() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        for f in ["a", "b", "c", "sub/x", "sub/y", "sub/z", "sub/w"] {
            std::fs::create_dir_all(d.join(f).parent().unwrap()).unwrap();
            std::fs::write(d.join(f), f).unwrap();
        }
        let dd = d.to_str().unwrap().to_string();
        let at = libc::AT_FDCWD as i64;
        let mut lines = vec![enter(&dd)];
        for (i, f) in ["a", "b", "c", "sub/x", "sub/y", "sub/z", "sub/w"].iter().enumerate() {
            lines.push(rec(i as u64 + 1, "openat", [at, 0, 0, 0], f, 3));
        }
        lines.push(rec(10, "newfstatat", [at, 0, 0, 0], "/", 0));
        lines.push(rec(11, "newfstatat", [at, 0, 0, 0], "/root", 0));
        let (r, notes) = rules(&lines);
        // sub/ had 4 entries used: one rule. The top has a, b, c and sub: 4 entries, one rule.
        assert_eq!(r, vec![(dd.clone(), "read".to_string())], "{notes:?}");
        assert!(
            notes
                .iter()
                .any(|n| n.contains("newfstatat(\"/root\") would need read on all of /root")),
            "{notes:?}"
        );
        // Three files are three rules.
        let (r, _) = rules(&lines[..4]);
        assert_eq!(
            r.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
            vec![format!("{dd}/a"), format!("{dd}/b"), format!("{dd}/c")]
        );
    }

    #[test]
    fn a_stale_descriptor_resolves_to_nothing_not_to_the_wrong_place() {
        // fts: fd 5 is opened as dir/, closed, and its number reused by a
        // dup(2) of sub/'s descriptor (no record). Relative calls through
        // "5" then really name entries of sub/.
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::create_dir_all(d.join("dir/sub")).unwrap();
        std::fs::write(d.join("dir/sub/only-in-sub"), "").unwrap();
        let dd = d.to_str().unwrap().to_string();
        let at = libc::AT_FDCWD as i64;
        let dirflags = (libc::O_RDONLY | libc::O_DIRECTORY) as i64;
        let lines = [
            enter(&dd),
            rec(1, "openat", [at, 0, dirflags, 0], "/", 5),
            rec(2, "openat", [at, 0, dirflags, 0], "dir", 6),
            rec(3, "newfstatat", [5, 0, 0, 0], "only-in-sub", 0),
            rec(4, "openat", [5, 0, 0, 0], "only-in-sub", 7),
            rec(5, "openat", [7, 0, 0, 0], "x", 8),
        ];
        let s = parse_stream(&lines.join("\n"));
        let mut res = Resolver::new(&s);
        let got: Vec<Option<String>> = s
            .records
            .iter()
            .map(|r| res.resolve(&s, r, &decode(r)).map(|p| p.display().to_string()))
            .collect();
        assert_eq!(got[0].as_deref(), Some("/"));
        assert_eq!(got[2], None, "{got:?}");
        assert_eq!(got[3], None, "{got:?}");
        // Its result is not mapped either: nothing beneath it resolves.
        assert_eq!(got[4], None, "{got:?}");
        let (r, notes) = rules(&lines);
        // "/" is never suggested; the rest is unresolved, not "/only-in-sub".
        assert_eq!(r, vec![(format!("{dd}/dir"), "read".to_string())], "{r:?}");
        assert!(
            notes
                .iter()
                .any(|n| n.contains("openat(\"/\") would need read on all of /")),
            "{notes:?}"
        );
    }

    #[test]
    fn a_script_run_by_exec_grants_exec_on_its_interpreter_too() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("s.sh"), "#!/x/interp\n").unwrap();
        std::fs::create_dir(d.join("bin")).unwrap();
        std::fs::write(d.join("bin/interp"), "").unwrap();
        let dd = d.to_str().unwrap().to_string();
        let mut exec: serde_json::Value = serde_json::from_str(&rec(1, "execve", [0; 4], "s.sh", 0)).unwrap();
        exec["detail2"] = format!("{dd}/bin/interp").into();
        // A failed exec names no interpreter worth a rule.
        let mut failed: serde_json::Value = serde_json::from_str(&rec(2, "execve", [0; 4], "other.sh", -2)).unwrap();
        failed["detail2"] = format!("{dd}/bin/never").into();
        let lines = [enter(&dd), exec.to_string(), failed.to_string()];
        let (r, _) = rules(&lines);
        let interp = r.iter().find(|(p, _)| *p == format!("{dd}/bin/interp"));
        assert!(interp.is_some_and(|(_, a)| a.contains("exec")), "{r:?}");
        assert!(!r.iter().any(|(p, _)| p.contains("never")), "{r:?}");
    }

    #[test]
    fn sysctl_reads_are_granted_by_node_and_a_pid_becomes_its_subtree() {
        let sysctl = |seq: u64, name: &str, decision: &str, reason: Option<&str>, result: i64| {
            serde_json::json!({
                "seq": seq, "pid": 7, "tid": 7, "backend": "freebsd-sigcap", "syscall": 570,
                "name": "__sysctlbyname", "args": [0, 0, 0, 0, 0, 0], "errno": 1, "class": "syscall",
                "ip": 0, "detail": name, "decision": decision, "reason": reason, "rule": 0,
                "result": result, "stack": []
            })
            .to_string()
        };
        let lines = [
            "{\"event\":\"enter\",\"pid\":7,\"backend\":\"freebsd-sigcap\",\"mode\":\"permissive\",\"cwd\":\"/tmp\"}"
                .to_string(),
            sysctl(1, "kern.pid_max", "allowed", None, 4),
            sysctl(2, "kern.proc.pid.1234", "allowed", None, 1088),
            sysctl(3, "kern.pid_max", "allowed", None, 4),
            // Under a policy without it: what the program asked still counts.
            sysctl(4, "vfs.conflist", "denied", Some("no-rule"), -1),
            // A malformed name grants nothing.
            sysctl(5, "../etc", "denied", Some("bad-request"), -1),
        ];
        let (p, _) = least_policy(&parse_stream(&lines.join("\n"))).unwrap();
        let rules: Vec<&str> = p.sysctl_rules().iter().map(|r| r.as_str()).collect();
        assert_eq!(rules, ["kern.pid_max", "kern.proc.pid.*", "vfs.conflist"]);
        assert!(
            p.fs_rules().is_empty(),
            "a node's name is not a path: {:?}",
            p.fs_rules()
        );
        assert!(p.to_toml().contains("[sysctl]\nread = ["), "{}", p.to_toml());
    }

    #[test]
    fn a_directory_the_run_made_and_worked_in_by_descriptor_gets_write_on_freebsd() {
        // cp -R src copy on FreeBSD: mkdir copy, then the files go in
        // through the descriptor of copy, in the kernel, unrecorded.
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::create_dir_all(d.join("src")).unwrap();
        std::fs::create_dir_all(d.join("copy")).unwrap();
        let dd = d.to_str().unwrap().to_string();
        let at = libc::AT_FDCWD as i64;
        let dir = (libc::O_RDONLY | libc::O_DIRECTORY) as i64;
        let on = |backend: &str| {
            let lines = [
                enter(&dd),
                rec(1, "openat", [at, 0, dir, 0], "src", 3),
                rec(2, "mkdirat", [at, 0, 0o755, 0], "copy", 0),
                rec(3, "openat", [at, 0, dir, 0], "copy", 4),
            ];
            let lines: Vec<String> = lines
                .iter()
                .map(|l| {
                    let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                    v["backend"] = backend.into();
                    // The backend's own numbers, whatever the host: FreeBSD's
                    // syscalls.master (mkdirat 496, openat 499), Linux x86_64's.
                    let nr = match (backend, v["name"] == "mkdirat") {
                        ("freebsd-sigcap", true) => 496,
                        ("freebsd-sigcap", false) => 499,
                        (_, true) => 258,
                        (_, false) => 257,
                    };
                    v["syscall"] = nr.into();
                    v.to_string()
                })
                .collect();
            rules(&lines)
        };
        let (r, notes) = on("freebsd-sigcap");
        assert_eq!(r, vec![(dd.clone(), "read+write+create".to_string())]);
        assert!(
            notes
                .iter()
                .any(|n| n.contains("copy: read, write and create, as the run made it")),
            "{notes:?}"
        );
        // On Linux lookups beneath a handed-out descriptor are trapped and
        // recorded: nothing is added.
        let (r, notes) = on("linux-seccomp");
        assert_eq!(r, vec![(dd, "read+create".to_string())]);
        assert!(!notes.iter().any(|n| n.contains("directory descriptor")), "{notes:?}");
    }

    #[test]
    fn a_directory_the_run_bound_sockets_in_and_held_gets_write_on_freebsd() {
        // syslogd on FreeBSD: binds work/log.sock by path, opens work as a
        // directory, and later makes its pid file and removes the
        // socket through that descriptor, in the kernel, unrecorded.
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("messages"), "").unwrap();
        let dd = d.to_str().unwrap().to_string();
        let at = libc::AT_FDCWD as i64;
        let dir = (libc::O_RDONLY | libc::O_DIRECTORY) as i64;
        let freebsd = |l: String, nr: i64| {
            let mut v: serde_json::Value = serde_json::from_str(&l).unwrap();
            v["backend"] = "freebsd-sigcap".into();
            v["syscall"] = nr.into();
            v.to_string()
        };
        let mut bind = rec(1, "bind", [3, 0, 0, 0], &format!("unix:{dd}/log.sock"), 0);
        bind = bind.replace("\"class\":\"namei\"", "\"class\":\"sockaddr\"");
        let lines = [
            enter(&dd),
            freebsd(bind, 104),
            freebsd(rec(2, "openat", [at, 0, dir, 0], &dd, 4), 499),
            freebsd(rec(3, "openat", [at, 0, libc::O_WRONLY as i64, 0], "messages", 5), 499),
        ];
        let (r, notes) = rules(&lines);
        assert_eq!(r, vec![(dd.clone(), "read+write+create".to_string())], "{notes:?}");
        assert!(notes.iter().any(|n| n.contains("made entries in it")), "{notes:?}");
        // Held but nothing made in it: read only, as before.
        let lines = [enter(&dd), freebsd(rec(2, "openat", [at, 0, dir, 0], &dd, 4), 499)];
        let (p, _) = least_policy(&parse_stream(&lines.join("\n"))).unwrap();
        assert_eq!(p.fs_rules()[0].access.to_string(), "read");
    }
}
