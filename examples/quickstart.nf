// netfn quickstart: no root, no network. The built-in generator makes
// 64-byte UDP and TCP frames over 1000 flows (a fifth of them IPv6) at
// 2 million packets per second, for 10 seconds (20 million packets).
//
//   cargo run --release -- run examples/quickstart.nf
//
// Try: -D rate=500000 to change a variable, --duration 3s, --json, and
// edit this file while it runs with --watch (or send SIGHUP) to reload it
// without losing packets.

let rate = 2000000;
let packets = 20000000;

src :: generator(flows = 1000, udp = 3, tcp = 1, ipv6 = 20,
                 size = [64B, 128B], rate = $rate, count = $packets);

// Decrement TTL / hop limit (drops at 1), then count what survives.
src -> ttl() -> seen :: counter() -> out :: sink(check = checksum);
