#!/usr/bin/env python3
"""test/bench/report.py RESULTS_DIR: markdown tables from run.sh's runs.csv.

tps is the median over the repetitions; every ratio is the median of the
per-repetition ratios (each repetition runs the configurations back to back,
so a ratio compares runs made under the same machine load).
"""
import csv
import os
import statistics
import sys
from collections import defaultdict

out = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(out, "runs.csv"))))
clients = sorted({int(r["clients"]) for r in rows})
reps = sorted({int(r["rep"]) for r in rows})
configs = []
for r in rows:
    if r["config"] not in configs:
        configs.append(r["config"])

LABEL = {
    "direct": "direct INSERT, single node (n1)",
    "rig_local": "rig_do, no peer (n1)",
    "rig_inline": "rig_do, no peer, data built inline (n1)",
    "rig_sync": "rig_do, sync peer, commit_wait on (n2 -> n3)",
    "rig_sync_nowait": "rig_do, sync peer, commit_wait off (n2 -> n3)",
    "native_sync": "direct INSERT, native sync standby, remote_apply (n4 -> n5)",
    "dblink_2pc": "direct INSERT + hand-rolled 2PC over dblink (n1 -> n6)",
}

run = {}  # (config, clients, rep) -> row
for r in rows:
    run[(r["config"], int(r["clients"]), int(r["rep"]))] = r


def f(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def tps(cfg, c, rep):
    r = run.get((cfg, c, rep))
    return f(r["tps"]) if r else None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def med_tps(cfg, c):
    return med([tps(cfg, c, rep) for rep in reps])


def ratio(a, b, c):
    """median over repetitions of tps(a)/tps(b), same repetition."""
    rs = []
    for rep in reps:
        x, y = tps(a, c, rep), tps(b, c, rep)
        if x is not None and y:
            rs.append(x / y)
    return med(rs), rs


def fmt_tps(x):
    return "—" if x is None else f"{x:,.0f}"


def fmt_r(x):
    return "—" if x is None else f"{x:.2f}"


def fmt_rr(pair):
    """median ratio with the range of the per-repetition ratios."""
    r, rs = pair
    if r is None:
        return "—"
    if len(rs) < 2:
        return f"{r:.2f}"
    return f"{r:.2f} <sub>({min(rs):.2f}–{max(rs):.2f})</sub>"


def each(cfg, c):
    vals = [tps(cfg, c, rep) for rep in reps]
    return " / ".join("—" if v is None else f"{v:,.0f}" for v in vals)


def verdict(x, target):
    if x is None:
        return "not run"
    return "**met**" if x >= target else "**missed**"


have = set(configs)
p = print

p(f"Repetitions: {len(reps)}; tps = median over repetitions (each repetition's value in "
  f"parentheses, in run order); ratios = median of the per-repetition ratios, with their "
  f"range (lowest–highest) in small print.\n")

# ------------------------------------------------------------------ issue 2
if {"direct", "rig_local"} <= have:
    p("### Issue 2: rig_do against the direct INSERT, single node\n")
    hdr = "| clients | direct INSERT tps | rig_do tps | rig_do / direct | target | |"
    extra = "rig_inline" in have
    if extra:
        hdr = ("| clients | direct INSERT tps | rig_do tps | rig_do / direct | target | "
               "| rig_do, inline data, tps | inline / direct |")
    p(hdr)
    p("|" + "---|" * (hdr.count("|") - 1))
    for c in clients:
        rp = ratio("rig_local", "direct", c)
        r = rp[0]
        target = 0.75 if c == 1 else 0.5 if c == 32 else None
        line = (f"| {c} | {fmt_tps(med_tps('direct', c))} ({each('direct', c)}) "
                f"| {fmt_tps(med_tps('rig_local', c))} ({each('rig_local', c)}) | {fmt_rr(rp)} "
                f"| {'≥ %.2f' % target if target else '—'} | {verdict(r, target) if target else ''} |")
        if extra:
            line += (f" {fmt_tps(med_tps('rig_inline', c))} ({each('rig_inline', c)}) "
                     f"| {fmt_rr(ratio('rig_inline', 'direct', c))} |")
        p(line)
    p()

# ------------------------------------------------------------------ issue 3
i3 = [c for c in ["rig_local", "rig_sync", "rig_sync_nowait", "native_sync", "dblink_2pc"] if c in have]
if i3:
    p("### Issue 3: replication, tps\n")
    p("| configuration | " + " | ".join(f"{c} client{'s' if c > 1 else ''}" for c in clients)
      + " | scaling " + (f"{clients[-1]}/{clients[0]}" if len(clients) > 1 else "") + " |")
    p("|---|" + "---|" * len(clients) + "---|")
    for cfg in i3:
        cells = [f"{fmt_tps(med_tps(cfg, c))} ({each(cfg, c)})" for c in clients]
        lo, hi = med_tps(cfg, clients[0]), med_tps(cfg, clients[-1])
        sc = f"{hi / lo:.1f}×" if lo and hi and len(clients) > 1 else "—"
        p(f"| {LABEL.get(cfg, cfg)} | " + " | ".join(cells) + f" | {sc} |")
    p()

    p("### Issue 3: ratios and targets\n")
    p("| ratio | " + " | ".join(f"{c}" for c in clients) + " | target | |")
    p("|---|" + "---|" * len(clients) + "---|---|")

    def ratio_row(name, a, b, targets, note):
        if not {a, b} <= have:
            return
        cells, ok = [], []
        for c in clients:
            rp = ratio(a, b, c)
            r = rp[0]
            cells.append(fmt_rr(rp))
            t = targets.get(c, targets.get("all"))
            if t is not None and r is not None:
                ok.append(r >= t)
        v = ("**met**" if all(ok) else "**missed**") if ok else ""
        p(f"| {name} | " + " | ".join(cells) + f" | {note} | {v} |")

    ratio_row("rig sync (wait on) / native remote_apply", "rig_sync", "native_sync",
              {1: 0.7, 32: 0.5}, "≥ 0.7 at 1, ≥ 0.5 at 32")
    ratio_row("rig sync (wait on) / dblink 2PC", "rig_sync", "dblink_2pc",
              {"all": 1.0, 32: 1.5}, "≥ 1 everywhere, ≥ 1.5 at 32")
    ratio_row("rig sync (wait off) / native remote_apply", "rig_sync_nowait", "native_sync",
              {1: 0.7, 32: 0.5}, "(same targets, for reference)")
    ratio_row("rig sync (wait off) / dblink 2PC", "rig_sync_nowait", "dblink_2pc",
              {"all": 1.0, 32: 1.5}, "(same targets, for reference)")
    ratio_row("rig sync (wait on) / rig no peer", "rig_sync", "rig_local", {}, "cost of the peer")
    ratio_row("native remote_apply / direct INSERT no standby", "native_sync", "direct", {},
              "cost of the standby")
    if "rig_sync" in have and len(clients) > 1:
        sc = []
        for rep in reps:
            lo, hi = tps("rig_sync", clients[0], rep), tps("rig_sync", clients[-1], rep)
            if lo and hi:
                sc.append(hi / lo)
        s = med(sc)
        p(f"| rig sync (wait on): {clients[-1]} clients / {clients[0]} client | "
          + " | ".join("" for _ in clients[:-1]) + f" | {fmt_rr((s, sc))} | ≥ 4 | {verdict(s, 4.0)} |")
    p()

# ------------------------------------------------------------------ per op
p("### WAL, fsyncs and CPU per op\n")
p("Medians over repetitions.  fsyncs = fdatasync + fsync system calls of the whole "
  "cluster (postmaster and all its processes, counted by `perf stat`); "
  "`pg_stat_wal` = its `wal_sync` delta (a physical standby's walreceiver does not "
  "report there, hence 0).  CPU = task-clock of the whole cluster (every process of "
  "that PostgreSQL instance) and user+system time of pgbench; the 2-core ceiling is "
  "2000 ms / total CPU ms per op, the tps this machine could reach if those processes "
  "had both cores to themselves.  cs = context switches of the whole cluster (perf's "
  "`context-switches`): every wake-up of a process, the cost that grows with clients "
  "in a VM.  busy = whole machine (all users) during the run.\n")
p("| configuration | clients | fsyncs/op primary | pg_stat_wal wal_sync/op primary "
  "| fsyncs/op peer | WAL bytes/op primary | WAL bytes/op peer | CPU ms/op primary "
  "| CPU ms/op peer | CPU ms/op pgbench | CPU ms/op total | 2-core ceiling tps "
  "| cs/op primary | cs/op peer | machine busy |")
p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def per_op(cfg, c, col):
    vals = []
    for rep in reps:
        r = run.get((cfg, c, rep))
        if not r:
            continue
        x, n = f(r.get(col)), f(r["xacts"])
        if x is not None and n:
            vals.append(x / n)
    return med(vals)


def col(cfg, c, name):
    return med([f(run[(cfg, c, rep)].get(name)) for rep in reps if (cfg, c, rep) in run])


def total_cpu(cfg, c):
    vals = []
    for rep in reps:
        r = run.get((cfg, c, rep))
        if not r or not f(r["xacts"]):
            continue
        parts = [f(r.get(k)) for k in ("A_cpu_ms", "B_cpu_ms", "client_cpu_ms")]
        if parts[0] is None or parts[2] is None:
            continue
        vals.append(sum(x for x in parts if x is not None) / f(r["xacts"]))
    return med(vals)


for cfg in configs:
    for c in clients:
        def g(name, fmtstr="{:.2f}"):
            v = per_op(cfg, c, name)
            return "—" if v is None else fmtstr.format(v)
        peer = any(run[(cfg, c, rep)]["nodeB"] for rep in reps if (cfg, c, rep) in run)
        busy = col(cfg, c, "machine_busy_pct")
        tot = total_cpu(cfg, c)
        p(f"| {cfg} | {c} | {g('A_fsyncs')} | {g('A_sync')} | {g('B_fsyncs') if peer else '—'} "
          f"| {g('A_bytes', '{:.0f}')} | {g('B_bytes', '{:.0f}') if peer else '—'} "
          f"| {g('A_cpu_ms', '{:.3f}')} | {g('B_cpu_ms', '{:.3f}') if peer else '—'} "
          f"| {g('client_cpu_ms', '{:.3f}')} | {'—' if tot is None else '%.3f' % tot} "
          f"| {'—' if not tot else '{:,.0f}'.format(2000 / tot)} "
          f"| {g('A_cs', '{:.1f}')} | {g('B_cs', '{:.1f}') if peer else '—'} "
          f"| {'—' if busy is None else '%.0f%%' % busy} |")
p()

# ------------------------------------------------------------------ latency
if any(r.get("p50_ms") for r in rows):
    p("### Latency per transaction (pgbench's per-transaction log): median p50 / p99, ms\n")
    p("| configuration | " + " | ".join(f"{c} client{'s' if c > 1 else ''}" for c in clients) + " |")
    p("|---|" + "---|" * len(clients))
    for cfg in configs:
        cells = []
        for c in clients:
            a, b = col(cfg, c, "p50_ms"), col(cfg, c, "p99_ms")
            cells.append("—" if a is None else f"{a:.2f} / {b:.2f}")
        p(f"| {LABEL.get(cfg, cfg)} | " + " | ".join(cells) + " |")
    p()

bad = [r for r in rows if r["failed"] not in ("0", "")]
if bad:
    p("**Runs with failed transactions:** " + ", ".join(
        f"{r['config']} c={r['clients']} rep {r['rep']} ({r['failed']})" for r in bad))
    p()

# ------------------------------------------------------------------ profile
prof = os.path.join(out, "profile")
for name in sorted(os.listdir(prof)) if os.path.isdir(prof) else []:
    if name.startswith("strace_") and name.endswith(".txt"):
        if name == sorted(n for n in os.listdir(prof) if n.startswith("strace_"))[0]:
            p("### Syscalls per op at 1 client (strace of one process)\n")
        p("```")
        p(open(os.path.join(prof, name)).read().rstrip())
        p("```")
if os.path.exists(os.path.join(prof, "waits.txt")):
    p("\n### Wait events of the backends (pg_stat_activity sampled every 10 ms)\n")
    p("```")
    p(open(os.path.join(prof, "waits.txt")).read().rstrip())
    p("```")
