// A duration where a size is expected, and a word not in the set.
src :: generator(size = 30s);
src -> ttl() -> out :: sink(check = everything);
