"""netevents.nutanix.sync_firewall as a user runs it: a copy of docs/examples/inventory, vault-encrypted secrets,
real ansible-playbook at -vvv against the Prism simulator and two PAN-OS simulators.

The inventory's values are the example's, pointed at the simulators; only the listener host is made local (the
sync never connects to it, and nothing leaves 127.0.0.0/8). Outcomes are read back from the firewalls' XML API,
and the whole output is searched for every secret, on success and on failure.
"""
import os
import shutil
import subprocess
import sys

import pytest
import requests
import yaml

from tests.conftest import REPO
from tests.functional.conftest import PANOS_PASSWORD, PANOS_USERNAME, PRISM_PASSWORD, PRISM_USERNAME
from tests.functional.playbook import run_playbook
from tests.functional.readback import registered_ips

EXAMPLE = os.path.join(REPO, "docs", "examples", "inventory")
PLAYBOOK = os.path.join(REPO, "playbooks", "sync_firewall.yml")
VAULT_PASSWORD = "Va0lt-S3cret-pw"
WEBHOOK_PASSWORD = "W3bhook-S3cret-pw"
# Not the example's default format: only a sync that reads group_vars produces these tags.
TAG_FORMAT = "vm.{category}.{value}"


@pytest.fixture
def firewalls(panos_sim):
    """The example names two firewalls: the module's simulator and a second one."""
    from tests.simulators.panos import PanosSimulator

    second = PanosSimulator(username=PANOS_USERNAME, password=PANOS_PASSWORD, port=0, commit_seconds=0.2).start()
    yield [panos_sim, second]
    second.stop()


def write_yaml(path, data):
    path.write_text("---\n" + yaml.safe_dump(data, sort_keys=False))


def lay_inventory(tmp_path, prism_sim, firewalls, api_keys):
    """docs/examples/inventory, copied, with its addresses pointed at the simulators and its vault encrypted."""
    inventory = tmp_path / "inventory"
    shutil.copytree(EXAMPLE, inventory)
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    for host in hosts["netevents_listeners"]["hosts"].values():
        host.update(ansible_host="127.0.0.1", ansible_connection="local")
    write_yaml(inventory / "hosts.yml", hosts)

    group_vars = inventory / "group_vars" / "netevents_listeners.yml"
    settings = yaml.safe_load(group_vars.read_text())
    # The example's targets refer to the vault by name; keep that, point them at the simulators.
    assert [t["api_key"] for t in settings["listener_panos_targets"]] == [
        "{{ vault_fw1_api_key }}", "{{ vault_fw2_api_key }}"]
    for target, sim in zip(settings["listener_panos_targets"], firewalls):
        target.update(ip_address=sim.host, port=sim.port, ca_path=sim.cert_path)
    settings.update(listener_prism_host=prism_sim.host, listener_prism_port=prism_sim.port,
                    listener_prism_username=PRISM_USERNAME, listener_prism_validate_certs=False,
                    listener_tag_format=TAG_FORMAT)
    write_yaml(group_vars, settings)

    vault = inventory / "group_vars" / "all" / "vault.yml"
    write_yaml(vault, {"vault_prism_password": PRISM_PASSWORD, "vault_webhook_password": WEBHOOK_PASSWORD,
                       "vault_fw1_api_key": api_keys[0], "vault_fw2_api_key": api_keys[1]})
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD)
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-vault"), "encrypt",
                    "--vault-password-file", str(password_file), str(vault)], check=True, capture_output=True)
    assert PRISM_PASSWORD not in vault.read_text()
    return inventory, password_file


def sync(tmp_path, name, inventory, password_file):
    return run_playbook(tmp_path / name, playbook=PLAYBOOK, inventory=inventory,
                        args=("-vvv", "--vault-password-file", str(password_file)))


def assert_no_secret(run, secrets):
    output = run.stdout + run.stderr
    # Say which secret by its position only, so a failing test does not print it either.
    leaked = [index for index, secret in enumerate(secrets) if secret in output]
    assert not leaked, "secrets %s (by position) are in the output of %s" % (leaked, PLAYBOOK)


def add_vm(prism_sim, name, ip):
    response = requests.post(prism_sim.url + "/api/nutanix/v3/vms", auth=(PRISM_USERNAME, PRISM_PASSWORD),
                             verify=False, timeout=10, json={
                                 "metadata": {"kind": "vm", "categories": {"AppTier": "Web"}},
                                 "spec": {"name": name, "resources": {
                                     "power_state": "ON",
                                     "nic_list": [{"ip_endpoint_list": [{"ip": ip, "type": "ASSIGNED"}]}]}}})
    assert response.status_code == 202


def test_sync_with_the_documented_inventory(tmp_path, prism_sim, firewalls):
    keys = [sim.api_key for sim in firewalls]
    secrets = [PRISM_PASSWORD, WEBHOOK_PASSWORD, PANOS_PASSWORD, VAULT_PASSWORD] + keys
    add_vm(prism_sim, "web-01", "10.20.0.5")
    inventory, password_file = lay_inventory(tmp_path, prism_sim, firewalls, keys)

    run = sync(tmp_path, "ok", inventory, password_file)
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert_no_secret(run, secrets)
    # Both firewalls carry the tag in the inventory's format, read back through each one's XML API.
    for sim in firewalls:
        assert registered_ips(sim).get("10.20.0.5") == {"vm.AppTier.Web"}

    # Again: nothing left to change.
    again = sync(tmp_path, "again", inventory, password_file)
    assert again.rc == 0 and again.changed_count == 0, again.stdout[-3000:]
    assert_no_secret(again, secrets)


def test_failures_show_no_secret(tmp_path, prism_sim, firewalls):
    wrong_key = "Wr0ng-Api-Key-for-fw2"
    keys = [firewalls[0].api_key, wrong_key]
    secrets = [PRISM_PASSWORD, WEBHOOK_PASSWORD, PANOS_PASSWORD, VAULT_PASSWORD, firewalls[1].api_key] + keys
    add_vm(prism_sim, "web-02", "10.20.0.6")
    inventory, password_file = lay_inventory(tmp_path, prism_sim, firewalls, keys)

    # The second firewall refuses its key: the run fails and says which firewall (once per listener host of the
    # example's HA pair), the first is still synced.
    run = sync(tmp_path, "bad-key", inventory, password_file)
    assert run.rc != 0
    assert_no_secret(run, secrets)
    failed = [item for r in run.failed for item in r["result"].get("results", []) if item.get("failed")]
    assert len(failed) == 2 and all(str(firewalls[1].port) in f["msg"] for f in failed), run.stdout[-3000:]
    assert registered_ips(firewalls[0]).get("10.20.0.6") == {"vm.AppTier.Web"}
    assert "10.20.0.6" not in registered_ips(firewalls[1])

    # Prism refuses the password (changed in the simulator, not in the vault).
    prism_sim.password = "Ch4nged-Pr1sm-pw"
    run = sync(tmp_path, "bad-prism", inventory, password_file)
    assert run.rc != 0 and "HTTP 401" in run.stdout, run.stdout[-3000:]
    assert_no_secret(run, secrets + [prism_sim.password])
