// A variable that was never defined (define it with `let` or -D).
src :: generator(rate = $pps);
src -> out :: sink();
