"""The Event-Driven Ansible route as a bench peer: the real ansible-rulebook with the collection's event source
(netevents.nutanix.nutanix_webhook, plain HTTP on loopback, the webhook's basic credentials) and rulebook
(netevents.nutanix.nutanix_to_panos: ``panos_registered_ip`` per event, ``execution_strategy: sequential``),
found through ANSIBLE_COLLECTIONS_PATH as a user's installed collection would be.

Needs ansible-rulebook (tests/requirements.txt) and Java 17; ``missing()`` says what is absent.
"""
import os
import shutil
import signal
import subprocess
import sys
import time

import requests
import yaml

from common import COLLECTIONS, WEBHOOK_PASSWORD, WEBHOOK_USER
from listener_helpers import free_port
from panos_helpers import FW_PASSWORD, FW_USER, prism_client, subscribe

BIN = os.path.dirname(sys.executable)
PATH = "/listener/callback"


def rulebook_command():
    return shutil.which("ansible-rulebook", path=BIN) or shutil.which("ansible-rulebook")


def missing():
    """Why the EDA peer cannot run here (empty when it can)."""
    out = []
    if rulebook_command() is None:
        out.append("ansible-rulebook is not installed (pip install -r tests/requirements.txt)")
    if shutil.which("java") is None:
        out.append("java (17 or later) is not installed")
    return out


class EdaPeer(object):
    name = label = "eda"
    poll_s = 0.002

    def __init__(self, settle_timeout=900.0):
        self.settle_timeout = settle_timeout
        self.proc = None
        self.log_path = None

    @staticmethod
    def enforced(firewall):
        return set(firewall.registered_ips())

    def start(self, workdir, prism, firewall):
        os.makedirs(workdir, exist_ok=True)
        port = free_port()
        self.log_path = os.path.join(workdir, "rulebook.log")
        with open(os.path.join(workdir, "inventory.yml"), "w") as f:
            yaml.safe_dump({"all": {"hosts": {"localhost": {
                "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}, f)
        variables = {"nutanix_webhook_host": "127.0.0.1", "nutanix_webhook_port": port, "nutanix_webhook_path": PATH,
                     "nutanix_webhook_username": WEBHOOK_USER, "nutanix_webhook_password": WEBHOOK_PASSWORD,
                     "nutanix_webhook_allowed_networks": ["127.0.0.0/8"],
                     "panos_provider": {"ip_address": firewall.host, "port": firewall.port, "username": FW_USER,
                                        "password": FW_PASSWORD, "ca_path": firewall.cert_path}}
        # Secrets as variables from a private file, never on the command line.
        with open(os.open(os.path.join(workdir, "vars.yml"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            yaml.safe_dump(variables, f)
        env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""), ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
                   ANSIBLE_LOCAL_TEMP=os.path.join(workdir, "tmp"), ANSIBLE_NOCOLOR="1")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
                [rulebook_command(), "--rulebook", "netevents.nutanix.nutanix_to_panos", "-i", "inventory.yml",
                 "--vars", "vars.yml"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        url = "http://127.0.0.1:%d%s" % (port, PATH)
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("ansible-rulebook exited with %s; see %s" % (self.proc.returncode, self.log_path))
            try:
                # A GET is the source's own JSON 405: proof that our source answers.
                if requests.get(url, timeout=2).status_code == 405:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the event source did not listen in 180 s; see %s" % self.log_path)
            time.sleep(0.2)
        subscribe(prism_client(prism), url, events=["VM.ON"])
        return self

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the rulebook, its JVM and any module run
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
