#!/usr/bin/env python3
"""test/bench/stacks.py SCRIPT_OUTPUT FUNCTION...: where a function's time goes.

Reads `perf script -F comm,ip,sym` output (call graphs recorded with
--call-graph dwarf) and prints, for each FUNCTION, the share of all samples
whose stack contains it and how that share splits over its direct (named)
callees.  perf report's inclusive view gives the first number only.
"""
import sys
from collections import Counter

stacks, cur = [], None
for line in open(sys.argv[1], errors="replace"):
    if not line.startswith("\t"):
        if cur:
            stacks.append(cur)
        cur = []
        continue
    parts = line.strip().split(None, 1)
    cur.append(parts[1] if len(parts) > 1 else "?")
if cur:
    stacks.append(cur)
n = len(stacks) or 1
print(f"{len(stacks)} samples")
for fn in sys.argv[2:]:
    c, tot = Counter(), 0
    for s in stacks:
        if fn not in s:
            continue
        tot += 1
        j = s.index(fn) - 1
        while j >= 0 and s[j].startswith("["):
            j -= 1
        c[s[j] if j >= 0 else "(self)"] += 1
    print(f"== {fn}: {100 * tot / n:.1f}% of samples")
    for k, v in c.most_common(10):
        if 100 * v / n >= 0.3:
            print(f"   {100 * v / n:5.1f}%  {k}")
