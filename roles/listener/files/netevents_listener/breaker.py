# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A circuit breaker: how the listener stops calling a system that is down, and finds out when it is back.

Closed: calls go through. A failure of the whole system (not of one request) opens it: no calls, until a backoff
has passed (``initial_s``, doubling with each failed probe, at most ``max_s``); then ``try_probe()`` lets exactly
one caller through, whose success closes it and whose failure opens it again for longer. The dispatcher pauses with
one (Prism unreachable), and the panos plugin keeps one per firewall.
"""
import datetime
import threading
import time


class CircuitBreaker(object):
    def __init__(self, initial_s, max_s, clock=time.monotonic):
        self.initial_s = float(initial_s)
        self.max_s = max(float(max_s), self.initial_s)
        self.clock = clock
        self._lock = threading.Lock()
        self.failures = 0          # failures in a row (0 while closed)
        self.reason = None         # why it opened: a short phrase ("credentials refused", ...)
        self.error = None          # the last failure's message
        self.opened_at = None      # epoch when it opened
        self._retry_at = None      # clock() when the next probe may go
        self._probing = False

    @property
    def is_open(self):
        return self.failures > 0

    def backoff(self, failures):
        return min(self.max_s, self.initial_s * (2 ** max(0, failures - 1)))

    def retry_in(self):
        """Seconds until a probe may go (0 when one may go now), None while closed."""
        with self._lock:
            if not self.failures:
                return None
            return max(0.0, self._retry_at - self.clock())

    def try_probe(self):
        """True for the one caller that may probe now (open, the backoff over, no probe running)."""
        with self._lock:
            if not self.failures or self._probing or self.clock() < self._retry_at:
                return False
            self._probing = True
            return True

    def release(self):
        """The probe let through by try_probe() was not made after all: the next caller may try."""
        with self._lock:
            self._probing = False

    def failed(self, error, reason=None):
        """The system failed as a whole (a call or the probe): open, or stay open with a longer backoff."""
        with self._lock:
            if not self.failures:
                self.opened_at = time.time()
            self.failures += 1
            self.error, self.reason = str(error), reason
            self._retry_at = self.clock() + self.backoff(self.failures)
            self._probing = False

    def succeeded(self):
        with self._lock:
            self.failures = 0
            self.error = self.reason = self.opened_at = self._retry_at = None
            self._probing = False

    def snapshot(self):
        """For /healthz: {"state": "closed"} or the open breaker's reason, error, failures and next probe."""
        retry = self.retry_in()
        with self._lock:
            if not self.failures:
                return {"state": "closed"}
            return {"state": "probing" if self._probing else "open", "reason": self.reason, "error": self.error,
                    "failures": self.failures, "opened_at": datetime.datetime.fromtimestamp(
                        self.opened_at, datetime.timezone.utc).isoformat(timespec="seconds"),
                    "next_probe_in_s": None if retry is None else round(retry, 3)}
