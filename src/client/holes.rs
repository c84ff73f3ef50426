//! The missing byte ranges of a download: a sorted list of disjoint,
//! non-empty half-open ranges `[start, end)`. Pure logic, no I/O.

/// Sorted, disjoint, non-empty ranges of bytes still to fetch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HoleList {
    holes: Vec<(u64, u64)>,
}

impl HoleList {
    pub fn new() -> HoleList {
        HoleList::default()
    }

    pub fn is_empty(&self) -> bool {
        self.holes.is_empty()
    }

    /// Number of holes.
    pub fn len(&self) -> usize {
        self.holes.len()
    }

    /// The holes, in order.
    #[cfg(test)]
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.holes
    }

    /// Where the first hole starts.
    pub fn first_start(&self) -> Option<u64> {
        self.holes.first().map(|&(a, _)| a)
    }

    /// Bytes in all holes.
    pub fn total(&self) -> u64 {
        self.holes.iter().map(|&(a, b)| b - a).sum()
    }

    /// Add `[start, end)`, merging it with holes it overlaps or touches.
    pub fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut a, mut b) = (start, end);
        // Every hole that overlaps or touches [a, b) joins it.
        let first = self.holes.partition_point(|&(_, e)| e < a);
        let mut last = first;
        while last < self.holes.len() && self.holes[last].0 <= b {
            a = a.min(self.holes[last].0);
            b = b.max(self.holes[last].1);
            last += 1;
        }
        self.holes.splice(first..last, [(a, b)]);
    }

    /// Remove `[start, end)` from the holes (splitting one it falls inside);
    /// true if it overlapped any.
    pub fn cut(&mut self, start: u64, end: u64) -> bool {
        if start >= end {
            return false;
        }
        let first = self.holes.partition_point(|&(_, e)| e <= start);
        let mut last = first;
        while last < self.holes.len() && self.holes[last].0 < end {
            last += 1;
        }
        if first == last {
            return false;
        }
        let (a, _) = self.holes[first];
        let (_, b) = self.holes[last - 1];
        let mut keep = Vec::with_capacity(2);
        if a < start {
            keep.push((a, start));
        }
        if end < b {
            keep.push((end, b));
        }
        self.holes.splice(first..last, keep);
        true
    }

    /// Take up to `most` bytes from the front of the first hole.
    pub fn take_front(&mut self, most: u64) -> Option<(u64, u64)> {
        let &(a, b) = self.holes.first()?;
        let end = b.min(a.saturating_add(most.max(1)));
        self.cut(a, end);
        Some((a, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(ranges: &[(u64, u64)]) -> HoleList {
        let mut h = HoleList::new();
        for &(a, b) in ranges {
            h.insert(a, b);
        }
        h
    }

    #[test]
    fn insert_keeps_holes_sorted_and_merges_overlapping_or_touching_ones() {
        let mut h = list(&[(50, 60), (10, 20)]);
        assert_eq!(h.ranges(), &[(10, 20), (50, 60)]);
        h.insert(20, 25); // touches the first
        assert_eq!(h.ranges(), &[(10, 25), (50, 60)]);
        h.insert(45, 50); // touches the second from below
        assert_eq!(h.ranges(), &[(10, 25), (45, 60)]);
        h.insert(0, 100); // swallows everything
        assert_eq!(h.ranges(), &[(0, 100)]);
        h.insert(7, 7); // empty: nothing
        assert_eq!(h.total(), 100);
    }

    #[test]
    fn cut_splits_a_hole_it_falls_inside() {
        let mut h = list(&[(0, 100)]);
        assert!(h.cut(40, 60));
        assert_eq!(h.ranges(), &[(0, 40), (60, 100)]);
        assert_eq!(h.total(), 80);
    }

    #[test]
    fn cut_across_several_holes_trims_the_ends_and_drops_the_middle() {
        let mut h = list(&[(0, 10), (20, 30), (40, 50), (60, 70)]);
        assert!(h.cut(5, 65));
        assert_eq!(h.ranges(), &[(0, 5), (65, 70)]);
    }

    #[test]
    fn cut_outside_every_hole_reports_no_overlap() {
        let mut h = list(&[(10, 20), (30, 40)]);
        assert!(!h.cut(0, 10));
        assert!(!h.cut(20, 30));
        assert!(!h.cut(40, 50));
        assert!(!h.cut(15, 15));
        assert_eq!(h.ranges(), &[(10, 20), (30, 40)]);
        assert!(h.cut(19, 31));
        assert_eq!(h.ranges(), &[(10, 19), (31, 40)]);
    }

    #[test]
    fn take_front_hands_out_chunks_in_order() {
        let mut h = list(&[(0, 500), (1000, 1100)]);
        assert_eq!(h.take_front(239), Some((0, 239)));
        assert_eq!(h.take_front(239), Some((239, 478)));
        assert_eq!(h.take_front(239), Some((478, 500)));
        assert_eq!(h.take_front(239), Some((1000, 1100)));
        assert_eq!(h.take_front(239), None);
        assert!(h.is_empty());
    }

    #[test]
    fn ranges_near_the_top_of_u64_do_not_overflow() {
        let top = u64::MAX;
        let mut h = list(&[(top - 10, top)]);
        assert_eq!(h.take_front(u64::MAX), Some((top - 10, top)));
        h.insert(top - 5, top);
        assert!(h.cut(0, top));
        assert!(h.is_empty());
    }
}
