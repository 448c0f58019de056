src :: pcap_in(file = "in.pcap");
dst :: pcap_out(file = "out.pcap");
fw :: firewal(rules = "fw.rules");
src -> fw -> dst;
