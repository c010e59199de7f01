//! The descriptor numbers of a range that are not held: what a bulk
//! close (`close_range(2)`, `closefrom(3)`) may close while the
//! sandbox's own descriptors stay open. Pure and allocation-free: the
//! handler (Linux, a `close_range` trapped over held numbers) and
//! sigcap-run's shim (its `close_range` and `closefrom`, in vfork children
//! too) both walk it and make one system call per range.

/// The sub-ranges of `first..=last` (inclusive) between the numbers in
/// `held`, which are ascending; negative entries are skipped. Empty when
/// every number of the range is held, and when `first > last`.
pub fn ranges_around(first: u32, last: u32, held: &[i32]) -> RangesAround<'_> {
    RangesAround {
        next: first as u64,
        last: last as u64,
        held: held.iter(),
    }
}

/// The iterator of [`ranges_around`]: `(from, to)`, both inclusive.
#[derive(Debug, Clone)]
pub struct RangesAround<'a> {
    /// The first number not yet given out (u64: one past u32::MAX fits).
    next: u64,
    last: u64,
    held: std::slice::Iter<'a, i32>,
}

impl Iterator for RangesAround<'_> {
    type Item = (u32, u32);

    fn next(&mut self) -> Option<(u32, u32)> {
        if self.next > self.last {
            return None;
        }
        for &fd in self.held.by_ref() {
            let Ok(fd) = u64::try_from(fd) else { continue };
            if fd < self.next {
                continue;
            }
            if fd > self.last {
                break;
            }
            let from = self.next;
            self.next = fd + 1;
            if fd > from {
                return Some((from as u32, (fd - 1) as u32));
            }
        }
        let from = std::mem::replace(&mut self.next, self.last + 1);
        (from <= self.last).then_some((from as u32, self.last as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(first: u32, last: u32, held: &[i32]) -> Vec<(u32, u32)> {
        ranges_around(first, last, held).collect()
    }

    #[test]
    fn the_range_is_cut_around_each_held_number_inside_it() {
        assert_eq!(all(3, u32::MAX, &[]), [(3, u32::MAX)]);
        assert_eq!(
            all(3, u32::MAX, &[512, 513, 600]),
            [(3, 511), (514, 599), (601, u32::MAX)]
        );
        // Held numbers outside the range, or negative (padding): ignored.
        assert_eq!(all(3, 100, &[1, 512, -1]), [(3, 100)]);
        assert_eq!(all(3, 100, &[-1, -1]), [(3, 100)]);
        // At the ends of the range.
        assert_eq!(all(512, 600, &[512, 600]), [(513, 599)]);
        assert_eq!(all(0, u32::MAX, &[0]), [(1, u32::MAX)]);
        assert_eq!(all(0, 10, &[10]), [(0, 9)]);
    }

    #[test]
    fn nothing_is_left_when_the_range_is_all_held_or_empty() {
        assert_eq!(all(512, 512, &[512]), []);
        assert_eq!(all(512, 513, &[512, 513]), []);
        assert_eq!(all(10, 3, &[]), []);
        assert_eq!(all(u32::MAX, u32::MAX, &[]), [(u32::MAX, u32::MAX)]);
    }
}
