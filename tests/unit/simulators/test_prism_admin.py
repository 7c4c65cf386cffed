"""PrismAdmin (the test-side VM writes) and the Prism simulator's command line, against the simulator. Outcomes
are read back with plain requests through the v3 API and /_sim/deliveries, not through the code under test."""
import os
import subprocess
import sys
import threading
import time

import pytest
import requests

from ansible_collections.netevents.nutanix.plugins.module_utils.prism import PrismError
from tests.simulators.prism import PrismSimulator
from tests.simulators.prism.admin import PrismAdmin
from tests.simulators.prism.cli import main

REPO = os.path.join(os.path.dirname(__file__), "..", "..", "..")
V3 = "/api/nutanix/v3"
EAST_2 = "0c0ffee0-0000-4000-8000-0000000000e2"


@pytest.fixture
def sim():
    simulator = PrismSimulator(username="admin", password="secret", port=0, pending_seconds=0.05).start()
    yield simulator
    simulator.stop()


def admin(sim):
    return PrismAdmin(sim.host, port=sim.port, username="admin", password="secret", ca_path=sim.cert_path)


def vms(sim):
    """{name: (power, [ips], categories)} as Prism's own API lists them."""
    answer = requests.post(sim.url + V3 + "/vms/list", json={"length": 500}, auth=("admin", "secret"),
                           verify=sim.cert_path, timeout=10).json()
    return dict((vm["spec"]["name"], (vm["status"]["resources"]["power_state"],
                                      [ep["ip"] for nic in vm["status"]["resources"]["nic_list"]
                                       for ep in nic["ip_endpoint_list"]],
                                      vm["metadata"]["categories"])) for vm in answer["entities"])


def events(sim, count):
    """The event types of the first *count* deliveries Prism attempted (waiting for them)."""
    deadline = time.monotonic() + 10
    while True:
        deliveries = requests.get(sim.url + "/_sim/deliveries", verify=sim.cert_path, timeout=10).json()
        if len(deliveries) >= count or time.monotonic() > deadline:
            return [d["event_type"] for d in deliveries]
        time.sleep(0.05)


def test_set_power_state_keeps_categories(sim):
    client = admin(sim)
    uuid = client.new_vm("web-01", ["10.1.1.5"], {"AppTier": "Web"}, power="OFF")
    created = client.get_vm(uuid)
    client.set_power_state(uuid, "ON")
    on = client.wait_for_vm(uuid, timeout=10)
    assert on["metadata"]["spec_version"] == created["metadata"]["spec_version"] + 1
    assert vms(sim) == {"web-01": ("ON", ["10.1.1.5"], {"AppTier": "Web"})}
    # Already ON: nothing sent.
    client.set_power_state(uuid, "ON")
    assert client.get_vm(uuid)["metadata"]["spec_version"] == on["metadata"]["spec_version"]
    with pytest.raises(PrismError):
        client.set_power_state(uuid, "SUSPENDED")
    client.delete_vm(uuid)
    client.wait_for_vm_deleted(uuid, timeout=10)
    assert vms(sim) == {}


def test_categories_and_ips(sim):
    client = admin(sim)
    uuid = client.new_vm("db-01", ["10.2.0.1"], {"AppTier": "Db"})
    client.set_categories(uuid, {"AppTier": "Db", "Env": "Prod"})
    client.wait_for_vm(uuid, timeout=10)
    client.set_ips(uuid, ["10.2.0.2", "10.2.0.3"])             # the first NIC, same identity
    client.wait_for_vm(uuid, timeout=10)
    assert vms(sim) == {"db-01": ("ON", ["10.2.0.2", "10.2.0.3"], {"AppTier": "Db", "Env": "Prod"})}
    client.set_ips(uuid, ["10.2.0.9"], new_nic=True)
    client.wait_for_vm(uuid, timeout=10)
    assert vms(sim)["db-01"][1] == ["10.2.0.2", "10.2.0.3", "10.2.0.9"]
    assert sim.wait_idle()
    assert client.find_vm("db-01")["metadata"]["uuid"] == client.find_vm(uuid)["metadata"]["uuid"] == uuid
    client.new_vm("db-01")
    with pytest.raises(PrismError, match="2 VMs are named 'db-01'"):
        client.find_vm("db-01")
    with pytest.raises(PrismError, match="no VM has the name or uuid 'nope'"):
        client.find_vm("nope")


# ---------------------------------------------------------------- the command line
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`python -m tests.simulators.prism serve` in its own process: (port, cert dir, certificate path)."""
    cert_dir = str(tmp_path_factory.mktemp("certs"))
    proc = subprocess.Popen([sys.executable, "-m", "tests.simulators.prism", "serve", "--port", "0",
                             "--pending-seconds", "0.05", "--cert-dir", cert_dir, "--name", "pc-east",
                             "--cluster", "east-1", "--cluster", "east-2=%s" % EAST_2],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend([proc.stdout.readline(), proc.stdout.readline()]),
                              daemon=True)
    reader.start()
    reader.join(30)
    try:
        assert len(lines) == 2 and lines[0].startswith("Prism simulator ready at https://127.0.0.1:"), lines
        port = int(lines[0].strip().rsplit(":", 1)[1])
        cert = lines[1].strip().split(": ", 1)[1]
        assert cert == os.path.join(cert_dir, "prism-127.0.0.1-%d.pem" % port)
        yield port, cert_dir, cert
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
    assert not os.path.exists(cert), "the published certificate outlived the simulator"


class Remote(object):
    """The served simulator seen with plain requests, trusting the certificate it published."""

    def __init__(self, port, cert):
        self.url = "https://127.0.0.1:%d" % port
        self.cert_path = cert


def run(capsys, served, *argv):
    port, cert_dir, _cert = served
    code = main(list(argv) + ["--port", str(port), "--cert-dir", cert_dir])
    out, err = capsys.readouterr()
    return code, out, err


def test_cert_prints_the_published_path_of_the_running_simulator(capsys, served, tmp_path):
    port, _cert_dir, cert = served
    assert run(capsys, served, "cert") == (0, cert + "\n", "")
    assert main(["cert", "--port", str(port), "--cert-dir", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "no Prism simulator published a certificate at %s" % tmp_path in err


def test_vm_commands_drive_the_simulator_without_json(capsys, served):
    port, _cert_dir, cert = served
    remote = Remote(port, cert)
    requests.post(remote.url + "/_sim/reset", verify=cert, timeout=10)
    # A webhook to a closed port: Prism records each delivery it attempts, which is all this test needs.
    hook = requests.post(remote.url + V3 + "/webhooks", auth=("admin", "secret"), verify=cert, timeout=10, json={
        "metadata": {"kind": "webhook"}, "spec": {"name": "h", "resources": {
            "post_url": "http://127.0.0.1:9/", "events_filter_list": ["VM.CREATE", "VM.ON", "VM.OFF", "VM.UPDATE",
                                                                      "VM.NIC_PLUG", "VM.DELETE"]}}}).json()
    deadline = time.monotonic() + 10
    while requests.get(remote.url + V3 + "/webhooks/" + hook["metadata"]["uuid"], auth=("admin", "secret"),
                       verify=cert, timeout=10).json()["status"]["state"] != "COMPLETE":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    code, out, _err = run(capsys, served, "vm", "create", "web-01", "--ip", "10.9.0.1", "--category", "AppTier=Web")
    assert code == 0 and out.split()[0] == "web-01"
    assert out.split()[2:] == ["ON", "east-1", "10.9.0.1", "AppTier=Web"]
    assert run(capsys, served, "vm", "power", "web-01", "off")[0] == 0
    assert run(capsys, served, "vm", "categories", "web-01", "AppTier=Db", "Env=Prod")[0] == 0
    assert run(capsys, served, "vm", "ips", "web-01", "10.9.0.2", "--new-nic")[0] == 0
    assert vms(remote) == {"web-01": ("OFF", ["10.9.0.1", "10.9.0.2"], {"AppTier": "Db", "Env": "Prod"})}
    code, out, _err = run(capsys, served, "vm", "list")
    assert code == 0 and out.split()[2:] == ["OFF", "east-1", "10.9.0.1,10.9.0.2", "AppTier=Db,Env=Prod"]
    assert run(capsys, served, "vm", "delete", "web-01")[0] == 0
    assert vms(remote) == {}
    assert events(remote, 7) == ["VM.CREATE", "VM.ON", "VM.OFF", "VM.UPDATE", "VM.NIC_PLUG", "VM.UPDATE",
                                 "VM.DELETE"]
    code, _out, err = run(capsys, served, "vm", "power", "web-01", "on")
    assert code == 1 and "no VM has the name or uuid 'web-01'" in err


def test_a_named_prism_central_serves_its_clusters_and_creates_vms_where_asked(capsys, served):
    port, _cert_dir, cert = served
    remote = Remote(port, cert)
    requests.post(remote.url + "/_sim/reset", verify=cert, timeout=10)
    code, out, _err = run(capsys, served, "vm", "create", "db-02", "--ip", "10.9.1.1", "--cluster", "east-2")
    assert code == 0 and out.split()[3] == "east-2"
    listed = requests.post(remote.url + V3 + "/vms/list", json={}, auth=("admin", "secret"), verify=cert,
                           timeout=10).json()["entities"]
    assert [(vm["spec"]["name"], vm["status"]["cluster_reference"]) for vm in listed] == [
        ("db-02", {"kind": "cluster", "name": "east-2", "uuid": EAST_2})]
    clusters = requests.post(remote.url + V3 + "/clusters/list", json={}, auth=("admin", "secret"), verify=cert,
                             timeout=10).json()["entities"]
    # As on a real Prism Central: its clusters, and an entry for itself, told apart by the service list.
    assert [(c["status"]["name"], c["status"]["resources"]["config"]["service_list"]) for c in clusters] == [
        ("east-1", ["AOS"]), ("east-2", ["AOS"]), ("pc-east", ["PRISM_CENTRAL"])]
    assert clusters[1]["metadata"]["uuid"] == EAST_2
    code, _out, err = run(capsys, served, "vm", "create", "x", "--cluster", "pc-east")
    assert code == 1 and "Prism manages no cluster named 'pc-east'" in err


def test_help_shows_the_default_port_and_account(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    assert "(default: 9440" in out and "(default: admin)" in out and "(default: secret)" in out
