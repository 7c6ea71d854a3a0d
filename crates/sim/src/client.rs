//! Simulated clients (SPEC §2 `clients`): processes that issue reads and writes with
//! think time and timeouts, one operation in flight each, and unique write values.
//!
//! Each process draws its operations from its own stream (`workload/p<i>`): per
//! operation, in this order, read-or-write, key, nondeterministic-or-not, think time.
//! So the sequence of operations a process issues does not depend on faults, the network
//! or other processes; only their timing does. Routing choices (which node) come from a
//! separate stream (`route/p<i>`), and client-to-node delays from `clients`.

use repsim_history::{KeyId, NodeId, ProcessId, ValueId};

use crate::latency::Latency;
use crate::node::{Op, RequestId};
use crate::rng::{Probability, SimRng};
use crate::time::SimDuration;

/// How many redirects a client follows for one operation before recording `fail`.
pub const MAX_REDIRECTS: u8 = 3;

/// The client workload (SPEC §2 `clients`).
#[derive(Clone, Debug, PartialEq)]
pub struct ClientConfig {
    /// Number of client processes.
    pub count: u32,
    /// Number of keys, `k0..k{keys-1}`, chosen uniformly.
    pub keys: u32,
    /// Share of operations that are reads.
    pub read_fraction: Probability,
    /// Pause between an operation's completion and the next invocation.
    pub think: Latency,
    /// How long a client waits for a reply before recording `info`.
    pub timeout: SimDuration,
    /// Read routing: `leader`, `any`, `sticky` or a protocol-specific strategy.
    pub reads_from: String,
    /// Share of writes whose value is computed on the executing node.
    pub nondeterministic_fraction: Probability,
    /// What the non-read operations do: write a register, increment a counter, or add
    /// to and remove from a set.
    pub workload: Workload,
}

/// The data type the clients operate on (`clients.workload`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Workload {
    /// Read/write registers with unique write values (SPEC §2).
    #[default]
    Register,
    /// Counters: non-reads increment by 1 to [`MAX_INCREMENT`].
    Counter,
    /// Sets: non-reads add (two in three) or remove (one in three) an element drawn from
    /// `elements` per run, `e0..e{elements-1}`, so adds and removes of one element collide.
    Set {
        /// Size of the element domain.
        elements: u32,
    },
}

/// The largest amount one increment adds.
pub const MAX_INCREMENT: u32 = 5;

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            count: 4,
            keys: 8,
            read_fraction: Probability::new(0.5),
            think: Latency::Constant(SimDuration::from_millis(5)),
            timeout: SimDuration::from_millis(1000),
            reads_from: "any".to_owned(),
            nondeterministic_fraction: Probability::NEVER,
            workload: Workload::Register,
        }
    }
}

/// What a planned non-read does, per [`Workload`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Update {
    /// A register write.
    Write,
    /// A counter increment by this amount.
    Increment(u32),
    /// A set add of element number `n`.
    Add(u32),
    /// A set remove of element number `n`.
    Remove(u32),
}

/// The next operation a process will issue, drawn ahead of time. Its think time is
/// waited before it is issued.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Planned {
    pub(crate) is_read: bool,
    pub(crate) key: KeyId,
    pub(crate) update: Update,
    pub(crate) nondeterministic: bool,
    pub(crate) think: SimDuration,
}

/// An operation a process has in flight.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InFlight {
    pub(crate) id: RequestId,
    pub(crate) op: Op,
    /// The node the request was last sent to.
    pub(crate) target: NodeId,
    pub(crate) redirects: u8,
}

/// One client process.
pub(crate) struct Client<T> {
    pub(crate) process: ProcessId,
    pub(crate) workload: SimRng,
    pub(crate) route: SimRng,
    pub(crate) token: T,
    pub(crate) redirect_hint: Option<NodeId>,
    pub(crate) in_flight: Option<InFlight>,
    /// The next operation, drawn when the previous one completed; it is issued after its
    /// think time.
    pub(crate) next: Option<Planned>,
}

impl<T: Default> Client<T> {
    pub(crate) fn new(seed: u64, process: ProcessId) -> Client<T> {
        Client {
            process,
            workload: SimRng::stream(seed, &format!("workload/p{}", process.0)),
            route: SimRng::stream(seed, &format!("route/p{}", process.0)),
            token: T::default(),
            redirect_hint: None,
            in_flight: None,
            next: None,
        }
    }

    /// Draws the next operation.
    pub(crate) fn plan(&mut self, config: &ClientConfig) -> Planned {
        let rng = &mut self.workload;
        let is_read = rng.chance(config.read_fraction);
        let key = KeyId(rng.below(u64::from(config.keys.max(1))) as u32);
        // Register workloads draw nothing more here, so their plans stay as they were.
        let update = match config.workload {
            _ if is_read => Update::Write,
            Workload::Register => Update::Write,
            Workload::Counter => Update::Increment(1 + rng.below(u64::from(MAX_INCREMENT)) as u32),
            Workload::Set { elements } => {
                let element = rng.below(u64::from(elements.max(1))) as u32;
                if rng.below(3) < 2 {
                    Update::Add(element)
                } else {
                    Update::Remove(element)
                }
            }
        };
        let nondeterministic = !is_read && rng.chance(config.nondeterministic_fraction);
        let think = config.think.sample(rng);
        Planned {
            is_read,
            key,
            update,
            nondeterministic,
            think,
        }
    }
}

/// Turns a plan into an operation, giving writes the next fresh value; `elements` are
/// the set workload's element values.
pub(crate) fn operation(plan: &Planned, next_value: &mut u32, elements: &[ValueId]) -> Op {
    if plan.is_read {
        return Op::Read { key: plan.key };
    }
    let key = plan.key;
    match plan.update {
        Update::Write => {
            let value = ValueId::generated(*next_value);
            *next_value += 1;
            Op::Write {
                key,
                value,
                nondeterministic: plan.nondeterministic,
            }
        }
        Update::Increment(amount) => Op::Increment { key, amount },
        Update::Add(n) => Op::Add {
            key,
            element: elements[n as usize],
        },
        Update::Remove(n) => Op::Remove {
            key,
            element: elements[n as usize],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_depend_only_on_seed_and_process() {
        let config = ClientConfig::default();
        let mut a: Client<()> = Client::new(3, ProcessId(1));
        let mut b: Client<()> = Client::new(3, ProcessId(1));
        let mut c: Client<()> = Client::new(3, ProcessId(2));
        // Routing draws on `b` do not disturb its plans.
        for _ in 0..10 {
            b.route.next_u64();
        }
        let pa: Vec<Planned> = (0..20).map(|_| a.plan(&config)).collect();
        let pb: Vec<Planned> = (0..20).map(|_| b.plan(&config)).collect();
        let pc: Vec<Planned> = (0..20).map(|_| c.plan(&config)).collect();
        assert_eq!(pa, pb);
        assert_ne!(pa, pc);
    }

    #[test]
    fn values_are_fresh() {
        let plan = Planned {
            is_read: false,
            key: KeyId(0),
            update: Update::Write,
            nondeterministic: false,
            think: SimDuration::ZERO,
        };
        let mut next = 1;
        let a = operation(&plan, &mut next, &[]);
        let b = operation(&plan, &mut next, &[]);
        assert_ne!(a, b);
        assert_eq!(next, 3);
    }

    #[test]
    fn set_workloads_add_and_remove_elements_of_a_small_domain() {
        let config = ClientConfig {
            read_fraction: Probability::NEVER,
            workload: Workload::Set { elements: 3 },
            ..ClientConfig::default()
        };
        let mut client: Client<()> = Client::new(1, ProcessId(0));
        let plans: Vec<Planned> = (0..300).map(|_| client.plan(&config)).collect();
        let adds = plans
            .iter()
            .filter(|p| matches!(p.update, Update::Add(_)))
            .count();
        let removes = plans
            .iter()
            .filter(|p| matches!(p.update, Update::Remove(_)))
            .count();
        assert_eq!(adds + removes, 300);
        assert!((150..250).contains(&adds), "{adds} adds");
        assert!(plans.iter().all(|p| match p.update {
            Update::Add(e) | Update::Remove(e) => e < 3,
            _ => false,
        }));
        let elements = [
            ValueId::generated(7),
            ValueId::generated(8),
            ValueId::generated(9),
        ];
        let mut next = 1;
        let op = operation(&plans[0], &mut next, &elements);
        assert!(op.is_crdt_update());
        assert_eq!(next, 1, "set updates take no fresh value");
    }

    #[test]
    fn counter_workloads_increment_by_one_to_max() {
        let config = ClientConfig {
            read_fraction: Probability::NEVER,
            workload: Workload::Counter,
            ..ClientConfig::default()
        };
        let mut client: Client<()> = Client::new(1, ProcessId(0));
        let amounts: Vec<u32> = (0..200)
            .map(|_| match client.plan(&config).update {
                Update::Increment(a) => a,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(amounts.iter().all(|a| (1..=MAX_INCREMENT).contains(a)));
        assert!(amounts.contains(&1) && amounts.contains(&MAX_INCREMENT));
    }
}
