//! Confinement for a program image that another process starts on the
//! sandbox's behalf: sigcap-run's exec on Linux (issue #11).
//!
//! Linux cannot carry the sandbox over execve(2) in the process itself:
//! the seccomp filter survives exec, the SIGSYS handler does not, and
//! SECCOMP_RET_TRAP is forced, so the run-time linker's first `openat`
//! would kill the new image. sigcap-run therefore starts the image
//! itself, outside the sandbox, and the new process confines itself
//! between fork and exec with what this type holds, built beforehand
//! (nothing is allocated after the fork):
//!
//! - the policy as a Landlock ruleset, Landlock required, with EXECUTE
//!   only on the files the kernel opens to run this image;
//! - `PR_SET_NO_NEW_PRIVS`;
//! - the sandbox's refuse filter without a trap (io_uring, ptrace,
//!   the mount API, setters aimed at other processes...; the backend's
//!   `image_filters`).
//!
//! The image then enters a sandbox of its own under the same policy (the
//! shim does it before `main`), with the fast path left off (the refuse
//! filter refuses the handler's `process_vm_readv`, so paths are copied
//! through a pipe). Until then its start-up code (the run-time linker,
//! library constructors) is bounded by Landlock and that filter alone:
//! chmod, chown, utimes and extended attributes by path, UDP and named
//! Unix sockets are not confined in that window. Its broker, started by
//! `enter()`, inherits the same confinement, which allows what the
//! policy allows.
#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
use crate::error::Error;
use crate::error::Result;
use crate::policy::Policy;
use std::path::Path;

/// Built in the parent, applied by the child between fork and exec.
#[derive(Debug)]
pub struct ImageConfinement {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    ruleset: std::os::fd::OwnedFd,
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    filters: Vec<seccompiler::BpfProgram>,
}

impl ImageConfinement {
    /// Compiles `policy` for one image: `exec` are the files the kernel
    /// runs (the program or script, an interpreter, the run-time
    /// linker), granted read and execute; `read` are files granted read
    /// on top of the policy (a preloaded library). Fails where Landlock
    /// is missing or older than the policy needs, and on other systems.
    pub fn new(policy: &Policy, exec: &[&Path], read: &[&Path]) -> Result<ImageConfinement> {
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        {
            let ruleset = crate::backend::landlock::image_ruleset(policy, exec, read)?;
            let filters = crate::backend::image_filters()?;
            Ok(ImageConfinement { ruleset, filters })
        }
        #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
        {
            let _ = (policy, exec, read);
            Err(Error::Unsupported(
                "confining an image before exec is Linux's (FreeBSD execs in capability mode itself)".into(),
            ))
        }
    }

    /// Confines the calling process: no new privileges, the Landlock
    /// ruleset, the filters. Only system calls, no allocation.
    ///
    /// # Safety
    /// Meant for the child between fork and exec (`CommandExt::pre_exec`);
    /// it confines the whole calling process for good.
    pub unsafe fn apply(&self) -> std::io::Result<()> {
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        {
            use std::os::fd::AsRawFd;
            let fail = || Err(std::io::Error::last_os_error());
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return fail();
            }
            // The image's own descriptors and threads, which `enter()`
            // lists (/proc/self resolved now, in the process that execs:
            // the same pid as the image).
            #[repr(C, packed)]
            struct PathBeneathAttr {
                allowed_access: u64,
                parent_fd: i32,
            }
            const RULE_PATH_BENEATH: libc::c_int = 1;
            const READ_FILE_DIR: u64 = 1 << 2 | 1 << 3;
            for dir in [c"/proc/self/fd", c"/proc/self/task"] {
                let fd = libc::open(dir.as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
                if fd < 0 {
                    return fail();
                }
                let attr = PathBeneathAttr {
                    allowed_access: READ_FILE_DIR,
                    parent_fd: fd,
                };
                let r = libc::syscall(
                    libc::SYS_landlock_add_rule,
                    self.ruleset.as_raw_fd(),
                    RULE_PATH_BENEATH,
                    &attr as *const PathBeneathAttr,
                    0u32,
                );
                libc::close(fd);
                if r != 0 {
                    return fail();
                }
            }
            if libc::syscall(libc::SYS_landlock_restrict_self, self.ruleset.as_raw_fd(), 0u32) != 0 {
                return fail();
            }
            for prog in &self.filters {
                let fprog = libc::sock_fprog {
                    len: prog.len() as u16,
                    filter: prog.as_ptr() as *mut libc::sock_filter,
                };
                if libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog as *const _) != 0 {
                    return fail();
                }
            }
            Ok(())
        }
        #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
        {
            Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
        }
    }
}

/// The message a sandboxed process sends to ask for an image
/// ([`ImageRequest`]), and its answers. One `SOCK_SEQPACKET` message:
/// the magic, then `pgid` (i32), the signal mask and the ignored
/// signals (u64 each, bit N for signal N), the descriptor count `n` (u32), `n`
/// target numbers (i32 each), then four length-prefixed (u32) byte
/// strings: the path, the working directory, the arguments and the
/// environment, the last two each a run of NUL-ended strings. Numbers
/// are native-endian (both ends are one machine). With it, `n + 1`
/// descriptors: the reply socket, then the descriptors to place at the
/// targets in the new image.
pub const IMAGE_MAGIC: &[u8; 4] = b"SCI1";
/// Largest request (the socket's default buffer is about 208 KiB).
pub const IMAGE_REQUEST_MAX: usize = 192 * 1024;
/// Most descriptors a request carries (SCM_RIGHTS takes 253 in all).
pub const IMAGE_FDS_MAX: usize = 250;
/// Most arguments or environment strings.
pub const IMAGE_STRINGS_MAX: usize = 16384;

/// Answers on the reply socket, each one message: the tag byte, then an
/// i32. `STARTED` (pid) or `REFUSED` (errno) first, then `EXITED`
/// (status) or `KILLED` (signal). The requester sends `SIGNAL` (signal)
/// to pass a signal on to the image.
pub mod answer {
    /// The image runs (its pid).
    pub const STARTED: u8 = b'S';
    /// The exec failed (its errno).
    pub const REFUSED: u8 = b'E';
    /// The image exited (its status).
    pub const EXITED: u8 = b'X';
    /// The image was killed (the signal).
    pub const KILLED: u8 = b'K';
    /// Requester to server: pass this signal on.
    pub const SIGNAL: u8 = b'G';
}

/// A decoded request. Every field comes from the sandboxed process and
/// is untrusted.
#[derive(Debug, PartialEq, Eq)]
pub struct ImageRequest {
    /// The requester's process group.
    pub pgid: i32,
    /// Its blocked signals (bit N: signal N), which exec keeps.
    pub sigmask: u64,
    /// Its ignored signals, which exec keeps ignored.
    pub sigignored: u64,
    /// Where each carried descriptor goes in the new image.
    pub targets: Vec<i32>,
    /// The program as the requester named it.
    pub path: Vec<u8>,
    /// The requester's working directory.
    pub cwd: Vec<u8>,
    /// The arguments.
    pub argv: Vec<Vec<u8>>,
    /// The environment.
    pub envp: Vec<Vec<u8>>,
}

/// Writes a request into `buf` without allocating (the requester may be
/// a vfork child). E2BIG when it does not fit or has too many strings.
#[allow(clippy::too_many_arguments)] // the wire's fields, flat: no struct to build in a vfork child
pub fn encode_request<'a>(
    buf: &mut [u8],
    pgid: i32,
    sigmask: u64,
    sigignored: u64,
    targets: &[i32],
    path: &[u8],
    cwd: &[u8],
    argv: impl Iterator<Item = &'a [u8]>,
    envp: impl Iterator<Item = &'a [u8]>,
) -> std::result::Result<usize, i32> {
    struct W<'b> {
        buf: &'b mut [u8],
        n: usize,
    }
    impl W<'_> {
        fn put(&mut self, b: &[u8]) -> std::result::Result<(), i32> {
            let end = self
                .n
                .checked_add(b.len())
                .filter(|&e| e <= self.buf.len())
                .ok_or(libc::E2BIG)?;
            self.buf[self.n..end].copy_from_slice(b);
            self.n = end;
            Ok(())
        }
        fn blob(&mut self, b: &[u8]) -> std::result::Result<(), i32> {
            self.put(&u32::try_from(b.len()).map_err(|_| libc::E2BIG)?.to_ne_bytes())?;
            self.put(b)
        }
        fn strings<'s>(&mut self, it: impl Iterator<Item = &'s [u8]>) -> std::result::Result<(), i32> {
            let at = self.n;
            self.put(&[0; 4])?;
            let mut count = 0;
            for s in it {
                count += 1;
                if count > IMAGE_STRINGS_MAX || s.contains(&0) {
                    return Err(libc::E2BIG);
                }
                self.put(s)?;
                self.put(&[0])?;
            }
            let len = (self.n - at - 4) as u32;
            self.buf[at..at + 4].copy_from_slice(&len.to_ne_bytes());
            Ok(())
        }
    }
    if targets.len() > IMAGE_FDS_MAX {
        return Err(libc::E2BIG);
    }
    let cap = buf.len().min(IMAGE_REQUEST_MAX);
    let mut w = W {
        buf: &mut buf[..cap],
        n: 0,
    };
    w.put(IMAGE_MAGIC)?;
    w.put(&pgid.to_ne_bytes())?;
    w.put(&sigmask.to_ne_bytes())?;
    w.put(&sigignored.to_ne_bytes())?;
    w.put(&(targets.len() as u32).to_ne_bytes())?;
    for t in targets {
        w.put(&t.to_ne_bytes())?;
    }
    w.blob(path)?;
    w.blob(cwd)?;
    w.strings(argv)?;
    w.strings(envp)?;
    Ok(w.n)
}

/// Reads a request, refusing anything malformed: a wrong magic, lengths
/// past the end, bytes after the end, NUL in the path or working
/// directory, an empty path, a relative working directory, strings not
/// NUL-ended, too many strings or targets, a negative target or one
/// named twice.
pub fn decode_request(msg: &[u8]) -> std::result::Result<ImageRequest, &'static str> {
    struct Cursor<'m> {
        msg: &'m [u8],
        at: usize,
    }
    impl<'m> Cursor<'m> {
        fn take(&mut self, n: usize) -> std::result::Result<&'m [u8], &'static str> {
            let end = self
                .at
                .checked_add(n)
                .filter(|&e| e <= self.msg.len())
                .ok_or("truncated")?;
            let s = &self.msg[self.at..end];
            self.at = end;
            Ok(s)
        }
        fn u32(&mut self) -> std::result::Result<u32, &'static str> {
            Ok(u32::from_ne_bytes(self.take(4)?.try_into().unwrap_or([0; 4])))
        }
        fn u64(&mut self) -> std::result::Result<u64, &'static str> {
            Ok(u64::from_ne_bytes(self.take(8)?.try_into().unwrap_or([0; 8])))
        }
        fn blob(&mut self) -> std::result::Result<&'m [u8], &'static str> {
            let len = self.u32()? as usize;
            self.take(len)
        }
    }
    if msg.len() > IMAGE_REQUEST_MAX {
        return Err("too large");
    }
    let mut c = Cursor { msg, at: 0 };
    if c.take(4)? != IMAGE_MAGIC {
        return Err("bad magic");
    }
    let pgid = c.u32()? as i32;
    let sigmask = c.u64()?;
    let sigignored = c.u64()?;
    let n = c.u32()? as usize;
    if n > IMAGE_FDS_MAX {
        return Err("too many descriptors");
    }
    let mut targets = Vec::with_capacity(n);
    for _ in 0..n {
        let t = c.u32()? as i32;
        if t < 0 || targets.contains(&t) {
            return Err("bad descriptor target");
        }
        targets.push(t);
    }
    let path = c.blob()?.to_vec();
    let cwd = c.blob()?.to_vec();
    let argv = c.blob()?;
    let envp = c.blob()?;
    if c.at != msg.len() {
        return Err("trailing bytes");
    }
    if path.is_empty() || path.contains(&0) {
        return Err("bad path");
    }
    if cwd.first() != Some(&b'/') || cwd.contains(&0) {
        return Err("bad working directory");
    }
    let split = |b: &[u8]| -> std::result::Result<Vec<Vec<u8>>, &'static str> {
        if b.is_empty() {
            return Ok(Vec::new());
        }
        if b.last() != Some(&0) {
            return Err("string not NUL-ended");
        }
        let v: Vec<Vec<u8>> = b[..b.len() - 1].split(|&c| c == 0).map(<[u8]>::to_vec).collect();
        if v.len() > IMAGE_STRINGS_MAX {
            return Err("too many strings");
        }
        Ok(v)
    };
    Ok(ImageRequest {
        pgid,
        sigmask,
        sigignored,
        targets,
        path,
        cwd,
        argv: split(argv)?,
        envp: split(envp)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(targets: &[i32], path: &[u8], cwd: &[u8], argv: &[&[u8]], envp: &[&[u8]]) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        let n = encode_request(
            &mut buf,
            7,
            1 << 2,
            1 << 13,
            targets,
            path,
            cwd,
            argv.iter().copied(),
            envp.iter().copied(),
        )
        .unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn a_request_round_trips() {
        let m = enc(&[0, 1, 5], b"/bin/ls", b"/w", &[b"ls", b"", b"-l"], &[b"A=1"]);
        let r = decode_request(&m).unwrap();
        assert_eq!((r.pgid, r.sigmask, r.sigignored), (7, 1 << 2, 1 << 13));
        assert_eq!(r.targets, vec![0, 1, 5]);
        assert_eq!(r.path, b"/bin/ls");
        assert_eq!(r.cwd, b"/w");
        assert_eq!(r.argv, vec![b"ls".to_vec(), Vec::new(), b"-l".to_vec()]);
        assert_eq!(r.envp, vec![b"A=1".to_vec()]);
        let none = decode_request(&enc(&[], b"x", b"/", &[], &[])).unwrap();
        assert!(none.argv.is_empty() && none.envp.is_empty());
    }

    #[test]
    fn hostile_requests_are_refused_not_misread() {
        let good = enc(&[3], b"/bin/ls", b"/w", &[b"ls"], &[]);
        // Every truncation, and every extra byte.
        for n in 0..good.len() {
            assert!(decode_request(&good[..n]).is_err(), "truncated at {n}");
        }
        let mut long = good.clone();
        long.push(0);
        assert_eq!(decode_request(&long), Err("trailing bytes"));
        let mut magic = good.clone();
        magic[0] = b'X';
        assert_eq!(decode_request(&magic), Err("bad magic"));
        // A length that runs past the end, or wraps.
        let mut huge = good.clone();
        huge[32..36].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(decode_request(&huge).is_err());
        assert_eq!(
            decode_request(&enc(&[3, 3], b"/x", b"/", &[], &[])),
            Err("bad descriptor target")
        );
        assert_eq!(
            decode_request(&enc(&[-1], b"/x", b"/", &[], &[])),
            Err("bad descriptor target")
        );
        assert_eq!(decode_request(&enc(&[], b"", b"/", &[], &[])), Err("bad path"));
        assert_eq!(
            decode_request(&enc(&[], b"/x", b"w", &[], &[])),
            Err("bad working directory")
        );
        // Strings must end with their NUL: cut the last one off.
        let mut cut = enc(&[], b"/x", b"/", &[], &[b"A=1"]);
        cut.pop();
        let l = cut.len();
        cut[l - 4 - 3..l - 3].copy_from_slice(&3u32.to_ne_bytes());
        assert_eq!(decode_request(&cut), Err("string not NUL-ended"));
        let mut count = good.clone();
        count[24..28].copy_from_slice(&(IMAGE_FDS_MAX as u32 + 1).to_ne_bytes());
        assert_eq!(decode_request(&count), Err("too many descriptors"));
    }

    #[test]
    fn encoding_refuses_what_does_not_fit() {
        let mut small = [0u8; 16];
        assert_eq!(
            encode_request(
                &mut small,
                0,
                0,
                0,
                &[],
                b"/bin/ls",
                b"/",
                std::iter::empty(),
                std::iter::empty()
            ),
            Err(libc::E2BIG)
        );
        let mut buf = vec![0u8; 4096];
        let nul: &[u8] = b"a\0b";
        assert_eq!(
            encode_request(
                &mut buf,
                0,
                0,
                0,
                &[],
                b"/x",
                b"/",
                std::iter::once(nul),
                std::iter::empty()
            ),
            Err(libc::E2BIG)
        );
        let many = vec![0; IMAGE_FDS_MAX + 1];
        assert_eq!(
            encode_request(
                &mut buf,
                0,
                0,
                0,
                &many,
                b"/x",
                b"/",
                std::iter::empty(),
                std::iter::empty()
            ),
            Err(libc::E2BIG)
        );
    }
}

/// How the kernel runs a file, as far as what it opens goes.
#[derive(Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// An ELF program, with the run-time linker its `PT_INTERP` names.
    Elf {
        /// None for a static program.
        linker: Option<std::path::PathBuf>,
    },
    /// A `#!` script and its interpreter.
    Script {
        /// The `#!` line's first word (absolute).
        interpreter: std::path::PathBuf,
    },
}

/// Reads what `f` is (the broker's parser, broker/program.rs): ENOEXEC
/// for anything the kernel would not run.
pub fn image_kind(f: &std::fs::File) -> std::result::Result<ImageKind, i32> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::FileExt;
    let mut head = vec![0u8; 4096];
    let n = f
        .read_at(&mut head, 0)
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    head.truncate(n);
    let read_at = |off: u64, len: usize| -> Option<Vec<u8>> {
        let mut b = vec![0; len];
        (f.read_at(&mut b, off).ok()? == len).then_some(b)
    };
    let path = |b: &[u8]| std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b));
    Ok(match crate::broker::program::parse_image(&head, &read_at)? {
        crate::broker::program::Image::Elf(l) => ImageKind::Elf {
            linker: l.as_deref().map(path),
        },
        crate::broker::program::Image::Script(words) => ImageKind::Script {
            interpreter: path(&words[0]),
        },
    })
}
