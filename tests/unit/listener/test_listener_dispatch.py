"""Queue + dispatcher with a scripted plugin and a fake clock: order per VM, backoff, dead letters, requeue,
deferrals, pauses without charged attempts, group commit and wake-ups."""
import json
import sqlite3
import threading
import time
import types

import pytest

from listener_helpers import envelope
from netevents_listener.api import Defer, Plugin, PluginError, Unavailable
from netevents_listener import dispatcher as dispatcher_module
from netevents_listener.dispatcher import Dispatcher
from netevents_listener.metrics import Metrics
from netevents_listener.store import EventQueue, QueueError, UnstorableEvent


class Clock(object):
    def __init__(self):
        self.now = 1000000.0

    def __call__(self):
        return self.now


class Crash(BaseException):
    """Stands for the process dying in the middle of a batch."""


class ScriptedPlugin(Plugin):
    """Fails the events whose (vm, event_type) the test lists; records every batch it is handed."""

    def __init__(self):
        self.batches = []
        self.fail = {}          # (vm, type) -> number of attempts that still fail (None: always)
        self.permanent = set()
        self.crash = False

    def handle_batch(self, events):
        self.batches.append([(e.vm_uuid, e.event_type, e.attempt) for e in events])
        if self.crash:
            raise Crash()
        results = []
        for e in events:
            key = (e.vm_uuid, e.event_type)
            if key in self.permanent:
                results.append(PluginError("no such zone", retryable=False))
            elif key in self.fail and (self.fail[key] is None or self.fail[key] > 0):
                if self.fail[key] is not None:
                    self.fail[key] -= 1
                results.append(PluginError("firewall unreachable"))
            else:
                results.append(None)
        return results


def settings(**kw):
    base = dict(batch_max_events=100, batch_window_ms=0, max_attempts=3, backoff_initial_s=1.0,
                backoff_max_s=4.0)
    base.update(kw)
    return types.SimpleNamespace(**base)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def queue(tmp_path, clock):
    q = EventQueue(str(tmp_path / "queue.db"), clock=clock)
    yield q
    q.close()


def make(queue, plugin, clock, **kw):
    return Dispatcher(queue, plugin, settings(**kw), Metrics(), clock=clock)


def put(queue, vm, event_type):
    return queue.enqueue(vm, event_type, json.dumps(envelope(vm, event_type)).encode())


def put_into(outcomes, n, queue, vm):
    """put(), for a thread: its event id, or what it raised, as outcomes[n]."""
    try:
        outcomes[n] = put(queue, vm, "VM.ON")
    except Exception as e:  # pylint: disable=broad-except
        outcomes[n] = e


def step(dispatcher, clock, advance=0.0):
    clock.now += advance
    return dispatcher.run_once()


def test_a_later_event_of_a_vm_waits_for_an_earlier_failing_one(queue, clock):
    plugin = ScriptedPlugin()
    plugin.fail[("A", "VM.ON")] = 2
    d = make(queue, plugin, clock)
    for vm, et in (("A", "VM.ON"), ("B", "VM.ON"), ("A", "VM.OFF"), ("C", "VM.ON")):
        put(queue, vm, et)
    assert step(d, clock) == 3
    assert step(d, clock, 1.0) == 1     # only A's first event: A.OFF must not overtake it
    assert step(d, clock, 2.0) == 1
    assert step(d, clock) == 1          # A.ON applied on its 3rd attempt; now A.OFF
    assert plugin.batches == [
        [("A", "VM.ON", 1), ("B", "VM.ON", 1), ("C", "VM.ON", 1)],
        [("A", "VM.ON", 2)],
        [("A", "VM.ON", 3)],
        [("A", "VM.OFF", 1)],
    ]
    assert queue.depth() == 0 and queue.dead_count() == 0


def test_retries_back_off_exponentially_up_to_the_maximum(queue, clock):
    plugin = ScriptedPlugin()
    plugin.fail[("A", "VM.ON")] = None
    d = make(queue, plugin, clock, max_attempts=10, backoff_initial_s=1.0, backoff_max_s=4.0)
    put(queue, "A", "VM.ON")
    delays = []
    for dummy in range(5):
        step(d, clock)
        delays.append(queue.next_due() - clock.now)
        clock.now = queue.next_due()
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert queue.pending()[0].last_error == "PluginError: firewall unreachable"


def test_after_max_attempts_an_event_is_dead_lettered_and_the_vm_moves_on(queue, clock):
    plugin = ScriptedPlugin()
    plugin.fail[("A", "VM.ON")] = None
    d = make(queue, plugin, clock, max_attempts=3)
    first = put(queue, "A", "VM.ON")
    put(queue, "A", "VM.OFF")
    for dummy in range(3):
        step(d, clock, 10)
    [dead] = queue.dead_letters()
    assert (dead.id, dead.vm_uuid, dead.event_type, dead.attempts) == (first, "A", "VM.ON", 3)
    assert "firewall unreachable" in dead.last_error
    assert json.loads(dead.body) == envelope("A", "VM.ON")
    step(d, clock, 10)
    assert plugin.batches[-1] == [("A", "VM.OFF", 1)]
    assert queue.depth() == 0


def test_a_requeued_dead_letter_goes_before_later_queued_events_of_its_vm(queue, clock):
    plugin = ScriptedPlugin()
    plugin.fail[("A", "VM.ON")] = None
    d = make(queue, plugin, clock, max_attempts=1)
    first = put(queue, "A", "VM.ON")
    step(d, clock)
    assert [e.id for e in queue.dead_letters()] == [first]
    put(queue, "A", "VM.UPDATE")
    del plugin.fail[("A", "VM.ON")]
    assert queue.requeue([first]) == [first]
    assert queue.dead_count() == 0
    step(d, clock, 1)
    step(d, clock, 1)
    assert plugin.batches[1:] == [[("A", "VM.ON", 1)], [("A", "VM.UPDATE", 1)]]
    assert queue.depth() == 0


def test_a_permanent_failure_is_dead_lettered_at_once(queue, clock):
    plugin = ScriptedPlugin()
    plugin.permanent.add(("A", "VM.ON"))
    d = make(queue, plugin, clock, max_attempts=10)
    put(queue, "A", "VM.ON")
    step(d, clock)
    assert [(e.attempts, e.last_error) for e in queue.dead_letters()] == [(1, "PluginError: no such zone")]


def test_a_batch_that_raises_fails_every_event_in_it(queue, clock):
    class Raising(Plugin):
        def handle_batch(self, events):
            raise ConnectionError("refused")

    d = make(queue, Raising(), clock)
    put(queue, "A", "VM.ON")
    put(queue, "B", "VM.ON")
    step(d, clock)
    assert [(e.attempts, e.last_error) for e in queue.pending()] == [(1, "ConnectionError: refused")] * 2
    assert d.last_error["message"] == "ConnectionError: refused"


@pytest.mark.parametrize("returned,expected_failed", [(None, 0), ([None, None], 0), ([None], 1), ([], 2)])
def test_none_means_success_and_missing_results_are_failures(queue, clock, returned, expected_failed):
    class Fixed(Plugin):
        def handle_batch(self, events):
            return returned

    d = make(queue, Fixed(), clock)
    put(queue, "A", "VM.ON")
    put(queue, "B", "VM.ON")
    step(d, clock)
    assert queue.depth() == expected_failed


@pytest.fixture
def short_waits(monkeypatch):
    """The fake clock does not move while the dispatcher waits: keep those (real) waits short."""
    monkeypatch.setattr(dispatcher_module, "_IDLE_POLL_S", 0.01)


def test_prism_unavailable_charges_no_attempt_and_pauses_until_a_probe_batch_goes_through(queue, clock, short_waits):
    class PrismDown(ScriptedPlugin):
        down = True

        def handle_batch(self, events):
            if self.down:
                self.batches.append([(e.vm_uuid, e.event_type, e.attempt) for e in events])
                raise Unavailable("cannot read VMs from Prism: connection refused")
            return super().handle_batch(events)

    plugin = PrismDown()
    metrics = Metrics()
    d = Dispatcher(queue, plugin, settings(max_attempts=2, backoff_initial_s=1.0, backoff_max_s=4.0), metrics,
                   clock=clock)
    put(queue, "A", "VM.ON")
    put(queue, "B", "VM.ON")
    pauses = []
    for dummy in range(5):                 # far more rounds than max_attempts
        assert step(d, clock) == 2         # the probe batch: every event, none charged
        pauses.append(d.pause.retry_in())
        assert [e.attempts for e in queue.pending()] == [0, 0]
        assert d.health()["paused"]["reason"] == "prism"
        assert step(d, clock, pauses[-1] / 2) == 0     # paused: no batch before the backoff is over
        clock.now += pauses[-1]
    assert pauses == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert queue.dead_count() == 0 and metrics.paused._value.get() == 1
    plugin.down = False
    assert step(d, clock) == 2
    assert queue.depth() == 0 and not d.pause.is_open and "paused" not in d.health()
    assert metrics.paused._value.get() == 0
    assert [b[0][2] for b in plugin.batches] == [1] * 6   # every try was the first attempt


def test_a_deferred_event_costs_no_attempt_and_a_newer_event_of_its_vm_supersedes_it(queue, clock, short_waits):
    class WaitingForIp(ScriptedPlugin):
        def handle_batch(self, events):
            self.batches.append([(e.vm_uuid, e.event_type, e.attempt) for e in events])
            return [Defer(5, "no IP yet") if e.event_type == "VM.ON" else None for e in events]

    plugin = WaitingForIp()
    metrics = Metrics()
    d = Dispatcher(queue, plugin, settings(max_attempts=2), metrics, clock=clock)
    on = put(queue, "A", "VM.ON")
    put(queue, "B", "VM.UPDATE")
    assert step(d, clock) == 2
    for dummy in range(3):
        assert step(d, clock, 4.9) == 0                # not due yet
        assert step(d, clock, 0.1) == 1                # due again: still not ready
    [waiting] = queue.pending()
    assert (waiting.id, waiting.attempts, waiting.last_error) == (on, 0, "deferred: no IP yet")
    put(queue, "A", "VM.OFF")                           # a newer hint of the same VM
    assert step(d, clock) == 1
    assert plugin.batches[-1] == [("A", "VM.OFF", 1)]
    assert queue.depth() == 0 and queue.dead_count() == 0
    assert metrics.superseded.labels("VM.ON")._value.get() == 1
    assert metrics.deferred.labels("VM.ON")._value.get() == 4
    assert plugin.batches == [[("A", "VM.ON", 1), ("B", "VM.UPDATE", 1)]] + [[("A", "VM.ON", 1)]] * 3 + [
        [("A", "VM.OFF", 1)]]


def test_an_attempt_is_counted_before_running_so_a_crashing_event_ends_in_the_dead_letters(queue, clock):
    plugin = ScriptedPlugin()
    plugin.crash = True
    d = make(queue, plugin, clock, max_attempts=2)
    put(queue, "A", "VM.ON")
    for dummy in range(2):
        with pytest.raises(Crash):
            step(d, clock, 10)
    assert queue.pending()[0].attempts == 2
    plugin.crash = False
    step(d, clock, 10)
    [dead] = queue.dead_letters()
    assert "gave up after 2 attempts" in dead.last_error
    assert len(plugin.batches) == 2


def test_a_batch_waits_for_the_window_unless_it_is_full(queue, clock):
    plugin = ScriptedPlugin()
    d = make(queue, plugin, clock, batch_window_ms=20, batch_max_events=2)
    put(queue, "A", "VM.ON")
    assert step(d, clock) == 0                 # alone and young: wait for company
    put(queue, "B", "VM.ON")
    put(queue, "C", "VM.ON")
    assert step(d, clock) == 2                 # full: go at once
    assert step(d, clock, 0.02) == 1           # window over
    assert [len(b) for b in plugin.batches] == [2, 1]


def test_dispatcher_thread_applies_events_and_stops(queue):
    plugin = ScriptedPlugin()
    d = Dispatcher(queue, plugin, settings(batch_window_ms=10), Metrics())
    d.start()
    try:
        put(queue, "A", "VM.ON")
        d.notify()
        deadline = time.monotonic() + 10
        while queue.depth() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert queue.depth() == 0 and d.alive
    finally:
        assert d.stop(10)
    assert not d.alive


def _wait_until(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.005)
    return predicate()


def test_concurrent_enqueues_share_one_commit_and_each_gets_its_own_id(queue):
    """Group commit: while one writer holds the queue, the others gather and go in one transaction."""
    statements = []
    queue._db.set_trace_callback(statements.append)  # the SQL SQLite really ran on the write connection
    ids = {}

    def send(n):
        ids[n] = put(queue, "vm-%d" % n, "VM.ON")

    threads = [threading.Thread(target=send, args=(n,)) for n in range(10)]
    with queue._lock:  # a writer is busy: the first sender leads a group of one and waits for it ...
        threads[0].start()
        assert _wait_until(lambda: queue._writing and not queue._waiting)
        for t in threads[1:]:  # ... and the others queue up behind it
            t.start()
        assert _wait_until(lambda: len(queue._waiting) == 9)
    for t in threads:
        t.join(10)
    assert sorted(ids) == list(range(10)) and len(set(ids.values())) == 10
    assert sorted(e.id for e in queue.pending()) == sorted(ids.values())
    assert dict((e.id, e.vm_uuid) for e in queue.pending()) == dict((i, "vm-%d" % n) for n, i in ids.items())
    assert statements.count("COMMIT") == 2  # the first sender alone, then the nine that waited together


def test_a_group_that_cannot_be_written_fails_every_sender_and_reports_no_duplicate(queue):
    outcomes = {}
    threads = [threading.Thread(target=put_into, args=(outcomes, n, queue, "vm-%d" % n)) for n in range(4)]
    with queue._lock:
        threads[0].start()
        assert _wait_until(lambda: queue._writing and not queue._waiting)
        for t in threads[1:]:
            t.start()
        assert _wait_until(lambda: len(queue._waiting) == 3)
        queue._db.close()  # the write connection breaks under them (stands for an I/O error)
    for t in threads:
        t.join(10)
    assert len(outcomes) == 4
    assert all(isinstance(o, (QueueError, sqlite3.Error)) for o in outcomes.values()), outcomes


def test_an_event_that_cannot_be_stored_fails_alone_and_the_rest_of_its_group_is_committed(queue, tmp_path):
    """Text SQLite cannot encode (a lone surrogate) reached the insert: before savepoints, the group's leader got
    that exception (a 500) and everyone else in its group a QueueError (503), whatever their own events were."""
    outcomes = {}
    vms = ["vm-0", "vm-1", "vm-\ud800", "vm-3", "vm-4"]
    threads = [threading.Thread(target=put_into, args=(outcomes, n, queue, vm)) for n, vm in enumerate(vms)]
    with queue._lock:
        threads[0].start()
        assert _wait_until(lambda: queue._writing and not queue._waiting)
        for waiting, n in enumerate((2, 1, 3, 4), 1):  # the bad one first: it leads the next group
            threads[n].start()
            assert _wait_until(lambda waiting=waiting: len(queue._waiting) == waiting)
    for t in threads:
        t.join(10)
    assert isinstance(outcomes[2], UnstorableEvent) and "UnicodeEncodeError" in str(outcomes[2])
    assert all(isinstance(outcomes[n], int) for n in (0, 1, 3, 4)), outcomes
    # Read back from the file, on a connection of our own.
    with sqlite3.connect(str(tmp_path / "queue.db")) as db:
        rows = dict(db.execute("SELECT id, vm_uuid FROM events"))
        seen = sorted(r[0] for r in db.execute("SELECT vm_uuid FROM last_seen"))
    assert rows == dict((outcomes[n], vms[n]) for n in (0, 1, 3, 4))
    assert seen == ["vm-0", "vm-1", "vm-3", "vm-4"]  # the failed event left nothing behind
    assert put(queue, "vm-5", "VM.ON") > max(rows)  # and the queue goes on


def test_an_event_queued_while_the_dispatcher_looks_is_not_left_for_the_idle_poll(queue, clock, monkeypatch):
    """notify() between the dispatcher's last look at the queue and its wait must still wake it."""
    monkeypatch.setattr(dispatcher_module, "_IDLE_POLL_S", 60.0)
    plugin = ScriptedPlugin()
    d = make(queue, plugin, clock)
    real_next_due = queue.next_due

    def next_due_then_event_arrives():
        due = real_next_due()
        if not plugin.batches and due is None:
            put(queue, "A", "VM.ON")
            d.notify()
        return due
    monkeypatch.setattr(queue, "next_due", next_due_then_event_arrives)
    worker = threading.Thread(target=lambda: (d.run_once(), d.run_once()), daemon=True)
    worker.start()
    worker.join(10)  # with the wake-up lost, the first run_once would sleep for the whole idle poll
    assert not worker.is_alive()
    assert plugin.batches == [[("A", "VM.ON", 1)]]


def test_a_window_wait_is_not_cut_short_by_events_that_cannot_fill_the_batch(queue, clock):
    plugin = ScriptedPlugin()
    d = make(queue, plugin, clock, batch_window_ms=60000, batch_max_events=3)
    put(queue, "A", "VM.ON")
    queries = []
    real_ready = queue.ready
    queue.ready = lambda limit, now=None: queries.append(1) or real_ready(limit, now)
    worker = threading.Thread(target=d.run_once, daemon=True)
    worker.start()
    assert _wait_until(lambda: len(queries) == 1)
    put(queue, "B", "VM.ON")
    d.notify()  # two of three: keep waiting, no new query
    time.sleep(0.05)
    assert worker.is_alive() and len(queries) == 1
    put(queue, "C", "VM.ON")
    d.notify()  # the batch can be full now: look again
    worker.join(10)
    assert not worker.is_alive()
    assert step(d, clock) == 3 and [len(b) for b in plugin.batches] == [3]
