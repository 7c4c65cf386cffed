"""The simulator's Flask app: the v3 routes under /api/nutanix/v3 (HTTP basic auth or an API key, v3 error
bodies), the v4 routes (v4.py) and the /_sim/ test controls (no credentials, loopback clients only)."""
import hmac

from flask import Flask, Response, jsonify, request

from tests.simulators._common import add_test_controls, from_loopback
from tests.simulators.prism.entities import API_VERSION, ApiError, render_vm, render_webhook
from tests.simulators.prism.listing import list_answer

API = "/api/nutanix/v3"
API_KEY_HEADER = "X-ntnx-api-key"
REALM = 'Basic realm="Intent Gateway Login Required"'
# What a real Prism answers to missing or wrong credentials on v3: JSON, the realm repeated in details.
UNAUTHORIZED_BODY = {"state": "ERROR", "code": 401, "message_list": [{
    "reason": "AUTHENTICATION_REQUIRED", "message": "Authentication required.", "details": REALM}],
    "api_version": API_VERSION}


def authorized(sim):
    """Basic auth with the simulator's account, or its API key (when it has one) in X-ntnx-api-key."""
    key = request.headers.get(API_KEY_HEADER)
    if sim.api_key and key is not None:
        return hmac.compare_digest(key.encode("utf-8"), sim.api_key.encode("utf-8"))
    auth = request.authorization
    if auth is None or auth.type != "basic" or auth.username is None:
        return False
    user_ok = hmac.compare_digest(auth.username.encode("utf-8"), sim.username.encode("utf-8"))
    pass_ok = hmac.compare_digest((auth.password or "").encode("utf-8"), sim.password.encode("utf-8"))
    return user_ok and pass_ok


def kind_of_path(path):
    """The entity kind a v3 URL is about (/vms/... -> "vm"), as Prism names it in its errors."""
    if not path.startswith(API + "/"):
        return None
    collection = path[len(API) + 1:].split("/", 1)[0]
    return (collection[:-1] if collection.endswith("s") else collection) or None


def _without_version(entity, with_api_version=True):
    return entity if with_api_version else dict((k, v) for k, v in entity.items() if k != "api_version")


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
            response = jsonify(UNAUTHORIZED_BODY)
            response.status_code = 401
            response.headers["WWW-Authenticate"] = REALM
            return response
        return None

    @app.errorhandler(ApiError)
    def _api_error(exc):
        body = dict(exc.body)
        body["kind"] = body["kind"] or kind_of_path(request.path)
        if body["kind"] is None:
            del body["kind"]
        return jsonify(body), exc.code

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
    if sim.v3_webhooks:  # without them, /webhooks... is as unknown as any other path (a 404)
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
    route("/clusters/list", ["POST"], lambda: list_answer("cluster", sim.cluster_entities(), _without_version))
    route("/tasks/<task_uuid>", ["GET"], sim.get_task)
    sim.v4.register(app)

    @app.route("/_sim/deliveries", methods=["GET"])
    def _sim_deliveries():
        with sim._lock:
            return jsonify(sim.deliveries)

    add_test_controls(app, sim)

    @app.route("/_sim/vms/<vm_uuid>/migrate", methods=["POST"])
    def _sim_migrate(vm_uuid):
        """To the other host, or with {"cluster": name or uuid} to that cluster."""
        cluster = (request.get_json(silent=True) or {}).get("cluster")
        if vm_uuid not in sim.vms:
            raise ApiError(404, "ENTITY_NOT_FOUND", "vm %s not found" % vm_uuid)
        if cluster is not None and not any(cluster in item for item in sim.clusters.items()):
            raise ApiError(404, "ENTITY_NOT_FOUND", "cluster %s not found" % cluster)
        sim.migrate_vm(vm_uuid, cluster=cluster)
        return jsonify({"migrated": vm_uuid})

    return app
