src :: pcap_in(file = "in.pcap");
dst :: pcap_out(file = "out.pcap");
fw :: firewall(rulez = "fw.rules", mode = strict);
src -> fw -> dst;
