// NAT (NAPT / masquerade, RFC 4787 / 5382 / 5508): the inside network
// 10.0.0.0/16 goes out as 203.0.113.1-2 (a host always gets the same
// public address; its source port is kept when free); answers come back
// translated. Input 0 / output 0: inside -> outside; input 1 / output 1:
// outside -> inside (and hairpinned traffic between inside hosts).
//
//   cargo run --release -- run examples/nat.nf --duration 1s
//
// mapping = endpoint-independent (REQ-1) reuses one public endpoint per
// inside endpoint; filtering = address-dependent (REQ-8) admits inbound
// packets only from addresses an inside endpoint has sent to. The
// `forward` rule is a static port forward (DNAT) open to everyone.
// Timeouts default to the RFC minimums or above (tcp_established = 124m, i.e. 2 h 4 min,
// tcp_transitory = 4m, udp = 5m, icmp = 60s).

lan :: generator(flows = 10000, udp = 3, tcp = 1, icmp = 1, ipv6 = 10,
                 src = 10.0.0.0/16, dst = 198.51.100.0/24, count = 2000000);
// Unsolicited traffic from the internet to the public addresses: without
// a session it is dropped (no-state / filtered), except for the forward.
wan :: generator(flows = 100, udp = 1, tcp = 1, src = 192.0.2.0/24,
                 dst = 203.0.113.1/32, count = 1000);

lan -> nat :: nat(public = [203.0.113.1, 203.0.113.2],
                  inside = [10.0.0.0/16],
                  ports = "1024-65535",
                  mapping = endpoint-independent,
                  filtering = address-dependent,
                  forward = ["tcp 203.0.113.1:8080 -> 10.0.0.5:80"],
                  capacity = 65536)
    -> internet :: sink(check = checksum);
wan -> [1]nat;
nat[1] -> inside :: sink(check = checksum);
