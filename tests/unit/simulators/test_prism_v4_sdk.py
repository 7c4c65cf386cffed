"""The official Nutanix v4 SDKs read the Prism simulator's v4 answers: list with paging, one VM, categories,
clusters, a 401, a 404 and a 400, each deserialized into the SDK's own models with nothing left unknown.

The SDKs pin urllib3 1.26, so they run in .venv-sdk (``make sdk-venv``), in a process of their own
(sdk_v4_probe.py); what they report is checked here against the simulator's v3 API. The newest SDKs
(v4.3, prism v4.4 negotiated down) and the first GA ones (v4.0, the older NIC shape) are both run.
Without .venv-sdk the test is skipped, except under CI=true, where it fails.
"""
import json
import os
import subprocess

import pytest
import requests

from tests.simulators.prism import PrismSimulator
from tests.simulators.prism.entities import CLUSTER_REF, pc_cluster_uuid
from tests.simulators.prism.v4 import ALL_VERSIONS

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def _sdk_python():
    path = os.environ.get("NETEVENTS_SDK_PYTHON") or os.path.join(ROOT, ".venv-sdk", "bin", "python")
    if not os.path.exists(path):
        message = "the Nutanix SDK venv is missing (%s): run `make sdk-venv`" % path
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


SDKS = {
    # name: (extra PYTHONPATH inside the SDK venv, versions the simulator serves, NIC network-info class)
    "newest": (None, ALL_VERSIONS, "VirtualEthernetNicNetworkInfo"),
    "v4.0": ("sdk-v4.0", ("v4.0", "v4.1"), "NicNetworkInfo"),
}


@pytest.fixture(scope="module", params=sorted(SDKS))
def probe(request):
    sdk_python = _sdk_python()
    extra_path, versions, nic_class = SDKS[request.param]
    sim = PrismSimulator(pending_seconds=0, v4_versions=versions)
    sim.start()
    try:
        web = sim.seed_vms(3, name_prefix="web", categories={"AppTier": "Web", "Env": "Prod"})
        sim.seed_vms(1, name_prefix="db", categories={"AppTier": "Db"}, power_state="OFF", first_ip="10.128.1.1")
        v3 = requests.Session()
        v3.auth = (sim.username, sim.password)
        # A VM whose second NIC has an address AHV learned (DHCP), not one it assigned.
        created = v3.post(sim.url + "/api/nutanix/v3/vms", verify=sim.cert_path, timeout=10, json={
            "metadata": {"kind": "vm", "categories": {"AppTier": "Web"}},
            "spec": {"name": "dhcp-01", "resources": {"power_state": "ON", "nic_list": [
                {"ip_endpoint_list": [{"ip": "10.128.2.1"}]},
                {"ip_endpoint_list": [{"ip": "10.128.2.2", "type": "LEARNED"}]}]}}})
        assert created.status_code == 202, created.text
        listed = v3.post(sim.url + "/api/nutanix/v3/vms/list", json={"kind": "vm", "length": 500},
                         verify=sim.cert_path, timeout=10).json()["entities"]
        cfg = {"host": sim.host, "port": sim.port, "username": sim.username, "password": sim.password,
               "ca": sim.cert_path, "vm_ext_id": web[1], "page_limit": 2}
        env = dict(os.environ)
        if extra_path:
            env["PYTHONPATH"] = os.path.join(os.path.dirname(os.path.dirname(sdk_python)), extra_path)
        run = subprocess.run([sdk_python, os.path.join(HERE, "sdk_v4_probe.py"), json.dumps(cfg)],
                             capture_output=True, text=True, env=env, timeout=120, check=False)
        assert run.returncode in (0, 1) and run.stdout, run.stderr[-3000:]
        yield json.loads(run.stdout), listed, nic_class
    finally:
        sim.stop()


def _v3_view(entity):
    """What the v3 API says of a VM: name, power, IPs, categories and cluster."""
    res = entity["status"]["resources"]
    ips = [ep["ip"] for nic in res["nic_list"] for ep in nic["ip_endpoint_list"]]
    return (entity["status"]["name"], res["power_state"], ips, entity["metadata"]["categories"],
            entity["status"]["cluster_reference"]["uuid"])


def test_the_sdks_deserialize_every_answer_into_their_models(probe):
    report, listed, nic_class = probe
    assert report["errors"] == []  # no unknown field and no one-of left undecoded, anywhere

    # Paging: 5 VMs by 2 -> 2, 2, 1, each page telling the total, with first/last/prev/next links.
    pages = report["pages"]
    assert [p["count"] for p in pages] == [2, 2, 1]
    assert all(p["total"] == len(listed) for p in pages)
    assert "next" in pages[0]["links"] and "next" not in pages[-1]["links"] and "prev" in pages[-1]["links"]

    # Every VM, as the SDK read it, is the VM v3 shows, its category references resolving to v3's pairs.
    names = dict((ext_id, (key, value)) for ext_id, key, value, _type in report["categories"])
    seen = [vm for page in pages for vm in page["vms"]]
    assert sorted(vm["ext_id"] for vm in seen) == sorted(e["metadata"]["uuid"] for e in listed)
    by_uuid = dict((e["metadata"]["uuid"], _v3_view(e)) for e in listed)
    for vm in seen + [report["vm"]]:
        assert (vm["name"], vm["power_state"], vm["ips"], dict(names[c] for c in vm["categories"]),
                vm["cluster"]) == by_uuid[vm["ext_id"]]
        assert vm["nic_classes"] == [nic_class]
    assert report["vm_class"] == "Vm" and report["vm"]["ext_id"] in by_uuid and report["etag"]
    assert set(names.values()) == set((k, v) for e in listed for k, v in e["metadata"]["categories"].items())
    assert all(kind == "USER" for _e, _k, _v, kind in report["categories"])
    assert report["category"][3] == "Category" and tuple(report["category"][1:3]) == names[report["category"][0]]
    # The simulator's one cluster, and the entry a Prism Central lists for itself.
    assert report["clusters"] == sorted([[CLUSTER_REF["uuid"], CLUSTER_REF["name"], ["AOS"]],
                                         [pc_cluster_uuid("sim-pc"), "sim-pc", ["PRISM_CENTRAL"]]])

    # $select leaves out what was not asked for; $filter on extId finds exactly that VM.
    assert report["selected"]["nics"] is None and report["selected"]["name"]
    assert report["filtered"] == [report["vm"]["ext_id"]]

    # Errors are the SDK's ErrorResponse: AppMessages for 401 and 404, a SchemaValidationError for a bad $limit.
    assert report["unauthorized"]["status"] == 401
    assert report["unauthorized"]["data"] == "ErrorResponse"
    assert [m["class"] for m in report["unauthorized"]["messages"]] == ["AppMessage"]
    assert report["not_found"]["status"] == 404 and report["not_found"]["messages"][0]["code"] == "VMM-20005"
    assert report["bad_limit"]["status"] == 400
    assert report["bad_limit"]["messages"][0]["class"] == "SchemaValidationError"
    assert report["bad_limit"]["messages"][0]["paths"] == ["$limit"]


def test_the_newest_sdks_negotiate_the_newest_version_served(probe):
    report, _listed, nic_class = probe
    if nic_class == "NicNetworkInfo":
        assert report["negotiated"] is None  # the v4.0 SDKs do not negotiate: they ask v4.0 paths
    else:
        # OPTIONS /api/<ns>/unversioned/info said v4.3: vmm stays at v4.3, prism's v4.4 SDK steps down.
        assert report["negotiated"] == "v4.3" and report["prism_negotiated"] == "v4.3"
