src :: pcap_in(file = "in.pcap");
dst :: pcap_out(file = "out.pcap");
cls :: classifier(n = 2, ports = [80, 443, 70000]);
src -> ttl(limit = 300) -> cls -> dst;
cls[1] -> discard();
