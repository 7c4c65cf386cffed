"""A plugin the listener tests steer through files, loaded as ``listener_test_plugins:ControlledPlugin``.

Files work across processes, so a test can make the plugin in a real listener process fail, block or
recover. Every call is recorded in ``path`` as JSON lines {"id", "vm_uuid", "event_type", "result"}.

options:
  path       -- record file (required)
  fail_vms   -- a file; while it exists, the events it lists fail: one per line, "VM_UUID", "VM_UUID EVENT_TYPE"
                or "*" (all)
  started    -- a file created when a batch starts
  block_until -- while this file does not exist, a batch waits (at most 60 s) before applying
  api_key_file -- a secret, resolved by the listener; with leak_secret, failures quote it (a careless plugin)
"""
import json
import os
import time

from netevents_listener import Plugin, PluginError


class ControlledPlugin(Plugin):
    name = "controlled"

    @classmethod
    def check_options(cls, options, config):
        known = {"path", "fail_vms", "started", "block_until", "api_key", "leak_secret"}
        unknown = set(options) - known
        if unknown:
            raise ValueError("unknown options: %s" % ", ".join(sorted(unknown)))
        if "path" not in options:
            raise ValueError("path is required")
        return options

    def start(self, context):
        super().start(context)
        self.opts = context.options
        # A careless plugin logging its options: the api_key must still come out masked.
        context.logger.info("controlled plugin options: %r", self.opts)

    def _failing(self):
        flag = self.opts.get("fail_vms")
        if not flag or not os.path.exists(flag):
            return set()
        with open(flag) as f:
            return set(line.strip() for line in f if line.strip())

    def handle_batch(self, events):
        if self.opts.get("started"):
            with open(self.opts["started"], "a") as f:
                f.write("%s\n" % ",".join(str(e.id) for e in events))
        release = self.opts.get("block_until")
        if release:
            deadline = time.monotonic() + 60
            while not os.path.exists(release) and time.monotonic() < deadline:
                time.sleep(0.05)
        failing = self._failing()
        results, records = [], []
        for e in events:
            if failing & {"*", e.vm_uuid, "%s %s" % (e.vm_uuid, e.event_type)}:
                message = "firewall unreachable"
                if self.opts.get("leak_secret") and "api_key" in self.opts:
                    message += " (api key %s)" % self.opts["api_key"].reveal()
                results.append(PluginError(message))
                records.append({"id": e.id, "vm_uuid": e.vm_uuid, "event_type": e.event_type, "result": "failed",
                                "seq": e.body.get("seq")})
            else:
                results.append(None)
                records.append({"id": e.id, "vm_uuid": e.vm_uuid, "event_type": e.event_type, "result": "applied",
                                "seq": e.body.get("seq")})
        with open(self.opts["path"], "a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in records))
        return results
