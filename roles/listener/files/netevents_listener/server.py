# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Serve the service with gunicorn: a production WSGI server that also terminates TLS.

(waitress has no TLS; a listener that Prism reaches over the network must be able to serve HTTPS by itself.)

Layout: the gunicorn master binds the socket and supervises ONE worker process (threads for requests);
the worker owns the Service: queue, plugin, dispatcher. One worker, because the dispatcher must be the
only consumer of the queue. SIGTERM: the master closes the socket and asks the worker to stop; the worker
finishes in-flight requests, then the dispatcher finishes its running batch (both within
``listener.shutdown_timeout_s``). Signals that would start a second worker (HUP, TTIN, USR2) are ignored:
restart the service to apply a new configuration.
"""
import logging
import ssl
import sys

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.http.errors import InvalidHeader, UnsupportedTransferCoding
from gunicorn.workers.gthread import ThreadWorker

from . import __version__
from .api import PluginError
from .service import Service, ServiceError
from .store import QueueError

log = logging.getLogger("netevents_listener.server")
# gunicorn's "worker failed to boot" exit status: the master then stops instead of respawning the worker.
WORKER_BOOT_ERROR = 3


class _Logger(glogging.Logger):
    """Hand gunicorn's own messages to the service's JSON handler (on the root logger)."""

    def setup(self, cfg):
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.propagate = True


class _Worker(ThreadWorker):
    """gunicorn's gthread worker, except that a Transfer-Encoding it does not know is the client's error: 400, not
    gunicorn's 501. The listener answers bad input with a 4xx, never a 5xx (Prism and monitors read a 5xx as "the
    listener is broken")."""

    def handle_error(self, req, client, addr, exc):
        if isinstance(exc, UnsupportedTransferCoding):
            exc = InvalidHeader("TRANSFER-ENCODING")
        super().handle_error(req, client, addr, exc)


class _Arbiter(Arbiter):
    def _ignored(self):
        self.log.warning("signal ignored: the listener runs exactly one worker; restart it to change its "
                         "configuration")

    handle_hup = handle_ttin = handle_ttou = handle_usr2 = _ignored


def _tls_context(config, default_factory):  # pylint: disable=unused-argument
    context = default_factory()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class ListenerServer(BaseApplication):
    def __init__(self, config):
        self.config = config
        self.service = None
        super().__init__(prog="netevents-listener")

    def load_config(self):
        lc = self.config.listener
        host = "[%s]" % lc.host if ":" in lc.host else lc.host
        settings = {
            "bind": ["%s:%d" % (host, lc.port)],
            "workers": 1,
            "worker_class": _Worker,
            "threads": lc.threads,
            "graceful_timeout": lc.shutdown_timeout_s,
            "timeout": 60,
            "keepalive": 5,
            "proc_name": "netevents-listener",
            "logger_class": _Logger,
            "loglevel": lc.log_level.lower(),
            # No access log: with a path token, every request line carries a secret (app.py logs refusals
            # itself, with the path masked).
            "accesslog": None,
            "errorlog": "-",
            "preload_app": False,
            "forwarded_allow_ips": "",
            "proxy_protocol": "off",
            "control_socket_disable": True,
            "post_worker_init": self._post_worker_init,
            "worker_exit": self._worker_exit,
        }
        if lc.tls_cert:
            settings.update(certfile=lc.tls_cert, keyfile=lc.tls_key, ssl_context=_tls_context)
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self):
        """Runs in the worker: build and start the service; a clean message and exit 3 if it cannot."""
        try:
            self.service = Service(self.config)
            self.service.start()
        except Exception as e:  # pylint: disable=broad-except
            expected = isinstance(e, (ServiceError, QueueError, PluginError, OSError))
            log.critical("cannot start: %s", e, exc_info=not expected)
            if self.service is not None:
                self.service.stop(timeout=5)
            sys.exit(WORKER_BOOT_ERROR)
        return self.service.app

    def _post_worker_init(self, worker):
        scheme = "https" if self.config.listener.tls_cert else "http"
        log.info("ready", extra={"pid": worker.pid, "url": "%s://%s:%d%s" % (
            scheme, self.config.listener.host, self.config.listener.port, self.config.listener.path)})

    def _worker_exit(self, server, worker):  # pylint: disable=unused-argument
        if self.service is not None:
            self.service.stop()

    def run(self):
        log.info("starting netevents-listener %s", __version__)
        try:
            _Arbiter(self).run()
        except RuntimeError as e:
            log.critical("cannot start: %s", e)
            sys.exit(1)
