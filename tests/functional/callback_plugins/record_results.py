# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: append every task result as a JSON line to $NETEVENTS_RESULTS_FILE."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: record_results
type: notification
short_description: Record task results as JSON lines for the functional tests
description:
  - Writes one JSON object per task result to the file named by E(NETEVENTS_RESULTS_FILE).
author: netevents.nutanix maintainers
"""

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "record_results"
    CALLBACK_NEEDS_ENABLED = True

    def _record(self, status, result):
        path = os.environ.get("NETEVENTS_RESULTS_FILE")
        if not path:
            return
        entry = {
            "task": result.task_name,
            "host": result._host.get_name(),
            "status": status,
            "result": result._result,
        }
        with open(path, "a") as f:
            f.write(json.dumps(entry, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._record("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record("failed", result)

    def v2_runner_on_skipped(self, result):
        self._record("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._record("unreachable", result)
