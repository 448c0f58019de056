//! Smoke test of `netfn bench io --quick --json`: every system is in the
//! report, measured or with the reason it could not be, and the numbers are
//! sane (traffic crossed every middlebox, delivered never exceeds offered by
//! more than counter skew, checksums arrive intact, ping answers).
//!
//! The real benchmark is not part of `cargo test` (see docs/io.md). This
//! needs root and network namespaces (about a minute with short windows);
//! otherwise it says why and passes without running.

use std::process::Command;

use serde_json::Value;

const SYSTEMS: [&str; 7] = [
    "kernel",
    "kernel-nat",
    "netfn-empty-afpacket",
    "netfn-empty-afxdp",
    "netfn-fwnat-afpacket",
    "netfn-fwnat-afxdp",
    "ovs-netdev",
];

fn unavailable() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root (network namespaces, AF_PACKET and AF_XDP need it)".into());
    }
    for tool in ["ip", "iperf3", "ping", "nft"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("`{tool}` not installed; run scripts/setup.sh"));
        }
    }
    let probe = format!("nfioprobe{}", std::process::id());
    match Command::new("ip").args(["netns", "add", &probe]).output() {
        Ok(o) if o.status.success() => {
            let _ = Command::new("ip").args(["netns", "del", &probe]).status();
            None
        }
        Ok(o) => Some(format!(
            "network namespaces unavailable: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("`ip` not runnable: {e}")),
    }
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing or not a number in {v}"))
}

fn check_flow(system: &str, f: &Value) {
    let offered = num(f, "offered_pps");
    let delivered = num(f, "delivered_pps");
    let loss = num(f, "loss_pct");
    assert!(offered > 0.0, "{system}: nothing offered: {f}");
    assert!(delivered > 0.0, "{system}: nothing delivered: {f}");
    // Two counters read a few microseconds apart: allow small skew.
    assert!(
        delivered <= offered * 1.1 + 2000.0,
        "{system}: delivered more than offered: {f}"
    );
    assert!((0.0..=100.0).contains(&loss), "{system}: loss {loss}: {f}");
    assert!(num(f, "gbps") > 0.0, "{system}: {f}");
}

#[test]
fn quick_bench_reports_every_system_with_sane_numbers() {
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED bench_io: {why}");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_netfn"))
        .args(["bench", "io", "--quick", "--json"])
        .output()
        .expect("run netfn bench io");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench io failed: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));

    // Nothing left behind.
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let pid_prefix = "nfio";
    let left: Vec<_> = String::from_utf8_lossy(&ns.stdout)
        .lines()
        .filter(|l| l.starts_with(pid_prefix) && !l.starts_with("nfioprobe"))
        .map(str::to_string)
        .collect();
    // Other runs may be going on in parallel; ours (its pid is gone now)
    // must not be among them, which the next run's stale sweep would
    // otherwise hide: check there is no namespace whose pid is dead.
    for name in &left {
        let digits: String = name[4..].chars().take_while(char::is_ascii_digit).collect();
        assert!(
            std::path::Path::new(&format!("/proc/{digits}")).exists(),
            "namespace {name} left behind"
        );
    }

    for g in report["generator_alone"]
        .as_array()
        .expect("generator_alone")
    {
        assert!(num(g, "offered_pps") > 0.0, "generator alone: {g}");
    }
    let systems = report["systems"].as_array().expect("systems");
    for id in SYSTEMS {
        let s = systems
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("system {id} missing from the report"));
        if s["available"] != true {
            // Only OVS may be missing (not installable everywhere), and
            // then the report says why.
            assert_eq!(id, "ovs-netdev", "{id} not measured: {}", s["reason"]);
            assert!(
                s["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "{id} unavailable without a reason"
            );
            continue;
        }
        let generator = s["generator"].as_array().expect("generator");
        assert_eq!(generator.len(), 2, "{id}: {s}");
        generator.iter().for_each(|f| check_flow(id, f));
        let udp = s["iperf_udp"].as_array().expect("iperf_udp");
        assert_eq!(udp.len(), 2, "{id}: iperf3 UDP missing: {}", s["reason"]);
        udp.iter().for_each(|f| check_flow(id, f));
        assert!(num(s, "tcp_gbps") > 0.0, "{id}: {}", s["reason"]);
        let idle = &s["ping_idle"];
        assert!(num(idle, "received") > 0.0, "{id}: no ping reply: {idle}");
        let (min, avg, p99) = (
            num(idle, "min_us"),
            num(idle, "avg_us"),
            num(idle, "p99_us"),
        );
        assert!(
            0.0 < min && min <= avg && min <= p99,
            "{id}: ping {min}/{avg}/{p99}"
        );
        assert!(num(&s["ping_loaded"], "load_pps") > 0.0, "{id}");
        assert_eq!(s["sink"]["bad_checksum"], 0, "{id}: bad checksums at h2");
        assert!(num(&s["sink"], "checked") > 0.0, "{id}: sink saw nothing");
        if id == "kernel" {
            let r = num(&s["vs_kernel"], "gen64");
            assert!((r - 1.0).abs() < 1e-9, "kernel vs itself: {r}");
        }
    }
    let overload = report["overload"].as_array().expect("overload");
    assert!(!overload.is_empty(), "no overload sweep");
    for o in overload {
        let points = o["points"].as_array().expect("points");
        assert!(points.len() >= 2, "{o}");
        points.iter().for_each(|p| check_flow("overload", p));
    }
}
