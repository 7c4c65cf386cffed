# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: listener_prisms
short_description: Check the listener role's list of Prisms and name the files each one's secrets go to
version_added: 0.1.0
author: netevents.nutanix maintainers (!UNKNOWN)
description:
  - Takes the listener role's O(_input) (C(listener_prisms)) and returns each entry with its defaults filled in
    (C(source), C(api) and C(poll_interval_s) from O(defaults)) and the names of its files on the host -
    C(prism_password_<name>) (or C(prism_api_key_<name>)) and C(webhook_token_<name>) (in the secrets directory),
    and the path of C(prism-ca-<name>.pem) in O(config_dir) when it has a C(ca_path).
  - Fails naming the entry and key (C(listener_prisms[1].name ...)) for an unknown key, a missing C(name) or
    C(host), neither C(username) and C(password) nor C(api_key) (or both), a C(source) not webhook, poll or both,
    an C(api) not auto, v3 or v4, a C(poll_interval_s) not 5 to 3600, a name that is not 1 to 63 letters, digits,
    C(_), C(-) and C(.), two names equal but for case, or a C(webhook_token) that is not 32 to 256 letters,
    digits, C(-) or C(_).
positional: config_dir
options:
  _input:
    description: The Prisms, each a dict with name, host, port, username, password (or api_key), validate_certs,
      ca_path, webhook_token, source, api and poll_interval_s.
    type: list
    elements: dict
    required: true
  config_dir:
    description: The listener's configuration directory, as the host sees it.
    type: path
    required: true
  defaults:
    description: The role-wide C(source), C(api) and C(poll_interval_s) an entry without its own takes.
    type: dict
"""

EXAMPLES = r"""
- name: The Prisms of the listener
  ansible.builtin.debug:
    msg: "{{ listener_prisms | netevents.nutanix.listener_prisms('/etc/netevents-listener') }}"

# [{name: dc1, host: pc1, username: u, password: p}] gives
#   [{name: dc1, host: pc1, port: 9440, username: u, password: p, api_key: "", validate_certs: true, ca_path: "",
#     webhook_token: "", source: both, api: auto, poll_interval_s: 30, password_file: prism_password_dc1,
#     token_file: webhook_token_dc1, api_key_file: prism_api_key_dc1, ca_file: ""}]
"""

RETURN = r"""
_value:
  description: The entries, in order, with their defaults and file names.
  type: list
  elements: dict
"""

import re

from ansible.errors import AnsibleFilterError

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,63}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,256}$")
DEFAULTS = {"port": 9440, "validate_certs": True, "ca_path": "", "webhook_token": "", "username": "", "password": "",
            "api_key": "", "source": "both", "api": "auto", "poll_interval_s": 30}
REQUIRED = ("name", "host")
CHOICES = {"source": ("webhook", "poll", "both"), "api": ("auto", "v3", "v4")}


def listener_prisms(prisms, config_dir, defaults=None):
    """*defaults*: the role-wide source, api and poll_interval_s (listener_prism_*) an entry without its own takes."""
    if not isinstance(prisms, (list, tuple)):
        raise AnsibleFilterError("listener_prisms must be a list of Prisms (name, host, username, password, ...)")
    out, seen = [], {}
    for i, entry in enumerate(prisms):
        where = "listener_prisms[%d]" % i
        if not isinstance(entry, dict):
            raise AnsibleFilterError("%s must be a dict (name, host, username, password, ...)" % where)
        unknown = sorted(set(entry) - set(REQUIRED) - set(DEFAULTS))
        if unknown:
            raise AnsibleFilterError("%s: unknown key%s %s (known: %s)" % (
                where, "s" if len(unknown) > 1 else "", ", ".join(unknown), ", ".join(REQUIRED + tuple(DEFAULTS))))
        missing = [key for key in REQUIRED if entry.get(key) in (None, "")]
        if missing:
            raise AnsibleFilterError("%s: missing %s" % (where, ", ".join(missing)))
        name = entry["name"]
        if not isinstance(name, str) or not _NAME.match(name):
            raise AnsibleFilterError("%s.name: %r is not a valid Prism name: 1 to 63 letters, digits, '_', '-' and '.'"
                                     " (it becomes {pc} in tag names and part of file names)" % (where, name))
        if name.lower() in seen:
            raise AnsibleFilterError("%s.name: %r is already the name of listener_prisms[%d] (names must differ in "
                                     "more than case)" % (where, name, seen[name.lower()]))
        seen[name.lower()] = i
        item = dict(DEFAULTS)
        item.update((k, v) for k, v in (defaults or {}).items() if k in ("source", "api", "poll_interval_s"))
        item.update((k, v) for k, v in entry.items() if v not in (None, ""))
        if item["api_key"] and (item["username"] or item["password"]):
            raise AnsibleFilterError("%s: give username and password, or api_key, not both" % where)
        if not item["api_key"] and not (item["username"] and item["password"]):
            raise AnsibleFilterError("%s: missing username and password, or api_key" % where)
        for key, choices in CHOICES.items():
            if item[key] not in choices:
                raise AnsibleFilterError("%s.%s: must be one of %s, got %r"
                                         % (where, key, ", ".join(choices), item[key]))
        try:
            interval = int(item["poll_interval_s"])
        except (TypeError, ValueError):
            interval = None
        if interval is None or not 5 <= interval <= 3600:
            raise AnsibleFilterError("%s.poll_interval_s: must be a number of seconds from 5 to 3600" % where)
        item["poll_interval_s"] = interval
        token = item["webhook_token"]
        if token and (not isinstance(token, str) or not _TOKEN.match(token)):
            # The token itself is never shown.
            raise AnsibleFilterError("%s.webhook_token: must be 32 to 256 letters, digits, - or _" % where)
        item.update(password_file="prism_password_%s" % name, token_file="webhook_token_%s" % name,
                    api_key_file="prism_api_key_%s" % name,
                    ca_file=("%s/prism-ca-%s.pem" % (config_dir.rstrip("/"), name)) if item["ca_path"] else "")
        out.append(item)
    return out


class FilterModule(object):
    def filters(self):
        return {"listener_prisms": listener_prisms}
