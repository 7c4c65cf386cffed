"""PanosSimulator: the state of one firewall (or Panorama), the test controls, and the front door: the Flask app,
then for /api/ the management plane (when the latency model is on), authentication and dispatch by ``type=`` to
the mixins that implement each part of the XML API."""
import base64
import collections
import contextlib
import copy
import hmac
import re
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
from tests.simulators.panos.dirty import Marker
from tests.simulators.panos.faults import Faults
from tests.simulators.panos.initial import initial_config
from tests.simulators.panos.mgmt_plane import ManagementPlane
from tests.simulators.panos.ops import OpCommands
from tests.simulators.panos.platforms import DEFAULT_PLATFORM, Latency, platform
from tests.simulators.panos.userid import UserId
from tests.simulators.panos.xmlapi import (
    ApiError, error_body, illegal, missing, panos_time, result_children, xml_response)


def _html(status, title):
    return Response("<html><head><title>%d %s</title></head><body><h1>%s</h1></body></html>\n"
                    % (status, title, title), status, mimetype="text/html")


class PanosSimulator(ConfigApi, Commits, OpCommands, UserId, Faults, Simulator):
    """A PAN-OS firewall's (or Panorama's) XML API on https://127.0.0.1:PORT/api/ (see the package docstring)."""

    def __init__(self, username="admin", password="admin", host="127.0.0.1", port=0, commit_seconds=None,
                 model=DEFAULT_PLATFORM, sw_version="10.2.9-h1", serial="007951000123456", hostname=None,
                 device_groups=("branch-offices",), latency=None, registered_ip_capacity=None,
                 commit_queue_limit=None):
        """*model*: a platform of ``platforms.PLATFORMS`` (VM-50, VM-300, PA-220, PA-3200, Panorama, ...; also
        PA-VM, a series member such as PA-3250, or M-600): its registered-IP capacity and commit queue apply
        always. "Panorama" (or M-xxx) makes a Panorama with *device_groups* (shared and device-group objects and
        policy, no vsys); any other model is a single-vsys firewall.

        *latency*: None (default) answers at once; True takes the platform's preset; a ``Latency`` gives each
        figure. *commit_seconds* (how long a commit job runs) defaults to 0.2 without latency, the preset's
        with it. *registered_ip_capacity* and *commit_queue_limit* override the platform's.
        """
        self.platform = platform(model)
        self.model = self.platform.system_model
        self.username = username
        self._password = password
        if latency is True:
            latency = self.platform.latency
        elif latency is not None and latency is not False and not isinstance(latency, Latency):
            raise ValueError("latency must be None, True or a platforms.Latency, not %r" % (latency,))
        self.latency = latency or None
        if commit_seconds is None:
            commit_seconds = self.latency.commit_seconds if self.latency else 0.2
        self.commit_seconds = float(commit_seconds)
        self.registered_ip_capacity = int(registered_ip_capacity if registered_ip_capacity is not None
                                          else self.platform.registered_ip_capacity)
        self.commit_queue_limit = int(commit_queue_limit if commit_queue_limit is not None
                                      else self.platform.commit_queue_limit)
        self.sw_version = sw_version
        self.serial = serial
        self.hostname = hostname or ("Panorama" if self.is_panorama else "PA-VM")
        self.device_groups = tuple(device_groups)
        self._plane = ManagementPlane(self.latency) if self.latency else None
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

    def version_at_least(self, major, minor):
        found = re.match(r"^(\d+)\.(\d+)", self.sw_version or "")
        return bool(found) and (int(found.group(1)), int(found.group(2))) >= (major, minor)

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
                "registered_ip_capacity": self.registered_ip_capacity,
                "jobs": len(self._jobs),
                "commits_queued": len(self._queued_jobs()),
                "platform": self.platform.name,
                "management_plane": self._plane.stats() if self._plane else None,
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
        if self._plane is not None:
            self._plane.reset_stats()

    def reset(self):
        """Back to the initial configuration, no jobs, no registered IPs, zero counters."""
        with self._lock:
            self._reset_state()
            self.reset_stats()

    def registered_ips(self):
        """Current User-ID state: {ip, range or network: set(tags as first registered)} (expired tags removed)."""
        with self._lock:
            self._settle()
            return dict((ip, set(self._registered_tags(ip))) for ip in self._registered)

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
        self._dirty_id = 0           # configuration changes so far: the dirtyId of the next change's marks
        self._registered = {}        # ip, range or network -> {tag key: [tag as registered, expiry or None]}
        self._persistent = {}        # ip -> "0"/"1"

    def _now(self):
        return time.time() + self._clock_offset

    def _new_marker(self):
        """The marks of a new configuration change (see ``dirty``)."""
        self._dirty_id += 1
        return Marker(self.username, self._dirty_id, panos_time(self._now()))

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
        with self._management_plane(kind, params), self._lock:
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

    def _management_plane(self, kind, params):
        """With the latency model, wait for this call's turn on the one management plane and for its cost."""
        if self._plane is None:
            return contextlib.nullcontext()
        return self._plane.serving(self._plane.cost(kind, params))

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
