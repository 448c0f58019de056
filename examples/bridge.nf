// An L2 bridge between two interfaces over AF_PACKET, decrementing the
// TTL / hop limit on the way (frames that are not IP pass unchanged).
// Needs root. In the test topology (scripts/netns.sh up demo):
//
//   ip netns exec demomb netfn run examples/bridge.nf
//   ip netns exec demoh1 ping 10.200.0.2        # replies come back with ttl=63
//
// -D a=eth1 -D b=eth2 picks other interfaces.

let a = "a";
let b = "b";

left :: afpacket(dev = $a);
right :: afpacket(dev = $b);
left -> ttl() -> right;
right -> ttl() -> left;
