"""The HTTP side in-process (Flask test client): every refusal, acceptance, duplicates, health and metrics."""
import base64
import io
import json
import os
import sqlite3

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from listener_helpers import (WEBHOOK_PASSWORD, WEBHOOK_USER, envelope, make_config, read_jsonl, wait_for,
                              write_secret)
from netevents_listener.config import load_config
from netevents_listener.service import Service, ServiceError
from tests.unit.webhook_requests import BAD_BODIES, BAD_IDS

PATH = "/listener/callback"


def basic(user=WEBHOOK_USER, password=WEBHOOK_PASSWORD):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


GOOD = {"Authorization": basic(), "Content-Type": "application/json"}


def start_service(directory, **kwargs):
    config = load_config(make_config(directory, **kwargs))
    return Service(config).start()


@pytest.fixture
def service(tmp_path):
    svc = start_service(tmp_path)
    yield svc
    svc.stop(timeout=10)


@pytest.fixture
def client(service):
    return service.app.test_client()


def queued(service):
    return [(e.vm_uuid, e.event_type) for e in service.queue.pending()]


def applied_and_queued(service, directory):
    """Events that reached the queue, whether the dispatcher already applied them or not."""
    applied = [(e["vm_uuid"], e["event_type"]) for e in read_jsonl(os.path.join(str(directory), "events.jsonl"))]
    return applied + queued(service)


def metric(client, name, **labels):
    text = client.get("/metrics").get_data(as_text=True)
    want = name + ("{%s}" % ",".join('%s="%s"' % kv for kv in sorted(labels.items())) if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    raise AssertionError("metric %s not found" % want)


def assert_error(response, status, reason):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    assert response.get_json()["error"] == reason


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": basic(password="wrong")},
    {"Authorization": basic(user="someone-else")},
    {"Authorization": basic(password=WEBHOOK_PASSWORD + "x")},
    {"Authorization": "Bearer " + WEBHOOK_PASSWORD},
    {"Authorization": "Basic not-base64!!"},
], ids=["missing", "wrong-password", "wrong-user", "longer-password", "bearer", "garbage"])
def test_401_for_missing_or_wrong_credentials(client, service, headers):
    headers = dict(headers, **{"Content-Type": "application/json"})
    response = client.post(PATH, data=json.dumps(envelope()), headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert service.queue.depth() == 0
    assert metric(client, "netevents_listener_events_refused_total", reason="unauthorized") == 1


def test_403_for_a_source_outside_the_allowed_networks(tmp_path):
    svc = start_service(tmp_path, listener={"allowed_networks": ["192.0.2.0/24", "2001:db8::/32"]})
    try:
        client = svc.app.test_client()
        body = json.dumps(envelope())
        refused = client.post(PATH, data=body, headers=GOOD, environ_base={"REMOTE_ADDR": "198.51.100.7"})
        assert_error(refused, 403, "source_not_allowed")
        # Refused before the credentials are even looked at: no challenge for strangers.
        assert "WWW-Authenticate" not in refused.headers
        for addr, vm in (("192.0.2.10", "a"), ("::ffff:192.0.2.11", "b"), ("2001:db8::5", "c")):
            ok = client.post(PATH, data=json.dumps(envelope(vm)), headers=GOOD, environ_base={"REMOTE_ADDR": addr})
            assert ok.status_code == 200, (addr, ok.get_data(as_text=True))
        assert sorted(v for v, _t in applied_and_queued(svc, tmp_path)) == ["a", "b", "c"]
    finally:
        svc.stop(timeout=10)


def test_413_for_a_body_over_the_limit(tmp_path):
    svc = start_service(tmp_path, listener={"max_body_bytes": 2048})
    try:
        client = svc.app.test_client()
        big = envelope()
        big["padding"] = "x" * 4096
        assert_error(client.post(PATH, data=json.dumps(big), headers=GOOD), 413, "body_too_large")
        # Without a Content-Length (chunked; the server marks the input terminated) the limit holds while reading.
        stream = client.post(PATH, input_stream=io.BytesIO(json.dumps(big).encode()),
                             headers=dict(GOOD, **{"Transfer-Encoding": "chunked"}),
                             environ_base={"wsgi.input_terminated": True})
        assert_error(stream, 413, "body_too_large")
        assert client.post(PATH, data=json.dumps(envelope()), headers=GOOD).status_code == 200
        assert svc.queue.depth() + len(read_jsonl(os.path.join(str(tmp_path), "events.jsonl"))) == 1
    finally:
        svc.stop(timeout=10)


def test_default_body_limit_is_one_mib(service, client):
    assert service.config.listener.max_body_bytes == 1 << 20
    body = json.dumps(dict(envelope(), padding="x" * (1 << 20)))
    assert_error(client.post(PATH, data=body, headers=GOOD), 413, "body_too_large")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "json"])
def test_415_when_not_sent_as_json(client, service, content_type):
    headers = {"Authorization": basic()}
    if content_type:
        headers["Content-Type"] = content_type
    assert_error(client.post(PATH, data=json.dumps(envelope()), headers=headers), 415, "not_json")
    assert service.queue.depth() == 0


def test_json_content_type_with_charset_is_accepted(client):
    response = client.post(PATH, data=json.dumps(envelope()),
                           headers=dict(GOOD, **{"Content-Type": "application/json; charset=utf-8"}))
    assert response.status_code == 200


@pytest.mark.parametrize("body,reason", BAD_BODIES, ids=BAD_IDS)
def test_400_for_malformed_json_or_not_an_envelope(client, service, body, reason):
    assert_error(client.post(PATH, data=body, headers=GOOD), 400, reason)
    assert service.queue.depth() == 0


@pytest.mark.parametrize("raw,field", [
    (json.dumps(envelope("vm-1")).replace('"uuid": "vm-1"', '"uuid": "vm-\\ud800"', 1), "entity_reference.uuid"),
    (json.dumps(envelope("vm-1")).replace('"vm-vm-1"', '"web\\udfff"', 1), "data.metadata.spec.name"),
])
def test_400_naming_the_field_for_text_that_is_not_unicode(client, service, caplog, raw, field):
    """A lone surrogate (from a JSON \\ud800 escape) cannot be encoded as UTF-8: it used to reach the SQLite insert
    and fail the whole group commit with a 500 and 503s."""
    response = client.post(PATH, data=raw, headers=GOOD)
    assert_error(response, 400, "invalid_text")
    assert response.get_json()["message"].startswith(field + " is not valid Unicode text")
    assert service.queue.depth() == 0
    assert [r.field for r in caplog.records if getattr(r, "reason", None) == "invalid_text"] == [field]
    assert client.post(PATH, data=json.dumps(envelope("vm-2")), headers=GOOD).status_code == 200


def test_addresses_a_firewall_should_not_hold_are_left_out_logged_and_counted(client, service, tmp_path, caplog):
    service.dispatcher.stop(10)
    body = envelope("vm-1")
    body["data"]["metadata"]["status"]["resources"]["nic_list"] = [{"ip_endpoint_list": [
        {"ip": "10.3.0.5"}, {"ip": "fe80::1%eth0"}, {"ip": "0.0.0.0"}, {"ip": "224.0.0.1"}]}]
    assert client.post(PATH, data=json.dumps(body), headers=GOOD).get_json()["status"] == "queued"
    warned = [(r.reason, r.getMessage()) for r in caplog.records if r.getMessage().startswith("address left out")]
    assert warned == [
        ("zone_index", "address left out of the event: 'fe80::1%eth0' cannot be registered on a firewall: it has a "
                       "zone index, which only means something on the host that reported it"),
        ("unspecified", "address left out of the event: '0.0.0.0' cannot be registered on a firewall: it is an "
                        "unspecified address (0.0.0.0/8 or ::), which no host has"),
        ("multicast", "address left out of the event: '224.0.0.1' cannot be registered on a firewall: it is a "
                      "multicast address, not one host")]
    for reason, count in (("zone_index", 1), ("unspecified", 1), ("multicast", 1), ("loopback", 0)):
        assert metric(client, "netevents_listener_addresses_dropped_total", reason=reason) == count


TOKEN = "d3Q9mZ1xK7pL4vR8sT2wY6bN5cH0jF-aE_uG"


def token_service(directory, basic_too=False):
    write_secret(os.path.join(str(directory), "token"), TOKEN)
    listener = {"path_token_file": "token"}
    if not basic_too:
        listener.update(username=None, password_file=None)
    return start_service(directory, listener=listener)


def refusals(caplog):
    return [(r.path, r.auth_scheme, getattr(r, "path_token", None)) for r in caplog.records
            if getattr(r, "reason", None) == "unauthorized"]


def test_a_path_token_alone_authenticates_prism_and_is_never_logged(tmp_path, caplog):
    svc = token_service(tmp_path)
    try:
        client = svc.app.test_client()
        json_only = {"Content-Type": "application/json"}
        body = json.dumps(envelope("vm-1"))
        accepted = client.post(PATH + "/" + TOKEN, data=body, headers=json_only)
        assert accepted.status_code == 200 and accepted.get_json()["status"] == "queued"
        for path, headers in ((PATH, json_only), (PATH + "/", GOOD), (PATH + "/" + TOKEN[:-1], json_only),
                              (PATH + "/" + TOKEN + "/x", dict(json_only, Authorization="Bearer x")),
                              (PATH + "/" + TOKEN.lower(), dict(json_only, Authorization="Digest x"))):
            refused = client.post(path, data=body, headers=headers)
            assert_error(refused, 401, "unauthorized")
            assert "WWW-Authenticate" not in refused.headers  # no scheme a client could answer
        assert refusals(caplog) == [(PATH, "none", "missing"), (PATH + "/********", "basic", "missing"),
                                    (PATH + "/********", "none", "wrong"), (PATH + "/********", "bearer", "wrong"),
                                    (PATH + "/********", "other", "wrong")]
        assert "(auth_scheme=none path_token=wrong)" in caplog.text
        assert_error(client.get(PATH + "/" + TOKEN), 405, "method_not_allowed")
        assert_error(client.post("/elsewhere/" + TOKEN, data=body, headers=json_only), 404, "not_found")
        assert TOKEN not in client.get("/metrics").get_data(as_text=True)
        assert metric(client, "netevents_listener_events_refused_total", reason="unauthorized") == 5
        logged = " ".join(str(r.__dict__) for r in caplog.records)
        assert TOKEN not in logged and TOKEN[:-1] not in logged
        assert applied_and_queued(svc, tmp_path) == [("vm-1", "VM.ON")]
    finally:
        svc.stop(timeout=10)


def test_with_basic_auth_too_both_are_required(tmp_path, caplog):
    svc = token_service(tmp_path, basic_too=True)
    try:
        client = svc.app.test_client()
        body = json.dumps(envelope("vm-1"))
        assert client.post(PATH + "/" + TOKEN, data=body, headers=GOOD).status_code == 200
        no_basic = client.post(PATH + "/" + TOKEN, data=body, headers={"Content-Type": "application/json"})
        assert_error(no_basic, 401, "unauthorized")
        assert no_basic.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert_error(client.post(PATH, data=body, headers=GOOD), 401, "unauthorized")
        assert refusals(caplog) == [(PATH + "/********", "none", "ok"), (PATH, "basic", "missing")]
        assert WEBHOOK_PASSWORD not in caplog.text and TOKEN not in caplog.text
    finally:
        svc.stop(timeout=10)


def test_unknown_event_type_is_acknowledged_and_ignored(client, service, tmp_path):
    response = client.post(PATH, data=json.dumps(envelope(event_type="VM.SNAPSHOT")), headers=GOOD)
    assert response.status_code == 200 and response.get_json()["status"] == "ignored"
    assert applied_and_queued(service, tmp_path) == []
    assert metric(client, "netevents_listener_events_ignored_total", reason="unknown_type") == 1


def test_accepted_event_is_committed_before_the_200(client, service):
    service.dispatcher.stop(10)  # keep it in the queue to look at it
    body = json.dumps(envelope("vm-7", "VM.OFF"))
    response = client.post(PATH, data=body, headers=GOOD)
    assert response.status_code == 200 and response.get_json()["status"] == "queued"
    # Another connection (another process would do the same) sees the committed row.
    db = sqlite3.connect(service.config.queue.path)
    try:
        rows = db.execute("SELECT id, vm_uuid, event_type, body FROM events").fetchall()
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()
    assert rows == [(response.get_json()["id"], "vm-7", "VM.OFF", body.encode())]


def test_a_repeated_event_is_acknowledged_once_but_a_return_to_an_earlier_state_is_not(client, service, tmp_path):
    service.dispatcher.stop(10)
    on, off = json.dumps(envelope("vm-1", "VM.ON")), json.dumps(envelope("vm-1", "VM.OFF"))
    statuses = [client.post(PATH, data=b, headers=GOOD).get_json()["status"] for b in (on, on, off, on)]
    assert statuses == ["queued", "duplicate", "queued", "queued"]
    assert queued(service) == [("vm-1", "VM.ON"), ("vm-1", "VM.OFF"), ("vm-1", "VM.ON")]
    assert metric(client, "netevents_listener_events_ignored_total", reason="duplicate") == 1


def test_405_for_other_methods_and_404_elsewhere(client):
    get = client.get(PATH)
    assert_error(get, 405, "method_not_allowed")
    assert get.headers["Allow"] == "POST"
    assert_error(client.put(PATH, data="{}", headers=GOOD), 405, "method_not_allowed")
    assert_error(client.post("/other", data="{}", headers=GOOD), 404, "not_found")


def test_healthz_and_metrics_report_the_queue(client, service, tmp_path):
    for i in range(3):
        assert client.post(PATH, data=json.dumps(envelope("vm-%d" % i)), headers=GOOD).status_code == 200
    # Applied means written by the plugin AND recorded by the queue (which follows the write).
    wait_for(lambda: len(read_jsonl(os.path.join(str(tmp_path), "events.jsonl"))) == 3 and service.queue.depth() == 0,
             10, message="3 applied")
    health = client.get("/healthz")
    assert health.status_code == 200
    doc = health.get_json()
    assert doc["ok"] is True and doc["queue_depth"] == 0 and doc["dead_letters"] == 0
    assert doc["dispatcher"]["alive"] is True and doc["last_plugin_error"] is None
    assert metric(client, "netevents_listener_events_received_total", event_type="VM.ON") == 3
    assert metric(client, "netevents_listener_events_applied_total", event_type="VM.ON") == 3
    assert metric(client, "netevents_listener_apply_latency_seconds_count") == 3
    assert metric(client, "netevents_listener_queue_depth") == 0
    service.dispatcher.stop(10)
    assert client.post(PATH, data=json.dumps(envelope("vm-9")), headers=GOOD).status_code == 200
    assert metric(client, "netevents_listener_queue_depth") == 1
    down = client.get("/healthz")
    assert down.status_code == 503 and down.get_json()["dispatcher"]["alive"] is False


def test_503_not_500_when_the_queue_cannot_be_written(client, service):
    service.dispatcher.stop(10)
    service.queue.close()  # any sqlite3 error on write
    response = client.post(PATH, data=json.dumps(envelope()), headers=GOOD)
    assert_error(response, 503, "queue_unavailable")
    assert response.headers["Retry-After"]
    assert client.get("/healthz").status_code == 503


def test_a_second_service_on_the_same_queue_refuses_to_start(service):
    with pytest.raises(ServiceError, match="another listener .* is using the queue"):
        Service(service.config).start(lock_timeout=0.2)
    assert service.dispatcher.alive


# -- property: no bad input gets a 500 --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fuzz_service(tmp_path_factory):
    svc = start_service(tmp_path_factory.mktemp("fuzz"), listener={"max_body_bytes": 4096})
    yield svc
    svc.stop(timeout=10)


# Text with lone surrogates too (json.dumps writes them as \\ud800 escapes): a body can hold what UTF-8 cannot.
any_text = st.text(st.characters(exclude_categories=()), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20) | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20)
envelope_like = st.fixed_dictionaries(
    {}, optional={
        "event_type": st.sampled_from(["VM.ON", "VM.OFF", "VM.NEW", "", " "]) | json_values,
        "entity_reference": st.fixed_dictionaries({}, optional={"uuid": st.text(max_size=200) | json_values,
                                                                "kind": json_values}) | json_values,
        "data": st.fixed_dictionaries({}, optional={"metadata": json_values | st.just(
            envelope()["data"]["metadata"])}) | json_values,
        "version": json_values,
    })


def mostly(good, other, percent=70):
    """*good* in about *percent* % of the examples, *other* in the rest."""
    return st.integers(0, 99).flatmap(lambda n: good if n < percent else other)


near_envelopes = st.builds(
    # Extra keys go in first: one named like an envelope key must not replace (or collide with) it.
    lambda et, uuid, md, extra: dict(extra, **dict(envelope(), event_type=et,
                                                   entity_reference={"kind": "vm", "uuid": uuid},
                                                   data={"metadata": md})),
    st.sampled_from(["VM.ON", "VM.OFF", "VM.UPDATE", "VM.WHATEVER"]) | st.text(max_size=10),
    st.text(min_size=1, max_size=40) | st.text(max_size=300) | any_text,
    st.just(envelope()["data"]["metadata"]) | json_values,
    st.dictionaries(st.text(max_size=8), json_values, max_size=3))
bodies = mostly(near_envelopes.map(lambda v: json.dumps(v).encode()), st.one_of(
    st.binary(max_size=600),
    json_values.map(lambda v: json.dumps(v).encode()),
    envelope_like.map(lambda v: json.dumps(v).encode()),
    st.integers(4000, 6000).map(lambda n: b'{"a": "' + b"x" * n + b'"}')), 50)
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
# Weighted towards well-formed requests, so that most examples get past the checks to the body.
auth_headers = mostly(st.just(basic()), st.one_of(
    st.none(), header_values, st.tuples(header_values, header_values).map(lambda t: basic(*t)),
    st.builds(lambda s: "Basic " + s, header_values)))
content_types = mostly(st.just("application/json"), st.one_of(
    st.none(), header_values,
    st.sampled_from(["application/json; charset=latin-1", "application/vnd.x+json", "text/plain",
                     "multipart/form-data", "application/json; boundary=\x7f"])))
targets = mostly(st.just(("POST", PATH)), st.tuples(
    st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
    st.sampled_from([PATH, PATH + "/", "/healthz", "/metrics", "/", "/listener"])))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(target=targets,
       auth=auth_headers, content_type=content_types, body=bodies,
       extra=st.dictionaries(st.sampled_from(["X-Forwarded-For", "Content-Encoding", "Expect", "Accept"]),
                             header_values, max_size=2),
       remote=st.sampled_from(["127.0.0.1", "::1", "not-an-ip", ""]))
def test_no_bad_input_gets_a_500(fuzz_service, target, auth, content_type, body, extra, remote):
    method, path = target
    headers = dict(extra)
    if auth is not None:
        headers["Authorization"] = auth
    if content_type is not None:
        headers["Content-Type"] = content_type
    client = fuzz_service.app.test_client()
    response = client.open(path, method=method, data=body, headers=headers, environ_base={"REMOTE_ADDR": remote})
    event("%s %s" % (response.status_code, (response.get_json(silent=True) or {}).get("error", "")))
    assert response.status_code < 500 or (response.status_code == 503 and path == "/healthz"), \
        response.get_data(as_text=True)
    if method != "HEAD" and path != "/metrics":
        assert response.is_json, response.get_data(as_text=True)[:200]
