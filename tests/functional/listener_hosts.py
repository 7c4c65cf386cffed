"""Listener hosts on this machine for the role's functional tests: the variables of one host, the playbook runs,
and how to stop what a test started.

Service manager "none" (no systemd as PID 1 here): the role starts the rendered unit's exact ExecStart under
supervise.py, with everything of a host (code, configuration, queue, port) under one temp directory.
"""
import os
import socket
import subprocess
import sys
import time

import requests

from tests.conftest import REPO
from tests.functional.conftest import PANOS_PASSWORD, PANOS_USERNAME, PRISM_PASSWORD, PRISM_USERNAME
from tests.functional.playbook import run_playbook

WEBHOOK_PASSWORD = "W3bhook-S3cret-pw"
PLAYBOOKS = os.path.join(REPO, "playbooks")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting for %s" % what)


def host_vars(root, port):
    """Where one listener host keeps its things (all under *root*) and the port it listens on."""
    return {"listener_install_dir": str(root / "opt"), "listener_config_dir": str(root / "etc"),
            "listener_state_dir": str(root / "state"), "listener_port": port}


def common_vars(prism_sim, panos_sim):
    """What every listener host of a test shares: this machine's ways (root, no OS packages, this Python), the
    simulators and the secrets."""
    return {
        "ansible_become": False,
        "listener_service_manager": "none",
        "listener_create_user": False,
        "listener_user": "root",
        "listener_group": "root",
        "listener_install_os_packages": False,
        "listener_python": sys.executable,
        "listener_bind_host": "127.0.0.1",
        "listener_webhook_password": WEBHOOK_PASSWORD,
        "listener_prism_host": prism_sim.host,
        "listener_prism_port": prism_sim.port,
        "listener_prism_username": PRISM_USERNAME,
        "listener_prism_password": PRISM_PASSWORD,
        "listener_prism_validate_certs": False,
        "listener_panos_targets": [{"ip_address": panos_sim.host, "port": panos_sim.port,
                                    "username": PANOS_USERNAME, "password": PANOS_PASSWORD,
                                    "validate_certs": False}],
    }


def run(tmp_path, name="deploy_listener.yml", succeed=True, **kwargs):
    """One run of a collection playbook (in a fresh directory of *tmp_path*) that must succeed, or fail."""
    result = run_playbook(tmp_path / ("run-%s" % time.monotonic_ns()), playbook=os.path.join(PLAYBOOKS, name),
                          **kwargs)
    assert (result.rc == 0) == succeed, result.stdout[-6000:] + result.stderr[-3000:]
    return result


def changed_tasks(result):
    return sorted(set(r["task"] for r in result.results if r["result"].get("changed")))


def stop_listener(root):
    """Stop the listener a test deployed under *root*, if it still runs."""
    supervise = root / "opt" / "supervise.py"
    if supervise.exists():
        subprocess.run([sys.executable, str(supervise), "stop", "--pid-file", str(root / "state" / "listener.pid")],
                       check=False, capture_output=True)


def prism_webhooks(prism_sim):
    """Prism's webhooks through its v3 API, without the ones being deleted."""
    hooks = requests.post(prism_sim.url + "/api/nutanix/v3/webhooks/list", json={"kind": "webhook"},
                          auth=(PRISM_USERNAME, PRISM_PASSWORD), verify=False, timeout=10).json()["entities"]
    return [h for h in hooks if h.get("status", {}).get("state") != "DELETE_PENDING"]
