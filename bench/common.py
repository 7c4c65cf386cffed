"""Shared pieces of the benchmarks: paths, processes, percentiles, memory, the machine.

Everything runs on this machine over loopback only: the simulators (tests/simulators), the listener as a real
``python -m netevents_listener`` process, the load generator as a separate process.
"""
import os
import platform
import shlex
import signal
import subprocess
import sys
import time

import requests
import yaml

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
COLLECTIONS = os.path.join(REPO, ".collections")
LISTENER_HELPERS = os.path.join(REPO, "tests", "unit", "listener")
for _path in (REPO, COLLECTIONS, LISTENER_HELPERS, os.path.join(REPO, "roles", "listener", "files")):
    if _path not in sys.path:
        sys.path.insert(0, _path)
if not os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "netevents", "nutanix")):
    sys.exit("the collection tree is missing: run `make tree` first")

# Re-exported for the measurement modules. pylint: disable=wrong-import-position,unused-import
from listener_helpers import WEBHOOK_PASSWORD, WEBHOOK_USER, listener_env, make_config  # noqa: E402,F401


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of *values*; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(-(-p * len(ordered) // 100)))  # ceil(p/100 * n)
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds):
    """p50/p99/max of a list of durations in seconds, in milliseconds."""
    return {"n": len(seconds), "p50_ms": _ms(percentile(seconds, 50)), "p99_ms": _ms(percentile(seconds, 99)),
            "max_ms": _ms(max(seconds) if seconds else None)}


def _ms(value):
    return None if value is None else round(value * 1000.0, 2)


def rss_kib(pid, field="VmRSS"):
    """Resident set size of one process (KiB), 0 if it is gone. field="VmHWM": its peak since exec.

    (Not ru_maxrss: Linux carries the parent's RSS at fork into a child's ru_maxrss across exec, so a worker
    started by a big bench process would report the bench's memory, not its own.)"""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def cpu_seconds(pid):
    """User + system CPU time of one process (s), from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))


def tree_rss_kib(pid):
    """RSS of a process and its children (the gunicorn master and its worker), KiB."""
    return rss_kib(pid) + sum(tree_rss_kib(c) for c in children(pid))


class Server(object):
    """A listener-like server process (argv), in its own process group, ready when /healthz answers 200."""

    def __init__(self, argv, config_path, env=None):
        self.argv = argv
        self.config_path = config_path
        self.env = env
        with open(config_path) as f:
            lc = yaml.safe_load(f)["listener"]
        self.base = "http://127.0.0.1:%d" % lc["port"]
        self.url = self.base + lc.get("path", "/listener/callback")
        self.log_path = os.path.join(os.path.dirname(config_path), "server.log")
        self.proc = None
        self.startup_s = None

    @property
    def command(self):
        return " ".join(shlex.quote(a) for a in self.argv)

    def start(self, timeout=60):
        log = open(self.log_path, "ab")  # pylint: disable=consider-using-with
        started = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,  # pylint: disable=R1732
                                     env=self.env or listener_env(), start_new_session=True, cwd=REPO)
        log.close()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s; see %s" % (self.command, self.proc.returncode, self.log_path))
            try:
                if requests.get(self.base + "/healthz", timeout=1).status_code == 200:
                    self.startup_s = time.monotonic() - started
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.01)
        self.stop()
        raise RuntimeError("%s did not become healthy in %ss" % (self.command, timeout))

    def rss_kib(self):
        return tree_rss_kib(self.proc.pid)

    def worker_pid(self):
        """The gunicorn worker: the end of the first-child chain (strace or py-spy, when used, sit above)."""
        pid = self.proc.pid
        while children(pid):
            pid = children(pid)[0]
        return pid

    def stop(self, timeout=30):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)


def listener_argv(config_path):
    return [sys.executable, "-m", "netevents_listener", "--config", config_path]


def machine(workdir):
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kib = 0
    try:
        with open("/proc/meminfo") as f:
            mem_kib = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    fstype = "unknown"
    try:
        fstype = subprocess.run(["stat", "-f", "-c", "%T", workdir], capture_output=True, text=True,
                                check=False).stdout.strip() or fstype
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem_kib / 1048576.0, 1),
            "python": platform.python_version(), "kernel": platform.release(), "workdir_fs": fstype,
            "load_before": round(os.getloadavg()[0], 2)}
