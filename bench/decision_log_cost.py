#!/usr/bin/env python3
"""What the decision log costs verdictd, measured over gRPC in one run.

verdictd serves policies/ pinned to one CPU (taskset), `verdict bench
--spin` drives it from another, closed loop, and rounds alternate between
verdictd without a decision log and with one (--audit-log), so that a
machine whose load drifts shifts both alike. Prints, per round and as
medians: decisions/s, and verdictd's CPU time per decision (all its threads,
from /proc, over the decisions its metrics counted). On a pinned core that
verdictd saturates the two agree; on a machine shared with other work the
CPU time per decision is the figure that stays meaningful, and its ratio is
the cost of the log in throughput. Also prints the bytes per record.
With --baseline BUILD, every round also runs that build's verdictd (say,
the previous commit's) without and with its log, for a before/after in the
same run.

    cmake --build build -j2 --target verdict verdictd
    python3 bench/decision_log_cost.py --build build [--rounds 4]
        [--duration 5] [--server-cpu 0] [--client-cpu 1] [--baseline DIR]
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def cpu_seconds(pid):
    """CPU time of every thread of `pid` so far (schedstat, nanoseconds)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e9


def metric(metrics_address, name):
    """The samples of `name` summed over their labels."""
    with urllib.request.urlopen(f"http://{metrics_address}/metrics") as r:
        body = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def start_verdictd(build, cpu, audit_log):
    args = ["taskset", "-c", str(cpu), os.path.join(build, "server/verdictd"),
            "--policies", "policies", "--listen", "127.0.0.1:0",
            "--metrics-listen", "127.0.0.1:0"]
    if audit_log:
        args += ["--audit-log", audit_log]
    process = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    metrics = None
    while time.time() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        found = re.search(r"metrics on http://(\S+)/metrics", line)
        if found:
            metrics = found.group(1)
        match = re.search(r"serving on (\S+)", line)
        if match and metrics:
            # Keep draining stderr so verdictd never blocks on it.
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, match.group(1), metrics
    process.kill()
    sys.exit("verdictd did not start")


def bench(build, cpu, address, duration, warmup, connections, inflight):
    out = subprocess.run(
        [os.path.join(build, "client/verdict"), "bench", "--server", address,
         "--duration", f"{duration}s", "--warmup", f"{warmup}s",
         "--connections", str(connections), "--inflight", str(inflight),
         "--cpus", str(cpu), "--spin", "--json"],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)["decisions_per_second"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--inflight", type=int, default=16)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--baseline", help="another build to compare")
    options = parser.parse_args()
    builds = {"": options.build}
    if options.baseline:
        builds["baseline "] = options.baseline

    work = tempfile.mkdtemp(prefix="verdict_decision_log_cost_")
    modes = [f"{name}{log}" for name in builds for log in ("off", "on")]
    rates = {mode: [] for mode in modes}
    cpu_us = {mode: [] for mode in modes}
    bytes_per_record = []
    try:
        for round_ in range(options.rounds):
            # Forwards, then backwards: each mode goes first half the time.
            for mode in (modes if round_ % 2 == 0 else modes[::-1]):
                log = os.path.join(work, f"decisions-{round_}.jsonl")
                build = builds[mode[:-3] if mode.endswith("off") else mode[:-2]]
                server, address, metrics = start_verdictd(
                    build, options.server_cpu,
                    log if mode.endswith("on") else None)
                try:
                    cpu_before = cpu_seconds(server.pid)
                    decided_before = metric(metrics, "verdict_decisions_total")
                    rate = bench(options.build, options.client_cpu, address,
                                 options.duration, options.warmup,
                                 options.connections, options.inflight)
                    cpu = cpu_seconds(server.pid) - cpu_before
                    decided = (metric(metrics, "verdict_decisions_total") -
                               decided_before)
                    dropped = metric(metrics, "verdict_audit_dropped_total")
                finally:
                    server.terminate()
                    server.wait(timeout=30)
                rates[mode].append(rate)
                cpu_us[mode].append(1e6 * cpu / max(decided, 1))
                line = (f"round {round_ + 1} {mode:>12}  {rate:8.0f} "
                        f"decisions/s  {cpu_us[mode][-1]:6.2f} us CPU each")
                if mode.endswith("on"):
                    size = os.path.getsize(log)
                    with open(log, "rb") as f:
                        records = sum(1 for _ in f)
                    bytes_per_record.append(size / max(records, 1))
                    line += (f"  ({records} records, {size / max(records, 1):.0f}"
                             f" B each, {dropped:.0f} dropped)")
                    os.remove(log)
                print(line, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name in builds:
        off = statistics.median(rates[name + "off"])
        on = statistics.median(rates[name + "on"])
        cpu_off = statistics.median(cpu_us[name + "off"])
        cpu_on = statistics.median(cpu_us[name + "on"])
        print(f"{name}medians without / with the log: {off:.0f} / {on:.0f} "
              f"decisions/s (with/without {on / off:.3f}); {cpu_off:.2f} / "
              f"{cpu_on:.2f} us of CPU per decision (without/with "
              f"{cpu_off / cpu_on:.3f}: the log costs "
              f"{100 * (1 - cpu_off / cpu_on):.1f}% of throughput)")
    print(f"{statistics.median(bytes_per_record):.0f} bytes per record")


if __name__ == "__main__":
    main()
