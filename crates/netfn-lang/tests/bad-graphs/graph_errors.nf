graph Chain(rules, limit = 64) {
    input -> firewall(rules = $rules) -> ttl(limit = $limit) -> output;
}
src :: pcap_in(file = "in.pcap");
dst :: pcap_out(file = "out.pcap");
src -> Chain(limt = 3) -> c :: Chain(rules = "fw.rules", limit = 999) -> dst;
c[1] -> dst;
