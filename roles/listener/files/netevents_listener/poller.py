# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The poll source: every ``poll_interval_s`` the listener lists every VM from Prism and queues what changed.

Why: Prism v4 has no webhooks, nothing public says Prism redelivers a webhook that failed, and a change made while
the listener is down is never delivered at all. Polling finds those changes within one interval (docs/sources.md).

One cycle, per Prism entry whose ``source`` is ``poll`` or ``both``, in a thread of its own:

1. list every VM (``PrismClient.vm_states()``: v4 where the Prism serves it, else v3, as ``prism.api`` says);
2. compare each VM's power state, IPs, categories, name and cluster with the state last seen, kept in the queue's
   database (``poll_state``, keyed by the entry's name and the VM's uuid), so a restart neither re-announces
   everything nor misses a change made while the listener was stopped. A VM the list no longer holds is looked up
   on its own before it is called deleted (a page can shift while VMs come and go);
3. queue one event per changed VM into the SAME durable queue as the webhooks (origin "poll"), with a body in the
   v3 webhook shape events.parse_event reads: VM.CREATE (a new VM), VM.ON / VM.OFF (its power state changed),
   VM.UPDATE (anything else changed), VM.DELETE (it is gone, with the last state seen: what to unregister). The
   events and the new last-seen state are written in one transaction (``EventQueue.record_poll``): a crash before
   the commit loses nothing (the next cycle finds the same differences), a crash after it announces nothing twice.

The first cycle with no last-seen state (a new listener, or a new entry name) announces every VM once, as VM.UPDATE
carrying its present state: applying is idempotent (the panos plugin sends a firewall only what differs from what
it sent before), and a VM that existed before the listener gets its tags without waiting for a reconcile.

Cycles of one Prism never overlap (one thread runs them one after the other); the next starts ``poll_interval_s``
after the previous one started, or at once when a cycle took longer (with a warning). A failed cycle (Prism
unreachable, refusing the credentials, answering garbage; the queue unwritable) is logged, counted, and retried
after a backoff: twice the interval, doubling, at most ``MAX_BACKOFF_S`` (or the interval when that is longer).
"""
import json
import logging
import threading
import time

from .logs import redact

log = logging.getLogger("netevents_listener.poll")

DEFAULT_NAME = "default"  # the entry's name when the configuration has one unnamed Prism
MAX_BACKOFF_S = 300.0
_DELETE_CONFIRM_BATCH = 100


def vm_record(state):
    """What the poll compares of a VmState, as a JSON-able dict (sorted, so equal states give equal text)."""
    return {"name": state.name, "power_state": state.power_state, "ips": sorted(state.ips),
            "categories": dict(sorted(state.categories.items())), "cluster_uuid": state.cluster_uuid,
            "cluster_name": state.cluster_name}


def state_text(record):
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def event_body(vm_uuid, event_type, record):
    """A v3 webhook envelope (the 2019 AOS shape) carrying *record*, as bytes: the dispatcher and every plugin read
    it as they read a delivery. The origin ("poll") is kept by the queue, not in the body."""
    cluster = None
    if record.get("cluster_uuid"):
        cluster = {"kind": "cluster", "uuid": record["cluster_uuid"]}
        if record.get("cluster_name"):
            cluster["name"] = record["cluster_name"]
    resources = {"power_state": record.get("power_state") or "UNKNOWN",
                 "nic_list": [{"ip_endpoint_list": [{"ip": ip} for ip in record.get("ips") or ()]}]
                 if record.get("ips") else []}
    status = {"state": "COMPLETE", "resources": resources}
    spec = {"resources": {"power_state": resources["power_state"]}}
    if record.get("name"):
        status["name"] = spec["name"] = record["name"]
    if cluster:
        status["cluster_reference"] = spec["cluster_reference"] = cluster
    entity = {"api_version": "3.1", "metadata": {"kind": "vm", "uuid": vm_uuid,
                                                 "categories": record.get("categories") or {}},
              "spec": spec, "status": status}
    return json.dumps({"entity_reference": {"kind": "vm", "uuid": vm_uuid}, "data": {"metadata": entity},
                       "version": "1.0", "event_type": event_type}, sort_keys=True).encode("utf-8")


def differences(previous, current):
    """(events, seen, gone) between the last-seen state and the present one.

    previous -- {vm_uuid: state text} last seen (empty: the first cycle, which announces every VM as VM.UPDATE)
    current  -- {vm_uuid: VmState} Prism lists now
    Returns events [(vm_uuid, event_type, body)], seen {vm_uuid: state text} (new or changed VMs) and gone [vm_uuid].
    """
    first = not previous
    events, seen, gone = [], {}, []
    for uuid in sorted(current):
        record = vm_record(current[uuid])
        text = state_text(record)
        old = previous.get(uuid)
        if old == text:
            continue
        seen[uuid] = text
        if old is None:
            event_type = "VM.UPDATE" if first else "VM.CREATE"
        else:
            was_on = json.loads(old).get("power_state") == "ON"
            is_on = record["power_state"] == "ON"
            event_type = "VM.UPDATE" if was_on == is_on else "VM.ON" if is_on else "VM.OFF"
        events.append((uuid, event_type, event_body(uuid, event_type, record)))
    for uuid in sorted(set(previous) - set(current)):
        gone.append(uuid)
        try:
            record = json.loads(previous[uuid])
        except ValueError:
            record = {}
        events.append((uuid, "VM.DELETE", event_body(uuid, "VM.DELETE", record)))
    return events, seen, gone


class Poller(object):
    """Polls one Prism entry of the configuration into the queue, from a thread of its own.

    client -- a PrismClient (default: one built from the entry, as plugins get theirs); wait -- how the thread
    sleeps between cycles (default: until stop()); both are there for tests.
    """

    def __init__(self, entry, queue, metrics, notify=lambda: None, client=None, wait=None, clock=time.monotonic):
        self.entry = entry
        self.name = getattr(entry, "name", None) or DEFAULT_NAME
        self.interval = float(entry.poll_interval_s)
        self.max_backoff = max(self.interval, MAX_BACKOFF_S)
        self.queue = queue
        self.metrics = metrics
        self.notify = notify
        self.clock = clock
        self._client = client
        self._stopping = threading.Event()
        self._wait = wait or self._stopping.wait
        self._thread = None
        self._state = None           # {vm_uuid: state text}: the persisted last-seen state, read once
        self.failures = 0            # consecutive failed cycles
        self.last_error = None
        self.last_success = None     # epoch seconds
        self.cycles = 0
        self.vms = None
        for result in ("ok", "failed"):
            metrics.poll_cycles.labels(self.name, result)
        metrics.poll_failures.labels(self.name)

    # -- lifecycle --
    def start(self):
        self._thread = threading.Thread(target=self.run, name="poll-%s" % self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout=10.0):
        """Ask the thread to stop and wait for it (a cycle in a Prism call finishes that call first). Returns
        False when it is still running after *timeout*: nothing is lost, the cycle's writes are one transaction."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def alive(self):
        return self._thread is not None and self._thread.is_alive()

    def run(self):
        log.info("polling Prism", extra={"prism": self.name, "host": self.entry.host, "interval_s": self.interval,
                                         "api": getattr(self.entry, "api", "auto")})
        while not self._stopping.is_set():
            delay = self.cycle()
            if self._stopping.is_set():
                break
            self._wait(delay)

    def cycle(self):
        """Run one cycle; return how long to wait before the next one."""
        started = self.clock()
        try:
            queued = self.poll_once()
        except Exception as e:  # pylint: disable=broad-except
            return self._failed(e)
        elapsed = self.clock() - started
        if self.failures:
            log.info("the poll of Prism works again", extra={"prism": self.name, "failures": self.failures})
        self.failures, self.last_error = 0, None
        self.metrics.poll_cycles.labels(self.name, "ok").inc()
        self.metrics.poll_duration.labels(self.name).set(elapsed)
        self.metrics.poll_last_success.labels(self.name).set(time.time())
        self.last_success = time.time()
        log.debug("poll cycle done", extra={"prism": self.name, "vms": self.vms, "queued": queued,
                                            "seconds": round(elapsed, 3)})
        if elapsed >= self.interval:
            log.warning("a poll cycle took %.1fs, longer than poll_interval_s (%ds): the next one starts at once",
                        elapsed, self.interval, extra={"prism": self.name})
        return max(0.0, self.interval - elapsed)

    def _failed(self, error):
        from ansible_collections.netevents.nutanix.plugins.module_utils.prism import PrismError
        self.failures += 1
        self.last_error = redact(str(error)) or type(error).__name__
        self.metrics.poll_cycles.labels(self.name, "failed").inc()
        self.metrics.poll_failures.labels(self.name).inc()
        delay = min(self.max_backoff, self.interval * 2 ** self.failures)
        fields = {"prism": self.name, "failures": self.failures, "retry_in_s": delay}
        if isinstance(error, PrismError):
            log.warning("the poll of Prism failed: %s", error, extra=fields)
        else:
            log.error("the poll of Prism failed: %s: %s", type(error).__name__, error, extra=fields,
                      exc_info=not isinstance(error, (OSError, ValueError)))
        return delay

    # -- one cycle --
    def client(self):
        if self._client is None:
            from .api import prism_client_for
            self._client = prism_client_for(self.entry)
        return self._client

    def poll_once(self):
        """List, compare, queue. Returns the number of events queued. Raises on any failure (nothing written)."""
        client = self.client()
        if self._state is None:
            self._state = self.queue.poll_state(self.name)
        current = dict((s.uuid, s) for s in client.vm_states() if s.uuid)
        self.vms = len(current)
        missing = [uuid for uuid in self._state if uuid not in current]
        for first in range(0, len(missing), _DELETE_CONFIRM_BATCH):
            # Gone from the list; still there when asked alone? (A page that shifted, not a deletion.)
            for uuid, state in client.vm_states_for(missing[first:first + _DELETE_CONFIRM_BATCH]).items():
                if state is not None:
                    current[uuid] = state
        events, seen, gone = differences(self._state, current)
        self.metrics.poll_vms.labels(self.name).set(len(current))
        self.cycles += 1
        if not (events or seen or gone):
            return 0
        ids = self.queue.record_poll(self.name, events, seen, gone)
        self._state.update(seen)
        for uuid in gone:
            self._state.pop(uuid, None)
        queued = 0
        for (uuid, event_type, _body), event_id in zip(events, ids):
            if event_id is None:
                continue  # the same body as the VM's last event (store.py's dedupe): nothing new to apply
            queued += 1
            self.metrics.poll_events.labels(self.name, event_type).inc()
            log.info("change found by polling, queued",
                     extra={"prism": self.name, "event_type": event_type, "vm_uuid": uuid, "event_id": event_id})
        if queued:
            self.notify()
        return queued

    def health(self):
        """A snapshot for /healthz."""
        return {"interval_s": self.interval, "running": self.alive, "cycles": self.cycles, "vms": self.vms,
                "failures": self.failures, "last_error": self.last_error,
                "last_success": self.last_success}
