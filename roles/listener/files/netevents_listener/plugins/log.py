# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``log`` plugin: append each event as one JSON line to a file.

Useful to try the listener without a firewall, to audit what Prism sends, or to feed another tool.

options:
  path  -- the file (required; relative paths are relative to the configuration file)
  fsync -- flush each batch to disk before reporting success (default true)
"""
import json
import os

from ..api import Plugin, PluginError


class LogPlugin(Plugin):
    name = "log"
    options_spec = {"path": {"required": "the file to write events to"}, "fsync": {"type": "bool", "default": True}}

    def start(self, context):
        super().start(context)
        self.path = context.resolve_path(context.options["path"])
        self.fsync = context.options["fsync"]
        try:
            self.file = open(self.path, "a", encoding="utf-8")  # pylint: disable=consider-using-with
        except OSError as e:
            raise PluginError("cannot open %s: %s" % (self.path, e.strerror), retryable=False)

    def handle_batch(self, events):
        lines = []
        for event in events:
            lines.append(json.dumps({
                "id": event.id,
                "event_type": event.event_type,
                "vm_uuid": event.vm_uuid,
                "received_at": event.received_at,
                "attempt": event.attempt,
                "vm": event.vm.to_dict(),
                "body": event.body,
            }, sort_keys=True) + "\n")
        try:
            self.file.write("".join(lines))
            self.file.flush()
            if self.fsync:
                os.fsync(self.file.fileno())
        except OSError as e:
            raise PluginError("cannot write %s: %s" % (self.path, e.strerror))
        return None

    def stop(self):
        file = getattr(self, "file", None)
        if file is not None:
            file.close()
