"""The Prism v3 simulator, driven over HTTPS with plain requests as a client would, and observed from a tiny
webhook receiver. Every assertion reads back through HTTP (API, receiver or /_sim), never from internals."""
import base64
import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from ansible_collections.netevents.nutanix.plugins.module_utils.events import parse_event
from tests.simulators.prism import PrismSimulator

V3 = "/api/nutanix/v3"
REPO = os.path.join(os.path.dirname(__file__), "..", "..", "..")
STANDALONE = [sys.executable, "-m", "tests.simulators.prism", "serve"]


# ---------------------------------------------------------------- fixtures and helpers
class Prism(object):
    """A requests session against one simulator, verifying its self-signed certificate."""

    def __init__(self, sim, auth=("admin", "secret")):
        self.sim = sim
        self.session = requests.Session()
        self.session.auth = auth

    def __call__(self, method, path, **kwargs):
        kwargs.setdefault("timeout", 10)
        # Per request: REQUESTS_CA_BUNDLE in the environment would override Session.verify.
        kwargs.setdefault("verify", self.sim.cert_path)
        return self.session.request(method, self.sim.url + V3 + path, **kwargs)

    def wait_state(self, path, state="COMPLETE", timeout=10):
        """Poll GET *path* until status.state is *state*; return the entity."""
        deadline = time.monotonic() + timeout
        while True:
            resp = self("GET", path)
            assert resp.status_code == 200, resp.text
            entity = resp.json()
            if entity["status"]["state"] == state or time.monotonic() > deadline:
                assert entity["status"]["state"] == state
                return entity
            time.sleep(0.05)

    def wait_gone(self, path, timeout=10):
        deadline = time.monotonic() + timeout
        while self("GET", path).status_code != 404:
            assert time.monotonic() < deadline, "%s still exists" % path
            time.sleep(0.05)

    def create_webhook(self, name="hook", post_url="http://127.0.0.1:9/", events=("VM.ON",), username="listener",
                       password="hook-pass", wait=True):
        resources = {"post_url": post_url, "events_filter_list": list(events)}
        if username:
            resources["credentials"] = {"username": username, "password": password}
        resp = self("POST", "/webhooks", json={"api_version": "3.1", "metadata": {"kind": "webhook"},
                                               "spec": {"name": name, "resources": resources}})
        assert resp.status_code == 202, resp.text
        uuid = resp.json()["metadata"]["uuid"]
        return self.wait_state("/webhooks/" + uuid) if wait else resp.json()

    def create_vm(self, name="web-01", ips=("10.1.1.5",), power="OFF", categories=None, wait=True):
        nics = [{"ip_endpoint_list": [{"ip": ip, "type": "ASSIGNED"}]} for ip in ips]
        resp = self("POST", "/vms", json={
            "api_version": "3.1",
            "metadata": {"kind": "vm", "categories": categories or {}},
            "spec": {"name": name, "resources": {"power_state": power, "num_sockets": 1, "nic_list": nics}}})
        assert resp.status_code == 202, resp.text
        uuid = resp.json()["metadata"]["uuid"]
        return self.wait_state("/vms/" + uuid) if wait else resp.json()

    def put_vm(self, vm, **changes):
        """GET-modify-PUT like a client: send back spec and metadata with the current spec_version."""
        body = {"api_version": "3.1", "metadata": dict(vm["metadata"]), "spec": json.loads(json.dumps(vm["spec"]))}
        if "categories" in changes:
            body["metadata"]["categories"] = changes.pop("categories")
        body["spec"]["resources"].update(changes)
        resp = self("PUT", "/vms/" + vm["metadata"]["uuid"], json=body)
        assert resp.status_code == 202, resp.text
        return self.wait_state("/vms/" + vm["metadata"]["uuid"])


class Receiver(object):
    """A webhook receiver on 127.0.0.1: records each POST (path, Authorization, JSON body)."""

    def __init__(self, status=200):
        self.status = status
        self.requests = []
        self.release = threading.Event()
        self.release.set()
        self.cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.release.wait(10)  # a slow receiver, when a test clears it
                with receiver.cond:
                    receiver.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                              "body": json.loads(body)})
                    receiver.cond.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/events" % self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def wait(self, count, timeout=10):
        with self.cond:
            self.cond.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def shared_sim():
    # These tests check the events each change emits; the unprompted VM.UPDATEs that follow every VM.CREATE
    # (2 s and 4 s later, by default) have tests of their own.
    simulator = PrismSimulator(username="admin", password="secret", port=0, pending_seconds=0.2,
                               updates_after_create=()).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def sim(shared_sim):
    """One simulator for the module (starting one costs a key pair), wiped through /_sim/reset per test."""
    shared_sim.pending_seconds = 0.2
    resp = requests.post(shared_sim.url + "/_sim/reset", verify=shared_sim.cert_path, timeout=10)
    assert resp.status_code == 200
    return shared_sim


@pytest.fixture
def prism(sim):
    return Prism(sim)


@pytest.fixture
def receiver():
    rcv = Receiver()
    yield rcv
    rcv.close()


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def sim_get(sim, path):
    resp = requests.get(sim.url + path, verify=sim.cert_path, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def events_seen(receiver_requests):
    return [(r["body"]["event_type"], r["body"]["entity_reference"]["uuid"]) for r in receiver_requests]


# ---------------------------------------------------------------- authentication
@pytest.mark.parametrize("auth", [None, ("admin", "wrong"), ("root", "secret")])
@pytest.mark.parametrize("method,path", [("GET", "/users/me"), ("POST", "/webhooks/list"), ("GET", "/vms/x")])
def test_unauthenticated_requests_get_the_json_401_real_prism_sends(sim, auth, method, path):
    resp = Prism(sim, auth=auth)(method, path, json={"kind": "webhook"})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="Intent Gateway Login Required"'
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.json() == {"state": "ERROR", "code": 401, "message_list": [{
        "reason": "AUTHENTICATION_REQUIRED", "message": "Authentication required.",
        "details": 'Basic realm="Intent Gateway Login Required"'}], "api_version": "3.1"}


def test_users_me(prism):
    resp = prism("GET", "/users/me")
    assert resp.status_code == 200
    me = resp.json()
    assert me["status"]["name"] == "admin" and me["metadata"]["kind"] == "user"


# ---------------------------------------------------------------- webhooks
def test_webhook_lifecycle_pending_then_complete(prism, receiver):
    created = prism.create_webhook(name="nl", post_url=receiver.url, events=["VM.ON", "VM.OFF"], wait=False)
    assert created["status"]["state"] == "PENDING"
    assert created["status"]["execution_context"]["task_uuid"]
    assert created["metadata"]["spec_version"] == 0
    uuid = created["metadata"]["uuid"]

    hook = prism.wait_state("/webhooks/" + uuid)
    assert hook["spec"]["name"] == "nl"
    assert hook["status"]["resources"]["post_url"] == receiver.url
    assert hook["status"]["resources"]["events_filter_list"] == ["VM.ON", "VM.OFF"]
    task = prism("GET", "/tasks/" + created["status"]["execution_context"]["task_uuid"]).json()
    assert task["status"] == "SUCCEEDED" and task["entity_reference_list"] == [{"kind": "webhook", "uuid": uuid}]

    resp = prism("DELETE", "/webhooks/" + uuid)
    assert resp.status_code == 202
    assert resp.json()["status"]["state"] == "DELETE_PENDING"
    prism.wait_gone("/webhooks/" + uuid)
    listed = prism("POST", "/webhooks/list", json={"kind": "webhook"}).json()
    assert listed["metadata"]["total_matches"] == 0 and listed["entities"] == []


def test_duplicate_webhooks_are_allowed(prism):
    first = prism.create_webhook(name="dup")
    second = prism.create_webhook(name="dup")
    assert first["metadata"]["uuid"] != second["metadata"]["uuid"]
    listed = prism("POST", "/webhooks/list", json={"kind": "webhook", "filter": "name==dup"}).json()
    assert listed["metadata"]["total_matches"] == 2


def test_webhook_password_is_never_returned(sim, prism):
    secret = "S3cr3t-hook-password"
    hook = prism.create_webhook(name="pw", username="listener", password=secret, wait=False)
    uuid = hook["metadata"]["uuid"]
    hook = prism.wait_state("/webhooks/" + uuid)
    put = prism("PUT", "/webhooks/" + uuid, json={"metadata": hook["metadata"], "spec": hook["spec"]})
    texts = [
        json.dumps(hook), put.text,
        prism("GET", "/webhooks/" + uuid).text,
        prism("POST", "/webhooks/list", json={"kind": "webhook"}).text,
        json.dumps(sim_get(sim, "/_sim/stats")), json.dumps(sim_get(sim, "/_sim/deliveries")),
    ]
    for text in texts:
        assert secret not in text
    assert hook["spec"]["resources"]["credentials"] == {"username": "listener"}


def test_webhook_list_paging_filter_and_sorting(prism):
    for i in range(7):
        prism.create_webhook(name="hook-%d" % i, wait=False)
    prism.create_webhook(name="other", wait=False)

    names, offset = [], 0
    while True:
        page = prism("POST", "/webhooks/list", json={"kind": "webhook", "length": 3, "offset": offset}).json()
        assert page["metadata"]["total_matches"] == 8 and page["metadata"]["offset"] == offset
        assert page["metadata"]["length"] == len(page["entities"]) <= 3
        names += [e["spec"]["name"] for e in page["entities"]]
        offset += len(page["entities"])
        if offset >= page["metadata"]["total_matches"]:
            break
    assert sorted(names) == sorted(["hook-%d" % i for i in range(7)] + ["other"])

    default = prism("POST", "/webhooks/list", json={"kind": "webhook"}).json()
    assert len(default["entities"]) == 8
    beyond = prism("POST", "/webhooks/list", json={"kind": "webhook", "offset": 50}).json()
    assert beyond["entities"] == [] and beyond["metadata"]["total_matches"] == 8

    # Prism matches the value as a regular expression anywhere in the name.
    partial = prism("POST", "/webhooks/list", json={"kind": "webhook", "filter": "name==hook"}).json()
    assert partial["metadata"]["total_matches"] == 7
    exact = prism("POST", "/webhooks/list", json={"kind": "webhook", "filter": "name==^hook-3$"}).json()
    assert [e["spec"]["name"] for e in exact["entities"]] == ["hook-3"]
    either = prism("POST", "/webhooks/list", json={"kind": "webhook", "filter": "name==^other$,name==^hook-1$"})
    assert sorted(e["spec"]["name"] for e in either.json()["entities"]) == ["hook-1", "other"]

    desc = prism("POST", "/webhooks/list",
                 json={"kind": "webhook", "sort_attribute": "name", "sort_order": "DESCENDING", "length": 2}).json()
    assert [e["spec"]["name"] for e in desc["entities"]] == ["other", "hook-6"]

    bad = prism("POST", "/webhooks/list", json={"kind": "webhook", "filter": "color==red"})
    assert bad.status_code == 422 and bad.json()["message_list"][0]["reason"] == "INVALID_REQUEST"


def test_webhook_update_needs_the_current_spec_version(prism):
    hook = prism.create_webhook(name="v", events=["VM.ON"])
    uuid = hook["metadata"]["uuid"]
    assert hook["metadata"]["spec_version"] == 0
    spec = hook["spec"]
    spec["resources"]["events_filter_list"] = ["VM.ON", "VM.OFF"]
    body = {"api_version": "3.1", "metadata": {"kind": "webhook", "uuid": uuid, "spec_version": 0}, "spec": spec}

    resp = prism("PUT", "/webhooks/" + uuid, json=body)
    assert resp.status_code == 202
    assert resp.json()["status"]["state"] == "PENDING" and resp.json()["metadata"]["spec_version"] == 1

    stale = prism("PUT", "/webhooks/" + uuid, json=body)
    assert stale.status_code == 409
    error = stale.json()
    assert error["state"] == "ERROR" and error["code"] == 409 and error["api_version"] == "3.1"
    assert error["message_list"][0]["reason"] == "CONCURRENT_REQUESTS_NOT_ALLOWED"
    assert "spec_version" in error["message_list"][0]["message"]

    hook = prism.wait_state("/webhooks/" + uuid)
    assert hook["metadata"]["spec_version"] == 1
    assert hook["status"]["resources"]["events_filter_list"] == ["VM.ON", "VM.OFF"]

    no_version = dict(body, metadata={"kind": "webhook"})
    assert prism("PUT", "/webhooks/" + uuid, json=no_version).status_code == 422


@pytest.mark.parametrize("method,path", [("GET", "/webhooks/%s"), ("PUT", "/webhooks/%s"),
                                         ("DELETE", "/webhooks/%s"), ("GET", "/vms/%s"), ("DELETE", "/vms/%s")])
def test_unknown_uuid_is_a_v3_404(prism, method, path):
    missing = "0a1b2c3d-0000-4000-8000-000000000000"
    resp = prism(method, path % missing, json={})
    assert resp.status_code == 404
    error = resp.json()
    # The error's kind is the entity's, as in Prism.
    assert error["api_version"] == "3.1" and error["code"] == 404 and error["kind"] == path.split("/")[1][:-1]
    assert error["state"] == "ERROR"
    assert error["message_list"][0]["reason"] == "ENTITY_NOT_FOUND"
    assert missing in error["message_list"][0]["message"]


@pytest.mark.parametrize("method,path", [("GET", "/vms/list"), ("GET", "/vms/web-01"), ("PUT", "/webhooks/x"),
                                         ("DELETE", "/vms/list")])
def test_a_uuid_that_is_none_is_a_400_invalid_uuid(prism, method, path):
    """As Prism answers a GET on /vms/list (a list is a POST): the path's last part is taken for a uuid."""
    resp = prism(method, path, json={})
    assert resp.status_code == 400
    error = resp.json()
    assert (error["code"], error["kind"]) == (400, path.split("/")[1][:-1])
    assert error["message_list"][0]["reason"] == "INVALID_UUID"
    assert error["message_list"][0]["message"] == "Invalid UUID passed. %s" % path.split("/")[2]


@pytest.mark.parametrize("body,field", [
    ({"metadata": {"kind": "webhook"}}, "'spec' is a required property"),
    ({"spec": {"name": "x", "resources": {"post_url": "http://127.0.0.1/", "events_filter_list": ["VM.ON"]}}},
     "'metadata' is a required property"),
    ({"metadata": {"kind": "webhook"},
      "spec": {"resources": {"post_url": "http://127.0.0.1/", "events_filter_list": ["VM.ON"]}}},
     "'name' is a required property"),
    ({"metadata": {"kind": "webhook"}, "spec": {"name": "x", "resources": {"events_filter_list": ["VM.ON"]}}},
     "'post_url' is a required property"),
    ({"metadata": {"kind": "webhook"}, "spec": {"name": "x", "resources": {"post_url": "http://127.0.0.1/"}}},
     "'events_filter_list' is a required property"),
    ({"metadata": {"kind": "webhook"}, "spec": {"name": "x", "resources": {
        "post_url": "http://127.0.0.1/", "events_filter_list": ["VM.EXPLODE"]}}}, "'VM.EXPLODE' is not one of"),
    ({"metadata": {"kind": "webhook"}, "spec": {"name": "x", "resources": {
        "post_url": "ftp://127.0.0.1/", "events_filter_list": ["VM.ON"]}}}, "is not a valid http(s) URL"),
])
def test_invalid_webhook_bodies_are_422(prism, body, field):
    resp = prism("POST", "/webhooks", json=body)
    assert resp.status_code == 422
    message = resp.json()["message_list"][0]
    assert message["reason"] == "INVALID_REQUEST"
    assert any(field in text for texts in message["details"].values() for text in texts), message
    assert prism("POST", "/webhooks/list", json={"kind": "webhook"}).json()["metadata"]["total_matches"] == 0


def test_malformed_json_is_400(prism):
    resp = prism("POST", "/webhooks", data="{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["state"] == "ERROR"


# ---------------------------------------------------------------- VMs
def test_vm_crud(prism):
    created = prism.create_vm(name="web-01", ips=["10.1.1.5"], categories={"AppTier": "Web"}, wait=False)
    assert created["status"]["state"] == "PENDING"
    uuid = created["metadata"]["uuid"]
    vm = prism.wait_state("/vms/" + uuid)
    assert vm["metadata"]["categories"] == {"AppTier": "Web"}
    assert vm["status"]["name"] == "web-01"
    assert vm["status"]["resources"]["power_state"] == "OFF"
    nic = vm["status"]["resources"]["nic_list"][0]
    assert nic["ip_endpoint_list"] == [{"ip": "10.1.1.5", "type": "ASSIGNED"}]
    assert nic["uuid"] and nic["mac_address"] == vm["spec"]["resources"]["nic_list"][0]["mac_address"]

    prism.create_vm(name="web-02", ips=["10.1.1.6"])
    prism.create_vm(name="db-01", ips=["10.1.2.5"])
    listed = prism("POST", "/vms/list", json={"kind": "vm", "filter": "vm_name==web"}).json()
    assert sorted(e["status"]["name"] for e in listed["entities"]) == ["web-01", "web-02"]

    vm = prism.put_vm(vm, categories={"AppTier": "App", "Env": "Prod"}, num_sockets=2)
    assert vm["metadata"]["spec_version"] == 1
    assert vm["metadata"]["categories"] == {"AppTier": "App", "Env": "Prod"}
    assert vm["status"]["resources"]["num_sockets"] == 2
    assert vm["status"]["resources"]["nic_list"][0]["uuid"] == nic["uuid"]  # the NIC kept its identity

    resp = prism("DELETE", "/vms/" + uuid)
    assert resp.status_code == 202 and resp.json()["status"]["state"] == "DELETE_PENDING"
    prism.wait_gone("/vms/" + uuid)
    listed = prism("POST", "/vms/list", json={"kind": "vm"}).json()
    assert sorted(e["status"]["name"] for e in listed["entities"]) == ["db-01", "web-02"]


def test_vm_power_change_with_stale_spec_version_is_409(prism):
    vm = prism.create_vm(name="p", power="OFF")
    vm = prism.put_vm(vm, power_state="ON")
    assert vm["status"]["resources"]["power_state"] == "ON"
    stale = {"metadata": dict(vm["metadata"], spec_version=0), "spec": vm["spec"]}
    stale["spec"]["resources"]["power_state"] = "OFF"
    resp = prism("PUT", "/vms/" + vm["metadata"]["uuid"], json=stale)
    assert resp.status_code == 409
    assert resp.json()["message_list"][0]["reason"] == "CONCURRENT_REQUESTS_NOT_ALLOWED"
    assert prism.wait_state("/vms/" + vm["metadata"]["uuid"])["status"]["resources"]["power_state"] == "ON"


@pytest.mark.parametrize("resources,detail", [
    ({"power_state": "SLEEPING"}, "spec.resources.power_state"),
    ({"nic_list": [{"ip_endpoint_list": [{"ip": "10.1.1.300"}]}]}, "spec.resources.nic_list[0].ip_endpoint_list[0].ip"),
])
def test_invalid_vm_bodies_are_422(prism, resources, detail):
    resp = prism("POST", "/vms", json={"metadata": {"kind": "vm"}, "spec": {"name": "x", "resources": resources}})
    assert resp.status_code == 422
    assert detail in resp.json()["message_list"][0]["details"]


def test_vm_list_is_capped_at_500_per_page(sim, prism):
    sim.pending_seconds = 0

    def create(i):
        body = {"metadata": {"kind": "vm"}, "spec": {"name": "vm-%03d" % i, "resources": {}}}
        return requests.post(sim.url + V3 + "/vms", json=body, auth=("admin", "secret"), verify=sim.cert_path,
                             timeout=10).status_code
    with ThreadPoolExecutor(8) as pool:  # the server is threaded; this only saves wall time
        assert set(pool.map(create, range(503))) == {202}
    page = prism("POST", "/vms/list", json={"kind": "vm", "length": 1000}).json()
    assert page["metadata"]["total_matches"] == 503
    assert len(page["entities"]) == page["metadata"]["length"] == 500
    rest = prism("POST", "/vms/list", json={"kind": "vm", "length": 1000, "offset": 500}).json()
    names = {e["spec"]["name"] for e in page["entities"] + rest["entities"]}
    assert len(names) == 503


# ---------------------------------------------------------------- event delivery
def test_power_events_reach_the_receiver_with_basic_auth_and_the_envelope(sim, prism, receiver):
    hook = prism.create_webhook(post_url=receiver.url, events=["VM.ON", "VM.OFF"], username="nl", password="pw1")
    vm = prism.create_vm(name="web-01", ips=["10.1.1.5"], power="OFF", categories={"AppTier": "Web"})
    vm = prism.put_vm(vm, power_state="ON")
    prism.put_vm(vm, power_state="OFF")

    got = receiver.wait(2)
    uuid = vm["metadata"]["uuid"]
    assert events_seen(got) == [("VM.ON", uuid), ("VM.OFF", uuid)]
    for req in got:
        assert req["auth"] == basic("nl", "pw1")
        assert req["path"] == "/events"
        body = req["body"]
        assert set(body) == {"entity_reference", "data", "version", "event_type"}
        assert body["version"] == "1.0" and body["entity_reference"]["kind"] == "vm"
        entity = body["data"]["metadata"]
        assert {"api_version", "metadata", "spec", "status"} <= set(entity)
        assert entity["metadata"]["categories"] == {"AppTier": "Web"}
        assert entity["status"]["resources"]["nic_list"][0]["ip_endpoint_list"][0]["ip"] == "10.1.1.5"
    assert got[0]["body"]["data"]["metadata"]["status"]["resources"]["power_state"] == "ON"
    assert got[1]["body"]["data"]["metadata"]["status"]["resources"]["power_state"] == "OFF"

    # The team's parser reads the envelope the simulator sends.
    event = parse_event(got[0]["body"])
    assert (event.event_type, event.vm_uuid, event.ips, event.categories) == (
        "VM.ON", uuid, ("10.1.1.5",), {"AppTier": "Web"})

    recorded = sim_get(sim, "/_sim/deliveries")
    assert [(d["event_type"], d["status_code"], d["error"], d["webhook_uuid"]) for d in recorded] == [
        ("VM.ON", 200, None, hook["metadata"]["uuid"]), ("VM.OFF", 200, None, hook["metadata"]["uuid"])]
    assert recorded[0]["post_url"] == receiver.url and recorded[0]["vm_uuid"] == uuid


def test_dropped_deliveries_are_recorded_and_never_reach_the_receiver(sim, prism, receiver):
    hook = prism.create_webhook(post_url=receiver.url, events=["VM.ON", "VM.OFF"])
    vm = prism.create_vm(name="web-01", ips=["10.1.1.5"], power="OFF")
    uuid = vm["metadata"]["uuid"]
    try:
        sim.drop_next(1)
        vm = prism.put_vm(vm, power_state="ON")     # lost: the next one
        vm = prism.put_vm(vm, power_state="OFF")    # delivered
        sim.drop_if = lambda d: d["event_type"] == "VM.ON" and d["webhook_uuid"] == hook["metadata"]["uuid"]
        vm = prism.put_vm(vm, power_state="ON")     # lost: the predicate
        sim.drop_if = None
        prism.put_vm(vm, power_state="OFF")         # delivered
        assert sim.wait_idle(10)
    finally:
        sim.drop_if = None
        sim.drop_next(0)
    assert events_seen(receiver.wait(2)) == [("VM.OFF", uuid), ("VM.OFF", uuid)]
    recorded = [(d["event_type"], d["status_code"], d["error"], d["dropped"]) for d in sim.deliveries]
    assert recorded == [("VM.ON", None, "dropped (simulated)", True), ("VM.OFF", 200, None, False),
                        ("VM.ON", None, "dropped (simulated)", True), ("VM.OFF", 200, None, False)]
    assert sim.stats()["failed_deliveries"] == 2
    with pytest.raises(ValueError):
        sim.drop_next(-1)


def test_each_webhook_gets_only_its_events(sim, prism, receiver):
    other = Receiver()
    try:
        prism.create_webhook(name="power", post_url=receiver.url, events=["VM.ON"])
        prism.create_webhook(name="life", post_url=other.url, events=["VM.CREATE", "VM.DELETE"])
        vm = prism.create_vm(name="web-01", power="ON", categories={"Env": "Prod"})
        uuid = vm["metadata"]["uuid"]
        prism("DELETE", "/vms/" + uuid)
        prism.wait_gone("/vms/" + uuid)
        assert sim.wait_idle(10)
        assert events_seen(receiver.wait(1)) == [("VM.ON", uuid)]
        life = other.wait(2)
        assert events_seen(life) == [("VM.CREATE", uuid), ("VM.DELETE", uuid)]
        # VM.DELETE carries the last known VM.
        last = life[1]["body"]["data"]["metadata"]
        assert last["metadata"]["categories"] == {"Env": "Prod"} and last["spec"]["name"] == "web-01"
        assert len(sim_get(sim, "/_sim/deliveries")) == 3
    finally:
        other.close()


def test_nic_plug_and_unplug_events(sim, prism, receiver):
    prism.create_webhook(post_url=receiver.url, events=["VM.NIC_PLUG", "VM.NIC_UNPLUG", "VM.UPDATE", "VM.ON"])
    vm = prism.create_vm(name="n", ips=["10.0.0.1"], power="OFF")
    uuid = vm["metadata"]["uuid"]
    nics = vm["spec"]["resources"]["nic_list"] + [{"ip_endpoint_list": [{"ip": "10.0.0.2"}]}]
    vm = prism.put_vm(vm, nic_list=nics)
    assert [n["ip_endpoint_list"][0]["ip"] for n in vm["status"]["resources"]["nic_list"]] == ["10.0.0.1", "10.0.0.2"]
    prism.put_vm(vm, nic_list=vm["spec"]["resources"]["nic_list"][1:])
    assert sim.wait_idle(10)
    got = receiver.wait(4)
    assert events_seen(got) == [("VM.NIC_PLUG", uuid), ("VM.UPDATE", uuid), ("VM.NIC_UNPLUG", uuid),
                                ("VM.UPDATE", uuid)]
    last_ips = [n["ip_endpoint_list"][0]["ip"] for n in got[-1]["body"]["data"]["metadata"]["status"]["resources"][
        "nic_list"]]
    assert last_ips == ["10.0.0.2"]


def test_category_change_is_a_vm_update_and_power_only_is_not(sim, prism, receiver):
    prism.create_webhook(post_url=receiver.url, events=["VM.UPDATE", "VM.ON"])
    vm = prism.create_vm(name="c", power="OFF", categories={"AppTier": "Web"})
    vm = prism.put_vm(vm, power_state="ON")
    prism.put_vm(vm, categories={"AppTier": "Db"})
    assert sim.wait_idle(10)
    got = receiver.wait(2)
    assert [r["body"]["event_type"] for r in got] == ["VM.ON", "VM.UPDATE"]
    assert got[1]["body"]["data"]["metadata"]["metadata"]["categories"] == {"AppTier": "Db"}


def test_two_unprompted_updates_follow_each_create(receiver):
    """As seen on a real cluster: VM.UPDATE twice after VM.CREATE, nobody changing the VM, each carrying its state."""
    with PrismSimulator(port=0, pending_seconds=0.05, updates_after_create=(0.3, 0.6)) as real:
        prism = Prism(real)
        prism.create_webhook(post_url=receiver.url, events=["VM.CREATE", "VM.UPDATE", "VM.ON"])
        vm = prism.create_vm(name="u", ips=["10.9.8.7"], power="OFF", categories={"AppTier": "Web"})
        assert real.wait_idle(10)  # the unprompted updates are pending work too
        got = receiver.wait(3)
        uuid = vm["metadata"]["uuid"]
        assert events_seen(got) == [("VM.CREATE", uuid), ("VM.UPDATE", uuid), ("VM.UPDATE", uuid)]
        assert [parse_event(r["body"]).ips for r in got] == [("10.9.8.7",)] * 3
        deliveries = sim_get(real, "/_sim/deliveries")
        assert [d["unprompted"] for d in deliveries] == [False, True, True]
        # The VM did not change: same spec_version, no task.
        assert prism("GET", "/vms/" + uuid).json()["metadata"]["spec_version"] == vm["metadata"]["spec_version"]
    assert PrismSimulator(port=0).updates_after_create == (2.0, 4.0)  # on by default, as on a real cluster


def test_older_aos_payload_shapes_per_webhook(receiver):
    """payload_style 2017: network_reference, entity_version, memory_size_mb, api_version 3.0, and no NICs on
    power events; and the collection's event parser reads both shapes alike."""
    old_receiver = Receiver()
    try:
        with PrismSimulator(port=0, pending_seconds=0.05, updates_after_create=()) as sim:
            prism = Prism(sim)
            new = prism.create_webhook(name="new", post_url=receiver.url, events=["VM.CREATE", "VM.ON", "VM.OFF"])
            old = prism.create_webhook(name="old", post_url=old_receiver.url, events=["VM.CREATE", "VM.ON", "VM.OFF"])
            sim.set_payload_style("2017", webhook_uuid=old["metadata"]["uuid"])
            vm = prism.create_vm(name="o", ips=["10.9.7.1"], power="ON", categories={"AppTier": "Db"})
            prism.put_vm(vm, power_state="OFF")
            got_new, got_old = receiver.wait(3), old_receiver.wait(3)
        assert new["metadata"]["uuid"] != old["metadata"]["uuid"]
        assert [r["body"]["event_type"] for r in got_old] == ["VM.CREATE", "VM.ON", "VM.OFF"]
        create_2019 = got_new[0]["body"]["data"]["metadata"]
        create_2017 = got_old[0]["body"]["data"]["metadata"]
        assert create_2019["api_version"] == "3.1" and create_2017["api_version"] == "3.0"
        assert "spec_version" in create_2019["metadata"] and "spec_version" not in create_2017["metadata"]
        assert create_2017["metadata"]["entity_version"] == create_2019["metadata"]["spec_version"]
        for part in ("spec", "status"):
            nic_2017 = create_2017[part]["resources"]["nic_list"][0]
            assert "network_reference" in nic_2017 and "subnet_reference" not in nic_2017
            assert create_2017[part]["resources"]["memory_size_mb"] == create_2019[part]["resources"][
                "memory_size_mib"]
            assert "memory_size_mib" not in create_2017[part]["resources"]
        for power in got_old[1:]:
            entity = power["body"]["data"]["metadata"]
            assert entity["spec"]["resources"]["nic_list"] == [] == entity["status"]["resources"]["nic_list"]
        for new_event, old_event in zip(got_new, got_old):
            parsed_new, parsed_old = parse_event(new_event["body"]), parse_event(old_event["body"])
            for field in ("event_type", "vm_uuid", "vm_name", "categories", "power_state"):
                assert getattr(parsed_old, field) == getattr(parsed_new, field), field
        # The addresses: read from the 2017 VM.CREATE; unknown (None, "ask Prism"), not "none", at power events.
        assert [parse_event(r["body"]).ips for r in got_old] == [("10.9.7.1",), None, None]
        assert [parse_event(r["body"]).ips for r in got_new] == [("10.9.7.1",)] * 3
    finally:
        old_receiver.close()


def test_empty_nics_on_power_on_knob(receiver):
    with PrismSimulator(port=0, pending_seconds=0.05, empty_nics_on_power_on=True, updates_after_create=()) as quirky:
        prism = Prism(quirky)
        prism.create_webhook(post_url=receiver.url, events=["VM.ON", "VM.OFF"])
        vm = prism.create_vm(name="q", ips=["10.9.9.9"], power="ON")
        prism.put_vm(vm, power_state="OFF")
        got = receiver.wait(2)
        on, off = (r["body"]["data"]["metadata"] for r in got)
        assert got[0]["body"]["event_type"] == "VM.ON"
        assert on["status"]["resources"]["nic_list"] == [] and on["spec"]["resources"]["nic_list"] == []
        assert off["status"]["resources"]["nic_list"][0]["ip_endpoint_list"][0]["ip"] == "10.9.9.9"
        # Prism itself still knows the IPs.
        current = prism("GET", "/vms/" + vm["metadata"]["uuid"]).json()
        assert current["status"]["resources"]["nic_list"][0]["ip_endpoint_list"][0]["ip"] == "10.9.9.9"


def test_failed_deliveries_are_recorded(sim, prism):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    failing = Receiver(status=500)
    try:
        prism.create_webhook(name="down", post_url="https://127.0.0.1:%d/x" % port, events=["VM.CREATE"])
        prism.create_webhook(name="err", post_url=failing.url, events=["VM.CREATE"])
        prism.create_webhook(name="far", post_url="http://192.0.2.10/x", events=["VM.CREATE"])
        prism.create_vm(name="x")
        got = sim.wait_for_deliveries(3)
        by_url = dict((d["post_url"], d) for d in got)
        refused = by_url["https://127.0.0.1:%d/x" % port]
        assert refused["status_code"] is None and "Connection" in refused["error"]
        assert by_url[failing.url]["status_code"] == 500 and by_url[failing.url]["error"] is None
        # The simulator never sends anything off this machine.
        assert "not a loopback address" in by_url["http://192.0.2.10/x"]["error"]
        assert sim_get(sim, "/_sim/stats")["failed_deliveries"] == 3
    finally:
        failing.close()


def test_a_slow_receiver_never_blocks_the_api(sim, prism, receiver):
    prism.create_webhook(post_url=receiver.url, events=["VM.CREATE"])
    receiver.release.clear()  # the receiver now hangs on each POST until released
    try:
        prism.create_vm(name="slow")  # waits for COMPLETE, so VM.CREATE is being delivered now
        prism.create_vm(name="slow-2")
        resp = prism("POST", "/vms/list", json={"kind": "vm"}, timeout=5)
        assert resp.status_code == 200 and resp.json()["metadata"]["total_matches"] == 2
        assert receiver.requests == []  # still stuck in the receiver
    finally:
        receiver.release.set()
    assert len(receiver.wait(2)) == 2


def test_pending_and_deleting_webhooks_get_nothing(sim, prism, receiver):
    sim.pending_seconds = 0
    deleting = prism.create_webhook(name="deleting", post_url=receiver.url, events=["VM.CREATE"])
    sim.pending_seconds = 60  # this deletion and the next creation stay pending for the whole test
    assert prism("DELETE", "/webhooks/" + deleting["metadata"]["uuid"]).status_code == 202
    pending = prism.create_webhook(name="pending", post_url=receiver.url, events=["VM.CREATE"], wait=False)
    assert prism("GET", "/webhooks/" + pending["metadata"]["uuid"]).json()["status"]["state"] == "PENDING"
    sim.pending_seconds = 0
    control = prism.create_webhook(name="control", post_url=receiver.url, events=["VM.CREATE"])
    prism.create_vm(name="x")
    # Deliveries go out in webhook order, so anything for the first two would arrive before the control's.
    got = sim.wait_for_deliveries(1)
    assert [d["webhook_uuid"] for d in got] == [control["metadata"]["uuid"]]
    assert len(receiver.wait(1)) == 1


def test_migrate_helper_emits_vm_migrate(sim, prism, receiver):
    prism.create_webhook(post_url=receiver.url, events=["VM.MIGRATE"])
    vm = prism.create_vm(name="m", power="ON")
    host = vm["status"]["resources"]["host_reference"]["uuid"]
    resp = requests.post(sim.url + "/_sim/vms/%s/migrate" % vm["metadata"]["uuid"], verify=sim.cert_path, timeout=10)
    assert resp.status_code == 200
    got = receiver.wait(1)
    assert got[0]["body"]["event_type"] == "VM.MIGRATE"
    assert prism("GET", "/vms/" + vm["metadata"]["uuid"]).json()["status"]["resources"]["host_reference"][
        "uuid"] != host


def test_seed_vms_builds_what_the_api_would_build_without_events(sim, prism, receiver):
    prism.create_webhook(post_url=receiver.url, events=["VM.CREATE", "VM.ON"])
    made = prism.create_vm(name="made", ips=["10.9.0.1"], power="ON", categories={"AppTier": "Web"})
    uuids = sim.seed_vms(3, name_prefix="bulk", categories={"AppTier": "Web"}, first_ip="10.9.1.254")
    assert len(set(uuids)) == 3
    seeded = prism("GET", "/vms/" + uuids[2]).json()
    assert seeded["status"]["state"] == "COMPLETE" and seeded["status"]["name"] == "bulk-00002"
    assert seeded["status"]["resources"]["nic_list"][0]["ip_endpoint_list"] == [{"ip": "10.9.2.0", "type": "ASSIGNED"}]
    # Same shape as an entity made through POST /vms (keys at every level, NIC defaults included).
    for part in ("metadata", "spec", "status"):
        assert set(seeded[part]) == set(made[part]), part
    # (num_sockets is one the helper sends; everything else AHV fills in)
    assert set(seeded["status"]["resources"]) == set(made["status"]["resources"]) - {"num_sockets"}
    assert set(seeded["status"]["resources"]["nic_list"][0]) == set(made["status"]["resources"]["nic_list"][0])
    listed = prism("POST", "/vms/list", json={"kind": "vm", "filter": "vm_name==^bulk-"}).json()
    assert listed["metadata"]["total_matches"] == 3
    assert sim.wait_idle(timeout=10)
    assert [e for e, _uuid in events_seen(receiver.wait(2))] == ["VM.CREATE", "VM.ON"]  # only the POSTed VM's
    assert len(receiver.requests) == 2


def test_emit_vm_event_sends_the_current_state_and_records_when_it_was_sent(sim, prism, receiver):
    prism.create_webhook(post_url=receiver.url, events=["VM.ON"])
    (uuid,) = sim.seed_vms(1, categories={"AppTier": "DB"}, first_ip="10.9.3.1")
    before = time.time()
    sim.emit_vm_event(uuid, "VM.ON")
    got = receiver.wait(1)
    assert events_seen(got) == [("VM.ON", uuid)]
    entity = got[0]["body"]["data"]["metadata"]
    assert entity["metadata"]["categories"] == {"AppTier": "DB"}
    assert entity["status"]["resources"]["nic_list"][0]["ip_endpoint_list"][0]["ip"] == "10.9.3.1"
    recorded = sim_get(sim, "/_sim/deliveries")
    assert recorded[0]["status_code"] == 200
    assert before <= recorded[0]["sent"] <= recorded[0]["time"]
    with pytest.raises(ValueError):
        sim.emit_vm_event(uuid, "VM.EXPLODE")
    with pytest.raises(KeyError):
        sim.emit_vm_event("no-such-vm", "VM.ON")


# ---------------------------------------------------------------- test-control endpoints
def test_sim_stats_and_reset(sim, prism):
    prism.create_webhook(name="s")
    prism("GET", "/users/me")
    stats = sim_get(sim, "/_sim/stats")
    assert stats["calls"]["POST /api/nutanix/v3/webhooks"] == 1
    assert stats["calls"]["GET /api/nutanix/v3/users/me"] == 1
    assert stats["calls"]["GET /api/nutanix/v3/webhooks/<entity_uuid>"] >= 1
    assert stats["webhooks"] == 1

    resp = requests.post(sim.url + "/_sim/reset", verify=sim.cert_path, timeout=10)
    assert resp.status_code == 200
    assert prism("POST", "/webhooks/list", json={"kind": "webhook"}).json()["metadata"]["total_matches"] == 0
    stats = sim_get(sim, "/_sim/stats")
    assert stats["webhooks"] == 0 and stats["calls"] == {"POST /api/nutanix/v3/webhooks/list": 1}


def test_calls_are_counted_per_api(sim, prism):
    prism("GET", "/users/me")
    requests.get(sim.url + "/api/vmm/v4.3/ahv/config/vms", auth=("admin", "secret"), verify=sim.cert_path, timeout=10)
    requests.get(sim.url + "/api/vmm/v4.9/ahv/config/vms", auth=("admin", "secret"), verify=sim.cert_path, timeout=10)
    assert sim_get(sim, "/_sim/stats")["calls_by_api"] == {"v3": 1, "v4": 2}  # a v4 path not served counts too


@pytest.mark.parametrize("method,path", [("POST", "/webhooks/list"), ("POST", "/webhooks"), ("GET", "/webhooks/%s")])
def test_a_prism_central_without_v3_webhooks_answers_404_there(method, path):
    with PrismSimulator(port=0, v3_webhooks=False) as gone:
        resp = Prism(gone)(method, path.replace("%s", "0a1b2c3d-0000-4000-8000-000000000000"), json={})
        assert resp.status_code == 404 and resp.json()["message_list"][0]["reason"] == "ENTITY_NOT_FOUND"
        assert resp.json()["kind"] == "webhook"
        assert Prism(gone)("GET", "/users/me").status_code == 200  # the rest of v3 still answers


def test_an_api_key_is_taken_on_v3_as_on_v4():
    with PrismSimulator(port=0, api_key="pc-key") as keyed:
        def get(headers):
            return requests.get(keyed.url + V3 + "/users/me", headers=headers, verify=keyed.cert_path, timeout=10)
        assert get({"X-ntnx-api-key": "pc-key"}).status_code == 200
        assert get({"X-ntnx-api-key": "pc-kex"}).status_code == 401
        assert Prism(keyed)("GET", "/users/me").status_code == 200  # basic auth still works


# ---------------------------------------------------------------- standalone
def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_standalone_script(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        STANDALONE + ["--port", str(port), "--username", "ops", "--password", "pw", "--pending-seconds", "0",
                      "--v4-versions", "v4.0,v4.1", "--no-v3-webhooks", "--updates-after-create", "",
                      "--payload-style", "2017"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
        env=dict(os.environ, PRISM_SIM_API_KEY="cli-key"))
    try:
        lines = []
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(30)
        assert lines and lines[0].strip() == "Prism simulator ready at https://127.0.0.1:%d" % port
        # Trust the certificate the script made (it is valid for 127.0.0.1), as a client pinning it would.
        cert = tmp_path / "prism.pem"
        cert.write_text(ssl.get_server_certificate(("127.0.0.1", port)))
        resp = requests.get("https://127.0.0.1:%d%s/users/me" % (port, V3), auth=("ops", "pw"), verify=str(cert),
                            timeout=10)
        assert resp.status_code == 200 and resp.json()["status"]["name"] == "ops"
        assert requests.get("https://127.0.0.1:%d%s/users/me" % (port, V3), auth=("ops", "bad"), verify=str(cert),
                            timeout=10).status_code == 401

        def status(method, path):
            return requests.request(method, "https://127.0.0.1:%d%s" % (port, path), verify=str(cert), timeout=10,
                                    headers={"X-ntnx-api-key": "cli-key"}).status_code
        assert status("GET", "/api/vmm/v4.1/ahv/config/vms") == 200 and status("GET", "/api/vmm/v4.3/ahv/config/vms") == 404
        assert status("POST", V3 + "/webhooks/list") == 404
    finally:
        proc.terminate()
        try:
            rc = proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert rc == 0
