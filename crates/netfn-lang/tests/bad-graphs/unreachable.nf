src :: pcap_in(file = "in.pcap");
dst :: pcap_out(file = "out.pcap");
src -> dst;
// Nothing feeds this stretch.
c :: counter();
c -> ttl() -> policer() -> dst;
