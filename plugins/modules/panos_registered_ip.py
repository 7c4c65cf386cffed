#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: panos_registered_ip
short_description: Register or unregister IP tags on a PAN-OS firewall (User-ID) for dynamic address groups
version_added: 0.1.0
description:
  - Tags IP addresses through the User-ID API. Dynamic address groups whose filter matches a tag
    (M(netevents.nutanix.panos_address_group)) gain or lose those IPs at once; no commit is needed.
  - The whole change set, however many IPs, goes to the firewall in a single User-ID API call.
  - Reads the current registered-IP table first (every page), so only the missing tags are registered and only
    the present ones unregistered; a run that changes nothing sends nothing.
  - Registered IPs live outside the configuration, unlike address objects. They survive commits and reboots
    only until O(timeout) expires (when set), and are the right tool for tags that change as VMs come and go.
author: netevents.nutanix maintainers (!UNKNOWN)
extends_documentation_fragment:
  - netevents.nutanix.panos
  - netevents.nutanix.panos.vsys
attributes:
  check_mode:
    support: full
    description: Computes the change and the resulting table without sending it.
  diff_mode:
    support: full
    description: Shows, for every IP that changes, which of O(tags) it carries before and after.
options:
  ips:
    description:
      - IPv4 or IPv6 addresses.
      - With O(state=present), only unicast addresses that name one host in a routed network, the collection's one
        address rule - an address with a zone index (V(fe80::1%eth0)), an unspecified (V(0.0.0.0), V(::)),
        loopback, multicast, broadcast or link-local address (V(169.254.0.0/16), V(fe80::/10)) or an IPv4-mapped
        IPv6 address fails the task, naming the address. O(state=absent) takes any IP, to clean up.
      - May be empty only with O(exclusive=true), which then unregisters O(tags) from every IP.
    type: list
    elements: str
    required: true
  tags:
    description:
      - Tags to register on (or unregister from) each of O(ips); names up to 127 letters, digits, V(_), V(.),
        V(-) and inner spaces.
    type: list
    elements: str
    required: true
    aliases: [tag]
  timeout:
    description:
      - Seconds after which the firewall drops the registered tags unless registered again; V(0) never
        (at most 2592000, 30 days).
      - Only used for tags that are registered by this run.
    type: int
    default: 0
  exclusive:
    description:
      - With O(state=present), make O(ips) the complete set of IPs carrying O(tags) - every other IP that carries
        one of them has it unregistered, in the same API call.
    type: bool
    default: false
  state:
    description:
      - V(present) registers O(tags) on every IP in O(ips); V(absent) unregisters them.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Only O(tags) are touched; other tags on the same IPs (from other systems) are left alone.
seealso:
  - module: netevents.nutanix.panos_address_group
  - module: netevents.nutanix.vm_tag_sync
"""

EXAMPLES = r"""
- name: Tag two web servers
  netevents.nutanix.panos_registered_ip:
    provider:
      ip_address: fw.example.com
      api_key: "{{ vault_panos_api_key }}"
      ca_path: /etc/pki/panos/fw-ca.pem
    ips: [10.1.1.5, 10.1.1.6]
    tags: [ntnx.AppTier.Web]

- name: These are the only quarantined hosts now (others are released in the same call)
  netevents.nutanix.panos_registered_ip:
    provider: "{{ panos_provider }}"
    ips: "{{ quarantined_ips }}"
    tags: [quarantine]
    timeout: 86400
    exclusive: true
  register: quarantine

- name: Show which IPs carry the tag now
  ansible.builtin.debug:
    var: quarantine.registered_ips

- name: Untag a host
  netevents.nutanix.panos_registered_ip:
    provider: "{{ panos_provider }}"
    ips: [10.1.1.6]
    tags: [ntnx.AppTier.Web]
    state: absent
"""

RETURN = r"""
registered_ips:
  description: Every IP that carries one of O(tags) after the change, with those of O(tags) it carries (sorted).
  returned: always
  type: dict
  sample: {"10.1.1.5": ["ntnx.AppTier.Web"], "10.1.1.6": ["ntnx.AppTier.Web"]}
registered:
  description: The tags registered by this run, per IP.
  returned: always
  type: dict
  sample: {"10.1.1.6": ["ntnx.AppTier.Web"]}
unregistered:
  description: The tags unregistered by this run, per IP.
  returned: always
  type: dict
  sample: {"10.1.1.9": ["ntnx.AppTier.Web"]}
userid_calls:
  description: User-ID API calls made - 1 when anything changed, 0 when nothing did or in check mode.
  returned: always
  type: int
  sample: 1
"""

from ansible_collections.netevents.nutanix.plugins.module_utils import panos as panos_utils
from ansible_collections.netevents.nutanix.plugins.module_utils.addresses import firewall_ip
from ansible_collections.netevents.nutanix.plugins.module_utils.base_module import PanosModule

MAX_TIMEOUT = 2592000


def lists(table):
    return dict((ip, sorted(tags)) for ip, tags in sorted(table.items()))


def check(params):
    """The IPs and tags asked for, as sets; ValueError with a message for the user."""
    # Registering takes only what a firewall should hold; removing takes anything a firewall may hold already.
    spelling = firewall_ip if params["state"] == "present" else panos_utils.normalize_ip
    ips = set(spelling(ip) for ip in params["ips"])
    tags = set(panos_utils.validate_name(tag, "tag") for tag in params["tags"])
    if not tags:
        raise ValueError("tags must name at least one tag")
    if params["exclusive"] and params["state"] == "absent":
        raise ValueError("exclusive applies to state=present only")
    if not ips and not params["exclusive"]:
        raise ValueError("ips must list at least one address (an empty list only makes sense with exclusive)")
    if not 0 <= params["timeout"] <= MAX_TIMEOUT:
        raise ValueError("timeout must be between 0 (never expire) and %d seconds" % MAX_TIMEOUT)
    return ips, tags


def main():
    module = PanosModule(dict(
        ips=dict(type="list", elements="str", required=True),
        tags=dict(type="list", elements="str", required=True, aliases=["tag"]),
        timeout=dict(type="int", default=0),
        exclusive=dict(type="bool", default=False),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    ), device_group=False)
    params = module.params
    with module.failures():
        ips, tags = check(params)
        device = module.panos_connect()
        table = panos_utils.get_registered_ips(device, tag=next(iter(tags)) if len(tags) == 1 else None)
        current = dict((ip, have & tags) for ip, have in table.items() if have & tags)
        desired = {} if params["state"] == "absent" else dict.fromkeys(ips, tags)
        plan = panos_utils.plan_registered_ips(desired, current, scope=None if params["exclusive"] else ips)
        register, unregister, after = plan.register, plan.unregister, plan.after(current)
        calls = 0
        if not module.check_mode:
            calls = panos_utils.apply_registered_ips(device, register=register, unregister=unregister,
                                                     timeout=params["timeout"] or None)
    touched = set(register) | set(unregister)
    diff = dict(before=lists(dict((ip, current.get(ip, ())) for ip in touched)),
                after=lists(dict((ip, after.get(ip, ())) for ip in touched))) if touched else None
    module.done(bool(touched), diff, registered_ips=lists(after), registered=lists(register),
                unregistered=lists(unregister), userid_calls=calls)


if __name__ == "__main__":
    main()
