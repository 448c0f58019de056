// Port mirroring (Open vSwitch's Mirror, with snaplen and sFlow-style
// sampling): a copy of selected packets goes to a monitoring output while
// the originals continue unchanged.
//
//   cargo run --release -- run examples/mirror.nf --duration 1s
//
// Selection is the AND of the criteria given (each list matches if any of
// its entries does; none given = every packet): vlan = [10, 20],
// src/dst/net = [prefixes], proto = [tcp, udp, icmp, ...], port = ["53",
// "8000-8080"] (either side). snaplen cuts each copy (0 = whole packet);
// sample = N copies one matching packet in N, at random. Copies that find
// no free frame are counted as lost, the originals are never held back.
// Here: TCP and UDP of one half of the clients, to or from ports
// 1024-8191, one in four, cut to 54 bytes (Ethernet + IPv4 + TCP headers).
//
// To keep the copies, write output 1 to a capture instead of a sink:
//   tap[1] -> pcap_out(file = "mirror.pcap");

src :: generator(flows = 10000, udp = 3, tcp = 1, ipv6 = 10, count = 2000000);

src -> tap :: mirror(net = [10.0.0.0/17, fd00:0:0:1::/64], proto = [tcp, udp],
                     port = ["1024-8191"], snaplen = 54B, sample = 4)
    -> out :: sink(check = checksum);
tap[1] -> copies :: sink();
