"""The listener role end to end: the real deploy_listener.yml / remove_listener.yml on localhost.

Service manager "none" (no systemd as PID 1 here): the role starts the rendered unit's exact ExecStart. The
Prism simulator delivers real webhook POSTs to the deployed listener, which drives the PAN-OS simulator; the
firewall is read back through its XML API. The listener runs from the wheel the role built and pip-installed
into its virtualenv; what is on the target is read back with the venv's own python and pip.
"""
import json
import os
import subprocess
import sys

from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import REPO
from tests.functional.conftest import PANOS_PASSWORD, PRISM_PASSWORD, PRISM_USERNAME
from tests.functional.helpers import WEBHOOK_PASSWORD, free_port, require, wait_for
from tests.functional.listener_hosts import PLAYBOOKS, common_vars, host_vars, prism_webhooks, run, stop_listener
from tests.functional.playbook import run_playbook
from tests.functional.readback import registered_ips
from tests.simulators._common import make_self_signed_cert
from tests.tools import preflight


@pytest.fixture
def deployment(tmp_path, prism_sim, panos_sim):
    port = free_port()
    variables = dict(common_vars(prism_sim, panos_sim), **host_vars(tmp_path, port))
    variables.update({
        "netevents_listener_hosts": "localhost",
        "listener_webhook_url": "http://127.0.0.1:%d/listener/callback" % port,
        "listener_batch_window_ms": 50,
        "listener_reconcile_interval_minutes": 0,
    })
    # The role's default: no basic auth, a generated path token (the basic-auth test sets the password).
    del variables["listener_webhook_password"]
    yield variables
    # Whatever a test did, leave no listener running.
    stop_listener(tmp_path)


def deploy(tmp_path, variables, name="deploy_listener.yml"):
    return run(tmp_path, name, extra_vars=variables)


def installed_files(venv):
    """What pip installed for the listener's distribution, by the venv's own pip."""
    show = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "show", "--files", "netevents-listener"],
                          capture_output=True, text=True, check=True).stdout
    return [line.strip() for line in show.split("Files:", 1)[1].splitlines() if line.strip()]


def imported_from(venv):
    """Where the venv's python imports the listener and the collection's module_utils from."""
    code = ("import json, netevents_listener, ansible_collections.netevents.nutanix.plugins.module_utils.prism as p;"
            "print(json.dumps([netevents_listener.__file__, p.__file__]))")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True,
                         cwd="/", env={"PATH": os.environ["PATH"]})
    return json.loads(out.stdout)


def webhook_urls(prism_sim):
    return [(h["spec"]["resources"]["post_url"], (h["spec"]["resources"].get("credentials") or {}).get("username"))
            for h in prism_webhooks(prism_sim)]


def power_on(prism_sim, name, ip):
    vm = requests.post(prism_sim.url + "/api/nutanix/v3/vms", auth=(PRISM_USERNAME, PRISM_PASSWORD),
                       verify=prism_sim.cert_path,
                       timeout=10, json={
                           "metadata": {"kind": "vm", "categories": {"AppTier": "Web"}},
                           "spec": {"name": name, "resources": {
                               "power_state": "ON",
                               "nic_list": [{"ip_endpoint_list": [{"ip": ip, "type": "ASSIGNED"}]}]}}})
    assert vm.status_code == 202


def test_deploy_events_redeploy_remove(tmp_path, deployment, prism_sim, panos_sim):
    """The defaults: no basic auth (nothing public confirms that Prism sends it), a generated path token."""
    first = deploy(tmp_path, deployment)
    assert first.changed_count > 0

    # On the target: the pip-installed package in the venv, its wheel, the pinned requirements, the supervisor
    # and the reference unit; no loose copy of the code, no PYTHONPATH.
    opt = tmp_path / "opt"
    assert sorted(p.name for p in opt.iterdir()) == [
        "netevents-listener.service", "netevents_listener-0.1.0-py3-none-any.whl", "requirements.txt",
        "supervise.py", "venv"]
    site = sorted((opt / "venv" / "lib").glob("python3*/site-packages"))[0]
    assert imported_from(opt / "venv") == [
        str(site / "netevents_listener" / "__init__.py"),
        str(site / "ansible_collections" / "netevents" / "nutanix" / "plugins" / "module_utils" / "prism.py")]
    files = installed_files(opt / "venv")
    assert "netevents_listener/plugins/panos/plugin.py" in files
    shipped_utils = sorted(f.name for f in (Path(REPO) / "plugins" / "module_utils").glob("*.py"))
    assert sorted(os.path.basename(f) for f in files if "/module_utils/" in f and f.endswith(".py")) == shipped_utils
    unit = (opt / "netevents-listener.service").read_text()
    assert "ExecStart=%s/venv/bin/python -m netevents_listener" % opt in unit and "PYTHONPATH" not in unit

    # The service answers /healthz and its webhook is registered in Prism (read through the v3 API).
    health = requests.get("http://127.0.0.1:%d/healthz" % deployment["listener_port"], timeout=5)
    assert health.status_code == 200
    # The URL ends with the token the role generated and keeps on the host; no credentials.
    token = (tmp_path / "etc" / "secrets" / "webhook_token").read_text()
    assert len(token) == 43 and token.isalnum()
    assert webhook_urls(prism_sim) == [(deployment["listener_webhook_url"] + "/" + token, None)]
    assert "path_token_file" in (tmp_path / "etc" / "config.yml").read_text()

    # The config and secret files are 0600 and the config holds no secret.
    config = tmp_path / "etc" / "config.yml"
    # The listener verifies Prism against the copy of listener_prism_ca_path beside its configuration.
    prism = yaml.safe_load(config.read_text())["prism"]
    assert (prism["validate_certs"], prism["ca_path"]) == (True, str(tmp_path / "etc" / "prism-ca.pem"))
    assert (tmp_path / "etc" / "prism-ca.pem").read_bytes() == Path(prism_sim.cert_path).read_bytes()
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    for secret in (tmp_path / "etc" / "secrets").iterdir():
        assert oct(secret.stat().st_mode & 0o777) == "0o600"
    for secret in (token, PRISM_PASSWORD, PANOS_PASSWORD):
        assert secret not in config.read_text()
        assert secret not in first.stdout

    # Events from Prism reach the firewall: a VM powered on with a category gets its IP tagged.
    power_on(prism_sim, "web-01", "10.20.0.5")
    assert wait_for(lambda: "ntnx.AppTier.Web" in registered_ips(panos_sim).get("10.20.0.5", ()), 30,
                    "10.20.0.5 tagged ntnx.AppTier.Web on the firewall")

    # Same playbook again: nothing to change (the same token), no restart.
    pid = (tmp_path / "state" / "listener.pid").read_text()
    second = deploy(tmp_path, deployment)
    assert second.changed_count == 0, [r["task"] for r in second.results if r["result"].get("changed")]
    assert (tmp_path / "state" / "listener.pid").read_text() == pid
    assert (tmp_path / "etc" / "secrets" / "webhook_token").read_text() == token

    # With a password, Prism must send basic auth as well: the webhook gets the credentials, the URL keeps its
    # token, and Prism's events (now with both) still reach the firewall.
    deployment = dict(deployment, listener_webhook_password=WEBHOOK_PASSWORD)
    basic = deploy(tmp_path, deployment)
    assert webhook_urls(prism_sim) == [(deployment["listener_webhook_url"] + "/" + token, "netevents")]
    assert WEBHOOK_PASSWORD not in basic.stdout + (tmp_path / "etc" / "config.yml").read_text()
    power_on(prism_sim, "web-02", "10.20.0.6")
    assert wait_for(lambda: "ntnx.AppTier.Web" in registered_ips(panos_sim).get("10.20.0.6", ()), 30,
                    "10.20.0.6 tagged ntnx.AppTier.Web on the firewall")
    pid = (tmp_path / "state" / "listener.pid").read_text()

    # Wrong credentials stop the run before anything on the host changes: no new secret on disk, no restart,
    # and the message names the role's variables.
    secrets = {p.name: p.read_text() for p in (tmp_path / "etc" / "secrets").iterdir()}
    bad_prism = run_playbook(tmp_path / "bad-prism", playbook=os.path.join(PLAYBOOKS, "deploy_listener.yml"),
                             extra_vars=dict(deployment, listener_prism_password="Wr0ng-Pr1sm-pw"))
    bad_panos = run_playbook(tmp_path / "bad-panos", playbook=os.path.join(PLAYBOOKS, "deploy_listener.yml"),
                             extra_vars=dict(deployment, listener_panos_targets=[
                                 dict(deployment["listener_panos_targets"][0], password="Wr0ng-Pan0s-pw")]))
    # A CA that did not sign Prism's certificate is refused before anything changes too, by its role variable.
    (tmp_path / "other-ca").mkdir()
    other_ca, _key = make_self_signed_cert(str(tmp_path / "other-ca"))
    bad_ca = run_playbook(tmp_path / "bad-ca", playbook=os.path.join(PLAYBOOKS, "deploy_listener.yml"),
                          extra_vars=dict(deployment, listener_prism_ca_path=other_ca))
    for outcome, names in ((bad_prism, ["listener_prism_username", "listener_prism_password"]),
                           (bad_ca, ["listener_prism_ca_path " + other_ca]),
                           (bad_panos, ["listener_panos_targets[0].username", "listener_panos_targets[0].api_key"])):
        assert outcome.rc != 0
        failed = outcome.failed[-1]["result"]
        message = " ".join([failed["msg"]] + [r.get("msg", "") for r in failed.get("results", [])])
        assert all(name in message for name in names), message
        assert not [name for name in ("nutanix_password", "nutanix_ca_path", "provider.password")
                    if name in outcome.stdout], outcome.stdout[-3000:]
        assert "Wr0ng" not in outcome.stdout + outcome.stderr
        assert not [r["task"] for r in outcome.results if r["result"].get("changed")]
    assert {p.name: p.read_text() for p in (tmp_path / "etc" / "secrets").iterdir()} == secrets
    assert (tmp_path / "state" / "listener.pid").read_text() == pid

    # Removal unregisters the webhook and stops the service; the queue stays (no purge).
    deploy(tmp_path, deployment, "remove_listener.yml")
    assert prism_webhooks(prism_sim) == []
    with pytest.raises(requests.ConnectionError):
        requests.get("http://127.0.0.1:%d/healthz" % deployment["listener_port"], timeout=5)
    assert not (tmp_path / "opt").exists() and (tmp_path / "state" / "queue.db").exists()


@pytest.mark.parametrize("port,capabilities", [(8080, ""), (443, "CAP_NET_BIND_SERVICE")])
def test_rendered_unit_verifies(tmp_path, port, capabilities):
    """Render the role's unit for a systemd host and check it with systemd-analyze verify (and security, offline:
    tests/functional/test_role_systemd_host.py scores the running unit)."""
    require(preflight.missing("systemd-analyze"))
    role = os.path.join(REPO, "roles", "listener")
    unit = tmp_path / "netevents-listener.service"
    tasks = [
        {"name": "load role defaults", "ansible.builtin.include_vars": os.path.join(role, "defaults", "main.yml")},
        {"name": "load role vars", "ansible.builtin.include_vars": os.path.join(role, "vars", "main.yml")},
        {"name": "render", "ansible.builtin.template": {
            "src": os.path.join(role, "templates", "netevents-listener.service.j2"), "dest": str(unit)}},
    ]
    # verify wants ExecStart to name a real executable: the install dir's venv is this test's interpreter.
    install_dir = tmp_path / "opt"
    install_dir.mkdir()
    (install_dir / "venv").symlink_to(os.path.dirname(os.path.dirname(sys.executable)))
    run = run_playbook(tmp_path, tasks=tasks, extra_vars={
        "listener_port": port, "listener_install_dir": str(install_dir), "listener_user": "root",
        "listener_group": "root", "listener_prism_host": "127.0.0.1", "listener_allowed_networks": ["127.0.0.0/29"],
        "listener_panos_targets": [{"ip_address": "127.0.0.2"}, {"ip_address": "::1"}]})
    assert run.rc == 0, run.stdout[-3000:]
    text = unit.read_text()
    assert "CapabilityBoundingSet=%s\n" % capabilities in text
    assert "StateDirectory=netevents-listener\n" in text and "ProtectSystem=strict\n" in text
    # Every peer is an address: the allowlist names them all. A capability held for a low port rules out PrivateUsers.
    assert "IPAddressDeny=any\nIPAddressAllow=127.0.0.1 ::1 127.0.0.0/29 127.0.0.2\n" in text
    assert ("PrivateUsers=yes\n" in text) == (not capabilities)
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                          check=False)
    # Warnings still exit 0: any output at all is a finding.
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr
