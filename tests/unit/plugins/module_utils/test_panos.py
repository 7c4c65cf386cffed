"""The shared PAN-OS client: name validation, the User-ID batch, plans, errors - and the real thing against the
PAN-OS simulator (TLS, credentials, paging, one User-ID call, commit)."""
import ssl
import threading
import time

import pytest

from ansible_collections.netevents.nutanix.plugins.module_utils import panos as panos_utils
from ansible_collections.netevents.nutanix.plugins.module_utils.events import VmState
from ansible_collections.netevents.nutanix.plugins.module_utils.panos import (
    PanosError, build_uid_message, describe_error, normalize_ip, plan_registered_ips, validate_address,
    validate_name)
from ansible_collections.netevents.nutanix.plugins.module_utils.tagging import TagMapper


# --- names ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,kind", [
    ("ntnx.AppTier.Web", "tag"), ("web servers", "tag"), ("_x", "tag"), ("a", "rule"), ("web-to-db", "rule"),
    ("x" * 127, "tag"), ("x" * 63, "address_group"), ("trust", "zone"), ("application-default", "service"),
    ("Web_01.prod-a", "address"),
])
def test_valid_names(name, kind):
    assert validate_name(name, kind) == name


@pytest.mark.parametrize("name", [
    "x' or '1'='1", "a']/../entry[@name='b", 'q"uote', "<script>", "a&b", "a/b", "a[1]", "x]", "tab\there",
    "new\nline", "@admin", "a=b", " lead", "trail ", "", "-dash-first", ".dot-first", "ünïcode", "a;b", "a|b",
    "a\\b", "a*", "a`b", "a$b",
])
def test_injection_and_unsafe_names_are_refused(name):
    with pytest.raises(ValueError) as e:
        validate_name(name, "tag")
    assert "tag name" in str(e.value)


@pytest.mark.parametrize("kind,limit", [("tag", 127), ("address_group", 63), ("rule", 63), ("zone", 31)])
def test_length_limits(kind, limit):
    validate_name("a" * limit, kind)
    with pytest.raises(ValueError, match="at most %d" % limit):
        validate_name("a" * (limit + 1), kind)


def test_non_strings_and_unknown_kinds():
    for bad in (None, 5, ["a"]):
        with pytest.raises(ValueError):
            validate_name(bad)
    with pytest.raises(ValueError, match="unknown kind"):
        validate_name("a", "flavour")


def test_every_tag_the_mapper_makes_is_a_valid_name():
    mapper = TagMapper()
    for categories in ({"AppTier": "Web"}, {"App Tier": "we'b\"]/<x>&"}, {"Env": "Prod 1"}, {"x" * 50: "y" * 60}):
        for tag in mapper.tags_for(VmState("u", categories=categories)):
            assert validate_name(tag, "tag") == tag


@pytest.mark.parametrize("value", ["any", "10.0.0.0/24", "10.0.0.5", "2001:db8::/64", "10.0.0.1-10.0.0.9",
                                   "web-servers", "h-10.1.1.1"])
def test_addresses(value):
    assert validate_address(value) == value


@pytest.mark.parametrize("value", ["10.0.0.0/24']", "x' or 1=1", "a/b/c"])
def test_bad_addresses(value):
    with pytest.raises(ValueError):
        validate_address(value)


def test_normalize_ip():
    assert normalize_ip(" 10.0.0.5 ") == "10.0.0.5"
    assert normalize_ip("2001:DB8:0::5") == "2001:db8::5"
    with pytest.raises(ValueError, match="not an IPv4 or IPv6"):
        normalize_ip("10.0.0.256")


# --- the User-ID batch and the plan -----------------------------------------------------------------------

def test_one_uid_message_for_a_whole_change_set():
    register = dict(("10.0.%d.%d" % (i // 250, i % 250), ["web", "prod"]) for i in range(2000))
    message = build_uid_message(register=register, unregister={"10.9.9.9": {"web"}}, timeout={"web": 60})
    assert message.tag == "uid-message" and message.findtext("type") == "update"
    entries = message.findall("./payload/register/entry")
    assert len(entries) == 2000
    first = message.find("./payload/register/entry[@ip='10.0.0.0']")
    members = dict((m.text, m.get("timeout")) for m in first.findall("./tag/member"))
    assert members == {"web": "60", "prod": None}   # timeouts per tag
    unreg = message.findall("./payload/unregister/entry")
    assert [(e.get("ip"), [m.text for m in e.findall("./tag/member")]) for e in unreg] == [("10.9.9.9", ["web"])]
    assert unreg[0].find("./tag/member").get("timeout") is None


def test_uid_message_timeout_for_every_tag_and_nothing_to_send():
    message = build_uid_message(register={"10.0.0.1": {"a", "b"}}, timeout=300)
    assert [m.get("timeout") for m in message.iter("member")] == ["300", "300"]
    assert build_uid_message() is None
    assert build_uid_message(register={"10.0.0.1": set()}, unregister={}) is None


def test_uid_message_refuses_bad_tags_and_ips():
    with pytest.raises(ValueError):
        build_uid_message(register={"10.0.0.1": ["ok", "</member><x>"]})
    with pytest.raises(ValueError):
        build_uid_message(register={"10.0.0.1'": ["ok"]})


def test_plan_present_absent_exclusive():
    """The three ways panos_registered_ip uses the one planner: only the given tags are managed."""
    current = {"10.0.0.1": {"web"}, "10.0.0.2": {"web", "db"}, "10.0.0.3": {"db"}}
    web = {"web"}.__contains__
    present = plan_registered_ips(dict.fromkeys(["10.0.0.1", "10.0.0.4"], {"web"}), current, owns=web,
                                  scope=["10.0.0.1", "10.0.0.4"])
    assert present.register == {"10.0.0.4": {"web"}} and present.unregister == {}
    after = present.after(current)
    assert after["10.0.0.4"] == {"web"} and after["10.0.0.2"] == {"web", "db"}

    exclusive = plan_registered_ips(dict.fromkeys(["10.0.0.1", "10.0.0.4"], {"web"}), current, owns=web)
    assert exclusive.register == {"10.0.0.4": {"web"}} and exclusive.unregister == {"10.0.0.2": {"web"}}
    after = exclusive.after(current)
    assert sorted(ip for ip, tags in after.items() if "web" in tags) == ["10.0.0.1", "10.0.0.4"]
    assert after["10.0.0.2"] == {"db"}   # other tags stay

    absent = plan_registered_ips({}, current, owns={"web", "db"}.__contains__, scope=["10.0.0.2", "10.0.0.9"])
    assert absent.register == {} and absent.unregister == {"10.0.0.2": {"web", "db"}}
    assert "10.0.0.2" not in absent.after(current)

    assert not plan_registered_ips({"10.0.0.1": {"web"}}, current, owns=web, scope=["10.0.0.1"]).changed


def test_plan_refresh_registers_everything_again():
    """The listener plans against its own memory, which a rebooted firewall may no longer match."""
    before = {"10.0.0.1": {"web", "old"}}
    plan = plan_registered_ips({"10.0.0.1": {"web"}, "10.0.0.2": {"db"}}, before, refresh=True)
    assert plan.register == {"10.0.0.1": {"web"}, "10.0.0.2": {"db"}} and plan.unregister == {"10.0.0.1": {"old"}}


# --- errors and TLS settings ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,expected", [
    ("URLError: code: 403 reason: Forbidden", "refused the credentials"),
    ("Invalid credentials.", "refused the credentials"),
    ("URLError: reason: [Errno 111] Connection refused", "connection refused"),
    ("URLError: reason: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate",
     "provider.ca_path"),
    ("URLError: reason: timed out", "no answer"),
    ("URLError: reason: [Errno -2] Name or service not known", "cannot resolve"),
    ("Object doesn't exist", "answered: Object doesn't exist"),
    ("URLError: code: 404 reason: NOT FOUND", "answered HTTP 404 (NOT FOUND) at /api/: this is not the XML API"),
    ("URLError: code: 503 reason: Service Unavailable", "answered HTTP 503 (Service Unavailable)"),
    ("no handler for content-type: {'text/html'}", "answered with text/html content, not XML: this is not"),
    ("ElementTree.fromstring ParseError: syntax error: line 1", "does not parse as XML"),
])
def test_friendly_messages(raw, expected):
    message = describe_error(Exception(raw), "fw:443")
    assert expected in message and "fw:443" in message


@pytest.mark.parametrize("raw,expected", [
    ("URLError: code: 403 reason: Forbidden", "credentials refused"),
    ("Invalid credentials.", "credentials refused"),
    ("URLError: reason: [Errno 111] Connection refused", "unreachable"),
    ("URLError: reason: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "TLS failure"),
    ("URLError: reason: timed out", "timeout"),
    ("URLError: code: 503 reason: Service Unavailable", "HTTP 503"),
    ("URLError: code: 404 reason: NOT FOUND", "not PAN-OS"),
    ("no handler for content-type: {'text/html'}", "not PAN-OS"),
    # The device answered the request itself: the request is at fault, not the device.
    ("URLError: code: 400 reason: Bad Request", None),
    ("Object doesn't exist", None),
    ("tag 'x' is invalid", None),
])
def test_what_makes_a_device_unavailable(raw, expected):
    assert panos_utils.unavailable_reason(Exception(raw)) == expected


def test_ssl_contexts(tmp_path):
    assert panos_utils.ssl_context().verify_mode == ssl.CERT_REQUIRED
    assert panos_utils.ssl_context().check_hostname
    off = panos_utils.ssl_context(validate_certs=False)
    assert off.verify_mode == ssl.CERT_NONE and not off.check_hostname
    with pytest.raises(PanosError, match="ca_path"):
        panos_utils.ssl_context(ca_path=str(tmp_path / "missing.pem"))
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(PanosError, match="ca_path"):
        panos_utils.ssl_context(ca_path=str(bad))


@pytest.mark.parametrize("provider,kwargs,message", [
    ({"ip_address": "fw/x", "api_key": "k"}, {}, "ip_address"),
    ({"ip_address": "127.0.0.1", "api_key": "k", "port": 70000}, {}, "port"),
    ({"ip_address": "127.0.0.1", "api_key": "k"}, {"vsys": "vsys1']"}, "vsys"),
    ({"ip_address": "127.0.0.1", "api_key": "k"}, {"device_group": "dg'"}, "device group"),
])
def test_connect_refuses_bad_settings_before_any_call(provider, kwargs, message):
    with pytest.raises(PanosError, match=message):
        panos_utils.connect(provider, **kwargs)


# --- against the PAN-OS simulator -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sim():
    simulators = pytest.importorskip("tests.simulators.panos")
    server = simulators.PanosSimulator(username="admin", password="admin", port=0, commit_seconds=0.3).start()
    yield server
    server.stop()


@pytest.fixture
def provider(sim):
    return {"ip_address": sim.host, "port": sim.port, "username": "admin", "password": "admin",
            "validate_certs": True, "ca_path": sim.cert_path}


def _calls(sim, kind):
    return sim.stats()["calls"].get(kind, 0)


def test_tls_is_verified_by_default(sim):
    with pytest.raises(PanosError) as e:
        panos_utils.connect({"ip_address": sim.host, "port": sim.port, "password": "admin"})
    assert "could not be verified" in str(e.value) and "ca_path" in str(e.value)


def test_verified_with_the_simulator_cert_or_unverified_on_request(sim, provider):
    device = panos_utils.connect(provider)
    assert isinstance(device, panos_utils.Firewall) and device.vsys == "vsys1"
    insecure = dict(provider, validate_certs=False, ca_path=None)
    assert panos_utils.connect(insecure, vsys="vsys2").vsys == "vsys2"


def test_bad_credentials_and_unreachable_host_are_readable(sim, provider):
    with pytest.raises(PanosError, match="refused the credentials") as e:
        panos_utils.connect(dict(provider, password="wrong"))
    assert "wrong" not in str(e.value)
    with pytest.raises(PanosError, match="refused the credentials"):
        panos_utils.connect(dict(provider, password=None, api_key="not-a-key"))
    with pytest.raises(PanosError, match="connection refused"):
        panos_utils.connect(dict(provider, port=1))


def test_http_errors_and_odd_answers_become_panos_errors(sim, provider):
    sim.fault("error", 60, status=503)
    try:
        with pytest.raises(PanosError, match="503"):
            panos_utils.connect(provider)
    finally:
        sim.fault(None)
    assert isinstance(panos_utils.connect(provider), panos_utils.Firewall)


def test_api_errors_wraps_the_library_and_not_our_own_bugs():
    with pytest.raises(PanosError, match=r"unexpected answer from fw:443 \(KeyError: 'system'\)"):
        with panos_utils.api_errors("fw:443"):
            panos_utils.Firewall("fw")._save_system_info({})   # pan-os-python indexes an answer blindly
    with pytest.raises(KeyError):
        with panos_utils.api_errors("fw:443"):
            {}["system"]   # a bug of ours stays a bug: never "an unexpected answer from the device"
    with pytest.raises(PanosError, match="fw:443 answered: No such node"):
        with panos_utils.api_errors("fw:443"):
            raise panos_utils.pan.xapi.PanXapiError("No such node")


def test_another_service_on_the_port_is_named(provider):
    prism = pytest.importorskip("tests.simulators.prism").PrismSimulator(port=0).start()
    try:
        with pytest.raises(PanosError) as info:
            panos_utils.connect(dict(provider, port=prism.port, validate_certs=False))
    finally:
        prism.stop()
    assert "answered HTTP 404 (NOT FOUND) at /api/: this is not the XML API of a PAN-OS firewall" in str(info.value)
    assert "cannot reach" not in str(info.value)


@pytest.mark.parametrize("text", [
    "'a'", "'ntnx.AppTier.Web' and 'ntnx.Env.Prod'", "('a' or 'b') and 'c'", "(('a')) or 'web servers'",
    "'aws-tag.aws:cloudformation:logical-id.ServerInstance' and 'instanceState.running'",
])
def test_dynamic_filters_pan_os_accepts(text):
    assert panos_utils.validate_dynamic_filter(text) == text


@pytest.mark.parametrize("text,message", [
    ("'a' and not 'b'", "'not' at character 9 of dynamic_filter: PAN-OS filters have no negation"),
    ("not 'b'", "'not' at character 1"),
    ("web and db", "unexpected web at character 1 of dynamic_filter: write tags in single quotes"),
    ('"web"', "unexpected \"web\""),
    ("'a' AND 'b'", "unexpected AND"),
    ("'a' 'b'", "unexpected 'b' at character 5"),
    ("'a' and", "ends too early: a tag is missing"),
    ("('a' or 'b'", "ends too early: ')' is missing"),
    ("'a')", "unexpected ) at character 4"),
    ("()", "unexpected ) at character 2"),
    ("''", "must have 1 to 127 characters"),
    ("'%s'" % ("x" * 128), "must have 1 to 127 characters"),
    ("  ", "must not be empty"),
    ("'a' or " * 300 + "'a'", "longer than the 2047 characters"),
])
def test_dynamic_filters_pan_os_refuses(text, message):
    with pytest.raises(ValueError) as info:
        panos_utils.validate_dynamic_filter(text)
    assert message in str(info.value)


def test_device_group_on_a_firewall_is_refused(sim, provider):
    with pytest.raises(PanosError, match="device_group is for Panorama"):
        panos_utils.connect(provider, device_group="dg1")


def test_two_thousand_ips_in_one_user_id_call_and_paged_read_back(sim, provider):
    device = panos_utils.connect(provider)
    register = dict(("10.20.%d.%d" % (i // 200, i % 200 + 1), {"unit.bulk"}) for i in range(2000))
    before = _calls(sim, "user-id")
    assert panos_utils.apply_registered_ips(device, register=register, timeout=3600) == 1
    assert _calls(sim, "user-id") - before == 1
    state = sim.registered_ips()
    assert all("unit.bulk" in state[ip] for ip in register)

    ops = _calls(sim, "op")
    table = panos_utils.get_registered_ips(device, tag="unit.bulk")
    assert set(table) == set(register)
    assert _calls(sim, "op") - ops >= 4   # 2,000 entries come in pages of 500

    before = _calls(sim, "user-id")
    assert panos_utils.apply_registered_ips(device, unregister=register) == 1
    assert _calls(sim, "user-id") - before == 1
    assert not any("unit.bulk" in tags for tags in sim.registered_ips().values())
    assert panos_utils.apply_registered_ips(device) == 0
    assert _calls(sim, "user-id") - before == 1


def test_a_full_firewall_names_the_addresses_it_refused_even_behind_a_benign_last_answer():
    """pan-os-python's UserId.send() drops an error whose LAST entry says "already exists, ignore": here the refused
    entries come first (10.30.0.1x sort before 10.30.0.9, registered again), and must not be lost."""
    simulators = pytest.importorskip("tests.simulators.panos")
    small = simulators.PanosSimulator(username="admin", password="admin", model="VM-50",
                                      registered_ip_capacity=2).start()
    try:
        device = panos_utils.connect({"ip_address": small.host, "port": small.port, "username": "admin",
                                      "password": "admin", "ca_path": small.cert_path})
        assert panos_utils.platform_capacity(device) == ("VM-50", 1000)      # what the model holds
        panos_utils.apply_registered_ips(device, register={"10.30.0.8": {"a"}, "10.30.0.9": {"a"}})
        with pytest.raises(panos_utils.RegistrationRefused) as info:
            panos_utils.apply_registered_ips(device, register={"10.30.0.10": {"a"}, "10.30.0.11": {"a"},
                                                               "10.30.0.9": {"a", "b"}})
        assert info.value.refused == {"10.30.0.10": ["max registered-ip for the platform reached (2)"],
                                      "10.30.0.11": ["max registered-ip for the platform reached (2)"]}
        assert info.value.full == {"10.30.0.10", "10.30.0.11"} and info.value.unavailable is None
        assert "refused 2 registered IP(s): 10.30.0.10: max registered-ip" in str(info.value)
        assert small.registered_ips() == {"10.30.0.8": {"a"}, "10.30.0.9": {"a", "b"}}     # the rest applied
        # Only benign answers: no error.
        assert panos_utils.apply_registered_ips(device, register={"10.30.0.9": {"a"}},
                                                unregister={"10.30.0.8": {"zz"}}) == 1
    finally:
        small.stop()


@pytest.mark.parametrize("message, full", [
    ("max registered-ip for the platform reached (1000)", True),
    ("Maximum number of registered IPs reached", True),
    ("registered-ip limit exceeded", True),
    ("tag x not registered: ip 10.0.0.1 already has the maximum of 32 tags", False),
    ("registered ip 10.0.0.1 has reached the maximum number of tags", False),
    ("tag 'x,y' is invalid", False)])
def test_full_firewall_answers(message, full):
    assert panos_utils.is_full_answer(message) is full


def test_platform_capacities_by_model():
    class Dev(object):
        def __init__(self, system):
            self.netevents_system_info = system

        def nearest_pandevice(self):
            return self
    for system, expected in (({"model": "PA-VM", "vm-license": "VM-300"}, ("VM-300", 200000)),
                             ({"model": "PA-3250"}, ("PA-3250", 200000)), ({"model": "M-600"}, ("M-600", 500000)),
                             ({"model": "PA-VM", "vm-license": "VM-Series"}, ("VM-Series", None)),
                             ({}, ("unknown model", None))):
        assert panos_utils.platform_capacity(Dev(system)) == expected


def test_objects_are_created_updated_and_deleted(sim, provider):
    device = panos_utils.connect(provider)
    fields = {"color": "color", "comments": "comments"}
    changed, before, after, _obj = panos_utils.sync_object(device, "tag", "unit.tag", fields,
                                                           {"color": "color1", "comments": "one"})
    assert changed and before == {} and after == {"color": "color1", "comments": "one"}
    fresh = panos_utils.connect(provider)
    tag = panos_utils.find_object(fresh, "tag", "unit.tag")
    assert (tag.color, tag.comments) == ("color1", "one")
    assert not panos_utils.sync_object(fresh, "tag", "unit.tag", fields, {"color": "color1", "comments": None})[0]
    assert panos_utils.sync_object(fresh, "tag", "unit.tag", fields, {"color": None, "comments": ""})[0]
    tag = panos_utils.find_object(panos_utils.connect(provider), "tag", "unit.tag")
    assert (tag.color, tag.comments) == ("color1", None)
    assert panos_utils.sync_object(fresh, "tag", "unit.tag", fields, {}, state="absent")[0]
    assert panos_utils.find_object(panos_utils.connect(provider), "tag", "unit.tag") is None


def test_commit_nothing_then_a_change_then_nothing(sim, provider):
    device = panos_utils.connect(provider)
    panos_utils.commit(device, timeout=60)   # whatever earlier tests left
    first = sim.stats()["commits"]
    assert panos_utils.commit(device, timeout=60)["changed"] is False
    panos_utils.sync_object(device, "tag", "unit.commit", {"comments": "comments"}, {"comments": "x"})
    assert panos_utils.pending_changes(device) is True
    outcome = panos_utils.commit(device, description="unit test", timeout=60)
    assert outcome["changed"] and outcome["result"] == "OK" and outcome["jobid"]
    job = panos_utils.show_job(device, outcome["jobid"])
    assert job["status"] == "FIN" and job["description"] == "unit test"
    assert panos_utils.commit(device, timeout=60)["changed"] is False
    assert sim.stats()["commits"] - first == 1
    assert panos_utils.pending_changes(device) is False


@pytest.fixture(scope="module")
def held_sim():
    """Commit jobs here last an hour of simulated time: they finish only when the test advances the clock. No
    commit may wait in its queue (a full queue, or PAN-OS before 7.1): a second one is refused while one runs."""
    simulators = pytest.importorskip("tests.simulators.panos")
    server = simulators.PanosSimulator(username="admin", password="admin", port=0, commit_seconds=3600,
                                       commit_queue_limit=0).start()
    yield server
    server.stop()


def _held_device(held_sim, name):
    device = panos_utils.connect({"ip_address": held_sim.host, "port": held_sim.port, "password": "admin",
                                  "ca_path": held_sim.cert_path})
    panos_utils.sync_object(device, "tag", name, {"comments": "comments"}, {"comments": name})
    return device


def test_commit_gives_up_after_its_timeout(held_sim):
    device = _held_device(held_sim, "unit.held1")
    queued = panos_utils.commit(device, sync=False, timeout=60)
    assert queued["changed"] and queued["result"] is None and queued["jobid"]
    panos_utils.sync_object(device, "tag", "unit.held2", {"comments": "comments"}, {"comments": "2"})
    with pytest.raises(PanosError, match="another commit is still running"):
        panos_utils.commit(device, timeout=0.3, interval=0.1)
    held_sim.advance_clock(3600)
    assert panos_utils.show_job(device, queued["jobid"])["result"] == "OK"
    second = panos_utils.commit(device, sync=False, timeout=60)
    assert second["changed"] and not second["waited_for_other_commit"]
    held_sim.advance_clock(3600)


def test_commit_waits_while_another_commit_runs(held_sim):
    device = _held_device(held_sim, "unit.wait1")
    queued = panos_utils.commit(device, sync=False, timeout=60)
    panos_utils.sync_object(device, "tag", "unit.wait2", {"comments": "comments"}, {"comments": "2"})
    attempts = held_sim.stats()["calls"].get("commit", 0)
    outcome = {}
    waiter = threading.Thread(target=lambda: outcome.update(panos_utils.commit(device, timeout=60, interval=0.05)))
    waiter.start()
    for _attempt in range(600):   # until the waiter has been told at least once that a commit is in progress
        if held_sim.stats()["calls"].get("commit", 0) > attempts:
            break
        time.sleep(0.05)
    for _attempt in range(600):   # then let both jobs finish
        if not waiter.is_alive():
            break
        held_sim.advance_clock(3600)
        time.sleep(0.05)
    waiter.join(5)
    assert outcome["waited_for_other_commit"] and outcome["result"] == "OK"
    assert outcome["jobid"] != queued["jobid"]
    assert panos_utils.show_job(device, queued["jobid"])["result"] == "OK"


def test_rulebase_follows_the_device_kind():
    """Panorama device groups get pre/post rulebases, a firewall its own; no API call is made."""
    from panos.panorama import DeviceGroup, Panorama

    panorama = Panorama("127.0.0.1", api_key="unused", port=9)
    panorama._set_version_and_version_info("10.2.0")
    group = DeviceGroup("branch")
    panorama.add(group)
    assert panos_utils.is_panorama(group)
    pre = panos_utils.rulebase(group)
    assert isinstance(pre, panos_utils.PreRulebase)
    rule = panos_utils.SecurityRule("r")
    pre.add(rule)
    assert "/device-group/entry[@name='branch']/pre-rulebase/security/rules/entry[@name='r']" in rule.xpath()
    assert isinstance(panos_utils.rulebase(group, post=True), panos_utils.PostRulebase)

    firewall = panos_utils.Firewall("127.0.0.1", api_key="unused", port=9)
    firewall._set_version_and_version_info("10.2.0")
    firewall.vsys = "vsys2"
    base = panos_utils.rulebase(firewall, post=True)
    assert base.__class__.__name__ == "Rulebase" and not panos_utils.is_panorama(firewall)
    rule = panos_utils.SecurityRule("r")
    base.add(rule)
    assert rule.xpath().endswith("/vsys/entry[@name='vsys2']/rulebase/security/rules/entry[@name='r']")
