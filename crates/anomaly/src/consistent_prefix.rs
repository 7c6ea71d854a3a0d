//! `consistent_prefix` (SPEC §4): each ok read R by process p of key k returning write
//! A's value (or `null`) where p earlier (an ok read R' completed before R's invoke) read
//! a value of write C on another key k' ≠ k, C's process q had, completed before C's
//! invoke, an ok write of B on k or an ok read of k returning B, and `A → B` (or, for
//! `null`, such a B exists; there an ok read of k by q returning any non-null value
//! counts). C and B are the writes that the values read name (see the crate doc: a
//! phantom value names none); any of R''s siblings counts as a C. With siblings in R,
//! every sibling must meet the condition.
//!
//! How. For q and k, the B's q knew of before time t grow with t, so per (q, k) we keep a
//! staircase of (completion position, largest invoke position of a B so far), searched
//! by bisection, plus the completion of q's first operation that makes "such a B exists"
//! true. Per reading process p and writer process q, only the C read from q with the
//! latest invoke matters, except that it must be on a key other than R's: so we keep the
//! best two C's per q with distinct keys. Each read then asks one bisection per writer
//! process it has read from. A cheap filter skips most of them: a B with `A → B` is
//! invoked after A's `ok` and before C's invoke, so a C invoked before the first write of
//! k that follows A's `ok` cannot make a flag.
//!
//! Cost: O(n · Q · log n) time for n operations in the worst case, where Q is the number
//! of distinct processes whose writes one process has read (at most the number of
//! processes; small in simulated histories); with the filter, a read that returned the
//! latest write costs O(Q) comparisons and no bisection. O(n) memory.

use crate::collect::Collector;
use crate::prepare::{NONE, Prepared, Seen};
use crate::render;
use crate::{Flag, KindResult};

/// Per (process, key) group: what the process knew of the key, as time goes on.
struct Knowledge {
    /// Per group, its start in the entry arrays, plus a final end.
    start: Vec<u32>,
    /// Completion position of the operation that raised the maximum (ascending).
    at: Vec<u32>,
    /// Largest invoke position of a B known from that operation on.
    b_invoke: Vec<u32>,
    /// That B.
    b: Vec<u32>,
    /// The operation of q through which B is known (B itself, or q's read of it).
    via: Vec<u32>,
    /// Per group, (completion, operation) of q's first ok write of k or ok read of k
    /// returning a non-null value; `(NONE, NONE)` if there is none.
    first_any: Vec<(u32, u32)>,
}

impl Knowledge {
    fn build(prepared: &Prepared<'_>) -> Knowledge {
        let base = &prepared.base;
        let groups = prepared.group_count();
        let mut first_any = vec![(NONE, NONE); groups];
        let mut best = vec![NONE; groups];
        // (group, completion, B's invoke, B, via), in invocation order; a process's
        // operations complete in invocation order, so each group's entries ascend.
        let mut entries: Vec<(u32, u32, u32, u32, u32)> = Vec::new();
        for op in 0..base.ops.len() as u32 {
            let (any, contribution) = if base.is_ok_write(op) {
                (true, Some((base.ops[op as usize].invoke, op)))
            } else if base.is_ok_read(op) {
                let values = base.read_values(op);
                let latest = values
                    .iter()
                    .filter_map(|&v| prepared.named(v, op))
                    .map(|b| (base.ops[b as usize].invoke, b))
                    .max();
                (!values.is_empty(), latest)
            } else {
                continue;
            };
            let group = prepared.group[op as usize];
            let completion = base.ops[op as usize]
                .completion
                .expect("an ok operation completed");
            if any && first_any[group as usize].0 == NONE {
                first_any[group as usize] = (completion, op);
            }
            if let Some((invoke, b)) = contribution
                && (best[group as usize] == NONE || invoke > best[group as usize])
            {
                best[group as usize] = invoke;
                entries.push((group, completion, invoke, b, op));
            }
        }
        // Stable counting sort by group.
        let mut start = vec![0u32; groups + 1];
        for entry in &entries {
            start[entry.0 as usize + 1] += 1;
        }
        for g in 0..groups {
            start[g + 1] += start[g];
        }
        let mut next = start.clone();
        let mut knowledge = Knowledge {
            at: vec![0; entries.len()],
            b_invoke: vec![0; entries.len()],
            b: vec![0; entries.len()],
            via: vec![0; entries.len()],
            start,
            first_any,
        };
        for (group, at, b_invoke, b, via) in entries {
            let i = next[group as usize] as usize;
            next[group as usize] += 1;
            knowledge.at[i] = at;
            knowledge.b_invoke[i] = b_invoke;
            knowledge.b[i] = b;
            knowledge.via[i] = via;
        }
        knowledge
    }

    /// The B with the largest invoke among those group `group`'s process knew of before
    /// position `before`: `(invoke position, B, via)`.
    fn latest_b(&self, group: usize, before: u32) -> Option<(u32, u32, u32)> {
        let start = self.start[group] as usize;
        let end = self.start[group + 1] as usize;
        let count = self.at[start..end].partition_point(|&at| at < before);
        (count > 0).then(|| {
            let i = start + count - 1;
            (self.b_invoke[i], self.b[i], self.via[i])
        })
    }
}

/// Per ok write A: the smallest invoke position of a write of A's key invoked after A's
/// `ok` (`NONE` if none). Any B with `A → B` is invoked there or later.
fn next_invoke_after_ok(prepared: &Prepared<'_>) -> Vec<u32> {
    let base = &prepared.base;
    let mut next_invoke = vec![NONE; base.keys.len()];
    let mut after_ok = vec![NONE; base.ops.len()];
    for (position, &op) in base.op_at.iter().enumerate().rev() {
        if op == NONE || !base.is_write(op) {
            continue;
        }
        let key = base.key[op as usize] as usize;
        if base.ops[op as usize].invoke as usize == position {
            next_invoke[key] = position as u32;
        } else if base.is_ok_write(op) {
            after_ok[op as usize] = next_invoke[key];
        }
    }
    after_ok
}

/// A write C that p read, on key `key`, through read `read`.
#[derive(Clone, Copy)]
struct Source {
    invoke: u32,
    key: u32,
    c: u32,
    read: u32,
}

/// The C with the latest invoke, and the latest on a key other than the first's.
#[derive(Clone, Copy)]
struct BestTwo {
    first: Source,
    second: Option<Source>,
}

impl BestTwo {
    fn add(&mut self, c: Source) {
        if c.key == self.first.key {
            if c.invoke > self.first.invoke {
                self.first = c;
            }
        } else if c.invoke > self.first.invoke {
            // The old first is the latest overall, so the latest on a key other than c's.
            self.second = Some(self.first);
            self.first = c;
        } else if self.second.is_none_or(|second| c.invoke > second.invoke) {
            self.second = Some(c);
        }
    }

    /// The latest C on a key other than `key`.
    fn other_than(&self, key: u32) -> Option<Source> {
        if self.first.key != key {
            Some(self.first)
        } else {
            self.second
        }
    }
}

/// Why a read is flagged.
#[derive(Clone, Copy)]
struct Witness {
    read: u32,
    source: Source,
    via: u32,
    /// The B with `A → B`; `None` for a `null` read.
    b: Option<u32>,
}

/// Counts consistent-prefix violations and renders the first `max`.
pub(crate) fn run(prepared: &Prepared<'_>, max: usize) -> KindResult {
    let base = &prepared.base;
    let knowledge = Knowledge::build(prepared);
    let after_ok = next_invoke_after_ok(prepared);
    let mut collector = Collector::new(max);
    // Per reading process p: per writer process q it has read from, the best two C's.
    let mut sources: Vec<Vec<(u32, BestTwo)>> = vec![Vec::new(); base.processes.len()];
    for read in 0..base.ops.len() as u32 {
        let seen = prepared.seen[read as usize];
        if seen == Seen::NotOkRead {
            continue;
        }
        let key = base.key[read as usize];
        let p = base.process[read as usize] as usize;
        // A B with `A → B` is invoked at or after the first write of k that follows A's
        // `ok`, and before C's invoke, so only a C invoked after that write can matter
        // (none, if no write follows). A null read has no such bound.
        let may_matter = |source: &Source| match seen {
            Seen::Ok { write, .. } => source.invoke > after_ok[write as usize],
            Seen::Null => true,
            Seen::NotOkRead | Seen::NotOk => false,
        };
        if matches!(seen, Seen::Ok { .. } | Seen::Null) {
            let witness = sources[p].iter().find_map(|&(q, best)| {
                let source = best.other_than(key).filter(may_matter)?;
                let group = prepared.group_of(q, key)?;
                match seen {
                    Seen::Null => {
                        let (at, via) = knowledge.first_any[group];
                        (at < source.invoke).then_some(Witness {
                            read,
                            source,
                            via,
                            b: None,
                        })
                    }
                    Seen::Ok { at, .. } => {
                        let (b_invoke, b, via) = knowledge.latest_b(group, source.invoke)?;
                        (at < b_invoke).then_some(Witness {
                            read,
                            source,
                            via,
                            b: Some(b),
                        })
                    }
                    Seen::NotOkRead | Seen::NotOk => None,
                }
            });
            if let Some(witness) = witness {
                collector.push(base.invoke_index(read), 0, witness);
            }
        }
        for &value in base.read_values(read) {
            let Some(c) = prepared.named(value, read) else {
                continue;
            };
            let source = Source {
                invoke: base.ops[c as usize].invoke,
                key,
                c,
                read,
            };
            let q = base.process[c as usize];
            match sources[p].iter_mut().find(|(writer, _)| *writer == q) {
                Some((_, best)) => best.add(source),
                None => sources[p].push((
                    q,
                    BestTwo {
                        first: source,
                        second: None,
                    },
                )),
            }
        }
    }
    let (count, kept) = collector.finish();
    let flags = kept
        .into_iter()
        .map(|(index, witness)| render_flag(prepared, index, witness))
        .collect();
    KindResult { count, flags }
}

fn render_flag(prepared: &Prepared<'_>, index: u64, witness: Witness) -> Flag {
    let base = &prepared.base;
    let history = base.history;
    let Witness {
        read,
        source,
        via,
        b,
    } = witness;
    let values = base.read_values(read);
    let mut involved: Vec<u64> = values
        .iter()
        .filter_map(|&v| prepared.named(v, read))
        .map(|a| base.invoke_index(a))
        .collect();
    involved.extend([source.read, source.c, via].map(|op| base.invoke_index(op)));
    involved.extend(b.map(|b| base.invoke_index(b)));
    involved.sort_unstable();
    involved.dedup();
    let c_name = render::value_name(
        history,
        base.written(source.c).expect("a write has a value"),
    );
    let q = base.ops[source.c as usize].process;
    let how = if base.is_write(via) {
        format!(
            "written {} to {} (invoked at index {}, ok at index {})",
            render::value_name(history, base.written(via).expect("a write has a value")),
            base.key_name(read),
            base.invoke_index(via),
            base.completion_index(via)
        )
    } else {
        format!(
            "read {} from {} (read at index {}, ok at index {})",
            render::values_name(history, base.read_values(via)),
            base.key_name(read),
            base.invoke_index(via),
            base.completion_index(via)
        )
    };
    let mut message = format!(
        "read of {} by process {} at index {index} returned {}, but the process had read {c_name} \
         of {} (read at index {}), whose writer, process {q}, had before invoking it (index {}) \
         {how}",
        base.key_name(read),
        base.ops[read as usize].process,
        render::values_name(history, values),
        base.key_name(source.c),
        base.invoke_index(source.read),
        base.invoke_index(source.c),
    );
    if let (Some(b), Seen::Ok { write, .. }) = (b, prepared.seen[read as usize]) {
        message.push_str(&format!(
            ", and {} was invoked (index {}) after {} was acknowledged (index {})",
            render::value_name(history, base.written(b).expect("a write has a value")),
            base.invoke_index(b),
            if values.len() == 1 {
                "the value read"
            } else {
                "every value read"
            },
            base.completion_index(write)
        ));
    }
    Flag {
        index,
        involved,
        message,
    }
}

#[cfg(test)]
mod tests {
    use crate::Kind::{ConsistentPrefix, MonotonicRead, StaleRead};
    use crate::testing::findings;

    /// Process 2 writes w1 then (in flight) w2 to k0; process 0 reads w2, then writes w3
    /// to k1; process 1 reads w3, then reads k0.
    const PREFIX: &str =
        "2 w k0 1; 2 ok; 2 w k0 2; 0 r k0; 0 ok 2; 0 w k1 3; 1 r k1; 1 ok 3; 1 r k0;";

    #[test]
    fn missing_what_the_writer_had_seen_is_flagged() {
        let f = findings(&format!("{PREFIX} 1 ok 1; 2 ok; 0 ok"), None);
        assert_eq!(f.count(ConsistentPrefix), 1);
        let flag = &f.examples[&ConsistentPrefix][0];
        assert_eq!(flag.index, 8);
        // w1 (A), w2 (B), process 0's read of w2, w3 (C), process 1's read of w3.
        assert_eq!(flag.involved, vec![0, 2, 3, 5, 6]);
        assert!(
            flag.message.contains("whose writer, process 0"),
            "{}",
            flag.message
        );
        // Only consistent_prefix can see this: w2 was never acknowledged before the read.
        assert_eq!(f.count(StaleRead), 0);
        assert_eq!(f.count(MonotonicRead), 0);
        // Reading w2 itself, or both values, is fine.
        let f = findings(&format!("{PREFIX} 1 ok 2; 2 ok; 0 ok"), None);
        assert_eq!(f.count(ConsistentPrefix), 0);
        let f = findings(&format!("{PREFIX} 1 ok 1,2; 2 ok; 0 ok"), None);
        assert_eq!(f.count(ConsistentPrefix), 0);
    }

    #[test]
    fn what_the_writer_saw_after_writing_does_not_count() {
        let f = findings(
            "2 w k0 1; 2 ok; 2 w k0 2; 0 w k1 3; 0 ok; 0 r k0; 0 ok 2; 1 r k1; 1 ok 3; 1 r k0; 1 ok 1",
            None,
        );
        assert_eq!(f.count(ConsistentPrefix), 0);
    }

    #[test]
    fn the_dependency_must_be_on_another_key() {
        // Process 1 read w3 of k0 itself: that is monotonic_read's business, not this.
        let f = findings(
            "2 w k0 1; 2 ok; 2 w k0 2; 0 r k0; 0 ok 2; 0 w k0 3; 1 r k0; 1 ok 3; 1 r k0; 1 ok 1",
            None,
        );
        assert_eq!(f.count(ConsistentPrefix), 0);
        assert_eq!(f.count(MonotonicRead), 1);
    }

    #[test]
    fn an_older_dependency_on_another_key_still_counts() {
        // Process 1 reads C_old (w3 on k1), then C_new (w4 on k0, by the same writer);
        // for its read of k0, only C_old is on another key.
        let f = findings(
            "2 w k0 1; 2 ok; 2 w k0 2; 0 r k0; 0 ok 2; 0 w k1 3; 0 ok; 0 w k0 4; 0 ok; \
             1 r k1; 1 ok 3; 1 r k0; 1 ok 4; 1 r k0; 1 ok 1",
            None,
        );
        assert_eq!(f.count(ConsistentPrefix), 1);
        assert_eq!(f.example_indexes(ConsistentPrefix), vec![13]);
    }

    #[test]
    fn null_is_flagged_when_the_writer_had_seen_any_value() {
        let f = findings(
            "2 w k0 1; 0 r k0; 0 ok 1; 0 w k1 3; 1 r k1; 1 ok 3; 1 r k0; 1 ok -",
            None,
        );
        assert_eq!(f.count(ConsistentPrefix), 1);
        assert_eq!(f.example_indexes(ConsistentPrefix), vec![6]);
        assert_eq!(f.count(StaleRead), 0);
        // The writer's own ok write of k0 also counts.
        let f = findings(
            "0 w k0 1; 0 ok; 0 w k1 3; 1 r k1; 1 ok 3; 1 r k0; 1 ok -",
            None,
        );
        assert_eq!(f.count(ConsistentPrefix), 1);
        // But not its write still in flight (an info write is not an ok write).
        let f = findings(
            "0 w k0 1; 0 info; 0 w k1 3; 1 r k1; 1 ok 3; 1 r k0; 1 ok -",
            None,
        );
        assert_eq!(f.count(ConsistentPrefix), 0);
    }
}
