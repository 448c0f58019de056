// A missing arrow.
src :: generator(count = 10);
src ttl() -> out :: sink();
