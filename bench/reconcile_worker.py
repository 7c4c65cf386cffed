"""Run one reconcile (module_utils/reconcile.py, the code vm_tag_sync runs) in this process and print JSON:
wall time and peak RSS (VmHWM, this whole process since exec) and the RSS before it started.

    python bench/reconcile_worker.py PRISM_HOST PRISM_PORT PRISM_USER PRISM_PASSWORD_ENV FW_HOST FW_PORT FW_USER \
        FW_PASSWORD_ENV
"""
import json
import os
import sys
import time

import common  # noqa: F401  (sys.path)
from ansible_collections.netevents.nutanix.plugins.module_utils.panos import connect
from ansible_collections.netevents.nutanix.plugins.module_utils.prism import PrismClient
from ansible_collections.netevents.nutanix.plugins.module_utils.reconcile import reconcile
from ansible_collections.netevents.nutanix.plugins.module_utils.tagging import TagMapper


def main(argv):
    p_host, p_port, p_user, p_env, f_host, f_port, f_user, f_env = argv
    before = common.rss_kib(os.getpid())
    started = time.perf_counter()
    # v3, as docs/performance.md describes this measurement (vms/list pages of 500)
    client = PrismClient(p_host, port=int(p_port), username=p_user, password=os.environ[p_env], validate_certs=False,
                         api="v3")
    device = connect({"ip_address": f_host, "port": int(f_port), "username": f_user, "password": os.environ[f_env],
                      "validate_certs": False})
    vms, desired, results = reconcile(client, [device], TagMapper(), apply=True)
    elapsed = time.perf_counter() - started
    plan = results[0][0]
    print(json.dumps({"wall_s": round(elapsed, 3), "vms": len(vms), "desired_ips": len(desired),
                      "registered": len(plan.register), "unregistered": len(plan.unregister),
                      "userid_calls_made": results[0][2],
                      "rss_before_mib": round(before / 1024.0, 1),
                      "peak_rss_mib": round(common.rss_kib(os.getpid(), "VmHWM") / 1024.0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
