"""The simulator's Flask app: the v3 routes under /api/nutanix/v3 (HTTP basic auth, v3 error bodies) and the
/_sim/ test controls (no credentials, loopback clients only)."""
import hmac

from flask import Flask, Response, jsonify, request

from tests.simulators._common import add_test_controls, from_loopback
from tests.simulators.prism.entities import ApiError, render_vm, render_webhook
from tests.simulators.prism.listing import list_answer

API = "/api/nutanix/v3"
UNAUTHORIZED_BODY = (
    "<!DOCTYPE html>\n<html><head><title>401 Unauthorized</title></head>"
    "<body><h1>401 Unauthorized</h1><p>Authentication required.</p></body></html>\n"
)


def authorized(sim):
    auth = request.authorization
    if auth is None or auth.type != "basic" or auth.username is None:
        return False
    user_ok = hmac.compare_digest(auth.username.encode("utf-8"), sim.username.encode("utf-8"))
    pass_ok = hmac.compare_digest((auth.password or "").encode("utf-8"), sim.password.encode("utf-8"))
    return user_ok and pass_ok


def make_app(sim):
    app = Flask("prism_simulator")

    @app.before_request
    def _gate():
        if request.path.startswith("/_sim/"):
            return None if from_loopback() else Response("forbidden\n", 403, mimetype="text/plain")
        with sim._lock:
            rule = request.url_rule.rule if request.url_rule is not None else request.path
            sim._calls["%s %s" % (request.method, rule)] += 1
            sim._settle()
        if request.path.startswith(API) and not authorized(sim):
            # Like Prism: a 401 that is not JSON, so clients must check the status before parsing.
            return Response(UNAUTHORIZED_BODY, 401, mimetype="text/html",
                            headers={"WWW-Authenticate": 'Basic realm="Intent Gateway Login Required"'})
        return None

    @app.errorhandler(ApiError)
    def _api_error(exc):
        return jsonify(exc.body), exc.code

    @app.errorhandler(404)
    def _not_found(_exc):
        return _api_error(ApiError(404, "ENTITY_NOT_FOUND", "The requested URL %s was not found." % request.path))

    @app.errorhandler(405)
    def _not_allowed(_exc):
        return _api_error(ApiError(405, "METHOD_NOT_ALLOWED", "Method %s is not allowed on %s." % (
            request.method, request.path)))

    def route(rule, methods, fn):
        def view(*args, **kwargs):
            with sim._lock:
                return fn(*args, **kwargs)
        app.add_url_rule(API + rule, endpoint="%s %s" % (methods[0], rule), view_func=view, methods=methods)

    route("/users/me", ["GET"], sim.users_me)
    route("/webhooks", ["POST"], sim.create_webhook)
    route("/webhooks/list", ["POST"], lambda: list_answer("webhook", sim.webhooks, render_webhook))
    route("/webhooks/<entity_uuid>", ["GET"], sim.get_webhook)
    route("/webhooks/<entity_uuid>", ["PUT"], sim.update_webhook)
    route("/webhooks/<entity_uuid>", ["DELETE"], lambda entity_uuid: sim._delete(
        sim.webhooks, "webhook", entity_uuid))
    route("/vms", ["POST"], sim.create_vm)
    route("/vms/list", ["POST"], lambda: list_answer("vm", sim.vms, render_vm))
    route("/vms/<entity_uuid>", ["GET"], sim.get_vm)
    route("/vms/<entity_uuid>", ["PUT"], sim.update_vm)
    route("/vms/<entity_uuid>", ["DELETE"], lambda entity_uuid: sim._delete(
        sim.vms, "vm", entity_uuid, on_deleted=lambda vm: sim._emit("VM.DELETE", vm)))
    route("/tasks/<task_uuid>", ["GET"], sim.get_task)

    @app.route("/_sim/deliveries", methods=["GET"])
    def _sim_deliveries():
        with sim._lock:
            return jsonify(sim.deliveries)

    add_test_controls(app, sim)

    @app.route("/_sim/vms/<vm_uuid>/migrate", methods=["POST"])
    def _sim_migrate(vm_uuid):
        if vm_uuid not in sim.vms:
            raise ApiError(404, "ENTITY_NOT_FOUND", "vm %s not found" % vm_uuid)
        sim.migrate_vm(vm_uuid)
        return jsonify({"migrated": vm_uuid})

    return app
