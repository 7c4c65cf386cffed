"""The v4 layer of the Prism client: pure parsing, and real HTTP against the Prism simulator's v4 routes.

Every figure of calls is read from the simulator's own counters, and every VM state is compared with what
the v3 API of the same simulator says of that VM.
"""
import pytest

from ansible_collections.netevents.nutanix.plugins.module_utils import prism_v4
from ansible_collections.netevents.nutanix.plugins.module_utils.events import vm_state_from_entity
from ansible_collections.netevents.nutanix.plugins.module_utils.prism import PrismClient, PrismError
from ansible_collections.netevents.nutanix.plugins.module_utils.prism_v4 import (
    PrismV4, error_messages, ext_id_filter, nic_ips, odata_string, usable_version, vm_state_from_v4)
from tests.simulators.prism import PrismSimulator
from tests.simulators.prism.admin import PrismAdmin

# A 404 body as a Prism Central sent it (quoted in a public cluster-api-provider-nutanix test).
REAL_404 = {"data": {"error": [{"$reserved": {"$fv": "v4.r1"}, "$objectType": "vmm.v4.error.AppMessage",
                                "message": "Failed to perform the operation as the backend service could not find "
                                           "the entity.", "severity": "ERROR", "code": "VMM-20005",
                                "locale": "en_US"}],
                     "$reserved": {"$fv": "v4.r1"}, "$objectType": "vmm.v4.error.ErrorResponse"},
            "$reserved": {"$fv": "v4.r1"}, "$objectType": "vmm.v4.content.GetImageApiResponse"}


# ---------------------------------------------------------------- pure helpers
def test_odata_literals_and_the_ext_id_filter():
    assert odata_string("O'Brien") == "'O''Brien'"
    assert ext_id_filter(["a", "b"]) == "extId eq 'a' or extId eq 'b'"


@pytest.mark.parametrize("server, used", [
    ("v4.3", "v4.3"), ("v4.4", "v4.3"), ("v4.1", "v4.1"), ("v4.0", "v4.0"),
    ("v3.1", None), ("v5.0", None), ("4.3", None), (None, None), ("v4.2.b1", None)])
def test_the_version_used_is_the_newest_we_read_that_the_prism_serves(server, used):
    assert usable_version(server) == used


def test_v4_error_bodies_become_the_clients_message_list():
    assert error_messages(REAL_404) == [{
        "reason": "VMM-20005", "details": {},
        "message": "Failed to perform the operation as the backend service could not find the entity."}]
    schema = {"data": {"error": {"error": "Bad Request", "statusCode": 400, "validationErrorMessages": [
        {"location": "query", "attributePath": "$limit", "message": "must be between 1 and 100"}]}}}
    assert error_messages(schema) == [{"reason": "Bad Request", "message": "$limit: must be between 1 and 100",
                                       "details": {}}]
    # v3 bodies, HTML and nonsense are not v4 errors.
    assert error_messages({"message_list": [{"reason": "X"}]}) == []
    assert error_messages("<html>") == [] and error_messages({"data": {"error": "x"}}) == []


def test_nic_addresses_from_both_nic_shapes():
    v40 = {"networkInfo": {"ipv4Config": {"ipAddress": {"value": "10.0.0.1"},
                                          "secondaryIpAddressList": [{"value": "10.0.0.2"}]},
                           "ipv4Info": {"learnedIpAddresses": [{"value": "10.0.0.3"}, {"value": "10.0.0.1"}]}}}
    assert nic_ips(v40) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    # v4.1+: nicNetworkInfo wins over the deprecated networkInfo when both are there.
    both = dict(v40, nicNetworkInfo={"ipv4Info": {"learnedIpAddresses": [{"value": "10.9.9.9"}]},
                                     "ipv6Info": {"learnedIpv6Addresses": [{"value": "2001:db8::1"}]}})
    assert nic_ips(both) == ["10.9.9.9", "2001:db8::1"]
    assert nic_ips({"nicNetworkInfo": {"ipv4Config": {"ipAddress": {"value": "not-an-ip"}}}}) == []
    assert nic_ips({}) == [] and nic_ips(None) == []


def test_a_v4_vm_becomes_a_vm_state():
    vm = {"extId": "vm-1", "name": "web-01", "powerState": "ON", "cluster": {"extId": "c-1"},
          "categories": [{"extId": "k1"}, {"extId": "k2"}, {"extId": "k3"}, {"extId": "gone"}],
          "nics": [{"networkInfo": {"ipv4Config": {"ipAddress": {"value": "10.1.1.5"}}}}]}
    categories = {"k1": ("AppTier", "Web"), "k2": ("Env", "Prod"), "k3": ("AppTier", "Api")}
    state = vm_state_from_v4(vm, categories, {"c-1": "cluster-a"})
    # An unresolved reference is left out; two values of one key keep the smallest, whatever the order.
    assert state.categories == {"AppTier": "Api", "Env": "Prod"}
    assert (state.uuid, state.name, state.power_state, state.ips) == ("vm-1", "web-01", "ON", ("10.1.1.5",))
    assert (state.cluster_uuid, state.cluster_name) == ("c-1", "cluster-a")
    assert vm_state_from_v4({"extId": "x", "powerState": "OFF"}, {}, {}).cluster_name is None


# ---------------------------------------------------------------- against the simulator
@pytest.fixture
def make_prism():
    sims = []

    def make(versions=prism_v4.KNOWN_VERSIONS, ext_id_filter="honour", vms=5, password="secret", api="auto"):
        sim = PrismSimulator(pending_seconds=0, v4_versions=versions, ext_id_filter=ext_id_filter).start()
        sims.append(sim)
        sim.seed_vms(vms, categories={"AppTier": "Web", "Env": "Prod"})
        client = PrismClient(sim.host, port=sim.port, username="admin", password=password, retries=0,
                             ca_path=sim.cert_path, api=api)
        return sim, client, client.v4
    yield make
    for sim in sims:
        sim.stop()


def v4_calls(sim):
    return dict((k, v) for k, v in sim.stats()["calls"].items() if "/api/nutanix/v3" not in k)


def test_auto_discovery_uses_the_newest_version_the_prism_names(make_prism):
    sim, _client, v4 = make_prism()
    assert v4.version("vmm") == "v4.3"
    assert v4_calls(sim) == {"OPTIONS /api/<ns>/unversioned/info": 1}
    assert v4.version("vmm") == "v4.3" and v4_calls(sim) == {"OPTIONS /api/<ns>/unversioned/info": 1}


def test_a_prism_without_version_info_is_probed_newest_first(make_prism):
    sim, _client, v4 = make_prism(versions=("v4.0", "v4.1"))
    assert v4.version("vmm") == "v4.1"
    # info (404), then v4.3 (404), v4.2 (404), v4.1 (200)
    assert v4_calls(sim) == {"OPTIONS /api/<ns>/unversioned/info": 1, "GET /api/vmm/<version>/ahv/config/vms": 3}


def test_a_prism_with_no_v4_says_so_and_refused_credentials_are_not_no_v4(make_prism):
    _sim, _client, v4 = make_prism(versions=())
    assert v4.version("vmm") is None
    with pytest.raises(PrismError, match="serves no v4 vmm API"):
        v4.vm_states()
    _sim, _client, v4 = make_prism(password="wrong")
    with pytest.raises(PrismError) as caught:
        v4.version("vmm")
    assert caught.value.status_code == 401


@pytest.mark.parametrize("versions", [("v4.0",), prism_v4.KNOWN_VERSIONS])
def test_vm_states_through_v4_are_what_v3_says(make_prism, versions):
    sim, client, v4 = make_prism(versions=versions, vms=4)
    sim.seed_vms(2, name_prefix="db", categories={"AppTier": "Db"}, power_state="OFF", first_ip="10.200.0.1")
    through_v3 = dict((s.uuid, s) for s in (vm_state_from_entity(e) for e in client.list_vms()))
    through_v4 = dict((s.uuid, s) for s in v4.vm_states())
    assert through_v4 == through_v3
    assert all(s.cluster_name == "sim-cluster" and s.cluster_uuid for s in through_v4.values())


def test_listing_pages_by_100(make_prism):
    sim, _client, v4 = make_prism(vms=250)
    assert len(v4.vm_states()) == 250
    calls = v4_calls(sim)
    assert calls["GET /api/vmm/<version>/ahv/config/vms"] == 3
    # One category lookup for both pairs, one cluster list; a second run finds both in the cache.
    assert calls["GET /api/prism/<version>/config/categories"] == 1
    assert calls["GET /api/clustermgmt/<version>/config/clusters"] == 1
    v4.vm_states()
    again = v4_calls(sim)
    assert again["GET /api/prism/<version>/config/categories"] == 1
    assert again["GET /api/clustermgmt/<version>/config/clusters"] == 1
    assert again["GET /api/vmm/<version>/ahv/config/vms"] == 6


def test_cached_categories_are_read_again_once_they_expire(make_prism):
    sim, client, _v4 = make_prism(vms=2)
    now = [1000.0]
    v4 = PrismV4(client.call, PrismError, client.where, clock=lambda: now[0])
    v4.vm_states()
    now[0] += prism_v4.CACHE_SECONDS + 1
    v4.vm_states()
    assert v4_calls(sim)["GET /api/prism/<version>/config/categories"] == 2


def test_a_batched_lookup_uses_one_filtered_call_per_20_vms(make_prism):
    sim, client, v4 = make_prism(vms=43)
    uuids = [e["metadata"]["uuid"] for e in client.list_vms()] + ["00000000-0000-4000-8000-00000000dead"] * 2
    states = v4.vm_states_for(uuids + ["00000000-0000-4000-8000-00000000beef"])
    assert sorted(u for u, s in states.items() if s is None) == ["00000000-0000-4000-8000-00000000beef",
                                                                 "00000000-0000-4000-8000-00000000dead"]
    assert all(states[u].uuid == u and states[u].ips for u in uuids[:43])
    # 45 distinct uuids -> 3 filtered lists; the 2 missing from them are confirmed by their own GET (404).
    calls = v4_calls(sim)
    assert calls["GET /api/vmm/<version>/ahv/config/vms"] == 3
    assert calls["GET /api/vmm/<version>/ahv/config/vms/<ext_id>"] == 2


@pytest.mark.parametrize("mode", ["refuse", "ignore"])
def test_a_prism_that_refuses_or_ignores_the_ext_id_filter_is_read_one_vm_at_a_time(make_prism, mode):
    sim, client, v4 = make_prism(vms=30, ext_id_filter=mode)
    uuids = [e["metadata"]["uuid"] for e in client.list_vms()]
    # Not the first VMs: an ignored filter's answer (the first page of all VMs) must not look like the answer.
    states = v4.vm_states_for(uuids[5:])
    assert sorted(states) == sorted(uuids[5:]) and all(s.uuid == u for u, s in states.items())
    calls = v4_calls(sim)
    # The first filtered call shows the filter cannot be trusted (a refusal costs a second try without $select,
    # which might have been the culprit); every VM is then read by extId.
    lists = 2 if mode == "refuse" else 1
    assert calls["GET /api/vmm/<version>/ahv/config/vms"] == lists
    assert calls["GET /api/vmm/<version>/ahv/config/vms/<ext_id>"] == 25
    v4.vm_states_for(uuids[:5])
    assert v4_calls(sim)["GET /api/vmm/<version>/ahv/config/vms"] == lists  # never asked again
    assert v4_calls(sim)["GET /api/vmm/<version>/ahv/config/vms/<ext_id>"] == 30


def test_a_change_through_v3_is_what_v4_reads_next(make_prism):
    sim, client, v4 = make_prism(vms=1)
    entity = next(iter(client.list_vms()))
    admin = PrismAdmin(sim.host, port=sim.port, username="admin", password="secret", ca_path=sim.cert_path)
    admin.set_categories(entity["metadata"]["uuid"], {"AppTier": "Db"})
    admin.set_power_state(entity["metadata"]["uuid"], "OFF")
    admin.wait_for_vm(entity["metadata"]["uuid"])
    state = v4.vm_states_for([entity["metadata"]["uuid"]])[entity["metadata"]["uuid"]]
    assert (state.power_state, state.categories) == ("OFF", {"AppTier": "Db"})


class FakeSend(object):
    """A Prism that refuses $select (400) on lists: the one case the simulator does not play."""

    def __init__(self):
        self.calls = []

    def __call__(self, method, path, params=None):
        self.calls.append((method, path, dict(params or {})))
        if method == "OPTIONS":
            return {"data": "v4.3"}
        if "$select" in (params or {}):
            raise PrismError("HTTP 400", status_code=400)
        return {"data": [{"extId": "vm-1", "name": "a", "powerState": "ON"}], "metadata": {
            "totalAvailableResults": 1}}


def test_a_refused_select_is_dropped_for_good():
    send = FakeSend()
    v4 = PrismV4(send, PrismError)
    assert [s.uuid for s in v4.vm_states()] == ["vm-1"]
    assert [c[2].get("$select") for c in send.calls if c[0] == "GET"] == [prism_v4.VM_SELECT, None]
    v4.vm_states()
    assert [c[2].get("$select") for c in send.calls if c[0] == "GET"][2:] == [None]


# ---------------------------------------------------------------- the client's api option
def by_api(sim):
    return sim.stats()["calls_by_api"]


def test_auto_reads_vms_through_v4_with_no_v3_call(make_prism):
    sim, client, _v4 = make_prism(vms=3)
    assert client.vm_api() == "v4"
    states = client.vm_states()
    assert len(states) == 3 and all(s.categories == {"AppTier": "Web", "Env": "Prod"} for s in states)
    some = client.vm_states_for([states[0].uuid, "00000000-0000-4000-8000-00000000dead"])
    assert some == {states[0].uuid: states[0], "00000000-0000-4000-8000-00000000dead": None}
    assert by_api(sim)["v3"] == 0
    # unversioned/info of vmm, prism and clustermgmt once each; the list, the categories, the clusters; then a
    # filtered list and one GET for the VM it did not hold
    assert by_api(sim)["v4"] == 3 + 3 + 2


def test_auto_against_a_v3_only_prism_misses_only_the_discovery(make_prism):
    sim, client, _v4 = make_prism(versions=(), vms=3)
    assert client.vm_api() == "v3" and client.vm_api() == "v3"
    assert by_api(sim) == {"v3": 0, "v4": 5}  # unversioned/info and v4.3 to v4.0: each a 404, asked once
    through_v3 = dict((s.uuid, s) for s in (vm_state_from_entity(e) for e in client.list_vms()))
    assert dict((s.uuid, s) for s in client.vm_states()) == through_v3
    uuid = sorted(through_v3)[0]
    assert client.vm_states_for([uuid, uuid, "00000000-0000-4000-8000-00000000dead"]) == {
        uuid: through_v3[uuid], "00000000-0000-4000-8000-00000000dead": None}
    assert by_api(sim)["v4"] == 5
    assert sim.stats()["calls"]["GET /api/nutanix/v3/vms/<entity_uuid>"] == 2  # one GET per distinct VM


def test_api_v3_never_asks_for_v4_and_api_v4_fails_where_there_is_none(make_prism):
    sim, client, _v4 = make_prism(api="v3", vms=2)
    assert client.vm_api() == "v3" and len(client.vm_states()) == 2
    assert by_api(sim)["v4"] == 0
    _sim, client, _v4 = make_prism(api="v4", versions=())
    with pytest.raises(PrismError, match="serves no v4 VM API .*set api to v3, or to auto"):
        client.vm_states()


def test_the_api_key_reads_v4_too():
    sim = PrismSimulator(pending_seconds=0, api_key="pc-key").start()
    try:
        sim.seed_vms(2)
        client = PrismClient(sim.host, port=sim.port, api_key="pc-key", ca_path=sim.cert_path)
        assert len(client.vm_states()) == 2 and client.vm_api() == "v4"
        with pytest.raises(PrismError) as caught:
            PrismClient(sim.host, port=sim.port, api_key="other", ca_path=sim.cert_path).vm_states()
        assert caught.value.status_code == 401 and "check nutanix_api_key" in str(caught.value)
    finally:
        sim.stop()
