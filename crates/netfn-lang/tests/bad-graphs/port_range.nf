src :: pcap_in(file = "in.pcap");
dst :: pcap_out(file = "out.pcap");
cls :: classifier(n = 2);
src -> cls -> dst;
cls[1] -> [1]discard();
cls[5] -> dst;
dst -> src;
