"""BENCH ONLY: the 2017 design, re-implemented as a bench peer - one configuration change and one commit per event.

What the 2017 framework does per VM.ON, as run against our simulators (see the project's real-world notes): a
keygen with user and password every time, get and set of the tag, the address object and the address group, then
``<commit><force/></commit>`` without waiting for the job, all inside the webhook request; it answers 200 once
that is sent (also when the commit was refused) and never asks Prism about the VM. Here with pan-os-python and the
collection's one PAN-OS client (module_utils/panos.py ``connect``: keygen and ``show system info``), the get/set
pairs as the raw XML API calls they are. The 2017 framework also set a security rule; that pair is left out
(one call pair less per event than the original).

    PYTHONPATH=roles/listener/files:.collections:tests/unit/listener python bench/design2017.py \
        --port 8099 --path /listener/callback --firewall 127.0.0.1:4443 --ca-path fw.pem --user api
    (BENCH_WEBHOOK_PASSWORD and BENCH_FW_PASSWORD in the environment)
"""
import argparse
import base64
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from panos.firewall import FirewallCommit

from ansible_collections.netevents.nutanix.plugins.module_utils import panos as panos_api

PREFIX = "ntnx-vm-"


def event_targets(body):
    """(ips, categories) from a Prism v3 webhook body, as the 2017 handler read them (no Prism lookup)."""
    entity = (body.get("data") or {}).get("metadata") or {}
    categories = (entity.get("metadata") or {}).get("categories") or {}
    nics = ((entity.get("status") or {}).get("resources") or {}).get("nic_list") or []
    ips = [e["ip"] for nic in nics for e in nic.get("ip_endpoint_list") or [] if e.get("ip")]
    return ips, categories


def apply_event(provider, ips, categories):
    """One event: keygen, get/set tag, address, address group, and a forced commit not waited for."""
    device = panos_api.connect(provider)          # keygen + show system info, every event
    xapi = device.xapi
    base = device.xpath_vsys()
    tags = ["%s.%s" % (k, v) for k, v in sorted(categories.items())]
    for tag in tags:
        xpath = base + "/tag/entry[@name='%s']" % tag
        xapi.get(xpath)
        xapi.set(xpath=base + "/tag", element="<entry name='%s'/>" % tag)
    members = "".join("<member>%s</member>" % t for t in tags)
    for ip in ips:
        name = panos_api.address_name(PREFIX, ip)
        xapi.get(base + "/address/entry[@name='%s']" % name)
        xapi.set(xpath=base + "/address", element="<entry name='%s'><ip-netmask>%s</ip-netmask><tag>%s</tag></entry>"
                 % (name, ip, members))
    for tag in tags:
        group = "ntnx-%s" % tag
        xapi.get(base + "/address-group/entry[@name='%s']" % group)
        xapi.set(xpath=base + "/address-group", element="<entry name='%s'><dynamic><filter>'%s'</filter></dynamic>"
                 "</entry>" % (group, tag))
    try:
        device.commit(cmd=FirewallCommit(force=True), sync=False)
    except Exception:  # pylint: disable=broad-except
        pass  # as in 2017: the commit's failure (a full commit queue) is not the webhook's business


def make_handler(path, user, password, provider):
    expected = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # pylint: disable=arguments-differ
            pass

        def _answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # pylint: disable=invalid-name
            self._answer(200 if self.path == "/healthz" else 404, {"ok": self.path == "/healthz"})

        def do_POST(self):  # pylint: disable=invalid-name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != path:
                return self._answer(404, {"error": "not_found"})
            if not hmac.compare_digest(self.headers.get("Authorization", ""), expected):
                return self._answer(401, {"error": "unauthorized"})
            try:
                ips, categories = event_targets(json.loads(body))
                apply_event(provider, ips, categories)
            except Exception as e:  # pylint: disable=broad-except
                sys.stderr.write("event failed: %s\n" % panos_api.describe_error(e))
            return self._answer(200, {"status": "ok"})

    return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/listener/callback")
    parser.add_argument("--firewall", required=True, help="HOST:PORT of the firewall's XML API")
    parser.add_argument("--ca-path", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--webhook-user", required=True)
    args = parser.parse_args(argv)
    host, port = args.firewall.rsplit(":", 1)
    provider = {"ip_address": host, "port": int(port), "username": args.user,
                "password": os.environ["BENCH_FW_PASSWORD"], "ca_path": args.ca_path}
    handler = make_handler(args.path, args.webhook_user, os.environ["BENCH_WEBHOOK_PASSWORD"], provider)
    ThreadingHTTPServer(("127.0.0.1", args.port), handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
