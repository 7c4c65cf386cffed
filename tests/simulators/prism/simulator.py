"""A stateful Nutanix Prism v3 API simulator: webhooks, VMs, tasks, and webhook event delivery.

It answers like Prism (AOS / Prism Central, intentful v3 API) so that clients, modules and the listener are
tested against the behaviour they meet in the field: 202 + PENDING, then COMPLETE; spec_version checks (409);
v3 error bodies; a non-JSON 401; duplicate webhooks; paged lists capped at 500; regex name filters; the event
envelope POSTed to webhook subscribers, including AOS's empty ``nic_list`` at VM.ON (optional).

In-process::

    sim = PrismSimulator(username="admin", password="secret", port=0, pending_seconds=0.3).start()
    ...; sim.stop()

Standalone: ``python tests/simulators/prism.py --port 9440 --username admin --password secret``.
See docs/simulators.md ("Prism v3 simulator").
"""
import argparse
import base64
import collections
import copy
import datetime
import heapq
import hmac
import http.client
import ipaddress
import itertools
import json
import queue
import random
import re
import signal
import ssl
import sys
import threading
import time
import uuid as uuidlib
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, jsonify, request

try:
    from tests.simulators._common import ServerThread
except ImportError:  # run as a script: python tests/simulators/prism.py
    from _common import ServerThread

API = "/api/nutanix/v3"
API_VERSION = "3.1"
KNOWN_EVENTS = (
    "VM.CREATE", "VM.DELETE", "VM.ON", "VM.OFF", "VM.UPDATE", "VM.MIGRATE", "VM.NIC_PLUG", "VM.NIC_UNPLUG",
)
DEFAULT_LIST_LENGTH = 20
MAX_LIST_LENGTH = 500  # Prism returns at most 500 entities per list call; larger requests are clamped
# Fixed identities so payloads look like one small cluster.
CLUSTER_REF = {"kind": "cluster", "name": "sim-cluster", "uuid": "00000000-0000-4000-8000-00000000c1c1"}
HOSTS = [
    {"kind": "host", "name": "sim-host-1", "uuid": "00000000-0000-4000-8000-0000000000a1"},
    {"kind": "host", "name": "sim-host-2", "uuid": "00000000-0000-4000-8000-0000000000a2"},
]
DEFAULT_SUBNET_REF = {"kind": "subnet", "name": "vlan0", "uuid": "00000000-0000-4000-8000-00000000d0d0"}
UNAUTHORIZED_BODY = (
    "<!DOCTYPE html>\n<html><head><title>401 Unauthorized</title></head>"
    "<body><h1>401 Unauthorized</h1><p>Authentication required.</p></body></html>\n"
)


def _now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_uuid():
    return str(uuidlib.uuid4())


def _random_mac():
    # 50:6b:8d is the prefix AHV uses for NICs it creates.
    return "50:6b:8d:%02x:%02x:%02x" % (random.randint(0, 255), random.randint(0, 255), random.randint(0, 255))


def _is_loopback_host(host):
    """True for literal loopback addresses and 'localhost' (never resolve names: no DNS from a test tool)."""
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ApiError(Exception):
    """Raised by handlers; rendered as a v3 error body."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code = code
        self.body = {
            "api_version": API_VERSION,
            "code": code,
            "kind": "error",
            "state": "ERROR",
            "message_list": [{"reason": reason, "message": message, "details": details or {}}],
        }


class _Invalid(object):
    """Collects schema errors the way Prism reports them: one 422, details keyed by the JSON path."""

    def __init__(self):
        self.details = collections.OrderedDict()

    def add(self, path, message):
        self.details.setdefault(path or "body", []).append(message)

    def raise_if_any(self):
        if self.details:
            raise ApiError(422, "INVALID_REQUEST", "Request could not be processed.", dict(self.details))


def _required_dict(parent, key, path, invalid):
    value = parent.get(key) if isinstance(parent, dict) else None
    if key not in (parent or {}):
        invalid.add(path, "'%s' is a required property" % key)
        return None
    if not isinstance(value, dict):
        invalid.add(_join(path, key), "%r is not of type 'object'" % (value,))
        return None
    return value


def _join(path, key):
    return "%s.%s" % (path, key) if path else key


class PrismSimulator(object):
    """Prism v3 on 127.0.0.1 over HTTPS (self-signed). See the module docstring and docs/simulators.md."""

    def __init__(self, username="admin", password="secret", host="127.0.0.1", port=0, pending_seconds=0.3,
                 empty_nics_on_power_on=False, delivery_timeout=5.0, allow_remote_delivery=False):
        self.username = username
        self.password = password
        self.pending_seconds = float(pending_seconds)
        self.empty_nics_on_power_on = bool(empty_nics_on_power_on)
        self.delivery_timeout = float(delivery_timeout)
        self.allow_remote_delivery = bool(allow_remote_delivery)
        self.user_uuid = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, "prism-sim-user:%s" % username))

        # One lock guards all state; the condition wakes the scheduler and wait_for_* callers.
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self.webhooks = collections.OrderedDict()  # uuid -> stored entity (spec/status keep the password)
        self.vms = collections.OrderedDict()  # uuid -> stored entity
        self.tasks = collections.OrderedDict()  # uuid -> v3 task
        self.deliveries = []
        self._calls = collections.Counter()
        self._busy = collections.Counter()  # entity uuid -> operations still pending
        self._timeline = []  # heap of (deadline, seq, callable): work that completes after pending_seconds
        self._seq = itertools.count()
        self._outbox = queue.Queue()  # deliveries, FIFO, so per-webhook order is the event order
        self._inflight = 0
        self._generation = 0  # bumped by reset() so work queued before it is dropped
        self._stopping = False
        self._threads = []

        self.app = self._make_app()
        self._server = ServerThread(self.app, host=host, port=port, tls=True)

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self):
        return self._server.url

    @property
    def host(self):
        return self._server.host

    @property
    def port(self):
        return self._server.port

    @property
    def cert_path(self):
        return self._server.cert_path

    def start(self):
        self._stopping = False
        for target, name in ((self._scheduler_loop, "prism-sim-tasks"), (self._delivery_loop, "prism-sim-deliver")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._server.start()
        return self

    def stop(self):
        self._server.stop()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout=self.delivery_timeout + 2)
        self._threads = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------ test helpers
    def wait_for_deliveries(self, count, timeout=10):
        """Block until at least *count* deliveries are recorded (or *timeout*); return a copy of them."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.deliveries) >= count, timeout)
            return [dict(d) for d in self.deliveries]

    def wait_idle(self, timeout=10):
        """Block until no operation is pending and every queued delivery was attempted. Returns True if idle."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._timeline and self._inflight == 0, timeout)

    def stats(self):
        with self._lock:
            return {
                "calls": dict(self._calls),
                "webhooks": len(self.webhooks),
                "vms": len(self.vms),
                "deliveries": len(self.deliveries),
                "failed_deliveries": sum(1 for d in self.deliveries if d["error"] or (d["status_code"] or 0) >= 300),
            }

    def reset(self):
        """Forget every entity, task, delivery and counter; queued work is dropped."""
        with self._cond:
            self._generation += 1
            self.webhooks.clear()
            self.vms.clear()
            self.tasks.clear()
            self.deliveries = []
            self._calls.clear()
            self._busy.clear()
            self._timeline = []
            while True:
                try:
                    self._outbox.get_nowait()
                except queue.Empty:
                    break
            self._inflight = 0
            self._cond.notify_all()

    def migrate_vm(self, vm_uuid):
        """Move a VM to the other host and emit VM.MIGRATE (the API cannot trigger a migration)."""
        with self._lock:
            vm = self.vms[vm_uuid]
            res = vm["status"].setdefault("resources", {})
            current = (res.get("host_reference") or {}).get("uuid")
            res["host_reference"] = copy.deepcopy(HOSTS[1] if current == HOSTS[0]["uuid"] else HOSTS[0])
            self._emit("VM.MIGRATE", vm)

    def seed_vms(self, count, name_prefix="seed", categories=None, power_state="ON", first_ip="10.128.0.1"):
        """Test control (benchmarks): store *count* completed VMs at once, without tasks or events.

        Each VM is built as ``POST /vms`` followed by its completion would build it (same validation, NIC
        defaults, status), with one NIC whose address is *first_ip* + i. Returns the new uuids, in order.
        """
        base = ipaddress.ip_address(first_ip)
        uuids = []
        with self._cond:
            for i in range(int(count)):
                body = {"metadata": {"kind": "vm", "categories": dict(categories or {})},
                        "spec": {"name": "%s-%05d" % (name_prefix, i), "resources": {
                            "power_state": power_state, "nic_list": [{"ip_endpoint_list": [{"ip": str(base + i)}]}]}}}
                spec, cats = self._validate_vm(body)
                vm_uuid = _new_uuid()
                now = _now_iso()
                self.vms[vm_uuid] = {
                    "api_version": API_VERSION,
                    "metadata": {"kind": "vm", "uuid": vm_uuid, "spec_version": 0, "categories": cats,
                                 "creation_time": now, "last_update_time": now,
                                 "owner_reference": {"kind": "user", "uuid": self.user_uuid, "name": self.username}},
                    "spec": spec,
                    "status": self._vm_status(copy.deepcopy(spec), {}),
                }
                uuids.append(vm_uuid)
        return uuids

    def emit_vm_event(self, vm_uuid, event_type):
        """Test control (benchmarks): send *event_type* for a stored VM now, carrying its current state, as if an
        operation had just completed (no state changes). Raises KeyError for an unknown VM."""
        if event_type not in KNOWN_EVENTS:
            raise ValueError("unknown event type %r" % (event_type,))
        with self._cond:
            self._emit(event_type, self.vms[vm_uuid])

    # ------------------------------------------------------------------ scheduling
    def _schedule(self, fn):
        heapq.heappush(self._timeline, (time.monotonic() + self.pending_seconds, next(self._seq), fn))
        self._cond.notify_all()

    def _settle(self):
        """Run every operation whose time has come. Called under the lock by the scheduler and each request,
        so a GET after pending_seconds never sees PENDING, whatever the scheduler thread is doing."""
        now = time.monotonic()
        while self._timeline and self._timeline[0][0] <= now:
            heapq.heappop(self._timeline)[2]()
        if not self._timeline:
            self._cond.notify_all()  # wake wait_idle()

    def _scheduler_loop(self):
        with self._cond:
            while not self._stopping:
                self._settle()
                timeout = max(0.0, self._timeline[0][0] - time.monotonic()) if self._timeline else None
                self._cond.wait(timeout)

    def _new_task(self, operation, kind, entity_uuid):
        task_uuid = _new_uuid()
        self.tasks[task_uuid] = {
            "api_version": API_VERSION,
            "uuid": task_uuid,
            "status": "QUEUED",
            "operation_type": operation,
            "percentage_complete": 0,
            "progress_message": operation,
            "entity_reference_list": [{"kind": kind, "uuid": entity_uuid}],
            "creation_time": _now_iso(),
        }
        self._busy[entity_uuid] += 1
        return task_uuid

    def _finish_task(self, task_uuid, entity_uuid):
        task = self.tasks.get(task_uuid)
        if task:
            task.update(status="SUCCEEDED", percentage_complete=100, completion_time=_now_iso())
        self._busy[entity_uuid] -= 1
        if self._busy[entity_uuid] <= 0:
            del self._busy[entity_uuid]

    # ------------------------------------------------------------------ events and delivery
    def _emit(self, event_type, vm):
        """Queue the event for every webhook subscribed to it (under the lock; never blocks on the network)."""
        entity = self._render_vm(vm, with_api_version=True)
        if event_type == "VM.ON" and self.empty_nics_on_power_on:
            # Some AOS versions send VM.ON before the NICs are reported: the payload is a hint, not the truth.
            for part in ("spec", "status"):
                if isinstance(entity.get(part), dict):
                    entity[part].setdefault("resources", {})["nic_list"] = []
        body = json.dumps({
            "entity_reference": {"kind": "vm", "uuid": vm["metadata"]["uuid"]},
            "data": {"metadata": entity},
            "version": "1.0",
            "event_type": event_type,
        }).encode("utf-8")
        for hook_uuid, hook in self.webhooks.items():
            applied = hook["status"].get("resources")
            # A webhook fires once its creation completed, with its last applied configuration; deleting stops it.
            if not applied or hook["status"]["state"] == "DELETE_PENDING":
                continue
            if event_type not in applied.get("events_filter_list", []):
                continue
            creds = applied.get("credentials") or {}
            self._inflight += 1
            self._outbox.put({
                "generation": self._generation,
                "webhook_uuid": hook_uuid,
                "post_url": applied["post_url"],
                "username": creds.get("username"),
                "password": creds.get("password"),
                "event_type": event_type,
                "vm_uuid": vm["metadata"]["uuid"],
                "body": body,
            })

    def _delivery_loop(self):
        while True:
            item = self._outbox.get()
            if item is None:
                return
            sent = time.time()
            status_code, error = self._post(item)
            with self._cond:
                if item["generation"] != self._generation:
                    continue  # reset() happened meanwhile
                self.deliveries.append({
                    "webhook_uuid": item["webhook_uuid"],
                    "post_url": item["post_url"],
                    "event_type": item["event_type"],
                    "vm_uuid": item["vm_uuid"],
                    "status_code": status_code,
                    "error": error,
                    "sent": sent,  # when the POST started
                    "time": time.time(),
                })
                self._inflight -= 1
                self._cond.notify_all()

    def _post(self, item):
        """POST one event like Prism does: basic auth, no TLS verification of the receiver, short timeout."""
        parts = urlsplit(item["post_url"])
        if not self.allow_remote_delivery and not _is_loopback_host(parts.hostname):
            return None, "not delivered: %s is not a loopback address (start with --allow-remote-delivery)" % (
                parts.hostname,)
        headers = {"Content-Type": "application/json", "Accept": "*/*", "User-Agent": "Nutanix-Webhook/1.0"}
        if item["username"]:
            token = "%s:%s" % (item["username"], item["password"] or "")
            headers["Authorization"] = "Basic " + base64.b64encode(token.encode("utf-8")).decode("ascii")
        path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        # http.client rather than requests: no proxy from the environment, no global warning filters to touch.
        if parts.scheme == "https":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=self.delivery_timeout,
                                               context=context)
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.delivery_timeout)
        try:
            conn.request("POST", path, body=item["body"], headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status, None
        except (OSError, http.client.HTTPException) as exc:
            return None, "%s: %s" % (type(exc).__name__, exc)
        finally:
            conn.close()

    # ------------------------------------------------------------------ rendering
    @staticmethod
    def _strip_password(resources):
        creds = (resources or {}).get("credentials")
        if isinstance(creds, dict):
            creds.pop("password", None)

    def _render_webhook(self, hook, with_api_version=True):
        out = copy.deepcopy(hook)
        # Prism never returns the webhook password.
        self._strip_password(out["spec"].get("resources"))
        self._strip_password(out["status"].get("resources"))
        if not with_api_version:
            out.pop("api_version", None)
        return out

    def _render_vm(self, vm, with_api_version=True):
        out = copy.deepcopy(vm)
        cats = out["metadata"].get("categories") or {}
        out["metadata"]["categories_mapping"] = dict((k, [v]) for k, v in cats.items())
        if not with_api_version:
            out.pop("api_version", None)
        return out

    # ------------------------------------------------------------------ validation
    @staticmethod
    def _body():
        raw = request.get_data()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiError(400, "INVALID_REQUEST", "Request body is not valid JSON.")
        if not isinstance(body, dict):
            raise ApiError(422, "INVALID_REQUEST", "Request could not be processed.",
                           {"body": ["%r is not of type 'object'" % (body,)]})
        return body

    def _validate_intent(self, body, kind, invalid):
        metadata = _required_dict(body, "metadata", "", invalid)
        spec = _required_dict(body, "spec", "", invalid)
        if metadata is not None:
            if "kind" not in metadata:
                invalid.add("metadata", "'kind' is a required property")
            elif metadata["kind"] != kind:
                invalid.add("metadata.kind", "%r is not one of [%r]" % (metadata["kind"], kind))
        if spec is not None:
            name = spec.get("name")
            if "name" not in spec:
                invalid.add("spec", "'name' is a required property")
            elif not isinstance(name, str) or not name.strip():
                invalid.add("spec.name", "%r is not a non-empty string" % (name,))
            if "description" in spec and not isinstance(spec["description"], str):
                invalid.add("spec.description", "%r is not of type 'string'" % (spec["description"],))
        return metadata, spec

    def _validate_webhook(self, body):
        invalid = _Invalid()
        spec = self._validate_intent(body, "webhook", invalid)[1]
        res = _required_dict(spec, "resources", "spec", invalid) if spec is not None else None
        if res is not None:
            url = res.get("post_url")
            if "post_url" not in res:
                invalid.add("spec.resources", "'post_url' is a required property")
            elif not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(
                    url).hostname:
                invalid.add("spec.resources.post_url", "%r is not a valid http(s) URL" % (url,))
            events = res.get("events_filter_list")
            if "events_filter_list" not in res:
                invalid.add("spec.resources", "'events_filter_list' is a required property")
            elif not isinstance(events, list) or not events:
                invalid.add("spec.resources.events_filter_list", "%r is not a non-empty array" % (events,))
            else:
                for event in events:
                    if event not in KNOWN_EVENTS:
                        invalid.add("spec.resources.events_filter_list",
                                    "%r is not one of %s" % (event, list(KNOWN_EVENTS)))
            creds = res.get("credentials")
            if "credentials" in res:
                if not isinstance(creds, dict) or not isinstance(creds.get("username"), str):
                    invalid.add("spec.resources.credentials", "'username' is a required property")
                elif "password" in creds and not isinstance(creds["password"], str):
                    invalid.add("spec.resources.credentials.password", "is not of type 'string'")
        invalid.raise_if_any()
        return copy.deepcopy(spec)

    def _validate_vm(self, body, old_nics=()):
        invalid = _Invalid()
        metadata, spec = self._validate_intent(body, "vm", invalid)
        res = _required_dict(spec, "resources", "spec", invalid) if spec is not None else None
        categories = {}
        if metadata is not None:
            if metadata.get("use_categories_mapping") and isinstance(metadata.get("categories_mapping"), dict):
                source = dict((k, v[0] if isinstance(v, list) and v else v)
                              for k, v in metadata["categories_mapping"].items())
            else:
                source = metadata.get("categories", {})
            if not isinstance(source, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in source.items()):
                invalid.add("metadata.categories", "%r is not a map of category name to value" % (source,))
            else:
                categories = dict(source)
        nics = []
        if res is not None:
            power = res.get("power_state", "OFF")
            if power not in ("ON", "OFF"):
                invalid.add("spec.resources.power_state", "%r is not one of ['ON', 'OFF']" % (power,))
            nics = res.get("nic_list", [])
            if not isinstance(nics, list):
                invalid.add("spec.resources.nic_list", "%r is not of type 'array'" % (nics,))
                nics = []
            for i, nic in enumerate(nics):
                path = "spec.resources.nic_list[%d]" % i
                if not isinstance(nic, dict):
                    invalid.add(path, "%r is not of type 'object'" % (nic,))
                    continue
                endpoints = nic.get("ip_endpoint_list", [])
                if not isinstance(endpoints, list):
                    invalid.add(path + ".ip_endpoint_list", "%r is not of type 'array'" % (endpoints,))
                    continue
                for j, endpoint in enumerate(endpoints):
                    ip = endpoint.get("ip") if isinstance(endpoint, dict) else None
                    try:
                        ipaddress.ip_address(ip)
                    except (TypeError, ValueError):
                        invalid.add("%s.ip_endpoint_list[%d].ip" % (path, j), "%r is not a valid IP address" % (ip,))
        invalid.raise_if_any()
        spec = copy.deepcopy(spec)
        spec["resources"]["power_state"] = spec["resources"].get("power_state", "OFF")
        spec["resources"]["nic_list"] = [self._normalize_nic(nic, old_nics) for nic in nics]
        spec.setdefault("cluster_reference", copy.deepcopy(CLUSTER_REF))
        return spec, categories

    @staticmethod
    def _normalize_nic(nic, old_nics):
        """Fill what AHV assigns (uuid, MAC, defaults). A NIC keeps its identity when the client sends its uuid."""
        nic = copy.deepcopy(nic)
        old = next((n for n in old_nics if nic.get("uuid") and n.get("uuid") == nic["uuid"]), None)
        nic.setdefault("uuid", _new_uuid())
        nic.setdefault("mac_address", old["mac_address"] if old else _random_mac())
        nic.setdefault("nic_type", "NORMAL_NIC")
        nic.setdefault("is_connected", True)
        nic.setdefault("subnet_reference", copy.deepcopy(DEFAULT_SUBNET_REF))
        nic["ip_endpoint_list"] = [dict(ep, type=ep.get("type", "ASSIGNED"), ip=str(ipaddress.ip_address(ep["ip"])))
                                   for ep in nic.get("ip_endpoint_list", [])]
        return nic

    @staticmethod
    def _check_spec_version(entity, metadata, kind, path_uuid):
        invalid = _Invalid()
        version = metadata.get("spec_version")
        if "spec_version" not in metadata:
            invalid.add("metadata", "'spec_version' is a required property")
        elif not isinstance(version, int) or isinstance(version, bool):
            invalid.add("metadata.spec_version", "%r is not of type 'integer'" % (version,))
        if metadata.get("uuid") not in (None, path_uuid):
            invalid.add("metadata.uuid", "%r does not match the uuid in the URL" % (metadata["uuid"],))
        invalid.raise_if_any()
        if entity["status"].get("state") == "DELETE_PENDING":
            raise ApiError(409, "CONCURRENT_REQUESTS_NOT_ALLOWED", "The %s %s is being deleted." % (kind, path_uuid))
        current = entity["metadata"]["spec_version"]
        if version != current:
            raise ApiError(409, "CONCURRENT_REQUESTS_NOT_ALLOWED",
                           "Given input spec_version %d does not match current spec_version %d" % (version, current))

    # ------------------------------------------------------------------ list
    FILTER_ATTRIBUTES = {
        "webhook": {"name": lambda e: e["spec"].get("name")},
        "vm": {
            "vm_name": lambda e: e["spec"].get("name"),
            "power_state": lambda e: (e["status"].get("resources") or {}).get("power_state"),
        },
    }
    SORT_ATTRIBUTES = {"webhook": ("name",), "vm": ("name", "vm_name")}

    def _compile_filter(self, text, kind):
        """FIQL as Prism takes it: ``;`` is AND, ``,`` is OR, terms ``attr==value`` / ``attr!=value``.
        Values are regular expressions matched anywhere (``vm_name==web`` also lists ``web-01``)."""
        attrs = self.FILTER_ATTRIBUTES[kind]
        groups = []
        for alternative in text.split(","):
            terms = []
            for term in alternative.split(";"):
                match = re.match(r"^\s*([A-Za-z_]+)\s*(==|!=)(.*)$", term)
                if not match or match.group(1) not in attrs:
                    raise ApiError(422, "INVALID_REQUEST", "Request could not be processed.",
                                   {"filter": ["unsupported filter term %r (supported: %s)"
                                               % (term, ", ".join(sorted(attrs)))]})
                value = unquote(match.group(3).strip())
                try:
                    pattern = re.compile(value)
                except re.error:
                    pattern = re.compile(re.escape(value))
                terms.append((attrs[match.group(1)], match.group(2) == "==", pattern))
            groups.append(terms)

        def matches(entity):
            return any(all(bool(pattern.search(str(get(entity) or ""))) == positive for get, positive, pattern in terms)
                       for terms in groups)
        return matches

    def _list(self, kind, store, render):
        body = self._body()
        invalid = _Invalid()
        if "kind" in body and body["kind"] != kind:
            invalid.add("kind", "%r is not one of [%r]" % (body["kind"], kind))
        length = body.get("length", DEFAULT_LIST_LENGTH)
        offset = body.get("offset", 0)
        for name, value, minimum in (("length", length, 1), ("offset", offset, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                invalid.add(name, "%r is not an integer >= %d" % (value, minimum))
        sort_attribute = body.get("sort_attribute")
        if sort_attribute is not None and sort_attribute not in self.SORT_ATTRIBUTES[kind]:
            invalid.add("sort_attribute", "%r is not one of %s" % (sort_attribute, list(self.SORT_ATTRIBUTES[kind])))
        sort_order = body.get("sort_order", "ASCENDING")
        if sort_order not in ("ASCENDING", "DESCENDING"):
            invalid.add("sort_order", "%r is not one of ['ASCENDING', 'DESCENDING']" % (sort_order,))
        invalid.raise_if_any()
        entities = list(store.values())
        if body.get("filter"):
            matches = self._compile_filter(str(body["filter"]), kind)
            entities = [e for e in entities if matches(e)]
        if sort_attribute:
            entities.sort(key=lambda e: e["spec"].get("name") or "", reverse=sort_order == "DESCENDING")
        page = entities[offset:offset + min(length, MAX_LIST_LENGTH)]
        metadata = {"kind": kind, "total_matches": len(entities), "length": len(page), "offset": offset}
        for key in ("filter", "sort_attribute", "sort_order"):
            if key in body:
                metadata[key] = body[key]
        return jsonify({"api_version": API_VERSION, "metadata": metadata,
                        "entities": [render(e, with_api_version=False) for e in page]})

    # ------------------------------------------------------------------ webhooks
    def _get_or_404(self, store, kind, entity_uuid):
        entity = store.get(entity_uuid)
        if entity is None:
            raise ApiError(404, "ENTITY_NOT_FOUND", "%s %s not found" % (kind, entity_uuid))
        return entity

    def _accepted(self, entity, render, task_uuid, state="PENDING"):
        out = render(entity)
        out["status"] = {"state": state, "execution_context": {"task_uuid": task_uuid}}
        return jsonify(out), 202

    def _pending_status(self, entity, task_uuid):
        entity["status"]["state"] = "PENDING"
        entity["status"]["execution_context"] = {"task_uuid": task_uuid}

    def _complete_status(self, entity_uuid, entity, status):
        """Apply *status* unless the entity went away; keep PENDING while later operations are queued."""
        if self._busy.get(entity_uuid):
            status["state"] = "PENDING"
            status["execution_context"] = entity["status"].get("execution_context")
        entity["status"] = status
        entity["metadata"]["last_update_time"] = _now_iso()

    def create_webhook(self):
        spec = self._validate_webhook(self._body())
        hook_uuid = _new_uuid()
        now = _now_iso()
        hook = {
            "api_version": API_VERSION,
            "metadata": {"kind": "webhook", "uuid": hook_uuid, "spec_version": 0, "creation_time": now,
                         "last_update_time": now,
                         "owner_reference": {"kind": "user", "uuid": self.user_uuid, "name": self.username}},
            "spec": spec,
            "status": {},
        }
        task_uuid = self._new_task("create_webhook", "webhook", hook_uuid)
        self._pending_status(hook, task_uuid)
        self.webhooks[hook_uuid] = hook
        self._schedule(lambda: self._complete_webhook(hook_uuid, task_uuid, copy.deepcopy(spec)))
        return self._accepted(hook, self._render_webhook, task_uuid)

    def _complete_webhook(self, hook_uuid, task_uuid, spec):
        self._finish_task(task_uuid, hook_uuid)
        hook = self.webhooks.get(hook_uuid)
        if hook is None or hook["status"].get("state") == "DELETE_PENDING":
            return
        status = {"state": "COMPLETE", "name": spec["name"], "resources": copy.deepcopy(spec["resources"])}
        if "description" in spec:
            status["description"] = spec["description"]
        self._complete_status(hook_uuid, hook, status)

    def get_webhook(self, entity_uuid):
        return jsonify(self._render_webhook(self._get_or_404(self.webhooks, "webhook", entity_uuid)))

    def update_webhook(self, entity_uuid):
        hook = self._get_or_404(self.webhooks, "webhook", entity_uuid)
        body = self._body()
        spec = self._validate_webhook(body)
        self._check_spec_version(hook, body["metadata"], "webhook", entity_uuid)
        # GET never shows the password, so a PUT built from a GET may omit it: keep the stored one then.
        creds = spec["resources"].get("credentials")
        old_creds = hook["spec"]["resources"].get("credentials") or {}
        if creds and "password" not in creds and creds.get("username") == old_creds.get("username"):
            creds["password"] = old_creds.get("password")
        hook["spec"] = spec
        hook["metadata"]["spec_version"] += 1
        task_uuid = self._new_task("update_webhook", "webhook", entity_uuid)
        self._pending_status(hook, task_uuid)
        self._schedule(lambda: self._complete_webhook(entity_uuid, task_uuid, copy.deepcopy(spec)))
        return self._accepted(hook, self._render_webhook, task_uuid)

    def _delete(self, store, kind, entity_uuid, on_deleted=None):
        entity = self._get_or_404(store, kind, entity_uuid)
        task_uuid = self._new_task("delete_%s" % kind, kind, entity_uuid)
        entity["status"]["state"] = "DELETE_PENDING"
        entity["status"]["execution_context"] = {"task_uuid": task_uuid}

        def complete():
            self._finish_task(task_uuid, entity_uuid)
            gone = store.pop(entity_uuid, None)
            if gone is not None and on_deleted:
                on_deleted(gone)
        self._schedule(complete)
        # Prism answers a delete with an empty spec and only the kind in metadata.
        return jsonify({"api_version": API_VERSION, "metadata": {"kind": kind}, "spec": "",
                        "status": {"state": "DELETE_PENDING", "execution_context": {"task_uuid": task_uuid}}}), 202

    # ------------------------------------------------------------------ VMs
    def create_vm(self):
        spec, categories = self._validate_vm(self._body())
        vm_uuid = _new_uuid()
        now = _now_iso()
        vm = {
            "api_version": API_VERSION,
            "metadata": {"kind": "vm", "uuid": vm_uuid, "spec_version": 0, "categories": categories,
                         "creation_time": now, "last_update_time": now,
                         "owner_reference": {"kind": "user", "uuid": self.user_uuid, "name": self.username}},
            "spec": spec,
            "status": {},
        }
        task_uuid = self._new_task("VmCreate", "vm", vm_uuid)
        self._pending_status(vm, task_uuid)
        self.vms[vm_uuid] = vm
        self._schedule(lambda: self._complete_vm(vm_uuid, task_uuid, copy.deepcopy(spec), None, categories))
        return self._accepted(vm, self._render_vm, task_uuid)

    def _vm_status(self, spec, old_status):
        res = copy.deepcopy(spec["resources"])
        res.setdefault("hypervisor_type", "AHV")
        old_host = (old_status.get("resources") or {}).get("host_reference")
        if res["power_state"] == "ON":
            res["host_reference"] = old_host or copy.deepcopy(HOSTS[0])
        else:
            res.pop("host_reference", None)
        status = {"state": "COMPLETE", "name": spec["name"], "resources": res,
                  "cluster_reference": copy.deepcopy(spec.get("cluster_reference", CLUSTER_REF))}
        if "description" in spec:
            status["description"] = spec["description"]
        return status

    def _complete_vm(self, vm_uuid, task_uuid, spec, old_categories, new_categories):
        """Apply a create/update and emit what AOS emits. old_categories is None for a create."""
        self._finish_task(task_uuid, vm_uuid)
        vm = self.vms.get(vm_uuid)
        if vm is None or vm["status"].get("state") == "DELETE_PENDING":
            return
        old_status = vm["status"]
        before = old_status.get("resources")
        self._complete_status(vm_uuid, vm, self._vm_status(spec, old_status))
        after = vm["status"]["resources"]
        if before is None:  # creation
            self._emit("VM.CREATE", vm)
            if after["power_state"] == "ON":
                self._emit("VM.ON", vm)
            return
        was_on, is_on = before.get("power_state") == "ON", after["power_state"] == "ON"
        if was_on and not is_on:
            self._emit("VM.OFF", vm)  # AHV powers off before reconfiguring
        old_nics = dict((n["uuid"], n) for n in before.get("nic_list", []))
        new_nics = dict((n["uuid"], n) for n in after.get("nic_list", []))
        unplugged = [u for u in old_nics if u not in new_nics]
        plugged = [u for u in new_nics if u not in old_nics]
        for _nic_uuid in unplugged:
            self._emit("VM.NIC_UNPLUG", vm)
        for _nic_uuid in plugged:
            self._emit("VM.NIC_PLUG", vm)

        # Anything but the power state (and where the VM runs) is a configuration change.
        def config(status):
            res = dict((k, v) for k, v in status["resources"].items() if k not in ("power_state", "host_reference"))
            return status.get("name"), status.get("description"), res
        if unplugged or plugged or old_categories != new_categories or config(old_status) != config(vm["status"]):
            self._emit("VM.UPDATE", vm)
        if is_on and not was_on:
            self._emit("VM.ON", vm)  # and powers on after

    def get_vm(self, entity_uuid):
        return jsonify(self._render_vm(self._get_or_404(self.vms, "vm", entity_uuid)))

    def update_vm(self, entity_uuid):
        vm = self._get_or_404(self.vms, "vm", entity_uuid)
        body = self._body()
        spec, categories = self._validate_vm(body, old_nics=vm["spec"]["resources"].get("nic_list", []))
        self._check_spec_version(vm, body["metadata"], "vm", entity_uuid)
        old_categories = vm["metadata"].get("categories", {})
        # PUT replaces the intent: metadata.categories omitted means none (as in Prism).
        vm["metadata"]["categories"] = categories
        vm["spec"] = spec
        vm["metadata"]["spec_version"] += 1
        task_uuid = self._new_task("VmUpdate", "vm", entity_uuid)
        self._pending_status(vm, task_uuid)
        self._schedule(lambda: self._complete_vm(entity_uuid, task_uuid, copy.deepcopy(spec), old_categories,
                                                 categories))
        return self._accepted(vm, self._render_vm, task_uuid)

    # ------------------------------------------------------------------ misc API
    def users_me(self):
        return jsonify({
            "api_version": API_VERSION,
            "metadata": {"kind": "user", "uuid": self.user_uuid, "spec_version": 0, "categories": {}},
            "spec": {"resources": {}},
            "status": {"state": "COMPLETE", "name": self.username, "resources": {
                "display_name": self.username, "user_type": "LOCAL",
                "access_control_policy_reference_list": [], "projects_reference_list": []}},
        })

    def get_task(self, task_uuid):
        task = self.tasks.get(task_uuid)
        if task is None:
            raise ApiError(404, "ENTITY_NOT_FOUND", "task %s not found" % task_uuid)
        return jsonify(task)

    # ------------------------------------------------------------------ Flask wiring
    def _authorized(self):
        auth = request.authorization
        if auth is None or auth.type != "basic" or auth.username is None:
            return False
        user_ok = hmac.compare_digest(auth.username.encode("utf-8"), self.username.encode("utf-8"))
        pass_ok = hmac.compare_digest((auth.password or "").encode("utf-8"), self.password.encode("utf-8"))
        return user_ok and pass_ok

    def _make_app(self):
        app = Flask("prism_simulator")
        sim = self

        @app.before_request
        def _gate():
            if request.path.startswith("/_sim/"):
                try:
                    loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
                except ValueError:
                    loopback = False
                return None if loopback else Response("forbidden\n", 403, mimetype="text/plain")
            with sim._lock:
                rule = request.url_rule.rule if request.url_rule is not None else request.path
                sim._calls["%s %s" % (request.method, rule)] += 1
                sim._settle()
            if request.path.startswith(API) and not sim._authorized():
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
        route("/webhooks/list", ["POST"], lambda: sim._list("webhook", sim.webhooks, sim._render_webhook))
        route("/webhooks/<entity_uuid>", ["GET"], sim.get_webhook)
        route("/webhooks/<entity_uuid>", ["PUT"], sim.update_webhook)
        route("/webhooks/<entity_uuid>", ["DELETE"], lambda entity_uuid: sim._delete(
            sim.webhooks, "webhook", entity_uuid))
        route("/vms", ["POST"], sim.create_vm)
        route("/vms/list", ["POST"], lambda: sim._list("vm", sim.vms, sim._render_vm))
        route("/vms/<entity_uuid>", ["GET"], sim.get_vm)
        route("/vms/<entity_uuid>", ["PUT"], sim.update_vm)
        route("/vms/<entity_uuid>", ["DELETE"], lambda entity_uuid: sim._delete(
            sim.vms, "vm", entity_uuid, on_deleted=lambda vm: sim._emit("VM.DELETE", vm)))
        route("/tasks/<task_uuid>", ["GET"], sim.get_task)

        @app.route("/_sim/deliveries", methods=["GET"])
        def _sim_deliveries():
            with sim._lock:
                return jsonify(sim.deliveries)

        @app.route("/_sim/stats", methods=["GET"])
        def _sim_stats():
            return jsonify(sim.stats())

        @app.route("/_sim/reset", methods=["POST"])
        def _sim_reset():
            sim.reset()
            return jsonify({"reset": True})

        @app.route("/_sim/vms/<vm_uuid>/migrate", methods=["POST"])
        def _sim_migrate(vm_uuid):
            if vm_uuid not in sim.vms:
                raise ApiError(404, "ENTITY_NOT_FOUND", "vm %s not found" % vm_uuid)
            sim.migrate_vm(vm_uuid)
            return jsonify({"migrated": vm_uuid})

        return app


def main(argv=None):
    parser = argparse.ArgumentParser(description="Nutanix Prism v3 API simulator (HTTPS, self-signed).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9440, help="port to listen on (0 = any free port)")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--pending-seconds", type=float, default=0.3,
                        help="how long create/update/delete stay PENDING before COMPLETE")
    parser.add_argument("--empty-nics-on-power-on", action="store_true",
                        help="send VM.ON with an empty nic_list, as some AOS versions do")
    parser.add_argument("--allow-remote-delivery", action="store_true",
                        help="deliver webhook events to non-loopback post_url hosts too")
    args = parser.parse_args(argv)

    sim = PrismSimulator(username=args.username, password=args.password, host=args.host, port=args.port,
                         pending_seconds=args.pending_seconds, empty_nics_on_power_on=args.empty_nics_on_power_on,
                         allow_remote_delivery=args.allow_remote_delivery).start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print("Prism simulator ready at %s" % sim.url, flush=True)
    while not stop.wait(1.0):
        pass
    sim.stop()
    print("Prism simulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
