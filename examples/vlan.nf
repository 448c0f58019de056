// VLAN tagging: push an 802.1Q tag (VID 100, priority 3), translate VID
// 100 to 200 (the priority is kept), and pop it again, so the sink sees
// the generator's frames unchanged and verifies their checksums.
//
//   cargo run --release -- run examples/vlan.nf --duration 1s
//
// tpid = dot1ad pushes an 802.1ad service tag (QinQ) instead; pop and
// rewrite act on the outer tag of either kind. untagged = drop and
// unmapped = drop turn the pass-through of untagged frames and of VIDs
// missing from `map` into `filtered` drops.

src :: generator(flows = 10000, udp = 3, tcp = 1, ipv6 = 10, count = 2000000);

src -> push :: vlan(action = push, vid = 100, pcp = 3, tpid = dot1q)
    -> xlate :: vlan(action = rewrite, map = ["100:200", "101:201"])
    -> pop :: vlan(action = pop)
    -> out :: sink(check = checksum);
