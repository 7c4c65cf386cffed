"""Helpers for the listener tests: configs, event bodies, and a real listener process.

The listener's package lives in roles/listener/files (the role installs it from there), so that directory
goes on sys.path here, and on PYTHONPATH of every listener process the tests start.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import requests
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
LISTENER_FILES = os.path.join(REPO, "roles", "listener", "files")
EXAMPLES = os.path.join(REPO, "docs", "examples")
if LISTENER_FILES not in sys.path:
    sys.path.insert(0, LISTENER_FILES)

WEBHOOK_USER = "prism-webhook"
WEBHOOK_PASSWORD = "Webhook-Pa55word-7f3a"


def collections_root():
    for path in sys.path:
        if os.path.isdir(os.path.join(path, "ansible_collections", "netevents", "nutanix")):
            return path
    raise RuntimeError("the collection tree is not on sys.path (tests/conftest.py sets it up)")


def envelope(vm_uuid="vm-1", event_type="VM.ON", seq=None, ip=None, categories=None):
    """A Prism v3 webhook body (AOS shape: data.metadata is the VM intent)."""
    vm = {"metadata": {"kind": "vm", "uuid": vm_uuid, "categories": categories or {"AppTier": "Web"}},
          "spec": {"name": "vm-%s" % vm_uuid},
          "status": {"name": "vm-%s" % vm_uuid, "resources": {
              "power_state": "ON" if event_type != "VM.OFF" else "OFF",
              "nic_list": [{"ip_endpoint_list": [{"ip": ip}]}] if ip else []}}}
    body = {"entity_reference": {"kind": "vm", "uuid": vm_uuid}, "data": {"metadata": vm}, "version": "1.0",
            "event_type": event_type}
    if seq is not None:
        body["seq"] = seq
    return body


def write_secret(path, value):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(value + "\n")
    return str(path)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_config(directory, plugin=None, listener=None, queue=None, extra=None):
    """Write config.yml (and the webhook password file) into *directory*; return its path."""
    directory = str(directory)
    write_secret(os.path.join(directory, "webhook_password"), WEBHOOK_PASSWORD)
    config = {
        "listener": dict({"host": "127.0.0.1", "port": free_port(), "username": WEBHOOK_USER,
                          "password_file": "webhook_password"}, **(listener or {})),
        "plugin": plugin or {"name": "log", "options": {"path": "events.jsonl"}},
        "queue": dict({"path": "queue.db", "batch_window_ms": 50, "backoff_initial_s": 0.05,
                       "backoff_max_s": 0.2, "max_attempts": 3}, **(queue or {})),
    }
    config.update(extra or {})
    path = os.path.join(directory, "config.yml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return path


def exchange(port, data, timeout=20):
    """Write raw *data* to 127.0.0.1:*port* on a fresh connection, close our side, return every byte of the answer
    (b"" when the server just closed). A server may answer and close before it read everything: not an error."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        answer = b""
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except OSError:
            pass
        return answer


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


def wait_for(predicate, timeout=30, interval=0.05, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s" % message)


def listener_env(extra_paths=()):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([LISTENER_FILES, collections_root(), HERE] + list(extra_paths))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cli(config_path, *args, env=None):
    """Run ``python -m netevents_listener --config FILE ARGS``; return the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "netevents_listener", "--config", config_path] + list(args),
                          env=env or listener_env(), capture_output=True, text=True, timeout=60, check=False)


class ListenerProcess(object):
    """A real ``python -m netevents_listener`` in its own process group (so SIGKILL takes master and worker)."""

    def __init__(self, config_path, env=None):
        self.config_path = config_path
        with open(config_path) as f:
            config = yaml.safe_load(f)
        lc = config["listener"]
        self.scheme = "https" if lc.get("tls_cert") else "http"
        self.base = "%s://127.0.0.1:%d" % (self.scheme, lc["port"])
        self.url = self.base + lc.get("path", "/listener/callback")
        self.env = env or listener_env()
        self.log_path = os.path.join(os.path.dirname(config_path), "listener.log")
        self.proc = None
        self.verify = True
        self.session = requests.Session()
        self.session.auth = (WEBHOOK_USER, WEBHOOK_PASSWORD)

    def start(self, wait=True):
        log = open(self.log_path, "ab")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "netevents_listener", "--config", self.config_path],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("listener exited with %s:\n%s" % (self.proc.returncode, self.logs()))
            try:
                return requests.get(self.base + "/healthz", timeout=2, verify=self.verify).status_code == 200
            except requests.RequestException:
                return False
        wait_for(ready, timeout, 0.1, "the listener to become healthy")

    def post(self, body, **kwargs):
        kwargs.setdefault("timeout", 10)
        kwargs.setdefault("verify", self.verify)
        return self.session.post(self.url, json=body, **kwargs)

    def get(self, path, **kwargs):
        kwargs.setdefault("timeout", 10)
        kwargs.setdefault("verify", self.verify)
        return requests.get(self.base + path, **kwargs)

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def kill_group(self):
        """Crash: SIGKILL to the master and its worker at once."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout=60):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        return self.proc.returncode

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")
