#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: panos_commit
short_description: Commit the candidate configuration of a PAN-OS firewall or Panorama
version_added: 0.1.0
description:
  - Commits the candidate configuration so that tag, address group and rule changes made with
    M(netevents.nutanix.panos_tag), M(netevents.nutanix.panos_address_group) and
    M(netevents.nutanix.panos_security_rule) take effect. Run it once, at the end of the play.
  - Reports a change when a commit job finished successfully (with O(sync=false), when it was queued), and no
    change when PAN-OS says there is nothing to commit.
  - A commit job that fails fails the task, with the job's details, and reports no change - PAN-OS keeps the
    running configuration as it was and the changes stay in the candidate configuration.
  - When another commit is running, waits and tries again until O(timeout), then waits for its own job
    (with O(sync)) and reports it.
  - On Panorama this commits to Panorama itself; it does not push to the firewalls.
  - Registered-IP tags (M(netevents.nutanix.panos_registered_ip)) need no commit.
author: netevents.nutanix maintainers (!UNKNOWN)
extends_documentation_fragment:
  - netevents.nutanix.panos
attributes:
  check_mode:
    support: full
    description: Asks the device whether there are pending changes (C(check pending-changes)) and commits nothing.
  diff_mode:
    support: none
    description: A commit has no before and after of its own; use diff mode on the tasks that change objects.
options:
  description:
    description:
      - Commit description shown in the task manager and the configuration log.
    type: str
  admins:
    description:
      - Commit only the changes made by these administrators (a partial commit).
    type: list
    elements: str
  force:
    description:
      - Commit even when there are no pending changes.
    type: bool
    default: false
  sync:
    description:
      - Wait for the commit job to finish and fail when it fails. With V(false), return as soon as the job is queued.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait, in all, for another commit to finish and for this commit's job.
    type: int
    default: 600
seealso:
  - module: netevents.nutanix.panos_tag
  - module: netevents.nutanix.panos_address_group
  - module: netevents.nutanix.panos_security_rule
"""

EXAMPLES = r"""
- name: Commit once, after all object changes
  netevents.nutanix.panos_commit:
    provider:
      ip_address: fw.example.com
      api_key: "{{ vault_panos_api_key }}"
      ca_path: /etc/pki/panos/fw-ca.pem
    description: Nutanix tag groups and rules
  register: commit

- name: Show the job
  ansible.builtin.debug:
    msg: "job {{ commit.jobid }}: {{ commit.result }} {{ commit.details }}"
  when: commit is changed

- name: Commit only the changes of the automation account, without waiting
  netevents.nutanix.panos_commit:
    provider: "{{ panos_provider }}"
    admins: [ansible]
    sync: false
"""

RETURN = r"""
jobid:
  description: ID of the commit job; null when there was nothing to commit (or in check mode).
  returned: always
  type: int
  sample: 1234
status:
  description: Job status (V(FIN) when finished; V(PEND) or V(ACT) with O(sync=false)).
  returned: always
  type: str
  sample: FIN
result:
  description: Job result, V(OK) or V(FAIL); null when not waited for.
  returned: always
  type: str
  sample: OK
details:
  description: Lines of the job's details (or the reason nothing was committed).
  returned: always
  type: list
  elements: str
  sample: ["Configuration committed successfully"]
warnings_list:
  description: Warnings of the commit job.
  returned: always
  type: list
  elements: str
  sample: []
job:
  description: The finished job as PAN-OS reports it (C(show jobs id)).
  returned: when the job was waited for
  type: dict
  sample:
    id: 1234
    type: Commit
    user: admin
    status: FIN
    result: OK
    progress: "100"
    tenq: "2024/05/01 10:00:00"
    tfin: "2024/05/01 10:00:12"
    description: Nutanix tag groups and rules
    details: ["Configuration committed successfully"]
    warnings: []
waited_for_other_commit:
  description: Whether the commit had to wait for another commit to finish first.
  returned: always
  type: bool
  sample: false
"""

from ansible_collections.netevents.nutanix.plugins.module_utils import panos as panos_utils
from ansible_collections.netevents.nutanix.plugins.module_utils.base_module import PanosModule


def main():
    module = PanosModule(dict(
        description=dict(type="str"),
        admins=dict(type="list", elements="str"),
        force=dict(type="bool", default=False),
        sync=dict(type="bool", default=True),
        timeout=dict(type="int", default=600),
    ), vsys=False, device_group=False)
    params = module.params
    result = dict(jobid=None, status=None, result=None, details=[], warnings_list=[], waited_for_other_commit=False)
    with module.failures(**result):
        if params["timeout"] <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        if params["description"] is not None and len(params["description"]) > 512:
            raise ValueError("description is limited to 512 characters by PAN-OS")
        device = module.panos_connect()
        if module.check_mode:
            pending = params["force"] or panos_utils.pending_changes(device)
            result["details"] = ["Changes are pending." if pending else "There are no changes to commit."]
            module.done(pending, **result)
        outcome = panos_utils.commit(device, description=params["description"], admins=params["admins"],
                                     force=params["force"], sync=params["sync"], timeout=params["timeout"])
    result.update((key, outcome[key]) for key in ("jobid", "status", "result", "details", "waited_for_other_commit"))
    result["warnings_list"] = outcome["warnings"]
    if outcome["job"] is not None:
        result["job"] = outcome["job"]
    if params["sync"] and outcome["changed"] and outcome["result"] != "OK":
        reason = "; ".join(outcome["details"]) or "no details"
        module.fail_json(msg="PAN-OS: commit job %s failed: %s" % (outcome["jobid"], reason), changed=False, **result)
    module.done(outcome["changed"], **result)


if __name__ == "__main__":
    main()
