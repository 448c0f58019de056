// DNS parental control (the DNSFilter of the thesis' parental-control
// service, ch. 2.5): DNS queries for domains on the block list, and for
// all their subdomains, are answered with NXDOMAIN; everything else
// passes unchanged. Each query is logged as a JSON line.
//
//   cargo run --release -- run examples/dnsfilter.nf --duration 1s
//
// Traffic: the generator's UDP/TCP flows plus a capture of DNS queries
// (dns-queries.pcap: blocked, allowed and passed names, IPv4 and IPv6, a
// VLAN-tagged one, TCP, malformed ones), replayed over and over.
//
// Outputs of dnsfilter: 0 = traffic that passes, 1 = the generated answers,
// headed back to the clients (connect it to the port the clients are on),
// 2 = the query log in UDP datagrams to collector:collector_port. To keep
// the log, write it to a capture:  df[2] -> pcap_out(file = "dns-log.pcap");
// and read it with `tshark -r dns-log.pcap -T fields -e data.text`.
//
// action = nxdomain | refused | sinkhole (A/AAAA to `sinkhole` addresses) |
// drop; log = none | blocked | all; allow = [...] (or allowlist = "file")
// lets subdomains of blocked domains through (the most specific entry wins).

src :: generator(flows = 10000, udp = 3, tcp = 1, ipv6 = 10, count = 2000000);
queries :: pcap_in(file = "dns-queries.pcap", repeat = 10000);

src -> [0]m :: merge();
queries -> [1]m;

m -> df :: dnsfilter(blocklist = "blocklist.txt",
                     categories = [adult, gambling, ads],
                     allow = ["kids.example.com"],
                     action = nxdomain, log = all,
                     collector = 127.0.0.1, collector_port = 9996)
  -> out :: sink();
df[1] -> answers :: sink(check = checksum);
df[2] -> log :: sink();
