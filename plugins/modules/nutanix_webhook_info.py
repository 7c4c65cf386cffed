#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: nutanix_webhook_info
short_description: List Nutanix Prism webhooks
version_added: 0.1.0
description:
  - Returns every webhook of Prism (all pages of the list), or the ones with a given O(name), or the one with a
    given O(uuid).
  - Nothing found is not an error; the result is then an empty list, so the task can test for it.
author:
  - netevents.nutanix maintainers (!UNKNOWN)
extends_documentation_fragment:
  - netevents.nutanix.prism
options:
  name:
    description:
      - Only the webhooks with exactly this name (there may be several; Prism allows duplicate names).
    type: str
  uuid:
    description:
      - Only the webhook with this UUID. An unknown UUID gives an empty list.
    type: str
attributes:
  check_mode:
    support: full
    description: Only reads from Prism, so it runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is no diff.
seealso:
  - module: netevents.nutanix.nutanix_webhook
"""

EXAMPLES = r"""
- name: Read every webhook
  netevents.nutanix.nutanix_webhook_info:
    nutanix_host: prism.example.com
    nutanix_username: admin
    nutanix_password: "{{ vault_prism_password }}"
  register: all_webhooks

- name: Find duplicate subscriptions of the listener
  netevents.nutanix.nutanix_webhook_info:
    nutanix_host: prism.example.com
    nutanix_username: admin
    nutanix_password: "{{ vault_prism_password }}"
    name: netevents-listener
  register: listener_webhooks

- name: Fail if the listener is subscribed more than once
  ansible.builtin.assert:
    that: listener_webhooks.webhooks | length <= 1
    fail_msg: "Duplicate webhooks: {{ listener_webhooks.webhooks | map(attribute='uuid') | join(', ') }}"
"""

RETURN = r"""
webhooks:
  description:
    - The webhooks found, in Prism's order; empty when none matches.
    - Each one as M(netevents.nutanix.nutanix_webhook) returns it in
      RV(netevents.nutanix.nutanix_webhook#module:webhook), with the keys V(uuid), V(name), V(description),
      V(post_url) (a last path segment shaped like a receiver's path token - 32 to 256 letters, digits, V(-) and
      V(_) - masked as V(********)), V(events) (sorted), V(credentials) (the user name alone, never a password),
      V(spec_version) and V(state).
  returned: always
  type: list
  elements: dict
  sample:
    - uuid: 6a2f3ad7-51f0-4b4e-9e60-3c8a3f5f1d2a
      name: netevents-listener
      description: netevents listener
      post_url: https://listener.example.com:8443/events
      events: [VM.OFF, VM.ON]
      credentials: {"username": "prism"}
      spec_version: 2
      state: COMPLETE
"""

from ansible_collections.netevents.nutanix.plugins.module_utils import prism as prism_utils
from ansible_collections.netevents.nutanix.plugins.module_utils.base_module import PrismModule


def find(client, uuid=None, name=None):
    """The webhook entities asked for: one by UUID (none if unknown), all of a name, or all."""
    if uuid is not None:
        try:
            return [client.get_webhook(uuid)]
        except prism_utils.PrismError as e:
            if e.status_code != 404:
                raise
            return []
    if name is not None:
        return client.find_webhooks(name)
    return client.list_webhooks()


def main():
    module = PrismModule(dict(name=dict(type="str"), uuid=dict(type="str")), mutually_exclusive=[("name", "uuid")])
    with module.failures():
        entities = find(module.prism_client(), module.params["uuid"], module.params["name"])
    module.done(False, webhooks=[prism_utils.webhook_view(entity) for entity in entities])


if __name__ == "__main__":
    main()
