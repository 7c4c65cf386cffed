"""The cost of one poll cycle of the listener's poll source (netevents_listener/poller.py) at N VMs.

    .venv/bin/python bench/poll_cost.py                      # 1,000 and 10,000 VMs, v4 and v3
    .venv/bin/python bench/poll_cost.py --sizes 200 --apis v4 --json /tmp/poll.json

Against the Prism simulator (tests/simulators/prism) in this process, over loopback HTTPS. For each size and API it
runs the listener's real Poller (its PrismClient, its SQLite queue and poll_state) three times:

  first      -- nothing seen yet: every VM is announced once (N events queued);
  steady     -- nothing changed: the cost paid every poll_interval_s;
  1% changed -- 1 VM in 100 powered off in the simulator's store (no API call): those events queued.

Measured per cycle: wall seconds, CPU seconds of the polling thread (time.thread_time: the client's requests, JSON
decoding, the comparison and the SQLite writes; the simulator's threads are not counted), Prism API calls (from
the simulator's own counters) and events queued. The VMs carry ten category values, so the category look-ups are
those of a small estate; categories are cached for 5 minutes, so a steady cycle asks for none.
"""
import argparse
import json
import logging
import os
import sys
import tempfile
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402,F401  pylint: disable=wrong-import-position,unused-import
from panos_helpers import PRISM_PASSWORD, PRISM_USER, start_prism  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.netevents.nutanix.plugins.module_utils.prism import PrismClient  # noqa: E402
from netevents_listener.metrics import Metrics  # noqa: E402  pylint: disable=wrong-import-position
from netevents_listener.poller import Poller  # noqa: E402  pylint: disable=wrong-import-position
from netevents_listener.store import EventQueue  # noqa: E402  pylint: disable=wrong-import-position


def seed(prism, n):
    """*n* VMs in ten groups of category values (AppTier T0..T9, Env Prod)."""
    uuids = []
    for group in range(10):
        count = n // 10 + (1 if group < n % 10 else 0)
        categories = {"AppTier": "T%d" % group, "Env": "Prod"}
        uuids += prism.seed_vms(count, name_prefix="poll%d" % group, categories=categories,
                                first_ip="10.%d.0.1" % (100 + group))
    return uuids


def power_off(prism, uuids):
    with prism._lock:  # pylint: disable=protected-access
        for uuid in uuids:
            vm = prism.vms[uuid]
            vm["spec"]["resources"]["power_state"] = "OFF"
            vm["status"]["resources"]["power_state"] = "OFF"


def calls(prism):
    stats = prism.stats()
    return sum(stats["calls"].values()), dict(stats["calls_by_api"])


def measure(poller, prism, queue):
    before_calls, before_api = calls(prism)
    depth = queue.depth()
    wall, cpu = time.monotonic(), time.thread_time()
    poller.poll_once()
    wall, cpu = time.monotonic() - wall, time.thread_time() - cpu
    after_calls, after_api = calls(prism)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "api_calls": after_calls - before_calls,
            "calls_by_api": dict((k, after_api.get(k, 0) - before_api.get(k, 0)) for k in ("v3", "v4")),
            "events_queued": queue.depth() - depth}


def run(sizes=(1000, 10000), apis=("v4", "v3"), log=print):
    out = []
    for n in sizes:
        for api in apis:
            prism = start_prism(pending_seconds=0)
            try:
                uuids = seed(prism, n)
                with tempfile.TemporaryDirectory(prefix="netevents-bench-poll-") as tmp:
                    queue = EventQueue(os.path.join(tmp, "queue.db"))
                    client = PrismClient(prism.host, port=prism.port, username=PRISM_USER, password=PRISM_PASSWORD,
                                         ca_path=prism.cert_path, api=api)
                    entry = types.SimpleNamespace(name="bench", host=prism.host, poll_interval_s=30, api=api)
                    poller = Poller(entry, queue, Metrics(), client=client)
                    for run_name in ("first", "steady", "1% changed"):
                        if run_name == "1% changed":
                            power_off(prism, uuids[::100])
                        r = measure(poller, prism, queue)
                        r.update(vms=n, api=api, run=run_name)
                        log("  poll %6d VMs via %s (%-10s): %6.2f s wall, %6.2f s CPU, %4d API calls, %5d events"
                            % (n, api, run_name, r["wall_s"], r["cpu_s"], r["api_calls"], r["events_queued"]))
                        out.append(r)
                    queue.close()
            finally:
                prism.stop()
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated VM counts (default 1000,10000)")
    parser.add_argument("--apis", default="v4,v3", help="comma-separated APIs (default v4,v3)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the simulator's access log
    logging.getLogger("netevents_listener").setLevel(logging.WARNING)  # one line per queued event otherwise
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    apis = [a.strip() for a in args.apis.split(",") if a.strip()]
    print("poll cycle cost (%s, %d CPUs)" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count()))
    results = run(sizes, apis)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
