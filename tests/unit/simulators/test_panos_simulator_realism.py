"""The PAN-OS simulator as bounded as a real firewall: platform capacity, 32 tags per IP, case-insensitive tag
names, IPv4 ranges and networks, zone indexes, queued commits, change marks on the candidate, and the latency
model's single management plane - driven by pan-os-python, outcomes read back through the API."""
import ipaddress
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from panos import errors as panos_errors
from panos.objects import AddressGroup, AddressObject, Tag

from test_panos_simulator import VSYS, call, commit_and_wait, config, firewall, job, lines, op
from tests.simulators.panos import Latency, PanosSimulator, platform


@pytest.fixture
def make_sim():
    started = []

    def make(**kwargs):
        kwargs.setdefault("commit_seconds", 0.2)
        simulator = PanosSimulator(username="admin", password="admin", port=0, **kwargs).start()
        started.append(simulator)
        return simulator
    yield make
    for simulator in started:
        simulator.stop()


def uid(section, entries):
    """A raw <uid-message> with one section: entries are (ip, [tags])."""
    body = "".join("<entry ip='%s'><tag>%s</tag></entry>" % (ip, "".join("<member>%s</member>" % t for t in tags))
                   for ip, tags in entries)
    return ("<uid-message><version>1.0</version><type>update</type><payload><%s>%s</%s></payload></uid-message>"
            % (section, body, section))


def problems(root):
    return [(e.get("ip"), e.get("message")) for e in root.iter("entry") if e.get("message")]


def registered(sim, query):
    """The objects `show object registered-ip` lists for *query* (its <tag> or <ip> filter), in its order."""
    root = op(sim, "<show><object><registered-ip>%s</registered-ip></object></show>" % query)
    return [e.get("ip") for e in root.findall("result/entry")]


def dag_members(sim, name):
    root = op(sim, "<show><object><dynamic-address-group><name>%s</name></dynamic-address-group></object></show>"
              % name)
    return sorted(e.get("name") for e in root.findall("result/dyn-addr-grp/entry/member-list/entry"))


def dynamic_groups(sim, filters):
    fw = firewall(sim)
    for name, text in filters.items():
        fw.add(AddressGroup(name, dynamic_value=text)).create()
    fw.commit(sync=True)
    return fw


# ---------------------------------------------------------------- platforms
@pytest.mark.parametrize("model, reported, family, capacity", [
    ("VM-50", "PA-VM", "vm", 1000),
    ("VM-300", "PA-VM", "vm", 200000),
    ("PA-220", "PA-220", "200", 1000),
    ("PA-3250", "PA-3250", "3200", 200000),
    ("PA-5200", "PA-5220", "5200", 500000),
])
def test_each_model_reports_itself_and_holds_its_platforms_capacity(make_sim, model, reported, family, capacity):
    sim = make_sim(model=model)
    fw = firewall(sim)
    assert fw.refresh_system_info().platform == reported
    info = fw.show_system_info()["system"]
    assert info["family"] == family and (info.get("vm-license") == model) == (reported == "PA-VM")
    assert sim.stats()["registered_ip_capacity"] == capacity


def test_an_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown model 'VM-5'"):
        PanosSimulator(model="VM-5")
    assert platform("M-600").registered_ip_capacity == platform("Panorama").registered_ip_capacity == 500000


# ---------------------------------------------------------------- capacity
def test_a_vm50_holds_1000_registered_ips_and_refuses_the_next(make_sim):
    sim = make_sim(model="VM-50")
    fw = firewall(sim)
    ips = [str(ipaddress.ip_address("10.40.0.1") + i) for i in range(1000)]
    fw.userid.register(ips, ["bulk"])
    with pytest.raises(panos_errors.PanDeviceXapiError, match=r"max registered-ip for the platform reached \(1000\)"):
        fw.userid.register("10.41.0.1", ["late"])
    fw.userid.register(ips[0], ["extra"])                 # a full table still takes tags for what it holds
    table = fw.userid.get_registered_ip()
    assert len(table) == 1000 and "10.41.0.1" not in table and sorted(table[ips[0]]) == ["bulk", "extra"]

    fw.userid.unregister(ips[-1], ["bulk"])               # room again
    fw.userid.register("10.41.0.1", ["late"])
    assert fw.userid.get_registered_ip(ip="10.41.0.1") == {"10.41.0.1": ["late"]}


def test_a_range_or_network_counts_as_one_registered_ip(make_sim):
    sim = make_sim(model="VM-50", registered_ip_capacity=2)
    fw = firewall(sim)
    fw.userid.register(["10.50.0.0/16", "10.60.0.1-10.60.3.255"], ["wide"])
    with pytest.raises(panos_errors.PanDeviceXapiError, match=r"reached \(2\)"):
        fw.userid.register("10.70.0.1", ["more"])
    assert sorted(fw.userid.get_registered_ip()) == ["10.50.0.0/16", "10.60.0.1-10.60.3.255"]


# ---------------------------------------------------------------- tags per IP, names
def test_at_most_32_tags_per_registered_ip(make_sim):
    sim = make_sim()
    fw = firewall(sim)
    fw.userid.register("10.0.0.1", ["t%02d" % i for i in range(32)])
    with pytest.raises(panos_errors.PanDeviceXapiError, match="maximum of 32 tags"):
        fw.userid.register("10.0.0.1", ["t32"])
    fw.userid.register("10.0.0.1", ["T00"])               # the same tag again: not a 33rd
    root = call(sim, type="user-id", cmd=uid("register", [("10.0.0.2", ["u%02d" % i for i in range(33)])]))[1]
    assert problems(root) == [("10.0.0.2", "tag u32 not registered: ip 10.0.0.2 already has the maximum of 32 tags")]
    table = fw.userid.get_registered_ip()
    assert len(table["10.0.0.1"]) == 32 and "t32" not in table["10.0.0.1"] and len(table["10.0.0.2"]) == 32


def test_tag_names_are_not_case_sensitive(make_sim):
    sim = make_sim()
    fw = dynamic_groups(sim, {"web": "'WEB'"})
    fw.userid.register("10.0.0.1", ["Web"])
    fw.userid.register("10.0.0.1", ["web"])               # the same tag: "already exists", ignored
    assert fw.userid.get_registered_ip() == {"10.0.0.1": ["Web"]}          # shown as first registered
    # (pan-os-python filters the answer again, case-sensitively: ask the firewall directly)
    assert registered(sim, "<tag><entry name='wEB'/></tag>") == ["10.0.0.1"]
    assert dag_members(sim, "web") == ["10.0.0.1"]
    fw.userid.unregister("10.0.0.1", ["wEb"])
    assert fw.userid.get_registered_ip() == {}

    fw.add(Tag("Db")).create()
    with pytest.raises(panos_errors.PanDeviceXapiError, match="not unique"):
        fw.add(Tag("db")).create()
    assert [t.name for t in Tag.refreshall(fw)] == ["Db"]
    address = fw.add(AddressObject("db-1", "10.9.0.1", tag=["DB"]))
    address.create()
    fw.commit(sync=True)
    fw.add(AddressGroup("dbs", dynamic_value="'db'")).create()
    fw.commit(sync=True)
    assert dag_members(sim, "dbs") == ["db-1"]
    with pytest.raises(panos_errors.PanDeviceXapiError, match="cannot be deleted"):
        fw.find("Db", Tag).delete()                        # "DB" on db-1 refers to it


def test_tag_names_with_a_comma_are_refused(make_sim):
    sim = make_sim()
    fw = firewall(sim)
    with pytest.raises(panos_errors.PanDeviceXapiError, match="tag 'a,b' is invalid"):
        fw.userid.register("10.0.0.1", ["a,b"])
    with pytest.raises(panos_errors.PanDeviceXapiError, match="invalid name"):
        fw.add(Tag("a,b")).create()
    assert fw.userid.get_registered_ip() == {} and Tag.refreshall(fw) == []


def test_an_address_with_an_empty_tag_member_is_refused(make_sim):
    sim = make_sim()
    root = config(sim, "set", VSYS + "/address", element="<entry name='h1'><ip-netmask>10.0.0.1</ip-netmask>"
                                                         "<tag><member>web</member><member></member></tag></entry>")
    assert root.get("status") == "error" and root.get("code") == "12" and "member is empty" in lines(root)[0]
    assert AddressObject.refreshall(firewall(sim)) == []


# ---------------------------------------------------------------- ranges, networks, zone indexes
def test_ranges_and_networks_pass_their_tags_to_what_they_hold(make_sim):
    """The PAN-OS 10.0 example: a network tagged tag02 gives tag02 to the range and the host inside it."""
    sim = make_sim()
    fw = dynamic_groups(sim, {"two": "'tag02'", "one-two": "'tag01' and 'tag02'", "three-two": "tag03 and tag02"})
    fw.userid.register("10.1.1.10-10.1.1.19", ["tag01"])
    fw.userid.register("10.1.1.0/24", ["tag02"])
    fw.userid.register("10.1.1.1/32", ["tag03"])           # a /32 is the host
    fw.userid.register("10.2.0.7/16", ["tag02"])          # host bits: the network
    assert dict((ip, sorted(t)) for ip, t in fw.userid.get_registered_ip().items()) == {
        "10.1.1.1": ["tag03"], "10.1.1.0/24": ["tag02"], "10.1.1.10-10.1.1.19": ["tag01"], "10.2.0.0/16": ["tag02"]}
    assert dag_members(sim, "two") == ["10.1.1.0/24", "10.1.1.1", "10.1.1.10-10.1.1.19", "10.2.0.0/16"]
    assert dag_members(sim, "one-two") == ["10.1.1.10-10.1.1.19"]
    assert dag_members(sim, "three-two") == ["10.1.1.1"]
    assert registered(sim, "<ip>10.1.1.0/24</ip>") == ["10.1.1.0/24", "10.1.1.1", "10.1.1.10-10.1.1.19"]
    fw.userid.unregister("10.1.1.0/24", ["tag02"])
    assert dag_members(sim, "one-two") == [] and dag_members(sim, "three-two") == []


@pytest.mark.parametrize("address", ["fe80::1%eth0", "10.0.0.1%2", "2001:db8::/64", "10.0.0.9-10.0.0.1",
                                     "2001:db8::1-2001:db8::5", "10.0.0.256"])
def test_what_pan_os_refuses_to_register(make_sim, address):
    sim = make_sim()
    fw = firewall(sim)
    with pytest.raises(panos_errors.PanDeviceXapiError, match="invalid ip address"):
        fw.userid.register(address, ["x"])
    assert fw.userid.get_registered_ip() == {}


def test_before_pan_os_10_only_hosts_register(make_sim):
    sim = make_sim(sw_version="9.1.16")
    fw = firewall(sim)
    for address in ("10.1.1.0/24", "10.1.1.10-10.1.1.19"):
        with pytest.raises(panos_errors.PanDeviceXapiError, match="invalid ip address"):
            fw.userid.register(address, ["x"])
    fw.userid.register("10.1.1.1/32", ["x"])
    assert fw.userid.get_registered_ip() == {"10.1.1.1": ["x"]}


# ---------------------------------------------------------------- commits
def test_commits_queue_behind_the_running_one_up_to_the_limit(make_sim):
    sim = make_sim(commit_seconds=3600, commit_queue_limit=2)
    fw = firewall(sim)
    jobs = []
    for name in ("first", "second", "third"):
        fw.add(Tag(name)).create()
        jobs.append(fw.commit(sync=False))
    assert [(job(sim, j).findtext("status"), job(sim, j).findtext("positionInQ")) for j in jobs] == [
        ("ACT", "0"), ("PEND", "1"), ("PEND", "2")]
    fw.add(Tag("fourth")).create()
    with pytest.raises(panos_errors.PanCommitInProgress):  # the queue is full
        fw.commit(sync=False)
    assert sim.stats()["commits_queued"] == 2

    sim.advance_clock(3600)                                # the first is done; the second starts from now
    assert [job(sim, j).findtext("status") for j in jobs] == ["FIN", "ACT", "PEND"]
    assert [t.name for t in Tag.refreshall(fw, running_config=True)] == ["first"]
    sim.advance_clock(7200)
    assert [job(sim, j).findtext("result") for j in jobs] == ["OK", "OK", "OK"]
    # A queued commit takes the candidate as it is when it starts: "fourth", set while it waited, went too.
    assert [t.name for t in Tag.refreshall(fw, running_config=True)] == ["first", "second", "third", "fourth"]
    assert fw.pending_changes() is False


# ---------------------------------------------------------------- change marks on the candidate
def test_changed_candidate_nodes_carry_admin_dirtyid_and_time_until_committed(make_sim):
    sim = make_sim()
    fw = firewall(sim)
    old = fw.add(Tag("old", comments="before"))
    old.create()
    commit_and_wait(sim)
    fw.add(Tag("new", comments="added")).create()

    def marks(xpath):
        """{tag, entry name or name/comments: marked?} in a get answer."""
        found = {}
        result = config(sim, "get", xpath).find("result")
        parents = dict((child, parent) for parent in result.iter() for child in parent)
        for element in result.iter():
            label = element.get("name") or element.tag
            if element.tag == "comments":
                label = "%s/comments" % parents[element].get("name")
            found[label] = element.get("dirtyId") is not None
        return found

    root = config(sim, "get", VSYS + "/tag")
    new = root.find("result/tag/entry[@name='new']")
    assert [new.get(k) is not None for k in ("admin", "dirtyId", "time")] == [True, True, True]
    assert new.get("admin") == "admin" and time.strptime(new.get("time"), "%Y/%m/%d %H:%M:%S")
    assert marks(VSYS + "/tag") == {"result": False, "tag": True, "old": False, "old/comments": False, "new": True,
                                    "new/comments": True}
    assert new.find("comments").get("dirtyId") == new.get("dirtyId")
    assert marks(VSYS + "/tag/entry[@name='old']") == {"result": False, "old": False, "old/comments": False}
    assert "dirtyId" not in ET.tostring(config(sim, "show", VSYS + "/tag")).decode()    # running: never

    Tag.refreshall(fw)                                        # pan-os-python reads through the marks
    assert fw.find("new", Tag).comments == "added"
    later = int(new.get("dirtyId"))
    old.comments = "after"
    old.update("comments")
    assert int(config(sim, "get", VSYS + "/tag/entry[@name='old']").find("result/entry").get("dirtyId")) > later

    sim.commit_seconds = 3600
    running = fw.commit(sync=False)
    fw.add(Tag("during")).create()                            # made while that commit runs: not committed by it
    sim.advance_clock(3600)
    assert job(sim, running).findtext("result") == "OK"
    assert marks(VSYS + "/tag") == {"result": False, "tag": True, "old": False, "old/comments": False, "new": False,
                                    "new/comments": False, "during": True}
    fw.commit(sync=False)
    sim.advance_clock(3600)
    assert "dirtyId" not in ET.tostring(config(sim, "get", VSYS + "/tag")).decode()


# ---------------------------------------------------------------- latency model
def test_without_the_latency_model_calls_are_answered_at_once(make_sim):
    sim = make_sim()
    firewall(sim).refresh_system_info()
    assert sim.latency is None and sim.stats()["management_plane"] is None


def test_the_latency_preset_is_the_platforms(make_sim):
    sim = make_sim(model="VM-50", latency=True, commit_seconds=None)
    assert sim.latency == platform("VM-50").latency and sim.commit_seconds == sim.latency.commit_seconds
    assert (sim.latency.registrations_per_second, sim.latency.unregistrations_per_second) == (293.0, 2274.0)


def test_one_management_plane_bounds_throughput(make_sim):
    """Calls from several clients queue behind each other on one plane: the plane's own accounting shows the
    time they waited for it, which parallel sleeps would not. The calls/s are printed, not asserted."""
    per_call = 0.02
    sim = make_sim(latency=Latency(per_call, 2000.0, 10000.0, 0.1))
    clients = [firewall(sim) for _client in range(4)]
    for fw in clients:
        fw.refresh_system_info()                              # keygen and system info, before we count
    sim.reset_stats()
    rounds = 10
    started = time.monotonic()
    threads = [threading.Thread(target=lambda fw=fw: [fw.op("<show><clock/></show>", cmd_xml=False)
                                                      for _call in range(rounds)]) for fw in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    elapsed = time.monotonic() - started
    plane = sim.stats()["management_plane"]
    calls = len(clients) * rounds
    print("\nlatency model, %d clients: %.1f calls/s (one plane at %.3f s a call serves at most %.0f calls/s)"
          % (len(clients), calls / elapsed, per_call, 1 / per_call))
    assert plane["calls"] == calls
    assert plane["busy_seconds"] == pytest.approx(calls * per_call)
    assert plane["queued_seconds"] > 0 and plane["longest_queue_seconds"] > 0

    sim.reset_stats()
    ips = [str(ipaddress.ip_address("10.30.0.1") + i) for i in range(400)]
    started = time.monotonic()
    clients[0].userid.register(ips, ["bulk"])                 # one call: 400 registrations at 2,000/s
    clients[0].userid.unregister(ips, ["bulk"])               # and 400 unregistrations at 10,000/s
    elapsed = time.monotonic() - started
    print("registrations and unregistrations: %.0f entries/s" % (800 / elapsed))
    assert sim.stats()["management_plane"]["busy_seconds"] == pytest.approx(2 * per_call + 400 / 2000.0
                                                                            + 400 / 10000.0)
