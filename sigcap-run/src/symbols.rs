//! Symbolizing the stack addresses of violation records, after the run,
//! from the map of loaded objects the shim wrote at enter
//! (`dl_iterate_phdr`) and the objects' files.
//!
//! A record carries two kinds of addresses: the frame-pointer walk's
//! return addresses (`stack`), reliable where code keeps frame pointers,
//! and the handler's stack scan (`scan`): words above the stack pointer
//! that point into code, which is how frames of code built without frame
//! pointers (libc, distribution binaries) are found at all. A scanned
//! word is only a candidate; as in Breakpad's stack scanning it is kept
//! only if the bytes just before it in the object's file decode as a call
//! instruction (`ends_with_call`): a return address always follows its
//! call, a function pointer or a stale value rarely does. Kept candidates
//! are merged into the walk's frames in stack order and marked
//! `scanned`.
//!
//! Names come from `.symtab` when present, else `.dynsym` (the nearest
//! preceding *exported* function, marked `(dynsym, nearest)`); function,
//! file and line from DWARF (`addr2line`) where the object, or its
//! separate debug file under /usr/lib/debug/.build-id, has `.debug_info`.
use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

#[derive(Clone, Debug, Serialize)]
pub struct Frame {
    pub addr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Offset in the object (ELF virtual address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// The function from DWARF (the innermost one, if inlined).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// The source file and line of the call, from DWARF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Found by the stack scan (and checked to follow a call), not by the
    /// frame-pointer walk.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub scanned: bool,
}

impl Frame {
    fn bare(addr: u64) -> Frame {
        Frame {
            addr: format!("{addr:#x}"),
            object: None,
            offset: None,
            symbol: None,
            function: None,
            file: None,
            line: None,
            scanned: false,
        }
    }

    fn object_name(&self) -> String {
        self.object
            .as_deref()
            .map(|o| {
                Path::new(o)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    /// One line: `function (file.c:17)` with debug info, else
    /// `symbol+0x42 (object)`, else `0x1234 (object)`.
    pub fn short(&self) -> String {
        if let (Some(file), Some(line)) = (&self.file, self.line) {
            let func = self
                .function
                .clone()
                .or_else(|| {
                    self.symbol
                        .as_deref()
                        .map(|s| s.split('+').next().unwrap_or(s).to_string())
                })
                .unwrap_or_else(|| self.object_name());
            let base = Path::new(file)
                .file_name()
                .map_or(file.clone(), |f| f.to_string_lossy().into_owned());
            return format!("{func} ({base}:{line})");
        }
        let obj = self.object_name();
        match &self.symbol {
            Some(s) => format!("{s} ({obj})"),
            None => format!("{} ({obj})", self.offset.as_deref().unwrap_or(&self.addr)),
        }
    }

    /// Whether the frame is in the C runtime (libc, its thread and
    /// system-call libraries, the dynamic linker) or sigcap-run's shim:
    /// not the program's own code.
    pub fn in_runtime(&self) -> bool {
        let name = self.object_name();
        const RUNTIME: [&str; 10] = [
            "libc.so",
            "libc-",
            "libpthread",
            "libdl.so",
            "ld-linux",
            "ld64.so",
            "ld-elf",
            "libsys.so",
            "libthr.so",
            "libsigcap_run_shim",
        ];
        RUNTIME.iter().any(|p| name.starts_with(p))
    }
}

/// The program's own frame: the first in an object that is neither the C
/// runtime nor the shim (the main executable, or a library such as
/// libcurl that made the call). Its index in `frames`.
pub fn own_frame(frames: &[Frame]) -> Option<usize> {
    frames.iter().position(|f| f.object.is_some() && !f.in_runtime())
}

/// Whether `before`, the bytes that end right at a return address (up to
/// 7), end with a call instruction: `E8 rel32` (5 bytes) or `FF /2`, an
/// indirect call through a register or memory (2 to 7 bytes, a REX
/// prefix before it changes nothing here).
pub fn ends_with_call(before: &[u8]) -> bool {
    let n = before.len();
    if n >= 5 && before[n - 5] == 0xe8 {
        return true;
    }
    (2..=n.min(7)).any(|k| {
        let at = n - k;
        before[at] == 0xff && {
            let modrm = before[at + 1];
            (modrm >> 3) & 7 == 2 && ff_len(modrm, before.get(at + 2).copied()) == Some(k)
        }
    })
}

/// The length of an `FF` instruction from its ModRM (and SIB) byte.
fn ff_len(modrm: u8, sib: Option<u8>) -> Option<usize> {
    let (md, rm) = (modrm >> 6, modrm & 7);
    if md == 3 {
        return Some(2);
    }
    let sib_len = usize::from(rm == 4);
    let disp = match md {
        0 if rm == 5 => 4,
        0 if rm == 4 && sib? & 7 == 5 => 4,
        0 => 0,
        1 => 1,
        _ => 4,
    };
    Some(2 + sib_len + disp)
}

/// Candidates read from a record beyond this are ignored (the handler
/// writes at most 16; the stream is the program's to forge).
const SCAN_READ_MAX: usize = 32;

/// Object files larger than this are not read (a forged object map could
/// name /dev/zero or a huge file).
const OBJECT_MAX: u64 = 1 << 30;

struct Obj {
    base: u64,
    path: PathBuf,
    segs: Vec<(u64, u64)>,
}

struct Syms {
    /// (address, size, name), sorted by address.
    list: Vec<(u64, u64, String)>,
    from_dynsym: bool,
}

type Dwarf = addr2line::Context<gimli::EndianRcSlice<gimli::RunTimeEndian>>;

/// What is read once from one object's file.
struct Loaded {
    syms: Syms,
    /// The file's bytes and its loadable segments (vaddr, file offset,
    /// size in the file), for the bytes before a return address.
    data: Vec<u8>,
    segments: Vec<(u64, u64, u64)>,
    dwarf: Option<Dwarf>,
}

impl Loaded {
    /// Up to 7 bytes of the file that end at virtual address `vaddr`.
    fn bytes_before(&self, vaddr: u64) -> Option<&[u8]> {
        let &(sv, so, _) = self
            .segments
            .iter()
            .find(|&&(sv, _, sz)| vaddr > sv && vaddr <= sv + sz)?;
        let start = vaddr.saturating_sub(7).max(sv);
        let (a, b) = (so + (start - sv), so + (vaddr - sv));
        self.data.get(a as usize..b as usize)
    }
}

pub struct Symbolizer {
    objs: Vec<Obj>,
    cache: std::cell::RefCell<HashMap<PathBuf, Option<Rc<Loaded>>>>,
}

impl Symbolizer {
    /// Reads the first `objects.PID` file in `dir`. The main program's entry
    /// has an empty name; `prog` stands in for it.
    pub fn load(dir: &Path, prog: &Path) -> Symbolizer {
        let file = std::fs::read_dir(dir).ok().and_then(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("objects."))
                })
                .min()
        });
        let text = file.and_then(|f| std::fs::read_to_string(f).ok()).unwrap_or_default();
        Symbolizer::from_map(&text, prog)
    }

    /// The symbolizer of an object map in the shim's format (`obj BASE
    /// PATH` lines, each followed by its `seg START END` lines).
    pub fn from_map(text: &str, prog: &Path) -> Symbolizer {
        let mut objs = Vec::new();
        for line in text.lines() {
            let mut it = line.splitn(3, ' ');
            match (it.next(), it.next(), it.next()) {
                (Some("obj"), Some(base), name) => {
                    let name = name.unwrap_or("").trim();
                    objs.push(Obj {
                        base: parse_hex(base),
                        path: if name.is_empty() {
                            prog.to_owned()
                        } else {
                            PathBuf::from(name)
                        },
                        segs: Vec::new(),
                    });
                }
                (Some("seg"), Some(s), Some(e)) => {
                    if let Some(o) = objs.last_mut() {
                        o.segs.push((parse_hex(s), parse_hex(e)));
                    }
                }
                _ => {}
            }
        }
        Symbolizer {
            objs,
            cache: Default::default(),
        }
    }

    fn object_of(&self, addr: u64) -> Option<&Obj> {
        self.objs
            .iter()
            .find(|o| o.segs.iter().any(|&(s, e)| addr >= s && addr < e))
    }

    fn loaded(&self, o: &Obj) -> Option<Rc<Loaded>> {
        let mut cache = self.cache.borrow_mut();
        cache
            .entry(o.path.clone())
            .or_insert_with(|| read_object(&o.path).map(Rc::new))
            .clone()
    }

    /// The frame of code address `addr` (looked up as is: callers pass
    /// a return address minus one, inside the call instruction).
    fn lookup(&self, addr: u64) -> Option<Frame> {
        let o = self.object_of(addr)?;
        let off = addr.wrapping_sub(o.base);
        let loaded = self.loaded(o);
        let symbol = loaded.as_ref().and_then(|l| {
            let s = &l.syms;
            let i = s.list.partition_point(|(a, _, _)| *a <= off).checked_sub(1)?;
            let (a, size, name) = &s.list[i];
            if *size != 0 && off >= a + size && !s.from_dynsym {
                return None;
            }
            let tag = if s.from_dynsym && (*size == 0 || off >= a + size) {
                " (dynsym, nearest)"
            } else {
                ""
            };
            Some(format!("{name}+{:#x}{tag}", off - a))
        });
        let mut f = Frame::bare(addr);
        f.object = Some(o.path.display().to_string());
        f.offset = Some(format!("{off:#x}"));
        f.symbol = symbol;
        if let Some(d) = loaded.as_ref().and_then(|l| l.dwarf.as_ref()) {
            (f.function, f.file, f.line) = dwarf_location(d, off);
        }
        Some(f)
    }

    /// Whether `ret` (a return address) is in loaded code and follows a
    /// call instruction in its object's file.
    fn follows_call(&self, ret: u64) -> bool {
        let Some(o) = self.object_of(ret.wrapping_sub(1)) else {
            return false;
        };
        let Some(l) = self.loaded(o) else {
            return false;
        };
        l.bytes_before(ret.wrapping_sub(o.base)).is_some_and(ends_with_call)
    }

    /// The call site, then the frames of the walk and the scan, innermost
    /// first. The walk's frames stop at the first that is not inside
    /// loaded code (the end of a frame-pointer chain, or rbp used as a
    /// general register by code built without frame pointers). Scanned
    /// candidates that follow a call are merged in stack order: a
    /// candidate equal to the walk's next frame is that frame; one before
    /// it is inserted there (marked `scanned`); repeats are dropped.
    pub fn frames(&self, ip: u64, stack: &[u64], scan: &[u64]) -> Vec<Frame> {
        // On Linux ip is the address after the syscall instruction; a
        // return address also points after its call: both are looked up
        // one byte back, inside the instruction.
        let at = |a: u64| {
            self.lookup(a.saturating_sub(1)).map(|mut f| {
                f.addr = format!("{a:#x}");
                f
            })
        };
        let mut walk: Vec<(u64, Frame)> = Vec::new();
        for &a in stack {
            match at(a) {
                Some(f) => walk.push((a, f)),
                None => break,
            }
        }
        let mut out = vec![at(ip).unwrap_or_else(|| Frame::bare(ip))];
        let mut seen: Vec<u64> = Vec::new();
        let mut next = 0;
        for &c in scan.iter().take(SCAN_READ_MAX) {
            if let Some(k) = walk[next..].iter().position(|(a, _)| *a == c) {
                for (a, f) in &walk[next..=next + k] {
                    seen.push(*a);
                    out.push(f.clone());
                }
                next += k + 1;
            } else if !seen.contains(&c) && !walk[next..].iter().any(|(a, _)| *a == c) && self.follows_call(c) {
                if let Some(mut f) = at(c) {
                    f.scanned = true;
                    seen.push(c);
                    out.push(f);
                }
            }
        }
        out.extend(walk[next..].iter().map(|(_, f)| f.clone()));
        out
    }
}

/// The innermost function, file and line DWARF gives for `probe`.
fn dwarf_location(d: &Dwarf, probe: u64) -> (Option<String>, Option<String>, Option<u32>) {
    let Ok(mut it) = d.find_frames(probe).skip_all_loads() else {
        return (None, None, None);
    };
    let Ok(Some(f)) = it.next() else {
        return (None, None, None);
    };
    let function = f
        .function
        .as_ref()
        .and_then(|n| n.demangle().ok().map(|s| s.into_owned()));
    let (file, line) = f
        .location
        .map_or((None, None), |l| (l.file.map(str::to_string), l.line));
    (function, file, line)
}

fn parse_hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or(0)
}

/// Reads a regular file of at most OBJECT_MAX bytes.
fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > OBJECT_MAX {
        return None;
    }
    std::fs::read(path).ok()
}

fn read_object(path: &Path) -> Option<Loaded> {
    let data = read_bounded(path)?;
    let file = object::File::parse(&*data).ok()?;
    let collect = |it: object::SymbolIterator<'_, '_>| -> Vec<(u64, u64, String)> {
        it.filter(|s| s.kind() == object::SymbolKind::Text && s.address() != 0)
            .filter_map(|s| {
                let n = s.name().ok()?;
                Some((s.address(), s.size(), rustc_demangle::demangle(n).to_string()))
            })
            .collect()
    };
    let mut list = collect(file.symbols());
    let from_dynsym = list.is_empty();
    if from_dynsym {
        list = collect(file.dynamic_symbols());
    }
    list.sort_by_key(|s| s.0);
    let segments = file
        .segments()
        .map(|s| {
            let (off, size) = s.file_range();
            (s.address(), off, size)
        })
        .collect();
    let dwarf = dwarf_of(&file).or_else(|| {
        // Debian's -dbgsym packages: /usr/lib/debug/.build-id/ab/cdef….debug
        let id = file.build_id().ok()??;
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        (hex.len() > 2).then_some(())?;
        let dbg = read_bounded(
            &Path::new("/usr/lib/debug/.build-id")
                .join(&hex[..2])
                .join(format!("{}.debug", &hex[2..])),
        )?;
        dwarf_of(&object::File::parse(&*dbg).ok()?)
    });
    drop(file);
    Some(Loaded {
        syms: Syms { list, from_dynsym },
        data,
        segments,
        dwarf,
    })
}

/// The DWARF of `file`, if it has `.debug_info` (uncompressed: the
/// `object` crate is built without decompression).
fn dwarf_of(file: &object::File) -> Option<Dwarf> {
    file.section_by_name(".debug_info")?;
    let endian = if file.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<gimli::EndianRcSlice<gimli::RunTimeEndian>, gimli::Error> {
        let data = file
            .section_by_name(id.name())
            .and_then(|s| s.uncompressed_data().ok())
            .unwrap_or(std::borrow::Cow::Borrowed(&[]));
        Ok(gimli::EndianRcSlice::new(Rc::from(&*data), endian))
    };
    let dwarf = gimli::Dwarf::load(load).ok()?;
    addr2line::Context::from_dwarf(dwarf).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_and_indirect_calls_are_recognised() {
        // call rel32
        assert!(ends_with_call(&[0x48, 0x89, 0xe8, 0x10, 0x20, 0x30, 0x40]));
        // call *%rax; call *%r8 (REX.B 41 before FF D0)
        assert!(ends_with_call(&[0x90, 0xff, 0xd0]));
        assert!(ends_with_call(&[0x41, 0xff, 0xd0]));
        // call *(%rax)
        assert!(ends_with_call(&[0x00, 0xff, 0x10]));
        // call *0x8(%rax)
        assert!(ends_with_call(&[0xff, 0x50, 0x08]));
        // call *0x8(%rsp) (SIB, disp8)
        assert!(ends_with_call(&[0xff, 0x54, 0x24, 0x08]));
        // call *0x1234(%rip): FF 15 disp32, the -fno-plt form
        assert!(ends_with_call(&[0x00, 0xff, 0x15, 0x34, 0x12, 0, 0]));
        // call *0x100(%rax) (disp32)
        assert!(ends_with_call(&[0xff, 0x90, 0, 1, 0, 0]));
        // call *0x100(%rsp) (SIB, disp32); call *0x100(,%rax,8) (no base)
        assert!(ends_with_call(&[0xff, 0x94, 0x24, 0, 1, 0, 0]));
        assert!(ends_with_call(&[0xff, 0x14, 0xc5, 0, 1, 0, 0]));
    }

    #[test]
    fn other_instructions_are_not_calls() {
        // jmp *%rax (FF /4), push (FF /6), inc (FF /0)
        assert!(!ends_with_call(&[0x90, 0xff, 0xe0]));
        assert!(!ends_with_call(&[0x90, 0xff, 0x30]));
        assert!(!ends_with_call(&[0x90, 0xff, 0xc0]));
        // FF /2 whose length does not end at the address: call *0x8(%rax)
        // followed by one more byte is not a return address.
        assert!(!ends_with_call(&[0xff, 0x50, 0x08, 0x90]));
        // jmp rel32 (E9), plain data, too short
        assert!(!ends_with_call(&[0x00, 0x00, 0xe9, 1, 2, 3, 4]));
        assert!(!ends_with_call(&[0; 7]));
        assert!(!ends_with_call(&[0xff]));
        assert!(!ends_with_call(&[]));
    }

    /// A symbolizer over this test binary, whose code is really mapped:
    /// its object map as the shim writes it (dl_iterate_phdr's first
    /// object, the executable, with its executable segments).
    fn this_binary() -> Symbolizer {
        unsafe extern "C" fn first(
            info: *mut libc::dl_phdr_info,
            _: libc::size_t,
            data: *mut libc::c_void,
        ) -> libc::c_int {
            // SAFETY: data is the String below; info is the loader's.
            let (out, info) = unsafe { (&mut *(data as *mut String), &*info) };
            let base = info.dlpi_addr;
            out.push_str(&format!("obj {base:#x} \n"));
            for i in 0..info.dlpi_phnum as usize {
                // SAFETY: dlpi_phdr has dlpi_phnum entries.
                let ph = unsafe { &*info.dlpi_phdr.add(i) };
                if ph.p_type == libc::PT_LOAD && ph.p_flags & 1 != 0 {
                    let start = base + ph.p_vaddr;
                    out.push_str(&format!("seg {start:#x} {:#x}\n", start + ph.p_memsz));
                }
            }
            1 // the executable only
        }
        let mut map = String::new();
        // SAFETY: the callback only reads the info it is given.
        unsafe { libc::dl_iterate_phdr(Some(first), (&mut map as *mut String).cast()) };
        Symbolizer::from_map(&map, &std::env::current_exe().unwrap())
    }

    /// An address inside this function's code (not after a call).
    #[inline(never)]
    extern "C" fn returns_here() -> u64 {
        let r: u64;
        // SAFETY: only computes an address.
        unsafe { std::arch::asm!("lea {}, [rip + 2f]", "2:", out(reg) r) };
        r
    }

    #[test]
    fn candidates_are_kept_only_after_a_call_and_merged_in_order() {
        let s = this_binary();
        // A genuine return address: right after a call of returns_here.
        let (ret, site) = {
            let f: extern "C" fn() -> u64 = returns_here;
            let mut back = 0u64;
            // SAFETY: calls f through an explicit call; r12 is callee-saved.
            unsafe {
                std::arch::asm!(
                    "lea r12, [rip + 2f]",
                    "call {f}",
                    "2:",
                    f = in(reg) f,
                    out("r12") back,
                    clobber_abi("C"),
                )
            };
            (back, returns_here())
        };
        assert!(s.follows_call(ret), "{ret:#x}");
        // An address after a lea (48 8d 05 00 00 00 00), and addresses
        // outside the map, are not.
        let start = returns_here as *const () as u64;
        assert!(!s.follows_call(site));
        assert!(!s.follows_call(0));
        assert!(!s.follows_call(u64::MAX));
        let fs = s.frames(site, &[], &[site, u64::MAX, ret, 0, ret, 1 << 40]);
        assert_eq!(fs.len(), 2, "{fs:#?}");
        assert!(!fs[0].scanned);
        assert!(fs[1].scanned && fs[1].addr == format!("{ret:#x}"), "{fs:#?}");
        // A candidate equal to the walk's frame is that frame, not a
        // scanned copy; the walk's later frames follow.
        let fs = s.frames(site, &[ret, start + 1], &[ret]);
        assert_eq!(fs.len(), 3, "{fs:#?}");
        assert!(fs.iter().all(|f| !f.scanned));
        // Garbage only: the site alone, nothing crashes.
        let junk: Vec<u64> = (0..100)
            .map(|i| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let fs = s.frames(0, &junk, &junk);
        assert_eq!(fs.len(), 1);
        assert!(fs[0].object.is_none());
    }

    #[test]
    fn the_programs_frame_is_the_first_outside_the_c_runtime() {
        let mk = |obj: &str| {
            let mut f = Frame::bare(1);
            f.object = Some(obj.to_string());
            f
        };
        let fs = [
            mk("/lib/x86_64-linux-gnu/libc.so.6"),
            mk("/usr/lib/libsigcap_run_shim.so"),
            mk("/lib/libsys.so.7"),
            mk("/usr/bin/cat"),
            mk("/lib/x86_64-linux-gnu/libc.so.6"),
        ];
        assert_eq!(own_frame(&fs), Some(3));
        assert_eq!(own_frame(&fs[..3]), None);
        assert_eq!(own_frame(&[Frame::bare(5)]), None);
    }
}
