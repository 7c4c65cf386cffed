# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each VM should have (the desired state, from Prism) and what the panos plugin sent each firewall (its
memory): in memory and on disk (SQLite).

The desired state is saved before any firewall is called, so a firewall that is down catches up from it when it
is back, even across restarts. The memory of a firewall is what a VM.DELETE without IPs unregisters, and what a VM
whose IP or category changed loses; it changes only once the firewall took the change set it describes, so it
always matches what the firewall was sent. Each VM is written on its own (a savepoint): a VM whose record cannot
be stored fails alone.
"""
import collections
import json
import os
import sqlite3
import threading
import time

from ...api import PluginError

# What one VM contributes to a firewall: its name (for descriptions), its IPs and its (owned) tags.
Record = collections.namedtuple("Record", "name ips tags")


class Owners(object):
    """Which Prism each VM, and each tag, belongs to.

    mappers -- {Prism name: its TagMapper}, in the configuration's order (the first is the one events without a
    Prism belong to). With one Prism a VM's key is its uuid, as it always was; with several it is
    ``<prism>/<uuid>`` (a Prism's name has no "/"), so that each Prism's VMs are its own even should two Prisms
    report the same uuid, and a reconcile of one Prism replaces that Prism's VMs only.
    """

    def __init__(self, mappers):
        mappers = list(mappers)
        self.mappers = dict(mappers)
        self.names = [name for name, _mapper in mappers]
        self.default = self.names[0]
        self.keyed = len(self.names) > 1

    def key(self, prism, uuid):
        return "%s/%s" % (prism or self.default, uuid) if self.keyed else uuid

    def prism_of(self, key):
        return key.split("/", 1)[0] if self.keyed and "/" in key else self.default

    def prefix(self, prism):
        """The keys of *prism*'s VMs start with it (None: every key is the only Prism's)."""
        return "%s/" % prism if self.keyed else None

    def mapper(self, prism):
        return self.mappers[prism or self.default]

    def owns(self, tag):
        """Whether a tag is any of our Prisms' (what an address object of ours may hold)."""
        return any(mapper.owns(tag) for mapper in self.mappers.values())

    def only(self, records, prism):
        """The part of *records* ({key: ...}) that is *prism*'s."""
        prefix = self.prefix(prism)
        return dict(records) if prefix is None else dict(
            (key, value) for key, value in records.items() if key.startswith(prefix))


def union(records):
    """Every tag of these records."""
    tags = set()
    for record in records:
        tags.update(record.tags)
    return tags


class Memory(object):
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


class Desired(object):
    """What each VM should have on every firewall, by Prism: {uuid: Record}, kept in the StateDb."""

    def __init__(self, db):
        self._db = db
        self._lock = threading.Lock()
        self.vms = db.load(DESIRED)

    def update(self, changes, replace=False, prefix=None):
        """Record {uuid: Record or None}; return {uuid: exception} for the VMs that could not be stored (they keep
        their previous record). replace=True: every VM not in *changes* is dropped (with *prefix*: every VM whose
        key starts with it, i.e. one Prism's)."""
        with self._lock:
            failed = self._db.save(DESIRED, changes, replace=replace, prefix=prefix)
            if replace:
                self.vms = dict((uuid, record) for uuid, record in self.vms.items()
                                if uuid in failed or (prefix is not None and not uuid.startswith(prefix)))
            for uuid, record in changes.items():
                if uuid not in failed:
                    self._set(uuid, record)
            return failed

    def _set(self, uuid, record):
        if record is not None and record.ips and record.tags:
            self.vms[uuid] = record
        else:
            self.vms.pop(uuid, None)

    def snapshot(self):
        with self._lock:
            return dict(self.vms)

    def diff(self, memory, skip=None):
        """{uuid: Record or None}: the VMs for which *memory* (what a firewall was sent) differs from here,
        except those whose desired record is what *skip* ({uuid: Record}) says the firewall refused."""
        with self._lock:
            out = {}
            for uuid in set(self.vms) | set(memory.vms):
                want = self.vms.get(uuid)
                if want != memory.vms.get(uuid) and not (skip and uuid in skip and skip[uuid] == want):
                    out[uuid] = want
            return out


# The desired state's rows in the registered table: a label no firewall has (theirs are host:port/vsys).
DESIRED = "(desired)"


class StateDb(object):
    """The desired state and the memory of each firewall (its label) on disk, plus which firewalls owe a commit."""

    _SCHEMA = """
    CREATE TABLE IF NOT EXISTS registered (
        target TEXT NOT NULL, vm_uuid TEXT NOT NULL, name TEXT, ips TEXT NOT NULL, tags TEXT NOT NULL,
        updated_at REAL NOT NULL, PRIMARY KEY (target, vm_uuid));
    CREATE TABLE IF NOT EXISTS commit_pending (target TEXT PRIMARY KEY, since REAL NOT NULL);
    """
    # A state file written before the desired state was kept: start from what the firewalls were sent.
    _SEED_DESIRED = """
    INSERT OR IGNORE INTO registered (target, vm_uuid, name, ips, tags, updated_at)
        SELECT ?, vm_uuid, name, ips, tags, updated_at FROM registered WHERE target != ?
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
            if not self._db.execute("SELECT 1 FROM registered WHERE target = ? LIMIT 1", (DESIRED,)).fetchone():
                self._db.execute(self._SEED_DESIRED, (DESIRED, DESIRED))
        except (OSError, sqlite3.Error) as e:
            raise PluginError("cannot open the panos plugin's state %s: %s" % (path, e), retryable=False)

    def load(self, target):
        with self._lock:
            rows = self._db.execute("SELECT vm_uuid, name, ips, tags FROM registered WHERE target = ?",
                                    (target,)).fetchall()
        return dict((uuid, Record(name, tuple(json.loads(ips)), frozenset(json.loads(tags))))
                    for uuid, name, ips, tags in rows)

    def save(self, target, changes, replace=False, prefix=None):
        """Record {uuid: Record or None} for *target* in one transaction, each VM in a savepoint of its own;
        replace=True drops every other VM (whose key starts with *prefix*, when given). Returns {uuid: exception}
        of the VMs that could not be written (their rows stay as they were)."""
        now = time.time()
        failed = {}
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                if replace:
                    stale = set(uuid for (uuid,) in cur.execute("SELECT vm_uuid FROM registered WHERE target = ?",
                                                                (target,))
                                if prefix is None or uuid.startswith(prefix)) - set(changes)
                    cur.executemany("DELETE FROM registered WHERE target = ? AND vm_uuid = ?",
                                    [(target, uuid) for uuid in stale])
                for uuid, record in changes.items():
                    cur.execute("SAVEPOINT vm")
                    try:
                        self._write(cur, target, uuid, record, now)
                    except (sqlite3.Error, ValueError, TypeError) as e:  # e.g. text that does not encode as UTF-8
                        cur.execute("ROLLBACK TO vm")
                        failed[uuid] = e
                    cur.execute("RELEASE vm")
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return failed

    @staticmethod
    def _write(cur, target, uuid, record, now):
        if record is None or not record.ips or not record.tags:
            cur.execute("DELETE FROM registered WHERE target = ? AND vm_uuid = ?", (target, uuid))
        else:
            cur.execute("INSERT OR REPLACE INTO registered VALUES (?, ?, ?, ?, ?, ?)",
                        (target, uuid, record.name, json.dumps(sorted(record.ips)), json.dumps(sorted(record.tags)),
                         now))

    def adopt(self, prefix):
        """Make the rows of a single-Prism state file (keys without a Prism) the rows of the Prism whose keys start
        with *prefix*: the first Prism, once the configuration names several."""
        with self._lock:
            self._db.execute("UPDATE OR REPLACE registered SET vm_uuid = ? || vm_uuid WHERE instr(vm_uuid, '/') = 0",
                             (prefix,))

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
