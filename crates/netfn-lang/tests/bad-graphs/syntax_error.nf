// Several syntax errors; each is reported, parsing goes on after the `;`.
src :: pcap_in(file = "in.pcap");
dst :: pcap_out(file = "out.pcap")
fw :: firewall(rules = "fw.rules", default = drop);
src -> fw -> -> dst;
ttl(64);
