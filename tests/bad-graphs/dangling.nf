// The tee's second output goes nowhere; `c` is declared but never used.
src :: generator(count = 10);
t :: tee(n = 2);
c :: counter();
src -> t -> out :: sink();
