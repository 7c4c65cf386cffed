import pytest

from ansible_collections.netevents.nutanix.plugins.module_utils.events import VmState
from ansible_collections.netevents.nutanix.plugins.module_utils.panos import plan_registered_ips, validate_name
from ansible_collections.netevents.nutanix.plugins.module_utils.tagging import TagError, TagMapper, desired_ip_tags


def test_default_format_and_ownership():
    m = TagMapper()
    assert m.tags_for({"AppTier": "Web", "Env": "Prod"}) == {"ntnx.AppTier.Web", "ntnx.Env.Prod"}
    assert m.owns("ntnx.AppTier.Web") and not m.owns("quarantine")


def test_unsafe_characters_never_reach_a_tag():
    tags = TagMapper().tags_for({"App Tier": "we'b\"]/<x>&"})
    assert tags == {"ntnx.App_Tier.we_b____x__"}
    for tag in tags:
        validate_name(tag, "tag")


def test_mapping_table_wins_and_is_owned():
    m = TagMapper(mapping={"AppTier:Web": ["web-servers", "dmz"]}, categories=["AppTier"])
    assert m.tags_for({"AppTier": "Web", "Env": "Prod"}) == {"web-servers", "dmz"}
    assert m.tags_for({"AppTier": "Db"}) == {"ntnx.AppTier.Db"}
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
    assert mapper.tags_for({"AppTier": "Web"}) == {"web servers"}
    with pytest.raises(TagError, match="is not accepted"):
        TagMapper(mapping={"AppTier:Web": "web,servers"})


def test_invalid_tags_are_skipped_and_reported():
    m = TagMapper(tag_format="{category}.{value}", owned_prefix="Ok.")
    assert m.tags_for({"A": "v" * 200, "-x": "y", "Ok": "1"}) == {"Ok.1"}
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
