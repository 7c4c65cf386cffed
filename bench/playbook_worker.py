"""Run one play (tasks as JSON in a file) with the real ansible-playbook, the way the functional tests do, and
print JSON: rc, wall time, each task's result, and the peak RSS of the largest process it ran (this process's
RUSAGE_CHILDREN: ansible-playbook and the module processes below it, nothing else).

    python bench/playbook_worker.py TASKS_JSON_FILE SCRATCH_DIR

Secrets come from the environment (NUTANIX_PASSWORD, PANOS_PASSWORD: the modules' fallbacks), not the play.
"""
import json
import os
import pathlib
import resource
import sys
import time

import common  # noqa: F401  (sys.path)  pylint: disable=unused-import
from tests.functional.playbook import run_playbook


def main(argv):
    tasks_file, scratch = argv
    with open(tasks_file) as f:
        tasks = json.load(f)
    env = dict((k, os.environ[k]) for k in ("NUTANIX_PASSWORD", "PANOS_PASSWORD") if k in os.environ)
    started = time.perf_counter()
    run = run_playbook(pathlib.Path(scratch), tasks=tasks, env=env)
    wall = time.perf_counter() - started
    print(json.dumps({"rc": run.rc, "wall_s": round(wall, 3), "results": run.results,
                      "output": (run.stdout[-2000:] + run.stderr[-2000:]) if run.rc else "",
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
