# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PanosPlugin: a batch of events becomes ONE change set per firewall; a periodic reconcile repairs the rest.

An event is a hint that a VM changed; Prism is the truth. Per batch the plugin reads the present state of the
batch's VMs from Prism (in bounded chunks; ``trust_payload`` uses a complete payload as it is instead), works out
what each VM should have on the firewalls (IPs and tags; nothing when it is off or gone), records that as the
desired state, and sends each firewall the difference from what it was sent before, as one change set: one User-ID
call (``registered-ip`` mode, no commit), or address-object edits and one commit (``address-object`` mode).

Failures stay where they happen: an event that cannot be resolved or recorded fails alone; VMs a firewall refuses
fail alone (target.py splits the change set); Prism down fails no event (``Unavailable``: the dispatcher pauses);
a firewall down fails no event (its breaker opens and it catches up from the desired state when it is back). A
full reconcile against Prism runs at start and every ``reconcile.interval_minutes`` (from the dispatcher thread,
between batches), backing off when it fails.
"""
import concurrent.futures
import logging
import os
import time

from ansible_collections.netevents.nutanix.plugins.module_utils import panos as panos_api
from ansible_collections.netevents.nutanix.plugins.module_utils.events import VmState
from ansible_collections.netevents.nutanix.plugins.module_utils.prism import PrismError
from ansible_collections.netevents.nutanix.plugins.module_utils.tagging import TagMapper

from ...api import Defer, Plugin, PluginError, Unavailable
from .metrics import PanosMetrics
from .options import check_options
from .state import Desired, Record, StateDb
from .target import Target, tag_order

log = logging.getLogger("netevents_listener.plugin.panos")

STATE_FILE = "panos-state.db"
LOOKUP_CHUNK = 100          # VMs per Prism lookup call
_RECONCILE_RETRY_S = 30.0   # the first retry of a failed reconcile; doubles up to the interval
_MAX_DEFER_S = 30.0         # the longest wait between two looks for a late IP


def _prism_down(error):
    """Whether a PrismError says Prism cannot be used at all (rather than refusing one VM's lookup)."""
    status = error.status_code
    return status is None or status in (401, 403, 408, 429) or status >= 500


class PanosPlugin(Plugin):
    name = "panos"
    clock = staticmethod(time.time)   # wall clock (events carry epoch times); tests put a fake one here

    @classmethod
    def check_options(cls, options, config):
        return check_options(options, config)

    # -- lifecycle --
    def start(self, context):
        super().start(context)
        opts = context.options
        self.mapper = TagMapper(opts["tag_format"], opts["tag_mapping"], opts["categories"], opts["owned_prefix"])
        self.trust_payload = opts["trust_payload"]
        self.wait_for_ip_s = opts["wait_for_ip_s"]
        self.address_prefix = opts["address_prefix"] if opts["mode"] == "address-object" else None
        self.max_tags = panos_api.MAX_TAGS_PER_OBJECT if self.address_prefix else panos_api.MAX_TAGS_PER_IP
        reconcile = getattr(context.config, "reconcile", None)
        self.reconcile_interval = 60.0 * (reconcile.interval_minutes if reconcile is not None else 0)
        self.metrics = PanosMetrics(context.registry)
        self.prism = context.prism_client()
        self._purpose = "lookup"          # what the Prism calls being made are for (a metric label)
        self.prism.session.hooks["response"].append(self._count_prism_request)
        path = opts["state_path"]
        path = context.resolve_path(path) if path else os.path.join(context.state_dir, STATE_FILE)
        self.db = StateDb(path)
        self.desired = Desired(self.db)
        self.targets = [Target(t, opts, self.mapper, self.db, self.desired, self.metrics) for t in opts["targets"]]
        # Firewalls are called side by side, so that a slow one does not hold up the others.
        self._pool = concurrent.futures.ThreadPoolExecutor(len(self.targets), thread_name_prefix="panos-send") \
            if len(self.targets) > 1 else None
        self._next_reconcile = 0.0          # at start, then every interval
        self._reconciled_at = 0.0           # when the last reconcile read Prism: older payloads are stale
        self._reconcile_failures = 0
        self._reconcile_error = None
        for target in self.targets:
            target.check()
        log.info("panos plugin started", extra={"mode": opts["mode"], "targets": [t.label for t in self.targets],
                                                "reconcile_minutes": self.reconcile_interval / 60.0,
                                                "trust_payload": self.trust_payload, "state_path": path})

    def stop(self):
        for target in getattr(self, "targets", ()):
            target.join(5.0)
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=True)
        db = getattr(self, "db", None)
        if db is not None:
            db.close()

    def health(self):
        targets = dict((t.label, t.health()) for t in self.targets)
        doc = {"ok": all(h["ok"] for h in targets.values()), "targets": targets}
        if self._reconcile_failures:
            doc["reconcile"] = {"failures": self._reconcile_failures, "error": self._reconcile_error,
                                "next_in_s": round(max(0.0, self._next_reconcile - self.clock()), 3)}
        return doc

    def _count_prism_request(self, response, *_args, **_kwargs):
        self.metrics.prism_requests.labels(self._purpose).inc()
        return response

    def _each_target(self, work):
        """[(target, work(target))], the targets side by side."""
        if self._pool is None:
            return [(target, work(target)) for target in self.targets]
        futures = [(target, self._pool.submit(work, target)) for target in self.targets]
        return [(target, future.result()) for target, future in futures]

    # -- events --
    def handle_batch(self, events):
        for target in self.targets:
            target.probe()
        results = [None] * len(events)
        states = self._lookup(events)
        wanted, hints, index = {}, {}, {}
        for i, event in enumerate(events):
            try:
                wanted[event.vm_uuid], hint = self._resolve(event, states)
            except (PluginError, Defer) as e:
                results[i] = e
                continue
            except Exception as e:  # pylint: disable=broad-except
                log.exception("event %d (%s of VM %s) cannot be resolved", event.id, event.event_type, event.vm_uuid)
                results[i] = e
                continue
            index[event.vm_uuid] = i
            if hint is not None:
                hints[event.vm_uuid] = hint
        for uuid, error in self.desired.update(wanted).items():
            results[index[uuid]] = PluginError("cannot record what VM %s should have: %s: %s"
                                               % (uuid, type(error).__name__, error))
            del wanted[uuid]
        if wanted:
            for target, refused in self._each_target(lambda t: t.apply(wanted, hints)):
                for uuid, error in refused.items():
                    if results[index[uuid]] is None:
                        results[index[uuid]] = PluginError(
                            "firewall %s refused VM %s: %s" % (target.label, uuid, error),
                            retryable=getattr(error, "retryable", True))   # False: the firewall is full
        return results

    def _trusted(self, event):
        """Whether the payload itself may say what the VM has (no Prism lookup)."""
        if getattr(event, "origin", "webhook") == "poll":
            return True            # the listener's own reading of Prism
        vm = event.vm
        if not self.trust_payload or event.received_at < self._reconciled_at:
            return False           # older than what the last reconcile read: stale
        return vm.action == "unregister" or (vm.complete and vm.power_state is not None)

    def _lookup(self, events):
        """{uuid: VmState, None (Prism does not know the VM) or the exception of its own lookup} for the events that
        need Prism. Raises Unavailable when Prism cannot be read."""
        uuids = [e.vm_uuid for e in events if not self._trusted(e)]
        if not uuids:
            return {}
        started = time.monotonic()
        self.metrics.prism_lookups.inc(len(uuids))
        self._purpose = "lookup"
        states = {}
        try:
            for first in range(0, len(uuids), LOOKUP_CHUNK):
                chunk = uuids[first:first + LOOKUP_CHUNK]
                try:
                    states.update(self.prism.vm_states_for(chunk))
                except Exception as e:  # pylint: disable=broad-except
                    if isinstance(e, PrismError) and _prism_down(e):
                        raise
                    # One VM spoiled the lookup of all (a refusal, an entity that does not parse): each alone.
                    for uuid in chunk:
                        try:
                            states.update(self.prism.vm_states_for([uuid]))
                        except Exception as own:  # pylint: disable=broad-except
                            if isinstance(own, PrismError) and _prism_down(own):
                                raise
                            states[uuid] = own
        except PrismError as e:
            raise Unavailable("cannot read VMs from Prism: %s" % e, scope="prism")
        finally:
            self.metrics.prism_lookup_seconds.observe(time.monotonic() - started)
        return states

    def _resolve(self, event, states):
        """(Record or None, hint): what the VM should have now, and what a trusted payload says it had (or None).
        Raises PluginError for this event's own failure, Defer while its VM waits for an address."""
        vm = event.vm
        hint = None
        if self._trusted(event):
            if vm.action == "unregister":
                if vm.ips and vm.categories is not None:
                    # What the VM had, by the payload: unregistered too, should the memory have lost it.
                    hint = self._record(VmState(event.vm_uuid, vm.vm_name, "ON", vm.ips, vm.categories), strict=False)
                return None, hint
            # (A poll event's payload is Prism's whole present state: no address there means none.)
            state = VmState(event.vm_uuid, vm.vm_name, vm.power_state, vm.ips or (), vm.categories, vm.cluster_uuid,
                            vm.cluster_name)
        else:
            state = states.get(event.vm_uuid)
            if isinstance(state, Exception):
                raise PluginError("cannot read VM %s from Prism: %s" % (event.vm_uuid, state),
                                  retryable=not isinstance(state, PrismError))
            if state is None:
                self.metrics.vms_unknown.inc()
                log.info("VM unknown to Prism: nothing registered for it", extra={
                    "event_id": event.id, "event_type": event.event_type, "vm_uuid": event.vm_uuid})
                return None, None
        record = self._record(state, strict=True)
        if record is None and state.power_state == "ON" and not state.ips and vm.expects_ip \
                and self.mapper.tags_for(state):
            self._wait_for_ip(event)
        return record, hint

    def _wait_for_ip(self, event):
        """A VM that is on but has no address yet (DHCP): Defer, looking again ever less often, until
        wait_for_ip_s after the event arrived; then it is applied as it is, with a warning."""
        age = max(0.0, self.clock() - event.received_at)
        left = self.wait_for_ip_s - age
        if left > 0:
            raise Defer(min(max(1.0, min(_MAX_DEFER_S, age)), max(0.1, left)),
                        "VM %s is on but Prism reports no IP address yet" % event.vm_uuid)
        self.metrics.ip_waits_expired.inc()
        log.warning("VM %s is on but Prism reported no IP address within wait_for_ip_s (%ds): nothing registered for "
                    "it; its next event or the reconcile registers it once Prism has its address", event.vm_uuid,
                    self.wait_for_ip_s, extra={"event_id": event.id, "event_type": event.event_type,
                                               "vm_uuid": event.vm_uuid})

    def _record(self, state, strict):
        """The Record a VM state calls for (None: nothing registered).

        strict: a category that gives no valid tag name, or (address-object mode) an address that gives no valid
        object name, fails the event for good (it would fail every time); otherwise (the reconcile) such a
        category is only left out, and such an address raises for the reconcile to leave the VM out.
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
        tags = self._limit_tags(state, tags)
        for ip in state.ips if self.address_prefix is not None else ():
            try:
                panos_api.address_name(self.address_prefix, ip)
            except ValueError as e:
                raise PluginError("VM %s: its address %r gives no address object name PAN-OS accepts: %s"
                                  % (state.uuid, ip, e), retryable=False)
        return Record(state.name, tuple(sorted(state.ips)), frozenset(tags))

    def _limit_tags(self, state, tags):
        """At most the tags an IP holds (32; an address object 64): the first in a stable order, the rest left out
        with a warning (the firewall would refuse them, or the whole address)."""
        if len(tags) <= self.max_tags:
            return tags
        ordered = sorted(tags, key=tag_order)
        kept, skipped = ordered[:self.max_tags], ordered[self.max_tags:]
        self.metrics.tags_skipped.inc(len(skipped))
        log.warning("VM %s (%s) has %d tags, more than the %d PAN-OS holds per %s: %d left out: %s", state.uuid,
                    state.name, len(ordered), self.max_tags, "address object" if self.address_prefix else "IP",
                    len(skipped), ", ".join(skipped), extra={"vm_uuid": state.uuid, "skipped_tags": skipped})
        return set(kept)

    # -- reconcile --
    def tick(self):
        for target in self.targets:
            target.probe()
        if self.reconcile_interval <= 0 or self.clock() < self._next_reconcile:
            return
        self.reconcile()

    def reconcile(self):
        """Repair what events missed: every VM from Prism against every firewall, owned tags only.

        Returns True when it went through (a firewall that is down is reconciled when it is back); a failure of
        any kind is logged, counted and tried again after a backoff (30 s, doubling up to the interval).
        """
        started = self.clock()
        try:
            self._reconcile()
        except (PrismError, panos_api.PanosError) as e:
            return self._reconcile_failed(str(e))
        except Exception as e:  # pylint: disable=broad-except
            log.exception("the reconcile failed")
            return self._reconcile_failed("%s: %s" % (type(e).__name__, e))
        self._reconciled_at = started
        self._reconcile_failures, self._reconcile_error = 0, None
        self.metrics.reconciles.labels("ok").inc()
        self.metrics.last_reconcile.set(time.time())
        self._next_reconcile = self.clock() + self.reconcile_interval
        return True

    def _reconcile(self):
        self._purpose = "reconcile"
        try:
            vms = self.prism.vm_states()
        except PrismError as e:
            raise PrismError("cannot list VMs from Prism: %s" % e)
        finally:
            self._purpose = "lookup"
        records, left_out = {}, {}
        for vm in vms:
            try:
                record = self._record(vm, strict=False) if vm.uuid else None
            except Exception as e:  # pylint: disable=broad-except
                left_out[vm.uuid] = e
                continue
            if record is not None:
                records[vm.uuid] = record
        # A VM left out keeps what it had: the reconcile neither adds nor removes anything for it.
        before = self.desired.snapshot()
        records.update((uuid, before[uuid]) for uuid in left_out if uuid in before)
        left_out.update(self.desired.update(records, replace=True))
        for uuid, error in sorted(left_out.items()):
            self.metrics.reconcile_vms_left_out.inc()
            log.warning("reconcile: VM %s left out (it keeps what it had): %s: %s", uuid, type(error).__name__, error,
                        extra={"vm_uuid": uuid})
        if self.mapper.rejected:
            log.warning("categories left out: they give no valid tag name", extra={
                "categories": sorted(self.mapper.rejected)[:50]})
        desired = self.desired.snapshot()
        refused = []
        for target, outcome in self._each_target(lambda t: _reconcile_target(t, desired)):
            if isinstance(outcome, Exception):
                refused.append("firewall %s: %s" % (target.label, outcome))
            elif outcome is not None:
                log.info("reconciled", extra=dict(outcome, target=target.label, vms=len(vms)))
        if refused:
            raise panos_api.PanosError("; ".join(refused))

    def _reconcile_failed(self, message):
        self._reconcile_failures += 1
        self._reconcile_error = message
        self.metrics.reconciles.labels("failed").inc()
        retry = _RECONCILE_RETRY_S * 2 ** (self._reconcile_failures - 1)
        retry = min(self.reconcile_interval, retry) if self.reconcile_interval > 0 else retry
        self._next_reconcile = self.clock() + retry
        log.warning("reconcile failed (%d in a row), next try in %ds: %s", self._reconcile_failures, retry, message)
        return False


def _reconcile_target(target, desired):
    """The target's reconcile summary, None when it is down (reconciled when it is back), or the PanosError with
    which it refused."""
    try:
        return target.reconcile(desired)
    except panos_api.PanosError as e:
        return e
