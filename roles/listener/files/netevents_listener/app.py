# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTP side: receive a webhook, check it, persist it, acknowledge it.

The checks are the collection's one receiver pipeline (module_utils/webhook_receiver.py, shared with the EDA
source), cheapest and least revealing first. Only then is the event written to the queue, and only after the
commit does the caller get its 200. Bad input never gets a 500: every refusal is a short JSON error, an event the
queue cannot take as it is a 400 of its own, and a queue that cannot be written answers 503.

With a path token the webhook's URL is ``<path>/<token>``: no line logged here carries more of a path than
``Screen.loggable_path`` leaves (the token is also a registered secret, masked in every log line anyway).
"""
import logging
import sqlite3

from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException

from ansible_collections.netevents.nutanix.plugins.module_utils.webhook_receiver import IGNORED, MASK, Refused, Screen

from .metrics import event_label
from .store import QueueError, UnstorableEvent

log = logging.getLogger("netevents_listener.http")


def create_app(settings, queue, metrics, status, on_queued=lambda: None, prisms=()):
    """The Flask app.

    settings  -- the ``listener`` section of the configuration
    prisms    -- the ``prism`` entries (config.prisms): a delivery carrying one's path token is that Prism's; any
                 other accepted delivery is the only (first) Prism's
    queue     -- the EventQueue events are written to
    metrics   -- Metrics
    status    -- callable returning the health document (a dict with "ok")
    on_queued -- called after an event is committed (wakes the dispatcher)
    """
    app = Flask("netevents_listener", static_folder=None)
    app.json.sort_keys = False
    if not getattr(settings, "receive_webhooks", True):
        # Every Prism is polled (prism.source: poll) and no webhook credentials are set: no webhook path at all.
        return _add_service_routes(app, metrics, status, lambda path: path, settings)
    secret = getattr(settings, "path_token", None)
    prisms = list(prisms or ())
    screen = Screen(path=settings.path, username=settings.username,
                    password=None if settings.password is None else settings.password.reveal(),
                    path_token=None if secret is None else secret.reveal(), networks=settings.allowed_networks,
                    max_body=settings.max_body_bytes, realm="netevents-listener",
                    path_tokens=dict((p.name, p.path_token.reveal()) for p in prisms
                                     if getattr(p, "path_token", None) is not None))
    # Without a Prism's own token (the listener-wide token, basic auth alone): the only Prism sending webhooks (the
    # loader refuses several such Prisms without a token each; a poll-only one, source: poll, sends none).
    senders = [p for p in prisms if getattr(p, "source", "both") != "poll"] or prisms
    default_prism = senders[0].name if senders else None

    def refuse(refused):
        metrics.refused.labels(refused.reason).inc()
        # What the request carried (auth scheme, path token missing/wrong, the field at fault), never its value:
        # how an operator finds out which credentials their Prism sends.
        carried = "".join(" %s=%s" % item for item in refused.details.items() if item[0] != "field")
        log.warning("refused %s: %s%s", refused.reason, refused.message, " (%s)" % carried.strip() if carried else "",
                    extra=dict(refused.details, status=refused.status, reason=refused.reason,
                               remote_addr=request.remote_addr, method=request.method,
                               path=screen.loggable_path(request.path)))
        response = jsonify(refused.body())
        response.status_code = refused.status
        response.headers.update(refused.headers)
        return response

    def callback(token=None):  # pylint: disable=unused-argument
        # (*token*: the path's last segment, as Flask routes it; the screen reads it from the path itself.)
        try:
            source = screen.check_head(request.remote_addr, request.path, request.headers.get("Authorization"),
                                       request.content_length, request.mimetype)
            try:
                body = request.stream.read(screen.read_limit)
            except Exception:  # pylint: disable=broad-except
                # The server's own exception types: the client's body is at fault, not us.
                raise screen.incomplete()
            _document, event = screen.check_body(body, request.content_length)
        except Refused as refused:
            return refuse(refused)
        prism = source if source is not None else default_prism
        fields = {"event_type": event.event_type, "vm_uuid": event.vm_uuid, "prism": prism}
        for dropped in event.dropped_ips:
            metrics.addresses_dropped.labels(dropped.reason).inc()
            log.warning("address left out of the event: %s", dropped, extra=dict(fields, reason=dropped.reason))
        if not event.known_event:
            metrics.ignored.labels("unknown_type").inc()
            log.info("ignored an event of unknown type", extra=fields)
            return jsonify(IGNORED)
        try:
            event_id = queue.enqueue(event.vm_uuid, event.event_type, body, prism=prism)
        except UnstorableEvent as e:
            return refuse(Refused(400, "unstorable_event", str(e)))
        except (QueueError, sqlite3.Error) as e:
            log.error("cannot queue the event: %s", e, extra=fields)
            return refuse(Refused(503, "queue_unavailable", "the event cannot be stored now; deliver it again later",
                                  {"Retry-After": "5"}))
        if event_id is None:
            metrics.ignored.labels("duplicate").inc()
            log.info("duplicate of the VM's last event, not queued again", extra=fields)
            return jsonify(status="duplicate")
        metrics.received.labels(event_label(event.event_type)).inc()
        log.info("event queued", extra=dict(fields, event_id=event_id))
        on_queued()
        return jsonify(status="queued", id=event_id)

    app.add_url_rule(settings.path, "callback", callback, methods=["POST"], provide_automatic_options=False)
    if screen.path_token is not None:
        # Any path below: a missing or wrong token is a 401 (logged as such), not a 404.
        for rule in ("/", "/<path:token>"):
            app.add_url_rule(settings.path + rule, "callback" + rule, callback, methods=["POST"],
                             provide_automatic_options=False)

    return _add_service_routes(app, metrics, status, screen.loggable_path, settings)


def _add_service_routes(app, metrics, status, loggable_path, settings):
    """/healthz, /metrics and the error handlers, with or without a webhook path."""

    @app.get("/healthz", provide_automatic_options=False)
    def healthz():
        doc = status()
        return jsonify(doc), 200 if doc.get("ok") else 503

    @app.get("/metrics", provide_automatic_options=False)
    def metrics_view():
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.errorhandler(HTTPException)
    def http_error(e):
        name = (e.name or "error").lower().replace(" ", "_")
        if e.code == 405 and loggable_path(request.path) in (settings.path, settings.path + "/" + MASK):
            metrics.refused.labels("method_not_allowed").inc()
        response = jsonify(error=name, message=e.description if e.code != 404 else "no such path")
        response.status_code = e.code or 400
        if e.code == 405:
            response.headers["Allow"] = ", ".join(getattr(e, "valid_methods", None) or [])
        return response

    @app.errorhandler(Exception)
    def internal_error(e):  # pylint: disable=unused-argument
        log.exception("unexpected error while handling %s %s", request.method, loggable_path(request.path))
        response = jsonify(error="internal_error", message="unexpected error; see the listener's log")
        response.status_code = 500
        return response

    return app
