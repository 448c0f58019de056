graph Loop {
    input -> counter() -> input;
}
src :: pcap_in(file = "in.pcap");
dst :: pcap_out(file = "out.pcap");
input -> dst;
src -> l :: Loop() -> dst;
