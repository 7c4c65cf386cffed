"""Hostile input against the real service under gunicorn, while Prism delivers real events beside it.

Thousands of requests from a seeded generator, written byte for byte on raw sockets: malformed, oversized and
non-encodable bodies, lying Content-Lengths, chunked and unknown framings, odd Content-Types, every kind of
credentials, paths and methods. Meanwhile the Prism simulator creates VMs and delivers their events to the path
token URL (with basic auth), and two threads post good events of those VMs. Then, read back independently:
no answer was a 5xx, every good request got its 200 and was applied (the firewall, read through its XML API, tags
each good VM's address), the worker never restarted and is healthy, and the firewall holds nothing but those
addresses and the valid ones of hostile requests that were acknowledged with a 200 - none from the generator's
pool of addresses a firewall must never hold.
"""
import base64
import ipaddress
import json
import random
import re
import threading

import requests

from listener_helpers import WEBHOOK_PASSWORD, WEBHOOK_USER, exchange, wait_for, write_secret
from panos_helpers import FirewallApi, panos_config, prism_client, subscribe, target

SEED = 20261204
HOSTILE = 3000
GOOD_VMS = 24
TOKEN = "fZ8q1LmX4vT7nB2kR9wC5sJ0hD3gY6pA-_eU"
PATH = "/listener/callback"
MAX_BODY = 16384
WEB = "ntnx.AppTier.Web"
# Addresses a firewall must never hold, in the spellings a careless or hostile upstream might send.
NEVER = ["fe80::1%eth0", "fe80::1", "0.0.0.0", "0.1.2.3", "::", "127.0.0.1", "::1", "224.0.0.1", "ff02::1",
         "255.255.255.255", "240.1.2.3", "169.254.7.7", "::ffff:10.99.0.1", "2001:db8::1%25eth0"]
NOT_IPS = ["10.99.0.300", "10.99.0.1/24", "10.99.0.1; reboot", "<ip/>", "\ud800", "", " ", "10.99.0.1\x00", 7, None]
SURROGATES = ["\ud800", "x\udfffy", "\udbff\udbff"]
HOSTILE_TEXT = SURROGATES + ["']/../entry[@name='x", "a" * 300, "tab\there", "new\nline", "\x00", "comma,tag",
                             "\u202e\u0645", "<member>x</member>", "%s%n", "Web"]


def good_ip(rng):
    return "10.99.%d.%d" % (rng.randrange(0, 256), rng.randrange(1, 255))


def basic(user=WEBHOOK_USER, password=WEBHOOK_PASSWORD):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def hostile_envelope(rng):
    """A body shaped like an event, with hostile parts; (the JSON text, the valid addresses it names)."""
    ips = []
    for dummy in range(rng.randrange(0, 5)):
        ips.append(rng.choice([good_ip(rng), rng.choice(NEVER), rng.choice(NEVER), rng.choice(NOT_IPS)]))
    uuid = rng.choice(["vm-h%d" % rng.randrange(10 ** 6)] * 4 + SURROGATES + [
        "../../etc", "a b", "x" * 200, "", 5, None, ["u"], "ok\nINFO forged"])
    event_type = rng.choice(["VM.ON"] * 4 + ["VM.OFF", "VM.UPDATE", "VM.NIC_PLUG", "VM.NEW", "\ud800", 5, "VM." + "X" * 80])
    categories = rng.choice([{"AppTier": "Web"}, {rng.choice(HOSTILE_TEXT): rng.choice(HOSTILE_TEXT)},
                             {"AppTier": rng.choice(HOSTILE_TEXT)}, "Web", None, {"n": 5}])
    vm = {"metadata": {"kind": "vm", "uuid": uuid, "categories": categories},
          "spec": {"name": rng.choice(HOSTILE_TEXT)},
          "status": {"name": rng.choice(HOSTILE_TEXT), "resources": {
              "power_state": rng.choice(["ON", "OFF", "\ud800", 1]),
              "nic_list": [{"ip_endpoint_list": [{"ip": ip} for ip in ips]}]}}}
    body = {"entity_reference": {"kind": "vm", "uuid": uuid}, "data": {"metadata": vm}, "version": "1.0",
            "event_type": event_type}
    valid = set(ip for ip in ips if isinstance(ip, str) and ip.startswith("10.99.") and "/" not in ip
                and re.match(r"^10\.99\.\d+\.\d+$", ip) and int(ip.rsplit(".", 1)[1]) <= 255)
    return json.dumps(body).encode(), valid


def hostile_body(rng):
    kind = rng.randrange(10)
    if kind < 5:
        return hostile_envelope(rng)
    text = json.dumps({"event_type": "VM.ON", "entity_reference": {"uuid": "vm-x"}, "data": {}}).encode()
    return rng.choice([
        b"", b"{", text[:rng.randrange(1, len(text))], b"\xef\xbb\xbf" + text, b"\xff\xfe" + text, b"\xed\xa0\x80",
        b"[" * 50000 + b"]" * 50000, b'{"a": 1e999999}', b"NaN", b'{"event_type": "VM.ON", "event_type": 1}',
        b'{"a": "' + b"x" * (MAX_BODY + 100) + b'"}', bytes(rng.randrange(256) for dummy in range(rng.randrange(300))),
        b'"\\ud800"', b'{"\\udc00": {}}']), set()


def frame(rng, body):
    """(headers, bytes on the wire after the head) for *body*, truthfully or not."""
    how = rng.choice(["chunked", "short", "long", "none", "broken-chunk", "te-unknown", "te-and-cl", "bad-cl",
                      "two-cl", "expect"])
    if how == "short":  # announces more than it sends
        return [("Content-Length", str(len(body) + rng.randrange(1, 200)))], body
    if how == "long":  # the rest is taken for the next request
        return [("Content-Length", str(max(0, len(body) - rng.randrange(1, 20))))], body
    if how == "none":
        return [], body
    if how in ("chunked", "broken-chunk"):
        out, i = b"", 0
        while i < len(body):
            n = rng.randrange(1, 4096)
            out += b"%x\r\n%s\r\n" % (n if i + n <= len(body) else len(body) - i, body[i:i + n])
            i += n
        if how == "broken-chunk":
            return [("Transfer-Encoding", "chunked")], rng.choice([out[:max(0, len(out) - 3)], b"zz\r\n" + out,
                                                                  out + b"5\r\nab"])
        return [("Transfer-Encoding", "chunked")], out + b"0\r\n\r\n"
    if how == "te-unknown":
        return [("Transfer-Encoding", rng.choice(["gzip", "foo", "chunked, identity", "identity",
                                                  "chunked, chunked"]))], body
    if how == "te-and-cl":
        return [("Transfer-Encoding", "chunked"), ("Content-Length", str(len(body)))], body
    if how == "bad-cl":
        return [("Content-Length", rng.choice(["abc", "-1", "99999999999999999999", "1, 2", " ", "0x10"]))], body
    if how == "two-cl":
        return [("Content-Length", str(len(body))), ("Content-Length", str(len(body) + 1))], body
    return [("Content-Length", str(len(body))), ("Expect", "100-continue")], body


# What a request may get wrong besides its body; each request gets none, one or two of them wrong.
ASPECTS = ("method", "path", "auth", "content_type", "extra_header", "framing")


def hostile_request(rng):
    """(raw request bytes, the valid addresses its body names)."""
    body, valid = hostile_body(rng)
    wrong = rng.sample(ASPECTS, rng.choice([0, 0, 1, 1, 1, 2]))
    method, path, auth, content_type = "POST", PATH + "/" + TOKEN, basic(), "application/json"
    if "method" in wrong:
        method = rng.choice(["GET", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "BREW", "post", "P\x00ST"])
    if "path" in wrong:
        path = rng.choice([
            PATH, PATH + "/", PATH + "/" + TOKEN[:-1], PATH + "/" + TOKEN + "/x", PATH + "/" + TOKEN.lower(),
            "/healthz", "/metrics", "/", "//", PATH + "/../healthz", "/listener/callback%2F" + TOKEN, "/\xe9",
            PATH + "?" + TOKEN, "/" + "a" * 9000, "*", "http://127.0.0.1" + PATH + "/" + TOKEN])
    if "auth" in wrong:
        auth = rng.choice([None, basic(password="wrong"), basic(user="x"), "Bearer " + TOKEN, "Basic !!!",
                           "Digest x", "", "Basic " + "A" * 9000, basic(WEBHOOK_USER, WEBHOOK_PASSWORD + "\u00e9")])
    if "content_type" in wrong:
        content_type = rng.choice([None, "text/plain", "application/json; charset=utf-16", "application/x+json",
                                   "multipart/form-data; x", "application/json\x7f"])
    headers = [("Host", "127.0.0.1")]
    if auth is not None:
        headers.append(("Authorization", auth))
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    if "extra_header" in wrong:
        headers.append(rng.choice([("X-Forwarded-For", "10.0.0.1"), ("Connection", "keep-alive"),
                                   ("Content-Encoding", "gzip"), ("X-Big", "b" * 20000), ("Bad Header", "x"),
                                   ("X-Obs", "a\r\n folded")]))
    framing, payload = frame(rng, body) if "framing" in wrong else ([("Content-Length", str(len(body)))], body)
    headers += framing
    head = "%s %s HTTP/1.1\r\n%s\r\n\r\n" % (method, path, "".join("%s: %s\r\n" % h for h in headers).rstrip("\r\n"))
    return head.encode("utf-8", "surrogatepass") + payload, valid


def statuses_of(answer):
    """The status of every response in *answer* (a request whose Content-Length was short leaves a second one)."""
    return [int(s) for s in re.findall(rb"(?:^|\r\n\r\n|\n)HTTP/1\.[01] (\d{3}) ", answer)]


def test_thousands_of_hostile_requests_beside_prisms_deliveries(tmp_path, listener_process, prism, firewall):
    write_secret(str(tmp_path / "token"), TOKEN)
    config = panos_config(tmp_path, prism, [target(firewall)], queue={"batch_window_ms": 20},
                          listener={"path_token_file": "token", "max_body_bytes": MAX_BODY, "threads": 8})
    server = listener_process(config).start()
    port = int(server.base.rsplit(":", 1)[1])
    client = prism_client(prism)
    subscribe(client, server.url + "/" + TOKEN)  # Prism delivers with basic auth to the token URL

    rng = random.Random(SEED)
    requests_ = [hostile_request(rng) for dummy in range(HOSTILE)]
    statuses, acknowledged, lock = [], set(), threading.Lock()
    good_answers, good_vms = [], {}

    def attacker(part):
        for data, valid in part:
            got = statuses_of(exchange(port, data))
            with lock:
                statuses.extend(got)
                if 200 in got:
                    acknowledged.update(valid)

    def prism_user():
        """An operator creating VMs: Prism delivers VM.CREATE and VM.ON of each."""
        for n in range(GOOD_VMS):
            ip = "10.98.0.%d" % (n + 1)
            created = client.create_vm({"name": "good-%d" % n, "resources": {
                "power_state": "ON", "nic_list": [{"ip_endpoint_list": [{"ip": ip}]}]}},
                metadata={"categories": {"AppTier": "Web"}})
            with lock:
                good_vms[created["metadata"]["uuid"]] = ip

    def poster():
        """Good events of the good VMs, posted beside the flood (as a second Prism would)."""
        session = requests.Session()
        session.auth = (WEBHOOK_USER, WEBHOOK_PASSWORD)
        choose = random.Random(threading.get_ident())
        for dummy in range(60):
            known = wait_for(lambda: dict(good_vms), message="a good VM")
            uuid = choose.choice(sorted(known))
            vm = client.get_vm(uuid)
            body = {"entity_reference": {"kind": "vm", "uuid": uuid}, "data": {"metadata": vm}, "version": "1.0",
                    "event_type": "VM.UPDATE"}
            answer = session.post(server.url + "/" + TOKEN, json=body, timeout=30)
            with lock:
                good_answers.append((answer.status_code, answer.json().get("status")))

    threads = [threading.Thread(target=attacker, args=(requests_[i::4],)) for i in range(4)]
    threads += [threading.Thread(target=prism_user), threading.Thread(target=poster), threading.Thread(target=poster)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)

    # No 5xx for anything; hostile requests were mostly refused, some acknowledged.
    assert statuses and all(status < 500 for status in statuses), sorted(set(statuses))
    assert len([s for s in statuses if 400 <= s < 500]) > HOSTILE // 2
    # Every good request got its 200: Prism's deliveries and the posters'.
    deliveries = wait_for(lambda: prism.wait_idle(30) and len(prism.deliveries) >= 2 * GOOD_VMS and prism.deliveries,
                          60, message="Prism's deliveries")
    assert [d["status_code"] for d in deliveries] == [200] * len(deliveries)
    assert len(good_answers) == 120 and set(good_answers) <= {(200, "queued"), (200, "duplicate")}

    # Applied: the firewall (its XML API) tags every good VM's address.
    fw = FirewallApi(firewall)
    wait_for(lambda: server.get("/healthz").json()["queue_depth"] == 0, 60, message="the queue drained")

    def all_good_tagged():
        table = fw.registered_ips()
        return table if all(WEB in table.get(ip, ()) for ip in good_vms.values()) else None

    table = wait_for(all_good_tagged, 60, message="every good VM's address tagged")

    # Nothing but acknowledged, valid addresses: none a firewall must never hold.
    allowed = set(good_vms.values()) | acknowledged
    assert set(table) <= allowed, sorted(set(table) - allowed)
    never = set()
    for text in NEVER:
        try:
            never.add(str(ipaddress.ip_address(text)))
        except ValueError:
            never.add(text)
    assert not set(table) & never

    # The one worker is still the one that booted, healthy, and nothing in the log is a crash.
    health = server.get("/healthz").json()
    assert health["ok"] and health["dispatcher"]["alive"] and health["dead_letters"] == 0, health
    logs = server.logs()
    assert logs.count("Booting worker") == 1
    for crash in ("Traceback", "unexpected error", "Error handling request", "Logging error", "WORKER TIMEOUT"):
        assert crash not in logs, crash
    assert TOKEN not in logs and WEBHOOK_PASSWORD not in logs
    assert server.stop() == 0
