"""The role's systemd path on a real systemd host: deploy_listener.yml over SSH into a booted Debian container.

The container (tests/functional/systemd_host.py) shares the host's network namespace, so the listener inside
reaches the Prism and PAN-OS simulators on 127.0.0.1 and they reach it. Shown, each read back independently of the
role: the unit active, idempotent, and hardened (systemd-analyze security inside, the process's own status, the IP
allowlist enforced by the kernel); kill -9 of the service, which systemd restarts without losing an acknowledged
event; JSON logs in journald; a reboot that brings the service back with what it holds for the firewall (its
queue, and the panos plugin's state); removal that leaves nothing.

Needs root, debootstrap, systemd-nspawn, nsenter and ssh: skipped with the reason when one is missing, but with
CI=true (.ci/run installs them) a missing one fails the test.
"""
import ipaddress
import json
import os
import re
import socket
import time

import pytest
import requests
import yaml

from tests.conftest import REPO
from tests.functional import systemd_host
from tests.functional.conftest import PANOS_PASSWORD, PRISM_PASSWORD
from tests.functional.helpers import WEBHOOK_PASSWORD, free_port, listener_role_vars, require, wait_for
from tests.functional.playbook import run_playbook
from tests.functional.readback import registered_ips

SECRETS = (WEBHOOK_PASSWORD, PRISM_PASSWORD, PANOS_PASSWORD)
PLAYBOOKS = os.path.join(REPO, "playbooks")
SERVICE = "netevents-listener"
TAG = "ntnx.AppTier.Web"
# What `systemd-analyze security` may give the running unit (docs/deploy.md lists what is left).
EXPOSURE_LIMIT = 1.0


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    # A developer without the tools gets a skip with the reason; CI (.ci/run installs them) fails instead.
    require(systemd_host.missing())
    machine = systemd_host.SystemdHost(tmp_path_factory.mktemp("systemd-host"))
    try:
        yield machine.boot()
    finally:
        machine.close()


class Deployment(object):
    """The inventory a user would write for one listener host, the playbooks run on it, and its service."""

    def __init__(self, tmp_path, host, prism_sim, panos_sim):
        self.tmp_path = tmp_path
        self.host = host
        self.port = free_port()
        # A target's ca_path reaches the listener as given, so it would have to exist on the controller (for the
        # credentials check) and in the container alike: the firewall goes unverified here. Prism is verified,
        # by the role on the controller and by the listener with the copy the role made.
        variables = dict(listener_role_vars(prism_sim, panos_sim, validate_certs=False), **{
            # The shared network namespace is the build host's: bind loopback only.
            "listener_bind_host": "127.0.0.1",
            "listener_port": self.port,
            # Prism delivers from here; with every peer an address, the unit gets its IP allowlist from these.
            "listener_allowed_networks": ["127.0.0.1/32"],
        })
        self.inventory = tmp_path / "inventory.yml"
        self.inventory.write_text(yaml.safe_dump({"all": {"children": {"netevents_listeners": {
            "hosts": {"systemd-host": host.inventory_vars()}, "vars": variables}}}}))
        self.url = "http://127.0.0.1:%d" % self.port

    def play(self, name, **extra_vars):
        run = run_playbook(self.tmp_path / ("run-%s" % time.monotonic_ns()), playbook=os.path.join(PLAYBOOKS, name),
                           inventory=self.inventory, extra_vars=extra_vars or None)
        assert run.rc == 0, run.stdout[-6000:] + run.stderr[-3000:]
        for secret in SECRETS:
            assert secret not in run.stdout
        return run

    def show(self, *properties):
        out = self.host.run("systemctl", "show", SERVICE, "--property=" + ",".join(properties)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def health(self):
        """/healthz's document, whatever its status code (503 while the firewall is down)."""
        try:
            return requests.get(self.url + "/healthz", timeout=5).json()
        except (requests.RequestException, ValueError):
            return None

    def holding_for_the_firewall(self):
        """True while acknowledged events wait for the firewall that is down: still queued, or applied to the panos
        plugin's desired state (kept in its state file) with the firewall's breaker open."""
        health = self.health()
        return bool(health) and (health["queue_depth"] > 0 or not health["plugin_health"]["ok"])


class Events(object):
    """VM.ON events sent by the Prism simulator, one new VM (one IP) each, and which ones the listener acknowledged."""

    def __init__(self, prism_sim):
        self.prism_sim = prism_sim
        self.delivered = 0
        self.next_ip = ipaddress.ip_address("10.60.0.1")
        self.acked = {}   # vm uuid -> ip

    def new_vms(self, count):
        uuids = self.prism_sim.seed_vms(count, name_prefix="vm-%s" % self.next_ip, categories={"AppTier": "Web"},
                                        first_ip=str(self.next_ip))
        vms = [(vm_uuid, str(self.next_ip + i)) for i, vm_uuid in enumerate(uuids)]
        self.next_ip += count
        return vms

    def send(self, vm_uuid, ip):
        """One VM.ON, waiting for Prism's delivery: True when the listener acknowledged it (HTTP 200)."""
        self.prism_sim.emit_vm_event(vm_uuid, "VM.ON")
        self.delivered += 1
        delivery = self.prism_sim.wait_for_deliveries(self.delivered, timeout=15)[-1]
        assert delivery["vm_uuid"] == vm_uuid, delivery
        if delivery["status_code"] == 200:
            self.acked[vm_uuid] = ip
        return delivery["status_code"] == 200

    def not_on_firewall(self, panos_sim):
        table = registered_ips(panos_sim)
        return sorted(ip for ip in self.acked.values() if TAG not in table.get(ip, ()))


def connects(source, port):
    """Whether a TCP connection from *source* to the listener is accepted (a dropped SYN times out)."""
    with socket.socket() as s:
        s.settimeout(3)
        s.bind((source, 0))
        try:
            s.connect(("127.0.0.1", port))
            return True
        except socket.timeout:
            return False


def exposure(host):
    out = host.run("systemd-analyze", "security", "--no-pager", SERVICE).stdout
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    assert match, out
    return float(match.group(1)), out


def test_deploy_kill_reboot_remove_on_systemd(tmp_path, host, prism_sim, panos_sim):
    # As some AOS versions do: VM.ON without the NICs. The listener reads each VM's IPs from Prism, over TLS verified
    # against the CA file the role copied into the container, so an IP on the firewall proves that path works.
    prism_sim.empty_nics_on_power_on = True
    deployment = Deployment(tmp_path, host, prism_sim, panos_sim)
    assert deployment.play("deploy_listener.yml").changed_count > 0

    # --- the unit is active and enabled, and runs as the service user with its hardening applied
    state = deployment.show("ActiveState", "UnitFileState", "MainPID", "User")
    assert (state["ActiveState"], state["UnitFileState"], state["User"]) == ("active", "enabled", "netevents"), state
    pid = state["MainPID"]
    status = dict(line.split(":", 1) for line in host.run("cat", "/proc/%s/status" % pid).stdout.splitlines())
    assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2", status
    assert int(status["CapEff"], 16) == 0, status
    # PrivateUsers=: the service's user namespace maps root and the service user only.
    assert len(host.run("cat", "/proc/%s/uid_map" % pid).stdout.splitlines()) == 2
    # IPAddressAllow=: the kernel drops a peer outside the allowlist before the listener sees it (the listener's own
    # allowed_networks check would answer 403 on an accepted connection).
    assert connects("127.0.0.1", deployment.port) and not connects("127.0.0.2", deployment.port)
    score, report = exposure(host)
    print("systemd-analyze security %s (in the container): %s\n%s" % (SERVICE, score, report))
    assert score <= EXPOSURE_LIMIT, report
    assert deployment.health()["ok"] is True

    # The same playbook again: nothing to change, no restart.
    again = deployment.play("deploy_listener.yml")
    assert again.changed_count == 0, [r["task"] for r in again.results if r["result"].get("changed")]
    # The virtualenv is there and its requirements unchanged: pip is not even run.
    assert [r["status"] for r in again.results
            if r["task"] == "Create the virtualenv with the pinned dependencies"] == ["skipped"]
    assert deployment.show("MainPID")["MainPID"] == pid

    # --- kill -9 while acknowledged events wait for the firewall: systemd restarts the service, none is lost
    events = Events(prism_sim)
    panos_sim.fault("refuse", seconds=300)
    assert all(events.send(*vm) for vm in events.new_vms(20))
    assert wait_for(deployment.holding_for_the_firewall, 30, "the events held for the firewall")
    host.run("kill", "-9", pid)
    # Prism goes on sending while systemd restarts the service: an event refused meanwhile is Prism's to resend.
    for vm in events.new_vms(100):
        if events.send(*vm) and deployment.show("MainPID")["MainPID"] != pid and len(events.acked) >= 30:
            break
        time.sleep(0.1)
    assert len(events.acked) >= 30, "the service acknowledged no event after its restart"
    assert deployment.show("NRestarts")["NRestarts"] == "1"
    panos_sim.clear_fault()
    wait_for(lambda: not events.not_on_firewall(panos_sim), 90, "every acknowledged event on the firewall")

    # --- journald holds the service's own output, one JSON object per line, and no secret
    lines = host.run("journalctl", "--no-pager", "-o", "cat", "_SYSTEMD_UNIT=%s.service" % SERVICE).stdout.splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    assert records and all(isinstance(r, dict) and r.get("level") and "message" in r for r in records), lines[:5]
    journal = host.run("journalctl", "--no-pager", "-o", "cat", "-u", SERVICE).stdout
    assert not [secret for secret in SECRETS if secret in journal]

    # --- a reboot brings the service back with what it held for the firewall
    panos_sim.fault("refuse", seconds=300)
    assert all(events.send(*vm) for vm in events.new_vms(10))
    assert wait_for(deployment.holding_for_the_firewall, 30, "the events held for the firewall")
    host.reboot()
    wait_for(lambda: deployment.show("ActiveState")["ActiveState"] == "active", 60, "the service after the reboot")
    assert wait_for(deployment.holding_for_the_firewall, 60, "/healthz after the reboot, holding for the firewall")
    panos_sim.clear_fault()
    wait_for(lambda: not events.not_on_firewall(panos_sim), 90, "the held events on the firewall after the reboot")

    # --- removal leaves no unit, user or file behind
    deployment.play("remove_listener.yml", listener_purge_state=True)
    assert deployment.show("LoadState")["LoadState"] == "not-found"
    for database in ("passwd", "group"):
        assert host.run("getent", database, "netevents", check=False).returncode == 2
    left = host.run("find", "/", "(", "-path", "/proc", "-o", "-path", "/sys", ")", "-prune", "-o",
                    "-name", "*netevents*", "-print", check=False).stdout.split()
    assert left == []
