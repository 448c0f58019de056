// Signature matching (IDS/IPS): payloads are searched for the patterns of
// a Suricata-style rules file with one Aho-Corasick automaton; matching
// packets raise alerts (JSON lines in UDP datagrams on output 1) and, for
// `drop` rules, are dropped (counted as signature-match).
//
//   cargo run --release -- run examples/sigmatch.nf --duration 1s
//   cargo run --release -- run examples/sigmatch.nf -D stream=true --duration 1s
//
// stream = false searches each packet's payload alone; stream = true
// reassembles TCP (the Window operator: reordering by sequence number,
// per-direction buffers of `reorder` bytes, up to `depth` bytes a
// direction) so a pattern split across segments, even out of order, still
// matches. To keep the alerts, send output 1 to a capture:
//   ids[1] -> pcap_out(file = "alerts.pcap");
// and read them with `tshark -r alerts.pcap -T fields -e data.text`.

let stream = false;

src :: generator(flows = 10000, udp = 3, tcp = 1, ipv6 = 10, count = 2000000);

src -> ids :: sigmatch(rules = "sigmatch.rules", stream = $stream,
                       flows = 16384, reorder = 2KiB, timeout = 30s,
                       collector = 127.0.0.1, collector_port = 9996)
    -> out :: sink(check = checksum);
ids[1] -> alerts :: sink();
