// a.nfi and sub/b.nfi both include common.nfi: it is read once.
include "a.nfi";
include "sub/b.nfi";
src :: pcap_in(file = $capture);
src -> a_chain :: A() -> b_chain :: B() -> pcap_out(file = "out.pcap");
