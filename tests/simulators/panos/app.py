"""The simulator's Flask app: /api/ (the XML API), the web server's own error pages, and the /_sim/ test
controls (no credentials, loopback clients only)."""
from flask import Flask, Response, jsonify, request

from tests.simulators._common import add_test_controls, from_loopback
from tests.simulators.panos.xmlapi import ApiError, error_body, xml_response


def _html(status, title):
    return Response("<html><head><title>%d %s</title></head><body><h1>%s</h1></body></html>\n"
                    % (status, title, title), status, mimetype="text/html")


def make_app(sim):
    app = Flask("panos_simulator")
    # Big User-ID messages (thousands of entries) arrive as one form field.
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024
    app.config["MAX_FORM_MEMORY_SIZE"] = 64 * 1024 * 1024

    @app.before_request
    def _gate():
        if request.path.startswith("/_sim/") and not from_loopback():
            return jsonify({"error": "test-control endpoints answer loopback clients only"}), 403
        return None

    @app.route("/api/", methods=["GET", "POST"], strict_slashes=False)
    def _api():
        return sim._handle_api()

    app.register_error_handler(404, lambda _exc: _html(404, "Not Found"))
    app.register_error_handler(405, lambda _exc: _html(405, "Method Not Allowed"))
    app.register_error_handler(413, lambda _exc: xml_response(
        error_body(ApiError(400, "Request too large", in_result=True)), 413))

    add_test_controls(app, sim)

    @app.route("/_sim/reset-stats", methods=["POST"])
    def _sim_reset_stats():
        sim.reset_stats()
        return jsonify({"reset": True})

    @app.route("/_sim/registered-ips", methods=["GET"])
    def _sim_registered():
        return jsonify(dict((ip, sorted(tags)) for ip, tags in sim.registered_ips().items()))

    @app.route("/_sim/requests", methods=["GET"])
    def _sim_requests():
        with sim._lock:
            return jsonify(list(sim.requests))

    @app.route("/_sim/config/<which>", methods=["GET"])
    def _sim_config(which):
        if which not in ("running", "candidate"):
            return jsonify({"error": "running or candidate"}), 404
        text = sim.running_config() if which == "running" else sim.candidate_config()
        return Response(text, 200, mimetype="application/xml")

    @app.route("/_sim/fault", methods=["POST"])
    def _sim_fault():
        answer, status = sim._fault_request(request.get_json(silent=True))
        return jsonify(answer), status

    return app
