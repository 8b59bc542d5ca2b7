#!/usr/bin/env python3
"""verdictd on jemalloc against the same server on glibc's allocator.

For each allocator, in alternating rounds of one run: throughput (closed
loop, `verdict bench --spin`, server pinned to CPU 0 and generator to CPU
1), and in the first rounds a burst of calls in flight (an honest but slow client: many connections with
thousands of calls outstanding each) and verdictd's VmRSS before, at the
peak, and 1 s, 5 s and 15 s after. Prints one JSON object; the figures and
how they were taken are in bench/README.md.

    cmake --build build-bench -j2 --target verdictd verdictd_glibc verdict
    python3 bench/allocator/allocators.py --build build-bench
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def start(binary, policies):
    config = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    config.write(f"policies: {{dir: {policies}, watch: false}}\n")
    config.close()
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(
        ["taskset", "-c", "0", binary, "--config", config.name,
         "--listen", "127.0.0.1:0", "--metrics-listen", ""],
        stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        log.seek(0)
        found = re.search(r"serving on (\S+)", log.read())
        if found:
            return process, found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    log.seek(0)
    sys.exit(f"{binary} did not start:\n{log.read()}")


def bench(verdict, address, args):
    out = subprocess.run(
        [verdict, "bench", "--server", address, "--cpus", "1", "--json"] + args,
        capture_output=True, text=True, check=False)
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        sys.exit(f"verdict bench failed: {out.stdout}{out.stderr}")


def burst(verdict, process, address, connections, inflight):
    before = rss_mib(process.pid)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mib(process.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    report = bench(verdict, address, ["--connections", str(connections),
                                      "--inflight", str(inflight),
                                      "--duration", "3s", "--warmup", "0s"])
    done.set()
    sampler.join()
    ended = time.time()
    after = {}
    for mark in (1, 5, 15):
        time.sleep(max(0.0, ended + mark - time.time()))
        after[f"{mark}s"] = round(rss_mib(process.pid), 1)
    return {"before": round(before, 1), "peak": round(peak[0], 1),
            "after": after, "errors": report.get("errors", 0)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--policies", default=os.path.join(ROOT, "policies"))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--burst-rounds", type=int, default=2,
                        help="the first rounds also measure a burst")
    parser.add_argument("--duration", default="3s")
    parser.add_argument("--burst-connections", type=int, default=8)
    parser.add_argument("--burst-inflight", type=int, default=1700)
    args = parser.parse_args()
    verdict = os.path.join(args.build, "client", "verdict")
    binaries = {"jemalloc": os.path.join(args.build, "server", "verdictd"),
                "glibc": os.path.join(args.build, "server", "verdictd_glibc")}
    results = {name: {"throughput": [], "bursts": []} for name in binaries}
    for round_index in range(args.rounds):
        for name, binary in binaries.items():
            process, address = start(binary, args.policies)
            try:
                report = bench(verdict, address,
                               ["--connections", "4", "--inflight", "16",
                                "--spin", "--duration", args.duration,
                                "--warmup", "1s"])
                results[name]["throughput"].append(
                    round(report["decisions_per_second"]))
                if round_index < args.burst_rounds:
                    results[name]["bursts"].append(
                        burst(verdict, process, address,
                              args.burst_connections, args.burst_inflight))
            finally:
                process.terminate()
                process.wait()
    for name in binaries:
        results[name]["median_throughput"] = statistics.median(
            results[name]["throughput"])
    results["throughput_ratio_jemalloc_to_glibc"] = round(
        results["jemalloc"]["median_throughput"] /
        results["glibc"]["median_throughput"], 3)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
