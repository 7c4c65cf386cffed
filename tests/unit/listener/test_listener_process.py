"""The real service: ``python -m netevents_listener`` as a process, driven over HTTP with requests.

Outcomes are read back from what the plugin wrote, the CLI, /healthz and /metrics, and the queue file.
"""
import base64
import json
import os
import signal
import socket
import sqlite3
import threading
import time

import requests

from listener_helpers import (WEBHOOK_PASSWORD, WEBHOOK_USER, cli, envelope, exchange, listener_env, make_config,
                              read_jsonl, wait_for, write_secret)
from tests.simulators._common import make_self_signed_cert

CONTROLLED = "listener_test_plugins:ControlledPlugin"


def test_events_posted_to_the_real_server_are_applied_in_order(tmp_path, listener_process):
    server = listener_process(make_config(tmp_path)).start()
    sent = []
    for seq in range(30):
        vm = "vm-%d" % (seq % 3)
        event_type = ("VM.ON", "VM.UPDATE", "VM.OFF")[(seq // 3) % 3]
        response = server.post(envelope(vm, event_type, seq=seq))
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "queued"
        sent.append(seq)
    log = str(tmp_path / "events.jsonl")
    wait_for(lambda: len(read_jsonl(log)) >= 30, message="30 events in the log plugin's file")
    lines = read_jsonl(log)
    assert [line["body"]["seq"] for line in lines] == sent
    assert [line["id"] for line in lines] == sorted(line["id"] for line in lines)
    assert lines[0]["vm"]["vm_uuid"] == "vm-0" and lines[0]["event_type"] == "VM.ON"
    metrics = server.get("/metrics").text
    assert 'netevents_listener_events_applied_total{event_type="VM.ON"} 12.0' in metrics
    health = server.get("/healthz").json()
    assert health["ok"] and health["queue_depth"] == 0 and health["dispatcher"]["alive"]
    # A refusal from the real server, and a chunked body over the limit.
    assert requests.post(server.url, json=envelope(), timeout=10).status_code == 401
    chunks = (b'{"padding": "' + b"x" * 65536 + b'"}' for dummy in range(20))
    too_big = server.session.post(server.url, data=chunks, headers={"Content-Type": "application/json"},
                                  timeout=10)
    assert too_big.status_code == 413
    assert server.stop() == 0


def test_broken_requests_on_the_wire_get_a_4xx_never_a_500(tmp_path, listener_process):
    server = listener_process(make_config(tmp_path)).start()
    port = int(server.base.rsplit(":", 1)[1])
    auth = base64.b64encode(("%s:%s" % (WEBHOOK_USER, WEBHOOK_PASSWORD)).encode()).decode()
    head = ("POST /listener/callback HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n"
            "Content-Type: application/json\r\n" % auth)
    cases = {
        "body shorter than Content-Length": head + 'Content-Length: 100\r\n\r\n{"event_type": ',
        "chunked body cut short": head + 'Transfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n',
        "bad chunk size": head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        "bad Content-Length": head + "Content-Length: abc\r\n\r\n{}",
        "header without colon": head + "Broken header line\r\n\r\n",
        "huge header": head + "X-Big: %s\r\n\r\n" % ("a" * 20000),
        "garbage request line": "GARBAGE\r\n\r\n",
        "unknown transfer coding": head + "Transfer-Encoding: foo\r\n\r\n{}",  # gunicorn alone says 501
        "gzip then chunked": head + "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "two content lengths": head + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    }
    for name, raw in cases.items():
        answer = exchange(port, raw.encode())
        status_line = answer.split(b"\r\n", 1)[0]
        # The server may also just close the connection; what it must never do is answer 5xx.
        if status_line:
            status = int(status_line.split()[1])
            assert 400 <= status < 500, (name, status_line)
    assert server.get("/healthz").status_code == 200
    assert "unexpected error" not in server.logs()


def test_a_whole_event_in_a_body_shorter_than_its_content_length_is_refused_not_queued(tmp_path, listener_process):
    """gunicorn hands the application what arrived before the client closed, without an error: the event itself is
    complete JSON, but the request announced more, so it was cut short (and used to be queued)."""
    server = listener_process(make_config(tmp_path)).start()
    port = int(server.base.rsplit(":", 1)[1])
    auth = base64.b64encode(("%s:%s" % (WEBHOOK_USER, WEBHOOK_PASSWORD)).encode()).decode()
    body = json.dumps(envelope("vm-short")).encode()
    answer = exchange(port, ("POST /listener/callback HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n"
                             "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                             % (auth, len(body) + 10)).encode() + body)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {
        "error": "incomplete_body", "message": "the body could not be read completely"}
    assert server.post(envelope("vm-whole")).status_code == 200
    wait_for(lambda: read_jsonl(str(tmp_path / "events.jsonl")), message="the whole event applied")
    assert [line["vm_uuid"] for line in read_jsonl(str(tmp_path / "events.jsonl"))] == ["vm-whole"]


def test_tls_with_the_configured_certificate(tmp_path, listener_process):
    cert, key = make_self_signed_cert(str(tmp_path))
    server = listener_process(make_config(tmp_path, listener={"tls_cert": cert, "tls_key": key}))
    server.verify = cert
    server.start()
    assert server.url.startswith("https://")
    assert server.post(envelope("vm-tls")).status_code == 200
    wait_for(lambda: read_jsonl(str(tmp_path / "events.jsonl")), message="the event applied")
    # Plain HTTP to the TLS port gets no answer from the application.
    plain = server.url.replace("https://", "http://")
    try:
        status = requests.post(plain, json=envelope(), auth=(WEBHOOK_USER, WEBHOOK_PASSWORD), timeout=5).status_code
    except requests.ConnectionError:
        status = None
    assert status != 200


def test_no_acknowledged_event_is_lost_when_the_listener_is_killed(tmp_path, listener_process):
    config = make_config(tmp_path, queue={"batch_window_ms": 20})
    server = listener_process(config).start()
    acked, lock = [], threading.Lock()
    total = 240
    done = threading.Event()

    def sender():
        session = requests.Session()
        session.auth = (WEBHOOK_USER, WEBHOOK_PASSWORD)
        for seq in range(total):
            # Like Prism: deliver again until acknowledged (a request cut by the kill may or may not have
            # been stored; only a 200 counts).
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    response = session.post(server.url, json=envelope("vm-%d" % (seq % 7), "VM.UPDATE", seq=seq),
                                            timeout=5)
                except requests.RequestException:
                    time.sleep(0.05)
                    continue
                if response.status_code == 200:
                    with lock:
                        acked.append(seq)
                    break
        done.set()

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        for kill_after in (60, 140):
            wait_for(lambda n=kill_after: len(acked) >= n or done.is_set(), 60, message="acknowledged events")
            server.kill_group()                 # SIGKILL to master and worker: a crash, mid-stream
            server.start()
    finally:
        thread.join(120)
    assert done.is_set()
    log = str(tmp_path / "events.jsonl")
    wait_for(lambda: set(acked) <= set(line["body"]["seq"] for line in read_jsonl(log)), 60,
             message="every acknowledged event applied")
    applied = [line["body"]["seq"] for line in read_jsonl(log)]
    assert acked == list(range(total))
    assert set(acked) <= set(applied)
    # Per VM, the first application of each event keeps the sending order.
    for vm in range(7):
        firsts = []
        for seq in applied:
            if seq % 7 == vm and seq not in firsts:
                firsts.append(seq)
        assert firsts == sorted(firsts)


def test_failing_plugin_retries_then_dead_letter_then_requeue(tmp_path, listener_process):
    fail = str(tmp_path / "fail_vms")
    with open(fail, "w") as f:
        f.write("vm-a VM.ON\n")
    record = str(tmp_path / "record.jsonl")
    config = make_config(tmp_path, plugin={"name": CONTROLLED, "options": {"path": record, "fail_vms": fail}},
                         queue={"max_attempts": 3, "backoff_initial_s": 0.05, "backoff_max_s": 0.1})
    server = listener_process(config).start()
    assert server.post(envelope("vm-a", "VM.ON", seq=1)).status_code == 200
    assert server.post(envelope("vm-a", "VM.OFF", seq=2)).status_code == 200
    assert server.post(envelope("vm-b", "VM.ON", seq=3)).status_code == 200
    wait_for(lambda: [r for r in read_jsonl(record) if r["seq"] == 2 and r["result"] == "applied"],
             message="vm-a's second event applied after the first was dead-lettered")
    calls = [(r["vm_uuid"], r["event_type"], r["result"]) for r in read_jsonl(record)]
    a_calls = [c for c in calls if c[0] == "vm-a"]
    assert a_calls == [("vm-a", "VM.ON", "failed")] * 3 + [("vm-a", "VM.OFF", "applied")]
    assert ("vm-b", "VM.ON", "applied") in calls

    listing = cli(config, "dead-letters", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    [dead] = [json.loads(line) for line in listing.stdout.splitlines()]
    assert (dead["vm_uuid"], dead["event_type"], dead["attempts"]) == ("vm-a", "VM.ON", 3)
    assert "firewall unreachable" in dead["last_error"] and dead["body"]["seq"] == 1
    table = cli(config, "dead-letters", "list")
    assert "vm-a" in table.stdout and "firewall unreachable" in table.stdout

    health = server.get("/healthz").json()
    assert health["dead_letters"] == 1 and "firewall unreachable" in health["last_plugin_error"]["message"]
    metrics = server.get("/metrics").text
    assert 'netevents_listener_events_failed_total{event_type="VM.ON"} 3.0' in metrics
    assert 'netevents_listener_events_dead_lettered_total{event_type="VM.ON"} 1.0' in metrics
    assert "netevents_listener_dead_letters 1.0" in metrics

    os.unlink(fail)                                         # the firewall is back
    requeue = cli(config, "dead-letters", "requeue", str(dead["id"]))
    assert requeue.returncode == 0 and "requeued 1" in requeue.stdout
    wait_for(lambda: [r for r in read_jsonl(record) if r["seq"] == 1 and r["result"] == "applied"],
             message="the requeued event applied")
    assert cli(config, "dead-letters", "list").stdout.strip() == "no dead letters"
    assert server.get("/healthz").json()["dead_letters"] == 0
    missing = cli(config, "dead-letters", "requeue", "999")
    assert missing.returncode == 1


def test_secrets_never_reach_logs_responses_or_metrics(tmp_path, listener_process):
    api_key = "LUFRPT-very-secret-api-key-42"
    prism_password = "Prism-Secret-Pa55-99"
    write_secret(str(tmp_path / "api_key"), api_key)
    fail = str(tmp_path / "fail_vms")
    with open(fail, "w") as f:
        f.write("*\n")
    config = make_config(
        tmp_path,
        plugin={"name": CONTROLLED, "options": {
            "path": str(tmp_path / "record.jsonl"), "fail_vms": fail, "api_key_file": "api_key", "leak_secret": True}},
        listener={"log_level": "DEBUG"},
        queue={"max_attempts": 2},
        extra={"prism": {"host": "127.0.0.1", "username": "admin", "password_env": "NETEVENTS_TEST_PRISM_PW",
                         "source": "webhook"}})
    env = listener_env()
    env["NETEVENTS_TEST_PRISM_PW"] = prism_password
    server = listener_process(config, env=env).start()
    texts = []
    texts.append(server.post(envelope("vm-s", seq=1)).text)
    texts.append(requests.post(server.url, json=envelope(), auth=(WEBHOOK_USER, "wrong"), timeout=10).text)
    texts.append(requests.post(server.url, data=b"{", auth=(WEBHOOK_USER, WEBHOOK_PASSWORD), timeout=10,
                               headers={"Content-Type": "application/json"}).text)
    wait_for(lambda: server.get("/healthz").json()["dead_letters"] == 1, message="the event dead-lettered")
    health = server.get("/healthz").text
    assert "********" in health                     # the plugin did quote its key; the listener masked it
    texts += [health, server.get("/metrics").text, server.get("/nope").text]
    texts += [cli(config, "dead-letters", "list", "--json", env=env).stdout,
              cli(config, "check-config", env=env).stdout]
    assert server.stop() == 0
    logs = server.logs()
    assert "controlled plugin options" in logs and "event dead-lettered" in logs
    texts.append(logs)
    auth_header = base64.b64encode(("%s:%s" % (WEBHOOK_USER, WEBHOOK_PASSWORD)).encode()).decode()
    for text in texts:
        for secret in (WEBHOOK_PASSWORD, api_key, prism_password, auth_header):
            assert secret not in text


def test_sigterm_finishes_the_running_batch_and_keeps_the_rest_queued(tmp_path, listener_process):
    started, release = str(tmp_path / "started"), str(tmp_path / "release")
    record = str(tmp_path / "record.jsonl")
    config = make_config(tmp_path, plugin={"name": CONTROLLED, "options": {
        "path": record, "started": started, "block_until": release}})
    server = listener_process(config).start()
    assert server.post(envelope("vm-1", seq=1)).status_code == 200
    wait_for(lambda: os.path.exists(started), message="the first batch to start")
    assert server.post(envelope("vm-2", seq=2)).status_code == 200      # queued behind the running batch
    server.signal(signal.SIGTERM)

    def refused():
        assert server.proc.poll() is None, "exited before its running batch finished"
        try:
            with socket.create_connection(("127.0.0.1", int(server.base.rsplit(":", 1)[1])), timeout=1):
                return False
        except OSError:
            return True
    wait_for(refused, 30, 0.1, "the listener to stop accepting connections")
    with open(release, "w"):
        pass
    assert server.proc.wait(timeout=60) == 0
    assert [r["seq"] for r in read_jsonl(record)] == [1]                # the running batch finished
    db = sqlite3.connect(os.path.join(str(tmp_path), "queue.db"))
    try:
        assert [json.loads(r[0])["seq"] for r in db.execute("SELECT body FROM events")] == [2]
    finally:
        db.close()
    assert "listener stopped" in server.logs()
    server.start()                                                      # the queued event survives
    wait_for(lambda: [r["seq"] for r in read_jsonl(record)] == [1, 2], message="the queued event applied")
