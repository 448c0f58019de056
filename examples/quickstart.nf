// netfn quickstart: no root, no network. The built-in generator plays a
// small office network: 1000 flows from 10.0.0.0/16 to servers in
// 198.51.100.0/24 (a fifth of them IPv6), 64- and 128-byte UDP and TCP
// frames at 1 million packets per second, for 10 seconds.
//
//   cargo run --release -- run examples/quickstart.nf
//
// The chain: TTL decrement -> a stateful firewall (web and DNS allowed,
// the rest denied and counted as policy-deny) -> source NAT to
// 203.0.113.1 (RFC 4787 endpoint-independent mapping) -> a flow monitor
// (per-flow counters; records leave as JSON lines on its output 1) -> a
// sink that verifies every checksum the NFs rewrote. A second generator
// plays the internet knocking on the NAT's public address.
//
// Try: -D rate=200000 to change a variable, --duration 3s, --json, and
// edit this file while it runs with --watch (or send SIGHUP) to reload it
// without losing packets: the firewall keeps its connections and the NAT
// its mappings.

let rate = 1000000;
let packets = 10000000;

src :: generator(flows = 1000, udp = 3, tcp = 1, ipv6 = 20,
                 src = 10.0.0.0/16, dst = 198.51.100.0/24,
                 size = [64B, 128B], rate = $rate, count = $packets);

fw :: firewall(rule = ["allow tcp from any to any port 80,443,8080",
                       "allow udp from any to any port 53,123",
                       "allow inet6 udp from any to any port 1-1023"],
               default = deny, stateful = true, tcp_loose = true);

nat :: nat(public = [203.0.113.1], inside = [10.0.0.0/16]);

mon :: monitor(idle = 5s, top = 5);

src -> ttl() -> fw -> nat -> mon -> out :: sink(check = checksum);

// The outside: unsolicited datagrams from the internet to the public
// address enter the NAT on input 1; with no mapping for them they are
// dropped (no-state). Replies to mapped flows would leave on output 1,
// translated back to the inside addresses.
wan :: generator(flows = 100, udp = 1, src = 192.0.2.0/24, dst = 203.0.113.1/32,
                 rate = 1000, count = 10000);
wan -> [1]nat;
nat[1] -> inside :: sink(check = checksum);
mon[1] -> records :: sink();
