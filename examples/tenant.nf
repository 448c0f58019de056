// A tenant's graph, run in a Worker process by examples/worker.nf:
// ring() is the port to the Master (what it receives came from the
// Master's worker(...) element; what it sends goes back there).
//
//   cargo run -- check examples/tenant.nf

r :: ring();
r -> ttl() -> r;
