//! exec in capability mode (FreeBSD, SIGCAP; issue #11).
//!
//! The program's execve(2) fails with ECAPMODE and reaches the handler,
//! which asks the broker (`Op::Exec`, broker/program.rs): the broker
//! decides the program under its rule's `exec` access and answers with
//! what to run. The handler then builds the new image's arguments and
//! environment and runs it with `fexecve(2)`, from the handler, so the
//! process keeps its pid, parent, process group, descriptors and
//! capability mode, as a real exec would:
//!
//! - a dynamically linked program runs through its run-time linker
//!   (`ld-elf.so.1 -f FD -- argv...`): the kernel refuses the linker's
//!   own lookup in capability mode;
//! - its libraries come from the directories held since `enter()`
//!   (`LD_LIBRARY_PATH_FDS`), each limited to lookup, read and map
//!   (never write), and only those the policy lets the program read;
//! - a `#!` script runs as its interpreter with the script's path, as
//!   the kernel does it;
//! - `LD_PRELOAD` (a path, which rtld could not open and would die on) is
//!   replaced by `LD_PRELOAD_FDS` when a preload descriptor was given
//!   ([`crate::Builder::exec_preload`]: sigcap-run's shim);
//! - `SIGCAP_ATTACH` tells the new image's runtime how to carry on with
//!   the same broker, log, policy and working directory
//!   ([`crate::Builder::attach`]): [`Attach`].
//!
//! SIGCAP is blocked across the exec: a violation of the new image
//! before it attaches (the run-time linker's lookups by path, its
//! constructors) then simply fails, as the SIGCAP kernel does for a
//! blocked SIGCAP, instead of killing it with the default action. A
//! program that never attaches keeps running in capability mode, its
//! violations failing with ECAPMODE, unrecorded.
//!
//! Everything here runs in the signal handler: raw system calls, an
//! anonymous mapping for the new argument and environment vectors (as
//! large as the kernel's limit), no allocation, no lock.
use crate::record::StackWriter;
use crate::sys;
use crate::syscall::Call;
use std::fmt::Write as _;
use std::os::fd::RawFd;

/// The environment variable the new image's runtime reads.
pub const ATTACH_VAR: &str = "SIGCAP_ATTACH";
/// Most library directories carried.
pub(crate) const LIBS_MAX: usize = 4;
/// Longest `#!` payload carried from the broker (the words, each with a
/// NUL); longer lines are refused with E2BIG.
pub(crate) const SCRIPT_MAX: usize = 1024;

/// What the broker answered for one exec, in the handler's frame.
#[derive(Clone, Copy)]
pub(crate) struct Image {
    /// The program (or the script's interpreter), -1 if none.
    pub program: RawFd,
    /// Its run-time linker, -1 for a static program.
    pub linker: RawFd,
    /// A script's `#!` words, each ended by a NUL (empty: no script).
    pub script: [u8; SCRIPT_MAX],
    pub script_len: usize,
}

impl Default for Image {
    fn default() -> Image {
        Image {
            program: -1,
            linker: -1,
            script: [0; SCRIPT_MAX],
            script_len: 0,
        }
    }
}

impl Image {
    /// A script's interpreter: the first of its `#!` words.
    pub(crate) fn interpreter(&self) -> Option<&[u8]> {
        let words = &self.script[..self.script_len.min(SCRIPT_MAX)];
        let first = words.split(|&b| b == 0).next()?;
        (!first.is_empty()).then_some(first)
    }

    /// Closes what the broker sent (the exec did not happen).
    pub(crate) fn close(&self) {
        sys::close(self.program);
        sys::close(self.linker);
    }
}

/// What `enter()` prepared for exec: held descriptors the handler
/// duplicates into each new image (stored with their identities, so a
/// number the program closed and reused is not passed on).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExecEnv {
    pub libs: [(RawFd, sys::FileId); LIBS_MAX],
    pub nlibs: usize,
    /// The policy, as TOML, in an anonymous shared memory object.
    pub state: (RawFd, sys::FileId),
    /// A library to preload into each new image (LD_PRELOAD_FDS).
    pub preload: Option<(RawFd, sys::FileId)>,
}

/// The `SIGCAP_ATTACH` value, parsed: descriptor numbers valid in the new
/// image, and the working directory (last: it may hold any byte).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attach {
    /// The broker's control socket.
    pub ctl: RawFd,
    /// The JSON-lines log, if the program had one.
    pub log: Option<RawFd>,
    /// The policy's TOML (read-only memory object).
    pub state: RawFd,
    /// The library directories (also in `LD_LIBRARY_PATH_FDS`).
    pub libs: Vec<RawFd>,
    /// The preloaded library (also in `LD_PRELOAD_FDS`).
    pub preload: Option<RawFd>,
    /// The program's (emulated) working directory at the exec.
    pub cwd: Vec<u8>,
}

impl Attach {
    /// Parses `v1 ctl=N log=N|- state=N libs=N,N preload=N|- cwd=PATH`.
    pub fn parse(v: &[u8]) -> Option<Attach> {
        let rest = v.strip_prefix(b"v1 ")?;
        let mut fields = rest.splitn(6, |&c| c == b' ');
        let mut field = |name: &[u8]| -> Option<&[u8]> { fields.next()?.strip_prefix(name)?.strip_prefix(b"=") };
        let num = |b: &[u8]| -> Option<RawFd> {
            if b.is_empty() || b.len() > 9 || !b.iter().all(u8::is_ascii_digit) {
                return None;
            }
            Some(b.iter().fold(0, |n, d| n * 10 + RawFd::from(d - b'0')))
        };
        let opt = |b: &[u8]| if b == b"-" { Some(None) } else { num(b).map(Some) };
        let ctl = num(field(b"ctl")?)?;
        let log = opt(field(b"log")?)?;
        let state = num(field(b"state")?)?;
        let libs_f = field(b"libs")?;
        let libs = if libs_f.is_empty() {
            Vec::new()
        } else {
            libs_f.split(|&c| c == b',').map(num).collect::<Option<Vec<_>>>()?
        };
        if libs.len() > LIBS_MAX {
            return None;
        }
        let preload = opt(field(b"preload")?)?;
        let cwd = field(b"cwd")?.to_vec();
        if cwd.first() != Some(&b'/') {
            return None;
        }
        Some(Attach {
            ctl,
            log,
            state,
            libs,
            preload,
            cwd,
        })
    }
}

/// Room for the new vectors: the pointer arrays, then the strings.
const PTRS: usize = 256 * 1024;
const STRS: usize = 4 * 1024 * 1024;

/// An anonymous mapping holding the new argv and envp; unmapped on drop
/// (only reached when the exec failed).
struct Scratch {
    base: *mut u8,
    nptr: usize,
    nstr: usize,
}

impl Scratch {
    fn new() -> Result<Scratch, i32> {
        // SAFETY: a fresh anonymous private mapping.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PTRS * 8 + STRS,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANON,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(libc::ENOMEM);
        }
        Ok(Scratch {
            base: p.cast(),
            nptr: 0,
            nstr: 0,
        })
    }
    fn ptrs(&self) -> *mut *const u8 {
        self.base.cast()
    }
    fn strs(&mut self) -> &mut [u8] {
        // SAFETY: the strings area of the mapping, after the pointers.
        unsafe { std::slice::from_raw_parts_mut(self.base.add(PTRS * 8 + self.nstr), STRS - self.nstr) }
    }
    /// Ends the string written at the start of [`Scratch::strs`] (`n`
    /// bytes) and pushes its pointer.
    fn push_written(&mut self, n: usize) -> Result<(), i32> {
        if n + 1 > STRS - self.nstr || self.nptr + 1 >= PTRS {
            return Err(libc::E2BIG);
        }
        // SAFETY: within the mapping (checked above).
        unsafe {
            let s = self.base.add(PTRS * 8 + self.nstr);
            *s.add(n) = 0;
            *self.ptrs().add(self.nptr) = s;
        }
        self.nstr += n + 1;
        self.nptr += 1;
        Ok(())
    }
    fn push(&mut self, b: &[u8]) -> Result<(), i32> {
        let room = self.strs();
        if b.len() >= room.len() {
            return Err(libc::E2BIG);
        }
        room[..b.len()].copy_from_slice(b);
        self.push_written(b.len())
    }
    /// Copies the program's string at `p`.
    fn push_user(&mut self, p: usize) -> Result<(), i32> {
        let n =
            sys::read_user_cstr(self.strs(), p).map_err(|e| if e == libc::ENAMETOOLONG { libc::E2BIG } else { e })?;
        self.push_written(n)
    }
    /// Ends a vector: a NULL pointer. Returns where it started.
    fn end_vector(&mut self, start: usize) -> Result<*const *const u8, i32> {
        if self.nptr + 1 >= PTRS {
            return Err(libc::E2BIG);
        }
        // SAFETY: within the pointer area.
        unsafe { *self.ptrs().add(self.nptr) = std::ptr::null() };
        self.nptr += 1;
        // SAFETY: as above.
        Ok(unsafe { self.ptrs().add(start) }.cast_const())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: our own mapping.
        unsafe { libc::munmap(self.base.cast(), PTRS * 8 + STRS) };
    }
}

/// The program's vector at `v` (argv or envp), word by word; each
/// string pointer goes to `each` until the NULL. EFAULT for a bad
/// vector (the kernel copied it in before failing, on FreeBSD).
fn each_user_ptr(v: usize, mut each: impl FnMut(usize) -> Result<(), i32>) -> Result<(), i32> {
    if v == 0 {
        return Ok(());
    }
    for i in 0..PTRS {
        let mut w = [0u8; 8];
        sys::read_user(&mut w, v + i * 8)?;
        let p = usize::from_ne_bytes(w);
        if p == 0 {
            return Ok(());
        }
        each(p)?;
    }
    Err(libc::E2BIG)
}

/// Environment names the handler sets itself, dropped from the program's.
const REPLACED: [&[u8]; 4] = [
    b"LD_PRELOAD=",
    b"LD_PRELOAD_FDS=",
    b"LD_LIBRARY_PATH_FDS=",
    b"SIGCAP_ATTACH=",
];

/// Whether the program's environment string at `p` is one of
/// [`REPLACED`].
fn replaced(p: usize) -> bool {
    let mut head = [0u8; 24];
    let n = match sys::read_user_cstr(&mut head, p) {
        Ok(n) => n,
        Err(_) => head.len(),
    };
    REPLACED.iter().any(|r| head[..n].starts_with(r))
}

/// A descriptor duplicated (without close-on-exec) for the new image,
/// closed again if the exec fails.
struct Passed {
    fds: [RawFd; LIBS_MAX + 4],
    n: usize,
}

impl Passed {
    fn dup(&mut self, fd: RawFd, id: &sys::FileId) -> Result<RawFd, i32> {
        if !id.is(fd) || self.n == self.fds.len() {
            return Err(libc::EBADF);
        }
        // SAFETY: F_DUPFD on a descriptor we hold; the copy has no FD_CLOEXEC.
        let d = unsafe { libc::fcntl(fd, libc::F_DUPFD, 3) };
        if d < 0 {
            return Err(sys::errno());
        }
        self.fds[self.n] = d;
        self.n += 1;
        Ok(d)
    }
}

impl Drop for Passed {
    fn drop(&mut self) {
        self.fds[..self.n].iter().for_each(|&fd| sys::close(fd));
    }
}

/// A new image ready to run: [`Ready::run`] replaces the process.
pub(crate) struct Ready {
    scratch: Scratch,
    passed: Passed,
    fd: RawFd,
    argv: *const *const u8,
    envp: *const *const u8,
}

/// Builds the new image's vectors for `call` (an execve: its path,
/// argv and envp in the program's memory) and the broker's `img`.
/// `ctl` and `log` are the runtime's broker socket and log, passed on.
pub(crate) fn prepare(
    env: &ExecEnv,
    img: &Image,
    call: &Call,
    ctl: (RawFd, &sys::FileId),
    log: Option<(RawFd, &sys::FileId)>,
) -> Result<Ready, i32> {
    let mut s = Scratch::new()?;
    let mut passed = Passed {
        fds: [-1; LIBS_MAX + 4],
        n: 0,
    };
    // argv: [linker -f FD --] [#! words, the script's path as given] argv...
    let (argv0, mut program_argv) = (0, call.addr);
    let fd = if img.linker >= 0 {
        s.push(b"ld-elf.so.1")?;
        s.push(b"-f")?;
        // The program's descriptor must survive the exec; rtld closes it.
        // SAFETY: clearing FD_CLOEXEC on the broker's descriptor.
        if unsafe { libc::fcntl(img.program, libc::F_SETFD, 0) } != 0 {
            return Err(sys::errno());
        }
        let mut num = [0u8; 16];
        let mut w = StackWriter::new(&mut num);
        let _ = write!(w, "{}", img.program);
        let n = w.as_bytes().len();
        s.push(&num[..n])?;
        s.push(b"--")?;
        img.linker
    } else {
        img.program
    };
    if img.script_len > 0 {
        for w in img.script[..img.script_len]
            .split(|&c| c == 0)
            .filter(|w| !w.is_empty())
        {
            s.push(w)?;
        }
        s.push_user(call.path)?;
        // The script's own argv[0] gives way to its path.
        let mut first = [0u8; 8];
        if call.addr != 0 {
            sys::read_user(&mut first, call.addr)?;
            if usize::from_ne_bytes(first) != 0 {
                program_argv += 8;
            }
        }
    }
    each_user_ptr(program_argv, |p| s.push_user(p))?;
    let argv = s.end_vector(argv0)?;
    // envp: the program's, less what is replaced, then ours.
    let env_start = s.nptr;
    each_user_ptr(call.data, |p| if replaced(p) { Ok(()) } else { s.push_user(p) })?;
    let mut libs = [0 as RawFd; LIBS_MAX];
    for (i, (fd, id)) in env.libs[..env.nlibs].iter().enumerate() {
        libs[i] = passed.dup(*fd, id)?;
    }
    let ctl_fd = passed.dup(ctl.0, ctl.1)?;
    let log_fd = match log {
        Some((fd, id)) => Some(passed.dup(fd, id)?),
        None => None,
    };
    let state_fd = passed.dup(env.state.0, &env.state.1)?;
    let preload = match &env.preload {
        Some((fd, id)) => Some(passed.dup(*fd, id)?),
        None => None,
    };
    let write_var = |s: &mut Scratch, f: &mut dyn FnMut(&mut StackWriter<'_>) -> std::fmt::Result| {
        let room = s.strs();
        let cap = room.len().saturating_sub(1);
        let mut w = StackWriter::new(&mut room[..cap]);
        f(&mut w).map_err(|_| libc::E2BIG)?;
        let n = w.as_bytes().len();
        s.push_written(n)
    };
    let libs = &libs[..env.nlibs];
    let list = |w: &mut StackWriter<'_>, sep: char| -> std::fmt::Result {
        for (i, fd) in libs.iter().enumerate() {
            if i > 0 {
                w.write_char(sep)?;
            }
            write!(w, "{fd}")?;
        }
        Ok(())
    };
    if !libs.is_empty() {
        write_var(&mut s, &mut |w| {
            w.write_str("LD_LIBRARY_PATH_FDS=")?;
            list(w, ':')
        })?;
    }
    if let Some(p) = preload {
        write_var(&mut s, &mut |w| write!(w, "LD_PRELOAD_FDS={p}"))?;
    }
    let mut cwd = [0u8; crate::proto::PATH_MAX];
    let cwd_len = crate::cwd::current(&mut cwd)?;
    write_var(&mut s, &mut |w| {
        write!(w, "{ATTACH_VAR}=v1 ctl={ctl_fd} log=")?;
        match log_fd {
            Some(l) => write!(w, "{l}")?,
            None => w.write_char('-')?,
        }
        write!(w, " state={state_fd} libs=")?;
        list(w, ',')?;
        match preload {
            Some(p) => write!(w, " preload={p}")?,
            None => w.write_str(" preload=-")?,
        }
        w.write_str(" cwd=")?;
        w.write_bytes(&cwd[..cwd_len])
    })?;
    let envp = s.end_vector(env_start)?;
    Ok(Ready {
        scratch: s,
        passed,
        fd,
        argv,
        envp,
    })
}

impl Ready {
    /// Replaces the process with the new image, with `sig` (the
    /// violation signal) blocked. Returns only if fexecve failed: the
    /// errno, with the mask, descriptors and memory as they were.
    pub(crate) fn run(self, sig: libc::c_int) -> i32 {
        // SAFETY: plain signal-mask calls on stack sets; fexecve with
        // vectors NULL-terminated in our mapping.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            libc::fexecve(self.fd, self.argv.cast(), self.envp.cast());
            let e = sys::errno();
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            drop(self.passed);
            drop(self.scratch);
            e
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_names_its_interpreter_and_a_binary_none() {
        let mut img = Image::default();
        assert_eq!(img.interpreter(), None);
        img.script[..14].copy_from_slice(b"/bin/sh\0-e\0-x\0");
        img.script_len = 14;
        assert_eq!(img.interpreter(), Some(&b"/bin/sh"[..]));
        // A length past the buffer (it never is) reads no further.
        img.script_len = usize::MAX;
        assert_eq!(img.interpreter(), Some(&b"/bin/sh"[..]));
    }

    #[test]
    fn the_attach_value_round_trips_and_refuses_forgeries() {
        let a = Attach::parse(b"v1 ctl=5 log=6 state=7 libs=8,9 preload=10 cwd=/tmp/a b").unwrap();
        assert_eq!(
            a,
            Attach {
                ctl: 5,
                log: Some(6),
                state: 7,
                libs: vec![8, 9],
                preload: Some(10),
                cwd: b"/tmp/a b".to_vec()
            }
        );
        let b = Attach::parse(b"v1 ctl=5 log=- state=7 libs= preload=- cwd=/").unwrap();
        assert_eq!((b.log, b.libs.len(), b.preload), (None, 0, None));
        for bad in [
            &b""[..],
            b"v2 ctl=5 log=6 state=7 libs= preload=- cwd=/",
            b"v1 ctl=x log=6 state=7 libs= preload=- cwd=/",
            b"v1 ctl=-1 log=6 state=7 libs= preload=- cwd=/",
            b"v1 ctl=5 log=6 state=7 libs=1,2,3,4,5 preload=- cwd=/",
            b"v1 ctl=5 log=6 state=7 libs= preload=- cwd=relative",
            b"v1 log=6 ctl=5 state=7 libs= preload=- cwd=/",
            b"v1 ctl=9999999999 log=6 state=7 libs= preload=- cwd=/",
        ] {
            assert_eq!(Attach::parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn vectors_are_built_in_the_mapping_with_our_variables_replaced() {
        use std::ffi::CString;
        let strs = |v: &[&str]| v.iter().map(|s| CString::new(*s).unwrap()).collect::<Vec<_>>();
        let args = strs(&["./run.sh", "a b", "c"]);
        let envs = strs(&[
            "HOME=/root",
            "LD_PRELOAD=/x/shim.so",
            "SIGCAP_ATTACH=v1 forged",
            "TERM=xterm",
        ]);
        let ptrs = |v: &[CString]| {
            let mut p: Vec<usize> = v.iter().map(|c| c.as_ptr() as usize).collect();
            p.push(0);
            p
        };
        let (argv, envp) = (ptrs(&args), ptrs(&envs));
        let null = tempfile_fd();
        let id = sys::FileId::of(null).unwrap();
        let env = ExecEnv {
            libs: [(null, id); LIBS_MAX],
            nlibs: 2,
            state: (null, id),
            preload: Some((null, id)),
        };
        let mut img = Image {
            program: null,
            linker: null,
            ..Image::default()
        };
        img.script[..11].copy_from_slice(b"/bin/sh\0-e\0");
        img.script_len = 11;
        let call = Call {
            path: args[0].as_ptr() as usize,
            addr: argv.as_ptr() as usize,
            data: envp.as_ptr() as usize,
            ..Call::default()
        };
        let r = prepare(&env, &img, &call, (null, &id), None).unwrap();
        let read = |v: *const *const u8| {
            let mut out = Vec::new();
            let mut i = 0;
            // SAFETY: NULL-terminated vectors in the scratch mapping.
            unsafe {
                while !(*v.add(i)).is_null() {
                    out.push(
                        std::ffi::CStr::from_ptr((*v.add(i)).cast())
                            .to_string_lossy()
                            .into_owned(),
                    );
                    i += 1;
                }
            }
            out
        };
        let a = read(r.argv);
        assert_eq!(&a[..2], ["ld-elf.so.1", "-f"]);
        assert_eq!(&a[3..], ["--", "/bin/sh", "-e", "./run.sh", "a b", "c"]);
        let e = read(r.envp);
        assert_eq!(&e[..2], ["HOME=/root", "TERM=xterm"]);
        assert!(e[2].starts_with("LD_LIBRARY_PATH_FDS="), "{e:?}");
        assert!(e[3].starts_with("LD_PRELOAD_FDS="), "{e:?}");
        let attach = Attach::parse(e[4].strip_prefix("SIGCAP_ATTACH=").unwrap().as_bytes()).unwrap();
        assert_eq!(attach.libs.len(), 2);
        assert_eq!(attach.log, None);
        assert_eq!(e.len(), 5);
        // The duplicates are closed when the exec does not happen.
        let ctl = attach.ctl;
        drop(r);
        // SAFETY: probing a descriptor number.
        assert_eq!(unsafe { libc::fcntl(ctl, libc::F_GETFD) }, -1);
        sys::close(null);
    }

    fn tempfile_fd() -> RawFd {
        // SAFETY: a C string literal.
        unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }
    }
}
