//! The event queue and the slabs that hold what queued events refer to.
//!
//! The queue is a binary min-heap ordered by `(time, seq)`, where `seq` is bumped at every
//! scheduling call, so events at the same instant run in the order they were scheduled.
//! Heap entries are small (the payload is a slab index), which keeps sifting cheap however
//! large a protocol's messages are; slabs reuse freed slots, so memory follows the number
//! of events pending, never the number processed.
//!
//! Events scheduled a constant delay from now (client timeouts) come in time order, so
//! [`EventQueue::push_in_order`] keeps them in a FIFO beside the heap: thousands of
//! pending timeouts then cost nothing to sift past. Which of the two holds an event
//! never changes the order events come out in.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use crate::time::SimTime;

struct Entry<E> {
    at: SimTime,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest `(at, seq)` first.
    /// The payload is never compared.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .at
            .cmp(&self.at)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Pending events, earliest first; ties in scheduling order.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    /// Events pushed in time order, earliest first (see [`EventQueue::push_in_order`]).
    fifo: VecDeque<Entry<E>>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            fifo: VecDeque::new(),
            next_seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// Schedules `event` at `at`.
    #[inline]
    pub fn push(&mut self, at: SimTime, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { at, seq, event });
    }

    /// Schedules `event` at `at`, like [`EventQueue::push`], for callers whose times
    /// usually never decrease from one call to the next (a constant delay from now). Such
    /// events wait in a FIFO at O(1) cost; one earlier than the FIFO's last goes to the
    /// heap instead. Either way it comes out in the same place.
    #[inline]
    pub fn push_in_order(&mut self, at: SimTime, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = Entry { at, seq, event };
        match self.fifo.back() {
            Some(last) if last.at > at => self.heap.push(entry),
            _ => self.fifo.push_back(entry),
        }
    }

    /// True when the FIFO's first event comes before the heap's.
    #[inline]
    fn fifo_first(&self) -> bool {
        match (self.fifo.front(), self.heap.peek()) {
            (Some(fifo), Some(heap)) => fifo > heap,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Removes and returns the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let entry = if self.fifo_first() {
            self.fifo.pop_front()
        } else {
            self.heap.pop()
        };
        entry.map(|entry| (entry.at, entry.event))
    }

    /// The time of the earliest event.
    pub fn peek_time(&self) -> Option<SimTime> {
        if self.fifo_first() {
            self.fifo.front().map(|entry| entry.at)
        } else {
            self.heap.peek().map(|entry| entry.at)
        }
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len() + self.fifo.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty() && self.fifo.is_empty()
    }

    /// Bytes reserved by the heap and the FIFO.
    pub fn capacity_bytes(&self) -> usize {
        (self.heap.capacity() + self.fifo.capacity()) * std::mem::size_of::<Entry<E>>()
    }
}

/// A vector of slots with a free list; indexes stay valid until removed.
pub struct Slab<T> {
    slots: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    /// Stores `value` and returns its slot.
    #[inline]
    pub fn insert(&mut self, value: T) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                debug_assert!(self.slots[slot as usize].is_none());
                self.slots[slot as usize] = Some(value);
                slot
            }
            None => {
                let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 pending items");
                self.slots.push(Some(value));
                slot
            }
        }
    }

    /// Takes the value out of `slot`, freeing it.
    #[inline]
    pub fn remove(&mut self, slot: u32) -> T {
        let value = self.slots[slot as usize]
            .take()
            .expect("slab slot is occupied");
        self.free.push(slot);
        value
    }

    /// The value in `slot`, if occupied.
    pub fn get(&self, slot: u32) -> Option<&T> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    /// Number of occupied slots.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// True when no slot is occupied.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes reserved by the slab.
    pub fn capacity_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<T>>() + self.free.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ties_pop_in_scheduling_order() {
        let mut queue = EventQueue::default();
        let t = SimTime::from_micros(5);
        queue.push(t, 'a');
        queue.push(SimTime::from_micros(1), 'z');
        queue.push(t, 'b');
        queue.push(t, 'c');
        let order: Vec<char> = std::iter::from_fn(|| queue.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!['z', 'a', 'b', 'c']);
    }

    #[test]
    fn slab_reuses_slots() {
        let mut slab = Slab::default();
        let a = slab.insert(1);
        let b = slab.insert(2);
        assert_eq!(slab.remove(a), 1);
        let c = slab.insert(3);
        assert_eq!(c, a);
        assert_eq!(slab.get(b), Some(&2));
        assert_eq!(slab.len(), 2);
    }

    proptest! {
        /// Whatever the insertion order, events come out sorted by time, and events with
        /// equal times come out in insertion order.
        #[test]
        fn pops_in_time_then_insertion_order(times in prop::collection::vec(0u64..20, 0..200)) {
            let mut queue = EventQueue::default();
            for (i, &t) in times.iter().enumerate() {
                queue.push(SimTime::from_micros(t), i);
            }
            let mut expected: Vec<(u64, usize)> = times.iter().copied().zip(0..).collect();
            expected.sort();
            let got: Vec<(u64, usize)> =
                std::iter::from_fn(|| queue.pop().map(|(t, i)| (t.as_micros(), i))).collect();
            prop_assert_eq!(got, expected);
        }

        /// Events pushed in order (to the FIFO, or to the heap when out of order) and
        /// events pushed to the heap, with pops in between, come out exactly as from one
        /// sorted queue of (time, scheduling order).
        #[test]
        fn the_fifo_never_changes_the_order(
            steps in prop::collection::vec((0u64..30, any::<bool>(), any::<bool>()), 0..300)
        ) {
            let mut queue = EventQueue::default();
            let mut reference = std::collections::BTreeSet::new();
            for (seq, &(t, in_order, pop)) in steps.iter().enumerate() {
                if in_order {
                    queue.push_in_order(SimTime::from_micros(t), seq);
                } else {
                    queue.push(SimTime::from_micros(t), seq);
                }
                reference.insert((t, seq));
                prop_assert_eq!(queue.len(), reference.len());
                prop_assert_eq!(
                    queue.peek_time().map(SimTime::as_micros),
                    reference.first().map(|&(t, _)| t)
                );
                if pop {
                    let got = queue.pop().map(|(t, i)| (t.as_micros(), i));
                    prop_assert_eq!(got, reference.pop_first());
                }
            }
            let got: Vec<(u64, usize)> =
                std::iter::from_fn(|| queue.pop().map(|(t, i)| (t.as_micros(), i))).collect();
            prop_assert_eq!(got, reference.into_iter().collect::<Vec<_>>());
            prop_assert!(queue.is_empty());
        }
    }
}
