// Policer: every flow (5-tuple) gets its own srTCM meter (RFC 2697): a
// committed rate of 1 Mbit/s with a 15 kB burst, plus a 15 kB excess
// burst. Green packets pass, yellow ones pass remarked to DSCP 10 (AF11,
// IPv4 checksum patched incrementally), red ones are dropped as
// `rate-limited`.
//
//   cargo run --release -- run examples/policer.nf --duration 1s
//
// meter = single is one bucket (green/red); meter = trtcm adds a peak rate
// (peak_rate, peak_burst; RFC 2698). per = none polices the aggregate,
// per = src / dst one bucket per address; unit = pps counts packets.
// Rates are bit/s, bursts bytes (whole frames). Flows idle for `timeout`
// are forgotten (it must be at least the time an empty bucket takes to
// fill: here 30 ms).

src :: generator(flows = 10000, udp = 3, tcp = 1, ipv6 = 10, count = 2000000);

src -> pol :: policer(meter = srtcm, rate = 1000000, burst = 15000,
                      excess_burst = 15000,
                      conform = pass, exceed = remark, exceed_dscp = 10,
                      violate = drop,
                      per = flow, flows = 16384, timeout = 30s)
    -> out :: sink(check = checksum);
