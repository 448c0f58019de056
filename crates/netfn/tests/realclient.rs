//! Real clients through netfn graphs that route, translate and filter, in
//! the routed topology of scripts/netns.sh (`up PREFIX routed`):
//!
//! ```text
//!   h1 10.201.1.1/24 ── a ┤ netfn in mb ├ b ── 10.201.2.1/24 h2
//!      via 10.201.1.254                          via 10.201.2.254
//! ```
//!
//! Nobody has the gateway addresses: the graph answers ARP and neighbor
//! solicitations for them (`arp`) and routes (`router`, with the hosts'
//! MACs, read from the namespaces, as its neighbour table). On that base:
//! * `ping` through the router: replies with TTL 63, ICMP destination net
//!   unreachable for an unrouted address, time exceeded for `-t 1`; IPv6;
//! * `ping` through NAT (h2 has no route back to h1, so only translated
//!   requests can be answered), `tcpdump` on h2 sees the public address;
//! * `curl` to `python3 -m http.server` on h2 through a stateful
//!   firewall → NAT: an allowed port returns the file, a denied one times
//!   out, the server logs the public address;
//! * `iperf3` TCP and UDP through NAT → firewall (the firewall admits only
//!   the public address as source), `tcpdump` on h2 sees translated
//!   sources, netfn's summary shows the NAT's sessions.
//!
//! Needs root, network namespaces and the tools (scripts/setup.sh installs
//! them); otherwise each test says why and passes without running. Every
//! process and namespace a test starts is ended by a guard when it drops,
//! also when the test fails.

mod common;

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Background, Mode, Ping, Topology, extra, graph, node, require_netns, scratch, start_netfn,
    summary, text,
};

const H1: &str = "10.201.1.1";
const H2: &str = "10.201.2.1";
const GW1: &str = "10.201.1.254";
const H2_V6: &str = "fd00:201:2::1";
/// The NAT's public address, on h2's subnet (answered by the `arp` NF).
const PUBLIC: &str = "10.201.2.100";

/// The MACs of the four interfaces, as the kernel has them.
struct Macs {
    h1: String,
    a: String,
    b: String,
    h2: String,
}

impl Macs {
    fn read(topo: &Topology) -> Macs {
        Macs {
            h1: topo.mac("h1", "eth0"),
            a: topo.mac("mb", "a"),
            b: topo.mac("mb", "b"),
            h2: topo.mac("h2", "eth0"),
        }
    }
}

/// What every graph here has: ports `a` (h1's side) and `b` (h2's side)
/// of kind `port`; a responder per side for the gateway addresses (`arpa`,
/// `arpb`; `arpb` also for `b_extra`), answering back out of its port;
/// and router `r` whose port 0 is `a` and port 1 is `b`, with the hosts
/// as neighbours. Left to connect: `arpa[0]`, `arpb[0]`, the inputs of
/// `r` and `r[1]`.
fn base(port: &str, m: &Macs, b_extra: &str) -> String {
    format!(
        r#"a :: {port}(dev = a);
b :: {port}(dev = b);
a -> arpa :: arp(addrs = ["10.201.1.254 fd00:201:1::fe"], mac = {a}, router = true);
b -> arpb :: arp(addrs = ["10.201.2.254 fd00:201:2::fe {b_extra}"], mac = {b}, router = true);
arpa[1] -> a;
arpb[1] -> b;
r :: router(ports = 2, macs = [{a}, {b}],
            addresses = ["10.201.1.254/24 dev 0", "fd00:201:1::fe/64 dev 0",
                         "10.201.2.254/24 dev 1", "fd00:201:2::fe/64 dev 1"],
            neighbors = ["10.201.1.1 {h1}", "fd00:201:1::1 {h1}",
                         "10.201.2.1 {h2}", "fd00:201:2::1 {h2}"]);
r[0] -> a;
r[2] -> local :: sink();
"#,
        a = m.a,
        b = m.b,
        h1 = m.h1,
        h2 = m.h2,
    )
}

/// The NAT between the router's port 1 and `b`: `r[1] -> nat -> OUT` and
/// `arpb -> [1]nat -> RET` (the return path goes through a queue because
/// the graph must be a DAG of NFs).
fn nat(out: &str, ret: &str) -> String {
    format!(
        "r[1] -> [0]nat :: nat(public = [{PUBLIC}], inside = [10.201.1.0/24]);\n\
         nat[0] -> {out};\n\
         arpb -> [1]nat;\n\
         nat[1] -> back :: queue(capacity = 4096) -> {ret};\n"
    )
}

fn ping(topo: &Topology, dst: &str, args: &[&str]) -> Ping {
    topo.ping_from("h1", dst, args)
}

/// Waits until a ping from h1 to `dst` gets an answer (the graph is up).
fn wait_for_path(topo: &Topology, netfn: &mut Background, dst: &str) {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        if let Some(out) = netfn.ended() {
            panic!("netfn ended ({}): {}", out.status, text(&out.stderr));
        }
        if ping(topo, dst, &["-c", "1", "-W", "1"]).received == 1 {
            return;
        }
    }
    panic!("no ping reply from {dst} through netfn within 10 s");
}

/// Waits until something listens on `addr_port` (TCP) in `host`.
fn wait_for_listener(topo: &Topology, host: &str, addr_port: &str, server: &mut Background) {
    let t0 = Instant::now();
    loop {
        let ss = topo.must(host, "ss", &["-Hltn"]);
        if ss.lines().any(|l| l.contains(addr_port)) {
            return;
        }
        assert!(
            server.exited().is_none(),
            "the server for {addr_port} ended"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "nothing listens on {addr_port} in {host}: {ss}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `tcpdump -n -l -i eth0 [-c N] FILTER` in a namespace, its lines going
/// to a file; stopped (or killed, on drop) by its guard.
struct Tcpdump {
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
}

impl Tcpdump {
    /// Starts it and waits until it is capturing.
    fn start(topo: &Topology, host: &str, tag: &str, count: Option<u32>, filter: &str) -> Tcpdump {
        let out = scratch().join(format!("{tag}.tcpdump"));
        let err = scratch().join(format!("{tag}.tcpdump.err"));
        let mut cmd = topo.cmd(host, "tcpdump");
        cmd.args(["-n", "-l", "--immediate-mode", "-i", "eth0"]);
        if let Some(n) = count {
            cmd.args(["-c", &n.to_string()]);
        }
        let child = cmd
            .args(filter.split_whitespace())
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .spawn()
            .expect("start tcpdump");
        let mut dump = Tcpdump {
            child: Some(child),
            out,
            err,
        };
        let t0 = Instant::now();
        loop {
            let said = std::fs::read_to_string(&dump.err).unwrap_or_default();
            if said.contains("listening on") {
                return dump;
            }
            let ended = dump.child.as_mut().unwrap().try_wait().unwrap();
            assert!(
                ended.is_none() && t0.elapsed() < Duration::from_secs(10),
                "tcpdump did not start: {said}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it (if `-c` has not) and returns what it printed.
    fn lines(mut self) -> String {
        let mut child = self.child.take().unwrap();
        if child.try_wait().unwrap().is_none() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
        }
        let t0 = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if t0.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::read_to_string(&self.out).unwrap()
    }
}

impl Drop for Tcpdump {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.err);
        let _ = std::fs::remove_file(&self.out);
    }
}

/// Checks that h2 saw `what` from the NAT's public address, and nothing
/// with h1's own address; returns how many such packets it saw.
fn translated_on_h2(capture: &str, what: &str) -> usize {
    assert!(
        !capture.contains(&format!("{H1} ")) && !capture.contains(&format!("{H1}.")),
        "h1's address reached h2 untranslated:\n{capture}"
    );
    let n = capture
        .lines()
        .filter(|l| l.contains(&format!("IP {PUBLIC}")) && l.contains(what))
        .count();
    assert!(n > 0, "no {what} from {PUBLIC} on h2:\n{capture}");
    n
}

#[test]
fn ping_through_a_router_ttl_unreachable_and_time_exceeded() {
    require_netns!("ping");
    let topo = Topology::up("r", Mode::Routed);
    let macs = Macs::read(&topo);
    // Nobody answers for the gateway yet: h2 is out of reach.
    let before = ping(&topo, H2, &["-c", "1", "-W", "1"]);
    assert_eq!(before.received, 0, "reachable without netfn: {before:?}");

    let body = base("afpacket", &macs, "") + "arpa -> [0]r;\narpb -> [1]r;\nr[1] -> b;\n";
    let mut netfn = start_netfn(&topo, &graph("router.nf", &body));
    wait_for_path(&topo, &mut netfn, H2);

    let p = ping(&topo, H2, &["-c", "20", "-i", "0.02", "-W", "2"]);
    let p6 = ping(&topo, H2_V6, &["-c", "5", "-i", "0.05", "-W", "2"]);
    // 10.201.9.0/24 has no route: the router answers from its address on
    // h1's side.
    let unrouted = ping(&topo, "10.201.9.1", &["-c", "2", "-i", "0.2", "-W", "1"]);
    let ttl1 = ping(&topo, H2, &["-c", "2", "-i", "0.2", "-W", "1", "-t", "1"]);
    let done = netfn.stop();
    let json = summary(&done);

    assert_eq!((p.transmitted, p.received), (20, 20), "{}", p.output);
    let replies = |p: &Ping| {
        p.output
            .lines()
            .filter(|l| l.contains("bytes from"))
            .count()
    };
    let ttl63 = |p: &Ping| p.output.lines().filter(|l| l.contains("ttl=63")).count();
    // One hop: the router decremented the TTL of the replies (h2 sent 64).
    assert_eq!(ttl63(&p), replies(&p), "{}", p.output);
    assert_eq!((p6.transmitted, p6.received), (5, 5), "{}", p6.output);
    assert_eq!(ttl63(&p6), 5, "{}", p6.output);
    assert_eq!(unrouted.received, 0, "{}", unrouted.output);
    assert!(
        unrouted.output.contains(&format!(
            "From {GW1} icmp_seq=1 Destination Net Unreachable"
        )),
        "{}",
        unrouted.output
    );
    assert!(
        ttl1.output
            .contains(&format!("From {GW1} icmp_seq=1 Time to live exceeded")),
        "{}",
        ttl1.output
    );
    assert_eq!(ttl1.received, 0, "{}", ttl1.output);

    let r = |k| extra(&json, "r", k);
    assert!(r("forwarded") >= 50, "{json}");
    assert!(r("no_route") >= 2 && r("ttl_exceeded") >= 2, "{json}");
    assert!(r("icmp_sent") >= 4, "{json}");
    assert_eq!(r("no_neighbor"), 0, "{json}");
    // ARP and neighbor discovery for the gateways were answered by netfn.
    assert!(extra(&json, "arpa", "answered") >= 1, "{json}");
    assert!(extra(&json, "arpa", "ns_answered") >= 1, "{json}");
    assert!(extra(&json, "arpb", "answered") >= 1, "{json}");
    eprintln!(
        "router: ping rtt min/avg/max {:?} ms (IPv6 {:?})",
        p.rtt_ms, p6.rtt_ms
    );
}

#[test]
fn ping_through_nat_is_translated() {
    require_netns!("ping", "tcpdump");
    let topo = Topology::up("n", Mode::Routed);
    let macs = Macs::read(&topo);
    // h2 cannot reach h1's subnet: only a translated request is answered.
    topo.must("h2", "ip", &["route", "del", "default"]);
    let dump = Tcpdump::start(&topo, "h2", "nat-ping", None, "icmp");

    let body = base("afxdp", &macs, PUBLIC) + "arpa -> [0]r;\n" + &nat("b", "[1]r");
    let mut netfn = start_netfn(&topo, &graph("nat.nf", &body));
    wait_for_path(&topo, &mut netfn, H2);
    let p = ping(&topo, H2, &["-c", "10", "-i", "0.05", "-W", "2"]);
    let capture = dump.lines();
    let json = summary(&netfn.stop());

    assert_eq!((p.transmitted, p.received), (10, 10), "{}", p.output);
    assert_eq!(
        p.output.lines().filter(|l| l.contains("ttl=63")).count(),
        10,
        "{}",
        p.output
    );
    let requests = translated_on_h2(&capture, "ICMP echo request");
    assert!(requests >= 11, "{requests} requests on h2:\n{capture}");
    let replies = capture
        .lines()
        .filter(|l| l.contains(&format!("IP {H2} > {PUBLIC}: ICMP echo reply")))
        .count();
    assert!(replies >= 11, "{replies} replies on h2:\n{capture}");

    assert!(extra(&json, "nat", "sessions_created") >= 1, "{json}");
    assert!(extra(&json, "nat", "translated_out") >= 11, "{json}");
    assert!(extra(&json, "nat", "translated_in") >= 11, "{json}");
    eprintln!("nat (afxdp): ping rtt min/avg/max {:?} ms", p.rtt_ms);
}

#[test]
fn the_gateway_example_routes_translates_and_filters() {
    require_netns!("ping", "tcpdump");
    // examples/netns/gateway.nf as it is, with the MACs netns.sh gives.
    let topo = Topology::up("e", Mode::Routed);
    let dump = Tcpdump::start(&topo, "h2", "gateway", None, "icmp");
    let example = common::repo().join("examples/netns/gateway.nf");
    let mut netfn = start_netfn(&topo, &example);
    wait_for_path(&topo, &mut netfn, H2);
    let p = ping(&topo, H2, &["-c", "5", "-i", "0.05", "-W", "2"]);
    let p6 = ping(&topo, H2_V6, &["-c", "2", "-i", "0.05", "-W", "2"]);
    let unrouted = ping(&topo, "10.201.9.1", &["-c", "1", "-W", "1"]);
    // The firewall lets nothing in from outside: h2 cannot ping h1.
    let inbound = topo.ping_from("h2", "fd00:201:1::1", &["-c", "1", "-W", "1"]);
    let capture = dump.lines();
    let json = summary(&netfn.stop());

    assert_eq!(p.received, 5, "{}", p.output);
    assert!(p.output.contains("ttl=63"), "{}", p.output);
    assert_eq!(p6.received, 2, "{}", p6.output);
    assert!(
        unrouted.output.contains("Destination Net Unreachable"),
        "{}",
        unrouted.output
    );
    assert_eq!(inbound.received, 0, "{}", inbound.output);
    translated_on_h2(&capture, "ICMP echo request");
    assert!(extra(&json, "fw", "state_hits") >= 5, "{json}");
    assert!(extra(&json, "nat", "translated_out") >= 5, "{json}");
}

/// `python3 -m http.server PORT` on h2, serving `dir`.
fn http_server(topo: &Topology, port: u16, dir: &std::path::Path) -> Background {
    let mut cmd = topo.cmd("h2", "python3");
    cmd.args(["-m", "http.server", &port.to_string(), "--bind", H2])
        .arg("--directory")
        .arg(dir);
    let mut server = Background::spawn("python3 -m http.server", cmd);
    wait_for_listener(topo, "h2", &format!("{H2}:{port}"), &mut server);
    server
}

#[test]
fn curl_through_firewall_then_nat() {
    require_netns!("ping", "curl", "python3");
    let topo = Topology::up("w", Mode::Routed);
    let macs = Macs::read(&topo);
    let www = scratch().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let content = format!("served through netfn to process {}\n", std::process::id());
    std::fs::write(www.join("hello.txt"), &content).unwrap();
    // Both ports have a server: only the firewall keeps 8001 out.
    let allowed = http_server(&topo, 8000, &www);
    let denied = http_server(&topo, 8001, &www);

    // The firewall sees both directions with the inside addresses: h1's
    // packets before routing, the replies after the NAT has translated
    // them back (the router, fed by the firewall, sends each to its side).
    let body = base("afpacket", &macs, PUBLIC)
        + &format!(
            "arpa -> fw :: firewall(stateful = true, default = deny, rule = [\n\
             \"allow tcp from 10.201.1.0/24 to {H2} port 8000\",\n\
             \"allow icmp from 10.201.1.0/24 to any icmp-type echoreq\",\n\
             \"deny tcp from any to any port 8001\"]);\n\
             fw -> [0]r;\n"
        )
        + &nat("b", "fw");
    let mut netfn = start_netfn(&topo, &graph("fw-nat.nf", &body));
    wait_for_path(&topo, &mut netfn, H2);

    let curl = |port: u16, timeout: &str| {
        topo.cmd("h1", "curl")
            .args(["-sS", "--connect-timeout", timeout, "--max-time", "5"])
            .arg(format!("http://{H2}:{port}/hello.txt"))
            .output()
            .expect("run curl")
    };
    let t0 = Instant::now();
    let ok = curl(8000, "3");
    let took = t0.elapsed();
    let refused = curl(8001, "2");
    let json = summary(&netfn.stop());
    let allowed_log = text(&allowed.stop().stderr);
    let denied_log = text(&denied.stop().stderr);

    assert!(ok.status.success(), "curl :8000: {}", text(&ok.stderr));
    assert_eq!(text(&ok.stdout), content);
    // Dropped by the firewall, the SYN is never answered: a timeout (28),
    // not a refusal by h2 (7).
    assert_eq!(
        refused.status.code(),
        Some(28),
        "curl :8001: {}{}",
        text(&refused.stdout),
        text(&refused.stderr)
    );
    // The server saw the NAT's address; the other one saw nothing.
    assert!(
        allowed_log.contains(&format!("{PUBLIC} - - "))
            && allowed_log.contains("\"GET /hello.txt HTTP/1.1\" 200"),
        "{allowed_log}"
    );
    assert!(!denied_log.contains("GET"), "{denied_log}");

    // The SYNs to 8001 met the deny rule (rule 3), as policy-deny drops.
    assert!(extra(&json, "fw", "rule[3].packets") >= 1, "{json}");
    let denied_drops = node(&json, "fw")["drops"]["policy-deny"].as_u64();
    assert!(denied_drops >= Some(1), "{json}");
    assert!(extra(&json, "fw", "rule[1].packets") >= 3, "{json}");
    // The replies passed on the connection's state, not on a rule.
    assert!(extra(&json, "fw", "state_hits") >= 3, "{json}");
    assert!(extra(&json, "nat", "translated_in") >= 3, "{json}");
    eprintln!(
        "firewall -> nat: curl of {} bytes took {took:?}",
        content.len()
    );
}

/// Runs `iperf3 -c h2 ARGS -J` from h1 (at most 20 s) and returns its JSON
/// report, insisting that the test ran.
fn iperf(topo: &Topology, args: &[&str]) -> serde_json::Value {
    let out = topo
        .cmd("h1", "timeout")
        .args([
            "20",
            "iperf3",
            "-c",
            H2,
            "-p",
            "5201",
            "-J",
            "--connect-timeout",
            "3000",
        ])
        .args(args)
        .output()
        .expect("run iperf3");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "iperf3 {args:?}: {e}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    assert!(
        out.status.success() && json.get("error").is_none(),
        "iperf3 {args:?}: {json}"
    );
    json
}

#[test]
fn iperf3_tcp_and_udp_through_nat_then_firewall_afpacket() {
    require_netns!("ping", "iperf3", "tcpdump");
    iperf_through_nat_then_firewall("i", "afpacket");
}

#[test]
fn iperf3_tcp_and_udp_through_nat_then_firewall_afxdp() {
    require_netns!("ping", "iperf3", "tcpdump");
    iperf_through_nat_then_firewall("x", "afxdp");
}

fn iperf_through_nat_then_firewall(tag: &str, port: &str) {
    let topo = Topology::up(tag, Mode::Routed);
    let macs = Macs::read(&topo);
    let mut server = topo.cmd("h2", "iperf3");
    server.args(["-s", "-B", H2, "-p", "5201"]);
    let mut server = Background::spawn("iperf3 -s", server);
    wait_for_listener(&topo, "h2", &format!("{H2}:5201"), &mut server);

    // The firewall comes after the NAT and admits only the public address
    // as source: untranslated packets would be denied.
    let body = base(port, &macs, PUBLIC)
        + "arpa -> [0]r;\n"
        + &nat(
            &format!(
                "fw :: firewall(default = deny, rule = [\n\
                 \"allow tcp from {PUBLIC} to {H2} port 5201\",\n\
                 \"allow udp from {PUBLIC} to {H2} port 5201\",\n\
                 \"allow icmp from {PUBLIC} to any icmp-type echoreq\"]) -> b"
            ),
            "[1]r",
        );
    let mut netfn = start_netfn(&topo, &graph(&format!("nat-fw-{port}.nf"), &body));
    wait_for_path(&topo, &mut netfn, H2);

    let dump = Tcpdump::start(
        &topo,
        "h2",
        &format!("{tag}-tcp"),
        Some(40),
        "tcp port 5201",
    );
    let tcp = iperf(&topo, &["-t", "2"]);
    let tcp_capture = dump.lines();
    let dump = Tcpdump::start(
        &topo,
        "h2",
        &format!("{tag}-udp"),
        Some(40),
        "udp port 5201",
    );
    let udp = iperf(&topo, &["-u", "-b", "50M", "-t", "2"]);
    let udp_capture = dump.lines();
    let json = summary(&netfn.stop());
    drop(server);

    let tcp_bps = tcp["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or(0.0);
    let retransmits = tcp["end"]["sum_sent"]["retransmits"].as_u64().unwrap_or(0);
    // Received by h2 (`sum` is what h1 sent; its loss figure is h2's).
    let udp_bps = udp["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or(0.0);
    let udp_lost = udp["end"]["sum"]["lost_percent"].as_f64().unwrap_or(100.0);
    assert!(tcp_bps > 0.0, "TCP: {}", tcp["end"]);
    assert!(udp_bps > 0.0, "UDP: {}", udp["end"]);
    assert!(udp_lost < 50.0, "UDP lost {udp_lost} %: {}", udp["end"]);
    translated_on_h2(&tcp_capture, &format!(" > {H2}.5201: Flags"));
    translated_on_h2(&udp_capture, &format!(" > {H2}.5201: UDP"));

    // Sessions: two TCP connections per test (control and data) and the
    // UDP stream, besides the ping.
    assert!(extra(&json, "nat", "sessions_created") >= 4, "{json}");
    assert!(extra(&json, "fw", "rule[1].packets") >= 100, "{json}");
    assert!(extra(&json, "fw", "rule[2].packets") >= 100, "{json}");
    eprintln!(
        "nat -> firewall ({port}): iperf3 TCP {:.0} Mbit/s ({retransmits} retransmits), \
         UDP {:.1} Mbit/s received of 50 offered, {udp_lost:.2} % lost; nat sessions {}",
        tcp_bps / 1e6,
        udp_bps / 1e6,
        extra(&json, "nat", "sessions_created")
    );
}
