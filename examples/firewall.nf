// Stateful firewall: the rules in firewall.rules (first match wins,
// default deny) decide new connections; packets of connections they
// allowed pass both ways without asking the rules again (pf's keep state).
//
//   cargo run --release -- run examples/firewall.nf --duration 1s
//
// The generator's flows go from 10.0.0.0/16 (fd00:0:0:1::/64) to
// 10.1.0.0/16 (fd00:0:0:2::/64) on ports 80, 443, 53, 8080, 5201, 22, 123
// and 3306: ssh and the database port are denied, TCP is allowed to web
// ports and UDP to DNS, NTP and 5201; the rest (about half the flows)
// falls to the default and is dropped as policy-deny. `netfn run` shows each rule's hits
// (rule[N].packets/bytes, N counting from 1 in file order).
//
// The generator's TCP segments are mid-connection (ACK|PSH), hence
// tcp_loose = true: an ACK may open a connection, as with Linux's default.
// Without it only SYNs do (pf's flags S/SA) and the rest is `no-state`.
// Rules can also be given inline: rule = ["allow tcp from any to any port 80"].

src :: generator(flows = 10000, udp = 3, tcp = 1, ipv6 = 10, count = 2000000);

src -> fw :: firewall(rules = "firewall.rules", default = deny,
                      stateful = true, tcp_loose = true,
                      connections = 65536, tcp_established = 2h, udp_timeout = 120s)
    -> out :: sink(check = checksum);
