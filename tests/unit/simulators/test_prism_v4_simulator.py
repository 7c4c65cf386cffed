"""The Prism simulator's v4 routes, driven over HTTPS with plain requests, and its OData $filter parser."""
import pytest
import requests

from tests.simulators.prism import PrismSimulator
from tests.simulators.prism.v4 import ODataError, ODataFilter, category_ext_id

VM_FIELDS = {"extId": None, "name": None, "powerState": "Vmm.Ahv.Config.PowerState", "cluster/extId": None}
VMS = "/api/vmm/v4.3/ahv/config/vms"


# ---------------------------------------------------------------- $filter
@pytest.mark.parametrize("text, expected", [
    ("name eq 'a'", ["a"]),
    ("name ne 'a'", ["b", "c"]),
    ("name eq 'a' or name eq 'b' and powerState eq Vmm.Ahv.Config.PowerState'OFF'", ["a", "b"]),  # and first
    ("(name eq 'a' or name eq 'b') and powerState eq Vmm.Ahv.Config.PowerState'ON'", ["a"]),
    ("not (name eq 'a')", ["b", "c"]),
    ("name in ('a', 'c')", ["a", "c"]),
    ("powerState eq 'OFF'", ["b"]),  # OData 4.01: an enum value may be written unqualified
    ("startswith(name, 'b') or contains(name, 'c')", ["b", "c"]),
    ("cluster/extId eq 'k1'", ["a", "b"]),
    ("extId eq 'it''s'", ["c"]),
])
def test_the_filter_subset_evaluates_like_odata(text, expected):
    vms = [{"extId": "1", "name": "a", "powerState": "ON", "cluster": {"extId": "k1"}},
           {"extId": "2", "name": "b", "powerState": "OFF", "cluster": {"extId": "k1"}},
           {"extId": "it's", "name": "c", "powerState": "ON", "cluster": {"extId": "k2"}}]
    odata = ODataFilter(text, VM_FIELDS)
    assert [vm["name"] for vm in vms if odata.matches(vm)] == expected


@pytest.mark.parametrize("text", [
    "", "name eq", "name eq 'a' or", "name eq 'a')", "(name eq 'a'", "name gt 'a'", "nics eq 'x'",
    "powerState eq Vmm.Ahv.Config.Other'ON'", "endswith(name, 'a')", "name eq 'unterminated", "name eq 'a' $",
    "categories/any(c:c/extId eq 'x')",
])
def test_what_the_subset_does_not_serve_is_an_error(text):
    with pytest.raises(ODataError):
        ODataFilter(text, VM_FIELDS)


# ---------------------------------------------------------------- over HTTPS
@pytest.fixture
def prism():
    made = []

    def make(**options):
        sim = PrismSimulator(pending_seconds=0, **options)
        made.append(sim.start())
        session = requests.Session()
        session.auth = (sim.username, sim.password)

        def call(method, path, **kwargs):
            kwargs.setdefault("verify", sim.cert_path)  # per request: REQUESTS_CA_BUNDLE beats Session.verify
            kwargs.setdefault("timeout", 10)
            return session.request(method, sim.url + path, **kwargs)
        return sim, call
    yield make
    for sim in made:
        sim.stop()


def test_paging_metadata_and_limits(prism):
    sim, call = prism()
    sim.seed_vms(7)
    first = call("GET", VMS, params={"$limit": 3}).json()
    assert len(first["data"]) == 3 and first["metadata"]["totalAvailableResults"] == 7
    rels = dict((link["rel"], link["href"]) for link in first["metadata"]["links"])
    assert sorted(rels) == ["first", "last", "next", "self"] and rels["last"].endswith("$page=2&$limit=3")
    last = call("GET", VMS, params={"$limit": 3, "$page": 2}).json()
    assert len(last["data"]) == 1
    beyond = call("GET", VMS, params={"$limit": 3, "$page": 9}).json()
    assert "data" not in beyond and beyond["metadata"]["totalAvailableResults"] == 7
    assert len(call("GET", VMS).json()["data"]) == 7  # the default $limit is 50
    for params in ({"$limit": 0}, {"$limit": 101}, {"$page": -1}, {"$limit": "x"}, {"$orderby": "name"}):
        answer = call("GET", VMS, params=params)
        assert answer.status_code == 400, params
        error = answer.json()["data"]["error"]
        assert error["$objectType"] == "vmm.v4.error.SchemaValidationError"
        assert error["validationErrorMessages"][0]["attributePath"] == list(params)[0]


def test_a_lookup_by_ids_answers_in_list_order_and_only_what_exists(prism):
    """The filter a client batching its lookups sends (extId eq ... or ...; the simulator renders only those)."""
    sim, call = prism()
    uuids = sim.seed_vms(6)
    asked = [uuids[4], "00000000-0000-4000-8000-000000000000", uuids[1], uuids[4]]
    text = " or ".join("extId eq '%s'" % u for u in asked)
    answer = call("GET", VMS, params={"$filter": text}).json()
    assert [vm["extId"] for vm in answer["data"]] == [uuids[1], uuids[4]]
    assert answer["metadata"]["totalAvailableResults"] == 2
    # Not only extIds: every term still counts (no VM is named like that).
    mixed = call("GET", VMS, params={"$filter": "(%s) and name eq 'nobody'" % text}).json()
    assert "data" not in mixed and mixed["metadata"]["totalAvailableResults"] == 0
    assert [vm["extId"] for vm in call("GET", VMS, params={"$filter": "extId in ('%s')" % uuids[2]}).json()[
        "data"]] == [uuids[2]]


def test_select_keeps_only_what_was_asked(prism):
    sim, call = prism()
    sim.seed_vms(1)
    vm = call("GET", VMS, params={"$select": "extId,powerState"}).json()["data"][0]
    assert sorted(vm) == ["$objectType", "$reserved", "extId", "powerState"]
    assert call("GET", VMS, params={"$select": "extId,no-such"}).status_code == 400


def test_v4_shows_what_v3_changed_and_only_vms_that_exist(prism):
    sim, call = prism()
    body = {"metadata": {"kind": "vm", "categories": {"AppTier": "Web"}},
            "spec": {"name": "web-01", "resources": {"power_state": "ON", "nic_list": [
                {"ip_endpoint_list": [{"ip": "10.0.0.5"}]}]}}}
    sim.pending_seconds = 2.0
    created = call("POST", "/api/nutanix/v3/vms", json=body).json()
    uuid = created["metadata"]["uuid"]
    assert call("GET", VMS + "/" + uuid).status_code == 404  # v4 shows what is, not what is being made
    sim.pending_seconds = 0
    assert sim.wait_idle(timeout=10)
    vm = call("GET", VMS + "/" + uuid).json()["data"]
    assert (vm["name"], vm["powerState"]) == ("web-01", "ON")
    assert vm["categories"] == [{"extId": category_ext_id("AppTier", "Web"), "$reserved": {"$fv": "v4.r3"},
                                 "$objectType": "vmm.v4.ahv.config.CategoryReference"}]
    assert vm["nics"][0]["nicNetworkInfo"]["ipv4Config"]["ipAddress"]["value"] == "10.0.0.5"

    entity = call("GET", "/api/nutanix/v3/vms/" + uuid).json()
    entity["metadata"]["categories"] = {"AppTier": "Db"}
    entity["spec"]["resources"]["power_state"] = "OFF"
    update = {"metadata": entity["metadata"], "spec": entity["spec"]}
    assert call("PUT", "/api/nutanix/v3/vms/" + uuid, json=update).status_code == 202
    assert sim.wait_idle(timeout=10)
    vm = call("GET", VMS + "/" + uuid).json()["data"]
    assert vm["powerState"] == "OFF" and vm["categories"][0]["extId"] == category_ext_id("AppTier", "Db")
    # Categories stay when no VM uses them any more, as Prism's do.
    pairs = sorted((c["key"], c["value"]) for c in call("GET", "/api/prism/v4.0/config/categories").json()["data"])
    assert pairs == [("AppTier", "Db"), ("AppTier", "Web")]

    assert call("DELETE", "/api/nutanix/v3/vms/" + uuid).status_code == 202
    assert sim.wait_idle(timeout=10)
    gone = call("GET", VMS + "/" + uuid)
    assert gone.status_code == 404 and gone.json()["data"]["error"][0]["code"] == "VMM-20005"


def test_the_nic_shape_follows_the_version(prism):
    sim, call = prism()
    sim.seed_vms(1)
    old = call("GET", "/api/vmm/v4.0/ahv/config/vms").json()["data"][0]["nics"][0]
    new = call("GET", "/api/vmm/v4.1/ahv/config/vms").json()["data"][0]["nics"][0]
    assert "networkInfo" in old and "nicNetworkInfo" not in old
    assert "nicNetworkInfo" in new and "networkInfo" not in new
    assert new["nicNetworkInfo"]["$objectType"] == "vmm.v4.ahv.config.VirtualEthernetNicNetworkInfo"


def test_served_versions_and_negotiation(prism):
    _sim, call = prism(v4_versions=("v4.0", "v4.1"))
    assert call("GET", "/api/vmm/v4.1/ahv/config/vms").status_code == 200
    assert call("GET", "/api/vmm/v4.3/ahv/config/vms").status_code == 404
    assert call("OPTIONS", "/api/vmm/unversioned/info").status_code == 404  # no negotiation before v4.2
    _sim, call = prism(v4_versions=("v4.0", "v4.1", "v4.2"))
    assert call("OPTIONS", "/api/prism/unversioned/info").json()["data"] == "v4.2"
    _sim, call = prism(v4_versions=())  # a Prism with no v4 at all: 404, as an older Prism answers
    assert call("GET", "/api/vmm/v4.0/ahv/config/vms").status_code == 404
    assert call("GET", "/api/nutanix/v3/users/me").status_code == 200


def test_credentials_basic_or_api_key(prism):
    sim, call = prism(api_key="k-123")
    assert call("GET", VMS).status_code == 200

    def get(**kwargs):
        return requests.get(sim.url + VMS, verify=sim.cert_path, timeout=10, **kwargs)
    assert get(headers={"X-ntnx-api-key": "k-123"}).status_code == 200
    for kwargs in ({"auth": ("admin", "wrong")}, {"headers": {"X-ntnx-api-key": "k-12"}}, {}):
        answer = get(**kwargs)
        assert answer.status_code == 401
        assert answer.json()["data"]["error"][0]["$objectType"] == "vmm.v4.error.AppMessage"
        assert answer.json()["$objectType"] == "vmm.v4.ahv.config.ListVmsApiResponse"
