// Validates; fails when built: the rules file does not exist.
src :: pcap_in(file = "../good-graphs/in.pcap");
dst :: pcap_out(file = "out.pcap");
fw :: firewall(rules = "missing.rules", default = drop);
src -> fw -> dst;
