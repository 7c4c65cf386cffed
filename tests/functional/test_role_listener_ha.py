"""An HA pair: two listener hosts deployed by the real deploy_listener.yml against one Prism and one firewall.

Two inventory hosts on this machine (local connection, a directory and a port each, service manager "none").
Each registers a webhook of its own, so the Prism simulator delivers every event to both. A burst of VM changes
runs while one listener is killed (SIGKILL of its whole process group, as systemd's KillMode would) and brought
back by the role; at the end the firewall's registered-IP table must be what Prism's VMs call for — computed here
from the simulator's v3 API, not with the collection's code — with no dead letter on either listener.
Then: remove_listener.yml on one host removes only its webhook, and a renamed host's old webhook is reported.
"""
import collections
import itertools
import json
import os
import random
import re
import signal
import subprocess
import threading
import time

from urllib.parse import urlsplit

import pytest
import requests
import yaml

from tests.functional.conftest import PANOS_PASSWORD, PRISM_PASSWORD, PRISM_USERNAME
from tests.functional.helpers import WEBHOOK_PASSWORD, free_port, wait_for
from tests.functional.listener_hosts import changed_tasks, common_vars, host_vars, prism_webhooks, run, stop_listener
from tests.functional.readback import registered_ips
from tests.simulators.prism.admin import PrismAdmin

HOSTS = ("lis-a", "lis-b")
CATEGORIES = {"AppTier": ("Web", "App", "Db"), "Env": ("Prod", "Dev")}
START_TASK = "Start the listener (no service manager; the unit's ExecStart, detached)"


# --- the pair -----------------------------------------------------------------------------------------------

class Pair(object):
    """The listener hosts of one test: an inventory file, and each host's directory, port and URLs."""

    def __init__(self, tmp_path, prism_sim, panos_sim):
        self.tmp_path = tmp_path
        self.shared = common_vars(prism_sim, panos_sim)
        self.hosts = {}
        for name in HOSTS:
            self.hosts[name] = dict(host_vars(tmp_path / name, free_port()), ansible_host="127.0.0.1",
                                    ansible_connection="local")

    def inventory(self, names=None, rename=None):
        """An inventory of the listener group (*names*, default all), with the host *rename[0]* called
        *rename[1]* (same address, port and directories)."""
        hosts = {}
        for name in names or self.hosts:
            hosts[rename[1] if rename and rename[0] == name else name] = self.hosts[name]
        path = self.tmp_path / ("inventory-%s.yml" % time.monotonic_ns())
        path.write_text(yaml.safe_dump({"all": {"children": {"netevents_listeners": {
            "hosts": hosts, "vars": self.shared}}}}))
        return path

    def root(self, name):
        return self.tmp_path / name

    def url(self, name, path=""):
        return "http://127.0.0.1:%d%s" % (self.hosts[name]["listener_port"], path)

    def webhook_url(self, name):
        """The URL the role registers for host *name*: its callback path and the path token kept on the host."""
        token = (self.root(name) / "etc" / "secrets" / "webhook_token").read_text()
        return self.url(name, "/listener/callback/" + token)

    def pid(self, name):
        return int((self.root(name) / "state" / "listener.pid").read_text())

    def health(self, name):
        return requests.get(self.url(name, "/healthz"), timeout=5).json()

    def metric(self, name, metric):
        text = requests.get(self.url(name, "/metrics"), timeout=5).text
        return sum(float(m) for m in re.findall(r"^%s(?:\{[^}]*\})? (\S+)$" % re.escape(metric), text, re.M))

    def dead_letters(self, name):
        """The dead letters, read from the host's queue by the listener's own command line (not its API)."""
        root = self.root(name)
        out = subprocess.run([str(root / "opt" / "venv" / "bin" / "python"), "-m", "netevents_listener",
                              "--config", str(root / "etc" / "config.yml"), "dead-letters", "list", "--json"],
                             capture_output=True, text=True, check=True).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def userid_calls_logged(self, name):
        """User-ID calls the listener's log reports (its log survives a kill; its metrics do not)."""
        calls = 0
        for line in (self.root(name) / "state" / "listener.log").read_text().splitlines():
            try:
                calls += int(json.loads(line).get("userid_calls") or 0)
            except ValueError:
                continue  # a line that is not the listener's JSON (gunicorn before logging is set up)
        return calls

    def kill(self, name):
        """SIGKILL the listener's whole process group (gunicorn's master and its worker) at once."""
        pid = self.pid(name)
        os.killpg(os.getpgid(pid), signal.SIGKILL)
        wait_for(lambda: not _alive(pid), timeout=10, what="listener %s (pid %d) to die" % (name, pid))

    def stop_all(self):
        for name in self.hosts:
            stop_listener(self.root(name))


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def pair(tmp_path, prism_sim, panos_sim):
    pair = Pair(tmp_path, prism_sim, panos_sim)
    yield pair
    pair.stop_all()


# --- Prism's VMs, and what the firewall should hold for them ---------------------------------------------

def prism_vms(prism_sim):
    """Every VM through Prism's v3 API (POST /vms/list, every page)."""
    vms, offset = [], 0
    while True:
        page = requests.post(prism_sim.url + "/api/nutanix/v3/vms/list", json={"kind": "vm", "length": 500,
                                                                               "offset": offset},
                             auth=(PRISM_USERNAME, PRISM_PASSWORD), verify=False, timeout=30).json()
        vms += page["entities"]
        offset += len(page["entities"])
        if not page["entities"] or offset >= page["metadata"]["total_matches"]:
            return vms


def expected_table(prism_sim):
    """{ip: tags} for the default tag format ntnx.{category}.{value}: a VM that is ON tags each of its IPs with
    each of its categories; a VM that is OFF, or without categories, gives nothing."""
    table = collections.defaultdict(set)
    for vm in prism_vms(prism_sim):
        resources = vm["status"]["resources"]
        if resources.get("power_state") != "ON":
            continue
        tags = set("ntnx.%s.%s" % item for item in (vm["metadata"].get("categories") or {}).items())
        for nic in resources.get("nic_list", []):
            for endpoint in nic.get("ip_endpoint_list", []):
                table[endpoint["ip"]] |= tags
    return dict((ip, tags) for ip, tags in table.items() if tags)


class Burst(object):
    """VM changes through Prism's API, chosen by a seeded random generator: power on and off, category changes,
    new addresses, creates and deletes. Every VM has addresses of its own (none is ever reused)."""

    def __init__(self, prism_sim, seed=14):
        self.admin = PrismAdmin(prism_sim.host, port=prism_sim.port, username=PRISM_USERNAME,
                                password=PRISM_PASSWORD, ca_path=prism_sim.cert_path)
        self.rng = random.Random(seed)
        self.vms = {}  # uuid -> power state we last asked for
        self.addresses = ("10.50.%d.%d" % (i // 250, 1 + i % 250) for i in itertools.count())
        self.names = ("ha-%04d" % i for i in itertools.count())
        self.operations = collections.Counter()

    def categories(self):
        chosen = dict((key, self.rng.choice(values)) for key, values in CATEGORIES.items())
        return dict(self.rng.sample(sorted(chosen.items()), self.rng.randint(0, len(chosen))))

    def create(self, power="ON"):
        uuid = self.admin.new_vm(next(self.names), [next(self.addresses)], self.categories(), power, wait=False)
        self.vms[uuid] = power
        self.operations["create"] += 1

    def step(self):
        roll = self.rng.random()
        if roll < 0.15 or len(self.vms) < 10:
            return self.create()
        uuid = self.rng.choice(sorted(self.vms))
        if roll < 0.25:
            del self.vms[uuid]
            self.admin.delete_vm(uuid)
            self.operations["delete"] += 1
        elif roll < 0.60:
            self.vms[uuid] = "OFF" if self.vms[uuid] == "ON" else "ON"
            self.admin.set_power_state(uuid, self.vms[uuid])
            self.operations["power"] += 1
        elif roll < 0.90:
            self.admin.set_categories(uuid, self.categories())
            self.operations["categories"] += 1
        else:
            self.admin.set_ips(uuid, [next(self.addresses)])
            self.operations["address"] += 1

    def steps(self, count, pause=0.02):
        for _step in range(count):
            self.step()
            time.sleep(pause)


def deliveries_by_listener(prism_sim, pair):
    """{host: (acknowledged, failed)} from the Prism simulator's record of its POSTs."""
    by_port = dict((v["listener_port"], name) for name, v in pair.hosts.items())
    counts = dict((name, [0, 0]) for name in pair.hosts)
    for delivery in prism_sim.wait_for_deliveries(0):
        name = by_port[urlsplit(delivery["post_url"]).port]
        counts[name][0 if delivery["status_code"] == 200 else 1] += 1
    return dict((name, tuple(c)) for name, c in counts.items())


# --- the test ------------------------------------------------------------------------------------------------

def test_ha_pair_converges_through_a_killed_listener(tmp_path, pair, prism_sim, panos_sim):
    burst = Burst(prism_sim)
    for i in range(30):  # what Prism holds before any listener exists: the start-up reconciles bring it over
        burst.create("ON" if i % 3 else "OFF")
    assert prism_sim.wait_idle(timeout=60)

    inventory = pair.inventory()
    first = run(tmp_path, inventory=inventory)
    assert first.changed_count > 0
    for secret in (WEBHOOK_PASSWORD, PRISM_PASSWORD, PANOS_PASSWORD):
        assert secret not in first.stdout

    # One webhook per host, each named after it and posting to its own listener (read through Prism's API).
    assert sorted((h["spec"]["name"], h["spec"]["resources"]["post_url"]) for h in prism_webhooks(prism_sim)) == [
        ("netevents-listener-%s" % name, pair.webhook_url(name)) for name in HOSTS]
    assert wait_for(lambda: registered_ips(panos_sim) == expected_table(prism_sim), timeout=60,
                    what="the start-up reconciles to bring the firewall to Prism's state")

    # The same playbook again on both hosts: nothing changes, nothing restarts, no stale webhook.
    pids = dict((name, pair.pid(name)) for name in HOSTS)
    second = run(tmp_path, inventory=inventory)
    assert changed_tasks(second) == []
    assert dict((name, pair.pid(name)) for name in HOSTS) == pids
    assert "stale webhook" not in second.stdout

    # The burst. lis-a dies with events in flight, misses what happens while it is down, and is brought back by
    # the role (its status check finds no process) while the changes go on.
    userid_before = panos_sim.stats()["calls"].get("user-id", 0)
    burst.steps(60)
    pair.kill("lis-a")
    burst.steps(60)
    restarted = []
    restart = threading.Thread(target=lambda: restarted.append(
        run(tmp_path, inventory=inventory, args=["--limit", "lis-a"])))
    restart.start()
    burst.steps(60, pause=0.05)
    restart.join(timeout=600)
    burst.steps(40)
    last_change = time.monotonic()

    assert restarted and changed_tasks(restarted[0]) == [START_TASK]
    assert pair.pid("lis-a") != pids["lis-a"] and pair.pid("lis-b") == pids["lis-b"]

    # Everything settles: Prism has sent every event, both queues are empty, the firewall is Prism's state.
    assert prism_sim.wait_idle(timeout=120)
    expected = expected_table(prism_sim)
    wait_for(lambda: registered_ips(panos_sim) == expected, timeout=120,
             what="the firewall to hold what Prism's VMs call for")
    converged = time.monotonic() - last_change
    for name in HOSTS:
        wait_for(lambda name=name: pair.health(name)["queue_depth"] == 0, timeout=60,
                 what="%s's queue to empty" % name)
    assert registered_ips(panos_sim) == expected
    for name in HOSTS:
        assert pair.dead_letters(name) == [] and pair.health(name)["dead_letters"] == 0

    # Prism sent every event to both webhooks; lis-b took all of its own, lis-a missed some while it was dead.
    delivered = deliveries_by_listener(prism_sim, pair)
    assert sum(delivered["lis-a"]) == sum(delivered["lis-b"])
    assert delivered["lis-b"][1] == 0 and delivered["lis-a"][1] > 0
    print("HA burst: %d operations %s; events per webhook %d; acknowledged/failed lis-a %s, lis-b %s; User-ID calls "
          "on the firewall %d (logged by lis-a %d, lis-b %d); %d IPs tagged; converged %.1f s after the last change"
          % (sum(burst.operations.values()), dict(burst.operations), sum(delivered["lis-b"]), delivered["lis-a"],
             delivered["lis-b"], panos_sim.stats()["calls"].get("user-id", 0) - userid_before,
             pair.userid_calls_logged("lis-a"), pair.userid_calls_logged("lis-b"), len(expected), converged))

    # remove_listener.yml on one host removes its own webhook and service only.
    run(tmp_path, "remove_listener.yml", inventory=inventory, args=["--limit", "lis-b"])
    assert [h["spec"]["name"] for h in prism_webhooks(prism_sim)] == ["netevents-listener-lis-a"]
    with pytest.raises(requests.ConnectionError):
        pair.health("lis-b")
    assert pair.health("lis-a")["ok"]

    # lis-a renamed lis-c in the inventory (same address and port): its new webhook is registered, and the old
    # one, which would deliver every event to the same listener once more, is reported by name and reason.
    renamed = pair.inventory(names=["lis-a"], rename=("lis-a", "lis-c"))
    warned = run(tmp_path, inventory=renamed)
    assert changed_tasks(warned) == ["Register the listener's webhook with Prism"]
    assert sorted(h["spec"]["name"] for h in prism_webhooks(prism_sim)) == [
        "netevents-listener-lis-a", "netevents-listener-lis-c"]
    warnings = [item["msg"] for item in warned.result("Warn about stale listener webhooks")["results"]]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING: stale webhook netevents-listener-lis-a ")
    assert "delivers to the listener of lis-c" in warnings[0] and "lis-a, a host the inventory does not have" in \
        warnings[0] and "/listener/callback" not in warnings[0]
    # With listener_stale_webhooks: fail the run stops on it, before the webhooks are registered.
    stopped = run(tmp_path, inventory=renamed, extra_vars={"listener_stale_webhooks": "fail"}, succeed=False)
    assert [r["task"] for r in stopped.failed] == ["Stop on stale listener webhooks"]
    assert "netevents-listener-lis-a" in stopped.failed[0]["result"]["msg"]
    assert "Register the listener's webhook with Prism" not in [r["task"] for r in stopped.results]
