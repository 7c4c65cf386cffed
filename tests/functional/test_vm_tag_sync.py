"""vm_tag_sync: one reconcile of Prism's VMs against the firewall's registered-IP tags, run by ansible-playbook."""
import pytest

from tests.functional.conftest import PRISM_PASSWORD, PRISM_USERNAME
from tests.functional.playbook import run_playbook
from tests.functional.readback import create_vm, registered_ips
from ansible_collections.netevents.nutanix.plugins.module_utils.panos import apply_registered_ips, connect


@pytest.fixture
def drift(prism_sim, panos_sim, panos_provider):
    """Prism says: web-01 (on, Web), db-01 (on, Db), off-01 (off); the firewall has drifted from that."""
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


def test_many_vms_are_paged_and_batched(tmp_path, prism_sim, panos_sim, panos_provider):
    panos_sim.reset()
    prism_sim.pending_seconds = 0
    for i in range(1100):
        create_vm(prism_sim, "vm-%04d" % i, ["10.1.%d.%d" % (i // 250, i % 250 + 1)], {"AppTier": "App"})
    assert prism_sim.wait_idle(timeout=60)
    lists_before = prism_sim.stats()["calls"].get("POST /api/nutanix/v3/vms/list", 0)
    run = run_playbook(tmp_path, tasks=sync_task(prism_sim, panos_provider))
    result = run.result("sync")
    assert run.rc == 0 and result["summary"]["added"] == 1100, run.stdout[-3000:]
    assert prism_sim.stats()["calls"]["POST /api/nutanix/v3/vms/list"] - lists_before == 3  # 500 + 500 + 100
    assert panos_sim.stats()["calls"]["user-id"] == 1
    assert len(registered_ips(panos_sim)) == 1100


def test_bad_settings_fail_clearly(tmp_path, prism_sim, panos_provider):
    run = run_playbook(tmp_path, tasks=sync_task(prism_sim, panos_provider, tag_format="static"))
    assert run.rc != 0
    assert "Invalid tag settings" in run.result("sync")["msg"]
    bad = dict(panos_provider, password="wrong-password")
    run = run_playbook(tmp_path / "2", tasks=sync_task(prism_sim, bad))
    assert run.rc != 0 and "wrong-password" not in run.stdout
    assert "PAN-OS" in run.result("sync")["msg"]
