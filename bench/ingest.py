"""1. Ingest and 5. Footprint: acknowledged events/s and acknowledgement latency at 1, 8 and 32 concurrent
senders against the listener as deployed (gunicorn, basic auth, fsync'd SQLite queue, JSON logs, the `log`
plugin consuming the queue meanwhile) and against the bare endpoint (bench/bare_server.py) on the same server
settings; the listener's RSS idle and under load, and its start-up time."""
import json
import os
import subprocess
import sys
import threading
import time

from common import BENCH, WEBHOOK_PASSWORD, WEBHOOK_USER, Server, listener_argv, listener_env, make_config, summary_ms

LOADGEN = os.path.join(BENCH, "loadgen.py")


def loadgen_argv(url, concurrency, count, duration):
    return [sys.executable, LOADGEN, "--url", url, "--user", WEBHOOK_USER, "--password-env", "BENCH_WEBHOOK_PASSWORD",
            "--concurrency", str(concurrency), "--count", str(count), "--duration", str(duration)]


def load(server, concurrency, count, duration):
    """Run the load generator against *server*; sample the server's RSS meanwhile."""
    env = dict(listener_env(), BENCH_WEBHOOK_PASSWORD=WEBHOOK_PASSWORD)
    peak, stop = [0], threading.Event()

    def sample():
        while not stop.wait(0.05):
            peak[0] = max(peak[0], server.rss_kib())
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    argv = loadgen_argv(server.url, concurrency, count, duration)
    try:
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 120, check=True)
    finally:
        stop.set()
        sampler.join()
    result = json.loads(out.stdout)
    latencies = result.pop("latencies_s")
    result.update(summary_ms(latencies))
    result["concurrency"] = concurrency
    result["peak_rss_mib"] = round(peak[0] / 1024.0, 1)
    result["command"] = "python bench/loadgen.py --url %s --user %s --password-env BENCH_WEBHOOK_PASSWORD " \
                        "--concurrency %d --count %d --duration %g" % (server.url, WEBHOOK_USER, concurrency, count,
                                                                       duration)
    return result


def run(workdir, concurrencies=(1, 8, 32), count=3000, duration=15.0, log=print):
    results = {"listener": [], "bare": [], "count": count, "duration_s": duration}
    for kind in ("listener", "bare"):
        directory = os.path.join(workdir, "ingest-" + kind)
        os.makedirs(directory, exist_ok=True)
        config = make_config(directory, plugin={"name": "log", "options": {"path": "events.jsonl"}},
                             queue={"batch_window_ms": 200, "backoff_initial_s": 1.0, "backoff_max_s": 300.0,
                                    "max_attempts": 10})
        argv = listener_argv(config) if kind == "listener" else [sys.executable, os.path.join(BENCH, "bare_server.py"),
                                                                 "--config", config]
        server = Server(argv, config).start()
        try:
            time.sleep(1.0)  # let start-up settle before measuring idle memory
            if kind == "listener":
                results["footprint"] = {"startup_s": round(server.startup_s, 3),
                                        "idle_rss_mib": round(server.rss_kib() / 1024.0, 1),
                                        "processes": "gunicorn master + 1 worker"}
            for c in concurrencies:
                r = load(server, c, count, duration)
                log("  ingest %-8s c=%-2d %7.1f ev/s p50 %s ms p99 %s ms errors %d" % (
                    kind, c, r["rate"], r["p50_ms"], r["p99_ms"], r["errors"]))
                results[kind].append(r)
            if kind == "listener":
                results["footprint"]["loaded_rss_mib"] = max(r["peak_rss_mib"] for r in results[kind])
        finally:
            server.stop()
    results["ratios"] = [{"concurrency": a["concurrency"], "rate_ratio": round(a["rate"] / b["rate"], 3) if b["rate"]
                          else None} for a, b in zip(results["listener"], results["bare"])]
    return results
