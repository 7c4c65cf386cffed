import pytest

from ansible_collections.netevents.nutanix.plugins.module_utils.events import VmState
from ansible_collections.netevents.nutanix.plugins.module_utils.panos import plan_registered_ips, validate_name
from ansible_collections.netevents.nutanix.plugins.module_utils.tagging import TagError, TagMapper, desired_ip_tags


def vm(categories, cluster_name="east-1", cluster_uuid="0c0ffee0-0000-4000-8000-0000000000e1", ips=("10.0.0.1",),
       uuid="u1", power_state="ON"):
    return VmState(uuid, "vm-" + uuid, power_state, ips, categories, cluster_uuid=cluster_uuid,
                   cluster_name=cluster_name)


def test_default_format_and_ownership():
    m = TagMapper()
    assert m.tags_for(vm({"AppTier": "Web", "Env": "Prod"})) == {"ntnx.AppTier.Web", "ntnx.Env.Prod"}
    assert m.owns("ntnx.AppTier.Web") and not m.owns("quarantine")


def test_unsafe_characters_never_reach_a_tag():
    tags = TagMapper().tags_for(vm({"App Tier": "we'b\"]/<x>&"}))
    assert tags == {"ntnx.App_Tier.we_b____x__"}
    for tag in tags:
        validate_name(tag, "tag")


def test_mapping_table_wins_and_is_owned():
    m = TagMapper(mapping={"AppTier:Web": ["web-servers", "dmz"]}, categories=["AppTier"])
    assert m.tags_for(vm({"AppTier": "Web", "Env": "Prod"})) == {"web-servers", "dmz"}
    assert m.tags_for(vm({"AppTier": "Db"})) == {"ntnx.AppTier.Db"}
    assert m.owns("dmz") and m.owns("ntnx.x") and not m.owns("other")


@pytest.mark.parametrize("kwargs,option", [
    ({"tag_format": "static"}, "tag_format"), ({"tag_format": "{category}.{value}"}, "owned_prefix"),
    ({"tag_format": "x.{nope}"}, "tag_format"), ({"tag_format": "-{category}"}, "tag_format"),
    ({"tag_format": None}, "tag_format"), ({"mapping": {"novalue": "t"}}, "tag_mapping.novalue"),
    ({"mapping": {"A:B": "bad'tag"}}, "tag_mapping.A:B"), ({"mapping": {"A:B": []}}, "tag_mapping.A:B"),
    ({"mapping": ["A:B"]}, "tag_mapping"), ({"categories": "AppTier"}, "categories"),
    ({"owned_prefix": ""}, "owned_prefix"),
])
def test_bad_configuration_names_the_setting(kwargs, option):
    with pytest.raises(TagError) as info:
        TagMapper(**kwargs)
    assert [o for o, _message in info.value.problems] == [option]


def test_every_problem_at_once():
    with pytest.raises(TagError) as info:
        TagMapper(tag_format="-{value}", mapping={"A": "x", "B:1": "y,z"}, owned_prefix="-")
    assert [o for o, _message in info.value.problems] == ["tag_format", "tag_mapping.A", "tag_mapping.B:1"]


def test_one_tag_name_rule_pan_os_s():
    """A mapped tag follows PAN-OS's rule (module_utils/panos.validate_name): inner spaces yes, a comma no."""
    mapper = TagMapper(mapping={"AppTier:Web": "web servers"})
    assert mapper.tags_for(vm({"AppTier": "Web"})) == {"web servers"}
    with pytest.raises(TagError, match="is not accepted"):
        TagMapper(mapping={"AppTier:Web": "web,servers"})


def test_invalid_tags_are_skipped_and_reported():
    m = TagMapper(tag_format="{category}.{value}", owned_prefix="Ok.")
    assert m.tags_for(vm({"A": "v" * 200, "-x": "y", "Ok": "1"})) == {"Ok.1"}
    assert sorted(m.rejected) == ["-x:y", "A:" + "v" * 200]
    assert "PAN-OS allows at most 127" in m.rejected["A:" + "v" * 200]


def test_desired_only_powered_on():
    vms = [VmState("1", "a", "ON", ["10.0.0.1"], {"AppTier": "Web"}),
           VmState("2", "b", "OFF", ["10.0.0.2"], {"AppTier": "Web"}),
           VmState("3", "c", "ON", ["10.0.0.3"], {})]
    assert desired_ip_tags(vms, TagMapper()) == {"10.0.0.1": {"ntnx.AppTier.Web"}}


def test_the_reconcile_plan_touches_only_owned_tags():
    m = TagMapper()
    desired = {"10.0.0.1": {"ntnx.A.x"}, "10.0.0.2": {"ntnx.A.y"}, "10.0.0.4": {"ntnx.A.z"}}
    current = {"10.0.0.1": {"ntnx.A.x", "foreign"},  # right; foreign tag left alone
               "10.0.0.2": {"ntnx.A.old"},  # category changed
               "10.0.0.3": {"ntnx.A.x", "foreign"}}  # VM gone
    p = plan_registered_ips(desired, current, owns=m.owns)
    assert p.register == {"10.0.0.2": {"ntnx.A.y"}, "10.0.0.4": {"ntnx.A.z"}}
    assert p.unregister == {"10.0.0.2": {"ntnx.A.old"}, "10.0.0.3": {"ntnx.A.x"}}
    assert p.unchanged == 1 and p.changed
    assert p.summary()["added"] == 2 and p.summary()["removed"] == 2
    assert p.after(current)["10.0.0.3"] == {"foreign"}
    scoped = plan_registered_ips(desired, current, owns=m.owns, scope=["10.0.0.3"])
    assert scoped.register == {} and scoped.unregister == {"10.0.0.3": {"ntnx.A.x"}}
    assert not plan_registered_ips(desired, dict((k, set(v)) for k, v in desired.items()), owns=m.owns).changed


# -- several Prism Centrals and clusters -------------------------------------------------------------------------

def test_the_panorama_plugin_preset_names_the_prism_central_and_the_cluster():
    m = TagMapper("panorama-plugin", prism_name="dc1")
    assert m.tag_format == "ntnx.PC-{pc}.CL-{cluster}.{category}.{value}" and m.per_prism
    assert m.tags_for(vm({"AppTier": "Web"}, cluster_name="East 1")) == {"ntnx.PC-dc1.CL-East_1.AppTier.Web"}
    # Prism names no cluster name: its uuid; no cluster at all: "unknown".
    assert m.tags_for(vm({"AppTier": "Web"}, cluster_name=None)) == {
        "ntnx.PC-dc1.CL-0c0ffee0-0000-4000-8000-0000000000e1.AppTier.Web"}
    assert m.tags_for(vm({"AppTier": "Web"}, cluster_name=None, cluster_uuid=None)) == {
        "ntnx.PC-dc1.CL-unknown.AppTier.Web"}
    assert m.owned_prefix == "ntnx.PC-dc1."


def test_each_prism_owns_only_its_own_tags():
    dc1, dc2 = TagMapper("panorama-plugin", prism_name="dc1"), TagMapper("panorama-plugin", prism_name="dc10")
    one, two = dc1.tags_for(vm({"AppTier": "Web"})).pop(), dc2.tags_for(vm({"AppTier": "Web"})).pop()
    assert dc1.owns(one) and not dc1.owns(two) and dc2.owns(two) and not dc2.owns(one)
    # A tag from before the format named the cluster (or one another system made) is nobody's, or only its Prism's.
    assert not dc1.owns("ntnx.AppTier.Web") and dc1.owns("ntnx.PC-dc1.AppTier.Web")


def test_a_reconcile_for_one_prism_leaves_the_others_registrations():
    dc1, dc2 = TagMapper("panorama-plugin", prism_name="dc1"), TagMapper("panorama-plugin", prism_name="dc2")
    shared = "10.0.0.5"
    firewall = {shared: dc1.tags_for(vm({"AppTier": "Web"})) | dc2.tags_for(vm({"AppTier": "Web"}, "west-1")),
                "10.0.0.6": dc2.tags_for(vm({"AppTier": "Db"}, "west-1"))}
    # dc1 now says: the shared IP moved to cluster east-2 (a migration), and that is all it has.
    desired = desired_ip_tags([vm({"AppTier": "Web"}, "east-2", ips=(shared,))], dc1)
    plan = plan_registered_ips(desired, firewall, owns=dc1.owns)
    assert plan.register == {shared: {"ntnx.PC-dc1.CL-east-2.AppTier.Web"}}
    assert plan.unregister == {shared: {"ntnx.PC-dc1.CL-east-1.AppTier.Web"}}
    after = plan.after(firewall)
    assert after[shared] == {"ntnx.PC-dc1.CL-east-2.AppTier.Web", "ntnx.PC-dc2.CL-west-1.AppTier.Web"}
    assert after["10.0.0.6"] == firewall["10.0.0.6"]
    # dc2's own reconcile then finds nothing to do: no flapping between the two.
    desired2 = desired_ip_tags([vm({"AppTier": "Web"}, "west-1", ips=(shared,), uuid="r1"),
                                vm({"AppTier": "Db"}, "west-1", ips=("10.0.0.6",), uuid="r2")], dc2)
    assert not plan_registered_ips(desired2, after, owns=dc2.owns).changed


def test_mapped_tags_and_owned_prefixes_carry_the_prism():
    m = TagMapper("panorama-plugin", mapping={"AppTier:Web": ["ntnx.PC-{pc}.web-servers"]}, prism_name="dc1")
    assert m.tags_for(vm({"AppTier": "Web"})) == {"ntnx.PC-dc1.web-servers"} and m.owns("ntnx.PC-dc1.web-servers")
    m = TagMapper("panorama-plugin", owned_prefix="ntnx.PC-{pc}.CL-", prism_name="dc1")
    assert m.owned_prefix == "ntnx.PC-dc1.CL-"
    # Without {pc} in the format, a mapped tag may still name the Prism.
    assert TagMapper(mapping={"A:B": "b-{pc}"}, prism_name="dc1").tags_for(vm({"A": "B"})) == {"b-dc1"}


@pytest.mark.parametrize("kwargs,option,message", [
    ({"tag_format": "panorama-plugin"}, "prism_name", "tag_format names {pc}, so give the name"),
    ({"tag_format": "panorama-plugin", "prism_name": "dc.1"}, "prism_name", "may not contain '.'"),
    ({"tag_format": "panorama-plugin", "prism_name": "dc 1"}, "prism_name", "is not a valid Prism name"),
    ({"tag_format": "panorama-plugin", "prism_name": "p" * 110}, "prism_name", "PAN-OS allows at most 127"),
    ({"tag_format": "ntnx.{category}.{pc}.{value}", "prism_name": "a"}, "tag_format", "must name {pc} before"),
    ({"tag_format": "ntnx.{pc}{category}.{value}", "prism_name": "a"}, "tag_format", "a separator such as '.'"),
    ({"tag_format": "n.{pc}.{pc}.{value}", "prism_name": "a"}, "tag_format", "may name {pc} only once"),
    ({"tag_format": "n.{value!r}"}, "tag_format", "takes no conversion or format spec"),
    ({"tag_format": "n.{vm}.{value}"}, "tag_format", "only {pc}, {cluster}, {category}, {value} may be used"),
    ({"tag_format": "panorama-plugin", "prism_name": "a", "owned_prefix": "ntnx."}, "owned_prefix",
     "must name it too (e.g. 'ntnx.PC-{pc}.')"),
    ({"owned_prefix": "ntnx.{pc}.", "prism_name": "a"}, "owned_prefix", "names {pc} but tag_format does not"),
    ({"tag_format": "panorama-plugin", "prism_name": "a", "mapping": {"A:B": "web"}}, "tag_mapping.A:B",
     "must start with the owned prefix ('ntnx.PC-a.' here)"),
    ({"mapping": {"A:B": "web-{pc}"}}, "tag_mapping.A:B", "names {pc}, so give prism_name"),
])
def test_settings_that_would_mix_up_prisms_are_refused(kwargs, option, message):
    with pytest.raises(TagError) as info:
        TagMapper(**kwargs)
    assert [o for o, _m in info.value.problems] == [option]
    assert message in info.value.problems[0][1]


def test_rejections_are_per_vm_when_the_cluster_is_in_the_name():
    m = TagMapper("ntnx.CL-{cluster}.{category}.{value}")
    long_value = "v" * 100
    assert m.tags_for(vm({"A": long_value}, cluster_name="c" * 30)) == set()
    assert "A:" + long_value in m.rejected
    assert m.tags_for(vm({"A": long_value}, cluster_name="c")) == {"ntnx.CL-c.A." + long_value}
    assert "A:" + long_value not in m.rejected  # fits on this cluster: not this VM's problem


def test_one_prism_without_pc_keeps_todays_tags_and_ownership():
    for m in (TagMapper(), TagMapper(prism_name="dc1")):
        assert not m.per_prism and m.owned_prefix == "ntnx."
        assert m.tags_for(vm({"AppTier": "Web"})) == {"ntnx.AppTier.Web"}
