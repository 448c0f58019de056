// Every kind of value.
src :: pcap_in(file = "in.pcap");
dst :: pcap_out(file = "out.pcap");
src -> policer(burst = 2KiB, interval = 250ms, rate = "2 Mpps")
    -> nat(external = 2001:db8::1, inside = 192.168.0.0/16)
    -> rewrite(mac = 02-00-5e-00-53-01, src = 192.0.2.7, strict = true)
    -> firewall(rules = "fw.rules", default = drop, timeout = 2m)
    -> dst;
