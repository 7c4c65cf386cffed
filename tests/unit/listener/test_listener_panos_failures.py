"""The panos plugin when things go wrong, in-process against the simulators: one poisoned event among good ones,
a firewall refusing one VM, firewalls and Prism going away (no attempt burnt, no dead letter), a wrong firewall
password on /healthz before any event, forged / repeated / reordered events against Prism's truth, and a reconcile
that fails or meets one bad VM. Outcomes are read from the firewall's XML API and the queue."""
import logging
import random

import pytest
from prometheus_client import CollectorRegistry

from listener_helpers import envelope, wait_for, write_secret
from panos_helpers import (FirewallApi, Unavailable, counter, create_vm, drained, panos_config, post, prism_client,
                           set_power, start_firewall, target)
from ansible_collections.netevents.nutanix.plugins.module_utils import panos as panos_api
from ansible_collections.netevents.nutanix.plugins.module_utils import prism as prism_api
from ansible_collections.netevents.nutanix.plugins.module_utils import tagging
from ansible_collections.netevents.nutanix.plugins.module_utils.events import VmState
from netevents_listener import PluginContext
from netevents_listener.config import load_config
from netevents_listener.plugins.panos import PanosPlugin

WEB, DB = "ntnx.AppTier.Web", "ntnx.AppTier.DB"
# Every event of a test in one batch, and a poisoned one dead-lettered quickly.
ONE_BATCH = {"batch_window_ms": 500, "max_attempts": 3}


def expected(ips, tags):
    return dict((ip, set(tags)) for ip in ips)


def ips(first, count, skip=()):
    return ["%s.%d" % (first, i + 1) for i in range(count) if i not in skip]


# -- one event's own failure ------------------------------------------------------------------------------------

def test_an_event_whose_resolution_raises_fails_alone_and_its_batch_is_applied(tmp_path, prism, firewall, services,
                                                                               monkeypatch):
    vms = prism.seed_vms(6, "app", {"AppTier": "Web"}, first_ip="10.80.0.1")
    poisoned = vms[2]
    real_record = PanosPlugin._record

    def record(self, state, strict, **kwargs):
        if state.uuid == poisoned:
            raise RuntimeError("an unexpected fault with this VM")
        return real_record(self, state, strict, **kwargs)
    monkeypatch.setattr(PanosPlugin, "_record", record)
    svc = services(panos_config(tmp_path, prism, [target(firewall)], queue=ONE_BATCH))
    for vm in vms:
        post(svc, envelope(vm, "VM.ON"))
    drained(svc)
    assert FirewallApi(firewall).registered_ips() == expected(ips("10.80.0", 6, skip=(2,)), [WEB])
    [dead] = svc.queue.dead_letters()
    assert (dead.vm_uuid, dead.attempts) == (poisoned, 3)
    assert "RuntimeError: an unexpected fault with this VM" in dead.last_error
    assert counter(svc, "netevents_listener_events_applied_total") == 5


def test_a_vm_name_that_cannot_be_stored_fails_its_event_alone(tmp_path, prism, firewall, services):
    good = prism.seed_vms(4, "app", {"AppTier": "Web"}, first_ip="10.81.0.1")
    # A lone surrogate (JSON "\ud800") in the name Prism reports: it cannot be encoded as UTF-8 for the state file.
    [bad] = prism.seed_vms(1, "bad\ud800name", {"AppTier": "DB"}, first_ip="10.81.0.9")
    svc = services(panos_config(tmp_path, prism, [target(firewall)], queue=ONE_BATCH))
    for vm in good[:2] + [bad] + good[2:]:
        post(svc, envelope(vm, "VM.ON"))
    drained(svc)
    assert FirewallApi(firewall).registered_ips() == expected(ips("10.81.0", 4), [WEB])
    [dead] = svc.queue.dead_letters()
    assert dead.vm_uuid == bad and "cannot record what VM %s should have: UnicodeEncodeError" % bad in dead.last_error


def test_an_address_that_gives_no_object_name_fails_its_event_alone(tmp_path, prism, firewall, services,
                                                                    monkeypatch):
    vms = prism.seed_vms(4, "app", {"AppTier": "Web"}, first_ip="10.82.0.1")
    # Prism reports a zone index on one VM's address (the event parser drops those; this one slips past it).
    real_lookup = prism_api.PrismClient.vm_states_for

    def lookup(self, uuids):
        states = real_lookup(self, uuids)
        if vms[1] in states:
            states[vms[1]] = VmState(vms[1], "zoned", "ON", ["fe80::1%eth0"], {"AppTier": "Web"})
        return states
    monkeypatch.setattr(prism_api.PrismClient, "vm_states_for", lookup)
    svc = services(panos_config(tmp_path, prism, [target(firewall)], queue=ONE_BATCH,
                                options={"mode": "address-object"}))
    for vm in vms:
        post(svc, envelope(vm, "VM.ON"))
    drained(svc)
    assert FirewallApi(firewall).address_objects() == dict(
        ("ntnx-vm-" + ip, (ip, {WEB})) for ip in ips("10.82.0", 4, skip=(1,)))
    [dead] = svc.queue.dead_letters()
    assert (dead.vm_uuid, dead.attempts) == (vms[1], 1)     # it would fail every time: at once
    assert "its address 'fe80::1%eth0' gives no address object name PAN-OS accepts" in dead.last_error


def test_a_firewall_refusing_one_vm_fails_that_vm_alone(tmp_path, prism, firewall, services, monkeypatch):
    """The firewall answers the whole change set with an error: the plugin splits it to find the VM at fault."""
    # A tag rule this collection would not know about: the names pass here, and the firewall refuses one.
    def lenient(name, kind="tag"):
        return name
    monkeypatch.setattr(panos_api, "validate_name", lenient)
    monkeypatch.setattr(tagging, "validate_name", lenient)
    vms = prism.seed_vms(7, "app", {"AppTier": "Web"}, first_ip="10.83.0.1")
    [refused] = prism.seed_vms(1, "long", {"AppTier": "Web", "Owner": "o" * 130}, first_ip="10.83.0.9")
    svc = services(panos_config(tmp_path, prism, [target(firewall)], queue=dict(ONE_BATCH, max_attempts=2)))
    firewall.reset_stats()
    for vm in vms[:3] + [refused] + vms[3:]:
        post(svc, envelope(vm, "VM.ON"))
    drained(svc)
    registered = FirewallApi(firewall).registered_ips()
    assert dict((ip, tags) for ip, tags in registered.items() if ip != "10.83.0.9") == expected(
        ips("10.83.0", 7), [WEB])
    [dead] = svc.queue.dead_letters()
    assert dead.vm_uuid == refused and "firewall %s refused VM %s" % (svc.plugin.targets[0].label, refused) \
        in dead.last_error
    # Halving 8 VMs finds one in at most 2 * log2(8) + 1 calls; one more per retry of the refused VM alone.
    assert firewall.stats()["calls"]["user-id"] <= 2 * 3 + 1 + 1
    assert counter(svc, "netevents_listener_panos_refused_vms_total") == 2


# -- target-wide failures --------------------------------------------------------------------------------------

def test_a_firewall_outage_longer_than_the_backoff_series_dead_letters_nothing(tmp_path, prism, firewall, services):
    """The queue's whole backoff series is about 0.15 s; the firewall is away for 3 s while events arrive. The other
    firewall is not held up, the one away is only probed, and it catches up when it is back."""
    other = start_firewall()
    try:
        vms = prism.seed_vms(20, "app", {"AppTier": "Web"}, first_ip="10.84.0.1")
        svc = services(panos_config(
            tmp_path, prism, [target(firewall), target(other)],
            queue={"backoff_initial_s": 0.05, "backoff_max_s": 0.1, "max_attempts": 2},
            options={"probe_initial_s": 0.2, "probe_max_s": 0.5}))
        away, there = FirewallApi(firewall), FirewallApi(other)
        label = svc.plugin.targets[0].label
        wait_for(lambda: svc.status()["ok"], message="both firewalls checked")
        firewall.reset_stats()
        firewall.fault("error", 3.0, status=503)
        for vm in vms[:10]:
            post(svc, envelope(vm, "VM.ON"))
        wait_for(lambda: there.registered_ips() == expected(ips("10.84.0", 10), [WEB]),
                 message="the first ten on the firewall that is there")
        with pytest.raises(Unavailable):
            away.registered_ips()                 # ... while the other one is still away
        health = svc.status()
        assert not health["ok"] and health["plugin_health"]["targets"][label]["reason"] == "HTTP 503"
        assert counter(svc, "netevents_listener_panos_target_breaker_open", target=label) == 1
        for vm in vms[10:]:
            post(svc, envelope(vm, "VM.ON"))
        wait_for(lambda: there.registered_ips() == expected(ips("10.84.0", 20), [WEB]), message="all twenty there")
        drained(svc)
        wait_for(lambda: svc.status()["ok"], timeout=30, message="the firewall that was away back in sync")
        assert away.registered_ips() == expected(ips("10.84.0", 20), [WEB])
        assert svc.queue.dead_count() == 0 and counter(svc, "netevents_listener_events_failed_total") == 0
        assert counter(svc, "netevents_listener_events_applied_total") == 20
        # The listener's calls during the outage (the test made one): the one that found it away, then one probe
        # per backoff (0.2 s doubling to 0.5 s) - not one per event or per attempt.
        assert firewall.stats()["faulted"] - 1 <= 1 + 3 / 0.5 + 3
        assert counter(svc, "netevents_listener_panos_target_breaker_open", target=label) == 0
        assert counter(svc, "netevents_listener_panos_target_probes_total", target=label, result="ok") == 1
    finally:
        other.stop()


def test_a_wrong_firewall_password_shows_on_healthz_before_any_event(tmp_path, prism, firewall, services):
    config = panos_config(tmp_path, prism, [target(firewall)])
    write_secret(str(tmp_path / "fw_password"), "not-the-password")
    svc = services(config)
    label = svc.plugin.targets[0].label

    def refused():
        response = svc.app.test_client().get("/healthz")
        target_health = response.get_json()["plugin_health"]["targets"][label]
        return response if target_health["state"] not in ("checking", "closed") else None
    response = wait_for(refused, message="the firewall checked")
    assert response.status_code == 503
    doc = response.get_json()
    assert doc["ok"] is False and doc["queue_depth"] == 0
    health = doc["plugin_health"]["targets"][label]
    assert health["reason"] == "credentials refused" and "refused the credentials" in health["error"]
    assert "not-the-password" not in response.get_data(as_text=True)


def test_prism_unavailable_burns_no_attempt_and_pauses_the_dispatcher(tmp_path, prism, firewall, services,
                                                                      monkeypatch):
    monkeypatch.setattr(prism_api, "_sleep", lambda seconds: None)   # the client's own retries, without waiting
    vms = prism.seed_vms(3, "app", {"AppTier": "DB"}, first_ip="10.85.0.1")
    svc = services(panos_config(tmp_path, prism, [target(firewall)],
                                queue={"backoff_initial_s": 0.05, "backoff_max_s": 0.2, "max_attempts": 2}))
    prism._server.suspend()                   # connections to Prism refused
    try:
        for vm in vms:
            post(svc, envelope(vm, "VM.ON"))
        wait_for(lambda: svc.dispatcher.pause.failures >= 5, message="five probe batches, more than max_attempts")
        assert [e.attempts for e in svc.queue.pending()] == [0, 0, 0] and svc.queue.dead_count() == 0
        health = svc.app.test_client().get("/healthz")
        assert health.status_code == 503 and health.get_json()["dispatcher"]["paused"]["reason"] == "prism"
        assert counter(svc, "netevents_listener_dispatcher_paused") == 1
    finally:
        prism._server.resume()
    drained(svc)
    assert FirewallApi(firewall).registered_ips() == expected(ips("10.85.0", 3), [DB])
    assert svc.queue.dead_count() == 0 and counter(svc, "netevents_listener_events_failed_total") == 0
    assert svc.status()["ok"] and counter(svc, "netevents_listener_dispatcher_paused") == 0


# -- Prism is the truth ----------------------------------------------------------------------------------------

def test_a_forged_event_registers_nothing_prism_does_not_report(tmp_path, prism, firewall, services, caplog):
    caplog.set_level(logging.INFO, logger="netevents_listener.plugin.panos")
    client = prism_client(prism)
    vm = create_vm(client, "web", "10.86.0.1", {"AppTier": "Web"})
    svc = services(panos_config(tmp_path, prism, [target(firewall)]))
    # Someone holding the webhook secret: another address and tag for a real VM, and a VM that does not exist.
    post(svc, envelope(vm, "VM.ON", ip="10.86.0.66", categories={"AppTier": "DB"}))
    post(svc, envelope("6f9619ff-8b86-4011-b42d-00c04fc964ff", "VM.ON", ip="10.86.0.77"))
    drained(svc)
    assert FirewallApi(firewall).registered_ips() == {"10.86.0.1": {WEB}}
    assert counter(svc, "netevents_listener_panos_vms_unknown_total") == 1
    assert any("VM unknown to Prism" in r.getMessage() for r in caplog.records)
    assert counter(svc, "netevents_listener_panos_prism_lookups_total") == 2
    assert counter(svc, "netevents_listener_panos_prism_requests_total", purpose="lookup") >= 2


def test_events_delivered_twice_and_out_of_order_end_in_prisms_state(tmp_path, prism, firewall, services):
    client = prism_client(prism)
    running = create_vm(client, "running", "10.87.0.1", {"AppTier": "DB"})
    stopped = create_vm(client, "stopped", "10.87.0.2", {"AppTier": "Web"})
    set_power(client, stopped, "OFF")
    gone = create_vm(client, "gone", "10.87.0.3", {"AppTier": "Web"})
    client.delete_vm(gone)
    client.wait_for_vm_deleted(gone)
    bodies = []
    for vm in (running, stopped, gone):
        for event_type in ("VM.CREATE", "VM.ON", "VM.UPDATE", "VM.OFF", "VM.DELETE"):
            for ip, tier in (("10.87.0.1", "Web"), ("10.87.0.2", "DB"), ("10.87.0.9", "Web")):
                bodies.append(envelope(vm, event_type, ip=ip, categories={"AppTier": tier}))
    shuffled = random.Random(12).sample(bodies * 2, len(bodies) * 2)
    svc = services(panos_config(tmp_path, prism, [target(firewall)]))
    for body in shuffled:
        post(svc, body)
    drained(svc)
    assert FirewallApi(firewall).registered_ips() == {"10.87.0.1": {DB}}
    assert svc.queue.dead_count() == 0


# -- the reconcile ---------------------------------------------------------------------------------------------

def test_a_failing_reconcile_backs_off_and_recovers(tmp_path, prism, firewall):
    cfg = load_config(panos_config(tmp_path, prism, [target(firewall)], reconcile_minutes=60))
    plugin = PanosPlugin()
    now = [1000000.0]
    plugin.clock = lambda: now[0]
    registry = CollectorRegistry()
    plugin.start(PluginContext(cfg.plugin.options, cfg, logging.getLogger("test"), str(tmp_path), registry))
    try:
        attempts = []

        def listing():
            attempts.append(now[0])
            raise RuntimeError("one VM in Prism's list cannot be read")
        plugin.prism.vm_states = listing
        for dummy in range(900):              # 15 minutes of ticks, one a second
            plugin.tick()
            now[0] += 1
        gaps = [b - a for a, b in zip(attempts, attempts[1:])]
        assert 2 <= len(attempts) <= 10 and gaps == sorted(gaps) and gaps[0] < gaps[-1], attempts
        assert registry.get_sample_value("netevents_listener_panos_reconciles_total",
                                         {"result": "failed"}) == len(attempts)
        assert plugin.health()["reconcile"]["failures"] == len(attempts)
        del plugin.prism.vm_states            # the client's own again
        now[0] += 3600
        plugin.tick()
        assert registry.get_sample_value("netevents_listener_panos_reconciles_total", {"result": "ok"}) == 1
        assert "reconcile" not in plugin.health()
    finally:
        plugin.stop()


def test_one_bad_vm_in_prisms_list_is_left_out_and_the_rest_reconciled(tmp_path, prism, firewall, services):
    prism.seed_vms(3, "app", {"AppTier": "Web"}, first_ip="10.88.0.1")
    [bad] = prism.seed_vms(1, "bad\ud800name", {"AppTier": "DB"}, first_ip="10.88.0.9")
    svc = services(panos_config(tmp_path, prism, [target(firewall)], reconcile_minutes=60))
    wait_for(lambda: counter(svc, "netevents_listener_panos_reconciles_total", result="ok") == 1,
             message="the reconcile at start")
    assert FirewallApi(firewall).registered_ips() == expected(ips("10.88.0", 3), [WEB])
    assert counter(svc, "netevents_listener_panos_reconcile_vms_left_out_total") == 1
    assert counter(svc, "netevents_listener_panos_reconciles_total", result="failed") == 0
    assert bad not in svc.plugin.desired.snapshot()
