include "inc/common.nfi";
include "inc/missing.nf";
src :: pcap_in(file = "in.pcap");
src -> pcap_out(file = "out.pcap");
