// A loop is fine when it passes through a queue (a port).
src :: pcap_in(file = "in.pcap", repeat = 3);
dst :: pcap_out(file = "out.pcap");
m :: merge();
cls :: classifier(n = 2, nets = [10.0.0.0/8, 2001:db8::/32]);
src -> m -> ttl(limit = 0x40) -> cls -> dst;
cls[1] -> q :: queue(capacity = 64) -> [1]m;
