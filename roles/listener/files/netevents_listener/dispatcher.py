# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dispatcher thread: queued events -> plugin, in batches, in order per VM, with retries.

Loop: take the oldest ready event of each VM (at most ``batch_max_events``); if the batch is not full and its
oldest event arrived less than ``batch_window_ms`` ago, wait for more; count the attempt in the queue; hand
the batch to the plugin; record each result in one transaction (done / retry at now + backoff / dead letter).
With the default window of 0 a batch goes as soon as the dispatcher is free: one event alone when the
listener was idle (lowest latency), and everything that arrived while the plugin applied the previous batch
when events come faster than the plugin applies them (batches grow with the load, one batch in flight).
A VM's next event stays queued until its current one succeeds or is dead-lettered. Between batches, about
once a second, the plugin's ``tick()`` runs in this same thread (periodic work such as a full reconcile), so it
never overlaps a batch.

Failures are kept where they happen. An event's own failure is retried with backoff and counts toward
``max_attempts``. An event the plugin defers (``Defer``: not ready yet) is tried again later without counting an
attempt, and a newer event of its VM supersedes it. When the plugin says a system every event needs is down
(``Unavailable``), no event of the batch is charged an attempt and the dispatcher pauses, with a circuit breaker
of its own: after the queue's backoff one batch probes, and its success resumes the work.
"""
import json
import logging
import threading
import time

from ansible_collections.netevents.nutanix.plugins.module_utils.events import EventError, parse_event

from .api import Defer, Event, Unavailable
from .breaker import CircuitBreaker
from .logs import redact
from .metrics import event_label

log = logging.getLogger("netevents_listener.dispatcher")
_MAX_ERROR_LEN = 2000
# The longest the thread sleeps before looking at the queue again (dead letters requeued by the CLI
# from another process only show up this way).
_IDLE_POLL_S = 1.0
# How often the plugin's tick() runs (between batches), for its periodic work.
_TICK_INTERVAL_S = 1.0


def _error_text(exc):
    text = "%s: %s" % (type(exc).__name__, exc) if str(exc) else type(exc).__name__
    return redact(text)[:_MAX_ERROR_LEN]


class Dispatcher(object):
    def __init__(self, queue, plugin, settings, metrics, clock=time.time):
        """settings: the ``queue`` section (batch_max_events, batch_window_ms, max_attempts, backoff_*)."""
        self.queue = queue
        self.plugin = plugin
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self._cond = threading.Condition()
        self._arrivals = 0             # events queued since start (notify); lets a window wait skip wake-ups
        self._stopping = False
        self._thread = None
        self.batch_started = None      # monotonic time the running batch started, or None
        self.last_error = None         # {"time": epoch, "message": str} of the last failure
        self.last_success = None       # epoch of the last applied batch
        self.fatal = None              # why the thread died, if it did
        self._last_tick = None         # monotonic time of the last plugin tick
        # Open while a system every event needs is down (the plugin raised Unavailable): no batch but the probe.
        self.pause = CircuitBreaker(settings.backoff_initial_s, settings.backoff_max_s, clock=clock)

    # -- control --
    def start(self):
        self._thread = threading.Thread(target=self._run, name="dispatcher", daemon=True)
        self._thread.start()
        self.metrics.dispatcher_up.set(1)

    def notify(self):
        """A new event was queued: wake up."""
        with self._cond:
            self._arrivals += 1
            self._cond.notify()

    def stop(self, timeout=None):
        """Stop taking batches; wait for the running one to finish. Returns True when the thread ended."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def alive(self):
        return self._thread is not None and self._thread.is_alive() and self.fatal is None

    def backoff(self, attempts):
        s = self.settings
        return min(s.backoff_max_s, s.backoff_initial_s * (2 ** max(0, attempts - 1)))

    # -- the loop --
    def _wait(self, seconds):
        with self._cond:
            if not self._stopping:
                self._cond.wait(max(0.0, seconds))

    def _wait_for_arrivals(self, seconds, arrivals):
        """Wait until notify() has counted *arrivals* events in all, or for *seconds*. While a batch gathers
        company, an event that cannot fill it is no reason to query the queue again."""
        with self._cond:
            self._cond.wait_for(lambda: self._stopping or self._arrivals >= arrivals, max(0.0, seconds))

    def _run(self):
        try:
            error_delay = self.settings.backoff_initial_s
            last_prune = 0.0
            while not self._stopping:
                self.tick()
                try:
                    self.run_once()
                    error_delay = self.settings.backoff_initial_s
                    if time.monotonic() - last_prune > 60:
                        self.queue.prune_last_seen()
                        last_prune = time.monotonic()
                except Exception as e:  # pylint: disable=broad-except
                    # The queue itself failed (disk full, I/O error): keep trying, the events are safe on disk.
                    self._record_error("dispatcher: %s" % _error_text(e))
                    log.exception("dispatcher error, retrying in %.3gs", error_delay)
                    self._wait(error_delay)
                    error_delay = min(self.settings.backoff_max_s, error_delay * 2)
        except BaseException as e:  # pylint: disable=broad-except
            self.fatal = _error_text(e)
            log.critical("dispatcher thread died: %s", self.fatal)
            raise
        finally:
            self.metrics.dispatcher_up.set(0)

    def tick(self):
        """Give the plugin its periodic turn (at most once per _TICK_INTERVAL_S), in this thread, between batches."""
        now = time.monotonic()
        if self._stopping or (self._last_tick is not None and now - self._last_tick < _TICK_INTERVAL_S):
            return
        self._last_tick = now
        tick = getattr(self.plugin, "tick", None)
        if tick is None:
            return
        try:
            tick()
        except Exception as e:  # pylint: disable=broad-except
            self._record_error("plugin tick: %s" % _error_text(e))
            log.error("plugin tick failed: %s", _error_text(e))

    def run_once(self):
        """One step: dispatch a batch if one is ready, else wait for events. Returns the batch size handled."""
        s = self.settings
        now = self.clock()
        with self._cond:
            arrived = self._arrivals  # before the query: an event queued after it is counted below
        if self.pause.retry_in():
            self._wait(min(_IDLE_POLL_S, self.pause.retry_in()))
            return 0
        self._supersede()
        batch = self.queue.ready(s.batch_max_events, now)
        if not batch:
            due = self.queue.next_due()
            # Counting arrivals also catches an event queued between the query and this wait.
            self._wait_for_arrivals(_IDLE_POLL_S if due is None else min(_IDLE_POLL_S, due - now), arrived + 1)
            return 0
        window_ends = min(e.received_at for e in batch) + s.batch_window_ms / 1000.0
        if len(batch) < s.batch_max_events and now < window_ends:
            self._wait_for_arrivals(window_ends - now, arrived + s.batch_max_events - len(batch))
            return 0
        if self._stopping or (self.pause.is_open and not self.pause.try_probe()):
            return 0
        return self._dispatch(batch)

    def _supersede(self):
        """Drop deferred events that a newer event of their VM replaces (each is only a hint of a change)."""
        for e in self.queue.supersede_deferred():
            self.metrics.superseded.labels(event_label(e.event_type)).inc()
            log.info("deferred event superseded by a newer event of its VM", extra={
                "event_id": e.id, "event_type": e.event_type, "vm_uuid": e.vm_uuid})

    def _dispatch(self, stored):
        s = self.settings
        now = self.clock()
        # Events interrupted max_attempts times (the service died while applying them) give up here.
        spent = [e for e in stored if e.attempts >= s.max_attempts]
        if spent:
            self.queue.finish(dead=[(e.id, "gave up after %d attempts (last: %s)" % (e.attempts, e.last_error))
                                    for e in spent])
            for e in spent:
                self.metrics.dead_lettered.labels(event_label(e.event_type)).inc()
                log.error("event dead-lettered", extra={"event_id": e.id, "event_type": e.event_type,
                                                        "vm_uuid": e.vm_uuid, "attempts": e.attempts})
            stored = [e for e in stored if e.attempts < s.max_attempts]
        events, invalid = [], []
        for e in stored:
            try:
                body = json.loads(e.body)
                events.append(Event(e.id, e.event_type, e.vm_uuid, body, parse_event(body), e.received_at,
                                    e.attempts + 1, prism=e.prism, origin=e.origin))
            except (ValueError, EventError) as exc:  # cannot happen for bodies the app accepted
                invalid.append((e.id, "stored body is not an event: %s" % exc))
        if invalid:
            self.queue.finish(dead=invalid)
        if not events:
            self.pause.release()  # nothing was left to probe with
            return 0
        # Count the attempt and push the retry time before running: a crash mid-batch then backs off too.
        self.queue.claim([(e.id, now + self.backoff(e.attempt)) for e in events])
        results = self._call_plugin(events)
        self._record(events, results)
        return len(events)

    def _call_plugin(self, events):
        self.batch_started = time.monotonic()
        try:
            results = self.plugin.handle_batch(list(events))
        except Unavailable as e:
            results = [e] * len(events)
        except Exception as e:  # pylint: disable=broad-except
            log.warning("plugin failed the whole batch: %s", _error_text(e), extra={"batch_size": len(events)})
            results = [e] * len(events)
        finally:
            self.metrics.batch_duration.observe(time.monotonic() - self.batch_started)
            self.batch_started = None
        if results is None:
            return [None] * len(events)
        try:
            results = list(results)
        except TypeError:
            results = []
        if len(results) != len(events):
            error = RuntimeError("plugin returned %d results for %d events" % (len(results), len(events)))
            results = (results + [error] * len(events))[:len(events)] if len(results) < len(events) \
                else results[:len(events)]
        return results

    def _record(self, events, results):
        s = self.settings
        now = self.clock()
        done, retry, dead, refund, defer = [], [], [], [], []
        down = next((r for r in results if isinstance(r, Unavailable)), None)
        self._pause_or_resume(down)
        for event, result in zip(events, results):
            label = event_label(event.event_type)
            fields = {"event_id": event.id, "event_type": event.event_type, "vm_uuid": event.vm_uuid,
                      "attempt": event.attempt}
            if result is None or result is True:
                done.append(event.id)
                self.metrics.applied.labels(label).inc()
                self.metrics.apply_latency.observe(max(0.0, now - event.received_at))
                log.info("event applied", extra=fields)
                continue
            if isinstance(result, Defer):
                defer.append((event.id, "deferred: %s" % redact(result.reason)[:_MAX_ERROR_LEN], now + result.seconds))
                self.metrics.deferred.labels(label).inc()
                log.info("event deferred for %.3gs: %s", result.seconds, redact(result.reason), extra=fields)
                continue
            if isinstance(result, Unavailable):
                # Not this event's fault: it waits for the pause to end, its attempt given back.
                refund.append((event.id, _error_text(result), now + (self.pause.retry_in() or 0.0)))
                self.metrics.refunded.inc()
                continue
            error = _error_text(result) if isinstance(result, BaseException) else redact(str(result))[:_MAX_ERROR_LEN]
            retryable = getattr(result, "retryable", True)
            self.metrics.failed.labels(label).inc()
            self._record_error(error)
            if not retryable or event.attempt >= s.max_attempts:
                dead.append((event.id, error))
                self.metrics.dead_lettered.labels(label).inc()
                log.error("event dead-lettered: %s", error, extra=dict(fields, retryable=retryable))
            else:
                delay = self.backoff(event.attempt)
                retry.append((event.id, error, now + delay))
                log.warning("event failed, retry in %.3gs: %s", delay, error, extra=fields)
        self.queue.finish(done=done, retry=retry, dead=dead, refund=refund, defer=defer)
        if done:
            self.last_success = now

    def _pause_or_resume(self, down):
        """A batch said a system is down (pause, or pause longer), or it went through (resume)."""
        if down is not None:
            error = _error_text(down)
            self._record_error(error)
            self.pause.failed(error, getattr(down, "scope", None))
            self.metrics.paused.set(1)
            log.warning("%s unavailable: dispatching paused, next try in %.3gs (no attempt counted): %s",
                        getattr(down, "scope", "a system"), self.pause.retry_in() or 0.0, error)
        elif self.pause.is_open:
            self.pause.succeeded()
            self.metrics.paused.set(0)
            log.info("dispatching resumed")

    def health(self):
        """The dispatcher's part of /healthz."""
        running = None if self.batch_started is None else round(time.monotonic() - self.batch_started, 3)
        doc = {"alive": self.alive, "batch_running_s": running}
        if self.pause.is_open:
            doc["paused"] = self.pause.snapshot()
        if self.fatal:
            doc["error"] = self.fatal
        return doc

    def _record_error(self, message):
        self.last_error = {"time": self.clock(), "message": message}
