"""The poll source (netevents_listener/poller.py): the listener reads Prism itself and queues what changed.

Against the Prism and PAN-OS simulators: every outcome is read back from the firewall through its XML API, and which
API the listener used from the Prism simulator's own call counters (minus the test's own calls, counted on its
session). In-process listeners poll every 0.2 s (below the configurable minimum of 5 s, so that tests need not wait);
the listener process keeps the configured interval.
"""
import collections
import json
import sqlite3

import pytest

from listener_helpers import make_config, wait_for, write_secret
from ansible_collections.netevents.nutanix.plugins.module_utils.events import VmState, parse_event
from ansible_collections.netevents.nutanix.plugins.module_utils.prism import PrismClient
from netevents_listener import ConfigError
from netevents_listener.config import load_config
from netevents_listener.metrics import Metrics
from netevents_listener.poller import Poller, differences, event_body, state_text, vm_record
from netevents_listener.service import Service
from netevents_listener.store import EventQueue
from panos_helpers import (PRISM_PASSWORD, PRISM_USER, FirewallApi, counter, create_vm, panos_config, prism_client,
                           set_categories, set_power, start_prism, subscribe, target)

WEB, DB = "ntnx.AppTier.Web", "ntnx.AppTier.DB"


def api_of(path):
    return "v3" if path.startswith("/api/nutanix/") else "v4" if path.startswith("/api/") else "other"


def admin(prism):
    """The test's own Prism client; ``own`` counts its calls by API, to tell them from the listener's."""
    client = prism_client(prism)
    client.own = collections.Counter()

    def count(response, *_args, **_kwargs):
        client.own[api_of(response.request.path_url)] += 1
        return response
    client.session.hooks["response"].append(count)
    return client


def listener_calls(prism, client):
    """{api: calls} the listener made: what the simulator counted, less the test's own."""
    by_api = prism.stats()["calls_by_api"]
    return dict((api, by_api.get(api, 0) - client.own[api]) for api in ("v3", "v4"))


def scaffold(fw):
    fw.add_dynamic_group("web", "'%s'" % WEB)
    fw.add_dynamic_group("db", "'%s'" % DB)
    fw.commit()


@pytest.fixture
def polling():
    """Factory: an in-process listener from a config file, polling every *interval* seconds."""
    started = []

    def start(path, interval=0.2):
        config = load_config(path)
        config.prism.poll_interval_s = interval
        svc = Service(config).start()
        started.append(svc)
        return svc
    yield start
    for svc in started:
        svc.stop(timeout=10)


def cycles_after(svc, count):
    """Wait until the service's poller has run *count* more cycles than now (so it saw what is there)."""
    poller = svc.pollers[0]
    target_cycles = poller.cycles + count
    wait_for(lambda: poller.cycles >= target_cycles, timeout=30, message="%d more poll cycles" % count)


def poll_events(svc, event_type=None):
    labels = {"event_type": event_type} if event_type else {}
    return counter(svc, "netevents_listener_poll_events_total", **labels)


# --- configuration -----------------------------------------------------------------------------------------------

def prism_doc(tmp_path, **keys):
    write_secret(str(tmp_path / "prism_password"), PRISM_PASSWORD)
    return dict({"host": "127.0.0.1", "username": PRISM_USER, "password_file": "prism_password"}, **keys)


def config_errors(tmp_path, prism=None, listener=None):
    with pytest.raises(ConfigError) as info:
        load_config(make_config(tmp_path, listener=listener, extra={"prism": prism}))
    return info.value.errors


def test_the_prism_section_defaults_to_both_sources_auto_api_and_30_seconds(tmp_path):
    config = load_config(make_config(tmp_path, extra={"prism": prism_doc(tmp_path)}))
    assert (config.prism.source, config.prism.api, config.prism.poll_interval_s, config.prism.api_key) == (
        "both", "auto", 30, None)
    assert config.listener.receive_webhooks is True


def test_bad_source_api_and_interval_are_named(tmp_path):
    found = config_errors(tmp_path, prism_doc(tmp_path, source="pull", api="v5", poll_interval_s=2))
    assert "prism.source: must be one of webhook, poll, both, got 'pull'" in found
    assert "prism.api: must be one of auto, v3, v4, got 'v5'" in found
    assert "prism.poll_interval_s: must be between 5 and 3600, got 2" in found
    [found] = config_errors(tmp_path, prism_doc(tmp_path, poll_interval_s="30s"))
    assert found == "prism.poll_interval_s: must be an integer, got a string"


def test_an_api_key_replaces_the_user_name_and_password(tmp_path):
    write_secret(str(tmp_path / "api_key"), "k3y-0f-a-s3rvice-acc0unt")
    config = load_config(make_config(tmp_path, extra={"prism": {"host": "pc", "api_key_file": "api_key",
                                                                "source": "poll", "api": "v4"}}))
    assert config.prism.api_key.reveal() == "k3y-0f-a-s3rvice-acc0unt" and config.prism.password is None
    assert "k3y" not in repr(config.prism.api_key)
    [both] = config_errors(tmp_path, prism_doc(tmp_path, api_key_file="api_key"))
    assert both == "prism: give username and password_file, or api_key_file, not both"
    [neither] = config_errors(tmp_path, {"host": "pc"})
    assert neither == "prism: missing required username (with password_file), or api_key_file (a Prism Central API key)"
    [inline] = config_errors(tmp_path, {"host": "pc", "api_key": "inline"})
    assert inline.startswith("prism.api_key: secrets are not accepted in the configuration file")


def test_a_poll_only_listener_needs_no_webhook_credentials_and_serves_no_webhook_path(tmp_path):
    no_auth = {"username": None, "password_file": None}
    # Prism still delivers webhooks (source both): the receiver must authenticate them.
    [found] = config_errors(tmp_path, prism_doc(tmp_path), listener=no_auth)
    assert found.startswith("listener: missing required username and password_file (basic auth), or path_token_file")
    config = load_config(make_config(tmp_path, listener=no_auth, extra={"prism": prism_doc(tmp_path, source="poll")}))
    assert config.listener.receive_webhooks is False
    from netevents_listener.app import create_app
    app = create_app(config.listener, None, Metrics(), lambda: {"ok": True})
    client = app.test_client()
    assert client.post("/listener/callback", json={"event_type": "VM.ON"}).status_code == 404
    assert client.get("/healthz").status_code == 200


# --- what a cycle finds ----------------------------------------------------------------------------------------------

def test_differences_name_each_change_by_the_event_it_means_and_bodies_parse_as_webhooks():
    def state(power="ON", ips=("10.0.0.1",), cats=None):
        return VmState("u1", "web", power, ips, cats or {"AppTier": "Web"}, "c1", "cluster-1")
    seen = {"u1": state_text(vm_record(state()))}
    gone_text = state_text(vm_record(VmState("u2", "old", "ON", ("10.0.0.2",), {"AppTier": "DB"})))
    cases = [(state(), []), (state(power="OFF"), ["VM.OFF"]), (state(ips=("10.0.0.9",)), ["VM.UPDATE"]),
             (state(cats={"AppTier": "DB"}), ["VM.UPDATE"])]
    for current, expected in cases:
        events, _seen, _gone = differences(seen, {"u1": current})
        assert [e[1] for e in events] == expected
    off = {"u1": state_text(vm_record(state(power="OFF")))}
    assert [e[1] for e in differences(off, {"u1": state()})[0]] == ["VM.ON"]
    events, new, gone = differences(dict(seen, u2=gone_text), {"u1": state(), "u3": state()})
    assert [(e[0], e[1]) for e in events] == [("u3", "VM.CREATE"), ("u2", "VM.DELETE")] and gone == ["u2"]
    assert list(new) == ["u3"]
    # The first cycle (nothing seen yet) announces each VM once with its present state.
    assert [e[1] for e in differences({}, {"u1": state()})[0]] == ["VM.UPDATE"]
    # What the dispatcher and the plugins read from each body: the whole state, the DELETE's from before.
    vm = parse_event(json.loads(event_body("u1", "VM.ON", vm_record(state()))))
    assert (vm.vm_uuid, vm.vm_name, vm.power_state, vm.ips, vm.categories, vm.cluster_uuid, vm.cluster_name) == (
        "u1", "web", "ON", ("10.0.0.1",), {"AppTier": "Web"}, "c1", "cluster-1")
    deleted = parse_event(json.loads([e for e in events if e[1] == "VM.DELETE"][0][2]))
    assert (deleted.action, deleted.ips, deleted.categories) == ("unregister", ("10.0.0.2",), {"AppTier": "DB"})
    bare = parse_event(json.loads(event_body("u1", "VM.UPDATE", vm_record(VmState("u1", None, "ON")))))
    assert (bare.ips, bare.categories) == (None, {})   # no address: none (the plugin reads it as such for poll events)


def test_events_and_the_last_seen_state_are_written_together_or_not_at_all(tmp_path):
    queue = EventQueue(str(tmp_path / "queue.db"))
    events, seen, gone = differences({}, {"u1": VmState("u1", "a", "ON", ("10.0.0.1",), {"A": "b"})})
    # A failure inside the transaction (here a trigger; in life a full disk): neither the event nor the state.
    queue._db.execute("CREATE TRIGGER refuse BEFORE INSERT ON poll_state BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(sqlite3.IntegrityError):
        queue.record_poll("default", events, seen, gone)
    assert queue.depth() == 0 and queue.poll_state("default") == {}
    queue._db.execute("DROP TRIGGER refuse")
    [event_id] = queue.record_poll("default", events, seen, gone)
    [stored] = queue.pending()
    assert (stored.id, stored.origin, stored.event_type) == (event_id, "poll", "VM.UPDATE")
    assert queue.poll_state("default") == seen and queue.poll_state("other") == {}
    queue.close()


def test_a_poll_event_keeps_its_origin_through_the_dead_letters_and_back(tmp_path):
    queue = EventQueue(str(tmp_path / "queue.db"))
    [event_id] = queue.record_poll("default", *differences({}, {"u1": VmState("u1", "a", "ON", ("10.0.0.1",))}))
    queue.finish(dead=[(event_id, "refused")])
    [dead] = queue.dead_letters()
    assert (dead.id, dead.origin) == (event_id, "poll")
    assert queue.requeue() == [event_id] and [e.origin for e in queue.pending()] == ["poll"]
    queue.close()


def test_a_queue_file_from_before_the_origin_column_keeps_its_events(tmp_path):
    path = str(tmp_path / "queue.db")
    db = sqlite3.connect(path)
    db.executescript("""CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, vm_uuid TEXT NOT NULL,
        event_type TEXT NOT NULL, body BLOB NOT NULL, body_sha256 TEXT NOT NULL, received_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL, last_error TEXT);
        INSERT INTO events (vm_uuid, event_type, body, body_sha256, received_at, next_attempt_at)
        VALUES ('u1', 'VM.ON', X'7B7D', 'x', 1, 1);""")
    db.close()
    queue = EventQueue(path)
    [old] = queue.pending()
    assert (old.vm_uuid, old.origin) == ("u1", "webhook")
    queue.enqueue("u2", "VM.ON", b"{}", origin="poll")
    assert [e.origin for e in queue.pending()] == ["webhook", "poll"]
    queue.close()


# --- the listener polling the simulators ----------------------------------------------------------------------------

def test_poll_mode_converges_the_firewall_with_v4_calls_only(tmp_path, firewall, polling):
    """A Prism Central without v3 webhooks: no delivery can come; the poll alone follows every change."""
    prism = start_prism(v3_webhooks=False)
    try:
        fw = FirewallApi(firewall)
        scaffold(fw)
        client = admin(prism)
        before = create_vm(client, "old-web", "10.20.0.4", {"AppTier": "Web"})   # there before the listener
        svc = polling(panos_config(tmp_path, prism, [target(firewall)], prism_extra={"source": "poll", "api": "v4"}))
        wait_for(lambda: fw.group_members("web") == {"10.20.0.4"}, message="the first cycle announced old-web")

        vm = create_vm(client, "web-01", "10.20.0.5", {"AppTier": "Web"})
        wait_for(lambda: fw.group_members("web") == {"10.20.0.4", "10.20.0.5"}, message="web-01 in group web")
        set_categories(client, vm, {"AppTier": "DB"})
        wait_for(lambda: fw.group_members("db") == {"10.20.0.5"} and fw.group_members("web") == {"10.20.0.4"},
                 message="web-01 moved from web to db")
        set_power(client, vm, "OFF")
        wait_for(lambda: "10.20.0.5" not in fw.registered_ips(), message="web-01's tags unregistered at power off")
        set_power(client, vm, "ON")
        wait_for(lambda: fw.group_members("db") == {"10.20.0.5"}, message="web-01 back in db")
        client.delete_vm(before)
        wait_for(lambda: "10.20.0.4" not in fw.registered_ips(), message="old-web's tags gone after its deletion")
        cycles_after(svc, 2)
        assert prism.stats()["deliveries"] == 0
        calls = listener_calls(prism, client)
        assert calls["v3"] == 0 and calls["v4"] >= svc.pollers[0].cycles, calls
        assert poll_events(svc, "VM.UPDATE") == 2      # the first cycle's old-web, then the category change
        assert (poll_events(svc, "VM.CREATE"), poll_events(svc, "VM.OFF"), poll_events(svc, "VM.ON"),
                poll_events(svc, "VM.DELETE")) == (1, 1, 1, 1)
        health = svc.status()
        assert health["ok"] and health["poll"]["default"]["failures"] == 0 and health["dead_letters"] == 0
    finally:
        prism.stop()


def test_a_change_made_while_the_poll_listener_was_stopped_is_applied_after_it_starts(tmp_path, firewall, polling):
    prism = start_prism(v3_webhooks=False)
    try:
        fw = FirewallApi(firewall)
        scaffold(fw)
        client = admin(prism)
        a = create_vm(client, "a", "10.40.0.1", {"AppTier": "Web"})
        b = create_vm(client, "b", "10.40.0.2", {"AppTier": "DB"})
        path = panos_config(tmp_path, prism, [target(firewall)], prism_extra={"source": "poll"})
        first = polling(path)
        wait_for(lambda: fw.group_members("web") == {"10.40.0.1"} and fw.group_members("db") == {"10.40.0.2"},
                 message="both VMs registered")
        first.stop(timeout=10)

        set_categories(client, a, {"AppTier": "DB"})
        set_power(client, b, "OFF")
        second = polling(path)
        wait_for(lambda: fw.group_members("db") == {"10.40.0.1"} and fw.group_members("web") == set(),
                 message="a moved to db and b unregistered")
        cycles_after(second, 2)
        # Restarted with its last-seen state: only the two changes, nothing re-announced.
        assert (poll_events(second), poll_events(second, "VM.UPDATE"), poll_events(second, "VM.OFF")) == (2, 1, 1)
        assert "10.40.0.2" not in fw.registered_ips()
    finally:
        prism.stop()


def test_auto_against_a_v3_only_prism_polls_through_v3(tmp_path, firewall, polling):
    prism = start_prism(v4_versions=())
    try:
        fw = FirewallApi(firewall)
        scaffold(fw)
        client = admin(prism)
        svc = polling(panos_config(tmp_path, prism, [target(firewall)], prism_extra={"source": "poll"}))
        vm = create_vm(client, "web-01", "10.50.0.5", {"AppTier": "Web"})
        wait_for(lambda: fw.group_members("web") == {"10.50.0.5"}, message="web-01 in group web")
        set_power(client, vm, "OFF")
        wait_for(lambda: "10.50.0.5" not in fw.registered_ips(), message="web-01 unregistered")
        discovery = listener_calls(prism, client)["v4"]
        cycles_after(svc, 3)
        calls = listener_calls(prism, client)
        # v4 was looked for once per client (the poller's, the plugin's), then every cycle listed VMs through v3.
        assert calls["v4"] == discovery and 0 < discovery <= 2 * 5, calls
        assert calls["v3"] >= svc.pollers[0].cycles
    finally:
        prism.stop()


def test_a_failing_prism_is_backed_off_and_the_poll_recovers(tmp_path, prism):
    """Prism refusing the credentials: one call per cycle, each cycle after a longer wait, capped; no event."""
    queue = EventQueue(str(tmp_path / "queue.db"))
    metrics = Metrics()
    config = load_config(make_config(tmp_path, extra={"prism": prism_doc(tmp_path, poll_interval_s=30)}))
    client = PrismClient(prism.host, port=prism.port, username=PRISM_USER, password="wrong-password",
                         ca_path=prism.cert_path)
    waits = []

    def wait(seconds):
        waits.append(seconds)
        if len(waits) == 7:
            poller.stop()
    poller = Poller(config.prism, queue, metrics, client=client, wait=wait)
    poller.run()      # in this thread: cycle, wait, cycle ...
    assert waits == [60, 120, 240, 300, 300, 300, 300]
    assert sum(prism.stats()["calls"].values()) == 7          # one refused call per cycle, no retry loop
    assert counter_value(metrics, "netevents_listener_poll_failures_total") == 7
    assert "401" in poller.last_error and "wrong-password" not in poller.last_error
    assert queue.depth() == 0
    # Prism accepts the credentials again: the next cycle works, and the wait is the interval again.
    client.session.auth = (PRISM_USER, PRISM_PASSWORD)
    assert 0 < poller.cycle() <= 30 and poller.failures == 0
    queue.close()


def counter_value(metrics, name):
    return sum(s.value for family in metrics.registry.collect() for s in family.samples if s.name == name)


def test_both_sources_catch_a_change_made_while_the_listener_process_was_down(tmp_path, listener_process, prism,
                                                                              firewall):
    """Source both, as deployed: webhooks while it runs; the delivery Prism makes while it is down fails (and is
    never made again), and the first poll cycle after the start applies the change."""
    fw = FirewallApi(firewall)
    scaffold(fw)
    client = admin(prism)
    path = panos_config(tmp_path, prism, [target(firewall)], prism_extra={"source": "both", "poll_interval_s": 5})
    server = listener_process(path).start()
    subscribe(client, server.url)
    vm = create_vm(client, "web-01", "10.60.0.5", {"AppTier": "Web"})
    wait_for(lambda: fw.group_members("web") == {"10.60.0.5"}, message="web-01 in group web")
    wait_for(lambda: server_metric(server, "netevents_listener_poll_events_total") >= 1, timeout=30,
             message="the poll saw web-01 too")
    assert server.stop() == 0

    set_categories(client, vm, {"AppTier": "DB"})
    prism.wait_idle(30)
    assert prism.deliveries[-1]["event_type"] == "VM.UPDATE" and prism.deliveries[-1]["error"], prism.deliveries[-1]
    server = listener_process(path).start()
    wait_for(lambda: fw.group_members("db") == {"10.60.0.5"} and fw.group_members("web") == set(), timeout=30,
             message="web-01 moved to db after the start")
    assert server_metric(server, 'netevents_listener_poll_events_total{event_type="VM.UPDATE",prism="default"}') == 1
    assert server.get("/healthz").json()["poll"]["default"]["failures"] == 0
    assert server.stop() == 0


def server_metric(server, name):
    """The sum of the samples of *name* on /metrics; a name with labels ({...}, sorted by name, as served) matches
    that one sample."""
    total = 0.0
    for line in server.get("/metrics").text.splitlines():
        if line.startswith(name + " ") or ("{" not in name and line.startswith(name + "{")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_check_config_says_how_each_prism_is_read(tmp_path):
    from listener_helpers import cli
    path = make_config(tmp_path, listener={"username": None, "password_file": None},
                       extra={"prism": prism_doc(tmp_path, source="poll", api="v4", poll_interval_s=60)})
    done = cli(path, "check-config")
    assert done.returncode == 0, done.stderr
    assert "  no webhook path: every Prism is polled (/healthz and /metrics only)\n" in done.stdout
    assert "  prism 127.0.0.1:9440, api v4, source poll, polled every 60s\n" in done.stdout
