//! exec (FreeBSD): the image the handler runs with `fexecve`.
//!
//! Capability mode allows only `fexecve`, and refuses even that for a
//! dynamically linked program: the kernel will not look its run-time
//! linker up by path (`imgact_elf.c`, `load_file`). The linker is itself
//! static, so the handler runs it directly, with the program's
//! descriptor (`ld-elf.so.1 -f FD -- argv...`), and the program's
//! libraries come from directory descriptors (`LD_LIBRARY_PATH_FDS`).
//! The broker decides the program (access `exec` under its rule), opens
//! it, reads how it is run, and hands the handler:
//! - an ELF program with an interpreter: the program and its linker;
//! - a static ELF program: the program alone;
//! - a `#!` script: its interpreter, decided as a program of its own
//!   (`exec` on it too), with the `#!` line's words as the payload; the
//!   script itself is then read by the interpreter, by path, through the
//!   broker like any open.
//!
//! The run-time linker named by the program's `PT_INTERP` is opened as
//! part of the program (not decided on its own: every dynamic program
//! names one); it must be an absolute path to a regular file.
//!
//! The parsing below is pure and unit-tested; only [`State::exec`] touches
//! the system.
use super::fs::Reach;
use super::{Outcome, State, WireDecision};
use crate::policy::Access;
use crate::proto::{Request, OUT_MAX};
use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// What a file is, as exec sees it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Image {
    /// An ELF program; `Some(linker)` if it names a run-time linker.
    Elf(Option<Vec<u8>>),
    /// A `#!` script: the interpreter and its arguments, split on blanks
    /// as FreeBSD's kernel does (imgact_shell.c).
    Script(Vec<Vec<u8>>),
}

/// How long a `#!` line may be (the kernel reads one page).
const LINE_MAX: usize = 4096;
/// Most program headers looked at (a real program has about ten).
const PHNUM_MAX: usize = 64;
/// Longest PT_INTERP path read.
const INTERP_MAX: usize = 1024;

/// What `head` (the file's first bytes) says the file is. `read_at`
/// reads more of the file (offset, length) for the program headers.
/// ENOEXEC for anything else, as execve(2) says.
pub(crate) fn parse_image(head: &[u8], read_at: &dyn Fn(u64, usize) -> Option<Vec<u8>>) -> Result<Image, i32> {
    if let Some(rest) = head.strip_prefix(b"#!") {
        let end = rest.iter().position(|&c| c == b'\n').ok_or(libc::ENOEXEC)?;
        if end + 2 > LINE_MAX {
            return Err(libc::ENAMETOOLONG);
        }
        let words: Vec<Vec<u8>> = rest[..end]
            .split(|&c| c == b' ' || c == b'\t')
            .filter(|w| !w.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        return match words.first() {
            Some(w) if w.first() == Some(&b'/') && !w.contains(&0) => Ok(Image::Script(words)),
            _ => Err(libc::ENOEXEC),
        };
    }
    // Elf64_Ehdr, little-endian x86-64/aarch64 programs of this ABI.
    if head.len() < 64 || &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        return Err(libc::ENOEXEC);
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or([0; 4]));
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
    let e_type = u16_at(head, 16);
    if e_type != 2 && e_type != 3 {
        // Neither ET_EXEC nor ET_DYN.
        return Err(libc::ENOEXEC);
    }
    let (phoff, phentsize, phnum) = (u64_at(head, 32), u16_at(head, 54) as usize, u16_at(head, 56) as usize);
    if phentsize != 56 || phnum == 0 || phnum > PHNUM_MAX {
        return Err(libc::ENOEXEC);
    }
    let ph = read_at(phoff, phentsize * phnum).ok_or(libc::ENOEXEC)?;
    if ph.len() != phentsize * phnum {
        return Err(libc::ENOEXEC);
    }
    for h in ph.chunks_exact(phentsize) {
        const PT_INTERP: u32 = 3;
        if u32_at(h, 0) != PT_INTERP {
            continue;
        }
        let (off, size) = (u64_at(h, 8), u64_at(h, 32) as usize);
        if size == 0 || size > INTERP_MAX {
            return Err(libc::ENOEXEC);
        }
        let b = read_at(off, size).ok_or(libc::ENOEXEC)?;
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        let path = b[..end].to_vec();
        if path.first() != Some(&b'/') {
            return Err(libc::ENOEXEC);
        }
        return Ok(Image::Elf(Some(path)));
    }
    Ok(Image::Elf(None))
}

/// The payload the handler receives for a script: the `#!` words, each
/// followed by a NUL. Err if they do not fit the reply.
pub(crate) fn script_payload(words: &[Vec<u8>]) -> Result<Vec<u8>, i32> {
    let mut out = Vec::new();
    for w in words {
        out.extend_from_slice(w);
        out.push(0);
    }
    if out.len() > OUT_MAX {
        return Err(libc::E2BIG);
    }
    Ok(out)
}

/// Reads what [`parse_image`] needs from an open file.
fn image_of(fd: RawFd) -> Result<Image, i32> {
    let st = crate::sys::fstat(fd)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(libc::EACCES);
    }
    let read_at = |off: u64, len: usize| -> Option<Vec<u8>> {
        let mut b = vec![0u8; len];
        // SAFETY: b has len bytes.
        let n = unsafe { libc::pread(fd, b.as_mut_ptr().cast(), len, off as libc::off_t) };
        (n >= 0).then(|| {
            b.truncate(n as usize);
            b
        })
    };
    let head = read_at(0, LINE_MAX).ok_or_else(crate::sys::errno)?;
    parse_image(&head, &read_at)
}

/// Opens the run-time linker a program names: absolute, a regular file.
fn open_linker(path: &[u8]) -> Result<OwnedFd, i32> {
    let c = CString::new(path).map_err(|_| libc::ENOEXEC)?;
    // SAFETY: a C string; the descriptor is owned below.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(crate::sys::errno());
    }
    // SAFETY: a new descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    match image_of(fd.as_raw_fd())? {
        Image::Elf(None) => Ok(fd),
        _ => Err(libc::ENOEXEC),
    }
}

/// Limits a descriptor the handler runs or maps: fexecve, fstat, read,
/// map executable. Fails closed.
#[cfg(target_os = "freebsd")]
fn limit_image(fd: &OwnedFd) -> Result<(), i32> {
    use crate::caprights::*;
    limit(
        fd.as_raw_fd(),
        Rights::of(&[CAP_FEXECVE, CAP_FSTAT, CAP_MMAP_R, CAP_MMAP_X, CAP_FCNTL, CAP_IOCTL]),
    )
}

#[cfg(not(target_os = "freebsd"))]
fn limit_image(_: &OwnedFd) -> Result<(), i32> {
    Ok(())
}

impl State {
    /// Decides and opens what the handler runs for an execve of the
    /// absolute `req.path()` (module comment). Linux's handler never
    /// asks: the filter's traps do not survive exec (README "exec").
    pub(super) fn exec(&self, req: &Request) -> std::result::Result<Outcome, Outcome> {
        if cfg!(not(target_os = "freebsd")) || req.path().first() != Some(&b'/') {
            return Err(Outcome::deny(WireDecision::DeniedBadRequest));
        }
        let flags = libc::O_RDONLY | libc::O_CLOEXEC;
        let who = super::decide::Asker::of(req, crate::proto::Op::Exec);
        let place = self.locate(None, req.path(), who)?;
        let found = self.resolve(place, Access::EXEC, Reach::Whole, flags, 0)?;
        let out = found.outcome();
        let (program, data) = match image_of(found.fd.as_raw_fd()) {
            Err(e) => return Ok(out.with_result(Err(e))),
            Ok(Image::Elf(linker)) => ((found.fd, linker), Vec::new()),
            Ok(Image::Script(words)) => {
                // The interpreter is a program of its own: decided again,
                // and itself no script (the kernel's rule too).
                let abs = PathBuf::from(OsStr::from_bytes(&words[0]));
                let place = self.place_for(abs, who)?;
                let interp = self.resolve(place, Access::EXEC, Reach::Whole, flags, 0)?;
                let linker = match image_of(interp.fd.as_raw_fd()) {
                    Ok(Image::Elf(linker)) => linker,
                    Ok(Image::Script(_)) => return Ok(out.with_result(Err(libc::ENOEXEC))),
                    Err(e) => return Ok(out.with_result(Err(e))),
                };
                match script_payload(&words) {
                    Ok(d) => ((interp.fd, linker), d),
                    Err(e) => return Ok(out.with_result(Err(e))),
                }
            }
        };
        let (image, linker) = program;
        let linker = match linker.as_deref().map(open_linker).transpose() {
            Ok(l) => l,
            Err(e) => return Ok(out.with_result(Err(e))),
        };
        for fd in std::iter::once(&image).chain(linker.as_ref()) {
            if let Err(e) = limit_image(fd) {
                return Ok(out.with_result(Err(e)));
            }
        }
        Ok(Outcome {
            fd: Some(image),
            fd2: linker,
            data,
            ..out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_read(_: u64, _: usize) -> Option<Vec<u8>> {
        None
    }

    /// An ELF64 header with `phnum` program headers at offset 64, and a
    /// file image holding them (PT_INTERP's path at 1024 if `interp`).
    fn elf(interp: Option<&[u8]>) -> Vec<u8> {
        let mut f = vec![0u8; 2048];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[16..18].copy_from_slice(&3u16.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&2u16.to_le_bytes());
        // Header 0: PT_LOAD. Header 1: PT_INTERP or PT_NOTE.
        f[64..68].copy_from_slice(&1u32.to_le_bytes());
        let h = 64 + 56;
        let kind: u32 = if interp.is_some() { 3 } else { 4 };
        f[h..h + 4].copy_from_slice(&kind.to_le_bytes());
        if let Some(p) = interp {
            f[h + 8..h + 16].copy_from_slice(&1024u64.to_le_bytes());
            f[h + 32..h + 40].copy_from_slice(&(p.len() as u64 + 1).to_le_bytes());
            f[1024..1024 + p.len()].copy_from_slice(p);
        }
        f
    }

    fn parse(f: &[u8]) -> Result<Image, i32> {
        let read = |off: u64, len: usize| {
            let start = usize::try_from(off).ok()?;
            f.get(start..start.checked_add(len)?).map(<[u8]>::to_vec)
        };
        parse_image(f, &read)
    }

    #[test]
    fn a_dynamic_program_names_its_linker() {
        assert_eq!(
            parse(&elf(Some(b"/libexec/ld-elf.so.1"))),
            Ok(Image::Elf(Some(b"/libexec/ld-elf.so.1".to_vec())))
        );
        assert_eq!(parse(&elf(None)), Ok(Image::Elf(None)));
    }

    #[test]
    fn scripts_split_their_line_as_freebsd_does() {
        assert_eq!(
            parse_image(b"#!/bin/sh -e  -x\necho\n", &no_read),
            Ok(Image::Script(vec![b"/bin/sh".to_vec(), b"-e".to_vec(), b"-x".to_vec()]))
        );
        assert_eq!(
            parse_image(b"#! /usr/bin/env\tpython3\n", &no_read),
            Ok(Image::Script(vec![b"/usr/bin/env".to_vec(), b"python3".to_vec()]))
        );
    }

    #[test]
    fn hostile_images_are_refused_not_misread() {
        let bad: &[&[u8]] = &[
            b"",
            b"#!\n",
            b"#!sh\n",               // relative interpreter
            b"#!/bin/sh",            // no end of line
            b"\x7fELF\x01\x01",      // 32-bit, short
            b"plain text, no magic", //
        ];
        for b in bad {
            assert_eq!(parse_image(b, &no_read), Err(libc::ENOEXEC), "{b:?}");
        }
        let mut f = elf(Some(b"ld.so"));
        assert_eq!(parse(&f), Err(libc::ENOEXEC), "a relative linker");
        f = elf(None);
        f[56..58].copy_from_slice(&1000u16.to_le_bytes());
        assert_eq!(parse(&f), Err(libc::ENOEXEC), "too many headers");
        f = elf(None);
        f[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(parse(&f), Err(libc::ENOEXEC), "headers out of the file");
        f = elf(Some(b"/libexec/ld-elf.so.1"));
        f[64 + 56 + 32..64 + 56 + 40].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert_eq!(parse(&f), Err(libc::ENOEXEC), "a huge PT_INTERP");
        let long = [b"#!/bin/sh ".as_slice(), &[b'x'; LINE_MAX], b"\n"].concat();
        assert_eq!(parse_image(&long, &no_read), Err(libc::ENAMETOOLONG));
    }

    #[test]
    fn the_payload_is_the_words_each_ended() {
        let w = vec![b"/bin/sh".to_vec(), b"-e".to_vec()];
        assert_eq!(script_payload(&w).unwrap(), b"/bin/sh\0-e\0");
        assert!(script_payload(&[vec![b'x'; OUT_MAX]]).is_err());
    }
}
