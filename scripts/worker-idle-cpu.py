#!/usr/bin/env python3
# Usage (writes chain1.nf and idleN.nf in the current directory):
#   scripts/worker-idle-cpu.py target/release/netfn N
# CPU used by N idle Workers (one packet a second each), sampled
# over 2 s after a warm-up: sum of utime+stime of the Master's children.
import os, subprocess, sys, time
exe, n = os.path.abspath(sys.argv[1]), int(sys.argv[2])
open('chain1.nf', 'w').write('r :: ring();\nr -> ttl() -> r;\n')
g = ''.join(f'g{i} :: generator(rate = 1);\ng{i} -> worker(graph = "chain1.nf", slots = 256, aux_slots = 16) -> s;\n' for i in range(n))
open(f'idle{n}.nf', 'w').write('s :: sink();\n' + g)
p = subprocess.Popen([exe, 'run', f'idle{n}.nf', '--json', '--duration', f'{6 + n // 50}s'], stdout=subprocess.DEVNULL)
time.sleep(3 + n // 60)
hz = os.sysconf('SC_CLK_TCK')
def ticks():
    kids = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit(): continue
        try: f = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
        except OSError: continue
        if int(f[1]) == p.pid: kids[pid] = int(f[11]) + int(f[12])
    mp = open(f'/proc/{p.pid}/stat').read().rsplit(')', 1)[1].split()
    return kids, int(mp[11]) + int(mp[12])
(a, ma), t0 = ticks(), time.time()
time.sleep(2)
(b, mb), t1 = ticks(), time.time()
used = sum(b[k] - a.get(k, b[k]) for k in b) / hz / (t1 - t0)
print(f'{n} idle Workers ({len(b)} found): {used*100:.1f} % of one core in total, {used/n*1e4:.2f} ‰ each; Master {(mb-ma)/hz/(t1-t0)*100:.1f} %')
p.wait()
