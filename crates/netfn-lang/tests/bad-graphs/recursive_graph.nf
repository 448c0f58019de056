graph A { input -> B() -> output; }
graph B { input -> A() -> output; }
src :: pcap_in(file = "in.pcap");
src -> A() -> pcap_out(file = "out.pcap");
