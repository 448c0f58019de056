// One tenant sub-graph, two placements (issue 6): tenant a's chain runs in
// a Worker process of its own (`isolate = process`), tenant b's in this
// process. Both run the same NF code; `netfn check` lists a's Worker graph,
// `netfn graph` draws it as a cluster beside the `worker` element `a`.
//
//   cargo run --release -- run examples/isolate.nf --duration 1s -q
//   cargo run -- check examples/isolate.nf

graph Tenant(rules) {
    input -> ttl()
          -> fw :: firewall(rules = $rules, default = deny, stateful = true, tcp_loose = true)
          -> output;
}

ga :: generator(flows = 1000, udp = 3, tcp = 1, count = 2000000);
gb :: generator(flows = 1000, udp = 3, tcp = 1, seed = 2, count = 2000000);

ga -> a :: Tenant(rules = "firewall.rules", isolate = process) -> sa :: sink(check = checksum);
gb -> b :: Tenant(rules = "firewall.rules") -> sb :: sink(check = checksum);
