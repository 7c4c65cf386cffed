"""The EDA event source netevents.nutanix.nutanix_webhook in-process: its main(queue, args) runs on an asyncio loop
in a thread, real HTTP requests go to it, and what lands on the queue is read back. No ansible-rulebook here (see
tests/functional/test_eda_rulebook.py for that).

The refusals are checked on their own and side by side with the listener's Flask app (the same requests to both).
"""
import asyncio
import base64
import ipaddress
import json
import logging
import os
import runpy
import socket
import subprocess
import sys
import threading
import time
import types

import pytest
import requests
import yaml

from tests.simulators._common import make_self_signed_cert
from tests.unit.webhook_requests import BAD_BODIES, BAD_IDS

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
SOURCE_REL = os.path.join("extensions", "eda", "plugins", "event_source", "nutanix_webhook.py")
# Loaded the way ansible-rulebook loads a source: runpy.run_path on the file.
SOURCE = runpy.run_path(os.path.join(REPO, SOURCE_REL))
main, Settings = SOURCE["main"], SOURCE["Settings"]

USER, PASSWORD, TOKEN = "prism-webhook", "Webhook-Pa55word-7f3a", "proxy-token-9d1c2b"
PATH_TOKEN = "p8Vt2nQ6xL1zR4kW9cJ3mB7sF0hD5gA-_yE"
PATH = "/listener/callback"
VM_UUID = "7a3b0e4c-1111-4c6b-9d0e-0123456789ab"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def basic(user=USER, password=PASSWORD):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


GOOD = {"Authorization": basic(), "Content-Type": "application/json"}


def envelope(event_type="VM.ON", ips=("10.1.1.5",), categories=None, vm_uuid=VM_UUID, cluster=None):
    """A Prism v3 webhook body (AOS shape: data.metadata is the VM intent), naming *cluster* (a status
    cluster_reference) if given."""
    vm = {"api_version": "3.1",
          "metadata": {"kind": "vm", "uuid": vm_uuid, "categories": categories or {"AppTier": "Web"}},
          "spec": {"name": "web-01", "resources": {"power_state": "ON"}},
          "status": {"name": "web-01", "state": "COMPLETE", "resources": {
              "power_state": "OFF" if event_type == "VM.OFF" else "ON",
              "nic_list": [{"ip_endpoint_list": [{"ip": ip, "type": "ASSIGNED"}]} for ip in ips]}}}
    if cluster:
        vm["status"]["cluster_reference"] = dict(cluster, kind="cluster")
    return {"entity_reference": {"kind": "vm", "uuid": vm_uuid}, "data": {"metadata": vm}, "version": "1.0",
            "event_type": event_type}


class RunningSource(object):
    """main(queue, args) on its own event loop in a thread, as ansible-rulebook runs it (minus the rules)."""

    def __init__(self, **args):
        args.setdefault("host", "127.0.0.1")
        args.setdefault("port", free_port())
        self.args = args
        self.scheme = "https" if args.get("certfile") else "http"
        self.url = "%s://127.0.0.1:%d%s" % (self.scheme, args["port"], args.get("path", PATH))
        self.loop = asyncio.new_event_loop()
        self.queue = None
        self.task = None
        self.error = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.queue = asyncio.Queue()
        self.task = self.loop.create_task(main(self.queue, self.args))
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        except Exception as e:  # pylint: disable=broad-except
            self.error = e
        finally:
            self.loop.close()

    def start(self):
        self._thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.error is not None:
                raise self.error
            try:
                with socket.create_connection(("127.0.0.1", self.args["port"]), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the source did not listen within 10 s")

    def stop(self):
        if self.task is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.task.cancel)
        self._thread.join(timeout=10)
        assert not self._thread.is_alive()

    def post(self, body=None, headers=None, raw=None, path=None, **kwargs):
        data = raw if raw is not None else json.dumps(body if body is not None else envelope())
        return requests.post(self.url if path is None else self.url.rsplit(PATH, 1)[0] + path, data=data,
                             headers=GOOD if headers is None else headers, verify=False, timeout=10, **kwargs)

    def events(self):
        """Everything put on the queue so far (the put happens before the answer is sent)."""
        items = []
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        return items


@pytest.fixture
def run_source():
    started = []

    def factory(**args):
        args.setdefault("username", USER)
        args.setdefault("password", PASSWORD)
        source = RunningSource(**args).start()
        started.append(source)
        return source

    yield factory
    for source in started:
        source.stop()


@pytest.fixture
def source(run_source):
    return run_source()


def assert_refused(response, status, reason):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"] == reason


# -- the normalised event ---------------------------------------------------------------------------------------

def test_a_prism_delivery_becomes_one_normalised_event(source):
    """The Prism simulator itself POSTs VM.ON, as Prism would; the event says what Prism holds about the VM."""
    from tests.simulators.prism import PrismSimulator
    from tests.simulators.prism.admin import PrismAdmin

    with PrismSimulator(username="admin", password="Pr1sm-pw", pending_seconds=0.05) as prism_sim:
        client = PrismAdmin(prism_sim.host, port=prism_sim.port, username="admin", password="Pr1sm-pw",
                            validate_certs=False)
        hook = client.create_webhook({"name": "eda", "resources": {
            "post_url": source.url, "events_filter_list": ["VM.ON"],
            "credentials": {"username": USER, "password": PASSWORD}}})
        client.wait_for_webhook(hook["metadata"]["uuid"], timeout=10)
        created = client.create_vm({"name": "web-01", "resources": {"power_state": "ON", "nic_list": [
            {"ip_endpoint_list": [{"ip": "10.1.1.5"}]}, {"ip_endpoint_list": [{"ip": "10.1.1.6"}]}]}},
            metadata={"categories": {"AppTier": "Web", "Env": "Prod"}})
        uuid = created["metadata"]["uuid"]
        deliveries = prism_sim.wait_for_deliveries(1, timeout=10)
        assert [(d["event_type"], d["status_code"]) for d in deliveries] == [("VM.ON", 200)]
        vm = client.get_vm(uuid)

    events = source.events()
    assert len(events) == 1
    event = events[0]
    assert set(event) == {"nutanix", "payload", "meta"}
    assert event["nutanix"] == {
        "event_type": "VM.ON", "action": "register", "vm_uuid": uuid, "vm_name": vm["status"]["name"], "power_state": "ON",
        "ips": ["10.1.1.5", "10.1.1.6"], "categories": {"AppTier": "Web", "Env": "Prod"}, "complete": True,
        "tags": ["ntnx.AppTier.Web", "ntnx.Env.Prod"], "cluster_uuid": vm["status"]["cluster_reference"]["uuid"],
        "cluster_name": vm["status"]["cluster_reference"]["name"]}
    assert event["payload"]["event_type"] == "VM.ON" and event["payload"]["entity_reference"]["uuid"] == uuid
    assert event["payload"]["data"]["metadata"]["metadata"]["categories"] == vm["metadata"]["categories"]
    assert event["meta"] == {"endpoint": PATH, "remote_addr": "127.0.0.1"}
    # JSON all the way: ansible-rulebook hands events to the rules engine as JSON.
    assert json.loads(json.dumps(event)) == event


@pytest.mark.parametrize("event_type,action", [
    ("VM.ON", "register"), ("VM.UPDATE", "register"), ("VM.NIC_PLUG", "register"), ("VM.OFF", "unregister"),
    ("VM.DELETE", "unregister"), ("VM.NIC_UNPLUG", "reconcile")])
def test_each_event_carries_the_collections_one_classification(source, event_type, action):
    assert source.post(envelope(event_type=event_type)).status_code == 200
    assert source.events()[0]["nutanix"]["action"] == action


def test_the_payload_is_the_body_as_sent_even_with_extra_fields(source):
    body = dict(envelope(), extra={"added_by": "a newer AOS"})
    assert source.post(body).json() == {"status": "accepted"}
    assert source.events()[0]["payload"] == body


def test_an_empty_nic_list_means_unknown_ips_not_none(source):
    """AOS may send VM.ON before the NICs are reported: ips null and complete false, so rules can ask Prism."""
    assert source.post(envelope(ips=())).status_code == 200
    nutanix = source.events()[0]["nutanix"]
    assert nutanix["ips"] is None and nutanix["complete"] is False
    assert nutanix["categories"] == {"AppTier": "Web"} and nutanix["tags"] == ["ntnx.AppTier.Web"]


def test_missing_categories_give_null_tags(source):
    body = envelope()
    del body["data"]["metadata"]["metadata"]["categories"]
    assert source.post(body).status_code == 200
    nutanix = source.events()[0]["nutanix"]
    assert nutanix["categories"] is None and nutanix["tags"] is None and nutanix["complete"] is False


def test_tags_follow_the_collections_tag_mapping(run_source):
    source = run_source(tag_format="vm-{category}-{value}", tag_mapping={"Env:Prod": ["prod", "pci"]},
                        tag_categories=["AppTier", "Env"])
    source.post(envelope(categories={"AppTier": "Web Tier", "Env": "Prod", "Owner": "bob"}))
    assert source.events()[0]["nutanix"]["tags"] == ["pci", "prod", "vm-AppTier-Web_Tier"]


def test_tags_can_name_the_prism_central_and_the_cluster(run_source):
    source = run_source(tag_format="panorama-plugin", prism_name="dc1")
    source.post(envelope(cluster={"name": "east 1", "uuid": "0c0ffee0-0000-4000-8000-0000000000e1"}))
    source.post(envelope(vm_uuid="7a3b0e4c-2222-4c6b-9d0e-0123456789ab"))  # no cluster named in the payload
    first, second = [event["nutanix"] for event in source.events()]
    assert first["tags"] == ["ntnx.PC-dc1.CL-east_1.AppTier.Web"] and first["cluster_name"] == "east 1"
    assert second["tags"] == ["ntnx.PC-dc1.CL-unknown.AppTier.Web"] and second["cluster_uuid"] is None


def test_an_unknown_event_type_is_acknowledged_but_not_queued(source):
    response = source.post(envelope(event_type="VM.SNAPSHOT"))
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert source.events() == []


def test_events_keep_their_order(source):
    for i, event_type in enumerate(["VM.ON", "VM.OFF", "VM.ON", "VM.DELETE"]):
        assert source.post(envelope(event_type=event_type, ips=("10.9.0.%d" % i,))).status_code == 200
    assert [(e["nutanix"]["event_type"], e["nutanix"]["ips"]) for e in source.events()] == [
        ("VM.ON", ["10.9.0.0"]), ("VM.OFF", ["10.9.0.1"]), ("VM.ON", ["10.9.0.2"]), ("VM.DELETE", ["10.9.0.3"])]


# -- refusals ---------------------------------------------------------------------------------------------------

def test_401_for_wrong_credentials_is_logged_without_the_secret(source, caplog):
    """Every credential case is in PARITY_CASES below (the same answers as the listener's, which tests each)."""
    caplog.set_level(logging.INFO)
    response = source.post(headers={"Authorization": basic(password=PASSWORD + "x"), "Content-Type": "application/json"})
    assert_refused(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert source.events() == []
    assert "refused unauthorized" in caplog.text and PASSWORD not in caplog.text


def test_a_bearer_token_is_accepted_when_configured(run_source):
    source = run_source(token=TOKEN)
    assert source.post(headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}).ok
    assert source.post().ok  # the webhook's basic credentials still work
    assert_refused(source.post(headers={"Authorization": "Bearer " + TOKEN + "x",
                                        "Content-Type": "application/json"}), 401, "unauthorized")
    assert len(source.events()) == 2


def test_token_only_challenges_for_a_bearer_token(run_source):
    source = run_source(username=None, password=None, token=TOKEN)
    refused = source.post()  # basic credentials are not configured, so they cannot match
    assert_refused(refused, 401, "unauthorized")
    assert refused.headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert source.post(headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}).ok


def test_a_path_token_alone_is_required_compared_and_never_shown(run_source, caplog):
    caplog.set_level(logging.INFO)
    source = run_source(username=None, password=None, path_token=PATH_TOKEN)
    json_only = {"Content-Type": "application/json"}
    assert source.post(path=PATH + "/" + PATH_TOKEN, headers=json_only).json() == {"status": "accepted"}
    for path, headers in ((PATH, json_only), (PATH + "/", GOOD), (PATH + "/" + PATH_TOKEN[:-1], json_only)):
        refused = source.post(path=path, headers=headers)
        assert_refused(refused, 401, "unauthorized")
        assert "WWW-Authenticate" not in refused.headers
    [event] = source.events()
    assert event["meta"]["endpoint"] == PATH + "/********"
    assert "(auth_scheme=none path_token=missing)" in caplog.text
    assert "(auth_scheme=basic path_token=missing)" in caplog.text
    assert "(auth_scheme=none path_token=wrong)" in caplog.text
    assert PATH_TOKEN not in caplog.text and PATH_TOKEN[:-1] not in caplog.text


def test_a_path_token_with_basic_credentials_needs_both(run_source):
    source = run_source(path_token=PATH_TOKEN)
    assert source.post(path=PATH + "/" + PATH_TOKEN).ok
    assert_refused(source.post(path=PATH), 401, "unauthorized")
    assert_refused(source.post(path=PATH + "/" + PATH_TOKEN, headers={"Content-Type": "application/json"}),
                   401, "unauthorized")
    assert len(source.events()) == 1


def test_addresses_a_firewall_should_not_hold_are_left_out_with_a_warning(source, caplog):
    caplog.set_level(logging.INFO)
    assert source.post(envelope(ips=("fe80::1%eth0", "10.1.1.5", "255.255.255.255"))).ok
    assert source.events()[0]["nutanix"]["ips"] == ["10.1.1.5"]
    assert "address left out of the event: 'fe80::1%eth0' cannot be registered on a firewall" in caplog.text
    assert "'255.255.255.255' cannot be registered on a firewall: it is a broadcast" in caplog.text


def test_403_for_a_source_outside_the_allowed_networks_before_credentials(run_source):
    refusing = run_source(allowed_networks=["192.0.2.0/24", "2001:db8::/32"])
    refused = refusing.post()
    assert_refused(refused, 403, "source_not_allowed")
    assert "WWW-Authenticate" not in refused.headers  # no challenge for strangers
    assert_refused(refusing.post(headers={}), 403, "source_not_allowed")  # even without credentials
    assert refusing.events() == []
    allowing = run_source(allowed_networks=["192.0.2.0/24", "127.0.0.0/8"])
    assert allowing.post().status_code == 200 and len(allowing.events()) == 1


def test_413_for_a_declared_or_streamed_body_over_the_limit(run_source):
    source = run_source(max_body_bytes=2048)
    big = dict(envelope(), padding="x" * 4096)
    assert_refused(source.post(big), 413, "body_too_large")
    # Chunked (no Content-Length): the limit holds while reading.
    data = json.dumps(big).encode()
    chunks = (data[i:i + 512] for i in range(0, len(data), 512))
    assert_refused(source.post(raw=chunks), 413, "body_too_large")
    assert source.post().status_code == 200
    assert len(source.events()) == 1


def test_default_body_limit_is_one_mib(source):
    assert_refused(source.post(dict(envelope(), padding="x" * (1 << 20))), 413, "body_too_large")
    assert source.post(dict(envelope(), padding="x" * ((1 << 20) - 2048))).status_code == 200


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "json"])
def test_415_when_not_sent_as_json(source, content_type):
    headers = {"Authorization": basic()}
    if content_type:
        headers["Content-Type"] = content_type
    assert_refused(source.post(headers=headers), 415, "not_json")
    assert source.events() == []


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/vnd.nutanix+json"])
def test_json_content_types_are_accepted(source, content_type):
    assert source.post(headers=dict(GOOD, **{"Content-Type": content_type})).status_code == 200


@pytest.mark.parametrize("body,reason", BAD_BODIES, ids=BAD_IDS)
def test_400_for_malformed_json_or_not_an_envelope(source, body, reason):
    assert_refused(source.post(raw=body), 400, reason)
    assert source.events() == []


def test_400_for_a_body_cut_short(source, caplog):
    """The client announces more than it sends and closes: refused, never queued. (aiohttp closes the connection of
    a client that closed its side instead of sending the 400; the log shows the refusal.)"""
    caplog.set_level(logging.INFO)
    data = json.dumps(envelope()).encode()
    request = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\nConnection: close\r\n\r\n" % (PATH, basic(), len(data) + 100)).encode()
    with socket.create_connection(("127.0.0.1", source.args["port"]), timeout=5) as s:
        s.sendall(request + data)
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert source.events() == []
    deadline = time.monotonic() + 10  # the handler logs after the connection is gone
    while "refused incomplete_body from 127.0.0.1" not in caplog.text:
        assert time.monotonic() < deadline, caplog.text
        time.sleep(0.05)
    assert source.post().status_code == 200  # and the source still serves


def test_405_for_other_methods_and_404_elsewhere(source):
    get = requests.get(source.url, timeout=10)
    assert_refused(get, 405, "method_not_allowed")
    assert get.headers["Allow"] == "POST"
    assert_refused(source.post(path="/other"), 404, "not_found")
    assert source.events() == []


def test_https_with_the_given_certificate(run_source, tmp_path):
    cert, key = make_self_signed_cert(str(tmp_path))
    source = run_source(certfile=cert, keyfile=key)
    assert source.url.startswith("https://")
    response = requests.post(source.url, data=json.dumps(envelope()), headers=GOOD, verify=cert, timeout=10)
    assert response.status_code == 200 and len(source.events()) == 1
    with pytest.raises(requests.ConnectionError):
        requests.post(source.url.replace("https://", "http://"), data="{}", headers=GOOD, timeout=10)


# -- the same refusals as the listener --------------------------------------------------------------------------

class _RecordingQueue(object):
    """Stands in for the listener's SQLite queue: these tests compare answers, not storage."""

    def __init__(self):
        self.events = []

    def enqueue(self, vm_uuid, event_type, body, **_where):  # prism=, origin=: the queue's, not compared here
        self.events.append((vm_uuid, event_type, body))
        return len(self.events)


def listener_client(allowed_networks=(), max_body_bytes=4096, path_token=None):
    listener_files = os.path.join(REPO, "roles", "listener", "files")
    if listener_files not in sys.path:
        sys.path.insert(0, listener_files)
    from netevents_listener.app import create_app
    from netevents_listener.metrics import Metrics

    settings = types.SimpleNamespace(
        username=USER, password=types.SimpleNamespace(reveal=lambda: PASSWORD), path=PATH,
        allowed_networks=[ipaddress.ip_network(n) for n in allowed_networks], max_body_bytes=max_body_bytes,
        path_token=None if path_token is None else types.SimpleNamespace(reveal=lambda: path_token))
    return create_app(settings, _RecordingQueue(), Metrics(), lambda: {"ok": True}).test_client()


PARITY_CASES = [
    ("no-credentials", "POST", PATH, {"Content-Type": "application/json"}, None),
    ("wrong-password", "POST", PATH, {"Authorization": basic(password="x"), "Content-Type": "application/json"}, None),
    ("wrong-user", "POST", PATH, {"Authorization": basic(user="x"), "Content-Type": "application/json"}, None),
    ("longer-password", "POST", PATH,
     {"Authorization": basic(password=PASSWORD + "x"), "Content-Type": "application/json"}, None),
    ("bearer", "POST", PATH, {"Authorization": "Bearer " + PASSWORD, "Content-Type": "application/json"}, None),
    ("not-base64", "POST", PATH, {"Authorization": "Basic %%%", "Content-Type": "application/json"}, None),
    ("no-content-type", "POST", PATH, {"Authorization": basic()}, None),
    ("text-plain", "POST", PATH, dict(GOOD, **{"Content-Type": "text/plain"}), None),
    ("too-large", "POST", PATH, GOOD, json.dumps(dict(envelope(), padding="x" * 5000)).encode()),
    ("unknown-type", "POST", PATH, GOOD, json.dumps(envelope(event_type="VM.NEW")).encode()),
    ("accepted", "POST", PATH, GOOD, json.dumps(envelope()).encode()),
    ("get", "GET", PATH, GOOD, None),
    ("put", "PUT", PATH, GOOD, None),
    ("elsewhere", "POST", "/elsewhere", GOOD, None),
    ("wrong-credentials-and-too-large", "POST", PATH,
     {"Authorization": basic(password="x"), "Content-Type": "application/json"}, b"x" * 5000),
] + [("body-" + case_id, "POST", PATH, GOOD, body) for case_id, (body, _reason) in zip(BAD_IDS, BAD_BODIES)]


def _answer(status, document):
    return status, document.get("error") or document.get("status")


TOKEN_PARITY_CASES = [
    ("token", "POST", PATH + "/" + PATH_TOKEN, GOOD, None),
    ("no-token", "POST", PATH, GOOD, None),
    ("slash", "POST", PATH + "/", GOOD, None),
    ("wrong-token", "POST", PATH + "/" + PATH_TOKEN.upper(), GOOD, None),
    ("token-and-more", "POST", PATH + "/" + PATH_TOKEN + "/x", GOOD, None),
    ("token-no-basic", "POST", PATH + "/" + PATH_TOKEN, {"Content-Type": "application/json"}, None),
    ("token-get", "GET", PATH + "/" + PATH_TOKEN, GOOD, None),
    ("token-bad-body", "POST", PATH + "/" + PATH_TOKEN, GOOD, b"{"),
]


@pytest.mark.parametrize("path_token,cases", [(None, PARITY_CASES), (PATH_TOKEN, TOKEN_PARITY_CASES)],
                         ids=["basic", "path-token"])
def test_the_same_answers_as_the_listener(run_source, path_token, cases):
    listener = listener_client(path_token=path_token)
    eda = run_source(max_body_bytes=4096, **({"path_token": path_token} if path_token else {}))
    for case_id, method, path, headers, body in cases:
        body = json.dumps(envelope()).encode() if body is None else body
        ours = requests.request(method, eda.url.rsplit(PATH, 1)[0] + path, data=body, headers=headers, timeout=10)
        theirs = listener.open(path, method=method, data=body, headers=headers)
        expected = _answer(theirs.status_code, theirs.get_json() or {})
        got = _answer(ours.status_code, ours.json())
        if expected == (200, "queued"):
            expected = (200, "accepted")  # the listener committed it to SQLite; the source put it on the queue
        assert got == expected, case_id
        for header in ("WWW-Authenticate", "Allow"):
            assert (header in ours.headers) == (header in theirs.headers), (case_id, header)


@pytest.mark.parametrize("networks,remote", [(["192.0.2.0/24"], "refused"), (["127.0.0.0/8"], "allowed")])
def test_the_same_network_check_as_the_listener(run_source, networks, remote):
    listener, eda = listener_client(allowed_networks=networks), run_source(allowed_networks=networks)
    body = json.dumps(envelope())
    ours = eda.post(raw=body)
    theirs = listener.post(PATH, data=body, headers=GOOD, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert ours.status_code == theirs.status_code == (403 if remote == "refused" else 200)


# -- arguments ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args,message", [
    ({"username": USER, "password": PASSWORD}, "port is required"),
    ({"port": 0, "username": USER, "password": PASSWORD}, "port must be an integer between 1 and 65535"),
    ({"port": 5000}, "does not accept unauthenticated events"),
    ({"port": 5000, "username": USER}, "set both username and password"),
    ({"port": 5000, "username": "a:b", "password": "x"}, "must not contain ':'"),
    ({"port": 5000, "token": "t", "allowed_networks": ["10.0.0.300/24"]}, "is not a network"),
    ({"port": 5000, "token": "t", "path": "no-slash"}, "path must start with '/'"),
    ({"port": 5000, "token": "t", "max_body_bytes": 10}, "max_body_bytes must be an integer between 1024"),
    ({"port": 5000, "token": "t", "certfile": "/nonexistent/cert.pem"}, "cannot use certfile /nonexistent/cert.pem"),
    ({"port": 5000, "token": "t", "tag_format": "static"}, "must contain {category} or {value}"),
    ({"port": 5000, "token": "t", "tag_format": "panorama-plugin"}, "prism_name: tag_format names {pc}"),
    ({"port": 5000, "token": "t", "hmac_secret": "x"}, "unknown argument(s) hmac_secret"),
    ({"port": 5000, "path_token": "short"}, "path_token must be 32 to 256 URL-safe characters"),
    ({"port": 5000, "path_token": PATH_TOKEN + "/"}, "path_token must be 32 to 256 URL-safe characters"),
])
def test_bad_arguments_are_refused_at_start_with_a_clear_message(args, message):
    with pytest.raises(ValueError) as info:
        Settings(args)
    assert message in str(info.value)
    assert str(info.value).startswith("netevents.nutanix.nutanix_webhook: ")
    assert PASSWORD not in str(info.value)


def test_rulebook_variables_as_text_and_empty_optionals_are_understood():
    """What "{{ var }}" and "{{ var | default('') }}" give in a rulebook: a port as text, empty optionals."""
    settings = Settings({"port": "5001", "username": USER, "password": PASSWORD, "certfile": "", "keyfile": "",
                         "allowed_networks": "10.0.0.0/24, 10.0.1.5", "eda_feedback_queue": object()})
    assert settings.port == 5001 and settings.ssl_context is None
    assert [str(n) for n in settings.screen.networks] == ["10.0.0.0/24", "10.0.1.5/32"]


def test_a_port_in_use_is_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        source = RunningSource(port=port, username=USER, password=PASSWORD)
        source._thread.start()
        source._thread.join(timeout=10)
    assert isinstance(source.error, OSError)
    assert "cannot listen on 127.0.0.1 port %d" % port in str(source.error)


# -- as ansible-rulebook loads it ------------------------------------------------------------------------------------

def test_loads_from_a_collection_tree_with_nothing_on_sys_path(tmp_path):
    """ansible-rulebook runs the file with runpy.run_path and adds nothing to sys.path; the source finds the
    collection's module_utils from its own place in ansible_collections/netevents/nutanix/."""
    from tests.conftest import COLLECTIONS_ROOT

    path = os.path.join(COLLECTIONS_ROOT, "ansible_collections", "netevents", "nutanix", SOURCE_REL)
    code = ("import runpy, sys; m = runpy.run_path(sys.argv[1]); "
            "print(m['receiver'].__name__, m['main'].__code__.co_flags & 0x80 != 0)")
    out = subprocess.run([sys.executable, "-I", "-c", code, path], cwd=str(tmp_path), capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ansible_collections.netevents.nutanix.plugins.module_utils.webhook_receiver", "True"]


def test_documentation_names_every_argument_and_the_example_is_a_rulebook():
    doc = yaml.safe_load(SOURCE["DOCUMENTATION"])
    assert set(doc["options"]) == set(SOURCE["_KNOWN_ARGS"])
    assert doc["options"]["port"]["required"] is True
    example = yaml.safe_load(SOURCE["EXAMPLES"])
    assert "netevents.nutanix.nutanix_webhook" in example[0]["sources"][0]
    assert set(example[0]["sources"][0]["netevents.nutanix.nutanix_webhook"]) <= set(doc["options"])
