//! `netfn bench io`: netfn beside the systems a user would pick today, on
//! real packet I/O, in one run.
//!
//! **Topology** (made here, with its own namespace prefix `nfio<pid>`, and
//! always removed: on return, on error, on SIGINT/SIGTERM, and stale ones of
//! dead runs at the next start):
//!
//! ```text
//!  h1: eth0 10.99.1.1/24 ─veth─ v1 [mb] v2 ─veth─ eth0 10.99.2.1/24 :h2
//!      02:00:00:00:01:01        02:00:00:00:01:fe / 02:00:00:00:02:fe   02:00:00:00:02:01
//! ```
//!
//! h1 and h2 route through the middlebox `mb` (gateways 10.99.1.254 and
//! 10.99.2.254, static neighbour entries, so nothing needs ARP). The hosts'
//! veths have checksum offload (and with it TSO/GSO) off for every system
//! alike, so a userspace middlebox sees real checksums and no 64 KiB
//! super-frames (see `shared/reference/io-limits-here.md`, "Pitfalls").
//!
//! **Systems in the middlebox**, one fresh topology each:
//! * `kernel`: Linux IPv4 forwarding (`ip_forward=1`, addresses on v1/v2);
//! * `kernel-nat`: the same plus nftables masquerade on v2 and 500 rules in
//!   the forward chain that match nothing (`ip saddr 198.18.x.y tcp dport
//!   N drop`), the /dev/stdpkt chain;
//! * `netfn-empty-*`: netfn forwarding v1 <-> v2 with no NF (afpacket or
//!   afxdp). Nothing rewrites MAC addresses, so the hosts' gateway
//!   neighbour entries point at the other host's MAC: a bump in the wire;
//! * `netfn-fwnat-*`: netfn `firewall` (the same 500 non-matching rules,
//!   then `allow ip from any to any`) on both directions, `nat`
//!   (masquerade to 10.99.2.254) and `router` (TTL - 1, MAC rewrite): what
//!   the kernel does in `kernel-nat`;
//! * `ovs-netdev`: Open vSwitch's userspace datapath (`datapath_type=netdev`,
//!   v1 and v2 as ports, two OpenFlow rules that route: MAC rewrite and
//!   `dec_ttl`), when `ovs-vswitchd` is installed; otherwise the report says
//!   why not.
//!
//! The middlebox (netfn, ovs-vswitchd) is pinned to CPU 1; the load (netfn
//! generator, iperf3 client) to CPU 0. mb's kernel has no addresses and no
//! forwarding for the userspace systems, so it never forwards a second copy.
//!
//! **Loads, per system**: the netfn generator (`generator -> afpacket`,
//! 64 UDP flows, 64- and 1400-byte payloads, i.e. 106- and 1442-byte
//! frames, flat out), with a netfn sink in h2 verifying every checksum;
//! iperf3 UDP (`-b 0`, `-l 64` / `-l 1400`) and TCP. Offered is what left
//! h1's veth (tx packets + tx drops), delivered is what h2's veth received,
//! over the same window; Gbit/s counts UDP payload (as iperf3 does). ping
//! h1 -> h2 (`-i 0.01`) gives RTT min/avg/p99 idle and under the netfn
//! generator paced at 80 % of the system's own 64-byte capacity.
//!
//! **The generator alone** runs first in the same run: its frames go to a
//! MAC nobody owns and mb's kernel drops them as PACKET_OTHERHOST, the
//! cheapest receive there is. Veth receive work runs on the sending core,
//! so every row is bounded by this one.
//!
//! **Overload** (`netfn-fwnat-afpacket`): delivered vs offered for paced
//! rates from 25 % to 150 % of its capacity and flat out, once with mb's
//! receive softirq on the generator's core (veth's default) and once with
//! RPS steering it onto the NF's core, where receive livelock would show.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

const H1_MAC: &str = "02:00:00:00:01:01";
const MB1_MAC: &str = "02:00:00:00:01:fe";
const MB2_MAC: &str = "02:00:00:00:02:fe";
const H2_MAC: &str = "02:00:00:00:02:01";
/// A MAC nobody in the topology owns: frames to it are dropped by the
/// receiving kernel as PACKET_OTHERHOST.
const NOBODY_MAC: &str = "02:00:00:00:01:99";
const H2_IP: &str = "10.99.2.1";
const PAYLOADS: [usize; 2] = [64, 1400];
/// Ethernet + IPv4 + UDP headers in front of the payload.
const HEADERS: usize = 14 + 20 + 8;
const RULES: usize = 500;
const NS_PREFIX: &str = "nfio";
/// Every process the benchmark starts (load, middlebox, sink, ping) runs at
/// this priority, so that other work on a shared machine takes less from
/// the userspace systems; kernel forwarding runs in softirq, which no
/// process competes with.
const PRIORITY: [&str; 3] = ["nice", "-n", "-10"];

/// What `netfn bench io` was asked to do.
pub struct Options {
    pub quick: bool,
    /// Only these systems (ids), all if empty.
    pub systems: Vec<String>,
    /// Skip the overload sweep.
    pub no_overload: bool,
    /// Rounds over all systems (each figure is the median over rounds);
    /// None: 3, or 1 with `quick`.
    pub rounds: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortKind {
    Afpacket,
    Afxdp,
}

impl PortKind {
    fn name(self) -> &'static str {
        match self {
            PortKind::Afpacket => "afpacket",
            PortKind::Afxdp => "afxdp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Kernel,
    KernelNat,
    NetfnEmpty(PortKind),
    NetfnFwNat(PortKind),
    Ovs,
}

struct SystemDef {
    id: &'static str,
    label: &'static str,
    kind: Kind,
}

const SYSTEMS: [SystemDef; 7] = [
    SystemDef {
        id: "kernel",
        label: "Linux kernel IPv4 forwarding",
        kind: Kind::Kernel,
    },
    SystemDef {
        id: "kernel-nat",
        label: "kernel + nftables masquerade + 500 rules",
        kind: Kind::KernelNat,
    },
    SystemDef {
        id: "netfn-empty-afpacket",
        label: "netfn empty graph, afpacket",
        kind: Kind::NetfnEmpty(PortKind::Afpacket),
    },
    SystemDef {
        id: "netfn-empty-afxdp",
        label: "netfn empty graph, afxdp",
        kind: Kind::NetfnEmpty(PortKind::Afxdp),
    },
    SystemDef {
        id: "netfn-fwnat-afpacket",
        label: "netfn firewall(500) -> nat -> router, afpacket",
        kind: Kind::NetfnFwNat(PortKind::Afpacket),
    },
    SystemDef {
        id: "netfn-fwnat-afxdp",
        label: "netfn firewall(500) -> nat -> router, afxdp",
        kind: Kind::NetfnFwNat(PortKind::Afxdp),
    },
    SystemDef {
        id: "ovs-netdev",
        label: "Open vSwitch userspace datapath (netdev)",
        kind: Kind::Ovs,
    },
];

/// For the userspace systems (netfn, OVS): mb's kernel drops every frame
/// it receives on v1/v2 at the netfilter ingress hook, which runs after
/// packet sockets got their copy. Without it mb's own stack also takes
/// each frame (a route lookup that fails: no addresses, no forwarding),
/// work done on the receive CPU for nothing. AF_XDP's redirected frames
/// never get that far.
const MB_INGRESS_DROP: &str = "table netdev netfn_mb {\n\
  chain v1 { type filter hook ingress device \"v1\" priority 0; policy drop; }\n\
  chain v2 { type filter hook ingress device \"v2\" priority 0; policy drop; }\n\
}\n";

/// The systems whose overload behaviour is swept.
const OVERLOAD_SYSTEMS: [&str; 2] = ["netfn-fwnat-afpacket", "netfn-fwnat-afxdp"];

/// How long each phase runs.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    pub warmup_s: f64,
    pub window_s: f64,
    pub iperf_s: u32,
    pub pings: u32,
    pub ping_interval_s: f64,
    pub overload_window_s: f64,
    pub overload_fractions: Vec<f64>,
}

impl Timing {
    fn new(quick: bool) -> Self {
        if quick {
            Timing {
                warmup_s: 0.3,
                window_s: 0.5,
                iperf_s: 1,
                pings: 20,
                ping_interval_s: 0.005,
                overload_window_s: 0.5,
                overload_fractions: vec![0.5, 1.5],
            }
        } else {
            Timing {
                warmup_s: 1.0,
                window_s: 5.0,
                iperf_s: 5,
                pings: 200,
                ping_interval_s: 0.01,
                overload_window_s: 3.0,
                overload_fractions: vec![0.25, 0.5, 0.75, 1.0, 1.25, 1.5],
            }
        }
    }
}

/// Offered and delivered load of one measurement.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Flow {
    pub payload: usize,
    pub offered_pps: f64,
    pub delivered_pps: f64,
    /// UDP payload bits per second delivered.
    pub gbps: f64,
    pub loss_pct: f64,
}

impl Flow {
    fn new(payload: usize, offered: f64, delivered: f64) -> Self {
        let loss = if offered > 0.0 {
            (100.0 * (1.0 - delivered / offered)).max(0.0)
        } else {
            0.0
        };
        Flow {
            payload,
            offered_pps: offered,
            delivered_pps: delivered,
            gbps: delivered * payload as f64 * 8.0 / 1e9,
            loss_pct: loss,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Rtt {
    pub sent: u32,
    pub received: u32,
    pub min_us: f64,
    pub avg_us: f64,
    pub p99_us: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadedRtt {
    /// The netfn generator's paced rate (80 % of the 64-byte capacity).
    pub load_pps: f64,
    /// What h2 received while the pings ran (pings included).
    pub delivered_pps: f64,
    #[serde(flatten)]
    pub rtt: Rtt,
}

/// Each figure divided by the reference system's (null: no reference).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ratios {
    pub gen64: Option<f64>,
    pub gen1400: Option<f64>,
    pub udp64: Option<f64>,
    pub udp1400: Option<f64>,
    pub tcp: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SinkCheck {
    /// Packets the netfn sink in h2 received over both generator runs.
    pub received: u64,
    pub checked: u64,
    pub bad_checksum: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SystemResult {
    pub id: String,
    pub label: String,
    pub available: bool,
    /// Why the system was not (fully) measured.
    pub reason: Option<String>,
    /// netfn generator load, 64 and 1400 payload bytes.
    pub generator: Vec<Flow>,
    /// iperf3 UDP, -b 0, 64 and 1400 payload bytes.
    pub iperf_udp: Vec<Flow>,
    pub tcp_gbps: Option<f64>,
    pub ping_idle: Option<Rtt>,
    pub ping_loaded: Option<LoadedRtt>,
    pub sink: Option<SinkCheck>,
    /// netfn middleboxes: each port's packets and its nonzero drop and
    /// error counters over the whole system run (where packets were lost).
    pub middlebox_ports: Vec<PortCounters>,
    pub vs_kernel: Ratios,
    pub vs_kernel_nat: Ratios,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PortCounters {
    pub name: String,
    pub rx_packets: u64,
    pub tx_packets: u64,
    /// Nonzero counters whose name says drop, error, full or empty.
    pub losses: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OverloadPoint {
    /// The generator's paced rate (0 = flat out).
    pub target_pps: f64,
    #[serde(flatten)]
    pub flow: Flow,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overload {
    pub system: String,
    /// `veth-default` (mb's receive softirq on the generator's core) or
    /// `rps-nf-core` (RPS moves it onto the NF's core).
    pub mode: String,
    pub capacity_pps: f64,
    pub points: Vec<OverloadPoint>,
    /// Delivered at the highest offered load / the best delivered: 1.0 is a
    /// flat plateau, much less is a collapse.
    pub plateau_ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub kernel: String,
    pub cpus: usize,
    pub load_average_start: String,
    pub load_average_end: String,
    pub quick: bool,
    /// Each figure is the median over this many rounds.
    pub rounds: usize,
    pub timing: Timing,
    pub netfn_binary: String,
    /// How every process the benchmark started was run (see PRIORITY).
    pub priority: String,
    /// The netfn generator into a drop on its veth peer (64, 1400 bytes).
    pub generator_alone: Vec<Flow>,
    pub systems: Vec<SystemResult>,
    pub overload: Vec<Overload>,
    pub elapsed_s: f64,
}

type Res<T> = Result<T, String>;

/// Runs the benchmark. Needs root, iproute2, ping and iperf3.
pub fn run(opts: &Options) -> Res<Report> {
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| format!("cannot handle signals: {e}"))?;
    }
    for tool in ["ip", "ping", "iperf3", "taskset"] {
        if !have(tool) {
            return Err(format!(
                "`{tool}` is not installed (scripts/setup.sh installs what bench io needs)"
            ));
        }
    }
    for s in &opts.systems {
        if !SYSTEMS.iter().any(|d| d.id == s) {
            let ids: Vec<_> = SYSTEMS.iter().map(|d| d.id).collect();
            return Err(format!("unknown system `{s}` (known: {})", ids.join(", ")));
        }
    }
    remove_stale_namespaces();
    let timing = Timing::new(opts.quick);
    let exe = std::env::current_exe().map_err(|e| format!("cannot find netfn itself: {e}"))?;
    let dir = std::env::temp_dir().join(format!("netfn-bench-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let _dir_guard = RemoveDir(dir.clone());
    write_rules(&dir.join("fw.rules"))?;
    write_nft(&dir.join("kernel-nat.nft"))?;
    write(&dir.join("mb-ingress-drop.nft"), MB_INGRESS_DROP)?;
    let bench = Bench {
        exe,
        dir,
        timing: timing.clone(),
        stop,
    };
    let load_start = load_average();

    let rounds = opts.rounds.unwrap_or(if opts.quick { 1 } else { 3 }).max(1);
    let defs: Vec<&SystemDef> = SYSTEMS
        .iter()
        .filter(|d| opts.systems.is_empty() || opts.systems.iter().any(|s| s == d.id))
        .collect();
    // Rounds go over every system in turn, so that the load of a shared
    // machine, which comes and goes, falls on all of them alike.
    let mut alone: Vec<Vec<Flow>> = Vec::new();
    let mut per_system: Vec<Vec<SystemResult>> = vec![Vec::new(); defs.len()];
    let mut overload = Vec::new();
    for round in 0..rounds {
        alone.push(bench.generator_alone()?);
        for (i, def) in defs.iter().enumerate() {
            // The sweep once, in the last round.
            let sweep =
                !opts.no_overload && OVERLOAD_SYSTEMS.contains(&def.id) && round + 1 == rounds;
            let (result, sweeps) = bench.system(def, sweep)?;
            per_system[i].push(result);
            overload.extend(sweeps);
        }
    }
    let generator_alone = median_flows(&alone);
    let mut systems: Vec<SystemResult> = per_system.iter().map(|r| median_system(r)).collect();
    fill_ratios(&mut systems);
    Ok(Report {
        kernel: read_trim("/proc/sys/kernel/osrelease"),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_average_start: load_start,
        load_average_end: load_average(),
        quick: opts.quick,
        rounds,
        timing,
        netfn_binary: bench.exe.display().to_string(),
        priority: PRIORITY.join(" "),
        generator_alone,
        systems,
        overload,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

struct Bench {
    exe: PathBuf,
    dir: PathBuf,
    timing: Timing,
    stop: Arc<AtomicBool>,
}

/// Gateway neighbour entries of the hosts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wiring {
    /// h1's gateway is mb's v1, h2's is mb's v2 (a router in the middle).
    Routed,
    /// h1's gateway MAC is h2's and the other way round (a bump in the wire
    /// that rewrites nothing).
    Wire,
}

impl Bench {
    fn sleep(&self, secs: f64) -> Res<()> {
        let until = Instant::now() + Duration::from_secs_f64(secs.max(0.0));
        loop {
            if self.stop.load(Ordering::Acquire) {
                return Err("interrupted".into());
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    fn generator_alone(&self) -> Res<Vec<Flow>> {
        let mut topo = Topo::up(&self.dir, Wiring::Routed)?;
        let mut out = Vec::new();
        for payload in PAYLOADS {
            let graph = self.gen_graph(&topo, payload, NOBODY_MAC, 0.0)?;
            let (offered, _) = self.window(&mut topo, &graph, self.timing.window_s, None)?;
            out.push(Flow::new(payload, offered, offered));
        }
        Ok(out)
    }

    /// One system: set up, measure everything, tear down.
    fn system(&self, def: &SystemDef, sweep: bool) -> Res<(SystemResult, Vec<Overload>)> {
        let mut result = SystemResult {
            id: def.id.into(),
            label: def.label.into(),
            ..SystemResult::default()
        };
        let wiring = match def.kind {
            Kind::NetfnEmpty(_) => Wiring::Wire,
            _ => Wiring::Routed,
        };
        let mut topo = Topo::up(&self.dir, wiring)?;
        let _ = std::fs::remove_file(self.dir.join("mb.log"));
        let middlebox = match self.start_middlebox(&mut topo, def.kind) {
            Ok(id) => id,
            Err(why) => {
                if self.stop.load(Ordering::Acquire) {
                    return Err("interrupted".into());
                }
                result.reason = Some(why);
                return Ok((result, Vec::new()));
            }
        };
        if let Err(why) = self.wait_forwarding(&topo) {
            result.reason = Some(why);
            return Ok((result, Vec::new()));
        }
        result.available = true;
        result.ping_idle = Some(self.ping(&topo)?);

        let gw = match wiring {
            Wiring::Routed => MB1_MAC,
            Wiring::Wire => H2_MAC,
        };
        let sink_out = self.dir.join("sink.json");
        let sink_graph = self.dir.join("sink.nf");
        write(
            &sink_graph,
            "rx :: afpacket(dev = eth0) -> out :: sink(check = checksum);\n",
        )?;
        let sink = topo.spawn(
            "h2",
            &[self.exe.as_os_str().to_str().unwrap_or("netfn"), "run"],
            &[sink_graph.as_os_str(), "-q".as_ref(), "--json".as_ref()],
            Some(&sink_out),
        )?;
        self.sleep(0.5)?;
        h2_sink_only(&topo, true)?;
        for payload in PAYLOADS {
            let graph = self.gen_graph(&topo, payload, gw, 0.0)?;
            let (offered, delivered) = self.window(
                &mut topo,
                &graph,
                self.timing.window_s,
                Some(("h2", "eth0")),
            )?;
            result
                .generator
                .push(Flow::new(payload, offered, delivered));
        }
        topo.stop(sink);
        h2_sink_only(&topo, false)?;
        result.sink = Some(read_sink(&sink_out));

        for payload in PAYLOADS {
            match self.iperf(&mut topo, Some(payload)) {
                Ok(v) => result.iperf_udp.push(parse_udp(&v, payload)?),
                Err(e) => note(&mut result.reason, format!("iperf3 UDP {payload}: {e}")),
            }
        }
        match self.iperf(&mut topo, None) {
            Ok(v) => {
                result.tcp_gbps = v
                    .pointer("/end/sum_received/bits_per_second")
                    .and_then(Value::as_f64)
                    .map(|b| b / 1e9);
            }
            Err(e) => note(&mut result.reason, format!("iperf3 TCP: {e}")),
        }

        let cap = result.generator.first().map_or(0.0, |f| f.delivered_pps);
        h2_sink_only(&topo, true)?;
        if cap > 0.0 {
            let rate = (0.8 * cap).round();
            let graph = self.gen_graph(&topo, PAYLOADS[0], gw, rate)?;
            let secs = self.timing.pings as f64 * self.timing.ping_interval_s + 1.0;
            let generator = self.spawn_gen(&mut topo, &graph, self.timing.warmup_s + secs + 1.0)?;
            self.sleep(self.timing.warmup_s)?;
            let a = link_stats(&topo.ns("h2"), "eth0")?;
            let t0 = Instant::now();
            let rtt = self.ping(&topo);
            let b = link_stats(&topo.ns("h2"), "eth0")?;
            let dt = t0.elapsed().as_secs_f64();
            topo.stop(generator);
            result.ping_loaded = Some(LoadedRtt {
                load_pps: rate,
                delivered_pps: (b.rx_packets.saturating_sub(a.rx_packets)) as f64 / dt,
                rtt: rtt?,
            });
        }

        let mut sweeps = Vec::new();
        if sweep && cap > 0.0 {
            for mode in ["veth-default", "rps-nf-core"] {
                if self.timing.overload_fractions.len() < 3 && mode != "veth-default" {
                    // --quick: one mode is enough to see that it works.
                    continue;
                }
                sweeps.push(self.overload(&mut topo, def.id, gw, cap, mode)?);
            }
        }
        if let Some(id) = middlebox {
            topo.stop(id);
            result.middlebox_ports = read_ports(&self.dir.join("mb.log"));
        }
        Ok((result, sweeps))
    }

    fn overload(
        &self,
        topo: &mut Topo,
        system: &str,
        gw: &str,
        cap: f64,
        mode: &str,
    ) -> Res<Overload> {
        let rps = if mode == "rps-nf-core" { "2" } else { "0" };
        topo.exec(
            "mb",
            &[
                "sh",
                "-c",
                &format!("echo {rps} > /sys/class/net/v1/queues/rx-0/rps_cpus"),
            ],
        )?;
        let mut points = Vec::new();
        let mut targets: Vec<f64> = self
            .timing
            .overload_fractions
            .iter()
            .map(|f| (f * cap).round())
            .collect();
        targets.push(0.0);
        for target in targets {
            let graph = self.gen_graph(topo, PAYLOADS[0], gw, target)?;
            let (offered, delivered) = self.window(
                topo,
                &graph,
                self.timing.overload_window_s,
                Some(("h2", "eth0")),
            )?;
            points.push(OverloadPoint {
                target_pps: target,
                flow: Flow::new(PAYLOADS[0], offered, delivered),
            });
        }
        topo.exec(
            "mb",
            &[
                "sh",
                "-c",
                "echo 0 > /sys/class/net/v1/queues/rx-0/rps_cpus",
            ],
        )?;
        let best = points
            .iter()
            .map(|p| p.flow.delivered_pps)
            .fold(0.0, f64::max);
        let at_max = points
            .iter()
            .max_by(|a, b| a.flow.offered_pps.total_cmp(&b.flow.offered_pps))
            .map_or(0.0, |p| p.flow.delivered_pps);
        Ok(Overload {
            system: system.into(),
            mode: mode.into(),
            capacity_pps: cap,
            points,
            plateau_ratio: if best > 0.0 { at_max / best } else { 0.0 },
        })
    }

    /// Writes a generator graph for h1 and returns its path.
    fn gen_graph(&self, topo: &Topo, payload: usize, dst_mac: &str, rate: f64) -> Res<PathBuf> {
        let _ = topo;
        let path = self.dir.join(format!("gen-{payload}-{}.nf", rate as u64));
        let frame = payload + HEADERS;
        write(
            &path,
            &format!(
                "gen :: generator(flows = 64, udp = 1, size = [{frame}B], rate = {rate}, \
                 src = 10.99.1.1/32, dst = {H2_IP}/32, src_mac = {H1_MAC}, dst_mac = {dst_mac});\n\
                 gen -> tx :: afpacket(dev = eth0, qdisc_bypass = true);\n",
                rate = rate as u64
            ),
        )?;
        Ok(path)
    }

    fn spawn_gen(&self, topo: &mut Topo, graph: &Path, secs: f64) -> Res<usize> {
        let exe = self.exe.to_str().unwrap_or("netfn").to_string();
        topo.spawn(
            "h1",
            &["taskset", "-c", "0", &exe, "run"],
            &[
                graph.as_os_str(),
                "-q".as_ref(),
                "--duration".as_ref(),
                format!("{secs:.2}s").as_ref(),
            ],
            None,
        )
    }

    /// Runs a generator, and measures over a window after the warm-up:
    /// offered = what left h1's eth0 (tx packets + tx drops), delivered =
    /// rx packets of `at` (or offered when None).
    fn window(
        &self,
        topo: &mut Topo,
        graph: &Path,
        window: f64,
        at: Option<(&str, &str)>,
    ) -> Res<(f64, f64)> {
        let generator = self.spawn_gen(topo, graph, self.timing.warmup_s + window + 0.5)?;
        let measured = (|| {
            self.sleep(self.timing.warmup_s)?;
            let h1 = topo.ns("h1");
            let a_tx = link_stats(&h1, "eth0")?;
            let a_rx = match at {
                Some((ns, dev)) => Some(link_stats(&topo.ns(ns), dev)?),
                None => None,
            };
            let t0 = Instant::now();
            self.sleep(window)?;
            let b_tx = link_stats(&h1, "eth0")?;
            let b_rx = match at {
                Some((ns, dev)) => Some(link_stats(&topo.ns(ns), dev)?),
                None => None,
            };
            let dt = t0.elapsed().as_secs_f64();
            let offered = (b_tx.tx_packets + b_tx.tx_dropped)
                .saturating_sub(a_tx.tx_packets + a_tx.tx_dropped) as f64
                / dt;
            let delivered = match (a_rx, b_rx) {
                (Some(a), Some(b)) => b.rx_packets.saturating_sub(a.rx_packets) as f64 / dt,
                _ => offered,
            };
            Ok((offered, delivered))
        })();
        topo.wait_or_stop(generator, Duration::from_secs(3));
        measured
    }

    fn ping(&self, topo: &Topo) -> Res<Rtt> {
        let out = topo.exec(
            "h1",
            &[
                PRIORITY[0],
                PRIORITY[1],
                PRIORITY[2],
                "ping",
                "-n",
                "-c",
                &self.timing.pings.to_string(),
                "-i",
                &format!("{}", self.timing.ping_interval_s),
                "-W",
                "1",
                H2_IP,
            ],
        );
        // ping exits 1 when some replies are missing; the text still counts.
        let text = match out {
            Ok(t) => t,
            Err(e) if e.contains("time=") => e,
            Err(e) => return Err(format!("ping: {e}")),
        };
        Ok(parse_ping(&text, self.timing.pings))
    }

    /// One iperf3 test h1 -> h2 (UDP with `payload`, else TCP): its JSON.
    fn iperf(&self, topo: &mut Topo, payload: Option<usize>) -> Res<Value> {
        let server = topo.spawn("h2", &["iperf3", "-s", "-1"], &[], None)?;
        let secs = self.timing.iperf_s.to_string();
        let mut args = PRIORITY.to_vec();
        args.extend([
            "taskset", "-c", "0", "iperf3", "-c", H2_IP, "-J", "-t", &secs,
        ]);
        let len;
        if let Some(p) = payload {
            len = p.to_string();
            args.extend(["-u", "-b", "0", "-l", &len]);
        }
        let mut last = String::new();
        // The server needs a moment to listen.
        for _ in 0..20 {
            self.sleep(0.1)?;
            let out = match topo.exec("h1", &args) {
                Ok(t) | Err(t) => t,
            };
            match serde_json::from_str::<Value>(&out) {
                Ok(v) if v.get("error").is_none() => {
                    topo.wait_or_stop(server, Duration::from_secs(2));
                    return Ok(v);
                }
                Ok(v) => {
                    last = v["error"].as_str().unwrap_or("?").to_string();
                    if !last.contains("refused") {
                        break;
                    }
                }
                Err(_) => last = out.lines().next().unwrap_or("").to_string(),
            }
        }
        topo.stop(server);
        Err(last)
    }

    /// Sets the middlebox up; returns the netfn process, if it is one.
    fn start_middlebox(&self, topo: &mut Topo, kind: Kind) -> Res<Option<usize>> {
        let mb = "mb";
        let kernel_ip = |topo: &Topo| -> Res<()> {
            topo.exec(mb, &["ip", "addr", "add", "10.99.1.254/24", "dev", "v1"])?;
            topo.exec(mb, &["ip", "addr", "add", "10.99.2.254/24", "dev", "v2"])?;
            topo.exec(mb, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
            for (ip, mac, dev) in [("10.99.1.1", H1_MAC, "v1"), (H2_IP, H2_MAC, "v2")] {
                topo.exec(
                    mb,
                    &[
                        "ip",
                        "neigh",
                        "replace",
                        ip,
                        "lladdr",
                        mac,
                        "dev",
                        dev,
                        "nud",
                        "permanent",
                    ],
                )?;
            }
            Ok(())
        };
        let exe = self.exe.to_str().unwrap_or("netfn").to_string();
        if matches!(kind, Kind::NetfnEmpty(_) | Kind::NetfnFwNat(_) | Kind::Ovs) && have("nft") {
            let file = self.dir.join("mb-ingress-drop.nft");
            topo.exec(mb, &["nft", "-f", file.to_str().unwrap_or("")])?;
        }
        match kind {
            Kind::Kernel => kernel_ip(topo).map(|()| None),
            Kind::KernelNat => {
                if !have("nft") {
                    return Err("nft is not installed (scripts/setup.sh installs nftables)".into());
                }
                kernel_ip(topo)?;
                let file = self.dir.join("kernel-nat.nft");
                topo.exec(mb, &["nft", "-f", file.to_str().unwrap_or("")])?;
                Ok(None)
            }
            Kind::NetfnEmpty(port) => {
                let graph = self.dir.join(format!("empty-{}.nf", port.name()));
                let p = port.name();
                write(
                    &graph,
                    &format!("a :: {p}(dev = v1);\nb :: {p}(dev = v2);\na -> b;\nb -> a;\n"),
                )?;
                let log = self.dir.join("mb.log");
                let id = topo.spawn(
                    mb,
                    &["taskset", "-c", "1", &exe, "run"],
                    &[graph.as_os_str(), "-q".as_ref(), "--json".as_ref()],
                    Some(&log),
                )?;
                Ok(Some(id))
            }
            Kind::NetfnFwNat(port) => {
                let graph = self.dir.join(format!("fwnat-{}.nf", port.name()));
                write(&graph, &fwnat_graph(port))?;
                let log = self.dir.join("mb.log");
                let id = topo.spawn(
                    mb,
                    &["taskset", "-c", "1", &exe, "run"],
                    &[graph.as_os_str(), "-q".as_ref(), "--json".as_ref()],
                    Some(&log),
                )?;
                Ok(Some(id))
            }
            Kind::Ovs => self.start_ovs(topo).map(|()| None),
        }
    }

    fn start_ovs(&self, topo: &mut Topo) -> Res<()> {
        for tool in [
            "ovsdb-server",
            "ovsdb-tool",
            "ovs-vswitchd",
            "ovs-vsctl",
            "ovs-ofctl",
        ] {
            if !have(tool) {
                return Err(format!(
                    "`{tool}` is not installed (scripts/setup.sh installs openvswitch-switch)"
                ));
            }
        }
        let schema = "/usr/share/openvswitch/vswitch.ovsschema";
        let run = self.dir.join("ovs");
        let _ = std::fs::remove_dir_all(&run);
        std::fs::create_dir_all(&run).map_err(|e| format!("{}: {e}", run.display()))?;
        let r = |name: &str| run.join(name).display().to_string();
        let db = r("conf.db");
        let sock = format!("unix:{}", r("db.sock"));
        cmd_ok(Command::new("ovsdb-tool").args(["create", &db, schema]))?;
        topo.env = vec![("OVS_RUNDIR".into(), run.display().to_string())];
        topo.spawn(
            "mb",
            &["ovsdb-server"],
            &[
                db.as_ref(),
                format!("--remote=p{sock}").as_ref(),
                format!("--unixctl={}", r("ovsdb.ctl")).as_ref(),
                format!("--log-file={}", r("ovsdb.log")).as_ref(),
                "--no-chdir".as_ref(),
            ],
            None,
        )?;
        let vsctl = |topo: &Topo, args: &[&str]| -> Res<String> {
            let db = format!("--db={sock}");
            let mut all = vec!["ovs-vsctl", "--timeout=10", db.as_str()];
            all.extend_from_slice(args);
            topo.exec("mb", &all)
        };
        let mut ok = false;
        for _ in 0..50 {
            self.sleep(0.1)?;
            if vsctl(topo, &["--no-wait", "init"]).is_ok() {
                ok = true;
                break;
            }
        }
        if !ok {
            return Err(format!(
                "ovsdb-server did not come up: {}",
                tail(&run.join("ovsdb.log"))
            ));
        }
        topo.spawn(
            "mb",
            &["taskset", "-c", "1", "ovs-vswitchd"],
            &[
                sock.as_ref(),
                format!("--unixctl={}", r("vswitchd.ctl")).as_ref(),
                format!("--log-file={}", r("vswitchd.log")).as_ref(),
                "--no-chdir".as_ref(),
            ],
            None,
        )?;
        let steps: [&[&str]; 3] = [
            &[
                "add-br",
                "br0",
                "--",
                "set",
                "bridge",
                "br0",
                "datapath_type=netdev",
            ],
            &["add-port", "br0", "v1"],
            &["add-port", "br0", "v2"],
        ];
        for step in steps {
            vsctl(topo, step).map_err(|e| {
                format!(
                    "ovs-vsctl {}: {e}; ovs-vswitchd log: {}",
                    step.join(" "),
                    tail(&run.join("vswitchd.log"))
                )
            })?;
        }
        for flow in [
            format!(
                "in_port=v1,ip,nw_dst=10.99.2.0/24,actions=mod_dl_src:{MB2_MAC},mod_dl_dst:{H2_MAC},dec_ttl,output:v2"
            ),
            format!(
                "in_port=v2,ip,nw_dst=10.99.1.0/24,actions=mod_dl_src:{MB1_MAC},mod_dl_dst:{H1_MAC},dec_ttl,output:v1"
            ),
        ] {
            topo.exec("mb", &["ovs-ofctl", "add-flow", "br0", &flow])
                .map_err(|e| format!("ovs-ofctl add-flow: {e}"))?;
        }
        Ok(())
    }

    /// Waits until a ping crosses the middlebox (the graph is built, XDP
    /// attached, OpenFlow rules in).
    fn wait_forwarding(&self, topo: &Topo) -> Res<()> {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(20) {
            if topo
                .exec("h1", &["ping", "-n", "-c", "1", "-W", "0.3", H2_IP])
                .is_ok()
            {
                return Ok(());
            }
            self.sleep(0.1)?;
        }
        Err(format!(
            "no ping crossed the middlebox within 20 s; its log: {}",
            tail(&self.dir.join("mb.log"))
        ))
    }
}

/// While the netfn generator runs (not iperf3), h2's kernel drops the UDP
/// frames eth0 receives at the netfilter ingress hook: after the link
/// counters (delivered) and the packet socket of the checking sink, before
/// h2's stack would route each one locally and answer it with an ICMP port
/// unreachable (rate-limited only after the route lookups). That work does
/// not belong to any middlebox, yet veth runs it on the CPU that sent the
/// frame to h2: the NF's core for the userspace systems, the generator's
/// for kernel forwarding. Without nft, h2 keeps its stack (and the cost).
fn h2_sink_only(topo: &Topo, on: bool) -> Res<()> {
    if !have("nft") {
        return Ok(());
    }
    if on {
        topo.exec(
            "h2",
            &[
                "nft",
                "add table netdev netfn_sink; add chain netdev netfn_sink eth0 \
                 { type filter hook ingress device \"eth0\" priority 0; }; \
                 add rule netdev netfn_sink eth0 ip protocol udp drop",
            ],
        )
        .map(drop)
    } else {
        topo.exec("h2", &["nft", "delete table netdev netfn_sink"])
            .map(drop)
    }
}

fn fwnat_graph(port: PortKind) -> String {
    let p = port.name();
    format!(
        "// firewall (both directions) -> NAT -> router: the kernel-nat system's work\n\
         a :: {p}(dev = v1);\n\
         b :: {p}(dev = v2);\n\
         a -> fw :: firewall(rules = [\"fw.rules\"], default = deny) -> [0]nat :: nat(\n\
         \x20   public = [10.99.2.254], inside = [10.99.1.0/24]);\n\
         nat[0] -> [0]r :: router(ports = 2, macs = [{MB1_MAC}, {MB2_MAC}],\n\
         \x20   addresses = [\"10.99.1.254/24 dev 0\", \"10.99.2.254/24 dev 1\"],\n\
         \x20   neighbors = [\"10.99.1.1 {H1_MAC}\", \"{H2_IP} {H2_MAC}\"]);\n\
         b -> fwb :: firewall(rules = [\"fw.rules\"], default = deny) -> [1]nat;\n\
         nat[1] -> [1]r;\n\
         r[0] -> a;\n\
         r[1] -> b;\n\
         r[2] -> local :: sink();\n"
    )
}

/// 500 rules that match none of the traffic (TCP from 198.18.0.0/15 to one
/// port each, like the kernel's), then allow everything.
fn write_rules(path: &Path) -> Res<()> {
    let mut s = String::from("# netfn bench io: 500 non-matching rules, then allow\n");
    for i in 0..RULES {
        let _ = writeln!(
            s,
            "deny tcp from 198.18.{}.{} to any port {}",
            i / 250,
            i % 250 + 1,
            10_000 + i
        );
    }
    s += "allow ip from any to any\n";
    write(path, &s)
}

fn write_nft(path: &Path) -> Res<()> {
    let mut s = String::from(
        "table ip netfn_bench {\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n",
    );
    for i in 0..RULES {
        let _ = writeln!(
            s,
            "    ip saddr 198.18.{}.{} tcp dport {} drop",
            i / 250,
            i % 250 + 1,
            10_000 + i
        );
    }
    s += "  }\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname \"v2\" masquerade\n  }\n}\n";
    write(path, &s)
}

/// The namespaces of one measurement and the processes started in them.
/// Dropping it stops the processes and deletes the namespaces.
struct Topo {
    prefix: String,
    children: Vec<Option<Child>>,
    /// Extra environment for spawned processes.
    env: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, Default)]
struct LinkStats {
    rx_packets: u64,
    tx_packets: u64,
    tx_dropped: u64,
}

impl Topo {
    fn up(dir: &Path, wiring: Wiring) -> Res<Topo> {
        let _ = dir;
        let topo = Topo {
            prefix: format!("{NS_PREFIX}{}", std::process::id()),
            children: Vec::new(),
            env: Vec::new(),
        };
        topo.delete();
        let (h1, mb, h2) = (topo.ns("h1"), topo.ns("mb"), topo.ns("h2"));
        for ns in [&h1, &mb, &h2] {
            cmd_ok(Command::new("ip").args(["netns", "add", ns]))?;
            cmd_ok(Command::new("ip").args(["-n", ns, "link", "set", "lo", "up"]))?;
        }
        cmd_ok(Command::new("ip").args([
            "link", "add", "eth0", "netns", &h1, "address", H1_MAC, "type", "veth", "peer", "name",
            "v1", "netns", &mb, "address", MB1_MAC,
        ]))?;
        cmd_ok(Command::new("ip").args([
            "link", "add", "v2", "netns", &mb, "address", MB2_MAC, "type", "veth", "peer", "name",
            "eth0", "netns", &h2, "address", H2_MAC,
        ]))?;
        topo.exec("mb", &["sysctl", "-qw", "net.ipv4.ip_forward=0"])?;
        for dev in ["v1", "v2"] {
            topo.exec(
                "mb",
                &[
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{dev}.disable_ipv6=1"),
                ],
            )?;
            topo.exec("mb", &["ip", "link", "set", dev, "up"])?;
        }
        let (gw1, gw2) = match wiring {
            Wiring::Routed => (MB1_MAC, MB2_MAC),
            Wiring::Wire => (H2_MAC, H1_MAC),
        };
        for (host, ip, gw, gwmac) in [
            ("h1", "10.99.1.1/24", "10.99.1.254", gw1),
            ("h2", "10.99.2.1/24", "10.99.2.254", gw2),
        ] {
            topo.exec(
                host,
                &["sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=1"],
            )?;
            topo.exec(host, &["ip", "addr", "add", ip, "dev", "eth0"])?;
            if have("ethtool") {
                let _ = topo.exec(host, &["ethtool", "-K", "eth0", "tx", "off"]);
            }
            topo.exec(host, &["ip", "link", "set", "eth0", "up"])?;
            topo.exec(host, &["ip", "route", "add", "default", "via", gw])?;
            topo.exec(
                host,
                &[
                    "ip",
                    "neigh",
                    "replace",
                    gw,
                    "lladdr",
                    gwmac,
                    "dev",
                    "eth0",
                    "nud",
                    "permanent",
                ],
            )?;
        }
        Ok(topo)
    }

    fn ns(&self, short: &str) -> String {
        format!("{}{short}", self.prefix)
    }

    /// Runs a command in namespace `short` and returns its standard output;
    /// on failure, its standard error (and output).
    fn exec(&self, short: &str, args: &[&str]) -> Res<String> {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(short)]).args(args);
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd_ok(&mut c)
    }

    /// Starts `prog_args` + `more` in namespace `short` in the background;
    /// stdout goes to `out` (or nowhere). Returns a handle for `stop`.
    fn spawn(
        &mut self,
        short: &str,
        prog_args: &[&str],
        more: &[&std::ffi::OsStr],
        out: Option<&Path>,
    ) -> Res<usize> {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(short)])
            .args(PRIORITY)
            .args(prog_args)
            .args(more)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        match out {
            Some(path) => {
                let f =
                    std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
                c.stdout(f);
            }
            None => {
                c.stdout(Stdio::null());
            }
        }
        let child = c
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", prog_args.join(" ")))?;
        self.children.push(Some(child));
        Ok(self.children.len() - 1)
    }

    /// SIGINT (netfn prints its report and detaches), then SIGKILL after 3 s.
    fn stop(&mut self, id: usize) {
        if let Some(Some(child)) = self.children.get(id) {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .stderr(Stdio::null())
                .status();
        }
        self.wait_or_stop_inner(id, Duration::from_secs(3), false);
    }

    /// Waits up to `grace` for the process to end by itself, then stops it.
    fn wait_or_stop(&mut self, id: usize, grace: Duration) {
        self.wait_or_stop_inner(id, grace, true);
    }

    fn wait_or_stop_inner(&mut self, id: usize, grace: Duration, then_stop: bool) {
        let Some(slot) = self.children.get_mut(id) else {
            return;
        };
        let Some(child) = slot.as_mut() else { return };
        let t0 = Instant::now();
        while t0.elapsed() < grace {
            if let Ok(Some(_)) = child.try_wait() {
                *slot = None;
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if then_stop {
            self.stop(id);
        } else {
            let _ = child.kill();
            let _ = child.wait();
            *slot = None;
        }
    }

    fn delete(&self) {
        for ns in ["h1", "mb", "h2"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(ns)])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        for id in (0..self.children.len()).rev() {
            if self.children[id].is_some() {
                self.stop(id);
            }
        }
        self.delete();
    }
}

struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deletes namespaces a killed earlier run left (`nfio<pid>..` of a pid
/// that no longer exists).
fn remove_stale_namespaces() {
    let Ok(out) = cmd_ok(Command::new("ip").args(["netns", "list"])) else {
        return;
    };
    for line in out.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let tail = &rest[digits.len()..];
        if digits.is_empty() || !["h1", "mb", "h2"].contains(&tail) {
            continue;
        }
        if !Path::new(&format!("/proc/{digits}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

fn cmd_ok(c: &mut Command) -> Res<String> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", c.get_program()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "{}{}",
            stderr.trim(),
            if stdout.is_empty() {
                String::new()
            } else {
                format!("\n{stdout}")
            }
        ))
    }
}

fn have(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|d| Path::new(d).join(tool).is_file())
}

fn link_stats(ns: &str, dev: &str) -> Res<LinkStats> {
    let out = cmd_ok(Command::new("ip").args(["-n", ns, "-s", "-j", "link", "show", "dev", dev]))?;
    let v: Value = serde_json::from_str(&out).map_err(|e| format!("ip -j link: {e}"))?;
    let s = &v[0]["stats64"];
    let n = |p: &str| s.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    Ok(LinkStats {
        rx_packets: n("/rx/packets"),
        tx_packets: n("/tx/packets"),
        tx_dropped: n("/tx/dropped"),
    })
}

fn parse_ping(text: &str, sent: u32) -> Rtt {
    let mut t: Vec<f64> = text
        .lines()
        .filter_map(|l| {
            let at = l.find("time=")? + 5;
            let rest = &l[at..];
            let num: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let v: f64 = num.parse().ok()?;
            Some(if rest[num.len()..].trim_start().starts_with("us") {
                v
            } else {
                v * 1000.0
            })
        })
        .collect();
    t.sort_by(f64::total_cmp);
    let n = t.len();
    if n == 0 {
        return Rtt {
            sent,
            ..Rtt::default()
        };
    }
    Rtt {
        sent,
        received: n as u32,
        min_us: t[0],
        avg_us: t.iter().sum::<f64>() / n as f64,
        p99_us: t[((n - 1) as f64 * 0.99).round() as usize],
    }
}

fn parse_udp(v: &Value, payload: usize) -> Res<Flow> {
    let s = &v["end"]["sum"];
    let num = |k: &str| s[k].as_f64();
    let (Some(packets), Some(lost), Some(secs)) =
        (num("packets"), num("lost_packets"), num("seconds"))
    else {
        return Err("iperf3 UDP report without end.sum packets/lost_packets/seconds".into());
    };
    let secs = secs.max(1e-3);
    Ok(Flow::new(
        payload,
        packets / secs,
        (packets - lost).max(0.0) / secs,
    ))
}

fn read_sink(path: &Path) -> SinkCheck {
    let mut c = SinkCheck::default();
    let Ok(text) = std::fs::read_to_string(path) else {
        return c;
    };
    let Some(v) = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
    else {
        return c;
    };
    for node in v["nodes"].as_array().into_iter().flatten() {
        match node["name"].as_str() {
            Some("rx") => c.received = node["rx_packets"].as_u64().unwrap_or(0),
            Some("out") => {
                c.checked = node["extra"]["checked"].as_u64().unwrap_or(0);
                c.bad_checksum = node["extra"]["bad_checksum"].as_u64().unwrap_or(0);
            }
            _ => {}
        }
    }
    c
}

/// The ports of a netfn `run --json` report.
fn read_ports(path: &Path) -> Vec<PortCounters> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let Some(v) = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for node in v["nodes"].as_array().into_iter().flatten() {
        if node["is_port"] != true {
            continue;
        }
        let mut losses = std::collections::BTreeMap::new();
        for (k, val) in node["extra"].as_object().into_iter().flatten() {
            let n = val.as_u64().unwrap_or(0);
            let lossy = ["drop", "error", "full", "empty", "eagain", "enobufs"]
                .iter()
                .any(|w| k.contains(w));
            if lossy && n > 0 {
                losses.insert(k.clone(), n);
            }
        }
        for (k, val) in node["drops"].as_object().into_iter().flatten() {
            if let Some(n) = val.as_u64().filter(|n| *n > 0) {
                losses.insert(format!("drop:{k}"), n);
            }
        }
        out.push(PortCounters {
            name: node["name"].as_str().unwrap_or("?").to_string(),
            rx_packets: node["rx_packets"].as_u64().unwrap_or(0),
            tx_packets: node["tx_packets"].as_u64().unwrap_or(0),
            losses,
        });
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Per payload, the median offered and delivered over rounds.
fn median_flows(rounds: &[Vec<Flow>]) -> Vec<Flow> {
    PAYLOADS
        .iter()
        .filter_map(|p| {
            let of: Vec<&Flow> = rounds
                .iter()
                .flatten()
                .filter(|f| f.payload == *p)
                .collect();
            if of.is_empty() {
                return None;
            }
            Some(Flow::new(
                *p,
                median(of.iter().map(|f| f.offered_pps).collect()),
                median(of.iter().map(|f| f.delivered_pps).collect()),
            ))
        })
        .collect()
}

fn median_rtt(r: &[&Rtt]) -> Rtt {
    Rtt {
        sent: r.iter().map(|x| x.sent).sum(),
        received: r.iter().map(|x| x.received).sum(),
        min_us: median(r.iter().map(|x| x.min_us).collect()),
        avg_us: median(r.iter().map(|x| x.avg_us).collect()),
        p99_us: median(r.iter().map(|x| x.p99_us).collect()),
    }
}

/// One system's rounds into one result: medians of every figure, sums of
/// the checks and counters, every reason.
fn median_system(rounds: &[SystemResult]) -> SystemResult {
    let measured: Vec<&SystemResult> = rounds.iter().filter(|r| r.available).collect();
    let first = &rounds[0];
    let mut reasons: Vec<String> = rounds.iter().filter_map(|r| r.reason.clone()).collect();
    reasons.dedup();
    let mut out = SystemResult {
        id: first.id.clone(),
        label: first.label.clone(),
        available: !measured.is_empty(),
        reason: if reasons.is_empty() {
            None
        } else {
            Some(reasons.join("; "))
        },
        ..SystemResult::default()
    };
    if measured.is_empty() {
        return out;
    }
    let gens: Vec<Vec<Flow>> = measured.iter().map(|r| r.generator.clone()).collect();
    out.generator = median_flows(&gens);
    let udp: Vec<Vec<Flow>> = measured.iter().map(|r| r.iperf_udp.clone()).collect();
    out.iperf_udp = median_flows(&udp);
    let tcp: Vec<f64> = measured.iter().filter_map(|r| r.tcp_gbps).collect();
    out.tcp_gbps = (!tcp.is_empty()).then(|| median(tcp));
    let idle: Vec<&Rtt> = measured
        .iter()
        .filter_map(|r| r.ping_idle.as_ref())
        .collect();
    out.ping_idle = (!idle.is_empty()).then(|| median_rtt(&idle));
    let loaded: Vec<&LoadedRtt> = measured
        .iter()
        .filter_map(|r| r.ping_loaded.as_ref())
        .collect();
    if !loaded.is_empty() {
        let rtts: Vec<&Rtt> = loaded.iter().map(|l| &l.rtt).collect();
        out.ping_loaded = Some(LoadedRtt {
            load_pps: median(loaded.iter().map(|l| l.load_pps).collect()),
            delivered_pps: median(loaded.iter().map(|l| l.delivered_pps).collect()),
            rtt: median_rtt(&rtts),
        });
    }
    let sinks: Vec<&SinkCheck> = measured.iter().filter_map(|r| r.sink.as_ref()).collect();
    if !sinks.is_empty() {
        out.sink = Some(SinkCheck {
            received: sinks.iter().map(|c| c.received).sum(),
            checked: sinks.iter().map(|c| c.checked).sum(),
            bad_checksum: sinks.iter().map(|c| c.bad_checksum).sum(),
        });
    }
    let mut ports: Vec<PortCounters> = Vec::new();
    for r in &measured {
        for p in &r.middlebox_ports {
            match ports.iter_mut().find(|q| q.name == p.name) {
                Some(q) => {
                    q.rx_packets += p.rx_packets;
                    q.tx_packets += p.tx_packets;
                    for (k, v) in &p.losses {
                        *q.losses.entry(k.clone()).or_default() += v;
                    }
                }
                None => ports.push(p.clone()),
            }
        }
    }
    out.middlebox_ports = ports;
    out
}

fn fill_ratios(systems: &mut [SystemResult]) {
    let find = |id: &str| systems.iter().find(|s| s.id == id && s.available).cloned();
    let kernel = find("kernel");
    let nat = find("kernel-nat");
    for s in systems.iter_mut() {
        if let Some(k) = &kernel {
            s.vs_kernel = ratios(s, k);
        }
        if let Some(n) = &nat {
            s.vs_kernel_nat = ratios(s, n);
        }
    }
}

fn ratios(s: &SystemResult, base: &SystemResult) -> Ratios {
    let div = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && s.available => Some(a / b),
        _ => None,
    };
    let pps = |flows: &[Flow], payload: usize| {
        flows
            .iter()
            .find(|f| f.payload == payload)
            .map(|f| f.delivered_pps)
    };
    Ratios {
        gen64: div(pps(&s.generator, 64), pps(&base.generator, 64)),
        gen1400: div(pps(&s.generator, 1400), pps(&base.generator, 1400)),
        udp64: div(pps(&s.iperf_udp, 64), pps(&base.iperf_udp, 64)),
        udp1400: div(pps(&s.iperf_udp, 1400), pps(&base.iperf_udp, 1400)),
        tcp: div(s.tcp_gbps, base.tcp_gbps),
    }
}

fn note(reason: &mut Option<String>, what: String) {
    match reason {
        Some(r) => {
            r.push_str("; ");
            r.push_str(&what);
        }
        None => *reason = Some(what),
    }
}

fn write(path: &Path, text: &str) -> Res<()> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn load_average() -> String {
    read_trim("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last non-empty lines of a log, for error messages.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<_> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    let t = lines[start..].join(" | ");
    if t.is_empty() { "(empty)".into() } else { t }
}

fn kpps(v: f64) -> String {
    format!("{:.0}k", v / 1e3)
}

fn ratio(v: Option<f64>) -> String {
    v.map_or("-".into(), |r| format!("{r:.2}x"))
}

impl Report {
    pub fn table(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "netfn bench io{}: h1 -> mb -> h2 over veth, median of {} round(s), kernel {}, {} CPUs, load average {} (start) / {} (end), {:.0} s",
            if self.quick { " --quick" } else { "" },
            self.rounds,
            self.kernel,
            self.cpus,
            self.load_average_start,
            self.load_average_end,
            self.elapsed_s
        );
        let _ = writeln!(
            o,
            "windows: generator {} s after {} s warm-up, iperf3 {} s, {} pings every {} s; Gbit/s = UDP payload; processes run with `{}`",
            self.timing.window_s,
            self.timing.warmup_s,
            self.timing.iperf_s,
            self.timing.pings,
            self.timing.ping_interval_s,
            self.priority
        );
        for f in &self.generator_alone {
            let _ = writeln!(
                o,
                "netfn generator alone (afpacket tx into a drop on its veth peer), {} B payload: {} pps, {:.2} Gbit/s",
                f.payload,
                kpps(f.offered_pps),
                f.gbps
            );
        }
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{:<22} {:<16} {:>10} {:>10} {:>8} {:>7} {:>8} {:>8}",
            "system", "load", "offered", "delivered", "Gbit/s", "loss%", "x kernel", "x k-nat"
        );
        for s in &self.systems {
            if !s.available {
                let _ = writeln!(
                    o,
                    "{:<22} not measured: {}",
                    s.id,
                    s.reason.as_deref().unwrap_or("?")
                );
                continue;
            }
            let rows: Vec<(String, &Flow, Option<f64>, Option<f64>)> = s
                .generator
                .iter()
                .map(|f| {
                    let (k, n) = if f.payload == 64 {
                        (s.vs_kernel.gen64, s.vs_kernel_nat.gen64)
                    } else {
                        (s.vs_kernel.gen1400, s.vs_kernel_nat.gen1400)
                    };
                    (format!("netfn gen {} B", f.payload), f, k, n)
                })
                .chain(s.iperf_udp.iter().map(|f| {
                    let (k, n) = if f.payload == 64 {
                        (s.vs_kernel.udp64, s.vs_kernel_nat.udp64)
                    } else {
                        (s.vs_kernel.udp1400, s.vs_kernel_nat.udp1400)
                    };
                    (format!("iperf3 UDP {} B", f.payload), f, k, n)
                }))
                .collect();
            for (i, (load, f, k, n)) in rows.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "{:<22} {:<16} {:>10} {:>10} {:>8.2} {:>7.2} {:>8} {:>8}",
                    if i == 0 { s.id.as_str() } else { "" },
                    load,
                    kpps(f.offered_pps),
                    kpps(f.delivered_pps),
                    f.gbps,
                    f.loss_pct,
                    ratio(*k),
                    ratio(*n)
                );
            }
            if let Some(t) = s.tcp_gbps {
                let _ = writeln!(
                    o,
                    "{:<22} {:<16} {:>10} {:>10} {:>8.2} {:>7} {:>8} {:>8}",
                    "",
                    "iperf3 TCP",
                    "-",
                    "-",
                    t,
                    "-",
                    ratio(s.vs_kernel.tcp),
                    ratio(s.vs_kernel_nat.tcp)
                );
            }
            if let Some(r) = &s.reason {
                let _ = writeln!(o, "{:<22} note: {r}", "");
            }
        }
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "{:<22} {:>24} {:>24} {:>10} {:>14}",
            "ping h1 -> h2 (us)",
            "idle min/avg/p99",
            "loaded min/avg/p99",
            "load pps",
            "sink bad/checked"
        );
        for s in self.systems.iter().filter(|s| s.available) {
            let fmt = |r: &Rtt| {
                if r.received == 0 {
                    format!("all {} lost", r.sent)
                } else {
                    let lost = if r.received < r.sent {
                        format!(" ({} lost)", r.sent - r.received)
                    } else {
                        String::new()
                    };
                    format!("{:.0}/{:.0}/{:.0}{lost}", r.min_us, r.avg_us, r.p99_us)
                }
            };
            let _ = writeln!(
                o,
                "{:<22} {:>24} {:>24} {:>10} {:>14}",
                s.id,
                s.ping_idle.as_ref().map_or("-".into(), fmt),
                s.ping_loaded.as_ref().map_or("-".into(), |l| fmt(&l.rtt)),
                s.ping_loaded
                    .as_ref()
                    .map_or("-".into(), |l| kpps(l.load_pps)),
                s.sink
                    .as_ref()
                    .map_or("-".into(), |c| format!("{}/{}", c.bad_checksum, c.checked)),
            );
        }
        let mut header = false;
        for s in self
            .systems
            .iter()
            .filter(|s| !s.middlebox_ports.is_empty())
        {
            if !header {
                let _ = writeln!(o);
                let _ = writeln!(
                    o,
                    "netfn middlebox ports, all rounds (rx/tx packets; losses):"
                );
                header = true;
            }
            let ports: Vec<String> = s
                .middlebox_ports
                .iter()
                .map(|p| {
                    let l: Vec<String> = p.losses.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!(
                        "{} {}/{} [{}]",
                        p.name,
                        p.rx_packets,
                        p.tx_packets,
                        l.join(" ")
                    )
                })
                .collect();
            let _ = writeln!(o, "{:<22} {}", s.id, ports.join("; "));
        }
        for ov in &self.overload {
            let _ = writeln!(o);
            let _ = writeln!(
                o,
                "overload, {} ({}), 64 B payload, capacity {} pps: plateau ratio {:.2} (delivered at the highest offered load / best delivered)",
                ov.system,
                ov.mode,
                kpps(ov.capacity_pps),
                ov.plateau_ratio
            );
            let _ = writeln!(
                o,
                "{:>12} {:>10} {:>10} {:>7}",
                "target", "offered", "delivered", "loss%"
            );
            for p in &ov.points {
                let _ = writeln!(
                    o,
                    "{:>12} {:>10} {:>10} {:>7.2}",
                    if p.target_pps > 0.0 {
                        kpps(p.target_pps)
                    } else {
                        "flat out".into()
                    },
                    kpps(p.flow.offered_pps),
                    kpps(p.flow.delivered_pps),
                    p.flow.loss_pct
                );
            }
        }
        o
    }

    /// Throughput against packet size, one line per system: delivered Mpps
    /// (left) and Gbit/s (right); solid = netfn generator, dashed = iperf3.
    pub fn svg(&self) -> String {
        const COLORS: [&str; 8] = [
            "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
        ];
        let (w, h) = (980.0, 460.0);
        let (pw, ph) = (330.0, 300.0);
        let top = 50.0;
        let panels = [
            (70.0, "delivered Mpps"),
            (480.0, "delivered Gbit/s (UDP payload)"),
        ];
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">netfn bench io: throughput vs UDP payload size (h1 -> mb -> h2, veth)</text>\n",
            w / 2.0
        );
        let series: Vec<(usize, &SystemResult)> = self
            .systems
            .iter()
            .filter(|s| s.available)
            .enumerate()
            .collect();
        for (pi, (x0, title)) in panels.iter().enumerate() {
            let value = |f: &Flow| {
                if pi == 0 {
                    f.delivered_pps / 1e6
                } else {
                    f.gbps
                }
            };
            let mut max: f64 = self.generator_alone.iter().map(value).fold(0.0, f64::max);
            for (_, sys) in &series {
                for f in sys.generator.iter().chain(&sys.iperf_udp) {
                    max = max.max(value(f));
                }
            }
            let max = nice_ceiling(max);
            let x = |i: usize| x0 + pw * (0.15 + 0.7 * i as f64);
            let y = |v: f64| top + ph - ph * (v / max);
            let _ = writeln!(
                s,
                "<rect x=\"{x0}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#444\"/>\n\
                 <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{title}</text>",
                x0 + pw / 2.0,
                top - 8.0
            );
            for k in 0..=4 {
                let v = max * k as f64 / 4.0;
                let _ = writeln!(
                    s,
                    "<line x1=\"{x0}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\n\
                     <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.2}</text>",
                    x0 + pw,
                    x0 - 5.0,
                    y(v) + 4.0,
                    y = y(v)
                );
            }
            for (i, p) in PAYLOADS.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{p} B</text>",
                    x(i),
                    top + ph + 18.0
                );
            }
            let line = |flows: &[Flow], color: &str, dash: &str, s: &mut String| {
                let pts: Vec<String> = PAYLOADS
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| {
                        flows
                            .iter()
                            .find(|f| f.payload == *p)
                            .map(|f| format!("{:.1},{:.1}", x(i), y(value(f))))
                    })
                    .collect();
                if pts.is_empty() {
                    return;
                }
                let _ = writeln!(
                    s,
                    "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>",
                    pts.join(" ")
                );
                for p in &pts {
                    let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
                    let _ = writeln!(
                        s,
                        "<circle cx=\"{px}\" cy=\"{py}\" r=\"3\" fill=\"{color}\"/>"
                    );
                }
            };
            line(
                &self.generator_alone,
                "#000",
                " stroke-dasharray=\"2,3\"",
                &mut s,
            );
            for (ci, sys) in &series {
                let c = COLORS[ci % COLORS.len()];
                line(&sys.generator, c, "", &mut s);
                line(&sys.iperf_udp, c, " stroke-dasharray=\"6,4\"", &mut s);
            }
        }
        // Legend.
        let mut ly = top + ph + 40.0;
        let mut lx = 70.0;
        let mut entries: Vec<(String, &str, &str)> = vec![(
            "netfn generator alone".into(),
            "#000",
            " stroke-dasharray=\"2,3\"",
        )];
        for (ci, sys) in &series {
            entries.push((sys.id.clone(), COLORS[ci % COLORS.len()], ""));
        }
        for (i, (name, color, dash)) in entries.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                ly += 18.0;
                lx = 70.0;
            }
            let _ = writeln!(
                s,
                "<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>\n\
                 <text x=\"{}\" y=\"{}\">{name}</text>",
                lx + 24.0,
                lx + 30.0,
                ly + 4.0
            );
            lx += 220.0;
        }
        let _ = writeln!(
            s,
            "<text x=\"70\" y=\"{}\" fill=\"#555\">solid: netfn generator load; dashed: iperf3 UDP -b 0; kernel {}, load average {}</text>\n</svg>",
            ly + 24.0,
            self.kernel,
            self.load_average_start
        );
        s
    }
}

/// 1, 2 or 5 times a power of ten, at least `v`.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_times_in_ms_and_us() {
        let text = "64 bytes from 10.99.2.1: icmp_seq=1 ttl=63 time=0.050 ms\n\
                    64 bytes from 10.99.2.1: icmp_seq=2 ttl=63 time=0.150 ms\n\
                    64 bytes from 10.99.2.1: icmp_seq=3 ttl=63 time=1.00 ms\n";
        let r = parse_ping(text, 4);
        assert_eq!((r.sent, r.received), (4, 3));
        assert!((r.min_us - 50.0).abs() < 1e-9);
        assert!((r.avg_us - 400.0).abs() < 1e-9);
        assert!((r.p99_us - 1000.0).abs() < 1e-9);
        assert_eq!(parse_ping("no replies", 3).received, 0);
    }

    #[test]
    fn loss_and_rates() {
        let f = Flow::new(64, 1000.0, 900.0);
        assert!((f.loss_pct - 10.0).abs() < 1e-9);
        assert!((f.gbps - 900.0 * 64.0 * 8.0 / 1e9).abs() < 1e-12);
        // More delivered than offered (counter skew) is no negative loss.
        assert_eq!(Flow::new(64, 100.0, 101.0).loss_pct, 0.0);
    }

    #[test]
    fn iperf_udp_report() {
        let v: Value = serde_json::from_str(
            r#"{"end":{"sum":{"packets":1000,"lost_packets":100,"seconds":2.0}}}"#,
        )
        .unwrap();
        let f = parse_udp(&v, 1400).unwrap();
        assert_eq!((f.offered_pps, f.delivered_pps), (500.0, 450.0));
        assert!(parse_udp(&serde_json::json!({"end": {}}), 64).is_err());
    }

    #[test]
    fn rule_files_have_500_rules_then_allow() {
        let dir = std::env::temp_dir().join(format!("netfn-bench-io-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_rules(&dir.join("r")).unwrap();
        write_nft(&dir.join("n")).unwrap();
        let rules = std::fs::read_to_string(dir.join("r")).unwrap();
        let nft = std::fs::read_to_string(dir.join("n")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(rules.lines().filter(|l| l.starts_with("deny")).count(), 500);
        assert_eq!(rules.lines().last(), Some("allow ip from any to any"));
        assert_eq!(nft.matches(" drop\n").count(), 500);
        assert!(nft.contains("masquerade"));
        // The rules parse as the firewall's.
        assert_eq!(
            netfn_nfs::firewall::rules::parse_rules(&rules, "fw.rules").map(|r| r.len()),
            Ok(501)
        );
    }

    #[test]
    fn nice_axis() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(1.3), 2.0);
        assert_eq!(nice_ceiling(4.9), 5.0);
        assert_eq!(nice_ceiling(0.07), 0.1);
    }
}
