"""The PAN-OS XML API simulator, driven by pan-os-python itself (the client whose expectations it must meet) and by
raw HTTPS requests for the exact codes and messages. Results are read back through the API (or /_sim over HTTP),
never from the simulator's internals."""
import ipaddress
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import pan.xapi
from panos import errors as panos_errors
from panos.base import PanDevice
from panos.firewall import Firewall
from panos.objects import AddressGroup, AddressObject, Tag
from panos.panorama import DeviceGroup, Panorama
from panos.policies import PostRulebase, PreRulebase, Rulebase, SecurityRule

from tests.simulators.panos import FilterError, PanosSimulator, parse_filter

VSYS = "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']"
REPO = os.path.join(os.path.dirname(__file__), "..", "..", "..")
STANDALONE = [sys.executable, "-m", "tests.simulators.panos"]


# ---------------------------------------------------------------- fixtures and helpers
@pytest.fixture
def sim():
    simulator = PanosSimulator(username="admin", password="admin", port=0, commit_seconds=0.2).start()
    yield simulator
    simulator.stop()


def firewall(sim, password="admin"):
    return Firewall("127.0.0.1", "admin", password, port=sim.port)


def call(sim, method="POST", **params):
    """One raw XML API call (TLS verified against the simulator's certificate): (HTTP status, <response>)."""
    if "key" not in params and params.get("type") != "keygen":
        params["key"] = sim.api_key
    kwargs = {"data": params} if method == "POST" else {"params": params}
    resp = requests.request(method, sim.url + "/api/", verify=sim.cert_path, timeout=10, **kwargs)
    assert resp.headers["Content-Type"].startswith("application/xml"), resp.text
    return resp.status_code, ET.fromstring(resp.content)


def lines(root):
    return [line.text for line in root.iter("line")]


def config(sim, action, xpath, **params):
    return call(sim, type="config", action=action, xpath=xpath, **params)[1]


def op(sim, cmd):
    return call(sim, type="op", cmd=cmd)[1]


def sim_stats(sim):
    resp = requests.get(sim.url + "/_sim/stats", verify=sim.cert_path, timeout=10)
    assert resp.status_code == 200
    return resp.json()


def sim_requests(sim):
    return requests.get(sim.url + "/_sim/requests", verify=sim.cert_path, timeout=10).json()


def job(sim, jobid):
    return op(sim, "<show><jobs><id>%s</id></jobs></show>" % jobid).find("result/job")


def wait_job(sim, jobid, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        current = job(sim, jobid)
        if current.findtext("status") == "FIN":
            return current
        assert time.monotonic() < deadline, "job %s did not finish" % jobid
        time.sleep(0.05)


def commit_and_wait(sim):
    _status, root = call(sim, type="commit", cmd="<commit></commit>")
    jobid = root.findtext("result/job")
    assert jobid, ET.tostring(root)
    return wait_job(sim, jobid)


# ---------------------------------------------------------------- keys and connection
def test_keygen_gives_a_stable_url_safe_key_and_403_on_bad_credentials(sim):
    status, root = call(sim, type="keygen", user="admin", password="admin")
    key = root.findtext("result/key")
    assert status == 200 and root.get("status") == "success" and len(key) > 40
    assert not set(key) & set("+&%/")                       # pan.xapi appends key= without encoding it
    assert call(sim, type="keygen", user="admin", password="admin")[1].findtext("result/key") == key

    status, root = call(sim, type="keygen", user="admin", password="wrong")
    assert status == 403 and root.get("status") == "error" and root.get("code") == "403"
    assert root.find("result/key") is None

    status, root = call(sim, type="op", cmd="<show><system><info/></system></show>", key=key + "x")
    assert status == 403 and root.findtext("result/msg") == "Invalid credentials."

    with pytest.raises(pan.xapi.PanXapiError, match="code: 403"):
        firewall(sim, password="wrong").refresh_system_info()


def test_pan_os_python_connects_and_reads_system_info(sim):
    fw = firewall(sim)
    version, platform, serial = fw.refresh_system_info()
    assert version.startswith("10.2.") and platform == "PA-VM" and serial == sim.serial
    assert fw.multi_vsys is False and fw.content_version
    info = fw.show_system_info()["system"]
    assert info["sw-version"] == version and info["hostname"] == "PA-VM"

    # Firewall.create_from_device: keygen, then "show system info", decides Firewall vs Panorama.
    detected = Firewall.create_from_device("127.0.0.1", "admin", "admin", port=sim.port)
    assert isinstance(detected, Firewall) and detected.serial == sim.serial


def test_get_with_query_arguments_works_like_post(sim):
    xapi = pan.xapi.PanXapi(hostname="127.0.0.1", port=sim.port, api_username="admin", api_password="admin",
                            use_get=True)
    xapi.op(cmd="show system info", cmd_xml=True)
    assert xapi.element_root.findtext("result/system/model") == "PA-VM"
    assert sim_requests(sim)[-1]["method"] == "GET"


# ---------------------------------------------------------------- objects through pan-os-python
def test_tag_address_group_rule_create_refresh_apply_delete(sim):
    fw = firewall(sim)
    tag = Tag("ntnx.AppTier.Web", color=Tag.color_code("green"), comments="web tier")
    fw.add(tag)
    tag.create()
    address = AddressObject("web-01", "10.1.1.5", description="a web VM", tag=["ntnx.AppTier.Web"])
    fw.add(address)
    address.create()
    group = AddressGroup("ntnx-web", dynamic_value="'ntnx.AppTier.Web'", tag=["ntnx.AppTier.Web"])
    static = AddressGroup("static-web", static_value=["web-01"])
    fw.extend([group, static])
    group.create()
    static.create()
    rulebase = Rulebase()
    fw.add(rulebase)
    rule = SecurityRule("to-web", fromzone=["untrust"], tozone=["trust"], destination=["ntnx-web"],
                        application=["web-browsing", "ssl"], service=["application-default"], action="allow",
                        tag=["ntnx.AppTier.Web"])
    other = SecurityRule("other", destination=["static-web"], action="deny")
    rulebase.extend([rule, other])
    rule.create()
    other.create()

    # refresh into fresh objects: what came back is what was created
    fresh = Firewall("127.0.0.1", "admin", "admin", port=sim.port)
    tags = Tag.refreshall(fresh)
    assert [(t.name, t.color, t.comments) for t in tags] == [("ntnx.AppTier.Web", "color2", "web tier")]
    addresses = AddressObject.refreshall(fresh)
    assert [(a.name, a.value, a.type, a.tag) for a in addresses] == [("web-01", "10.1.1.5", "ip-netmask",
                                                                      ["ntnx.AppTier.Web"])]
    groups = dict((g.name, g) for g in AddressGroup.refreshall(fresh))
    assert groups["ntnx-web"].dynamic_value == "'ntnx.AppTier.Web'" and groups["static-web"].static_value == [
        "web-01"]
    fresh_rulebase = Rulebase()
    fresh.add(fresh_rulebase)
    rules = SecurityRule.refreshall(fresh_rulebase)
    assert [r.name for r in rules] == ["to-web", "other"]
    assert rules[0].destination == ["ntnx-web"] and sorted(rules[0].application) == ["ssl", "web-browsing"]
    uuid = rules[0].uuid
    assert uuid and len(uuid) == 36                        # PAN-OS gives every rule a uuid
    assert SecurityRule.refreshall(fresh_rulebase, name_only=True)[1].name == "other"

    # apply replaces the object: the comments are gone, the rule keeps its uuid
    tag.comments = None
    tag.color = Tag.color_code("red")
    tag.apply()
    rule.action = "deny"
    rule.apply()
    again = Tag("ntnx.AppTier.Web")
    fresh.add(again)
    again.refresh()
    assert again.color == "color1" and again.comments is None
    check = SecurityRule("to-web")
    fresh_rulebase.add(check)
    check.refresh()
    assert check.action == "deny" and check.uuid == uuid

    # update one variable (an edit of that element), then move
    address.description = "moved web VM"
    address.update("description")
    assert config(sim, "get", VSYS + "/address/entry[@name='web-01']/description").findtext(
        "result/description") == "moved web VM"
    other.move("top")
    assert [r.name for r in SecurityRule.refreshall(fresh_rulebase)] == ["other", "to-web"]

    # delete in dependency order, and it is gone
    for obj in (rule, other, group, static, address, tag):
        obj.delete()
    missing = Tag("ntnx.AppTier.Web")
    fresh.add(missing)
    with pytest.raises(panos_errors.PanObjectMissing):
        missing.refresh()
    assert Tag.refreshall(fresh) == [] and SecurityRule.refreshall(fresh_rulebase) == []


def test_set_merges_and_edit_replaces(sim):
    entry = VSYS + "/address-group/entry[@name='g']"
    config(sim, "set", VSYS + "/address", element="<entry name='a1'><ip-netmask>10.0.0.1</ip-netmask></entry>"
                                                  "<entry name='a2'><ip-netmask>10.0.0.2</ip-netmask></entry>")
    config(sim, "set", entry, element="<static><member>a1</member></static><description>one</description>")
    root = config(sim, "set", entry, element="<static><member>a2</member></static><description>two</description>")
    assert root.get("status") == "success" and root.get("code") == "20" and root.findtext("msg") == "command succeeded"
    got = config(sim, "get", entry).find("result/entry")
    assert [m.text for m in got.findall("static/member")] == ["a1", "a2"] and got.findtext("description") == "two"

    config(sim, "edit", entry, element="<entry name='g'><static><member>a2</member></static></entry>")
    got = config(sim, "get", entry).find("result/entry")
    assert [m.text for m in got.findall("static/member")] == ["a2"] and got.find("description") is None

    root = config(sim, "edit", entry, element="<entry name='other'><static><member>a2</member></static></entry>")
    assert root.get("status") == "error" and root.get("code") == "12"


def test_get_of_a_missing_object_is_code_7_and_show_says_no_such_node(sim):
    missing = VSYS + "/tag/entry[@name='nope']"
    status, root = call(sim, type="config", action="get", xpath=missing)
    assert status == 200 and root.get("status") == "success" and root.get("code") == "7"
    assert len(root.find("result")) == 0

    config(sim, "set", VSYS + "/tag", element="<entry name='new'><color>color3</color></entry>")
    assert config(sim, "get", VSYS + "/tag/entry[@name='new']").get("code") == "19"
    root = config(sim, "show", VSYS + "/tag/entry[@name='new']")   # show reads the running config
    assert root.get("status") == "error" and lines(root) == ["No such node"]

    fw = firewall(sim)
    running = Tag("new")
    fw.add(running)
    with pytest.raises(panos_errors.PanObjectMissing):
        running.refresh(running_config=True)
    commit_and_wait(sim)
    running.refresh(running_config=True)
    assert running.color == "color3"

    root = config(sim, "delete", missing)
    assert root.get("status") == "success" and root.get("code") == "7" and root.findtext("msg") == "Object doesn't exist"


# ---------------------------------------------------------------- references and error codes
def test_objects_in_use_cannot_be_deleted(sim):
    config(sim, "set", VSYS + "/tag", element="<entry name='web'/>")
    config(sim, "set", VSYS + "/address", element="<entry name='h1'><ip-netmask>10.0.0.1</ip-netmask>"
                                                  "<tag><member>web</member></tag></entry>")
    config(sim, "set", VSYS + "/address-group", element="<entry name='g'><static><member>h1</member></static>"
                                                        "</entry>")
    config(sim, "set", VSYS + "/rulebase/security/rules",
           element="<entry name='r'><destination><member>g</member></destination></entry>")

    root = config(sim, "delete", VSYS + "/tag/entry[@name='web']")
    assert root.get("status") == "error" and root.get("code") == "10"
    assert [line.strip() for line in lines(root)] == ["web cannot be deleted because of references from:",
                                                      "vsys -> vsys1 -> address -> h1 -> tag"]
    root = config(sim, "delete", VSYS + "/address-group/entry[@name='g']")
    assert root.get("code") == "10" and lines(root)[1].strip() == (
        "vsys -> vsys1 -> rulebase -> security -> rules -> r -> destination")
    root = config(sim, "delete", VSYS + "/address/entry[@name='h1']")
    assert root.get("code") == "10" and "address-group -> g -> static" in lines(root)[1]

    # pan-os-python sees the same refusal; nothing was deleted
    fw = firewall(sim)
    tag = Tag("web")
    fw.add(tag)
    with pytest.raises(panos_errors.PanDeviceXapiError, match="cannot be deleted because of references"):
        tag.delete()
    assert config(sim, "get", VSYS + "/tag/entry[@name='web']").get("code") == "19"

    # once the references go, so can the objects (a whole container at once, too)
    config(sim, "delete", VSYS + "/rulebase/security/rules/entry[@name='r']")
    config(sim, "delete", VSYS + "/address-group/entry[@name='g']")
    config(sim, "delete", VSYS + "/address/entry[@name='h1']/tag")
    assert config(sim, "delete", VSYS + "/tag/entry[@name='web']").get("code") == "20"
    config(sim, "set", VSYS + "/tag", element="<entry name='t2'/>")
    config(sim, "set", VSYS + "/address", element="<entry name='h2'><ip-netmask>10.0.0.2</ip-netmask>"
                                                  "<tag><member>t2</member></tag></entry>")
    assert config(sim, "delete", VSYS + "/address").get("code") == "20"


@pytest.mark.parametrize("action, xpath, extra, code, text", [
    ("set", VSYS + "/tag", {"element": "<entry name='x'><colour>color1</colour></entry>"}, "12",
     "x -> colour unexpected here"),
    ("set", VSYS + "/tag", {"element": "<entry name='x'><color>purple</color></entry>"}, "12",
     "is not an allowed keyword"),
    ("set", VSYS + "/address", {"element": "<entry name='bad$name'><fqdn>a.example</fqdn></entry>"}, "12",
     "invalid name"),
    ("set", VSYS + "/adress", {"element": "<entry name='x'/>"}, "12", "Could not find schema node"),
    ("set", "/devices/x", {"element": "<a/>"}, "12", "Could not find schema node"),
    ("set", VSYS + "/tag", {"element": "<entry name='x'><color>color1</color>"}, "18", "Malformed Request"),
    ("set", VSYS + "/tag", {"element": "<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>"},
     "18", "Malformed Request"),
    ("get", VSYS + "/tag/entry[@name='x'", {}, "6", "Bad Xpath"),
    ("edit", VSYS + "/tag/entry[@name='x']", {"element": "<entry name='y'/>"}, "12", "Edit breaks config validity"),
    ("move", VSYS + "/rulebase/security/rules/entry[@name='r1']", {"where": "before", "dst": "r1"}, "14",
     "Operation not possible"),
    ("move", VSYS + "/rulebase/security/rules/entry[@name='r1']", {"where": "after", "dst": "zz"}, "13",
     "Object not found"),
    ("move", VSYS + "/rulebase/security/rules/entry[@name='nope']", {"where": "top"}, "7", "No such node"),
])
def test_config_errors_use_pan_os_codes(sim, action, xpath, extra, code, text):
    config(sim, "set", VSYS + "/rulebase/security/rules", element="<entry name='r1'/><entry name='r2'/>")
    before = config(sim, "get", "/config")
    status, root = call(sim, type="config", action=action, xpath=xpath, **extra)
    assert status == 200 and root.get("status") == "error" and root.get("code") == code, ET.tostring(root)
    assert text in " ".join(lines(root)), lines(root)
    assert ET.tostring(config(sim, "get", "/config")) == ET.tostring(before)   # nothing changed
    assert sim.stats()["internal_errors"] == 0


def test_request_level_errors(sim):
    status, root = call(sim, action="get")
    assert status == 400 and root.get("code") == "400" and "type" in root.findtext("result/msg")
    status, root = call(sim, type="bogus")
    assert status == 400 and 'Illegal value for parameter "type" [bogus].' == root.findtext("result/msg")
    status, root = call(sim, type="config", action="frobnicate", xpath=VSYS)
    assert status == 400
    root = op(sim, "<show><frobnicate/></show>")
    assert root.get("code") == "17" and lines(root) == ["show -> frobnicate is unexpected"]
    root = op(sim, "<show><system><info>")
    assert root.get("code") == "18"
    root = call(sim, type="op", cmd="<show><system><info/></system></show>", vsys="vsys9")[1]
    assert root.get("status") == "error" and "vsys9" in lines(root)[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["config", "op", "user-id", "commit"]),
       action=st.sampled_from(["get", "show", "set", "edit", "delete", "move", None]),
       xpath=st.one_of(st.none(), st.text(max_size=60), st.just(VSYS + "/tag")),
       payload=st.one_of(st.text(max_size=120), st.just("<uid-message><payload><register><entry ip='x'/>"
                                                        "</register></payload></uid-message>")))
@example(kind="config", action="get", xpath="\x1f", payload="")                  # echoed in the error message
@example(kind="op", action=None, xpath=None, payload="<show>\x00</show>")
@example(kind="op", action=None, xpath=None,
         payload="<show><object><registered-ip><limit>99999999999999999999</limit></registered-ip></object></show>")
@example(kind="config", action="move", xpath=VSYS + "/tag", payload="")
def test_malformed_input_gets_an_xml_error_never_a_crash(sim, kind, action, xpath, payload):
    params = {"type": kind, "cmd": payload, "element": payload}
    if action:
        params["action"] = action
    if xpath is not None:
        params["xpath"] = xpath
    status, root = call(sim, **params)
    assert root.tag == "response" and root.get("status") in ("success", "error") and status in (200, 400)
    assert sim.stats()["internal_errors"] == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(section=st.sampled_from(["register", "unregister", "bogus"]),
       entries=st.lists(st.tuples(st.text(max_size=16), st.text(max_size=16), st.text(max_size=6)), max_size=4),
       query=st.tuples(st.text(max_size=8), st.text(max_size=8), st.text(max_size=16)))
def test_odd_user_id_messages_and_queries_never_crash(sim, section, entries, query):
    message = ET.Element("uid-message")
    ET.SubElement(message, "version").text = "1.0"
    body = ET.SubElement(ET.SubElement(message, "payload"), section)
    for value, tag, timeout in entries:
        entry = ET.SubElement(body, "entry", {"ip": value, "user": value, "name": value, "timeout": timeout})
        ET.SubElement(ET.SubElement(entry, "tag"), "member", {"timeout": timeout}).text = tag
    status, root = call(sim, type="user-id", cmd=ET.tostring(message, encoding="unicode"))
    assert status == 200 and root.get("status") in ("success", "error")
    limit, start, ip = query
    show = ET.Element("show")
    registered = ET.SubElement(ET.SubElement(show, "object"), "registered-ip")
    ET.SubElement(registered, "limit").text = limit
    ET.SubElement(registered, "start-point").text = start
    ET.SubElement(registered, "ip").text = ip
    status, root = call(sim, type="op", cmd=ET.tostring(show, encoding="unicode"))
    assert status == 200 and root.get("status") in ("success", "error")
    assert sim.stats()["internal_errors"] == 0


# ---------------------------------------------------------------- commits
def test_commit_runs_as_a_job_and_copies_candidate_to_running(sim):
    sim.commit_seconds = 0.5
    config(sim, "set", VSYS + "/tag", element="<entry name='t'/>")
    assert op(sim, "<check><pending-changes/></check>").findtext("result") == "yes"
    status, root = call(sim, type="commit", cmd="<commit><description>first</description></commit>")
    assert root.get("code") == "19" and lines(root) == ["Commit job enqueued with jobid %s" % root.findtext(
        "result/job")]
    jobid = root.findtext("result/job")
    active = job(sim, jobid)
    assert (active.findtext("status"), active.findtext("result"), active.findtext("tfin")) == (
        "ACT", "PEND", "Still Active")

    root = call(sim, type="commit", cmd="<commit></commit>")[1]      # a second commit meanwhile waits its turn
    second = root.findtext("result/job")
    assert root.get("code") == "19" and int(second) == int(jobid) + 1
    queued = job(sim, second)
    assert [queued.findtext(k) for k in ("status", "queued", "positionInQ", "progress")] == ["PEND", "YES", "1", "0"]
    fw = firewall(sim)

    done = wait_job(sim, jobid)
    assert [done.findtext(k) for k in ("id", "user", "type", "status", "result", "progress", "description")] == [
        jobid, "admin", "Commit", "FIN", "OK", "100", "first"]
    assert done.findtext("tenq") and done.findtext("tfin") != "Still Active"
    assert [line.text for line in done.findall("details/line")] == ["Configuration committed successfully"]
    assert config(sim, "show", VSYS + "/tag/entry[@name='t']").get("status") == "success"
    assert wait_job(sim, second).findtext("result") == "OK"           # then the queued one ran
    assert op(sim, "<check><pending-changes/></check>").findtext("result") == "no"

    root = call(sim, type="commit", cmd="<commit></commit>")[1]
    assert root.get("status") == "success" and root.findtext("msg") == "There are no changes to commit."
    assert root.find("result/job") is None
    assert fw.commit(sync=True) is None                              # pan-os-python: nothing to commit
    assert sim_stats(sim)["commits"] == 2


def test_pan_os_python_commit_sync(sim):
    fw = firewall(sim)
    tag = Tag("committed", color="color5")
    fw.add(tag)
    tag.create()
    assert fw.pending_changes() is True
    result = fw.commit(sync=True)
    assert result["success"] is True and result["result"] == "OK" and result["user"] == "admin"
    assert result["messages"] == ["Configuration committed successfully"]
    assert fw.pending_changes() is False
    running = Tag("committed")
    fw.add(running)
    running.refresh(running_config=True)
    assert running.color == "color5"
    # pan-os-python polled the job: it saw it ACT, then FIN
    polls = [r for r in sim_requests(sim) if r.get("cmd", "").startswith("<show><jobs><id>")]
    assert len(polls) >= 2


def test_a_commit_that_fails_validation_leaves_running_alone(sim):
    config(sim, "set", VSYS + "/rulebase/security/rules", element=(
        "<entry name='bad'><from><member>nowhere</member></from><to><member>any</member></to>"
        "<source><member>any</member></source><destination><member>no-such-group</member></destination>"
        "<application><member>any</member></application><service><member>application-default</member></service>"
        "<action>allow</action></entry>"))
    config(sim, "set", VSYS + "/address-group", element="<entry name='both'><static><member>10.0.0.1</member>"
                                                        "</static><dynamic><filter>'x'</filter></dynamic></entry>")
    fw = firewall(sim)
    result = fw.commit(sync=True)
    assert result["success"] is False and result["result"] == "FAIL"
    messages = result["messages"]
    assert messages[0] == "Validation Error:" and messages[-1] == "Commit failed"
    assert "rulebase -> security -> rules -> bad -> from 'nowhere' is not a valid reference" in messages
    assert "rulebase -> security -> rules -> bad -> destination 'no-such-group' is not an allowed keyword" in messages
    assert "address-group -> both Node static and dynamic are mutually exclusive" in messages
    assert config(sim, "show", VSYS + "/rulebase/security/rules/entry[@name='bad']").get("status") == "error"
    assert op(sim, "<check><pending-changes/></check>").findtext("result") == "yes"
    assert sim_stats(sim)["commits_failed"] == 1


def test_forced_and_partial_commits(sim):
    assert lines(call(sim, type="commit", cmd="<commit><force/></commit>")[1])[0].startswith(
        "Commit job enqueued")
    sim.advance_clock(1)
    config(sim, "set", VSYS + "/tag", element="<entry name='p'/>")
    root = call(sim, type="commit", cmd="<commit><partial><admin><member>someone-else</member></admin></partial>"
                                        "</commit>")[1]
    assert root.findtext("msg") == "There are no changes to commit."
    root = call(sim, type="commit", cmd="<commit><partial><admin><member>admin</member></admin></partial>"
                                        "</commit>")[1]
    assert root.findtext("result/job")


# ---------------------------------------------------------------- User-ID
def test_userid_register_unregister_and_duplicates(sim):
    fw = firewall(sim)
    fw.userid.register(["10.0.0.1", "10.0.0.2"], ["web", "prod"])
    fw.userid.register("10.0.0.1", "web")                     # a duplicate: PAN-OS complains, pan-os-python ignores
    assert dict((ip, sorted(t)) for ip, t in fw.userid.get_registered_ip().items()) == {
        "10.0.0.1": ["prod", "web"], "10.0.0.2": ["prod", "web"]}

    uid = ("<uid-message><version>1.0</version><type>update</type><payload><register>"
           "<entry ip='10.0.0.1'><tag><member>web</member></tag></entry></register></payload></uid-message>")
    root = call(sim, type="user-id", cmd=uid)[1]
    assert root.get("status") == "error"
    assert root.find("msg/line/uid-response/payload/register/entry").get("message") == "tag web already exists, ignore"

    fw.userid.unregister("10.0.0.1", ["web"])
    fw.userid.unregister("10.0.0.9", ["web"])                  # not there: ignored too
    assert fw.userid.get_registered_ip(tags="web") == {"10.0.0.2": ["web"]}
    assert fw.userid.get_registered_ip(ip="10.0.0.1") == {"10.0.0.1": ["prod"]}
    assert sim.registered_ips() == {"10.0.0.1": {"prod"}, "10.0.0.2": {"prod", "web"}}

    # without <tag>, unregister drops every tag of that IP; IPv6 works the same
    uid = ("<uid-message><version>1.0</version><type>update</type><payload><unregister><entry ip='10.0.0.2'/>"
           "</unregister><register><entry ip='2001:db8::5' persistent='0'><tag><member>v6</member></tag></entry>"
           "</register></payload></uid-message>")
    assert call(sim, type="user-id", cmd=uid)[1].get("status") == "success"
    entries = op(sim, "<show><object><registered-ip><all/></registered-ip></object></show>").findall("result/entry")
    assert [(e.get("ip"), e.get("persistent"), [m.text for m in e.findall("tag/member")]) for e in entries] == [
        ("10.0.0.1", "1", ["prod"]), ("2001:db8::5", "0", ["v6"])]

    root = call(sim, type="user-id", cmd=uid.replace("2001:db8::5", "10.0.0.300"))[1]
    assert "invalid ip address" in ET.tostring(root).decode()


def test_tag_timeouts_expire(sim):
    fw = firewall(sim)
    fw.userid.register("10.9.0.1", ["short"], timeout=30)
    fw.userid.register("10.9.0.1", ["forever"])
    fw.userid.register("10.9.0.2", ["short"], timeout=30)
    fw.userid.register("10.9.0.3", ["long"], timeout=3600)
    sim.advance_clock(29)
    assert set(fw.userid.get_registered_ip(tags="short")) == {"10.9.0.1", "10.9.0.2"}
    fw.userid.register("10.9.0.2", ["short"], timeout=120)    # registering again refreshes the timeout
    sim.advance_clock(2)
    table = fw.userid.get_registered_ip()
    assert dict((ip, sorted(t)) for ip, t in table.items()) == {
        "10.9.0.1": ["forever"], "10.9.0.2": ["short"], "10.9.0.3": ["long"]}
    sim.advance_clock(3600)
    assert fw.userid.get_registered_ip() == {"10.9.0.1": ["forever"]}

    uid = ("<uid-message><version>1.0</version><type>update</type><payload><register><entry ip='10.9.0.4'><tag>"
           "<member timeout='2592001'>too-long</member></tag></entry></register></payload></uid-message>")
    root = call(sim, type="user-id", cmd=uid)[1]
    assert root.get("status") == "error" and "timeout '2592001' is invalid" in ET.tostring(root).decode()
    assert "10.9.0.4" not in sim.registered_ips()


def test_registered_ip_paging_with_1200_entries(sim):
    fw = firewall(sim)
    ips = [str(ipaddress.ip_address("10.20.0.1") + i) for i in range(1200)]
    before = sim.stats()["calls"].get("user-id", 0)
    fw.userid.register(ips, ["bulk"])                      # one User-ID call for all of them
    assert sim.stats()["calls"]["user-id"] - before == 1
    fw.userid.register(ips[:3], ["extra"])

    table = fw.userid.get_registered_ip()
    assert len(table) == 1200 and set(table) == set(ips)
    assert sorted(table[ips[0]]) == ["bulk", "extra"] and table[ips[-1]] == ["bulk"]
    pages = [ET.fromstring(r["cmd"]).findtext("object/registered-ip/start-point") for r in sim_requests(sim)
             if "<registered-ip>" in r.get("cmd", "")]
    assert pages == ["1", "501", "1001"]                  # pan-os-python paged 500 at a time

    page = op(sim, "<show><object><registered-ip><limit>500</limit><start-point>501</start-point>"
                   "</registered-ip></object></show>")
    entries = page.findall("result/entry")
    assert len(entries) == 500 and entries[0].get("ip") == ips[500] and page.findtext("result/count") == "500"
    page = op(sim, "<show><object><registered-ip><tag><entry name='extra'/></tag></registered-ip></object></show>")
    assert [e.get("ip") for e in page.findall("result/entry")] == ips[:3]
    page = op(sim, "<show><object><registered-ip><ip>10.20.0.0/30</ip></registered-ip></object></show>")
    assert [e.get("ip") for e in page.findall("result/entry")] == ips[:3]
    root = op(sim, "<show><object><registered-ip><limit>501</limit></registered-ip></object></show>")
    assert root.get("status") == "error"


# ---------------------------------------------------------------- dynamic address groups
@pytest.mark.parametrize("text, tags, expected", [
    ("'a'", {"a"}, True),
    ("'a' and 'b'", {"a"}, False),
    ("'a' and 'b' or 'c'", {"c"}, True),
    ("'a' and ('b' or 'c')", {"c"}, False),
    ("('a' or 'b') and 'c'", {"b", "c"}, True),
    ("\"with space\" or plain", {"with space"}, True),
    ("\"with space\" or plain", {"plain"}, True),
    ("'x' OR 'y'", {"y"}, True),
])
def test_filter_language(text, tags, expected):
    assert parse_filter(text)(tags) is expected


@pytest.mark.parametrize("text", ["", "'a' and", "('a' or 'b'", "'a' 'b'", "not 'a'", "'a' and or 'b'", ")"])
def test_filter_errors(text):
    with pytest.raises(FilterError):
        parse_filter(text)


def test_dynamic_address_group_membership_from_running_config(sim):
    groups = {
        "both": "'web' and 'prod'",
        "either": "'web' or 'db'",
        "grouped": "('web' or 'db') and 'prod'",
        "quoted": "'tier one' and \"dc-2\"",
        "bare": "db",
    }
    config(sim, "set", VSYS + "/address-group", element="".join(
        "<entry name='%s'><dynamic><filter>%s</filter></dynamic></entry>" % (name, text.replace("'", "&apos;"))
        for name, text in groups.items()))
    config(sim, "set", VSYS + "/address", element="<entry name='db-host'><ip-netmask>10.3.0.9</ip-netmask>"
                                                  "<tag><member>db</member><member>prod</member></tag></entry>")
    fw = firewall(sim)
    fw.userid.register("10.3.0.1", ["web", "prod"])
    fw.userid.register("10.3.0.2", ["web"])
    fw.userid.register("10.3.0.3", ["db", "dev"])
    fw.userid.register("10.3.0.4", ["tier one", "dc-2"])

    def members():
        root = op(sim, "<show><object><dynamic-address-group><all/></dynamic-address-group></object></show>")
        return dict((e.findtext("group-name"), sorted((m.get("type"), m.get("name")) for m in e.findall(
            "member-list/entry"))) for e in root.findall("result/dyn-addr-grp/entry"))

    assert members() == {}                                     # the groups are not committed yet
    commit_and_wait(sim)
    ip = "registered-ip"
    assert members() == {
        "both": [(ip, "10.3.0.1")],
        "either": [("address-object", "db-host"), (ip, "10.3.0.1"), (ip, "10.3.0.2"), (ip, "10.3.0.3")],
        "grouped": [("address-object", "db-host"), (ip, "10.3.0.1")],
        "quoted": [(ip, "10.3.0.4")],
        "bare": [("address-object", "db-host"), (ip, "10.3.0.3")],
    }
    # registered IPs are live (no commit): membership follows at once
    fw.userid.unregister("10.3.0.1", ["prod"])
    assert members()["both"] == []
    one = op(sim, "<show><object><dynamic-address-group><name>quoted</name></dynamic-address-group></object>"
                  "</show>").findall("result/dyn-addr-grp/entry")
    assert [(e.findtext("vsys"), e.findtext("filter")) for e in one] == [("vsys1", groups["quoted"])]


# ---------------------------------------------------------------- counters, faults, standalone
def test_stats_count_calls_by_type_and_commits(sim):
    fw = firewall(sim)
    tag = Tag("counted")
    fw.add(tag)
    tag.create()
    fw.commit(sync=True)
    fw.userid.register("10.0.0.1", "x")
    stats = sim_stats(sim)
    assert stats["calls"]["keygen"] == 1 and stats["calls"]["config"] == 1 and stats["calls"]["user-id"] == 1
    assert stats["calls"]["commit"] == 1 and stats["commits"] == 1 and stats["config_actions"] == {"set": 1}
    assert stats["ops"]["show jobs"] >= 1
    assert stats["calls"]["op"] == sum(stats["ops"].values())
    assert requests.post(sim.url + "/_sim/reset-stats", verify=sim.cert_path, timeout=10).status_code == 200
    assert sim_stats(sim)["calls"] == {} and sim.stats()["commits"] == 0
    requests_seen = sim_requests(sim)
    assert requests_seen == []
    fw.userid.get_registered_ip()
    assert all("key" not in r and "password" not in r for r in sim_requests(sim))


def test_fault_refuse_closes_the_port_then_recovers(sim):
    fw = firewall(sim)
    fw.refresh_system_info()
    sim.fault("refuse", 1.0)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(sim.url + "/api/", data={"type": "keygen"}, verify=sim.cert_path, timeout=5)
    with pytest.raises(panos_errors.PanURLError, match="Connection refused"):
        fw.op("show system info")
    deadline = time.monotonic() + 15
    while True:
        try:
            assert call(sim, type="op", cmd="<show><clock/></show>")[1].get("status") == "success"
            break
        except requests.exceptions.ConnectionError:
            assert time.monotonic() < deadline, "the simulator did not reopen its port"
            time.sleep(0.1)
    assert fw.refresh_system_info().serial == sim.serial       # same port, same certificate

    # the same through HTTP, ended early with mode "none"
    resp = requests.post(sim.url + "/_sim/fault", json={"mode": "refuse", "seconds": 600}, verify=sim.cert_path,
                         timeout=5)
    assert resp.status_code == 200
    deadline = time.monotonic() + 10
    while True:
        try:
            requests.get(sim.url + "/_sim/stats", verify=sim.cert_path, timeout=5)
        except requests.exceptions.ConnectionError:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sim.clear_fault()
    assert call(sim, type="op", cmd="<show><clock/></show>")[1].get("status") == "success"


def test_fault_error_answers_an_http_status(sim):
    fw = firewall(sim)
    fw.refresh_system_info()
    resp = requests.post(sim.url + "/_sim/fault", json={"mode": "error", "seconds": 60, "status": 502},
                         verify=sim.cert_path, timeout=5)
    assert resp.status_code == 200
    assert requests.post(sim.url + "/api/", data={"type": "keygen"}, verify=sim.cert_path, timeout=5
                         ).status_code == 502
    with pytest.raises(panos_errors.PanURLError, match="code: 502"):
        fw.op("show system info")
    assert sim_stats(sim)["faulted"] == 2
    sim.fault("none")
    assert fw.refresh_system_info().serial == sim.serial
    with pytest.raises(ValueError):
        sim.fault("explode", 1)
    for body in ({"mode": "error", "seconds": -1}, {"seconds": 5}, {"mode": "error", "status": 200}):
        assert requests.post(sim.url + "/_sim/fault", json=body, verify=sim.cert_path, timeout=5).status_code == 400
    assert call(sim, type="op", cmd="<show><clock/></show>")[0] == 200


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_standalone_mode_prints_its_url_and_stops_on_sigterm():
    proc = subprocess.Popen(STANDALONE + ["--port", "0", "--username", "u1", "--password", "p-1",
                                          "--commit-seconds", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, cwd=REPO)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("PAN-OS simulator ready at https://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[1]
        resp = requests.post(url + "/api/", data={"type": "keygen", "user": "u1", "password": "p-1"},
                             verify=False, timeout=10)
        assert resp.status_code == 200 and ET.fromstring(resp.content).findtext("result/key")
        assert requests.post(url + "/api/", data={"type": "keygen", "user": "admin", "password": "admin"},
                             verify=False, timeout=10).status_code == 403
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- what pan-os-python sends
def test_the_requests_pan_os_python_makes(sim):
    """Record one pass of everything the collection relies on, and check each request kind was served."""
    fw = firewall(sim)
    fw.refresh_system_info()
    tag = Tag("rec", color="color1")
    fw.add(tag)
    tag.create()
    tag.apply()
    tag.refresh()
    Tag.refreshall(fw, name_only=True)
    tag.comments = "c"
    tag.update("comments")
    rulebase = Rulebase()
    fw.add(rulebase)
    first, second = SecurityRule("one"), SecurityRule("two")
    rulebase.extend([first, second])
    first.create()
    second.create()
    second.move("before", "one")
    fw.pending_changes()
    fw.commit(sync=True)
    fw.userid.register("10.1.0.1", "rec", timeout=60)
    fw.userid.unregister("10.1.0.1", "rec")
    fw.userid.get_registered_ip(tags="rec")
    second.delete()
    kinds = []
    for r in sim_requests(sim):
        assert r["http_status"] == 200 and r["status"] == "success", r
        if r["type"] == "config":
            kinds.append("config %s" % r["action"])
        elif r["type"] in ("op", "user-id"):
            root = ET.fromstring(r["cmd"])
            label = [root.tag]
            while len(root) == 1 and label[-1] not in ("registered-ip", "jobs", "payload"):
                root = root[0]
                label.append(root.tag)
            if r["type"] == "user-id":
                label.append("/".join(c.tag for c in ET.fromstring(r["cmd"]).find("payload")))
            kinds.append("%s %s" % (r["type"], " ".join(label)))
        else:
            kinds.append(r["type"])
    assert set(kinds) == {
        "keygen", "op show system info", "config set", "config edit", "config get", "config move",
        "config delete", "op check pending-changes", "commit", "op show jobs", "user-id uid-message register",
        "user-id uid-message unregister", "op show object registered-ip",
    }, kinds


# ---------------------------------------------------------------- Panorama mode
DG = "/config/devices/entry[@name='localhost.localdomain']/device-group/entry[@name='branch']"


@pytest.fixture
def panorama():
    simulator = PanosSimulator(username="admin", password="admin", port=0, commit_seconds=0.1, model="Panorama",
                               hostname="panorama-1", device_groups=("branch", "dc")).start()
    yield simulator
    simulator.stop()


def test_panorama_is_recognised_by_pan_os_python_and_lists_its_device_groups(panorama):
    device = PanDevice.create_from_device("127.0.0.1", "admin", "admin", port=panorama.port)
    assert isinstance(device, Panorama) and device.version.startswith("10.2")
    assert device.show_system_info()["system"]["model"] == "Panorama"
    assert sorted(dg.name for dg in DeviceGroup.refreshall(device, add=False, name_only=True)) == ["branch", "dc"]
    assert config(panorama, "get", "/config/devices/entry/vsys").find("result") is not None
    assert len(config(panorama, "get", "/config/devices/entry/vsys").find("result")) == 0  # no vsys at all


def test_panorama_objects_and_pre_post_rules_in_a_device_group_then_commit(panorama):
    device = Panorama("127.0.0.1", "admin", "admin", port=panorama.port)
    group = DeviceGroup("branch")
    device.add(group)
    tag = Tag("web", color="color3")
    address = AddressObject("h1", "10.0.0.1", tag=["web"])
    dynamic = AddressGroup("web-vms", dynamic_value="'web'")
    for obj in (tag, address, dynamic):
        group.add(obj)
        obj.create()
    pre, post = PreRulebase(), PostRulebase()
    group.add(pre)
    group.add(post)
    # Zones come from templates on Panorama: names the simulator has never seen are accepted.
    first = SecurityRule("allow-web", fromzone=["outside"], tozone=["web-zone"], destination=["web-vms"],
                         application=["web-browsing"], service=["application-default"], action="allow")
    last = SecurityRule("deny-rest", action="deny")
    pre.add(first)
    first.create()
    post.add(last)
    last.create()

    fetched = SecurityRule("allow-web")
    pre.add(fetched)
    fetched.refresh()
    assert fetched.destination == ["web-vms"] and fetched.fromzone == ["outside"] and fetched.uuid
    assert config(panorama, "get", DG + "/post-rulebase/security/rules/entry[@name='deny-rest']/action") \
        .findtext("result/action") == "deny"
    other = config(panorama, "get", DG.replace("branch", "dc") + "/tag/entry[@name='web']")
    assert other.find("result/entry") is None                      # the other device group is untouched

    # References inside the device group count, as on a firewall's vsys.
    root = config(panorama, "delete", DG + "/address-group/entry[@name='web-vms']")
    assert root.get("code") == "10" and "pre-rulebase -> security -> rules -> allow-web -> destination" in \
        " ".join(lines(root))

    result = device.commit(sync=True)
    assert result["success"] and result["result"] == "OK"
    assert config(panorama, "show", DG + "/pre-rulebase/security/rules/entry[@name='allow-web']") \
        .find("result/entry") is not None
    assert device.commit(sync=True) is None                         # "There are no changes to commit."
    assert panorama.stats()["commits"] == 1


def test_a_firewall_rule_still_needs_known_zones(sim):
    fw = firewall(sim)
    base = Rulebase()
    fw.add(base)
    rule = SecurityRule("r", fromzone=["no-such-zone"], tozone=["untrust"], action="allow")
    base.add(rule)
    rule.create()
    done = commit_and_wait(sim)
    assert done.findtext("result") == "FAIL"
    assert "from 'no-such-zone' is not a valid reference" in ET.tostring(done, encoding="unicode")
