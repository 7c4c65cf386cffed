# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse Nutanix Prism webhook envelopes and VM entities into one model.

One parser for the listener, the EDA source and vm_tag_sync. Payload shapes vary by AOS version
(``kComplete``/``COMPLETE``, ``POWERED_ON``/``ON``, empty or full ``spec``, empty ``nic_list`` even at
VM.ON), so nothing here indexes blindly: a missing piece is reported as unknown, not as empty.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

EVENT_TYPES = (
    "VM.CREATE", "VM.DELETE", "VM.ON", "VM.OFF", "VM.UPDATE", "VM.MIGRATE", "VM.NIC_PLUG", "VM.NIC_UNPLUG",
)
# Events after which the VM's IPs should carry its tags, and after which they should not.
REGISTER_EVENTS = frozenset(("VM.ON", "VM.CREATE", "VM.UPDATE", "VM.NIC_PLUG", "VM.MIGRATE"))
UNREGISTER_EVENTS = frozenset(("VM.OFF", "VM.DELETE", "VM.NIC_UNPLUG"))

_POWER_STATES = {"ON": "ON", "POWERED_ON": "ON", "KPOWEREDON": "ON", "OFF": "OFF", "POWERED_OFF": "OFF",
                 "KPOWEREDOFF": "OFF"}


class EventError(ValueError):
    """The body is not a Prism webhook event envelope."""


class VmState(object):
    """What the firewall cares about in a VM: who it is, whether it runs, its IPs, categories and cluster."""

    __slots__ = ("uuid", "name", "power_state", "ips", "categories", "cluster_uuid", "cluster_name")

    def __init__(self, uuid, name=None, power_state=None, ips=(), categories=None, cluster_uuid=None,
                 cluster_name=None):
        self.uuid = uuid
        self.name = name
        self.power_state = power_state
        self.ips = tuple(ips)
        self.categories = dict(categories or {})
        self.cluster_uuid = cluster_uuid
        self.cluster_name = cluster_name

    def __eq__(self, other):
        return isinstance(other, VmState) and all(getattr(self, a) == getattr(other, a) for a in self.__slots__)

    def __repr__(self):
        return "VmState(%s)" % ", ".join("%s=%r" % (a, getattr(self, a)) for a in self.__slots__)


class VmEvent(object):
    """One webhook event. ``ips``/``categories`` are None when the payload did not say (ask Prism)."""

    __slots__ = ("event_type", "vm_uuid", "vm_name", "ips", "categories", "power_state", "raw")

    def __init__(self, event_type, vm_uuid, vm_name=None, ips=None, categories=None, power_state=None, raw=None):
        self.event_type = event_type
        self.vm_uuid = vm_uuid
        self.vm_name = vm_name
        self.ips = None if ips is None else tuple(ips)
        self.categories = None if categories is None else dict(categories)
        self.power_state = power_state
        self.raw = raw

    @property
    def known_event(self):
        return self.event_type in EVENT_TYPES

    @property
    def complete(self):
        """True when the payload alone says which IPs and categories the VM has."""
        return self.ips is not None and self.categories is not None

    def to_dict(self):
        return {
            "event_type": self.event_type,
            "vm_uuid": self.vm_uuid,
            "vm_name": self.vm_name,
            "ips": None if self.ips is None else list(self.ips),
            "categories": self.categories,
            "power_state": self.power_state,
        }

    def __repr__(self):
        return "VmEvent(%r, %r)" % (self.event_type, self.vm_uuid)


def _dict(value):
    return value if isinstance(value, dict) else {}


def _list(value):
    return value if isinstance(value, list) else []


def normalize_power_state(value):
    if not isinstance(value, str):
        return None
    return _POWER_STATES.get(value.strip().upper().replace("-", "_"), value.strip().upper() or None)


def _valid_ip(value):
    if not isinstance(value, str):
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def _nic_ips(resources):
    """IPs from ``resources.nic_list[].ip_endpoint_list[].ip``; None when there is no usable NIC info."""
    if "nic_list" not in resources or not isinstance(resources.get("nic_list"), list):
        return None
    nics = resources["nic_list"]
    ips = []
    for nic in nics:
        for endpoint in _list(_dict(nic).get("ip_endpoint_list")):
            ip = _valid_ip(_dict(endpoint).get("ip"))
            if ip and ip not in ips:
                ips.append(ip)
    if not ips:
        # AOS sends an empty nic_list (or NICs without addresses yet) at VM.ON: that is "unknown", not "none".
        return None
    return ips


def _categories(metadata):
    cats = metadata.get("categories")
    if not isinstance(cats, dict):
        return None
    return dict((str(k), str(v)) for k, v in cats.items() if isinstance(k, str) and isinstance(v, (str, int)))


def vm_state_from_entity(entity):
    """A VmState from a v3 VM entity (GET /vms/{uuid}, a vms/list entity, or a webhook's ``data.metadata``)."""
    entity = _dict(entity)
    metadata = _dict(entity.get("metadata"))
    spec = _dict(entity.get("spec"))
    status = _dict(entity.get("status"))
    status_res = _dict(status.get("resources"))
    spec_res = _dict(spec.get("resources"))
    ips = _nic_ips(status_res)
    if ips is None:
        ips = _nic_ips(spec_res)
    power = normalize_power_state(status_res.get("power_state") or spec_res.get("power_state"))
    name = status.get("name") or spec.get("name")
    cluster = _dict(status.get("cluster_reference")) or _dict(spec.get("cluster_reference"))
    return VmState(
        uuid=metadata.get("uuid"),
        name=name if isinstance(name, str) else None,
        power_state=power,
        ips=ips or (),
        categories=_categories(metadata) or {},
        cluster_uuid=cluster.get("uuid") if isinstance(cluster.get("uuid"), str) else None,
        cluster_name=cluster.get("name") if isinstance(cluster.get("name"), str) else None,
    )


def parse_event(body):
    """Validate a webhook body and return a VmEvent. Raises EventError when it is not an event envelope."""
    if not isinstance(body, dict):
        raise EventError("the body is not a JSON object")
    event_type = body.get("event_type")
    if not isinstance(event_type, str) or not event_type.strip():
        raise EventError("the body has no event_type")
    ref = body.get("entity_reference")
    data = body.get("data")
    if not isinstance(ref, dict) or not isinstance(data, dict):
        raise EventError("the body has no entity_reference or data object")
    entity = _dict(data.get("metadata"))
    metadata = _dict(entity.get("metadata"))
    vm_uuid = ref.get("uuid") or metadata.get("uuid")
    if not isinstance(vm_uuid, str) or not vm_uuid.strip() or len(vm_uuid) > 128:
        raise EventError("the event names no entity uuid")
    spec = _dict(entity.get("spec"))
    status = _dict(entity.get("status"))
    ips = _nic_ips(_dict(status.get("resources")))
    if ips is None:
        ips = _nic_ips(_dict(spec.get("resources")))
    name = status.get("name") or spec.get("name")
    power = normalize_power_state(
        _dict(status.get("resources")).get("power_state") or _dict(spec.get("resources")).get("power_state"))
    return VmEvent(
        event_type=event_type.strip(),
        vm_uuid=vm_uuid.strip(),
        vm_name=name if isinstance(name, str) else None,
        ips=ips,
        categories=_categories(metadata),
        power_state=power,
        raw=body,
    )
