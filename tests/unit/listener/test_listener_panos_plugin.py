"""The panos plugin in-process (Service + Flask test client) against the simulators: option checking, names that
cannot inject into PAN-OS, per-event failures, shared addresses, stale events, waiting for an IP, and the
dispatcher's tick hook the reconcile runs from. Outcomes are read from the firewall's XML API. (Failures and
outages: test_listener_panos_failures.py.)"""
import json
import re
import time
import types

import pytest

from listener_helpers import envelope, make_config, wait_for, write_secret
from panos_helpers import (FirewallApi, counter, create_vm, drained, panos_config, post, prism_client, set_power,
                           target)
from netevents_listener import ConfigError, Plugin
from netevents_listener.config import load_config
from netevents_listener.dispatcher import Dispatcher
from netevents_listener.metrics import Metrics
from netevents_listener.store import EventQueue

WEB, DB = "ntnx.AppTier.Web", "ntnx.AppTier.DB"


def config_errors(tmp_path, options, prism_section=True):
    write_secret(str(tmp_path / "fw_password"), "x-password")
    extra = {"prism": {"host": "127.0.0.1", "username": "u", "password_file": "fw_password"}} if prism_section else {}
    with pytest.raises(ConfigError) as info:
        load_config(make_config(tmp_path, plugin={"name": "panos", "options": options}, extra=extra))
    return info.value.errors


def test_options_are_checked_and_every_problem_is_listed(tmp_path):
    errors = config_errors(tmp_path, {
        "targets": [{"ip_address": "fw1", "port": 0, "vsys": "vsys 1", "password_file": "fw_password",
                     "ca_path": "missing.pem"},
                    {"ip_address": "fw2"}, "fw3"],
        "mode": "commit-everything", "tag_timeout": -1, "address_prefix": "x" * 30,
        "tag_mapping": {"AppTier:Web": "web'] | //*[@name='"}, "comit_timeout": 5, "probe_initial_s": 5,
        "probe_max_s": 1, "wait_for_ip_attempts": 3})
    text = "\n".join(errors)
    for expected in (
            "plugin.options: comit_timeout: unknown key (did you mean 'commit_timeout'?)",
            "plugin.options: targets[0].port: must be between 1 and 65535, got 0",
            "plugin.options: targets[0].vsys: vsys must look like 'vsys1', not 'vsys 1'",
            "plugin.options: targets[0].ca_path: %s does not exist" % (tmp_path / "missing.pem"),
            "plugin.options: targets[1]: give password_file/password_env or api_key_file/api_key_env",
            "plugin.options: targets[2]: must be a mapping",
            "plugin.options: mode: must be one of registered-ip, address-object, got 'commit-everything'",
            "plugin.options: tag_timeout: must be between 0 and 2592000, got -1",
            "plugin.options: address_prefix: the address name",
            "plugin.options: tag_mapping.AppTier:Web: the tag name \"web'] | //*[@name='\" is not accepted",
            "plugin.options: probe_max_s: must not be smaller than probe_initial_s",
            "plugin.options: wait_for_ip_attempts: unknown key (did you mean 'wait_for_ip_s'?)"):
        assert expected in text, text
    assert config_errors(tmp_path, {"targets": [{"ip_address": "fw1", "password_file": "fw_password"}]},
                         prism_section=False) == [
        "plugin.options: prism: the panos plugin needs the 'prism' section: it reads VMs the events do not "
        "describe fully, and the reconcile lists them all"]
    assert config_errors(tmp_path, {"targets": [{"ip_address": "fw1", "password_file": "fw_password"}],
                                    "tag_format": "-{category}-{value}", "owned_prefix": "-",
                                    "tag_mapping": {"AppTier": "web"}, "tag_timeout": 600}) == [
        "plugin.options: tag_format: '-{category}-{value}' makes tag names PAN-OS refuses: for AppTier:Web, the "
        "tag name '-AppTier-Web' is not accepted: use letters, digits, '_', '.', '-' and inner spaces, starting with "
        "a letter, digit or '_'",
        "plugin.options: tag_mapping.AppTier: a key looks like 'Category:Value'",
        "plugin.options: tag_timeout: registered tags that expire need the reconcile to renew them: set "
        "reconcile.interval_minutes to at most half of tag_timeout (600 s), or tag_timeout: 0"]
    # One tag-name rule (PAN-OS's, module_utils/panos.validate_name): a mapped tag may hold inner spaces.
    write_secret(str(tmp_path / "fw_password"), "x-password")
    spaced = load_config(make_config(tmp_path, plugin={"name": "panos", "options": {
        "targets": [{"ip_address": "fw1", "password_file": "fw_password"}],
        "tag_mapping": {"AppTier:Web": "web servers"}}}, extra={"prism": {
            "host": "127.0.0.1", "username": "u", "password_file": "fw_password"}}))
    assert spaced.plugin.options["tag_mapping"] == {"AppTier:Web": "web servers"}
    # Secrets are never accepted inline, here as anywhere in the configuration.
    [inline] = config_errors(tmp_path, {"targets": [{"ip_address": "fw1", "password": "inline"}]})
    assert inline.startswith("plugin.options.targets[0].password: secrets are not accepted")


def test_category_values_and_vm_names_cannot_inject_into_pan_os(tmp_path, prism, firewall, services):
    fw = FirewallApi(firewall)
    # The payload itself says what is registered (trust_payload): the most direct path for hostile text.
    svc = services(panos_config(tmp_path, prism, [target(firewall)], options={"trust_payload": True}))
    hostile = {"AppTier": "x']/../../entry[@name='y", "Owner": "<b>&amp;\"q\"</b>"}
    post(svc, envelope("vm-1", "VM.ON", ip="10.1.0.1", categories=hostile))
    drained(svc)
    assert fw.registered_ips() == {
        "10.1.0.1": {"ntnx.AppTier.x___.._.._entry__name__y", "ntnx.Owner._b__amp__q___b_"}}
    stats = firewall.stats()
    assert stats["internal_errors"] == 0 and set(stats["config_actions"]) <= {"get"}   # the config is untouched
    running = fw.call(type="config", action="show", xpath="/config").findall(".//address-group/entry")
    assert running == []


def test_address_objects_get_safe_names_and_descriptions(tmp_path, prism, firewall, services):
    fw = FirewallApi(firewall)
    svc = services(panos_config(tmp_path, prism, [target(firewall)], options={"mode": "address-object",
                                                                              "trust_payload": True}))
    body = envelope("vm-1", "VM.ON", ip="2001:db8::5", categories={"AppTier": "Web"})
    body["data"]["metadata"]["status"]["name"] = "evil</description><tag><member>x</member></tag>"
    post(svc, body)
    drained(svc)
    assert fw.address_objects() == {"ntnx-vm-2001-db8--5": ("2001:db8::5", {WEB})}
    entry = fw.call(type="config", action="show", xpath="/config").find(".//address/entry[@name='ntnx-vm-2001-db8--5']")
    description = entry.findtext("description")
    assert re.fullmatch(r"Nutanix VM [A-Za-z0-9_.\-]+ \(vm-1\), managed by the netevents listener", description)


def test_a_tag_pan_os_would_refuse_dead_letters_that_event_only(tmp_path, prism, firewall, services):
    fw = FirewallApi(firewall)
    [good] = prism.seed_vms(1, "good", {"AppTier": "Web"}, first_ip="10.2.0.1")
    [bad] = prism.seed_vms(1, "bad", {"-Tier": "Web"}, first_ip="10.2.0.2")
    svc = services(panos_config(tmp_path, prism, [target(firewall)], queue={"batch_window_ms": 300},
                                options={"tag_format": "{category}.{value}", "owned_prefix": "AppTier."}))
    post(svc, envelope(good, "VM.ON"))
    post(svc, envelope(bad, "VM.ON"))
    drained(svc)
    assert fw.registered_ips() == {"10.2.0.1": {"AppTier.Web"}}
    [dead] = svc.queue.dead_letters()
    assert dead.vm_uuid == bad and dead.attempts == 1
    assert "VM %s: the category -Tier:Web gives no tag name PAN-OS accepts" % bad in dead.last_error


def test_an_address_two_vms_share_keeps_what_the_other_vm_still_needs(tmp_path, prism, firewall, services):
    fw = FirewallApi(firewall)
    client = prism_client(prism)
    vm_1 = create_vm(client, "one", "10.3.0.9", {"AppTier": "Web"})
    vm_2 = create_vm(client, "two", "10.3.0.9", {"AppTier": "DB"})
    svc = services(panos_config(tmp_path, prism, [target(firewall)]))
    post(svc, envelope(vm_1, "VM.ON"))
    post(svc, envelope(vm_2, "VM.ON"))
    drained(svc)
    assert fw.registered_ips() == {"10.3.0.9": {WEB, DB}}
    client.delete_vm(vm_1)
    client.wait_for_vm_deleted(vm_1)
    post(svc, envelope(vm_1, "VM.DELETE"))           # Prism no longer knows it: what it had goes
    drained(svc)
    assert fw.registered_ips() == {"10.3.0.9": {DB}}
    set_power(client, vm_2, "OFF")
    post(svc, envelope(vm_2, "VM.OFF"))
    drained(svc)
    assert fw.registered_ips() == {}


def test_an_event_queued_while_the_listener_was_down_ends_in_prisms_state(tmp_path, prism, firewall, services):
    client = prism_client(prism)
    vm = create_vm(client, "app", "10.4.0.1", {"AppTier": "DB"})
    config = panos_config(tmp_path, prism, [target(firewall)], reconcile_minutes=60)
    # Queued while the listener was down: it says Web, but the VM has been moved to DB since.
    queue = EventQueue(str(tmp_path / "queue.db"))
    queue.enqueue(vm, "VM.ON", json.dumps(envelope(vm, "VM.ON", ip="10.4.0.1",
                                                   categories={"AppTier": "Web"})).encode())
    queue.close()
    svc = services(config)
    drained(svc)
    assert FirewallApi(firewall).registered_ips() == {"10.4.0.1": {DB}}
    assert counter(svc, "netevents_listener_panos_reconciles_total") == 1
    assert counter(svc, "netevents_listener_events_applied_total") == 1


def test_a_vm_on_without_an_ip_yet_waits_for_prism_to_report_one(tmp_path, prism, firewall, services):
    fw = FirewallApi(firewall)
    client = prism_client(prism)
    created = client.create_vm({"name": "slow", "resources": {"power_state": "ON", "nic_list": []}},
                               metadata={"categories": {"AppTier": "Web"}})
    vm = created["metadata"]["uuid"]
    entity = client.wait_for_vm(vm, timeout=30)
    # Far more looks than max_attempts fit in the window: they are deferrals, not attempts.
    svc = services(panos_config(tmp_path, prism, [target(firewall)], options={"wait_for_ip_s": 120},
                                queue={"max_attempts": 1}))
    post(svc, envelope(vm, "VM.ON"))
    wait_for(lambda: counter(svc, "netevents_listener_events_deferred_total") >= 3, message="three looks")
    [waiting] = svc.queue.pending()
    assert waiting.attempts == 0 and waiting.last_error.startswith("deferred: VM %s is on but Prism" % vm)
    # The address shows up in Prism (DHCP, guest tools) while the event waits.
    entity["spec"]["resources"]["nic_list"] = [{"ip_endpoint_list": [{"ip": "10.5.0.1"}]}]
    client.update_vm(vm, entity["spec"], entity["metadata"]["spec_version"], metadata=entity["metadata"])
    wait_for(lambda: fw.registered_ips() == {"10.5.0.1": {WEB}}, message="the IP registered once Prism knew it")
    drained(svc)
    assert svc.queue.dead_count() == 0 and counter(svc, "netevents_listener_events_failed_total") == 0


def test_a_vm_that_never_gets_an_ip_is_applied_with_a_warning_after_the_wait(tmp_path, prism, firewall, services,
                                                                             caplog):
    client = prism_client(prism)
    created = client.create_vm({"name": "no-nic", "resources": {"power_state": "ON", "nic_list": []}},
                               metadata={"categories": {"AppTier": "Web"}})
    vm = created["metadata"]["uuid"]
    client.wait_for_vm(vm, timeout=30)
    svc = services(panos_config(tmp_path, prism, [target(firewall)], options={"wait_for_ip_s": 2}))
    post(svc, envelope(vm, "VM.ON"))
    wait_for(lambda: counter(svc, "netevents_listener_events_applied_total") == 1, message="applied")
    assert counter(svc, "netevents_listener_events_deferred_total") >= 1
    assert counter(svc, "netevents_listener_events_failed_total") == 0 and svc.queue.dead_count() == 0
    assert counter(svc, "netevents_listener_panos_ip_waits_expired_total") == 1
    assert any(r.levelname == "WARNING" and "VM %s is on but Prism reported no IP address within wait_for_ip_s" % vm
               in r.getMessage() for r in caplog.records)
    assert FirewallApi(firewall).registered_ips() == {}


class _TickRecorder(Plugin):
    """Records whether tick() ever ran while a batch was being handled."""

    def __init__(self):
        self.in_batch = False
        self.ticks = []
        self.batches = 0
        self.fail_tick = False

    def handle_batch(self, events):
        self.in_batch = True
        time.sleep(0.3)
        self.batches += 1
        self.in_batch = False

    def tick(self):
        self.ticks.append(self.in_batch)
        if self.fail_tick:
            raise RuntimeError("tick failed")


def test_the_dispatcher_ticks_the_plugin_between_batches_never_during_one(tmp_path):
    queue = EventQueue(str(tmp_path / "queue.db"))
    plugin = _TickRecorder()
    settings = types.SimpleNamespace(batch_max_events=1, batch_window_ms=0, max_attempts=3, backoff_initial_s=0.1,
                                     backoff_max_s=0.1)
    dispatcher = Dispatcher(queue, plugin, settings, Metrics())
    dispatcher.start()
    try:
        wait_for(lambda: plugin.ticks, message="the first tick, right after start")
        for i in range(6):
            queue.enqueue("vm-%d" % i, "VM.ON", json.dumps(envelope("vm-%d" % i)).encode())
        dispatcher.notify()
        wait_for(lambda: plugin.batches == 6 and len(plugin.ticks) >= 3, timeout=30, message="6 batches, 3 ticks")
        assert not any(plugin.ticks)
        plugin.fail_tick = True
        wait_for(lambda: dispatcher.last_error is not None, message="the failed tick recorded")
        assert dispatcher.last_error["message"] == "plugin tick: RuntimeError: tick failed" and dispatcher.alive
    finally:
        dispatcher.stop(timeout=10)
        queue.close()
