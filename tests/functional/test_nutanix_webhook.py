"""nutanix_webhook and nutanix_webhook_info through real ansible-playbook runs against the Prism simulator.

Every outcome is read back through Prism's v3 API with plain requests (TLS verified against the simulator's
certificate), independently of the collection's client; the webhook password, which the API never returns,
is read from the simulator's store or from what Prism sends to a receiver.
"""
import base64
import http.server
import json
import threading

import pytest
import requests

from tests.functional.conftest import PRISM_PASSWORD, PRISM_USERNAME
from tests.functional.helpers import free_port
from tests.functional.playbook import run_playbook
from tests.simulators._common import make_self_signed_cert
from tests.simulators.prism import PrismSimulator

MODULE = "netevents.nutanix.nutanix_webhook"
INFO = "netevents.nutanix.nutanix_webhook_info"
HOOK_PASSWORD = "H00k-S3cret-pw"
URL = "https://127.0.0.1:8443/events"
EVENTS = ["VM.ON", "VM.OFF"]


class Api(object):
    """Independent read-back: Prism's v3 API through plain requests."""

    def __init__(self, sim):
        self.sim = sim
        self.base = sim.url + "/api/nutanix/v3"
        self.session = requests.Session()
        self.session.auth = (PRISM_USERNAME, PRISM_PASSWORD)

    def call(self, method, path, body=None):
        response = self.session.request(method, self.base + path, json=body, verify=self.sim.cert_path, timeout=10)
        response.raise_for_status()
        return response.json()

    def webhooks(self, name=None):
        entities, offset = [], 0
        while True:
            page = self.call("POST", "/webhooks/list", {"kind": "webhook", "length": 50, "offset": offset})
            entities += page["entities"]
            offset += len(page["entities"])
            if not page["entities"] or offset >= page["metadata"]["total_matches"]:
                break
        return [e for e in entities if name is None or e["spec"]["name"] == name]

    def only(self, name):
        hooks = self.webhooks(name)
        assert len(hooks) == 1, "expected one webhook named %r, found %d" % (name, len(hooks))
        return hooks[0]

    def create(self, name, post_url=URL, events=("VM.ON",)):
        spec = {"name": name, "resources": {"post_url": post_url, "events_filter_list": list(events)}}
        return self.call("POST", "/webhooks", {"metadata": {"kind": "webhook"}, "spec": spec})["metadata"]["uuid"]

    def stored_password(self, uuid):
        """The password Prism keeps (the API never returns it)."""
        return self.sim.webhooks[uuid]["spec"]["resources"]["credentials"]["password"]


def conn(sim, **extra):
    args = dict(nutanix_host=sim.host, nutanix_port=sim.port, nutanix_username=PRISM_USERNAME,
                nutanix_password=PRISM_PASSWORD, validate_certs=False)
    args.update(extra)
    return args


def hook(sim, task_name, **args):
    """A nutanix_webhook task: the test's webhook 'listener', with the usual settings unless overridden."""
    params = dict(name="listener", post_url=URL, events=EVENTS, description="netevents listener",
                  credentials={"username": "prism", "password": HOOK_PASSWORD})
    params.update(args)
    params = dict((k, v) for k, v in params.items() if v is not None)
    return {"name": task_name, MODULE: conn(sim, **params), "ignore_errors": True}


def assert_no_secret(run, *secrets):
    blob = run.stdout + run.stderr + json.dumps(run.results)
    for secret in secrets + (PRISM_PASSWORD, HOOK_PASSWORD):
        assert secret not in blob


@pytest.fixture
def receiver():
    """A plain HTTP endpoint that records the basic-auth credentials of every event Prism POSTs to it."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            auth = self.headers.get("Authorization", "")
            seen.append(base64.b64decode(auth.split()[1]).decode() if auth.startswith("Basic ") else None)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = "http://127.0.0.1:%d/events" % server.server_address[1]
    server.seen = seen
    yield server
    server.shutdown()
    server.server_close()


# --------------------------------------------------------------------------- create / update / delete

def test_create_then_nothing_to_do(tmp_path, prism_sim):
    api = Api(prism_sim)
    run = run_playbook(tmp_path, tasks=[hook(prism_sim, "create"), hook(prism_sim, "again")])
    assert run.rc == 0, run.stdout
    assert run.status("create") == "ok" and run.result("create")["changed"] is True
    assert run.result("again")["changed"] is False

    stored = api.only("listener")
    assert stored["metadata"]["spec_version"] == 0  # the second run did not PUT
    assert stored["status"]["state"] == "COMPLETE"
    assert stored["spec"]["description"] == "netevents listener"
    assert stored["spec"]["resources"]["post_url"] == URL
    assert sorted(stored["spec"]["resources"]["events_filter_list"]) == ["VM.OFF", "VM.ON"]
    assert stored["spec"]["resources"]["credentials"] == {"username": "prism"}
    assert api.stored_password(stored["metadata"]["uuid"]) == HOOK_PASSWORD

    returned = run.result("create")["webhook"]
    assert returned["uuid"] == stored["metadata"]["uuid"] and returned["state"] == "COMPLETE"
    assert returned["events"] == ["VM.OFF", "VM.ON"] and returned["credentials"] == {"username": "prism"}
    assert_no_secret(run)


def test_update_events_puts_with_spec_version(tmp_path, prism_sim):
    api = Api(prism_sim)
    assert run_playbook(tmp_path / "1", tasks=[hook(prism_sim, "create")]).rc == 0
    before = api.only("listener")

    run = run_playbook(tmp_path / "2", tasks=[hook(prism_sim, "update", events=["VM.ON", "VM.OFF", "VM.UPDATE"])])
    assert run.rc == 0, run.stdout
    assert run.result("update")["changed"] is True and run.result("update")["changes"] == ["events"]
    after = api.only("listener")
    assert after["metadata"]["uuid"] == before["metadata"]["uuid"]
    assert after["metadata"]["spec_version"] == before["metadata"]["spec_version"] + 1
    assert sorted(after["spec"]["resources"]["events_filter_list"]) == ["VM.OFF", "VM.ON", "VM.UPDATE"]
    assert run.result("update")["webhook"]["spec_version"] == after["metadata"]["spec_version"]
    assert_no_secret(run)


def test_left_out_credentials_and_description_are_kept(tmp_path, prism_sim):
    api = Api(prism_sim)
    assert run_playbook(tmp_path / "1", tasks=[hook(prism_sim, "create")]).rc == 0
    run = run_playbook(tmp_path / "2", tasks=[hook(prism_sim, "move", post_url="https://127.0.0.1:9443/events",
                                                   credentials=None, description=None)])
    assert run.rc == 0 and run.result("move")["changes"] == ["post_url"]
    after = api.only("listener")
    assert after["spec"]["resources"]["post_url"] == "https://127.0.0.1:9443/events"
    assert after["spec"]["description"] == "netevents listener"
    assert after["spec"]["resources"]["credentials"] == {"username": "prism"}
    assert api.stored_password(after["metadata"]["uuid"]) == HOOK_PASSWORD


def test_check_mode_changes_nothing(tmp_path, prism_sim):
    api = Api(prism_sim)
    run = run_playbook(tmp_path / "1", tasks=[hook(prism_sim, "create")], check=True)
    assert run.rc == 0 and run.result("create")["changed"] is True
    assert run.result("create")["webhook"]["uuid"] is None
    assert api.webhooks() == []

    assert run_playbook(tmp_path / "2", tasks=[hook(prism_sim, "create")]).rc == 0
    before = api.only("listener")
    run = run_playbook(tmp_path / "3", tasks=[hook(prism_sim, "update", events=["VM.CREATE"]),
                                              hook(prism_sim, "delete", state="absent")], check=True)
    assert run.rc == 0
    assert run.result("update")["changed"] is True and run.result("update")["webhook"]["events"] == ["VM.CREATE"]
    assert run.result("delete")["changed"] is True
    assert api.only("listener") == before  # same spec_version, events, everything


def test_diff_shows_the_change_without_secrets(tmp_path, prism_sim):
    assert run_playbook(tmp_path / "1", tasks=[hook(prism_sim, "create")]).rc == 0
    run = run_playbook(tmp_path / "2", tasks=[hook(prism_sim, "update", events=["VM.ON"], description="moved")],
                       diff=True)
    assert run.rc == 0
    diff = run.result("update")["diff"]
    assert diff["before"]["events"] == ["VM.OFF", "VM.ON"] and diff["after"]["events"] == ["VM.ON"]
    assert diff["before"]["description"] == "netevents listener" and diff["after"]["description"] == "moved"
    assert "password" not in diff["before"]["credentials"]
    assert diff["after"]["credentials"]["password"] == "********"  # the update sends the password
    assert '-    "description": "netevents listener"' in run.stdout and '+    "description": "moved"' in run.stdout
    assert_no_secret(run)

    run = run_playbook(tmp_path / "3", tasks=[hook(prism_sim, "same", events=["VM.ON"], description="moved")],
                       diff=True)
    assert run.result("same")["changed"] is False and "diff" not in run.result("same")


TOKEN = "mT4kQ9vX2bL7nR1wZ5cH8sJ3fD6gA0pE-_yU"
TOKEN_URL = "https://127.0.0.1:8443/listener/callback/" + TOKEN


def test_a_path_token_in_post_url_is_never_shown(tmp_path, prism_sim):
    """The listener's path token is the webhook URL's last segment: Prism gets it, no output shows it (results,
    diff, the invocation at -vvv, the info module)."""
    api = Api(prism_sim)
    run = run_playbook(tmp_path / "1", tasks=[hook(prism_sim, "create", post_url=TOKEN_URL)], diff=True,
                       args=["-vvv"])
    assert run.rc == 0 and run.result("create")["changed"]
    assert api.only("listener")["spec"]["resources"]["post_url"] == TOKEN_URL  # Prism has the real URL
    assert run.result("create")["webhook"]["post_url"] == "https://127.0.0.1:8443/listener/callback/********"
    assert "https://127.0.0.1:8443/listener/callback/********" in run.stdout  # the invocation, masked
    assert_no_secret(run, TOKEN)

    new = TOKEN_URL[:-4] + "9Zz0"  # a rotated token: a change, shown masked on both sides
    run = run_playbook(tmp_path / "2", tasks=[
        hook(prism_sim, "rotate", post_url=new),
        {"name": "info", INFO: conn(prism_sim, name="listener")}], diff=True, args=["-vvv"])
    assert run.result("rotate")["changes"] == ["post_url"]
    diff = run.result("rotate")["diff"]
    assert diff["before"]["post_url"] == diff["after"]["post_url"] == "https://127.0.0.1:8443/listener/callback/********"
    assert [w["post_url"] for w in run.result("info")["webhooks"]] == [
        "https://127.0.0.1:8443/listener/callback/********"]
    assert api.only("listener")["spec"]["resources"]["post_url"] == new
    assert_no_secret(run, TOKEN, new.rsplit("/", 1)[1])


def test_delete_then_nothing_to_do(tmp_path, prism_sim):
    api = Api(prism_sim)
    assert run_playbook(tmp_path / "1", tasks=[hook(prism_sim, "create")]).rc == 0
    uuid = api.only("listener")["metadata"]["uuid"]
    run = run_playbook(tmp_path / "2", tasks=[hook(prism_sim, "delete", state="absent", post_url=None, events=None),
                                              hook(prism_sim, "again", state="absent")], diff=True)
    assert run.rc == 0
    assert run.result("delete")["changed"] is True and run.result("delete")["diff"]["before"]["uuid"] == uuid
    assert run.result("again")["changed"] is False
    assert api.webhooks() == [] and uuid not in prism_sim.webhooks  # wait: true waited until it was gone


def test_wait_false_returns_pending(tmp_path, prism_sim):
    run = run_playbook(tmp_path, tasks=[hook(prism_sim, "create", wait=False)])
    assert run.rc == 0 and run.result("create")["webhook"]["state"] == "PENDING"
    assert Api(prism_sim).only("listener")["spec"]["name"] == "listener"


# --------------------------------------------------------------------------- credentials of the webhook

def test_update_password_on_create_vs_always(tmp_path, prism_sim, receiver):
    api = Api(prism_sim)
    first = run_playbook(tmp_path / "1", tasks=[hook(prism_sim, "create", post_url=receiver.url,
                                                     events=["VM.CREATE"])])
    assert first.rc == 0
    uuid = api.only("listener")["metadata"]["uuid"]

    new = {"username": "prism", "password": "R0tated-pw"}
    run = run_playbook(tmp_path / "2", tasks=[hook(prism_sim, "on_create", post_url=receiver.url,
                                                   events=["VM.CREATE"], credentials=new)])
    assert run.rc == 0 and run.result("on_create")["changed"] is False  # Prism cannot show the password
    assert api.only("listener")["metadata"]["spec_version"] == 0
    assert api.stored_password(uuid) == HOOK_PASSWORD

    run = run_playbook(tmp_path / "3", tasks=[hook(prism_sim, "always", post_url=receiver.url,
                                                   events=["VM.CREATE"], credentials=new, update_password="always")])
    assert run.rc == 0
    assert run.result("always")["changed"] is True and run.result("always")["changes"] == ["credentials.password"]
    assert api.only("listener")["metadata"]["spec_version"] == 1
    assert_no_secret(run, "R0tated-pw")

    # What Prism now sends with an event is the new password.
    api.call("POST", "/vms", {"metadata": {"kind": "vm"}, "spec": {"name": "vm-1", "resources": {}}})
    deliveries = prism_sim.wait_for_deliveries(1, timeout=10)
    assert deliveries[0]["status_code"] == 200 and deliveries[0]["event_type"] == "VM.CREATE"
    assert receiver.seen == ["prism:R0tated-pw"]

    again = run_playbook(tmp_path / "4", tasks=[hook(prism_sim, "always", post_url=receiver.url,
                                                     events=["VM.CREATE"], credentials=new,
                                                     update_password="always")])
    assert again.result("always")["changed"] is True  # documented: always means always
    assert api.only("listener")["metadata"]["spec_version"] == 2


# --------------------------------------------------------------------------- failures

def test_wrong_prism_password_is_explained(tmp_path, prism_sim):
    wrong = "Wr0ng-Prism-pw"
    run = run_playbook(tmp_path, tasks=[hook(prism_sim, "create", nutanix_password=wrong)])
    assert run.status("create") == "failed"
    msg = run.result("create")["msg"]
    assert "refused the credentials (HTTP 401): check nutanix_username and nutanix_password" in msg
    assert "Traceback" not in run.stdout + run.stderr
    assert_no_secret(run, wrong)
    assert Api(prism_sim).webhooks() == []


def test_a_prism_without_v3_webhooks_points_to_the_poll_source(tmp_path):
    with PrismSimulator(username=PRISM_USERNAME, password=PRISM_PASSWORD, port=0, v3_webhooks=False) as gone:
        run = run_playbook(tmp_path, tasks=[hook(gone, "create"), {
            "name": "info", INFO: conn(gone), "ignore_errors": True}])
        calls = gone.stats()["calls"]
    for task in ("create", "info"):
        assert run.status(task) == "failed"
        msg = run.result(task)["msg"]
        assert "serves the v3 API but no v3 webhooks (HTTP 404 on POST /api/nutanix/v3/webhooks/list)" in msg
        assert "Prism v4 has no webhooks" in msg and "prism.source: poll" in msg and "docs/listener.md" in msg
    assert "Traceback" not in run.stdout + run.stderr
    assert calls["POST /api/nutanix/v3/webhooks/list"] == 2 and "POST /api/nutanix/v3/webhooks" not in calls


def test_validate_certs(tmp_path, prism_sim):
    api = Api(prism_sim)
    run = run_playbook(tmp_path / "1", tasks=[hook(prism_sim, "verify", validate_certs=True)])
    assert run.status("verify") == "failed"
    msg = run.result("verify")["msg"]
    assert "TLS certificate of Prism at %s could not be verified" % prism_sim.url in msg
    assert "validate_certs: false" in msg and "in nutanix_ca_path" in msg
    assert api.webhooks() == []

    run = run_playbook(tmp_path / "2", tasks=[hook(prism_sim, "no verify", validate_certs=False)])
    assert run.rc == 0 and run.result("no verify")["changed"] is True

    # Trusting the simulator's certificate makes verification pass: nutanix_ca_path, its environment
    # variable, or the trusted CAs of requests.
    run = run_playbook(tmp_path / "3", tasks=[
        hook(prism_sim, "ca_path", validate_certs=True, nutanix_ca_path=prism_sim.cert_path),
        hook(prism_sim, "ca_path from env", validate_certs=True),
    ], env={"NUTANIX_CA_PATH": prism_sim.cert_path})
    assert run.rc == 0, run.stdout
    assert run.result("ca_path")["changed"] is False and run.result("ca_path from env")["changed"] is False
    run = run_playbook(tmp_path / "4", tasks=[hook(prism_sim, "trusted", validate_certs=True)],
                       env={"REQUESTS_CA_BUNDLE": prism_sim.cert_path})
    assert run.rc == 0, run.stdout
    assert run.result("trusted")["changed"] is False


def test_a_ca_path_that_does_not_sign_prism_names_the_option(tmp_path, prism_sim):
    other, _key = make_self_signed_cert(str(tmp_path))
    run = run_playbook(tmp_path / "run", tasks=[
        hook(prism_sim, "other ca", validate_certs=True, nutanix_ca_path=other),
        hook(prism_sim, "no such file", validate_certs=True, nutanix_ca_path=str(tmp_path / "missing.pem"))])
    assert run.status("other ca") == "failed" and run.status("no such file") == "failed"
    assert "could not be verified against nutanix_ca_path %s" % other in run.result("other ca")["msg"]
    assert run.result("no such file")["msg"].startswith("Prism: nutanix_ca_path: cannot load the CA certificates")
    assert Api(prism_sim).webhooks() == []


def test_unreachable_prism(tmp_path, prism_sim):
    run = run_playbook(tmp_path, tasks=[hook(prism_sim, "create", nutanix_port=free_port())])
    msg = run.result("create")["msg"]
    assert run.status("create") == "failed"
    assert "connection refused after 4 attempts" in msg and "nutanix_port" in msg


def test_duplicates_fail_clearly_and_absent_removes_them(tmp_path, prism_sim):
    api = Api(prism_sim)
    uuids = [api.create("listener"), api.create("listener")]
    run = run_playbook(tmp_path / "1", tasks=[hook(prism_sim, "present")])
    assert run.status("present") == "failed"
    msg = run.result("present")["msg"]
    assert "2 webhooks are named 'listener'" in msg
    assert all(u in msg for u in uuids)
    assert sorted(w["metadata"]["uuid"] for w in api.webhooks()) == sorted(uuids)  # no third one

    run = run_playbook(tmp_path / "2", tasks=[hook(prism_sim, "absent", state="absent")])
    assert run.rc == 0 and run.result("absent")["changed"] is True
    assert api.webhooks() == []


def test_bad_input_fails_before_prism_is_touched(tmp_path, prism_sim):
    run = run_playbook(tmp_path, tasks=[
        hook(prism_sim, "unknown event", events=["VM.ON", "VM.REBOOT"]),
        hook(prism_sim, "password in url", post_url="https://user:pw@127.0.0.1/events"),
        hook(prism_sim, "not a url", post_url="listener:8443"),
        hook(prism_sim, "no events", events=None),
    ])
    assert all(run.status(t) == "failed" for t in ("unknown event", "password in url", "not a url", "no events"))
    assert "VM.REBOOT" in run.result("unknown event")["msg"]
    assert "must not carry a user name or password" in run.result("password in url")["msg"]
    assert "http:// or https:// URL" in run.result("not a url")["msg"]
    assert "events" in run.result("no events")["msg"]
    assert prism_sim.stats()["calls"] == {}  # nothing was sent to Prism


def test_found_by_name_beyond_the_first_page(tmp_path, prism_sim):
    """Prism's name filter also matches 'edge-001'...; the exact 'edge' sits on the second page."""
    api = Api(prism_sim)
    for i in range(150):
        api.create("edge-%03d" % i)
    target = api.create("edge", post_url=URL, events=EVENTS)
    run = run_playbook(tmp_path, tasks=[hook(prism_sim, "edge", name="edge", credentials=None, description=None)])
    assert run.rc == 0 and run.result("edge")["changed"] is False
    assert run.result("edge")["webhook"]["uuid"] == target
    assert len(api.webhooks()) == 151


# --------------------------------------------------------------------------- connection settings

def test_module_defaults_group(tmp_path, prism_sim):
    block = {
        "name": "with defaults",
        "module_defaults": {"group/netevents.nutanix.prism": conn(prism_sim)},
        "block": [
            {"name": "create", MODULE: {"name": "grouped", "post_url": URL, "events": EVENTS}},
            {"name": "read", INFO: {"name": "grouped"}},
        ],
    }
    run = run_playbook(tmp_path, tasks=[block])
    assert run.rc == 0, run.stdout
    assert run.result("create")["changed"] is True
    assert [w["name"] for w in run.result("read")["webhooks"]] == ["grouped"]
    assert Api(prism_sim).only("grouped")["spec"]["resources"]["post_url"] == URL


def test_environment_fallbacks(tmp_path, prism_sim):
    env = {"NUTANIX_HOST": prism_sim.host, "NUTANIX_PORT": str(prism_sim.port), "NUTANIX_USERNAME": PRISM_USERNAME,
           "NUTANIX_PASSWORD": PRISM_PASSWORD, "VALIDATE_CERTS": "false"}
    task = {"name": "create", MODULE: {"name": "env", "post_url": URL, "events": EVENTS}}
    run = run_playbook(tmp_path, tasks=[task], env=env)
    assert run.rc == 0, run.stdout
    assert Api(prism_sim).only("env")["spec"]["resources"]["events_filter_list"] == sorted(EVENTS)


# --------------------------------------------------------------------------- info

def test_info(tmp_path, prism_sim):
    api = Api(prism_sim)
    assert run_playbook(tmp_path / "1", tasks=[hook(prism_sim, "create")]).rc == 0
    dup = [api.create("twin"), api.create("twin")]
    listener = api.only("listener")["metadata"]["uuid"]

    def info(task_name, **args):
        return {"name": task_name, INFO: conn(prism_sim, **args)}

    run = run_playbook(tmp_path / "2", tasks=[
        info("all"), info("by name", name="twin"), info("by uuid", uuid=listener),
        info("unknown uuid", uuid="00000000-0000-4000-8000-000000000000"), info("unknown name", name="nope"),
    ], check=True)
    assert run.rc == 0, run.stdout
    assert sorted(w["name"] for w in run.result("all")["webhooks"]) == ["listener", "twin", "twin"]
    assert sorted(w["uuid"] for w in run.result("by name")["webhooks"]) == sorted(dup)
    (one,) = run.result("by uuid")["webhooks"]
    assert one == {"uuid": listener, "name": "listener", "description": "netevents listener", "post_url": URL,
                   "events": ["VM.OFF", "VM.ON"], "credentials": {"username": "prism"}, "spec_version": 0,
                   "state": "COMPLETE"}
    assert run.result("unknown uuid")["webhooks"] == [] and run.result("unknown name")["webhooks"] == []
    assert all(run.result(t)["changed"] is False for t in ("all", "by name", "by uuid"))
    assert_no_secret(run)


def test_info_failure_is_clear(tmp_path, prism_sim):
    run = run_playbook(tmp_path, tasks=[{"name": "info", INFO: conn(prism_sim, nutanix_password="nope-pw"),
                                         "ignore_errors": True}])
    assert run.status("info") == "failed"
    assert "HTTP 401" in run.result("info")["msg"] and "nope-pw" not in run.stdout + json.dumps(run.results)
