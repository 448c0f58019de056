// GRE (RFC 2784, keys RFC 2890): Ethernet frames are carried as
// Transparent Ethernet Bridging (protocol 0x6558, Linux's gretap) from
// 198.51.100.1 to 198.51.100.2 with key 42, and taken out again at the
// far end, so the sink sees the generator's frames unchanged.
//
//   cargo run --release -- run examples/gre.nf --duration 1s
//
// checksum = true adds the GRE checksum (decap then requires one);
// seq = true adds sequence numbers (decap drops late ones as `filtered`).
// Decap drops packets with the wrong key as `filtered`, bad ones as
// `malformed`, outer fragments as `unsupported`; an outer IP packet over
// `mtu` is `too-big` at encap (no fragmentation). IPv6 endpoints give GRE
// over IPv6.

src :: generator(flows = 10000, udp = 3, tcp = 1, ipv6 = 10, count = 2000000);

src -> enc :: gre(mode = encap, local = 198.51.100.1, remote = 198.51.100.2,
                  key = 42, src_mac = 02:00:00:00:01:01,
                  dst_mac = 02:00:00:00:01:02, mtu = 1500B)
    -> dec :: gre(mode = decap, local = 198.51.100.2, remote = 198.51.100.1,
                  key = 42)
    -> out :: sink(check = checksum);
