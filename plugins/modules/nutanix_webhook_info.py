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
  action_group:
    support: full
    description: Connection options can be set for the whole group with C(module_defaults).
    membership:
      - netevents.nutanix.prism
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
    - The webhooks found, in Prism's order; empty when none matches. Never contains a password.
  returned: always
  type: list
  elements: dict
  contains:
    uuid:
      description: UUID of the webhook.
      type: str
      sample: 6a2f3ad7-51f0-4b4e-9e60-3c8a3f5f1d2a
    name:
      description: Name of the webhook.
      type: str
      sample: netevents-listener
    description:
      description: Description of the webhook, or null.
      type: str
      sample: netevents listener
    post_url:
      description: URL the events are POSTed to.
      type: str
      sample: https://listener.example.com:8443/events
    events:
      description: Events sent, sorted.
      type: list
      elements: str
      sample: [VM.OFF, VM.ON]
    credentials:
      description: The user name sent with the events (the password is never returned), or null.
      type: dict
      sample: {"username": "prism"}
    spec_version:
      description: Prism's version of the webhook's specification; it grows with every update.
      type: int
      sample: 2
    state:
      description: Prism's state of the webhook (C(COMPLETE), C(PENDING) while a change is applied).
      type: str
      sample: COMPLETE
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.netevents.nutanix.plugins.module_utils import prism as prism_utils


def main():
    argument_spec = prism_utils.prism_argument_spec()
    argument_spec.update(
        name=dict(type="str"),
        uuid=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[("name", "uuid")])
    if not prism_utils.HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"), exception=prism_utils.REQUESTS_IMPORT_ERROR)
    p = module.params

    try:
        client = prism_utils.client_from_params(p)
        if p["uuid"] is not None:
            try:
                entities = [client.get_webhook(p["uuid"])]
            except prism_utils.PrismError as e:
                if e.status_code != 404:
                    raise
                entities = []
        elif p["name"] is not None:
            entities = client.find_webhooks(p["name"])
        else:
            entities = client.list_webhooks()
        webhooks = [prism_utils.webhook_view(entity) for entity in entities]
    except prism_utils.PrismError as e:
        module.fail_json(msg="Prism: %s" % e, status_code=e.status_code, reason=e.reason)
    except (KeyError, TypeError, AttributeError) as e:
        module.fail_json(msg="Prism: unexpected answer from %s (%s: %s): is this a Prism v3 API?"
                             % (p["nutanix_host"], type(e).__name__, e), exception=traceback.format_exc())

    module.exit_json(changed=False, webhooks=webhooks)


if __name__ == "__main__":
    main()
