// A parameter the generator does not have, and a value out of range.
src :: generator(count = 10, flow = 5, ipv6 = 150);
src -> ttl() -> out :: sink();
