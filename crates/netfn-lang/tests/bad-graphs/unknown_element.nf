src :: pcap_in(file = "in.pcap");
dst :: pcap_out(file = "out.pcap");
fw :: firewall(rules = "fw.rules");
src -> fw2;
fw -> ttl -> dst;
