"""The real ansible-rulebook runs the collection's rulebook netevents.nutanix.nutanix_to_panos: the Prism simulator
delivers VM.ON and VM.OFF to the collection's event source (over HTTPS, with the webhook's basic credentials), the
rules run netevents.nutanix.panos_registered_ip, and the PAN-OS simulator's registered-IP table is read back through
its XML API. Nothing comes from Galaxy: the source and the rulebook are found through ANSIBLE_COLLECTIONS_PATH.

Needs ansible-rulebook (tests/requirements.txt) and Java 17: skipped with the reason when either is missing, but
with CI=true a missing one fails the test.
"""
import os
import shutil
import signal
import subprocess
import sys

import pytest
import requests
import yaml

from tests.functional.conftest import PANOS_PASSWORD, PANOS_USERNAME, PRISM_PASSWORD, PRISM_USERNAME
from tests.functional.helpers import free_port, require, wait_for
from tests.functional.readback import registered_ips
from tests.simulators._common import make_self_signed_cert
from tests.simulators.prism.admin import PrismAdmin
from tests.tools import preflight

BIN = os.path.dirname(sys.executable)
RULEBOOK = shutil.which("ansible-rulebook", path=BIN) or shutil.which("ansible-rulebook")
MISSING = preflight.missing("java") + (
    ["ansible-rulebook is not installed (make venv installs tests/requirements.txt)"] if RULEBOOK is None else [])


@pytest.fixture(autouse=True)
def _requirements():
    # A developer without Java gets a skip with the reason; CI (.ci/run installs both) fails instead.
    require(MISSING)


WEBHOOK_USER = "prism-eda"
WEBHOOK_PASSWORD = "Eda-Webhook-pw-5e1f"
PATH = "/nutanix/events"
WEB_IP, DB_IP = "10.50.0.11", "10.50.0.12"


def collections_root():
    for path in sys.path:
        if os.path.isdir(os.path.join(path, "ansible_collections", "netevents", "nutanix")):
            return path
    raise RuntimeError("the collection tree is not on sys.path (tests/conftest.py sets it up)")


class Rulebook(object):
    """`ansible-rulebook --rulebook netevents.nutanix.nutanix_to_panos -i inventory.yml --vars vars.yml`."""

    def __init__(self, directory, variables):
        self.directory = str(directory)
        self.cert = variables["nutanix_webhook_certfile"]
        self.log_path = os.path.join(self.directory, "rulebook.log")
        self.url = "https://127.0.0.1:%d%s" % (variables["nutanix_webhook_port"], PATH)
        with open(os.path.join(self.directory, "inventory.yml"), "w") as f:
            yaml.safe_dump({"all": {"hosts": {"localhost": {
                "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}, f)
        # Secrets reach the rulebook as variables from a private file, never on the command line.
        vars_path = os.path.join(self.directory, "vars.yml")
        with open(os.open(vars_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            yaml.safe_dump(variables, f)
        self.proc = None

    def start(self):
        env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""),
                   ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_LOCAL_TEMP=os.path.join(self.directory, "tmp"),
                   ANSIBLE_NOCOLOR="1")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [RULEBOOK, "--rulebook", "netevents.nutanix.nutanix_to_panos", "-i", "inventory.yml",
                 "--vars", "vars.yml", "--print-events", "-v"],
                cwd=self.directory, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._serving, 60, "the event source to listen (log: %s)" % self.log_path)
        return self

    def _serving(self):
        if self.proc.poll() is not None:
            raise AssertionError("ansible-rulebook exited with %s:\n%s" % (self.proc.returncode, self.log()[-4000:]))
        try:
            # A GET is refused with the source's JSON 405: proof that it is our source answering.
            response = requests.get(self.url, verify=self.cert, timeout=2)
        except (requests.ConnectionError, requests.Timeout):
            # Not listening yet, or the handshake is slow while drools starts on a loaded machine.
            return False
        return response.status_code == 405 and response.json()["error"] == "method_not_allowed"

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the rulebook, its JVM and any playbook
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def start_rulebook(tmp_path, panos_sim):
    """Start ansible-rulebook with the collection's rulebook, its source listening on HTTPS; stopped at the end."""
    started = []
    panos_sim.reset()  # no registered IPs from an earlier test

    def start(prism_sim):
        cert, key = make_self_signed_cert(str(tmp_path))
        variables = {
            "nutanix_webhook_host": "127.0.0.1",
            "nutanix_webhook_port": free_port(),
            "nutanix_webhook_path": PATH,
            "nutanix_webhook_username": WEBHOOK_USER,
            "nutanix_webhook_password": WEBHOOK_PASSWORD,
            "nutanix_webhook_certfile": cert,
            "nutanix_webhook_keyfile": key,
            "nutanix_webhook_allowed_networks": ["127.0.0.0/8"],
            # TLS to the firewall is verified against the simulator's own certificate.
            "panos_provider": {"ip_address": panos_sim.host, "port": panos_sim.port, "username": PANOS_USERNAME,
                               "password": PANOS_PASSWORD, "ca_path": panos_sim.cert_path},
            # For the reconcile rule (vm_tag_sync) when a payload does not name the IPs.
            "nutanix_host": prism_sim.host,
            "nutanix_port": prism_sim.port,
            "nutanix_username": PRISM_USERNAME,
            "nutanix_password": PRISM_PASSWORD,
            "nutanix_validate_certs": False,
        }
        rb = Rulebook(tmp_path, variables)
        started.append(rb)
        return rb.start()

    yield start
    for rb in started:
        rb.stop()


def subscribe(prism_sim, url):
    """Register the webhook in Prism (VM.ON and VM.OFF only) and wait until Prism delivers to it."""
    prism = PrismAdmin(prism_sim.host, port=prism_sim.port, username=PRISM_USERNAME, password=PRISM_PASSWORD,
                       validate_certs=False)
    hook = prism.create_webhook({"name": "eda", "resources": {
        "post_url": url, "events_filter_list": ["VM.ON", "VM.OFF"],
        "credentials": {"username": WEBHOOK_USER, "password": WEBHOOK_PASSWORD}}})
    prism.wait_for_webhook(hook["metadata"]["uuid"], timeout=30)
    return prism


def create_vm(prism, name, ip, categories):
    return prism.new_vm(name, [ip], categories)


def assert_no_secret(rulebook):
    """Nothing ansible-rulebook printed (events, module runs) carries a password."""
    output = rulebook.log()
    assert "Module wrapper" in output, output[-3000:]
    for secret in (WEBHOOK_PASSWORD, PANOS_PASSWORD, PRISM_PASSWORD):
        assert secret not in output


def ours(panos_sim):
    """The test VMs' rows of the firewall's registered-IP table, read through the XML API."""
    return dict((ip, tags) for ip, tags in registered_ips(panos_sim).items() if ip in (WEB_IP, DB_IP))


def test_vm_on_registers_and_vm_off_unregisters_through_ansible_rulebook(start_rulebook, prism_sim, panos_sim):
    rulebook = start_rulebook(prism_sim)
    prism = subscribe(prism_sim, rulebook.url)
    web = create_vm(prism, "web-01", WEB_IP, {"AppTier": "Web", "Security": "Quarantine"})
    create_vm(prism, "db-01", DB_IP, {"AppTier": "DB"})
    # The quarantine rule's condition on categories holds for web-01 only.
    on = {WEB_IP: {"ntnx.AppTier.Web", "ntnx.Security.Quarantine", "quarantine"}, DB_IP: {"ntnx.AppTier.DB"}}
    wait_for(lambda: ours(panos_sim) == on, 60, "VM.ON to register %s (log: %s)" % (on, rulebook.log_path))

    prism.set_power_state(web, "OFF")
    wait_for(lambda: ours(panos_sim) == {DB_IP: {"ntnx.AppTier.DB"}}, 60,
             "VM.OFF to unregister %s (log: %s)" % (WEB_IP, rulebook.log_path))

    deliveries = prism_sim.wait_for_deliveries(3, timeout=10)
    assert [(d["event_type"], d["status_code"]) for d in deliveries] == [("VM.ON", 200)] * 2 + [("VM.OFF", 200)]
    assert_no_secret(rulebook)


def test_a_vm_on_without_nics_is_reconciled_from_prism(start_rulebook, panos_sim):
    """Some AOS versions send VM.ON with an empty nic_list: the event is incomplete, and the rulebook's reconcile
    rule asks Prism (vm_tag_sync) instead of guessing."""
    from tests.simulators.prism import PrismSimulator

    with PrismSimulator(username=PRISM_USERNAME, password=PRISM_PASSWORD, pending_seconds=0.2,
                        empty_nics_on_power_on=True) as prism_sim:
        rulebook = start_rulebook(prism_sim)
        prism = subscribe(prism_sim, rulebook.url)
        web = create_vm(prism, "web-02", WEB_IP, {"AppTier": "Web", "Security": "Quarantine"})
        # vm_tag_sync maps categories only; the quarantine rule needs a complete event, so no "quarantine" tag.
        on = {WEB_IP: {"ntnx.AppTier.Web", "ntnx.Security.Quarantine"}}
        wait_for(lambda: ours(panos_sim) == on, 60, "the reconcile to register %s (log: %s)" % (
            on, rulebook.log_path))
        prism.set_power_state(web, "OFF")
        wait_for(lambda: ours(panos_sim) == {}, 60, "VM.OFF to unregister %s (log: %s)" % (WEB_IP, rulebook.log_path))
        deliveries = prism_sim.wait_for_deliveries(2, timeout=10)
    assert [(d["event_type"], d["status_code"]) for d in deliveries] == [("VM.ON", 200), ("VM.OFF", 200)]
    assert_no_secret(rulebook)
