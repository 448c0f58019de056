src :: pcap_in(file = "in.pcap");
dst :: pcap_out(file = "out.pcap");
src :: pcap_in(file = "other.pcap");
let x = 1;
let x = 2;
src -> ttl(limit = 3, limit = 4) -> dst;
