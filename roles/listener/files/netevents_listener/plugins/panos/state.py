# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the panos plugin registered on each firewall: in memory (per VM and per IP), and on disk (SQLite).

The memory is what a VM.DELETE without IPs unregisters, and what a VM whose IP or category changed loses; it is
saved in the same step as the change set it describes, so it survives restarts.
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


class StateDb(object):
    """The memory on disk, per firewall (its label), plus which firewalls still owe a commit."""

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
