// Isolating instances: only one input and one output, `process` or `none`.
graph Split() {
    input -> c :: classifier(n = 2, ports = [80]);
    c[0] -> output;
    c[1] -> output[1];
}
graph Pass() { input -> ttl() -> output; }

src :: tap(name = "eth0");
s :: Split(isolate = process);
src -> s -> src;
s[1] -> src;
src -> Pass(isolate = thread) -> src;
