"""Before/after for an ingest change: this checkout's listener against another revision's, side by side.

Both listeners (and the bare endpoint, the ceiling) run at once, each from its own source tree; the load
generator drives them in turn, round after round (interleaved, so a slow spell of a shared machine hits all
sides alike), and the medians are printed with the worker's CPU time per acknowledged event.

    .venv/bin/python bench/compare_ingest.py --baseline f1e8609 [--rounds 3] [--count 1500] [--fsync-ms 2]

The baseline revision is checked out with ``git worktree`` into a temporary directory (removed afterwards).
``--fsync-ms`` emulates a slower disk than this machine's (SAN-backed or spinning storage: milliseconds per
fsync): both listeners run under ``strace --seccomp-bpf -e inject=fsync,fdatasync:delay_exit=...``, which stops
only those two system calls and adds the delay to each. Loopback only.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  pylint: disable=wrong-import-position
import ingest  # noqa: E402  pylint: disable=wrong-import-position


def tree_env(tree, scratch):
    """The environment of a listener run from another source tree (its listener package, its collection)."""
    link = os.path.join(scratch, "collections", "ansible_collections", "netevents", "nutanix")
    os.makedirs(os.path.dirname(link))
    os.symlink(tree, link)
    return dict(common.listener_env(), PYTHONPATH=os.pathsep.join(
        [os.path.join(tree, "roles", "listener", "files"), os.path.join(scratch, "collections")]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="git revision to compare with (e.g. a commit)")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=1500, help="events per round and side")
    parser.add_argument("--fsync-ms", type=float, default=0.0, help="extra time added to every fsync/fdatasync")
    args = parser.parse_args(argv)
    scratch = tempfile.mkdtemp(prefix="netevents-compare-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None)
    baseline = os.path.join(scratch, "baseline")
    subprocess.run(["git", "-C", common.REPO, "worktree", "add", "--detach", baseline, args.baseline], check=True,
                   capture_output=True)
    servers = {}
    try:
        for side in ("before", "after", "bare"):
            directory = os.path.join(scratch, side)
            os.makedirs(directory)
            config = common.make_config(directory, plugin={"name": "log", "options": {"path": "events.jsonl"}},
                                        queue={"backoff_initial_s": 1.0, "backoff_max_s": 300.0, "max_attempts": 10})
            listener = common.listener_argv(config)
            if args.fsync_ms:
                delay = "fsync,fdatasync:delay_exit=%d" % int(args.fsync_ms * 1000)
                listener = ["strace", "-f", "--seccomp-bpf", "-qq", "-o", "/dev/null", "-e", "trace=fsync,fdatasync",
                            "-e", "inject=" + delay] + listener
            if side == "bare":
                servers[side] = common.Server([sys.executable, os.path.join(common.BENCH, "bare_server.py"),
                                               "--config", config], config).start()
            elif side == "before":
                servers[side] = common.Server(listener, config, env=tree_env(baseline, directory)).start()
            else:
                servers[side] = common.Server(listener, config).start()
        time.sleep(1.0)
        print("| senders | side | ev/s (median) | rounds | p50 ms | p99 ms | worker CPU ms/event |")
        print("|---|---|---|---|---|---|---|")
        first = 0
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            runs = dict((side, []) for side in servers)
            for _round in range(args.rounds):
                for side, server in servers.items():
                    runs[side].append(ingest.load(server, concurrency, args.count, 60.0, first=first))
                first += args.count
            for side, rs in runs.items():
                print("| %d | %s | %.0f | %s | %.2f | %.2f | %.3f |" % (
                    concurrency, side, statistics.median(r["rate"] for r in rs),
                    " ".join("%.0f" % r["rate"] for r in rs), statistics.median(r["p50_ms"] for r in rs),
                    statistics.median(r["p99_ms"] for r in rs), statistics.median(r["cpu_ms_per_event"] for r in rs)))
    finally:
        for server in servers.values():
            server.stop()
        subprocess.run(["git", "-C", common.REPO, "worktree", "remove", "--force", baseline], check=False,
                       capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
