//! Where the process's executable code is: the table the handler's stack
//! scan checks candidate return addresses against.
//!
//! Filled once at `enter()` from `dl_iterate_phdr` (every loaded object's
//! `PT_LOAD` segments with `PF_X`) into a fixed array, sorted, so that the
//! handler can ask "is this word an address in code?" without a lock, an
//! allocation or a system call. Objects loaded after `enter()` (a later
//! `dlopen`) are not in it: their addresses are not recognised.

/// Executable ranges kept; objects beyond are left out (a process with
/// more than this many executable segments is rare: one per object).
pub const CODE_MAX: usize = 256;

/// Sorted, non-overlapping `[start, end)` ranges of executable code.
#[derive(Clone, Copy, Debug)]
pub struct CodeMap {
    ranges: [(u64, u64); CODE_MAX],
    len: usize,
}

impl Default for CodeMap {
    fn default() -> Self {
        CodeMap {
            ranges: [(0, 0); CODE_MAX],
            len: 0,
        }
    }
}

impl CodeMap {
    /// A map of `ranges` (any order; empty ranges dropped; beyond
    /// [`CODE_MAX`] ignored).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u64, u64)>) -> CodeMap {
        let mut m = CodeMap::default();
        for (s, e) in ranges {
            if s < e && m.len < CODE_MAX {
                m.ranges[m.len] = (s, e);
                m.len += 1;
            }
        }
        m.ranges[..m.len].sort_unstable();
        m
    }

    /// The executable segments of every object loaded now.
    pub fn loaded() -> CodeMap {
        /// ELF segment flag: executable (not in the libc crate).
        const PF_X: u32 = 1;
        struct Acc {
            ranges: Vec<(u64, u64)>,
            /// Where the vDSO's ELF header is (0: none).
            vdso: u64,
        }
        // ELF field types differ between OSes.
        #[allow(clippy::unnecessary_cast)]
        unsafe extern "C" fn each(
            info: *mut libc::dl_phdr_info,
            _size: libc::size_t,
            data: *mut libc::c_void,
        ) -> libc::c_int {
            // SAFETY: data is the Acc passed below; info is the loader's,
            // and dlpi_phdr has dlpi_phnum entries.
            let (acc, info) = unsafe { (&mut *(data as *mut Acc), &*info) };
            let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
            let base = info.dlpi_addr as u64;
            // The vDSO (clock_gettime and friends) never makes a call that
            // violates, and it sits beside the stack: leaving it out keeps
            // stack addresses above every range, rejected by one compare.
            let header = phdrs
                .iter()
                .find(|ph| ph.p_type == libc::PT_LOAD && ph.p_offset == 0)
                .map(|ph| base.wrapping_add(ph.p_vaddr as u64));
            if acc.vdso != 0 && header == Some(acc.vdso) {
                return 0;
            }
            for ph in phdrs {
                if ph.p_type == libc::PT_LOAD && ph.p_flags & PF_X != 0 {
                    let start = base.wrapping_add(ph.p_vaddr as u64);
                    acc.ranges.push((start, start.saturating_add(ph.p_memsz as u64)));
                }
            }
            0
        }
        #[cfg(target_os = "linux")]
        // SAFETY: getauxval has no preconditions.
        let vdso = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as u64;
        #[cfg(not(target_os = "linux"))]
        let vdso = 0;
        let mut acc = Acc {
            ranges: Vec::new(),
            vdso,
        };
        // SAFETY: the callback only reads the info it is given.
        unsafe { libc::dl_iterate_phdr(Some(each), (&mut acc as *mut Acc).cast()) };
        CodeMap::from_ranges(acc.ranges)
    }

    /// Whether `addr` is inside executable code. Allocation-free and
    /// lock-free (a binary search): safe in the signal handler.
    pub fn contains(&self, addr: u64) -> bool {
        let r = &self.ranges[..self.len];
        if r.is_empty() || addr < r[0].0 || addr >= r[r.len() - 1].1 {
            return false;
        }
        // The last range starting at or below addr.
        let i = r.partition_point(|&(s, _)| s <= addr);
        i > 0 && addr < r[i - 1].1
    }

    /// Whether the map is empty (the scan is off: nothing to look for).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many ranges the map holds.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_inside_a_range_are_code() {
        let m = CodeMap::from_ranges([(0x5000, 0x6000), (0x1000, 0x2000), (0x3000, 0x3000)]);
        assert_eq!(m.len(), 2, "the empty range is dropped");
        for a in [0x1000, 0x1fff, 0x5000, 0x5fff] {
            assert!(m.contains(a), "{a:#x}");
        }
        for a in [0, 0xfff, 0x2000, 0x3000, 0x4fff, 0x6000, u64::MAX] {
            assert!(!m.contains(a), "{a:#x}");
        }
        assert!(!CodeMap::default().contains(0x1000));
    }

    #[test]
    fn this_process_is_mapped_including_this_function() {
        let m = CodeMap::loaded();
        assert!(m.len() >= 2, "the test binary and libc at least");
        let f = this_process_is_mapped_including_this_function as *const () as u64;
        assert!(m.contains(f));
        assert!(m.contains(libc::getpid as *const () as u64));
        let data = &m as *const CodeMap as u64;
        assert!(!m.contains(data), "a stack address is not code");
        #[cfg(target_os = "linux")]
        {
            // SAFETY: getauxval has no preconditions.
            let vdso = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as u64;
            assert!(vdso != 0 && !m.contains(vdso), "the vDSO is left out");
        }
    }
}
