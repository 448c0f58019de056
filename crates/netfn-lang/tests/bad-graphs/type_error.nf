src :: pcap_in(file = "in.pcap");
dst :: pcap_out(file = "out.pcap");
src -> firewall(rules = "fw.rules", timeout = 30)
    -> policer(burst = 64kib, interval = 30x)
    -> ttl(limit = "sixty-four")
    -> dst;
