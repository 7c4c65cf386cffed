#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: nutanix_webhook
short_description: Create, update or delete a Nutanix Prism webhook (event subscription)
version_added: 0.1.0
description:
  - Makes sure a Prism v3 webhook with a given O(name) exists with the given target URL, events, credentials
    and description, or that no webhook with that name exists.
  - The O(name) is the identity. Prism itself allows several webhooks with one name (and then sends every
    event once per webhook); this module finds the webhook by name over all pages of the list and updates it
    in place, so it never creates a duplicate.
  - An existing webhook is updated (HTTP PUT with its current C(spec_version)) only when its target URL,
    events (compared as a set), description or credentials user name differ.
author:
  - netevents.nutanix maintainers (!UNKNOWN)
extends_documentation_fragment:
  - netevents.nutanix.prism
options:
  name:
    description:
      - Name of the webhook; identifies it.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the webhook; V(absent) deletes every webhook with that name.
    type: str
    choices: [present, absent]
    default: present
  post_url:
    description:
      - URL Prism POSTs the events to, for instance the netevents listener's C(https://listener:8443/events).
      - Must be an C(http) or C(https) URL without a user name or password in it; use O(credentials). A URL
        with them is refused, and they are masked in the task's output (also at C(-vvv)).
      - A last path segment of 32 to 256 letters, digits, C(-) and C(_) is taken for a receiver's path token (a
        secret, such as the netevents listener's C(listener.path_token_file)). Prism gets the whole URL; every
        output of the task (result, diff, errors, C(-vvv)) shows the segment as C(********).
      - Required when O(state=present).
    type: str
  events:
    description:
      - Events Prism sends to O(post_url). Order and repetition do not matter.
      - Required when O(state=present).
    type: list
    elements: str
    choices: [VM.CREATE, VM.DELETE, VM.ON, VM.OFF, VM.UPDATE, VM.MIGRATE, VM.NIC_PLUG, VM.NIC_UNPLUG]
  credentials:
    description:
      - HTTP basic authentication credentials Prism sends with every event to O(post_url).
      - When left out, the webhook's current credentials (if any) are kept.
    type: dict
    suboptions:
      username:
        description:
          - User name sent to O(post_url).
        type: str
        required: true
      password:
        description:
          - Password sent to O(post_url). Never logged nor returned, and Prism never returns it either.
        type: str
        required: true
  update_password:
    description:
      - Prism never returns a webhook's password, so a changed password cannot be detected.
      - V(on_create) sets the password when the webhook is created. Later, a changed password alone does not
        update the webhook (the task reports no change); any update made for another reason sends the
        password given.
      - V(always) sends the credentials on every run, so the task always reports a change when
        O(credentials) is given. Use it once to rotate the password.
    type: str
    choices: [always, on_create]
    default: on_create
  description:
    description:
      - Free text description of the webhook. When left out, the current description is kept.
    type: str
  wait:
    description:
      - Wait until Prism has applied the change (the webhook state is C(COMPLETE), or the webhook is gone).
      - Prism accepts a change at once (state C(PENDING)) and applies it shortly after.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait when O(wait=true).
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    description: Reports what would change without changing anything in Prism.
  diff_mode:
    support: full
    description: Shows the webhook before and after (without any password).
notes:
  - Several webhooks with O(name) make O(state=present) fail and list their UUIDs; O(state=absent) deletes
    them all.
  - "Webhooks exist only in the v3 API; Prism v4 has none. Against a Prism whose v3 API answers but serves no
    webhooks, the module fails and says so; the listener can then poll Prism instead (C(prism.source: poll),
    see C(docs/listener.md))."
seealso:
  - module: netevents.nutanix.nutanix_webhook_info
"""

EXAMPLES = r"""
- name: Send VM power and lifecycle events to the netevents listener
  netevents.nutanix.nutanix_webhook:
    nutanix_host: prism.example.com
    nutanix_username: admin
    nutanix_password: "{{ vault_prism_password }}"
    nutanix_ca_path: /etc/pki/prism/prism.pem
    name: netevents-listener
    post_url: https://listener.example.com:8443/events
    events: [VM.CREATE, VM.DELETE, VM.ON, VM.OFF, VM.UPDATE, VM.NIC_PLUG, VM.NIC_UNPLUG]
    credentials:
      username: prism
      password: "{{ vault_listener_password }}"
    description: netevents listener

- name: Connection options once for every Prism module
  module_defaults:
    group/netevents.nutanix.prism:
      nutanix_host: prism.example.com
      nutanix_username: admin
      nutanix_password: "{{ vault_prism_password }}"
      nutanix_ca_path: /etc/pki/prism/prism.pem
  block:
    - name: Rotate the password Prism sends to the listener (reports a change on every run)
      netevents.nutanix.nutanix_webhook:
        name: netevents-listener
        post_url: https://listener.example.com:8443/events
        events: [VM.ON, VM.OFF]
        credentials:
          username: prism
          password: "{{ vault_new_listener_password }}"
        update_password: always

    - name: Remove the webhook
      netevents.nutanix.nutanix_webhook:
        name: netevents-listener
        state: absent
"""

RETURN = r"""
webhook:
  description:
    - The webhook after the change (with O(wait=true), as Prism applied it); in check mode, as it would be.
    - Never contains a password.
    - Empty after O(state=absent).
  returned: always
  type: dict
  contains:
    uuid:
      description: UUID of the webhook (null when check mode would create it).
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
      description: URL the events are POSTed to, with a path token (see O(post_url)) masked.
      type: str
      sample: https://listener.example.com:8443/listener/callback/********
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
      description: Prism's state of the webhook (C(COMPLETE), or C(PENDING) while a change is applied).
      type: str
      sample: COMPLETE
changes:
  description:
    - The fields that differed and were (or in check mode would be) updated, among V(post_url), V(events),
      V(description), V(credentials.username) and V(credentials.password) (only with O(update_password=always)).
    - V([created]) or V([deleted]) when the webhook was created or deleted; empty when nothing changed.
  returned: always
  type: list
  elements: str
  sample: [events]
"""

import copy

from ansible_collections.netevents.nutanix.plugins.module_utils import prism as prism_utils
from ansible_collections.netevents.nutanix.plugins.module_utils.base_module import PrismModule
from ansible_collections.netevents.nutanix.plugins.module_utils.events import EVENT_TYPES

HIDDEN = "********"


def _spec_for_update(current, desired):
    """The full spec to PUT: what the task gives, and the current value of what it leaves out."""
    spec = copy.deepcopy(desired)
    cur_spec = current.get("spec") or {}
    if "description" not in spec and cur_spec.get("description") is not None:
        spec["description"] = cur_spec["description"]
    cur_creds = (cur_spec.get("resources") or {}).get("credentials")
    if "credentials" not in spec["resources"] and cur_creds and cur_creds.get("username") is not None:
        # Prism keeps the stored password when the same user name comes back without one.
        spec["resources"]["credentials"] = {"username": cur_creds["username"]}
    return spec


def _diff_view(view, password_sent):
    view = dict(view)
    view.pop("state", None)
    view.pop("spec_version", None)
    if password_sent and view.get("credentials"):
        view["credentials"] = dict(view["credentials"], password=HIDDEN)
    return view


def present(module, client, current):
    p = module.params
    desired = prism_utils.webhook_spec(p["name"], p["post_url"], p["events"], p["credentials"], p["description"])
    password_sent = p["credentials"] is not None
    if current is None:
        changes = ["created"]
        before = {}
        planned = {"metadata": {"uuid": None}, "spec": desired, "status": {}}
    else:
        changes = prism_utils.webhook_changes(current.get("spec") or {}, desired)
        if password_sent and p["update_password"] == "always":
            changes.append("credentials.password")
        password_sent = password_sent and bool(changes)
        before = _diff_view(prism_utils.webhook_view(current), False)
        desired = _spec_for_update(current, desired)
        planned = {"metadata": current["metadata"], "spec": desired, "status": current.get("status")}
    if not changes:
        return False, prism_utils.webhook_view(current), [], None

    diff = dict(before=before, after=_diff_view(prism_utils.webhook_view(planned), password_sent))
    if module.check_mode:
        return True, prism_utils.webhook_view(planned), changes, diff
    if current is None:
        answer = client.create_webhook(desired)
    else:
        answer = client.update_webhook(current["metadata"]["uuid"], desired, current["metadata"].get("spec_version"))
    if p["wait"]:
        answer = client.wait_for_webhook(answer["metadata"]["uuid"], timeout=p["wait_timeout"])
    return True, prism_utils.webhook_view(answer), changes, diff


def absent(module, client, matches):
    if not matches:
        return False, {}, [], None
    views = [_diff_view(prism_utils.webhook_view(m), False) for m in matches]
    diff = dict(before=views[0] if len(views) == 1 else dict((v["uuid"], v) for v in views), after={})
    if not module.check_mode:
        for hook in matches:
            try:
                client.delete_webhook(hook["metadata"]["uuid"])
            except prism_utils.PrismError as e:
                if e.status_code != 404:  # gone meanwhile: that is what we want
                    raise
        if module.params["wait"]:
            for hook in matches:
                client.wait_for_webhook_deleted(hook["metadata"]["uuid"], timeout=module.params["wait_timeout"])
    return True, {}, ["deleted"], diff


def main():
    module = PrismModule(dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        post_url=dict(type="str"),
        events=dict(type="list", elements="str", choices=list(EVENT_TYPES)),
        credentials=dict(type="dict", options=dict(
            username=dict(type="str", required=True),
            password=dict(type="str", required=True, no_log=True),
        )),
        update_password=dict(type="str", choices=["always", "on_create"], default="on_create", no_log=False),
        description=dict(type="str"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=60),
    ), required_if=[("state", "present", ("post_url", "events"))], secret_urls=("post_url",))
    p = module.params
    with module.failures():
        if not p["name"].strip():
            raise ValueError("name must not be empty")
        if p["state"] == "present":
            if not p["events"]:
                raise ValueError("events must list at least one event for state=present")
            prism_utils.validate_post_url(p["post_url"])
        if p["wait_timeout"] <= 0:
            raise ValueError("wait_timeout must be a positive number of seconds")
        client = module.prism_client()
        matches = client.find_webhooks(p["name"])
        if p["state"] == "absent":
            changed, webhook, changes, diff = absent(module, client, matches)
        else:
            if len(matches) > 1:
                uuids = [m["metadata"]["uuid"] for m in matches]
                module.fail_json(
                    msg="%d webhooks are named %r in Prism (UUIDs: %s), so this task cannot tell which one to "
                        "manage. Prism sends every event once per webhook: delete the extra ones in Prism, or "
                        "delete all of them with state=absent and run this task again."
                        % (len(matches), p["name"], ", ".join(uuids)), uuids=uuids)
            changed, webhook, changes, diff = present(module, client, matches[0] if matches else None)
    module.done(changed, diff, webhook=webhook, changes=changes)


if __name__ == "__main__":
    main()
