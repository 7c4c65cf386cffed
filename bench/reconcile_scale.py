"""4. Reconcile scale: one reconcile over N seeded Prism VMs, against an empty firewall, then again with nothing
to change — two ways, side by side: the reconcile code itself (module_utils/reconcile.py, called directly in a
separate process so its time and peak memory are its own), and `netevents.nutanix.vm_tag_sync` run by a real
`ansible-playbook` (what a user runs: Ansible's start-up, the module shipped to a module process, its JSON result)."""
import json
import os
import subprocess
import sys
import tempfile

from common import BENCH, listener_env
from panos_helpers import FW_PASSWORD, FW_USER, PRISM_PASSWORD, PRISM_USER, start_firewall, start_prism

LIST = "POST /api/nutanix/v3/vms/list"
WORKER = os.path.join(BENCH, "reconcile_worker.py")
PLAYBOOK_WORKER = os.path.join(BENCH, "playbook_worker.py")


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
                r.update(size=n, run=run_name, how="reconcile()", prism_pages=pages, userid_calls=fw["calls"].get("user-id", 0),
                         firewall_calls=sum(fw["calls"].values()), registered_ips_after=len(firewall.registered_ips()))
                log("  reconcile %5d VMs (%s): %.2f s, %d pages, %d User-ID calls, peak RSS %.1f MiB" % (
                    n, run_name, r["wall_s"], pages, r["userid_calls"], r["peak_rss_mib"]))
                out.append(r)
            firewall.reset()  # the same two runs through ansible-playbook, from an empty firewall again
            for run_name in ("first", "no-change"):
                r = playbook_run(prism, firewall)
                r.update(size=n, run=run_name)
                log("  vm_tag_sync via ansible-playbook %5d VMs (%s): %.2f s, %d registered, %d User-ID calls" % (
                    n, run_name, r["wall_s"], r["registered"], r["userid_calls"]))
                out.append(r)
        finally:
            prism.stop()
            firewall.stop()
    return out


def playbook_run(prism, firewall):
    """vm_tag_sync through ansible-playbook (bench/playbook_worker.py, so the peak RSS is of its processes only)."""
    calls_before = dict(prism.stats()["calls"])
    firewall.reset_stats()
    task = {"name": "sync", "netevents.nutanix.vm_tag_sync": {
        "nutanix_host": prism.host, "nutanix_port": prism.port, "nutanix_username": PRISM_USER,
        "validate_certs": False, "page_size": 500, "api": "v3",
        "provider": {"ip_address": firewall.host, "port": firewall.port, "username": FW_USER,
                     "validate_certs": False}}}
    with tempfile.TemporaryDirectory(prefix="netevents-bench-play-") as tmp:
        tasks = os.path.join(tmp, "tasks.json")
        with open(tasks, "w") as f:
            json.dump([task], f)
        env = dict(listener_env(), NUTANIX_PASSWORD=PRISM_PASSWORD, PANOS_PASSWORD=FW_PASSWORD)
        done = subprocess.run([sys.executable, PLAYBOOK_WORKER, tasks, os.path.join(tmp, "play")], env=env,
                              capture_output=True, text=True, timeout=900, check=True)
    r = json.loads(done.stdout.strip().splitlines()[-1])
    if r["rc"] != 0:
        raise RuntimeError("vm_tag_sync failed: %s" % r["output"])
    summary = [x for x in r["results"] if x["task"] == "sync"][-1]["result"]["summary"]
    calls = prism.stats()["calls"]
    fw = firewall.stats()
    return {"how": "ansible-playbook", "wall_s": r["wall_s"], "vms": summary["vms"],
            "registered": summary["ips_registered"], "prism_pages": calls.get(LIST, 0) - calls_before.get(LIST, 0),
            "userid_calls": fw["calls"].get("user-id", 0), "firewall_calls": sum(fw["calls"].values()),
            "registered_ips_after": len(firewall.registered_ips()), "rss_before_mib": None,
            "peak_rss_mib": r["peak_rss_mib"]}
