// An IPv4/IPv6 router with two ports: the generator's network
// (10.0.0.0/16, fd00:0:0:1::/64) on port 0 and an upstream network
// (192.0.2.0/24, 2001:db8::/64) on port 1.
//
//   cargo run --release -- run examples/router.nf --duration 1s
//
// Longest-prefix match is DIR-24-8 for IPv4 (one or two memory reads) and
// a 16-8-8-... expanded trie for IPv6; routes are in router.routes (the
// syntax of `ip route`), or inline with `routes = [...]`. Forwarded packets
// get TTL - 1 (incremental checksum) and the next hop's MAC from the
// neighbour table: ARP and ND are not done, so every next hop must be
// listed (an unknown one is a `no-neighbor` drop). ICMP time exceeded and
// destination unreachable go back out of the port the packet came in on,
// from the router's address there, at most icmp_rate per second. Pings to
// the router's addresses are answered; anything else for the router, and
// non-IP frames, leave on the last output (`local`, output 2 here).

src :: generator(flows = 10000, udp = 3, tcp = 1, ipv6 = 10,
                 dst_mac = 02:00:00:00:ff:00, count = 2000000);

src -> r :: router(ports = 2,
                   macs = [02:00:00:00:ff:00, 02:00:00:00:ff:01],
                   addresses = ["10.0.255.254/16 dev 0", "fd00:0:0:1::fffe/64 dev 0",
                                "192.0.2.254/24 dev 1", "2001:db8::fffe/64 dev 1"],
                   routes_file = "router.routes",
                   neighbors = ["192.0.2.1 02:00:00:00:01:01",
                                "192.0.2.2 02:00:00:00:01:02",
                                "192.0.2.3 lladdr 02:00:00:00:01:03",
                                "2001:db8::1 02:00:00:00:01:01"],
                   icmp_rate = 1000, icmp_burst = 50);

r[0] -> back :: sink(check = checksum);     // ICMP errors and echo replies to port 0
r[1] -> upstream :: sink(check = checksum); // forwarded
r[2] -> host :: sink();                     // local: for the router's own stack
