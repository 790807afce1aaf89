#!/usr/bin/env python3
"""Generate a large mixed rt-app workload for proxysched's memory and speed checks.

Defaults: 1000 threads on 64 CPUs for 60 s, in four kinds (numbers are per-thread draws from
a seeded generator, so the same arguments always give the same file):

  - 80 SCHED_DEADLINE threads: 0.3-1 ms of work every 10-50 ms (dl-period = timer period,
    about 4 CPUs of reserved bandwidth in all, well under admission control's 95%);
  - 200 SCHED_FIFO/SCHED_RR threads, priorities 1-90: 0.1-1 ms of work every 5-50 ms;
  - 620 SCHED_OTHER threads, nice -5..10: 0.5-5 ms of work, then a 2-50 ms sleep or a
    periodic timer;
  - 100 SCHED_OTHER/SCHED_FIFO threads that take one of 32 mutexes around part of their work
    (0.05-0.5 ms inside the critical section), so that PI and proxy execution have work.

With --private-locks every task wraps its `run` in a lock/unlock of a mutex of its own, so
that the mutex paths run but nobody ever contends (the proxy-vs-none overhead benchmark).

Usage:
    bench/gen_big.py > big.json
    bench/gen_big.py --tasks 1000 --cpus 64 --duration 60 --seed 1 > big.json
    /usr/bin/time -f %M target/release/proxysched run big.json --inherit proxy \
        --trace /tmp/big.json -q
"""

import argparse
import json
import random


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--cpus", type=int, default=64)
    ap.add_argument("--duration", type=int, default=60, help="seconds")
    ap.add_argument("--mutexes", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--private-locks", action="store_true",
                    help="every task locks a mutex of its own around its run: no contention")
    a = ap.parse_args()

    rnd = random.Random(a.seed)
    n = a.tasks
    n_dl = n * 8 // 100
    n_rt = n * 20 // 100
    n_lock = n * 10 // 100
    n_fair = n - n_dl - n_rt - n_lock
    tasks = {}

    for i in range(n_dl):
        period = rnd.randrange(10_000, 50_001, 1000)
        work = rnd.randrange(300, 1001, 50)
        tasks[f"dl{i}"] = {
            "policy": "SCHED_DEADLINE",
            "dl-runtime": work + 200,
            "dl-period": period,
            "run": work,
            "timer": {"ref": "unique", "period": period},
        }

    for i in range(n_rt):
        period = rnd.randrange(5_000, 50_001, 500)
        tasks[f"rt{i}"] = {
            "policy": rnd.choice(["SCHED_FIFO", "SCHED_RR"]),
            "priority": rnd.randrange(1, 91),
            "run": rnd.randrange(100, 1001, 50),
            "timer": {"ref": "unique", "period": period},
        }

    for i in range(n_fair):
        t = {
            "policy": "SCHED_OTHER",
            "priority": rnd.randrange(-5, 11),
            "run": rnd.randrange(500, 5001, 100),
        }
        if rnd.random() < 0.5:
            t["sleep"] = rnd.randrange(2_000, 50_001, 500)
        else:
            t["timer"] = {"ref": "unique", "period": rnd.randrange(10_000, 100_001, 1000)}
        tasks[f"cfs{i}"] = t

    for i in range(n_lock):
        m = f"m{rnd.randrange(a.mutexes)}"
        t = {"policy": "SCHED_OTHER", "priority": rnd.randrange(-5, 11)}
        if rnd.random() < 0.3:
            t = {"policy": "SCHED_FIFO", "priority": rnd.randrange(1, 50)}
        t.update({
            "run1": rnd.randrange(100, 2001, 100),
            "lock": m,
            "run2": rnd.randrange(50, 501, 10),
            "unlock": m,
            "sleep": rnd.randrange(5_000, 30_001, 500),
        })
        tasks[f"lk{i}"] = t

    if a.private_locks:
        for name, t in tasks.items():
            if "lock" in t:
                t["lock"] = t["unlock"] = f"own_{name}"
            for key in ("run", "run1"):
                if key in t and "lock" not in t:
                    items = list(t.items())
                    t.clear()
                    for k, v in items:
                        if k == key:
                            t["lock"] = f"own_{name}"
                            t[k] = v
                            t["unlock"] = f"own_{name}"
                        else:
                            t[k] = v

    doc = {
        "global": {
            "duration": a.duration,
            "default_policy": "SCHED_OTHER",
            "proxysched": {"cpus": a.cpus},
        },
        "tasks": tasks,
    }
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
