// Frames as text on standard output, one per line in EtherPIPE's hex
// format (DST_MAC SRC_MAC ETHERTYPE XX XX ...), for grep/sed/awk. Two
// senders, 02:00:00:00:00:01 and 00:11:22:33:44:55; drop the second one's
// frames on the way, as in the /dev/stdpkt paper (Figure 8):
//
//   netfn run examples/pipe-hex.nf | grep --line-buffered -v 001122334455 \
//     | netfn run examples/pipe-in.nf          # 1000 frames arrive, not 1500
//
// The summary goes to standard error (standard output carries the frames).

alice :: generator(flows = 4, count = 1000, seed = 7, src_mac = 02:00:00:00:00:01);
mallory :: generator(flows = 2, count = 500, seed = 8, src_mac = 00:11:22:33:44:55);
both :: merge();
alice -> [0]both;
mallory -> [1]both;
both -> out :: stdout(format = hex);
