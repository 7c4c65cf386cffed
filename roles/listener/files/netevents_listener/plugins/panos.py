# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``panos`` plugin: a VM's Nutanix categories become PAN-OS tags on the VM's IP addresses.

Per batch: each event is resolved to what its VM should have on the firewall (IPs and tags; nothing when it
is off or gone) — from the payload when it is complete, else from Prism. That is compared with what the
plugin registered for the VM before (kept in SQLite), and the whole batch becomes ONE change set per
firewall: one User-ID call (``registered-ip`` mode, no commit), or address-object edits and ONE commit
(``address-object`` mode). A full reconcile against Prism runs at start and every
``reconcile.interval_minutes`` (from the dispatcher thread, between batches), through the same
module_utils.reconcile code as the vm_tag_sync module. Options: docs/listener.md ("The panos plugin").
"""
import collections
import difflib
import json
import logging
import os
import sqlite3
import threading
import time

from prometheus_client import CollectorRegistry, Counter, Gauge

from ansible_collections.netevents.nutanix.plugins.module_utils import panos as panos_api
from ansible_collections.netevents.nutanix.plugins.module_utils.events import VmState, vm_state_from_entity
from ansible_collections.netevents.nutanix.plugins.module_utils.prism import PrismError
from ansible_collections.netevents.nutanix.plugins.module_utils.reconcile import read_vm_states, reconcile_device
from ansible_collections.netevents.nutanix.plugins.module_utils.tagging import (
    DEFAULT_TAG_FORMAT, TagError, TagMapper, desired_ip_tags, sanitize)

from ..api import Plugin, PluginError
from ..config import ConfigError, Secret
from ..logs import register_secret

log = logging.getLogger("netevents_listener.plugin.panos")

MODES = ("registered-ip", "address-object")
OPTIONS = ("targets", "mode", "tag_format", "tag_mapping", "categories", "owned_prefix", "tag_timeout",
           "state_path", "address_prefix", "commit_timeout", "api_timeout", "wait_for_ip_attempts")
TARGET_KEYS = ("ip_address", "port", "username", "password", "api_key", "vsys", "validate_certs", "ca_path")
_TARGET_SECRET_KEYS = ("password_file", "password_env", "api_key_file", "api_key_env")
MAX_TAG_TIMEOUT = 2592000  # 30 days, PAN-OS's limit for a registered tag's timeout
STATE_FILE = "panos-state.db"
# The longest address text ("ffff:...:ffff"); an address object's name is address_prefix + the address.
_LONGEST_IP = "ffff-ffff-ffff-ffff-ffff-ffff-ffff-ffff"
# Events after which the VM should soon have an address: worth waiting a few retries for Prism to report one.
_EXPECT_IP_EVENTS = ("VM.ON", "VM.NIC_PLUG")
# Events after which the VM has nothing on the firewall, whatever else the payload says.
_GONE_EVENTS = ("VM.OFF", "VM.DELETE")
_RECONCILE_RETRY_S = 60.0

# What one VM contributes to a firewall: its name (for descriptions), its IPs and its (owned) tags.
Record = collections.namedtuple("Record", "name ips tags")


# --- options --------------------------------------------------------------------------------------------------

class _Errors(object):
    def __init__(self):
        self.lines = []

    def add(self, where, message):
        self.lines.append("%s: %s" % (where, message))

    def unknown(self, where, data, allowed):
        for key in sorted(data, key=str):
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), list(allowed), n=1)
                self.add("%s%s" % (where, key), "unknown option" + (" (did you mean %r?)" % hint[0] if hint else ""))


def _int(errors, where, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        errors.add(where, "must be an integer between %d and %d, got %r" % (low, high, value))
        return None
    return value


def _str(errors, where, value):
    if not isinstance(value, str) or not value.strip():
        errors.add(where, "must be a non-empty string, got %r" % (value,))
        return None
    return value


def _check_target(errors, index, target, base_dir):
    where = "targets[%d]" % index
    if not isinstance(target, dict):
        errors.add(where, "must be a mapping (ip_address, port, username, password_file, ...), got %r" % (target,))
        return None
    errors.unknown(where + ".", target, TARGET_KEYS + _TARGET_SECRET_KEYS)
    out = {"ip_address": _str(errors, where + ".ip_address", target.get("ip_address")),
           "port": _int(errors, where + ".port", target.get("port", 443), 1, 65535),
           "username": _str(errors, where + ".username", target.get("username", "admin")),
           "validate_certs": target.get("validate_certs", True), "ca_path": None}
    if not isinstance(out["validate_certs"], bool):
        errors.add(where + ".validate_certs", "must be true or false")
    try:
        out["vsys"] = panos_api.validate_vsys(target.get("vsys", "vsys1"))
    except ValueError as e:
        errors.add(where + ".vsys", str(e))
    for name in ("password", "api_key"):
        if name in target:
            if not isinstance(target[name], Secret):  # the configuration loader refuses inline secrets first
                errors.add("%s.%s" % (where, name), "give %s_file or %s_env, not the secret itself" % (name, name))
            else:
                out[name] = target[name]
    if "password" not in out and "api_key" not in out:
        errors.add(where, "give password_file/password_env or api_key_file/api_key_env")
    if target.get("ca_path") is not None:
        path = _str(errors, where + ".ca_path", target["ca_path"])
        if path is not None:
            path = path if os.path.isabs(path) else os.path.normpath(os.path.join(base_dir, path))
            if not os.path.exists(path):
                errors.add(where + ".ca_path", "%s does not exist" % path)
            out["ca_path"] = path
    return out


def address_name(prefix, ip):
    """The address object of an IP: prefix + the address (':' of IPv6 as '-', names may not hold ':')."""
    return panos_api.validate_name(prefix + ip.replace(":", "-"), "address")


# --- the plugin's memory -----------------------------------------------------------------------------------------

class _Memory(object):
    """What the plugin registered on one firewall: per VM a Record, and which VMs hold each IP."""

    def __init__(self, records=None):
        self.vms = {}
        self.by_ip = collections.defaultdict(set)
        for uuid, record in (records or {}).items():
            self.set(uuid, record)

    def set(self, uuid, record):
        old = self.vms.pop(uuid, None)
        for ip in old.ips if old else ():
            self.by_ip[ip].discard(uuid)
            if not self.by_ip[ip]:
                del self.by_ip[ip]
        if record is not None and record.ips and record.tags:
            self.vms[uuid] = record
            for ip in record.ips:
                self.by_ip[ip].add(uuid)

    def holders(self, ip, overrides=None):
        """{uuid: Record} of the VMs holding *ip*, with *overrides* ({uuid: Record or None}) applied."""
        found = dict((uuid, self.vms[uuid]) for uuid in self.by_ip.get(ip, ()))
        for uuid, record in (overrides or {}).items():
            if record is not None and ip in record.ips and record.tags:
                found[uuid] = record
            else:
                found.pop(uuid, None)
        return found


def _union(records):
    tags = set()
    for record in records:
        tags.update(record.tags)
    return tags


class _StateDb(object):
    """The memory on disk (SQLite): survives restarts, so a VM.DELETE without IPs still unregisters them."""

    _SCHEMA = """
    CREATE TABLE IF NOT EXISTS registered (
        target TEXT NOT NULL, vm_uuid TEXT NOT NULL, name TEXT, ips TEXT NOT NULL, tags TEXT NOT NULL,
        updated_at REAL NOT NULL, PRIMARY KEY (target, vm_uuid));
    CREATE TABLE IF NOT EXISTS commit_pending (target TEXT PRIMARY KEY, since REAL NOT NULL);
    """

    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()
        try:
            # Created 0600: it names VMs and their addresses.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(self._SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise PluginError("cannot open the panos plugin's state %s: %s" % (path, e), retryable=False)

    def load(self, target):
        with self._lock:
            rows = self._db.execute("SELECT vm_uuid, name, ips, tags FROM registered WHERE target = ?",
                                    (target,)).fetchall()
        return dict((uuid, Record(name, tuple(json.loads(ips)), frozenset(json.loads(tags))))
                    for uuid, name, ips, tags in rows)

    def save(self, target, changes, replace=False):
        """Record {uuid: Record or None} for *target* in one transaction; replace=True drops every other VM."""
        now = time.time()
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                if replace:
                    cur.execute("DELETE FROM registered WHERE target = ?", (target,))
                for uuid, record in changes.items():
                    if record is None or not record.ips or not record.tags:
                        cur.execute("DELETE FROM registered WHERE target = ? AND vm_uuid = ?", (target, uuid))
                    else:
                        cur.execute("INSERT OR REPLACE INTO registered VALUES (?, ?, ?, ?, ?, ?)",
                                    (target, uuid, record.name, json.dumps(sorted(record.ips)),
                                     json.dumps(sorted(record.tags)), now))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def commit_pending(self, target):
        with self._lock:
            return self._db.execute("SELECT 1 FROM commit_pending WHERE target = ?", (target,)).fetchone() is not None

    def set_commit_pending(self, target, pending):
        with self._lock:
            if pending:
                self._db.execute("INSERT OR IGNORE INTO commit_pending VALUES (?, ?)", (target, time.time()))
            else:
                self._db.execute("DELETE FROM commit_pending WHERE target = ?", (target,))

    def close(self):
        with self._lock:
            self._db.close()


# --- firewalls ----------------------------------------------------------------------------------------------------

class _Target(object):
    """One firewall: its connection (made on first use, dropped after a failure) and the plugin's memory of it."""

    def __init__(self, options, api_timeout):
        self.label = "%s:%d/%s" % (options["ip_address"], options["port"], options["vsys"])
        self.vsys = options["vsys"]
        self.api_timeout = api_timeout
        self._provider = dict((k, v.reveal() if isinstance(v, Secret) else v) for k, v in options.items()
                              if k != "vsys" and v is not None)
        self._device = None
        self.memory = _Memory()

    def device(self):
        if self._device is None:
            device = panos_api.connect(self._provider, vsys=self.vsys, timeout=self.api_timeout)
            # The key keygen made from the password is as secret as the password: mask it in logs too.
            register_secret(getattr(panos_api.pan_device(device), "api_key", None))
            self._device = device
        return self._device

    def forget(self):
        self._device = None


class PanosPlugin(Plugin):
    name = "panos"

    @classmethod
    def check_options(cls, options, config):
        errors = _Errors()
        errors.unknown("", options, OPTIONS)
        base_dir = os.path.dirname(getattr(config, "source", "") or ".")
        out = {}
        if getattr(config, "prism", None) is None:
            errors.add("prism", "the panos plugin needs the 'prism' section: it reads VMs the events do not "
                                "describe fully, and the reconcile lists them all")
        targets = options.get("targets")
        if not isinstance(targets, list) or not targets:
            errors.add("targets", "give a list of at least one firewall (ip_address, username, password_file "
                                  "or api_key_file, ...)")
            targets = []
        out["targets"] = [_check_target(errors, i, t, base_dir) for i, t in enumerate(targets)]
        labels = [(t["ip_address"], t["port"], t.get("vsys")) for t in out["targets"] if t]
        if len(set(labels)) != len(labels):
            errors.add("targets", "the same firewall (ip_address, port, vsys) is listed twice")
        out["mode"] = options.get("mode", "registered-ip")
        if out["mode"] not in MODES:
            errors.add("mode", "must be one of %s, got %r" % (", ".join(MODES), out["mode"]))
        out["tag_format"] = _str(errors, "tag_format", options.get("tag_format", DEFAULT_TAG_FORMAT))
        mapping = options.get("tag_mapping") or {}
        if not isinstance(mapping, dict):
            errors.add("tag_mapping", "must be a mapping of 'Category:Value' to a tag (or a list of tags)")
            mapping = {}
        out["tag_mapping"] = {}
        for key, tags in mapping.items():
            where = "tag_mapping.%s" % key
            tags = [tags] if isinstance(tags, str) else tags
            if not isinstance(key, str) or ":" not in key:
                errors.add(where, "a key looks like 'Category:Value'")
            elif not isinstance(tags, list) or not tags:
                errors.add(where, "must be a tag or a list of tags")
            else:
                try:
                    out["tag_mapping"][key] = [panos_api.validate_name(tag, "tag") for tag in tags]
                except ValueError as e:
                    errors.add(where, str(e))
        categories = options.get("categories")
        if categories is not None and (not isinstance(categories, list)
                                       or not all(isinstance(c, str) and c for c in categories)):
            errors.add("categories", "must be a list of category names")
            categories = None
        out["categories"] = categories or None
        out["owned_prefix"] = options.get("owned_prefix")
        if out["owned_prefix"] is not None and _str(errors, "owned_prefix", out["owned_prefix"]) is None:
            out["owned_prefix"] = None
        if out["tag_format"] is not None:
            try:
                mapper = TagMapper(out["tag_format"], out["tag_mapping"], None, out["owned_prefix"])
                mapper.tags_for({"AppTier": "Web"})
                if mapper.rejected:
                    errors.add("tag_format", "%r makes tag names PAN-OS refuses (AppTier:Web gives %r): a tag "
                                             "starts with a letter, digit or '_'" % (
                                                 out["tag_format"], out["tag_format"].format(category="AppTier",
                                                                                             value="Web")))
            except TagError as e:
                errors.add("tag_format", str(e))
        out["tag_timeout"] = _int(errors, "tag_timeout", options.get("tag_timeout", 0), 0, MAX_TAG_TIMEOUT)
        reconcile = getattr(config, "reconcile", None)
        interval = (reconcile.interval_minutes or 0) * 60 if reconcile is not None else 0
        if out["tag_timeout"] and (not interval or out["tag_timeout"] < 2 * interval):
            errors.add("tag_timeout", "registered tags that expire need the reconcile to renew them: set "
                                      "reconcile.interval_minutes to at most half of tag_timeout (%d s), or "
                                      "tag_timeout: 0" % out["tag_timeout"])
        state_path = options.get("state_path")
        out["state_path"] = None if state_path is None else _str(errors, "state_path", state_path)
        out["address_prefix"] = options.get("address_prefix", "ntnx-vm-")
        if _str(errors, "address_prefix", out["address_prefix"]) is not None:
            try:
                address_name(out["address_prefix"], _LONGEST_IP)
            except ValueError as e:
                errors.add("address_prefix", "%s (the prefix plus the longest IPv6 address must fit)" % e)
        out["commit_timeout"] = _int(errors, "commit_timeout", options.get("commit_timeout", 600), 10, 3600)
        out["api_timeout"] = _int(errors, "api_timeout", options.get("api_timeout", 30), 1, 600)
        out["wait_for_ip_attempts"] = _int(errors, "wait_for_ip_attempts", options.get("wait_for_ip_attempts", 3),
                                           0, 100)
        if errors.lines:
            raise ConfigError(errors.lines)
        return out

    # -- lifecycle --
    def start(self, context):
        super().start(context)
        opts = context.options
        self.mode = opts["mode"]
        self.mapper = TagMapper(opts["tag_format"], opts["tag_mapping"], opts["categories"], opts["owned_prefix"])
        self.tag_timeout = opts["tag_timeout"] or None
        self.address_prefix = opts["address_prefix"]
        self.commit_timeout = opts["commit_timeout"]
        self.wait_for_ip_attempts = opts["wait_for_ip_attempts"]
        self.max_attempts = context.config.queue.max_attempts
        reconcile = getattr(context.config, "reconcile", None)
        self.reconcile_interval = 60.0 * (reconcile.interval_minutes if reconcile is not None else 0)
        self.prism = context.prism_client()
        path = opts["state_path"]
        path = context.resolve_path(path) if path else os.path.join(context.state_dir, STATE_FILE)
        self.db = _StateDb(path)
        self.targets = [_Target(t, opts["api_timeout"]) for t in opts["targets"]]
        for target in self.targets:
            target.memory = _Memory(self.db.load(target.label))
        self._next_reconcile = 0.0          # at start, then every interval
        self._reconciled_at = 0.0           # when the last reconcile read Prism: older events are stale
        registry = context.registry or CollectorRegistry()
        p = "netevents_listener_panos_"
        self.m_userid = Counter(p + "userid_calls", "User-ID API calls (each one carries a whole change set)",
                                registry=registry)
        self.m_commits = Counter(p + "commits", "Commits started (address-object mode)", registry=registry)
        self.m_lookups = Counter(p + "prism_lookups", "VMs read from Prism because the event did not say enough",
                                 registry=registry)
        self.m_target_errors = Counter(p + "target_errors", "Failed attempts to apply a change set to a firewall",
                                       registry=registry)
        self.m_reconciles = Counter(p + "reconciles", "Full reconciles, by result", ["result"], registry=registry)
        for result in ("ok", "failed"):
            self.m_reconciles.labels(result)
        self.m_last_reconcile = Gauge(p + "last_reconcile_timestamp_seconds",
                                      "When the last successful reconcile finished (epoch)", registry=registry)
        log.info("panos plugin started", extra={"mode": self.mode, "targets": [t.label for t in self.targets],
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
                self._apply(target, wanted, hints)
            except panos_api.PanosError as e:
                target.forget()
                self.m_target_errors.inc()
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
        if event.event_type in _GONE_EVENTS:
            # What the VM had, by the payload: unregistered too, should the memory have lost it.
            if vm.ips and vm.categories is not None:
                hint = self._record(VmState(event.vm_uuid, vm.vm_name, "ON", vm.ips, vm.categories), strict=False)
        # An event older than the last reconcile is stale: Prism's present state wins over its payload.
        stale = event.received_at < self._reconciled_at
        if event.event_type in _GONE_EVENTS and not stale:
            return None, hint
        if vm.complete and vm.power_state is not None and not stale:
            state = VmState(event.vm_uuid, vm.vm_name, vm.power_state, vm.ips, vm.categories)
        else:
            # The payload is a hint (AOS sends an empty nic_list at VM.ON); Prism is the truth.
            state = self._read_vm(event.vm_uuid)
            if state is None:
                return None, hint
        record = self._record(state, strict=True)
        if (record is None and state.power_state == "ON" and not state.ips and event.event_type in _EXPECT_IP_EVENTS
                and event.attempt <= self.wait_for_ip_attempts and event.attempt < self.max_attempts
                and self.mapper.tags_for(state.categories)):
            raise PluginError("VM %s is on but Prism reports no IP address yet; trying again" % event.vm_uuid)
        return record, hint

    def _read_vm(self, uuid):
        self.m_lookups.inc()
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
        tags = self.mapper.tags_for(state.categories)
        if strict:
            bad = ["%s:%s" % item for item in sorted(state.categories.items())
                   if "%s:%s" % item in self.mapper.rejected]
            if bad:
                raise PluginError("VM %s: the categor%s %s give%s no tag name PAN-OS accepts with tag_format %r (a "
                                  "tag is 1-127 letters, digits, '.', '_' or '-', starting with a letter, digit or "
                                  "'_'); change the category or the format, then requeue this event" % (
                                      state.uuid, "ies" if len(bad) > 1 else "y", ", ".join(bad),
                                      "" if len(bad) > 1 else "s", self.mapper.tag_format), retryable=False)
        if not tags:
            return None
        return Record(state.name, tuple(sorted(state.ips)), frozenset(tags))

    def _apply(self, target, wanted, hints):
        """Send the batch's change set to one firewall, then remember it. Raises PanosError."""
        memory = target.memory
        affected = set()
        for uuid, record in wanted.items():
            for source in (memory.vms.get(uuid), record, hints.get(uuid)):
                affected.update(source.ips if source else ())
        before, after = {}, {}
        for ip in affected:
            holders = memory.holders(ip)
            before[ip] = _union(holders.values())
            hint_tags = [h.tags for uuid, h in hints.items() if h is not None and ip in h.ips and uuid not in holders]
            for tags in hint_tags:  # what the payload says the VM had, in case the memory was lost
                before[ip] |= tags
            after[ip] = memory.holders(ip, wanted)
        if self.mode == "registered-ip":
            self._apply_registered(target, before, after)
        else:
            self._apply_objects(target, after, scope=affected)
        self.db.save(target.label, wanted)
        for uuid, record in wanted.items():
            memory.set(uuid, record)

    def _apply_registered(self, target, before, after):
        # Everything the batch touches is registered again (idempotent: heals drift), stale tags unregistered.
        register = dict((ip, _union(h.values())) for ip, h in after.items() if h)
        unregister = {}
        for ip, had in before.items():
            gone = had - register.get(ip, set())
            if gone:
                unregister[ip] = gone
        if not register and not unregister:
            return
        with panos_api.api_errors(target.label):
            calls = panos_api.apply_registered_ips(target.device(), register=register, unregister=unregister,
                                                   timeout=self.tag_timeout)
        self.m_userid.inc(calls)
        log.info("registered IPs updated", extra={"target": target.label, "registered_ips": len(register),
                                                  "unregistered_ips": len(unregister), "userid_calls": calls})

    # -- address-object mode --
    def _apply_objects(self, target, after, scope=None):
        """Make the prefix's address objects match *after* ({ip: {uuid: Record}}) and commit once.

        scope: the IPs to look at (None: every object with the prefix, as the reconcile wants).
        """
        from panos.objects import AddressObject, Tag  # pylint: disable=import-outside-toplevel
        device = target.device()
        with panos_api.api_errors(target.label):
            device.removeall()
            current = dict((o.name, o) for o in AddressObject.refreshall(device, add=False)
                           if o.name.startswith(self.address_prefix))
        wanted = {}
        for ip, holders in after.items():
            if holders:
                wanted[address_name(self.address_prefix, ip)] = (ip, holders)
        names = set(wanted) | (set(current) if scope is None else
                               set(address_name(self.address_prefix, ip) for ip in scope))
        create, edit, delete, tags_used = [], [], [], set()
        for name in sorted(names):
            obj = current.get(name)
            if name not in wanted:
                if obj is not None:
                    delete.append(name)
                continue
            ip, holders = wanted[name]
            owned = _union(holders.values())
            foreign = set(t for t in (obj.tag or []) if not self.mapper.owns(t)) if obj is not None else set()
            tags = sorted(owned | foreign)
            description = self._description(holders)
            tags_used.update(owned)
            if obj is None:
                create.append(AddressObject(name, ip, type="ip-netmask", description=description, tag=tags))
            elif (obj.value, obj.type, sorted(obj.tag or []), obj.description) != (ip, "ip-netmask", tags, description):
                edit.append(AddressObject(name, ip, type="ip-netmask", description=description, tag=tags))
        changed = bool(create or edit or delete)
        if not changed and not self.db.commit_pending(target.label):
            return False
        self.db.set_commit_pending(target.label, True)
        with panos_api.api_errors(target.label):
            if create or edit:
                # Address objects refer to their tags: make sure the tag objects exist (set merges: no-op if so).
                for tag in sorted(tags_used):
                    device.add(Tag(tag))
                device.children[0].create_similar()
                device.removeall()
            if delete:
                for name in delete:
                    device.add(AddressObject(name))
                device.children[0].delete_similar()
            if create:
                for obj in create:
                    device.add(obj)
                create[0].create_similar()
                device.removeall()
            for obj in edit:
                device.add(obj)
                obj.apply()
                device.remove(obj)
        result = panos_api.commit(device, description="netevents listener: %d address object(s) changed"
                                  % (len(create) + len(edit) + len(delete)), timeout=self.commit_timeout)
        self.m_commits.inc(1 if result.get("jobid") else 0)
        if result.get("jobid") and result.get("result") != "OK":
            raise panos_api.PanosError("the commit on %s failed: %s" % (target.label, "; ".join(result["details"])))
        self.db.set_commit_pending(target.label, False)
        log.info("address objects committed", extra={"target": target.label, "objects_created": len(create),
                                                     "objects_updated": len(edit), "objects_deleted": len(delete),
                                                     "jobid": result.get("jobid")})
        return True

    @staticmethod
    def _description(holders):
        vms = ", ".join("%s (%s)" % (sanitize(r.name or "?")[:63], uuid) for uuid, r in sorted(holders.items()))
        return ("Nutanix VM %s, managed by the netevents listener" % vms)[:1023]

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
            if vm.uuid:
                record = self._record(vm, strict=False)
                if record is not None:
                    records[vm.uuid] = record
        if self.mapper.rejected:
            log.warning("categories left out: they give no valid tag name", extra={
                "categories": sorted(self.mapper.rejected)[:50]})
        ok = True
        for target in self.targets:
            try:
                summary = self._reconcile_target(target, vms, records)
            except panos_api.PanosError as e:
                target.forget()
                self.m_target_errors.inc()
                self._reconcile_failed("firewall %s: %s" % (target.label, e))
                ok = False
                continue
            self.db.save(target.label, records, replace=True)
            target.memory = _Memory(records)
            log.info("reconciled", extra=dict(summary, target=target.label, vms=len(vms)))
        if ok:
            self.m_reconciles.labels("ok").inc()
            self.m_last_reconcile.set(time.time())
            self._next_reconcile = time.time() + self.reconcile_interval
        return ok

    def _reconcile_target(self, target, vms, records):
        if self.mode == "registered-ip":
            desired = desired_ip_tags(vms, self.mapper)
            with panos_api.api_errors(target.label):
                plan, _current, calls = reconcile_device(target.device(), desired, self.mapper,
                                                         timeout=self.tag_timeout)
            self.m_userid.inc(calls)
            return plan.summary()
        after = collections.defaultdict(dict)
        for uuid, record in records.items():
            for ip in record.ips:
                after[ip][uuid] = record
        return {"committed": self._apply_objects(target, after, scope=None)}

    def _reconcile_failed(self, message):
        self.m_reconciles.labels("failed").inc()
        self._next_reconcile = time.time() + min(self.reconcile_interval, _RECONCILE_RETRY_S)
        log.warning("reconcile failed, next try in %ds: %s", min(self.reconcile_interval, _RECONCILE_RETRY_S),
                    message)
