#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_tag_sync
short_description: Make a firewall's registered-IP tags match the VMs and categories in Nutanix Prism
version_added: 0.1.0
description:
  - Reads every VM from Prism (paged; through the v4 API where Prism Central serves it, see O(api)), maps each
    powered-on VM's categories to PAN-OS tags, reads the firewall's registered-IP table, and registers or
    unregisters the difference in one batched User-ID call.
  - This is the same mapping and reconcile code that the listener runs at start and on its reconcile interval, so
    a run repairs whatever events were missed (an IP missing, a stale tag, a deleted VM).
  - Only the tags this collection owns are touched (those starting with O(owned_prefix), by default the fixed text
    of O(tag_format), and those named in O(tag_mapping)); tags that other systems registered stay as they are.
  - Several Prism Centrals feeding one firewall need V({pc}) in O(tag_format) (for example the preset
    V(panorama-plugin)) and each run its O(prism_name). Then each Prism owns only the tags that start with its own
    prefix (V(ntnx.PC-<prism_name>.)), so a run for one Prism never removes another's, and an IP that two Prisms
    report carries the tags of both. Without V({pc}) every run owns every tag of the format, so a run for one
    Prism would remove the tags of the other Prism's VMs.
  - Registered-IP tags are live at once and need no commit.
author: netevents.nutanix maintainers (!UNKNOWN)
extends_documentation_fragment:
  - netevents.nutanix.prism
  - netevents.nutanix.prism.vm_api
  - netevents.nutanix.panos
  - netevents.nutanix.panos.vsys
  - netevents.nutanix.panos.device_group
attributes:
  check_mode:
    support: full
    description: Computes and returns the changes without making them.
  diff_mode:
    support: full
    description: Shows, for each IP that changes, its owned tags before and after.
  action_group:
    support: full
    description: Its Prism options and its provider can be set with C(module_defaults) for either group.
    membership:
      - netevents.nutanix.prism
      - netevents.nutanix.panos
options:
  tag_format:
    description:
      - How a category becomes a tag; V({category}) and V({value}) are replaced by the category's name and value,
        V({cluster}) by the name of the VM's cluster, with every character other than letters, digits, V(.),
        V(_) and V(-) replaced by V(_). A VM whose cluster Prism names only by uuid gets the uuid, one whose
        cluster Prism does not name at all V(unknown).
      - V({pc}) is replaced by O(prism_name) as it is; it must come before the other placeholders and be followed
        by a separator (such as V(.)) that O(prism_name) does not contain.
      - V(panorama-plugin) is a preset for V(ntnx.PC-{pc}.CL-{cluster}.{category}.{value}), the names Palo Alto
        Networks' Panorama plugin for Nutanix gives (so dynamic address groups written for it match).
      - The default matches Palo Alto Networks' own Nutanix integration for one Prism.
      - A tag name is at most 127 characters (PAN-OS's limit); a category whose tag would be longer, or would not
        start with a letter, digit or V(_), is left out.
    type: str
    default: "ntnx.{category}.{value}"
  prism_name:
    description:
      - The name you give the Prism Central read by this run, for V({pc}) in O(tag_format), O(owned_prefix) and
        O(tag_mapping); required when O(tag_format) names V({pc}). It is not read from Prism.
      - Give each Prism its own name and use the same name on every run for it; letters, digits, V(_), V(-) and
        V(.) (but not the separator after V({pc})). PAN-OS tag names ignore case, so names must differ in more
        than case.
    type: str
  tag_mapping:
    description:
      - An explicit table that wins over O(tag_format), from V(Category:Value) to one tag or a list of tags.
      - A tag may name V({pc}). When O(tag_format) names V({pc}), every tag here must start with the owned prefix
        (for example V(ntnx.PC-{pc}.web-servers)), so that it belongs to one Prism.
    type: dict
  categories:
    description:
      - Map only these category names (default all).
    type: list
    elements: str
  owned_prefix:
    description:
      - Tags starting with this prefix belong to this collection and may be removed. Defaults to the text of
        O(tag_format) before its first placeholder; when O(tag_format) names V({pc}), to its text up to V({pc}),
        the Prism's name and the character after it (V(ntnx.PC-A.) for Prism V(A) with V(panorama-plugin)).
      - May name V({pc}), and must when O(tag_format) does.
    type: str
  tag_timeout:
    description:
      - Seconds after which the firewall drops a registered tag unless it is registered again (V(0) never).
      - Above V(0), every run registers every owned tag again (one User-ID call even when nothing changed, and
        C(changed) stays false then), which renews the lease; schedule runs well within it.
    type: int
    default: 0
  page_size:
    description:
      - VMs read per Prism v3 C(vms/list) page (Prism allows at most 500). The v4 API is read 100 VMs a page,
        its most.
    type: int
    default: 500
seealso:
  - module: netevents.nutanix.panos_registered_ip
notes:
  - Dynamic address groups that match these tags are part of the firewall scaffold; create them with
    M(netevents.nutanix.panos_address_group) and commit once with M(netevents.nutanix.panos_commit).
"""

EXAMPLES = r"""
- name: Repair the firewall's VM tags from Prism
  netevents.nutanix.vm_tag_sync:
    nutanix_host: prism.example.com
    nutanix_username: admin
    nutanix_password: "{{ vault_prism_password }}"
    provider:
      ip_address: fw.example.com
      api_key: "{{ vault_panos_api_key }}"
  register: sync

- name: Show what changed
  ansible.builtin.debug:
    var: sync.summary

- name: Two Prism Centrals feeding one firewall, each owning its own tags
  netevents.nutanix.vm_tag_sync:
    nutanix_host: "{{ item.host }}"
    nutanix_username: admin
    nutanix_password: "{{ item.password }}"
    prism_name: "{{ item.name }}"
    tag_format: panorama-plugin        # ntnx.PC-{pc}.CL-{cluster}.{category}.{value}
    provider:
      ip_address: fw.example.com
      api_key: "{{ vault_panos_api_key }}"
  loop:
    - {name: dc1, host: pc-dc1.example.com, password: "{{ vault_pc_dc1_password }}"}
    - {name: dc2, host: pc-dc2.example.com, password: "{{ vault_pc_dc2_password }}"}
  loop_control:
    label: "{{ item.name }}"

- name: The same through Prism Central's v4 API only, with an API key
  netevents.nutanix.vm_tag_sync:
    nutanix_host: pc.example.com
    nutanix_api_key: "{{ vault_prism_api_key }}"
    api: v4
    provider:
      ip_address: fw.example.com
      api_key: "{{ vault_panos_api_key }}"

- name: The connection options of both action groups, set once
  module_defaults:
    group/netevents.nutanix.prism:
      nutanix_host: prism.example.com
      nutanix_username: admin
      nutanix_password: "{{ vault_prism_password }}"
    group/netevents.nutanix.panos:
      provider: "{{ panos_provider }}"
  block:
    - name: Only the AppTier category, with an explicit tag for the web tier
      netevents.nutanix.vm_tag_sync:
        categories: [AppTier]
        tag_mapping:
          "AppTier:Web": web-servers
      check_mode: true
"""

RETURN = r"""
summary:
  description: What the run changed (or would change in check mode).
  returned: always
  type: dict
  contains:
    vms:
      description: VMs read from Prism.
      type: int
    vms_powered_on:
      description: VMs powered on (only these are registered).
      type: int
    added:
      description: IP-tag pairs registered.
      type: int
    removed:
      description: IP-tag pairs unregistered.
      type: int
    unchanged:
      description: IPs whose owned tags were already right.
      type: int
    ips_registered:
      description: IPs that received at least one tag.
      type: int
    ips_unregistered:
      description: IPs that lost at least one tag.
      type: int
    userid_calls:
      description: User-ID API calls made (one per change set; 0 in check mode or when nothing changed).
      type: int
  sample:
    vms: 120
    vms_powered_on: 97
    added: 3
    removed: 1
    unchanged: 95
    ips_registered: 3
    ips_unregistered: 1
    userid_calls: 1
api:
  description: The Prism API the VMs were read with (what O(api=auto) chose).
  returned: always
  type: str
  sample: v4
registered:
  description: The IPs registered, with the tags added to each.
  returned: always
  type: dict
  sample: {"10.1.1.5": ["ntnx.AppTier.Web"]}
unregistered:
  description: The IPs unregistered, with the tags removed from each.
  returned: always
  type: dict
  sample: {"10.1.1.9": ["ntnx.AppTier.Db"]}
"""

from ansible_collections.netevents.nutanix.plugins.module_utils.base_module import PrismPanosModule
from ansible_collections.netevents.nutanix.plugins.module_utils.reconcile import reconcile
from ansible_collections.netevents.nutanix.plugins.module_utils.tagging import DEFAULT_TAG_FORMAT, TagError, TagMapper


def sorted_lists(mapping):
    return dict((ip, sorted(tags)) for ip, tags in sorted(mapping.items()))


def main():
    module = PrismPanosModule(dict(
        tag_format=dict(type="str", default=DEFAULT_TAG_FORMAT),
        prism_name=dict(type="str"),
        tag_mapping=dict(type="dict"),
        categories=dict(type="list", elements="str"),
        owned_prefix=dict(type="str"),
        tag_timeout=dict(type="int", default=0),
        page_size=dict(type="int", default=500),
    ), vm_api=True)
    params = module.params
    with module.failures():
        if not 1 <= params["page_size"] <= 500:
            raise ValueError("page_size must be between 1 and 500 (Prism's vms/list limit)")
        if params["tag_timeout"] < 0:
            raise ValueError("tag_timeout must be 0 (never expire) or a number of seconds")
        try:
            mapper = TagMapper(tag_format=params["tag_format"], mapping=params["tag_mapping"],
                               categories=params["categories"], owned_prefix=params["owned_prefix"],
                               prism_name=params["prism_name"])
        except TagError as e:
            raise ValueError("Invalid tag settings: %s" % e)
        if params["prism_name"] and not mapper.per_prism:
            module.warn("prism_name is set but tag_format does not name {pc}: the tags do not say which Prism "
                        "registered them, so a run for another Prism against this firewall would remove them")
        prism = module.prism_client()
        vms, desired, results = reconcile(prism, [module.panos_connect()], mapper,
                                          apply=not module.check_mode, timeout=params["tag_timeout"] or None,
                                          page_size=params["page_size"])
    plan, current, calls = results[0]
    touched = set(plan.register) | set(plan.unregister)
    diff = dict(before=sorted_lists(dict((ip, [t for t in current.get(ip, ()) if mapper.owns(t)]) for ip in touched)),
                after=sorted_lists(dict((ip, desired.get(ip, ())) for ip in touched))) if plan.changed else None
    summary = plan.summary()
    summary.update(vms=len(vms), vms_powered_on=sum(1 for v in vms if v.power_state == "ON"), userid_calls=calls)
    module.done(plan.changed, diff, summary=summary, api=prism.vm_api(), registered=sorted_lists(plan.register),
                unregistered=sorted_lists(plan.unregister))


if __name__ == "__main__":
    main()
