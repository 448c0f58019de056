/* A small edge chain: protect, split web from the rest, mirror web
   traffic to a capture, merge back. */
include "lib/chains.nfi";

let rules = "fw.rules";
let web_ports = [80, 443, 8080];

eth0 :: tap(name = "eth0");
eth1 :: tap(name = "eth1");
capture :: pcap_out(file = "web.pcap");

eth0 -> p :: Protect(rules = $rules, limit = 32)
     -> s :: Split(ports = $web_ports);
s[0] -> web :: counter() -> m :: merge();
s[1] -> [1]m;
web ->> capture;          # a copy of web traffic
m -> eth1;

# Return path.
eth1 -> Protect(rules = $rules, default = drop) -> eth0;
