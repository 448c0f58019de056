// A misspelt NF kind.
src :: generator(count = 10);
src -> ttll() -> out :: sink();
