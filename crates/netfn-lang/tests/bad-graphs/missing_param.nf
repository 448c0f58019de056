src :: pcap_in(file = "in.pcap");
dst :: pcap_out(file = "out.pcap");
src -> firewall(default = drop) -> nat() -> dst;
