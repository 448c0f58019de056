// A loop between NFs without a queue in it.
src :: generator(count = 10);
m :: merge();
src -> m -> a :: ttl() -> b :: tee(n = 2);
b[0] -> out :: sink();
b[1] -> [1]m;
