# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PanosPlugin: a batch of events becomes ONE change set per firewall; a periodic reconcile repairs the rest.

Per batch: each event is resolved to what its VM should have on the firewall (IPs and tags; nothing when it
is off or gone) — from the payload when it is complete, else from Prism. Each target compares that with what the
plugin registered for the VM before (its memory) and sends the whole batch as one change set: one User-ID call
(``registered-ip`` mode, no commit), or address-object edits and one commit (``address-object`` mode). A full
reconcile against Prism runs at start and every ``reconcile.interval_minutes`` (from the dispatcher thread,
between batches), through the same module_utils.reconcile code as the vm_tag_sync module.
"""
import logging
import os
import time

from ansible_collections.netevents.nutanix.plugins.module_utils import panos as panos_api
from ansible_collections.netevents.nutanix.plugins.module_utils.events import VmState, vm_state_from_entity
from ansible_collections.netevents.nutanix.plugins.module_utils.prism import PrismError
from ansible_collections.netevents.nutanix.plugins.module_utils.reconcile import read_vm_states
from ansible_collections.netevents.nutanix.plugins.module_utils.tagging import TagMapper

from ...api import Plugin, PluginError
from .metrics import PanosMetrics
from .options import check_options
from .state import Record, StateDb
from .target import Target

log = logging.getLogger("netevents_listener.plugin.panos")

STATE_FILE = "panos-state.db"
_RECONCILE_RETRY_S = 60.0


class PanosPlugin(Plugin):
    name = "panos"

    @classmethod
    def check_options(cls, options, config):
        return check_options(options, config)

    # -- lifecycle --
    def start(self, context):
        super().start(context)
        opts = context.options
        self.mapper = TagMapper(opts["tag_format"], opts["tag_mapping"], opts["categories"], opts["owned_prefix"])
        self.wait_for_ip_attempts = opts["wait_for_ip_attempts"]
        self.max_attempts = context.config.queue.max_attempts
        reconcile = getattr(context.config, "reconcile", None)
        self.reconcile_interval = 60.0 * (reconcile.interval_minutes if reconcile is not None else 0)
        self.prism = context.prism_client()
        path = opts["state_path"]
        path = context.resolve_path(path) if path else os.path.join(context.state_dir, STATE_FILE)
        self.db = StateDb(path)
        self.metrics = PanosMetrics(context.registry)
        self.targets = [Target(t, opts, self.mapper, self.db, self.metrics) for t in opts["targets"]]
        self._next_reconcile = 0.0          # at start, then every interval
        self._reconciled_at = 0.0           # when the last reconcile read Prism: older events are stale
        log.info("panos plugin started", extra={"mode": opts["mode"], "targets": [t.label for t in self.targets],
                                                "reconcile_minutes": self.reconcile_interval / 60.0,
                                                "state_path": path})

    def stop(self):
        db = getattr(self, "db", None)
        if db is not None:
            db.close()

    # -- events --
    def handle_batch(self, events):
        results = [None] * len(events)
        wanted, hints, index = {}, {}, {}
        for i, event in enumerate(events):
            try:
                wanted[event.vm_uuid], hints[event.vm_uuid] = self._resolve(event)
                index[event.vm_uuid] = i
            except PluginError as e:
                results[i] = e
        if not wanted:
            return results
        for target in self.targets:
            try:
                target.apply(wanted, hints)
            except panos_api.PanosError as e:
                target.forget()
                self.metrics.target_errors.inc()
                error = PluginError("firewall %s: %s" % (target.label, e))
                log.warning("change set not applied to %s: %s", target.label, e, extra={"vms": len(wanted)})
                for i in index.values():
                    if results[i] is None:
                        results[i] = error
        return results

    def _resolve(self, event):
        """(Record or None, hint): what the VM should have now, and what the payload says it had (or None)."""
        vm = event.vm
        hint = None
        gone = vm.action == "unregister"
        if gone and vm.ips and vm.categories is not None:
            # What the VM had, by the payload: unregistered too, should the memory have lost it.
            hint = self._record(VmState(event.vm_uuid, vm.vm_name, "ON", vm.ips, vm.categories), strict=False)
        # An event older than the last reconcile is stale: Prism's present state wins over its payload.
        stale = event.received_at < self._reconciled_at
        if gone and not stale:
            return None, hint
        if vm.complete and vm.power_state is not None and not stale:
            state = VmState(event.vm_uuid, vm.vm_name, vm.power_state, vm.ips, vm.categories)
        else:
            # The payload is a hint (AOS sends an empty nic_list at VM.ON); Prism is the truth.
            state = self._read_vm(event.vm_uuid)
            if state is None:
                return None, hint
        record = self._record(state, strict=True)
        if (record is None and state.power_state == "ON" and not state.ips and vm.expects_ip
                and event.attempt <= self.wait_for_ip_attempts and event.attempt < self.max_attempts
                and self.mapper.tags_for(state)):
            raise PluginError("VM %s is on but Prism reports no IP address yet; trying again" % event.vm_uuid)
        return record, hint

    def _read_vm(self, uuid):
        self.metrics.prism_lookups.inc()
        try:
            return vm_state_from_entity(self.prism.get_vm(uuid))
        except PrismError as e:
            if e.status_code == 404:
                return None  # deleted since: nothing may stay registered
            raise PluginError("cannot read VM %s from Prism: %s" % (uuid, e))

    def _record(self, state, strict):
        """The Record a VM state calls for (None: nothing registered).

        strict: a category that gives no valid tag name fails the event for good (it would fail every time);
        otherwise (the reconcile) such a category is only left out.
        """
        if state.power_state != "ON" or not state.ips:
            return None
        tags = self.mapper.tags_for(state)
        bad = sorted(key for key in ("%s:%s" % item for item in state.categories.items())
                     if key in self.mapper.rejected) if strict else ()
        if bad:
            raise PluginError("VM %s: the categor%s %s give%s no tag name PAN-OS accepts with tag_format %r (%s); "
                              "change the category or the format, then requeue this event" % (
                                  state.uuid, "ies" if len(bad) > 1 else "y", ", ".join(bad),
                                  "" if len(bad) > 1 else "s", self.mapper.tag_format,
                                  "; ".join(self.mapper.rejected[key] for key in bad)), retryable=False)
        if not tags:
            return None
        return Record(state.name, tuple(sorted(state.ips)), frozenset(tags))

    # -- reconcile --
    def tick(self):
        if self.reconcile_interval <= 0 or time.time() < self._next_reconcile:
            return
        self.reconcile()

    def reconcile(self):
        """Repair what events missed: every VM from Prism against every firewall, owned tags only.

        Returns True when every firewall was reconciled.
        """
        started = time.time()
        try:
            vms = read_vm_states(self.prism)
        except PrismError as e:
            self._reconcile_failed("cannot list VMs from Prism: %s" % e)
            return False
        self._reconciled_at = started
        records = {}
        for vm in vms:
            record = self._record(vm, strict=False) if vm.uuid else None
            if record is not None:
                records[vm.uuid] = record
        if self.mapper.rejected:
            log.warning("categories left out: they give no valid tag name", extra={
                "categories": sorted(self.mapper.rejected)[:50]})
        ok = True
        for target in self.targets:
            try:
                summary = target.reconcile(vms, records)
            except panos_api.PanosError as e:
                target.forget()
                self.metrics.target_errors.inc()
                self._reconcile_failed("firewall %s: %s" % (target.label, e))
                ok = False
                continue
            log.info("reconciled", extra=dict(summary, target=target.label, vms=len(vms)))
        if ok:
            self.metrics.reconciles.labels("ok").inc()
            self.metrics.last_reconcile.set(time.time())
            self._next_reconcile = time.time() + self.reconcile_interval
        return ok

    def _reconcile_failed(self, message):
        self.metrics.reconciles.labels("failed").inc()
        retry = min(self.reconcile_interval, _RECONCILE_RETRY_S)
        self._next_reconcile = time.time() + retry
        log.warning("reconcile failed, next try in %ds: %s", retry, message)
