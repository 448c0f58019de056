// A loop among NFs must pass through a port (a queue).
src :: pcap_in(file = "in.pcap");
dst :: pcap_out(file = "out.pcap");
m :: merge();
cls :: classifier(n = 2);
src -> m -> ttl() -> cls -> dst;
cls[1] -> [1]m;
