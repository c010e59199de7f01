//! exec on Linux (issue #11): the images the confined program execs are
//! started here, outside the sandbox, and confined from their first
//! instruction.
//!
//! The shim answers the program's exec calls after it entered
//! (`shim/src/exec_linux.rs`) by sending a request over the channel it
//! inherited (`SIGCAP_RUN_EXEC_FD`, the wire format in
//! `sigcap::encode_request`). For each request this module:
//! 1. decides the program under the policy's `exec` rules, on the path
//!    as named (made absolute against the requester's directory) and on
//!    the file it leads to, both; for a `#!` script its interpreter is
//!    decided the same way ([`decide_exec`], pure);
//! 2. records the exec in the run's stream like any brokered call, with
//!    the requester's pid ([`exec_record`]);
//! 3. starts the image: this process's child, in the requester's
//!    process group and working directory, with the requester's
//!    descriptors at their numbers, its signal mask and ignored signals,
//!    its environment less `LD_*` and `SIGCAP_*` plus
//!    the shim's; between fork and exec it confines itself with
//!    [`sigcap::ImageConfinement`] (Landlock with EXECUTE on the files
//!    decided in 1 only, and the sandbox's refuse filter);
//!    the shim then enters the sandbox again before `main`;
//! 4. answers the requester (`STARTED` or `REFUSED` with the errno), then
//!    passes on the signals the requester forwards, and its exit status
//!    when it ends. A requester that goes away takes the image with it
//!    (SIGKILL).
//!
//! Everything in a request is hostile input: a malformed one, or one
//! without exactly one descriptor per target and a reply socket of the
//! right kind, is dropped; nothing here waits on the requester except
//! for the image's life, and a reply is never written blocking.
use anyhow::{Context, Result};
use nix::sys::socket::{self, ControlMessageOwned, MsgFlags};
use sigcap::{answer, Access, Policy};
use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What every image of the run gets, beside its request.
pub struct Setup {
    /// The policy file and its policy; None: permissive.
    pub policy: Option<(PathBuf, Policy)>,
    /// The shim, preloaded into every image.
    pub shim: PathBuf,
    /// `LD_PRELOAD` as the first program got it (the shim first).
    pub preload: OsString,
    /// The run's stream (append).
    pub log: std::fs::File,
    /// Variables every image gets as the first program did
    /// (`SIGCAP_RUN_DIR`, `_ENTER`, `_BACKEND`, `_LOG_ALLOWED`).
    pub env: Vec<(OsString, OsString)>,
}

/// The program's end of the channel (to pass on, without
/// close-on-exec, to the first program); the server runs until this
/// process exits.
pub fn start(setup: Setup) -> Result<OwnedFd> {
    let (ours, theirs) = socket::socketpair(
        socket::AddressFamily::Unix,
        socket::SockType::SeqPacket,
        None,
        socket::SockFlag::SOCK_CLOEXEC,
    )
    .context("exec channel")?;
    let program_end = theirs.try_clone().context("exec channel")?;
    let setup = Arc::new((setup, theirs));
    std::thread::Builder::new()
        .name("sigcap-run-exec".into())
        .spawn(move || serve(ours, setup))
        .context("exec server")?;
    Ok(program_end)
}

fn serve(chan: OwnedFd, setup: Arc<(Setup, OwnedFd)>) {
    let mut buf = vec![0u8; sigcap::IMAGE_REQUEST_MAX + 1];
    loop {
        let mut cmsg = nix::cmsg_space!([RawFd; sigcap::IMAGE_FDS_MAX + 1]);
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = match socket::recvmsg::<()>(chan.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC) {
            Ok(m) => m,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        };
        let mut fds: Vec<OwnedFd> = Vec::new();
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmRights(v) = c {
                    // SAFETY: the kernel just installed these for us.
                    fds.extend(v.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
                }
            }
        }
        let (len, truncated) = (
            msg.bytes,
            msg.flags.intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC),
        );
        if len == 0 && fds.is_empty() {
            return;
        }
        let request = sigcap::decode_request(&buf[..len]);
        let Some(reply) = (!fds.is_empty()).then(|| fds.remove(0)) else {
            continue;
        };
        if !is_seqpacket(&reply) {
            continue;
        }
        let request = match request {
            Ok(r) if !truncated && r.targets.len() == fds.len() => r,
            _ => {
                send(&reply, answer::REFUSED, libc::EINVAL);
                continue;
            }
        };
        let setup = setup.clone();
        let _ = std::thread::Builder::new()
            .name("sigcap-run-image".into())
            .spawn(move || run(&setup.0, &setup.1, request, reply, fds));
    }
}

fn is_seqpacket(fd: &OwnedFd) -> bool {
    socket::getsockopt(fd, socket::sockopt::SockType).is_ok_and(|t| t == socket::SockType::SeqPacket)
}

/// One answer, never blocking: a requester that does not read loses it.
fn send(reply: &OwnedFd, tag: u8, v: i32) {
    let mut m = [tag, 0, 0, 0, 0];
    m[1..].copy_from_slice(&v.to_ne_bytes());
    let _ = socket::send(reply.as_raw_fd(), &m, MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL);
}

/// `p` made absolute against `cwd`, with `.` and `..` taken lexically
/// (`..` at the root stays there, as the kernel does).
pub fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in cwd.join(p).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// The rule that lets `path` run, None if none does. Permissive: every
/// path, under the one rule of the permissive policy.
pub fn exec_rule(policy: Option<&Policy>, path: &Path) -> Option<u32> {
    let Some(p) = policy else {
        return Some(0);
    };
    let m = p.match_path(path)?;
    p.fs_rules()[m.rule]
        .access
        .contains(Access::EXEC)
        .then_some(m.rule as u32)
}

/// What was decided for one exec.
#[derive(Debug, PartialEq, Eq)]
pub struct Decided {
    /// The files the kernel opens to run the image (EXECUTE in Landlock).
    pub exec: Vec<PathBuf>,
    /// A script's interpreter, for the record.
    pub interpreter: Option<PathBuf>,
    /// The program's rule.
    pub rule: u32,
}

/// Decides an exec of `abs` (absolute, lexical): the path as named and
/// the file it resolves to must both be under a rule with `exec`; a
/// script's interpreter likewise, and it must be a program, not another
/// script. `resolve` and `kind` are the file system's (canonicalize,
/// and what a file is): refusals by rule come before either is asked,
/// so a path outside the policy is refused the same whether it exists
/// or not. Err: the errno, and the rule that allowed the program when
/// it failed past the policy ([`Failed`]).
pub fn decide_exec(
    policy: Option<&Policy>,
    abs: &Path,
    resolve: &dyn Fn(&Path) -> std::result::Result<PathBuf, i32>,
    kind: &dyn Fn(&Path) -> std::result::Result<sigcap::ImageKind, i32>,
) -> std::result::Result<Decided, Failed> {
    // A path's rule, and the file it leads to; the errno of the file
    // system is charged to the program's rule (`program_rule`, or this
    // one's when it is the program).
    let ruled = |p: &Path, program_rule: Option<u32>| -> std::result::Result<(PathBuf, u32), Failed> {
        let rule = exec_rule(policy, p).ok_or((libc::EACCES, None))?;
        let real = resolve(p).map_err(|e| (e, Some(program_rule.unwrap_or(rule))))?;
        exec_rule(policy, &real).ok_or((libc::EACCES, None))?;
        Ok((real, rule))
    };
    let (real, rule) = ruled(abs, None)?;
    let past = |e: i32| (e, Some(rule));
    let mut exec = vec![real.clone()];
    let mut interpreter = None;
    let linker = match kind(&real).map_err(past)? {
        sigcap::ImageKind::Elf { linker } => linker,
        sigcap::ImageKind::Script { interpreter: i } => {
            let (ireal, _) = ruled(&i, Some(rule))?;
            exec.push(ireal.clone());
            interpreter = Some(i);
            match kind(&ireal).map_err(past)? {
                sigcap::ImageKind::Elf { linker } => linker,
                sigcap::ImageKind::Script { .. } => return Err(past(libc::ENOEXEC)),
            }
        }
    };
    if let Some(l) = linker {
        // The linker runs as part of the program (every dynamic program
        // names one): not decided on its own, as on FreeBSD.
        exec.push(resolve(&l).map_err(past)?);
    }
    Ok(Decided {
        exec,
        interpreter,
        rule,
    })
}

/// Why an exec did not happen: the errno, and the rule that allowed the
/// program if it failed past the policy (None: the policy refused it).
pub type Failed = (i32, Option<u32>);

/// The record of one exec, in the runtime's JSON form.
pub fn exec_record(
    seq: u64,
    pid: i32,
    path: &Path,
    cwd: Option<&Path>,
    interpreter: Option<&Path>,
    outcome: std::result::Result<u32, Failed>,
) -> serde_json::Value {
    let lossy = |p: &Path| p.to_string_lossy().into_owned();
    let mut v = serde_json::json!({
        "seq": seq, "pid": pid, "tid": pid, "backend": "linux-seccomp",
        "syscall": libc::SYS_execve, "name": "execve", "args": [0, 0, 0, 0, 0, 0],
        "errno": libc::EPERM, "class": "namei", "ip": 0, "detail": lossy(path), "via": null,
        "fast_path": false, "stack": [], "scan": [],
    });
    if let Some(i) = interpreter {
        v["detail2"] = lossy(i).into();
    }
    if let Some(c) = cwd {
        v["cwd"] = lossy(c).into();
    }
    match outcome {
        Ok(rule) => {
            v["decision"] = "allowed".into();
            v["rule"] = rule.into();
            v["result"] = 0.into();
        }
        Err((e, rule)) => {
            match rule {
                Some(r) => {
                    v["decision"] = "allowed".into();
                    v["rule"] = r.into();
                }
                None => {
                    v["decision"] = "denied".into();
                    v["reason"] = "no-rule".into();
                }
            }
            v["result"] = (-(e as i64)).into();
        }
    }
    v
}

/// The image's environment: the requester's without what would load
/// code before the shim enters (every `LD_` variable: `LD_PRELOAD`,
/// `LD_AUDIT`, `LD_LIBRARY_PATH`...) or speak for sigcap-run
/// (`SIGCAP_`), then the shim's.
pub fn image_env(requested: &[Vec<u8>], ours: &[(OsString, OsString)]) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = Vec::new();
    for kv in requested {
        let Some(eq) = kv.iter().position(|&c| c == b'=') else {
            continue;
        };
        let (k, v) = (&kv[..eq], &kv[eq + 1..]);
        if k.is_empty() || k.starts_with(b"LD_") || k.starts_with(b"SIGCAP_") {
            continue;
        }
        let k = OsStr::from_bytes(k).to_owned();
        env.retain(|(old, _)| old != &k);
        env.push((k, OsStr::from_bytes(v).to_owned()));
    }
    env.extend(ours.iter().cloned());
    env
}

static SEQ: AtomicU64 = AtomicU64::new(1 << 40);

fn run(setup: &Setup, chan: &OwnedFd, req: sigcap::ImageRequest, reply: OwnedFd, fds: Vec<OwnedFd>) {
    let pid = socket::getsockopt(&reply, socket::sockopt::PeerCredentials).map_or(0, |c| c.pid());
    let cwd = PathBuf::from(OsStr::from_bytes(&req.cwd));
    let named = Path::new(OsStr::from_bytes(&req.path));
    let abs = absolute(&cwd, named);
    let policy = setup.policy.as_ref().map(|(_, p)| p);
    let decided = decide_exec(
        policy,
        &abs,
        &|p| std::fs::canonicalize(p).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO)),
        &|p| {
            // Non-blocking: a FIFO under an exec rule must not hold this
            // thread (and the requester) at open. execve runs regular
            // files only (EACCES otherwise).
            use std::os::unix::fs::OpenOptionsExt;
            let f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(p)
                .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
            if !f.metadata().is_ok_and(|m| m.is_file()) {
                return Err(libc::EACCES);
            }
            sigcap::image_kind(&f)
        },
    );
    let started = decided.and_then(|d| spawn_image(setup, chan, &req, &abs, &d, pid, &fds).map(|c| (c, d)));
    let rel_cwd = (!named.is_absolute()).then_some(cwd.as_path());
    let (outcome, interp) = match &started {
        Ok((_, d)) => (Ok(d.rule), d.interpreter.as_deref()),
        Err(e) => (Err(*e), None),
    };
    let mut rec = exec_record(SEQ.fetch_add(1, Ordering::Relaxed), pid, &abs, rel_cwd, interp, outcome);
    if let Ok((_, d)) = &started {
        // What ran, where symlinks led (/usr/bin/sh -> dash).
        if d.exec[0] != abs {
            rec["via"] = d.exec[0].to_string_lossy().into_owned().into();
        }
    }
    let _ = (&setup.log).write_all(format!("{rec}\n").as_bytes());
    drop(fds);
    let mut child = match started {
        Ok((c, _)) => c,
        Err((e, _)) => return send(&reply, answer::REFUSED, e),
    };
    send(&reply, answer::STARTED, child.id() as i32);
    let status = supervise(&mut child, &reply);
    crate::tree::release(child.id() as i32);
    match (status.code(), status.signal()) {
        (Some(c), _) => send(&reply, answer::EXITED, c),
        (_, Some(s)) => send(&reply, answer::KILLED, s),
        _ => send(&reply, answer::EXITED, 127),
    }
}

/// Waits for the image, passing on the signals the requester forwards;
/// a requester gone kills it.
fn supervise(child: &mut std::process::Child, reply: &OwnedFd) -> std::process::ExitStatus {
    let cpid = child.id() as i32;
    // SAFETY: pidfd_open of our own unreaped child; owned from here.
    let pidfd = match unsafe { libc::syscall(libc::SYS_pidfd_open, cpid, 0) } {
        fd if fd >= 0 => Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
        _ => None,
    };
    loop {
        let mut p = [reply.as_raw_fd(), pidfd.as_ref().map_or(-1, AsRawFd::as_raw_fd)].map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
        // Without a pidfd, look at the child every 50 ms.
        let wait = if pidfd.is_some() { -1 } else { 50 };
        // SAFETY: poll on a local array (a negative descriptor is skipped).
        unsafe { libc::poll(p.as_mut_ptr(), 2, wait) };
        if let Ok(Some(s)) = child.try_wait() {
            return s;
        }
        if p[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            let mut m = [0u8; 5];
            match socket::recv(reply.as_raw_fd(), &mut m, MsgFlags::MSG_DONTWAIT) {
                Ok(5) if m[0] == answer::SIGNAL => {
                    let sig = i32::from_ne_bytes([m[1], m[2], m[3], m[4]]);
                    if (1..=64).contains(&sig) {
                        // SAFETY: kill of our own unreaped child.
                        unsafe { libc::kill(cpid, sig) };
                    }
                }
                Ok(n) if n > 0 => {}
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
                // The requester is gone (its end closed, or failed):
                // nothing stands in for the image any more.
                Ok(_) | Err(_) => {
                    // SAFETY: as above.
                    unsafe { libc::kill(cpid, libc::SIGKILL) };
                    return child
                        .wait()
                        .unwrap_or_else(|_| std::process::ExitStatus::from_raw(libc::SIGKILL));
                }
            }
        }
    }
}

/// Starts the decided image. Err: the errno the exec fails with.
fn spawn_image(
    setup: &Setup,
    chan: &OwnedFd,
    req: &sigcap::ImageRequest,
    abs: &Path,
    d: &Decided,
    requester: i32,
    fds: &[OwnedFd],
) -> std::result::Result<std::process::Child, Failed> {
    let confine = match &setup.policy {
        Some((file, p)) => {
            let exec: Vec<&Path> = d.exec.iter().map(PathBuf::as_path).collect();
            let read = [setup.shim.as_path(), file.as_path()];
            Some(sigcap::ImageConfinement::new(p, &exec, &read).map_err(|e| {
                eprintln!("sigcap-run: cannot confine {}: {e}", abs.display());
                (libc::EPERM, Some(d.rule))
            })?)
        }
        None => None,
    };
    let base = req.targets.iter().copied().max().map_or(3, |m| m + 1).max(3);
    let (log_no, chan_no) = (base, base + 1);
    let mut ours = setup.env.clone();
    ours.push(("LD_PRELOAD".into(), setup.preload.clone()));
    ours.push(("SIGCAP_RUN_LOG_FD".into(), log_no.to_string().into()));
    ours.push(("SIGCAP_RUN_EXEC_FD".into(), chan_no.to_string().into()));
    ours.push(("SIGCAP_RUN_SPAWNED".into(), requester.to_string().into()));
    if let Some((file, _)) = &setup.policy {
        ours.push(("SIGCAP_RUN_POLICY".into(), file.into()));
    }
    let mut cmd = Command::new(abs);
    let argv0 = req.argv.first().map_or(&b""[..], Vec::as_slice);
    cmd.arg0(OsStr::from_bytes(argv0))
        .args(req.argv.iter().skip(1).map(|a| OsStr::from_bytes(a)))
        .env_clear()
        .envs(image_env(&req.envp, &ours))
        .current_dir(OsStr::from_bytes(&req.cwd));
    // SAFETY: getpgid on the requester's pid (0 when unknown: ours).
    let pgid = unsafe { libc::getpgid(requester) };
    if requester > 0 && pgid > 0 {
        cmd.process_group(pgid);
    }
    // What the child does between fork and exec, prepared here.
    let mut moves: Vec<(RawFd, RawFd)> = fds
        .iter()
        .map(|f| f.as_raw_fd())
        .zip(req.targets.iter().copied())
        .collect();
    moves.push((setup.log.as_raw_fd(), log_no));
    moves.push((chan.as_raw_fd(), chan_no));
    let high = chan_no + 1;
    // SAFETY: a zeroed sigset filled by sigemptyset/sigaddset.
    let mut mask: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe { libc::sigemptyset(&mut mask) };
    let mut ignored = Vec::new();
    for s in 1..64 {
        if req.sigmask & (1 << s) != 0 {
            // SAFETY: as above.
            unsafe { libc::sigaddset(&mut mask, s) };
        }
        if req.sigignored & (1 << s) != 0 && s != libc::SIGKILL && s != libc::SIGSTOP {
            ignored.push(s);
        }
    }
    // SAFETY: only system calls between fork and exec, on what was
    // prepared above; no allocation.
    unsafe {
        cmd.pre_exec(move || {
            let mut tmp = [0 as RawFd; sigcap::IMAGE_FDS_MAX + 2];
            for (i, &(from, _)) in moves.iter().enumerate() {
                tmp[i] = libc::fcntl(from, libc::F_DUPFD_CLOEXEC, high);
                if tmp[i] < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for std in 0..3 {
                if !moves.iter().any(|&(_, to)| to == std) {
                    libc::close(std);
                }
            }
            for (i, &(_, to)) in moves.iter().enumerate() {
                if libc::dup2(tmp[i], to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(tmp[i]);
            }
            libc::sigprocmask(libc::SIG_SETMASK, &mask, std::ptr::null_mut());
            for &s in &ignored {
                libc::signal(s, libc::SIG_IGN);
            }
            match &confine {
                Some(c) => c.apply(),
                None => Ok(()),
            }
        });
    }
    // Waited for by this request's thread (supervise), not by the loop
    // that reaps the tree's orphans.
    crate::tree::start_owned(|| {
        let c = cmd.spawn()?;
        let pid = c.id() as i32;
        Ok((c, pid))
    })
    .map_err(|e| (e.raw_os_error().unwrap_or(libc::EIO), Some(d.rule)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(toml: &str) -> Policy {
        Policy::from_toml(toml).unwrap()
    }

    #[test]
    fn paths_are_made_absolute_lexically() {
        assert_eq!(absolute(Path::new("/w/d"), Path::new("x")), Path::new("/w/d/x"));
        assert_eq!(absolute(Path::new("/w/d"), Path::new("../x/./y")), Path::new("/w/x/y"));
        assert_eq!(
            absolute(Path::new("/w"), Path::new("/../../bin/ls")),
            Path::new("/bin/ls")
        );
    }

    #[test]
    fn exec_is_decided_on_the_name_and_the_file_it_leads_to() {
        let p = policy("[[fs]]\npath = \"/bin\"\naccess = [\"exec\"]\n[[fs]]\npath = \"/w\"\naccess = [\"read\"]\n");
        let elf = |_: &Path| {
            Ok(sigcap::ImageKind::Elf {
                linker: Some("/lib/ld.so".into()),
            })
        };
        let same = |p: &Path| Ok(p.to_path_buf());
        let d = decide_exec(Some(&p), Path::new("/bin/ls"), &same, &elf).unwrap();
        assert_eq!(d.exec, vec![PathBuf::from("/bin/ls"), PathBuf::from("/lib/ld.so")]);
        // Read is not exec; a path outside every rule is refused before
        // the file system is asked (no existence oracle).
        let asked = std::cell::Cell::new(false);
        let spy = |p: &Path| {
            asked.set(true);
            Ok(p.to_path_buf())
        };
        assert_eq!(
            decide_exec(Some(&p), Path::new("/w/prog"), &spy, &elf),
            Err((libc::EACCES, None))
        );
        assert_eq!(
            decide_exec(Some(&p), Path::new("/etc/x"), &spy, &elf),
            Err((libc::EACCES, None))
        );
        assert!(!asked.get());
        // A symlink under an exec rule to a file outside every exec rule.
        let out = |_: &Path| Ok(PathBuf::from("/w/evil"));
        assert_eq!(
            decide_exec(Some(&p), Path::new("/bin/sym"), &out, &elf),
            Err((libc::EACCES, None))
        );
        // Missing under a rule: the file system's answer.
        let missing = |_: &Path| Err(libc::ENOENT);
        assert_eq!(
            decide_exec(Some(&p), Path::new("/bin/nope"), &missing, &elf),
            Err((libc::ENOENT, Some(0)))
        );
    }

    #[test]
    fn a_script_needs_exec_on_its_interpreter_which_must_be_a_program() {
        let p = policy("[[fs]]\npath = \"/bin\"\naccess = [\"exec\"]\n[[fs]]\npath = \"/s\"\naccess = [\"exec\"]\n");
        let same = |p: &Path| Ok(p.to_path_buf());
        let kind = |p: &Path| {
            Ok(match p.to_str().unwrap() {
                "/s/a.sh" => sigcap::ImageKind::Script {
                    interpreter: "/bin/sh".into(),
                },
                "/s/b.sh" => sigcap::ImageKind::Script {
                    interpreter: "/usr/bin/python3".into(),
                },
                "/s/c.sh" => sigcap::ImageKind::Script {
                    interpreter: "/s/a.sh".into(),
                },
                _ => sigcap::ImageKind::Elf { linker: None },
            })
        };
        let d = decide_exec(Some(&p), Path::new("/s/a.sh"), &same, &kind).unwrap();
        assert_eq!(d.exec, vec![PathBuf::from("/s/a.sh"), PathBuf::from("/bin/sh")]);
        assert_eq!(d.interpreter, Some(PathBuf::from("/bin/sh")));
        assert_eq!(
            decide_exec(Some(&p), Path::new("/s/b.sh"), &same, &kind),
            Err((libc::EACCES, None))
        );
        assert_eq!(
            decide_exec(Some(&p), Path::new("/s/c.sh"), &same, &kind),
            Err((libc::ENOEXEC, Some(1)))
        );
        // Permissive: everything, under the one rule.
        assert!(decide_exec(None, Path::new("/s/b.sh"), &same, &kind).is_ok());
    }

    #[test]
    fn the_image_environment_loses_what_loads_code_or_speaks_for_us() {
        let req: Vec<Vec<u8>> = [
            &b"PATH=/bin"[..],
            b"LD_PRELOAD=/tmp/evil.so",
            b"LD_AUDIT=/tmp/evil.so",
            b"LD_LIBRARY_PATH=/tmp",
            b"SIGCAP_RUN_POLICY=/tmp/all.toml",
            b"noequals",
            b"=x",
            b"A=1",
            b"A=2",
        ]
        .iter()
        .map(|s| s.to_vec())
        .collect();
        let ours = [(OsString::from("LD_PRELOAD"), OsString::from("/shim.so"))];
        let env = image_env(&req, &ours);
        let get = |k: &str| {
            env.iter()
                .filter(|(a, _)| a == k)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("PATH"), vec![OsString::from("/bin")]);
        assert_eq!(get("LD_PRELOAD"), vec![OsString::from("/shim.so")]);
        assert!(get("LD_AUDIT").is_empty() && get("SIGCAP_RUN_POLICY").is_empty());
        assert_eq!(get("A"), vec![OsString::from("2")]);
        assert_eq!(env.len(), 3);
    }

    #[test]
    fn the_record_reads_like_the_runtimes() {
        let r = exec_record(5, 42, Path::new("/bin/ls"), None, None, Err((libc::EACCES, None)));
        let rec: crate::report::Record = serde_json::from_value(r).unwrap();
        assert_eq!(
            (rec.name.as_str(), rec.decision.as_str(), rec.result),
            ("execve", "denied", -13)
        );
        assert_eq!(rec.reason.as_deref(), Some("no-rule"));
        // Allowed by rule 2, then missing: the rule is the one that allowed it.
        let gone = exec_record(7, 42, Path::new("/bin/nope"), None, None, Err((libc::ENOENT, Some(2))));
        let rec: crate::report::Record = serde_json::from_value(gone).unwrap();
        assert_eq!((rec.decision.as_str(), rec.rule, rec.result), ("allowed", Some(2), -2));
        let ok = exec_record(
            6,
            42,
            Path::new("/s/a.sh"),
            Some(Path::new("/s")),
            Some(Path::new("/bin/sh")),
            Ok(1),
        );
        let rec: crate::report::Record = serde_json::from_value(ok).unwrap();
        assert_eq!(
            (rec.decision.as_str(), rec.rule, rec.detail2.as_deref()),
            ("allowed", Some(1), Some("/bin/sh"))
        );
    }
}
