"""The listener role with two Prism Centrals (listener_prisms): one webhook in each, whose URL ends with that Prism's
own path token (kept on the host in secrets/webhook_token_<name>); each Prism's deliveries reach the firewall tagged
with its own name and cluster. The real deploy_listener.yml and remove_listener.yml on localhost, service manager
"none", as in test_role_listener.py."""
import pytest
import requests
import yaml

from tests.functional.conftest import PRISM_PASSWORD, PRISM_USERNAME
from tests.functional.helpers import free_port, wait_for
from tests.functional.listener_hosts import common_vars, host_vars, prism_webhooks, run, stop_listener
from tests.functional.readback import registered_ips


@pytest.fixture
def west_sim():
    from tests.simulators.prism import PrismSimulator

    sim = PrismSimulator(username=PRISM_USERNAME, password=PRISM_PASSWORD, port=0, pending_seconds=0.2,
                         name="pc-west", clusters=["west-1"]).start()
    yield sim
    sim.stop()


@pytest.fixture
def deployment(tmp_path, prism_sim, west_sim, panos_sim):
    port = free_port()
    variables = dict(common_vars(prism_sim, panos_sim), **host_vars(tmp_path, port))
    for key in ("listener_prism_host", "listener_prism_port", "listener_prism_username", "listener_prism_password",
                "listener_prism_ca_path", "listener_webhook_password"):
        variables.pop(key)
    variables.update({
        "netevents_listener_hosts": "localhost",
        "listener_webhook_url": "http://127.0.0.1:%d/listener/callback" % port,
        "listener_batch_window_ms": 50,
        "listener_reconcile_interval_minutes": 0,
        "listener_tag_format": "panorama-plugin",
        "listener_prisms": [
            {"name": "east", "host": prism_sim.host, "port": prism_sim.port, "username": PRISM_USERNAME,
             "password": PRISM_PASSWORD, "ca_path": prism_sim.cert_path},
            {"name": "west", "host": west_sim.host, "port": west_sim.port, "username": PRISM_USERNAME,
             "password": PRISM_PASSWORD, "ca_path": west_sim.cert_path},
        ],
    })
    yield variables
    stop_listener(tmp_path)


def power_on(sim, name, ip):
    vm = requests.post(sim.url + "/api/nutanix/v3/vms", auth=(PRISM_USERNAME, PRISM_PASSWORD), verify=sim.cert_path,
                       timeout=10, json={
                           "metadata": {"kind": "vm", "categories": {"AppTier": "Web"}},
                           "spec": {"name": name, "resources": {
                               "power_state": "ON",
                               "nic_list": [{"ip_endpoint_list": [{"ip": ip, "type": "ASSIGNED"}]}]}}})
    assert vm.status_code == 202


def test_one_webhook_per_prism_each_with_its_own_token(tmp_path, deployment, prism_sim, west_sim, panos_sim):
    first = run(tmp_path, "deploy_listener.yml", extra_vars=deployment)
    secrets = tmp_path / "etc" / "secrets"
    tokens = dict((name, (secrets / ("webhook_token_" + name)).read_text()) for name in ("east", "west"))
    assert len(set(tokens.values())) == 2 and all(len(t) == 43 and t.isalnum() for t in tokens.values())
    assert not (secrets / "webhook_token").exists()
    url = deployment["listener_webhook_url"]
    for sim, name in ((prism_sim, "east"), (west_sim, "west")):
        assert [h["spec"]["resources"]["post_url"] for h in prism_webhooks(sim)] == [url + "/" + tokens[name]]
    config = yaml.safe_load((tmp_path / "etc" / "config.yml").read_text())
    assert "path_token_file" not in config["listener"]
    assert [(p["name"], p["path_token_file"], p["password_file"], p["ca_path"]) for p in config["prism"]] == [
        (name, str(secrets / ("webhook_token_" + name)), str(secrets / ("prism_password_" + name)),
         str(tmp_path / "etc" / ("prism-ca-%s.pem" % name))) for name in ("east", "west")]
    for token in tokens.values():
        assert token not in first.stdout

    # Each Prism's events reach the firewall, tagged with its own name and cluster.
    power_on(prism_sim, "web-east", "10.30.0.1")
    power_on(west_sim, "web-west", "10.30.0.2")
    assert wait_for(lambda: registered_ips(panos_sim).get("10.30.0.2") == {"ntnx.PC-west.CL-west-1.AppTier.Web"}, 30,
                    "10.30.0.2 tagged as west's")
    assert wait_for(lambda: registered_ips(panos_sim).get("10.30.0.1") == {"ntnx.PC-east.CL-sim-cluster.AppTier.Web"},
                    30, "10.30.0.1 tagged as east's")

    # Again: nothing changes (the same tokens), and removal deletes the webhook from each Prism.
    second = run(tmp_path, "deploy_listener.yml", extra_vars=deployment)
    assert second.changed_count == 0, [r["task"] for r in second.results if r["result"].get("changed")]
    run(tmp_path, "remove_listener.yml", extra_vars=deployment)
    assert prism_webhooks(prism_sim) == [] and prism_webhooks(west_sim) == []
