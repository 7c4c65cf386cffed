# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Example listener plugin: keep a JSON inventory of VMs (name, power state, IPs, categories) from Prism events.

It shows the whole plugin API (see docs/plugins.md): option checking, start/stop, per-event results,
retryable and permanent failures, idempotent application, and asking Prism when the payload is incomplete.

Configuration (the module must be importable by the listener: in its virtualenv, or from a checkout on PYTHONPATH):

    plugin:
      name: vm_inventory:VmInventoryPlugin
      options:
        path: /var/lib/netevents-listener/inventory.json
        ask_prism: true          # GET the VM from Prism when the event lacks IPs or categories
    prism: {host: prism.example.com, username: netevents-svc, password_file: /etc/netevents-listener/secrets/prism}
"""
import json
import os
import tempfile

from ansible_collections.netevents.nutanix.plugins.module_utils.events import vm_state_from_entity
from netevents_listener import Plugin, PluginError


class VmInventoryPlugin(Plugin):
    name = "vm_inventory"

    # Checked by the default check_options with the configuration's own checker (Checker.options).
    options_spec = {"path": {"required": "the JSON file to keep the inventory in"},
                    "ask_prism": {"type": "bool", "default": False}}

    @classmethod
    def check_options(cls, options, config):
        options = super().check_options(options, config)
        if options["ask_prism"] and config.prism is None:
            raise ValueError("ask_prism needs the 'prism' section of the configuration")
        return options

    def start(self, context):
        super().start(context)
        self.path = context.resolve_path(context.options["path"])
        # The shared Prism client of the collection, configured from the `prism` section.
        self.prism = context.prism_client() if context.options["ask_prism"] else None
        try:
            with open(self.path) as f:
                self.inventory = json.load(f)
        except FileNotFoundError:
            self.inventory = {}
        except (OSError, ValueError) as e:
            # Raised from start(): the service refuses to start with this message.
            raise PluginError("cannot read the inventory %s: %s" % (self.path, e), retryable=False)

    def handle_batch(self, events):
        results = []
        for event in events:
            try:
                self.apply(event)
                results.append(None)                    # success
            except PluginError as e:
                results.append(e)                       # this event only; the others still count
        self.save()                                     # raising here fails (and retries) the whole batch
        return results

    def apply(self, event):
        """Set the VM's entry from the event. Setting (not toggling) makes a repeated event harmless."""
        if event.event_type == "VM.DELETE":
            self.inventory.pop(event.vm_uuid, None)
            return
        vm = event.vm                                   # the parsed payload (events.VmEvent)
        entry = {"name": vm.vm_name, "power_state": vm.power_state, "ips": list(vm.ips or ()),
                 "categories": vm.categories or {}, "last_event": event.event_type, "event_id": event.id}
        if self.prism is not None and not vm.complete:
            # The payload is a hint (AOS sends an empty nic_list at VM.ON); Prism is the truth.
            from ansible_collections.netevents.nutanix.plugins.module_utils.prism import PrismError
            try:
                state = vm_state_from_entity(self.prism.get_vm(event.vm_uuid))
            except PrismError as e:
                if e.status_code == 404:
                    self.inventory.pop(event.vm_uuid, None)   # gone since: nothing to keep
                    return
                # 401/403 will not heal by retrying; anything else (timeouts, 5xx) may.
                raise PluginError("cannot read VM %s from Prism: %s" % (event.vm_uuid, e),
                                  retryable=e.status_code not in (401, 403))
            entry.update(name=state.name, power_state=state.power_state, ips=list(state.ips),
                         categories=state.categories)
        self.inventory[event.vm_uuid] = entry

    def save(self):
        """Write atomically: a crash leaves the old file or the new one, never half of one."""
        directory = os.path.dirname(self.path) or "."
        fd, tmp = tempfile.mkstemp(prefix=".inventory-", dir=directory)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self.inventory, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def stop(self):
        self.inventory = None
