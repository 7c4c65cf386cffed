# Copyright: netevents.nutanix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTP side: receive a webhook, check it, persist it, acknowledge it.

Checks run cheapest and least revealing first: source network (403), credentials (401), declared size (413),
content type (415), the body itself (413 too large, 400 incomplete), JSON (400), event envelope (400). Only
then is the event written to the queue, and only after the commit does the caller get its 200. Bad input never
gets a 500: every refusal is a short JSON error, and a queue that cannot be written answers 503 so Prism
delivers again later.
"""
import json
import logging
import sqlite3

from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException

from ansible_collections.netevents.nutanix.plugins.module_utils.events import EVENT_TYPES, EventError, parse_event
from ansible_collections.netevents.nutanix.plugins.module_utils.webhook_auth import (
    credentials_match, is_json, source_allowed)

from .metrics import event_label
from .store import QueueError

log = logging.getLogger("netevents_listener.http")
REALM = 'Basic realm="netevents-listener", charset="UTF-8"'


def create_app(settings, queue, metrics, status, on_queued=lambda: None):
    """The Flask app.

    settings  -- the ``listener`` section of the configuration
    queue     -- the EventQueue events are written to
    metrics   -- Metrics
    status    -- callable returning the health document (a dict with "ok")
    on_queued -- called after an event is committed (wakes the dispatcher)
    """
    app = Flask("netevents_listener", static_folder=None)
    app.json.sort_keys = False
    username = settings.username
    password = settings.password.reveal()
    networks = list(settings.allowed_networks)
    max_body = settings.max_body_bytes

    def refuse(status_code, reason, message, headers=None):
        metrics.refused.labels(reason).inc()
        log.warning("refused %s: %s", reason, message,
                    extra={"status": status_code, "reason": reason, "remote_addr": request.remote_addr,
                           "method": request.method, "path": request.path})
        response = jsonify(error=reason, message=message)
        response.status_code = status_code
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    def authorized():
        auth = request.authorization
        if auth is None or auth.type != "basic":
            return False
        return credentials_match(auth.username, auth.password, username, password)

    def callback():
        if not source_allowed(request.remote_addr, networks):
            return refuse(403, "source_not_allowed", "this source address may not post events")
        if not authorized():
            return refuse(401, "unauthorized", "missing or wrong credentials", {"WWW-Authenticate": REALM})
        if request.content_length is not None and request.content_length > max_body:
            return refuse(413, "body_too_large", "the body is larger than %d bytes" % max_body)
        if not is_json(request.mimetype):
            return refuse(415, "not_json", "the body must be sent as application/json")
        try:
            body = request.stream.read(max_body + 1)
        except Exception:  # pylint: disable=broad-except
            # Cut connection, broken chunk framing, read timeout (the server's own exception types): the
            # client's body is at fault, not us.
            return refuse(400, "incomplete_body", "the body could not be read completely")
        if len(body) > max_body:
            return refuse(413, "body_too_large", "the body is larger than %d bytes" % max_body)
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            return refuse(400, "malformed_json", "the body is not valid JSON")
        try:
            event = parse_event(document)
        except EventError as e:
            return refuse(400, "not_an_event", "not a Prism event envelope: %s" % e)
        except Exception:  # pylint: disable=broad-except
            # A parser bug must not turn hostile input into a 500; refuse it and keep the traceback.
            log.exception("event parser failed")
            return refuse(400, "not_an_event", "not a Prism event envelope")
        fields = {"event_type": event.event_type, "vm_uuid": event.vm_uuid}
        if event.event_type not in EVENT_TYPES:
            metrics.ignored.labels("unknown_type").inc()
            log.info("ignored an event of unknown type", extra=fields)
            return jsonify(status="ignored", reason="unknown event type")
        try:
            event_id = queue.enqueue(event.vm_uuid, event.event_type, body)
        except (QueueError, sqlite3.Error) as e:
            log.error("cannot queue the event: %s", e, extra=fields)
            return refuse(503, "queue_unavailable", "the event cannot be stored now; deliver it again later",
                          {"Retry-After": "5"})
        if event_id is None:
            metrics.ignored.labels("duplicate").inc()
            log.info("duplicate of the VM's last event, not queued again", extra=fields)
            return jsonify(status="duplicate")
        metrics.received.labels(event_label(event.event_type)).inc()
        log.info("event queued", extra=dict(fields, event_id=event_id))
        on_queued()
        return jsonify(status="queued", id=event_id)

    app.add_url_rule(settings.path, "callback", callback, methods=["POST"], provide_automatic_options=False)

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
        if e.code == 405 and request.path == settings.path:
            metrics.refused.labels("method_not_allowed").inc()
        response = jsonify(error=name, message=e.description if e.code != 404 else "no such path")
        response.status_code = e.code or 400
        if e.code == 405:
            response.headers["Allow"] = ", ".join(getattr(e, "valid_methods", None) or [])
        return response

    @app.errorhandler(Exception)
    def internal_error(e):  # pylint: disable=unused-argument
        log.exception("unexpected error while handling %s %s", request.method, request.path)
        response = jsonify(error="internal_error", message="unexpected error; see the listener's log")
        response.status_code = 500
        return response

    return app
