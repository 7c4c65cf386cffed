"""The plugin API: the documented example plugin loaded by module:attribute, Prism lookups through the shared
client against the Prism simulator, Prism's own webhook deliveries, and a plugin that cannot start."""
import base64
import json
import logging
import os
import shutil

import pytest

from listener_helpers import (EXAMPLES, WEBHOOK_PASSWORD, WEBHOOK_USER, envelope, make_config, read_jsonl,
                              wait_for, write_secret)
from ansible_collections.netevents.nutanix.plugins.module_utils.prism import PrismError, webhook_spec
from netevents_listener import PluginContext
from netevents_listener.config import load_config
from netevents_listener.service import Service
from tests.simulators.prism import PrismSimulator
from tests.simulators.prism.admin import PrismAdmin

HEADERS = {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (WEBHOOK_USER, WEBHOOK_PASSWORD)).encode()).decode(),
           "Content-Type": "application/json"}
PATH = "/listener/callback"


@pytest.fixture
def examples_on_path(monkeypatch):
    monkeypatch.syspath_prepend(EXAMPLES)


@pytest.fixture
def prism():
    sim = PrismSimulator(username="admin", password="prism-secret", pending_seconds=0.05).start()
    yield sim
    sim.stop()


def inventory(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def test_example_plugin_is_loaded_by_module_attribute_and_applies_events(tmp_path, examples_on_path):
    config = load_config(make_config(tmp_path, plugin={"name": "vm_inventory:VmInventoryPlugin",
                                                       "options": {"path": "inventory.json"}}))
    svc = Service(config).start()
    try:
        assert type(svc.plugin).__module__ == "vm_inventory"
        client = svc.app.test_client()
        for body in (envelope("vm-1", "VM.ON", ip="10.0.0.1", categories={"AppTier": "Web"}),
                     envelope("vm-2", "VM.ON", ip="10.0.0.2"),
                     envelope("vm-2", "VM.DELETE"),
                     envelope("vm-1", "VM.OFF", ip="10.0.0.1", categories={"AppTier": "Web"})):
            assert client.post(PATH, data=json.dumps(body), headers=HEADERS).status_code == 200
        path = str(tmp_path / "inventory.json")
        wait_for(lambda: (inventory(path) or {}).get("vm-1", {}).get("power_state") == "OFF" and svc.queue.depth() == 0,
                 message="the inventory to show vm-1 off")
        assert inventory(path) == {"vm-1": {
            "name": "vm-vm-1", "power_state": "OFF", "ips": ["10.0.0.1"], "categories": {"AppTier": "Web"},
            "last_event": "VM.OFF", "event_id": 4}}
    finally:
        svc.stop(timeout=10)


def test_example_plugin_asks_prism_when_the_payload_lacks_ips(tmp_path, examples_on_path, prism):
    client = PrismAdmin(prism.host, port=prism.port, username="admin", password="prism-secret",
                        ca_path=prism.cert_path)
    created = client.create_vm({"name": "db-01", "resources": {"power_state": "ON", "nic_list": [
        {"ip_endpoint_list": [{"ip": "10.20.0.7"}]}]}}, metadata={"categories": {"AppTier": "DB"}})
    vm_uuid = created["metadata"]["uuid"]
    client.wait_for_vm(vm_uuid, timeout=30)
    write_secret(str(tmp_path / "prism_password"), "prism-secret")
    config = load_config(make_config(
        tmp_path, plugin={"name": "vm_inventory:VmInventoryPlugin",
                          "options": {"path": "inventory.json", "ask_prism": True}},
        extra={"prism": {"host": prism.host, "port": prism.port, "username": "admin",
                         "password_file": "prism_password", "validate_certs": True, "ca_path": prism.cert_path,
                         "source": "webhook"}}))
    svc = Service(config).start()
    try:
        # What AOS sends at VM.ON: no IPs yet, and this payload carries no categories either.
        body = envelope(vm_uuid, "VM.ON")
        del body["data"]["metadata"]["metadata"]["categories"]
        assert svc.app.test_client().post(PATH, data=json.dumps(body), headers=HEADERS).status_code == 200
        path = str(tmp_path / "inventory.json")
        entry = wait_for(lambda: (inventory(path) or {}).get(vm_uuid), message="the VM in the inventory")
        assert (entry["name"], entry["ips"], entry["categories"], entry["power_state"]) == (
            "db-01", ["10.20.0.7"], {"AppTier": "DB"}, "ON")
    finally:
        svc.stop(timeout=10)


def test_the_prism_client_of_a_plugin_trusts_the_configured_ca_only(tmp_path, prism, monkeypatch):
    # Nothing from the environment may make the simulator's certificate trusted behind the test's back.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    write_secret(str(tmp_path / "prism_password"), "prism-secret")
    shutil.copyfile(prism.cert_path, str(tmp_path / "prism-ca.pem"))

    def context(**prism_options):
        config = load_config(make_config(tmp_path, extra={"prism": dict(
            {"host": prism.host, "port": prism.port, "username": "admin", "password_file": "prism_password"},
            **prism_options)}))
        return PluginContext(options={}, config=config, logger=logging.getLogger("test"), state_dir=str(tmp_path))

    # validate_certs is true by default; a relative ca_path is beside the configuration file.
    trusting = context(ca_path="prism-ca.pem").prism_client()
    assert trusting.users_me()["status"]["name"] == "admin"
    with pytest.raises(PrismError, match="TLS certificate of Prism at .* could not be verified"):
        context().prism_client().users_me()


def test_prism_webhook_deliveries_reach_the_real_listener(tmp_path, listener_process, prism):
    server = listener_process(make_config(tmp_path)).start()
    client = PrismAdmin(prism.host, port=prism.port, username="admin", password="prism-secret",
                        validate_certs=False)
    hook = client.create_webhook(webhook_spec("netevents-test", server.url, ["VM.CREATE", "VM.ON", "VM.OFF"],
                                              credentials={"username": WEBHOOK_USER, "password": WEBHOOK_PASSWORD}))
    client.wait_for_webhook(hook["metadata"]["uuid"], timeout=30)
    created = client.create_vm({"name": "web-01", "resources": {"power_state": "ON", "nic_list": [
        {"ip_endpoint_list": [{"ip": "10.1.1.5"}]}]}}, metadata={"categories": {"AppTier": "Web"}})
    vm_uuid = created["metadata"]["uuid"]
    client.wait_for_vm(vm_uuid, timeout=30)
    client.set_power_state(vm_uuid, "OFF")
    deliveries = prism.wait_for_deliveries(3, timeout=30)
    assert [(d["event_type"], d["status_code"]) for d in deliveries] == [
        ("VM.CREATE", 200), ("VM.ON", 200), ("VM.OFF", 200)]
    log = str(tmp_path / "events.jsonl")
    lines = wait_for(lambda: len(read_jsonl(log)) == 3 and read_jsonl(log), message="3 events applied")
    assert [(line["event_type"], line["vm_uuid"]) for line in lines] == [
        ("VM.CREATE", vm_uuid), ("VM.ON", vm_uuid), ("VM.OFF", vm_uuid)]
    assert lines[1]["vm"]["ips"] == ["10.1.1.5"] and lines[1]["vm"]["categories"] == {"AppTier": "Web"}


def test_a_plugin_that_cannot_start_stops_the_service_with_a_clear_message(tmp_path, listener_process):
    config = make_config(tmp_path, plugin={"name": "log", "options": {"path": "no-such-dir/events.jsonl"}})
    server = listener_process(config).start(wait=False)
    assert server.proc.wait(timeout=60) == 3            # gunicorn: the worker failed to boot, do not respawn
    logs = server.logs()
    assert "cannot start: cannot open" in logs and "no-such-dir/events.jsonl" in logs


def _imports(path):
    """(module, level) of every import in a Python file; level > 0 for relative imports."""
    import ast

    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level


def test_plugins_import_only_the_plugin_api_and_module_utils():
    """The built-in plugins and the documented example keep to docs/plugins.md: of the service, only the plugin API
    (the package face or api.py); the collection's module_utils; a plugin's own modules."""
    import netevents_listener

    package = os.path.dirname(netevents_listener.__file__)
    plugins = os.path.join(package, "plugins")
    files = [os.path.join(EXAMPLES, "vm_inventory.py")] + [
        os.path.join(d, f) for d, _dirs, names in os.walk(plugins) for f in names if f.endswith(".py")]
    assert len(files) >= 8
    for path in files:
        depth = os.path.relpath(os.path.dirname(path), package).count(os.sep) + 2  # the level of the package
        for module, level in _imports(path):
            if level == 0:
                service = module.split(".")[0] == "netevents_listener"
                assert not service or module == "netevents_listener", (path, module)
                assert not module.startswith("ansible_collections") or ".plugins.module_utils" in module, (path, module)
            elif level == depth:   # from the package itself: only its face or api.py
                assert module in ("", "api"), (path, module)
            else:                  # from within the plugins: a plugin's own modules
                assert level < depth, (path, module)
