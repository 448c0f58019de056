// Flow monitor: counts packets, bytes, first/last seen and TCP flags per
// flow and exports flow records as JSON lines in UDP datagrams (NetFlow
// style) on its output 1; output 0 carries the traffic, unchanged.
//
//   cargo run --release -- run examples/monitor.nf --duration 1s
//
// To keep the records, send output 1 to a capture instead of a sink:
//   mon[1] -> pcap_out(file = "flows.pcap");
// and read them with `tshark -r flows.pcap -T fields -e data.text` or any
// pcap reader (each UDP payload is one or more JSON lines).

src :: generator(flows = 10000, udp = 3, tcp = 1, ipv6 = 10, count = 2000000);

src -> mon :: monitor(idle = 5s, active = 30s, key = symmetric, top = 5,
                      collector = 127.0.0.1, collector_port = 9995)
    -> out :: sink();
mon[1] -> records :: sink();
