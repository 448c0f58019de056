//! The live view and the final summary of `netfn run`.

use std::fmt::Write as _;

use netfn_core::stats::NodeSnapshot;

/// Formats a rate with an SI prefix ("12.3M").
fn si(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.2}G", v / 1e9),
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

fn drops_text(n: &NodeSnapshot) -> String {
    if n.drops.is_empty() {
        return "-".into();
    }
    n.drops
        .iter()
        .map(|(r, c)| format!("{r}:{c}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One refresh: rates over the last interval, totals since the start.
pub fn live(prev: &[NodeSnapshot], cur: &[NodeSnapshot], dt: f64, elapsed: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "netfn  {elapsed:>6.1}s   {:<20} {:<10} {:>9} {:>10} {:>9} {:>10} {:>8}  drops",
        "node", "kind", "rx pps", "rx bps", "tx pps", "tx bps", "ns/pkt"
    );
    for n in cur {
        let p = prev.iter().find(|p| p.name == n.name);
        let rate = |now: u64, before: Option<u64>| {
            (now.saturating_sub(before.unwrap_or(0))) as f64 / dt.max(1e-9)
        };
        let rx_pps = rate(n.rx_packets, p.map(|p| p.rx_packets));
        let rx_bps = rate(n.rx_bytes, p.map(|p| p.rx_bytes)) * 8.0;
        let tx_pps = rate(n.tx_packets, p.map(|p| p.tx_packets));
        let tx_bps = match n.tx_bytes {
            Some(b) => si(rate(b, p.and_then(|p| p.tx_bytes)) * 8.0),
            None => "-".into(),
        };
        let ns = n.ns_per_packet.map_or("-".into(), |v| format!("{v:.1}"));
        let _ = writeln!(
            out,
            "               {:<20} {:<10} {:>9} {:>10} {:>9} {:>10} {:>8}  {}",
            truncate(&n.name, 20),
            truncate(&n.kind, 10),
            si(rx_pps),
            si(rx_bps),
            si(tx_pps),
            tx_bps,
            ns,
            drops_text(n)
        );
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}~", s.chars().take(n - 1).collect::<String>())
    }
}

/// The summary printed when a run ends.
pub fn summary(nodes: &[NodeSnapshot], elapsed: f64, reason: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "netfn: stopped after {elapsed:.2}s ({reason})");
    let _ = writeln!(
        out,
        "{:<22} {:<10} {:>12} {:>12} {:>10} {:>8}  drops / counters",
        "node", "kind", "rx packets", "tx packets", "avg pps", "ns/pkt"
    );
    for n in nodes {
        let ns = n.ns_per_packet.map_or("-".into(), |v| format!("{v:.1}"));
        let mut extra = drops_text(n);
        if !n.extra.is_empty() {
            let counters: Vec<String> = n.extra.iter().map(|(k, v)| format!("{k}={v}")).collect();
            extra = format!("{extra}  [{}]", counters.join(" "));
        }
        if n.panics > 0 {
            extra = format!("{extra}  panics={}", n.panics);
        }
        let _ = writeln!(
            out,
            "{:<22} {:<10} {:>12} {:>12} {:>10} {:>8}  {}",
            truncate(&n.name, 22),
            truncate(&n.kind, 10),
            n.rx_packets,
            n.tx_packets,
            si(n.rx_packets.max(n.tx_packets) as f64 / elapsed.max(1e-9)),
            ns,
            extra
        );
    }
    out
}
