"""4. Reconcile scale: one reconcile (the code of vm_tag_sync, module_utils/reconcile.py, called directly in a
separate process so its peak memory is its own) over N seeded Prism VMs, against an empty firewall, then again
with nothing to change."""
import os
import subprocess
import sys

import json

from common import BENCH, listener_env
from panos_helpers import FW_PASSWORD, FW_USER, PRISM_PASSWORD, PRISM_USER, start_firewall, start_prism

LIST = "POST /api/nutanix/v3/vms/list"
WORKER = os.path.join(BENCH, "reconcile_worker.py")


def run(sizes=(1000, 10000), log=print):
    out = []
    for n in sizes:
        prism = start_prism(pending_seconds=0)
        firewall = start_firewall()
        try:
            prism.seed_vms(n, name_prefix="rec", categories={"AppTier": "Web", "Env": "Prod"}, first_ip="10.96.0.1")
            env = dict(listener_env(), BENCH_PRISM_PW=PRISM_PASSWORD, BENCH_FW_PW=FW_PASSWORD)
            argv = [sys.executable, WORKER, prism.host, str(prism.port), PRISM_USER, "BENCH_PRISM_PW",
                    firewall.host, str(firewall.port), FW_USER, "BENCH_FW_PW"]
            for run_name in ("first", "no-change"):
                calls_before = dict(prism.stats()["calls"])
                firewall.reset_stats()
                done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=True)
                r = json.loads(done.stdout.strip().splitlines()[-1])
                calls = prism.stats()["calls"]
                pages = calls.get(LIST, 0) - calls_before.get(LIST, 0)
                fw = firewall.stats()
                r.update(size=n, run=run_name, prism_pages=pages, userid_calls=fw["calls"].get("user-id", 0),
                         firewall_calls=sum(fw["calls"].values()), registered_ips_after=len(firewall.registered_ips()))
                log("  reconcile %5d VMs (%s): %.2f s, %d pages, %d User-ID calls, peak RSS %.1f MiB" % (
                    n, run_name, r["wall_s"], pages, r["userid_calls"], r["peak_rss_mib"]))
                out.append(r)
        finally:
            prism.stop()
            firewall.stop()
    return out
