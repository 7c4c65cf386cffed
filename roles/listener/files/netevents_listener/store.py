# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The durable event queue: SQLite in WAL mode with synchronous=FULL.

An event is committed here before the webhook gets its 200, so an acknowledged event survives a crash
(kill -9), a restart, and any plugin or firewall failure. The dispatcher's bookkeeping (attempt counts, applied
events deleted, dead-letter moves) commits with synchronous=NORMAL: still safe from a process crash, and all a
power loss can undo is that bookkeeping, so an event is applied again (at least once) instead of lost. That
spares two fsyncs per batch, during which webhook requests would wait for the write lock. Applied events are deleted; failed ones wait
for their retry time; events that failed ``max_attempts`` times move to ``dead_letters``.

Ordering: the dispatcher only ever takes the *oldest* pending event of each VM (``ready``), so a VM's later
event never runs before an earlier one that is still failing. An event the plugin deferred (``Defer``: not ready
yet) is listed in ``deferred`` until it runs again; a later event of its VM supersedes it (``supersede_deferred``).

Group commit: request threads that want to enqueue while another one is committing wait for it, then the
next of them writes all their events in one transaction (one fsync) and wakes the others; each gets its own
answer only once its event is on disk. Each event is written under a SAVEPOINT of its own, so an event that cannot
be written fails alone (``UnstorableEvent``), and the rest of its group is committed; only a transaction that
cannot begin or commit fails them all. Under concurrent senders this shares the cost of a commit; a lone
sender pays it alone, as before. Reads (the dispatcher's queries, health, metrics) use a second connection:
WAL lets them run beside a writer instead of queueing behind its fsync.

Origins: an event is a Prism delivery (``origin`` "webhook") or a difference the listener's own poll of Prism found
("poll", poller.py). The poll's last-seen state lives beside the events (``poll_state``), and a cycle writes its
events and that state in one transaction (``record_poll``).

Duplicates: Prism may deliver an event again. An event whose body is byte-identical to the last event
accepted for the same VM within ``dedupe_window_s`` is acknowledged but not queued again. Only a repeat of
the *latest* state is dropped (ON, OFF, ON keeps all three), so dropping never changes the outcome.
"""
import hashlib
import os
import sqlite3
import threading
import time

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    vm_uuid TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body BLOB NOT NULL,
    body_sha256 TEXT NOT NULL,
    received_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    origin TEXT NOT NULL DEFAULT 'webhook'
);
CREATE INDEX IF NOT EXISTS events_by_vm ON events (vm_uuid, id);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    vm_uuid TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body BLOB NOT NULL,
    body_sha256 TEXT NOT NULL,
    received_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    dead_at REAL NOT NULL,
    origin TEXT NOT NULL DEFAULT 'webhook'
);
CREATE TABLE IF NOT EXISTS last_seen (
    prism TEXT NOT NULL DEFAULT '',
    vm_uuid TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (prism, vm_uuid)
);
CREATE TABLE IF NOT EXISTS deferred (
    id INTEGER PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS poll_state (
    prism TEXT NOT NULL,
    vm_uuid TEXT NOT NULL,
    state TEXT NOT NULL,
    seen_at REAL NOT NULL,
    PRIMARY KEY (prism, vm_uuid)
);
"""
# Columns added after schema 1 shipped, added in place to an older file (ALTER TABLE ADD COLUMN); an older listener
# ignores them (their defaults fill them in), so the schema version stays 1: {table: [(column, definition)]}.
# origin: "webhook" (a Prism delivery) or "poll" (the listener's own reading of Prism).
# prism: the name of the Prism the event came from (NULL: the only one, or a queue written before there could be
# several). A VM's events are ordered, and deduplicated, per (prism, vm_uuid).
_ADDED_COLUMNS = {"events": [("origin", "TEXT NOT NULL DEFAULT 'webhook'"), ("prism", "TEXT")],
                  "dead_letters": [("origin", "TEXT NOT NULL DEFAULT 'webhook'"), ("prism", "TEXT")]}
ORIGINS = ("webhook", "poll")
_COLUMNS = "id, vm_uuid, event_type, body, received_at, attempts, last_error, prism, origin"
# The key of a VM across Prisms in SQL: uuids are unique within one Prism only as far as we rely on.
_VM_KEY = "COALESCE(prism, ''), vm_uuid"


class QueueError(Exception):
    """The queue database cannot be used."""


class UnstorableEvent(ValueError):
    """This one event cannot be written as it is (its own data, not the queue, is at fault)."""


class StoredEvent(object):
    __slots__ = ("id", "vm_uuid", "event_type", "body", "received_at", "attempts", "last_error", "dead_at", "prism",
                 "origin")

    def __init__(self, row, dead_at=None):
        (self.id, self.vm_uuid, self.event_type, body, self.received_at, self.attempts, self.last_error,
         self.prism, self.origin) = row
        self.body = bytes(body)
        self.dead_at = dead_at

    def __repr__(self):
        return "StoredEvent(%d, %s, %s)" % (self.id, self.event_type, self.vm_uuid)


def body_hash(body):
    return hashlib.sha256(body).hexdigest()


class _Write(object):
    """One event waiting for a group commit, and what became of it."""
    __slots__ = ("vm_uuid", "event_type", "body", "prism", "origin", "done", "event_id", "error", "wake")

    def __init__(self, vm_uuid, event_type, body, prism=None, origin="webhook"):
        if origin not in ORIGINS:
            raise ValueError("origin must be one of %s, not %r" % (", ".join(ORIGINS), origin))
        self.vm_uuid, self.event_type, self.body, self.prism, self.origin = vm_uuid, event_type, body, prism, origin
        self.done = False
        # Held until the thread is woken, once: its event written, or its turn to lead the next group.
        # (One lock per writer wakes exactly that thread; a shared condition would wake them all.)
        self.wake = threading.Lock()
        self.wake.acquire()
        self.event_id = None
        # Until its transaction commits, an event counts as not written (never as a duplicate).
        self.error = QueueError("the event was not written")

    def outcome(self):
        if self.error is not None:
            raise self.error
        return self.event_id


class EventQueue(object):
    """Thread-safe access to the queue file: one connection and lock for writes (serialised anyway), one for
    reads."""

    def __init__(self, path, dedupe_window_s=300, clock=time.time):
        self.path = path
        self.dedupe_window_s = dedupe_window_s
        self.clock = clock
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._group = threading.Lock()
        self._waiting = []     # _Write objects of the next group commit
        self._writing = False  # a group leader is at work
        if not os.path.isdir(os.path.dirname(path) or "."):
            raise QueueError("cannot open the queue %s: directory %s does not exist" % (path, os.path.dirname(path)))
        try:
            if not os.path.exists(path):
                # The queue holds event bodies: readable by the service user only (WAL files inherit the mode).
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before we acknowledge, even across a power loss.
            self._db.execute("PRAGMA synchronous=FULL")
            self._durable = True
            self._db.execute("PRAGMA busy_timeout=30000")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise QueueError("%s was written by a newer listener (schema %d)" % (path, version))
            self._db.executescript(_SCHEMA)
            self._migrate()
            self._db.execute("PRAGMA user_version=%d" % SCHEMA_VERSION)
            self._reader = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self._reader.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error as e:
            raise QueueError("cannot open the queue %s: %s" % (path, e))

    def _migrate(self):
        """Bring a queue file of an earlier listener up to this one's tables, adding columns only."""
        for table, columns in _ADDED_COLUMNS.items():
            have = set(row[1] for row in self._db.execute("PRAGMA table_info(%s)" % table))
            for column, definition in columns:
                if column not in have:
                    self._db.execute("ALTER TABLE %s ADD COLUMN %s %s" % (table, column, definition))
        have = set(row[1] for row in self._db.execute("PRAGMA table_info(last_seen)"))
        if "prism" not in have:
            # Its key becomes (prism, vm_uuid). It only holds the last few minutes' digests: starting it afresh at
            # worst lets one repeated delivery through (applied twice, which is harmless).
            self._db.execute("DROP TABLE last_seen")
            self._db.executescript(_SCHEMA)

    def close(self):
        with self._lock, self._read_lock:
            self._reader.close()
            self._db.close()

    def _read(self, sql, args=()):
        with self._read_lock:
            return self._reader.execute(sql, args).fetchall()

    def _tx(self, durable=True):
        """A write transaction; *durable*: fsync'd at commit (synchronous=FULL) rather than at checkpoints."""
        return _Transaction(self, durable)

    def _set_durable(self, durable):
        # Called under self._lock, outside a transaction (where SQLite accepts the pragma).
        if durable != self._durable:
            self._db.execute("PRAGMA synchronous=%s" % ("FULL" if durable else "NORMAL"))
            self._durable = durable

    # -- receiving --
    def enqueue(self, vm_uuid, event_type, body, prism=None, origin="webhook"):
        """Persist one event; return its id once it is on disk, or None when it repeats the VM's last event (a
        duplicate). Raises QueueError or sqlite3.Error when it cannot be written.

        prism  -- the name of the Prism it came from (None: the only one)
        origin -- "webhook" (a Prism delivery) or "poll" (the listener's own reading of Prism)"""
        mine = _Write(vm_uuid, event_type, body, prism, origin)
        with self._group:
            self._waiting.append(mine)
            leader = not self._writing
            self._writing = True
        if not leader:
            mine.wake.acquire()
            if mine.done:
                return mine.outcome()
        # The leader: write everything waiting (its own event included) in one transaction, then wake them
        # and hand the lead to the first that arrived meanwhile.
        with self._group:
            group, self._waiting = self._waiting, []
        try:
            self._write_group(group)
        finally:
            for write in group:
                write.done = True
            with self._group:
                successor = self._waiting[0] if self._waiting else None
                self._writing = successor is not None
            for write in group:
                if write is not mine:
                    write.wake.release()
            if successor is not None:
                successor.wake.release()
        return mine.outcome()

    def _write_group(self, group):
        now = self.clock()
        try:
            with self._tx() as db:
                for write in group:
                    self._write_one(db, write, now)
        except (QueueError, sqlite3.Error) as e:
            # Nothing of the group is on disk (the transaction could not begin or commit).
            for write in group:
                write.event_id = None
                write.error = e if write is group[0] else QueueError(str(e))

    def _write_one(self, db, write, now):
        """One event under its own savepoint: when its own data is at fault only it is rolled back (and fails with
        UnstorableEvent); a failure of the queue itself (disk full, I/O error) propagates and fails the group."""
        db.execute("SAVEPOINT one_event")
        try:
            write.event_id = self._insert(db, write, now)
            write.error = None  # on disk once the group commits
        except (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError, sqlite3.ProgrammingError,
                ValueError, TypeError, OverflowError) as e:  # e.g. UnicodeEncodeError: text SQLite cannot take
            db.execute("ROLLBACK TO one_event")
            write.event_id = None
            write.error = UnstorableEvent("the event cannot be stored (%s)" % type(e).__name__)
        db.execute("RELEASE one_event")

    def _insert(self, db, write, now):
        digest = body_hash(write.body)
        if self.dedupe_window_s:
            prism = write.prism or ""
            row = db.execute("SELECT body_sha256, received_at FROM last_seen WHERE prism = ? AND vm_uuid = ?",
                             (prism, write.vm_uuid)).fetchone()
            if row and row[0] == digest and now - row[1] <= self.dedupe_window_s:
                return None
            db.execute("INSERT INTO last_seen (prism, vm_uuid, body_sha256, received_at) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (prism, vm_uuid) DO UPDATE SET body_sha256 = excluded.body_sha256, "
                       "received_at = excluded.received_at", (prism, write.vm_uuid, digest, now))
        cur = db.execute(
            "INSERT INTO events (vm_uuid, event_type, body, body_sha256, received_at, next_attempt_at, prism, origin) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (write.vm_uuid, write.event_type, sqlite3.Binary(write.body), digest,
                                                now, now, write.prism, write.origin))
        return cur.lastrowid

    # -- the poll source's last-seen state (poller.py) --
    def poll_state(self, prism):
        """{vm_uuid: state text} last seen by the poll of Prism entry *prism*."""
        return dict(self._read("SELECT vm_uuid, state FROM poll_state WHERE prism = ?", (prism,)))

    def record_poll(self, prism, events, seen, gone):
        """Queue a poll cycle's differences and move its last-seen state on, in ONE durable transaction: a crash
        before the commit leaves both as they were (the next cycle finds the same differences), after it both
        are on disk (nothing is announced twice). Returns the new events' ids (None for a duplicate).

        events -- (vm_uuid, event_type, body) to queue, origin "poll", attributed to the Prism *prism*
        seen   -- {vm_uuid: state text}: the VMs whose state changed or is new
        gone   -- vm_uuids Prism no longer lists
        """
        now = self.clock()
        # Attributed to the entry's Prism like its webhook deliveries: a VM's events are ordered and deduplicated
        # per (prism, vm_uuid), whichever source found them.
        writes = [_Write(uuid, event_type, body, prism, "poll") for uuid, event_type, body in events]
        with self._tx() as db:
            ids = [self._insert(db, write, now) for write in writes]
            db.executemany("INSERT INTO poll_state (prism, vm_uuid, state, seen_at) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT (prism, vm_uuid) DO UPDATE SET state = excluded.state, "
                           "seen_at = excluded.seen_at", [(prism, uuid, state, now) for uuid, state in seen.items()])
            db.executemany("DELETE FROM poll_state WHERE prism = ? AND vm_uuid = ?", [(prism, uuid) for uuid in gone])
        return ids

    # -- dispatching --
    def ready(self, limit, now=None):
        """The oldest pending event of each VM whose retry time has come, oldest first."""
        now = self.clock() if now is None else now
        rows = self._read("SELECT %s FROM events WHERE id IN (SELECT MIN(id) FROM events GROUP BY %s) "
                          "AND next_attempt_at <= ? ORDER BY id LIMIT ?" % (_COLUMNS, _VM_KEY), (now, limit))
        return [StoredEvent(r) for r in rows]

    def next_due(self):
        """When the next head-of-line event becomes ready (epoch seconds), or None when the queue is empty."""
        return self._read("SELECT MIN(next_attempt_at) FROM events WHERE id IN "
                          "(SELECT MIN(id) FROM events GROUP BY %s)" % _VM_KEY)[0][0]

    def claim(self, retry_at):
        """Count an attempt *before* running it, so an event that crashes the service still dead-letters.

        retry_at -- (id, epoch) pairs: when to try again should this attempt never report back.
        """
        with self._tx(durable=False) as db:
            db.executemany("UPDATE events SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
                           [(at, i) for i, at in retry_at])

    def finish(self, done=(), retry=(), dead=(), refund=(), defer=()):
        """Record a batch's outcome in one transaction.

        done   -- ids applied (deleted)
        retry  -- (id, error, next_attempt_at) to try again later
        dead   -- (id, error) to move to the dead letters
        refund -- (id, error, next_attempt_at) to try again later, the attempt claimed for it given back (it
                  failed for no fault of its own)
        defer  -- (id, reason, next_attempt_at) not ready yet: tried again later, the attempt given back
        """
        now = self.clock()
        with self._tx(durable=False) as db:
            db.executemany("DELETE FROM events WHERE id = ?", [(i,) for i in done])
            db.executemany("UPDATE events SET last_error = ?, next_attempt_at = ? WHERE id = ?",
                           [(err, at, i) for i, err, at in retry])
            db.executemany("UPDATE events SET last_error = ?, next_attempt_at = ?, attempts = MAX(0, attempts - 1) "
                           "WHERE id = ?", [(err, at, i) for i, err, at in tuple(refund) + tuple(defer)])
            db.executemany("DELETE FROM deferred WHERE id = ?", [(i,) for i in done] + [(i,) for i, _e, _a in retry]
                           + [(i,) for i, _e, _a in refund] + [(i,) for i, _e in dead])
            db.executemany("INSERT OR IGNORE INTO deferred (id) VALUES (?)", [(i,) for i, _r, _a in defer])
            for i, err in dead:
                db.execute("INSERT OR REPLACE INTO dead_letters (id, vm_uuid, event_type, body, body_sha256, "
                           "received_at, attempts, last_error, dead_at, prism, origin) SELECT id, vm_uuid, event_type, "
                           "body, body_sha256, received_at, attempts, ?, ?, prism, origin FROM events WHERE id = ?",
                           (err, now, i))
                db.execute("DELETE FROM events WHERE id = ?", (i,))

    def supersede_deferred(self):
        """Drop the deferred events that a later event of the same VM has joined; return them (StoredEvents)."""
        where = ("FROM events WHERE id IN (SELECT id FROM deferred) AND EXISTS (SELECT 1 FROM events later "
                 "WHERE later.vm_uuid = events.vm_uuid AND COALESCE(later.prism, '') = COALESCE(events.prism, '') "
                 "AND later.id > events.id)")
        if not self._read("SELECT 1 FROM deferred LIMIT 1"):
            return []
        with self._tx(durable=False) as db:
            rows = db.execute("SELECT %s %s" % (_COLUMNS, where)).fetchall()
            db.executemany("DELETE FROM events WHERE id = ?", [(r[0],) for r in rows])
            db.execute("DELETE FROM deferred WHERE id NOT IN (SELECT id FROM events)")
        return [StoredEvent(r) for r in rows]

    # -- inspection and operations --
    def prune_last_seen(self):
        if self.dedupe_window_s:
            with self._tx(durable=False) as db:
                db.execute("DELETE FROM last_seen WHERE received_at < ?", (self.clock() - self.dedupe_window_s,))

    def depth(self):
        return self._read("SELECT COUNT(*) FROM events")[0][0]

    def dead_count(self):
        return self._read("SELECT COUNT(*) FROM dead_letters")[0][0]

    def pending(self):
        return [StoredEvent(r) for r in self._read("SELECT %s FROM events ORDER BY id" % _COLUMNS)]

    def dead_letters(self):
        rows = self._read("SELECT %s, dead_at FROM dead_letters ORDER BY id" % _COLUMNS)
        return [StoredEvent(r[:-1], dead_at=r[-1]) for r in rows]

    def requeue(self, ids=None):
        """Move dead letters (all when *ids* is None) back to the queue with a fresh attempt count.

        They keep their original id, so each goes back in front of any later event of its VM still queued.
        Returns the ids requeued.
        """
        now = self.clock()
        with self._tx() as db:
            if ids is None:
                ids = [r[0] for r in db.execute("SELECT id FROM dead_letters ORDER BY id")]
            found = []
            for i in ids:
                cur = db.execute(
                    "INSERT INTO events (id, vm_uuid, event_type, body, body_sha256, received_at, attempts, "
                    "next_attempt_at, last_error, prism, origin) SELECT id, vm_uuid, event_type, body, body_sha256, "
                    "received_at, 0, ?, last_error, prism, origin FROM dead_letters WHERE id = ?", (now, i))
                if cur.rowcount:
                    db.execute("DELETE FROM dead_letters WHERE id = ?", (i,))
                    found.append(i)
        return found

    def delete_dead(self, ids=None):
        with self._tx() as db:
            if ids is None:
                return db.execute("DELETE FROM dead_letters").rowcount
            return sum(db.execute("DELETE FROM dead_letters WHERE id = ?", (i,)).rowcount for i in ids)


class _Transaction(object):
    """``with`` block = one IMMEDIATE transaction under the queue's write lock; rolled back on error."""

    def __init__(self, queue, durable):
        self.queue = queue
        self.db = queue._db  # pylint: disable=protected-access
        self.lock = queue._lock  # pylint: disable=protected-access
        self.durable = durable

    def __enter__(self):
        self.lock.acquire()
        try:
            self.queue._set_durable(self.durable)  # pylint: disable=protected-access
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        return self.db

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                try:
                    self.db.execute("COMMIT")
                except sqlite3.Error:
                    # e.g. disk full: leave no half-open transaction behind for the next caller.
                    if self.db.in_transaction:
                        self.db.execute("ROLLBACK")
                    raise
            elif self.db.in_transaction:
                self.db.execute("ROLLBACK")
        finally:
            self.lock.release()
        return False
