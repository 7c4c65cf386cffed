"""The listener role deploying a poll-only listener (listener_prism_source: poll): the real deploy_listener.yml and
remove_listener.yml on localhost, against a Prism Central whose v3 webhooks are gone.

No webhook is registered (the Prism has none to give), no webhook credential or path token exists, the listener
serves no webhook path, and a VM's change still reaches the firewall: the listener's own poll found it. The firewall
is read back through its XML API, Prism through its own counters.
"""
import pytest
import requests
import yaml

from tests.functional.conftest import PRISM_PASSWORD, PRISM_USERNAME
from tests.functional.helpers import free_port, wait_for
from tests.functional.listener_hosts import common_vars, host_vars, run, stop_listener
from tests.functional.readback import registered_ips


@pytest.fixture
def prism_without_webhooks():
    from tests.simulators.prism import PrismSimulator

    sim = PrismSimulator(username=PRISM_USERNAME, password=PRISM_PASSWORD, port=0, pending_seconds=0.2,
                         v3_webhooks=False).start()
    yield sim
    sim.stop()


def test_a_poll_only_listener_is_deployed_without_a_webhook_and_follows_prism(tmp_path, prism_without_webhooks,
                                                                              panos_sim):
    prism = prism_without_webhooks
    port = free_port()
    variables = dict(common_vars(prism, panos_sim), **host_vars(tmp_path, port))
    variables.update({"netevents_listener_hosts": "localhost", "listener_reconcile_interval_minutes": 0,
                      "listener_prism_source": "poll", "listener_prism_api": "v4", "listener_poll_interval_s": 5})
    variables.pop("listener_webhook_password", None)
    try:
        run(tmp_path, "deploy_listener.yml", extra_vars=variables)
        config = yaml.safe_load((tmp_path / "etc" / "config.yml").read_text())
        assert (config["prism"]["source"], config["prism"]["api"], config["prism"]["poll_interval_s"]) == (
            "poll", "v4", 5)
        assert "path_token_file" not in config["listener"] and "password_file" not in config["listener"]
        assert not (tmp_path / "etc" / "secrets" / "webhook_token").exists()
        calls = prism.stats()["calls"]
        assert not [c for c in calls if "/webhooks" in c], calls       # never asked for (nor registered) one
        base = "http://127.0.0.1:%d" % port
        assert requests.get(base + "/healthz", timeout=5).json()["poll"]["default"]["failures"] == 0
        assert requests.post(base + "/listener/callback", json={}, timeout=5).status_code == 404

        vm = requests.post(prism.url + "/api/nutanix/v3/vms", auth=(PRISM_USERNAME, PRISM_PASSWORD),
                           verify=prism.cert_path, timeout=10, json={
                               "metadata": {"kind": "vm", "categories": {"AppTier": "Web"}},
                               "spec": {"name": "web-01", "resources": {"power_state": "ON", "nic_list": [
                                   {"ip_endpoint_list": [{"ip": "10.70.0.5", "type": "ASSIGNED"}]}]}}})
        assert vm.status_code == 202
        assert wait_for(lambda: "ntnx.AppTier.Web" in registered_ips(panos_sim).get("10.70.0.5", ()), 60,
                        "10.70.0.5 tagged by the poll")
        assert prism.stats()["deliveries"] == 0

        run(tmp_path, "remove_listener.yml", extra_vars=variables)
        with pytest.raises(requests.ConnectionError):
            requests.get(base + "/healthz", timeout=5)
    finally:
        stop_listener(tmp_path)
