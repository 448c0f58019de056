// Maglev load balancer: flows to the VIP prefix 10.1.0.0/16 are spread
// over four backends with consistent hashing (Maglev, NSDI 2016) and keep
// their backend while they last; everything else passes unchanged.
//
//   cargo run --release -- run examples/maglev.nf --duration 1s
//
// mode = dsr rewrites the destination MAC to the backend's (the backends
// hold the VIP on a loopback); mode = dnat rewrites the destination address
// (with incremental checksums) instead. Backends are
// "<ip> [<mac>] [weight=<n>]"; the MAC is required for dsr.

src :: generator(flows = 10000, udp = 3, tcp = 1, ipv6 = 10, count = 2000000);

src -> lb :: maglev(vip = [10.1.0.0/16],
                    backends = ["10.2.0.1 02:00:00:00:02:01",
                                "10.2.0.2 02:00:00:00:02:02",
                                "10.2.0.3 02:00:00:00:02:03 weight=2",
                                "10.2.0.4 02:00:00:00:02:04"],
                    mode = dsr, timeout = 60s)
    -> out :: sink(check = checksum);
