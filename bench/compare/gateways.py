#!/usr/bin/env python3
"""Check vs ext_authz vs AuthZEN: one verdictd, one workload, three APIs.

Starts one verdictd with the shipped policies (policies/) serving
verdict.v1.Authorizer/Check and Envoy's Authorization/Check on its gRPC port
and, with an `http` section, the AuthZEN evaluation API, pinned to CPU 0
(taskset). The workload is `verdict bench`'s built-in MCP mix, sent as each
API carries it (client/bench/gateway_requests.h): Authorizer.Check with an
asserted subject, ext_authz as an MCP gateway sends it (Mcp-Method and
Mcp-Name headers, the JSON-RPC body, the SPIFFE principal; the subject's
roles and the context cannot be expressed and are dropped), and AuthZEN
(POST /access/v1/evaluation, the subject asserted). For each API:

  1. sends every request of the mix once (`verdict bench --decisions`);
  2. drives a closed loop from CPU 1 for the saturation throughput (p50/p99
     under saturation), then an open loop at half that rate for p50/p99
     (latency from each call's intended send time); --rounds times,
     interleaved, keeping the median of each figure.

Reports decisions/s and p50/p99 for each API and the ratios to Check. The
gRPC APIs get --connections connections x --inflight calls; AuthZEN has one
request outstanding per connection, so it gets --connections x --inflight
connections: the same number of requests outstanding. Everything listens on
127.0.0.1 and every process it starts is stopped on exit. Exits non-zero
if verdictd does not start or a run fails; an API verdictd does not serve is
reported missing.

usage: bench/compare/gateways.py [--build build-bench] [--duration 5]
                                 [--rounds 3] [--json results.json]
"""

import argparse
import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APIS = ["verdict", "ext_authz", "authzen"]
LABELS = {"verdict": "Check", "ext_authz": "ext_authz", "authzen": "AuthZEN"}

PROCESSES = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, deadline_s=60):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cleanup():
    for process in PROCESSES:
        stop(process)


def start_verdictd(verdictd, work):
    grpc_port, http_port = free_port(), free_port()
    config = os.path.join(work, "verdictd.yaml")
    with open(config, "w") as f:
        f.write(f"listen: 127.0.0.1:{grpc_port}\n"
                f"metrics_listen: 127.0.0.1:{free_port()}\n"
                f"policies: {{dir: {os.path.join(ROOT, 'policies')}, "
                "watch: false}\n"
                f"http: {{listen: 127.0.0.1:{http_port}, threads: 32}}\n")
    log_path = os.path.join(work, "verdictd.log")
    log = open(log_path, "w")
    process = subprocess.Popen(["taskset", "-c", "0", verdictd, "--config",
                                config], stdout=log, stderr=subprocess.STDOUT,
                               cwd=work)
    PROCESSES.append(process)
    if not wait_for_port(grpc_port, process):
        stop(process)
        sys.exit(f"gateways: verdictd did not serve on port {grpc_port}; "
                 f"see {log_path}:\n" + open(log_path).read()[-3000:])
    serves_http = wait_for_port(http_port, process, deadline_s=5)
    return process, f"127.0.0.1:{grpc_port}", (
        f"127.0.0.1:{http_port}" if serves_http else None)


def bench(verdict_cli, address, api, extra):
    # The generator has CPU 1 to itself; the gRPC APIs spin there (no
    # wake-up latency of the generator's own), AuthZEN's threads cannot.
    argv = [verdict_cli, "bench", "--server", address, "--api", api,
            "--cpus", "1", "--json"] + (["--spin"] if api != "authzen" else []) + extra
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if done.returncode == 2 or not done.stdout.strip():
        sys.exit(f"gateways: {' '.join(argv)} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def decisions(verdict_cli, address, api):
    done = subprocess.run([verdict_cli, "bench", "--server", address, "--api",
                           api, "--decisions"],
                          capture_output=True, text=True, timeout=600)
    return done.stdout.splitlines()


def load_flags(api, args):
    if api == "authzen":
        return ["--connections", str(args.connections * args.inflight)]
    return ["--connections", str(args.connections), "--inflight",
            str(args.inflight)]


def measure(api, verdict_cli, address, args):
    window = ["--duration", f"{args.duration}s", "--warmup", f"{args.warmup}s"]
    saturated = bench(verdict_cli, address, api, load_flags(api, args) + window)
    rate = saturated["decisions_per_second"] / 2
    open_loop = (["--connections", str(args.connections * args.inflight)]
                 if api == "authzen" else
                 ["--connections", str(args.connections), "--inflight", "1000"])
    half = bench(verdict_cli, address, api,
                 open_loop + ["--rate", f"{rate:.0f}"] + window)
    print(f"  {LABELS[api]:9s} saturated {saturated['decisions_per_second']:>9.0f}/s "
          f"p50 {saturated['latency_us']['p50']:>8.1f}us p99 "
          f"{saturated['latency_us']['p99']:>8.1f}us errors {saturated['errors']}; "
          f"at {rate:.0f}/s p50 {half['latency_us']['p50']:.1f}us "
          f"p99 {half['latency_us']['p99']:.1f}us errors {half['errors']} "
          f"not sent {half['not_sent']}", flush=True)
    return {"saturated": saturated, "half": half}


def median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def summarize(rounds):
    """Each figure's median over the rounds, taken separately."""
    def pick(run, field):
        return [r[run]["latency_us"][field] if field in ("p50", "p99")
                else r[run][field] for r in rounds]
    return {
        "saturated_per_second": median(pick("saturated", "decisions_per_second")),
        "saturated_p50_us": median(pick("saturated", "p50")),
        "saturated_p99_us": median(pick("saturated", "p99")),
        "half_rate": median(pick("half", "rate")),
        "half_p50_us": median(pick("half", "p50")),
        "half_p99_us": median(pick("half", "p99")),
        "errors": sum(r[run]["errors"] for r in rounds
                      for run in ("saturated", "half")),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--inflight", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3,
                        help="measurements per API; the median is kept")
    parser.add_argument("--json", help="write every result here")
    args = parser.parse_args()

    build = os.path.abspath(args.build)
    verdictd = os.path.join(build, "server", "verdictd")
    verdict_cli = os.path.join(build, "client", "verdict")
    for binary in (verdictd, verdict_cli):
        if not os.access(binary, os.X_OK):
            sys.exit(f"gateways: {binary} is missing; build the verdict and "
                     "verdictd targets first")
    if os.cpu_count() < 2:
        print("gateways: fewer than 2 CPUs; server and load share one",
              file=sys.stderr)
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))

    results = {"loadavg_before": os.getloadavg(), "apis": {}}
    print(f"load average {results['loadavg_before'][0]:.2f} on "
          f"{os.cpu_count()} CPUs", flush=True)
    work = tempfile.mkdtemp(prefix="verdict-gateways-")
    server, grpc_address, http_address = start_verdictd(verdictd, work)
    addresses = {"verdict": grpc_address, "ext_authz": grpc_address,
                 "authzen": http_address}
    apis = [api for api in APIS if addresses[api] is not None]
    if http_address is None:
        print("gateways: verdictd does not serve AuthZEN; its row is missing",
              file=sys.stderr)
    for api in apis:
        lines = decisions(verdict_cli, addresses[api], api)
        allows = lines.count("allow")
        errors = sum(1 for line in lines if line.startswith("error"))
        print(f"  {LABELS[api]:9s} mix of {len(lines)}: {allows} allow, "
              f"{len(lines) - allows - errors} deny, {errors} errors", flush=True)
        results["apis"][api] = {"decisions": lines}

    rounds = {api: [] for api in apis}
    for _ in range(args.rounds):
        for api in apis:
            rounds[api].append(measure(api, verdict_cli, addresses[api], args))
    stop(server)

    print(f"\n{'API':9s} {'decisions/s':>12s} {'p50 us':>8s} {'p99 us':>8s} "
          f"{'at half rate p50':>17s} {'p99':>8s} {'x Check':>8s}")
    base = summarize(rounds["verdict"])
    for api in apis:
        summary = summarize(rounds[api])
        summary["ratio_to_check"] = (summary["saturated_per_second"] /
                                     max(1.0, base["saturated_per_second"]))
        results["apis"][api].update(summary)
        results["apis"][api]["rounds"] = rounds[api]
        print(f"{LABELS[api]:9s} {summary['saturated_per_second']:>12.0f} "
              f"{summary['saturated_p50_us']:>8.1f} "
              f"{summary['saturated_p99_us']:>8.1f} "
              f"{summary['half_p50_us']:>17.1f} {summary['half_p99_us']:>8.1f} "
              f"{summary['ratio_to_check']:>8.2f}")
    results["loadavg_after"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
