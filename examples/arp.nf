// ARP responder (Click's ARPResponder, with IPv6 neighbor discovery):
// ARP requests and neighbor solicitations for the configured addresses
// are answered; everything else passes unchanged.
//
//   cargo run --release -- run examples/arp.nf --duration 1s
//
// Traffic: the generator's UDP/TCP flows plus a capture of ARP requests
// and neighbor solicitations (ours, proxied, not ours, gratuitous, DAD
// probes, VLAN-tagged, malformed), replayed over and over.
//
// Entries are "ADDR [ADDR...] [MAC]": addresses or prefixes (proxy ARP /
// proxy ND), IPv4 or IPv6, answered with the entry's MAC or with `mac`.
// The answer is built in the request's own frame and leaves on output 1:
// connect it back to the port the requests came in on. announce = true
// sends a gratuitous ARP / unsolicited NA per address at start.

src :: generator(flows = 10000, udp = 3, tcp = 1, ipv6 = 10, count = 2000000);
requests :: pcap_in(file = "arp-requests.pcap", repeat = 10000);

src -> [0]m :: merge();
requests -> [1]m;

m -> responder :: arp(addrs = ["10.0.0.1 fd00::1",
                               "10.0.1.0/24 fd00:1::/64 02:00:00:00:00:bb"],
                      mac = 02:00:00:00:00:aa, announce = true)
  -> out :: sink();
responder[1] -> replies :: sink(check = checksum);
