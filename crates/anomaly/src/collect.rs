//! Counts the flags of one kind and keeps the first few, in index order, without
//! storing every flag: a kind may flag most of a million-operation history, and only the
//! examples need a witness and, later, a message.

/// Counts flags and keeps the `max` smallest by `(index, tiebreak)`, with their witness.
pub(crate) struct Collector<W> {
    max: usize,
    count: u64,
    kept: Vec<((u64, u64), W)>,
}

impl<W> Collector<W> {
    /// Keeps at most `max` examples.
    pub(crate) fn new(max: usize) -> Collector<W> {
        Collector {
            max,
            count: 0,
            kept: Vec::new(),
        }
    }

    /// Records one flag at history index `index`; `tiebreak` orders flags that share an
    /// index (only `divergence` and `split_brain` can).
    pub(crate) fn push(&mut self, index: u64, tiebreak: u64, witness: W) {
        self.count += 1;
        if self.max == 0 {
            return;
        }
        self.kept.push(((index, tiebreak), witness));
        // Trim now and then, so memory stays O(max) and the total cost O(n log max).
        if self.kept.len() >= self.max.saturating_mul(2).max(64) {
            self.trim();
        }
    }

    fn trim(&mut self) {
        // Stable, so equal keys keep push order and the result is deterministic.
        self.kept.sort_by_key(|(order, _)| *order);
        self.kept.truncate(self.max);
    }

    /// The count, and the kept examples in order with their index.
    pub(crate) fn finish(mut self) -> (u64, Vec<(u64, W)>) {
        self.trim();
        let kept = self
            .kept
            .into_iter()
            .map(|((index, _), witness)| (index, witness))
            .collect();
        (self.count, kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_smallest_in_order_and_counts_all() {
        let mut collector = Collector::new(3);
        for i in (0..200u64).rev() {
            collector.push(i % 50, i, i);
        }
        let (count, kept) = collector.finish();
        assert_eq!(count, 200);
        assert_eq!(kept, vec![(0, 0), (0, 50), (0, 100)]);
    }

    #[test]
    fn zero_examples_still_counts() {
        let mut collector = Collector::new(0);
        collector.push(1, 0, ());
        assert_eq!(collector.finish(), (1, vec![]));
    }
}
