#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: panos_tag
short_description: Manage a tag object on a PAN-OS firewall or Panorama
version_added: 0.1.0
description:
  - Creates, updates or deletes a tag object (Objects > Tags) in the candidate configuration.
  - Tags of dynamic address groups need an object of the same name only for display; registered-IP tags
    (M(netevents.nutanix.panos_registered_ip)) work without one.
author: netevents.nutanix maintainers (!UNKNOWN)
extends_documentation_fragment:
  - netevents.nutanix.panos
  - netevents.nutanix.panos.vsys
  - netevents.nutanix.panos.device_group
  - netevents.nutanix.panos.candidate
options:
  name:
    description:
      - Name of the tag, up to 127 letters, digits, V(_), V(.), V(-) and inner spaces.
    type: str
    required: true
  color:
    description:
      - Color of the tag, by name as in the web interface.
      - Left out, an existing tag keeps its color.
    type: str
    choices:
      - red
      - green
      - blue
      - yellow
      - copper
      - orange
      - purple
      - gray
      - light green
      - cyan
      - light gray
      - blue gray
      - lime
      - black
      - gold
      - brown
      - olive
      - maroon
      - red-orange
      - yellow-orange
      - forest green
      - turquoise blue
      - azure blue
      - cerulean blue
      - midnight blue
      - medium blue
      - cobalt blue
      - violet blue
      - blue violet
      - medium violet
      - medium rose
      - lavender
      - orchid
      - thistle
      - peach
      - salmon
      - magenta
      - red violet
      - mahogany
      - burnt sienna
      - chestnut
  comments:
    description:
      - Comments of the tag (up to 1023 characters). V("") removes them; left out, they are kept.
    type: str
  state:
    description:
      - V(present) creates or updates the tag, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: netevents.nutanix.panos_commit
  - module: netevents.nutanix.panos_address_group
"""

EXAMPLES = r"""
- name: Tag for the web tier
  netevents.nutanix.panos_tag:
    provider:
      ip_address: fw.example.com
      api_key: "{{ vault_panos_api_key }}"
      ca_path: /etc/pki/panos/fw-ca.pem
    name: ntnx.AppTier.Web
    color: green
    comments: VMs in the Nutanix category AppTier:Web

- name: Remove an old tag
  netevents.nutanix.panos_tag:
    provider: "{{ panos_provider }}"
    name: legacy-web
    state: absent
"""

RETURN = r"""
tag:
  description: The tag after the change (empty when deleted).
  returned: always
  type: dict
  contains:
    name:
      description: Name of the tag.
      type: str
    color:
      description: Color name, or the PAN-OS color id if it has no name.
      type: str
    comments:
      description: Comments.
      type: str
  sample: {"name": "ntnx.AppTier.Web", "color": "green", "comments": "Web tier VMs"}
"""

from ansible_collections.netevents.nutanix.plugins.module_utils import panos as panos_utils
from ansible_collections.netevents.nutanix.plugins.module_utils.base_module import PanosModule

COLORS = (
    "red", "green", "blue", "yellow", "copper", "orange", "purple", "gray", "light green", "cyan", "light gray",
    "blue gray", "lime", "black", "gold", "brown", "olive", "maroon", "red-orange", "yellow-orange",
    "forest green", "turquoise blue", "azure blue", "cerulean blue", "midnight blue", "medium blue", "cobalt blue",
    "violet blue", "blue violet", "medium violet", "medium rose", "lavender", "orchid", "thistle", "peach",
    "salmon", "magenta", "red violet", "mahogany", "burnt sienna", "chestnut",
)
FIELDS = {"color": "color", "comments": "comments"}


def main():
    module = PanosModule(dict(
        name=dict(type="str", required=True),
        color=dict(type="str", choices=list(COLORS)),
        comments=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    ))
    params = module.params
    color_ids = dict((c, panos_utils.tag_color_id(c)) for c in COLORS)
    color_names = dict((v, k) for k, v in color_ids.items())

    def readable(view):
        if not view:
            return {}
        return dict(view, name=params["name"], color=color_names.get(view["color"], view["color"]))

    with module.failures():
        panos_utils.validate_name(params["name"], "tag")
        if params["comments"] is not None and len(params["comments"]) > 1023:
            raise ValueError("comments are limited to 1023 characters by PAN-OS")
        wanted = dict(color=color_ids.get(params["color"]), comments=params["comments"])
        changed, before, after, _obj = panos_utils.sync_object(
            module.panos_connect(), "tag", params["name"], FIELDS, wanted, state=params["state"],
            check_mode=module.check_mode)
    module.done(changed, dict(before=readable(before), after=readable(after)), tag=readable(after))


if __name__ == "__main__":
    main()
