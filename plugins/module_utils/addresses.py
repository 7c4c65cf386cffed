# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one rule for which IP addresses may be registered on a firewall, for every part of the collection.

The event parser (webhook payloads and Prism's VM entities, so the listener, its plugins, vm_tag_sync and the EDA
source), and panos_registered_ip all go through ``firewall_ip``. A firewall matches traffic by the addresses on the
wire, so only a unicast address that names one host in the routed network is worth a tag. Refused:

* a zone index (``fe80::1%eth0``): it only means something on the host that reported it;
* unspecified (``0.0.0.0``, ``::``) and the rest of 0.0.0.0/8 ("this network"): no host has them;
* loopback (127.0.0.0/8, ``::1``): never seen on a firewall's interface;
* multicast (224.0.0.0/4, ff00::/8) and the limited broadcast 255.255.255.255 (with the rest of the reserved
  240.0.0.0/4): not one host. A subnet's own broadcast address cannot be told from the address alone;
* link-local (169.254.0.0/16, fe80::/10): not routed, so a firewall between networks never sees it, and not unique
  either - every IPv6 interface has one, and the same fe80:: address may exist on every link. An IPv4 link-local
  address is what a guest gives itself when DHCP failed; the real one comes later;
* IPv4-mapped IPv6 (``::ffff:10.0.0.5``): a socket API's spelling of an IPv4 address, never an address on the wire.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
# Why an address is refused: the code (a fixed set, fit for a metric label) and the words for a person.
REASONS = {
    "not_an_ip": "is not an IPv4 or IPv6 address",
    "zone_index": "has a zone index, which only means something on the host that reported it",
    "unspecified": "is an unspecified address (0.0.0.0/8 or ::), which no host has",
    "loopback": "is a loopback address, which never reaches a firewall",
    "multicast": "is a multicast address, not one host",
    "broadcast": "is a broadcast or reserved address (240.0.0.0/4), not one host",
    "link_local": "is a link-local address, which is not routed and not unique",
    "ipv4_mapped": "is an IPv4-mapped IPv6 address; register the IPv4 address itself",
}


class AddressError(ValueError):
    """An address a firewall should not hold: ``address`` as given, ``reason`` (a key of REASONS)."""

    def __init__(self, address, reason):
        self.address = address
        self.reason = reason
        super(AddressError, self).__init__("%r cannot be registered on a firewall: it %s" % (address, REASONS[reason]))


def _reason(ip):
    if getattr(ip, "scope_id", None):
        return "zone_index"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return "ipv4_mapped"
    if ip.is_unspecified or ip in _THIS_NETWORK:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_multicast:
        return "multicast"
    if ip.version == 4 and ip.is_reserved:
        return "broadcast"
    if ip.is_link_local:
        return "link_local"
    return None


def firewall_ip(value):
    """*value* in its one spelling ('10.0.0.5', '2001:db8::5') if a firewall should hold it; else AddressError."""
    try:
        ip = ipaddress.ip_address(value.strip())
    except (AttributeError, ValueError):
        raise AddressError(value, "not_an_ip")
    reason = _reason(ip)
    if reason:
        raise AddressError(value, reason)
    return str(ip)


def firewall_ips(values):
    """(the addresses a firewall should hold, in their first order without repeats; the AddressErrors of the rest)."""
    kept, dropped = [], []
    for value in values:
        try:
            ip = firewall_ip(value)
        except AddressError as e:
            dropped.append(e)
            continue
        if ip not in kept:
            kept.append(ip)
    return kept, dropped
