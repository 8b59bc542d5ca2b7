#!/usr/bin/env python3
"""Verdict vs Cerbos: identical decisions, then throughput and latency.

Installs Cerbos from the npm registry (@cerbos/cerbos-linux-x64) into a cache
directory, generates an MCP workload (servers, tools, team roles, CEL
conditions; the shape of bench/workload.cc) written both as Verdict policies
and as equivalent Cerbos resource policies, and for each scale:

  1. starts verdictd and Cerbos, both pinned to CPU 0 (taskset);
  2. sends every request of the mix once to each (`verdict bench
     --decisions`) and compares the decisions;
  3. drives each closed loop from CPU 1 to find its saturation throughput,
     then open loop at half that rate for p50/p99 (latency from each call's
     intended send time); --rounds times, interleaved, keeping the median.

Fails (exit 1) if the two PDPs disagree on any request; exits 2 if Cerbos
cannot be installed or a server does not start. Everything listens on
127.0.0.1 and every process it starts is stopped on exit.

usage: bench/compare/compare.py [--build build-bench] [--duration 5]
                                [--rounds 3] [--scales 1,10,100]
                                [--json results.json]
"""

import argparse
import atexit
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Workload shape (bench/workload.cc): 10 rules per policy, one policy per
# (server, team), 4 teams per server, 24 tools per server.
RULES_PER_POLICY = 10
POLICIES_PER_SERVER = 4
TOOLS_PER_SERVER = 24
BASE_RULES = 100
VERBS = ["get", "search", "list", "update", "delete", "export"]
NOUNS = ["contact", "deal", "ticket", "invoice"]
ENVIRONMENTS = ["dev", "staging", "prod"]
ACTIONS = {"tools/call": "call", "tools/list": "list"}

# (Verdict condition, the same condition in Cerbos's CEL). Cerbos sees the
# subject as the principal and the tool's arguments and the context as
# resource attributes; JSON numbers are doubles there, hence the 2.0 literals.
P = "request.principal"
R = "request.resource.attr"
CONDITIONS = [
    ('context.environment in ["dev", "staging"]',
     f'{R}.context.environment in ["dev", "staging"]'),
    ("subject.attributes.clearance >= 2", f"{P}.attr.clearance >= 2.0"),
    ('"writer" in subject.roles && context.environment != "prod"',
     f'"writer" in {P}.roles && {R}.context.environment != "prod"'),
    ("tool.arguments.limit <= 1000", f"{R}.arguments.limit <= 1000.0"),
    ("context.hour >= 9 && context.hour < 18",
     f"{R}.context.hour >= 9.0 && {R}.context.hour < 18.0"),
    ('context.intent.startsWith("report") || subject.attributes.clearance > 2',
     f'{R}.context.intent.startsWith("report") || {P}.attr.clearance > 2.0'),
]

PROCESSES = []


def tool_name(index):
    return f"{VERBS[index % len(VERBS)]}_{NOUNS[(index // len(VERBS)) % 4]}"


def role(server, team):
    return f"team{team}-s{server}"


def generate(rules, request_count, seed=1):
    """Returns (verdict_yaml, {server: cerbos_yaml}, verdict_lines,
    cerbos_lines, rule_count)."""
    rng = random.Random(seed)
    policies = max(1, rules // RULES_PER_POLICY)
    servers = max(1, policies // POLICIES_PER_SERVER)
    all_tools = [tool_name(i) for i in range(TOOLS_PER_SERVER)]
    verdict = []
    cerbos_rules = {s: [] for s in range(servers)}
    for p in range(policies):
        server, team = p % servers, p // servers
        verdict.append(f"---\npolicy: s{server}-team{team}\n"
                       f"roles: [{role(server, team)}]\nrules:\n")
        for r in range(RULES_PER_POLICY):
            deny = rng.randrange(10) < 3
            tool = tool_name(rng.randrange(TOOLS_PER_SERVER))
            if rng.randrange(10) < 3:  # a verb prefix glob, e.g. get_*
                prefix = tool[:tool.index("_") + 1]
                v_tools = f'["{prefix}*"]'
                tools = [t for t in all_tools if t.startswith(prefix)]
            else:
                other = tool_name(rng.randrange(TOOLS_PER_SERVER))
                v_tools = f"[{tool}, {other}]"
                tools = sorted({tool, other})
            actions = (["tools/call"] if rng.randrange(2)
                       else ["tools/call", "tools/list"])
            v_cond, c_cond = CONDITIONS[rng.randrange(len(CONDITIONS))]
            verdict.append(
                f"  - id: r{r}\n    effect: {'deny' if deny else 'allow'}\n"
                f"    servers: [srv{server}]\n    tools: {v_tools}\n"
                f"    actions: [{', '.join(actions)}]\n    when: '{v_cond}'\n")
            cerbos_actions = [f"{ACTIONS[a]}:{t}" for a in actions for t in tools]
            cerbos_rules[server].append(
                f"    - name: t{team}-r{r}\n"
                f"      actions: {json.dumps(cerbos_actions)}\n"
                f"      effect: {'EFFECT_DENY' if deny else 'EFFECT_ALLOW'}\n"
                f"      roles: [{json.dumps(role(server, team))}]\n"
                f"      condition:\n        match:\n"
                f"          expr: {json.dumps(c_cond)}\n")
    cerbos = {
        s: ("apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n"
            f"  version: default\n  resource: srv{s}\n  rules:\n" +
            "".join(rs))
        for s, rs in cerbos_rules.items()
    }
    teams = max(1, policies // servers)
    verdict_lines, cerbos_lines = [], []
    for i in range(request_count):
        server = rng.randrange(servers)
        team = rng.randrange(teams)
        tool = tool_name(rng.randrange(TOOLS_PER_SERVER))
        subject = f"spiffe://corp.example/agent/{rng.randrange(1000)}"
        roles = [role(server, team)] + (["writer"] if rng.randrange(2) else [])
        clearance = rng.randrange(4)
        action = "tools/call" if rng.randrange(4) else "tools/list"
        arguments = {"limit": rng.randrange(2000)}
        context = {"environment": ENVIRONMENTS[rng.randrange(3)],
                   "hour": rng.randrange(24),
                   "intent": "report weekly" if rng.randrange(2) else "cleanup"}
        verdict_lines.append(json.dumps({
            "subject": {"id": subject, "roles": roles,
                        "attributes": {"clearance": clearance}},
            "tool": {"server": f"srv{server}", "name": tool,
                     "arguments": arguments},
            "action": action, "context": context}))
        cerbos_lines.append(json.dumps({
            "requestId": str(i),
            "principal": {"id": subject, "roles": roles,
                          "attr": {"clearance": clearance}},
            "resources": [{
                "actions": [f"{ACTIONS[action]}:{tool}"],
                "resource": {"kind": f"srv{server}", "id": "call",
                             "attr": {"arguments": arguments,
                                      "context": context}}}]}))
    return "".join(verdict), cerbos, verdict_lines, cerbos_lines, policies * RULES_PER_POLICY


def install_cerbos(cache):
    binary = os.path.join(cache, "node_modules", "@cerbos", "cerbos-linux-x64",
                          "cerbos-linux-x64")
    if os.path.exists(binary):
        return binary
    os.makedirs(cache, exist_ok=True)
    print(f"installing @cerbos/cerbos-linux-x64 from the npm registry into {cache}",
          flush=True)
    done = subprocess.run(
        ["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix",
         cache, "@cerbos/cerbos-linux-x64"],
        capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not os.path.exists(binary):
        sys.exit("compare: the npm registry refused @cerbos/cerbos-linux-x64 "
                 f"(npm exit {done.returncode}):\n{done.stderr[-2000:]}")
    return binary


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


def start(argv, log_path, port):
    log = open(log_path, "w")
    process = subprocess.Popen(["taskset", "-c", "0"] + argv, stdout=log,
                               stderr=subprocess.STDOUT, cwd=os.path.dirname(log_path),
                               env=dict(os.environ, CERBOS_NO_TELEMETRY="1"))
    PROCESSES.append(process)
    if not wait_for_port(port, process):
        stop(process)
        sys.exit(f"compare: {argv[0]} did not serve on port {port}; see {log_path}:\n"
                 + open(log_path).read()[-3000:])
    return process


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


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        match = re.search(r"VmRSS:\s+(\d+) kB", status.read())
    return int(match.group(1)) if match else 0


def cpu_seconds(pid):
    """User plus system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(verdict_cli, address, api, requests, extra):
    # The generator has CPU 1 to itself, so it spins: no wake-up latency of
    # its own in the figures (verdict bench --spin).
    argv = [verdict_cli, "bench", "--server", address, "--api", api,
            "--requests", requests, "--cpus", "1", "--spin", "--json"] + extra
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if done.returncode == 2 or not done.stdout.strip():
        sys.exit(f"compare: {' '.join(argv)} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def decisions(verdict_cli, address, api, requests):
    done = subprocess.run([verdict_cli, "bench", "--server", address, "--api",
                           api, "--requests", requests, "--decisions"],
                          capture_output=True, text=True, timeout=600)
    return done.stdout.splitlines()


def measure(name, verdict_cli, server, address, api, requests, args):
    load = ["--connections", str(args.connections), "--inflight",
            str(args.inflight), "--duration", f"{args.duration}s", "--warmup",
            f"{args.warmup}s"]
    saturated = bench(verdict_cli, address, api, requests, load)
    rate = saturated["decisions_per_second"] / 2
    cpu_before = cpu_seconds(server.pid)
    half = bench(verdict_cli, address, api, requests,
                 ["--connections", str(args.connections), "--inflight", "1000",
                  "--rate", f"{rate:.0f}", "--duration", f"{args.duration}s",
                  "--warmup", f"{args.warmup}s"])
    # The server's busy share of its core during the half-rate run.
    half["server_cpu"] = ((cpu_seconds(server.pid) - cpu_before) /
                          (args.duration + args.warmup))
    print(f"  {name:7s} saturated {saturated['decisions_per_second']:>9.0f}/s "
          f"p50 {saturated['latency_us']['p50']:>8.1f}us p99 "
          f"{saturated['latency_us']['p99']:>8.1f}us errors {saturated['errors']}; "
          f"at {rate:.0f}/s p50 {half['latency_us']['p50']:.1f}us "
          f"p99 {half['latency_us']['p99']:.1f}us errors {half['errors']} "
          f"server CPU {100 * half['server_cpu']:.0f}%",
          flush=True)
    return {"saturated": saturated, "half": half}


def median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def summarize(rounds):
    """Each figure's median over the rounds, taken separately: one round
    disturbed by load from elsewhere on the machine moves no figure."""
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
        "half_server_cpu": median(pick("half", "server_cpu")),
        "errors": sum(r[run]["errors"] for r in rounds
                      for run in ("saturated", "half")),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    parser.add_argument("--cache", default=os.path.expanduser(
        "~/.cache/verdict-bench/cerbos"))
    parser.add_argument("--scales", default="1,10,100")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--inflight", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3,
                        help="measurements per PDP and scale; the median is kept")
    parser.add_argument("--json", help="write every result here")
    args = parser.parse_args()

    build = os.path.abspath(args.build)  # the PDPs run in their own directories
    verdictd = os.path.join(build, "server", "verdictd")
    verdict_cli = os.path.join(build, "client", "verdict")
    for binary in (verdictd, verdict_cli):
        if not os.access(binary, os.X_OK):
            sys.exit(f"compare: {binary} is missing; build the verdict and "
                     "verdictd targets first")
    if os.cpu_count() < 2:
        print("compare: fewer than 2 CPUs; server and load share one",
              file=sys.stderr)
    cerbos = install_cerbos(args.cache)
    version = subprocess.run([cerbos, "--version"], capture_output=True,
                             text=True).stdout.split("\n")[0]
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))

    results = {"cerbos_version": version, "scales": [],
               "loadavg_before": os.getloadavg()}
    print(f"cerbos {version}; load average {results['loadavg_before'][0]:.2f} "
          f"on {os.cpu_count()} CPUs", flush=True)
    work = tempfile.mkdtemp(prefix="verdict-compare-")
    try:
        for scale in [int(s) for s in args.scales.split(",")]:
            rules = BASE_RULES * scale
            v_yaml, c_policies, v_lines, c_lines, count = generate(
                rules, args.requests)
            d = os.path.join(work, f"x{scale}")
            os.makedirs(os.path.join(d, "verdict"))
            os.makedirs(os.path.join(d, "cerbos"))
            with open(os.path.join(d, "verdict", "bench.yaml"), "w") as f:
                f.write(v_yaml)
            for server, text in c_policies.items():
                with open(os.path.join(d, "cerbos", f"srv{server}.yaml"), "w") as f:
                    f.write(text)
            v_requests = os.path.join(d, "verdict.jsonl")
            c_requests = os.path.join(d, "cerbos.jsonl")
            with open(v_requests, "w") as f:
                f.write("\n".join(v_lines) + "\n")
            with open(c_requests, "w") as f:
                f.write("\n".join(c_lines) + "\n")
            print(f"scale x{scale}: {count} rules, {len(c_policies)} servers, "
                  f"{len(v_lines)} requests", flush=True)

            # Both servers stay up, pinned to CPU 0, and are driven one after
            # the other; rounds interleave them so that load from elsewhere on
            # the machine falls on both alike.
            v_port = free_port()
            v_server = start([verdictd, "--listen", f"127.0.0.1:{v_port}",
                              "--metrics-listen", f"127.0.0.1:{free_port()}",
                              "--policies", os.path.join(d, "verdict")],
                             os.path.join(d, "verdictd.log"), v_port)
            rss_idle = rss_kib(v_server.pid)
            c_port = free_port()
            config = os.path.join(d, "cerbos.yaml")
            with open(config, "w") as f:
                f.write(f"server:\n  httpListenAddr: 127.0.0.1:{free_port()}\n"
                        f"  grpcListenAddr: 127.0.0.1:{c_port}\n"
                        f"storage:\n  driver: disk\n  disk:\n"
                        f"    directory: {os.path.join(d, 'cerbos')}\n"
                        f"    watchForChanges: false\n"
                        f"audit:\n  enabled: false\n"
                        f"telemetry:\n  disabled: true\n")
            c_server = start([cerbos, "server", f"--config={config}",
                              "--log-level=error"],
                             os.path.join(d, "cerbos.log"), c_port)
            v_address, c_address = f"127.0.0.1:{v_port}", f"127.0.0.1:{c_port}"

            v_decisions = decisions(verdict_cli, v_address, "verdict", v_requests)
            c_decisions = decisions(verdict_cli, c_address, "cerbos", c_requests)
            if len(v_decisions) != len(v_lines) or v_decisions != c_decisions:
                bad = [i for i in range(len(v_lines))
                       if i >= len(v_decisions) or i >= len(c_decisions)
                       or v_decisions[i] != c_decisions[i]]
                print(f"compare: decisions differ on {len(bad)} of {len(v_lines)} "
                      "requests; first ones:", file=sys.stderr)
                for i in bad[:5]:
                    print(f"  verdict {v_decisions[i] if i < len(v_decisions) else '-'}"
                          f" cerbos {c_decisions[i] if i < len(c_decisions) else '-'}\n"
                          f"    {v_lines[i]}", file=sys.stderr)
                return 1
            allows = v_decisions.count("allow")
            print(f"  decisions identical on {len(v_lines)} requests "
                  f"({allows} allow, {len(v_lines) - allows} deny)", flush=True)

            v_rounds, c_rounds = [], []
            for _ in range(args.rounds):
                v_rounds.append(measure("verdict", verdict_cli, v_server,
                                        v_address, "verdict", v_requests, args))
                c_rounds.append(measure("cerbos", verdict_cli, c_server,
                                        c_address, "cerbos", c_requests, args))
            v, c = summarize(v_rounds), summarize(c_rounds)
            v["rss_kib_idle"] = rss_idle
            v["rss_kib_after_load"] = rss_kib(v_server.pid)
            c["rss_kib_after_load"] = rss_kib(c_server.pid)
            v["rounds"], c["rounds"] = v_rounds, c_rounds
            stop(v_server)
            stop(c_server)

            ratio = (v["saturated_per_second"] /
                     max(1.0, c["saturated_per_second"]))
            print(f"  ratio verdict/cerbos throughput {ratio:.2f}x; "
                  f"verdictd RSS {v['rss_kib_idle'] / 1024:.1f} MiB idle, "
                  f"{v['rss_kib_after_load'] / 1024:.1f} MiB after load, "
                  f"cerbos RSS {c['rss_kib_after_load'] / 1024:.1f} MiB", flush=True)
            results["scales"].append({"scale": scale, "rules": count,
                                      "requests": len(v_lines),
                                      "allows": allows, "verdict": v,
                                      "cerbos": c, "throughput_ratio": ratio})
    finally:
        cleanup()
        shutil.rmtree(work, ignore_errors=True)

    results["loadavg_after"] = os.getloadavg()
    print(f"\nload average after: {results['loadavg_after'][0]:.2f}; medians of "
          f"{args.rounds} round(s)")
    print("scale  rules  verdict/s  cerbos/s  ratio  p50/p99 us at half rate: "
          "verdict    cerbos       verdictd MiB idle/loaded  verdictd CPU at half")
    for s in results["scales"]:
        v, c = s["verdict"], s["cerbos"]
        print(f"x{s['scale']:<5}{s['rules']:>6}{v['saturated_per_second']:>11.0f}"
              f"{c['saturated_per_second']:>10.0f}{s['throughput_ratio']:>7.2f}"
              f"{v['half_p50_us']:>30.1f}/{v['half_p99_us']:<8.1f}"
              f"{c['half_p50_us']:>6.1f}/{c['half_p99_us']:<8.1f}"
              f"{v['rss_kib_idle'] / 1024:>8.1f}/{v['rss_kib_after_load'] / 1024:<14.1f}"
              f"{100 * v['half_server_cpu']:>5.0f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
