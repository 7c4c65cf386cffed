"""End to end: the Prism simulator POSTs real webhooks to a running listener (``python -m netevents_listener``),
whose panos plugin drives the PAN-OS simulator. Every outcome is read back from the firewall through its XML API
(registered IPs, dynamic address group members, running configuration) or from Prism — never from the plugin.
"""
import concurrent.futures

import pytest
import requests

from listener_helpers import (WEBHOOK_PASSWORD, WEBHOOK_USER, cli, envelope, listener_env, wait_for, write_secret)
from ansible_collections.netevents.nutanix.plugins.module_utils.prism import webhook_spec
from panos_helpers import (FW_PASSWORD, PRISM_PASSWORD, VSYS1, FirewallApi, create_vm, panos_config,
                           prism_client, set_categories, set_power, start_firewall, start_prism, subscribe, target,
                           Unavailable)

WEB, DB = "ntnx.AppTier.Web", "ntnx.AppTier.DB"


def scaffold(fw):
    """What the role lays once: dynamic groups matching the plugin's tags, committed."""
    fw.add_dynamic_group("web", "'%s'" % WEB)
    fw.add_dynamic_group("db", "'%s'" % DB)
    fw.commit()


def all_delivered(prism, count):
    """Wait until Prism made *count* deliveries for the test's changes and return those (the unprompted VM.UPDATEs
    a Prism sends after each VM.CREATE come on top, whenever they fall); every delivery must have been
    acknowledged with a 200."""
    def prompted():
        return [d for d in prism.deliveries if not d["unprompted"]]
    deliveries = wait_for(lambda: len(prompted()) >= count and prompted(), timeout=30,
                          message="%d webhook deliveries" % count)
    assert [d["status_code"] for d in prism.deliveries] == [200] * len(prism.deliveries), prism.deliveries
    return deliveries


def answers(read):
    """What *read* returns, or None while the firewall refuses connections."""
    try:
        return read()
    except (requests.ConnectionError, Unavailable):
        return None


def metric(server, name):
    total = 0.0
    for line in server.get("/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_vm_lifecycle_moves_its_ip_between_dynamic_groups(tmp_path, listener_process, prism, firewall):
    fw = FirewallApi(firewall)
    scaffold(fw)
    fw.register({"10.20.0.5": ["corp.scanner"]})          # another system's tag on the same address
    firewall.reset_stats()
    server = listener_process(panos_config(tmp_path, prism, [target(firewall)])).start()
    client = prism_client(prism)
    subscribe(client, server.url)

    vm = create_vm(client, "web-01", "10.20.0.5", {"AppTier": "Web"})     # VM.CREATE + VM.ON
    wait_for(lambda: fw.group_members("web") == {"10.20.0.5"}, message="10.20.0.5 in group web")
    assert fw.group_members("db") == set()

    set_categories(client, vm, {"AppTier": "DB"})                        # VM.UPDATE
    wait_for(lambda: fw.group_members("db") == {"10.20.0.5"} and fw.group_members("web") == set(),
             message="10.20.0.5 moved from web to db")

    set_power(client, vm, "OFF")                                         # VM.OFF
    wait_for(lambda: fw.registered_ips().get("10.20.0.5") == {"corp.scanner"}, message="its tags unregistered")
    assert fw.group_members("db") == set()

    set_power(client, vm, "ON")                                          # VM.ON
    wait_for(lambda: fw.group_members("db") == {"10.20.0.5"}, message="10.20.0.5 back in db")

    client.delete_vm(vm)                                                 # VM.DELETE
    wait_for(lambda: fw.registered_ips().get("10.20.0.5") == {"corp.scanner"}, message="tags gone after delete")
    assert fw.group_members("db") == fw.group_members("web") == set()

    deliveries = all_delivered(prism, 6)
    assert [d["event_type"] for d in deliveries] == ["VM.CREATE", "VM.ON", "VM.UPDATE", "VM.OFF", "VM.ON",
                                                     "VM.DELETE"]
    stats = firewall.stats()
    assert stats["calls"].get("commit", 0) == 0 and stats["commits"] == 0   # registered-ip mode never commits
    assert 1 <= stats["calls"]["user-id"] <= 6
    assert server.get("/healthz").json()["dead_letters"] == 0
    assert server.stop() == 0


PATH_TOKEN = "hV3nK8qZ1xB6mT4wR9cL2sJ7fD0gA5pE-_yN"


def test_path_token_mode_with_prism_delivering_and_no_credentials(tmp_path, listener_process, prism, firewall):
    """A Prism that sends no basic auth: the webhook URL ends with the path token, the listener checks only that.
    Stale registrations (a wrong token, the bare URL with credentials) are refused and logged with what they carried,
    never with the token."""
    fw = FirewallApi(firewall)
    write_secret(str(tmp_path / "token"), PATH_TOKEN)
    server = listener_process(panos_config(tmp_path, prism, [target(firewall)], listener={
        "username": None, "password_file": None, "path_token_file": "token"})).start()
    client = prism_client(prism)
    for name, url, credentials in (
            ("good", server.url + "/" + PATH_TOKEN, None),
            ("stale-token", server.url + "/" + PATH_TOKEN[:-4] + "0000", None),
            ("bare", server.url, {"username": WEBHOOK_USER, "password": WEBHOOK_PASSWORD})):
        hook = client.create_webhook(webhook_spec(name, url, ["VM.ON"], credentials=credentials))
        client.wait_for_webhook(hook["metadata"]["uuid"], timeout=30)

    create_vm(client, "web-01", "10.20.0.9", {"AppTier": "Web"})
    wait_for(lambda: WEB in fw.registered_ips().get("10.20.0.9", ()), message="10.20.0.9 tagged")
    prism.wait_idle(30)
    outcomes = dict((d["post_url"], d["status_code"]) for d in prism.deliveries)
    assert outcomes == {server.url + "/" + PATH_TOKEN: 200, server.url + "/" + PATH_TOKEN[:-4] + "0000": 401,
                        server.url: 401}
    logs = server.logs()
    assert "refused unauthorized: missing or wrong credentials (auth_scheme=none path_token=wrong)" in logs
    assert "refused unauthorized: missing or wrong credentials (auth_scheme=basic path_token=missing)" in logs
    assert PATH_TOKEN not in logs and PATH_TOKEN[:-4] not in logs and WEBHOOK_PASSWORD not in logs
    assert PATH_TOKEN not in server.get("/metrics").text + server.get("/healthz").text
    assert server.stop() == 0


def test_vm_on_with_an_empty_nic_list_is_completed_from_prism(tmp_path, listener_process, firewall):
    prism = start_prism(empty_nics_on_power_on=True)
    try:
        fw = FirewallApi(firewall)
        server = listener_process(panos_config(tmp_path, prism, [target(firewall)])).start()
        client = prism_client(prism)
        subscribe(client, server.url)
        vm = create_vm(client, "db-01", "10.20.0.7", {"AppTier": "DB"}, power="OFF")   # VM.CREATE, powered off
        all_delivered(prism, 1)
        wait_for(lambda: metric(server, "netevents_listener_events_applied_total") >= 1, message="VM.CREATE applied")
        assert "10.20.0.7" not in fw.registered_ips()                  # off: nothing to register yet
        set_power(client, vm, "ON")         # VM.ON whose payload has an empty nic_list, like AOS sends
        assert [d["event_type"] for d in all_delivered(prism, 2)] == ["VM.CREATE", "VM.ON"]
        wait_for(lambda: fw.registered_ips().get("10.20.0.7") == {DB}, message="10.20.0.7 found through Prism")
    finally:
        prism.stop()


def test_events_arriving_while_the_firewall_refuses_connections_are_all_applied_after(
        tmp_path, listener_process, prism, firewall):
    fw = FirewallApi(firewall)
    server = listener_process(panos_config(tmp_path, prism, [target(firewall)])).start()
    client = prism_client(prism)
    subscribe(client, server.url)
    vm_a = create_vm(client, "a", "10.30.0.1", {"AppTier": "Web"})
    wait_for(lambda: fw.registered_ips().get("10.30.0.1") == {WEB}, message="a registered")

    firewall.fault("refuse", 4)
    with pytest.raises(requests.ConnectionError):
        requests.post(firewall.url + "/api/", data={"type": "keygen"}, verify=False, timeout=5)
    set_categories(client, vm_a, {"AppTier": "DB"})
    create_vm(client, "b", "10.30.0.2", {"AppTier": "DB"})
    vm_c = create_vm(client, "c", "10.30.0.3", {"AppTier": "Web"})
    set_power(client, vm_c, "OFF")
    # Prism got its 200s while the firewall was away: what they ask for waits in the plugin's desired state.
    all_delivered(prism, 8)
    wait_for(lambda: metric(server, "netevents_listener_panos_target_breaker_open") == 1, message="the breaker open")

    wait_for(lambda: answers(fw.registered_ips) == {"10.30.0.1": {DB}, "10.30.0.2": {DB}}, timeout=60,
             message="the firewall in Prism's state after it came back")
    # Every event is applied: the 8 above, and the unprompted VM.UPDATEs of the creates (the queue keeps one of
    # each identical pair), until Prism has nothing more to send and the queue is empty.
    wait_for(lambda: prism.wait_idle(0) and server.get("/healthz").status_code == 200, timeout=60,
             message="Prism idle and the listener healthy again")
    health = server.get("/healthz").json()
    assert health["queue_depth"] == 0 and health["dead_letters"] == 0
    assert metric(server, "netevents_listener_events_applied_total") >= 8
    assert metric(server, "netevents_listener_events_failed_total") == 0     # no event paid for the outage


def test_no_secret_reaches_logs_responses_or_metrics(tmp_path, listener_process, prism, firewall):
    second = start_firewall()                 # reached with an API key from the environment
    try:
        fw1, fw2 = FirewallApi(firewall), FirewallApi(second)
        secrets = {"webhook password": WEBHOOK_PASSWORD, "Prism password": PRISM_PASSWORD,
                   "firewall password": FW_PASSWORD, "firewall API key": second.api_key,
                   "API key made from the password": firewall.api_key}
        env = listener_env()
        env["NETEVENTS_TEST_FW2_KEY"] = second.api_key
        targets = [target(firewall), {"ip_address": second.host, "port": second.port,
                                      "api_key_env": "NETEVENTS_TEST_FW2_KEY", "ca_path": second.cert_path}]
        config = panos_config(tmp_path, prism, targets, reconcile_minutes=60, listener={"log_level": "DEBUG"})
        server = listener_process(config, env=env).start()
        client = prism_client(prism)
        subscribe(client, server.url)
        seen = []                             # every response the listener gave

        vm = create_vm(client, "web-01", "10.40.0.5", {"AppTier": "Web"})
        wait_for(lambda: fw1.registered_ips().get("10.40.0.5") == {WEB} == fw2.registered_ips().get("10.40.0.5"),
                 message="registered on both firewalls")
        # Error paths: the firewalls fail (HTTP 503, then refused connections) while events arrive ...
        second.fault("error", 1.5, status=503)
        firewall.fault("refuse", 1.5)
        set_categories(client, vm, {"AppTier": "DB"})
        # ... a request with a wrong password, a webhook with wrong credentials, a body that is no event,
        # an event about a VM Prism does not know (404 when the plugin asks) ...
        seen.append(requests.post(server.url, json=envelope(), auth=(WEBHOOK_USER, WEBHOOK_PASSWORD + "x"),
                                  timeout=10))
        seen.append(server.post({"not": "an event"}))
        seen.append(server.post(envelope("00000000-0000-4000-8000-000000000000", "VM.ON")))
        # ... and a VM whose category's tag would be too long for PAN-OS (dead letters) ...
        long_vm = create_vm(client, "vm-long", "10.40.0.77", {"Owner": "o" * 130})
        bad_hook = client.create_webhook({"name": "wrong-credentials", "resources": {
            "post_url": server.url, "events_filter_list": ["VM.OFF"],
            "credentials": {"username": WEBHOOK_USER, "password": "not-the-password"}}})
        client.wait_for_webhook(bad_hook["metadata"]["uuid"], timeout=30)
        set_power(client, vm, "OFF")
        client.delete_vm(vm)
        wait_for(lambda: all(table is not None and "10.40.0.5" not in table
                             for table in (answers(fw1.registered_ips), answers(fw2.registered_ips))),
                 timeout=60, message="unregistered from both firewalls")
        wait_for(lambda: server.get("/healthz").json()["queue_depth"] == 0, message="queue drained")
        assert [r.status_code for r in seen] == [401, 400, 200]
        assert metric(server, "netevents_listener_events_failed_total") > 0
        assert metric(server, "netevents_listener_panos_target_errors_total") > 0    # the firewalls' faults
        assert any(d["status_code"] == 401 for d in prism.deliveries)    # Prism's wrong-credentials webhook
        seen += [server.get("/healthz"), server.get("/metrics")]
        dead = cli(config, "dead-letters", "list", "--json", env=env)
        checked = cli(config, "check-config", env=env)
        assert checked.returncode == 0, checked.stderr
        assert dead.returncode == 0 and '"vm_uuid": "%s"' % long_vm in dead.stdout and "Owner:ooo" in dead.stdout
        assert server.stop() == 0

        texts = {"log": server.logs(), "dead letters": dead.stdout + dead.stderr,
                 "check-config": checked.stdout + checked.stderr}
        texts.update(("response %d" % i, "%s %s" % (r.headers, r.text)) for i, r in enumerate(seen))
        with open(str(tmp_path / "panos-state.db"), "rb") as f:
            texts["plugin state"] = f.read().decode("latin-1")
        assert "panos plugin started" in texts["log"] and "registered IPs updated" in texts["log"]
        for what, secret in secrets.items():
            for where, text in texts.items():
                assert secret not in text, "the %s appears in the %s" % (what, where)
    finally:
        second.stop()


def burst(server, vms):
    """POST a VM.ON for each VM as fast as 8 clients can."""
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert set(pool.map(lambda vm: server.post(envelope(vm, "VM.ON")).status_code, vms)) == {200}


def applied_burst_of_500(tmp_path, listener_process, prism, firewall, **options):
    """A listener with a 2 s batch window gets 500 VM.ON at once (250 DB VMs from 10.60.0.1, 250 Web VMs from
    10.60.1.1, in Prism); returns the firewall's stats and the batches."""
    vms = prism.seed_vms(250, "db", {"AppTier": "DB"}, first_ip="10.60.0.1") + prism.seed_vms(
        250, "web", {"AppTier": "Web"}, first_ip="10.60.1.1")
    server = listener_process(panos_config(tmp_path, prism, [target(firewall)], options=options,
                                           queue={"batch_window_ms": 2000})).start()
    firewall.reset_stats()
    burst(server, vms)
    wait_for(lambda: metric(server, "netevents_listener_events_applied_total") == 500, timeout=60,
             message="500 events applied")
    return firewall.stats(), metric(server, "netevents_listener_batch_duration_seconds_count")


def test_a_burst_of_500_events_makes_a_handful_of_user_id_calls_and_no_commit(
        tmp_path, listener_process, prism, firewall):
    stats, batches = applied_burst_of_500(tmp_path, listener_process, prism, firewall)
    registered = FirewallApi(firewall).registered_ips()
    assert len(registered) == 500
    assert 1 <= stats["calls"]["user-id"] == batches <= 5
    assert stats["calls"].get("commit", 0) == 0 and stats["commits"] == 0
    assert registered["10.60.0.1"] == {DB} and registered["10.60.1.1"] == {WEB}


def test_a_burst_of_500_events_in_address_object_mode_commits_once_per_batch(
        tmp_path, listener_process, prism, firewall):
    fw = FirewallApi(firewall)
    scaffold(fw)
    stats, batches = applied_burst_of_500(tmp_path, listener_process, prism, firewall, mode="address-object")
    assert len(fw.address_objects()) == 500
    assert 1 <= stats["commits"] == batches <= 5 and stats["commits_failed"] == 0
    assert stats["calls"].get("user-id", 0) == 0
    assert fw.address_objects()["ntnx-vm-10.60.1.1"] == ("10.60.1.1", {WEB})
    assert len(fw.group_members("web")) == 250 and "ntnx-vm-10.60.0.1" in fw.group_members("db")


def test_reconcile_at_start_repairs_what_was_missed_and_keeps_other_systems_tags(
        tmp_path, listener_process, prism, firewall):
    client = prism_client(prism)
    # While no listener ran: three VMs came and changed in Prism, the firewall kept stale tags.
    vm_a = create_vm(client, "a", "10.50.0.1", {"AppTier": "Web"})
    create_vm(client, "b", "10.50.0.2", {"AppTier": "Web"}, power="OFF")
    vm_c = create_vm(client, "c", "10.50.0.3", {"AppTier": "DB"})
    fw = FirewallApi(firewall)
    fw.register({"10.50.0.1": [DB, "corp.scanner"], "10.50.0.2": [WEB], "10.50.0.9": ["ntnx.AppTier.Old", "corp.nac"]})

    (tmp_path / "first").mkdir()
    server = listener_process(panos_config(tmp_path / "first", prism, [target(firewall)],
                                           reconcile_minutes=60)).start()
    expected = {"10.50.0.1": {WEB, "corp.scanner"}, "10.50.0.3": {DB}, "10.50.0.9": {"corp.nac"}}
    wait_for(lambda: fw.registered_ips() == expected, message="the firewall reconciled with Prism")

    # The reconcile also taught the plugin what it owns: a VM.DELETE without any IP still unregisters.
    client.delete_vm(vm_a)
    assert server.post(envelope(vm_a, "VM.DELETE")).json()["status"] == "queued"
    wait_for(lambda: fw.registered_ips().get("10.50.0.1") == {"corp.scanner"}, message="a's tags unregistered")
    assert server.stop() == 0

    # That memory survives a restart (reconcile off this time): a VM.OFF without IPs unregisters c.
    (tmp_path / "second").mkdir()
    config = panos_config(tmp_path / "second", prism, [target(firewall)], reconcile_minutes=0,
                          options={"state_path": str(tmp_path / "first" / "panos-state.db")})
    server = listener_process(config).start()
    set_power(client, vm_c, "OFF")
    assert server.post(envelope(vm_c, "VM.OFF")).json()["status"] == "queued"
    wait_for(lambda: "10.50.0.3" not in fw.registered_ips(), message="c unregistered")
    assert fw.registered_ips() == {"10.50.0.1": {"corp.scanner"}, "10.50.0.9": {"corp.nac"}}


def test_address_object_mode_follows_the_vm_and_reconciles_its_own_objects(
        tmp_path, listener_process, prism, firewall):
    fw = FirewallApi(firewall)
    scaffold(fw)
    client = prism_client(prism)
    old = create_vm(client, "old", "10.70.0.1", {"AppTier": "Web"})     # before the listener: reconcile adds it
    fw.call(type="config", action="set", xpath=VSYS1 + "/address",
            element="<entry name='ntnx-vm-10.70.0.99'><ip-netmask>10.70.0.99</ip-netmask><tag><member>%s</member>"
                    "</tag></entry><entry name='corp-server'><ip-netmask>10.70.0.200</ip-netmask></entry>" % WEB)
    fw.call(type="config", action="set", xpath=VSYS1 + "/tag",
            element="<entry name='%s'/>" % WEB)
    fw.commit()
    firewall.reset_stats()
    server = listener_process(panos_config(tmp_path, prism, [target(firewall)], options={"mode": "address-object"},
                                           reconcile_minutes=60)).start()
    wait_for(lambda: set(fw.address_objects()) == {"ntnx-vm-10.70.0.1"}, message="reconcile: stale object gone")
    assert "corp-server" in fw.address_objects(prefix="corp-")               # not ours: left alone
    assert fw.group_members("web") == {"ntnx-vm-10.70.0.1"}

    subscribe(client, server.url)
    vm = create_vm(client, "web-02", "10.70.0.5", {"AppTier": "Web"})
    wait_for(lambda: fw.group_members("web") == {"ntnx-vm-10.70.0.1", "ntnx-vm-10.70.0.5"}, message="web-02 in web")
    set_categories(client, vm, {"AppTier": "DB"})
    wait_for(lambda: fw.group_members("db") == {"ntnx-vm-10.70.0.5"}, message="web-02 moved to db")
    assert fw.address_objects()["ntnx-vm-10.70.0.5"] == ("10.70.0.5", {DB})
    client.delete_vm(vm)
    client.delete_vm(old)
    wait_for(lambda: fw.address_objects() == {}, message="objects of deleted VMs removed")
    assert fw.group_members("web") == fw.group_members("db") == set()
    stats = firewall.stats()
    assert stats["commits"] >= 1 and stats["commits_failed"] == 0 and stats["calls"].get("user-id", 0) == 0
