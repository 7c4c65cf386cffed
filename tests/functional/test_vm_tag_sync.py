"""vm_tag_sync: one reconcile of Prism's VMs against the firewall's registered-IP tags, run by ansible-playbook,
through Prism's v4 API, its v3 API, or whichever it serves (api: auto)."""
import pytest

from tests.functional.conftest import PRISM_PASSWORD, PRISM_USERNAME
from tests.functional.playbook import run_playbook
from tests.functional.readback import create_vm, registered_ips
from tests.simulators.prism import PrismSimulator
from ansible_collections.netevents.nutanix.plugins.module_utils.panos import apply_registered_ips, connect

API_KEY = "Pc-Api-K3y-of-a-service-account"


@pytest.fixture
def drift(prism_sim, panos_sim, panos_provider):
    """Prism says: web-01 (on, Web), db-01 (on, Db), off-01 (off); the firewall has drifted from that."""
    return make_drift(prism_sim, panos_sim, panos_provider)


def make_drift(prism_sim, panos_sim, panos_provider):
    panos_sim.reset()
    prism_sim.pending_seconds = 0
    create_vm(prism_sim, "web-01", ["10.0.0.1"], {"AppTier": "Web"})
    create_vm(prism_sim, "db-01", ["10.0.0.2"], {"AppTier": "Db", "Env": "Prod"})
    create_vm(prism_sim, "off-01", ["10.0.0.3"], {"AppTier": "Web"}, power_state="OFF")
    assert prism_sim.wait_idle()
    fw = connect(panos_provider)
    apply_registered_ips(fw, register={
        "10.0.0.2": ["ntnx.AppTier.Web", "ntnx.Env.Prod", "quarantine"],  # stale Web tag; foreign tag stays
        "10.0.0.9": ["ntnx.AppTier.Web"],  # a VM deleted while nobody listened
        "10.0.0.3": ["ntnx.AppTier.Web"],  # a VM powered off while nobody listened
    })
    return panos_sim


def sync_task(prism_sim, provider, **extra):
    args = {"nutanix_host": prism_sim.host, "nutanix_port": prism_sim.port, "nutanix_username": PRISM_USERNAME,
            "nutanix_password": PRISM_PASSWORD, "validate_certs": False, "provider": provider}
    args.update(extra)
    args = dict((k, v) for k, v in args.items() if v is not None)
    return [{"name": "sync", "netevents.nutanix.vm_tag_sync": args, "register": "sync"}]


EXPECTED = {"10.0.0.1": {"ntnx.AppTier.Web"}, "10.0.0.2": {"ntnx.AppTier.Db", "ntnx.Env.Prod", "quarantine"}}


def test_check_mode_reports_and_changes_nothing(tmp_path, prism_sim, drift, panos_provider):
    before = registered_ips(drift)
    run = run_playbook(tmp_path, tasks=sync_task(prism_sim, panos_provider), check=True, diff=True)
    result = run.result("sync")
    assert run.rc == 0 and result["changed"]
    assert result["summary"]["added"] == 2 and result["summary"]["removed"] == 3
    assert result["summary"]["userid_calls"] == 0
    assert result["diff"]["before"]["10.0.0.9"] == ["ntnx.AppTier.Web"] and result["diff"]["after"]["10.0.0.9"] == []
    assert registered_ips(drift) == before


def test_drift_is_repaired_then_nothing_to_do(tmp_path, prism_sim, drift, panos_provider):
    drift.reset_stats()
    run = run_playbook(tmp_path / "1", tasks=sync_task(prism_sim, panos_provider))
    result = run.result("sync")
    assert run.rc == 0 and result["changed"], run.stdout[-3000:]
    assert result["summary"]["vms"] == 3 and result["summary"]["vms_powered_on"] == 2
    assert registered_ips(drift) == EXPECTED
    assert drift.stats()["calls"]["user-id"] == 1  # one batched change set
    assert drift.stats()["commits"] == 0  # registered IPs need no commit

    again = run_playbook(tmp_path / "2", tasks=sync_task(prism_sim, panos_provider))
    assert again.rc == 0 and not again.result("sync")["changed"]
    assert again.result("sync")["summary"]["unchanged"] == 2
    assert drift.stats()["calls"]["user-id"] == 1
    assert registered_ips(drift) == EXPECTED


def test_mapping_and_category_filter(tmp_path, prism_sim, drift, panos_provider):
    run = run_playbook(tmp_path, tasks=sync_task(prism_sim, panos_provider, categories=["AppTier"],
                                                 tag_mapping={"AppTier:Web": ["web-servers"]}))
    assert run.rc == 0, run.stdout[-3000:]
    table = registered_ips(drift)
    assert table["10.0.0.1"] == {"web-servers"}
    # Env is no longer mapped, but ntnx.Env.Prod is still an owned tag: it goes.
    assert table["10.0.0.2"] == {"ntnx.AppTier.Db", "quarantine"}


def calls(prism_sim):
    stats = prism_sim.stats()
    return dict(stats["calls"], **stats["calls_by_api"])


def used(before, after, key):
    return after.get(key, 0) - before.get(key, 0)


@pytest.mark.parametrize("api, pages", [("v3", 3), ("auto", 11)])  # v3: 500 a page; v4: 100 a page
def test_many_vms_are_paged_and_batched(tmp_path, prism_sim, panos_sim, panos_provider, api, pages):
    panos_sim.reset()
    prism_sim.pending_seconds = 0
    for i in range(1100):
        create_vm(prism_sim, "vm-%04d" % i, ["10.1.%d.%d" % (i // 250, i % 250 + 1)], {"AppTier": "App"})
    assert prism_sim.wait_idle(timeout=60)
    before = calls(prism_sim)
    run = run_playbook(tmp_path, tasks=sync_task(prism_sim, panos_provider, api=api))
    result = run.result("sync")
    assert run.rc == 0 and result["summary"]["added"] == 1100, run.stdout[-3000:]
    after = calls(prism_sim)
    if api == "v3":
        assert used(before, after, "POST /api/nutanix/v3/vms/list") == pages and used(before, after, "v4") == 0
    else:
        assert used(before, after, "GET /api/vmm/<version>/ahv/config/vms") == pages and used(before, after, "v3") == 0
    assert panos_sim.stats()["calls"]["user-id"] == 1
    assert len(registered_ips(panos_sim)) == 1100


def test_a_v4_prism_converges_with_no_v3_call_and_an_api_key(tmp_path, panos_sim, panos_provider):
    with PrismSimulator(username=PRISM_USERNAME, password=PRISM_PASSWORD, port=0, api_key=API_KEY) as prism:
        fw = make_drift(prism, panos_sim, panos_provider)
        before = calls(prism)
        key_only = dict(nutanix_username=None, nutanix_password=None, nutanix_api_key=API_KEY)
        tasks = sync_task(prism, panos_provider, api="v4", **key_only)
        tasks += [dict(task, name="again") for task in sync_task(prism, panos_provider, **key_only)]
        run = run_playbook(tmp_path, tasks=tasks, args=["-vvv"])
        after = calls(prism)
    assert run.rc == 0, run.stdout[-3000:]
    assert run.result("sync")["changed"] and run.result("sync")["api"] == "v4"
    assert not run.result("again")["changed"] and run.result("again")["api"] == "v4"  # auto chose v4
    assert registered_ips(fw) == EXPECTED
    assert used(before, after, "v3") == 0 and used(before, after, "v4") > 0
    assert API_KEY not in run.stdout + run.stderr


def test_auto_against_a_v3_only_prism_misses_only_the_discovery(tmp_path, panos_sim, panos_provider):
    with PrismSimulator(username=PRISM_USERNAME, password=PRISM_PASSWORD, port=0, v4_versions=()) as prism:
        fw = make_drift(prism, panos_sim, panos_provider)
        before = calls(prism)
        run = run_playbook(tmp_path, tasks=sync_task(prism, panos_provider))
        after = calls(prism)
    assert run.rc == 0 and run.result("sync")["changed"] and run.result("sync")["api"] == "v3", run.stdout[-3000:]
    assert registered_ips(fw) == EXPECTED
    # v4: unversioned/info and v4.3 down to v4.0, each a 404; then the same v3 list as ever.
    assert used(before, after, "v4") == 5
    assert used(before, after, "POST /api/nutanix/v3/vms/list") == 1 and used(before, after, "v3") == 1


def test_api_v4_where_there_is_none_fails_clearly(tmp_path, panos_sim, panos_provider):
    with PrismSimulator(username=PRISM_USERNAME, password=PRISM_PASSWORD, port=0, v4_versions=()) as prism:
        run = run_playbook(tmp_path, tasks=sync_task(prism, panos_provider, api="v4"))
    assert run.rc != 0
    assert "Prism: Prism at %s serves no v4 VM API" % prism.url in run.result("sync")["msg"]
    assert "set api to v3" in run.result("sync")["msg"] and "Traceback" not in run.stdout


def test_missing_prism_credentials_are_named(tmp_path, prism_sim, panos_provider):
    run = run_playbook(tmp_path, tasks=sync_task(prism_sim, panos_provider, nutanix_password=None))
    assert run.rc != 0
    assert run.result("sync")["msg"] == ("Prism: give nutanix_username and nutanix_password, or nutanix_api_key (a "
                                         "Prism Central API key); or set NUTANIX_USERNAME and NUTANIX_PASSWORD (or "
                                         "NUTANIX_API_KEY) in the environment")
    assert prism_sim.stats()["calls"] == {}


def test_bad_settings_fail_clearly(tmp_path, prism_sim, panos_provider):
    run = run_playbook(tmp_path, tasks=sync_task(prism_sim, panos_provider, tag_format="static"))
    assert run.rc != 0
    assert "Invalid tag settings" in run.result("sync")["msg"]
    bad = dict(panos_provider, password="wrong-password")
    run = run_playbook(tmp_path / "2", tasks=sync_task(prism_sim, bad))
    assert run.rc != 0 and "wrong-password" not in run.stdout
    assert "PAN-OS" in run.result("sync")["msg"]
