# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service in one object: queue + plugin + dispatcher + Flask app, with start/stop and health.

It lives in the process that serves HTTP (gunicorn's single worker), so the app, the queue and the
dispatcher share one process; a lock file next to the queue keeps a second process from dispatching
from the same queue.
"""
import datetime
import fcntl
import logging
import os
import time

from .api import PluginContext, load_plugin_class, plugin_logger
from .app import create_app
from .config import POLL_SOURCES, prism_entries
from .dispatcher import Dispatcher
from .logs import redact
from .metrics import Metrics
from .poller import Poller
from .store import EventQueue

log = logging.getLogger("netevents_listener.service")


class ServiceError(Exception):
    """The service cannot start."""


def _iso(epoch):
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="seconds")


def _safe(fn):
    def call():
        try:
            return float(fn())
        except Exception:  # pylint: disable=broad-except
            return float("nan")
    return call


class Service(object):
    def __init__(self, config):
        self.config = config
        self.metrics = Metrics()
        self.plugin_class = load_plugin_class(config.plugin.name)
        self.plugin = self.plugin_class()
        self.queue = None
        self.dispatcher = None
        self.pollers = []
        self._lock_file = None
        self.stopping = False
        self.app = None

    def start(self, lock_timeout=15.0):
        cfg = self.config
        self._lock_file = self._acquire_lock(cfg.queue.path + ".lock", lock_timeout)
        self.queue = EventQueue(cfg.queue.path, dedupe_window_s=cfg.queue.dedupe_window_s)
        self.metrics.queue_depth.set_function(_safe(self.queue.depth))
        self.metrics.dead_letters.set_function(_safe(self.queue.dead_count))
        context = PluginContext(cfg.plugin.options, cfg, plugin_logger(self.plugin_class),
                                os.path.dirname(cfg.queue.path), self.metrics.registry)
        self.plugin.start(context)
        self.dispatcher = Dispatcher(self.queue, self.plugin, cfg.queue, self.metrics)
        self.app = create_app(cfg.listener, self.queue, self.metrics, self.status, self.dispatcher.notify,
                              prisms=getattr(cfg, "prisms", None) or ())
        self.dispatcher.start()
        # One poller per Prism entry that is polled (none without a prism section), after the dispatcher: they
        # wake it.
        self.pollers = [Poller(entry, self.queue, self.metrics, self.dispatcher.notify).start()
                        for entry in prism_entries(cfg) if entry.source in POLL_SOURCES]
        receives = getattr(cfg.listener, "receive_webhooks", True)
        log.info("listener started", extra={"plugin": cfg.plugin.name, "path": cfg.listener.path if receives else None,
                                            "polling": [p.name for p in self.pollers],
                                            "queue_depth": self.queue.depth(),
                                            "dead_letters": self.queue.dead_count()})
        return self

    def stop(self, timeout=None):
        """Finish the running batch, stop the plugin, close the queue. Safe to call twice."""
        if self.stopping:
            return
        self.stopping = True
        timeout = self.config.listener.shutdown_timeout_s if timeout is None else timeout
        finished = True
        for poller in self.pollers:
            # First: nothing new is queued while the dispatcher finishes. A cycle stuck in a Prism call is left to
            # its timeout; what it would write is one transaction, made or not.
            if not poller.stop(min(timeout, 10.0)):
                log.warning("the poll of Prism %s did not stop within %ss", poller.name, min(timeout, 10.0))
        if self.dispatcher is not None:
            finished = self.dispatcher.stop(timeout)
        if not finished:
            # Never call stop() while handle_batch still runs; the batch's events stay queued for next time.
            log.error("the running batch did not finish within %ss; its events stay queued", timeout)
        else:
            try:
                self.plugin.stop()
            except Exception:  # pylint: disable=broad-except
                log.exception("plugin stop failed")
        if self.queue is not None:
            try:
                log.info("listener stopped", extra={"queue_depth": self.queue.depth()})
            except Exception as e:  # pylint: disable=broad-except
                log.info("listener stopped (queue unreadable: %s)", e)
            self.queue.close()
        if self._lock_file is not None:
            self._lock_file.close()

    def status(self):
        """The /healthz document. ok is false while the dispatcher is down or paused, the queue unreadable, the
        plugin unhealthy (e.g. a firewall refusing our credentials), or the service stopping."""
        doc = {"ok": True, "plugin": self.config.plugin.name}
        try:
            doc["queue_depth"] = self.queue.depth()
            doc["dead_letters"] = self.queue.dead_count()
        except Exception as e:  # pylint: disable=broad-except
            doc["ok"] = False
            doc["queue_error"] = redact(str(e))
        d = self.dispatcher
        doc["dispatcher"] = d.health()
        try:
            doc["plugin_health"] = dict(self.plugin.health())
        except Exception as e:  # pylint: disable=broad-except
            doc["plugin_health"] = {"ok": False, "error": "health() failed: %s" % redact(str(e))}
        if not doc["plugin_health"].get("ok") or "paused" in doc["dispatcher"]:
            doc["ok"] = False
        doc["last_plugin_error"] = None if d.last_error is None else {
            "time": _iso(d.last_error["time"]), "message": d.last_error["message"]}
        doc["last_applied"] = _iso(d.last_success)
        if self.pollers:
            # Reported, not counted against ok: the webhooks (source both) and the queue still work; alert on
            # netevents_listener_poll_failures_total or on the last success's age.
            doc["poll"] = dict((p.name, dict(p.health(), last_success=_iso(p.last_success))) for p in self.pollers)
        if not d.alive or self.stopping:
            doc["ok"] = False
        if self.stopping:
            doc["stopping"] = True
        return doc

    @staticmethod
    def _acquire_lock(path, timeout):
        """One dispatcher per queue. Waits a little: a previous instance may still be finishing its batch."""
        try:
            f = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+")
        except OSError as e:
            raise ServiceError("cannot use the queue's directory %s: %s" % (os.path.dirname(path), e.strerror))
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                f.seek(0)
                f.truncate()
                f.write("%d\n" % os.getpid())
                f.flush()
                return f
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    f.seek(0)
                    holder = f.read().strip() or "?"
                    f.close()
                    raise ServiceError("another listener (pid %s) is using the queue %s" % (holder, path[:-5]))
                time.sleep(0.2)
