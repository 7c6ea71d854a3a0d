//! Core speed benchmark (issue: simulation core): a pure message-passing workload run by
//! the simulator, side by side with a bare binary-heap event loop doing the same work.
//!
//! Workload: 5 nodes, 10 messages in flight per node; every delivery makes the receiver
//! send one message to a random other node with an exponentially distributed delay
//! (mean 1 ms). Both loops draw from the same kind of ChaCha8 streams and the same
//! `libm` exponential sampling, so the difference is the simulator's own overhead:
//! effects, slabs, network verdicts, timers, tracing hooks and stats.
//!
//! Prints deliveries per second for each, their ratio, and peak heap memory (a counting
//! allocator) at 1 M and at the full run, to show memory does not grow with deliveries.
//!
//! Run: `cargo bench -p repsim-sim --bench core` (set `REPSIM_BENCH_DELIVERIES` to change
//! the 10,000,000 default).
#![allow(clippy::disallowed_methods)] // A benchmark measures wall time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use repsim_sim::{
    ClientConfig, ClientView, Context, KeyId, Latency, Limits, NetworkConfig, Node, NodeId, Op,
    Protocol, Request, SimConfig, SimDuration, SimRng, SimTime, Simulation, Start, ValueId,
};

/// Counts live and peak heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code)] // A global allocator can only be written with `unsafe`; it forwards to `System`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Resets the peak to the current live bytes and returns that baseline.
fn reset_peak() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

const NODES: u16 = 5;
const IN_FLIGHT_PER_NODE: u32 = 10;
const MEAN_DELAY_MICROS: f64 = 1000.0;

/// A node that forwards every message it gets to a random other node.
struct Ping;

impl Ping {
    fn forward(ctx: &mut Context<'_, Ping>) {
        let me = ctx.id().0;
        let pick = ctx.rng().below(u64::from(NODES) - 1) as u16;
        let to = NodeId(if pick >= me { pick + 1 } else { pick });
        ctx.send(to, 0);
    }
}

impl Node for Ping {
    type Msg = u32;
    type Timer = ();
    type Record = ();
    type Token = ();

    fn on_start(&mut self, ctx: &mut Context<'_, Self>, _start: Start) {
        for _ in 0..IN_FLIGHT_PER_NODE {
            Ping::forward(ctx);
        }
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, _from: NodeId, _msg: u32) {
        Ping::forward(ctx);
    }
    fn on_timer(&mut self, _ctx: &mut Context<'_, Self>, _timer: ()) {}
    fn on_request(&mut self, _ctx: &mut Context<'_, Self>, _request: Request<()>) {}
    fn final_state(&self) -> Vec<(KeyId, Vec<ValueId>)> {
        Vec::new()
    }
}

struct PingProtocol;

impl Protocol for PingProtocol {
    type Node = Ping;
    fn create(&self, _id: NodeId, _storage: &[()]) -> Ping {
        Ping
    }
    fn route(&self, client: &ClientView<'_, ()>, _op: &Op, _rng: &mut SimRng) -> NodeId {
        client.members[0]
    }
}

/// Runs the simulator for `deliveries` deliveries; returns (seconds, peak extra bytes).
fn run_sim(deliveries: u64) -> (f64, usize, u64) {
    let base = reset_peak();
    let config = SimConfig {
        seed: 1,
        nodes: NODES,
        duration: SimTime::MAX,
        network: NetworkConfig {
            latency: Latency::Exponential {
                mean_micros: MEAN_DELAY_MICROS,
            },
            ..NetworkConfig::default()
        },
        clients: ClientConfig {
            count: 0,
            ..ClientConfig::default()
        },
        limits: Limits {
            max_events: deliveries,
            settle: SimDuration::ZERO,
            ..Limits::default()
        },
        ..SimConfig::default()
    };
    let start = Instant::now();
    let output = Simulation::new(PingProtocol, config).run();
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(output.stats.delivered, deliveries);
    let peak = PEAK.load(Ordering::Relaxed) - base;
    drop(output);
    (seconds, peak, deliveries)
}

/// The same work with a bare binary heap: pop, pick a random other node, draw an
/// exponential delay, push.
fn run_baseline(deliveries: u64) -> (f64, usize, u64) {
    let base = reset_peak();
    let start = Instant::now();
    let mut node_rngs: Vec<SimRng> = (0..NODES)
        .map(|i| SimRng::stream(1, &format!("node/n{i}")))
        .collect();
    let mut network = SimRng::stream(1, "network");
    let latency = Latency::Exponential {
        mean_micros: MEAN_DELAY_MICROS,
    };
    let mut heap: BinaryHeap<Reverse<(u64, u64, u16)>> = BinaryHeap::new();
    let mut seq = 0u64;
    for from in 0..NODES {
        for _ in 0..IN_FLIGHT_PER_NODE {
            let pick = node_rngs[from as usize].below(u64::from(NODES) - 1) as u16;
            let to = if pick >= from { pick + 1 } else { pick };
            heap.push(Reverse((latency.sample(&mut network).as_micros(), seq, to)));
            seq += 1;
        }
    }
    let mut delivered = 0u64;
    while delivered < deliveries {
        let Reverse((now, _, at)) = heap.pop().expect("messages are always in flight");
        delivered += 1;
        let pick = node_rngs[at as usize].below(u64::from(NODES) - 1) as u16;
        let to = if pick >= at { pick + 1 } else { pick };
        heap.push(Reverse((
            now + latency.sample(&mut network).as_micros(),
            seq,
            to,
        )));
        seq += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    let peak = PEAK.load(Ordering::Relaxed) - base;
    drop(heap);
    (seconds, peak, delivered)
}

fn main() {
    let deliveries: u64 = std::env::var("REPSIM_BENCH_DELIVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    println!(
        "core benchmark: {NODES} nodes, {IN_FLIGHT_PER_NODE} messages in flight per node, exponential delays, {deliveries} deliveries"
    );
    // Warm up caches and the allocator.
    run_sim(deliveries / 20);
    run_baseline(deliveries / 20);

    let (base_s, base_peak, _) = run_baseline(deliveries);
    let (sim_s, sim_peak, _) = run_sim(deliveries);
    let (_, small_peak, small) = run_sim((deliveries / 10).max(1));
    let base_rate = deliveries as f64 / base_s;
    let sim_rate = deliveries as f64 / sim_s;
    println!(
        "bare binary-heap loop: {:>8.2} M deliveries/s  peak heap {:>8} bytes",
        base_rate / 1e6,
        base_peak
    );
    println!(
        "repsim simulator:      {:>8.2} M deliveries/s  peak heap {:>8} bytes",
        sim_rate / 1e6,
        sim_peak
    );
    println!(
        "ratio simulator/bare:  {:>8.2}   (target >= 0.50)",
        sim_rate / base_rate
    );
    println!(
        "memory: peak heap {small_peak} bytes at {small} deliveries vs {sim_peak} bytes at {deliveries} deliveries (must not grow with deliveries)"
    );
}
