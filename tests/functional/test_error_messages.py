"""The errors a new user trips on, through real ansible-playbook runs: each says what is wrong and what to check.

A Prism port that is another service, a PAN-OS port that is another service, no provider at all, and a post_url
with credentials in it (never echoed, not even at -vvv). The failed commit is in test_panos_modules.py.
"""
import json

from tests.functional.conftest import PANOS_PASSWORD, PANOS_USERNAME, PRISM_PASSWORD, PRISM_USERNAME
from tests.functional.playbook import run_playbook

URL_SECRET = "Url-S3cret-pw"


def prism_args(port, **extra):
    args = dict(nutanix_host="127.0.0.1", nutanix_port=port, nutanix_username=PRISM_USERNAME,
                nutanix_password=PRISM_PASSWORD, validate_certs=False)
    args.update(extra)
    return args


def failed_task(run, name):
    assert run.status(name) == "failed", run.stdout[-2000:]
    assert "Traceback" not in run.stdout + run.stderr
    return run.result(name)["msg"]


def test_a_prism_port_that_is_another_service(tmp_path, panos_sim):
    """nutanix_port pointed at the PAN-OS simulator: it answers 404, without a Prism error."""
    info = "netevents.nutanix.nutanix_webhook_info"
    run = run_playbook(tmp_path, tasks=[
        {"name": "list", info: prism_args(panos_sim.port), "ignore_errors": True},
        {"name": "by uuid", info: prism_args(panos_sim.port, uuid="6a2f3ad7"), "ignore_errors": True}])
    for name in ("list", "by uuid"):
        msg = failed_task(run, name)
        assert "with HTTP 404 and no Prism error: this is not a Prism v3 API" in msg, msg
        assert "Check nutanix_host and nutanix_port" in msg and "Not Found Not Found" not in msg
    assert run.result("by uuid").get("webhooks") is None   # not "no such webhook": an empty list would lie


def test_a_panos_port_that_is_another_service(tmp_path, prism_sim):
    """provider.port pointed at the Prism simulator: the message says what answered, not 'cannot reach'."""
    provider = {"ip_address": "127.0.0.1", "port": prism_sim.port, "password": PANOS_PASSWORD,
                "validate_certs": False}
    run = run_playbook(tmp_path, tasks=[{"name": "tag", "netevents.nutanix.panos_tag": {
        "provider": provider, "name": "x"}, "ignore_errors": True}])
    msg = failed_task(run, "tag")
    assert "answered HTTP 404 (NOT FOUND) at /api/: this is not the XML API of a PAN-OS firewall" in msg, msg
    assert "provider.port" in msg and "cannot reach" not in msg


def test_no_provider_says_what_provider_is(tmp_path, panos_sim):
    run = run_playbook(tmp_path, tasks=[
        {"name": "none", "netevents.nutanix.panos_tag": {"name": "x"}, "ignore_errors": True},
        {"name": "no password", "netevents.nutanix.panos_commit": {
            "provider": {"ip_address": panos_sim.host, "port": panos_sim.port, "username": PANOS_USERNAME}},
         "ignore_errors": True}])
    msg = failed_task(run, "none")
    assert msg.startswith("PAN-OS: provider.ip_address is missing. Give provider, a dict with ip_address"), msg
    assert "password or api_key" in msg and "found in provider" not in msg
    assert "provider.password or provider.api_key is required" in failed_task(run, "no password")
    assert panos_sim.stats()["calls"].get("keygen", 0) == 0


def test_a_post_url_with_credentials_is_refused_and_never_echoed(tmp_path, prism_sim):
    url = "https://hook:%s@127.0.0.1:8443/events" % URL_SECRET
    task = {"name": "hook", "ignore_errors": True, "netevents.nutanix.nutanix_webhook": dict(
        prism_args(prism_sim.port), name="listener", post_url=url, events=["VM.ON"])}
    also_refused_by_ansible = {"name": "no events", "ignore_errors": True, "netevents.nutanix.nutanix_webhook": dict(
        prism_args(prism_sim.port), name="listener", post_url=url)}
    run = run_playbook(tmp_path, tasks=[task, also_refused_by_ansible], args=("-vvv",))
    assert "must not carry a user name or password; give them in credentials" in failed_task(run, "hook")
    assert "events" in failed_task(run, "no events")
    assert '"invocation"' in run.stdout   # -vvv shows what the module was invoked with...
    blob = run.stdout + run.stderr + json.dumps(run.results)
    assert URL_SECRET not in blob and "//hook:" not in blob   # ...but not the credentials in the URL
    assert prism_sim.stats()["calls"] == {}
