let rate = 1Mpps;
let pcap_dir = "/var/pcap";
src :: pcap_in(file = "${pcapdir}/in.pcap");
dst :: pcap_out(file = "out.pcap");
src -> policer(rate = $rat) -> dst;
