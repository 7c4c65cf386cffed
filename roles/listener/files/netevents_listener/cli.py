# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Command line: run the service, check a configuration, inspect and requeue dead letters.

  python -m netevents_listener --config FILE [run]
  python -m netevents_listener --config FILE check-config
  python -m netevents_listener --config FILE dead-letters list [--json]
  python -m netevents_listener --config FILE dead-letters requeue (ID ... | --all)
  python -m netevents_listener --config FILE dead-letters delete (ID ... | --all)

Exit status: 0 success, 1 failure, 2 usage error, 78 invalid configuration (EX_CONFIG).
"""
import argparse
import datetime
import json
import sys

EX_CONFIG = 78


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", "-c", default=argparse.SUPPRESS, metavar="FILE",
                        help="the listener's YAML configuration")
    parser = argparse.ArgumentParser(prog="python -m netevents_listener", parents=[common],
                                     description="Nutanix Prism webhook listener (netevents.nutanix).")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", parents=[common], help="run the service in the foreground (the default)")
    sub.add_parser("check-config", parents=[common], help="validate the configuration and exit")
    dead = sub.add_parser("dead-letters", parents=[common], help="list, requeue or delete dead letters")
    dead_sub = dead.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = dead_sub.add_parser("list", parents=[common], help="list the dead letters")
    listing.add_argument("--json", action="store_true", help="one JSON object per line, with the event body")
    for name, verb in (("requeue", "queue again (with a fresh attempt count)"), ("delete", "delete for good")):
        p = dead_sub.add_parser(name, parents=[common], help="%s dead letters" % verb)
        p.add_argument("ids", nargs="*", type=int, metavar="ID")
        p.add_argument("--all", action="store_true", help="all dead letters")
    return parser


def _load(path, **kwargs):
    from .config import ConfigError, load_config
    try:
        return load_config(path, **kwargs)
    except ConfigError as e:
        sys.stderr.write("%s\n" % e)
        sys.exit(EX_CONFIG)


def _run(args):
    config = _load(args.config)
    from .logs import setup_logging
    try:
        from .server import ListenerServer
    except ImportError as e:
        sys.stderr.write("missing dependency: %s (install roles/listener/files/requirements.txt)\n" % e)
        return 1
    setup_logging(config.listener.log_level)
    ListenerServer(config).run()
    return 0


def _check_config(args):
    from .config import prism_entries
    config = _load(args.config)
    lc = config.listener
    print("configuration OK: %s" % config.source)
    print("  listening on %s://%s:%d%s (%s)" % (
        "https" if lc.tls_cert else "http", lc.host, lc.port, lc.path,
        "from %s" % ", ".join(str(n) for n in lc.allowed_networks) if lc.allowed_networks else "from any source"))
    if not getattr(lc, "receive_webhooks", True):
        print("  no webhook path: every Prism is polled (/healthz and /metrics only)")
    for prism in prism_entries(config):
        print("  prism %s:%d, api %s, source %s%s" % (
            prism.host, prism.port, prism.api, prism.source,
            ", polled every %ds" % prism.poll_interval_s if prism.source != "webhook" else ""))
    print("  plugin %s, queue %s" % (config.plugin.name, config.queue.path))
    return 0


def _dead_letters(args):
    from .store import EventQueue, QueueError
    config = _load(args.config, read_secrets=False, check_plugin=False)
    try:
        queue = EventQueue(config.queue.path, dedupe_window_s=config.queue.dedupe_window_s)
    except QueueError as e:
        sys.stderr.write("%s\n" % e)
        return 1
    try:
        if args.action == "list":
            return _list(queue, args.json)
        if not args.all and not args.ids:
            sys.stderr.write("name the dead letters by ID, or use --all\n")
            return 2
        ids = None if args.all else args.ids
        if args.action == "requeue":
            done = queue.requeue(ids)
            print("requeued %d dead letter(s)%s" % (len(done), ": " + " ".join(map(str, done)) if done else ""))
        else:
            count = queue.delete_dead(ids)
            done = [None] * count
            print("deleted %d dead letter(s)" % count)
        if ids is not None and len(done) < len(set(ids)):
            sys.stderr.write("some IDs are not dead letters\n")
            return 1
        return 0
    finally:
        queue.close()


def _list(queue, as_json):
    letters = queue.dead_letters()
    if as_json:
        for e in letters:
            try:
                body = json.loads(e.body)
            except ValueError:
                body = None
            print(json.dumps({"id": e.id, "event_type": e.event_type, "vm_uuid": e.vm_uuid,
                              "received_at": _iso(e.received_at), "dead_at": _iso(e.dead_at),
                              "attempts": e.attempts, "last_error": e.last_error, "body": body}))
        return 0
    if not letters:
        print("no dead letters")
        return 0
    print("%-8s %-20s %-14s %-36s %-8s %s" % ("ID", "RECEIVED", "EVENT", "VM", "ATTEMPTS", "LAST ERROR"))
    for e in letters:
        error = (e.last_error or "").replace("\n", " ")
        print("%-8d %-20s %-14s %-36s %-8d %s" % (e.id, _iso(e.received_at), e.event_type[:14], e.vm_uuid[:36],
                                                  e.attempts, error[:100]))
    return 0


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__
        print(__version__)
        return 0
    if not getattr(args, "config", None):
        parser.error("--config FILE is required")
    command = args.command or "run"
    if command == "run":
        return _run(args)
    if command == "check-config":
        return _check_config(args)
    return _dead_letters(args)
