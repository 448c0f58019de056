// The other end of a pipe: frames from standard input (hex lines here; a
// pcap stream with format = pcap), TTL decremented, checksums verified.
//
//   netfn run examples/pipe-hex.nf | netfn run examples/pipe-in.nf

in :: stdin(format = hex);
in -> ttl() -> out :: sink(check = checksum);
