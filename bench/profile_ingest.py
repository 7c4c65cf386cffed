"""Profile the listener under ingest load: where does the worker's time go per acknowledged event?

Starts the listener as `make bench` does (gunicorn, basic auth, INFO logs, the `log` plugin consuming the
queue) under py-spy (`record --subprocesses --gil --nonblocking`: samples only the thread holding the GIL, so
the shares are of the Python CPU time), drives it with bench/loadgen.py, and prints:

* the worker's CPU time per acknowledged event (user + system, from /proc), and the rate;
* the GIL samples of the worker process grouped by what they were doing (first matching frame wins).

With ``--ablate`` it measures instead, in this process and without HTTP (Flask's test client, one request at a
time, the CPU time of the whole process per request, median of rounds), what each part of the listener costs:
the service as deployed, then without its consumer (dispatcher stopped), then also without the durable write
(``enqueue`` answers at once), then also without INFO logs — and the bare endpoint's app.

    .venv/bin/python bench/profile_ingest.py --concurrency 8 --count 3000 [--raw /tmp/ingest.txt]
    .venv/bin/python bench/profile_ingest.py --ablate

Loopback only; py-spy must be on PATH or next to the interpreter (pip install -r bench/requirements.txt).
"""
import argparse
import base64
import collections
import json
import logging
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  pylint: disable=wrong-import-position
import ingest  # noqa: E402  pylint: disable=wrong-import-position

# (label, substring of a frame); a sample counts for the first label whose substring is in its stack.
CATEGORIES = (
    ("dispatcher thread (queue reads, claim/finish, log plugin)", "Dispatcher._run"),
    ("queue write (SQLite insert + fsync'd commit)", "EventQueue.enqueue"),
    ("log line (JSON formatter, stderr)", "Logger."),
    ("credentials and source checks", "_allowed ("),
    ("credentials and source checks", "authorized ("),
    ("JSON decode and event parsing", "parse_event ("),
    ("JSON decode and event parsing", "loads ("),
    ("JSON response", "jsonify ("),
    ("metrics", "prometheus_client"),
    ("waking the dispatcher", "notify ("),
    ("callback, other", "callback ("),
    ("Flask / werkzeug request and response", "Flask.__call__"),
    ("gunicorn: HTTP parsing, socket I/O, polling, thread pool", "gunicorn/"),
    ("gunicorn: HTTP parsing, socket I/O, polling, thread pool", "concurrent/futures"),
    ("start-up (imports)", "_find_and_load"),
)


def breakdown(raw_path):
    """Shares of the worker's GIL samples per category, from py-spy's raw (collapsed) output."""
    counts, total = collections.Counter(), 0
    with open(raw_path) as f:
        for line in f:
            stack, _sep, n = line.rstrip("\n").rpartition(" ")
            if stack.count("process ") < 2:  # the gunicorn master (one process frame), not its worker
                continue
            total += int(n)
            if stack.rsplit(";", 1)[-1].startswith("process "):
                label = "native code (no Python frame: SQLite, syscalls)"
            else:
                label = next((name for name, needle in CATEGORIES if needle in stack), "other")
            counts[label] += int(n)
    return total, [(name, round(100.0 * n / total, 1)) for name, n in counts.most_common()] if total else []


def py_spy():
    here = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return here if os.path.exists(here) else shutil.which("py-spy")


def profile(concurrency, count, raw_path, workdir):
    spy = py_spy()
    if spy is None:
        raise SystemExit("py-spy not found: pip install -r bench/requirements.txt")
    config = common.make_config(workdir, plugin={"name": "log", "options": {"path": "events.jsonl"}},
                                queue={"backoff_initial_s": 1.0, "backoff_max_s": 300.0, "max_attempts": 10})
    argv = [spy, "record", "--subprocesses", "--gil", "--nonblocking", "--rate", "1000", "--format", "raw",
            "--output", raw_path, "--"] + common.listener_argv(config)
    server = common.Server(argv, config).start()
    try:
        time.sleep(1.0)
        worker = server.worker_pid()
        before, started = common.cpu_seconds(worker), time.monotonic()
        result = ingest.load(server, concurrency, count, 60.0)
        used, elapsed = common.cpu_seconds(worker) - before, time.monotonic() - started
    finally:
        for pid in common.children(server.proc.pid):  # stop the listener; py-spy then writes its output
            os.kill(pid, signal.SIGTERM)
        server.proc.wait(60)
    total, shares = breakdown(raw_path)
    return {"concurrency": concurrency, "acked": result["acked"], "queued": result["queued"], "rate": result["rate"],
            "worker_cpu_ms_per_event": round(1000.0 * used / max(1, result["acked"]), 3),
            "worker_cpu_share": round(used / elapsed, 2), "gil_samples": total, "shares_pct": shares}


ABLATIONS = ("as deployed", "without the consumer", "without the durable write", "without INFO logs", "bare endpoint")


def ablate(workdir, requests_per_round=2500, rounds=4):
    """CPU ms per request for each step of ABLATIONS (see the module docstring); {name: [round figures]}."""
    # pylint: disable=import-outside-toplevel
    import loadgen
    from bare_server import bare_app
    from netevents_listener.config import load_config
    from netevents_listener.logs import setup_logging
    from netevents_listener.service import Service
    with open(os.devnull, "w") as devnull:
        setup_logging("INFO", devnull)
        headers = {"Content-Type": "application/json", "Authorization": "Basic " + base64.b64encode(
            ("%s:%s" % (common.WEBHOOK_USER, common.WEBHOOK_PASSWORD)).encode()).decode()}
        figures = dict((name, []) for name in ABLATIONS)
        vm = 0
        for round_no in range(rounds):
            for step, name in enumerate(ABLATIONS):
                directory = os.path.join(workdir, "ablate-%d-%d" % (round_no, step))
                os.makedirs(directory)
                config = load_config(common.make_config(directory))
                service = None
                if name == "bare endpoint":
                    app = bare_app(config.listener)
                else:
                    service = Service(config).start()
                    app = service.app
                    if step >= 1:
                        service.dispatcher.stop(10)
                    if step >= 2:
                        service.queue.enqueue = lambda *args: 1
                    if step >= 3:
                        logging.getLogger().setLevel(logging.WARNING)
                client = app.test_client()
                bodies = [loadgen.event_body(vm + n) for n in range(requests_per_round)]
                vm += requests_per_round
                started = time.process_time()
                for body in bodies:
                    if client.post(config.listener.path, data=body, headers=headers).status_code != 200:
                        raise RuntimeError("%s: a request was refused" % name)
                if step == 0:  # as deployed: until the consumer has applied every event too
                    while service.queue.depth():
                        time.sleep(0.005)
                figures[name].append(1000.0 * (time.process_time() - started) / requests_per_round)
                logging.getLogger().setLevel(logging.INFO)
                if service is not None:
                    service.stop(10)
        logging.getLogger().handlers[:] = []
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--raw", help="keep py-spy's raw samples here (flamegraph.pl input)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--ablate", action="store_true", help="in-process cost of each part instead (no py-spy)")
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="netevents-profile-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None)
    if args.ablate:
        try:
            figures = ablate(workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print("| listener app, in process | CPU ms per request (median) | rounds | step cost ms |")
        print("|---|---|---|---|")
        previous = None
        for name in ABLATIONS:
            median = statistics.median(figures[name])
            step = "" if previous is None else "%.3f" % (previous - median)
            print("| %s | %.3f | %s | %s |" % (name, median, " ".join("%.3f" % x for x in figures[name]), step))
            previous = median
        return 0
    try:
        result = profile(args.concurrency, args.count, args.raw or os.path.join(workdir, "samples.txt"), workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
        return 0
    print("%d senders: %d acknowledged (%d queued), %.0f ev/s; worker CPU %.3f ms per event (%.0f%% of a core); "
          "%d GIL samples" % (result["concurrency"], result["acked"], result["queued"], result["rate"],
                              result["worker_cpu_ms_per_event"], 100 * result["worker_cpu_share"],
                              result["gil_samples"]))
    for name, pct in result["shares_pct"]:
        print("%5.1f%%  %s" % (pct, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
