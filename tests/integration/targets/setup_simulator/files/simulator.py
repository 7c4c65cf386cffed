#!/usr/bin/env python
"""Start one of the collection's simulators (tests/simulators) for an integration target; print its facts as JSON.

The simulator runs in standalone mode, as demo/tour.py starts it: ``python -m tests.simulators.<kind>``, any free
port (--port 0, read back from its "ready at" line), its certificate written to the target's work folder (the path
read back from its "CA certificate:" line), its output in a log file. A watchdog stops it when the ansible-playbook run that started it ends, however that
run ends, so no target leaves a simulator (or its folder) behind.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

READY_RE = re.compile(r"simulator ready at https://([0-9.]+):([0-9]+)")
CA_RE = re.compile(r"CA certificate: (\S+)")


def collection_root():
    """The checkout holding tests/simulators: ansible-test copies this target to a folder inside it."""
    path = os.path.dirname(os.path.abspath(__file__))
    while path != os.path.dirname(path):
        if os.path.isfile(os.path.join(path, "galaxy.yml")) and os.path.isdir(os.path.join(path, "tests", "simulators")):
            return path
        path = os.path.dirname(path)
    raise SystemExit("no collection checkout with tests/simulators above %s" % __file__)


def playbook_pid():
    """The ansible-playbook process this task runs under, or None. Its task workers are forks with the same
    command line that end with each task: the outermost one is the run."""
    pid, found = os.getppid(), None
    while pid > 1:
        line = subprocess.run(["ps", "-o", "ppid=,args=", "-p", str(pid)], capture_output=True, text=True,
                              check=False).stdout.strip()
        if not line:
            break
        parent, args = line.split(None, 1) if " " in line else (line, "")
        if "ansible-playbook" in args:
            found = pid
        pid = int(parent)
    return found


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def watch(playbook, simulator, workdir):
    """In a detached child: stop *simulator* once *playbook* is gone, and remove its *workdir*."""
    if os.fork():
        return
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # let the command module see EOF on the launcher's output
        os.dup2(devnull, fd)
    while alive(playbook) and alive(simulator):
        time.sleep(1)
    stop(simulator)
    shutil.rmtree(workdir, ignore_errors=True)
    os._exit(0)


def stop(pid, grace=10):
    if not alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def start(kind, workdir, username, password, timeout=60):
    root = collection_root()
    log_path = os.path.join(workdir, "%s-simulator.log" % kind)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "tests.simulators.%s" % kind] + (["serve"] if kind == "prism" else [])
            + ["--port", "0", "--cert-dir", workdir, "--username", username, "--password", password],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    deadline = time.monotonic() + timeout
    while True:
        with open(log_path) as log:
            text = log.read()
        ready, ca = READY_RE.search(text), CA_RE.search(text)
        if ready and ca:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc.pid)
            with open(log_path) as log:
                raise SystemExit("the %s simulator did not start: %s" % (kind, log.read()[-2000:]))
        time.sleep(0.1)
    host, port = ready.group(1), int(ready.group(2))
    ca_path = ca.group(1)
    playbook = playbook_pid()
    if playbook is not None:
        watch(playbook, proc.pid, workdir)
    return dict(url="https://%s:%d" % (host, port), host=host, port=port, username=username, password=password,
                ca_path=ca_path, pid=proc.pid, log=log_path, stops_with_playbook=playbook)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["panos", "prism"])
    parser.add_argument("workdir")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", required=True)
    args = parser.parse_args()
    print(json.dumps(start(args.kind, args.workdir, args.username, args.password)))


if __name__ == "__main__":
    sys.exit(main())
