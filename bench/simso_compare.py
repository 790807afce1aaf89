#!/usr/bin/env python3
"""proxysched next to SimSo: the same implicit-deadline periodic task sets under global EDF
(SimSo's `simso.schedulers.EDF`) and SCHED_DEADLINE (proxysched: EDF + CBS, global through
push/pull), jobs simulated per second of CPU time, and deadline misses of both.

A benchmark script, not a test. SimSo 0.8.5 (and SimPy 2.3.1, numpy) is installed on first
use into a private virtualenv under the cache directory (default ~/.cache/proxysched-bench,
or $PROXYSCHED_BENCH_CACHE); nothing is installed anywhere else.

Task sets: for m CPUs and n tasks, UUniFast (fixed seed) splits a total utilisation of 0.6*m
(0.6*n when n < m: 64 CPUs and 20 tasks) into n utilisations u_i <= 1; periods are drawn from {5, 10, 20, 25, 40, 50, 100} ms; the
WCET C_i = round(u_i * T_i) in whole microseconds, at least 2 us (SCHED_DEADLINE needs a
runtime >= 1024 ns), deadline = period. Every job runs exactly its WCET. Both simulators get
the identical list of (C_i, T_i), all released at time 0.

  SimSo: cfg.duration in cycles (cycles_per_ms = 1e6, so 1 cycle = 1 ns), WCET and period
         in ms (floats with whole microseconds). Jobs = jobs released before the end;
         misses = jobs whose `exceeded_deadline` is set (aborted or late).
  proxysched: each task is {"policy": "SCHED_DEADLINE", "dl-runtime": C, "dl-period": T,
         "run": C, "timer": {"ref": "unique", "period": T, "mode": "absolute"}} (us), run
         with `--cpus m --duration D --metrics`; jobs = sum of `activations`, misses = sum of
         `deadline_misses` (an activation whose `run` ends after release + dl-deadline).
         Budgets are enforced at the tick (Linux's default) unless --hrtick-dl is given; the
         runtime equals the work, so the CBS never throttles a job that ran exactly C.

What is timed: for SimSo, `Model(cfg).run_model()` only (configuration, task generation and
the import are not timed; stdout, where SimSo 0.8.5's EDF prints a debug line per decision,
goes to /dev/null); for proxysched, the whole `proxysched run ... --quiet --metrics` process
(CPU time, user+sys: parsing, simulation, metrics), which counts against it. A proxysched run
of a small set takes 10-30 ms, where one scheduling hiccup of a shared machine shows as tens
of percent, so it is run --repeat times (default 5) and the least CPU time counts; every
repetition must give the same jobs and misses. SimSo runs once (seconds to a minute each).

The two scopes differ: SimSo's excludes its start-up, ours includes exec, parsing and the
metrics file (about 2 ms, a fifth of a 4-CPU/20-task run). So a second ratio puts proxysched
in SimSo's scope: the same command with 1 us of simulated time is run as often (start-up,
parsing, the tasks' creation, the metrics file), and its least CPU time and its few jobs are
subtracted. Both ratios are printed; `ratio` is the whole process, `sim ratio` the
simulation alone, like SimSo's.

The simulated duration per (m, n) is chosen so that one SimSo run stays around a minute
(SimSo manages ~2-5 k jobs/s); proxysched simulates the same duration. --scale multiplies
every duration.

Usage:
    bench/simso_compare.py                       # all (m, n) pairs
    bench/simso_compare.py --pairs 4x20,16x200   # some of them
    bench/simso_compare.py --binary target/release/proxysched --scale 0.2
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SIMSO = "simso==0.8.5"
PERIODS_MS = [5, 10, 20, 25, 40, 50, 100]
PAIRS = [(m, n) for m in (4, 16, 64) for n in (20, 200, 1000)]


# Simulated milliseconds per (m, n), so that one SimSo run takes up to about a minute here
# (SimSo's cost per job grows with n: ~5.4 k jobs/s at 4/20, ~2.4 k at 4/200, ~600 at 4/1000,
# where 1 s simulated is ~64 k jobs and took 108 s).
DURATION_MS = {
    (4, 20): 10_000, (4, 200): 10_000, (4, 1000): 500,
    (16, 20): 10_000, (16, 200): 5_000, (16, 1000): 500,
    (64, 20): 10_000, (64, 200): 3_000, (64, 1000): 500,
}


def simulated_ms(m, n):
    return DURATION_MS.get((m, n), 1_000)


def cache_dir():
    d = os.environ.get("PROXYSCHED_BENCH_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "proxysched-bench")
    os.makedirs(d, exist_ok=True)
    return d


def venv_python():
    venv = os.path.join(cache_dir(), "simso-venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        print(f"installing {SIMSO} into {venv} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", SIMSO], check=True)
    return py


def uunifast(rnd, n, total):
    """Bini & Buttazzo's UUniFast, redrawn until every utilisation is <= 1."""
    while True:
        us, left = [], total
        for i in range(1, n):
            nxt = left * rnd.random() ** (1.0 / (n - i))
            us.append(left - nxt)
            left = nxt
        us.append(left)
        if all(u <= 1.0 for u in us):
            return us


def total_utilisation(m, n):
    """0.6 per CPU; with fewer tasks than that needs (64 CPUs, 20 tasks: 38.4 > 20), 0.6 per
    task instead, since no task can use more than one CPU."""
    return 0.6 * min(m, n)


def task_set(m, n, seed):
    rnd = random.Random(seed * 1_000_003 + m * 1009 + n)
    tasks = []
    for u in uunifast(rnd, n, total_utilisation(m, n)):
        t_us = rnd.choice(PERIODS_MS) * 1000
        c_us = max(2, round(u * t_us))
        tasks.append((c_us, t_us))
    return tasks


SIMSO_DRIVER = r'''
import json, os, sys, time
spec = json.load(open(sys.argv[1]))
from simso.core import Model
from simso.configuration import Configuration
cfg = Configuration()
cfg.duration = spec["duration_ms"] * cfg.cycles_per_ms
for i, (c_us, t_us) in enumerate(spec["tasks"]):
    cfg.add_task(name="T%d" % i, identifier=i + 1, period=t_us / 1000.0,
                 activation_date=0, wcet=c_us / 1000.0, deadline=t_us / 1000.0)
for c in range(spec["cpus"]):
    cfg.add_processor(name="CPU %d" % c, identifier=c + 1)
cfg.scheduler_info.clas = "simso.schedulers.EDF"
cfg.check_all()
model = Model(cfg)
devnull = open(os.devnull, "w")
real_stdout, sys.stdout = sys.stdout, devnull
t0 = time.process_time(); w0 = time.perf_counter()
model.run_model()
cpu = time.process_time() - t0; wall = time.perf_counter() - w0
sys.stdout = real_stdout
jobs = misses = 0
for task in model.results.tasks.values():
    for job in task.jobs:
        jobs += 1
        if job.exceeded_deadline:
            misses += 1
print(json.dumps({"cpu_s": cpu, "wall_s": wall, "jobs": jobs, "misses": misses}))
'''


def run_simso(py, m, tasks, duration_ms, tmp):
    spec = os.path.join(tmp, "simso.json")
    with open(spec, "w") as f:
        json.dump({"cpus": m, "duration_ms": duration_ms, "tasks": tasks}, f)
    driver = os.path.join(tmp, "simso_driver.py")
    with open(driver, "w") as f:
        f.write(SIMSO_DRIVER)
    out = subprocess.run([py, driver, spec], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def rtapp(m, tasks, duration_ms):
    # rt-app's duration is whole seconds; --duration on the command line sets the exact one.
    doc = {"global": {"duration": max(1, int(-(-duration_ms // 1000))), "proxysched": {"cpus": m}},
           "tasks": {}}
    for i, (c, t) in enumerate(tasks):
        doc["tasks"][f"T{i}"] = {
            "policy": "SCHED_DEADLINE", "dl-runtime": c, "dl-period": t, "run": c,
            "timer": {"ref": "unique", "period": t, "mode": "absolute"}}
    return doc


def run_proxysched(binary, m, tasks, duration_ms, tmp, extra):
    wl = os.path.join(tmp, "ps.json")
    with open(wl, "w") as f:
        json.dump(rtapp(m, tasks, duration_ms), f)
    metrics = os.path.join(tmp, "ps.m.json")
    cmd = [binary, "run", wl, "--cpus", str(m), "--duration", f"{duration_ms / 1000:.6f}",
           "--quiet", "--metrics", metrics] + extra
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"proxysched failed (status {status}): {' '.join(cmd)}")
    with open(metrics) as f:
        doc = json.load(f)
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall,
            "jobs": sum(t["activations"] for t in doc["tasks"]),
            "misses": sum(t["deadline_misses"] for t in doc["tasks"]),
            "events": doc["events"]}


def build(binary):
    if binary:
        return binary
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "proxysched"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "proxysched")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", help="proxysched binary (default: build target/release)")
    ap.add_argument("--pairs", help="e.g. 4x20,16x200 (default: m in 4,16,64 x n in 20,200,1000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every simulated duration")
    ap.add_argument("--hrtick-dl", action="store_true", help="pass --hrtick-dl to proxysched")
    ap.add_argument("--json", help="also write the results as JSON here")
    ap.add_argument("--repeat", type=int, default=5,
                    help="proxysched runs per set; the least CPU time counts (default 5)")
    a = ap.parse_args()
    pairs = PAIRS if not a.pairs else [tuple(int(x) for x in p.split("x"))
                                      for p in a.pairs.split(",")]
    binary = build(a.binary)
    py = venv_python()
    extra = ["--hrtick-dl"] if a.hrtick_dl else []

    print(f"{'m':>3} {'n':>5} {'sim s':>6} | {'SimSo jobs':>10} {'cpu s':>7} {'jobs/s':>9} "
          f"{'miss':>5} | {'proxysched jobs':>15} {'cpu s':>7} {'jobs/s':>11} {'miss':>5} | "
          f"{'ratio':>7} | {'start cpu s':>11} {'sim ratio':>9}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="proxysched-simso-") as tmp:
        for m, n in pairs:
            tasks = task_set(m, n, a.seed)
            dur = max(100, int(simulated_ms(m, n) * a.scale))
            s = run_simso(py, m, tasks, dur, tmp)
            runs = [run_proxysched(binary, m, tasks, dur, tmp, extra)
                    for _ in range(max(1, a.repeat))]
            if len({(r["jobs"], r["misses"], r["events"]) for r in runs}) != 1:
                sys.exit(f"proxysched gave different results for the same set ({m}x{n})")
            p = min(runs, key=lambda r: r["cpu_s"])
            # The same process with (almost) nothing simulated: what SimSo's timing leaves out.
            empty = min((run_proxysched(binary, m, tasks, 0.001, tmp, extra)
                         for _ in range(max(1, a.repeat))), key=lambda r: r["cpu_s"])
            s_rate = s["jobs"] / s["cpu_s"]
            p_rate = p["jobs"] / p["cpu_s"] if p["cpu_s"] > 0 else float("inf")
            sim_cpu = p["cpu_s"] - empty["cpu_s"]
            sim_rate = (p["jobs"] - empty["jobs"]) / sim_cpu if sim_cpu > 0 else float("inf")
            row = {"m": m, "n": n, "simulated_s": dur / 1000, "simso": s, "proxysched": p,
                   "proxysched_empty": empty,
                   "simso_jobs_per_s": s_rate, "proxysched_jobs_per_s": p_rate,
                   "ratio": p_rate / s_rate,
                   "proxysched_sim_jobs_per_s": sim_rate, "sim_ratio": sim_rate / s_rate}
            rows.append(row)
            print(f"{m:>3} {n:>5} {dur / 1000:>6.2f} | {s['jobs']:>10} {s['cpu_s']:>7.2f} "
                  f"{s_rate:>9.0f} {s['misses']:>5} | {p['jobs']:>15} {p['cpu_s']:>7.3f} "
                  f"{p_rate:>11.0f} {p['misses']:>5} | {row['ratio']:>6.0f}x | "
                  f"{empty['cpu_s']:>11.4f} {row['sim_ratio']:>8.0f}x", flush=True)
    print("jobs/s: jobs released in the simulated time per second of CPU time; SimSo: "
          "run_model() only; proxysched: the whole process (ratio), or the whole process less "
          "the same run with 1 us simulated (start cpu s; sim ratio).")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
