//! Real traffic through netfn graphs: `ping` between two hosts in network
//! namespaces (scripts/netns.sh) through a netfn graph in the middlebox
//! namespace, over AF_PACKET and over TAP.
//!
//! The hosts share one subnet and the middlebox kernel forwards nothing, so
//! a reply proves the frames crossed the graph (checked first: without
//! netfn, ping fails). Needs root and network namespaces; otherwise every
//! test says why and passes without running (CI runs them as root).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Background, Mode, Topology, graph, node, require_netns, start_netfn, text};

/// Waits until a ping gets through (the graph is up), at most `limit`.
fn wait_for_path(topo: &Topology, limit: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if topo.ping(1, "0.2", 1).1 == 1 {
            return;
        }
    }
    panic!("no ping reply through netfn within {limit:?}");
}

fn bridge_test(tag: &str, mode: Mode, body: &str, ports: [&str; 2], ttl_seen: &str) {
    let topo = Topology::up(tag, mode);
    bridge_test_keeping(&topo, tag, body, ports, ttl_seen);
}

/// Pings through the graph `body` in the middlebox of `topo` and checks
/// the replies and the ports' counters.
fn bridge_test_keeping(topo: &Topology, tag: &str, body: &str, ports: [&str; 2], ttl_seen: &str) {
    // Nothing forwards between the hosts yet: ping must fail.
    let (_, before, _) = topo.ping(1, "0.2", 1);
    assert_eq!(before, 0, "the middlebox forwards without netfn");

    let g = graph(&format!("{tag}.nf"), body);
    let netfn = start_netfn(topo, &g);
    wait_for_path(topo, Duration::from_secs(10));
    let (sent, received, out) = topo.ping(20, "0.02", 2);
    let done = netfn.stop();
    let stderr = text(&done.stderr);
    assert_eq!(sent, 20, "{out}");
    assert_eq!(received, 20, "replies lost:\n{out}\nnetfn: {stderr}");
    assert!(out.contains(ttl_seen), "expected {ttl_seen} in\n{out}");

    let json: serde_json::Value = serde_json::from_slice(&done.stdout)
        .unwrap_or_else(|e| panic!("netfn --json: {e}\n{}\n{stderr}", text(&done.stdout)));
    // 20 requests went in at the first port and out at the second; the
    // replies the other way (plus the warm-up ping and ARP).
    for (name, dir) in [(ports[0], "rx_packets"), (ports[1], "tx_packets")] {
        let n = node(&json, name)[dir].as_u64().unwrap();
        assert!(n >= 20, "{name} {dir} = {n}: {json}");
    }
    for (name, dir) in [(ports[1], "rx_packets"), (ports[0], "tx_packets")] {
        let n = node(&json, name)[dir].as_u64().unwrap();
        assert!(n >= 20, "{name} {dir} = {n}: {json}");
    }
    for name in ports {
        assert_eq!(node(&json, name)["drops"], serde_json::json!({}), "{json}");
    }
}

#[test]
fn ping_through_an_afpacket_bridge_with_ttl() {
    require_netns!();
    // The replies come back with TTL 63: the graph decremented them.
    bridge_test(
        "p",
        Mode::Bridge,
        "a :: afpacket(dev = a);\nb :: afpacket(dev = b);\n\
         a -> ttl() -> b;\nb -> ttl() -> a;\n",
        ["a", "b"],
        "ttl=63",
    );
}

#[test]
fn ping_through_a_tap_bridge() {
    require_netns!();
    bridge_test(
        "t",
        Mode::Tap,
        "ta :: tap(name = ta);\ntb :: tap(name = tb);\nta -> tb;\ntb -> ta;\n",
        ["ta", "tb"],
        "ttl=64",
    );
}

#[test]
fn afpacket_counts_a_vanished_interface_and_stops() {
    require_netns!();
    let topo = Topology::up("g", Mode::Bridge);
    let g = graph("gone.nf", "a :: afpacket(dev = a);\na -> sink();\n");
    let netfn = start_netfn(&topo, &g);
    topo.wait_for_packet_sockets("mb", 1);
    // Promiscuous mode is the last step of opening the port: after it, the
    // interface can go without failing the build.
    let t0 = Instant::now();
    while !text(
        &Command::new("ip")
            .args(["-n", &topo.ns("mb"), "-d", "link", "show", "dev", "a"])
            .output()
            .unwrap()
            .stdout,
    )
    .contains("promiscuity 1")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "a never became promiscuous"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let del = Command::new("ip")
        .args(["-n", &topo.ns("mb"), "link", "del", "dev", "a"])
        .status()
        .unwrap();
    assert!(del.success());
    // The source ends by itself: the run finishes with "sources done".
    let t0 = Instant::now();
    let mut netfn = netfn;
    while netfn.exited().is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "netfn did not stop after its interface vanished"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = netfn.stop();
    let stderr = text(&out.stderr);
    assert!(stderr.contains("interface a is gone"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["stop"], "sources done");
    assert_eq!(node(&json, "a")["extra"]["link_errors"], 1, "{json}");
}

#[test]
fn afpacket_names_a_missing_interface() {
    require_netns!();
    let topo = Topology::up("m", Mode::Bridge);
    let g = graph(
        "missing.nf",
        "x :: afpacket(dev = nosuch0);\nx -> sink();\n",
    );
    let out = topo
        .cmd("mb", env!("CARGO_BIN_EXE_netfn"))
        .args(["run", g.to_str().unwrap(), "--duration", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("no interface `nosuch0`"), "{err}");
}

#[test]
fn ping_through_a_pipe_chain_of_two_netfns() {
    require_netns!();
    // /dev/stdpkt: h1 -> a -> netfn A -> stdout | grep | stdin -> netfn B
    // -> b -> h2; the replies come back over a named pipe from B to A.
    let topo = Topology::up("c", Mode::Bridge);
    let dir = std::env::temp_dir().join(format!("netfn-netns-{}-chain", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let back = dir.join("back");
    let _ = std::fs::remove_file(&back);
    assert!(
        Command::new("mkfifo")
            .arg(&back)
            .status()
            .unwrap()
            .success()
    );
    let a = graph(
        "chain-a.nf",
        &format!(
            "a :: afpacket(dev = a);\na -> out :: stdout(format = hex);\n\
             back :: stdin(format = hex, path = \"{}\");\nback -> a;\n",
            back.display()
        ),
    );
    let b = graph(
        "chain-b.nf",
        &format!(
            "in :: stdin(format = hex);\nb :: afpacket(dev = b);\nin -> b;\n\
             b -> ret :: stdout(format = hex, path = \"{}\");\n",
            back.display()
        ),
    );
    let n = env!("CARGO_BIN_EXE_netfn");
    // A frame from a MAC nobody has is filtered out on the way (grep -v).
    let script = format!(
        "{n} run {a} -q --duration 6s 2>{dir}/a.err | grep --line-buffered -v '^FFFFFFFFFFFF 02AA' \
         | {n} run {b} --json --duration 6s 2>{dir}/b.err",
        a = a.display(),
        b = b.display(),
        dir = dir.display()
    );
    let mut chain = topo.cmd("mb", "bash");
    chain.args(["-c", &script]);
    let chain = Background::spawn("the netfn pipe chain", chain);
    wait_for_path(&topo, Duration::from_secs(5));
    let (sent, received, out) = topo.ping(10, "0.05", 2);
    let done = chain.wait(Duration::from_secs(20));
    let errs = format!(
        "{}{}",
        std::fs::read_to_string(dir.join("a.err")).unwrap_or_default(),
        std::fs::read_to_string(dir.join("b.err")).unwrap_or_default()
    );
    assert_eq!((sent, received), (10, 10), "{out}\n{errs}");
    assert!(done.status.success(), "{errs}");
    let json: serde_json::Value = serde_json::from_slice(&done.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{errs}", text(&done.stdout)));
    // B received the requests from the pipe and sent them out on b.
    assert!(
        node(&json, "in")["rx_packets"].as_u64().unwrap() >= 10,
        "{json}"
    );
    assert!(
        node(&json, "b")["tx_packets"].as_u64().unwrap() >= 10,
        "{json}"
    );
    assert!(
        node(&json, "ret")["tx_packets"].as_u64().unwrap() >= 10,
        "{json}"
    );
}

#[test]
fn generator_traffic_is_shared_by_a_fanout_group() {
    require_netns!();
    let topo = Topology::up("f", Mode::Bridge);
    // Two sockets on `a` in fanout group 7: each flow goes to one of them.
    let rx = graph(
        "fanout.nf",
        "a1 :: afpacket(dev = a, fanout = 7);\na2 :: afpacket(dev = a, fanout = 7);\n\
         a1 -> s1 :: sink();\na2 -> s2 :: sink();\n",
    );
    let receiver = start_netfn(&topo, &rx);
    topo.wait_for_packet_sockets("mb", 2);
    let tx = graph(
        "send.nf",
        "gen :: generator(flows = 64, count = 2000, rate = 200000);\n\
         gen -> eth0 :: afpacket(dev = eth0);\n",
    );
    let sent = topo
        .cmd("h1", env!("CARGO_BIN_EXE_netfn"))
        .args(["run", tx.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let sent: serde_json::Value = serde_json::from_slice(&sent.stdout).unwrap();
    assert_eq!(node(&sent, "eth0")["tx_packets"], 2000, "{sent}");
    std::thread::sleep(Duration::from_millis(300));
    let done = receiver.stop();
    let json: serde_json::Value = serde_json::from_slice(&done.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&done.stderr)));
    let r1 = node(&json, "a1")["rx_packets"].as_u64().unwrap();
    let r2 = node(&json, "a2")["rx_packets"].as_u64().unwrap();
    // Every generated frame arrived once (a few host frames, such as IPv6
    // router solicitations, may come along).
    assert!((2000..=2010).contains(&(r1 + r2)), "{r1} + {r2}: {json}");
    assert!(r1 > 100 && r2 > 100, "not shared: {r1} / {r2}");
    for a in ["a1", "a2"] {
        assert_eq!(node(&json, a)["extra"]["kernel_drops"], 0, "{json}");
    }
}

#[test]
fn ping_through_an_afxdp_bridge_and_the_program_detaches() {
    require_netns!();
    let topo = Topology::up("x", Mode::Bridge);
    bridge_test_keeping(
        &topo,
        "x",
        "a :: afxdp(dev = a);\nb :: afxdp(dev = b);\na -> b;\nb -> a;\n",
        ["a", "b"],
        "ttl=64",
    );
    let attached = |dev: &str| {
        let out = Command::new("ip")
            .args(["-n", &topo.ns("mb"), "link", "show", "dev", dev])
            .output()
            .unwrap();
        text(&out.stdout).contains("prog/xdp")
    };
    // netfn has exited: its XDP programs went with their links.
    assert!(!attached("a") && !attached("b"), "XDP program left behind");
    // Also after a crash (SIGKILL): the kernel closes the links.
    let g = graph("xdp-kill.nf", "a :: afxdp(dev = a);\na -> sink();\n");
    let netfn = start_netfn(&topo, &g);
    let t0 = Instant::now();
    while !attached("a") {
        assert!(t0.elapsed() < Duration::from_secs(10), "never attached");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(netfn); // kill -9
    std::thread::sleep(Duration::from_millis(200));
    assert!(!attached("a"), "XDP program left behind after SIGKILL");
}
