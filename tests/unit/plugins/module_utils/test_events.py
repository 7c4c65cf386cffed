import copy

import pytest

from ansible_collections.netevents.nutanix.plugins.module_utils.events import (
    EVENT_ACTIONS, EVENT_TYPES, EventError, VmState, parse_event, vm_state_from_entity)

VM = {
    "api_version": "3.1",
    "metadata": {"kind": "vm", "uuid": "0a1b", "spec_version": 3, "categories": {"AppTier": "Web", "Env": "Prod"}},
    "spec": {"name": "web-01", "resources": {"power_state": "ON", "nic_list": [
        {"ip_endpoint_list": [{"ip": "10.1.1.5", "type": "ASSIGNED"}]}]}},
    "status": {"name": "web-01", "state": "COMPLETE", "resources": {"power_state": "ON", "nic_list": [
        {"ip_endpoint_list": [{"ip": "10.1.1.5"}, {"ip": "10.1.1.6"}]}, {"ip_endpoint_list": []}]}},
}


def envelope(event_type="VM.ON", vm=None):
    return {"entity_reference": {"kind": "vm", "uuid": "0a1b"}, "data": {"metadata": vm if vm is not None else VM},
            "version": "1.0", "event_type": event_type}


def test_full_payload():
    ev = parse_event(envelope())
    assert ev.event_type == "VM.ON" and ev.known_event
    assert ev.vm_uuid == "0a1b" and ev.vm_name == "web-01"
    assert ev.ips == ("10.1.1.5", "10.1.1.6")  # status wins over spec
    assert ev.categories == {"AppTier": "Web", "Env": "Prod"}
    assert ev.power_state == "ON" and ev.complete


def test_one_classification_of_every_event_type():
    assert set(EVENT_ACTIONS) == set(EVENT_TYPES)
    assert set(EVENT_ACTIONS.values()) == {"register", "unregister", "reconcile"}
    actions = dict((t, parse_event(envelope(t)).action) for t in EVENT_TYPES)
    assert [t for t, a in sorted(actions.items()) if a == "unregister"] == ["VM.DELETE", "VM.OFF"]
    assert [t for t, a in actions.items() if a == "reconcile"] == ["VM.NIC_UNPLUG"]
    assert [t for t in EVENT_TYPES if parse_event(envelope(t)).expects_ip] == ["VM.ON", "VM.NIC_PLUG"]
    assert all(actions[t] == "register" for t in ("VM.ON", "VM.NIC_PLUG"))  # expecting an IP means registering
    unknown = parse_event(envelope("VM.SNAPSHOT"))
    assert unknown.action is None and not unknown.known_event and not unknown.expects_ip
    assert parse_event(envelope("VM.OFF")).to_dict()["action"] == "unregister"


def test_empty_nic_list_is_unknown_not_empty():
    vm = copy.deepcopy(VM)
    vm["status"]["resources"]["nic_list"] = []
    vm["spec"]["resources"]["nic_list"] = []
    ev = parse_event(envelope(vm=vm))
    assert ev.ips is None and not ev.complete


def test_old_aos_shapes():
    vm = copy.deepcopy(VM)
    vm["status"]["resources"]["power_state"] = "kPoweredOn"
    del vm["metadata"]["categories"]
    vm["spec"] = {}
    ev = parse_event(envelope(vm=vm))
    assert ev.power_state == "ON"
    assert ev.categories is None
    assert ev.vm_name == "web-01"


def test_bad_ips_are_dropped():
    vm = copy.deepcopy(VM)
    vm["status"]["resources"]["nic_list"] = [{"ip_endpoint_list": [{"ip": "not-an-ip"}, {"ip": 5}, {}]}]
    vm["spec"]["resources"]["nic_list"] = "garbage"
    assert parse_event(envelope(vm=vm)).ips is None


def test_addresses_a_firewall_should_not_hold_are_left_out_and_reported():
    vm = copy.deepcopy(VM)
    vm["status"]["resources"]["nic_list"] = [{"ip_endpoint_list": [
        {"ip": "fe80::1%eth0"}, {"ip": "10.1.1.5"}, {"ip": "0.0.0.0"}, {"ip": "224.0.0.1"}, {"ip": "fe80::5"}]}]
    ev = parse_event(envelope(vm=vm))
    assert ev.ips == ("10.1.1.5",)
    assert [(e.address, e.reason) for e in ev.dropped_ips] == [
        ("fe80::1%eth0", "zone_index"), ("0.0.0.0", "unspecified"), ("224.0.0.1", "multicast"),
        ("fe80::5", "link_local")]
    assert vm_state_from_entity(vm).ips == ("10.1.1.5",)  # Prism's entities go through the same rule
    # Only unusable addresses: as good as none yet (ask Prism again), not "no address".
    vm["status"]["resources"]["nic_list"] = [{"ip_endpoint_list": [{"ip": "169.254.3.4"}]}]
    vm["spec"]["resources"]["nic_list"] = []
    ev = parse_event(envelope(vm=vm))
    assert ev.ips is None and [e.reason for e in ev.dropped_ips] == ["link_local"]


def test_unknown_event_type_parses():
    ev = parse_event(envelope("VM.SOMETHING_NEW"))
    assert not ev.known_event


@pytest.mark.parametrize("body", [
    None, [], "x", {}, {"event_type": "VM.ON"}, {"event_type": "", "entity_reference": {}, "data": {}},
    {"event_type": "VM.ON", "entity_reference": {"uuid": ""}, "data": {}},
    {"event_type": "VM.ON", "entity_reference": "x", "data": {}},
    {"event_type": 5, "entity_reference": {"uuid": "a"}, "data": {}},
    {"event_type": "VM.ON", "entity_reference": {"uuid": "a b"}, "data": {}},
    {"event_type": "VM.ON", "entity_reference": {"uuid": "a\nINFO forged log line"}, "data": {}},
    {"event_type": "VM.ON", "entity_reference": {"uuid": "u" * 129}, "data": {}},
    {"event_type": "VM.ON", "entity_reference": {"uuid": "-a"}, "data": {}},
    {"event_type": "VM.ON", "entity_reference": {"uuid": "\ud800"}, "data": {}},
    {"event_type": "VM ON", "entity_reference": {"uuid": "a"}, "data": {}},
    {"event_type": "VM." + "X" * 64, "entity_reference": {"uuid": "a"}, "data": {}},
])
def test_not_an_envelope(body):
    with pytest.raises(EventError):
        parse_event(body)


def test_a_uuid_of_128_plain_characters_and_prisms_own_are_accepted():
    for uuid in ("u" * 128, "7a3b0e4c-1111-4c6b-9d0e-0123456789AB", " vm-1 "):
        body = envelope()
        body["entity_reference"]["uuid"] = uuid
        assert parse_event(body).vm_uuid == uuid.strip()


def test_uuid_from_metadata_when_reference_lacks_it():
    body = envelope()
    body["entity_reference"] = {"kind": "vm"}
    assert parse_event(body).vm_uuid == "0a1b"


def test_vm_state_from_entity():
    state = vm_state_from_entity(VM)
    assert state == VmState("0a1b", "web-01", "ON", ("10.1.1.5", "10.1.1.6"), {"AppTier": "Web", "Env": "Prod"})
    assert vm_state_from_entity({}).ips == ()


def test_event_types():
    assert len(EVENT_TYPES) == 8 and "VM.NIC_UNPLUG" in EVENT_TYPES
