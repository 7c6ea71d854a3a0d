//! Space-time (Lamport) diagrams of a window of a run, as SVG.
//!
//! Time runs left to right; each node has a lane. Messages are arrows from their send to
//! their delivery (periodic background messages in light grey, lost messages in red,
//! ending in a cross), nodes that are down are shaded, role changes are labelled, and
//! client operations are bars above the lane of the node they talked to, coloured by
//! outcome. Operations the checkers flagged (other than `unavailable`, which the colours
//! show) are circled in red and the first few labelled with their index and anomaly kind. Hovering over an element shows its details (SVG `<title>`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use repsim_anomaly::{Findings, Kind};
use repsim_history::{EventType, Function, History, NodeId, RoleEvent, RoleKind};
use repsim_sim::trace::{Trace, TraceKind};
use repsim_sim::{Fault, FaultAction};

const WIDTH: f64 = 1400.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 80.0;
const LANE: f64 = 90.0;

/// What a diagram shows.
pub struct DiagramInput<'a> {
    /// Title.
    pub title: String,
    /// Window start (ms).
    pub from_ms: f64,
    /// Window end (ms).
    pub to_ms: f64,
    /// Every node, in order.
    pub nodes: &'a [NodeId],
    /// The trace, recorded over the window.
    pub trace: &'a Trace,
    /// The history.
    pub history: &'a History,
    /// Role events.
    pub roles: &'a [RoleEvent],
    /// The fault schedule (to know which nodes are down when the window opens).
    pub faults: &'a [Fault],
    /// Findings with every flag of interest among their examples.
    pub findings: &'a Findings,
}

/// A tick label: no trailing zeros.
fn format_ms(t: f64) -> String {
    let text = format!("{t:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// How many flagged operations get a text label (the rest are only circled).
const LABELLED_FLAGS: usize = 12;
/// A white outline drawn under a label's text, so it stays legible over lines.
const HALO: &str = r#"stroke="white" stroke-width="3" paint-order="stroke""#;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Draws the diagram.
pub fn draw(input: &DiagramInput<'_>) -> String {
    let span = (input.to_ms - input.from_ms).max(1e-9);
    let plot = WIDTH - LEFT - RIGHT;
    let x = |t: f64| LEFT + (t.clamp(input.from_ms, input.to_ms) - input.from_ms) / span * plot;
    let lane_of: BTreeMap<NodeId, usize> = input
        .nodes
        .iter()
        .enumerate()
        .map(|(i, &n)| (n, i))
        .collect();
    let y = |n: NodeId| TOP + LANE * (lane_of.get(&n).copied().unwrap_or(0) as f64 + 0.5);
    let height = TOP + LANE * input.nodes.len() as f64 + 60.0;
    let mut svg = String::new();
    let w = &mut svg;
    writeln!(w, r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"##).unwrap();
    writeln!(w, r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="context-stroke"/></marker></defs>"##).unwrap();
    writeln!(w, r##"<rect width="100%" height="100%" fill="white"/>"##).unwrap();
    writeln!(
        w,
        r##"<text x="{}" y="28" font-size="18" text-anchor="middle">{}</text>"##,
        WIDTH / 2.0,
        escape(&input.title)
    )
    .unwrap();

    // Time axis, with ticks at round values.
    let raw = span / 10.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(raw);
    let mut t = (input.from_ms / step).ceil() * step;
    while t <= input.to_ms + 1e-9 {
        let tx = x(t);
        writeln!(
            w,
            r##"<line x1="{tx:.1}" y1="{}" x2="{tx:.1}" y2="{}" stroke="#ddd"/>"##,
            TOP - 10.0,
            height - 50.0
        )
        .unwrap();
        writeln!(
            w,
            r##"<text x="{tx:.1}" y="{}" font-size="12" text-anchor="middle">{}</text>"##,
            TOP - 16.0,
            format_ms(t)
        )
        .unwrap();
        t += step;
    }
    writeln!(
        w,
        r##"<text x="{}" y="{}" font-size="13" text-anchor="middle">simulated time (ms)</text>"##,
        WIDTH / 2.0,
        TOP - 36.0
    )
    .unwrap();

    // Nodes that are down: the state when the window opens, then the trace.
    let mut down: BTreeMap<NodeId, Option<f64>> = BTreeMap::new();
    for fault in input
        .faults
        .iter()
        .filter(|f| f.at.as_ms() <= input.from_ms)
    {
        match fault.action {
            FaultAction::Crash(n) => {
                down.insert(n, Some(input.from_ms));
            }
            FaultAction::Restart(n) => {
                down.remove(&n);
            }
            _ => {}
        }
    }
    let mut intervals: Vec<(NodeId, f64, f64)> = Vec::new();
    for event in &input.trace.events {
        let t = event.time.as_ms();
        match event.kind {
            TraceKind::Down { node } => {
                down.insert(node, Some(t));
            }
            TraceKind::Up { node } => {
                if let Some(Some(start)) = down.remove(&node) {
                    intervals.push((node, start, t));
                }
            }
            _ => {}
        }
    }
    intervals.extend(
        down.into_iter()
            .filter_map(|(n, s)| s.map(|s| (n, s, input.to_ms))),
    );
    for (node, a, b) in intervals {
        let (x0, x1) = (x(a), x(b));
        writeln!(w, r##"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{}" fill="#999" fill-opacity="0.3"><title>{node} down from {a} to {b} ms</title></rect>"##, y(node) - LANE * 0.4, (x1 - x0).max(1.0), LANE * 0.8).unwrap();
    }

    // Lanes.
    for &node in input.nodes {
        let ly = y(node);
        writeln!(w, r##"<line x1="{LEFT}" y1="{ly:.1}" x2="{}" y2="{ly:.1}" stroke="black" stroke-width="1.5"/>"##, WIDTH - RIGHT).unwrap();
        writeln!(
            w,
            r##"<text x="{}" y="{:.1}" font-size="15" text-anchor="end">{node}</text>"##,
            LEFT - 10.0,
            ly + 5.0
        )
        .unwrap();
    }

    // Messages.
    let mut sends: BTreeMap<u64, (f64, NodeId, NodeId, bool, &str)> = BTreeMap::new();
    for event in &input.trace.events {
        let t = event.time.as_ms();
        match &event.kind {
            TraceKind::Send {
                id,
                from,
                to,
                msg,
                background,
            } => {
                sends.insert(*id, (t, *from, *to, *background, msg));
            }
            TraceKind::Deliver { id, .. } => {
                if let Some(&(s, from, to, background, msg)) = sends.get(id) {
                    let (colour, width) = if background {
                        ("#bbb", 0.8)
                    } else {
                        ("#0072b2", 1.2)
                    };
                    writeln!(w, r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="{width}" marker-end="url(#arrow)"><title>{} -&gt; {} sent {s} ms, delivered {t} ms: {}</title></line>"##, x(s), y(from), x(t), y(to), from, to, escape(msg)).unwrap();
                }
            }
            TraceKind::Drop { id, reason, .. } => {
                if let Some(&(s, from, to, _, msg)) = sends.get(id) {
                    // Lost at send time: a short stub; lost in flight: up to the target.
                    let (ex, ey) = if t > s {
                        (x(t), y(to))
                    } else {
                        (x(s) + 12.0, y(from) + (y(to) - y(from)).signum() * 18.0)
                    };
                    writeln!(w, r##"<line x1="{:.1}" y1="{:.1}" x2="{ex:.1}" y2="{ey:.1}" stroke="#d55e00" stroke-width="1" stroke-dasharray="4 3"><title>{} -&gt; {} sent {s} ms, lost ({reason}): {}</title></line>"##, x(s), y(from), from, to, escape(msg)).unwrap();
                    writeln!(w, r##"<text x="{ex:.1}" y="{:.1}" font-size="13" fill="#d55e00" text-anchor="middle">x</text>"##, ey + 4.0).unwrap();
                }
            }
            _ => {}
        }
    }

    // Role changes.
    for role in input
        .roles
        .iter()
        .filter(|r| r.time_ms >= input.from_ms && r.time_ms <= input.to_ms)
    {
        let label = match role.kind {
            RoleKind::Leader { epoch } => format!("leader e{epoch}"),
            RoleKind::NotLeader => "not leader".to_owned(),
            RoleKind::AcceptedWrite { .. } => continue,
        };
        writeln!(
            w,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#009e73" {HALO}>{label}</text>"##,
            x(role.time_ms) + 2.0,
            y(role.node) + 22.0
        )
        .unwrap();
    }

    // Client operations, and the flagged ones.
    let mut flagged: BTreeMap<u64, Vec<&'static str>> = BTreeMap::new();
    // `unavailable` is already shown by the colour of failed and unknown operations.
    for (kind, flags) in input
        .findings
        .examples
        .iter()
        .filter(|(k, _)| **k != Kind::Unavailable)
    {
        for flag in flags {
            flagged.entry(flag.index).or_default().push(kind.name());
        }
    }
    let mut open: BTreeMap<u32, usize> = BTreeMap::new();
    let mut labels = Vec::new();
    for (position, event) in input.history.events.iter().enumerate() {
        if event.kind == EventType::Invoke {
            open.insert(event.process.0, position);
            continue;
        }
        let Some(start) = open.remove(&event.process.0) else {
            continue;
        };
        let invoke = &input.history.events[start];
        let (a, b) = (invoke.time_ms, event.time_ms);
        if b < input.from_ms || a > input.to_ms {
            continue;
        }
        let Some(node) = invoke.node else { continue };
        let colour = match (event.kind, event.f) {
            (EventType::Ok, Function::Read) => "#009e73",
            (EventType::Ok, _) => "#0072b2",
            (EventType::Fail, _) => "#d55e00",
            _ => "#e69f00",
        };
        let oy = y(node) - 12.0 - f64::from(event.process.0 % 6) * 6.0;
        let mut value = String::new();
        input.history.write_value(&event.value, &mut value);
        let index = input.history.index_of(start as u32);
        let title = format!(
            "index {index}: process {} {} {} {} -&gt; {}",
            event.process,
            event.f.as_str(),
            escape(input.history.names.key_name(event.key)),
            escape(&value),
            event.kind.as_str()
        );
        writeln!(w, r##"<line x1="{:.1}" y1="{oy:.1}" x2="{:.1}" y2="{oy:.1}" stroke="{colour}" stroke-width="4" stroke-linecap="round"><title>{title}</title></line>"##, x(a), x(b).max(x(a) + 2.0)).unwrap();
        if let Some(kinds) = flagged.get(&index) {
            writeln!(w, r##"<circle cx="{:.1}" cy="{oy:.1}" r="7" fill="none" stroke="red" stroke-width="2"><title>{title}: {}</title></circle>"##, x(a), kinds.join(", ")).unwrap();
            if labels.len() < LABELLED_FLAGS {
                labels.push(format!(
                    r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="red" {HALO}>#{index} {}</text>"##,
                    x(a) + 9.0,
                    oy - 6.0,
                    kinds.join(", ")
                ));
            }
        }
    }
    // The flags' labels go over everything else, so no later bar or arrow hides them.
    for label in &labels {
        writeln!(w, "{label}").unwrap();
    }

    // Legend.
    let ly = height - 22.0;
    let legend = [
        ("#0072b2", "message"),
        ("#bbb", "background message"),
        ("#d55e00", "lost message / failed op"),
        ("#009e73", "ok read"),
        ("#0072b2", "ok write"),
        ("#e69f00", "op with unknown outcome"),
        ("red", "flagged op (circled)"),
    ];
    let mut lx = LEFT;
    for (colour, label) in legend {
        writeln!(w, r##"<line x1="{lx:.1}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{colour}" stroke-width="4"/><text x="{:.1}" y="{}" font-size="12">{label}</text>"##, lx + 18.0, lx + 24.0, ly + 4.0).unwrap();
        lx += 36.0 + label.len() as f64 * 7.2;
    }
    writeln!(w, "</svg>").unwrap();
    svg
}
