#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: panos_address_group
short_description: Manage a static or dynamic address group on a PAN-OS firewall or Panorama
version_added: 0.1.0
description:
  - Creates, updates or deletes an address group (Objects > Address Groups) in the candidate configuration.
  - A dynamic group matches IPs by tag with O(dynamic_filter). Its members then follow registered-IP tags
    (M(netevents.nutanix.panos_registered_ip), the listener) live, with no further commit.
author: netevents.nutanix maintainers (!UNKNOWN)
extends_documentation_fragment:
  - netevents.nutanix.panos
  - netevents.nutanix.panos.vsys
  - netevents.nutanix.panos.device_group
  - netevents.nutanix.panos.candidate
options:
  name:
    description:
      - Name of the group, up to 63 letters, digits, V(_), V(.), V(-) and inner spaces.
    type: str
    required: true
  dynamic_filter:
    description:
      - Makes a dynamic group with this tag filter, for example V('ntnx.AppTier.Web' and 'ntnx.Env.Prod').
      - The grammar PAN-OS documents, which the module checks before any change - tag names in single quotes,
        combined with V(and) and V(or) (in lower case) and grouped with parentheses. Put parentheses where
        V(and) and V(or) mix, rather than relying on an order of evaluation.
      - PAN-OS has no V(not) (a filter with it fails the commit), so it is refused here. To leave VMs out, give
        the ones to match a tag of their own.
      - At most 2047 characters.
      - Mutually exclusive with O(static_members). Setting it on a static group turns it into a dynamic one.
    type: str
    aliases: [dynamic_value]
  static_members:
    description:
      - Makes a static group of these address objects or address groups (names, not IPs).
      - Mutually exclusive with O(dynamic_filter). Setting it on a dynamic group turns it into a static one.
    type: list
    elements: str
    aliases: [static_value]
  description:
    description:
      - Description of the group (up to 1023 characters). V("") removes it; left out, it is kept.
    type: str
  tag:
    description:
      - Tags (existing tag objects) the group itself carries, for display and filtering. V([]) removes them;
        left out, they are kept.
    type: list
    elements: str
    aliases: [tags]
  state:
    description:
      - V(present) creates or updates the group, V(absent) deletes it.
      - A new group needs O(dynamic_filter) or O(static_members); an existing one keeps its members when both are
        left out.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Members are compared as sets, so their order never causes a change.
seealso:
  - module: netevents.nutanix.panos_registered_ip
  - module: netevents.nutanix.panos_commit
"""

EXAMPLES = r"""
- name: Dynamic group of the production web VMs
  netevents.nutanix.panos_address_group:
    provider:
      ip_address: fw.example.com
      api_key: "{{ vault_panos_api_key }}"
      ca_path: /etc/pki/panos/fw-ca.pem
    name: ntnx-web-prod
    dynamic_filter: "'ntnx.AppTier.Web' and 'ntnx.Env.Prod'"
    description: Web VMs in production, from Nutanix categories

- name: Static group of two address objects, on Panorama
  netevents.nutanix.panos_address_group:
    provider: "{{ panorama_provider }}"
    device_group: branch-offices
    name: dns-servers
    static_members: [dns-1, dns-2]
"""

RETURN = r"""
address_group:
  description: The group after the change (empty when deleted).
  returned: always
  type: dict
  contains:
    name:
      description: Name of the group.
      type: str
    dynamic_filter:
      description: Tag filter of a dynamic group.
      type: str
    static_members:
      description: Members of a static group, sorted.
      type: list
      elements: str
    description:
      description: Description.
      type: str
    tag:
      description: Tags of the group, sorted.
      type: list
      elements: str
  sample:
    name: ntnx-web-prod
    dynamic_filter: "'ntnx.AppTier.Web' and 'ntnx.Env.Prod'"
    static_members: []
    description: Web VMs in production
    tag: []
"""

from ansible_collections.netevents.nutanix.plugins.module_utils import panos as panos_utils
from ansible_collections.netevents.nutanix.plugins.module_utils.base_module import PanosModule

FIELDS = {"dynamic_filter": "dynamic_value", "static_members": "static_value", "description": "description",
          "tag": "tag"}


def check(params):
    """Validate names and the filter; raise ValueError with a message for the user."""
    panos_utils.validate_name(params["name"], "address_group")
    for member in params["static_members"] or ():
        panos_utils.validate_name(member, "address")
    for tag in params["tag"] or ():
        panos_utils.validate_name(tag, "tag")
    if params["dynamic_filter"] is not None:
        panos_utils.validate_dynamic_filter(params["dynamic_filter"])
    if params["static_members"] is not None and not params["static_members"]:
        raise ValueError("static_members must list at least one member")
    if params["description"] is not None and len(params["description"]) > 1023:
        raise ValueError("description is limited to 1023 characters by PAN-OS")


def main():
    module = PanosModule(dict(
        name=dict(type="str", required=True),
        dynamic_filter=dict(type="str", aliases=["dynamic_value"]),
        static_members=dict(type="list", elements="str", aliases=["static_value"]),
        description=dict(type="str"),
        tag=dict(type="list", elements="str", aliases=["tags"]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    ), mutually_exclusive=[["dynamic_filter", "static_members"]])
    params = module.params
    wanted = dict((option, params[option]) for option in FIELDS)
    if params["dynamic_filter"] is not None:
        wanted["static_members"] = []   # a group is one or the other
    elif params["static_members"] is not None:
        wanted["dynamic_filter"] = ""
    with module.failures():
        check(params)
        changed, before, after, _obj = panos_utils.sync_object(
            module.panos_connect(), "address_group", params["name"], FIELDS, wanted, state=params["state"],
            check_mode=module.check_mode, create_needs=("dynamic_filter", "static_members"))
    before, after = [dict(view, name=params["name"]) if view else {} for view in (before, after)]
    module.done(changed, dict(before=before, after=after), address_group=after)


if __name__ == "__main__":
    main()
