# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: secrets_to_files
short_description: Move the secrets out of a list of connection dicts into files the dicts name
version_added: 0.1.0
author: netevents.nutanix maintainers (!UNKNOWN)
description:
  - Takes a list of dicts (for example the PAN-OS targets of the listener role) and returns them with every
    secret key replaced by C(<key>_file), naming a file in O(directory), together with the list of files to write
    (name and content).
  - This is how the listener role keeps secrets out of the listener's configuration; each file is written with
    mode 0600 and C(no_log).
  - A secret key whose value is empty or missing is left out, so the consumer reports the missing secret.
  - The other keys are passed on as given; the consumer checks them.
positional: directory, prefix
options:
  _input:
    description: The connection dicts.
    type: list
    elements: dict
    required: true
  directory:
    description: Directory the secret files go to, as the consumer will see it.
    type: path
    required: true
  prefix:
    description: File names are C(<prefix>_<index>_<key>), the index counting from 0.
    type: str
    required: true
  keys:
    description: The keys that hold secrets.
    type: list
    elements: str
    default: [password, api_key]
"""

EXAMPLES = r"""
- name: Write one file per firewall secret
  ansible.builtin.copy:
    content: "{{ item.value }}"
    dest: "/etc/netevents-listener/secrets/{{ item.name }}"
    mode: "0600"
  loop: "{{ (listener_panos_targets | netevents.nutanix.secrets_to_files('/etc/netevents-listener/secrets', 'panos')).files }}"
  loop_control:
    label: "{{ item.name }}"
  no_log: true

# [{ip_address: fw1, api_key: s3cret}] gives
#   targets: [{ip_address: fw1, api_key_file: /etc/netevents-listener/secrets/panos_0_api_key}]
#   files: [{name: panos_0_api_key, value: s3cret}]
"""

RETURN = r"""
_value:
  description: The dicts without their secrets, and the files that hold them.
  type: dict
  contains:
    targets:
      description: The input dicts, each secret key C(k) replaced by C(k_file) with the file's path.
      type: list
      elements: dict
    files:
      description: One C(name) (a file name in O(directory)) and C(value) (the secret) per secret given.
      type: list
      elements: dict
"""

import posixpath
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence


def secrets_to_files(targets, directory, prefix, keys=("password", "api_key")):
    if not is_sequence(targets):
        raise AnsibleFilterError("secrets_to_files expects a list of dicts, got %s" % type(targets).__name__)
    if not isinstance(prefix, str) or not prefix or "/" in prefix:
        raise AnsibleFilterError("secrets_to_files: prefix must be a non-empty file name part, got %r" % (prefix,))
    out, files = [], []
    for index, target in enumerate(targets):
        if not isinstance(target, Mapping):
            raise AnsibleFilterError("secrets_to_files: element %d must be a dict, got %s" % (
                index, type(target).__name__))
        kept = {}
        for key, value in target.items():
            if key not in keys:
                kept[key] = value
            elif value:
                name = "%s_%d_%s" % (prefix, index, key)
                files.append({"name": name, "value": value})
                kept["%s_file" % key] = posixpath.join(directory, name)
        out.append(kept)
    return {"targets": out, "files": files}


class FilterModule(object):
    def filters(self):
        return {"secrets_to_files": secrets_to_files}
