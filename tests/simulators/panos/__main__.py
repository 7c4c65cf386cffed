"""``python -m tests.simulators.panos``: the simulator standalone (for the demo or by hand), until SIGTERM/Ctrl-C."""
import argparse
import sys

from tests.simulators._common import add_connection_arguments, serve
from tests.simulators.panos import PanosSimulator
from tests.simulators.panos.platforms import DEFAULT_PLATFORM, PLATFORMS, platform


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.simulators.panos",
                                     description="PAN-OS XML API simulator (a firewall or Panorama; HTTPS, "
                                                 "self-signed).")
    add_connection_arguments(parser, port=8443, username="admin", password="admin")
    parser.add_argument("--model", default=DEFAULT_PLATFORM, type=_model, metavar="MODEL",
                        help="the platform, whose registered-IP capacity and commit queue apply: %s "
                             "(default: %%(default)s)" % ", ".join(PLATFORMS))
    parser.add_argument("--panorama", action="store_true", help="be a Panorama (the same as --model Panorama)")
    parser.add_argument("--device-group", action="append", dest="device_groups", metavar="NAME",
                        help="a device group of the Panorama (repeat; default: branch-offices)")
    parser.add_argument("--registered-ip-capacity", type=int, metavar="N",
                        help="registered IPs it holds (default: the model's)")
    parser.add_argument("--commit-queue-limit", type=int, metavar="N",
                        help="commits that may wait while one runs (default: the model's)")
    latency = parser.add_argument_group("latency model", "off unless --latency: then the model's preset, each "
                                                         "figure replaceable")
    latency.add_argument("--latency", action="store_true",
                         help="one management plane serving calls in turn at the model's speed")
    latency.add_argument("--per-call-seconds", type=float, metavar="S", help="cost of each API call")
    latency.add_argument("--registrations-per-second", type=float, metavar="N", help="User-ID register entries")
    latency.add_argument("--unregistrations-per-second", type=float, metavar="N",
                         help="User-ID unregister entries")
    parser.add_argument("--commit-seconds", type=float, metavar="S",
                        help="how long a commit job stays ACT before FIN (default: 0.2, or the preset's with "
                             "--latency)")
    args = parser.parse_args(argv)
    model = "Panorama" if args.panorama else args.model
    chosen = None
    if args.latency:
        figures = dict((name, getattr(args, name)) for name in ("per_call_seconds", "registrations_per_second",
                                                                "unregistrations_per_second"))
        chosen = platform(model).latency._replace(**dict((k, v) for k, v in figures.items() if v is not None))
    sim = PanosSimulator(username=args.username, password=args.password, host=args.host, port=args.port,
                         commit_seconds=args.commit_seconds, model=model, latency=chosen,
                         registered_ip_capacity=args.registered_ip_capacity,
                         commit_queue_limit=args.commit_queue_limit,
                         device_groups=args.device_groups or ("branch-offices",))
    return serve(sim, "PAN-OS", args.cert_dir)


def _model(name):
    try:
        platform(name)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))
    return name


if __name__ == "__main__":
    sys.exit(main())
