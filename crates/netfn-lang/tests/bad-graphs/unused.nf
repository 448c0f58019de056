src :: pcap_in(file = "in.pcap");
dst :: pcap_out(file = "out.pcap");
spare :: pcap_out(file = "spare.pcap");
c :: counter();
src -> dst;
