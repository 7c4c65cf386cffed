"""The latency model: one management plane that serves API calls one at a time, in the order they arrive.

A call costs ``per_call_seconds`` plus its User-ID entries at the platform's registration and unregistration
rates. It waits for the calls ahead of it, then for its own cost, and only then takes effect and is answered -
so clients that send in parallel share one plane's throughput instead of each getting it (a sleep per request in
parallel threads would not bound anything). Off by default: the simulator then answers at once.
"""
import contextlib
import itertools
import threading
import time

from lxml import etree

from tests.simulators.panos.xmlapi import safe_parser


def uid_entries(cmd):
    """(registrations, unregistrations) in a User-ID message; (0, 0) when it does not parse."""
    try:
        message = etree.fromstring(str(cmd or "").strip().encode("utf-8"), safe_parser())
    except (etree.XMLSyntaxError, ValueError):
        return 0, 0
    return len(message.findall("payload/register/entry")), len(message.findall("payload/unregister/entry"))


class ManagementPlane(object):
    """A single server with a FIFO queue, in real time (time.monotonic), with its own accounting."""

    def __init__(self, latency):
        self.latency = latency
        self._cond = threading.Condition()
        self._free_at = 0.0                  # when the plane finishes everything it has accepted
        self._tickets = itertools.count()
        self._turn = 0                       # the ticket whose call takes effect next
        self.reset_stats()

    def cost(self, kind, params):
        """Seconds of management-plane time one API call takes."""
        seconds = self.latency.per_call_seconds
        if kind == "user-id":
            registrations, unregistrations = uid_entries(params.get("cmd"))
            seconds += registrations / self.latency.registrations_per_second
            seconds += unregistrations / self.latency.unregistrations_per_second
        return seconds

    @contextlib.contextmanager
    def serving(self, seconds):
        """Wait for this call's turn and its cost; the body (the call's effect) runs in arrival order."""
        with self._cond:
            arrived = time.monotonic()
            start = max(arrived, self._free_at)
            self._free_at = done = start + seconds
            ticket = next(self._tickets)
            self._calls += 1
            self._busy += seconds
            self._waited += start - arrived
            self._longest_wait = max(self._longest_wait, start - arrived)
        delay = done - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        with self._cond:
            while self._turn != ticket:      # a call that woke early still goes after the ones ahead of it
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._turn += 1
                self._cond.notify_all()

    def stats(self):
        with self._cond:
            return {"calls": self._calls, "busy_seconds": round(self._busy, 6),
                    "queued_seconds": round(self._waited, 6), "longest_queue_seconds": round(self._longest_wait, 6),
                    "per_call_seconds": self.latency.per_call_seconds,
                    "registrations_per_second": self.latency.registrations_per_second,
                    "unregistrations_per_second": self.latency.unregistrations_per_second}

    def reset_stats(self):
        with self._cond:
            self._calls = 0
            self._busy = 0.0
            self._waited = 0.0
            self._longest_wait = 0.0
