"""One listener, two Prism Centrals, one firewall (docs/multi-prism.md): each delivery is attributed to the Prism
whose path token it carries, read from that Prism and tagged with its name and the VM's cluster; each Prism's
reconcile touches its own registrations only. Two Prism simulators with clusters of their own, one PAN-OS
simulator; outcomes are read from the firewall's XML API."""
import json
import os
import sqlite3

import pytest
import yaml

from listener_helpers import envelope, make_config, wait_for, write_secret
from panos_helpers import (FW_PASSWORD, HEADERS, PRISM_PASSWORD, FirewallApi, counter, drained, prism_client,
                           start_prism, target)
from netevents_listener import ConfigError
from netevents_listener.app import create_app
from netevents_listener.config import load_config
from netevents_listener.metrics import Metrics
from netevents_listener.plugins.panos.state import Desired, Record, StateDb
from netevents_listener.store import EventQueue

EAST_TOKEN = "east-" + "E" * 40
WEST_TOKEN = "west-" + "W" * 40


@pytest.fixture
def east():
    sim = start_prism(name="pc-east", clusters=["east-1", "east-2"], updates_after_create=())
    yield sim
    sim.stop()


@pytest.fixture
def west():
    sim = start_prism(name="pc-west", clusters=["west-1"], updates_after_create=())
    yield sim
    sim.stop()


def prism_entry(name, sim, token_file):
    return {"name": name, "host": sim.host, "port": sim.port, "username": "netevents-svc",
            "password_file": "prism_password", "ca_path": sim.cert_path, "path_token_file": token_file}


def multi_config(directory, east, west, firewall, options=None, reconcile_minutes=60):
    directory = str(directory)
    write_secret(os.path.join(directory, "prism_password"), PRISM_PASSWORD)
    write_secret(os.path.join(directory, "fw_password"), FW_PASSWORD)
    write_secret(os.path.join(directory, "east_token"), EAST_TOKEN)
    write_secret(os.path.join(directory, "west_token"), WEST_TOKEN)
    plugin_options = dict({"targets": [target(firewall)], "tag_format": "panorama-plugin"}, **(options or {}))
    return make_config(
        directory, plugin={"name": "panos", "options": plugin_options},
        queue={"batch_window_ms": 50, "backoff_initial_s": 0.1, "backoff_max_s": 0.5, "max_attempts": 50},
        extra={"prism": [prism_entry("east", east, "east_token"), prism_entry("west", west, "west_token")],
               "reconcile": {"interval_minutes": reconcile_minutes}})


def deliver(svc, token, body, expect=200):
    response = svc.app.test_client().post("/listener/callback/" + token, data=json.dumps(body), headers=HEADERS)
    assert response.status_code == expect, response.get_data(as_text=True)
    return response.get_json()


def reconciles(svc):
    return counter(svc, "netevents_listener_panos_reconciles_total", result="ok")


def reconcile_now(svc, prism):
    """Have the dispatcher thread run *prism*'s reconcile now (as its schedule would), and wait for it."""
    before = reconciles(svc)
    svc.plugin._reconciles[prism].next_at = 0.0  # pylint: disable=protected-access
    wait_for(lambda: reconciles(svc) > before, message="the reconcile of %s" % prism)


def tag(pc, cluster, category="AppTier", value="Web"):
    return "ntnx.PC-%s.CL-%s.%s.%s" % (pc, cluster, category, value)


def started(tmp_path, east, west, firewall, services, **kwargs):
    svc = services(multi_config(tmp_path, east, west, firewall, **kwargs))
    wait_for(lambda: reconciles(svc) >= 2, message="the reconcile of both Prisms at start")
    drained(svc)
    return svc


def test_every_vm_is_tagged_with_its_own_prism_and_cluster(tmp_path, east, west, firewall, services):
    ea, wa = prism_client(east), prism_client(west)
    e1 = ea.new_vm("web-e1", ["10.1.0.1"], {"AppTier": "Web"}, cluster="east-1")
    ea.new_vm("db-e2", ["10.1.0.2"], {"AppTier": "Db"}, cluster="east-2")
    wa.new_vm("web-w1", ["10.2.0.1"], {"AppTier": "Web"}, cluster="west-1")
    svc = started(tmp_path, east, west, firewall, services)
    fw = FirewallApi(firewall)
    assert fw.registered_ips() == {"10.1.0.1": {tag("east", "east-1")}, "10.1.0.2": {tag("east", "east-2", value="Db")},
                                   "10.2.0.1": {tag("west", "west-1")}}
    # Events, each with its own Prism's token: read from that Prism.
    e3 = ea.new_vm("app-e3", ["10.1.0.3"], {"AppTier": "App"}, cluster="east-2")
    w2 = wa.new_vm("app-w2", ["10.2.0.2"], {"AppTier": "App"}, cluster="west-1")
    deliver(svc, EAST_TOKEN, envelope(e3, "VM.CREATE"))
    deliver(svc, WEST_TOKEN, envelope(w2, "VM.CREATE"))
    east.migrate_vm(e1, cluster="east-2")
    deliver(svc, EAST_TOKEN, envelope(e1, "VM.MIGRATE"))
    drained(svc)
    assert fw.registered_ips() == {
        "10.1.0.1": {tag("east", "east-2")}, "10.1.0.2": {tag("east", "east-2", value="Db")},
        "10.1.0.3": {tag("east", "east-2", value="App")},
        "10.2.0.1": {tag("west", "west-1")}, "10.2.0.2": {tag("west", "west-1", value="App")}}
    assert set(e.prism for e in svc.queue.dead_letters()) == set()


def test_a_reconcile_of_one_prism_leaves_the_others_registrations_untouched(tmp_path, east, west, firewall,
                                                                            services):
    ea, wa = prism_client(east), prism_client(west)
    e1 = ea.new_vm("web-e1", ["10.1.0.1"], {"AppTier": "Web"}, cluster="east-1")
    w1 = wa.new_vm("web-w1", ["10.2.0.1"], {"AppTier": "Web"}, cluster="west-1")
    svc = started(tmp_path, east, west, firewall, services)
    fw = FirewallApi(firewall)
    # Changes no event told the listener of: a VM gone from east, one of west moved to Db; and a stale tag of
    # west's on the firewall (left by an earlier run).
    east.vms.pop(e1)
    wa.set_categories(w1, {"AppTier": "Db"})
    fw.register({"10.2.0.9": [tag("west", "west-1")]})
    reconcile_now(svc, "east")
    assert fw.registered_ips() == {"10.2.0.1": {tag("west", "west-1")}, "10.2.0.9": {tag("west", "west-1")}}
    reconcile_now(svc, "west")
    assert fw.registered_ips() == {"10.2.0.1": {tag("west", "west-1", value="Db")}}
    # Another round changes nothing.
    calls = counter(svc, "netevents_listener_panos_userid_calls_total")
    reconcile_now(svc, "east")
    reconcile_now(svc, "west")
    assert counter(svc, "netevents_listener_panos_userid_calls_total") == calls
    assert fw.registered_ips() == {"10.2.0.1": {tag("west", "west-1", value="Db")}}


def test_a_delivery_with_one_prisms_token_about_a_vm_of_another_changes_nothing(tmp_path, east, west, firewall,
                                                                                services):
    wa = prism_client(west)
    w1 = wa.new_vm("web-w1", ["10.2.0.1"], {"AppTier": "Web"}, cluster="west-1")
    svc = started(tmp_path, east, west, firewall, services)
    fw = FirewallApi(firewall)
    before = fw.registered_ips()
    assert before == {"10.2.0.1": {tag("west", "west-1")}}
    unknown = counter(svc, "netevents_listener_panos_vms_unknown_total")
    # East's token, west's VM: a delete (that would unregister it) and an ON claiming other categories.
    deliver(svc, EAST_TOKEN, envelope(w1, "VM.DELETE", ip="10.2.0.1"))
    deliver(svc, EAST_TOKEN, envelope(w1, "VM.ON", ip="10.2.0.1", categories={"AppTier": "Admin"}))
    drained(svc)
    assert fw.registered_ips() == before
    assert counter(svc, "netevents_listener_panos_vms_unknown_total") == unknown + 2
    assert counter(svc, "netevents_listener_events_applied_total") >= 2
    # A wrong token is refused outright.
    deliver(svc, "x" * 45, envelope(w1, "VM.DELETE"), expect=401)


def test_the_same_ip_reported_by_both_carries_both_tags_and_does_not_flap(tmp_path, east, west, firewall, services):
    ea, wa = prism_client(east), prism_client(west)
    primary = ea.new_vm("web-01", ["10.9.0.5"], {"AppTier": "Web"}, cluster="east-1")
    replica = wa.new_vm("web-01", ["10.9.0.5"], {"AppTier": "Web"}, cluster="west-1")
    svc = started(tmp_path, east, west, firewall, services)
    fw = FirewallApi(firewall)
    both = {"10.9.0.5": {tag("east", "east-1"), tag("west", "west-1")}}
    assert fw.registered_ips() == both
    # Each Prism's reconcile in turn changes nothing: no flapping.
    calls = counter(svc, "netevents_listener_panos_userid_calls_total")
    for prism in ("east", "west", "east"):
        reconcile_now(svc, prism)
        assert fw.registered_ips() == both
    assert counter(svc, "netevents_listener_panos_userid_calls_total") == calls
    # The primary site powers its copy off: its tag goes, the replica's stays.
    ea.set_power_state(primary, "OFF")
    ea.wait_for_vm(primary)
    deliver(svc, EAST_TOKEN, envelope(primary, "VM.OFF"))
    drained(svc)
    assert fw.registered_ips() == {"10.9.0.5": {tag("west", "west-1")}}
    reconcile_now(svc, "west")
    reconcile_now(svc, "east")
    assert fw.registered_ips() == {"10.9.0.5": {tag("west", "west-1")}}
    assert replica


def test_each_delivery_is_queued_with_the_prism_whose_token_it_carries(tmp_path):
    config = config_errors(tmp_path, [entry("east", "t1"), entry("west", "t2")])
    queue = EventQueue(str(tmp_path / "q.db"))
    app = create_app(config.listener, queue, Metrics(), lambda: {"ok": True}, prisms=config.prisms)
    client = app.test_client()
    vm = "11111111-1111-4111-8111-111111111111"
    for token in ("a" * 40, "b" * 40, "a" * 40):
        response = client.post("/listener/callback/" + token, data=json.dumps(envelope(vm, "VM.ON")), headers=HEADERS)
        assert response.status_code == 200, response.get_data(as_text=True)
    # The same body from two Prisms is two events (dedupe is per Prism and VM); east's repeat is a duplicate.
    assert response.get_json() == {"status": "duplicate"}
    assert [(e.prism, e.vm_uuid) for e in queue.pending()] == [("east", vm), ("west", vm)]
    # One event per (Prism, VM) at a time: both heads are ready together.
    assert [e.prism for e in queue.ready(10)] == ["east", "west"]
    for token, status in (("c" * 40, 401), ("", 401)):
        response = client.post("/listener/callback/" + token, data=json.dumps(envelope(vm)), headers=HEADERS)
        assert response.status_code == status
    queue.close()


def test_a_queue_file_of_an_earlier_listener_is_migrated(tmp_path):
    path = str(tmp_path / "old.db")
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, vm_uuid TEXT NOT NULL, event_type TEXT NOT NULL,
            body BLOB NOT NULL, body_sha256 TEXT NOT NULL, received_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL, last_error TEXT);
        CREATE TABLE dead_letters (id INTEGER PRIMARY KEY, vm_uuid TEXT NOT NULL, event_type TEXT NOT NULL,
            body BLOB NOT NULL, body_sha256 TEXT NOT NULL, received_at REAL NOT NULL, attempts INTEGER NOT NULL,
            last_error TEXT, dead_at REAL NOT NULL);
        CREATE TABLE last_seen (vm_uuid TEXT PRIMARY KEY, body_sha256 TEXT NOT NULL, received_at REAL NOT NULL);
        INSERT INTO events (vm_uuid, event_type, body, body_sha256, received_at, next_attempt_at)
            VALUES ('vm-old', 'VM.ON', X'7B7D', 'x', 1, 1);
        PRAGMA user_version=1;
    """)
    db.close()
    queue = EventQueue(path)
    [old] = queue.pending()
    assert (old.vm_uuid, old.prism, old.origin) == ("vm-old", None, "webhook")
    assert queue.enqueue("vm-old", "VM.OFF", b"{}", prism="east") is not None
    assert [(e.vm_uuid, e.prism) for e in queue.pending()] == [("vm-old", None), ("vm-old", "east")]
    queue.finish(dead=[(old.id, "test")])
    assert [e.prism for e in queue.dead_letters()] == [None]
    queue.close()


# --- the configuration --------------------------------------------------------------------------------------

def config_errors(tmp_path, prisms, options=None, listener=None):
    directory = str(tmp_path)
    for name in ("p", "t1", "t2", "fw"):
        write_secret(os.path.join(directory, name), {"t1": "a" * 40, "t2": "b" * 40}.get(name, "secret-value"))
    plugin = {"name": "panos", "options": dict({"targets": [{"ip_address": "127.0.0.1", "password_file": "fw"}],
                                                "tag_format": "panorama-plugin"}, **(options or {}))}
    path = make_config(directory, plugin=plugin, listener=listener, extra={"prism": prisms})
    try:
        return load_config(path)
    except ConfigError as e:
        return e.errors


def entry(name=None, token="t1", **extra):
    out = {"host": "127.0.0.1", "username": "u", "password_file": "p"}
    if name is not None:
        out["name"] = name
    if token is not None:
        out["path_token_file"] = token
    out.update(extra)
    return out


def test_a_list_of_named_prisms(tmp_path):
    config = config_errors(tmp_path, [entry("east", "t1"), entry("west", "t2", port=9441)])
    assert [p.name for p in config.prisms] == ["east", "west"] and config.prism is config.prisms[0]
    assert config.prisms[1].port == 9441 and config.prisms[1].path_token.reveal() == "b" * 40
    # The single mapping stays valid: one Prism named "default", no token needed (basic auth).
    config = config_errors(tmp_path, entry(token=None), options={"tag_format": "ntnx.{category}.{value}"})
    assert [p.name for p in config.prisms] == ["default"] and config.prism.path_token is None


@pytest.mark.parametrize("prisms, options, listener, expected", [
    ([entry(None, "t1"), entry("west", "t2")], None, None,
     ["prism[0]: missing required name (in the list form each Prism is named: the name tells its events, and its "
      "tags with {pc}, from the others')"]),
    ([entry("east", "t1"), entry("EAST", "t2")], None, None,
     ["prism[1].name: 'EAST' is already the name of prism[0] (names must differ in more than case)"]),
    ([entry("east/1", "t1")], None, None,
     ["prism[0].name: 'east/1' is not a valid Prism name: 1 to 63 letters, digits, '_', '-' and '.' (it may become "
      "part of tag names)"]),
    ([entry("east", "t1"), entry("west", None)], None, None,
     ["prism[1]: missing required path_token_file (or path_token_env): with several Prisms sending webhooks, "
      "the token in the webhook's URL says which Prism sent an event (one polled only, "
      "source: poll, needs none)"]),
    ([entry("east", "t1"), entry("west", "t1")], None, None,
     ["prism[1]: has the same path token as prism[0]: each Prism needs its own"]),
    ([entry("east", None), entry("west", None)], None, {"path_token_file": "t1"},
     ["listener: with several Prisms a listener-wide path token does not say which Prism sent an event: move it to "
      "the prism entries, one token each (prism[].path_token_file)",
      "prism[0]: missing required path_token_file (or path_token_env): with several Prisms sending webhooks, "
      "the token in the webhook's URL says which Prism sent an event (one polled only, "
      "source: poll, needs none)",
      "prism[1]: missing required path_token_file (or path_token_env): with several Prisms sending webhooks, "
      "the token in the webhook's URL says which Prism sent an event (one polled only, "
      "source: poll, needs none)"]),
    ([entry("east", "t1"), entry("west", "t2")], {"tag_format": "ntnx.{category}.{value}"}, None,
     ["plugin.options: tag_format: with several Prisms (east, west) the format must name {pc}, so that each Prism "
      "owns only its own tags: e.g. tag_format: panorama-plugin (ntnx.PC-{pc}.CL-{cluster}.{category}.{value}) or "
      "ntnx.{pc}.{category}.{value}"]),
    ([entry("east", "t1"), entry("dc.1", "t2")], None, None,
     ["plugin.options: prism[1]: name 'dc.1' may not contain '.', the character after {pc} in tag_format: its tags "
      "would start like another Prism's"]),
    ([], None, None, ["prism: must be a mapping (one Prism) or a list of Prisms, each with a name, got an empty "
                      "list"]),
])
def test_bad_prism_lists_are_refused_naming_the_entry(tmp_path, prisms, options, listener, expected):
    assert config_errors(tmp_path, prisms, options, listener) == expected


def test_a_listener_token_and_a_prism_token_together_are_refused(tmp_path):
    assert config_errors(tmp_path, entry("east", "t1"), listener={"path_token_file": "t2"}) == [
        "listener: path_token_file/path_token_env is set here and in prism: give each Prism its own "
        "(prism[].path_token_file) and none here, or one here for a single Prism"]


def test_a_polled_only_prism_needs_no_path_token(tmp_path):
    # One Prism sends webhooks, one is polled only: the listener-wide credentials can only be the sender's.
    config = config_errors(tmp_path, [entry("east", None), entry("west", None, source="poll")],
                           listener={"path_token_file": "t1"})
    assert [(p.name, p.source) for p in config.prisms] == [("east", "both"), ("west", "poll")]
    assert config.listener.receive_webhooks is True
    # Every Prism polled only and no webhook credentials: no webhook path at all.
    config = config_errors(tmp_path, [entry("east", None, source="poll"), entry("west", None, source="poll")],
                           listener={"username": None, "password_file": None})
    assert config.listener.receive_webhooks is False
    # Two senders still need a token each; the polled one does not.
    errors = config_errors(tmp_path, [entry("east", "t1"), entry("west", None), entry("north", None, source="poll")])
    assert errors == ["prism[1]: missing required path_token_file (or path_token_env): with several Prisms sending "
                      "webhooks, the token in the webhook's URL says which Prism sent an event (one polled only, "
                      "source: poll, needs none)"]


def test_a_delivery_without_a_prism_token_is_the_sending_prisms(tmp_path):
    config = config_errors(tmp_path, [entry("east", None, source="poll"), entry("west", None)],
                           listener={"path_token_file": "t1"})
    queue = EventQueue(str(tmp_path / "q.db"))
    app = create_app(config.listener, queue, Metrics(), lambda: {"ok": True}, prisms=config.prisms)
    vm = "11111111-1111-4111-8111-111111111111"
    response = app.test_client().post("/listener/callback/" + "a" * 40, data=json.dumps(envelope(vm, "VM.ON")),
                                      headers=HEADERS)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [(e.prism, e.origin) for e in queue.pending()] == [("west", "webhook")]
    queue.close()


def test_a_poll_event_is_attributed_to_its_prism_and_deduplicated_with_its_webhooks(tmp_path):
    queue = EventQueue(str(tmp_path / "q.db"))
    vm = "11111111-1111-4111-8111-111111111111"
    body = json.dumps(envelope(vm, "VM.ON")).encode()
    assert queue.enqueue(vm, "VM.ON", body, prism="east") is not None
    # The same body found by east's poll repeats east's delivery; west's poll of the same uuid is west's event.
    assert queue.record_poll("east", [(vm, "VM.ON", body)], {vm: "s"}, []) == [None]
    [west_id] = queue.record_poll("west", [(vm, "VM.ON", body)], {vm: "s"}, [])
    assert west_id is not None
    assert [(e.prism, e.origin) for e in queue.pending()] == [("east", "webhook"), ("west", "poll")]
    assert queue.poll_state("west") == {vm: "s"} and queue.poll_state("east") == {vm: "s"}
    queue.close()


def test_pc_and_cluster_with_a_single_prism(tmp_path, east, firewall, services):
    """The single mapping of today with the preset: {pc} is the Prism's name ("default" unless it says)."""
    ea = prism_client(east)
    ea.new_vm("web-e1", ["10.1.0.1"], {"AppTier": "Web"}, cluster="east-1")
    write_secret(str(tmp_path / "prism_password"), PRISM_PASSWORD)
    write_secret(str(tmp_path / "fw_password"), FW_PASSWORD)
    single = prism_entry("dc1", east, None)
    del single["path_token_file"]
    path = make_config(str(tmp_path), plugin={"name": "panos", "options": {
        "targets": [target(firewall)], "tag_format": "panorama-plugin"}},
        extra={"prism": single, "reconcile": {"interval_minutes": 60}})
    with open(path) as f:
        assert yaml.safe_load(f)["prism"]["name"] == "dc1"
    svc = services(path)
    wait_for(lambda: reconciles(svc) >= 1, message="the reconcile at start")
    assert FirewallApi(firewall).registered_ips() == {"10.1.0.1": {tag("dc1", "east-1")}}


def test_the_state_of_a_single_prism_listener_becomes_the_first_prisms(tmp_path):
    path = str(tmp_path / "panos-state.db")
    web = Record("web", ("10.1.0.1",), frozenset(["ntnx.PC-default.CL-c.AppTier.Web"]))
    db = StateDb(path)
    Desired(db).update({"vm-1": web})
    db.save("fw:443/vsys1", {"vm-1": web})
    db.close()
    db = StateDb(path)
    db.adopt("east/")
    desired = Desired(db)
    assert desired.snapshot() == {"east/vm-1": web} and db.load("fw:443/vsys1") == {"east/vm-1": web}
    # A reconcile of west replaces west's VMs only.
    db_west = Record("db", ("10.2.0.1",), frozenset(["ntnx.PC-west.CL-w.AppTier.Db"]))
    desired.update({"west/vm-9": db_west})
    desired.update({}, replace=True, prefix="west/")
    assert desired.snapshot() == {"east/vm-1": web}
    db.close()
    assert Desired(StateDb(path)).snapshot() == {"east/vm-1": web}
