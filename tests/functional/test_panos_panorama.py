"""The panos_* modules against a Panorama (the PAN-OS simulator in Panorama mode) through real ansible-playbook
runs: objects and rules in a device group, the pre- and post-rulebase, a commit to Panorama.

Read back through the XML API with pan.xapi, independently of the collection's own client.
"""
import json
import ssl

import pan.xapi
import pytest

from tests.functional.conftest import PANOS_PASSWORD, PANOS_USERNAME
from tests.functional.playbook import run_playbook

DG = "/config/devices/entry[@name='localhost.localdomain']/device-group/entry[@name='branch-offices']"
PROVIDER = "{{ provider }}"


@pytest.fixture
def panorama():
    from tests.simulators.panos import PanosSimulator

    sim = PanosSimulator(username=PANOS_USERNAME, password=PANOS_PASSWORD, port=0, commit_seconds=0.2,
                         model="Panorama", hostname="panorama-1", serial="000702100000",
                         device_groups=("branch-offices", "datacenter")).start()
    yield sim
    sim.stop()


@pytest.fixture
def provider(panorama):
    return {"ip_address": panorama.host, "port": panorama.port, "username": PANOS_USERNAME,
            "password": PANOS_PASSWORD, "ca_path": panorama.cert_path}


class Api(object):
    def __init__(self, sim):
        self.xapi = pan.xapi.PanXapi(hostname=sim.host, port=sim.port, api_username=PANOS_USERNAME,
                                     api_password=PANOS_PASSWORD,
                                     ssl_context=ssl.create_default_context(cafile=sim.cert_path))

    def get(self, xpath, running=False):
        (self.xapi.show if running else self.xapi.get)(xpath)
        return self.xapi.element_result

    def exists(self, xpath, running=False):
        try:
            result = self.get(xpath, running)
        except pan.xapi.PanXapiError as e:  # "show" of a missing node is an error, as on PAN-OS
            assert "No such node" in str(e)
            return False
        return result is not None and len(result) > 0

    def entry(self, path, name, running=False):
        result = self.get("%s/%s/entry[@name='%s']" % (DG, path, name), running)
        return None if result is None else result.find("entry")

    def rule_names(self, rulebase="pre-rulebase"):
        result = self.get(DG + "/%s/security/rules" % rulebase)
        return [] if result is None else [e.get("name") for e in result.findall("./rules/entry")]


def run(tmp_path, provider, tasks, **kwargs):
    done = run_playbook(tmp_path, tasks=tasks, extra_vars={"provider": provider}, **kwargs)
    assert PANOS_PASSWORD not in done.stdout + done.stderr + json.dumps(done.results)
    return done


def scaffold(rulebase="pre-rulebase"):
    where = {"provider": PROVIDER, "device_group": "branch-offices"}
    return [
        {"name": "tag", "netevents.nutanix.panos_tag": dict(where, name="ntnx.AppTier.Web", color="green")},
        {"name": "group", "netevents.nutanix.panos_address_group": dict(
            where, name="ntnx-web", dynamic_filter="'ntnx.AppTier.Web'", tag=["ntnx.AppTier.Web"])},
        {"name": "rule", "netevents.nutanix.panos_security_rule": dict(
            where, name="allow-web", rulebase=rulebase, source_zone=["untrust"], destination_zone=["web"],
            destination_ip=["ntnx-web"], application=["web-browsing", "ssl"], service=["application-default"],
            action="allow", location="top")},
        {"name": "commit", "netevents.nutanix.panos_commit": {"provider": PROVIDER, "description": "netevents"}},
    ]


def test_device_group_scaffold_then_one_commit_then_nothing_to_do(tmp_path, provider, panorama):
    api = Api(panorama)
    check = run(tmp_path / "check", provider, scaffold()[:3], check=True, diff=True)
    assert check.rc == 0 and check.changed_count == 3, check.stdout[-3000:]
    assert api.entry("tag", "ntnx.AppTier.Web") is None                     # check mode changed nothing

    first = run(tmp_path / "first", provider, scaffold())
    assert first.rc == 0, first.stdout[-3000:]
    assert [first.result(t)["changed"] for t in ("tag", "group", "rule", "commit")] == [True] * 4
    assert panorama.stats()["commits"] == 1 and first.result("commit")["result"] == "OK"

    # In the device group of Panorama's running configuration, not in a vsys and not in the other group.
    assert api.entry("tag", "ntnx.AppTier.Web", running=True).findtext("color") == "color2"
    group = api.entry("address-group", "ntnx-web", running=True)
    assert group.findtext("dynamic/filter") == "'ntnx.AppTier.Web'"
    rule = api.entry("pre-rulebase/security/rules", "allow-web", running=True)
    assert [m.text for m in rule.findall("destination/member")] == ["ntnx-web"]
    assert [m.text for m in rule.findall("from/member")] == ["untrust"]
    assert not api.exists("/config/devices/entry/vsys", running=True)
    other = "/config/devices/entry[@name='localhost.localdomain']/device-group/entry[@name='datacenter']/tag/entry"
    assert not api.exists(other, running=True) and api.exists(other.replace("/tag/entry", ""), running=True)

    again = run(tmp_path / "again", provider, scaffold())
    assert again.rc == 0 and again.changed_count == 0, again.stdout[-3000:]
    assert panorama.stats()["commits"] == 1                                   # nothing to commit


def test_post_rulebase_update_diff_and_delete(tmp_path, provider, panorama):
    api = Api(panorama)
    assert run(tmp_path / "setup", provider, scaffold("post-rulebase")[:3]).rc == 0
    assert api.rule_names("post-rulebase") == ["allow-web"] and api.rule_names("pre-rulebase") == []

    update = {"provider": PROVIDER, "device_group": "branch-offices", "name": "allow-web",
              "rulebase": "post-rulebase", "action": "deny"}
    done = run(tmp_path / "update", provider, [{"name": "rule", "netevents.nutanix.panos_security_rule": update}],
               diff=True)
    result = done.result("rule")
    assert result["changed"] and result["diff"]["before"]["action"] == "allow"
    assert api.entry("post-rulebase/security/rules", "allow-web").findtext("action") == "deny"

    # The tag is in use by the group and the rule: the firewall refuses, the module says why.
    tag_gone = {"provider": PROVIDER, "device_group": "branch-offices", "name": "ntnx.AppTier.Web",
                "state": "absent"}
    done = run(tmp_path / "tag-in-use", provider, [{"name": "t", "netevents.nutanix.panos_tag": tag_gone,
                                                    "ignore_errors": True}])
    assert done.status("t") == "failed" and "Traceback" not in done.stdout
    assert api.entry("tag", "ntnx.AppTier.Web") is not None

    gone = dict(update, state="absent")
    gone.pop("action")
    done = run(tmp_path / "delete", provider, [{"name": "rule", "netevents.nutanix.panos_security_rule": gone}])
    assert done.result("rule")["changed"] and api.rule_names("post-rulebase") == []


def test_a_device_group_that_does_not_exist_fails_cleanly(tmp_path, provider, panorama):
    task = {"name": "t", "ignore_errors": True, "netevents.nutanix.panos_tag": {
        "provider": PROVIDER, "device_group": "nope", "name": "x"}}
    done = run(tmp_path, provider, [task])
    result = done.result("t")
    assert done.status("t") == "failed" and "Traceback" not in done.stdout
    assert "device group 'nope' does not exist" in result["msg"] and "branch-offices, datacenter" in result["msg"]
    assert panorama.stats()["calls"].get("config", 0) <= 1  # looked up the groups, changed nothing
