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

Several Prisms (the configuration's ``prism`` list): each event is read from the Prism it came from (the one whose
path token its delivery carried), and tagged with that Prism's TagMapper ({pc} its name). A delivery about a VM
its Prism does not know registers nothing (Prism is the truth: one Prism's token cannot vouch for another's VM).
Each Prism owns the tags its mapper owns and the VMs keyed by its name (state.Owners); the reconcile runs per
Prism and replaces only that Prism's VMs and tags.
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
from .state import Desired, Owners, Record, StateDb
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
        names = _prism_names(context.config) or [None]   # (no Prism: prism_client says so)
        self.owners = Owners((name, TagMapper(opts["tag_format"], opts["tag_mapping"], opts["categories"],
                                              opts["owned_prefix"], prism_name=name)) for name in names)
        self.mapper = self.owners.mapper(None)   # the first (or only) Prism's
        self.trust_payload = opts["trust_payload"]
        self.wait_for_ip_s = opts["wait_for_ip_s"]
        self.address_prefix = opts["address_prefix"] if opts["mode"] == "address-object" else None
        self.max_tags = panos_api.MAX_TAGS_PER_OBJECT if self.address_prefix else panos_api.MAX_TAGS_PER_IP
        reconcile = getattr(context.config, "reconcile", None)
        self.reconcile_interval = 60.0 * (reconcile.interval_minutes if reconcile is not None else 0)
        self.metrics = PanosMetrics(context.registry)
        self.prisms = dict((name, context.prism_client(name if self.owners.keyed else None)) for name in names)
        self.prism = self.prisms[self.owners.default]   # the first (or only) Prism's client
        self._purpose = "lookup"          # what the Prism calls being made are for (a metric label)
        for client in self.prisms.values():
            client.session.hooks["response"].append(self._count_prism_request)
        path = opts["state_path"]
        path = context.resolve_path(path) if path else os.path.join(context.state_dir, STATE_FILE)
        self.db = StateDb(path)
        if self.owners.keyed:
            # What a single-Prism listener kept is the first Prism's.
            self.db.adopt(self.owners.prefix(self.owners.default))
        self.desired = Desired(self.db)
        self.targets = [Target(t, opts, self.owners, self.db, self.desired, self.metrics) for t in opts["targets"]]
        # Firewalls are called side by side, so that a slow one does not hold up the others.
        self._pool = concurrent.futures.ThreadPoolExecutor(len(self.targets), thread_name_prefix="panos-send") \
            if len(self.targets) > 1 else None
        # Per Prism: the next reconcile (at start, then every interval), when the last one read Prism (older
        # payloads are stale), and its failures in a row.
        self._reconciles = dict((name, _ReconcileState()) for name in self.owners.names)
        for target in self.targets:
            target.check()
        log.info("panos plugin started", extra={"mode": opts["mode"], "targets": [t.label for t in self.targets],
                                                "reconcile_minutes": self.reconcile_interval / 60.0,
                                                "trust_payload": self.trust_payload, "state_path": path,
                                                "prisms": self.owners.names})

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
        failing = dict((name, {"failures": r.failures, "error": r.error,
                               "next_in_s": round(max(0.0, r.next_at - self.clock()), 3)})
                       for name, r in self._reconciles.items() if r.failures)
        if failing:
            doc["reconcile"] = failing if self.owners.keyed else failing[self.owners.default]
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
        states = self._lookup(events, results)
        wanted, hints, index = {}, {}, {}
        for i, event in enumerate(events):
            if results[i] is not None:
                continue
            key = self.owners.key(event.prism, event.vm_uuid)
            try:
                wanted[key], hint = self._resolve(event, states)
            except (PluginError, Defer) as e:
                results[i] = e
                continue
            except Exception as e:  # pylint: disable=broad-except
                log.exception("event %d (%s of VM %s) cannot be resolved", event.id, event.event_type, event.vm_uuid)
                results[i] = e
                continue
            index[key] = i
            if hint is not None:
                hints[key] = hint
        for key, error in self.desired.update(wanted).items():
            results[index[key]] = PluginError("cannot record what VM %s should have: %s: %s"
                                              % (key, type(error).__name__, error))
            del wanted[key]
        if wanted:
            for target, refused in self._each_target(lambda t: t.apply(wanted, hints)):
                for key, error in refused.items():
                    if results[index[key]] is None:
                        results[index[key]] = PluginError(
                            "firewall %s refused VM %s: %s" % (target.label, key, error),
                            retryable=getattr(error, "retryable", True))   # False: the firewall is full
        return results

    def _prism_name(self, event):
        """The name of the Prism an event came from (None: the first, or only, one)."""
        return event.prism or self.owners.default

    def _trusted(self, event):
        """Whether the payload itself may say what the VM has (no Prism lookup)."""
        if getattr(event, "origin", "webhook") == "poll":
            return True            # the listener's own reading of Prism
        vm = event.vm
        state = self._reconciles.get(self._prism_name(event))
        if not self.trust_payload or state is None or event.received_at < state.read_at:
            return False           # older than what the last reconcile read: stale
        return vm.action == "unregister" or (vm.complete and vm.power_state is not None)

    def _lookup(self, events, results):
        """{key: VmState, None (its Prism does not know the VM) or the exception of its own lookup} for the events
        that need Prism, each read from its own Prism. An event whose Prism is not configured (any more) fails in
        *results*. Raises Unavailable when Prism cannot be read (with several Prisms: the events of a Prism that
        cannot be read get Unavailable in *results*, the others go on)."""
        by_prism = {}
        for i, event in enumerate(events):
            name = self._prism_name(event)
            if name not in self.prisms:
                results[i] = PluginError("event of a Prism named %r, which the configuration no longer names"
                                         % name, retryable=False)
            elif not self._trusted(event):
                by_prism.setdefault(name, []).append(i)
        states = {}
        for name, indexes in by_prism.items():
            try:
                found = self._read(self.prisms[name], [events[i].vm_uuid for i in indexes])
            except Unavailable as e:
                if len(by_prism) == 1:
                    raise
                for i in indexes:
                    results[i] = Unavailable("Prism %s: %s" % (name, e), scope="prism")
                continue
            states.update((self.owners.key(name, uuid), state) for uuid, state in found.items())
        return states

    def _read(self, client, uuids):
        """{uuid: VmState, None or exception} from one Prism. Raises Unavailable."""
        started = time.monotonic()
        self.metrics.prism_lookups.inc(len(uuids))
        self._purpose = "lookup"
        states = {}
        try:
            for first in range(0, len(uuids), LOOKUP_CHUNK):
                chunk = uuids[first:first + LOOKUP_CHUNK]
                try:
                    states.update(client.vm_states_for(chunk))
                except Exception as e:  # pylint: disable=broad-except
                    if isinstance(e, PrismError) and _prism_down(e):
                        raise
                    # One VM spoiled the lookup of all (a refusal, an entity that does not parse): each alone.
                    for uuid in chunk:
                        try:
                            states.update(client.vm_states_for([uuid]))
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
        mapper = self.owners.mapper(event.prism)
        if self._trusted(event):
            if vm.action == "unregister":
                if vm.ips and vm.categories is not None:
                    # What the VM had, by the payload: unregistered too, should the memory have lost it.
                    hint = self._record(VmState(event.vm_uuid, vm.vm_name, "ON", vm.ips, vm.categories,
                                                cluster_uuid=vm.cluster_uuid, cluster_name=vm.cluster_name),
                                        strict=False, mapper=mapper)
                return None, hint
            # (A poll event's payload is Prism's whole present state: no address there means none.)
            state = VmState(event.vm_uuid, vm.vm_name, vm.power_state, vm.ips or (), vm.categories,
                            cluster_uuid=vm.cluster_uuid, cluster_name=vm.cluster_name)
        else:
            state = states.get(self.owners.key(event.prism, event.vm_uuid))
            if isinstance(state, Exception):
                raise PluginError("cannot read VM %s from Prism %s: %s" % (event.vm_uuid, self._prism_name(event),
                                                                           state),
                                  retryable=not isinstance(state, PrismError))
            if state is None:
                # With several Prisms this is also a delivery about another Prism's VM: it changes nothing there.
                self.metrics.vms_unknown.inc()
                log.info("VM unknown to Prism %s: nothing registered for it", self._prism_name(event), extra={
                    "event_id": event.id, "event_type": event.event_type, "vm_uuid": event.vm_uuid,
                    "prism": self._prism_name(event)})
                return None, None
        record = self._record(state, strict=True, mapper=mapper)
        if record is None and state.power_state == "ON" and not state.ips and vm.expects_ip \
                and mapper.tags_for(state):
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

    def _record(self, state, strict, mapper=None):
        """The Record a VM state calls for (None: nothing registered).

        strict: a category that gives no valid tag name, or (address-object mode) an address that gives no valid
        object name, fails the event for good (it would fail every time); otherwise (the reconcile) such a
        category is only left out, and such an address raises for the reconcile to leave the VM out.
        """
        mapper = mapper or self.mapper
        if state.power_state != "ON" or not state.ips:
            return None
        tags = mapper.tags_for(state)
        bad = sorted(key for key in ("%s:%s" % item for item in state.categories.items())
                     if key in mapper.rejected) if strict else ()
        if bad:
            raise PluginError("VM %s: the categor%s %s give%s no tag name PAN-OS accepts with tag_format %r (%s); "
                              "change the category or the format, then requeue this event" % (
                                  state.uuid, "ies" if len(bad) > 1 else "y", ", ".join(bad),
                                  "" if len(bad) > 1 else "s", mapper.tag_format,
                                  "; ".join(mapper.rejected[key] for key in bad)), retryable=False)
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
        if self.reconcile_interval <= 0:
            return
        now = self.clock()
        for name, state in self._reconciles.items():
            if now >= state.next_at:
                self.reconcile(name)

    def reconcile(self, prism=None):
        """Repair what events missed: every VM of a Prism (*prism*, a name; None: each Prism in turn) against every
        firewall, that Prism's owned tags only.

        Returns True when it went through (a firewall that is down is reconciled when it is back); a failure of
        any kind is logged, counted and tried again after a backoff (30 s, doubling up to the interval).
        """
        if prism is None:
            # Every Prism is reconciled, also after one fails (all() of a generator would stop at the first).
            done = [self.reconcile(name) for name in self.owners.names]
            return all(done)
        state = self._reconciles[prism]
        started = self.clock()
        try:
            self._reconcile(prism)
        except (PrismError, panos_api.PanosError) as e:
            return self._reconcile_failed(prism, str(e))
        except Exception as e:  # pylint: disable=broad-except
            log.exception("the reconcile of Prism %s failed", prism)
            return self._reconcile_failed(prism, "%s: %s" % (type(e).__name__, e))
        state.read_at = started
        state.failures, state.error = 0, None
        self.metrics.reconciles.labels("ok").inc()
        self.metrics.last_reconcile.set(time.time())
        state.next_at = self.clock() + self.reconcile_interval
        return True

    def _reconcile(self, prism):
        self._purpose = "reconcile"
        mapper = self.owners.mapper(prism)
        try:
            vms = self.prisms[prism].vm_states()
        except PrismError as e:
            raise PrismError("cannot list VMs from Prism%s: %s" % (" " + prism if self.owners.keyed else "", e))
        finally:
            self._purpose = "lookup"
        records, left_out = {}, {}
        for vm in vms:
            key = self.owners.key(prism, vm.uuid) if vm.uuid else None
            try:
                record = self._record(vm, strict=False, mapper=mapper) if vm.uuid else None
            except Exception as e:  # pylint: disable=broad-except
                left_out[key] = e
                continue
            if record is not None:
                records[key] = record
        # A VM left out keeps what it had: the reconcile neither adds nor removes anything for it.
        before = self.desired.snapshot()
        records.update((key, before[key]) for key in left_out if key in before)
        # Only this Prism's VMs are replaced: the others' stay as they are.
        left_out.update(self.desired.update(records, replace=True, prefix=self.owners.prefix(prism)))
        for key, error in sorted(left_out.items()):
            self.metrics.reconcile_vms_left_out.inc()
            log.warning("reconcile: VM %s left out (it keeps what it had): %s: %s", key, type(error).__name__, error,
                        extra={"vm_uuid": key, "prism": prism})
        if mapper.rejected:
            log.warning("categories left out: they give no valid tag name", extra={
                "categories": sorted(mapper.rejected)[:50], "prism": prism})
        desired = self.desired.snapshot()
        refused = []
        only = prism if self.owners.keyed else None
        for target, outcome in self._each_target(lambda t: _reconcile_target(t, desired, only)):
            if isinstance(outcome, Exception):
                refused.append("firewall %s: %s" % (target.label, outcome))
            elif outcome is not None:
                log.info("reconciled", extra=dict(outcome, target=target.label, vms=len(vms), prism=prism))
        if refused:
            raise panos_api.PanosError("; ".join(refused))

    def _reconcile_failed(self, prism, message):
        state = self._reconciles[prism]
        state.failures += 1
        state.error = message
        self.metrics.reconciles.labels("failed").inc()
        retry = _RECONCILE_RETRY_S * 2 ** (state.failures - 1)
        retry = min(self.reconcile_interval, retry) if self.reconcile_interval > 0 else retry
        state.next_at = self.clock() + retry
        log.warning("reconcile%s failed (%d in a row), next try in %ds: %s",
                    " of Prism %s" % prism if self.owners.keyed else "", state.failures, retry, message,
                    extra={"prism": prism})
        return False


class _ReconcileState(object):
    """One Prism's reconcile schedule."""
    __slots__ = ("next_at", "read_at", "failures", "error")

    def __init__(self):
        self.next_at = 0.0     # at start, then every interval
        self.read_at = 0.0     # when the last reconcile read this Prism: older payloads are stale
        self.failures = 0
        self.error = None


def _prism_names(config):
    """The names of the configuration's Prisms (``prisms``; ``prism`` alone in a configuration made by hand)."""
    entries = getattr(config, "prisms", None)
    if entries is None:
        prism = getattr(config, "prism", None)
        entries = [prism] if prism is not None else []
    return [getattr(entry, "name", None) or "default" for entry in entries]


def _reconcile_target(target, desired, prism=None):
    """The target's reconcile summary, None when it is down (reconciled when it is back), or the PanosError with
    which it refused."""
    try:
        return target.reconcile(desired, prism)
    except panos_api.PanosError as e:
        return e
