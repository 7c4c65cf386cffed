"""``python -m tests.simulators.prism``: serve the simulator, print where its certificate is, or drive its VMs by
hand (create, list, power, categories, IPs, delete) without writing v3 JSON. See docs/simulators.md."""
import argparse
import os
import ssl
import sys

# From a plain checkout, tests.conftest puts the collection (ansible_collections.netevents.nutanix) on sys.path.
import tests.conftest  # noqa: F401  pylint: disable=unused-import
from ansible_collections.netevents.nutanix.plugins.module_utils.prism import PrismError
from tests.simulators._common import add_connection_arguments, cert_file, serve
from tests.simulators.prism.admin import PrismAdmin
from tests.simulators.prism.entities import PAYLOAD_STYLES
from tests.simulators.prism.simulator import UPDATES_AFTER_CREATE, PrismSimulator
from tests.simulators.prism.v4 import ALL_VERSIONS, EXT_ID_FILTER_MODES

NAME, PORT, USERNAME, PASSWORD = "Prism", 9440, "admin", "secret"
API_KEY_VARIABLE = "PRISM_SIM_API_KEY"  # a key on the command line would show in `ps`


def _serve(args):
    try:
        sim = _simulator(args)
    except ValueError as e:  # clusters given twice
        print("error: %s" % e, file=sys.stderr)
        return 2
    return serve(sim, NAME, args.cert_dir)


def _simulator(args):
    return PrismSimulator(username=args.username, password=args.password, host=args.host, port=args.port,
                          pending_seconds=args.pending_seconds, empty_nics_on_power_on=args.empty_nics_on_power_on,
                          allow_remote_delivery=args.allow_remote_delivery, v4_versions=args.v4_versions,
                          v3_webhooks=not args.no_v3_webhooks, api_key=os.environ.get(API_KEY_VARIABLE) or None,
                          ext_id_filter=args.ext_id_filter, updates_after_create=args.updates_after_create,
                          payload_style=args.payload_style, name=args.name, clusters=args.cluster or None)


def _versions(text):
    versions = tuple(v for v in text.split(",") if v)
    unknown = sorted(set(versions) - set(ALL_VERSIONS))
    if unknown:
        raise argparse.ArgumentTypeError("unknown v4 versions %s (known: %s)" % (unknown, ",".join(ALL_VERSIONS)))
    return versions


def _delays(text):
    try:
        return tuple(float(d) for d in text.split(",") if d)
    except ValueError:
        raise argparse.ArgumentTypeError("delays are seconds separated by commas, not %r" % text)


def _cluster(text):
    """NAME or NAME=UUID."""
    name, sep, uuid = text.partition("=")
    if not name or (sep and not uuid):
        raise argparse.ArgumentTypeError("a cluster is NAME or NAME=UUID, not %r" % text)
    return {"name": name, "uuid": uuid or None}


def _published_cert(args):
    """The certificate the simulator at --host/--port published, checked against the one it serves."""
    path = cert_file(NAME, args.host, args.port, args.cert_dir)
    if not os.path.exists(path):
        raise PrismError("no Prism simulator published a certificate at %s: start one with `python -m "
                         "tests.simulators.prism serve --port %s` (or give --cert-dir)" % (path, args.port))
    try:
        served = ssl.get_server_certificate((args.host, args.port), timeout=5)
    except OSError as e:
        raise PrismError("nothing answers TLS at %s:%s (%s): has the simulator that wrote %s stopped?"
                         % (args.host, args.port, e, path))
    with open(path) as f:
        if ssl.PEM_cert_to_DER_cert(f.read()) != ssl.PEM_cert_to_DER_cert(served):
            raise PrismError("%s:%s serves another certificate than %s" % (args.host, args.port, path))
    return path


def _admin(args):
    return PrismAdmin(args.host, port=args.port, username=args.username, password=args.password, retries=1,
                      ca_path=args.ca or _published_cert(args))


def _show(vm):
    """One line: name, uuid, power, cluster, IPs, categories (as Prism holds them once the change completed)."""
    resources = (vm.get("status") or {}).get("resources") or vm["spec"].get("resources") or {}
    cluster = (vm.get("status") or {}).get("cluster_reference") or vm["spec"].get("cluster_reference") or {}
    ips = [ep["ip"] for nic in resources.get("nic_list", []) for ep in nic.get("ip_endpoint_list", [])]
    categories = sorted("%s=%s" % kv for kv in (vm["metadata"].get("categories") or {}).items())
    print("%-16s %s  %-3s  %-16s %-31s %s" % (vm["spec"].get("name"), vm["metadata"]["uuid"],
                                              resources.get("power_state", "?"), cluster.get("name") or "-",
                                              ",".join(ips) or "-", ",".join(categories) or "-"))


def _done(client, args, uuid):
    _show(client.get_vm(uuid) if args.no_wait else client.wait_for_vm(uuid, timeout=60))


def _category(text):
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError("a category is KEY=VALUE, not %r" % text)
    return key, value


def _vm_create(client, args):
    _done(client, args, client.new_vm(args.name, args.ip, dict(args.category), args.power.upper(), wait=False,
                                      cluster=args.cluster))


def _vm_list(client, _args):
    for vm in client.list_vms():
        _show(vm)


def _vm_change(change):
    """A command that changes one VM: find it, *change(client, uuid, args)*, print it."""
    def run(client, args):
        uuid = client.find_vm(args.vm)["metadata"]["uuid"]
        change(client, uuid, args)
        _done(client, args, uuid)
    return run


def _vm_delete(client, args):
    vm = client.find_vm(args.vm)
    client.delete_vm(vm["metadata"]["uuid"])
    if not args.no_wait:
        client.wait_for_vm_deleted(vm["metadata"]["uuid"], timeout=60)
    print("deleted %s %s" % (vm["spec"].get("name"), vm["metadata"]["uuid"]))


def parser():
    connection = argparse.ArgumentParser(add_help=False)
    add_connection_arguments(connection, port=PORT, username=USERNAME, password=PASSWORD)
    client = argparse.ArgumentParser(add_help=False, parents=[connection])
    client.add_argument("--ca", metavar="PEM", help="trust this certificate (default: the one the simulator at "
                                                    "--host/--port published in --cert-dir)")
    client.add_argument("--no-wait", action="store_true", help="do not wait for Prism to complete the change")

    top = argparse.ArgumentParser(prog="python -m tests.simulators.prism", description=(
        "Nutanix Prism v3 API simulator: serve it (HTTPS, self-signed; default https://127.0.0.1:%d, user %s, "
        "password %s), or drive a running one by hand." % (PORT, USERNAME, PASSWORD)))
    commands = top.add_subparsers(dest="command", required=True, metavar="{serve,cert,vm}")
    serve_cmd = commands.add_parser("serve", parents=[connection], help="run the simulator until SIGTERM or Ctrl-C",
                                    description="Run the simulator; it prints its URL and its certificate's path. "
                                                "With %s set in the environment it also takes that API key "
                                                "(X-ntnx-api-key)." % API_KEY_VARIABLE)
    serve_cmd.add_argument("--pending-seconds", type=float, default=0.3,
                           help="how long create/update/delete stay PENDING before COMPLETE (default: %(default)s)")
    serve_cmd.add_argument("--empty-nics-on-power-on", action="store_true",
                           help="send VM.ON with an empty nic_list, as some AOS versions do")
    serve_cmd.add_argument("--allow-remote-delivery", action="store_true",
                           help="deliver webhook events to non-loopback post_url hosts too")
    serve_cmd.add_argument("--v4-versions", type=_versions, default=ALL_VERSIONS, metavar="LIST",
                           help="the v4 versions served, comma-separated; '' for a v3-only Prism such as Prism "
                                "Element (default: %s)" % ",".join(ALL_VERSIONS))
    serve_cmd.add_argument("--no-v3-webhooks", action="store_true",
                           help="a Prism Central whose v3 webhooks are gone: /webhooks... answers 404")
    serve_cmd.add_argument("--ext-id-filter", choices=EXT_ID_FILTER_MODES, default="honour",
                           help="how a v4 $filter on extId is treated (default: %(default)s)")
    serve_cmd.add_argument("--updates-after-create", type=_delays, default=UPDATES_AFTER_CREATE, metavar="SECONDS",
                           help="delays of the unprompted VM.UPDATE events after VM.CREATE, comma-separated; '' "
                                "for none (default: %s)" % ",".join("%g" % d for d in UPDATES_AFTER_CREATE))
    serve_cmd.add_argument("--payload-style", choices=PAYLOAD_STYLES, default="2019",
                           help="the shape of webhook events: 2019, or the older 2017 field names (default: "
                                "%(default)s)")
    serve_cmd.add_argument("--name", default="sim-pc",
                           help="the Prism Central's name, as it lists itself among its clusters (default: "
                                "%(default)s)")
    serve_cmd.add_argument("--cluster", action="append", type=_cluster, metavar="NAME[=UUID]",
                           help="a cluster it manages (repeat; the first takes VMs created without one; a uuid "
                                "made from the names when none is given; default: one, sim-cluster)")
    serve_cmd.set_defaults(run=_serve)
    cert_cmd = commands.add_parser("cert", parents=[connection], help="print the running simulator's certificate path",
                                   description="Print the path of the certificate the simulator at --host/--port "
                                               "serves (to give curl --cacert, or a client's CA option).")
    cert_cmd.set_defaults(run=lambda args: print(_published_cert(args)))

    vm = commands.add_parser("vm", help="create, list, power, re-categorise, re-address or delete VMs",
                             description="Change VMs as a Prism user would; each change emits the events Prism "
                                         "emits and, unless --no-wait, prints the VM once it is COMPLETE.")
    vms = vm.add_subparsers(dest="vm_command", required=True, metavar="{create,list,power,categories,ips,delete}")
    create = vms.add_parser("create", parents=[client], help="create a VM (VM.CREATE, then VM.ON if on)")
    create.add_argument("name")
    create.add_argument("--ip", action="append", default=[], help="an address, one NIC each (repeat)")
    create.add_argument("--category", action="append", default=[], type=_category, metavar="KEY=VALUE",
                        help="a category (repeat)")
    create.add_argument("--power", choices=("on", "off"), default="on", help="(default: %(default)s)")
    create.add_argument("--cluster", metavar="NAME", help="the cluster to create it on (default: the first)")
    create.set_defaults(run=_vm_create)
    vms.add_parser("list", parents=[client], help="list every VM").set_defaults(run=_vm_list)
    power = vms.add_parser("power", parents=[client], help="power a VM on or off (VM.ON / VM.OFF)")
    power.add_argument("vm", help="name or uuid")
    power.add_argument("state", choices=("on", "off"))
    power.set_defaults(run=_vm_change(lambda client, uuid, args: client.set_power_state(uuid, args.state.upper())))
    categories = vms.add_parser("categories", parents=[client], help="replace a VM's categories (VM.UPDATE)")
    categories.add_argument("vm", help="name or uuid")
    categories.add_argument("category", nargs="*", type=_category, metavar="KEY=VALUE", help="none: no category")
    categories.set_defaults(run=_vm_change(lambda client, uuid, args: client.set_categories(uuid, dict(args.category))))
    ips = vms.add_parser("ips", parents=[client], help="set a VM's addresses (VM.UPDATE) or plug a NIC with more")
    ips.add_argument("vm", help="name or uuid")
    ips.add_argument("ip", nargs="+")
    ips.add_argument("--new-nic", action="store_true",
                     help="plug a new NIC with these addresses (VM.NIC_PLUG, VM.UPDATE) instead of giving them to "
                          "the first NIC")
    ips.set_defaults(run=_vm_change(lambda client, uuid, args: client.set_ips(uuid, args.ip, new_nic=args.new_nic)))
    delete = vms.add_parser("delete", parents=[client], help="delete a VM (VM.DELETE)")
    delete.add_argument("vm", help="name or uuid")
    delete.set_defaults(run=_vm_delete)
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        if args.command == "vm":
            return args.run(_admin(args), args) or 0
        return args.run(args) or 0
    except PrismError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
