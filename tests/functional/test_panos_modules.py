"""The panos_* modules through real ansible-playbook runs against the PAN-OS simulator.

Every outcome is read back through the XML API (pan.xapi / pan-os-python, independently of the collection's
own client), never from the module's output alone.
"""
import json
import ssl
import xml.etree.ElementTree as ET

import pan.xapi
import pytest
from panos.firewall import Firewall

from tests.functional.conftest import PANOS_PASSWORD, PANOS_USERNAME
from tests.functional.playbook import run_playbook

VSYS = "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"
PROVIDER = "{{ provider }}"


class Api(object):
    """Independent read-back: plain pan.xapi calls, TLS verified against the simulator's certificate."""

    def __init__(self, sim):
        self.sim = sim
        context = ssl.create_default_context(cafile=sim.cert_path)
        self.xapi = pan.xapi.PanXapi(hostname=sim.host, port=sim.port, api_username=PANOS_USERNAME,
                                     api_password=PANOS_PASSWORD, ssl_context=context)

    def entry(self, path, name):
        self.xapi.get("%s/%s/entry[@name='%s']" % (VSYS, path, name))
        result = self.xapi.element_result
        return None if result is None else result.find("entry")

    def rules(self):
        self.xapi.get(VSYS + "/rulebase/security/rules")
        result = self.xapi.element_result
        return [] if result is None else result.findall("./rules/entry")

    def op(self, cmd):
        self.xapi.op(cmd=cmd, cmd_xml=False)
        return self.xapi.element_result

    def registered(self, tag=None):
        firewall = Firewall(self.sim.host, api_key=self.xapi.keygen(), port=self.sim.port)
        firewall.xapi.ssl_context = self.xapi.ssl_context
        return dict((ip, set(tags)) for ip, tags in firewall.userid.get_registered_ip(tags=tag).items())

    def calls(self, kind):
        return self.sim.stats()["calls"].get(kind, 0)


def members(entry, path):
    return sorted(m.text for m in entry.findall(path + "/member")) if entry is not None else None


@pytest.fixture
def api(panos_sim):
    return Api(panos_sim)


def play(tmp_path, provider, tasks, **kwargs):
    run = run_playbook(tmp_path, tasks=tasks, extra_vars={"provider": provider}, **kwargs)
    assert PANOS_PASSWORD not in run.stdout + run.stderr + json.dumps(run.results)
    return run


def one(tmp_path, provider, module, args, name="t", **kwargs):
    """Run a single task; return (run, result)."""
    task = {"name": name, "netevents.nutanix.%s" % module: dict(args, provider=PROVIDER)}
    if kwargs.pop("ignore_errors", False):
        task["ignore_errors"] = True
    run = play(tmp_path, provider, [task], **kwargs)
    return run, run.result(name)


def assert_clean_failure(run, result, *fragments):
    """Failed through fail_json: a message, no traceback (ansible-core 2.19 marks that "(traceback unavailable)")."""
    assert run.status("t") == "failed", result
    assert "module_stderr" not in result and "Traceback" not in result.get("exception", ""), result
    assert "Traceback" not in run.stdout
    for fragment in fragments:
        assert fragment in result["msg"], result["msg"]


# --- panos_tag --------------------------------------------------------------------------------------------

def test_tag_create_idempotent_check_diff_update_delete(tmp_path, panos_provider, api):
    args = {"name": "ntnx.AppTier.Web", "color": "green", "comments": "Web tier"}

    run, result = one(tmp_path / "check", panos_provider, "panos_tag", args, check=True, diff=True)
    assert result["changed"] and result["diff"]["before"] == {}
    assert api.entry("tag", "ntnx.AppTier.Web") is None          # check mode changed nothing

    run, result = one(tmp_path / "create", panos_provider, "panos_tag", args, diff=True)
    assert run.rc == 0 and result["changed"]
    assert result["diff"]["after"]["color"] == "green" and result["diff"]["before"] == {}
    assert "+" in run.stdout and "green" in run.stdout                # --diff is shown
    entry = api.entry("tag", "ntnx.AppTier.Web")
    assert entry.findtext("color") == "color2" and entry.findtext("comments") == "Web tier"

    run, result = one(tmp_path / "again", panos_provider, "panos_tag", args)
    assert run.rc == 0 and not result["changed"]

    run, result = one(tmp_path / "update", panos_provider, "panos_tag", {"name": "ntnx.AppTier.Web", "color": "red"},
                      diff=True)
    assert result["changed"] and result["diff"]["before"]["color"] == "green"
    entry = api.entry("tag", "ntnx.AppTier.Web")
    assert entry.findtext("color") == "color1" and entry.findtext("comments") == "Web tier"  # comments kept

    delete = {"name": "ntnx.AppTier.Web", "state": "absent"}
    run, result = one(tmp_path / "delcheck", panos_provider, "panos_tag", delete, check=True)
    assert result["changed"] and api.entry("tag", "ntnx.AppTier.Web") is not None
    run, result = one(tmp_path / "delete", panos_provider, "panos_tag", delete, diff=True)
    assert result["changed"] and result["diff"]["after"] == {}
    assert api.entry("tag", "ntnx.AppTier.Web") is None
    run, result = one(tmp_path / "delagain", panos_provider, "panos_tag", delete)
    assert not result["changed"]


def test_bad_names_fail_cleanly_before_reaching_the_firewall(tmp_path, panos_provider, api):
    before = api.calls("config")
    run, result = one(tmp_path, panos_provider, "panos_tag", {"name": "x']/../entry[@name='y"}, ignore_errors=True)
    assert_clean_failure(run, result, "tag name")
    assert api.calls("config") == before


def test_tls_and_credential_errors_are_clean_and_secret_free(tmp_path, panos_provider):
    no_ca = dict(panos_provider)
    del no_ca["ca_path"]
    run, result = one(tmp_path / "tls", no_ca, "panos_tag", {"name": "x"}, ignore_errors=True)
    assert_clean_failure(run, result, "could not be verified", "ca_path")

    wrong = dict(panos_provider, password="Wr0ng-" + PANOS_PASSWORD)
    run, result = one(tmp_path / "auth", wrong, "panos_tag", {"name": "x"}, ignore_errors=True)
    assert_clean_failure(run, result, "refused the credentials")
    assert "Wr0ng-" not in run.stdout + json.dumps(run.results)

    run, result = one(tmp_path / "down", dict(panos_provider, port=1), "panos_tag", {"name": "x"},
                      ignore_errors=True)
    assert_clean_failure(run, result, "connection refused")

    insecure = dict(no_ca, validate_certs=False)
    run, result = one(tmp_path / "insecure", insecure, "panos_tag", {"name": "tls-off"})
    assert run.rc == 0 and result["changed"]


def test_provider_from_environment(tmp_path, panos_sim, api):
    env = {"PANOS_HOSTNAME": panos_sim.host, "PANOS_USERNAME": PANOS_USERNAME, "PANOS_PASSWORD": PANOS_PASSWORD}
    tasks = [{"name": "t", "netevents.nutanix.panos_tag": {
        "provider": {"port": panos_sim.port, "ca_path": panos_sim.cert_path}, "name": "from-env"}}]
    run = run_playbook(tmp_path, tasks=tasks, env=env)
    assert run.rc == 0 and run.result("t")["changed"], run.stdout
    assert PANOS_PASSWORD not in run.stdout + json.dumps(run.results)
    assert api.entry("tag", "from-env") is not None


# --- panos_address_group ----------------------------------------------------------------------------------

def test_address_group_dynamic_static_lifecycle(tmp_path, panos_provider, api):
    dynamic = {"name": "ntnx-web", "dynamic_filter": "'ntnx.AppTier.Web' and 'ntnx.Env.Prod'",
               "description": "web VMs", "tag": ["grp"]}
    setup = [{"name": "tag for the group", "netevents.nutanix.panos_tag": {"provider": PROVIDER, "name": "grp"}}]
    play(tmp_path / "setup", panos_provider, setup)

    run, result = one(tmp_path / "check", panos_provider, "panos_address_group", dynamic, check=True)
    assert result["changed"] and api.entry("address-group", "ntnx-web") is None

    run, result = one(tmp_path / "create", panos_provider, "panos_address_group", dynamic, diff=True)
    assert result["changed"] and result["diff"]["after"]["dynamic_filter"] == dynamic["dynamic_filter"]
    entry = api.entry("address-group", "ntnx-web")
    assert entry.findtext("dynamic/filter") == dynamic["dynamic_filter"]
    assert entry.findtext("description") == "web VMs" and members(entry, "tag") == ["grp"]

    run, result = one(tmp_path / "again", panos_provider, "panos_address_group", dynamic)
    assert not result["changed"]

    changed = dict(dynamic, dynamic_filter="'ntnx.AppTier.Web'", tag=[])
    run, result = one(tmp_path / "update", panos_provider, "panos_address_group", changed, diff=True)
    assert result["changed"] and result["diff"]["before"]["tag"] == ["grp"] and result["diff"]["after"]["tag"] == []
    entry = api.entry("address-group", "ntnx-web")
    assert entry.findtext("dynamic/filter") == "'ntnx.AppTier.Web'" and entry.find("tag") is None

    api.xapi.set(VSYS + "/address", "<entry name='dns-1'><ip-netmask>10.0.0.53</ip-netmask></entry>"
                 "<entry name='dns-2'><ip-netmask>10.0.1.53</ip-netmask></entry>")
    static = {"name": "ntnx-web", "static_members": ["dns-2", "dns-1"]}
    run, result = one(tmp_path / "static", panos_provider, "panos_address_group", static)
    assert result["changed"]
    entry = api.entry("address-group", "ntnx-web")
    assert members(entry, "static") == ["dns-1", "dns-2"] and entry.find("dynamic") is None
    assert entry.findtext("description") == "web VMs"

    run, result = one(tmp_path / "static-again", panos_provider, "panos_address_group",
                      dict(static, static_members=["dns-1", "dns-2"]))
    assert not result["changed"]                                      # order never makes a change

    run, result = one(tmp_path / "missing", panos_provider, "panos_address_group", {"name": "nothing-yet"},
                      ignore_errors=True)
    assert_clean_failure(run, result, "dynamic_filter or static_members")

    run, result = one(tmp_path / "delete", panos_provider, "panos_address_group",
                      {"name": "ntnx-web", "state": "absent"})
    assert result["changed"] and api.entry("address-group", "ntnx-web") is None


# --- panos_security_rule ----------------------------------------------------------------------------------

def rule_names(api):
    return [e.get("name") for e in api.rules()]


def test_security_rule_lifecycle_location_and_no_false_changes(tmp_path, panos_provider, api):
    base = {"source_zone": ["trust"], "destination_zone": ["untrust"], "application": ["web-browsing", "ssl"]}
    rules = [
        {"name": "first", "netevents.nutanix.panos_security_rule": dict(base, provider=PROVIDER, name="r-a")},
        {"name": "second", "netevents.nutanix.panos_security_rule": dict(base, provider=PROVIDER, name="r-b")},
    ]
    run = play(tmp_path / "setup", panos_provider, rules)
    assert run.rc == 0 and rule_names(api)[-2:] == ["r-a", "r-b"]

    web = dict(base, name="web-to-db", source_ip=["ntnx-web"], destination_ip=["10.1.0.0/24"],
               service=["service-https"], action="allow", description="managed", tag=["grp"], location="top")
    run, result = one(tmp_path / "check", panos_provider, "panos_security_rule", web, check=True, diff=True)
    assert result["changed"] and result["moved"] and "web-to-db" not in rule_names(api)

    run, result = one(tmp_path / "create", panos_provider, "panos_security_rule", web, diff=True)
    assert result["changed"] and result["diff"]["after"]["position"] == 1
    assert rule_names(api)[0] == "web-to-db"
    entry = api.rules()[0]
    assert members(entry, "from") == ["trust"] and members(entry, "to") == ["untrust"]
    assert members(entry, "source") == ["ntnx-web"] and members(entry, "destination") == ["10.1.0.0/24"]
    assert members(entry, "application") == ["ssl", "web-browsing"] and members(entry, "service") == ["service-https"]
    assert entry.findtext("action") == "allow" and entry.findtext("description") == "managed"

    # The firewall stores a uuid and defaults (source-user, category, ...): none of that is a change.
    run, result = one(tmp_path / "again", panos_provider, "panos_security_rule", web)
    assert not result["changed"] and not result["moved"]
    run, result = one(tmp_path / "minimal", panos_provider, "panos_security_rule", {"name": "web-to-db"})
    assert not result["changed"]

    # A setting this module does not manage survives an update.
    api.xapi.set(VSYS + "/rulebase/security/rules/entry[@name='web-to-db']", "<log-setting>fwd</log-setting>")
    update = dict(web, action="deny", application=["ssl"], description="")
    run, result = one(tmp_path / "update", panos_provider, "panos_security_rule", update, diff=True)
    assert result["changed"] and result["diff"]["before"]["action"] == "allow"
    entry = api.rules()[0]
    assert entry.findtext("action") == "deny" and members(entry, "application") == ["ssl"]
    assert entry.find("description") is None and entry.findtext("log-setting") == "fwd"

    run, result = one(tmp_path / "after", panos_provider, "panos_security_rule",
                      {"name": "web-to-db", "location": "after", "existing_rule": "r-a"}, diff=True)
    assert result["changed"] and result["moved"]
    names = rule_names(api)
    assert names.index("web-to-db") == names.index("r-a") + 1
    run, result = one(tmp_path / "after-again", panos_provider, "panos_security_rule",
                      {"name": "web-to-db", "location": "after", "existing_rule": "r-a"})
    assert not result["changed"]

    run, result = one(tmp_path / "before", panos_provider, "panos_security_rule",
                      {"name": "web-to-db", "location": "before", "existing_rule": "r-a"})
    assert result["moved"]
    names = rule_names(api)
    assert names.index("web-to-db") == names.index("r-a") - 1

    run, result = one(tmp_path / "bottom", panos_provider, "panos_security_rule",
                      {"name": "web-to-db", "location": "bottom"})
    assert result["moved"] and rule_names(api)[-1] == "web-to-db"

    run, result = one(tmp_path / "noref", panos_provider, "panos_security_rule",
                      {"name": "web-to-db", "location": "before", "existing_rule": "nope"}, ignore_errors=True)
    assert_clean_failure(run, result, "existing_rule")

    run, result = one(tmp_path / "delete", panos_provider, "panos_security_rule",
                      {"name": "web-to-db", "state": "absent"}, diff=True)
    assert result["changed"] and "web-to-db" not in rule_names(api)


# --- panos_registered_ip ----------------------------------------------------------------------------------

def test_registered_ip_two_thousand_in_one_call(tmp_path, panos_provider, api):
    ips = ["10.50.%d.%d" % (i // 250, i % 250 + 1) for i in range(2000)]
    args = {"ips": ips, "tags": ["ntnx.bulk"], "timeout": 0}

    before = api.calls("user-id")
    run, result = one(tmp_path / "check", panos_provider, "panos_registered_ip", args, check=True)
    assert result["changed"] and result["userid_calls"] == 0
    assert api.calls("user-id") == before and api.registered("ntnx.bulk") == {}

    run, result = one(tmp_path / "create", panos_provider, "panos_registered_ip", args)
    assert run.rc == 0 and result["changed"]
    assert api.calls("user-id") - before == 1                         # one User-ID call for 2,000 IPs
    table = api.registered("ntnx.bulk")
    assert set(table) == set(ips)
    assert len(result["registered_ips"]) == 2000

    run, result = one(tmp_path / "again", panos_provider, "panos_registered_ip", args)
    assert not result["changed"] and api.calls("user-id") - before == 1

    # exclusive: only the first 10 keep the tag; 1,990 unregistered and 1 new IP registered in one call
    keep = ips[:10] + ["10.60.0.1"]
    run, result = one(tmp_path / "exclusive", panos_provider, "panos_registered_ip",
                      {"ips": keep, "tags": ["ntnx.bulk"], "exclusive": True}, diff=True)
    assert result["changed"] and api.calls("user-id") - before == 2
    assert set(api.registered("ntnx.bulk")) == set(keep)
    assert sorted(result["registered_ips"]) == sorted(keep)
    assert result["diff"]["after"]["10.60.0.1"] == ["ntnx.bulk"] and result["diff"]["after"][ips[11]] == []

    run, result = one(tmp_path / "absent", panos_provider, "panos_registered_ip",
                      {"ips": keep, "tags": ["ntnx.bulk"], "state": "absent"})
    assert result["changed"] and api.registered("ntnx.bulk") == {}


def test_registered_ip_leaves_other_tags_alone_and_sets_timeouts(tmp_path, panos_provider, api, panos_sim):
    api.xapi.user_id(cmd="<uid-message><version>1.0</version><type>update</type><payload><register>"
                         "<entry ip='10.70.0.1'><tag><member>other-system</member></tag></entry>"
                         "</register></payload></uid-message>")
    run, result = one(tmp_path / "add", panos_provider, "panos_registered_ip",
                      {"ips": ["10.70.0.1", "10.70.0.2"], "tags": ["web", "prod"], "timeout": 3600}, diff=True)
    assert result["changed"]
    table = api.registered()
    assert table["10.70.0.1"] == {"other-system", "web", "prod"} and table["10.70.0.2"] == {"web", "prod"}
    assert result["diff"]["before"]["10.70.0.1"] == [] and result["diff"]["after"]["10.70.0.2"] == ["prod", "web"]

    run, result = one(tmp_path / "drop", panos_provider, "panos_registered_ip",
                      {"ips": ["10.70.0.1"], "tags": ["web", "prod"], "state": "absent"})
    assert result["changed"] and api.registered()["10.70.0.1"] == {"other-system"}

    panos_sim.advance_clock(3601)                                     # the firewall drops the timed-out tags
    table = api.registered()
    assert "10.70.0.2" not in table and table["10.70.0.1"] == {"other-system"}

    run, result = one(tmp_path / "bad", panos_provider, "panos_registered_ip",
                      {"ips": ["10.70.0.300"], "tags": ["web"]}, ignore_errors=True)
    assert_clean_failure(run, result, "not an IPv4 or IPv6 address")

    # The collection's one address rule: the task fails naming the address, and nothing reaches the firewall.
    before = api.calls("user-id")
    run, result = one(tmp_path / "zone", panos_provider, "panos_registered_ip",
                      {"ips": ["10.70.0.3", "fe80::1%eth0"], "tags": ["web"]}, ignore_errors=True)
    assert_clean_failure(run, result, "'fe80::1%eth0' cannot be registered on a firewall", "zone index")
    assert api.calls("user-id") == before and "10.70.0.3" not in api.registered()


# --- panos_commit -----------------------------------------------------------------------------------------

def test_commit_once_then_nothing_to_commit(tmp_path, panos_provider, api, panos_sim):
    tasks = [{"name": "flush", "netevents.nutanix.panos_commit": {"provider": PROVIDER}}]
    play(tmp_path / "flush", panos_provider, tasks)                 # whatever earlier tests left
    commits = panos_sim.stats()["commits"]

    run, result = one(tmp_path / "nothing", panos_provider, "panos_commit", {})
    assert not result["changed"] and result["jobid"] is None
    assert panos_sim.stats()["commits"] == commits

    play(tmp_path / "change", panos_provider,
         [{"name": "tag", "netevents.nutanix.panos_tag": {"provider": PROVIDER, "name": "to-commit"}}])
    run, result = one(tmp_path / "check", panos_provider, "panos_commit", {}, check=True)
    assert result["changed"] and panos_sim.stats()["commits"] == commits
    assert api.op("<check><pending-changes/></check>").text == "yes"

    run, result = one(tmp_path / "commit", panos_provider, "panos_commit",
                      {"description": "functional test", "admins": [PANOS_USERNAME]})
    assert run.rc == 0 and result["changed"] and result["result"] == "OK" and result["status"] == "FIN"
    assert panos_sim.stats()["commits"] == commits + 1
    job = api.op("<show><jobs><id>%d</id></jobs></show>" % result["jobid"]).find("job")
    assert job.findtext("status") == "FIN" and job.findtext("result") == "OK"
    assert job.findtext("type") == "Commit" and result["job"]["user"] == job.findtext("user")
    assert api.op("<check><pending-changes/></check>").text == "no"

    run, result = one(tmp_path / "again", panos_provider, "panos_commit", {})
    assert not result["changed"] and panos_sim.stats()["commits"] == commits + 1
    run, result = one(tmp_path / "again-check", panos_provider, "panos_commit", {}, check=True)
    assert not result["changed"]


def test_the_whole_scaffold_then_one_commit(tmp_path, panos_provider, api, panos_sim):
    """The documented pattern: objects first, one commit at the end; a rerun changes nothing."""
    tasks = [
        {"name": "tag", "netevents.nutanix.panos_tag": {"provider": PROVIDER, "name": "ntnx.AppTier.Db",
                                                        "color": "blue"}},
        {"name": "group", "netevents.nutanix.panos_address_group": {
            "provider": PROVIDER, "name": "ntnx-db", "dynamic_filter": "'ntnx.AppTier.Db'"}},
        {"name": "rule", "netevents.nutanix.panos_security_rule": {
            "provider": PROVIDER, "name": "to-db", "destination_ip": ["ntnx-db"], "application": ["mysql"]}},
        {"name": "ips", "netevents.nutanix.panos_registered_ip": {
            "provider": PROVIDER, "ips": ["10.80.0.1"], "tags": ["ntnx.AppTier.Db"]}},
        {"name": "commit", "netevents.nutanix.panos_commit": {"provider": PROVIDER}},
    ]
    play(tmp_path / "flush", panos_provider, tasks[-1:])
    commits = panos_sim.stats()["commits"]
    run = play(tmp_path / "first", panos_provider, tasks)
    assert run.rc == 0 and run.changed_count == 5
    assert panos_sim.stats()["commits"] == commits + 1
    run = play(tmp_path / "second", panos_provider, tasks)
    assert run.rc == 0 and run.changed_count == 0, [r["task"] for r in run.results if r["result"].get("changed")]
    assert panos_sim.stats()["commits"] == commits + 1
    members_of = api.op("<show><object><dynamic-address-group><name>ntnx-db</name></dynamic-address-group>"
                        "</object></show>")
    assert "10.80.0.1" in ET.tostring(members_of).decode()


def test_failed_commit_fails_the_task_with_the_job_details(tmp_path, panos_provider, api, panos_sim):
    bad_rule = {"name": "bad rule", "netevents.nutanix.panos_security_rule": {
        "provider": PROVIDER, "name": "refers-to-nothing", "source_ip": ["no-such-group"]}}
    commit = {"name": "t", "ignore_errors": True, "netevents.nutanix.panos_commit": {"provider": PROVIDER}}
    run = play(tmp_path / "fail", panos_provider, [bad_rule, commit])
    result = run.result("t")
    assert_clean_failure(run, result, "failed", "no-such-group")
    job = api.op("<show><jobs><id>%d</id></jobs></show>" % result["jobid"]).find("job")
    assert job.findtext("result") == "FAIL" and result["result"] == "FAIL"
    assert result["changed"] is False   # PAN-OS kept the running configuration as it was
    assert api.op("<check><pending-changes/></check>").text == "yes"   # the change waits in the candidate

    fix = {"name": "fix", "netevents.nutanix.panos_security_rule": {
        "provider": PROVIDER, "name": "refers-to-nothing", "state": "absent"}}
    change = {"name": "change", "netevents.nutanix.panos_tag": {"provider": PROVIDER, "name": "after-the-fix"}}
    queued = {"name": "t", "netevents.nutanix.panos_commit": {"provider": PROVIDER, "sync": False}}
    run = play(tmp_path / "fix", panos_provider, [fix, change, queued])
    result = run.result("t")
    assert result["changed"] and result["jobid"] and result["result"] is None
    wait = {"name": "t", "netevents.nutanix.panos_commit": {"provider": PROVIDER}}
    run = play(tmp_path / "wait", panos_provider, [wait])            # the queued job took it all: nothing left
    assert not run.result("t")["changed"]
    job = api.op("<show><jobs><id>%d</id></jobs></show>" % result["jobid"]).find("job")
    assert job.findtext("status") == "FIN" and job.findtext("result") == "OK"
