// VXLAN (RFC 7348): the generator's frames are encapsulated by one VTEP
// (192.0.2.1, VNI 5001) and decapsulated by its peer (192.0.2.2), so the
// sink receives the original frames and verifies their checksums.
//
//   cargo run --release -- run examples/vxlan.nf --duration 1s
//
// Encap writes outer Ethernet (src_mac -> dst_mac, the underlay next hop),
// IPv4 with DF (or IPv6, if local and remote are IPv6), UDP to port 4789
// with a source port hashed from the inner flow, and the VXLAN header.
// Frames whose outer IP packet would exceed `mtu` are dropped as
// `too-big` (VTEPs do not fragment). Decap accepts the VNIs listed in
// `vni` (others: `filtered`) and, when set, only packets to `local` and
// from `remote`; other traffic passes (other = drop: `filtered`).

src :: generator(flows = 10000, udp = 3, tcp = 1, ipv6 = 10, count = 2000000);

src -> enc :: vxlan(mode = encap, vni = [5001],
                    local = 192.0.2.1, remote = 192.0.2.2,
                    src_mac = 02:00:00:00:01:01, dst_mac = 02:00:00:00:01:02,
                    ttl = 64, mtu = 1500B)
    -> dec :: vxlan(mode = decap, vni = [5001, 5002],
                    local = 192.0.2.2, remote = 192.0.2.1)
    -> out :: sink(check = checksum);
