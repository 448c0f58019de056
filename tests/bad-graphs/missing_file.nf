// A capture that does not exist: found when the port is opened (by `run`).
src :: pcap_in(file = "no-such-capture.pcap");
src -> ttl() -> out :: sink();
