// Classifier (Click's IPClassifier): web, DNS and ICMP each take their
// own output; everything else (non-IP frames too) leaves on the output
// after the last pattern. Patterns are firewall rules without the action.
//
//   cargo run --release -- run examples/classifier.nf --duration 1s

src :: generator(flows = 10000, udp = 3, tcp = 1, icmp = 1, ipv6 = 10, count = 2000000);

src -> cls :: classifier(patterns = ["tcp to any port 80,443,8080",
                                     "udp to any port 53",
                                     "icmp all", "icmp6 all"]);
cls[0] -> web :: sink(check = checksum);
cls[1] -> dns :: sink();
cls[2] -> ping :: sink();
cls[3] -> ping6 :: sink();
cls[4] -> rest :: sink();
