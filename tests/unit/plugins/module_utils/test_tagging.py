import pytest

from ansible_collections.netevents.nutanix.plugins.module_utils.events import VmState
from ansible_collections.netevents.nutanix.plugins.module_utils.tagging import (
    TagError, TagMapper, check_tag, desired_ip_tags, plan)


def test_default_format_and_ownership():
    m = TagMapper()
    assert m.tags_for({"AppTier": "Web", "Env": "Prod"}) == {"ntnx.AppTier.Web", "ntnx.Env.Prod"}
    assert m.owns("ntnx.AppTier.Web") and not m.owns("quarantine")


def test_unsafe_characters_never_reach_a_tag():
    tags = TagMapper().tags_for({"App Tier": "we'b\"]/<x>&"})
    assert tags == {"ntnx.App_Tier.we_b____x__"}
    for tag in tags:
        check_tag(tag)


def test_mapping_table_wins_and_is_owned():
    m = TagMapper(mapping={"AppTier:Web": ["web-servers", "dmz"]}, categories=["AppTier"])
    assert m.tags_for({"AppTier": "Web", "Env": "Prod"}) == {"web-servers", "dmz"}
    assert m.tags_for({"AppTier": "Db"}) == {"ntnx.AppTier.Db"}
    assert m.owns("dmz") and m.owns("ntnx.x") and not m.owns("other")


@pytest.mark.parametrize("kwargs", [
    {"tag_format": "static"}, {"tag_format": "{category}.{value}"}, {"tag_format": "x.{nope}"},
    {"mapping": {"novalue": "t"}}, {"mapping": {"A:B": "bad'tag"}},
])
def test_bad_configuration(kwargs):
    with pytest.raises(TagError):
        TagMapper(**kwargs)


def test_invalid_tags_are_skipped_and_reported():
    m = TagMapper(tag_format="{category}.{value}", owned_prefix="Ok.")
    assert m.tags_for({"A": "v" * 200, "-x": "y", "Ok": "1"}) == {"Ok.1"}
    assert m.rejected == {"A:" + "v" * 200, "-x:y"}


def test_desired_only_powered_on():
    vms = [VmState("1", "a", "ON", ["10.0.0.1"], {"AppTier": "Web"}),
           VmState("2", "b", "OFF", ["10.0.0.2"], {"AppTier": "Web"}),
           VmState("3", "c", "ON", ["10.0.0.3"], {})]
    assert desired_ip_tags(vms, TagMapper()) == {"10.0.0.1": {"ntnx.AppTier.Web"}}


def test_plan_touches_only_owned_tags():
    m = TagMapper()
    desired = {"10.0.0.1": {"ntnx.A.x"}, "10.0.0.2": {"ntnx.A.y"}, "10.0.0.4": {"ntnx.A.z"}}
    current = {"10.0.0.1": {"ntnx.A.x", "foreign"},  # right; foreign tag left alone
               "10.0.0.2": {"ntnx.A.old"},  # category changed
               "10.0.0.3": {"ntnx.A.x", "foreign"}}  # VM gone
    p = plan(desired, current, m)
    assert p.register == {"10.0.0.2": {"ntnx.A.y"}, "10.0.0.4": {"ntnx.A.z"}}
    assert p.unregister == {"10.0.0.2": {"ntnx.A.old"}, "10.0.0.3": {"ntnx.A.x"}}
    assert p.unchanged == 1 and p.changed
    assert p.summary()["added"] == 2 and p.summary()["removed"] == 2
    scoped = plan(desired, current, m, scope=["10.0.0.3"])
    assert scoped.register == {} and scoped.unregister == {"10.0.0.3": {"ntnx.A.x"}}
    assert not plan(desired, dict((k, set(v)) for k, v in desired.items()), m).changed
