//! Symbolizing the stack addresses of violation records, after the run,
//! from the map of loaded objects the shim wrote at enter
//! (`dl_iterate_phdr`) and the objects' ELF symbol tables (`.symtab` when
//! present, else `.dynsym`). Names only, no file:line: distribution
//! binaries are stripped, and the nearest preceding symbol of a stripped
//! object is its nearest *exported* function, marked `(dynsym)`.
use object::{Object, ObjectSymbol};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
}

impl Frame {
    pub fn short(&self) -> String {
        let obj = self
            .object
            .as_deref()
            .map(|o| {
                Path::new(o)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        match &self.symbol {
            Some(s) => format!("{s} ({obj})"),
            None => format!("{} ({obj})", self.offset.as_deref().unwrap_or(&self.addr)),
        }
    }
}

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

pub struct Symbolizer {
    objs: Vec<Obj>,
    cache: std::cell::RefCell<HashMap<PathBuf, Option<Syms>>>,
}

impl Symbolizer {
    /// Reads the first `objects.PID` file in `dir`. The main program's entry
    /// has an empty name; `prog` stands in for it.
    pub fn load(dir: &Path, prog: &Path) -> Symbolizer {
        let mut objs = Vec::new();
        let file = std::fs::read_dir(dir).ok().and_then(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("objects."))
                })
                .min()
        });
        if let Some(text) = file.and_then(|f| std::fs::read_to_string(f).ok()) {
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
        }
        Symbolizer {
            objs,
            cache: Default::default(),
        }
    }

    fn lookup(&self, addr: u64) -> Option<Frame> {
        let o = self
            .objs
            .iter()
            .find(|o| o.segs.iter().any(|&(s, e)| addr >= s && addr < e))?;
        let off = addr - o.base;
        let mut cache = self.cache.borrow_mut();
        let syms = cache.entry(o.path.clone()).or_insert_with(|| read_syms(&o.path));
        let symbol = syms.as_ref().and_then(|s| {
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
        Some(Frame {
            addr: format!("{addr:#x}"),
            object: Some(o.path.display().to_string()),
            offset: Some(format!("{off:#x}")),
            symbol,
        })
    }

    /// The call site then the return addresses, stopping at the first that
    /// is not inside loaded code (the end of a frame-pointer chain, or rbp
    /// used as a general register by code built without frame pointers).
    pub fn frames(&self, ip: u64, stack: &[u64]) -> Vec<Frame> {
        let mut out = Vec::new();
        // On Linux ip is the address after the syscall instruction; a
        // return address also points after its call: both are looked up
        // one byte back, inside the instruction.
        for (i, &a) in std::iter::once(&ip).chain(stack).enumerate() {
            match self.lookup(a.saturating_sub(1)) {
                Some(mut f) => {
                    f.addr = format!("{a:#x}");
                    out.push(f);
                }
                None if i == 0 => out.push(Frame {
                    addr: format!("{a:#x}"),
                    object: None,
                    offset: None,
                    symbol: None,
                }),
                None => break,
            }
        }
        out
    }
}

fn parse_hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or(0)
}

fn read_syms(path: &Path) -> Option<Syms> {
    let data = std::fs::read(path).ok()?;
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
    Some(Syms { list, from_dynsym })
}
