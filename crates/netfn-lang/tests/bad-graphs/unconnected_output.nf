src :: pcap_in(file = "in.pcap");
dst :: pcap_out(file = "out.pcap");
cls :: classifier(n = 3);
src -> cls -> dst;
cls[2] -> discard();
