//! `stdin`/`stdout` ports in shell pipelines: `netfn run a.nf | grep -v ..
//! | netfn run b.nf`, pcap streams into `tcpdump -r -` and into another
//! netfn, malformed hex lines, and a reader that goes away. Needs no root.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn netfn_bin() -> &'static str {
    env!("CARGO_BIN_EXE_netfn")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netfn-pipes-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_str().unwrap().to_string()
}

/// Runs a shell pipeline (bash, with pipefail) and returns its output.
fn sh(script: &str) -> Output {
    Command::new("bash")
        .args(["-c", &format!("set -o pipefail; {script}")])
        .output()
        .expect("run bash")
}

fn json_of(out: &[u8]) -> serde_json::Value {
    let s = text(out);
    let line = s
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON in {s}"));
    serde_json::from_str(line).unwrap()
}

fn node<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {json}"))
}

const N: usize = 2000;

fn generator_to(dir: &Path, format: &str) -> String {
    write(
        dir,
        "a.nf",
        &format!(
            "gen :: generator(flows = 8, count = {N}, seed = 7, size = [64B, 200B]);\n\
             gen -> out :: stdout(format = {format});\n"
        ),
    )
}

#[test]
fn hex_chain_with_grep_filtering_one_flow() {
    let dir = scratch("hex");
    let a = generator_to(&dir, "hex");
    let b = write(
        &dir,
        "b.nf",
        &format!(
            "in :: stdin(format = hex);\nin -> out :: pcap_out(file = \"{}\");\n",
            dir.join("out.pcap").display()
        ),
    );
    let all = dir.join("all.txt");
    // Every frame of the chain, as the first netfn wrote it.
    let out = sh(&format!(
        "{n} run {a} -q 2>/dev/null | tee {all} | {n} run {b} --json",
        n = netfn_bin(),
        all = all.display()
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = std::fs::read_to_string(&all)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), N);
    let json = json_of(&out.stdout);
    assert_eq!(node(&json, "in")["rx_packets"], N as u64, "{json}");
    assert_eq!(json["stop"], "sources done");

    // One flow, by its IPv4 source and destination (bytes 26..34 of the
    // frame = hex fields 13..21 of the line), filtered out with grep -v.
    let first: Vec<&str> = lines[0].split(' ').collect();
    let pattern = first[15..23].join(" ");
    let matching = lines.iter().filter(|l| l.contains(&pattern)).count();
    assert!(
        matching > 0 && matching < N,
        "{matching} of {N} match {pattern}"
    );
    let out = sh(&format!(
        "{n} run {a} -q 2>/dev/null | grep --line-buffered -v '{pattern}' | {n} run {b} --json",
        n = netfn_bin()
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json = json_of(&out.stdout);
    assert_eq!(node(&json, "in")["rx_packets"], (N - matching) as u64);
    assert_eq!(node(&json, "in")["extra"]["malformed"], 0);
    // What reached the end is exactly the unfiltered frames, in order.
    let frames = netfn_ports::pcap::read_frames(&dir.join("out.pcap")).unwrap();
    let expected: Vec<&String> = lines.iter().filter(|l| !l.contains(&pattern)).collect();
    assert_eq!(frames.len(), expected.len());
    for (frame, line) in frames.iter().zip(expected) {
        let mut l = Vec::new();
        netfn_ports::pipe::write_hex_line(&mut l, frame);
        assert_eq!(text(&l).trim_end(), line);
    }
}

#[test]
fn pcap_stream_parses_in_tcpdump() {
    if Command::new("tcpdump").arg("--version").output().is_err() {
        eprintln!("SKIPPED: tcpdump not installed (scripts/setup.sh installs it)");
        return;
    }
    let dir = scratch("tcpdump");
    let a = generator_to(&dir, "pcap");
    let out = sh(&format!(
        "{n} run {a} -q 2>/dev/null | tcpdump -r - -nn 2>/dev/null",
        n = netfn_bin()
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), N, "{s}");
    assert!(
        lines.iter().all(|l| l.contains(" IP 10.0.")),
        "{}",
        lines[0]
    );
}

#[test]
fn pcap_stream_chain_between_two_netfns() {
    let dir = scratch("pcapchain");
    let a = generator_to(&dir, "pcap");
    let b = write(
        &dir,
        "b.nf",
        "in :: stdin(format = pcap);\nin -> ttl() -> out :: sink(check = checksum);\n",
    );
    let out = sh(&format!(
        "{n} run {a} -q 2>/dev/null | {n} run {b} --json",
        n = netfn_bin()
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json = json_of(&out.stdout);
    assert_eq!(node(&json, "in")["rx_packets"], N as u64, "{json}");
    assert_eq!(node(&json, "out")["tx_packets"], N as u64, "{json}");
    assert_eq!(node(&json, "out")["extra"]["bad_checksum"], 0, "{json}");
}

#[test]
fn malformed_hex_lines_are_counted_and_located() {
    let dir = scratch("malformed");
    let b = write(
        &dir,
        "b.nf",
        "in :: stdin(format = hex);\nin -> out :: sink();\n",
    );
    let input = "# a comment\n\
                 FFFFFFFFFFFF 020000000001 0806 00 01\n\
                 FFFFFFFFFFFF 02000000000 0806 00 01\n\
                 \n\
                 FFFFFFFFFFFF 020000000001 0806 00 0Z\n\
                 020000000002 020000000001 0800 45 00";
    let mut child = Command::new(netfn_bin())
        .args(["run", &b, "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("line 3: field 2 (source MAC)"),
        "no location in {err}"
    );
    assert!(
        err.contains("line 5: field 5 (byte) `0Z` is not hexadecimal"),
        "{err}"
    );
    let json = json_of(&out.stdout);
    // Two good frames (the last line has no newline), two malformed.
    assert_eq!(node(&json, "in")["rx_packets"], 2, "{json}");
    assert_eq!(node(&json, "in")["extra"]["malformed"], 2, "{json}");
    assert_eq!(node(&json, "in")["extra"]["lines"], 6, "{json}");
}

#[test]
fn closed_reader_ends_an_endless_run() {
    let dir = scratch("closed");
    let a = write(
        &dir,
        "a.nf",
        "gen :: generator();\ngen -> out :: stdout(format = hex);\n",
    );
    let t0 = Instant::now();
    let out = sh(&format!(
        "{n} run {a} -q 2>{err} | head -n 5 >/dev/null; cat {err}",
        n = netfn_bin(),
        err = dir.join("err").display()
    ));
    assert!(t0.elapsed() < Duration::from_secs(30));
    let s = text(&out.stdout);
    assert!(s.contains("output closed"), "{s}");
}
