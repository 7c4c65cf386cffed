"""Helpers for the panos plugin tests: simulators, a listener configuration that uses them, and a reader of the
firewall that goes through the XML API with requests (as an operator's script would), never through the plugin.
"""
import base64
import json
import time
import xml.etree.ElementTree as ET

import requests

from listener_helpers import WEBHOOK_PASSWORD, WEBHOOK_USER, make_config, wait_for, write_secret
from ansible_collections.netevents.nutanix.plugins.module_utils.prism import webhook_spec
from tests.simulators.panos import PanosSimulator
from tests.simulators.prism import PrismSimulator
from tests.simulators.prism.admin import PrismAdmin

# Unusual values, so a test can prove none of them ever shows up where it should not.
PRISM_USER = "netevents-svc"
PRISM_PASSWORD = "Pr1sm-Svc-S3cret-91c4"
FW_USER = "listener-api"
FW_PASSWORD = "Fw-Adm1n-S3cret-5d2e"
ALL_EVENTS = ["VM.CREATE", "VM.DELETE", "VM.ON", "VM.OFF", "VM.UPDATE", "VM.MIGRATE", "VM.NIC_PLUG",
              "VM.NIC_UNPLUG"]
VSYS1 = "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"


def start_prism(**kwargs):
    kwargs.setdefault("pending_seconds", 0.05)
    return PrismSimulator(username=PRISM_USER, password=PRISM_PASSWORD, **kwargs).start()


def start_firewall(**kwargs):
    kwargs.setdefault("commit_seconds", 0.05)
    return PanosSimulator(username=FW_USER, password=FW_PASSWORD, **kwargs).start()


def target(sim, **extra):
    """A ``targets`` entry for a simulator: password from a file, TLS verified against its certificate."""
    entry = {"ip_address": sim.host, "port": sim.port, "username": FW_USER, "password_file": "fw_password",
             "ca_path": sim.cert_path}
    entry.update(extra)
    return entry


def panos_config(directory, prism, targets, options=None, queue=None, reconcile_minutes=0, listener=None,
                 prism_extra=None):
    """config.yml for a listener with the panos plugin; secrets in 0600 files next to it. Its Prism is a webhook
    source only unless *prism_extra* says otherwise (e.g. {"source": "poll"}): the poll source has tests of its
    own (test_listener_poll.py), and here each event is one the test sent."""
    directory = str(directory)
    write_secret(directory + "/prism_password", PRISM_PASSWORD)
    write_secret(directory + "/fw_password", FW_PASSWORD)
    plugin_options = {"targets": targets}
    plugin_options.update(options or {})
    return make_config(
        directory, plugin={"name": "panos", "options": plugin_options}, listener=listener,
        queue=dict({"batch_window_ms": 50, "backoff_initial_s": 0.1, "backoff_max_s": 0.5, "max_attempts": 50},
                   **(queue or {})),
        extra={"prism": dict({"host": prism.host, "port": prism.port, "username": PRISM_USER,
                              "password_file": "prism_password", "ca_path": prism.cert_path, "source": "webhook"},
                             **(prism_extra or {})),
               "reconcile": {"interval_minutes": reconcile_minutes}})


# The in-process listener (netevents_listener.service.Service, started by the ``services`` fixture).
HEADERS = {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (WEBHOOK_USER, WEBHOOK_PASSWORD)).encode()).decode(),
           "Content-Type": "application/json"}


def post(svc, body):
    """POST one webhook body to an in-process listener through its Flask app; it must be acknowledged."""
    response = svc.app.test_client().post("/listener/callback", data=json.dumps(body), headers=HEADERS)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def drained(svc, timeout=30):
    wait_for(lambda: svc.queue.depth() == 0 and svc.dispatcher.batch_started is None, timeout=timeout,
             message="the queue drained")


def counter(svc, name, **labels):
    """The sum of a metric's samples (those with these label values) in the service's registry."""
    return sum(m.value for family in svc.metrics.registry.collect() for m in family.samples
               if m.name == name and all(m.labels.get(k) == v for k, v in labels.items()))


def prism_client(prism):
    return PrismAdmin(prism.host, port=prism.port, username=PRISM_USER, password=PRISM_PASSWORD,
                      ca_path=prism.cert_path)


def subscribe(client, post_url, events=None):
    """Register the listener's webhook in Prism, as the role does, and wait until Prism delivers to it."""
    hook = client.create_webhook(webhook_spec("netevents-test", post_url, events or ALL_EVENTS,
                                              credentials={"username": WEBHOOK_USER, "password": WEBHOOK_PASSWORD}))
    client.wait_for_webhook(hook["metadata"]["uuid"], timeout=30)
    return hook["metadata"]["uuid"]


def create_vm(client, name, ips, categories, power="ON"):
    nics = [{"ip_endpoint_list": [{"ip": ip}]} for ip in ([ips] if isinstance(ips, str) else ips)]
    created = client.create_vm({"name": name, "resources": {"power_state": power, "nic_list": nics}},
                               metadata={"categories": categories})
    uuid = created["metadata"]["uuid"]
    client.wait_for_vm(uuid, timeout=30)
    return uuid


def set_categories(client, uuid, categories):
    vm = client.wait_for_vm(uuid, timeout=30)
    metadata = dict(vm["metadata"], categories=categories)
    metadata.pop("categories_mapping", None)
    client.update_vm(uuid, vm["spec"], metadata["spec_version"], metadata=metadata)
    client.wait_for_vm(uuid, timeout=30)


def set_power(client, uuid, state):
    client.wait_for_vm(uuid, timeout=30)
    client.set_power_state(uuid, state)
    client.wait_for_vm(uuid, timeout=30)


class Unavailable(Exception):
    """The firewall answered with an HTTP 5xx (a fault the test switched on)."""


class FirewallApi(object):
    """The firewall as its XML API shows it (keygen, then type=op / type=config show / type=user-id)."""

    def __init__(self, sim):
        self.url = sim.url + "/api/"
        self.verify = sim.cert_path
        answer = self._post({"type": "keygen", "user": FW_USER, "password": FW_PASSWORD})
        self.key = answer.findtext("result/key")

    def _post(self, data):
        response = requests.post(self.url, data=data, verify=self.verify, timeout=30)
        if response.status_code >= 500:
            raise Unavailable("HTTP %d" % response.status_code)
        root = ET.fromstring(response.text)
        assert response.status_code == 200 and root.get("status") == "success", response.text
        return root

    def call(self, **data):
        data["key"] = self.key
        return self._post(data)

    def registered_ips(self):
        """{ip: set(tags)}: `show object registered-ip all`, page by page."""
        table, start = {}, 1
        while True:
            root = self.call(type="op", cmd="<show><object><registered-ip><limit>500</limit><start-point>%d"
                                            "</start-point></registered-ip></object></show>" % start)
            entries = root.findall("result/entry")
            for entry in entries:
                table[entry.get("ip")] = set(m.text for m in entry.findall("tag/member"))
            if len(entries) < 500:
                return table
            start += 500

    def group_members(self, group):
        """Names of a dynamic address group's members (registered IPs and address objects)."""
        root = self.call(type="op", cmd="<show><object><dynamic-address-group><name>%s</name>"
                                        "</dynamic-address-group></object></show>" % group)
        return set(e.get("name") for e in root.findall("result/dyn-addr-grp/entry/member-list/entry"))

    def address_objects(self, prefix="ntnx-vm-"):
        """{name: (ip, set(tags))} of the running configuration's address objects named with *prefix*."""
        root = ET.fromstring(requests.post(self.url, data={"type": "config", "action": "show", "key": self.key,
                                                           "xpath": VSYS1 + "/address"},
                                           verify=self.verify, timeout=30).text)
        return dict((e.get("name"), (e.findtext("ip-netmask"), set(m.text for m in e.findall("tag/member"))))
                    for e in root.iter("entry") if e.get("name", "").startswith(prefix))

    def add_dynamic_group(self, name, tag_filter):
        self.call(type="config", action="set", xpath=VSYS1 + "/address-group",
                  element="<entry name='%s'><dynamic><filter>%s</filter></dynamic></entry>" % (name, tag_filter))

    def commit(self, timeout=30):
        """Commit and wait for the job to finish."""
        job = self.call(type="commit", cmd="<commit></commit>").findtext("result/job")
        deadline = time.monotonic() + timeout
        while job and time.monotonic() < deadline:
            root = self.call(type="op", cmd="<show><jobs><id>%s</id></jobs></show>" % job)
            if root.findtext("result/job/status") == "FIN":
                assert root.findtext("result/job/result") == "OK", ET.tostring(root)
                return
            time.sleep(0.05)
        assert not job, "commit job %s did not finish" % job

    def register(self, table):
        """Register {ip: tags} (another system's tags) with one uid-message."""
        entries = "".join("<entry ip='%s'><tag>%s</tag></entry>" % (ip, "".join("<member>%s</member>" % t for t in tags))
                          for ip, tags in table.items())
        self.call(type="user-id", cmd="<uid-message><version>1.0</version><type>update</type><payload><register>"
                                      "%s</register></payload></uid-message>" % entries)
