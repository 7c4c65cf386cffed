"""Run the benchmarks on this machine and write docs/performance.md, docs/performance.png and
docs/performance.json (every figure, as measured).

    .venv/bin/python bench/run.py                 # full sizes (make bench); a few minutes on 2 cores
    .venv/bin/python bench/run.py --quick --output /tmp/out     # tiny sizes: the smoke test
    .venv/bin/python bench/run.py --only ingest,reconcile        # some measurements (others keep old figures)

Loopback only: simulators (tests/simulators) in this process, the listener and the load generator in their own.
"""
import argparse
import datetime
import json
import logging
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  pylint: disable=wrong-import-position
import report  # noqa: E402  pylint: disable=wrong-import-position

FULL = {"ingest": {"concurrencies": (1, 8, 32), "count": 1500, "duration": 15.0, "rounds": 3},
        "peers": {"rates": (10, 100, 1000), "seconds": 20.0, "max_events": 1000, "burst": 10000,
                  "slow_max_events": 20, "commit_seconds": None},
        "cost": {"events": 1000, "commit_seconds": 2.0},
        "reconcile": {"sizes": (1000, 10000)},
        "poll": {"sizes": (1000, 10000)},
        "poll_latency": {"changes": 20, "interval_s": 30, "spread_intervals": 2}}
QUICK = {"ingest": {"concurrencies": (1, 8, 32), "count": 100, "duration": 5.0, "rounds": 1},
         "peers": {"rates": (10, 100, 1000), "seconds": 0.5, "max_events": 20, "burst": 30,
                   "slow_max_events": 2, "commit_seconds": 1.0},
         "cost": {"events": 20, "commit_seconds": 0.2},
         "reconcile": {"sizes": (200, 500)},
         "poll": {"sizes": (200,)},
         # 5 s: the shortest poll_interval_s the listener accepts (the full run keeps the default, 30 s).
         "poll_latency": {"changes": 4, "interval_s": 5, "spread_intervals": 1}}
ALL = ("ingest", "peers", "cost", "reconcile", "poll", "poll_latency")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--output", default=os.path.join(common.REPO, "docs"),
                        help="directory for performance.md/.png/.json (default docs/)")
    parser.add_argument("--only", default=",".join(ALL), help="comma-separated subset of %s" % ",".join(ALL))
    parser.add_argument("--commit-seconds", type=float, help="simulated commit duration for the firewall-cost run")
    parser.add_argument("--workdir", help="scratch directory (default: a temporary one under /var/tmp)")
    args = parser.parse_args(argv)
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(only) - set(ALL)
    if unknown:
        parser.error("unknown measurement(s): %s" % ", ".join(sorted(unknown)))
    sizes = QUICK if args.quick else FULL
    if args.commit_seconds is not None:
        sizes["cost"]["commit_seconds"] = args.commit_seconds
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the simulators' access log
    os.makedirs(args.output, exist_ok=True)
    json_path = os.path.join(args.output, "performance.json")
    results = {}
    if set(only) != set(ALL) and os.path.exists(json_path):
        with open(json_path) as f:
            results = json.load(f)  # keep the figures of measurements not re-run
        results.pop("latency", None)  # replaced by "peers" (the realistic firewall)
    base = args.workdir or ("/var/tmp" if os.path.isdir("/var/tmp") else None)
    workdir = tempfile.mkdtemp(prefix="netevents-bench-", dir=base)
    results["machine"] = common.machine(workdir)
    results["quick"] = args.quick
    results["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    results["sizes"] = sizes
    started = time.monotonic()
    try:
        if "ingest" in only:
            print("1+6. ingest and footprint", flush=True)
            import ingest  # pylint: disable=import-outside-toplevel
            results["ingest"] = ingest.run(workdir, **sizes["ingest"])
        if "peers" in only:
            print("2+3. event to enforcement against a VM-50: the floor and the peers; the Prism lookups", flush=True)
            import peers  # pylint: disable=import-outside-toplevel
            results["peers"] = peers.run(workdir, **sizes["peers"])
            results["peers"].update((k, sizes["peers"][k]) for k in ("seconds", "max_events", "burst"))
        if "cost" in only:
            print("4. firewall cost", flush=True)
            import enforce  # pylint: disable=import-outside-toplevel
            results["cost"] = enforce.cost(workdir, **sizes["cost"])
        if "reconcile" in only:
            print("5. reconcile scale", flush=True)
            import reconcile_scale  # pylint: disable=import-outside-toplevel
            results["reconcile"] = reconcile_scale.run(**sizes["reconcile"])
        if "poll" in only:
            print("7. poll cycle cost", flush=True)
            import poll_cost  # pylint: disable=import-outside-toplevel
            results["poll"] = poll_cost.run(**sizes["poll"])
        if "poll_latency" in only:
            print("8. change to enforcement with the poll source (poll; both with dropped deliveries)", flush=True)
            import poll_latency  # pylint: disable=import-outside-toplevel
            results["poll_latency"] = poll_latency.run(workdir, **sizes["poll_latency"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results.setdefault("measured", {}).update((section, results["date"]) for section in only)
    results.setdefault("loads", {}).update((section, [results["machine"]["load_before"], round(os.getloadavg()[0], 2)])
                                           for section in only)
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["machine"]["load_after"] = round(os.getloadavg()[0], 2)
    with open(json_path, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    report.write(results, args.output)
    written = ", ".join(os.path.join(args.output, "performance" + e) for e in (".md", ".png", ".json"))
    print("wrote %s (%.0f s)" % (written, results["elapsed_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
