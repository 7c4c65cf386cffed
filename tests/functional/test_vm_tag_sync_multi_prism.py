"""vm_tag_sync for two Prism Centrals feeding one firewall (docs/multi-prism.md), by ansible-playbook: with the
panorama-plugin tag format each run owns only its own Prism's tags, runs against each in turn converge, and an IP
both report carries the tags of both. Every outcome is read back from the firewall's own API."""
import pytest

from tests.functional.conftest import PRISM_PASSWORD, PRISM_USERNAME
from tests.functional.playbook import run_playbook
from tests.functional.readback import create_vm, dag_members, registered_ips
from tests.simulators.prism.admin import PrismAdmin
from tests.functional.test_vm_tag_sync import sync_task
from tests.simulators.prism import PrismSimulator
from ansible_collections.netevents.nutanix.plugins.module_utils.panos import apply_registered_ips, connect

SHARED = "10.20.0.100"  # a VM replicated to the other site, up at both (a test failover on a stretched network)
DC1_WEB, DC1_DB, DC2_APP = "10.20.0.1", "10.20.0.2", "10.20.1.1"
DC1 = {DC1_WEB: {"ntnx.PC-dc1.CL-east-1.AppTier.Web"}, DC1_DB: {"ntnx.PC-dc1.CL-east-2.AppTier.Db"},
       SHARED: {"ntnx.PC-dc1.CL-east-1.AppTier.Web"}}
DC2 = {DC2_APP: {"ntnx.PC-dc2.CL-west-1.AppTier.App"}, SHARED: {"ntnx.PC-dc2.CL-west-1.AppTier.Web"}}
# A dynamic address group for the web tier at either site.
WEB_GROUP = {"name": "web-any-site",
             "dynamic_filter": "'ntnx.PC-dc1.CL-east-1.AppTier.Web' or 'ntnx.PC-dc2.CL-west-1.AppTier.Web'"}


def union(*tables):
    out = {}
    for table in tables:
        for ip, tags in table.items():
            out.setdefault(ip, set()).update(tags)
    return out


@pytest.fixture
def sites(panos_sim):
    """Prism Central dc1 (clusters east-1, east-2; read through v4) and dc2 (west-1; read through v3), their VMs,
    and an empty firewall but for a tag another system registered on the shared IP."""
    dc1 = PrismSimulator(username=PRISM_USERNAME, password=PRISM_PASSWORD, port=0, pending_seconds=0, name="pc-dc1",
                         clusters=["east-1", "east-2"]).start()
    dc2 = PrismSimulator(username=PRISM_USERNAME, password=PRISM_PASSWORD, port=0, pending_seconds=0, name="pc-dc2",
                         clusters=["west-1"]).start()
    try:
        vms = {
            "web": create_vm(dc1, "web-01", [DC1_WEB], {"AppTier": "Web"}, cluster="east-1"),
            "db": create_vm(dc1, "db-01", [DC1_DB], {"AppTier": "Db"}, cluster="east-2"),
            "shared-dc1": create_vm(dc1, "shop-01", [SHARED], {"AppTier": "Web"}, cluster="east-1"),
            "app": create_vm(dc2, "app-01", [DC2_APP], {"AppTier": "App"}),
            "shared-dc2": create_vm(dc2, "shop-01", [SHARED], {"AppTier": "Web"}),
        }
        assert dc1.wait_idle() and dc2.wait_idle()
        panos_sim.reset()
        yield dc1, dc2, vms
    finally:
        dc1.stop()
        dc2.stop()


def admin(prism):
    return PrismAdmin(prism.host, port=prism.port, username=PRISM_USERNAME, password=PRISM_PASSWORD,
                      ca_path=prism.cert_path)


def sync(prism, name, provider, task_name=None, **extra):
    api = "v3" if name == "dc2" else "auto"
    task = sync_task(prism, provider, tag_format="panorama-plugin", prism_name=name, api=api, **extra)[0]
    return dict(task, name=task_name or name)


def test_two_prism_centrals_share_one_firewall(tmp_path, sites, panos_sim, panos_provider):
    dc1, dc2, vms = sites
    apply_registered_ips(connect(panos_provider), register={SHARED: ["quarantine"]})
    setup = run_playbook(tmp_path / "setup", tasks=[
        {"name": "group", "netevents.nutanix.panos_address_group": dict(WEB_GROUP, provider=panos_provider)},
        {"name": "commit", "netevents.nutanix.panos_commit": {"provider": panos_provider}}])
    assert setup.rc == 0, setup.stdout[-3000:]

    # dc1 first: its VMs, named after their Prism Central and cluster; the foreign tag stays.
    first = run_playbook(tmp_path / "dc1", tasks=[sync(dc1, "dc1", panos_provider)])
    assert first.rc == 0 and first.result("dc1")["changed"] and first.result("dc1")["api"] == "v4", \
        first.stdout[-3000:]
    assert registered_ips(panos_sim) == union(DC1, {SHARED: {"quarantine"}})

    # dc2 next: it adds its own and removes nothing of dc1's.
    second = run_playbook(tmp_path / "dc2", tasks=[sync(dc2, "dc2", panos_provider)])
    result = second.result("dc2")
    assert second.rc == 0 and result["changed"] and result["api"] == "v3", second.stdout[-3000:]
    assert result["unregistered"] == {} and result["summary"]["removed"] == 0
    both = union(DC1, DC2, {SHARED: {"quarantine"}})
    assert registered_ips(panos_sim) == both
    assert dag_members(panos_sim)[WEB_GROUP["name"]] == sorted([DC1_WEB, SHARED])

    # Round two, each in turn: nothing to do for either, no User-ID call at all.
    calls = panos_sim.stats()["calls"].get("user-id", 0)
    again = run_playbook(tmp_path / "again", tasks=[sync(dc1, "dc1", panos_provider), sync(dc2, "dc2", panos_provider),
                                                    sync(dc1, "dc1", panos_provider, "dc1 once more")])
    assert again.rc == 0, again.stdout[-3000:]
    assert [again.result(name)["changed"] for name in ("dc1", "dc2", "dc1 once more")] == [False, False, False]
    assert panos_sim.stats()["calls"].get("user-id", 0) == calls
    assert registered_ips(panos_sim) == both


def test_a_vm_that_moves_or_stops_at_one_site_changes_only_that_sites_tags(
        tmp_path, sites, panos_sim, panos_provider):
    dc1, dc2, vms = sites
    start = run_playbook(tmp_path / "start", tasks=[sync(dc1, "dc1", panos_provider), sync(dc2, "dc2", panos_provider)])
    assert start.rc == 0, start.stdout[-3000:]
    assert registered_ips(panos_sim) == union(DC1, DC2)

    # db-01 moves to cluster east-1: dc1's run swaps its tag (the same owned prefix); dc2's stay as they are.
    dc1.migrate_vm(vms["db"], cluster="east-1")
    moved = run_playbook(tmp_path / "moved", tasks=[sync(dc1, "dc1", panos_provider)])
    result = moved.result("dc1")
    assert moved.rc == 0, moved.stdout[-3000:]
    assert result["registered"] == {DC1_DB: ["ntnx.PC-dc1.CL-east-1.AppTier.Db"]}
    assert result["unregistered"] == {DC1_DB: ["ntnx.PC-dc1.CL-east-2.AppTier.Db"]}
    after_move = union(DC1, DC2)
    after_move[DC1_DB] = {"ntnx.PC-dc1.CL-east-1.AppTier.Db"}
    assert registered_ips(panos_sim) == after_move

    # The replica at dc2 is powered off (failback): dc2 takes back only its own tag; the IP keeps dc1's.
    admin(dc2).set_power_state(vms["shared-dc2"], "OFF")
    assert dc2.wait_idle()
    off = run_playbook(tmp_path / "off", tasks=[sync(dc2, "dc2", panos_provider), sync(dc1, "dc1", panos_provider)])
    assert off.rc == 0, off.stdout[-3000:]
    assert off.result("dc2")["unregistered"] == {SHARED: ["ntnx.PC-dc2.CL-west-1.AppTier.Web"]}
    assert not off.result("dc1")["changed"]
    after_move[SHARED] = {"ntnx.PC-dc1.CL-east-1.AppTier.Web"}
    assert registered_ips(panos_sim) == after_move


def test_without_pc_in_the_format_two_prisms_remove_each_others_tags(tmp_path, sites, panos_sim, panos_provider):
    """Why docs/multi-prism.md asks for {pc}: with one owned prefix for both, each run takes the other's VMs'
    tags for stale ones."""
    dc1, dc2, _vms = sites
    tasks = [dict(sync_task(dc1, panos_provider)[0], name="dc1"), dict(sync_task(dc2, panos_provider)[0], name="dc2")]
    run = run_playbook(tmp_path, tasks=tasks)
    assert run.rc == 0, run.stdout[-3000:]
    assert sorted(run.result("dc2")["unregistered"]) == sorted([DC1_WEB, DC1_DB])
    assert sorted(registered_ips(panos_sim)) == sorted([SHARED, DC2_APP])


def test_the_prism_name_is_required_with_pc_and_checked(tmp_path, sites, panos_sim, panos_provider):
    dc1, _dc2, _vms = sites
    tasks = [dict(sync_task(dc1, panos_provider, tag_format="panorama-plugin")[0], name="unnamed",
                  ignore_errors=True),
             dict(sync(dc1, "dc.1", panos_provider), name="dotted", ignore_errors=True),
             dict(sync_task(dc1, panos_provider, prism_name="dc1")[0], name="no pc")]
    run = run_playbook(tmp_path, tasks=tasks, check=True)
    assert "Invalid tag settings: prism_name: tag_format names {pc}" in run.result("unnamed")["msg"]
    assert "'dc.1' may not contain '.'" in run.result("dotted")["msg"]
    assert any("tag_format does not name {pc}" in w for w in run.result("no pc")["warnings"])
    assert registered_ips(panos_sim) == {}
