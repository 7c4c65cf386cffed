"""The Prism client against real HTTPS servers: the Prism simulator, and a scripted stub for the failure modes.

No mocking of requests: every test sends real HTTP through the client. Only time.sleep is spied on (and
skipped) to check the backoff the client computes, so no test depends on timing.
"""
import base64
import collections
import os
import socket
import time

import pytest
from flask import Flask, Response, jsonify, request

from ansible_collections.netevents.nutanix.plugins.module_utils import prism
from ansible_collections.netevents.nutanix.plugins.module_utils.events import EVENT_TYPES
from ansible_collections.netevents.nutanix.plugins.module_utils.prism import (
    PrismClient, PrismError, validate_post_url, webhook_changes, webhook_spec, webhook_view)
from tests.simulators._common import ServerThread, make_self_signed_cert
from tests.simulators.prism import PrismSimulator

PASSWORD = "S3cret-Pa55"


class ScriptedPrism(object):
    """An HTTPS server that answers each path from a script of responses and records every request."""

    def __init__(self):
        self.script = collections.defaultdict(list)
        self.requests = []
        app = Flask("scripted_prism")

        @app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE"])
        def handle(path):
            path = "/" + path
            self.requests.append({"method": request.method, "path": path, "query": request.query_string,
                                  "json": request.get_json(silent=True),
                                  "authorization": request.headers.get("Authorization"),
                                  "api_key": request.headers.get("X-ntnx-api-key")})
            steps = self.script.get(path)
            step = steps.pop(0) if steps else {"json": {"ok": True}}
            if step.get("delay"):
                time.sleep(step["delay"])
            if "json" in step:
                response = jsonify(step["json"])
                response.status_code = step.get("status", 200)
            else:
                response = Response(step.get("text", ""), step.get("status", 200), mimetype="text/html")
            for key, value in step.get("headers", {}).items():
                response.headers[key] = value
            return response

        self.server = ServerThread(app, port=0, tls=True)

    def add(self, path, *steps):
        self.script[prism.API_PATH + path].extend(steps)

    def calls(self, path):
        return [r for r in self.requests if r["path"] == prism.API_PATH + path]

    def client(self, **kwargs):
        kwargs.setdefault("validate_certs", False)
        return PrismClient("127.0.0.1", port=self.server.port, username="admin", password=PASSWORD, **kwargs)


@pytest.fixture
def stub():
    server = ScriptedPrism()
    server.server.start()
    yield server
    server.server.stop()


@pytest.fixture
def sim():
    simulator = PrismSimulator(username="admin", password=PASSWORD, port=0, pending_seconds=0.2).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def sleeps(monkeypatch):
    """Record the client's backoff delays instead of sleeping them."""
    recorded = []
    monkeypatch.setattr(prism, "_sleep", recorded.append)
    return recorded


def sim_client(sim, **kwargs):
    kwargs.setdefault("validate_certs", False)
    return PrismClient(sim.host, port=sim.port, username="admin", password=PASSWORD, **kwargs)


def list_calls(sim, kind):
    """How many list calls the simulator has answered (its own request counter)."""
    return sim.stats()["calls"].get("POST %s/%s/list" % (prism.API_PATH, kind), 0)


def v3_error(code, reason, message):
    return {"api_version": "3.1", "code": code, "kind": "error", "state": "ERROR",
            "message_list": [{"reason": reason, "message": message, "details": {}}]}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- transport: retries and backoff

def test_basic_auth_in_header_never_in_url(stub):
    stub.client().users_me()
    (call,) = stub.calls("/users/me")
    assert base64.b64decode(call["authorization"].split()[1]).decode() == "admin:%s" % PASSWORD
    assert PASSWORD not in call["path"] and PASSWORD.encode() not in call["query"]


API_KEY = "k3y-0f-a-s3rvice-acc0unt"


def test_an_api_key_goes_in_its_header_instead_of_basic_auth(stub):
    PrismClient("127.0.0.1", port=stub.server.port, api_key=API_KEY, validate_certs=False).users_me()
    PrismClient("127.0.0.1", port=stub.server.port, username="admin", password=PASSWORD, api_key=API_KEY,
                validate_certs=False).users_me()
    assert [(c["api_key"], c["authorization"]) for c in stub.calls("/users/me")] == [(API_KEY, None)] * 2
    assert API_KEY.encode() not in b"".join(c["query"] for c in stub.requests)


def test_a_refused_or_echoed_api_key_is_explained_and_never_shown(stub):
    keyed = PrismSimulator(port=0, api_key=API_KEY).start()
    try:
        wrong = PrismClient(keyed.host, port=keyed.port, api_key=API_KEY[:-1], ca_path=keyed.cert_path)
        with pytest.raises(PrismError) as info:
            wrong.users_me()
        assert info.value.status_code == 401 and "check nutanix_api_key" in str(info.value)
        right = PrismClient(keyed.host, port=keyed.port, api_key=API_KEY, ca_path=keyed.cert_path)
        assert right.users_me()["status"]["name"] == "admin"
    finally:
        keyed.stop()
    stub.add("/users/me", {"status": 400, "json": v3_error(400, "BAD", "key %s is malformed" % API_KEY)})
    with pytest.raises(PrismError) as info:
        PrismClient("127.0.0.1", port=stub.server.port, api_key=API_KEY, validate_certs=False).users_me()
    assert API_KEY not in str(info.value) and "key ******** is malformed" in str(info.value)


@pytest.mark.parametrize("kwargs", [{}, {"username": "admin"}, {"password": PASSWORD}, {"api_key": ""}])
def test_credentials_are_a_user_and_password_or_a_key(kwargs):
    with pytest.raises(PrismError) as info:
        PrismClient("prism", **kwargs)
    assert str(info.value) == prism.MISSING_CREDENTIALS


def test_api_must_be_auto_v3_or_v4():
    with pytest.raises(PrismError, match="api must be one of auto, v3, v4, not 'v5'"):
        PrismClient("prism", username="u", password="p", api="v5")


def test_5xx_retried_with_exponential_backoff(stub, sleeps):
    stub.add("/users/me", {"status": 503, "text": "busy"}, {"status": 502, "text": "bad gateway"},
             {"json": {"status": {"name": "admin"}}})
    assert stub.client(backoff_factor=0.5).users_me() == {"status": {"name": "admin"}}
    assert len(stub.calls("/users/me")) == 3
    assert sleeps == [0.5, 1.0]


def test_gives_up_after_retries_with_the_v3_reason(stub, sleeps):
    body = v3_error(500, "INTERNAL_ERROR", "database unavailable")
    stub.add("/users/me", *[{"status": 500, "json": body}] * 4)
    with pytest.raises(PrismError) as info:
        stub.client(retries=3, backoff_factor=0.5).users_me()
    assert len(stub.calls("/users/me")) == 4
    assert sleeps == [0.5, 1.0, 2.0]
    err = info.value
    assert err.status_code == 500 and err.reason == "INTERNAL_ERROR"
    assert err.message_list[0]["message"] == "database unavailable"
    assert "HTTP 500 (after 4 attempts)" in str(err) and "INTERNAL_ERROR: database unavailable" in str(err)


def test_backoff_is_capped(stub, sleeps):
    stub.add("/users/me", *[{"status": 503, "text": "busy"}] * 3)
    stub.client(retries=3, backoff_factor=20).users_me()
    assert sleeps == [20, prism.MAX_BACKOFF, prism.MAX_BACKOFF]


def test_429_honours_retry_after_seconds(stub, sleeps):
    stub.add("/webhooks/list", {"status": 429, "text": "slow down", "headers": {"Retry-After": "7"}},
             {"json": {"metadata": {"total_matches": 0}, "entities": []}})
    assert stub.client(backoff_factor=0.5).list_webhooks() == []
    assert sleeps == [7.0]


def test_429_honours_retry_after_http_date(stub, sleeps):
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 20))
    stub.add("/users/me", {"status": 429, "text": "slow down", "headers": {"Retry-After": when}}, {"json": {}})
    stub.client(backoff_factor=0.5).users_me()
    assert len(sleeps) == 1 and 10 < sleeps[0] <= 21  # about 20 s, not the 0.5 s backoff


def test_create_not_retried_on_500_but_on_503_and_429(stub, sleeps):
    """A create that Prism may have acted on is not sent twice: a second POST subscribes twice."""
    stub.add("/webhooks", {"status": 500, "json": v3_error(500, "INTERNAL_ERROR", "boom")})
    with pytest.raises(PrismError) as info:
        stub.client().create_webhook(webhook_spec("a", "https://x/", ["VM.ON"]))
    assert info.value.status_code == 500 and len(stub.calls("/webhooks")) == 1 and sleeps == []

    stub.add("/webhooks", {"status": 503, "text": "busy"}, {"status": 429, "text": "later"},
             {"status": 202, "json": {"metadata": {"uuid": "u1"}}})
    assert stub.client().create_webhook(webhook_spec("a", "https://x/", ["VM.ON"]))["metadata"]["uuid"] == "u1"
    assert len(stub.calls("/webhooks")) == 4


def test_connection_refused_retried_then_friendly(sleeps):
    client = PrismClient("127.0.0.1", port=free_port(), username="admin", password=PASSWORD, retries=2,
                         backoff_factor=0.1)
    with pytest.raises(PrismError) as info:
        client.users_me()
    assert sleeps == [0.1, 0.2]
    text = str(info.value)
    assert "connection refused after 3 attempts" in text and "nutanix_port" in text
    assert info.value.status_code is None and PASSWORD not in text


def test_read_timeout_retries_a_get_but_not_a_create(stub, sleeps):
    stub.add("/users/me", {"delay": 2, "json": {}}, {"json": {"status": {"name": "admin"}}})
    assert stub.client(timeout=0.5, retries=1).users_me() == {"status": {"name": "admin"}}
    assert len(stub.calls("/users/me")) == 2

    stub.add("/webhooks", {"delay": 2, "json": {}})
    with pytest.raises(PrismError) as info:
        stub.client(timeout=0.5, retries=3).create_webhook(webhook_spec("a", "https://x/", ["VM.ON"]))
    assert "did not answer within 0.5 seconds" in str(info.value)
    assert len(stub.calls("/webhooks")) == 1


def test_unresolvable_host_is_named(sleeps):
    client = PrismClient("prism.invalid", port=9440, username="admin", password=PASSWORD, retries=0)
    with pytest.raises(PrismError) as info:
        client.users_me()
    assert "cannot resolve the host name" in str(info.value) and "nutanix_host" in str(info.value)


@pytest.mark.parametrize("host", ["", "https://prism", "admin:pw@prism", "prism:9440"])
def test_bad_host_refused_before_any_request(host):
    with pytest.raises(PrismError) as info:
        PrismClient(host, username="admin", password=PASSWORD)
    assert "nutanix_host must be a host name" in str(info.value)


# --------------------------------------------------------------------------- errors

def test_401_json_body_is_explained_without_the_password(sim):
    client = PrismClient(sim.host, port=sim.port, username="admin", password="Wrong-" + PASSWORD,
                         validate_certs=False)
    with pytest.raises(PrismError) as info:
        client.list_webhooks()
    assert info.value.status_code == 401
    assert "refused the credentials (HTTP 401): check nutanix_username and nutanix_password" in str(info.value)
    assert PASSWORD not in str(info.value)


def test_v3_error_reason_and_message(sim):
    with pytest.raises(PrismError) as info:
        sim_client(sim).get_webhook("0a1b2c3d-0000-4000-8000-000000000000")
    err = info.value
    assert err.status_code == 404 and err.reason == "ENTITY_NOT_FOUND"
    assert "HTTP 404: ENTITY_NOT_FOUND: webhook 0a1b2c3d-0000-4000-8000-000000000000 not found" in str(err)


def test_validation_error_details_are_shown(sim):
    with pytest.raises(PrismError) as info:
        sim_client(sim).create_webhook({"name": "x", "resources": {"post_url": "https://x/"}})
    assert info.value.status_code == 422 and info.value.reason == "INVALID_REQUEST"
    assert "events_filter_list" in str(info.value)


def test_password_echoed_by_a_server_is_scrubbed(stub):
    stub.add("/users/me", {"status": 400, "json": v3_error(400, "BAD", "login admin/%s rejected" % PASSWORD)})
    with pytest.raises(PrismError) as info:
        stub.client().users_me()
    assert PASSWORD not in str(info.value) and "login admin/******** rejected" in str(info.value)


def test_403_names_permission(stub):
    stub.add("/webhooks", {"status": 403, "json": v3_error(403, "AUTHORIZATION_ERROR", "not allowed")})
    with pytest.raises(PrismError) as info:
        stub.client().create_webhook(webhook_spec("a", "https://x/", ["VM.ON"]))
    assert "HTTP 403" in str(info.value) and "permission" in str(info.value)


def test_non_json_success_is_not_prism(stub):
    stub.add("/users/me", {"text": "<html>login page</html>"})
    with pytest.raises(PrismError) as info:
        stub.client().users_me()
    assert "HTTP 200 and an answer that is not JSON: this is not a Prism v3 API" in str(info.value)
    assert info.value.status_code is None


def test_a_web_server_404_is_not_taken_for_a_missing_entity(stub):
    """Another service on the port: no Prism error body. status_code None, so no caller reads 'entity gone'."""
    stub.add("/webhooks/abc", {"status": 404, "text": "<h1>Not Found</h1><p>Not Found</p>"})
    with pytest.raises(PrismError) as info:
        stub.client().get_webhook("abc")
    text = str(info.value)
    assert "GET /api/nutanix/v3/webhooks/abc with HTTP 404 and no Prism error: this is not a Prism v3 API" in text
    assert "the server calls itself 'Werkzeug/" in text and "nutanix_port" in text
    assert info.value.status_code is None and "Not Found Not Found" not in text
    assert info.value.http_status == 404  # what answered said 404: "nothing served here", not "entity gone"


def test_a_v4_error_body_becomes_the_message_list(stub):
    body = {"data": {"error": [{"code": "VMM-20005", "severity": "ERROR", "message": "Failed to perform the "
                                "operation as the backend service could not find the entity."}],
                     "$objectType": "vmm.v4.error.ErrorResponse"}}
    stub.script["/api/vmm/v4.3/ahv/config/vms/x"].append({"status": 404, "json": body})
    with pytest.raises(PrismError) as info:
        stub.client().call("GET", "/api/vmm/v4.3/ahv/config/vms/x")
    assert (info.value.status_code, info.value.reason) == (404, "VMM-20005")
    assert "answered GET /api/vmm/v4.3/ahv/config/vms/x with HTTP 404: VMM-20005: Failed to perform" in str(
        info.value)


def test_a_web_server_on_a_v4_path_is_not_prism_v4(stub):
    stub.script["/api/vmm/v4.3/ahv/config/vms"].append({"status": 200, "text": "<html>portal</html>"})
    with pytest.raises(PrismError) as info:
        stub.client().call("GET", "/api/vmm/v4.3/ahv/config/vms", params={"$limit": 1})
    assert "this is not a Prism v4 API" in str(info.value) and "Prism Central serves the v4 API" in str(info.value)
    assert stub.requests[-1]["query"] == b"%24limit=1"


def test_json_that_is_not_a_v3_entity_is_explained(stub):
    stub.add("/webhooks/abc", {"json": {"ok": True}})
    stub.add("/webhooks/list", {"json": ["not", "a", "list", "answer"]})
    with pytest.raises(PrismError, match="not a Prism v3 entity"):
        stub.client().get_webhook("abc")
    with pytest.raises(PrismError, match="not a Prism v3 list"):
        stub.client().list_webhooks()


# --------------------------------------------------------------------------- TLS

def test_tls_verification_on_by_default_and_explained(sim):
    client = PrismClient(sim.host, port=sim.port, username="admin", password=PASSWORD)
    with pytest.raises(PrismError) as info:
        client.users_me()
    text = str(info.value)
    assert "could not be verified (self-signed certificate)" in text
    assert "in nutanix_ca_path" in text and "validate_certs: false" in text


def test_ca_path_makes_verification_pass_whatever_the_environment_says(sim, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    client = PrismClient(sim.host, port=sim.port, username="admin", password=PASSWORD, ca_path=sim.cert_path)
    assert client.users_me()["status"]["name"] == "admin"


def test_ca_path_of_another_ca_names_the_option(sim, tmp_path):
    other, _key = make_self_signed_cert(str(tmp_path))
    client = PrismClient(sim.host, port=sim.port, username="admin", password=PASSWORD, ca_path=other)
    with pytest.raises(PrismError) as info:
        client.users_me()
    assert "could not be verified against nutanix_ca_path %s" % other in str(info.value)


def test_ca_path_that_cannot_be_loaded_fails_before_any_request(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    for path in (str(bad), str(tmp_path / "missing.pem")):
        with pytest.raises(PrismError, match="nutanix_ca_path: cannot load the CA certificates in"):
            PrismClient("prism.example.com", username="u", password="p", ca_path=path)
    unverified = PrismClient("prism.example.com", username="u", password="p", validate_certs=False, ca_path=str(bad))
    assert unverified.verify is False


def test_ca_bundle_makes_verification_pass(sim, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sim.cert_path)
    client = PrismClient(sim.host, port=sim.port, username="admin", password=PASSWORD)
    assert client.users_me()["status"]["name"] == "admin"


def test_validate_certs_false_wins_over_a_ca_bundle_in_the_environment(sim, monkeypatch):
    """requests lets REQUESTS_CA_BUNDLE override a session-wide verify=False; the client must not."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    assert sim_client(sim, validate_certs=False).users_me()["status"]["name"] == "admin"


# --------------------------------------------------------------------------- webhooks and VMs on the simulator

def test_webhook_lifecycle(sim):
    client = sim_client(sim)
    spec = webhook_spec("hook", "https://127.0.0.1:9/events", ["VM.OFF", "VM.ON"],
                        {"username": "u", "password": "p"}, "first")
    answer = client.create_webhook(spec)
    assert answer["status"]["state"] == "PENDING"
    uuid = answer["metadata"]["uuid"]
    done = client.wait_for_webhook(uuid, timeout=10)
    assert done["status"]["state"] == "COMPLETE" and done["spec"]["description"] == "first"

    spec["resources"]["events_filter_list"] = ["VM.ON"]
    client.update_webhook(uuid, spec, done["metadata"]["spec_version"])
    again = client.wait_for_webhook(uuid, timeout=10)
    assert again["metadata"]["spec_version"] == done["metadata"]["spec_version"] + 1
    assert again["spec"]["resources"]["events_filter_list"] == ["VM.ON"]

    with pytest.raises(PrismError) as info:  # stale spec_version
        client.update_webhook(uuid, spec, done["metadata"]["spec_version"])
    assert info.value.status_code == 409 and info.value.reason == "CONCURRENT_REQUESTS_NOT_ALLOWED"

    client.delete_webhook(uuid)
    client.wait_for_webhook_deleted(uuid, timeout=10)
    assert uuid not in sim.webhooks


def test_wait_for_webhook_times_out_clearly():
    slow = PrismSimulator(username="admin", password=PASSWORD, port=0, pending_seconds=60).start()
    try:
        client = sim_client(slow)
        uuid = client.create_webhook(webhook_spec("slow", "https://127.0.0.1:9/", ["VM.ON"]))["metadata"]["uuid"]
        with pytest.raises(PrismError) as info:
            client.wait_for_webhook(uuid, timeout=0.5)
        assert "still PENDING after 0.5 seconds" in str(info.value)
    finally:
        slow.stop()


def test_list_webhooks_reads_every_page(sim):
    client = sim_client(sim)
    for i in range(230):
        client.create_webhook(webhook_spec("hook-%03d" % i, "https://127.0.0.1:9/", ["VM.ON"]))
    before = list_calls(sim, "webhooks")
    hooks = client.list_webhooks(page_size=100)
    assert sorted(h["spec"]["name"] for h in hooks) == ["hook-%03d" % i for i in range(230)]
    assert list_calls(sim, "webhooks") - before == 3


def test_find_webhooks_is_exact_over_pages(sim):
    """Prism's name filter is a regex matched anywhere: 'edge' also lists 'edge-001'... Only 'edge' counts."""
    client = sim_client(sim)
    for i in range(120):
        client.create_webhook(webhook_spec("edge-%03d" % i, "https://127.0.0.1:9/", ["VM.ON"]))
    wanted = client.create_webhook(webhook_spec("edge", "https://127.0.0.1:9/", ["VM.ON"]))["metadata"]["uuid"]
    assert [h["metadata"]["uuid"] for h in client.find_webhooks("edge")] == [wanted]
    assert client.find_webhooks("edg") == []


@pytest.mark.parametrize("name", ["a,b", "x;name==y", "(unbalanced", "with space", "dot.name"])
def test_find_webhooks_with_special_names(sim, name):
    client = sim_client(sim)
    client.create_webhook(webhook_spec("other", "https://127.0.0.1:9/", ["VM.ON"]))
    uuid = client.create_webhook(webhook_spec(name, "https://127.0.0.1:9/", ["VM.ON"]))["metadata"]["uuid"]
    assert [h["metadata"]["uuid"] for h in client.find_webhooks(name)] == [uuid]


def test_a_prism_without_v3_webhooks_points_to_the_poll_source():
    gone = PrismSimulator(port=0, v3_webhooks=False).start()
    try:
        client = PrismClient(gone.host, port=gone.port, username="admin", password="secret", ca_path=gone.cert_path)
        with pytest.raises(PrismError) as info:
            client.find_webhooks("listener")
        text = str(info.value)
        assert "serves the v3 API but no v3 webhooks (HTTP 404 on POST /api/nutanix/v3/webhooks/list)" in text
        assert "prism.source: poll" in text and "docs/listener.md" in text
        assert info.value.status_code == 404
        # It asked Prism's v3 users/me before saying so.
        assert gone.stats()["calls"]["GET /api/nutanix/v3/users/me"] == 1
    finally:
        gone.stop()


def test_a_404_on_webhooks_from_something_that_is_not_prism_says_so(stub):
    stub.add("/webhooks/list", {"status": 404, "text": "<h1>Not Found</h1>"})
    stub.add("/users/me", {"status": 404, "text": "<h1>Not Found</h1>"})
    with pytest.raises(PrismError) as info:
        stub.client().list_webhooks()
    assert "webhooks/list with HTTP 404 and no Prism error: this is not a Prism v3 API" in str(info.value)


def test_list_vms_is_lazy_and_complete(sim):
    client = sim_client(sim)
    sim.seed_vms(25, name_prefix="vm")
    before = list_calls(sim, "vms")
    pages = client.list_vms(page_size=10)
    first = next(pages)
    assert first["spec"]["name"].startswith("vm-")
    assert list_calls(sim, "vms") - before == 1  # only the first page so far
    rest = list(pages)
    assert len(rest) == 24 and list_calls(sim, "vms") - before == 3


@pytest.mark.parametrize("timeout", [0, -1, None])
def test_timeout_must_be_positive(timeout):
    with pytest.raises(PrismError) as info:
        PrismClient("prism", username="u", password="p", timeout=timeout)
    assert "timeout must be a positive number of seconds" in str(info.value)


def test_ipv6_host():
    assert PrismClient("fd00::10", username="u", password="p").base_url == "https://[fd00::10]:9440"
    assert PrismClient("[fd00::10]", port=9441, username="u", password="p").base_url == "https://[fd00::10]:9441"


# --------------------------------------------------------------------------- webhook payloads

def test_webhook_spec_sorts_and_dedupes_events():
    spec = webhook_spec("n", "https://l/events", ["VM.ON", "VM.OFF", "VM.ON"], {"username": "u", "password": "p"},
                        "d")
    assert spec == {"name": "n", "description": "d", "resources": {
        "post_url": "https://l/events", "events_filter_list": ["VM.OFF", "VM.ON"],
        "credentials": {"username": "u", "password": "p"}}}
    bare = webhook_spec("n", "https://l/", ["VM.ON"])
    assert "description" not in bare and "credentials" not in bare["resources"]
    assert "password" not in webhook_spec("n", "https://l/", ["VM.ON"], {"username": "u", "password": None})[
        "resources"]["credentials"]


def test_webhook_view_never_has_a_password(sim):
    client = sim_client(sim)
    uuid = client.create_webhook(webhook_spec("v", "https://127.0.0.1:9/", ["VM.ON"],
                                              {"username": "u", "password": "hunter2"}))["metadata"]["uuid"]
    client.wait_for_webhook(uuid, timeout=10)
    stored = sim.webhooks[uuid]  # the simulator's own copy still holds the password
    assert stored["spec"]["resources"]["credentials"]["password"] == "hunter2"
    view = webhook_view(stored)
    assert "hunter2" not in repr(view)
    assert view == {"uuid": uuid, "name": "v", "description": None, "post_url": "https://127.0.0.1:9/",
                    "events": ["VM.ON"], "credentials": {"username": "u"}, "spec_version": 0,
                    "state": "COMPLETE"}


CURRENT = webhook_spec("n", "https://l/events", ["VM.ON", "VM.OFF"], {"username": "u"}, "d")


@pytest.mark.parametrize("desired, expected", [
    (webhook_spec("n", "https://l/events", ["VM.OFF", "VM.ON"], {"username": "u", "password": "new"}, "d"), []),
    (webhook_spec("n", "https://l/events", ["VM.ON"], None, None), ["events"]),
    (webhook_spec("n", "https://l/other", ["VM.ON", "VM.OFF"]), ["post_url"]),
    (webhook_spec("n", "https://l/events", ["VM.ON", "VM.OFF"], None, "e"), ["description"]),
    (webhook_spec("n", "https://l/events", ["VM.ON", "VM.OFF"], {"username": "v", "password": "p"}),
     ["credentials.username"]),
    (webhook_spec("n", "https://x/", ["VM.CREATE"], {"username": "v", "password": "p"}, ""),
     ["post_url", "events", "description", "credentials.username"]),
])
def test_webhook_changes(desired, expected):
    assert webhook_changes(CURRENT, desired) == expected


def test_webhook_changes_ignores_the_order_prism_keeps():
    current = {"name": "n", "resources": {"post_url": "https://l/", "events_filter_list": ["VM.ON", "VM.OFF"]}}
    assert webhook_changes(current, webhook_spec("n", "https://l/", ["VM.OFF", "VM.ON"])) == []


def test_webhook_changes_when_prism_has_no_description_or_credentials():
    current = webhook_spec("n", "https://l/", ["VM.ON"])
    assert webhook_changes(current, webhook_spec("n", "https://l/", ["VM.ON"], None, "")) == []
    assert webhook_changes(current, webhook_spec("n", "https://l/", ["VM.ON"], None, "x")) == ["description"]
    assert webhook_changes(current, webhook_spec("n", "https://l/", ["VM.ON"], {"username": "u", "password": "p"})) \
        == ["credentials.username"]


@pytest.mark.parametrize("url", ["ftp://l/", "https://", "listener:8443/events", "https://u:pw@l/", "https://u@l/"])
def test_validate_post_url_refuses_without_repeating_the_url(url):
    with pytest.raises(ValueError) as info:
        validate_post_url(url)
    assert "u:pw" not in str(info.value) and "u@l" not in str(info.value)


def test_validate_post_url_accepts():
    assert validate_post_url("https://10.0.0.5:8443/events") == "https://10.0.0.5:8443/events"
    assert validate_post_url("http://[fd00::5]/x") == "http://[fd00::5]/x"


def test_known_events_match_the_simulator():
    from tests.simulators import prism as sim_module
    assert tuple(EVENT_TYPES) == tuple(sim_module.KNOWN_EVENTS)
    assert os.path.basename(prism.__file__) == "prism.py"
