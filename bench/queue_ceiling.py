"""The durable queue alone: how many events per second can N threads enqueue (each call returns once its event
is committed with synchronous=FULL), with no HTTP, parsing or consumer around it — the storage ceiling under the
listener. With --baseline REV, the EventQueue of that revision runs too, interleaved, for before/after.

    .venv/bin/python bench/queue_ceiling.py [--baseline f1e8609] [--threads 1,8,32] [--events 4000]
"""
import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  pylint: disable=wrong-import-position
import loadgen  # noqa: E402  pylint: disable=wrong-import-position

STORE = "roles/listener/files/netevents_listener/store.py"


def load_store(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(store, directory, threads, events):
    """Enqueues per second and process CPU ms per event for *events* spread over *threads* threads."""
    queue = store.EventQueue(os.path.join(directory, "queue.db"))
    per_thread = events // threads
    bodies = [[loadgen.event_body(t * per_thread + n) for n in range(per_thread)] for t in range(threads)]

    def work(t):
        for n, body in enumerate(bodies[t]):
            queue.enqueue("vm-%d-%d" % (t, n), "VM.ON", body)
    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    cpu, wall = time.process_time(), time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stored = queue.depth()
    queue.close()
    return {"rate": stored / wall, "cpu_ms": 1000.0 * cpu / stored}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="git revision whose EventQueue runs beside this checkout's")
    parser.add_argument("--threads", default="1,8,32")
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    scratch = tempfile.mkdtemp(prefix="netevents-queue-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None)
    try:
        sides = {"this checkout": load_store(os.path.join(common.REPO, STORE), "store_this")}
        if args.baseline:
            path = os.path.join(scratch, "store_baseline.py")
            with open(path, "wb") as f:
                f.write(subprocess.run(["git", "-C", common.REPO, "show", "%s:%s" % (args.baseline, STORE)],
                                       check=True, capture_output=True).stdout)
            sides = dict([("baseline %s" % args.baseline, load_store(path, "store_baseline"))] + list(sides.items()))
        print("| threads | queue | enqueues/s (median) | rounds | process CPU ms/event |")
        print("|---|---|---|---|---|")
        for threads in (int(t) for t in args.threads.split(",")):
            figures = dict((side, []) for side in sides)
            for round_no in range(args.rounds):
                for side, store in sides.items():
                    directory = os.path.join(scratch, "%s-%d-%d" % (store.__name__, threads, round_no))
                    os.makedirs(directory)
                    figures[side].append(measure(store, directory, threads, args.events))
                    shutil.rmtree(directory)
            for side, runs in figures.items():
                print("| %d | %s | %.0f | %s | %.3f |" % (
                    threads, side, statistics.median(r["rate"] for r in runs),
                    " ".join("%.0f" % r["rate"] for r in runs), statistics.median(r["cpu_ms"] for r in runs)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
