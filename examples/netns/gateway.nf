// A home gateway between two interfaces: answers ARP / neighbor
// solicitations for its addresses, routes (TTL - 1, next-hop MACs),
// filters new connections with a stateful firewall and masquerades the
// inside network behind one public address. Needs root. In the routed
// test topology (scripts/netns.sh up demo routed):
//
//   ip netns exec demomb netfn run examples/netns/gateway.nf
//   ip netns exec demoh1 ping 10.201.2.1              # ttl=63
//   ip netns exec demoh2 tcpdump -n -i eth0 icmp      # from 10.201.2.100
//   ip netns exec demoh1 ping 10.201.9.1              # Destination Net Unreachable
//
// h1 (10.201.1.1, the inside) sits behind port 0 = `a`, h2 (10.201.2.1,
// the outside) behind port 1 = `b`. ARP and ND are not done by the router:
// its neighbours are listed (the MACs netns.sh gives the hosts).
//
//   a -> arpa -> fw -> router[0] -> a              (h1 -> router, replies to h1)
//                      router[1] -> nat[0] -> b    (h1 -> h2, translated)
//   b -> arpb -> nat[1] -> queue -> fw             (h2 -> h1, translated back)
//
// The firewall sees both directions with the inside addresses (h1's
// packets before routing, replies after the NAT has translated them
// back), so its connection state works; the router, fed by the firewall,
// sends each packet to its side. The queue breaks the loop router -> nat
// -> router (NFs must form a DAG). crates/netfn/tests/realclient.rs runs
// this graph (ping) and other arrangements with ping, curl and iperf3.
// (It lives in a subdirectory so that `netfn bench nfs`, which takes the
// first router/nat/firewall/arp it finds in examples/*.nf, keeps using
// router.nf, nat.nf, ...)

let a = "a";
let b = "b";
let mac_a = 02:00:0a:c8:01:01;
let mac_b = 02:00:0a:c8:01:02;

a :: afpacket(dev = $a);
b :: afpacket(dev = $b);

a -> arpa :: arp(addrs = ["10.201.1.254 fd00:201:1::fe"], mac = $mac_a, router = true);
b -> arpb :: arp(addrs = ["10.201.2.254 10.201.2.100 fd00:201:2::fe"], mac = $mac_b, router = true);
arpa[1] -> a;
arpb[1] -> b;

// Connections from the inside to the web, DNS and ping; the replies pass
// on state. Everything else (also from outside) is dropped.
arpa -> fw :: firewall(stateful = true, default = deny, rule = [
    "allow tcp from 10.201.1.0/24 to any port 80,443,8000",
    "allow udp from 10.201.1.0/24 to any port domain",
    "allow icmp from 10.201.1.0/24 to any icmp-type echoreq",
    "allow inet6 from fd00:201:1::/64 to any"]);

fw -> r :: router(ports = 2, macs = [$mac_a, $mac_b],
                  addresses = ["10.201.1.254/24 dev 0", "fd00:201:1::fe/64 dev 0",
                               "10.201.2.254/24 dev 1", "fd00:201:2::fe/64 dev 1"],
                  neighbors = ["10.201.1.1 02:00:0a:c8:00:01", "fd00:201:1::1 02:00:0a:c8:00:01",
                               "10.201.2.1 02:00:0a:c8:00:02", "fd00:201:2::1 02:00:0a:c8:00:02"]);
r[0] -> a;
r[1] -> [0]nat :: nat(public = [10.201.2.100], inside = [10.201.1.0/24]);
r[2] -> local :: sink();          // ARP replies, router solicitations, ...

nat[0] -> b;
arpb -> [1]nat;
nat[1] -> back :: queue(capacity = 4096) -> fw;
