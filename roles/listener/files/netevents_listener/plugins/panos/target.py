# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One firewall of the panos plugin: its connection, what the plugin sent it (its memory), its circuit breaker, and
how a change set, a heal or a reconcile reaches it in the configured mode — all through the collection's one PAN-OS
client (module_utils/panos.py).

Failures stay where they belong. The firewall failing as a whole (unreachable, TLS, credentials refused, timeouts,
HTTP 5xx: ``PanosError.unavailable``) opens the breaker: no more calls, and no event fails for it, since the
desired state is kept (state.Desired). After a backoff one probe, in a thread of its own so that the other
firewalls are not held up, connects and sends the difference between the desired state and what this firewall was
sent; when nothing is left to send, the breaker closes. The firewall refusing some entries of a User-ID call (it
applies the others) fails the VMs of those addresses; refusing a change set as a whole (an error answer) has the
change set split in halves until the VMs at fault are found: only they fail.

The platform's limits are known here: the registered-IP capacity (the option, else the model `show system info`
reports), the IPs this firewall holds by the plugin's count (a gauge, and one warning at 80 %), and at most 32 tags
per registered IP (64 per address object): the rest are left out, with a warning.
"""
import collections
import contextlib
import logging
import threading

from ansible_collections.netevents.nutanix.plugins.module_utils import panos as panos_api
from ansible_collections.netevents.nutanix.plugins.module_utils.reconcile import reconcile_device
from ansible_collections.netevents.nutanix.plugins.module_utils.tagging import sanitize

from ...api import CircuitBreaker, Secret, register_secret
from .state import Memory, union

log = logging.getLogger("netevents_listener.plugin.panos")


class Down(Exception):
    """The firewall cannot be used at all; *reason* is a short phrase ("credentials refused", "unreachable", ...)."""

    def __init__(self, message, reason):
        super().__init__(message)
        self.reason = reason


class CommitFailed(panos_api.PanosError):
    """The firewall refused to commit: the candidate holds the whole change set, so halves would fail alike."""


class Refused(Exception):
    """What a firewall refused of one VM; *retryable* False when trying again cannot help (the firewall is full)."""

    def __init__(self, message, retryable=True):
        super().__init__(message)
        self.retryable = retryable


WARN_AT = 0.8          # of the capacity: one warning when the count reaches it
WARN_AGAIN_BELOW = 0.75  # ... and another once the count fell below this and reached WARN_AT again


def tag_order(tag):
    """The stable order in which tags are kept when an IP can hold no more (PAN-OS tag names ignore case)."""
    return (tag.lower(), tag)


class Target(object):
    """options -- the target's checked options; settings -- the plugin's; owners -- the plugin's state.Owners (a
    TagMapper per Prism); desired -- the plugin's state.Desired, shared by every target."""

    def __init__(self, options, settings, owners, db, desired, metrics):
        self.label = "%s:%d/%s" % (options["ip_address"], options["port"], options["vsys"])
        self._vsys = options["vsys"]
        self._provider = dict((k, v.reveal() if isinstance(v, Secret) else v) for k, v in options.items()
                              if k not in ("vsys", "registered_ip_capacity") and v is not None)
        self._settings = settings
        self._owners = owners
        self._db = db
        self._desired = desired
        self._metrics = metrics
        self._device = None
        self.memory = Memory(db.load(self.label))
        self.breaker = CircuitBreaker(settings["probe_initial_s"], settings["probe_max_s"])
        self._lock = threading.Lock()    # one conversation with the firewall at a time
        self._state = threading.Lock()   # guards _skipped against the closing of the breaker
        self._skipped = 0                # change sets not sent while open: the heal must look again
        self._thread = None
        self.checked = False             # a connection has gone through since start
        self.reconcile_owed = False      # a reconcile found it down: the heal runs one
        self.refused = {}                # uuid -> the Record this firewall refused; a heal does not resend it
        # The registered-IP capacity: the option wins; else learnt from the platform at the first connection.
        self.capacity = options.get("registered_ip_capacity") or settings.get("registered_ip_capacity")
        self.platform = "set by registered_ip_capacity" if self.capacity else None
        # Address objects are no registered IPs: their limits are the configuration's, not User-ID's.
        self._registered_ip = settings["mode"] == "registered-ip"
        self._capacity_known = bool(self.capacity) or not self._registered_ip
        self.foreign = {}                # ip -> other systems' tags on it, as the last reconcile read them
        self._near_full = False          # the 80 % warning was given (and not yet cleared)
        self._max_tags = panos_api.MAX_TAGS_PER_IP if self._registered_ip else panos_api.MAX_TAGS_PER_OBJECT
        metrics.breaker_open.labels(self.label).set(0)
        metrics.full_refusals.labels(self.label)
        if self._registered_ip:
            metrics.registered_ip_capacity.labels(self.label).set(self.capacity or 0)
        self._count()

    # -- connection --
    def device(self):
        """The connection, made on first use and kept until forget()."""
        if self._device is None:
            with self._unavailable():
                device = panos_api.connect(self._provider, vsys=self._vsys, timeout=self._settings["api_timeout"])
            # The key keygen made from the password is as secret as the password: mask it in logs too.
            register_secret(getattr(panos_api.pan_device(device), "api_key", None))
            self._device = device
            if not self._capacity_known:
                self._learn_capacity(device)
        return self._device

    def _learn_capacity(self, device):
        with self._unavailable():
            self.platform, self.capacity = panos_api.platform_capacity(device)
        self._capacity_known = True
        self._metrics.registered_ip_capacity.labels(self.label).set(self.capacity or 0)
        if self.capacity:
            log.info("firewall %s is a %s: it holds up to %d registered IPs", self.label, self.platform,
                     self.capacity, extra={"target": self.label, "platform": self.platform, "capacity": self.capacity})
        else:
            log.warning("firewall %s: the registered-IP capacity of platform %s is not known: set "
                        "registered_ip_capacity for the gauge and the 80 %% warning", self.label, self.platform,
                        extra={"target": self.label, "platform": self.platform})
        self._count()

    # -- the platform's limits --
    def _count(self):
        """The registered IPs this firewall holds by the plugin's count (its own, and others' as last read): the
        gauge, and one warning when it reaches 80 % of the capacity (again once it fell below 75 % and rose)."""
        count = len(set(self.memory.by_ip) | set(self.foreign))
        if not self._registered_ip:
            return count
        self._metrics.registered_ips.labels(self.label).set(count)
        if not self.capacity:
            return count
        if count >= WARN_AT * self.capacity and not self._near_full:
            self._near_full = True
            log.warning("firewall %s holds %d registered IPs, %d%% of the %d its platform holds (%s): at %d new "
                        "addresses are refused and their events dead-lettered", self.label, count,
                        100 * count // self.capacity, self.capacity, self.platform, self.capacity,
                        extra={"target": self.label, "registered_ips": count, "capacity": self.capacity})
        elif count < WARN_AGAIN_BELOW * self.capacity and self._near_full:
            self._near_full = False
            log.info("firewall %s holds %d registered IPs again, below %d%% of its %d", self.label, count,
                     100 * WARN_AGAIN_BELOW, self.capacity, extra={"target": self.label, "registered_ips": count})
        return count

    def _limit_tags(self, desired, holders=None, others=None):
        """*desired* ({ip: tags}) with at most 32 tags per IP (64 per address object), other systems' tags on the
        IP counted (*others*: {ip: tags} the desired ones must share the IP with, when not just those): the first in
        tag_order are kept, the rest left out with a warning."""
        out = {}
        taken = self.foreign if others is None else others
        for ip, tags in desired.items():
            room = self._max_tags - len(taken.get(ip, ()))
            if len(tags) <= room:
                out[ip] = tags
                continue
            ordered = sorted(tags, key=tag_order)
            out[ip], skipped = set(ordered[:max(0, room)]), ordered[max(0, room):]
            self._metrics.tags_skipped.inc(len(skipped))
            vms = sorted((holders or {}).get(ip, {}))
            log.warning("firewall %s: IP %s (VM %s) can hold %d tags (%d of them other systems'): %d left out: %s",
                        self.label, ip, ", ".join(vms) or "?", self._max_tags, len(taken.get(ip, ())),
                        len(skipped), ", ".join(skipped),
                        extra={"target": self.label, "ip": ip, "vm_uuids": vms, "skipped_tags": skipped})
        return out

    def forget(self):
        """After a failure: the next call connects again."""
        self._device = None

    @contextlib.contextmanager
    def _unavailable(self, connecting=True):
        """PanosErrors that say the firewall cannot be used become Down (when connecting, every one does)."""
        try:
            yield
        except panos_api.PanosError as e:
            if e.unavailable or connecting:
                self.forget()
                raise Down(str(e), e.unavailable or "cannot connect")
            raise

    # -- the breaker --
    def _enter(self):
        """Take the firewall for a call, unless its breaker is open (then the skip is counted for the heal)."""
        with self._state:
            if self.breaker.is_open:
                self._skipped += 1
                return False
        self._lock.acquire()
        with self._state:
            if self.breaker.is_open:     # the check at start found it down while we waited
                self._skipped += 1
                self._lock.release()
                return False
        return True

    def _went_down(self, error):
        self.forget()
        self.breaker.failed(error, error.reason)
        self._metrics.target_errors.inc()
        self._metrics.breaker_open.labels(self.label).set(1)
        log.warning("firewall %s unavailable (%s): no calls to it until a probe in %.3gs; what it misses is kept "
                    "and sent when it is back: %s", self.label, error.reason, self.breaker.retry_in() or 0.0, error,
                    extra={"target": self.label, "reason": error.reason, "failures": self.breaker.failures})

    def check(self):
        """At start: connect, and send what the firewall missed (e.g. across a crash), in the background."""
        self._in_background(self._heal)

    def probe(self):
        """When the backoff is over, the one probe: connect, send what the firewall missed, close the breaker."""
        if self.breaker.try_probe():
            self._in_background(self._heal)

    def _in_background(self, work):
        self._thread = threading.Thread(target=work, name="panos-probe-%s" % self.label, daemon=True)
        self._thread.start()

    def join(self, timeout):
        if self._thread is not None:
            self._thread.join(timeout)

    def _heal(self):
        was_open = self.breaker.is_open
        with self._lock:
            try:
                self.device()
                self.checked = True
                while True:
                    with self._state:
                        seen = self._skipped
                    if self.reconcile_owed:
                        self._reconcile_owed()
                    missed = self._desired.diff(self.memory, skip=self.refused)
                    if missed:
                        self._push(missed, {})
                    with self._state:
                        if self._skipped == seen:     # nothing was skipped meanwhile: in sync
                            self.breaker.succeeded()
                            break
            except Down as e:
                if was_open:
                    self._metrics.probes.labels(self.label, "failed").inc()
                self._went_down(e)
                return
            except Exception as e:  # pylint: disable=broad-except
                log.exception("firewall %s: the probe failed", self.label)
                self._went_down(Down("%s: %s" % (type(e).__name__, e), "internal error"))
                return
        self._metrics.breaker_open.labels(self.label).set(0)
        if was_open:
            self._metrics.probes.labels(self.label, "ok").inc()
            log.info("firewall %s is back and in sync", self.label, extra={"target": self.label, "vms_sent":
                                                                           len(missed)})

    def _reconcile_owed(self):
        try:
            summary = self._reconcile(self._desired.snapshot())
            log.info("reconciled", extra=dict(summary, target=self.label, after="the firewall came back"))
        except panos_api.PanosError as e:  # refused: the periodic reconcile tries again, with its backoff
            log.warning("firewall %s: the reconcile after it came back failed: %s", self.label, e)
        self.reconcile_owed = False

    def health(self):
        """For /healthz (any thread): the breaker's state, and the VMs this firewall refused."""
        doc = self.breaker.snapshot()
        if doc["state"] == "closed" and not self.checked:
            doc["state"] = "checking"
        doc["ok"] = doc["state"] == "closed"
        doc["refused_vms"] = len(self.refused)
        return doc

    # -- a batch --
    def apply(self, wanted, hints):
        """Make the firewall hold *wanted* ({uuid: Record or None}) for these VMs, then remember it. Returns
        {uuid: exception} for the VMs the firewall refused; while it is down nothing is sent (the heal does).

        hints -- {uuid: Record}: what a trusted payload says a VM had, unregistered too should the memory lack it.
        """
        if not self._enter():
            return {}
        try:
            return self._push(wanted, hints)
        except Down as e:
            self._went_down(e)
            return {}
        finally:
            self._lock.release()

    def _push(self, wanted, hints):
        """Send *wanted*; if the firewall refuses it, each half on its own, down to the VMs at fault."""
        try:
            refused = self._send(wanted, hints)
            if refused:
                self._refused(dict((uuid, wanted[uuid]) for uuid in refused), refused)
                for uuid in set(wanted) - set(refused):
                    self.refused.pop(uuid, None)
                return refused
        except Down:
            raise
        except Exception as e:  # pylint: disable=broad-except
            if len(wanted) > 1 and not isinstance(e, CommitFailed):
                uuids = sorted(wanted)
                refused = {}
                for part in (uuids[:len(uuids) // 2], uuids[len(uuids) // 2:]):
                    refused.update(self._push(dict((u, wanted[u]) for u in part),
                                              dict((u, hints[u]) for u in part if u in hints)))
                return refused
            self._refused(wanted, dict((uuid, e) for uuid in wanted))
            return dict((uuid, e) for uuid in wanted)
        for uuid in wanted:
            self.refused.pop(uuid, None)
        return {}

    def _refused(self, wanted, errors):
        for uuid in wanted:
            self.refused[uuid] = wanted[uuid]
        self._metrics.refused_vms.inc(len(wanted))
        first = errors[sorted(errors)[0]]
        log.warning("firewall %s refused the change of %d VM(s): %s", self.label, len(wanted), first,
                    extra={"target": self.label, "vm_uuids": sorted(wanted)[:20]})

    def _send(self, wanted, hints):
        affected = set()
        for uuid, record in wanted.items():
            for source in (self.memory.vms.get(uuid), record, hints.get(uuid)):
                affected.update(source.ips if source else ())
        before, after = {}, {}
        for ip in affected:
            holders = self.memory.holders(ip)
            before[ip] = union(holders.values())
            for uuid, hint in hints.items():
                if hint is not None and ip in hint.ips and uuid not in holders:
                    before[ip] |= hint.tags
            after[ip] = self.memory.holders(ip, wanted)
        refused = None
        with self._unavailable(connecting=False):
            if self._settings["mode"] == "registered-ip":
                refused = self._register(before, after, wanted)
            else:
                self._sync_objects(after, scope=affected)
        if not refused:
            self._remember(wanted)
            return {}
        # What the firewall took: the addresses it refused are not remembered for their VMs.
        ips = refused.refused
        if refused.full:
            self._metrics.full_refusals.labels(self.label).inc(len(refused.full))
        self._remember(dict((uuid, record._replace(ips=tuple(ip for ip in record.ips if ip not in ips))
                             if uuid in refused.vms and record is not None else record)
                            for uuid, record in wanted.items()))
        return dict((uuid, self._refusal(refused, wanted[uuid])) for uuid in refused.vms)

    def _register(self, before, after, wanted):
        """Every tag of the batch's addresses registered again (which heals a firewall that lost them, and renews
        a lease), what no VM holds any more unregistered: ONE User-ID call. Returns None, or the
        RegistrationRefused naming the entries the firewall refused (it applied the others) with .vms: the VMs of
        those addresses; raises it when no VM of the batch has them (the change set is then split)."""
        desired = self._limit_tags(dict((ip, union(holders.values())) for ip, holders in after.items()), after)
        plan = panos_api.plan_registered_ips(desired, before, refresh=True)
        if not plan.changed:
            return None
        refused = None
        try:
            calls = panos_api.apply_registered_ips(self.device(), register=plan.register, unregister=plan.unregister,
                                                   timeout=self._settings["tag_timeout"] or None)
        except panos_api.RegistrationRefused as e:
            e.vms = set(uuid for uuid, record in wanted.items()
                        if record is not None and set(record.ips) & set(e.refused))
            if not e.vms:
                raise
            calls, refused = 1, e
        self._metrics.userid_calls.inc(calls)
        log.info("registered IPs updated", extra={"target": self.label, "userid_calls": calls,
                                                  "registered_ips": len(plan.register),
                                                  "unregistered_ips": len(plan.unregister),
                                                  "refused_ips": len(refused.refused) if refused else 0})
        return refused

    def _refusal(self, refused, record):
        """The Refused of one VM: for a full firewall, a reason naming it, its count and its capacity."""
        mine = sorted(ip for ip in record.ips if ip in refused.refused)
        full = [ip for ip in mine if ip in refused.full]
        said = "; ".join("%s: %s" % (ip, ", ".join(refused.refused[ip])) for ip in mine[:5])
        if not full:
            return Refused(said)
        held = "the %d registered IPs its platform holds (%s)" % (self.capacity, self.platform) if self.capacity \
            else "its platform's maximum of registered IPs (not known here: set registered_ip_capacity)"
        return Refused("the firewall is full: it holds %s, %d of them this listener's, so %s not registered "
                       "(PAN-OS: %s); free registered IPs (or move to a larger platform), then requeue this event: "
                       "the reconcile registers it too once there is room" % (
                           held, len(self.memory.by_ip), ", ".join(full), said), retryable=False)

    def _sync_objects(self, after, scope):
        """The objects named address_prefix + IP made to match *after* ({ip: {uuid: Record}}), then ONE commit.

        Returns whether it committed. A commit is owed from the moment the candidate config may differ until a
        commit succeeded (in the state file, so a crash or a failed commit between the two is made up next time).
        """
        desired = dict((ip, (union(holders.values()), _description(holders))) for ip, holders in after.items())
        device = self.device()
        plan = panos_api.plan_address_objects(device, desired, self._settings["address_prefix"], self._owners.owns,
                                              scope)
        counts = {"objects_created": len(plan.create), "objects_updated": len(plan.edit),
                  "objects_deleted": len(plan.delete)}
        if not any(counts.values()) and not self._db.commit_pending(self.label):
            return False
        self._db.set_commit_pending(self.label, True)
        panos_api.apply_address_objects(device, plan)
        result = panos_api.commit(device, timeout=self._settings["commit_timeout"], description=(
            "netevents listener: %d address object(s) changed" % sum(counts.values())))
        self._metrics.commits.inc(1 if result.get("jobid") else 0)
        if result.get("jobid") and result.get("result") != "OK":
            raise CommitFailed("the commit on %s failed: %s" % (self.label, "; ".join(result["details"])))
        self._db.set_commit_pending(self.label, False)
        log.info("address objects committed", extra=dict(counts, target=self.label, jobid=result.get("jobid")))
        return True

    # -- a reconcile --
    def reconcile(self, records, prism=None):
        """Make the firewall hold exactly *records* ({uuid: Record}: the desired state), owned tags only; then the
        memory is *records*. Returns a summary for the log, or None when the firewall is down (the heal that
        closes its breaker reconciles it then). Raises PanosError when the firewall refuses it.

        prism -- reconcile that Prism's registrations only (registered-ip mode: its owned tags against its part of
        *records*; the other Prisms' tags are not looked at). None: every Prism's, each against its own part."""
        self.reconcile_owed = True          # before _enter: a heal that runs meanwhile must see it
        if not self._enter():
            return None
        try:
            summary = self._reconcile(records, prism)
            self.reconcile_owed = False
            return summary
        except Down as e:
            self._went_down(e)
            return None
        except Exception:
            self.reconcile_owed = False
            raise
        finally:
            self._lock.release()

    def _reconcile(self, records, prism=None):
        with self._unavailable(connecting=False):
            if self._settings["mode"] == "registered-ip":
                summaries = {}
                # Each Prism alone, by its own owned tags: one Prism's reconcile never removes another's tags.
                for name in (prism,) if prism is not None else self._owners.names:
                    summaries[name] = self._reconcile_prism(name, self._owners.only(records, name))
                return next(iter(summaries.values())) if not self._owners.keyed else {"prisms": summaries}
            # The address objects (address_prefix + IP) are the listener's own, each holding the tags of every
            # Prism reporting its IP: they are reconciled against the whole desired state.
            after = collections.defaultdict(dict)
            for uuid, record in records.items():
                for ip in record.ips:
                    after[ip][uuid] = record
            summary = {"committed": self._sync_objects(after, scope=None)}
        self._remember(records, replace=True)
        self.refused.clear()
        return summary

    def _reconcile_prism(self, name, records):
        """registered-ip mode: one Prism's part of the desired state (*records*) against the tags it owns; then that
        part of the memory is *records*. Returns its summary."""
        mapper = self._owners.mapper(name)
        desired = collections.defaultdict(set)
        for record in records.values():
            for ip in record.ips:
                desired[ip] |= record.tags
        try:
            plan, _current, calls = reconcile_device(
                self.device(), desired, mapper, timeout=self._settings["tag_timeout"] or None,
                limit=lambda d, c: self._limit_reconcile(d, c, records, mapper))
            summary = plan.summary()
        except panos_api.RegistrationRefused as e:
            if not e.full or set(e.refused) - e.full:
                raise                # refusals other than a full firewall fail the reconcile
            calls = 1
            records = self._without(records, e.full)
            summary = dict(e.plan.summary(), refused_full=len(e.full))
            self._metrics.full_refusals.labels(self.label).inc(len(e.full))
            log.warning("reconcile: firewall %s is full: %d registered IP(s) not registered (it holds its "
                        "platform's maximum, %s): %s", self.label, len(e.full), self.capacity or "unknown",
                        ", ".join(sorted(e.full)[:20]), extra={"target": self.label, "refused": len(e.full)})
        self._metrics.userid_calls.inc(calls)
        if self._settings["tag_timeout"]:
            summary["renewed"] = len(desired)
        self._remember(records, replace=True, prefix=self._owners.prefix(name))
        for key in [k for k in self.refused if self._owners.prism_of(k) == name]:
            del self.refused[key]
        return summary

    def _limit_reconcile(self, desired, current, records, mapper):
        """reconcile_device's limit: other systems' tags as the firewall holds them now, then _limit_tags. The room
        of the Prism being reconciled (*mapper*'s) on an IP is what every tag it does not own leaves: other
        systems' and our other Prisms'."""
        self.foreign = dict((ip, set(t for t in tags if not self._owners.owns(t))) for ip, tags in current.items())
        self.foreign = dict((ip, tags) for ip, tags in self.foreign.items() if tags)
        others = dict((ip, set(t for t in tags if not mapper.owns(t))) for ip, tags in current.items())
        holders = collections.defaultdict(dict)
        for uuid, record in records.items():
            for ip in record.ips:
                holders[ip][uuid] = record
        return self._limit_tags(desired, holders, others=others)

    @staticmethod
    def _without(records, ips):
        """*records* with the addresses *ips* taken out (the firewall did not take them)."""
        return dict((uuid, record._replace(ips=tuple(ip for ip in record.ips if ip not in ips)))
                    for uuid, record in records.items())

    def _remember(self, records, replace=False, prefix=None):
        self._db.save(self.label, records, replace=replace, prefix=prefix)
        if replace:
            kept = dict((k, r) for k, r in self.memory.vms.items() if prefix is not None and not k.startswith(prefix))
            kept.update(records)
            self.memory = Memory(kept)
        for uuid, record in () if replace else records.items():
            self.memory.set(uuid, record)
        self._count()


def _description(holders):
    vms = ", ".join("%s (%s)" % (sanitize(r.name or "?")[:63], uuid) for uuid, r in sorted(holders.items()))
    return ("Nutanix VM %s, managed by the netevents listener" % vms)[:1023]
