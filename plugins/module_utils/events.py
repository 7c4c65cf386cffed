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

import re

from ansible_collections.netevents.nutanix.plugins.module_utils.addresses import firewall_ips

# The one classification of the event types, for every consumer: the panos plugin reads it from each VmEvent, the
# EDA source puts it into each event as ``action`` for rulebooks. What the event means for the VM's IPs:
#   register   -- they should carry the VM's tags while it runs (the payload names the VM's state after it)
#   unregister -- they carry nothing any more, whatever else the payload says
#   reconcile  -- an address went away that the payload no longer names: only what was registered before (or a
#                 full reconcile) tells which
EVENT_ACTIONS = {
    "VM.CREATE": "register", "VM.DELETE": "unregister", "VM.ON": "register", "VM.OFF": "unregister",
    "VM.UPDATE": "register", "VM.MIGRATE": "register", "VM.NIC_PLUG": "register", "VM.NIC_UNPLUG": "reconcile",
}
EVENT_TYPES = tuple(EVENT_ACTIONS)
# Register events after which the VM should soon have an address, even when the payload has none yet (AOS sends
# an empty nic_list at VM.ON, and learns a DHCP address late): worth asking Prism again.
EXPECT_IP_EVENTS = frozenset(("VM.ON", "VM.NIC_PLUG"))

_POWER_STATES = {"ON": "ON", "POWERED_ON": "ON", "KPOWEREDON": "ON", "OFF": "OFF", "POWERED_OFF": "OFF",
                 "KPOWEREDOFF": "OFF"}


# What an event type and a VM's uuid may look like. Prism's are "VM.ON" and RFC 4122 UUIDs; this is wider (types
# Prism may add later, other entity ids), but short and plain, as they go into the queue, logs and metrics.
_EVENT_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_UUID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


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
    """One webhook event. ``ips``/``categories`` are None when the payload did not say (ask Prism), the cluster's
    uuid and name each None when it did not name them."""

    __slots__ = ("event_type", "vm_uuid", "vm_name", "ips", "categories", "power_state", "raw", "cluster_uuid",
                 "cluster_name", "dropped_ips")

    def __init__(self, event_type, vm_uuid, vm_name=None, ips=None, categories=None, power_state=None, raw=None,
                 cluster_uuid=None, cluster_name=None, dropped_ips=()):
        self.event_type = event_type
        self.vm_uuid = vm_uuid
        self.vm_name = vm_name
        self.ips = None if ips is None else tuple(ips)
        self.categories = None if categories is None else dict(categories)
        self.power_state = power_state
        self.raw = raw
        self.cluster_uuid = cluster_uuid
        self.cluster_name = cluster_name
        # The payload's addresses a firewall should not hold (addresses.py), as AddressErrors: for the log.
        self.dropped_ips = tuple(dropped_ips)

    @property
    def known_event(self):
        return self.event_type in EVENT_ACTIONS

    @property
    def action(self):
        """"register", "unregister" or "reconcile" (see EVENT_ACTIONS); None for a type this parser does not know."""
        return EVENT_ACTIONS.get(self.event_type)

    @property
    def expects_ip(self):
        return self.event_type in EXPECT_IP_EVENTS

    @property
    def complete(self):
        """True when the payload alone says which IPs and categories the VM has."""
        return self.ips is not None and self.categories is not None

    def to_dict(self):
        return {
            "event_type": self.event_type,
            "action": self.action,
            "vm_uuid": self.vm_uuid,
            "vm_name": self.vm_name,
            "ips": None if self.ips is None else list(self.ips),
            "categories": self.categories,
            "power_state": self.power_state,
            "cluster_uuid": self.cluster_uuid,
            "cluster_name": self.cluster_name,
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


def _nic_ips(resources):
    """(IPs from ``resources.nic_list[].ip_endpoint_list[].ip``, or None when there is no usable NIC info; the
    AddressErrors of those a firewall should not hold, which are left out)."""
    if "nic_list" not in resources or not isinstance(resources.get("nic_list"), list):
        return None, []
    given = [_dict(endpoint).get("ip") for nic in resources["nic_list"]
             for endpoint in _list(_dict(nic).get("ip_endpoint_list"))]
    ips, dropped = firewall_ips(ip for ip in given if ip is not None)
    # AOS sends an empty nic_list (or NICs without addresses yet) at VM.ON: that is "unknown", not "none".
    return ips or None, dropped


def _categories(metadata):
    cats = metadata.get("categories")
    if not isinstance(cats, dict):
        return None
    return dict((str(k), str(v)) for k, v in cats.items() if isinstance(k, str) and isinstance(v, (str, int)))


def _read_entity(entity):
    """(uuid, name, power_state, ips, categories, dropped) of a v3 VM entity; ips/categories None when it does not
    say; dropped: the AddressErrors of the addresses left out."""
    entity = _dict(entity)
    metadata = _dict(entity.get("metadata"))
    spec_res = _dict(_dict(entity.get("spec")).get("resources"))
    status_res = _dict(_dict(entity.get("status")).get("resources"))
    ips, dropped = _nic_ips(status_res)
    if ips is None:
        ips, spec_dropped = _nic_ips(spec_res)
        dropped += spec_dropped
    name = _dict(entity.get("status")).get("name") or _dict(entity.get("spec")).get("name")
    return (metadata.get("uuid"), name if isinstance(name, str) else None,
            normalize_power_state(status_res.get("power_state") or spec_res.get("power_state")), ips,
            _categories(metadata), dropped)


def _cluster(entity):
    """(uuid, name) of the cluster a v3 VM entity names in its status (else its spec), each None if not said."""
    entity = _dict(entity)
    ref = _dict(_dict(entity.get("status")).get("cluster_reference")) or \
        _dict(_dict(entity.get("spec")).get("cluster_reference"))
    uuid, name = ref.get("uuid"), ref.get("name")
    return (uuid if isinstance(uuid, str) else None), (name if isinstance(name, str) else None)


def vm_state_from_entity(entity):
    """A VmState from a v3 VM entity (GET /vms/{uuid}, a vms/list entity, or a webhook's ``data.metadata``)."""
    uuid, name, power, ips, categories, _dropped = _read_entity(entity)
    cluster_uuid, cluster_name = _cluster(entity)
    return VmState(uuid=uuid, name=name, power_state=power, ips=ips or (), categories=categories or {},
                   cluster_uuid=cluster_uuid, cluster_name=cluster_name)


def parse_event(body):
    """Validate a webhook body and return a VmEvent. Raises EventError when it is not an event envelope."""
    if not isinstance(body, dict):
        raise EventError("the body is not a JSON object")
    event_type = body.get("event_type")
    if not isinstance(event_type, str) or not event_type.strip():
        raise EventError("the body has no event_type")
    event_type = event_type.strip()
    if not _EVENT_TYPE_RE.match(event_type):
        raise EventError("the event_type is not a Prism event type (up to 64 letters, digits, '.', '_', ':', '-')")
    ref = body.get("entity_reference")
    data = body.get("data")
    if not isinstance(ref, dict) or not isinstance(data, dict):
        raise EventError("the body has no entity_reference or data object")
    entity_uuid, name, power, ips, categories, dropped = _read_entity(data.get("metadata"))
    vm_uuid = ref.get("uuid") or entity_uuid
    if not isinstance(vm_uuid, str) or not vm_uuid.strip():
        raise EventError("the event names no entity uuid")
    vm_uuid = vm_uuid.strip()
    if not _UUID_RE.match(vm_uuid):
        raise EventError("the entity uuid is not a uuid (up to 128 letters, digits, '.', '_', ':', '-')")
    cluster_uuid, cluster_name = _cluster(data.get("metadata"))
    return VmEvent(event_type=event_type, vm_uuid=vm_uuid, vm_name=name, ips=ips, categories=categories,
                   power_state=power, raw=body, cluster_uuid=cluster_uuid, cluster_name=cluster_name,
                   dropped_ips=dropped)
