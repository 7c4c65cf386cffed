"""Fault injection: refuse connections (the listening socket closes, then reopens on the same port with the same
certificate) or answer every API call with an HTTP error, for a while."""
import sys
import threading
import time

from flask import Response


class Faults(object):
    """Mixin of PanosSimulator: ``self._fault`` ("error", until, status) and the timer that ends a refusal."""

    def fault(self, mode, seconds=None, status=503):
        """Misbehave for *seconds*: mode "refuse" closes the listening socket (connections refused) and reopens
        the same port afterwards; "error" answers every API call with HTTP *status*; None/"none" ends a fault."""
        if mode in (None, "none", "clear"):
            self.clear_fault()
            return
        if mode not in ("refuse", "error"):
            raise ValueError("fault mode must be 'refuse', 'error' or None, not %r" % (mode,))
        seconds = float(seconds if seconds is not None else 5)
        if not 0 < seconds <= 3600:
            raise ValueError("fault seconds must be in (0, 3600]")
        if mode == "error":
            status = int(status)
            if not 400 <= status <= 599:
                raise ValueError("fault status must be an HTTP error status (400-599)")
            with self._lock:
                self._fault = ("error", time.monotonic() + seconds, status)
            return
        self._server.suspend()
        self._cancel_resume()
        self._resume_timer = threading.Timer(seconds, self._resume)
        self._resume_timer.daemon = True
        self._resume_timer.start()

    def clear_fault(self):
        with self._lock:
            self._fault = None
        self._cancel_resume()
        self._resume()

    def _fault_request(self, body):
        """POST /_sim/fault: (JSON answer, HTTP status)."""
        if not isinstance(body, dict):
            return {"error": 'send JSON {"mode": "refuse"|"error"|"none", "seconds": S, "status": 503}'}, 400
        mode = body.get("mode")
        if mode not in ("refuse", "error", "none"):
            return {"error": 'mode must be "refuse", "error" or "none"'}, 400
        try:
            seconds = float(body.get("seconds", 5))
            status = int(body.get("status", 503))
            if mode == "refuse":
                if not 0 < seconds <= 3600:
                    raise ValueError("fault seconds must be in (0, 3600]")
                # Answer first, then close the socket.
                threading.Timer(0.05, self.fault, args=("refuse", seconds)).start()
            else:
                self.fault(mode, seconds, status)
        except (TypeError, ValueError) as e:
            return {"error": str(e)}, 400
        return {"mode": mode, "seconds": seconds, "status": status}, 200

    def _faulted_answer(self):
        """The HTTP error page while an "error" fault lasts (counted), else None. Called under the lock."""
        fault = self._fault
        if fault is not None and time.monotonic() >= fault[1]:
            self._fault = fault = None
        if fault is None:
            return None
        self._faulted += 1
        return Response("<html><head><title>%d Error</title></head><body><center><h1>%d Error</h1></center><hr>"
                        "<center>nginx</center></body></html>\n" % (fault[2], fault[2]), fault[2],
                        mimetype="text/html")

    def _cancel_resume(self):
        timer = self._resume_timer
        if timer is not None:
            timer.cancel()

    def _resume(self):
        if self._stopped or not self._server.suspended:
            return
        for _attempt in range(50):        # the port is ours, but give a closing socket a moment
            try:
                self._server.resume()
                return
            except OSError:
                time.sleep(0.1)
        sys.stderr.write("PAN-OS simulator: could not reopen port %s\n" % self.port)
