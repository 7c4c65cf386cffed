"""The panos plugin against a firewall's limits, in-process against the simulators (pan-os-python as the plugin's
client): the registered-IP capacity (learnt from the platform or set, a gauge, the 80 % warning, a full firewall's
refusals dead-lettered with a reason while the rest of the batch applies), at most 32 tags per IP, and tag leases
renewed by the reconcile. Outcomes are read from the firewall's XML API, the queue and the metrics."""
import logging
import time

import pytest

from listener_helpers import envelope, make_config, wait_for, write_secret
from panos_helpers import (FirewallApi, counter, drained, panos_config, post, prism_client, set_power, start_firewall,
                           target)
from netevents_listener import ConfigError
from netevents_listener.config import load_config

WEB = "ntnx.AppTier.Web"
ONE_BATCH = {"batch_window_ms": 500, "max_attempts": 5}
PANOS_LOG = "netevents_listener.plugin.panos"


@pytest.fixture
def small_firewall():
    """A firewall that holds 10 registered IPs."""
    sim = start_firewall(model="VM-50", registered_ip_capacity=10)
    yield sim
    sim.stop()


def second(tmp_path):
    """Another listener's directory."""
    path = tmp_path / "second"
    path.mkdir()
    return path


def warnings(caplog, text):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


@pytest.mark.parametrize("model, platform, capacity", [("VM-50", "VM-50", 1000), ("PA-3200", "PA-3220", 200000)])
def test_the_capacity_is_learnt_from_the_platform_unless_the_option_sets_it(tmp_path, prism, services, model,
                                                                            platform, capacity):
    sim = start_firewall(model=model)
    try:
        svc = services(panos_config(tmp_path, prism, [target(sim)]))
        [fw] = svc.plugin.targets
        wait_for(lambda: fw.checked, message="the firewall checked")
        assert (fw.platform, fw.capacity) == (platform, capacity)
        assert counter(svc, "netevents_listener_panos_registered_ip_capacity", target=fw.label) == capacity
        # The option wins over the platform (a firewall that shares its table with other systems, say).
        svc.stop(timeout=10)
        svc = services(panos_config(second(tmp_path), prism, [target(sim, registered_ip_capacity=700)]))
        [fw] = svc.plugin.targets
        wait_for(lambda: fw.checked, message="the firewall checked")
        assert (fw.platform, fw.capacity) == ("set by registered_ip_capacity", 700)
        assert counter(svc, "netevents_listener_panos_registered_ip_capacity", target=fw.label) == 700
    finally:
        sim.stop()


def test_a_full_firewall_dead_letters_the_overflow_with_a_reason_and_applies_the_rest(
        tmp_path, prism, small_firewall, services, caplog):
    caplog.set_level(logging.INFO, logger=PANOS_LOG)
    fw = FirewallApi(small_firewall)
    fw.register({"10.99.0.1": ["corp.scanner"]})      # another system's address counts against the capacity too
    vms = prism.seed_vms(12, "app", {"AppTier": "Web"}, first_ip="10.90.0.1")
    # The simulator is a VM-50 made smaller than its model: the option says so.
    svc = services(panos_config(tmp_path, prism, [target(small_firewall, registered_ip_capacity=10)],
                                queue=ONE_BATCH))
    [tgt] = svc.plugin.targets
    label = tgt.label

    for vm in vms[:8]:                                # 8 of 10: past 80 %, one warning
        post(svc, envelope(vm, "VM.ON"))
    drained(svc)
    assert len(fw.registered_ips()) == 9
    near = warnings(caplog, "registered IPs, 80% of the 10 its platform holds")
    assert len(near) == 1 and near[0].startswith("firewall %s holds 8 registered IPs" % label), near

    for vm in vms[8:]:                                # 4 more in one batch: 1 fits, 3 are refused
        post(svc, envelope(vm, "VM.ON"))
    drained(svc)
    registered = fw.registered_ips()
    assert len(registered) == 10 and registered["10.99.0.1"] == {"corp.scanner"}
    dead = svc.queue.dead_letters()
    assert len(dead) == 3 and all(d.attempts == 1 for d in dead)      # not retried: it would fail alike
    ip_of = dict((vm, "10.90.0.%d" % (i + 1)) for i, vm in enumerate(vms))
    for letter in dead:
        ip = ip_of[letter.vm_uuid]
        assert ip not in registered
        assert letter.last_error.startswith(
            "PluginError: firewall %s refused VM %s: the firewall is full: it holds the 10 registered IPs its "
            "platform holds (set by registered_ip_capacity), 9 of them this listener's, so %s not registered "
            "(PAN-OS: %s: max registered-ip for the platform reached (10))" % (label, letter.vm_uuid, ip, ip)), \
            letter.last_error
    applied = set(vm for vm in vms if ip_of[vm] in registered)
    assert len(applied) == 9 and applied | set(d.vm_uuid for d in dead) == set(vms)
    assert all(registered[ip_of[vm]] == {WEB} for vm in applied)
    # The gauge pair (the plugin's own count: the other system's address is unknown to it without a reconcile).
    assert counter(svc, "netevents_listener_panos_registered_ips", target=label) == 9
    assert counter(svc, "netevents_listener_panos_registered_ip_capacity", target=label) == 10
    assert counter(svc, "netevents_listener_panos_registered_ips_refused_full_total", target=label) == 3
    assert len(warnings(caplog, "registered IPs, 8")) == 1       # still the one warning
    # The event's own failure, not an outage: the breaker stays closed.
    assert svc.plugin.health()["targets"][label]["state"] == "closed"
    assert counter(svc, "netevents_listener_panos_target_breaker_open", target=label) == 0

    # Below 75 % and up again: a second warning.
    client = prism_client(prism)
    for vm in sorted(applied)[:3]:
        set_power(client, vm, "OFF")
        post(svc, envelope(vm, "VM.OFF"))
    drained(svc)
    assert counter(svc, "netevents_listener_panos_registered_ips", target=label) == 6
    for vm in sorted(applied)[:3]:
        set_power(client, vm, "ON")
        post(svc, envelope(vm, "VM.ON"))
    drained(svc)
    assert len(warnings(caplog, "registered IPs, 8")) == 2


def test_the_reconcile_registers_what_fits_and_counts_other_systems_addresses(tmp_path, prism, small_firewall,
                                                                              services, caplog):
    caplog.set_level(logging.INFO, logger=PANOS_LOG)
    fw = FirewallApi(small_firewall)
    fw.register({"10.99.0.1": ["corp.scanner"], "10.99.0.2": ["corp.scanner"]})
    vms = prism.seed_vms(10, "app", {"AppTier": "Web"}, first_ip="10.91.0.1")
    svc = services(panos_config(tmp_path, prism, [target(small_firewall, registered_ip_capacity=10)],
                                reconcile_minutes=60))
    wait_for(lambda: counter(svc, "netevents_listener_panos_reconciles_total", result="ok") == 1,
             message="the reconcile at start went through")     # a full firewall does not fail the reconcile
    registered = fw.registered_ips()
    assert len(registered) == 10 and sum(1 for tags in registered.values() if tags == {WEB}) == 8
    label = svc.plugin.targets[0].label
    assert counter(svc, "netevents_listener_panos_registered_ips", target=label) == 10
    assert counter(svc, "netevents_listener_panos_registered_ips_refused_full_total", target=label) == 2
    assert warnings(caplog, "reconcile: firewall %s is full: 2 registered IP(s) not registered" % label)
    # An event of a VM the reconcile could not register: dead-lettered with the reason, at once.
    missing = [vm for i, vm in enumerate(vms) if "10.91.0.%d" % (i + 1) not in registered]
    post(svc, envelope(missing[0], "VM.ON"))
    drained(svc)
    [dead] = svc.queue.dead_letters()
    assert "the firewall is full: it holds the 10 registered IPs its platform holds (set by registered_ip_capacity), " \
        "8 of them this listener's, so 10.91.0." in dead.last_error


def test_a_vm_with_40_tags_gets_the_first_32_and_a_warning(tmp_path, prism, firewall, services, caplog):
    caplog.set_level(logging.INFO, logger=PANOS_LOG)
    fw = FirewallApi(firewall)
    categories = dict(("K%02d" % i, "v") for i in range(40))
    [vm] = prism.seed_vms(1, "many", categories, first_ip="10.92.0.1")
    svc = services(panos_config(tmp_path, prism, [target(firewall)], queue=ONE_BATCH))
    post(svc, envelope(vm, "VM.ON"))
    drained(svc)
    assert fw.registered_ips() == {"10.92.0.1": set("ntnx.K%02d.v" % i for i in range(32))}
    assert svc.queue.dead_letters() == []
    [warning] = warnings(caplog, "has 40 tags")
    assert warning.startswith("VM %s (many-00000) has 40 tags, more than the 32 PAN-OS holds per IP: 8 left out: "
                              "ntnx.K32.v, ntnx.K33.v" % vm), warning
    assert warning.endswith("ntnx.K39.v")
    assert counter(svc, "netevents_listener_panos_tags_skipped_total") == 8


def test_other_systems_tags_on_an_ip_count_towards_its_32(tmp_path, prism, firewall, services, caplog):
    caplog.set_level(logging.INFO, logger=PANOS_LOG)
    fw = FirewallApi(firewall)
    fw.register({"10.93.0.1": ["corp.scanner", "corp.pci"]})
    categories = dict(("K%02d" % i, "v") for i in range(32))
    [vm] = prism.seed_vms(1, "full", categories, first_ip="10.93.0.1")
    svc = services(panos_config(tmp_path, prism, [target(firewall)], queue=ONE_BATCH, reconcile_minutes=60))
    wait_for(lambda: counter(svc, "netevents_listener_panos_reconciles_total", result="ok") == 1,
             message="the reconcile at start went through")
    ours = set("ntnx.K%02d.v" % i for i in range(30))
    assert fw.registered_ips() == {"10.93.0.1": ours | {"corp.scanner", "corp.pci"}}
    post(svc, envelope(vm, "VM.ON"))                      # the event path keeps to the same room
    drained(svc)
    assert fw.registered_ips() == {"10.93.0.1": ours | {"corp.scanner", "corp.pci"}}
    assert svc.queue.dead_letters() == []
    skipped = warnings(caplog, "IP 10.93.0.1 (VM %s) can hold 32 tags (2 of them other systems'): 2 left out: "
                               "ntnx.K30.v, ntnx.K31.v" % vm)
    assert len(skipped) == 2, skipped                     # the reconcile's and the event's


def test_a_tag_lease_is_renewed_by_the_reconcile(tmp_path, prism, firewall, services):
    """tag_timeout 600 s, a reconcile every 5 minutes: the simulator's clock moves on, the plugin's too."""
    fw = FirewallApi(firewall)
    vms = prism.seed_vms(2, "leased", {"AppTier": "Web"}, first_ip="10.94.0.1")
    svc = services(panos_config(tmp_path, prism, [target(firewall)], options={"tag_timeout": 600},
                                reconcile_minutes=5))

    def reconciles():
        return counter(svc, "netevents_listener_panos_reconciles_total", result="ok")
    wait_for(lambda: reconciles() == 1, message="the reconcile at start")
    leased = {"10.94.0.1": {WEB}, "10.94.0.2": {WEB}}
    assert fw.registered_ips() == leased
    post(svc, envelope(vms[0], "VM.ON"))
    drained(svc)

    firewall.advance_clock(400)
    offset = [0.0]
    svc.plugin.clock = lambda: time.time() + offset[0]
    offset[0] = 301.0                                     # the plugin's next reconcile is due
    wait_for(lambda: reconciles() == 2, message="the periodic reconcile")
    firewall.advance_clock(300)                           # 700 s after the first registration: renewed at 400
    assert fw.registered_ips() == leased
    firewall.advance_clock(301)                           # no reconcile since: the lease ends
    assert fw.registered_ips() == {}


def test_the_capacity_option_and_the_lease_are_checked(tmp_path):
    write_secret(str(tmp_path / "fw_password"), "x-password")
    options = {"targets": [{"ip_address": "fw1", "password_file": "fw_password", "registered_ip_capacity": 0}],
               "registered_ip_capacity": "many", "tag_timeout": 3600}
    with pytest.raises(ConfigError) as info:
        load_config(make_config(tmp_path, plugin={"name": "panos", "options": options}, extra={
            "prism": {"host": "127.0.0.1", "username": "u", "password_file": "fw_password"},
            "reconcile": {"interval_minutes": 45}}))
    text = "\n".join(info.value.errors)
    for expected in ("plugin.options: targets[0].registered_ip_capacity: must be between 1 and 10000000, got 0",
                     "plugin.options: registered_ip_capacity: must be an integer",
                     "plugin.options: tag_timeout: registered tags that expire need the reconcile to renew them: "
                     "set reconcile.interval_minutes to at most half of tag_timeout (3600 s)"):
        assert expected in text, text


def test_an_address_object_gets_at_most_64_tags(tmp_path, prism, firewall, services, caplog):
    caplog.set_level(logging.INFO, logger=PANOS_LOG)
    categories = dict(("K%02d" % i, "v") for i in range(70))
    [vm] = prism.seed_vms(1, "objects", categories, first_ip="10.95.0.1")
    svc = services(panos_config(tmp_path, prism, [target(firewall)], options={"mode": "address-object"},
                                queue=ONE_BATCH))
    post(svc, envelope(vm, "VM.ON"))
    drained(svc)
    assert FirewallApi(firewall).address_objects() == {
        "ntnx-vm-10.95.0.1": ("10.95.0.1", set("ntnx.K%02d.v" % i for i in range(64)))}
    [warning] = warnings(caplog, "has 70 tags")
    assert "more than the 64 PAN-OS holds per address object: 6 left out: ntnx.K64.v" in warning
    assert counter(svc, "netevents_listener_panos_registered_ip_capacity") == 0    # no registered IPs here
