# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start, stop and check a detached process with a pid file: the role's stand-in for systemd.

With listener_service_manager "none" (containers, hosts without systemd as PID 1) the role runs the very
ExecStart command of the rendered unit through this script. Exit codes follow LSB: status answers 0 when
running and 3 when not.

  supervise.py start --pid-file F --log-file L [--user U] [--env K=V ...] -- COMMAND...
  supervise.py stop --pid-file F [--timeout S]
  supervise.py status --pid-file F
"""
import argparse
import os
import signal
import subprocess
import sys
import time

NOT_RUNNING = 3


def read_pid(pid_file):
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    return None if state == "Z" else pid


def start(args):
    if read_pid(args.pid_file):
        print("already running")
        return 0
    env = dict(os.environ)
    env.update(kv.split("=", 1) for kv in args.env)
    log = open(args.log_file, "ab")  # pylint: disable=consider-using-with
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        args.command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
        start_new_session=True, user=args.user, group=args.group, cwd="/")
    with open(args.pid_file, "w") as f:
        f.write("%d\n" % proc.pid)
    # A process that dies at once (bad config, port in use) is a failed start, not a started service.
    deadline = time.monotonic() + args.settle
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.stderr.write("exited with status %s at start; see %s\n" % (proc.returncode, args.log_file))
            os.unlink(args.pid_file)
            return 1
        time.sleep(0.1)
    print("started pid %d" % proc.pid)
    return 0


def stop(args):
    pid = read_pid(args.pid_file)
    if not pid:
        print("not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline and read_pid(args.pid_file):
        time.sleep(0.1)
    if read_pid(args.pid_file):
        os.kill(pid, signal.SIGKILL)
    try:
        os.unlink(args.pid_file)
    except OSError:
        pass
    print("stopped pid %d" % pid)
    return 0


def status(args):
    pid = read_pid(args.pid_file)
    print("running pid %d" % pid if pid else "not running")
    return 0 if pid else NOT_RUNNING


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="action", required=True)
    for name in ("start", "stop", "status"):
        p = sub.add_parser(name)
        p.add_argument("--pid-file", required=True)
        if name == "start":
            p.add_argument("--log-file", required=True)
            p.add_argument("--user")
            p.add_argument("--group")
            p.add_argument("--env", action="append", default=[])
            p.add_argument("--settle", type=float, default=2.0, help="seconds the process must stay up")
            p.add_argument("command", nargs=argparse.REMAINDER)
        if name == "stop":
            p.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.action == "start":
        if args.command[:1] == ["--"]:
            args.command = args.command[1:]
        if not args.command:
            parser.error("start needs a command after --")
    return {"start": start, "stop": stop, "status": status}[args.action](args)


if __name__ == "__main__":
    sys.exit(main())
