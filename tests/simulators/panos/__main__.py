"""``python -m tests.simulators.panos``: the simulator standalone (for the demo or by hand), until SIGTERM/Ctrl-C."""
import argparse
import sys

from tests.simulators._common import add_connection_arguments, serve
from tests.simulators.panos import PanosSimulator


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.simulators.panos",
                                     description="PAN-OS XML API simulator (a PA-VM firewall; HTTPS, self-signed).")
    add_connection_arguments(parser, port=8443, username="admin", password="admin")
    parser.add_argument("--commit-seconds", type=float, default=0.2,
                        help="how long a commit job stays ACT before FIN (default: %(default)s)")
    parser.add_argument("--panorama", action="store_true", help="be a Panorama (device groups) instead")
    parser.add_argument("--device-group", action="append", dest="device_groups", metavar="NAME",
                        help="a device group of the Panorama (repeat; default: branch-offices)")
    args = parser.parse_args(argv)
    sim = PanosSimulator(username=args.username, password=args.password, host=args.host, port=args.port,
                         commit_seconds=args.commit_seconds, model="Panorama" if args.panorama else "PA-VM",
                         hostname="Panorama" if args.panorama else "PA-VM",
                         device_groups=args.device_groups or ("branch-offices",))
    return serve(sim, "PAN-OS", args.cert_dir)


if __name__ == "__main__":
    sys.exit(main())
