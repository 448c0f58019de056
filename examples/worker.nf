// A TTL decrement in a Worker process (issue 6): the worker(...) element
// spawns `netfn worker tenant.nf`, copies each packet into the Worker's
// primary ring, and forwards what the Worker hands back. If the Worker
// dies it is restarted; the packets in its ring are counted as `lost`.
//
//   cargo run --release -- run examples/worker.nf --duration 1s -q
//
// The same NF in-process is `src -> ttl() -> out`.

src :: generator(flows = 10000, count = 2000000);
src -> w :: worker(graph = "tenant.nf") -> out :: sink(check = checksum);
