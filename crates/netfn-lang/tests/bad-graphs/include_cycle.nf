include "inc/cycle_a.nfi";
src :: pcap_in(file = "in.pcap");
src -> pcap_out(file = "out.pcap");
