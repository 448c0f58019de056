//! The `netfn` command end to end: check, run, graph, nfs, reload.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn netfn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netfn"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run netfn")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netfn-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn check_accepts_the_examples() {
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "nf") {
            let out = netfn(&["check", path.to_str().unwrap()]);
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                text(&out.stderr)
            );
            assert!(
                text(&out.stdout).contains(": ok: "),
                "{}",
                text(&out.stdout)
            );
        }
    }
}

/// The graphs in docs/language.md, checked (builders included) against the
/// binary's real catalog, so the language guide cannot drift from the NFs.
#[test]
fn check_accepts_the_language_doc_examples() {
    let doc = std::fs::read_to_string(repo().join("docs/language.md")).unwrap();
    let blocks: Vec<&str> = doc
        .split("```c\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    let dir = scratch("doc");
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(dir.join("lib/chains.nf"), "// included by edge.nf\n").unwrap();
    std::fs::write(
        dir.join("fw.rules"),
        "allow tcp from any to any port 80,443\n",
    )
    .unwrap();
    std::fs::write(dir.join("edge.rules"), "deny udp from any to any port 53\n").unwrap();
    let ports = "src :: pcap_in(file = \"in.pcap\");\ndst :: pcap_out(file = \"out.pcap\");\n";
    let taps = "eth0 :: tap(name = \"eth0\"); eth1 :: tap(name = \"eth1\");\n\
                web :: pcap_out(file = \"w\"); other :: pcap_out(file = \"o\");\n";
    let find = |start: &str| {
        blocks
            .iter()
            .find(|b| b.starts_with(start))
            .unwrap_or_else(|| panic!("no example starting with {start:?} in docs/language.md"))
    };
    let rules_dir = format!("rules_dir={:?}", dir.to_str().unwrap());
    let cases = [
        (
            "edge.nf",
            find("// edge.nf").to_string(),
            vec![],
            "8 elements, 9 connections, sources: eth0, eth1, sinks: eth0, eth1, capture",
        ),
        (
            "anon.nf",
            format!("{ports}{}", find("src -> ttl()")),
            vec![],
            "5 elements, 4 connections, sources: src, sinks: dst",
        ),
        (
            "vars.nf",
            format!(
                "{}{ports}src -> p -> fw -> cls; cls[0] -> dst; cls[1] -> dst;\n",
                find("let rate")
            ),
            vec!["-D", rules_dir.as_str()],
            "5 elements, 5 connections, sources: src, sinks: dst",
        ),
        (
            "graphs.nf",
            format!("{}{taps}", find("graph Protect")),
            vec![],
            "9 elements, 8 connections, sources: eth0, eth1, sinks: eth0, web, other",
        ),
    ];
    for (name, graph, defines, summary) in cases {
        let path = dir.join(name);
        std::fs::write(&path, graph).unwrap();
        let mut args = vec!["check", path.to_str().unwrap()];
        args.extend(defines);
        let out = netfn(&args);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains(summary),
            "{name}: {}",
            text(&out.stdout)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_locates_every_error_in_bad_graphs() {
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("tests/bad-graphs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "nf") {
            continue;
        }
        let rel = format!(
            "tests/bad-graphs/{}",
            path.file_name().unwrap().to_str().unwrap()
        );
        // Errors found when ports are opened surface in `run`, not `check`.
        let out = if rel.contains("missing_file") {
            netfn(&["run", &rel, "--duration", "1s"])
        } else {
            netfn(&["check", &rel])
        };
        assert_eq!(
            out.status.code(),
            Some(2),
            "{rel} must be rejected with exit code 2"
        );
        let err = text(&out.stderr);
        // file:line:col, a caret, and a help line.
        let located = format!("[{rel}:");
        assert!(err.contains(&located), "{rel}: no location in\n{err}");
        assert!(
            err.contains('^') || err.contains("`--"),
            "{rel}: no marker in\n{err}"
        );
        assert!(
            err.contains("help:") || rel.contains("missing_file"),
            "{rel}: no help in\n{err}"
        );
        seen += 1;
    }
    assert!(seen >= 8);
}

#[test]
fn check_json_reports_positions() {
    let out = netfn(&["check", "--json", "tests/bad-graphs/unknown_kind.nf"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON diagnostics");
    let first = &v.as_array().expect("a list")[0];
    assert_eq!(first["line"], 3);
    assert_eq!(first["col"], 8);
    assert!(first["help"].as_str().unwrap().contains("ttl"));
}

#[test]
fn run_json_reports_nonzero_counts() {
    let out = netfn(&[
        "run",
        "examples/quickstart.nf",
        "--duration",
        "1s",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON stats");
    let nodes = v["nodes"].as_array().unwrap();
    let node = |name: &str| {
        nodes
            .iter()
            .find(|n| n["name"] == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    };
    let received = node("src")["rx_packets"].as_u64().unwrap();
    assert!(received > 10_000, "generator produced {received}");
    // generator -> ttl -> fw -> nat -> mon -> out: the firewall denies part
    // of the traffic, the NAT translates what it allows, and every
    // rewritten checksum is right.
    let count = |n: &str, k: &str| node(n)[k].as_u64().unwrap();
    assert!(count("out", "tx_packets") > 1000);
    assert!(node("fw")["drops"]["policy-deny"].as_u64().unwrap() > 0);
    assert_eq!(
        count("fw", "tx_packets"),
        count("out", "tx_packets") + count("inside", "tx_packets")
    );
    assert!(node("nat")["extra"]["translated_out"].as_u64().unwrap() > 0);
    assert_eq!(node("out")["extra"]["bad_checksum"], 0);
    assert_eq!(v["stop"], "duration reached");
}

#[test]
fn run_stops_at_packet_count_and_end_of_capture() {
    let dir = scratch("pcap");
    let cap = dir.join("out.pcap");
    let graph = dir.join("g.nf");
    std::fs::write(&graph, "src :: generator(count = 5000, flows = 10);\nsrc -> ttl() -> pcap_out(file = \"out.pcap\");\n").unwrap();
    let out = netfn(&["run", graph.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("sources done"));
    // Replay the capture through another graph until its end.
    let replay = dir.join("r.nf");
    std::fs::write(
        &replay,
        "pcap_in(file = \"out.pcap\") -> ttl() -> c :: counter() -> sink();\n",
    )
    .unwrap();
    let out = netfn(&["run", replay.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "c")
        .unwrap()
        .clone();
    assert_eq!(c["extra"]["count"], 5000);
    assert!(cap.exists());
    let out = netfn(&[
        "run",
        "examples/quickstart.nf",
        "--packets",
        "1000",
        "--json",
    ]);
    assert!(text(&out.stdout).contains("packet count reached"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn graph_draws_dot_and_svg() {
    let out = netfn(&["graph", "examples/quickstart.nf"]);
    assert!(out.status.success());
    let dot = text(&out.stdout);
    assert!(dot.starts_with("digraph") && dot.contains("nat"), "{dot}");
    let out = netfn(&["graph", "examples/quickstart.nf", "--format", "svg"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("<svg"));
}

#[test]
fn nfs_lists_kinds_from_the_catalog() {
    let out = netfn(&["nfs"]);
    let list = text(&out.stdout);
    for kind in ["ttl", "counter", "generator", "pcap_in", "queue", "tee"] {
        assert!(list.contains(&format!("{kind} (")), "missing {kind}");
    }
    let out = netfn(&["nfs", "--json", "generator"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let params = v[0]["params"].as_array().unwrap();
    assert!(
        params
            .iter()
            .any(|p| p["name"] == "flows" && p["default"] == "1")
    );
    assert_eq!(netfn(&["nfs", "nosuch"]).status.code(), Some(2));
}

/// A reload under load loses nothing: sequence numbers all arrive, in
/// order, and the counter kept its state across the swap.
#[test]
fn reload_under_load_loses_no_packet() {
    let dir = scratch("reload");
    let graph = dir.join("g.nf");
    let total = 400_000;
    let v1 = format!(
        "src :: generator(count = {total}, rate = 200000, sequence = true, flows = 50);\n\
         src -> t :: ttl() -> seen :: counter() -> out :: sink(check = sequence);\n"
    );
    std::fs::write(&graph, &v1).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_netfn"))
        .args(["run", graph.to_str().unwrap(), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    // Reload three times while packets flow: a new stage, an invalid file,
    // and back.
    let v2 = v1.replace("-> seen", "-> m :: macswap() -> seen");
    for (i, body) in [v2.as_str(), "src -> ;", v1.as_str()].iter().enumerate() {
        std::thread::sleep(Duration::from_millis(400));
        std::fs::write(&graph, body).unwrap();
        let ok = Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "reload {i}: kill -HUP");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = child.wait_with_output().unwrap();
    assert!(Instant::now() < deadline);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("netfn: reloaded").count(), 2, "{stderr}");
    assert!(stderr.contains("previous graph keeps running"), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let nodes = v["nodes"].as_array().unwrap();
    let node = |name: &str| nodes.iter().find(|n| n["name"] == name).unwrap().clone();
    let sink = node("out");
    assert_eq!(sink["tx_packets"], total, "{sink}");
    assert_eq!(sink["extra"]["checked"], total);
    assert_eq!(sink["extra"]["lost"], 0);
    assert_eq!(sink["extra"]["out_of_order"], 0);
    // The counter kept its count through both swaps.
    assert_eq!(node("seen")["extra"]["count"], total);
    std::fs::remove_dir_all(dir).unwrap();
}
