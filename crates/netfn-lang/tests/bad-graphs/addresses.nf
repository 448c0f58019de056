src :: pcap_in(file = "in.pcap");
dst :: pcap_out(file = "out.pcap");
src -> nat(external = 10.0.0.1/8, inside = 10.0.0.0/33)
    -> rewrite(mac = 02:00:00:00:01, src = "192.0.2.300", strict = yes)
    -> dst;
