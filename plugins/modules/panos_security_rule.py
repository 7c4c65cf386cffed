#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: panos_security_rule
short_description: Manage a security policy rule on a PAN-OS firewall or Panorama
version_added: 0.1.0
description:
  - Creates, updates, moves or deletes a security rule in the candidate configuration.
  - Only the options given are compared and written, one setting at a time, so settings this module does not
    manage (log forwarding, security profiles, schedules) and the rule's UUID are left as they are and never
    make the task report a change.
author: netevents.nutanix maintainers (!UNKNOWN)
extends_documentation_fragment:
  - netevents.nutanix.panos
  - netevents.nutanix.panos.vsys
  - netevents.nutanix.panos.device_group
  - netevents.nutanix.panos.candidate
attributes:
  check_mode:
    support: full
    description: Reports what would change (including a move) without changing the candidate configuration.
  diff_mode:
    support: full
    description: Shows the managed settings (and the position when O(location) is given) before and after.
options:
  name:
    description:
      - Name of the rule, up to 63 letters, digits, V(_), V(.), V(-) and inner spaces.
    type: str
    required: true
    aliases: [rule_name]
  source_zone:
    description:
      - Source zones. A new rule defaults to V([any]); left out, an existing rule keeps its zones.
    type: list
    elements: str
  destination_zone:
    description:
      - Destination zones. A new rule defaults to V([any]); left out, an existing rule keeps its zones.
    type: list
    elements: str
  source_ip:
    description:
      - Source addresses, address groups, IPs, networks or ranges. A new rule defaults to V([any]).
      - A dynamic address group (M(netevents.nutanix.panos_address_group)) here makes the rule follow VM tags.
    type: list
    elements: str
  destination_ip:
    description:
      - Destination addresses, address groups, IPs, networks or ranges. A new rule defaults to V([any]).
    type: list
    elements: str
  application:
    description:
      - Applications. A new rule defaults to V([any]).
    type: list
    elements: str
  service:
    description:
      - Services. A new rule defaults to V([application-default]).
    type: list
    elements: str
  action:
    description:
      - What the rule does with matching traffic. A new rule defaults to V(allow).
    type: str
    choices: [allow, deny, drop, reset-client, reset-server, reset-both]
  description:
    description:
      - Description of the rule (up to 1023 characters). V("") removes it; left out, it is kept.
    type: str
  tag:
    description:
      - Tags (existing tag objects) of the rule. V([]) removes them; left out, they are kept.
    type: list
    elements: str
    aliases: [tags, tag_name]
  disabled:
    description:
      - Disable the rule. Left out, an existing rule keeps its setting.
    type: bool
  location:
    description:
      - Where the rule must sit. It is moved only when it is not already there (V(before) and V(after) mean
        directly before or after O(existing_rule)).
      - Left out, a new rule is added at the bottom and an existing one stays where it is.
    type: str
    choices: [top, bottom, before, after]
  existing_rule:
    description:
      - The rule that O(location=before) or O(location=after) refers to.
    type: str
  rulebase:
    description:
      - On Panorama, the pre- or post-rulebase of the device group (or of the shared policy). Ignored on a
        firewall.
    type: str
    choices: [pre-rulebase, post-rulebase]
    default: pre-rulebase
  state:
    description:
      - V(present) creates, updates or moves the rule, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Member lists are compared as sets, so their order never causes a change.
seealso:
  - module: netevents.nutanix.panos_address_group
  - module: netevents.nutanix.panos_commit
"""

EXAMPLES = r"""
- name: Allow the web tier to reach the database tier, from dynamic address groups
  netevents.nutanix.panos_security_rule:
    provider:
      ip_address: fw.example.com
      api_key: "{{ vault_panos_api_key }}"
      ca_path: /etc/pki/panos/fw-ca.pem
    name: web-to-db
    source_zone: [trust]
    destination_zone: [trust]
    source_ip: [ntnx-web-prod]
    destination_ip: [ntnx-db-prod]
    application: [mysql]
    service: [application-default]
    action: allow
    description: Managed by netevents.nutanix
    tag: [ntnx.AppTier.Web]
    location: top

- name: Deny everything else from the web tier, right after it
  netevents.nutanix.panos_security_rule:
    provider: "{{ panos_provider }}"
    name: web-deny
    source_ip: [ntnx-web-prod]
    action: deny
    location: after
    existing_rule: web-to-db

- name: Commit once, after all rule changes
  netevents.nutanix.panos_commit:
    provider: "{{ panos_provider }}"
"""

RETURN = r"""
rule:
  description:
    - The managed settings of the rule after the change (empty when deleted).
    - With O(location), also C(position), the rule's 1-based place in the rulebase.
  returned: always
  type: dict
  sample:
    name: web-deny
    position: 2
    source_zone: [any]
    destination_zone: [any]
    source_ip: [ntnx-web-prod]
    destination_ip: [any]
    application: [any]
    service: [application-default]
    action: deny
    description: null
    tag: []
    disabled: null
moved:
  description: Whether the rule was (or in check mode would be) moved to O(location).
  returned: always
  type: bool
  sample: false
"""

from ansible_collections.netevents.nutanix.plugins.module_utils import panos as panos_utils
from ansible_collections.netevents.nutanix.plugins.module_utils.base_module import PanosModule

FIELDS = {
    "source_zone": "fromzone", "destination_zone": "tozone", "source_ip": "source", "destination_ip": "destination",
    "application": "application", "service": "service", "action": "action", "description": "description",
    "tag": "tag", "disabled": "disabled",
}
DEFAULTS = {"source_zone": ["any"], "destination_zone": ["any"], "source_ip": ["any"], "destination_ip": ["any"],
            "application": ["any"], "service": ["application-default"], "action": "allow"}
MEMBER_KINDS = {"source_zone": "zone", "destination_zone": "zone", "application": "application",
                "service": "service", "tag": "tag"}


def check(params):
    """Validate names and combinations; raise ValueError with a message for the user."""
    panos_utils.validate_name(params["name"], "rule")
    for option, kind in MEMBER_KINDS.items():
        for member in params[option] or ():
            panos_utils.validate_name(member, kind)
    for option in ("source_ip", "destination_ip"):
        for member in params[option] or ():
            panos_utils.validate_address(member)
    for option in ("source_zone", "destination_zone", "source_ip", "destination_ip", "application", "service"):
        if params[option] is not None and not params[option]:
            raise ValueError("%s must not be empty (use [any])" % option)
    if params["description"] is not None and len(params["description"]) > 1023:
        raise ValueError("description is limited to 1023 characters by PAN-OS")
    if params["location"] in ("before", "after"):
        if not params["existing_rule"]:
            raise ValueError("location=%s needs existing_rule" % params["location"])
        panos_utils.validate_name(params["existing_rule"], "rule")
        if params["existing_rule"] == params["name"]:
            raise ValueError("a rule cannot be placed %s itself" % params["location"])


def in_place(order, name, location, ref=None):
    """Whether *name* already sits at *location* in the rule *order*."""
    index = order.index(name)
    if location == "top":
        return index == 0
    if location == "bottom":
        return index == len(order) - 1
    ref_index = order.index(ref)
    return index == ref_index - 1 if location == "before" else index == ref_index + 1


def moved_order(order, name, location, ref=None):
    """The rule order after moving *name* to *location*."""
    order = [n for n in order if n != name]
    if location == "top":
        return [name] + order
    if location == "bottom":
        return order + [name]
    index = order.index(ref) + (1 if location == "after" else 0)
    return order[:index] + [name] + order[index:]


def main():
    module = PanosModule(dict(
        name=dict(type="str", required=True, aliases=["rule_name"]),
        source_zone=dict(type="list", elements="str"),
        destination_zone=dict(type="list", elements="str"),
        source_ip=dict(type="list", elements="str"),
        destination_ip=dict(type="list", elements="str"),
        application=dict(type="list", elements="str"),
        service=dict(type="list", elements="str"),
        action=dict(type="str", choices=["allow", "deny", "drop", "reset-client", "reset-server", "reset-both"]),
        description=dict(type="str"),
        tag=dict(type="list", elements="str", aliases=["tags", "tag_name"]),
        disabled=dict(type="bool"),
        location=dict(type="str", choices=["top", "bottom", "before", "after"]),
        existing_rule=dict(type="str"),
        rulebase=dict(type="str", choices=["pre-rulebase", "post-rulebase"], default="pre-rulebase"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    ))
    params = module.params
    name, location, ref = params["name"], params["location"], params["existing_rule"]
    placing = bool(location) and params["state"] == "present"
    moved = False
    with module.failures():
        check(params)
        rulebase = panos_utils.rulebase(module.panos_connect(), post=params["rulebase"] == "post-rulebase")
        order = panos_utils.list_names(rulebase, "rule") if placing else []
        if ref and placing and ref not in order:
            raise ValueError("existing_rule %r is not in the rulebase, so the rule cannot be placed %s it"
                             % (ref, location))
        changed, before, after, rule = panos_utils.sync_object(
            rulebase, "rule", name, FIELDS, dict((k, params[k]) for k in FIELDS),
            state=params["state"], check_mode=module.check_mode, defaults=DEFAULTS)
        if placing:
            if before:
                before["position"] = order.index(name) + 1
            else:
                order.append(name)   # PAN-OS adds a new rule at the bottom
            if not in_place(order, name, location, ref):
                moved = True
                if not module.check_mode:
                    panos_utils.move_object(rule, location, ref)
                order = moved_order(order, name, location, ref)
            after["position"] = order.index(name) + 1
    before, after = [dict(view, name=name) if view else {} for view in (before, after)]
    module.done(changed or moved, dict(before=before, after=after), moved=moved, rule=after)


if __name__ == "__main__":
    main()
