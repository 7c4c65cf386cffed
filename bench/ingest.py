"""1. Ingest and 5. Footprint: acknowledged events/s and acknowledgement latency at 1, 8 and 32 concurrent
senders against the listener as deployed (gunicorn, basic auth, fsync'd SQLite queue, JSON logs, the `log`
plugin consuming the queue meanwhile) and against the bare endpoint (bench/bare_server.py) on the same server
settings; the listener's RSS idle and under load, and its start-up time."""
import json
import os
import statistics
import subprocess
import sys
import threading
import time

from common import (BENCH, WEBHOOK_PASSWORD, WEBHOOK_USER, Server, cpu_seconds, listener_argv, listener_env, make_config,
                    summary_ms)

LOADGEN = os.path.join(BENCH, "loadgen.py")


def loadgen_argv(url, concurrency, count, duration, first=0):
    return [sys.executable, LOADGEN, "--url", url, "--user", WEBHOOK_USER, "--password-env", "BENCH_WEBHOOK_PASSWORD",
            "--concurrency", str(concurrency), "--count", str(count), "--duration", str(duration),
            "--first", str(first)]


def load(server, concurrency, count, duration, first=0):
    """Run the load generator against *server* with VMs first .. first+count-1 (a range no earlier point of
    this server used: a repeat would be acknowledged as a duplicate, not queued); sample the server's RSS and
    count its worker's CPU time meanwhile."""
    env = dict(listener_env(), BENCH_WEBHOOK_PASSWORD=WEBHOOK_PASSWORD)
    peak, stop = [0], threading.Event()
    worker = server.worker_pid()

    def sample():
        while not stop.wait(0.05):
            peak[0] = max(peak[0], server.rss_kib())
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    argv = loadgen_argv(server.url, concurrency, count, duration, first)
    cpu_before = cpu_seconds(worker)
    try:
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 120, check=True)
    finally:
        stop.set()
        sampler.join()
    result = json.loads(out.stdout)
    latencies = result.pop("latencies_s")
    result.update(summary_ms(latencies))
    result["concurrency"] = concurrency
    result["cpu_ms_per_event"] = round(1000.0 * (cpu_seconds(worker) - cpu_before) / max(1, result["acked"]), 3)
    result["peak_rss_mib"] = round(peak[0] / 1024.0, 1)
    result["command"] = "python bench/loadgen.py --url %s --user %s --password-env BENCH_WEBHOOK_PASSWORD " \
                        "--concurrency %d --count %d --duration %g --first %d" % (
                            server.url, WEBHOOK_USER, concurrency, count, duration, first)
    return result


def _median_point(runs):
    """One table point from the rounds of one side: medians, and every round's rate for the record."""
    point = dict(runs[len(runs) // 2])
    for key in ("rate", "p50_ms", "p99_ms", "cpu_ms_per_event"):
        point[key] = round(statistics.median(r[key] for r in runs), 3)
    point["rates"] = [r["rate"] for r in runs]
    point["acked"] = sum(r["acked"] for r in runs)
    point["queued"] = sum(r.get("queued", 0) for r in runs)
    point["errors"] = sum(r["errors"] for r in runs)
    return point


def run(workdir, concurrencies=(1, 8, 32), count=1500, duration=15.0, rounds=3, log=print):
    """The three servers run at once (the listener, the bare endpoint, the EDA source's receiver); at each
    concurrency the load generator drives them in turn, *rounds* times (interleaved, so a slow spell of the shared
    machine hits every side alike); each point is the median round."""
    results = {"listener": [], "bare": [], "eda": [], "count": count, "rounds": rounds, "duration_s": duration}
    servers = {}
    try:
        for kind in ("listener", "bare", "eda"):
            directory = os.path.join(workdir, "ingest-" + kind)
            os.makedirs(directory, exist_ok=True)
            config = make_config(directory, plugin={"name": "log", "options": {"path": "events.jsonl"}},
                                 queue={"backoff_initial_s": 1.0, "backoff_max_s": 300.0, "max_attempts": 10})
            argv = listener_argv(config) if kind == "listener" else [
                sys.executable, os.path.join(BENCH, "%s.py" % ("bare_server" if kind == "bare" else "eda_receiver")),
                "--config", config]
            servers[kind] = Server(argv, config).start()
            if kind == "listener":
                time.sleep(1.0)  # let start-up settle before measuring idle memory
                results["footprint"] = {"startup_s": round(servers[kind].startup_s, 3),
                                        "idle_rss_mib": round(servers[kind].rss_kib() / 1024.0, 1),
                                        "processes": "gunicorn master + 1 worker"}
        first, loaded_peak = 0, 0.0
        for c in concurrencies:
            runs = dict((kind, []) for kind in servers)
            for _round in range(rounds):
                for kind, server in servers.items():
                    runs[kind].append(load(server, c, count, duration, first=first))
                    if kind == "listener":
                        loaded_peak = max(loaded_peak, runs[kind][-1]["peak_rss_mib"])
                first += count
            for kind in servers:
                point = _median_point(runs[kind])
                log("  ingest %-8s c=%-2d %7.1f ev/s (rounds %s) p50 %s ms p99 %s ms, %.3f CPU ms/event, errors %d" % (
                    kind, c, point["rate"], " ".join("%.0f" % x for x in point["rates"]), point["p50_ms"],
                    point["p99_ms"], point["cpu_ms_per_event"], point["errors"]))
                results[kind].append(point)
        results["footprint"]["loaded_rss_mib"] = loaded_peak
    finally:
        for server in servers.values():
            server.stop()
    results["ratios"] = [{"concurrency": a["concurrency"],
                          "rate_ratio": round(a["rate"] / b["rate"], 3) if b["rate"] else None,
                          "eda_rate_ratio": round(a["rate"] / e["rate"], 3) if e["rate"] else None}
                         for a, b, e in zip(results["listener"], results["bare"], results["eda"])]
    return results
