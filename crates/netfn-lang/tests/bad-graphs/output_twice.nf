src :: pcap_in(file = "in.pcap");
a :: pcap_out(file = "a.pcap");
b :: pcap_out(file = "b.pcap");
fw :: firewall(rules = "fw.rules");
src -> fw -> a;
fw -> b;
