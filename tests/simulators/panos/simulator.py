"""PanosSimulator: the state of one firewall (or Panorama), the test controls, and the front door: the Flask app,
then for /api/ authentication and dispatch by ``type=`` to the mixins that implement each part of the XML API."""
import base64
import collections
import copy
import hmac
import secrets
import sys
import threading
import time
import traceback

from flask import Flask, Response, jsonify, request
from lxml import etree

from tests.simulators._common import Simulator, add_test_controls, from_loopback
from tests.simulators.panos.commits import Commits
from tests.simulators.panos.config import ConfigApi
from tests.simulators.panos.faults import Faults
from tests.simulators.panos.initial import initial_config
from tests.simulators.panos.ops import OpCommands
from tests.simulators.panos.userid import UserId
from tests.simulators.panos.xmlapi import ApiError, error_body, illegal, missing, result_children, xml_response


def _html(status, title):
    return Response("<html><head><title>%d %s</title></head><body><h1>%s</h1></body></html>\n"
                    % (status, title, title), status, mimetype="text/html")


class PanosSimulator(ConfigApi, Commits, OpCommands, UserId, Faults, Simulator):
    """A PA-VM firewall's XML API on https://127.0.0.1:PORT/api/ (see the package docstring)."""

    def __init__(self, username="admin", password="admin", host="127.0.0.1", port=0, commit_seconds=0.2,
                 model="PA-VM", sw_version="10.2.9-h1", serial="007951000123456", hostname="PA-VM",
                 device_groups=("branch-offices",)):
        """model "Panorama" makes a Panorama with *device_groups* (shared and device-group objects and policy, no
        vsys, no registered IPs of its own); any other model is a single-vsys firewall."""
        self.username = username
        self._password = password
        self.commit_seconds = float(commit_seconds)
        self.model = model
        self.sw_version = sw_version
        self.serial = serial
        self.hostname = hostname
        self.device_groups = tuple(device_groups)
        self._lock = threading.RLock()
        self._clock_offset = 0.0
        self._started = time.time()
        self._api_key = self._new_key()
        self._fault = None            # ("error", until_monotonic, status)
        self._resume_timer = None
        self._stopped = False
        self.requests = collections.deque(maxlen=5000)   # what clients asked (never keys or passwords)
        self._reset_state()
        self.reset_stats()
        super(PanosSimulator, self).__init__(self._make_app(), host=host, port=port)

    @property
    def is_panorama(self):
        return self.model.startswith(("Panorama", "M-"))

    @property
    def api_key(self):
        return self._api_key

    def stop(self):
        self._stopped = True
        self._cancel_resume()
        super(PanosSimulator, self).stop()

    # -------------------------------------------------------------- test controls
    def stats(self):
        with self._lock:
            self._settle()
            return {
                "calls": dict(self._calls),
                "config_actions": dict(self._config_actions),
                "ops": dict(self._ops),
                "commits": self._commits,
                "commits_failed": self._commits_failed,
                "faulted": self._faulted,
                "internal_errors": self._internal_errors,
                "registered_ips": len(self._registered),
                "jobs": len(self._jobs),
            }

    def reset_stats(self):
        with self._lock:
            self._calls = collections.Counter()
            self._config_actions = collections.Counter()
            self._ops = collections.Counter()
            self._commits = 0
            self._commits_failed = 0
            self._faulted = 0
            self._internal_errors = 0
            self.requests.clear()

    def reset(self):
        """Back to the initial configuration, no jobs, no registered IPs, zero counters."""
        with self._lock:
            self._reset_state()
            self.reset_stats()

    def registered_ips(self):
        """Current User-ID state: {ip: set(tags)} (expired tags removed)."""
        with self._lock:
            self._settle()
            return dict((ip, set(tags)) for ip, tags in self._registered.items())

    def running_config(self):
        with self._lock:
            self._settle()
            return etree.tostring(self._running, encoding="unicode")

    def candidate_config(self):
        with self._lock:
            return etree.tostring(self._candidate, encoding="unicode")

    def advance_clock(self, seconds):
        """Move the simulated clock forward: tag timeouts expire and commit jobs finish without sleeping."""
        with self._lock:
            self._clock_offset += float(seconds)
            self._settle()

    # -------------------------------------------------------------- state
    def _reset_state(self):
        self._candidate = initial_config(self.username, self.hostname,
                                         self.device_groups if self.is_panorama else None)
        self._running = copy.deepcopy(self._candidate)
        self._jobs = collections.OrderedDict()
        self._next_job = 1
        self._registered = {}        # ip -> {tag: expiry-or-None}
        self._persistent = {}        # ip -> "0"/"1"

    def _now(self):
        return time.time() + self._clock_offset

    @staticmethod
    def _new_key():
        # PAN-OS keys are base64; pan.xapi appends key= unencoded, so keep '+', '/' (and '&', '%') out of it.
        while True:
            key = base64.b64encode(b"-AQ==" + secrets.token_bytes(45)).decode("ascii")
            if not set(key) & set("+/&%"):
                return key

    def _settle(self):
        """Apply what time has done: finish commit jobs, expire registered tags."""
        now = self._now()
        self._finish_due_jobs(now)
        self._expire_tags(now)

    # -------------------------------------------------------------- HTTP
    def _make_app(self):
        """/api/ (the XML API), the web server's own error pages, and the /_sim/ test controls (no credentials,
        loopback clients only)."""
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
            return self._handle_api()

        app.register_error_handler(404, lambda _exc: _html(404, "Not Found"))
        app.register_error_handler(405, lambda _exc: _html(405, "Method Not Allowed"))
        app.register_error_handler(413, lambda _exc: xml_response(
            error_body(ApiError(400, "Request too large", in_result=True)), 413))

        add_test_controls(app, self)

        @app.route("/_sim/reset-stats", methods=["POST"])
        def _sim_reset_stats():
            self.reset_stats()
            return jsonify({"reset": True})

        @app.route("/_sim/registered-ips", methods=["GET"])
        def _sim_registered():
            return jsonify(dict((ip, sorted(tags)) for ip, tags in self.registered_ips().items()))

        @app.route("/_sim/requests", methods=["GET"])
        def _sim_requests():
            with self._lock:
                return jsonify(list(self.requests))

        @app.route("/_sim/config/<which>", methods=["GET"])
        def _sim_config(which):
            if which not in ("running", "candidate"):
                return jsonify({"error": "running or candidate"}), 404
            text = self.running_config() if which == "running" else self.candidate_config()
            return Response(text, 200, mimetype="application/xml")

        @app.route("/_sim/fault", methods=["POST"])
        def _sim_fault():
            answer, status = self._fault_request(request.get_json(silent=True))
            return jsonify(answer), status

        return app

    def _handle_api(self):
        params = {}
        for source in (request.args, request.form):
            for key in source:
                params[key] = source.get(key)
        kind = params.get("type")
        root = None
        http_status = 200
        with self._lock:
            self._calls[kind or "(none)"] += 1
            faulted = self._faulted_answer()
            if faulted is not None:
                self._record(params, faulted.status_code, None)
                return faulted
            try:
                self._settle()
                root = self._dispatch(kind, params)
            except ApiError as e:
                root, http_status = error_body(e), e.http_status
            except Exception:  # a bug here must not look like a dead firewall, but must be visible
                self._internal_errors += 1
                sys.stderr.write("PAN-OS simulator internal error:\n" + traceback.format_exc())
                root = error_body(ApiError(2, "Internal error"))
            self._record(params, http_status, root)
        return xml_response(root, http_status)

    def _record(self, params, http_status, root):
        entry = {"time": round(time.time(), 3), "method": request.method, "type": params.get("type"),
                 "http_status": http_status}
        for field in ("action", "xpath", "cmd", "where", "dst", "vsys", "element"):
            value = params.get(field)
            if value is not None:
                entry[field] = value if len(value) <= 1000 else value[:1000] + "..."
        if root is not None:
            entry["status"] = root.get("status")
            entry["code"] = root.get("code")
        self.requests.append(entry)

    def _check_password(self, user, password):
        return (user is not None and password is not None
                and hmac.compare_digest(str(user).encode("utf-8"), self.username.encode("utf-8"))
                and hmac.compare_digest(str(password).encode("utf-8"), self._password.encode("utf-8")))

    def _authenticate(self, params):
        key = params.get("key") or request.headers.get("X-PAN-KEY")
        if key is not None:
            if hmac.compare_digest(key.encode("utf-8"), self._api_key.encode("utf-8")):
                return
        elif self._check_password(params.get("user"), params.get("password")):
            return
        elif request.authorization is not None and self._check_password(
                request.authorization.username, request.authorization.password):
            return
        raise ApiError(403, "Invalid credentials.", http_status=403, in_result=True)

    def _dispatch(self, kind, params):
        if kind is None:
            raise missing("type")
        if kind == "keygen":
            if not self._check_password(params.get("user"), params.get("password")):
                raise ApiError(403, "Invalid Credential", http_status=403, in_result=True)
            return result_children((("key", self._api_key),))
        if kind not in ("op", "config", "commit", "user-id", "version"):
            raise illegal("type", kind)
        self._authenticate(params)
        vsys = params.get("vsys")
        if vsys not in (None, "", "vsys1"):
            raise ApiError(17, "vsys %s does not exist (this firewall has vsys1 only)" % vsys)
        if kind == "version":
            return result_children((("sw-version", self.sw_version), ("multi-vsys", "off"), ("model", self.model),
                                    ("serial", self.serial)))
        handler = {"config": self._config, "commit": self._commit, "user-id": self._user_id, "op": self._op}[kind]
        return handler(params)
