"""Two Prism Central simulators at once, each with its own name and clusters: VMs carry their cluster in v3
(``cluster_reference``) and v4 (``cluster.extId``), a create names its cluster, and a VM can be moved to another.
Read back with plain requests through both APIs."""
import pytest
import requests

from tests.simulators.prism import PrismSimulator
from tests.simulators.prism.admin import PrismAdmin
from tests.simulators.prism.entities import CLUSTER_REF, clusters_of, pc_cluster_uuid

V3 = "/api/nutanix/v3"
V4_VMS = "/api/vmm/v4.3/ahv/config/vms"
V4_CLUSTERS = "/api/clustermgmt/v4.3/config/clusters"
WEST_1 = "0c0ffee0-0000-4000-8000-0000000000f1"


@pytest.fixture(scope="module")
def pcs():
    east = PrismSimulator(pending_seconds=0, name="pc-east", clusters=["east-1", "east-2"]).start()
    west = PrismSimulator(pending_seconds=0, name="pc-west", clusters=[{"name": "west-1", "uuid": WEST_1}]).start()
    yield east, west
    east.stop()
    west.stop()


def call(sim, method, path, **kwargs):
    return requests.request(method, sim.url + path, auth=(sim.username, sim.password), verify=sim.cert_path,
                            timeout=10, **kwargs)


def admin(sim):
    return PrismAdmin(sim.host, port=sim.port, username=sim.username, password=sim.password, ca_path=sim.cert_path)


def where(sim, uuid):
    """(v3 cluster name, v3 cluster uuid, v4 cluster extId, v4 cluster name) of a VM."""
    v3 = call(sim, "GET", V3 + "/vms/" + uuid).json()["status"]["cluster_reference"]
    ext_id = call(sim, "GET", V4_VMS + "/" + uuid).json()["data"]["cluster"]["extId"]
    v4_name = call(sim, "GET", V4_CLUSTERS + "/" + ext_id).json()["data"]["name"]
    return v3["name"], v3["uuid"], ext_id, v4_name


def test_each_prism_central_has_its_own_name_and_clusters(pcs):
    east, west = pcs
    listed = dict((sim.name, [(c["status"]["name"], c["metadata"]["uuid"],
                               c["status"]["resources"]["config"]["service_list"])
                              for c in call(sim, "POST", V3 + "/clusters/list", json={}).json()["entities"]])
                  for sim in (east, west))
    east_ids = list(east.clusters)
    assert listed == {
        "pc-east": [("east-1", east_ids[0], ["AOS"]), ("east-2", east_ids[1], ["AOS"]),
                    ("pc-east", pc_cluster_uuid("pc-east"), ["PRISM_CENTRAL"])],
        "pc-west": [("west-1", WEST_1, ["AOS"]), ("pc-west", pc_cluster_uuid("pc-west"), ["PRISM_CENTRAL"])]}
    v4 = [(c["name"], c["config"]["clusterFunction"]) for c in call(west, "GET", V4_CLUSTERS).json()["data"]]
    assert v4 == [("west-1", ["AOS"]), ("pc-west", ["PRISM_CENTRAL"])]
    # Clusters named alike on two Prism Centrals are still two clusters.
    assert set(clusters_of("pc-a", ["c1"])) != set(clusters_of("pc-b", ["c1"]))


def test_vms_carry_their_cluster_in_v3_and_v4(pcs):
    east, west = pcs
    on_default = admin(east).new_vm("e-01", ["10.1.0.1"])
    on_second = admin(east).new_vm("e-02", ["10.1.0.2"], cluster="east-2")
    on_west = admin(west).new_vm("w-01", ["10.1.0.1"], cluster="west-1")
    east_1, east_2 = list(east.clusters)
    assert where(east, on_default) == ("east-1", east_1, east_1, "east-1")  # a create naming none: the first
    assert where(east, on_second) == ("east-2", east_2, east_2, "east-2")
    assert where(west, on_west) == ("west-1", WEST_1, WEST_1, "west-1")
    assert call(west, "GET", V3 + "/vms/" + on_second).status_code == 404  # each keeps its own VMs


def test_a_create_must_name_a_cluster_of_this_prism_central(pcs):
    east, _west = pcs
    for ref in ({"kind": "cluster", "uuid": WEST_1}, {"kind": "cluster", "uuid": pc_cluster_uuid("pc-east")},
                {"kind": "host", "uuid": list(east.clusters)[0]}, "east-1"):
        answer = call(east, "POST", V3 + "/vms", json={"metadata": {"kind": "vm"}, "spec": {
            "name": "x", "cluster_reference": ref, "resources": {}}})
        assert answer.status_code == 422, ref
        assert "spec.cluster_reference" in answer.json()["message_list"][0]["details"]


def test_an_update_keeps_the_cluster_and_a_migration_moves_it(pcs):
    east, _west = pcs
    client = admin(east)
    uuid = client.new_vm("m-01", ["10.1.0.9"])
    east_1, east_2 = list(east.clusters)
    vm = client.get_vm(uuid)
    del vm["spec"]["cluster_reference"]  # a PUT without it: the VM stays where it is
    client.update_vm(uuid, vm["spec"], vm["metadata"]["spec_version"], metadata=vm["metadata"])
    client.wait_for_vm(uuid)
    assert where(east, uuid)[1] == east_1
    vm = client.get_vm(uuid)
    vm["spec"]["cluster_reference"]["uuid"] = east_2
    answer = call(east, "PUT", V3 + "/vms/" + uuid, json={"metadata": vm["metadata"], "spec": vm["spec"]})
    assert answer.status_code == 422 and "spec.cluster_reference.uuid" in answer.json()["message_list"][0]["details"]

    moved = requests.post(east.url + "/_sim/vms/%s/migrate" % uuid, json={"cluster": "east-2"}, verify=east.cert_path,
                          timeout=10)
    assert moved.status_code == 200
    assert where(east, uuid) == ("east-2", east_2, east_2, "east-2")
    vm = client.get_vm(uuid)  # and a later update keeps it there
    client.update_vm(uuid, vm["spec"], vm["metadata"]["spec_version"], metadata=vm["metadata"])
    client.wait_for_vm(uuid)
    assert where(east, uuid)[1] == east_2
    assert requests.post(east.url + "/_sim/vms/%s/migrate" % uuid, json={"cluster": "west-1"},
                         verify=east.cert_path, timeout=10).status_code == 404


def test_one_default_cluster_as_before():
    assert clusters_of("sim-pc") == {CLUSTER_REF["uuid"]: CLUSTER_REF["name"]}
    for bad in ([], ["a", "a"], [{"uuid": WEST_1}], [""]):
        with pytest.raises(ValueError):
            clusters_of("pc", bad)
