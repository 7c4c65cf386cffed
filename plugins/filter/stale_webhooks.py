# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: stale_webhooks
short_description: Find the Prism webhooks that look like a listener's but that no listener of the run owns
version_added: 0.1.0
author: netevents.nutanix maintainers (!UNKNOWN)
description:
  - Takes Prism's webhooks (the C(webhooks) of M(netevents.nutanix.nutanix_webhook_info)) and the listeners of
    this run, and returns the webhooks that none of these listeners owns by name but that
    deliver to one of them (same scheme, host and port, and a path at or below its path), or
    whose description names one of them, or whose description names a host the inventory does not have.
  - That is what a renamed or retired listener host leaves behind. Each stale webhook makes Prism send
    every event once more, to a listener that then gets it twice, or to an address where nothing listens.
  - The listener role runs it before it registers the webhooks (its variable C(listener_stale_webhooks) says what happens).
  - Webhooks whose description is not the role's and that point elsewhere are somebody else's, and left alone.
positional: listeners, inventory_hosts, description_prefix
options:
  _input:
    description: Prism's webhooks; each a dict with C(uuid), C(name), C(description) and C(post_url).
    type: list
    elements: dict
    required: true
  listeners:
    description: The listeners of this run; each a dict with C(host) (its inventory name), C(name) (the webhook
      it owns) and C(post_url) (where that webhook delivers).
    type: list
    elements: dict
    required: true
  inventory_hosts:
    description: Every host of the inventory (C(groups['all'])), limits aside.
    type: list
    elements: str
    required: true
  description_prefix:
    description: What the role's webhook descriptions say before the host's name (the role's
      C(_listener_webhook_description_prefix)).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Warn about the webhooks a renamed listener host left behind
  ansible.builtin.debug:
    msg: "{{ item.name }} ({{ item.uuid }}): {{ item.reasons | join('; ') }}"
  loop: "{{ prism_webhooks.webhooks | netevents.nutanix.stale_webhooks(listeners, groups['all'], 'netevents.nutanix listener on ') }}"
  vars:
    listeners:
      - {host: listener-c, name: netevents-listener-listener-c, post_url: "http://10.0.0.5:8080/listener/callback"}

# A webhook netevents-listener-listener-a, described "netevents.nutanix listener on listener-a" and delivering to
# http://10.0.0.5:8080/listener/callback, gives
#   [{uuid: ..., name: netevents-listener-listener-a, endpoint: "http://10.0.0.5:8080",
#     reasons: ["delivers to the listener of listener-c, whose webhook is netevents-listener-listener-c",
#               "its description names listener-a, a host the inventory does not have"]}]
"""

RETURN = r"""
_value:
  description: The stale webhooks, by name. Their post_url is reduced to its endpoint, as a path may hold a token.
  type: list
  elements: dict
  contains:
    uuid:
      description: The webhook's UUID.
      type: str
    name:
      description: The webhook's name.
      type: str
    endpoint:
      description: Scheme, host and port the webhook delivers to (no path, no user information).
      type: str
    reasons:
      description: Why it looks like a listener's webhook, one sentence each.
      type: list
      elements: str
"""

from collections.abc import Mapping
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _place(url):
    """(scheme, host, port, path) of a URL, or None when it is not one."""
    try:
        parts = urlsplit(str(url or ""))
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return parts.scheme, parts.hostname.lower(), port, parts.path or "/"


def _delivers_to(url, listener_url):
    """True when *url* reaches the listener at *listener_url*: its endpoint, at or below its path (a path
    token may follow the path)."""
    hook, own = _place(url), _place(listener_url)
    if hook is None or own is None or hook[:3] != own[:3]:
        return False
    base = own[3].rstrip("/")
    return hook[3].rstrip("/") == base or hook[3].startswith(base + "/")


def _endpoint(url):
    place = _place(url)
    return "%s://%s:%d" % place[:3] if place else ""


def _dicts(value, what):
    if not is_sequence(value) or not all(isinstance(item, Mapping) for item in value):
        raise AnsibleFilterError("stale_webhooks: %s must be a list of dicts" % what)
    return value


def stale_webhooks(webhooks, listeners, inventory_hosts, description_prefix):
    _dicts(webhooks, "the input (Prism's webhooks)")
    _dicts(listeners, "listeners")
    if not is_sequence(inventory_hosts):
        raise AnsibleFilterError("stale_webhooks: inventory_hosts must be a list of host names")
    if not isinstance(description_prefix, str) or not description_prefix.strip():
        raise AnsibleFilterError("stale_webhooks: description_prefix must be a non-empty string")
    owned = set(listener.get("name") for listener in listeners)
    by_host = dict((listener.get("host"), listener) for listener in listeners)
    stale = []
    for hook in webhooks:
        if hook.get("name") in owned:
            continue
        reasons = ["delivers to the listener of %s, whose webhook is %s" % (listener["host"], listener["name"])
                   for listener in listeners if _delivers_to(hook.get("post_url"), listener.get("post_url"))]
        description = hook.get("description") or ""
        if description.startswith(description_prefix):
            host = description[len(description_prefix):].strip()
            if host in by_host:
                reasons.append("its description names %s, whose webhook is %s" % (host, by_host[host]["name"]))
            elif host not in inventory_hosts:
                reasons.append("its description names %s, a host the inventory does not have" % host)
        if reasons:
            stale.append({"uuid": hook.get("uuid"), "name": hook.get("name"),
                          "endpoint": _endpoint(hook.get("post_url")), "reasons": reasons})
    return sorted(stale, key=lambda hook: (str(hook["name"]), str(hook["uuid"])))


class FilterModule(object):
    def filters(self):
        return {"stale_webhooks": stale_webhooks}
