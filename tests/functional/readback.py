"""Read the simulators back through their real APIs (never from a module's or plugin's own output)."""
import xml.etree.ElementTree as ET

import requests

from tests.functional.conftest import PANOS_PASSWORD, PANOS_USERNAME, PRISM_PASSWORD, PRISM_USERNAME
from tests.simulators.prism.admin import PrismAdmin


def _panos_op(panos_sim, cmd):
    url = panos_sim.url + "/api/"
    key = ET.fromstring(requests.post(url, data={"type": "keygen", "user": PANOS_USERNAME, "password": PANOS_PASSWORD},
                                      verify=panos_sim.cert_path, timeout=10).text).findtext("result/key")
    response = requests.post(url, data={"type": "op", "cmd": cmd, "key": key}, verify=panos_sim.cert_path, timeout=30)
    root = ET.fromstring(response.text)
    assert root.get("status") == "success", response.text
    return root


def registered_ips(panos_sim):
    """{ip: set(tags)}: `show object registered-ip all` through the XML API, every page."""
    table, start = {}, 1
    while True:
        root = _panos_op(panos_sim, "<show><object><registered-ip><limit>500</limit><start-point>%d</start-point>"
                                    "</registered-ip></object></show>" % start)
        entries = [e for e in root.iter("entry") if e.get("ip")]
        for entry in entries:
            table[entry.get("ip")] = set(m.text for m in entry.iter("member"))
        if len(entries) < 500:
            return table
        start += 500


def dag_members(panos_sim):
    """{group: sorted IPs}: `show object dynamic-address-group all` through the XML API."""
    root = _panos_op(panos_sim, "<show><object><dynamic-address-group><all/></dynamic-address-group></object></show>")
    members = {}
    for entry in root.findall("result/dyn-addr-grp/entry"):
        members[entry.findtext("group-name")] = sorted(m.get("name") for m in entry.findall("member-list/entry"))
    return members


def create_vm(prism_sim, name, ips, categories, power_state="ON", cluster=None):
    """Create a VM in the Prism simulator (on the cluster named *cluster*, if given; not waiting for it to
    complete); return its uuid."""
    admin = PrismAdmin(prism_sim.host, port=prism_sim.port, username=PRISM_USERNAME, password=PRISM_PASSWORD,
                       ca_path=prism_sim.cert_path)
    return admin.new_vm(name, ips, categories, power_state, wait=False, cluster=cluster)
